"""The report's generated blocks: the environment, model, training and RT60 tables, the bounds'
reading, the knob study, the audio players and "What the results mean", each read from what the
stages wrote (:class:`Context` holds the folders, the params and the running numbers)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from springstudy.tables import MISSING, fmt_interval, fmt_number, is_missing, markdown_table


@dataclass
class Context:
    """What a report is built from: the folders, the params of the run, and the running numbers of
    tables and figures."""

    root: Path
    profile: str
    reports: Path
    figures: Path
    base: Path
    params: dict[str, Any]
    tables: int = 0
    figure_count: int = 0
    missing: list[str] = field(default_factory=list)

    def group(self, name: str) -> dict[str, Any]:
        """``params.yaml``'s group ``name`` resolved for this profile (empty if absent)."""
        from springstudy.config import resolve

        group = self.params.get(name)
        return resolve(group, self.profile) if isinstance(group, dict) else {}

    def words(self) -> dict[str, str]:
        """What the section texts and captions say, from the params of this run."""
        scoring = self.group("scoring")
        sources = self.group("data").get("sources", {})

        def source(fmt: str) -> str:
            value = sources.get(fmt, "synthetic")
            return "the synthetic spring tank" if value == "synthetic" else f"the recorded data in {value}"
        return {"springset": source("springset"), "egfxset": source("egfxset"),
                "confidence": f"{round(100 * float(scoring.get('confidence', 0.95)))}%",
                "n_resamples": f"{int(scoring.get('n_resamples', 10000)):,}"}

    def table(self, caption: str, body: str) -> list[str]:
        """A numbered, captioned table."""
        self.tables += 1
        return [f"**Table {self.tables}.** {caption}", "", body, ""]

    def captioned(self, caption: str, text: str) -> list[str]:
        """A stage's table file (:func:`_demote`d), every table in it numbered: the first under
        ``caption``, a later one under the heading above it in the file (bold where a heading has
        no table), or as ``caption`` continued."""
        lines, out, heading, previous = text.splitlines(), [], None, ""
        for line in lines:
            if line.startswith("\x00"):
                if heading is not None:
                    out += [f"**{heading}**", ""]
                heading = line[1:]
                continue
            if line.startswith("|") and not previous.startswith("|"):
                self.tables += 1
                label = caption if self.tables and not any(l.startswith("**Table") for l in out) else \
                    (f"{heading}." if heading else f"{caption} (continued)")
                out += [f"**Table {self.tables}.** {label}", ""]
                heading = None
            out.append(line)
            previous = line
        if heading is not None:
            out += ["", f"**{heading}**"]
        return out + [""]

    def figure(self, path: Path, caption: str) -> list[str]:
        """A numbered, captioned figure."""
        self.figure_count += 1
        rel = Path(os.path.relpath(path.resolve(), self.base.resolve())).as_posix()
        return [f"![Figure {self.figure_count}]({rel})", "", f"*Figure {self.figure_count}. {caption}*", ""]

    def link(self, path: Path) -> str:
        return Path(os.path.relpath(path.resolve(), self.base.resolve())).as_posix()


def _demote(markdown: str) -> str:
    """A stage's Markdown table file with its first heading dropped (the report's caption replaces
    it) and its other headings kept as marked lines (``\x00`` + text) for :meth:`Context.captioned`."""
    out, first = [], True
    for line in markdown.strip().splitlines():
        match = re.match(r"^(#+)\s+(.*)$", line)
        if match:
            if not first:
                out.append("\x00" + match.group(2).strip())
            first = False
            continue
        first = False if line.strip() else first
        out.append(line)
    return "\n".join(out).strip()


def _table_markdown(tables_dir: Path, stem: str) -> str | None:
    md, csv = tables_dir / f"{stem}.md", tables_dir / f"{stem}.csv"
    if md.is_file():
        return _demote(md.read_text())
    if csv.is_file():
        return markdown_table(pd.read_csv(csv))
    return None


def _environment(ctx: Context) -> str:
    path = ctx.reports / "environment.json"
    if not path.is_file():
        ctx.missing.append("environment.json (stage `environment`)")
        return "The environment record was not produced in this run (stage `environment`)."
    env = json.loads(path.read_text())
    packages = ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items())
    gpu = env.get("gpu") or "none"
    return (f"Python {env.get('python')}; {packages}. CPU: {env.get('cpu')} ({env.get('cpu_count')} cores, "
            f"torch threads {env.get('torch_threads')}); GPU: {gpu}.")


