"""Test-set evaluation (thesis §4.1, Tables 8-10, Fig 15): per-item metrics, bootstrap intervals.

Every predictor (a trained model's best checkpoint, or a baseline from
:mod:`springstudy.baselines`) is scored on the *whole* items of the test split, after the same
``RemoveDC`` + ``NormalisePair`` the trainer applies (:func:`springstudy.train.load_splits`).
Metrics come from :func:`springstudy.metrics.compute_all` (one definition per metric), one
value per item; a table reports the mean over all test items (batches only group the work,
the last partial batch included) with a seeded percentile bootstrap interval
(Efron and Tibshirani, "An Introduction to the Bootstrap", 1993, §13.3).

The bootstrap draws the same resampled item sets for every model and metric of a split (same
seed, same item count), so the intervals of two models are paired: where one model's values
are below another's on most resamples, the difference is systematic, not luck of the draw.

Outputs (paths chosen by the caller; the study's notebooks use these):

* per-item CSV: one row per (model, test item), every metric of :data:`springstudy.metrics.METRICS`;
* ``reports/tables/table8_baselines.csv|md``, ``table9_16k.csv|md``, ``table10_48k.csv|md``:
  model, kind, params, n_items, and per metric its mean and ``<metric>_lo`` / ``<metric>_hi``;
  the Markdown puts the thesis's published numbers beside ours (printed and relabelled);
* ``reports/metrics/*.json``: the summary means and bounds per model, for ``dvc metrics``.

The command line (``springstudy evaluate``) is declared in :mod:`springstudy.evaluate_command`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from springstudy.baselines import (BASELINES, CLOSED_FORM_BASELINES, LINEAR_IR_REGULARISATION, TCN_BASELINE_STEPS,
                                   LinearIR, Naive, NoiseCeiling, Predictor, Silence)
from springstudy.outputs import write_bytes_atomic, write_csv_atomic, write_json_atomic
from springstudy.metrics import DEFAULT_PRE_EMPHASIS, compute_all
from springstudy.thesis_tables import MIXUP_NOTE, ThesisTable, printed_and_corrected, relabelling_check
from springstudy.train import TrainConfig
from springstudy.errors import SpringStudyError

#: The study's seed when none is given (params.yaml's ``seed``; the trainer's default).
DEFAULT_SEED = TrainConfig.seed

#: The thesis's four table columns (Tables 8-10), in order.
TABLE_METRICS = ("mae", "esr", "dc", "mr_stft")
#: Metrics summarised in our tables: the thesis's four plus ESR with pre-emphasis.
SUMMARY_METRICS = ("mae", "esr", "dc", "mr_stft", "esr_pre")
#: Column headings of the metrics, as the tables print them.
METRIC_HEADINGS = {"mae": "MAE", "mse": "MSE", "esr": "ESR", "dc": "DC", "esr_pre": "ESR (pre-emph.)",
                   "stft": "STFT", "mr_stft": "MR-STFT"}
#: Bootstrap defaults: resamples and two-sided confidence level.
DEFAULT_RESAMPLES = 10_000
DEFAULT_CONFIDENCE = 0.95
#: Items scored per forward pass (whole items; only groups the work).
DEFAULT_BATCH_SIZE = 4
#: Test items drawn for Fig 15 (the thesis shows a few predictions per model).
DEFAULT_EXAMPLES = 3
#: Baselines recomputed beside the models in Tables 9-10 (cheap, deterministic references).
REFERENCE_BASELINES = ("Naive", "Silence", "Linear IR")


@dataclass(frozen=True)
class DatasetTables:
    """Where a dataset's results go: thesis table number, file stem, short rate label."""

    number: int
    stem: str
    rate_label: str
    title: str


#: Thesis Table 9 reports SpringSet (16 kHz), Table 10 EGFxSet (48 kHz).
DATASET_TABLES = {
    "springset": DatasetTables(9, "table9_16k", "16k", "Table 9 · test results, SpringSet format (16 kHz)"),
    "egfxset": DatasetTables(10, "table10_48k", "48k", "Table 10 · test results, EGFxSet format (48 kHz)"),
}
BASELINE_TABLE_STEM = "table8_baselines"


class EvaluationError(SpringStudyError, ValueError):
    """Evaluation cannot run as asked (no runs, runs on different test splits, bad data)."""


# --- data -----------------------------------------------------------------------------------

