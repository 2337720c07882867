"""Hyperparameter scaling (thesis §3.3.1, Table 5): sample configurations, prune progressively.

The thesis defined a search space per model family (Table 5: channels, dilation, kernel size and
layers; batch size 1-32 and learning rate 1e-1-1e-4 for all), trained about 300 configurations
briefly, and removed the ones that underperformed ("progressive pruning") until nine models
were left (Table 6). It gives no sampling rule, pruning rule or seed. Here all three are
explicit, and the numbers live in ``search.yaml``:

* **Sampling.** Configuration ``i`` of a family is drawn from its own generator
  ``default_rng([seed, crc32(family), i])``, so it does not depend on how many configurations
  the family or the other families have: a search split by family draws the same configurations
  as the whole, and a larger size over the same ranges extends a smaller one's list. Integer
  hyperparameters are uniform over their range (both ends included); the learning rate is
  log-uniform. WaveNet's layer count is ``dilation_depth * num_repeat``, so ``num_repeat`` is
  drawn among the repeats that put it inside the range. A draw whose true receptive field is
  longer than ``max_receptive_field_seconds`` is drawn again (rejection sampling: the same
  distribution restricted to what is left); recurrent models have no finite receptive field
  and are never rejected.
* **Progressive pruning** as successive halving (Jamieson and Talwalkar, AISTATS 2016; Li et
  al., "Hyperband", JMLR 2018): every configuration trains to the first rung's step count; per
  family the best ``max(min_survivors, n // eta)`` by validation loss (thesis eq. 3.1) at the
  rung's end go on (``pruning.metric: last``; ``best`` ranks by the best validation so far).
  A promoted configuration is *resumed* from its ``last.pt`` up to the next rung's step count;
  because the trainer draws every batch from (seed, step), this ends bit-identical to training
  it straight for the same total steps (tests check it): pruning saves compute and changes no
  number of a promoted run.
* **Run folders** ``<out>/<config_id>/`` hold the trainer's checkpoints and ``search.json``
  (the configuration, its training settings and a fingerprint of the data). A search run again
  over the same folder reuses what is there (a run trained past a rung reads its validation
  loss at that rung from its history), so an interrupted or rung-by-rung search continues.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from springstudy.outputs import write_bytes_atomic, write_csv_atomic, write_json_atomic
from springstudy.errors import SpringStudyError

#: The search's params file, at the project root (a DVC params file).
SEARCH_FILE = "search.yaml"
#: File stems of the outputs: the ranking table (CSV, Markdown); the per-rung table and figure.
RANKING_STEM = "search_ranking"
RUNGS_STEM = "search_rungs"
#: A run folder's record of what it was trained for (compared before a run is reused).
RUN_RECORD = "search.json"
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


def size_space(space: SearchSpace, size: SearchSize) -> SearchSpace:
    """The space a size searches: its caps applied, its receptive-field limit if it has one."""
    capped = space.capped(size.caps)
    if size.max_receptive_field_seconds is not None:
        capped = dataclasses.replace(capped, max_receptive_field_seconds=float(size.max_receptive_field_seconds))
    return capped


# --- successive halving, on any objective --------------------------------------------------------

@dataclass
class RungResult:
    """One configuration's result at one rung."""

    config_id: str
    group: str
    rung: int
    steps: int
    val_loss: float
    promoted: bool = False