def _models(ctx: Context) -> str:
    from springstudy.models import config_table

    table = config_table()
    notes = [f"{i + 1}. **{row['name']}**: {row['note']}" for i, row in table.iterrows() if row.get("note")]
    table["note_ref"] = [f"note {i + 1}" if row.get("note") else "" for i, row in table.iterrows()]
    body = markdown_table(table, {"name": "Model", "family": "Family", "params": "Parameters",
                                  "thesis_params": "Thesis parameters", "params_diff_pct": "Difference (%)",
                                  "receptive_field": "Receptive field (samples)", "rf_ms_16k": "RF at 16 kHz (ms)",
                                  "rf_ms_48k": "RF at 48 kHz (ms)", "thesis_rf_ms": "Thesis RF (ms)",
                                  "layers": "Layers", "thesis_layers": "Thesis layers", "in_thesis": "In the thesis",
                                  "note_ref": "Note"},
                          formats={"params_diff_pct": lambda v: MISSING if is_missing(v) else f"{v:+.1f}",
                                   "rf_ms_16k": lambda v: fmt_number(v, 4), "rf_ms_48k": lambda v: fmt_number(v, 4),
                                   "receptive_field": lambda v: "unbounded (recurrent)" if v == float("inf")
                                   else fmt_number(v)})
    return "\n".join(ctx.table("The named model configurations: parameters and true receptive fields beside the "
                               "thesis's (–: the thesis printed none).", body)
                     + ["Notes:", "", *notes, ""])