def load_split_tensors(data: str | Path, split_file: str | Path | None = None, seed: int = DEFAULT_SEED,
                       split_method: str = "random", names: Sequence[str] = ("train", "test"),
                       ) -> tuple[dict[str, Any], int, dict[str, Any]]:
    """Open ``data`` and preload the named splits as :class:`~springstudy.data.tensors.SplitTensors`.

    The split comes from ``split_file`` (checked against the dataset) or, without one, from
    ``make_splits(pairs, seed, split_method)``, the trainer's own rule. Each item gets the
    trainer's ``RemoveDC`` and ``NormalisePair`` (one gain for dry and wet), whole, uncropped.
    Returns (splits, sample rate, split record).
    """
    from springstudy.data import DatasetError
    from springstudy.data.tensors import load_split_tensors as load

    try:
        return load(data, split_file, seed, split_method, names)
    except DatasetError as err:
        raise EvaluationError(str(err)) from err


# --- scoring --------------------------------------------------------------------------------

@dataclass
class Scored:
    """Per-item metrics of one predictor on one split, and its predictions of chosen items."""

    items: pd.DataFrame
    examples: dict[int, np.ndarray] = field(default_factory=dict)


@torch.no_grad()
def score_predictor(predict: Predictor, split: Any, name: str, params: int | None, kind: str = "model",
                    pre_emphasis: float = DEFAULT_PRE_EMPHASIS, batch_size: int = DEFAULT_BATCH_SIZE,
                    keep: Iterable[int] = (), progress: bool = False) -> Scored:
    """Score ``predict`` on every item of ``split`` (whole items), one row per item.

    ``predict(dry, indices)`` maps a batch (B, 1, T) to predictions (B, 1, T). Items go in
    batches of ``batch_size``, the last one partial: every item is scored exactly once.
    Columns: model, kind, params, item, index and every metric of :func:`compute_all`.
    Predictions of the item indices in ``keep`` are returned (for Fig 15).
    """
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, not {batch_size}")
    n = split.dry.shape[0]
    keep = set(int(i) for i in keep)
    per_metric: dict[str, list[np.ndarray]] = {}
    examples: dict[int, np.ndarray] = {}
    for start in tqdm(range(0, n, batch_size), desc=name, unit="batch", disable=not progress):
        indices = list(range(start, min(start + batch_size, n)))
        dry, wet = split.dry[indices], split.wet[indices]
        pred = predict(dry, indices)
        if pred.shape != wet.shape:
            raise EvaluationError(f"{name}: prediction of shape {tuple(pred.shape)} for a target of {tuple(wet.shape)}")
        pred = pred.detach().cpu()
        for metric, values in compute_all(pred, wet, pre_emphasis, reduction="none").items():
            per_metric.setdefault(metric, []).append(values)
        for k, i in enumerate(indices):
            if i in keep:
                examples[i] = pred[k, 0].double().numpy()
    items = pd.DataFrame({"model": name, "kind": kind, "params": params, "item": list(split.ids),
                          "index": np.arange(n)})
    for metric, chunks in per_metric.items():
        items[metric] = np.concatenate(chunks)
    return Scored(items=items, examples=examples)


def model_predictor(model: torch.nn.Module, device: str | torch.device = "cpu") -> Predictor:
    """A predictor from a trained model: whole items through ``model`` in eval mode."""
    device = torch.device(device)
    model = model.to(device).eval()

    def predict(dry: torch.Tensor, indices: Sequence[int]) -> torch.Tensor:
        return model(dry.to(device)).cpu()

    return predict


def build_baselines(names: Iterable[str], train: Any, sample_rate: int, seed: int = DEFAULT_SEED,
                    noise_amplitude: float | None = None, ir_seconds: float | None = None,
                    ir_regularisation: float = LINEAR_IR_REGULARISATION, ir_method: str = "lstsq") -> dict[str, Any]:
    """The closed-form baselines ``names`` (from :data:`~springstudy.baselines.CLOSED_FORM_BASELINES`),
    fitted or levelled on the training split ``train`` where they need it.

    Noise ceiling: ``noise_amplitude`` or, if None, matched to the training targets' power.
    Linear IR: ``ir_seconds`` of impulse response (None: the item length), Tikhonov floor
    ``ir_regularisation``, fitted by ``ir_method`` (:meth:`~springstudy.baselines.LinearIR.fit`).
    """
    out: dict[str, Any] = {}
    for name in names:
        if name == "Naive":
            out[name] = Naive()
        elif name == "Silence":
            out[name] = Silence()
        elif name == "Noise ceiling":
            out[name] = NoiseCeiling.matched_to(train.wet, seed) if noise_amplitude is None \
                else NoiseCeiling(noise_amplitude, seed)
        elif name == "Linear IR":
            length = None if ir_seconds is None else min(int(round(ir_seconds * sample_rate)), train.dry.shape[-1])
            out[name] = LinearIR.fit(train.dry, train.wet, length, ir_regularisation, sample_rate, method=ir_method)
        else:
            raise EvaluationError(f"unknown baseline {name!r}; closed-form baselines: {', '.join(CLOSED_FORM_BASELINES)}")
    return out


