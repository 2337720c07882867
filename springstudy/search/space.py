"""The search space (thesis Table 5) as data: families, hyperparameters, variants, budgets, read from search.yaml."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from springstudy.errors import SpringStudyError


#: The search's params file, at the project root (a DVC params file).
SEARCH_FILE = "search.yaml"
#: Training stop reasons that only mean "the rung's step budget was reached".
_BUDGET_STOPS = ("max_steps", "max_epochs")
#: Table 5's hyperparameter names, in the table's order.
TABLE5_ROWS = ("channels", "dilation", "kernel", "layers")


class SearchError(SpringStudyError, ValueError):
    """search.yaml, a search size or a sampled configuration is not usable; the message says why."""


# --- the search space (Table 5) as data ------------------------------------------------------

@dataclass(frozen=True)
class Hyperparameter:
    """One row of Table 5 for one family: integer range and the constructor argument it sets.

    ``arg`` is a constructor argument, or ``"a*b"`` for a product (WaveNet's layers are
    ``dilation_depth * num_repeat``: ``a`` is set by another hyperparameter, ``b`` is drawn).
    """

    name: str
    arg: str
    low: int
    high: int
    thesis: str = ""

    @property
    def factors(self) -> tuple[str, str] | None:
        """``(a, b)`` for a product argument ``"a*b"``, else None."""
        if "*" not in self.arg:
            return None
        a, b = (part.strip() for part in self.arg.split("*"))
        return a, b


@dataclass(frozen=True)
class Variant:
    """A different named base configuration when hyperparameters take given values
    (LSTM kernel 0: the plain LSTM-96, without the conv front end's argument)."""

    when: Mapping[str, int]
    base_model: str
    omit: tuple[str, ...] = ()


@dataclass(frozen=True)
class FamilySpace:
    """Table 5's column for one family."""

    family: str
    base_model: str
    total_configurations: int
    hyperparameters: Mapping[str, Hyperparameter]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    variants: tuple[Variant, ...] = ()


@dataclass(frozen=True)
class CommonRange:
    """A range shared by all families (Table 5, "Common Ranges"): ``linear`` integers or ``log``."""

    low: float
    high: float
    scale: str = "linear"
    thesis: str = ""


@dataclass(frozen=True)
class SearchSpace:
    """Table 5 with the receptive-field constraint that makes it trainable."""

    families: Mapping[str, FamilySpace]
    batch_size: CommonRange
    lr: CommonRange
    max_receptive_field_seconds: float
    max_tries: int

    def capped(self, caps: Mapping[str, int]) -> SearchSpace:
        """The space with upper ends lowered to ``caps`` (hyperparameter name or ``batch_size``).

        A cap never cuts below a range's low end: WaveNet's layers (10-24) capped at 6 are 10.
        """
        known = {n for f in self.families.values() for n in f.hyperparameters} | {"batch_size"}
        unknown = sorted(set(caps) - known)
        if unknown:
            raise SearchError(f"unknown cap(s) {', '.join(unknown)}; caps apply to {', '.join(sorted(known))}")

        def cap(low: float, high: float, name: str) -> float:
            return high if name not in caps else max(low, min(high, caps[name]))

        families = {
            name: dataclasses.replace(f, hyperparameters={
                h.name: dataclasses.replace(h, high=int(cap(h.low, h.high, h.name)))
                for h in f.hyperparameters.values()})
            for name, f in self.families.items()}
        batch = dataclasses.replace(self.batch_size, high=cap(self.batch_size.low, self.batch_size.high, "batch_size"))
        return dataclasses.replace(self, families=families, batch_size=batch)


@dataclass(frozen=True)
class SearchSize:
    """How big a search is: configurations per family, rungs (cumulative steps), eta, training."""

    name: str
    configurations: Mapping[str, int]
    rungs: tuple[int, ...]
    eta: int
    caps: Mapping[str, int]
    train: Mapping[str, Any]
    max_receptive_field_seconds: float | None = None
    per_family: bool = True
    min_survivors: int = 1
    rungs_to_run: int | None = None
    metric: str = "last"


def load_search(path: str | Path | None = None) -> dict[str, Any]:
    """search.yaml as a dict (default: the project root's)."""
    import yaml

    from springstudy.config import project_root

    path = Path(path) if path is not None else project_root() / SEARCH_FILE
    if not path.is_file():
        raise SearchError(f"{path}: file not found")
    data = yaml.safe_load(path.read_text())
    missing = [k for k in ("space", "common", "constraints", "sizes") if not isinstance(data, dict) or k not in data]
    if missing:
        raise SearchError(f"{path}: no {', '.join(missing)} (not a search file)")
    return data


def search_space(params: Mapping[str, Any]) -> SearchSpace:
    """The :class:`SearchSpace` of search.yaml (as :func:`load_search` reads it)."""
    families = {}
    for family, spec in params["space"].items():
        hps = {name: Hyperparameter(name, str(h["arg"]), int(h["low"]), int(h["high"]), str(h.get("thesis", "")))
               for name, h in spec["hyperparameters"].items()}
        for h in hps.values():
            if h.low > h.high:
                raise SearchError(f"{family}.{h.name}: low {h.low} > high {h.high}")
            if h.factors and h.factors[0] not in {o.arg for o in hps.values()}:
                raise SearchError(f"{family}.{h.name}: {h.factors[0]!r} is not set by another hyperparameter")
        variants = tuple(Variant(dict(v["when"]), v["base_model"], tuple(v.get("omit", ())))
                         for v in spec.get("variants", []) or [])
        families[family] = FamilySpace(family, spec["base_model"], int(spec["total_configurations"]), hps,
                                       dict(spec.get("fixed", {}) or {}), variants)
    common = params["common"]
    ranges = {k: CommonRange(float(v["low"]), float(v["high"]), v.get("scale", "linear"), str(v.get("thesis", "")))
              for k, v in common.items()}
    constraints = params["constraints"]
    return SearchSpace(families, ranges["batch_size"], ranges["lr"],
                       float(constraints["max_receptive_field_seconds"]), int(constraints["max_tries"]))


def search_size(params: Mapping[str, Any], name: str | None = None, profile: str | None = None) -> SearchSize:
    """The size ``name`` (or the one search.yaml's ``size_by_profile`` gives the params.yaml
    ``profile``), with the common training settings and pruning options merged in. Checks that
    every rung is a multiple of ``val_every``."""
    if name is None:
        by_profile = params.get("size_by_profile", {}) or {}
        if profile not in by_profile:
            raise SearchError(f"give a search size, or a profile of size_by_profile ({', '.join(by_profile)})")
        name = by_profile[profile]
    if name not in params["sizes"]:
        raise SearchError(f"unknown search size {name!r}; sizes: {', '.join(params['sizes'])}")
    spec = params["sizes"][name]
    pruning = params.get("pruning", {}) or {}
    if pruning.get("method", "successive_halving") != "successive_halving":
        raise SearchError(f"pruning method {pruning['method']!r}: only successive_halving is implemented")
    rungs = tuple(int(r) for r in spec["rungs"])
    train = {**(params.get("train", {}) or {}), **(spec.get("train", {}) or {})}
    unknown = sorted(set(spec["configurations"]) - set(params["space"]))
    if unknown:
        raise SearchError(f"size {name}: unknown famil{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}")
    if not rungs or any(b <= a for a, b in zip(rungs, rungs[1:])) or rungs[0] <= 0:
        raise SearchError(f"size {name}: rungs must be increasing positive step counts, got {list(rungs)}")
    val_every = train.get("val_every")
    if val_every and any(r % int(val_every) for r in rungs):
        # A rung that ends between validations would add a validation the straight run lacks.
        raise SearchError(f"size {name}: every rung must be a multiple of val_every={val_every}, got {list(rungs)}")
    if pruning.get("metric", "last") not in RUNG_METRICS:
        raise SearchError(f"pruning metric {pruning['metric']!r}: choose {' or '.join(RUNG_METRICS)}")
    if int(spec["eta"]) < 2:
        raise SearchError(f"size {name}: eta must be 2 or more")
    return SearchSize(name=name, configurations=dict(spec["configurations"]), rungs=rungs, eta=int(spec["eta"]),
                      caps=dict(spec.get("caps", {}) or {}), train=train,
                      max_receptive_field_seconds=spec.get("max_receptive_field_seconds"),
                      per_family=bool(pruning.get("per_family", True)),
                      min_survivors=int(pruning.get("min_survivors", 1)),
                      rungs_to_run=pruning.get("rungs_to_run"), metric=str(pruning.get("metric", "last")))


def space_table(space: SearchSpace) -> pd.DataFrame:
    """Table 5 as searched: one row per hyperparameter, one column per family, each cell
    ``"low-high → constructor argument"`` (the thesis's printed range where it differs)."""
    rows = {}
    for name in TABLE5_ROWS:
        row = {}
        for family, f in space.families.items():
            h = f.hyperparameters.get(name)
            if h is None:
                row[family] = "-"
                continue
            printed = "" if h.thesis in ("", f"{h.low}-{h.high}") else f" (thesis {h.thesis})"
            row[family] = f"{h.low}-{h.high}{printed} → {h.arg}"
        rows[name] = row
    for name, r in (("batch size", space.batch_size), ("learning rate", space.lr)):
        text = (f"{r.low:g}-{r.high:g}, log-uniform" if r.scale == "log" else f"{int(r.low)}-{int(r.high)}")
        rows[name] = {family: text for family in space.families}
    rows["total configurations"] = {family: str(f.total_configurations) for family, f in space.families.items()}
    rows["base model"] = {family: f.base_model for family, f in space.families.items()}
    return pd.DataFrame(rows).T.rename_axis("hyperparameter")


def size_space(space: SearchSpace, size: SearchSize) -> SearchSpace:
    """The space a size searches: its caps applied, its receptive-field limit if it has one."""
    capped = space.capped(size.caps)
    if size.max_receptive_field_seconds is not None:
        capped = dataclasses.replace(capped, max_receptive_field_seconds=float(size.max_receptive_field_seconds))
    return capped


#: What a rung ranks by: the validation loss of the weights at the rung's end (``last``: the
#: state a promoted configuration resumes from) or the best one so far (``best``: ``best.pt``).
RUNG_METRICS = ("last", "best")
