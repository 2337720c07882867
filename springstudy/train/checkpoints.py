"""Atomic training checkpoints (``last.pt``, ``best.pt``) and the code version they record."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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
    """``torch.save`` to a temporary file beside ``path`` (a name no other writer shares), synced,
    then renamed: ``path`` is never half written, even when the process is killed mid-write (the
    half-written temporary file is removed by the next :func:`run_lock` on the folder)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())   # on disk before the rename makes it the checkpoint
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: The lock file that keeps a second training out of a run folder.
LOCK_FILE = ".training.lock"


@contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold ``out/.training.lock`` (this process's pid) while a training writes into ``out``.

    A second training into the same folder is refused with the holder's pid. A lock left by a
    process that no longer exists (killed) is taken over, with a line saying so, and the
    half-written checkpoint files such a process may have left are removed."""
    lock = Path(out) / LOCK_FILE
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and _alive(pid):
                raise TrainingError(f"{out}: another training (process {pid}) is writing into this folder; "
                                    f"wait for it, or train into another folder") from None
            print(f"springstudy: {lock}: stale lock of process {pid or '?'}, which is gone; taking it over")
            lock.unlink(missing_ok=True)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"{os.getpid()}\n")
    stale = sorted(Path(out).glob(".*.pt.*.tmp"))   # save_atomic's files of a killed writer
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    if stale:
        print(f"springstudy: {out}: removed {len(stale)} half-written checkpoint file(s) of an interrupted run")
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Whether a process with this pid exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