def pick_examples(n_items: int, n_examples: int, seed: int) -> list[int]:
    """``n_examples`` test item indices (sorted) drawn without replacement from the seed."""
    k = min(n_examples, n_items)
    return sorted(int(i) for i in np.random.default_rng(seed).choice(n_items, size=k, replace=False))


# --- runs -----------------------------------------------------------------------------------

def find_runs(paths: Iterable[str | Path], models: Iterable[str] | None = None) -> dict[str, Path]:
    """Run folders holding ``best.pt``, by model name, in the thesis's model order.

    Each path is a run folder (it holds ``best.pt``) or a folder of run folders (e.g.
    ``runs/<profile>/<format>``, one level down). The label is the checkpoint's model name; a
    second run of the same model is labelled ``<model> (<folder>)``. ``models`` keeps only
    runs of those model names.
    """
    from springstudy.models import list_models

    found: list[tuple[str, Path]] = []
    for path in map(Path, paths):
        if (path / "best.pt").is_file():
            candidates = [path]
        elif path.is_dir():
            candidates = sorted(p for p in path.iterdir() if (p / "best.pt").is_file())
        else:
            raise EvaluationError(f"{path}: no such run folder")
        if not candidates:
            raise EvaluationError(f"{path}: no best.pt in it or in any folder directly below it")
        for run in candidates:
            found.append((_checkpoint_model_name(run / "best.pt"), run))
    wanted = None if models is None else {m.lower() for m in models}
    order = {name.lower(): k for k, name in enumerate(list_models())}
    found = [(m, r) for m, r in found if wanted is None or m.lower() in wanted or r.name.lower() in wanted]
    found.sort(key=lambda mr: (order.get(mr[0].lower(), len(order)), mr[0], str(mr[1])))
    runs: dict[str, Path] = {}
    for model, run in found:
        label = model if model not in runs else f"{model} ({run.name})"
        runs[label] = run
    return runs


def _checkpoint(path: Path) -> dict[str, Any]:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for an unreadable file
        raise EvaluationError(f"{path}: not a readable checkpoint ({err})") from err
    if not isinstance(ckpt, dict) or "model_name" not in ckpt or "model_state" not in ckpt:
        raise EvaluationError(f"{path}: not a springstudy checkpoint (needs model_name and model_state)")
    return ckpt


def _checkpoint_model_name(path: Path) -> str:
    return str(_checkpoint(path)["model_name"])


def run_data_source(run: Path) -> dict[str, Any]:
    """Where a run's data and split came from: ``data``, ``split_file``, ``seed``,
    ``split_method`` (from its checkpoint's config) and its own ``split.json`` if written."""
    ckpt = _checkpoint(run / "best.pt")
    config = ckpt.get("config") or {}
    return {"data": config.get("data"), "split_file": config.get("split_file"), "seed": config.get("seed"),
            "split_method": config.get("split_method", "random"), "sample_rate": ckpt.get("sample_rate"),
            "split_json": str(run / "split.json") if (run / "split.json").is_file() else None}


def check_test_split(runs: Mapping[str, Path], record: Mapping[str, Any]) -> None:
    """Raise :class:`EvaluationError` if a run's own ``split.json`` holds a different test set
    than ``record``: a model scored on items it trained on would look better than it is."""
    test = list(record["splits"]["test"])
    for label, run in runs.items():
        path = Path(run) / "split.json"
        if path.is_file():
            own = json.loads(path.read_text())["splits"]["test"]
            if list(own) != test:
                raise EvaluationError(f"{label}: {path} holds a different test split than the one evaluated "
                                      f"({len(own)} vs {len(test)} items); give the split file it was trained with")


