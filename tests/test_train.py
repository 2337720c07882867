"""The trainer: exact resume, learning, clear failure on NaN, checkpoints, DDP with gloo, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from springstudy.cli.main import main
from springstudy.data.synth import synthesize
from springstudy.data.tank import TankParams
from springstudy.data.tensors import SplitTensors
from springstudy.metrics import ThesisLoss
from springstudy.train import (ENERGY_FLOOR, TrainConfig, TrainingError, crop_batch, crop_offsets,
                               load_training_checkpoint, train)

FS = 16_000
#: A small GCN (2 gated layers of 8 channels) keeps each step to milliseconds on the CPU.
SMALL = {"num_layers": 2, "channels": 8, "kernel_size": 9}


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize("springset", "smoke", tmp_path_factory.mktemp("data") / "springset", seed=3,
                      tank=TankParams(rt60=0.8), progress=False)


@pytest.fixture(scope="module")
def tensors() -> dict[str, SplitTensors]:
    """Dry notes and tank outputs in memory: 0.25 s items, 8 train and 2 validation."""
    from springstudy.data.notes import random_notes, render_note
    from springstudy.data.tank import SpringTank

    tank = SpringTank(TankParams(sample_rate=FS, rt60=0.5))
    specs = random_notes(10, seed=1)
    dry = np.stack([render_note(s, FS, FS // 4) for s in specs])
    wet = tank.process(dry)
    d, w = torch.tensor(dry, dtype=torch.float32)[:, None], torch.tensor(wet, dtype=torch.float32)[:, None]
    ids = [f"item{i}" for i in range(10)]
    return {"train": SplitTensors(d[:8], w[:8], ids[:8]), "validation": SplitTensors(d[8:], w[8:], ids[8:])}


def _config(out: Path, **kwargs: object) -> TrainConfig:
    values = dict(model="GCN-250", out=str(out), max_steps=12, batch_size=4, crop_seconds=0.1, val_every=4,
                  model_overrides=SMALL, tensorboard=False, seed=11, threads=1)
    values.update(kwargs)
    return TrainConfig(**values)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_training_checkpoint(path)["model_state"]


def test_interrupted_and_resumed_run_ends_with_the_same_weights(tmp_path: Path, tensors: dict) -> None:
    straight = train(_config(tmp_path / "straight"), splits=tensors, sample_rate=FS, progress=False)

    def interrupt(step: int, loss: float) -> None:
        if step == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(_config(tmp_path / "resumed"), splits=tensors, sample_rate=FS, progress=False, on_step=interrupt)
    assert load_training_checkpoint(tmp_path / "resumed" / "last.pt")["step"] == 4
    resumed = train(_config(tmp_path / "resumed"), resume=True, splits=tensors, sample_rate=FS, progress=False)
    assert resumed.summary["steps"] == straight.summary["steps"] == 12
    a, b = _weights(tmp_path / "straight" / "last.pt"), _weights(tmp_path / "resumed" / "last.pt")
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in straight.history]


def test_finished_run_resumed_with_more_steps_equals_a_longer_run(tmp_path: Path, tensors: dict) -> None:
    train(_config(tmp_path / "short", max_steps=4), splits=tensors, sample_rate=FS, progress=False)
    longer = train(_config(tmp_path / "short", max_steps=8), resume=True, splits=tensors, sample_rate=FS,
                   progress=False)
    straight = train(_config(tmp_path / "long", max_steps=8), splits=tensors, sample_rate=FS, progress=False)
    assert longer.summary["steps"] == 8
    a, b = _weights(tmp_path / "short" / "last.pt"), _weights(tmp_path / "long" / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_run_other_seed_other_run(tmp_path: Path, tensors: dict) -> None:
    one = train(_config(tmp_path / "a", max_steps=4), splits=tensors, sample_rate=FS, progress=False)
    two = train(_config(tmp_path / "b", max_steps=4), splits=tensors, sample_rate=FS, progress=False)
    three = train(_config(tmp_path / "c", max_steps=4, seed=12), splits=tensors, sample_rate=FS, progress=False)
    clocks = ("train_seconds", "cpu_seconds")                 # timings differ run to run
    same = [[{k: v for k, v in h.items() if k not in clocks} for h in run.history] for run in (one, two, three)]
    assert same[0] == same[1]
    assert same[0] != same[2]


def test_training_beats_the_dry_input_prediction(tmp_path: Path, tensors: dict) -> None:
    # The full-length GCN-250 dilations (receptive field 10,361 samples, longer than the tank's
    # 0.5 s reverb) at 8 channels: a few hundred crops are enough to halve the dry-input loss.
    config = _config(tmp_path / "learn", max_steps=150, val_every=50, crop_seconds=0.2,
                     model_overrides={"channels": 8})
    result = train(config, splits=tensors, sample_rate=FS, progress=False)
    loss = ThesisLoss(config.alpha)
    val = tensors["validation"]
    naive = float(np.mean([float(loss(val.dry[i:i + 1], val.wet[i:i + 1])) for i in range(len(val.ids))]))
    assert result.summary["best_val_loss"] < 0.6 * naive, (result.summary["best_val_loss"], naive)
    losses = [h["val_loss"] for h in result.history]
    assert losses[-1] < losses[0]


def test_nan_in_batch_stops_with_clear_error_and_keeps_last_checkpoint(tmp_path: Path, tensors: dict) -> None:
    poisoned = {k: SplitTensors(v.dry.clone(), v.wet.clone(), v.ids) for k, v in tensors.items()}
    poisoned["train"].wet[:, :, ::100] = float("nan")     # every crop holds some
    out = tmp_path / "nan"
    with pytest.raises(TrainingError, match=r"non-finite training loss .* at step 1 .*last\.pt keeps step 0"):
        train(_config(out), splits=poisoned, sample_rate=FS, progress=False)
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert ckpt["step"] == 0 and ckpt["model_name"] == "GCN-250"


def test_checkpoint_contents_load_weights_only(tmp_path: Path, tensors: dict) -> None:
    train(_config(tmp_path / "ck", max_steps=4), splits=tensors, sample_rate=FS, progress=False)
    for name in ("best.pt", "last.pt"):
        ckpt = torch.load(tmp_path / "ck" / name, map_location="cpu", weights_only=True)
        for key in ("model_name", "model_overrides", "model_state", "optimizer_state", "scheduler_state", "step",
                    "epoch", "rng", "config", "git_commit", "versions", "sample_rate"):
            assert key in ckpt, key
        assert ckpt["versions"]["torch"].startswith("2.11")
        assert ckpt["config"]["model"] == "GCN-250"
    summary = json.loads((tmp_path / "ck" / "summary.json").read_text())
    assert summary["train_samples_per_second"] > 0 and summary["params"] > 0
    with pytest.raises(TrainingError, match="not found"):
        load_training_checkpoint(tmp_path / "nothing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingError, match="junk.pt: not a readable checkpoint"):
        load_training_checkpoint(tmp_path / "junk.pt")


def test_early_stopping_and_tensorboard(tmp_path: Path, tensors: dict) -> None:
    # lr 0: validation never improves after the first check, so patience 2 stops at the 3rd.
    result = train(_config(tmp_path / "es", lr=0.0, max_steps=100, val_every=2, patience=2, tensorboard=True),
                   splits=tensors, sample_rate=FS, progress=False)
    assert result.summary["stopped"] == "early_stopping"
    assert result.summary["steps"] == 6
    events = list((tmp_path / "es" / "tensorboard").glob("events.out.tfevents.*"))
    assert events
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(events[0]), size_guidance={"audio": 0, "images": 0})
    acc.Reload()
    assert {"loss/train", "loss/validation", "lr"} <= set(acc.Tags()["scalars"])
    assert any(t.endswith("/target") for t in acc.Tags()["audio"])
    assert any("spectrograms" in t for t in acc.Tags()["images"])


def test_train_from_dataset_folder_through_the_cli(tmp_path: Path, smoke_data: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["train", "--model", "LSTM-cs-32", "--data", str(smoke_data), "--out", str(out), "--max-steps", "2",
                 "--batch-size", "2", "--crop-seconds", "0.08", "--no-tensorboard", "--threads", "1"]) == 0
    assert "LSTM-cs-32: 2 steps" in capsys.readouterr().out
    split = json.loads((out / "split.json").read_text())
    assert sum(split["counts"].values()) == 12
    assert main(["train", "--model", "GCN-250", "--data", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "missing" in capsys.readouterr().err
    assert main(["train", "--model", "GCN-250", "--data", str(smoke_data), "--out", str(out),
                 "--crop-seconds", "0.01"]) == 2
    assert "already holds a run (last.pt at step 2)" in capsys.readouterr().err     # never overwritten silently
    assert main(["train", "--model", "GCN-250", "--data", str(smoke_data), "--out", str(out),
                 "--crop-seconds", "0.01", "--overwrite"]) == 2
    assert "too short for the MR-STFT loss" in capsys.readouterr().err


def test_distributed_gloo_two_processes_match_one(tmp_path: Path, smoke_data: Path) -> None:
    # alpha = 1 (pure MAE): a mean over items, so two equal shards average to the global batch's
    # gradient exactly (MR-STFT's spectral convergence is a ratio over the whole batch).
    params = tmp_path / "params.yaml"
    params.write_text("profile: smoke\nseed: 4\ntrain:\n  alpha: 1.0\n  val_every: 3\n")
    common = ["--model", "GCN-250", "--data", str(smoke_data), "--max-steps", "3", "--batch-size", "4",
              "--crop-seconds", "0.08", "--no-tensorboard", "--threads", "1", "--params", str(params)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "springstudy.cli", "train", *common, "--out", str(tmp_path / "ddp")],
                         capture_output=True, text=True, timeout=240, env=env)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert main(["train", *common, "--out", str(tmp_path / "single")]) == 0
    a, b = _weights(tmp_path / "ddp" / "last.pt"), _weights(tmp_path / "single" / "last.pt")
    # The same global batch, gradients averaged over two shards: equal up to float rounding.
    for name in a:
        assert torch.allclose(a[name], b[name], rtol=1e-4, atol=1e-6), name


def test_crop_context_is_the_input_history_before_the_crop(tensors: dict) -> None:
    """With context, the dry crop is the `context` samples before the wet crop (zeros before the
    item's start) followed by the same samples as the plain crop; offsets do not move."""
    split = tensors["train"]
    items = np.arange(8)
    length, context = 600, 1500
    plain_dry, plain_wet = crop_batch(split, items, length, seed=5, epoch=2)
    dry, wet = crop_batch(split, items, length, seed=5, epoch=2, context=context)
    torch.testing.assert_close(wet, plain_wet)
    torch.testing.assert_close(dry[..., context:], plain_dry)
    n = split.dry.shape[-1]
    padded = torch.nn.functional.pad(split.dry, (context, 0))
    for row, i in enumerate(items):
        start = int(np.random.default_rng([5, 2, int(i)]).integers(0, n - length + 1))
        torch.testing.assert_close(dry[row], padded[i, :, start:start + context + length])
    assert any(int(np.random.default_rng([5, 2, int(i)]).integers(0, n - length + 1)) < context for i in items), \
        "no crop near an item's start: the zero history is untested"


def test_a_causal_model_sees_on_a_context_crop_what_it_sees_on_the_whole_item(tensors: dict) -> None:
    """The point of the context: for a causal model whose receptive field fits in it, the output
    over the crop equals the output of the whole item at the same place, so the loss compares
    the target with what the model will produce at evaluation."""
    from springstudy.models import build

    model = build("GCN-250", seed=2, **SMALL).eval()
    rf = int(model.receptive_field)
    split = tensors["train"]
    length = 500
    dry, _ = crop_batch(split, np.arange(4), length, seed=1, epoch=0, context=rf - 1)
    n = split.dry.shape[-1]
    with torch.no_grad():
        whole = model(split.dry[:4])
        cropped = model(dry)[..., rf - 1:]
    for row in range(4):
        start = int(np.random.default_rng([1, 0, row]).integers(0, n - length + 1))
        torch.testing.assert_close(cropped[row], whole[row, :, start:start + length], atol=1e-5, rtol=1e-4)


def test_training_with_context_and_esr_loss_runs_and_rejects_negative_context(tmp_path: Path, tensors: dict) -> None:
    result = train(_config(tmp_path / "ctx", crop_context_seconds=0.05, time_term="esr", alpha=0.9, max_steps=4),
                   splits=tensors, sample_rate=FS, progress=False)
    assert result.summary["steps"] == 4 and np.isfinite(result.summary["best_val_loss"])
    with pytest.raises(TrainingError, match="crop_context_seconds"):
        train(_config(tmp_path / "neg", crop_context_seconds=-0.1), splits=tensors, sample_rate=FS, progress=False)


def test_config_from_params_applies_a_runs_own_entry_and_profile() -> None:
    """profile < format entry < the run's keys < the run's own profile entry < explicit overrides."""
    from springstudy.train import config_from_params

    params = {"seed": 7, "train": {
        "lr": 0.005, "max_steps": None, "crop_seconds": None,
        "formats": {"springset": {"batch_size": 16}},
        "profiles": {"quick": {"max_steps": 40, "formats": {"springset": {"batch_size": 2}}}},
        "runs": {"A": {"model": "GCN-250", "format": "springset", "lr": 0.001,
                       "profiles": {"quick": {"crop_seconds": 0.5}}}}}}
    quick = config_from_params("GCN-250", "o", None, params, "quick", format="springset", run="A")
    assert (quick.lr, quick.max_steps, quick.batch_size, quick.crop_seconds, quick.seed) == (0.001, 40, 2, 0.5, 7)
    paper = config_from_params("GCN-250", "o", None, params, "paper", format="springset", run="A", lr=0.01)
    assert (paper.lr, paper.max_steps, paper.batch_size, paper.crop_seconds) == (0.01, None, 16, None)
    with pytest.raises(TrainingError, match="has no run 'B'"):
        config_from_params("GCN-250", "o", None, params, "quick", format="springset", run="B")
    with pytest.raises(TrainingError, match="is GCN-250 on springset, not LSTM-96"):
        config_from_params("LSTM-96", "o", None, params, "quick", format="springset", run="A")


def test_history_records_cpu_time_and_validation_esr(tmp_path: Path, tensors: dict) -> None:
    """Learning curves: every validation row has the training CPU and wall seconds so far
    (non-decreasing) and the validation ESR, which equals the ESR of the best checkpoint
    recomputed independently on the same items."""
    from springstudy.metrics import esr
    from springstudy.models import load_checkpoint

    result = train(_config(tmp_path / "curve", time_term="esr", alpha=1.0, max_steps=8, val_every=4),
                   splits=tensors, sample_rate=FS, progress=False)
    rows = result.history
    assert [r["step"] for r in rows] == [4, 8]
    assert all(r["cpu_seconds"] > 0 and r["train_seconds"] > 0 for r in rows)
    assert rows[1]["cpu_seconds"] >= rows[0]["cpu_seconds"]
    best = min(rows, key=lambda r: r["val_loss"])
    model = load_checkpoint(tmp_path / "curve" / "best.pt").eval()
    val = tensors["validation"]
    with torch.no_grad():
        expected = float(np.mean([float(esr(model(val.dry[i:i + 1]), val.wet[i:i + 1])[0]) for i in range(len(val.ids))]))
    assert best["val_esr"] == pytest.approx(expected, rel=1e-5)
    assert best["val_esr"] == pytest.approx(best["val_loss"], rel=1e-5)    # time_term esr, alpha 1: the loss is the ESR


def test_cpu_time_budget_stops_a_run_and_whitened_loss_trains(tmp_path: Path, tensors: dict) -> None:
    result = train(_config(tmp_path / "budget", max_steps=1000, max_cpu_seconds=0.5, val_every=50,
                           time_term="esr_white", alpha=1.0, whiten_order=8),
                   splits=tensors, sample_rate=FS, progress=False)
    summary = result.summary
    assert summary["stopped"] == "max_cpu_seconds" and 0 < summary["steps"] < 1000
    assert summary["train_cpu_seconds"] >= 0.5
    assert result.history[-1]["step"] == summary["steps"] and np.isfinite(result.history[-1]["val_loss"])


def test_recipe_label_names_loss_rate_batch_and_length() -> None:
    from springstudy.train import recipe_label

    thesis = TrainConfig(model="GCN-250", out="x")
    assert recipe_label(thesis) == "eq. 3.1 (0.5·MAE + 0.5·MR-STFT), Adam lr 0.005, batch 16 × 1 s crops, ≤1000 epochs"
    quick = TrainConfig(model="GCN-250", out="x", time_term="esr", alpha=1.0, lr=0.003, batch_size=2,
                        crop_seconds=None, max_steps=80)
    assert recipe_label(quick) == "ESR, Adam lr 0.003, batch 2 × whole items, 80 steps"
    modal = TrainConfig(model="LSTM-96", out="x", time_term="esr", alpha=1.0, lr=3e-6, batch_size=2,
                        crop_seconds=0.5, max_steps=20, recurrent_init="modal")
    assert recipe_label(modal) == ("modal start with a least-squares readout, then ESR, Adam lr 3e-06, "
                                   "batch 2 × 0.5 s crops, 20 steps")


def test_energy_crop_offsets_follow_the_window_energy() -> None:
    # One item, silent but for a burst of known energy at [1000, 1100): a 200-sample window's
    # energy is the burst's overlap with it, in closed form.
    wet = torch.zeros(1, 3000, dtype=torch.float64)
    wet[0, 1000:1100] = 0.5
    length = 200
    p = crop_offsets(wet, length, "energy")
    offsets = np.arange(3000 - length + 1)
    overlap = np.clip(np.minimum(offsets + length, 1100) - np.maximum(offsets, 1000), 0, None)
    expected = (1 - ENERGY_FLOOR) * overlap / overlap.sum() + ENERGY_FLOOR / offsets.size
    np.testing.assert_allclose(p, expected, rtol=1e-12, atol=1e-15)
    assert crop_offsets(wet, length, "uniform") is None
    np.testing.assert_allclose(crop_offsets(torch.zeros(1, 500), 100, "energy"), np.full(401, 1 / 401))
    with pytest.raises(TrainingError, match="uniform or energy"):
        crop_offsets(wet, length, "loud")


def test_energy_crops_land_on_the_note_and_stay_seeded() -> None:
    n, length = 4000, 400
    wet = torch.zeros(16, 1, n)
    wet[:, :, 500:900] = torch.randn(16, 1, 400, generator=torch.Generator().manual_seed(0))
    dry = torch.arange(n, dtype=torch.float32).expand(16, 1, n).clone()  # the dry crop tells its offset
    split = SplitTensors(dry=dry, wet=wet, ids=[str(i) for i in range(16)])
    hits = {}
    for sampling in ("uniform", "energy"):
        starts = np.concatenate([crop_batch(split, np.arange(16), length, seed=3, epoch=e, sampling=sampling)[0][:, 0, 0]
                                 .numpy() for e in range(20)])
        hits[sampling] = np.mean((starts < 900) & (starts + length > 500))
    # uniform: P(overlap) = 799/3601 ~ 0.22; energy: >= 1 - ENERGY_FLOOR
    assert hits["uniform"] < 0.35 and hits["energy"] > 1 - ENERGY_FLOOR - 0.05
    a = crop_batch(split, np.arange(16), length, seed=3, epoch=1, sampling="energy")
    b = crop_batch(split, np.arange(16), length, seed=3, epoch=1, sampling="energy")
    torch.testing.assert_close(a, b)
