"""The DVC + papermill mechanism end to end, in a throwaway copy of the project."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _project_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\n")
    return [f for f in listed if f and (ROOT / f).is_file()]


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("git") is None:
        pytest.fail("git is needed to run the DVC pipeline")
    copy = tmp_path_factory.mktemp("project")
    for name in _project_files():
        if name == "dvc.lock":
            continue
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    subprocess.run(["git", "init", "-q"], cwd=copy, check=True)
    return copy


def _dvc(copy: Path, *args: str) -> str:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run([str(Path(sys.executable).with_name("dvc")), *args], cwd=copy, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_environment_stage_runs_then_is_up_to_date(project_copy: Path) -> None:
    _dvc(project_copy, "repro", "environment")
    record = json.loads((project_copy / "reports" / "quick" / "environment.json").read_text())
    assert record["packages"]["torch"].startswith("2.11")
    assert record["cpu_count"] >= 1 and "gpu" in record
    executed = project_copy / "reports" / "quick" / "notebooks" / "00_environment.ipynb"
    assert executed.is_file() and '"papermill"' in executed.read_text()
    again = _dvc(project_copy, "repro", "environment")
    assert "didn't change" in again or "up to date" in again


def test_data_stage_builds_the_smoke_profile(project_copy: Path) -> None:
    params = project_copy / "params.yaml"
    params.write_text(params.read_text().replace("profile: quick", "profile: smoke", 1))
    _dvc(project_copy, "repro", "data")
    for fmt in ("springset", "egfxset"):
        report = json.loads((project_copy / "data" / "smoke" / fmt / "tank.json").read_text())
        assert report["preset"] == "smoke" and report["format"] == fmt
    assert "didn't change" in _dvc(project_copy, "repro", "data")


def test_one_runs_params_rerun_only_that_run(project_copy: Path) -> None:
    """Two smoke training runs; editing one run's entry in train.runs changes that run only,
    and `dvc metrics show` / `dvc plots show` read what the runs wrote."""
    import yaml

    params_path = project_copy / "params.yaml"
    params_path.write_text(params_path.read_text().replace("profile: quick", "profile: smoke", 1))
    runs = ["train@GCN-250_16k", "train@WaveNet-10_16k"]
    _dvc(project_copy, "repro", *runs)
    import pandas as pd

    for run in ("GCN-250_16k", "WaveNet-10_16k"):
        assert (project_copy / "reports" / "smoke" / "metrics" / "train" / f"{run}.json").is_file()
        curve = pd.read_csv(project_copy / "reports" / "smoke" / "plots" / "train" / f"{run}.csv")
        # the learning curve: validation ESR and loss against steps and training CPU-seconds
        assert {"step", "val_loss", "val_esr", "cpu_seconds", "train_seconds"} <= set(curve.columns)
        assert len(curve) and curve[["val_esr", "cpu_seconds"]].notna().all().all()
    assert not (project_copy / "reports" / "quick" / "metrics").exists()     # profiles never mix
    assert "didn't change" in _dvc(project_copy, "repro", *runs)

    params = yaml.safe_load(params_path.read_text())
    # a run's own profile entry: applies under this profile, to this run only
    params["train"]["runs"]["GCN-250_16k"]["profiles"] = {"smoke": {"max_steps": 3}}
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    status = _dvc(project_copy, "status", *runs)
    assert "train@GCN-250_16k" in status and "train@WaveNet-10_16k" not in status
    ran = _dvc(project_copy, "repro", *runs)
    assert "Running stage 'train@GCN-250_16k'" in ran and "Running stage 'train@WaveNet-10_16k'" not in ran
    metrics = json.loads((project_copy / "reports" / "smoke" / "metrics" / "train" / "GCN-250_16k.json").read_text())
    assert metrics["steps"] == 3

    # the per-run metrics are plain outputs now (`dvc metrics show` prints the compact summary.json);
    # any of them is shown when named
    shown = _dvc(project_copy, "metrics", "show", "reports/smoke/metrics/train/GCN-250_16k.json")
    assert "GCN-250_16k.json" in shown and "best_val_loss" in shown
    plots = _dvc(project_copy, "plots", "show", "-o", "dvc_plots")
    html = (project_copy / "dvc_plots" / "index.html").read_text()
    assert "GCN-250_16k" in html and "val_loss" in html, plots
    curves = _dvc(project_copy, "plots", "show", "learning_curves_16k", "--json")
    assert "GCN-250_16k.csv" in curves and "val_esr" in curves and "cpu_seconds" in curves


def test_learning_curve_plots_name_every_run_of_their_rate() -> None:
    """dvc.yaml's top-level learning_curves_16k / _48k plots list exactly the train.runs of that
    rate, so a run added to params.yaml cannot fall out of the figure unnoticed."""
    import yaml

    root = Path(__file__).resolve().parents[1]
    runs = yaml.safe_load((root / "params.yaml").read_text())["train"]["runs"]
    plots = {name: spec for entry in yaml.safe_load((root / "dvc.yaml").read_text())["plots"]
             for name, spec in entry.items()}
    for rate in ("16k", "48k"):
        listed = {Path(path).stem for path in plots[f"learning_curves_{rate}"]["y"]}
        assert listed == {key for key in runs if key.endswith(f"_{rate}")}
        assert set(plots[f"learning_curves_{rate}"]["y"].values()) == {"val_esr"}