def score_runs(runs: Mapping[str, Path], split: Any, sample_rate: int | None = None,
               pre_emphasis: float = DEFAULT_PRE_EMPHASIS, batch_size: int = DEFAULT_BATCH_SIZE,
               keep: Iterable[int] = (), device: str = "cpu", progress: bool = False) -> dict[str, Scored]:
    """Score each run's ``best.pt`` on ``split``; a checkpoint trained at another sample rate is an error."""
    from springstudy.models import load_checkpoint

    keep = list(keep)
    scored = {}
    for label, run in runs.items():
        ckpt_rate = _checkpoint(run / "best.pt").get("sample_rate")
        if sample_rate is not None and ckpt_rate is not None and int(ckpt_rate) != int(sample_rate):
            raise EvaluationError(f"{run}: trained at {ckpt_rate} Hz, but the test data is at {sample_rate} Hz")
        model = load_checkpoint(run / "best.pt")
        kind = "baseline" if label.split(" (")[0] in BASELINES else "model"
        scored[label] = score_predictor(model_predictor(model, device), split, label, model.num_parameters, kind,
                                        pre_emphasis, batch_size, keep, progress)
    return scored


# --- bootstrap and summary ------------------------------------------------------------------

@dataclass(frozen=True)
class Interval:
    """A mean and its bootstrap confidence interval."""

    mean: float
    lo: float
    hi: float


def bootstrap_means(values: np.ndarray, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> np.ndarray:
    """Means of ``n_resamples`` resamples (with replacement, same size) of ``values``.

    The resampled index sets depend only on (seed, len(values)), so two metrics or two models
    scored on the same items share them (a paired bootstrap).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"need a non-empty 1-D array of per-item values, got shape {values.shape}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, not {n_resamples}")
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    rows = max(1, (1 << 22) // values.size)         # bound memory: ~4M indices at a time
    for start in range(0, n_resamples, rows):
        stop = min(start + rows, n_resamples)
        means[start:stop] = values[rng.integers(0, values.size, size=(stop - start, values.size))].mean(axis=1)
    return means


def bootstrap_ci(values: np.ndarray, n_resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
                 seed: int = 0) -> Interval:
    """Mean of ``values`` with a two-sided percentile bootstrap interval at ``confidence``
    (Efron and Tibshirani 1993, §13.3), from ``n_resamples`` seeded resamples."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), not {confidence}")
    values = np.asarray(values, dtype=np.float64)
    means = bootstrap_means(values, n_resamples, seed)
    alpha = 1.0 - confidence
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return Interval(float(values.mean()), float(lo), float(hi))


def paired_difference(a: np.ndarray, b: np.ndarray, n_resamples: int = DEFAULT_RESAMPLES,
                      confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> Interval:
    """Mean of the per-item difference a − b (same items, same order) with its bootstrap interval.
    An interval entirely below 0 says ``a`` is lower than ``b`` beyond resampling noise."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in shape: {a.shape} vs {b.shape}")
    return bootstrap_ci(a - b, n_resamples, confidence, seed)


def summarise(items: pd.DataFrame, metrics: Sequence[str] = SUMMARY_METRICS, n_resamples: int = DEFAULT_RESAMPLES,
              confidence: float = DEFAULT_CONFIDENCE, seed: int = 0,
              group: Sequence[str] = ("model",)) -> pd.DataFrame:
    """One row per model (per ``group``): kind, params, n_items, and per metric the mean over all
    items with ``<metric>_lo`` / ``<metric>_hi`` bootstrap bounds. Rows keep first-seen order."""
    rows = []
    for key, frame in items.groupby(list(group), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        row: dict[str, Any] = dict(zip(group, key))
        row.update(kind=frame["kind"].iloc[0], params=frame["params"].iloc[0], n_items=len(frame))
        for metric in metrics:
            ci = bootstrap_ci(frame[metric].to_numpy(), n_resamples, confidence, seed)
            row.update({metric: ci.mean, f"{metric}_lo": ci.lo, f"{metric}_hi": ci.hi})
        rows.append(row)
    out = pd.DataFrame(rows)
    out["params"] = out["params"].astype("Int64")
    return out


def mark_best(summary: pd.DataFrame, metrics: Sequence[str] = SUMMARY_METRICS, among: str | None = "model",
              group: Sequence[str] = ()) -> pd.DataFrame:
    """Add a ``best`` column: the metrics (joined by ``;``) on which the row has the lowest mean.

    The best is taken among rows of kind ``among`` (trained models: a baseline that leaves the
    signal untouched always has a near-zero DC error, which says nothing); if there are no such
    rows, or ``among`` is None, among all rows. ``group`` columns (e.g. dataset) are marked
    separately.
    """
    out = summary.copy()
    best: dict[int, list[str]] = {i: [] for i in out.index}
    groups = out.groupby(list(group), sort=False) if group else [(None, out)]
    for _, frame in groups:
        pool = frame[frame["kind"] == among] if among is not None else frame
        pool = pool if len(pool) else frame
        for metric in metrics:
            values = pool[metric].astype(float)
            if values.notna().any():
                for i in pool.index[values == values.min()]:
                    best[i].append(metric)
    out["best"] = [";".join(best[i]) for i in out.index]
    out.attrs["best_among"] = among if among is not None and (summary["kind"] == among).any() else "all"
    return out


# --- tables, metrics files ------------------------------------------------------------------

def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "–"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    value = float(value)
    if value == 0:
        return "0"
    return f"{value:.3g}" if 1e-3 <= abs(value) < 1e4 else f"{value:.2e}"


def _fmt_as_printed(value: Any) -> str:
    """Up to six significant digits: the thesis's numbers as transcribed (1.396, 7.21e-05)."""
    if isinstance(value, float) and not math.isnan(value):
        return f"{value:g}"
    return _fmt(value)


def markdown_table(frame: pd.DataFrame, columns: Sequence[str], headings: Sequence[str],
                   fmt: Callable[[Any], str] = _fmt) -> str:
    """A GitHub-flavoured Markdown table of ``columns`` under ``headings``."""
    lines = ["| " + " | ".join(headings) + " |", "| " + " | ".join("---" for _ in headings) + " |"]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(fmt(row[c]) if not isinstance(row[c], str) else row[c]
                                       for c in columns) + " |")
    return "\n".join(lines)


