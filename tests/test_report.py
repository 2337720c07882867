"""The study report assembles what the stages wrote, embeds figures, and lists what is missing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from springstudy.report import CORRECTIONS, SECTIONS, build_report, write_report  # noqa: E402


def test_report_collects_tables_figures_and_missing(tmp_path: Path) -> None:
    reports = tmp_path / "reports" / "smoke"
    (reports / "tables").mkdir(parents=True)
    (tmp_path / "figures" / "smoke").mkdir(parents=True)
    (reports / "tables" / "table8_baselines.md").write_text("| model | esr |\n| --- | --- |\n| Naive | 1.4 |\n")
    (reports / "tables" / "rt60.csv").write_text(
        "sample_rate,system,band,method,rt60_s,error_pct,reference\n16000,device,broadband,t30,2.5,0,true\n"
        "16000,GCN-250,broadband,t30,2.0,-20,true\n16000,GCN-2500,broadband,t30,,,true\n")
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    fig.savefig(tmp_path / "figures" / "smoke" / "fig16_ir.png")
    # another profile's results are not this profile's
    (tmp_path / "reports" / "quick" / "tables").mkdir(parents=True)
    (tmp_path / "reports" / "quick" / "tables" / "table9_16k.md").write_text("| quick |\n| --- |\n")
    (reports / "environment.json").write_text(json.dumps({"python": "3.11.7", "packages": {"torch": "2.11.0"},
                                                                        "cpu": "X", "cpu_count": 2, "gpu": None}))
    # the bounds reading: a gap whose interval reaches below 2 is the architecture's, else the training's
    (reports / "tables" / "table9_16k.csv").write_text(
        "model,kind,esr,gap,gap_lo,gap_hi\nGCN-250,model,0.2,1.5,1.3,1.8\nTCN-1800,model,0.7,6.1,5.0,7.0\n"
        "Linear IR,baseline,0.09,,,\n")
    text, missing = build_report(tmp_path, "smoke")
    assert ("16 kHz: within 2× of its bound, so limited by its architecture: GCN-250 (1.5); limited by its "
            "training: TCN-1800 (6.1)") in text
    assert "| Naive | 1.4 |" in text                        # Markdown table taken as is, captioned
    assert re.search(r"\*\*Table \d+\.\*\* Baselines on the test split", text)
    # RT60: system × band, errors against the device, refused estimates in words
    assert "| device | 2.5 s |" in text and "| GCN-250 | 2 s (-20%) |" in text and "| GCN-2500 | not measurable |" in text
    assert "![Figure 1](../../figures/smoke/fig16_ir.png)" in text and "*Figure 1. Sine-sweep impulse responses" in text
    assert "torch 2.11.0" in text
    assert "table table10_48k" in missing and "figure fig17_*.png" in missing
    assert all(c in text for c in CORRECTIONS)
    assert [s.title for s in SECTIONS][0] == "Environment"

    assert write_report(tmp_path, "smoke") == missing
    html = (reports / "study.html").read_text()
    assert "data:image/png;base64," in html and "<table>" in html
    assert (reports / "study.md").read_text() == text
