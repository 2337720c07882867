"""The ``environment`` stage: the record of the machine and the package versions a study ran on
(notebook ``00_environment``; ``springstudy env`` prints the same record)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from springstudy.environment import collect
from springstudy.outputs import write_json_atomic


def run(out: Path) -> dict[str, Any]:
    """Collect the environment record (versions, CPU, GPU) and write it to ``out`` as JSON."""
    record = collect()
    write_json_atomic(out, record)
    return record


__all__ = ["run"]
