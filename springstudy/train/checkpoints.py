"""Atomic training checkpoints (``last.pt``, ``best.pt``) and the code version they record."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import torch

from springstudy.train.settings import TrainingError


# --- checkpoints ----------------------------------------------------------------------------

def git_commit(root: Path | None = None) -> str | None:
    """The current git commit of the project (None outside a git checkout)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root or Path(__file__).parent, capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def save_atomic(obj: dict[str, Any], path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: never a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a training checkpoint with ``weights_only=True``; a clear error if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a corrupt file
        raise TrainingError(f"{path}: not a readable checkpoint ({err})") from err
    for key in ("model_name", "model_state", "optimizer_state", "step"):
        if key not in ckpt:
            raise TrainingError(f"{path}: not a springstudy training checkpoint (no {key!r})")
    return ckpt


def _saved_step(out: Path) -> int | str:
    try:
        return int(torch.load(out / "last.pt", map_location="cpu", weights_only=True)["step"])
    except Exception:  # noqa: BLE001 - only used inside an error message
        return "none"