def survivors(n: int, eta: int, min_survivors: int = 1) -> int:
    """How many of ``n`` configurations go on to the next rung: ``max(min(n, min_survivors), n // eta)``."""
    return max(min(n, min_survivors), n // eta)


def schedule(configurations: Mapping[str, int], rungs: Sequence[int], eta: int, min_survivors: int = 1,
             per_family: bool = True) -> pd.DataFrame:
    """Planned configurations per rung (rows) and family (columns, or one group ``all``), with
    each rung's cumulative step count and the rung's total; ``total.sum()`` is the number of
    rung trainings."""
    groups = dict(configurations) if per_family else {"all": sum(configurations.values())}
    rows = []
    alive = dict(groups)
    for r, steps in enumerate(rungs):
        rows.append({"rung": r, "steps": steps, **alive, "total": sum(alive.values())})
        alive = {g: survivors(n, eta, min_survivors) for g, n in alive.items()}
    table = pd.DataFrame(rows)
    return table


def _sort_key(value: float) -> float:
    return value if math.isfinite(value) else math.inf


def successive_halving(config_ids: Sequence[str], rungs: Sequence[int], evaluate: Callable[[str, int], float],
                       eta: int, groups: Mapping[str, str] | None = None, min_survivors: int = 1,
                       rungs_to_run: int | None = None, progress: bool = False,
                       desc: str = "search") -> list[RungResult]:
    """Progressive pruning (thesis §3.3.1) by successive halving.

    At rung ``r`` every live configuration is evaluated with ``evaluate(config_id, rungs[r])``
    (its validation loss after ``rungs[r]`` cumulative steps; lower is better, NaN or inf for a
    failed run). Within each group (``groups[config_id]``; one group if None) the best
    ``survivors(n, eta, min_survivors)`` with a finite loss are promoted; ties keep the input
    order. Nobody is promoted from the last rung. ``rungs_to_run`` stops after that many rungs
    (their survivors stay marked promoted). Returns one :class:`RungResult` per evaluation.
    """
    groups = dict(groups) if groups is not None else {c: "all" for c in config_ids}
    order = {c: i for i, c in enumerate(config_ids)}
    n_rungs = len(rungs) if rungs_to_run is None else min(len(rungs), int(rungs_to_run))
    per_group: dict[str, int] = {}
    for c in config_ids:
        per_group[groups[c]] = per_group.get(groups[c], 0) + 1
    planned = schedule(per_group, rungs[:n_rungs], eta, min_survivors)["total"].sum() if n_rungs else 0
    results: list[RungResult] = []
    alive = list(config_ids)
    bar = tqdm(total=int(planned), desc=desc, unit="run", disable=not progress)
    try:
        for r in range(n_rungs):
            rung_results = []
            for config_id in alive:
                bar.set_postfix_str(f"rung {r}, {config_id}")
                loss = float(evaluate(config_id, int(rungs[r])))
                rung_results.append(RungResult(config_id, groups[config_id], r, int(rungs[r]), loss))
                bar.update(1)
            if r < len(rungs) - 1:
                for group in dict.fromkeys(groups[c] for c in alive):
                    members = [x for x in rung_results if x.group == group]
                    finite = sorted((x for x in members if math.isfinite(x.val_loss)),
                                    key=lambda x: (_sort_key(x.val_loss), order[x.config_id]))
                    for x in finite[:survivors(len(members), eta, min_survivors)]:
                        x.promoted = True
            results.extend(rung_results)
            alive = [x.config_id for x in rung_results if x.promoted]
    finally:
        bar.close()
    return results


# --- the real objective: train, resume, reuse -----------------------------------------------------

def data_fingerprint(splits: Mapping[str, Any]) -> str:
    """SHA-1 of the training and validation tensors and ids: a run folder is reused only on the same data."""
    digest = hashlib.sha1()
    for name in ("train", "validation"):
        split = splits[name]
        digest.update(name.encode())
        digest.update(json.dumps(list(split.ids)).encode())
        for tensor in (split.dry, split.wet):
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def train_config(candidate: Candidate, out: str | Path, steps: int, settings: Mapping[str, Any],
                 seed: int) -> "TrainConfig":  # noqa: F821
    """The :class:`springstudy.train.TrainConfig` of ``candidate`` trained to ``steps``."""
    from springstudy.train import TrainConfig

    return TrainConfig.from_dict({**settings, "model": candidate.model, "out": str(out), "max_steps": int(steps),
                                  "lr": candidate.lr, "batch_size": candidate.batch_size, "seed": int(seed),
                                  "model_overrides": dict(candidate.overrides)})


def _json_roundtrip(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True))