def results_markdown(summary: pd.DataFrame, metrics: Sequence[str] = SUMMARY_METRICS,
                     confidence: float = DEFAULT_CONFIDENCE, lead: Sequence[str] = ()) -> str:
    """Our results as Markdown: ``mean [lo, hi]`` per metric, the best value in bold."""
    frame = summary.copy()
    best = frame["best"] if "best" in frame else pd.Series("", index=frame.index)
    for metric in metrics:
        cells = []
        for i, row in frame.iterrows():
            cell = f"{_fmt(row[metric])} [{_fmt(row[f'{metric}_lo'])}, {_fmt(row[f'{metric}_hi'])}]"
            cells.append(f"**{cell}**" if metric in str(best[i]).split(";") else cell)
        frame[f"_{metric}"] = cells
    columns = [*lead, "model", "kind", "params", "n_items", *[f"_{m}" for m in metrics]]
    headings = [*(c.replace("_", " ").capitalize() for c in lead), "Model", "Kind", "Parameters", "Items",
                *(f"{METRIC_HEADINGS[m]}" for m in metrics)]
    bounded = "bound_esr" in frame and frame["bound_esr"].notna().any()
    if bounded:         # springstudy.bounds: the receptive-field linear bound and the gap to it
        for column in ("bound_esr", "gap"):
            frame[f"_{column}"] = [f"{_fmt(r[column])} [{_fmt(r[f'{column}_lo'])}, {_fmt(r[f'{column}_hi'])}]"
                                   if pd.notna(r[column]) else "–" for _, r in frame.iterrows()]
        columns += ["_bound_esr", "_gap"]
        headings += ["Bound ESR", "Gap (ESR / bound)"]
    table = markdown_table(frame, columns, headings)
    among = summary.attrs.get("best_among", "model")
    pool = "of the trained models" if among == "model" else "of all rows" if among == "all" else f"among {among} rows"
    note = (" Bound ESR: the test ESR of the least-squares FIR as long as the model's receptive field (recurrent "
            "models: the item), fitted on the training split; gap: the model's ESR over it." if bounded else "")
    if "recipe" in frame:           # which training recipe made which rows
        recipes: dict[str, list[str]] = {}
        for _, row in frame.iterrows():
            if isinstance(row["recipe"], str) and row["recipe"]:
                recipes.setdefault(row["recipe"], []).append(str(row["model"]))
        note += "".join(f"\n\nTrained with {recipe}: {', '.join(models)}." for recipe, models in recipes.items())
    return (f"{table}\n\nMean over all test items, [{confidence:.0%} percentile bootstrap interval]; "
            f"lowest mean {pool} in bold.{note}")