def training_rows(reports: Path) -> pd.DataFrame:
    """One row per training run, from ``metrics/train/*.json`` (what the train stages wrote)."""
    folder = reports / "metrics" / "train"
    rows = [json.loads(p.read_text()) | {"run": p.stem} for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    return pd.DataFrame(rows)


def _training(ctx: Context) -> str:
    frame = training_rows(ctx.reports)
    if frame.empty:
        ctx.missing.append("training metrics (stages `train@<run>`)")
        return "No training run was found in this run of the pipeline (stages `train@<run>`)."
    if "loss" not in frame:
        frame["loss"] = MISSING
    losses = sorted(set(frame["loss"].astype(str)))
    caption = ("Every training run: its loss, steps, the best validation loss (in the run's own loss), the "
               "validation ESR and MR-STFT at that point, and the training throughput. "
               + (f"Every run was trained on {losses[0]}." if len(losses) == 1
                  else "The runs were trained on " + "; ".join(losses) + "."))
    body = markdown_table(frame, {"run": "Run", "model": "Model", "format": "Layout", "params": "Parameters",
                                  "loss": "Training loss", "steps": "Steps", "best_val_loss": "Best validation loss",
                                  "val_esr": "Validation ESR", "val_mr_stft": "Validation MR-STFT",
                                  "train_samples_per_second": "Samples per second"},
                          formats={"train_samples_per_second": lambda v: fmt_number(round(v)) if not is_missing(v)
                                   else MISSING})
    return "\n".join(ctx.table(caption, body))


def _bounds(ctx: Context) -> str:
    """Per rate, each model's gap to its receptive-field bound and what limits it."""
    from springstudy.bounds import gap_reading

    lines = []
    for stem, label in (("table9_16k", "16 kHz"), ("table10_48k", "48 kHz")):
        path = ctx.reports / "tables" / f"{stem}.csv"
        if not path.is_file():
            continue
        frame = pd.read_csv(path)
        if "gap" not in frame or frame["gap"].isna().all():
            continue
        rows = frame.dropna(subset=["gap"]).set_index("model", drop=False)
        reading = gap_reading(rows)
        limited = {kind: [f"{m} ({fmt_number(rows.loc[m, 'gap'])})" for m, k in reading.items() if k == kind]
                   for kind in ("architecture", "training")}
        lines.append(f"- {label}: within 2× of its bound, so limited by its architecture: "
                     f"{', '.join(limited['architecture']) or 'none'}; limited by its training: "
                     f"{', '.join(limited['training']) or 'none'} (gap = ESR / bound ESR).")
    return "\n".join(lines) if lines else "No receptive-field bounds were computed in this run (no trained runs)."


def _knobs(ctx: Context) -> str:
    """The knob study's decay sweep as a table and its reading, from the stage's CSVs."""
    from springstudy.evaluate.knobs import reading, rt60_markdown

    tables = ctx.reports / "tables"
    if not (tables / "knobs_rt60.csv").is_file() or not (tables / "knobs_differences.csv").is_file():
        return "The knob study did not run in this run of the pipeline (stage `knobs`)."
    rt60 = pd.read_csv(tables / "knobs_rt60.csv")
    differences = pd.read_csv(tables / "knobs_differences.csv")
    return "\n".join(ctx.table("The decay sweep: the tank's true T30 and each model's (error against it), the other "
                               "knobs at the middle of their ranges.", rt60_markdown(rt60))
                     + ["What the numbers say: " + reading(differences, rt60)])


#: Octave bands in the order the RT60 summary shows them.
BANDS = ("broadband", "125", "250", "500", "1000", "2000", "4000")


def rt60_summary(table: pd.DataFrame, rate: int, method: str = "t30") -> pd.DataFrame:
    """System × band: each system's RT60 (``method``) at ``rate`` with its error against the
    device, as text cells (``"2.93 s (+4%)"``; ``"not measurable"`` where the decay had too little
    dynamic range for the estimate). Rows keep the table's order, the device first."""
    rows = table[(table["sample_rate"] == rate) & (table["method"] == method)]
    bands = [b for b in BANDS if b in set(rows["band"].astype(str))]
    out = []
    for system, part in rows.groupby("system", sort=False):
        by_band = part.assign(band=part["band"].astype(str)).set_index("band")
        row = {"system": system}
        for band in bands:
            value = by_band.loc[band, "rt60_s"] if band in by_band.index else float("nan")
            error = by_band.loc[band, "error_pct"] if band in by_band.index else float("nan")
            if is_missing(value):
                row[band] = "not measurable"
            elif system == "device" or is_missing(error):
                row[band] = f"{fmt_number(value)} s"
            else:
                row[band] = f"{fmt_number(value)} s ({error:+.0f}%)"
        out.append(row)
    return pd.DataFrame(out, columns=["system", *bands])


def _rt60(ctx: Context) -> str:
    path = ctx.reports / "tables" / "rt60.csv"
    if not path.is_file():
        ctx.missing.append("table rt60 (stage `ir`)")
        return "The RT60 table was not produced in this run (stage `ir`)."
    table = pd.read_csv(path, dtype={"band": str, "reference": str})
    parts = []
    for rate in dict.fromkeys(table["sample_rate"]):
        kind = str(table.loc[table["sample_rate"] == rate, "reference"].iloc[0]).lower()
        device = {"true": "the tank's true impulse response (the ground truth)",
                  "estimate": "the Linear IR estimated from the training pairs (an estimate, not the truth)",
                  "file": "the impulse response file given in params.yaml"}.get(kind, "the device's reference")
        summary = rt60_summary(table, int(rate))
        headings = {"system": "System", **{b: "Broadband" if b == "broadband" else f"{b} Hz" for b in BANDS}}
        body = markdown_table(summary, {c: headings[c] for c in summary.columns},
                              align={c: "r" for c in summary.columns if c != "system"})
        parts += ctx.table(f"RT60 from T30 at {int(rate) // 1000} kHz, per octave band: the device is {device}; "
                           "each model's value with its error against the device. \"Not measurable\": the decay "
                           "did not span the 35 dB T30 needs above the noise.", body)
    return "\n".join(parts)


def _audio(ctx: Context) -> str:
    from springstudy.audio import read_index

    folder = ctx.reports / "audio"
    parts: list[str] = []
    for label, khz in (("16k", 16), ("48k", 48)):
        index = read_index(folder / f"examples_{label}")
        if index is None:
            continue
        base = folder / f"examples_{label}"
        items = [f"test item {item['index']}" for item in index["items"]]
        systems = list(dict.fromkeys(s for item in index["items"] for s in item["systems"]))
        rows = [{"what": "dry (input)", **{i: _player(ctx, base / item["dry"]) for i, item in zip(items, index["items"])}}]
        for system in systems:
            name = "target (the device)" if system == "target" else system
            rows.append({"what": name, **{i: _player(ctx, base / item["systems"][system]) if system in item["systems"]
                                          else "not finite" for i, item in zip(items, index["items"])}})
        frame = pd.DataFrame(rows, columns=["what", *items])
        parts += ctx.table(f"Test items at {khz} kHz as sound: the dry input, the target and each system's "
                           "prediction (one gain per item).",
                           markdown_table(frame, {"what": "Signal", **{i: i.capitalize() for i in items}},
                                          align={c: "l" for c in frame.columns}))
    for label, khz in (("16k", 16), ("48k", 48)):
        index = read_index(folder / f"ir_{label}")
        if index is None:
            continue
        frame = pd.DataFrame([{"system": s, "ir": _player(ctx, folder / f"ir_{label}" / n)}
                              for s, n in index["systems"].items()])
        parts += ctx.table(f"Sine-sweep impulse responses at {khz} kHz as sound"
                           + (f" (not finite, left out: {', '.join(index['not_finite'])})" if index["not_finite"]
                              else "") + ".",
                           markdown_table(frame, {"system": "System", "ir": "Impulse response"},
                                          align={"system": "l", "ir": "l"}))
    if not parts:
        ctx.missing.append("audio (stages `evaluate` and `ir`)")
        return "No audio was written in this run (stages `evaluate` and `ir`)."
    return "\n".join(parts)


def _player(ctx: Context, path: Path) -> str:
    return f'<audio controls preload="none" src="{ctx.link(path)}"></audio>'


def results_meaning(reports: Path, confidence_words: str = "95%") -> list[str]:
    """What the results mean, as Markdown bullet points written from the metrics JSON files
    (``evaluate_<rate>.json``, ``baselines_<rate>.json``) and the RT60 table: per rate the best
    trained model against the Linear IR and Silence, how many models are limited by their
    training, and how well the models' decay times follow the device's."""
    from springstudy.evaluate.stats import silence_verdict

    lines = []
    for label, khz in (("16k", 16), ("48k", 48)):
        path = reports / "metrics" / f"evaluate_{label}.json"
        if not path.is_file():
            continue
        data = json.loads(path.read_text())
        models = data.get("models", {})
        trained = {m: v for m, v in models.items() if "gap" in v and not is_missing(v.get("gap"))}
        linear = models.get("Linear IR")
        if not trained:
            lines.append(f"- **{khz} kHz ({data.get('dataset')})**: no trained model was scored.")
            continue
        best = min(trained, key=lambda m: trained[m]["esr"])
        b = trained[best]
        text = (f"- **{khz} kHz ({data.get('dataset')}, {b['n_items']} test items)**: the best trained model on ESR is "
                f"{best}, ESR {fmt_interval(b['esr'], b['esr_lo'], b['esr_hi'])}, "
                f"{silence_verdict(b['esr_lo'], b['esr_hi'])} Silence (ESR 1)")
        if linear:
            ratio = b["esr"] / linear["esr"] if linear["esr"] else float("inf")
            text += (f"; the Linear IR reaches {fmt_interval(linear['esr'], linear['esr_lo'], linear['esr_hi'])}, "
                     f"so the best model's ESR is {fmt_number(ratio)}× the Linear IR's")
        worse = [m for m, v in trained.items() if v["esr_lo"] > 1]
        by_training = [m for m, v in trained.items() if v["gap_lo"] > 2]
        text += (f". {len(by_training)} of {len(trained)} models stay more than 2× above the best linear filter "
                 f"their receptive field allows (limited by their training, not their architecture)"
                 + (f"; {len(worse)} ({', '.join(sorted(worse))}) are worse than Silence" if worse else "")
                 + f". Intervals: {confidence_words} BCa bootstrap over test items.")
        lines.append(text)
    rt60 = reports / "tables" / "rt60.csv"
    if rt60.is_file():
        table = pd.read_csv(rt60, dtype={"band": str, "reference": str})
        broadband = table[(table["band"] == "broadband") & (table["method"] == "t30") & (table["system"] != "device")]
        for rate, part in broadband.groupby("sample_rate", sort=False):
            measured = part.dropna(subset=["rt60_s"])
            unmeasured = sorted(set(part["system"]) - set(measured["system"]))
            if measured.empty:
                continue
            close = measured[measured["error_pct"].abs() <= 20]["system"].tolist()
            lines.append(f"- **Decay at {int(rate) // 1000} kHz**: {len(close)} of {len(part)} systems have a broadband "
                         f"T30 within 20% of the device's ({', '.join(close) or 'none'}); the largest error is "
                         f"{measured['error_pct'].abs().max():.0f}% ({measured.loc[measured['error_pct'].abs().idxmax(), 'system']})"
                         + (f"; not measurable: {', '.join(unmeasured)}" if unmeasured else "") + ".")
    return lines


def _meaning(ctx: Context) -> str:
    lines = results_meaning(ctx.reports, ctx.words()["confidence"])
    if not lines:
        ctx.missing.append("results (stage `evaluate`)")
        return "No model was evaluated in this run (stage `evaluate`), so there are no results to read."
    return "\n".join(lines)


_EXTRAS: dict[str, Callable[[Context], str]] = {
    "environment": _environment, "models": _models, "training": _training, "bounds": _bounds, "knobs": _knobs,
    "rt60": _rt60, "audio": _audio, "meaning": _meaning}


__all__ = ["BANDS", "Context", "results_meaning", "rt60_summary", "training_rows"]
