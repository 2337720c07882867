"""A run's settings (:class:`TrainConfig`), from params.yaml's train group or the command line, and its recipe label."""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from springstudy.errors import SpringStudyError


class TrainingError(SpringStudyError, RuntimeError):
    """Training cannot go on (non-finite loss, unusable data, a checkpoint that does not fit)."""


@dataclass
class TrainConfig:
    """Everything a run depends on; saved into every checkpoint and the run summary."""

    model: str
    out: str
    data: str | None = None                 # dataset folder (open_dataset); or pass tensors to train()
    split_file: str | None = None           # JSON split file; None: a seeded 50/25/25 split
    split_method: str = "random"            # random | original (SpringSet's own files)
    max_steps: int | None = None
    max_epochs: int | None = 1000
    max_cpu_seconds: float | None = None    # stop once the optimiser steps have used this much
                                            # process CPU time (all threads); not reproducible
                                            # step for step across machines: benchmarks only
    batch_size: int = 16
    crop_seconds: float | None = 1.0        # training crop; None = whole items
    crop_context_seconds: float = 0.0       # input history fed before each crop (zeros before the
                                            # item's start), excluded from the loss
    crop_sampling: str = "uniform"          # crop offsets: uniform, or energy (in proportion to
                                            # the wet energy of the window; see crop_batch)
    val_seconds: float | None = None        # validate on the first N seconds; None = whole items
    val_items: int | None = None            # validate on the first N validation items; None = all
    val_every: int | None = None            # steps between validations; None = once per epoch
    validate: bool = True                   # False: no validation (the thesis's TCN-baseline);
                                            # last.pt every val_every steps, best.pt = final state
    lr: float = 0.005
    lr_factor: float = 0.5                  # ReduceLROnPlateau
    lr_patience: int = 10                   # validations without improvement before the LR drops
    patience: int = 25                      # early stopping, in validations
    grad_clip: float | None = 1.0
    alpha: float = 0.5                      # thesis eq. 3.1
    time_term: str = "mae"                  # eq. 3.1's time-domain term: mae (thesis), esr, or
                                            # esr_white (ESR after the dry signals' whitening filter)
    whiten_order: int = 32                  # order of that filter (time_term esr_white only)
    recurrent_init: str = "default"         # default (torch's), or modal: an LSTM started as a bank
                                            # of damped oscillators with its readout fitted by least
                                            # squares (models.recurrent.modal_init_, fit_readout_)
    modal_periods: float = 5.0              # periods each oscillator rings for (recurrent_init modal)
    pre_emphasis: float = 0.85              # for the esr_pre metric in the summary
    seed: int = 20231
    model_overrides: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"                    # auto | cpu | cuda
    threads: int | None = None              # torch CPU threads; None = torch's default
    tensorboard: bool = True
    audio_examples: int = 1                 # validation items logged as audio + spectrogram

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "training settings") -> TrainConfig:
        """Build from a mapping and :meth:`check` it; an unknown key is an error that names it."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise TrainingError(f"{source}: unknown training parameter(s): {', '.join(unknown)}")
        return cls(**values).check(source)

    def check(self, source: str = "training settings") -> TrainConfig:
        """Check every setting's type and range (:data:`SETTING_RULES`, through pydantic, strict:
        no string for a number, no fraction for a count) and spell the model as the registry does.
        Raises :class:`TrainingError` listing each violation by name; returns the settings."""
        import pydantic

        try:
            _schema().model_validate(dataclasses.asdict(self))
        except pydantic.ValidationError as err:
            problems = "; ".join(f"{'.'.join(str(part) for part in e['loc'])}: {e['msg'].lower()} "
                                 f"(got {e['input']!r})" for e in err.errors())
            raise TrainingError(f"{source}: {problems}") from None
        from springstudy.models import get_config, list_models

        try:
            self.model = get_config(self.model).name
        except KeyError:
            raise TrainingError(f"{source}: model: unknown model {self.model!r}; named models: "
                                f"{', '.join(list_models())}") from None
        return self


#: The range of every setting that has one (pydantic ``Field`` arguments); types come from the
#: annotations of :class:`TrainConfig`.
SETTING_RULES: dict[str, dict[str, Any]] = {
    "max_steps": {"ge": 1}, "max_epochs": {"ge": 1}, "max_cpu_seconds": {"gt": 0},
    "batch_size": {"ge": 1}, "crop_seconds": {"gt": 0}, "crop_context_seconds": {"ge": 0},
    "val_seconds": {"gt": 0}, "val_items": {"ge": 1}, "val_every": {"ge": 1},
    "lr": {"ge": 0}, "lr_factor": {"gt": 0, "lt": 1}, "lr_patience": {"ge": 0}, "patience": {"ge": 1},
    "grad_clip": {"gt": 0}, "alpha": {"ge": 0, "le": 1}, "whiten_order": {"ge": 1}, "modal_periods": {"gt": 0},
    "pre_emphasis": {"ge": 0, "lt": 1}, "seed": {"ge": 0}, "threads": {"ge": 1}, "audio_examples": {"ge": 0},
}
#: The settings that name one of a few choices.
SETTING_CHOICES: dict[str, tuple[str, ...]] = {
    "split_method": ("random", "original"), "crop_sampling": ("uniform", "energy"),
    "time_term": ("mae", "esr", "esr_white"), "recurrent_init": ("default", "modal"),
}


@functools.lru_cache(maxsize=1)
def _schema() -> Any:
    """The pydantic model of :class:`TrainConfig`: its annotations, :data:`SETTING_RULES` and
    :data:`SETTING_CHOICES`, strict (a count is an int, a number is not a string), finite floats;
    a folder or file may be a path object."""
    import typing
    import warnings

    import pydantic
    from pydantic import ConfigDict, Field

    hints = typing.get_type_hints(TrainConfig)
    fields = {}
    for f in dataclasses.fields(TrainConfig):
        kind = hints[f.name]
        if f.name in SETTING_CHOICES:
            kind = typing.Literal[SETTING_CHOICES[f.name]]
        elif f.name in ("out", "data", "split_file"):
            kind = kind | Path
        rules = dict(SETTING_RULES.get(f.name, {}))
        if float in typing.get_args(kind) or kind is float:
            rules["allow_inf_nan"] = False
        fields[f.name] = (kind, Field(**rules))
    with warnings.catch_warnings():      # the setting "validate" shadows a BaseModel method; harmless here
        warnings.simplefilter("ignore", UserWarning)
        return pydantic.create_model("TrainConfig", __config__=ConfigDict(strict=True, extra="forbid"), **fields)


@dataclass
class RunResult:
    """What :func:`train` returns (also written to ``summary.json``)."""

    summary: dict[str, Any]
    model: torch.nn.Module
    history: list[dict[str, float]]


#: How a recurrent model's weights start (TrainConfig.recurrent_init; see _initialise).
RECURRENT_INITS = ("default", "modal")

#: How training crops' offsets are drawn (TrainConfig.crop_sampling; see crop_offsets).
CROP_SAMPLINGS = ("uniform", "energy")


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


def recipe_label(config: dict[str, Any] | TrainConfig) -> str:
    """A run's training recipe in a few words, for the tables: loss, learning rate, batch, crop, steps."""
    c = dataclasses.asdict(config) if isinstance(config, TrainConfig) else dict(config)
    alpha, term = float(c.get("alpha", 0.5)), str(c.get("time_term", "mae"))
    time = {"mae": "MAE", "esr": "ESR", "esr_white": f"whitened ESR (order {c.get('whiten_order', 32)})"}.get(term, term)
    loss = time if alpha == 1.0 else f"{alpha:g}·{time} + {1 - alpha:g}·MR-STFT"
    if term == "mae" and alpha == 0.5:
        loss = "eq. 3.1 (0.5·MAE + 0.5·MR-STFT)"
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