def thesis_markdown(thesis: ThesisTable) -> str:
    """The thesis's table as printed and under the corrected labels, with the note on the mix-up."""
    frame = printed_and_corrected(thesis)
    printed = markdown_table(frame, ["model", "params", "printed_mae", "printed_esr", "printed_dc", "printed_mr_stft"],
                             ["Model", "Parameters", "MAE", "ESR", "DC", "MR-STFT"], _fmt_as_printed)
    parts = [f"### Thesis Table {thesis.number} as printed\n\n_{thesis.caption}_\n\n{printed}"]
    if thesis.mislabelled:
        corrected = markdown_table(frame, ["model", "params", "mae", "mse", "esr", "dc"],
                                   ["Model", "Parameters", "MAE", "MSE (printed \"ESR\")",
                                    "ESR (printed \"DC\")", "DC (printed \"MR-STFT\")"], _fmt_as_printed)
        check = relabelling_check(thesis)
        parts.append(f"### Thesis Table {thesis.number}, corrected labels\n\n{corrected}\n\n{MIXUP_NOTE} "
                     f"Consistency of the relabelling: printed \"ESR\" / printed \"DC\" (MSE/ESR = mean target "
                     f"power) is {check['power_mean']:.3g} on average with a coefficient of variation of "
                     f"{check['power_cv']:.0%} across models; MSE >= MAE² holds on "
                     f"{'every' if check['mse_ge_mae2'] else 'not every'} row.")
    else:
        parts.append(f"{MIXUP_NOTE} Table {thesis.number} is read with its printed labels.")
    return "\n\n".join(parts)


def write_table(summary: pd.DataFrame, folder: str | Path, stem: str, title: str,
                thesis: ThesisTable | None = None, confidence: float = DEFAULT_CONFIDENCE,
                lead: Sequence[str] = ()) -> tuple[Path, Path]:
    """Write ``<stem>.csv`` (the summary, bounds in ``<metric>_lo/_hi`` columns) and ``<stem>.md``
    (ours, then the thesis's published numbers beside them), atomically. Returns both paths."""
    folder = Path(folder)
    csv_path, md_path = folder / f"{stem}.csv", folder / f"{stem}.md"
    write_csv_atomic(csv_path, summary)
    parts = [f"## {title}", results_markdown(summary, confidence=confidence, lead=lead)]
    if thesis is not None:
        parts.append(thesis_markdown(thesis))
    write_bytes_atomic(md_path, ("\n\n".join(parts) + "\n").encode())
    return csv_path, md_path


def metrics_record(summary: pd.DataFrame, metrics: Sequence[str] = SUMMARY_METRICS,
                   **extra: Any) -> dict[str, Any]:
    """The summary as a DVC metrics record: ``{"models": {model: {metric, metric_lo, metric_hi,
    params, n_items}}, **extra}`` (plain numbers only, so ``dvc metrics diff`` compares them)."""
    models = {}
    for _, row in summary.iterrows():
        entry: dict[str, Any] = {"params": None if pd.isna(row["params"]) else int(row["params"]),
                                 "n_items": int(row["n_items"])}
        for metric in metrics:
            for suffix in ("", "_lo", "_hi"):
                entry[f"{metric}{suffix}"] = float(row[f"{metric}{suffix}"])
        for column in ("bound_esr", "gap"):        # springstudy.bounds, where added
            if column in row and pd.notna(row[column]):
                entry.update({f"{column}{suffix}": float(row[f"{column}{suffix}"]) for suffix in ("", "_lo", "_hi")})
        models[str(row["model"])] = entry
    return {"models": models, **extra}


def write_metrics(summary: pd.DataFrame, path: str | Path, **extra: Any) -> Path:
    """Write :func:`metrics_record` as JSON (sorted keys, atomically); returns the path."""
    write_json_atomic(path, metrics_record(summary, **extra))
    return Path(path)


# --- Figure 15 ------------------------------------------------------------------------------

