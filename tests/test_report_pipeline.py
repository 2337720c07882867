"""The report built from a real (smoke-size) run of the pipeline's stages: a model trained by the
train stage's code, scored by the evaluate stage, measured by the ir stage. Every number the
report prints is checked against the metrics file it came from, its words against the params
that made them, and its HTML for what a reader meets: captions, no raw nan/<NA>/snake_case,
audio players whose files exist."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from springstudy.acoustics.sweep import SweepSpec
from springstudy.config import project_root
from springstudy.outputs import write_json_atomic
from springstudy.report import summary_metrics, write_report
from springstudy.stages import evaluate as evaluate_stage
from springstudy.stages import ir as ir_stage
from springstudy.stages.common import dataset_sources, split_files
from springstudy.stages.train import run_metrics
from springstudy.tables import fmt_interval, fmt_number
from springstudy.train import loss_label, summary_json

PROFILE = "smoke"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, one_thread) -> Path:
    """A project folder holding what the stages wrote for one trained model at 16 kHz."""
    root = tmp_path_factory.mktemp("project")
    shutil.copy(project_root() / "params.yaml", root / "params.yaml")
    reports, figures = root / "reports" / PROFILE, root / "figures" / PROFILE
    sources = dataset_sources(None, ["springset"], 4, root / "data")
    splits = split_files(None, ["springset"])
    evaluate_stage.train_demo_runs(sources, splits, root / "runs", model="GCN-250", steps=3, crop_seconds=0.25,
                                   batch_size=2, seed=4, split_method="random")
    run = root / "runs" / "springset" / "GCN-250"
    write_json_atomic(reports / "metrics" / "train" / "GCN-250_16k.json",
                      run_metrics("GCN-250", "springset", summary_json(run / "summary.json")))
    runs = evaluate_stage.find_stage_runs(root / "runs", ["springset"])
    evaluate_stage.run(sources, splits, runs, seed=4, split_method="random", baselines=["Naive", "Silence", "Linear IR"],
                       noise_amplitude=None, ir_seconds=None, ir_regularisation=1e-6, pre_emphasis=0.85,
                       n_resamples=300, confidence=0.95, batch_size=4, n_examples=2, figure_baselines=["Linear IR"],
                       bounds=True, bound_curve_points=3, tables_dir=reports / "tables", metrics_dir=reports / "metrics",
                       figures_dir=figures)
    parts = ir_stage.rate_parts(16_000, ["GCN-250"], checkpoints_dir=root / "runs" / "springset",
                                checkpoint_pattern="{model}/best.pt", data_dir=sources["springset"],
                                device_ir="auto", split_file=splits["springset"])
    ir_stage.run(parts, SweepSpec(duration=0.5, tail=1.0), seed=4, table_path=reports / "tables" / "rt60.csv",
                 figures_dir=figures, tank_rt60=0.3, stability_seconds=0.5)
    write_report(root, PROFILE)
    return root


def _report(root: Path) -> str:
    return (root / "reports" / PROFILE / "study.md").read_text()


def test_every_result_the_report_prints_is_the_metrics_files(pipeline: Path) -> None:
    text = _report(pipeline)
    results = json.loads((pipeline / "reports" / PROFILE / "metrics" / "evaluate_16k.json").read_text())
    table = next(part for part in text.split("**Table ") if part.startswith(tuple("0123456789"))
                 and "Test results at 16 kHz" in part)
    for model, values in results["models"].items():
        row = next(line for line in table.splitlines() if line.startswith(f"| {model} |"))
        assert fmt_interval(values["esr"], values["esr_lo"], values["esr_hi"]) in row
        assert fmt_interval(values["mr_stft"], values["mr_stft_lo"], values["mr_stft_hi"]) in row
    meaning = text.split("## What the results mean")[1].split("\n## ")[0]
    gcn, linear = results["models"]["GCN-250"], results["models"]["Linear IR"]
    assert f"the best trained model on ESR is GCN-250, ESR {fmt_interval(gcn['esr'], gcn['esr_lo'], gcn['esr_hi'])}" \
        in meaning
    assert f"the Linear IR reaches {fmt_interval(linear['esr'], linear['esr_lo'], linear['esr_hi'])}" in meaning
    assert f"{fmt_number(gcn['esr'] / linear['esr'])}× the Linear IR's" in meaning


def test_the_training_table_and_loss_label_are_the_runs_own(pipeline: Path) -> None:
    text = _report(pipeline)
    summary = summary_json(pipeline / "runs" / "springset" / "GCN-250" / "summary.json")
    label = loss_label(summary["config"])
    row = next(line for line in text.splitlines() if line.startswith("| GCN-250_16k |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert label in cells and fmt_number(summary["best_val_loss"]) in cells
    assert f"Every run was trained on {label}." in text
    assert "0.5·MAE + 0.5·MR-STFT" not in row or label.startswith("eq. 3.1")


def test_the_rt60_section_is_a_summary_with_errors_against_the_truth(pipeline: Path) -> None:
    import pandas as pd

    text = _report(pipeline)
    rt60 = pd.read_csv(pipeline / "reports" / PROFILE / "tables" / "rt60.csv", dtype={"band": str})
    section = text.split("## Impulse responses and RT60")[1]
    assert "the tank's true impulse response (the ground truth)" in section
    device = rt60[(rt60.system == "device") & (rt60.band == "broadband") & (rt60.method == "t30")].iloc[0]
    assert f"| device | {fmt_number(device.rt60_s)} s |" in section
    model = rt60[(rt60.system == "GCN-250") & (rt60.band == "broadband") & (rt60.method == "t30")].iloc[0]
    expected = "not measurable" if pd.isna(model.rt60_s) else f"{fmt_number(model.rt60_s)} s ({model.error_pct:+.0f}%)"
    assert f"| GCN-250 | {expected} |" in section
    assert "| sample_rate |" not in section and "reference" not in section.split("\n\n")[2]


def test_the_words_agree_with_the_params(pipeline: Path) -> None:
    text = _report(pipeline)
    params = yaml.safe_load((pipeline / "params.yaml").read_text())
    scoring = params["scoring"] | params["scoring"].get("profiles", {}).get(PROFILE, {})
    assert f"{round(100 * scoring['confidence'])}% BCa bootstrap intervals over {scoring['n_resamples']:,} resamples" \
        in text
    assert "The 16 kHz data is the synthetic spring tank" in text


class _Page(HTMLParser):
    """What a reader meets in the HTML: table header and body cells, audio sources, caption lines."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[str] = []
        self.cells: list[str] = []
        self.audio: list[str] = []
        self.tables = 0
        self.text: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("th", "td"):
            self._in = tag
            (self.headers if tag == "th" else self.cells).append("")
        if tag == "table":
            self.tables += 1
        if tag == "audio":
            self.audio.append(dict(attrs)["src"])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td"):
            self._in = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in == "th":
            self.headers[-1] += data
        elif self._in == "td":
            self.cells[-1] += data


