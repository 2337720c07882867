"""The study report: every table and figure of one run of the pipeline, in the thesis's order.

:func:`build_report` reads what the stages wrote (Markdown tables under ``reports/tables/``,
PNG figures under ``figures/``, ``reports/environment.json``, per-run training metrics) and
assembles ``reports/study.md`` and a self-contained ``reports/study.html`` (figures embedded).
Each section names the thesis item it reproduces; a table the stage writes with the thesis's
numbers beside ours is shown as is, and the corrections to the thesis
(:data:`CORRECTIONS`) are called out in their own section. Anything a run did not produce is listed as
missing rather than silently left out.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from springstudy.outputs import write_bytes_atomic


@dataclass(frozen=True)
class Section:
    """One part of the report: a title, a paragraph, the tables (stems) and figures (globs) it shows."""

    title: str
    text: str
    tables: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()
    extra: str = ""               # name of a generated block (see _EXTRAS)
    notes: tuple[str, ...] = field(default_factory=tuple)


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

SECTIONS = (
    Section("Environment", "The machine and software that produced these numbers.", extra="environment"),
    Section("Datasets (thesis Tables 3–4, Figures 8–11)",
            "Per subset and side: items, length, size, level statistics and an SNR lower bound; three "
            "dry/wet waveform overlays and spectrogram pairs per dataset.",
            tables=("table3_springset_overview", "table4_egfxset_overview"),
            figures=("fig08_*.png", "fig09_*.png", "fig10_*.png", "fig11_*.png")),
    Section("The default tank against the real Accutronics 4EB2C1B",
            "The synthetic tank measured with the same protocols as four real SpringSet notes: Linear IR "
            "fitted on 3 notes and scored on a 4th, on the whole training subset, centroids dry and wet, "
            "decay, levels; mean dry/wet spectra and decay curves.",
            tables=("calibration",), figures=("calibration.png",)),
    Section("Dataset descriptors (thesis §3.2.3, Figures 12–13)",
            "Nine Essentia descriptors per item, mean and standard deviation per split, dry (x) vs wet (y).",
            tables=("springset_descriptors", "egfxset_descriptors"),
            figures=("springset_descriptors.png", "egfxset_descriptors.png")),
    Section("Models (thesis Table 6)",
            "Named configurations with their parameter counts beside the thesis's and their true receptive "
            "fields.", extra="models"),
    Section("Training (thesis Table 7)",
            "One run per model and sample rate; the best validation loss (the profile's training loss: "
            "eq. 3.1 in the paper profile, the plain ESR in quick) and the training throughput.",
            figures=("train/*.png",), extra="training"),
    Section("Hyperparameter scaling (thesis §3.3.1, Table 5)",
            "A seeded sample of the search space, pruned by successive halving.",
            tables=("search_ranking",), figures=("search_*.png",)),
    Section("Baselines (thesis Table 8)",
            "Naive (dry as prediction), Silence, Noise ceiling, Linear IR and the TCN-baseline on the test split; "
            "means with 95% bootstrap intervals.", tables=("table8_baselines",), figures=("baselines_*.png",)),
    Section("Results (thesis Tables 9–10, Figure 15)",
            "Every trained model on the test split, whole items, per-item means with 95% bootstrap intervals, "
            "beside its receptive-field bound: the least-squares FIR as long as the model's receptive field "
            "(recurrent models: the item), fitted on the training split and scored on the same items. The gap "
            "(ESR / bound ESR) says whether a model is limited by its architecture (gap near or below 1) or by "
            "its training (far above 1); the learning curves say whether a run had converged when it stopped.",
            tables=("table9_16k", "table10_48k"),
            figures=("fig15_*.png", "bound_esr_*.png", "learning_curves_*.png"), extra="bounds"),
    Section("Efficiency (thesis Table 11)",
            "Real-time factor and memory, offline (the thesis's method, done right) and streaming.",
            tables=("table11_efficiency",), figures=("efficiency_*.png",)),
    Section("The knobs: do models follow a spring reverb's controls? (beyond the thesis)",
            "A dataset where every item went through the tank at its own setting of four knobs (decay, tone, "
            "dwell, mix; a seeded Latin hypercube). Each conditioned model (FiLM, knobs concatenated to a GRU's "
            "input, HyperGRU) beside the unconditioned model of its family trained on the same items, scored on "
            "settings never seen in training (inside the ranges and at their 16 corners), with the paired "
            "difference; and, for a sweep of the decay knob, each model's sine-sweep RT60 against the tank's true "
            "RT60.", tables=("knobs_results",), figures=("knobs_*.png",), extra="knobs"),
    Section("Impulse responses and RT60 (thesis Figures 16–19)",
            "Sine-sweep impulse responses of the device and the models, waterfalls, decay times per band "
            "and energy decay curves with their fitted lines.",
            tables=("rt60",), figures=("fig16_*.png", "fig17_*.png", "fig18_*.png", "fig19_*.png")),
)


def _table_markdown(tables_dir: Path, stem: str) -> str | None:
    md, csv = tables_dir / f"{stem}.md", tables_dir / f"{stem}.csv"
    if md.is_file():
        return md.read_text().strip()
    if csv.is_file():
        return _frame_markdown(pd.read_csv(csv))
    return None


def _frame_markdown(frame: pd.DataFrame, max_rows: int = 60) -> str:
    frame = frame.head(max_rows)
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _environment(reports: Path) -> str:
    path = reports / "environment.json"
    if not path.is_file():
        return f"_{path} is missing (stage `environment`)._"
    env = json.loads(path.read_text())
    packages = ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items())
    gpu = env.get("gpu") or "none"
    return (f"Python {env.get('python')}; {packages}. CPU: {env.get('cpu')} ({env.get('cpu_count')} cores, "
            f"torch threads {env.get('torch_threads')}); GPU: {gpu}.")


def _models(reports: Path) -> str:
    from springstudy.models import config_table

    table = config_table()
    return _frame_markdown(table)


def _training(reports: Path, profile: str) -> str:
    folder = reports / "metrics" / "train"
    rows = [json.loads(p.read_text()) | {"run": p.stem} for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    if not rows:
        return "_No training metrics found (stages `train@<run>`)._"
    frame = pd.DataFrame(rows)
    columns = [c for c in ("run", "model", "format", "params", "steps", "best_val_loss", "val_esr", "val_mr_stft",
                           "train_samples_per_second") if c in frame.columns]
    return _frame_markdown(frame[columns])


def _bounds(reports: Path, profile: str) -> str:
    """Per rate, each model's gap to its receptive-field bound and what limits it."""
    lines = []
    for stem, label in (("table9_16k", "16 kHz"), ("table10_48k", "48 kHz")):
        path = reports / "tables" / f"{stem}.csv"
        if not path.is_file():
            continue
        frame = pd.read_csv(path)
        if "gap" not in frame or frame["gap"].isna().all():
            continue
        from springstudy.bounds import gap_reading

        rows = frame.dropna(subset=["gap"]).set_index("model", drop=False)
        reading = gap_reading(rows)
        limited = {kind: [f"{m} ({rows.loc[m, 'gap']:.3g})" for m, k in reading.items() if k == kind]
                   for kind in ("architecture", "training")}
        lines.append(f"- {label}: within 2× of its bound, so limited by its architecture: "
                     f"{', '.join(limited['architecture']) or 'none'}; limited by its training: "
                     f"{', '.join(limited['training']) or 'none'} (gap = ESR / bound ESR).")
    return "\n".join(lines) if lines else "_No bounds were computed (no trained runs)._"