def plot_predictions(examples: Mapping[str, Mapping[int, np.ndarray]], split: Any, sample_rate: int,
                     title: str | None = None, seconds: float | None = None) -> Any:
    """Fig 15: prediction (blue) over target (orange) for the same test items, one row per model.

    ``examples[model][index]`` is the prediction of test item ``index`` of ``split``; columns
    are the items (sorted). ``seconds`` shows only the first seconds of each item.
    """
    import matplotlib.pyplot as plt

    models = [m for m in examples if examples[m]]
    if not models:
        raise EvaluationError("no predictions to plot")
    indices = sorted({i for m in models for i in examples[m]})
    n = split.wet.shape[-1] if seconds is None else min(split.wet.shape[-1], int(round(seconds * sample_rate)))
    t = np.arange(n) / sample_rate
    fig, axes = plt.subplots(len(models), len(indices), figsize=(4.0 * len(indices), 1.9 * len(models) + 0.6),
                             sharex=True, squeeze=False)
    for r, model in enumerate(models):
        for c, index in enumerate(indices):
            ax = axes[r, c]
            target = split.wet[index, 0, :n].double().numpy()
            ax.plot(t, target, color="C1", lw=0.6, label="target")
            if index in examples[model]:
                ax.plot(t, examples[model][index][:n], color="C0", lw=0.6, alpha=0.85, label="prediction")
            if r == 0:
                ax.set_title(split.ids[index], fontsize=8)
            if c == 0:
                ax.set_ylabel(model, fontsize=8)
            ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)", fontsize=8)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", fontsize=8, ncol=2)
    if title:
        fig.suptitle(title, fontsize=10, x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.97 if title else 1))
    return fig


# --- one call: a dataset's test results -----------------------------------------------------