def test_the_html_reads_like_a_paper(pipeline: Path) -> None:
    reports = pipeline / "reports" / PROFILE
    html = (reports / "study.html").read_text()
    page = _Page()
    page.feed(html)
    assert page.tables >= 8
    captions = re.findall(r"<strong>Table (\d+)\.</strong>", html)
    assert [int(c) for c in captions] == list(range(1, page.tables + 1))    # every table captioned, in order
    assert not [c for c in page.cells if c.strip() in {"nan", "NaN", "<NA>", "inf", "None"}]
    assert not [h for h in page.headers if re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", h.strip())]
    assert 'class="toc"' in html and "What the results mean" in html
    assert "Errata: corrections to the thesis" in html
    assert len(page.audio) >= 2 + 2 + 2                   # 2 items × (dry, target, model...) and the IRs
    for src in page.audio:
        assert (reports / src).is_file(), src
    index = json.loads((reports / "audio" / "examples_16k" / "index.json").read_text())
    assert {"target", "GCN-250", "Linear IR"} <= set(index["items"][0]["systems"])


def test_the_compact_metrics_hold_a_handful_of_numbers_per_run(pipeline: Path) -> None:
    summary = json.loads((pipeline / "reports" / PROFILE / "summary.json").read_text())
    assert summary == summary_metrics(pipeline / "reports" / PROFILE)
    gcn = summary["16k"]["GCN-250"]
    assert set(gcn) == {"test_esr", "test_mr_stft", "gap", "best_val_loss", "rtf_stream"}
    results = json.loads((pipeline / "reports" / PROFILE / "metrics" / "evaluate_16k.json").read_text())
    assert gcn["test_esr"] == pytest.approx(results["models"]["GCN-250"]["esr"], rel=1e-3)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="headless Chromium is not installed here")
def test_the_report_opens_in_headless_chromium_offline(pipeline: Path) -> None:
    html = pipeline / "reports" / PROFILE / "study.html"
    dom = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--proxy-server=127.0.0.1:9",
                          "--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert "<audio" in dom and "What the results mean" in dom and "Table 1." in dom
