"""The study report: every table and figure of one run of the pipeline, read like a paper.

:func:`build_report` reads what the stages wrote (Markdown and CSV tables under
``reports/<profile>/tables/``, PNG figures under ``figures/<profile>/``, the metrics JSON files,
``reports/<profile>/environment.json``, the audio the ``evaluate`` and ``ir`` stages wrote
under ``reports/<profile>/audio/``) and ``params.yaml``, and assembles ``study.md`` and
``study.html``: a table of contents, numbered and captioned tables and figures, a section
"What the results mean" written from the numbers (:func:`results_meaning`), audio players for
the test items and the impulse responses, and the thesis's errata (:data:`CORRECTIONS`).
Python-Markdown (with its ``toc`` and ``tables`` extensions) turns the Markdown into HTML;
figures are embedded, audio is linked (the WAV files sit beside the report). Anything a run did
not produce is said in words where it would have been, and listed at the end.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from springstudy.outputs import write_bytes_atomic
from springstudy.tables import MISSING, fmt_interval, fmt_number, is_missing, markdown_table


@dataclass(frozen=True)
class Section:
    """One part of the report: a title, a paragraph, the tables (stems) and figures (globs) it shows."""

    title: str
    text: str                     # may name {springset}, {egfxset}, {confidence}, {n_resamples} (Context.words)
    tables: tuple["Table", ...] = ()
    figures: tuple["Figure", ...] = ()
    extra: str = ""               # name of a generated block (see _EXTRAS)


#: The corrections this study makes to the thesis and its public code.
CORRECTIONS = (
    "Tables 9–10 of the thesis zipped five metrics [MAE, MSE, ESR, DC, MR-STFT] onto four column names: "
    "its column headed ESR most likely holds MSE, DC holds ESR and MR-STFT holds DC. Our tables use "
    "one definition per metric (`springstudy.metrics`) under its own name; Table 8 looks correctly labelled.",
    "The thesis's TCN overwrote its dilation argument, so every block had dilation 1 and the reported "
    "receptive fields were nominal. Ours applies the dilations; `receptive_field` reports the true value "
    "(1 + (k−1)·Σd), and a test measures it from an impulse.",
    "Its WaveNet receptive-field formula summed k·d; its LSTM ignored num_layers; some 'causal' layers "
    "padded symmetrically. Ours are causal by construction (a test changes x[t0:] and checks y[:t0]).",
    "Table 6's layer counts contradict its parameter counts; the parameter count is taken as the ground "
    "truth of each named configuration (see the model table).",
    "RT60 was measured from −5 to −60 dB and called RT60; ours reports T20, T30 and T60 (−5 to −65 dB) "
    "under their ISO 3382 names, with Lundeby noise handling.",
    "The impulse-response sweep was cut into chunks (truncating tails) and dB were converted to linear "
    "twice; ours sends one continuous sweep with silence for the tail, level converted once.",
    "RTF timing had no warm-up and divided by one item's length for a whole batch; memory was never "
    "measured. Ours warms up, takes medians, measures peak memory and also times streaming blocks.",
    "Dry and wet were peak-normalised separately (destroying the device's gain); splits had no seed and "
    "a global torch.seed() made runs irreproducible. Ours normalises each pair with one gain, seeds "
    "every split, crop and initialisation from params.yaml, and resumes runs bit for bit.",
)

@dataclass(frozen=True)
class Table:
    """A table the report shows: the stage's file stem and its caption."""

    stem: str
    caption: str


@dataclass(frozen=True)
class Figure:
    """Figures the report shows: a glob under the figures folder and their caption."""

    pattern: str
    caption: str


