"""The ``report`` stage: every table and figure of one profile's run, with the readings, as one
Markdown and HTML report (:func:`springstudy.report.write_report`; notebook ``10_report``)."""

from __future__ import annotations

from pathlib import Path

from springstudy.report import write_report


def run(root: Path, profile: str, out_md: Path, out_html: Path, reports_dir: Path | None = None,
        figures_dir: Path | None = None) -> list[str]:
    """Write the report of ``profile`` to ``out_md`` and ``out_html``; return what the run did not produce."""
    return write_report(root, profile, out_md, out_html, reports_dir=reports_dir, figures_dir=figures_dir)


__all__ = ["run"]
