"""Every file the study writes goes through here: bytes, JSON, CSV and figures, each written
atomically (a temporary file, then a rename), so an interrupted run loses nothing."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename, never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())       # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def json_safe(value: Any) -> Any:
    """``value`` as strict JSON can hold it, through dicts, lists and tuples: numpy scalars as
    Python numbers; NaN, ±inf and pandas' missing value (NA) as null; everything else as is."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if type(value).__name__ == "NAType":
        return None
    return value


def write_csv_atomic(path: str | Path, frame: Any, float_format: str | None = "%.6g") -> Path:
    """Write a pandas DataFrame as CSV (no index; floats as ``float_format``), atomically."""
    write_bytes_atomic(path, frame.to_csv(index=False, float_format=float_format).encode())
    return Path(path)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON (keys sorted, trailing newline), atomically."""
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


@contextmanager
def atomic_folder(out: str | Path) -> Iterator[Path]:
    """Build a folder in a temporary sibling and rename it to ``out`` when the block succeeds.

    On any exception (KeyboardInterrupt included) the temporary folder is removed and ``out`` is
    left as it was; on success an existing ``out`` is replaced. So a folder is whole or absent.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def save_figure(fig: Any, path: str | Path, dpi: int = 120, close: bool = False) -> Path:
    """Save a matplotlib figure as PNG atomically (rendered in memory, then renamed into place;
    folders made); returns the path.

    ``close=True`` closes it afterwards, so a notebook that shows the saved file does not also
    show the open figure."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    if close:
        import matplotlib.pyplot as plt

        plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())
    return Path(path)
