"""The typed schema of every setting: params.yaml's groups, a training run, the efficiency benchmark.

One definition per setting (type, range, choices), read by everything that takes the setting:
:func:`springstudy.config.load_params` checks the whole of params.yaml against it for every
profile, dataset format and training run; :class:`springstudy.train.TrainConfig` and
:class:`springstudy.efficiency.EfficiencySettings` (subclasses of :class:`TrainSettings` and
:class:`EfficiencyFields`) check the command line's values against it; ``springstudy evaluate``
and ``springstudy ir`` check theirs against the ``scoring``, ``evaluate`` and ``ir`` groups.
Checks are pydantic's, strict: a count is an int (not 2.5, not "3"), a number is not a string
(YAML 1.1 reads ``1e-3`` as one), floats are finite, unknown keys are refused. Every violation
comes back as one line naming the key path, what was expected and what was found.

This module imports neither torch nor the models, so reading params.yaml stays light and a DVC
stage that reads it depends on this file only.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import pydantic
from pydantic import BaseModel, ConfigDict, Field

PROFILES = ("smoke", "quick", "paper")
#: The dataset formats (``train.formats`` and ``data.sources`` hold an entry per format).
FORMATS = ("springset", "egfxset")
#: The closed-form baselines the evaluation can score beside the models.
BASELINES = ("Naive", "Noise ceiling", "Silence", "Linear IR")

_STRICT = ConfigDict(strict=True, extra="forbid")

PositiveInt = Annotated[int, Field(ge=1)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]


def problems(schema: type[BaseModel], values: dict[str, Any], where: str = "") -> list[str]:
    """Each violation of ``schema`` by ``values`` as ``"<where>.<key path>: <what is wrong> (got <value>)"``."""
    try:
        schema.model_validate(values)
    except pydantic.ValidationError as err:
        lines = []
        for e in err.errors():
            path = ".".join(str(part) for part in (where, *e["loc"]) if part not in ("", "[key]"))
            if e["loc"] and e["loc"][-1] == "[key]":
                path += " (a key)"
            found = f" (got {e['input']!r})" if e["type"] != "missing" else ""
            message = e["msg"].removeprefix("Value error, ")
            if e["type"] == "extra_forbidden":
                known = ", ".join(schema.model_fields) if len(e["loc"]) == 1 else ""
                message = "unknown setting" + (f"; the settings here are {known}" if known else "")
            lines.append(f"{path}: {message[0].lower()}{message[1:]}{found}")
        return lines
    return []


# --------------------------------------------------------------------------------------------
# A training run (params.yaml's train group, its formats and runs entries, springstudy train)


@dataclass
class TrainSettings:
    """Everything a training run depends on; :class:`springstudy.train.TrainConfig` adds the
    checks that need the model registry. Saved into every checkpoint and the run summary."""

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
    device: str = "auto"                    # auto, or a torch device (cpu, cuda, cuda:1)
    threads: int | None = None              # torch CPU threads; None = torch's default
    tensorboard: bool = True
    audio_examples: int = 1                 # validation items logged as audio + spectrogram


#: The range of every training setting that has one (pydantic ``Field`` arguments); types come
#: from the annotations of :class:`TrainSettings`.
SETTING_RULES: dict[str, dict[str, Any]] = {
    "max_steps": {"ge": 1}, "max_epochs": {"ge": 1}, "max_cpu_seconds": {"gt": 0},
    "batch_size": {"ge": 1}, "crop_seconds": {"gt": 0}, "crop_context_seconds": {"ge": 0},
    "val_seconds": {"gt": 0}, "val_items": {"ge": 1}, "val_every": {"ge": 1},
    "lr": {"ge": 0}, "lr_factor": {"gt": 0, "lt": 1}, "lr_patience": {"ge": 0}, "patience": {"ge": 1},
    "grad_clip": {"gt": 0}, "alpha": {"ge": 0, "le": 1}, "whiten_order": {"ge": 1}, "modal_periods": {"gt": 0},
    "pre_emphasis": {"ge": 0, "lt": 1}, "seed": {"ge": 0}, "threads": {"ge": 1}, "audio_examples": {"ge": 0},
}
#: The training settings that name one of a few choices.
SETTING_CHOICES: dict[str, tuple[str, ...]] = {
    "split_method": ("random", "original"), "crop_sampling": ("uniform", "energy"),
    "time_term": ("mae", "esr", "esr_white"), "recurrent_init": ("default", "modal"),
}
#: Settings that name a folder or file (a path object is as good as a string).
PATH_SETTINGS = ("out", "data", "split_file")


def _dataclass_schema(cls: type, rules: dict[str, dict[str, Any]], choices: dict[str, tuple[str, ...]],
                      paths: tuple[str, ...] = ()) -> type[BaseModel]:
    """A strict pydantic model of the dataclass ``cls``: its annotations, ``rules`` (Field
    arguments) and ``choices`` (Literals); finite floats; a field left out takes its default."""
    hints = typing.get_type_hints(cls)
    fields = {}
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if f.name in choices:
            kind = Literal[choices[f.name]]
        elif f.name in paths:
            kind = kind | Path
        extra = dict(rules.get(f.name, {}))
        if float in typing.get_args(kind) or kind is float:
            extra["allow_inf_nan"] = False
        if f.default is not dataclasses.MISSING:
            extra["default"] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            extra["default_factory"] = f.default_factory
        fields[f.name] = (kind, Field(**extra))
    with warnings.catch_warnings():      # a setting called "validate" shadows a BaseModel method; harmless
        warnings.simplefilter("ignore", UserWarning)
        return pydantic.create_model(cls.__name__, __config__=_STRICT, **fields)


@functools.lru_cache(maxsize=1)
def train_schema() -> type[BaseModel]:
    """The pydantic model of :class:`TrainSettings` (:data:`SETTING_RULES`, :data:`SETTING_CHOICES`)."""
    return _dataclass_schema(TrainSettings, SETTING_RULES, SETTING_CHOICES, PATH_SETTINGS)


def train_problems(values: dict[str, Any], where: str = "") -> list[str]:
    """The violations of training settings ``values`` (a full or partial set; model and out are
    filled in when missing), one line each."""
    filled = {"model": "", "out": "", **values}
    return problems(train_schema(), filled, where)


# --------------------------------------------------------------------------------------------
# The efficiency benchmark (params.yaml's efficiency group, springstudy efficiency)


def _thread_count(value: Any) -> int | str:
    """A thread count: a whole number >= 1, or ``all`` (every core)."""
    if value == "all" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise ValueError("expected a whole number >= 1 or 'all'")


Threads = tuple[Annotated[typing.Union[int, str], pydantic.PlainValidator(_thread_count)], ...]


@dataclass(frozen=True)
class EfficiencyFields:
    """Every setting of the efficiency benchmark (:class:`springstudy.efficiency.EfficiencySettings`
    adds the checks that need the model registry, and the help texts)."""

    models: tuple[str, ...] | None = None
    rates: tuple[int, ...] = (16_000, 48_000)
    blocks: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048)
    table_block: int = 512
    offline_seconds: float = 10.0
    streaming_seconds: float = 1.0
    repeats: int = 3
    threads: tuple[int | str, ...] = (1, "all")
    streaming_threads: tuple[int | str, ...] = (1,)
    offline_budget_s: float | None = 3.0
    offline_max_pass_s: float | None = 3.0
    memory: bool = True
    memory_seconds: tuple[float, ...] = (10.0, 60.0)
    memory_stream_seconds: tuple[float, ...] | None = (10.0, 30.0)
    memory_workers: int = 2


class _Efficiency(BaseModel):
    model_config = _STRICT
    models: Optional[tuple[str, ...]] = Field(None, min_length=1)
    rates: tuple[PositiveInt, ...] = Field(min_length=1)
    blocks: tuple[PositiveInt, ...] = Field(min_length=1)
    table_block: PositiveInt
    offline_seconds: PositiveFloat
    streaming_seconds: PositiveFloat
    repeats: PositiveInt
    threads: Threads = Field(min_length=1)
    streaming_threads: Threads = Field(min_length=1)
    offline_budget_s: Optional[PositiveFloat]
    offline_max_pass_s: Optional[PositiveFloat]
    memory: bool
    memory_seconds: tuple[PositiveFloat, ...] = Field(min_length=1)
    memory_stream_seconds: Optional[tuple[PositiveFloat, ...]] = Field(min_length=1)
    memory_workers: PositiveInt


def efficiency_problems(values: dict[str, Any], where: str = "") -> list[str]:
    """The violations of efficiency settings ``values`` (full or partial; lists read as tuples)."""
    defaults = {f.name: getattr(EfficiencyFields, f.name) for f in dataclasses.fields(EfficiencyFields)}
    given = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return problems(_Efficiency, {**defaults, **given}, where)


# --------------------------------------------------------------------------------------------
# The other params.yaml groups: a key may be left out (the stage's notebook default applies);
# a key that is there must be valid (``None`` as a default is never checked, ``null`` written
# in the file is).

Format = Literal[FORMATS]
Baseline = Literal[BASELINES]


class ScoringGroup(BaseModel):
    """``scoring``: the settings the train, baselines and evaluate stages share."""
    model_config = _STRICT
    pre_emphasis: float = Field(None, ge=0, lt=1)
    ir_regularisation: float = Field(None, ge=0, allow_inf_nan=False)
    n_resamples: int = Field(None, ge=1)
    confidence: float = Field(None, gt=0, lt=1)


class DataGroup(BaseModel):
    """``data``: where each format's dataset comes from, the SpringSet split, the synthetic tank
    (the tank's own keys are checked by :class:`springstudy.data.tank.TankParams` when it renders)."""
    model_config = _STRICT
    sources: dict[Format, Annotated[str, Field(min_length=1)]] = None
    split: Literal["random", "original"] = None
    tank: dict[str, typing.Union[float, str, bool, None]] = None


class CalibrationGroup(BaseModel):
    """``calibration``: the tank against the real device."""
    model_config = _STRICT
    draws: PositiveInt = None


class FeaturesGroup(BaseModel):
    """``features``: the dataset descriptors' frames (the keys dvc.yaml passes to notebook 02)."""
    model_config = _STRICT
    frame_seconds: PositiveFloat = None
    hop_seconds: PositiveFloat = None


class BaselinesGroup(BaseModel):
    """``baselines``: notebook 04's parameters."""
    model_config = _STRICT
    tcn_steps: PositiveInt = None
    tcn_crop_seconds: PositiveFloat = None
    noise_amplitude: Optional[PositiveFloat] = None
    ir_seconds: Optional[PositiveFloat] = None
    batch_size: PositiveInt = None
    datasets: list[Format] = Field(None, min_length=1)


class EvaluateGroup(BaseModel):
    """``evaluate``: notebook 05's parameters."""
    model_config = _STRICT
    baselines: list[Baseline] = None
    figure_baselines: list[Baseline] = None
    n_examples: int = Field(None, ge=0)
    noise_amplitude: Optional[PositiveFloat] = None
    ir_seconds: Optional[PositiveFloat] = None
    batch_size: PositiveInt = None
    bounds: bool = None
    bound_curve_points: int = Field(None, ge=2)
    models: Optional[list[str]] = None
    datasets: list[Format] = Field(None, min_length=1)


class IRGroup(BaseModel):
    """``ir``: notebook 07's parameters (sine sweep, RT60, the device's reference)."""
    model_config = _STRICT
    models: list[str] = None
    models_48k: list[str] = None
    device_ir: Optional[str] = None
    device_ir_48k: Optional[str] = None
    sweep_f_start: PositiveFloat = None
    sweep_f_end: Optional[PositiveFloat] = None
    sweep_seconds: PositiveFloat = None
    sweep_level_dbfs: float = Field(None, le=0, allow_inf_nan=False)
    tail_seconds: PositiveFloat = None
    stability_seconds: PositiveFloat = None
    tank_rt60: PositiveFloat = None
    block_size: Optional[PositiveInt] = None
    linear_ir_seconds: Optional[PositiveFloat] = None
    linear_ir_regularisation: float = Field(None, ge=0, allow_inf_nan=False)
    figure_dpi: PositiveInt = None


Knob = Literal["decay", "tone", "dwell", "mix"]
Range = Annotated[list[Annotated[float, Field(allow_inf_nan=False)]], Field(min_length=2, max_length=2)]


class KnobsGroup(BaseModel):
    """``knobs``: the knob study (notebook 11): the knobs' ranges, the conditioned dataset's size,
    the models (each conditioned one and its unconditioned partner), their training, the RT60 sweep."""
    model_config = _STRICT
    ranges: dict[Knob, Range] = None
    items: dict[Literal["train", "val_test"], PositiveInt] = None
    pairs: dict[str, str] = Field(None, min_length=1)
    decay_points: int = Field(None, ge=2)
    sweep_seconds: PositiveFloat = None
    tail_seconds: PositiveFloat = None
    train: dict[str, Any] = None
    recurrent: dict[str, Any] = None


#: The schema of each plain params.yaml group (``train`` and ``efficiency`` have their own
#: checks, :func:`train_problems` and :func:`efficiency_problems`).
GROUPS: dict[str, type[BaseModel]] = {
    "scoring": ScoringGroup, "data": DataGroup, "calibration": CalibrationGroup,
    "features": FeaturesGroup, "baselines": BaselinesGroup, "evaluate": EvaluateGroup, "ir": IRGroup,
    "knobs": KnobsGroup,
}
#: Groups dvc.yaml passes to their stage as written (``${features.hop_seconds}``): a
#: ``profiles:`` entry there would never be read, so it is refused.
UNPROFILED = ("features", "calibration")
#: Every top-level key of params.yaml.
TOP_LEVEL = ("profile", "seed", *GROUPS, "train", "efficiency")


class RunEntry(BaseModel):
    """An entry of ``train.runs``: the model and format it trains (other keys are training settings)."""
    model_config = ConfigDict(strict=True, extra="allow")
    model: str
    format: Format


def flag_problems(schema: type[BaseModel], flags: dict[str, tuple[str, Any]]) -> list[str]:
    """Check command-line values against a group's schema: ``flags`` maps each flag to (its field,
    its value; None when not given). Each line names the flag, e.g. ``--confidence: input should
    be less than 1 (got 2.0)``."""
    field_flag = {name: flag for flag, (name, _) in flags.items()}
    lines = problems(schema, {name: value for name, value in flags.values() if value is not None})
    return [field_flag[line.split(":", 1)[0]] + ":" + line.split(":", 1)[1]
            if line.split(":", 1)[0] in field_flag else line for line in lines]
