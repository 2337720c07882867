"""A run's settings and folder are guarded like its data: typed settings, resume that refuses
changed settings, no silent overwrite, one training per folder, strict JSON, canonical names, and
``train --params`` resolving what the pipeline's train@ stage resolves."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from springstudy.cli.main import main
from springstudy.config import load_params
from springstudy.data.synth import synthesize
from springstudy.train import TrainConfig, TrainingError, config_from_params, train
from springstudy.train.checkpoints import LOCK_FILE, run_lock

COMMON = ["--batch-size", "2", "--crop-seconds", "0.08", "--no-tensorboard", "--threads", "1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return synthesize("springset", "smoke", tmp_path_factory.mktemp("d") / "springset", seed=2, progress=False)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data) -> Path:
    """A finished 3-step run of LSTM-cs-32, trained through the command line."""
    out = tmp_path_factory.mktemp("runs") / "run"
    assert main(["train", "--model", "lstm-cs-32", "--data", str(data), "--out", str(out), "--max-steps", "3",
                 *COMMON]) == 0
    return out


@pytest.mark.parametrize("flag,value,message", [
    ("--batch-size", "0", "batch_size: input should be greater than or equal to 1"),
    ("--batch-size", "-1", "batch_size: input should be greater than or equal to 1"),
    ("--lr", "-0.01", "lr: input should be greater than or equal to 0"),
    ("--lr", "nan", "lr: input should be a finite number"),
    ("--alpha", "2", "alpha: input should be less than or equal to 1"),
    ("--threads", "-1", "threads: input should be greater than or equal to 1"),
    ("--crop-seconds", "0", "crop_seconds: input should be greater than 0"),
    ("--max-steps", "0", "max_steps: input should be greater than or equal to 1"),
    ("--max-steps", "-5", "max_steps: input should be greater than or equal to 1"),
    ("--max-epochs", "0", "max_epochs: input should be greater than or equal to 1"),
])
def test_bad_command_line_values_are_one_clear_error(tmp_path, data, capsys, flag, value, message) -> None:
    args = ["train", "--model", "GCN-250", "--data", str(data), "--out", str(tmp_path / "o"), "--max-steps", "1",
            *COMMON]
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o" / "best.pt").exists()


def test_bad_folders_are_clear_errors(tmp_path, data, capsys) -> None:
    (tmp_path / "file").write_text("x")
    assert main(["train", "--model", "GCN-250", "--data", str(data), "--out", str(tmp_path / "file"),
                 "--max-steps", "1", *COMMON]) == 2
    assert "is a file, not a run folder" in capsys.readouterr().err
    if os.geteuid() != 0:                          # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        assert main(["train", "--model", "GCN-250", "--data", str(data), "--out", str(ro), "--max-steps", "1",
                     *COMMON]) == 2
        assert "not writable" in capsys.readouterr().err


def test_params_types_are_checked_with_the_key_named(data, tmp_path) -> None:
    params = load_params()
    for key, value, message in (("lr", "1e-3", "lr: input should be a valid number (got '1e-3')"),
                                ("patience", "25", "patience: input should be a valid integer (got '25')"),
                                ("max_steps", 2.5, "max_steps: input should be a valid integer (got 2.5)")):
        smoke = {**(params["train"].get("profiles", {}).get("smoke") or {}), key: value}
        bad = {**params, "train": {**params["train"], "profiles": {**params["train"]["profiles"], "smoke": smoke}}}
        with pytest.raises(TrainingError, match=message.replace("(", r"\(").replace(")", r"\)")):
            config_from_params("GCN-250", str(tmp_path), str(data), bad, "smoke", format="springset")


def test_resume_refuses_changed_settings_and_lists_them(finished, data, capsys) -> None:
    assert main(["train", "--model", "LSTM-cs-32", "--data", str(data), "--out", str(finished), "--resume",
                 "--max-steps", "3", *COMMON, "--seed", "9", "--lr", "0.5"]) == 2
    err = capsys.readouterr().err
    assert "was trained with other settings" in err and "lr 0.005 -> 0.5" in err and "seed 20231 -> 9" in err
    # More steps are allowed: the budget is not what is learnt.
    assert main(["train", "--model", "LSTM-cs-32", "--data", str(data), "--out", str(finished), "--resume",
                 "--max-steps", "4", *COMMON]) == 0
    saved = json.loads((finished / "summary.json").read_text())
    assert saved["steps"] == 4 and saved["config"]["lr"] == 0.005


def test_a_finished_run_is_never_overwritten_without_asking(finished, data, capsys) -> None:
    before = (finished / "last.pt").read_bytes()
    assert main(["train", "--model", "LSTM-cs-32", "--data", str(data), "--out", str(finished), "--max-steps", "1",
                 *COMMON]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (finished / "last.pt").read_bytes() == before


def test_model_names_are_stored_as_the_registry_spells_them(finished, data) -> None:
    summary = json.loads((finished / "summary.json").read_text())
    assert summary["model"] == "LSTM-cs-32" and summary["config"]["model"] == "LSTM-cs-32"   # typed lstm-cs-32


def test_summaries_are_strict_json(tmp_path, data) -> None:
    config = TrainConfig(model="TCN-baseline", out=str(tmp_path / "r"), data=str(data), max_steps=1, batch_size=2,
                         crop_seconds=0.5, validate=False, tensorboard=False, model_overrides={"channels": 2})
    train(config, progress=False)
    text = (tmp_path / "r" / "summary.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))


def test_a_second_training_into_the_same_folder_is_refused(tmp_path) -> None:
    with run_lock(tmp_path):
        assert (tmp_path / LOCK_FILE).read_text().strip() == str(os.getpid())
        with pytest.raises(TrainingError, match=f"another training \\(process {os.getpid()}\\)"):
            with run_lock(tmp_path):
                pass
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, capsys) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK_FILE).write_text(f"{dead.pid}\n")
    with run_lock(tmp_path):
        assert (tmp_path / LOCK_FILE).read_text().strip() == str(os.getpid())
    assert "stale lock" in capsys.readouterr().out


def test_train_params_resolves_what_the_pipeline_resolves(tmp_path, data) -> None:
    """`--params` applies the dataset format's entry (inferred from --data) and a run's entry."""
    params = load_params()
    params["profile"] = "smoke"
    params["train"]["runs"]["GCN-250_16k"]["profiles"] = {"smoke": {"max_steps": 2, "lr": 0.002}}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    expected = config_from_params("GCN-250", str(tmp_path / "o"), str(data), params, "smoke", format="springset",
                                  run="GCN-250_16k")
    assert main(["train", "--model", "GCN-250", "--data", str(data), "--out", str(tmp_path / "o"), "--params",
                 str(path), "--run", "GCN-250_16k", "--no-tensorboard", "--threads", "1"]) == 0
    saved = json.loads((tmp_path / "o" / "summary.json").read_text())["config"]
    wanted = dataclasses.asdict(expected)
    assert {k: v for k, v in saved.items() if k not in ("tensorboard", "threads")} == \
        {k: v for k, v in wanted.items() if k not in ("tensorboard", "threads")}
    assert saved["lr"] == 0.002 and saved["max_steps"] == 2


def test_params_yaml_mistakes_are_named(tmp_path) -> None:
    from springstudy.config import ConfigError, train_params

    path = tmp_path / "params.yaml"
    path.write_text("profile: quick\ntrain:\n  lr: 0.1\n  batch_size: 2\n  lr: 0.2\n")
    with pytest.raises(ConfigError, match=r"params.yaml: not valid YAML \(key 'lr' appears twice in one mapping "
                                          r"\(lines 3 and 5\)"):
        load_params(path)
    with pytest.raises(ConfigError, match="train.profiles: unknown profile\\(s\\) 'smok'"):
        train_params({"train": {"lr": 0.1, "profiles": {"smok": {"lr": 1}}}}, "smoke")
    with pytest.raises(ConfigError, match="train.runs.A.profiles: unknown profile\\(s\\) 'quik'"):
        train_params({"train": {"runs": {"A": {"model": "GCN-250", "profiles": {"quik": {}}}}}}, "quick", run="A")
    with pytest.raises(ConfigError, match="train.formats: unknown format\\(s\\) 'springsett'"):
        train_params({"train": {"formats": {"springsett": {"batch_size": 2}}}}, "quick")
    assert train_params({"train": None, "seed": 3}, "quick") == {"seed": 3}      # `train: null` is no settings