@dataclass
class Evaluation:
    """A dataset's test results: per-item metrics of every model and baseline, chosen predictions."""

    dataset: str
    sample_rate: int
    items: pd.DataFrame
    examples: dict[str, dict[int, np.ndarray]]
    example_indices: list[int]
    test: Any
    split: dict[str, Any]
    baselines: dict[str, Any] = field(default_factory=dict)
    train: Any = None                  # the training split, where it was loaded (fitted baselines, bounds)

    def summary(self, metrics: Sequence[str] = SUMMARY_METRICS, n_resamples: int = DEFAULT_RESAMPLES,
                confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> pd.DataFrame:
        """:func:`summarise` then :func:`mark_best` (among the trained models)."""
        return mark_best(summarise(self.items, metrics, n_resamples, confidence, seed))


def evaluate(data: str | Path, runs: Mapping[str, Path] | None = None, split_file: str | Path | None = None,
             seed: int = DEFAULT_SEED, split_method: str = "random", baselines: Sequence[str] = REFERENCE_BASELINES,
             noise_amplitude: float | None = None, ir_seconds: float | None = None,
             ir_regularisation: float = LINEAR_IR_REGULARISATION, pre_emphasis: float = DEFAULT_PRE_EMPHASIS,
             batch_size: int = DEFAULT_BATCH_SIZE, n_examples: int = DEFAULT_EXAMPLES, device: str = "cpu",
             progress: bool = False,
             preloaded: tuple[dict[str, Any], int, dict[str, Any]] | None = None) -> Evaluation:
    """Score every run's best checkpoint and the closed-form ``baselines`` on the test split of ``data``.

    ``runs`` maps labels to run folders (see :func:`find_runs`). The split is ``split_file`` or
    the seeded ``make_splits(seed, split_method)``; the training split is loaded only when a
    baseline needs fitting (Linear IR, level-matched Noise ceiling) and for the bounds
    (:mod:`springstudy.bounds`), and kept as ``Evaluation.train``. ``preloaded`` (the return
    value of :func:`load_split_tensors`) skips loading. Example items for Fig 15 are drawn from
    ``seed``.
    """
    splits, rate, record = preloaded or load_split_tensors(data, split_file, seed, split_method, ("train", "test"))
    test = splits["test"]
    keep = pick_examples(test.dry.shape[0], n_examples, seed)
    scored: dict[str, Scored] = {}
    if runs:
        check_test_split(runs, record)
        scored.update(score_runs(runs, test, rate, pre_emphasis, batch_size, keep, device, progress))
    fitted = build_baselines(baselines, splits.get("train"), rate, seed, noise_amplitude, ir_seconds, ir_regularisation)
    for name, predictor in fitted.items():
        scored[name] = score_predictor(predictor, test, name, predictor.params, "baseline", pre_emphasis,
                                       batch_size, keep, progress)
    if not scored:
        raise EvaluationError("nothing to evaluate: give runs or baselines")
    items = pd.concat([s.items for s in scored.values()], ignore_index=True)
    return Evaluation(dataset=record["layout"], sample_rate=rate, items=items,
                      examples={name: s.examples for name, s in scored.items()}, example_indices=keep,
                      test=test, split=record, baselines=fitted, train=splits.get("train"))


def evaluate_baselines(data: str | Path, tcn_dir: str | Path | None, split_file: str | Path | None = None,
                       seed: int = DEFAULT_SEED, split_method: str = "random", tcn_steps: int = TCN_BASELINE_STEPS,
                       tcn_crop_seconds: float | None = 1.0, noise_amplitude: float | None = None,
                       ir_seconds: float | None = None, ir_regularisation: float = LINEAR_IR_REGULARISATION,
                       pre_emphasis: float = DEFAULT_PRE_EMPHASIS, batch_size: int = DEFAULT_BATCH_SIZE,
                       n_examples: int = DEFAULT_EXAMPLES, progress: bool = False,
                       **tcn_config: Any) -> Evaluation:
    """Thesis Table 8 for one dataset: every baseline of :data:`~springstudy.baselines.BASELINES`
    scored on the test split.

    The TCN-baseline is trained first (``tcn_steps`` steps on the concatenated training items,
    no validation) into ``tcn_dir``, with the split written beside it as ``split.json``, so
    later evaluations can check they score it on the same test items; ``tcn_dir=None`` or
    ``tcn_steps=0`` leaves it out. Further ``TrainConfig`` fields go in ``tcn_config``.
    """
    from springstudy.baselines import train_tcn_baseline
    from springstudy.data.splits import write_split_file

    preloaded = load_split_tensors(data, split_file, seed, split_method, ("train", "validation", "test"))
    splits, rate, record = preloaded
    runs = {}
    if tcn_dir is not None and tcn_steps > 0:
        train_tcn_baseline(splits["train"], splits["validation"], rate, tcn_dir, tcn_steps, seed, tcn_crop_seconds,
                           progress=progress, **tcn_config)
        write_split_file(Path(tcn_dir) / "split.json", record)
        runs["TCN-baseline"] = Path(tcn_dir)
    return evaluate(data, runs, split_file, seed, split_method, CLOSED_FORM_BASELINES, noise_amplitude, ir_seconds,
                    ir_regularisation, pre_emphasis, batch_size, n_examples, progress=progress, preloaded=preloaded)


def combined_summary(evaluations: Sequence[Evaluation], metrics: Sequence[str] = SUMMARY_METRICS,
                     n_resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
                     seed: int = 0, among: str | None = None) -> pd.DataFrame:
    """One table over several datasets (Table 8): ``dataset`` and ``sample_rate`` lead, then
    :func:`summarise` per (dataset, model); the best is marked per dataset, among ``among``
    rows (None: all rows)."""
    frames = []
    for evaluation in evaluations:
        summary = summarise(evaluation.items, metrics, n_resamples, confidence, seed)
        summary.insert(0, "sample_rate", evaluation.sample_rate)
        summary.insert(0, "dataset", evaluation.dataset)
        frames.append(summary)
    if not frames:
        raise EvaluationError("no evaluations to combine")
    return mark_best(pd.concat(frames, ignore_index=True), metrics, among, group=("dataset",))


def all_items(evaluations: Sequence[Evaluation]) -> pd.DataFrame:
    """Per-item metrics of several evaluations in one frame, ``dataset`` first."""
    return pd.concat([e.items.assign(dataset=e.dataset)[["dataset", *e.items.columns]] for e in evaluations],
                     ignore_index=True)


# --- what the command line needs (springstudy.evaluate_command) ----------------------------

def resolve_in_project(value: str | None) -> Path | None:
    """A path as given, or relative to the project root if it only exists there."""
    if value is None:
        return None
    path = Path(value)
    if path.exists() or path.is_absolute():
        return path
    try:
        from springstudy.config import project_root

        candidate = project_root() / path
    except Exception:  # noqa: BLE001 - no project root: keep the path as given
        return path
    return candidate if candidate.exists() else path


def common_source(runs: Mapping[str, Path]) -> dict[str, Any]:
    """The data and split all ``runs`` were trained with; an error if they differ."""
    sources = {label: run_data_source(run) for label, run in runs.items()}
    keys = ("data", "split_file", "seed", "split_method")
    first_label, first = next(iter(sources.items()))
    for label, source in sources.items():
        differing = [k for k in keys if source[k] != first[k]]
        if differing:
            raise EvaluationError(f"runs {first_label} and {label} were trained with different "
                                  f"{', '.join(differing)}; evaluate them separately or give --data and --split-file")
    split_jsons = {s["split_json"] for s in sources.values()} - {None}
    test_sets = {tuple(json.loads(Path(p).read_text())["splits"]["test"]) for p in split_jsons}
    if len(test_sets) > 1:
        raise EvaluationError("the runs' split.json files hold different test sets; give --split-file")
    return {**first, "split_json": sorted(split_jsons)[0] if split_jsons else None}