SECTIONS = (
    Section("Environment", "The machine and software that produced these numbers.", extra="environment"),
    Section("Datasets (thesis Tables 3–4, Figures 8–11)",
            "Per subset and side: items, length, size, level statistics and an SNR lower bound; three "
            "dry/wet waveform overlays and spectrogram pairs per dataset.",
            tables=(Table("table3_springset_overview", "The SpringSet-layout dataset ({springset}): items, length, "
                          "size and levels per subset and side (dry x, wet y)."),
                    Table("table4_egfxset_overview", "The EGFxSet-layout dataset ({egfxset}): items, length, size "
                          "and levels per pickup position and side.")),
            figures=(Figure("fig08_*.png", "SpringSet layout ({springset}): dry and wet waveforms of three items."),
                     Figure("fig09_*.png", "SpringSet layout ({springset}): dry and wet spectrograms."),
                     Figure("fig10_*.png", "EGFxSet layout ({egfxset}): dry and wet waveforms of three items."),
                     Figure("fig11_*.png", "EGFxSet layout ({egfxset}): dry and wet spectrograms."))),
    Section("The default tank against the real Accutronics 4EB2C1B",
            "The synthetic tank measured with the same protocols as four real SpringSet notes: Linear IR "
            "fitted on 3 notes and scored on a 4th, on the whole training subset, centroids dry and wet, "
            "decay, levels; mean dry/wet spectra and decay curves.",
            tables=(Table("calibration", "The tank ({springset}) beside the real device's published measurements."),),
            figures=(Figure("calibration.png", "Mean dry and wet spectra and decay curves of the tank."),)),
    Section("Dataset descriptors (thesis §3.2.3, Figures 12–13)",
            "Nine Essentia descriptors per item, mean ± standard deviation per split, dry (x) vs wet (y).",
            tables=(Table("springset_descriptors", "Descriptors of the SpringSet-layout dataset ({springset}), "
                          "mean ± standard deviation per split and side."),
                    Table("egfxset_descriptors", "Descriptors of the EGFxSet-layout dataset ({egfxset}), "
                          "mean ± standard deviation per pickup position and side.")),
            figures=(Figure("springset_descriptors.png", "Descriptor distributions, SpringSet layout ({springset})."),
                     Figure("egfxset_descriptors.png", "Descriptor distributions, EGFxSet layout ({egfxset})."))),
    Section("Models (thesis Table 6)",
            "Named configurations with their parameter counts beside the thesis's and their true receptive "
            "fields.", extra="models"),
    Section("Training (thesis Table 7)",
            "One run per model and sample rate: its training loss (from the run's own configuration), the best "
            "validation loss, the validation ESR and MR-STFT, and the training throughput.",
            figures=(Figure("train/*.png", "Training and validation loss and the learning rate of one run; the "
                            "axis names the run's loss."),), extra="training"),
    Section("Hyperparameter scaling (thesis §3.3.1, Table 5)",
            "A seeded sample of the search space, pruned by successive halving.",
            tables=(Table("search_ranking", "Ranked configurations of the search."),),
            figures=(Figure("search_*.png", "Validation loss per rung of the successive halving."),)),
    Section("Baselines (thesis Table 8)",
            "Naive (dry as prediction), Silence, Noise ceiling, Linear IR and the TCN-baseline on the test split; "
            "means with {confidence} BCa bootstrap intervals over {n_resamples} resamples.",
            tables=(Table("table8_baselines", "Baselines on the test split of each dataset, beside the thesis's Table 8."),),
            figures=(Figure("baselines_*.png", "The Linear IR baseline's impulse response, fitted on the training pairs."),)),
    Section("Results (thesis Tables 9–10, Figure 15)",
            "Every trained model on the test split, whole items, per-item means with {confidence} BCa bootstrap "
            "intervals, beside its receptive-field bound: the least-squares FIR as long as the model's receptive "
            "field (recurrent models: the item), fitted on the training split and scored on the same items. The gap "
            "(ESR / bound ESR) says whether a model is limited by its architecture (gap near or below 1) or by "
            "its training (far above 1); the learning curves say whether a run had converged when it stopped.",
            tables=(Table("table9_16k", "Test results at 16 kHz (SpringSet layout, {springset}), beside the thesis's "
                          "Table 9."),
                    Table("table10_48k", "Test results at 48 kHz (EGFxSet layout, {egfxset}), beside the thesis's "
                          "Table 10.")),
            figures=(Figure("fig15_*.png", "Prediction (blue) over target (orange) for the same test items, one row "
                            "per model."),
                     Figure("bound_esr_*.png", "Test ESR against receptive field: each model over the bound curve."),
                     Figure("learning_curves_*.png", "Validation ESR against training CPU time, every run of one rate.")),
            extra="bounds"),
    Section("Listening", "The test items of Figure 15 as sound: the dry input, the target (the device's output) "
            "and every system's prediction of it, at one gain per item so their levels compare; then each "
            "system's sine-sweep impulse response, each at −1 dBFS peak.", extra="audio"),
    Section("Efficiency (thesis Table 11)",
            "Real-time factor and memory, offline (the thesis's method, done right) and streaming.",
            tables=(Table("table11_efficiency", "Real-time factor and memory of every model, beside the thesis's "
                          "Table 11."),),
            figures=(Figure("efficiency_*.png", "Streaming real-time factor against block size and against "
                            "parameters."),)),
    Section("The knobs: do models follow a spring reverb's controls? (beyond the thesis)",
            "A dataset where every item went through the tank at its own setting of four knobs (decay, tone, "
            "dwell, mix; a seeded Latin hypercube). Each conditioned model (FiLM, knobs concatenated to a GRU's "
            "input, HyperGRU) beside the unconditioned model of its family trained on the same items, scored on "
            "settings never seen in training (inside the ranges and at their 16 corners), with the paired "
            "difference; and, for a sweep of the decay knob, each model's sine-sweep RT60 against the tank's true "
            "RT60.", tables=(Table("knobs_results", "Conditioned and unconditioned models on unseen knob settings."),),
            figures=(Figure("knobs_*.png", "Error by knob setting, and RT60 across the decay sweep."),), extra="knobs"),
    Section("Impulse responses and RT60 (thesis Figures 16–19)",
            "Sine-sweep impulse responses of the device and the models, waterfalls, decay times per band "
            "and energy decay curves with their fitted lines.", extra="rt60",
            figures=(Figure("fig16_*.png", "Sine-sweep impulse responses of the device and every model."),
                     Figure("fig17_*.png", "Waterfalls (cumulative spectral decay)."),
                     Figure("fig18_*.png", "RT60 (from T30) per octave band and its error against the device."),
                     Figure("fig19_*.png", "Energy decay curves with the fitted line of each estimate."))),
)


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

    def figure(self, path: Path, caption: str) -> list[str]:
        """A numbered, captioned figure."""
        self.figure_count += 1
        rel = Path(os.path.relpath(path.resolve(), self.base.resolve())).as_posix()
        return [f"![Figure {self.figure_count}]({rel})", "", f"*Figure {self.figure_count}. {caption}*", ""]

    def link(self, path: Path) -> str:
        return Path(os.path.relpath(path.resolve(), self.base.resolve())).as_posix()


