"""A run's settings (:class:`TrainConfig`), from params.yaml's train group or the command line, and its recipe label."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from springstudy.errors import SpringStudyError
from springstudy.schema import SETTING_CHOICES, TrainSettings, train_problems


class TrainingError(SpringStudyError, RuntimeError):
    """Training cannot go on (non-finite loss, unusable data, a checkpoint that does not fit)."""


@dataclass
class TrainConfig(TrainSettings):
    """Everything a run depends on (the fields of :class:`springstudy.schema.TrainSettings`, whose
    types and ranges are the schema's); saved into every checkpoint and the run summary."""

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "training settings") -> TrainConfig:
        """Build from a mapping and :meth:`check` it; an unknown key is an error that names it."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise TrainingError(f"{source}: unknown training parameter(s): {', '.join(unknown)}")
        return cls(**values).check(source)

    def check(self, source: str = "training settings") -> TrainConfig:
        """Check every setting's type and range against the schema
        (:data:`springstudy.schema.SETTING_RULES` and ``SETTING_CHOICES``; strict: no string for a number, no fraction for a count) and
        spell the model as the registry does. Raises :class:`TrainingError` listing each
        violation by name; returns the settings."""
        found = train_problems(dataclasses.asdict(self))
        if found:
            raise TrainingError(f"{source}: {'; '.join(found)}")
        from springstudy.models import get_config, list_models

        try:
            self.model = get_config(self.model).name
        except KeyError:
            raise TrainingError(f"{source}: model: unknown model {self.model!r}; named models: "
                                f"{', '.join(list_models())}") from None
        return self


@dataclass
class RunResult:
    """What :func:`train` returns (also written to ``summary.json``)."""

    summary: dict[str, Any]
    model: torch.nn.Module
    history: list[dict[str, float]]


#: How a recurrent model's weights start (TrainConfig.recurrent_init; see _initialise).
RECURRENT_INITS = SETTING_CHOICES["recurrent_init"]

#: How training crops' offsets are drawn (TrainConfig.crop_sampling; see crop_offsets).
CROP_SAMPLINGS = SETTING_CHOICES["crop_sampling"]


def config_from_params(model: str, out: str, data: str | None, params: dict[str, Any], profile: str,
                       format: str | None = None, run: str | None = None, **overrides: Any) -> TrainConfig:
    """A :class:`TrainConfig` from params.yaml's ``train`` group for ``profile`` (and the dataset
    ``format``'s entry under ``formats``, e.g. the thesis's batch 16 at 16 kHz and 8 at 48 kHz),
    then the keys of ``train.runs.<run>`` besides model and format (its own ``profiles:``
    resolved for ``profile``), then ``overrides`` (None values ignored)."""
    from springstudy.config import ConfigError, train_params

    try:
        group = train_params(params, profile, format, run)
    except ConfigError as err:
        raise TrainingError(str(err)) from err
    if run is not None and (group.get("model", model) != model or group.get("format", format) != format):
        raise TrainingError(f"params.yaml: train.runs.{run} is {group.get('model')} on {group.get('format')}, "
                            f"not {model} on {format}")
    group.pop("model", None)
    group.pop("format", None)
    group.setdefault("seed", TrainConfig.seed)
    group.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.from_dict({"model": model, "out": out, "data": data, **group})


def loss_label(config: dict[str, Any] | TrainConfig) -> str:
    """The training loss a run's config sets, in words: ``"ESR"``, ``"0.9·ESR + 0.1·MR-STFT"``,
    ``"eq. 3.1 (0.5·MAE + 0.5·MR-STFT)"``."""
    c = dataclasses.asdict(config) if isinstance(config, TrainConfig) else dict(config)
    alpha, term = float(c.get("alpha", 0.5)), str(c.get("time_term", "mae"))
    time = {"mae": "MAE", "esr": "ESR", "esr_white": f"whitened ESR (order {c.get('whiten_order', 32)})"}.get(term, term)
    if alpha == 0.0:
        return "MR-STFT"
    loss = time if alpha == 1.0 else f"{alpha:g}·{time} + {1 - alpha:g}·MR-STFT"
    return "eq. 3.1 (0.5·MAE + 0.5·MR-STFT)" if term == "mae" and alpha == 0.5 else loss


def recipe_label(config: dict[str, Any] | TrainConfig) -> str:
    """A run's training recipe in a few words, for the tables: loss, learning rate, batch, crop, steps."""
    c = dataclasses.asdict(config) if isinstance(config, TrainConfig) else dict(config)
    loss = loss_label(c)
    crop = "whole items" if c.get("crop_seconds") is None else f"{c['crop_seconds']:g} s crops"
    if c.get("crop_context_seconds"):
        crop += f" (+{c['crop_context_seconds']:g} s context)"
    if c.get("crop_seconds") is not None and c.get("crop_sampling", "uniform") == "energy":
        crop = "energy-drawn " + crop
    limit = f"{c['max_steps']} steps" if c.get("max_steps") else f"≤{c.get('max_epochs')} epochs"
    start = "modal start with a least-squares readout, then " if c.get("recurrent_init") == "modal" else ""
    return f"{start}{loss}, Adam lr {c.get('lr', 0.005):g}, batch {c.get('batch_size')} × {crop}, {limit}"


def summary_json(path: str | Path) -> dict[str, Any]:
    """Read a run's summary.json."""
    return json.loads(Path(path).read_text())
