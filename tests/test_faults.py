"""Fault injection: a training process killed with SIGKILL (no handler, no cleanup) and resumed.

Independent reference: the same run left uninterrupted. A child process trains a small GCN on
a smoke SpringSet the tank renders and prints each step; the test SIGKILLs it when a step drawn
at random (one draw per seed) goes by, so the kill lands wherever the child happens to be
(between steps, inside validation or inside a checkpoint write), then resumes in a fresh child.
The resumed run must end bit-identical to the uninterrupted one (weights of last.pt and best.pt,
validation history). A second child dies halfway through writing a checkpoint (its torch.save
writes half the bytes, then the process SIGKILLs itself): the folder's last.pt must still load,
and the resumed run must again end bit-identical.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from springstudy.data.synth import synthesize
from springstudy.data.tank import TankParams
from springstudy.train import load_training_checkpoint

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

STEPS = 24

#: The child: one training run, settings as JSON in argv[1]; prints "step N" after each step.
#: With argv[2] = K, its K-th write of last.pt stops halfway and the process kills itself.
CHILD = textwrap.dedent("""
    import io, json, os, signal, sys
    import torch
    from springstudy.train import TrainConfig, train

    settings = json.loads(sys.argv[1])
    die_at = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    real_save, writes = torch.save, [0]

    def save(obj, f, *args, **kwargs):
        name = getattr(f, "name", str(f))
        if die_at and ".last.pt." in str(name):
            writes[0] += 1
            if writes[0] == die_at:
                buffer = io.BytesIO()
                real_save(obj, buffer)
                data = buffer.getvalue()
                f.write(data[:len(data) // 2])
                f.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        return real_save(obj, f, *args, **kwargs)

    torch.save = save
    resume = settings.pop("resume", False)
    train(TrainConfig(**settings), resume=resume, progress=False,
          on_step=lambda step, loss: print(f"step {step}", flush=True))
""")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize("springset", "smoke", tmp_path_factory.mktemp("faults") / "springset", seed=5,
                      tank=TankParams(rt60=0.6), progress=False)


def _settings(out: Path, data: Path) -> dict:
    return dict(model="GCN-250", out=str(out), data=str(data), max_steps=STEPS, batch_size=2,
                crop_seconds=0.1, val_every=3, val_items=2, val_seconds=0.25, tensorboard=False,
                seed=13, threads=1, model_overrides={"num_layers": 2, "channels": 8, "kernel_size": 9})


def _child(settings: dict, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(settings), *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(settings: dict, resume: bool = False) -> None:
    proc = _child({**settings, "resume": resume})
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err


def _same_run(a: Path, b: Path) -> None:
    for name in ("last.pt", "best.pt"):
        x, y = load_training_checkpoint(a / name), load_training_checkpoint(b / name)
        assert x["step"] == y["step"], name
        for key in x["model_state"]:
            assert torch.equal(x["model_state"][key], y["model_state"][key]), (name, key)
    clocks = ("train_seconds", "cpu_seconds")
    history = [[{k: v for k, v in h.items() if k not in clocks} for h in
                json.loads((run / "summary.json").read_text())["history"]] for run in (a, b)]
    assert history[0] == history[1]


@pytest.fixture(scope="module")
def straight(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("straight") / "run"
    _finish(_settings(out, data))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_run_killed_at_a_random_step_resumes_bit_identical(seed, data, straight, tmp_path) -> None:
    kill_after = int(np.random.default_rng(seed).integers(2, STEPS - 1))
    settings = _settings(tmp_path / "run", data)
    proc = _child(settings)
    for line in proc.stdout:
        if line.strip() == f"step {kill_after}":
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=600)
    assert proc.returncode == -signal.SIGKILL, f"the child ended before step {kill_after}: {proc.stderr.read()}"
    assert (tmp_path / "run" / ".training.lock").exists()         # left behind by the killed run
    assert load_training_checkpoint(tmp_path / "run" / "last.pt")["step"] <= kill_after
    _finish(settings, resume=True)
    _same_run(tmp_path / "run", straight)
    assert not (tmp_path / "run" / ".training.lock").exists()


def test_a_run_killed_while_writing_a_checkpoint_leaves_a_loadable_last_pt(data, straight, tmp_path) -> None:
    settings = _settings(tmp_path / "run", data)
    proc = _child(settings, "4")       # last.pt writes: step 0, 3, 6, then dies writing step 9's
    proc.communicate(timeout=600)
    assert proc.returncode == -signal.SIGKILL
    run = tmp_path / "run"
    half_written = list(run.glob(".last.pt.*.tmp"))
    assert len(half_written) == 1
    with pytest.raises(Exception):                                # the torn file is not a checkpoint
        torch.load(half_written[0], weights_only=True)
    assert load_training_checkpoint(run / "last.pt")["step"] == 6
    _finish(settings, resume=True)
    assert not list(run.glob(".*.tmp"))                           # the resumed run removed it
    _same_run(run, straight)
