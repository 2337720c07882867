"""What several subcommands share: loading a named model or its checkpoint from the arguments."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from springstudy.errors import UserError

if TYPE_CHECKING:
    from torch import nn


def load_model(name: str | None, checkpoint: str | Path | None, seed: int = 0) -> "nn.Module":
    """The model of ``--model NAME`` and/or ``--checkpoint PATH``, in eval mode.

    Without a checkpoint: NAME's untrained initialisation with ``seed``. With one: its model, which
    must be NAME's when both are given. Unknown names, missing or unreadable files and a checkpoint
    of another model are :class:`UserError`s that name the file.
    """
    from springstudy.models import build, get_config, list_models, load_checkpoint

    if name is None and checkpoint is None:
        raise UserError("give --model NAME, --checkpoint PATH, or both")
    if name is not None:
        try:
            name = get_config(name).name
        except KeyError:
            raise UserError(f"unknown model {name!r}; named models: {', '.join(list_models())}") from None
    if checkpoint is None:
        return build(name, seed=seed).eval()
    path = Path(checkpoint)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    try:
        model = load_checkpoint(path)
    except Exception as err:  # a corrupt or foreign file is the user's input
        raise UserError(f"{path}: cannot load the checkpoint ({err})") from None
    if name is not None and model.config_name != name:
        raise UserError(f"{path} holds {model.config_name}, not {name}")
    return model.eval()
