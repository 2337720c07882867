"""The project's own contracts: environment files agree, notebooks are stripped, params and
dvc.yaml are consistent, and the command line lists its subcommands."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

from springstudy import __version__
from springstudy.config import PROFILES, ConfigError, load_params, resolve, stage_params
from springstudy.nbtools import unstripped_cells

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_agrees_with_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"]}
    declared |= {_name(r) for extra in project["optional-dependencies"].values() for r in extra}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {_name(r) for r in pip_section if not r.startswith("-e")}
    assert listed == declared, f"only in environment.yml: {listed - declared}; only in pyproject: {declared - listed}"
    # torch and torchaudio pinned to the same minor version in both files.
    for source in (project["dependencies"], pip_section):
        pins = {_name(r): r.split("==")[1] for r in source if _name(r) in ("torch", "torchaudio")}
        assert pins["torch"] == pins["torchaudio"]


def test_notebooks_are_stripped_and_parameterised() -> None:
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks, "no notebooks found"
    for path in notebooks:
        assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), path.name
        assert unstripped_cells(path) == [], f"{path.name} carries outputs"
        nb = nbformat.read(path, as_version=4)
        first_code = next(c for c in nb.cells if c.cell_type == "code")
        assert "parameters" in first_code.metadata.get("tags", []), f"{path.name}: first code cell is not tagged"
        assert nb.metadata["kernelspec"]["name"] == "springstudy"


def test_unstripped_cells_detects_outputs(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1", execution_count=3)])
    nbformat.write(nb, tmp_path / "x.ipynb")
    assert unstripped_cells(tmp_path / "x.ipynb") == [0]


def test_params_profiles_and_dvc_params_exist() -> None:
    params = load_params(ROOT / "params.yaml")
    assert params["profile"] in PROFILES
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    for name, stage in dvc["stages"].items():
        body = stage.get("do", stage)
        foreach = stage.get("foreach", [])
        if isinstance(foreach, str):            # foreach over a params mapping, e.g. ${train.runs}
            node = params
            for part in foreach.strip("${}").split("."):
                node = node[part]
            foreach = node
        keys = list(foreach) if isinstance(foreach, dict) else [None]
        for key in body.get("params", []):
            if isinstance(key, dict):           # a params file of its own, e.g. search.yaml
                assert all((ROOT / f).is_file() for f in key), f"stage {name}: missing {list(key)}"
                continue
            for item_key in keys:
                path = key if item_key is None else key.replace("${key}", item_key)
                assert "${" not in path, f"stage {name}: unresolved {key}"
                node = params
                for part in path.split("."):
                    assert part in node, f"stage {name}: params.yaml has no {path}"
                    node = node[part]


def test_resolve_profile_overrides() -> None:
    group = {"steps": 10, "lr": 0.005, "profiles": {"paper": {"steps": 1000}, "smoke": {"steps": 2}}}
    assert resolve(group, "paper") == {"steps": 1000, "lr": 0.005}
    assert resolve(group, "quick") == {"steps": 10, "lr": 0.005}
    with pytest.raises(ConfigError, match="unknown profile"):
        resolve(group, "huge")
    with pytest.raises(ConfigError, match="no group 'nope'"):
        stage_params("nope", {"profile": "quick"})


def test_shared_settings_are_written_once_and_reach_every_stage_that_uses_them() -> None:
    from springstudy.config import SHARED_SETTINGS, train_params

    params = {"profile": "quick", "seed": 7,
              "scoring": {"pre_emphasis": 0.9, "ir_regularisation": 1e-5, "n_resamples": 100, "confidence": 0.9,
                          "profiles": {"smoke": {"n_resamples": 10}}},
              "evaluate": {"n_examples": 2},
              "train": {"lr": 0.01, "formats": {"egfxset": {"batch_size": 8}},
                        "runs": {"A": {"model": "GCN-250", "format": "egfxset", "lr": 0.02,
                                       "profiles": {"smoke": {"max_steps": 3}}}}}}
    assert stage_params("evaluate", params) == {"n_examples": 2, "pre_emphasis": 0.9, "ir_regularisation": 1e-5,
                                                "n_resamples": 100, "confidence": 0.9}
    assert stage_params("evaluate", params, "smoke")["n_resamples"] == 10
    # Training: its group, the shared key, the format's entry, the run's entry for the profile, the seed.
    assert train_params(params, "smoke", "egfxset", "A") == {
        "lr": 0.02, "pre_emphasis": 0.9, "batch_size": 8, "seed": 7, "model": "GCN-250", "format": "egfxset",
        "max_steps": 3}
    with pytest.raises(ConfigError, match="has no run 'B'"):
        train_params(params, "quick", run="B")
    with pytest.raises(ConfigError, match="evaluate.confidence repeats scoring.confidence"):
        stage_params("evaluate", {**params, "evaluate": {"confidence": 0.5}})
    with pytest.raises(ConfigError, match="scoring group has no pre_emphasis"):
        stage_params("evaluate", {**params, "scoring": {"n_resamples": 1}})
    # The project's params.yaml sets each shared key once, and every stage that uses one gets it.
    project = load_params(ROOT / "params.yaml")
    for group, users in SHARED_SETTINGS.items():
        for stage, keys in users.items():
            resolved = train_params(project, "quick") if stage == "train" else stage_params(stage, project)
            assert all(resolved[key] == resolve(project[group], "quick")[key] for key in keys), stage


def test_load_params_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing.yaml: file not found"):
        load_params(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_params(bad)


def test_cli_help_lists_subcommands() -> None:
    result = subprocess.run([sys.executable, "-m", "springstudy.cli", "--help"], capture_output=True, text=True,
                            check=True)
    for sub in ("env", "data"):
        assert sub in result.stdout
    version = subprocess.run([sys.executable, "-m", "springstudy.cli", "--version"], capture_output=True, text=True)
    assert version.stdout.strip() == f"springstudy {__version__}"


def test_console_script_installed() -> None:
    script = Path(sys.executable).with_name("springstudy")
    assert script.exists(), "springstudy console script missing from the venv (make setup)"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "subcommands" in result.stdout


def test_json_safe_makes_strict_json_of_numpy_nan_inf_and_missing_values() -> None:
    import json
    import math

    import numpy as np
    import pandas as pd

    from springstudy.outputs import json_safe

    value = {"a": np.float32(1.5), "b": [math.nan, -math.inf, np.int64(3)], "c": (pd.NA, "x", True),
             "d": {"e": np.float64(2.25), "f": None}}
    safe = json_safe(value)
    assert safe == {"a": 1.5, "b": [None, None, 3], "c": [None, "x", True], "d": {"e": 2.25, "f": None}}
    assert type(safe["b"][2]) is int and type(safe["a"]) is float
    json.dumps(safe, allow_nan=False)              # strict JSON: would raise on NaN or Infinity


def test_csv_writer_writes_what_pandas_writes(tmp_path) -> None:
    import pandas as pd

    from springstudy.outputs import write_csv_atomic

    frame = pd.DataFrame({"model": ["a", "b"], "esr": [0.123456789, 1e-9]})
    path = write_csv_atomic(tmp_path / "sub" / "t.csv", frame)
    assert path.read_text() == frame.to_csv(index=False, float_format="%.6g")
    assert pd.read_csv(path)["esr"].tolist() == [0.123457, 1e-9]