def _knobs(reports: Path, profile: str) -> str:
    """The knob study's decay sweep as a table and its reading, from the stage's CSVs."""
    from springstudy.evaluate.knobs import reading, rt60_markdown

    tables = reports / "tables"
    if not (tables / "knobs_rt60.csv").is_file() or not (tables / "knobs_differences.csv").is_file():
        return ""
    rt60 = pd.read_csv(tables / "knobs_rt60.csv")
    differences = pd.read_csv(tables / "knobs_differences.csv")
    return "\n\n".join(["The decay sweep (the other knobs at the middle of their ranges):", rt60_markdown(rt60),
                         "What the numbers say:", reading(differences, rt60)])


_EXTRAS = {"environment": lambda reports, profile: _environment(reports),
           "models": lambda reports, profile: _models(reports), "training": _training, "bounds": _bounds,
           "knobs": _knobs}


def build_report(root: str | Path, profile: str, reports_dir: str | Path | None = None,
                 figures_dir: str | Path | None = None, link_base: str | Path | None = None,
                 ) -> tuple[str, list[str]]:
    """The report as Markdown and the list of missing items.

    A profile's results live in ``reports/<profile>/`` (tables/, metrics/, environment.json)
    and ``figures/<profile>/`` unless ``reports_dir`` / ``figures_dir`` say otherwise (relative
    to ``root``). Figure links are relative to ``link_base`` (default: ``reports_dir``), the
    folder the Markdown is written to.
    """
    root = Path(root)
    reports = root / (reports_dir if reports_dir is not None else Path("reports") / profile)
    figures_dir = root / (figures_dir if figures_dir is not None else Path("figures") / profile)
    tables_dir = reports / "tables"
    base = Path(link_base) if link_base is not None else reports
    parts = [f"# springstudy: the study report ({profile} profile)", "",
             "Neural modelling of a spring reverb: a reproduction, correction and extension of the 2023 thesis "
             "*Neural Audio Effect Modelling Strategies for a Spring Reverb*. Every number below was produced "
             "by `dvc repro` from `params.yaml`; the default data is the synthetic spring tank, whose true "
             "impulse response and RT60 are known.", ""]
    missing: list[str] = []
    for section in SECTIONS:
        parts += [f"## {section.title}", "", section.text, ""]
        if section.extra:
            parts += [_EXTRAS[section.extra](reports, profile), ""]
        for stem in section.tables:
            text = _table_markdown(tables_dir, stem)
            if text is None:
                missing.append(f"table {stem}")
                continue
            parts += [text, ""]
        for pattern in section.figures:
            found = sorted(figures_dir.glob(pattern))
            if not found:
                missing.append(f"figure {pattern}")
            for path in found:
                rel = Path(os.path.relpath(path.resolve(), base.resolve()))
                parts += [f"![{path.stem}]({rel.as_posix()})", ""]
    parts += ["## Corrections to the thesis", ""] + [f"- {c}" for c in CORRECTIONS] + [""]
    if missing:
        parts += ["## Not produced in this run", ""] + [f"- {m}" for m in missing] + [""]
    return "\n".join(parts), missing


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

    body = markdown.markdown(re.sub(r"!\[([^\]]*)\]\(([^)]+\.png)\)", embed, markdown_text), extensions=["tables"])
    style = ("body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
             "table{border-collapse:collapse;font-size:0.85rem;margin:1rem 0}td,th{border:1px solid #ccc;"
             "padding:0.2rem 0.5rem;text-align:right}img{max-width:100%}")
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