def _run_record(candidate: Candidate, config: Any, fingerprint: str) -> dict[str, Any]:
    # Everything that decides the run's numbers; not its length, folder, threads or device.
    settings = {k: v for k, v in dataclasses.asdict(config).items()
                if k not in ("max_steps", "out", "threads", "device", "tensorboard", "data", "split_file")}
    return _json_roundtrip({"candidate": candidate.record(), "train": settings, "data_fingerprint": fingerprint})


#: What a rung ranks by: the validation loss of the weights at the rung's end (``last``: the
#: state a promoted configuration resumes from) or the best one so far (``best``: ``best.pt``).
RUNG_METRICS = ("last", "best")


def val_loss_at(history: Sequence[Mapping[str, Any]], steps: int, metric: str = "last") -> float:
    """Validation loss of a run at ``steps`` from its history: the last validation at or before
    ``steps`` (``metric="last"``) or the best of them (``"best"``, what ``best.pt`` held then)."""
    if metric not in RUNG_METRICS:
        raise SearchError(f"unknown rung metric {metric!r}; choose {' or '.join(RUNG_METRICS)}")
    values = [float(h["val_loss"]) for h in history if h["step"] <= steps]
    values = [v if math.isfinite(v) else math.inf for v in values]
    if not values:
        return math.inf
    return values[-1] if metric == "last" else min(values)


@dataclass
class TrialOutcome:
    """What one rung training of one configuration gave: the rung's validation loss (by the
    rung metric), the best so far, the steps trained, and whether it was read from disk."""

    val_loss: float
    best_val_loss: float
    steps: int
    seconds: float
    reused: bool
    stopped: str | None
    error: str | None = None


def train_to(candidate: Candidate, steps: int, run_dir: str | Path, settings: Mapping[str, Any], seed: int,
             splits: Mapping[str, Any], sample_rate: int, fingerprint: str | None = None,
             metric: str = "last") -> TrialOutcome:
    """Train ``candidate`` in ``run_dir`` up to ``steps`` cumulative steps and return its
    validation loss there (``metric``: see :func:`val_loss_at`).

    A run already in ``run_dir`` for the same configuration, settings and data is reused: read
    if it reached ``steps`` (or stopped early), resumed from ``last.pt`` if not. Anything else
    there is trained over from the start. A diverging run (non-finite loss) gives ``inf``.
    """
    from springstudy.train import TrainingError, load_training_checkpoint, train

    run_dir = Path(run_dir)
    fingerprint = fingerprint or data_fingerprint(splits)
    config = train_config(candidate, run_dir, steps, settings, seed)
    record = _run_record(candidate, config, fingerprint)
    record_path, last = run_dir / RUN_RECORD, run_dir / "last.pt"
    same = record_path.is_file() and last.is_file() and json.loads(record_path.read_text()) == record
    started = time.perf_counter()
    resume = False
    if same:
        state = load_training_checkpoint(last)["train_state"]
        if state["step"] >= steps or state.get("stopped") not in (*_BUDGET_STOPS, None):
            history = state["history"]
            return TrialOutcome(val_loss_at(history, steps, metric), val_loss_at(history, steps, "best"),
                                min(int(state["step"]), int(steps)), 0.0, True, state.get("stopped"))
        resume = True          # the trainer continues a run stopped at its step limit
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(record_path, record)
    try:
        result = train(config, resume=resume, splits=dict(splits), sample_rate=sample_rate, progress=False)
    except TrainingError as err:
        step = int(load_training_checkpoint(last)["train_state"]["step"]) if last.is_file() else 0
        return TrialOutcome(math.inf, math.inf, step, time.perf_counter() - started, False, "error", str(err))
    history = result.history
    return TrialOutcome(val_loss_at(history, steps, metric), val_loss_at(history, steps, "best"),
                        int(result.summary["steps"]), time.perf_counter() - started, False,
                        result.summary["stopped"])