def _demote(markdown: str) -> str:
    """A stage's Markdown table file with its headings turned into bold lines (the report's own
    headings make the table of contents) and its first heading dropped (the caption replaces it)."""
    lines, out, first = markdown.strip().splitlines(), [], True
    for line in lines:
        match = re.match(r"^(#+)\s+(.*)$", line)
        if match:
            if not first:
                out.append(f"**{match.group(2).strip()}**")
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
        rows = []
        for item in index["items"]:
            base = folder / f"examples_{label}"
            cells = {"item": f"test item {item['index']}", "dry": _player(ctx, base / item["dry"])}
            for system, name in item["systems"].items():
                cells[system] = _player(ctx, base / name)
            rows.append(cells)
        systems = list(dict.fromkeys(k for r in rows for k in r if k not in ("item", "dry")))
        frame = pd.DataFrame(rows, columns=["item", "dry", *systems]).fillna("not finite")
        parts += ctx.table(f"Test items at {khz} kHz as sound: dry input, target and each system's prediction.",
                           markdown_table(frame, {"item": "Item", "dry": "Dry", **{s: s for s in systems}},
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


def build_report(root: str | Path, profile: str, reports_dir: str | Path | None = None,
                 figures_dir: str | Path | None = None, link_base: str | Path | None = None,
                 params: dict[str, Any] | None = None) -> tuple[str, list[str]]:
    """The report as Markdown and the list of missing items.

    A profile's results live in ``reports/<profile>/`` (tables/, metrics/, audio/,
    environment.json) and ``figures/<profile>/`` unless ``reports_dir`` / ``figures_dir`` say
    otherwise (relative to ``root``). ``params`` (default: ``root/params.yaml``) gives the words
    the sections say about the run. Links are relative to ``link_base`` (default: the reports
    folder), the folder the Markdown is written to.
    """
    from springstudy.config import load_params

    root = Path(root)
    reports = root / (reports_dir if reports_dir is not None else Path("reports") / profile)
    figures = root / (figures_dir if figures_dir is not None else Path("figures") / profile)
    if params is None:
        params = load_params(root / "params.yaml") if (root / "params.yaml").is_file() else {}
    ctx = Context(root, profile, reports, figures, Path(link_base) if link_base is not None else reports, params)
    words = ctx.words()
    parts = [f"# springstudy: the study report ({profile} profile)", "",
             "Neural modelling of a spring reverb: a reproduction, correction and extension of the 2023 thesis "
             "*Neural Audio Effect Modelling Strategies for a Spring Reverb*. Every number below was produced "
             f"by `dvc repro` from `params.yaml`. The 16 kHz data is {words['springset']}, the 48 kHz data "
             f"{words['egfxset']}.", "", "[TOC]", "",
             "## What the results mean", "", _meaning(ctx), ""]
    for section in SECTIONS:
        parts += [f"## {section.title}", "", section.text.format(**words), ""]
        if section.extra:
            parts += [_EXTRAS[section.extra](ctx), ""]
        for table in section.tables:
            text = _table_markdown(reports / "tables", table.stem)
            if text is None:
                ctx.missing.append(f"table {table.stem}")
                parts += [f"_The table {table.stem} was not produced in this run._", ""]
                continue
            parts += ctx.table(table.caption.format(**words), text)
        for figure in section.figures:
            found = sorted(figures.glob(figure.pattern))
            if not found:
                ctx.missing.append(f"figure {figure.pattern}")
                parts += [f"_No figure {figure.pattern} was produced in this run._", ""]
            for path in found:
                caption = figure.caption.format(**words)
                if len(found) > 1:
                    caption = f"{caption} ({path.stem})"
                parts += ctx.figure(path, caption)
    parts += ["## Errata: corrections to the thesis and its code", "",
              "What this study found wrong in the thesis and its public code, and what it does instead.", ""]
    parts += [f"- {c}" for c in CORRECTIONS] + [""]
    if ctx.missing:
        parts += ["## Not produced in this run", ""] + [f"- {m}" for m in ctx.missing] + [""]
    return "\n".join(parts), ctx.missing


def markdown_to_html(markdown_text: str, base: Path, title: str = "springstudy report") -> str:
    """Self-contained HTML: Markdown rendered with tables, every image embedded as a data URI."""
    import markdown

    def embed(match: re.Match[str]) -> str:
        alt, src = match.group(1), match.group(2)
        path = (base / src).resolve()
        if not path.is_file():
            return match.group(0)
        data = base64.b64encode(path.read_bytes()).decode()
        return f"![{alt}](data:image/png;base64,{data})"

    body = markdown.markdown(re.sub(r"!\[([^\]]*)\]\(([^)]+\.png)\)", embed, markdown_text),
                             extensions=["tables", "toc"], extension_configs={"toc": {"toc_depth": "2-3"}})
    style = ("body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
             "table{border-collapse:collapse;font-size:0.85rem;margin:1rem 0}td,th{border:1px solid #ccc;"
             "padding:0.2rem 0.5rem}th{background:#f3f3f3}img{max-width:100%}audio{height:2rem;max-width:14rem}"
             ".toc{background:#fafafa;border:1px solid #ddd;padding:0.5rem 1rem;display:inline-block}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{title}</title><style>{style}</style>"
            f"</head><body>\n{body}\n</body></html>\n")


def write_report(root: str | Path, profile: str, out_md: str | Path | None = None,
                 out_html: str | Path | None = None, **dirs: Any) -> list[str]:
    """Build the report and write its Markdown and HTML (default ``reports/<profile>/study.md``
    and ``study.html``); returns what was missing."""
    root = Path(root)
    md_path = root / (out_md if out_md is not None else Path("reports") / profile / "study.md")
    html_path = root / (out_html if out_html is not None else Path("reports") / profile / "study.html")
    text, missing = build_report(root, profile, link_base=md_path.parent, **dirs)
    write_bytes_atomic(md_path, text.encode())
    write_bytes_atomic(html_path, markdown_to_html(text, md_path.parent).encode())
    return missing
