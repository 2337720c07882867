"""Assembling the report: :func:`build_report` (Markdown), :func:`markdown_to_html`,
:func:`summary_metrics` (the compact metrics file) and :func:`write_report` (all three files)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from springstudy.outputs import write_bytes_atomic
from springstudy.report.blocks import _EXTRAS, Context, _meaning, _table_markdown, training_rows
from springstudy.report.sections import CORRECTIONS, SECTIONS
from springstudy.tables import is_missing


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
            parts += ctx.captioned(table.caption.format(**words), text)
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


def _rounded(value: Any, digits: int = 4) -> Any:
    return None if is_missing(value) else float(f"{float(value):.{digits}g}")


def summary_metrics(reports: Path) -> dict[str, Any]:
    """The study in a handful of numbers per run, for ``dvc metrics show`` and ``dvc exp show``:
    per rate and trained model its test ESR and MR-STFT, its gap to the receptive-field bound,
    its best validation loss and its streaming real-time factor; per rate the Linear IR's test
    ESR. Read from the metrics JSON files and Table 11's CSV the stages wrote (4 significant
    digits)."""
    out: dict[str, Any] = {}
    training = training_rows(reports)
    efficiency_path = reports / "tables" / "table11_efficiency.csv"
    efficiency = pd.read_csv(efficiency_path).set_index("model") if efficiency_path.is_file() else pd.DataFrame()
    for label in ("16k", "48k"):
        path = reports / "metrics" / f"evaluate_{label}.json"
        if not path.is_file():
            continue
        models = json.loads(path.read_text()).get("models", {})
        rate: dict[str, Any] = {}
        for model, values in models.items():
            if values.get("gap") is None or is_missing(values.get("gap")):
                continue
            run = training[training["run"] == f"{model}_{label}"] if not training.empty else training
            rtf = f"rtf_stream_{label}"
            rate[model] = {"test_esr": _rounded(values["esr"]), "test_mr_stft": _rounded(values["mr_stft"]),
                           "gap": _rounded(values["gap"]),
                           "best_val_loss": _rounded(run["best_val_loss"].iloc[0]) if len(run) else None,
                           "rtf_stream": _rounded(efficiency.loc[model, rtf]) if model in efficiency.index
                           and rtf in efficiency else None}
        if "Linear IR" in models:
            rate["Linear IR"] = {"test_esr": _rounded(models["Linear IR"]["esr"]),
                                 "test_mr_stft": _rounded(models["Linear IR"]["mr_stft"])}
        out[label] = rate
    return out


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
    and ``study.html``) and the compact metrics ``summary.json`` beside the Markdown
    (:func:`summary_metrics`); returns what was missing."""
    root = Path(root)
    md_path = root / (out_md if out_md is not None else Path("reports") / profile / "study.md")
    html_path = root / (out_html if out_html is not None else Path("reports") / profile / "study.html")
    text, missing = build_report(root, profile, link_base=md_path.parent, **dirs)
    write_bytes_atomic(md_path, text.encode())
    write_bytes_atomic(html_path, markdown_to_html(text, md_path.parent).encode())
    reports = root / (dirs.get("reports_dir") or Path("reports") / profile)
    summary = json.dumps(summary_metrics(reports), indent=2, sort_keys=True) + "\n"
    write_bytes_atomic(md_path.parent / "summary.json", summary.encode())
    return missing


__all__ = ["build_report", "markdown_to_html", "summary_metrics", "write_report"]