# --- the search ----------------------------------------------------------------------------------

@dataclass
class SearchResult:
    """A finished (or rung-limited) search: configurations, per-rung results, ranking, timing."""

    size: SearchSize
    candidates: list[Candidate]
    rungs: list[RungResult]
    outcomes: dict[tuple[str, int], TrialOutcome]
    seconds: float
    sample_rate: int

    def rung_table(self) -> pd.DataFrame:
        """One row per (configuration, rung): the long form behind the rung figure."""
        by_id = {c.config_id: c for c in self.candidates}
        rows = []
        for r in self.rungs:
            o = self.outcomes[(r.config_id, r.rung)]
            rows.append({"config_id": r.config_id, "family": by_id[r.config_id].family, "rung": r.rung,
                         "rung_steps": r.steps, "steps": o.steps, "val_loss": r.val_loss,
                         "best_val_loss": o.best_val_loss, "promoted": r.promoted,
                         "seconds": round(o.seconds, 3), "reused": o.reused, "error": o.error or ""})
        return pd.DataFrame(rows)

    def ranking(self) -> pd.DataFrame:
        """The ranked table (see :func:`ranking_table`)."""
        return ranking_table(self.candidates, self.rungs, self.outcomes, len(self.size.rungs), self.sample_rate)


def run_search(candidates: Sequence[Candidate], size: SearchSize, splits: Mapping[str, Any], sample_rate: int,
               out: str | Path, seed: int, progress: bool = True) -> SearchResult:
    """Successive halving over ``candidates`` with real training: runs in ``<out>/<config_id>/``,
    grouped by family when ``size.per_family``; a progress bar over the rung trainings."""
    out = Path(out)
    by_id = {c.config_id: c for c in candidates}
    if len(by_id) != len(candidates):
        raise SearchError("configuration ids are not unique")
    fingerprint = data_fingerprint(splits)
    outcomes: dict[tuple[str, int], TrialOutcome] = {}
    rung_of = {steps: r for r, steps in enumerate(size.rungs)}

    def evaluate(config_id: str, steps: int) -> float:
        outcome = train_to(by_id[config_id], steps, out / config_id, size.train, seed, splits, sample_rate,
                           fingerprint, size.metric)
        outcomes[(config_id, rung_of[steps])] = outcome
        return outcome.val_loss

    started = time.perf_counter()
    groups = {c.config_id: (c.family if size.per_family else "all") for c in candidates}
    rungs = successive_halving([c.config_id for c in candidates], size.rungs, evaluate, size.eta, groups,
                               size.min_survivors, size.rungs_to_run, progress=progress,
                               desc=f"search ({size.name})")
    return SearchResult(size, list(candidates), rungs, outcomes, time.perf_counter() - started, int(sample_rate))


# --- the ranked table, its files and the rung figure ----------------------------------------------

RANKING_COLUMNS = ("rank", "config_id", "family", "model", "hyperparameters", "params", "receptive_field",
                   "rf_ms", "lr", "batch_size", "rung", "steps", "val_loss", "best_val_loss", "status",
                   "family_rank")


