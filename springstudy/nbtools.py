"""Authoring helpers for the study notebooks: write them stripped, check they stay stripped.

Notebooks are committed without outputs (executed copies go to ``reports/notebooks/``). The
study's notebooks are written from cell lists with :func:`make_notebook`, so the ``parameters``
tag papermill needs is always on the first code cell.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

KERNEL = {"name": "springstudy", "display_name": "springstudy (Python 3)", "language": "python"}


def make_notebook(cells: list[tuple[str, str]], path: str | Path) -> None:
    """Write a notebook from ``(kind, source)`` pairs, kind one of ``md``, ``params``, ``code``.

    The ``params`` cell is tagged ``parameters`` for papermill; outputs are empty and the
    kernel is ``springstudy`` (registered inside the venv by ``make setup``).
    """
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNEL)
    nb.metadata["language_info"] = {"name": "python"}
    for kind, source in cells:
        source = source.strip("\n")
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(source))
        elif kind in ("code", "params"):
            cell = nbformat.v4.new_code_cell(source)
            if kind == "params":
                cell.metadata["tags"] = ["parameters"]
            nb.cells.append(cell)
        else:
            raise ValueError(f"unknown cell kind {kind!r}")
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    nbformat.validate(nb)
    nbformat.write(nb, str(path))


def unstripped_cells(path: str | Path) -> list[int]:
    """Indices of code cells in ``path`` that carry outputs or an execution count."""
    nb = nbformat.read(str(path), as_version=4)
    return [i for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
