"""The checkpoint format springstudy reads: a dict saved by ``torch.save``.

Required keys: ``model_name`` (a named configuration, see ``list_models()``) and
``model_state`` (the model's ``state_dict()``). Optional: ``model_overrides`` (the keyword
arguments given to ``build`` besides the name, e.g. ``{"cond_dim": 3}``). Any other keys
(optimizer state, epoch, metrics, ...) are kept by the trainer and ignored here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from springstudy.models.base import SpringModel
from springstudy.models.registry import build


def save_checkpoint(model: SpringModel, path: str | Path, **extra: Any) -> Path:
    """Save ``model`` (built by ``build``) as a checkpoint dict, with any ``extra`` keys."""
    if not model.config_name:
        raise ValueError("the model has no config_name: build it with springstudy.models.build")
    path = Path(path)
    torch.save({"model_name": model.config_name,
                "model_overrides": dict(getattr(model, "config_overrides", {})),
                "model_state": model.state_dict(), **extra}, path)
    return path


def load_checkpoint(path: str | Path) -> SpringModel:
    """Rebuild the named model of a checkpoint and load its weights (eval mode, CPU).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that is not a
    readable springstudy checkpoint (loaded with ``weights_only=True``: no code is unpickled).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a corrupt or foreign file
        raise ValueError(f"{path}: not a readable checkpoint ({err})") from None
    if not isinstance(checkpoint, dict) or not {"model_name", "model_state"} <= checkpoint.keys():
        raise ValueError(f"{path}: not a springstudy checkpoint (needs model_name, model_state)")
    model = build(checkpoint["model_name"], **checkpoint.get("model_overrides", {}))
    model.load_state_dict(checkpoint["model_state"])
    return model.eval()