def ranking_table(candidates: Sequence[Candidate], rungs: Sequence[RungResult],
                  outcomes: Mapping[tuple[str, int], TrialOutcome], n_rungs: int,
                  sample_rate: int | None = None) -> pd.DataFrame:
    """Rank every configuration: the furthest rung reached first, then the lowest validation loss
    there (the successive-halving order). ``rung`` is that rung (0-based), ``steps`` the optimiser
    steps actually trained, ``status`` finalist / promoted (waiting for the next rung) / pruned
    after rung r / failed; ``family_rank`` is the rank within the family."""
    last: dict[str, RungResult] = {}
    for r in rungs:
        if r.config_id not in last or r.rung > last[r.config_id].rung:
            last[r.config_id] = r
    rows = []
    for c in candidates:
        if c.config_id not in last:
            continue
        r = last[c.config_id]
        o = outcomes.get((c.config_id, r.rung))
        if o is not None and o.error:
            status = "failed"
        elif r.rung == n_rungs - 1:
            status = "finalist"
        elif r.promoted:
            status = "promoted"
        else:
            status = f"pruned after rung {r.rung}"
        rows.append({"config_id": c.config_id, "family": c.family, "model": c.model,
                     "hyperparameters": c.describe(), "params": c.params, "receptive_field": c.receptive_field,
                     "lr": c.lr, "batch_size": c.batch_size, "rung": r.rung,
                     "steps": o.steps if o is not None else r.steps, "val_loss": r.val_loss,
                     "best_val_loss": o.best_val_loss if o is not None else math.nan, "status": status})
    table = pd.DataFrame(rows, columns=[c for c in RANKING_COLUMNS if c not in ("rank", "rf_ms", "family_rank")])
    if table.empty:
        return table.reindex(columns=list(RANKING_COLUMNS))
    table["_loss"] = table["val_loss"].map(_sort_key)
    table = table.sort_values(["rung", "_loss", "config_id"], ascending=[False, True, True], kind="stable")
    table = table.drop(columns="_loss").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    table["family_rank"] = table.groupby("family").cumcount() + 1
    table.insert(table.columns.get_loc("receptive_field") + 1, "rf_ms",
                 table["receptive_field"] * 1000.0 / sample_rate if sample_rate else np.nan)
    return table


def _cell(column: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    if column == "lr":
        return f"{value:.2e}"
    if column in ("val_loss", "best_val_loss"):
        return f"{value:.4f}"
    if column == "rf_ms":
        return f"{value:.1f}"
    if column in ("params", "receptive_field"):
        return f"{int(value):,}"
    return str(value)


def ranking_markdown(table: pd.DataFrame, title: str = "") -> str:
    """The ranked table as GitHub-flavoured Markdown (infinite receptive fields as ∞)."""
    headings = {"rank": "Rank", "config_id": "Config", "family": "Family", "model": "Built from",
                "hyperparameters": "Hyperparameters (Table 5)", "params": "Parameters",
                "receptive_field": "RF (samples)", "rf_ms": "RF (ms)", "lr": "LR", "batch_size": "Batch",
                "rung": "Rung", "steps": "Steps", "val_loss": "Val. loss", "best_val_loss": "Best so far",
                "status": "Status",
                "family_rank": "In family"}
    columns = [c for c in RANKING_COLUMNS if c in table.columns]
    lines = [f"## {title}", ""] if title else []
    lines += ["| " + " | ".join(headings[c] for c in columns) + " |",
              "| " + " | ".join("---" for _ in columns) + " |"]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(_cell(c, row[c]) for c in columns) + " |")
    lines += ["", "Validation loss: 0.5·MAE + 0.5·MR-STFT (thesis eq. 3.1) at the end of the configuration's "
              "last rung (the rung metric); \"best so far\" is the lowest validation up to then. Ranked by "
              "rung reached, then validation loss; rungs count from 0."]
    return "\n".join(lines) + "\n"


def write_ranking(table: pd.DataFrame, folder: str | Path, stem: str = RANKING_STEM,
                  title: str = "Hyperparameter search (thesis §3.3.1): ranked configurations") -> tuple[Path, Path]:
    """Write ``<stem>.csv`` and ``<stem>.md`` atomically; returns both paths."""
    folder = Path(folder)
    csv_path, md_path = folder / f"{stem}.csv", folder / f"{stem}.md"
    write_csv_atomic(csv_path, table)
    write_bytes_atomic(md_path, ranking_markdown(table, title).encode())
    return csv_path, md_path


