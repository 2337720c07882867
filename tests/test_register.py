"""A user's own model, registered with springstudy.models.register_model, goes where the thesis's go:
built by name, trained, checkpointed and loaded back, exported."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from springstudy.models import CONFIGS, FAMILIES, SpringModel, build, list_models, load_checkpoint, register_model
from springstudy.models.checkpoint import save_checkpoint


class TinyFIR(SpringModel):
    """A learnable causal FIR: the smallest model that is a spring reverb's linear part."""

    def __init__(self, taps: int = 64) -> None:
        super().__init__()
        self.taps = taps
        self.fir = nn.Conv1d(1, 1, taps, bias=False)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.fir(nn.functional.pad(x, (self.taps - 1, 0)))

    @property
    def receptive_field(self) -> int:
        return self.taps


@pytest.fixture
def registered():
    config = register_model("TinyFIR-64", "TinyFIR", {"taps": 64}, cls=TinyFIR, note="a test's own model")
    yield config
    CONFIGS.pop("TinyFIR-64", None)
    FAMILIES.pop("TinyFIR", None)


def test_a_registered_model_is_built_trained_saved_and_exported(registered, tmp_path) -> None:
    from datafixtures import write_springset

    from springstudy.export import export_model
    from springstudy.train import TrainConfig, train

    assert "TinyFIR-64" in list_models() and build("TinyFIR-64").receptive_field == 64
    x = torch.zeros(1, 1, 200)
    x[0, 0, 50] = 1.0
    y = build("TinyFIR-64", seed=1)(x)
    assert torch.all(y[0, 0, :50] == 0) and torch.any(y[0, 0, 50:] != 0)     # causal
    path = save_checkpoint(build("TinyFIR-64", seed=1), tmp_path / "m.pt")
    assert torch.equal(load_checkpoint(path)(x), y.detach())
    loaded = torch.jit.load(str(export_model(build("TinyFIR-64", seed=1), tmp_path / "m.ts", "torchscript")))
    torch.testing.assert_close(loaded(x, None), y.detach())
    result = train(TrainConfig(model="TinyFIR-64", out=str(tmp_path / "run"), data=str(write_springset(tmp_path / "ss")),
                               max_steps=3, batch_size=2, crop_seconds=None, val_every=1, val_items=2,
                               tensorboard=False, seed=2, threads=1), progress=False)
    assert result.summary["steps"] == 3 and result.summary["best_val_loss"] < float("inf")
    assert load_checkpoint(tmp_path / "run" / "best.pt").receptive_field == 64


def test_registering_refuses_what_would_break_later(registered) -> None:
    with pytest.raises(ValueError, match="exists"):
        register_model("TinyFIR-64", "TinyFIR", {"taps": 8})
    with pytest.raises(ValueError, match="unknown family"):
        register_model("Mine-1", "NoSuchFamily", {})
    with pytest.raises(TypeError, match="SpringModel subclass"):
        register_model("Mine-2", "Mine", {}, cls=nn.Linear)
    with pytest.raises(TypeError, match="Mine-3"):
        register_model("Mine-3", "TinyFIR", {"tapz": 8})                  # built once: the typo shows now
    assert "Mine-3" not in CONFIGS and not math.isnan(len(CONFIGS))
