"""One typed schema for params.yaml and the command line (springstudy.schema).

Each case writes the project's own params.yaml with one mistake and checks that load_params
refuses it with one line naming the file, the key path (down to the profile, format or run
entry that set the bad value) and what was expected. Before the schema covered every group,
each of these loaded silently and failed later inside a stage (or never: a misspelled key was
ignored). The command-line cases check that ``springstudy evaluate`` and ``springstudy ir``
validate their flags against the same group schemas.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

from springstudy import schema
from springstudy.cli.main import main
from springstudy.config import ConfigError, load_params

ROOT = Path(__file__).resolve().parents[1]


def _set(*path: str, value: object):
    def edit(params: dict) -> None:
        node = params
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


CASES = [
    # (edit of the real params.yaml, the line the error must hold)
    (_set("profile", value="fast"), "profile: input should be 'smoke', 'quick' or 'paper' (got 'fast')"),
    (_set("seed", value=-1), "seed: input should be greater than or equal to 0 (got -1)"),
    (_set("trian", value={}), "trian: unknown group"),
    (_set("train", value=None), "train: expected a mapping of settings, got NoneType None"),
    (_set("train", "lr", value="1e-3"), "train.lr: input should be a valid number (got '1e-3')"),
    (_set("train", "profiles", "smoke", "max_steps", value=2.5),
     "train.profiles.smoke.max_steps: input should be a valid integer (got 2.5)"),
    (_set("train", "formats", "egfxset", "batch_size", value=0),
     "train.formats.egfxset.batch_size: input should be greater than or equal to 1 (got 0)"),
    (_set("train", "profiles", "quick", "formats", "egfxset", "crop_seconds", value=-0.5),
     "train.profiles.quick.formats.egfxset.crop_seconds: input should be greater than 0 (got -0.5)"),
    (_set("train", "runs", "GCN-250_16k", "patience", value="25"),
     "train.runs.GCN-250_16k.patience: input should be a valid integer (got '25')"),
    (_set("train", "runs", "GCN-250_16k", "format", value="springst"),
     "train.runs.GCN-250_16k.format: input should be 'springset' or 'egfxset' (got 'springst')"),
    (_set("train", "runs", "LSTM-96_16k", "profiles", "quick", "recurrent_init", value="modl"),
     "train.runs.LSTM-96_16k.profiles.quick.recurrent_init: input should be 'default' or 'modal' (got 'modl')"),
    (_set("train", "time_term", value="l1"), "train.time_term: input should be 'mae', 'esr' or 'esr_white'"),
    (_set("train", "formats", "egfx", value={}), "train.formats: unknown format(s) 'egfx'"),
    (_set("train", "lr_schedule", value="cosine"), "train.lr_schedule: unknown setting"),
    (_set("scoring", "confidence", value=2), "scoring.confidence: input should be less than 1 (got 2)"),
    (_set("scoring", "profiles", "smoke", "n_resamples", value=0),
     "scoring.profiles.smoke.n_resamples: input should be greater than or equal to 1 (got 0)"),
    (_set("data", "split", value="rand"), "data.split: input should be 'random' or 'original' (got 'rand')"),
    (_set("data", "sources", "springst", value="synthetic"), "data.sources.springst (a key): input should be"),
    (_set("calibration", "draws", value=1.5), "calibration.draws: input should be a valid integer (got 1.5)"),
    (_set("features", "hop_seconds", value=0), "features.hop_seconds: input should be greater than 0 (got 0)"),
    (_set("baselines", "profiles", "quik", value={}), "baselines.profiles: unknown profile(s) 'quik'"),
    (_set("baselines", "tcn_steps", value=".5"), "baselines.tcn_steps: input should be a valid integer (got '.5')"),
    (_set("evaluate", "baselines", value=["Naive", "Silense"]),
     "evaluate.baselines.1: input should be 'Naive', 'Noise ceiling', 'Silence' or 'Linear IR' (got 'Silense')"),
    (_set("ir", "sweep_second", value=1.0), "ir.sweep_second: unknown setting; the settings here are models,"),
    (_set("ir", "profiles", "quick", "sweep_seconds", value=-3.0),
     "ir.profiles.quick.sweep_seconds: input should be greater than 0 (got -3.0)"),
    (_set("ir", "sweep_level_dbfs", value=3.0), "ir.sweep_level_dbfs: input should be less than or equal to 0"),
    (_set("knobs", "decay_points", value=1), "knobs.decay_points: input should be greater than or equal to 2"),
    (_set("knobs", "ranges", "decay", value=[1.5]), "knobs.ranges.decay: list should have at least 2 items"),
    (_set("knobs", "profiles", "quick", "train", "lr", value="3e-3"),
     "knobs.profiles.quick.train.lr: input should be a valid number (got '3e-3')"),
    (_set("knobs", "recurrent", "crop_seconds", value=0), "knobs.recurrent.crop_seconds: input should be greater than 0"),
    (_set("efficiency", "threads", value=[0, "all"]),
     "efficiency.threads.0: expected a whole number >= 1 or 'all' (got 0)"),
    (_set("efficiency", "profiles", "quick", "blocks", value=[128, 2.5]),
     "efficiency.profiles.quick.blocks.1: input should be a valid integer (got 2.5)"),
    (_set("efficiency", "offline_seconds", value=float("nan")), "efficiency.offline_seconds: input should be a finite number"),
]


@pytest.mark.parametrize("edit,expected", CASES, ids=[c[1].split(":")[0] for c in CASES])
def test_a_mistake_anywhere_in_params_yaml_is_named(tmp_path, edit, expected) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    bad = copy.deepcopy(params)
    edit(bad)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(bad, sort_keys=False))
    with pytest.raises(ConfigError) as caught:
        load_params(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert expected in message, message
    assert message.count(";") <= expected.count(";") + 1, f"one line per mistake, not one per run: {message}"


def test_the_projects_params_yaml_passes_and_reading_it_needs_no_torch() -> None:
    import subprocess
    import sys

    load_params(ROOT / "params.yaml")
    code = ("import sys; from springstudy.config import load_params; load_params(sys.argv[1]); "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy'))))")
    out = subprocess.run([sys.executable, "-c", "import json; " + code, str(ROOT / "params.yaml")],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


@pytest.mark.parametrize("group,notebook", [("baselines", "04_baselines"), ("evaluate", "05_evaluate"),
                                            ("ir", "07_ir_rt60"), ("features", "02_features"),
                                            ("calibration", "08_calibration"), ("knobs", "11_knobs")])
def test_every_group_setting_is_a_parameter_of_its_notebook(group, notebook) -> None:
    """A group's keys are its notebook's parameters (papermill passes them): the schema may name
    no setting the notebook lacks."""
    cells = json.loads((ROOT / "notebooks" / f"{notebook}.ipynb").read_text())["cells"]
    source = next("".join(c["source"]) for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
    parameters = set(re.findall(r"^(\w+)\s*=", source, flags=re.M))
    assert set(schema.GROUPS[group].model_fields) <= parameters


@pytest.mark.parametrize("argv,message", [
    (["evaluate", "--data", "x", "--confidence", "2"], "--confidence: input should be less than 1 (got 2.0)"),
    (["evaluate", "--data", "x", "--resamples", "0"], "--resamples: input should be greater than or equal to 1"),
    (["evaluate", "--data", "x", "--pre-emphasis", "nan"], "--pre-emphasis: input should be"),
    (["evaluate", "--data", "x", "--ir-seconds", "-1"], "--ir-seconds: input should be greater than 0"),
    (["ir", "--model", "GCN-250", "--out", "o", "--sweep-seconds", "0"],
     "--sweep-seconds: input should be greater than 0 (got 0.0)"),
    (["ir", "--model", "GCN-250", "--out", "o", "--tail-seconds", "inf"], "--tail-seconds: input should be a finite number"),
    (["ir", "--model", "GCN-250", "--out", "o", "--block-size", "0"], "--block-size: input should be greater than or equal to 1"),
    (["ir", "--model", "GCN-250", "--out", "o", "--level-dbfs", "6"], "--level-dbfs: input should be less than or equal to 0"),
])
def test_command_line_values_are_checked_by_the_same_schema(tmp_path, monkeypatch, capsys, argv, message) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