def pruning_budget(rungs: Sequence[RungResult], rung_steps: Sequence[int], n_configurations: int) -> dict[str, int]:
    """Optimiser steps the search spent (each rung trains only the steps since the previous one)
    against training every configuration to the last rung."""
    previous = {r: (rung_steps[r - 1] if r else 0) for r in range(len(rung_steps))}
    spent = sum(r.steps - previous[r.rung] for r in rungs)
    return {"steps_trained": int(spent), "steps_without_pruning": int(n_configurations * rung_steps[-1])}


def search_metrics(result: SearchResult, table: pd.DataFrame) -> dict[str, Any]:
    """DVC metrics of a search: the best configuration overall and per family, counts, time."""
    def entry(row: pd.Series) -> dict[str, Any]:
        return {"config_id": row["config_id"], "val_loss": float(row["val_loss"]), "params": int(row["params"]),
                "lr": float(row["lr"]), "batch_size": int(row["batch_size"]), "steps": int(row["steps"])}

    best = table.iloc[0] if len(table) else None
    return {
        "size": result.size.name,
        "configurations": len(result.candidates),
        "rung_trainings": len(result.rungs),
        "trained_rung_trainings": sum(1 for o in result.outcomes.values() if not o.reused),
        "failed": int((table["status"] == "failed").sum()) if len(table) else 0,
        "seconds": round(result.seconds, 1),
        **pruning_budget(result.rungs, result.size.rungs, len(result.candidates)),
        "best_val_loss": None if best is None else float(best["val_loss"]),
        "best": None if best is None else entry(best),
        "families": {family: entry(rows.iloc[0]) for family, rows in table.groupby("family", sort=False)},
    }


def plot_rungs(rung_table: pd.DataFrame, title: str = "") -> "matplotlib.figure.Figure":  # noqa: F821
    """Validation loss per rung, one panel per family, one line per configuration; pruned
    configurations end in a cross, finalists are drawn thick and labelled."""
    from matplotlib.ticker import FormatStrFormatter

    from springstudy.plots import plt

    families = list(dict.fromkeys(rung_table["family"]))
    fig, axes = plt.subplots(1, len(families), figsize=(3.2 * len(families) + 0.6, 3.4), sharey=True,
                             squeeze=False)
    last_rung = rung_table["rung"].max()
    for ax, family in zip(axes[0], families):
        rows = rung_table[rung_table["family"] == family]
        for k, (config_id, runs) in enumerate(rows.groupby("config_id", sort=True)):
            runs = runs.sort_values("rung")
            finite = runs[np.isfinite(runs["val_loss"])]
            color = f"C{k % 10}"
            final = runs["rung"].iloc[-1] == last_rung
            ax.plot(finite["rung_steps"], finite["val_loss"], "-o", color=color, ms=3, lw=2.2 if final else 0.9,
                    alpha=1.0 if final else 0.6)
            if not final and len(finite):
                ax.plot(finite["rung_steps"].iloc[-1], finite["val_loss"].iloc[-1], "x", color=color, ms=7)
            if final and len(finite):
                ax.annotate(config_id, (finite["rung_steps"].iloc[-1], finite["val_loss"].iloc[-1]),
                            xytext=(4, 0), textcoords="offset points", fontsize=7, va="center")
        ax.set_title(family)
        ax.set_xscale("log")
        ax.set_yscale("log")       # a diverging configuration sits decades above the rest
        ax.set_xlabel("steps (rung)")
        ticks = sorted(rung_table["rung_steps"].unique())
        ax.set_xticks(ticks, [str(s) for s in ticks])
        ax.set_xticks([], minor=True)
        ax.set_xlim(ticks[0] / 1.2, ticks[-1] * 1.6)   # room for the finalists' labels
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation loss (eq. 3.1)")
    plain = FormatStrFormatter("%g")
    axes[0][0].yaxis.set_major_formatter(plain)
    axes[0][0].yaxis.set_minor_formatter(plain)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
