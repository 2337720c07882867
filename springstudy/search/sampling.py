"""Sampling configurations from the space: seeded per family, each candidate a named model with overrides."""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from springstudy.search.space import FamilySpace, SearchError, SearchSpace


# --- sampling ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Candidate:
    """One sampled configuration: built as ``build(model, **overrides)``, trained at lr and batch."""

    config_id: str
    family: str
    model: str                              # the named configuration it is built from
    hyperparameters: Mapping[str, int]      # in Table 5's names
    overrides: Mapping[str, Any]            # constructor arguments given to build()
    lr: float
    batch_size: int
    params: int
    receptive_field: float                  # true receptive field in samples; inf for recurrent

    def build(self, seed: int | None = 0) -> torch.nn.Module:
        """The model, with weights initialised from ``seed``."""
        from springstudy.models import build

        return build(self.model, seed=seed, **self.overrides)

    def describe(self) -> str:
        """``channels 32, dilation 4, kernel 9, layers 5`` (Table 5's names)."""
        return ", ".join(f"{k} {v}" for k, v in self.hyperparameters.items())

    def record(self) -> dict[str, Any]:
        """A JSON-ready dict (infinite receptive field as None)."""
        values = dataclasses.asdict(self)
        values["hyperparameters"], values["overrides"] = dict(self.hyperparameters), dict(self.overrides)
        if not math.isfinite(self.receptive_field):
            values["receptive_field"] = None
        return values


def family_rng(seed: int, family: str, index: int) -> np.random.Generator:
    """The generator of configuration ``index`` of ``family``: independent of every other one."""
    return np.random.default_rng([int(seed), zlib.crc32(family.encode()), int(index)])


def draw_configuration(space: SearchSpace, f: FamilySpace,
                       rng: np.random.Generator) -> tuple[dict[str, int], dict[str, Any], float, int] | None:
    """One draw of (hyperparameters in Table 5's names, constructor overrides, lr, batch size)
    from ``rng``; None when no WaveNet repeat count fits the layer range."""
    values: dict[str, int] = {}
    overrides: dict[str, Any] = dict(f.fixed)
    for h in f.hyperparameters.values():
        if h.factors is None:
            values[h.name] = int(rng.integers(h.low, h.high + 1))
            overrides[h.arg] = values[h.name]
    for h in f.hyperparameters.values():
        if h.factors is not None:
            a, b = h.factors
            first = int(overrides[a])
            choices = [r for r in range(1, h.high // max(first, 1) + 1) if h.low <= first * r <= h.high]
            if not choices:
                return None
            overrides[b] = choices[int(rng.integers(len(choices)))]
            values[h.name] = first * overrides[b]
    batch = int(rng.integers(int(space.batch_size.low), int(space.batch_size.high) + 1))
    if space.lr.scale == "log":
        lr = float(math.exp(rng.uniform(math.log(space.lr.low), math.log(space.lr.high))))
    else:
        lr = float(rng.uniform(space.lr.low, space.lr.high))
    return values, overrides, lr, batch


def _with_variant(f: FamilySpace, values: Mapping[str, int], overrides: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    for variant in f.variants:
        if all(values.get(k) == v for k, v in variant.when.items()):
            omit = {f.hyperparameters[name].arg for name in variant.omit}
            return variant.base_model, {k: v for k, v in overrides.items() if k not in omit}
    return f.base_model, overrides


def sample_family(space: SearchSpace, family: str, count: int, seed: int, sample_rate: int) -> list[Candidate]:
    """``count`` configurations of ``family`` (ids ``<family>-01`` ...), each by rejection sampling
    against ``max_receptive_field_seconds`` at ``sample_rate``; every one is built once."""
    from springstudy.models import build

    f = space.families[family]
    max_rf = space.max_receptive_field_seconds * sample_rate
    width = max(2, len(str(count)))
    out = []
    for index in range(1, count + 1):
        rng = family_rng(seed, family, index)
        for _ in range(space.max_tries):
            draw = draw_configuration(space, f, rng)
            if draw is None:
                continue
            values, overrides, lr, batch = draw
            model_name, kwargs = _with_variant(f, values, overrides)
            model = build(model_name, seed=0, **kwargs)
            rf = float(model.receptive_field)
            if math.isfinite(rf) and rf > max_rf:
                continue
            out.append(Candidate(f"{family}-{index:0{width}d}", family, model_name, values, kwargs, lr, batch,
                                 int(model.num_parameters), rf))
            break
        else:
            raise SearchError(f"{family}: no configuration with a receptive field of at most "
                              f"{space.max_receptive_field_seconds} s in {space.max_tries} draws")
    return out


def sample_configurations(space: SearchSpace, configurations: Mapping[str, int], seed: int,
                          sample_rate: int) -> list[Candidate]:
    """Configurations per family (``{"TCN": 30, ...}``), in the space's family order."""
    unknown = sorted(set(configurations) - set(space.families))
    if unknown:
        raise SearchError(f"unknown famil{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}")
    return [c for family in space.families if configurations.get(family, 0) > 0
            for c in sample_family(space, family, int(configurations[family]), seed, sample_rate)]
