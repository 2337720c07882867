"""Export to TorchScript and ONNX, checkpoints, and the ``springstudy export`` subcommand.

Independent references: the eager PyTorch model's output (TorchScript reloaded with
``torch.jit.load``; ONNX run by onnxruntime), on a signal length and batch size different from
anything used during export.
"""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from springstudy.cli.export import add as register_export
from springstudy.export import export_model
from springstudy.models import build, list_models, load_checkpoint, save_checkpoint

pytestmark = [pytest.mark.usefixtures("one_thread"),   # see conftest.py
              pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")]

SMALL = {  # one small version per family, some conditioned through FiLM
    "TCN-4000": dict(channels=4, kernel_size=5),
    "WaveNet-10": dict(channels=4, cond_dim=2),
    "GCN-2500": dict(channels=4, num_layers=5),
    "LSTM-96": dict(hidden_size=8, num_layers=2, skip=True, cond_dim=2),
    "LSTM-cs-96": dict(hidden_size=8),
    "GRU-96": dict(hidden_size=8),
}


def inputs(model, batch: int = 2, length: int = 1234):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, length, generator=gen)
    cond = torch.randn(batch, model.cond_dim, generator=gen) if model.cond_dim else None
    return x, cond


def eager(model, x, cond):
    with torch.no_grad():
        return model.eval()(x, cond)


@pytest.mark.parametrize("name", list_models())
def test_torchscript_matches_eager(name, tmp_path):
    model = build(name, seed=3)
    path = export_model(model, tmp_path / f"{name}.pt", "torchscript")
    assert model.training  # the caller's model is left as it was
    extra = {"springstudy.json": ""}
    loaded = torch.jit.load(str(path), _extra_files=extra)
    meta = json.loads(extra["springstudy.json"])
    assert meta["model_name"] == name and meta["num_parameters"] == model.num_parameters
    x, cond = inputs(model, length=777)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, cond), eager(model, x, cond), atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", list(SMALL))
def test_torchscript_conditioned_small_models(name, tmp_path):
    model = build(name, seed=3, **SMALL[name])
    loaded = torch.jit.load(str(export_model(model, tmp_path / "m.pt", "torchscript")))
    x, cond = inputs(model)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, cond), eager(model, x, cond), atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", list(SMALL))
def test_onnx_runtime_matches_eager(name, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    model = build(name, seed=3, **SMALL[name])
    path = export_model(model, tmp_path / "m.onnx", "onnx")
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(path)).metadata_props}
    assert meta["model_name"] == model.config_name
    x, cond = inputs(model, batch=3, length=1500)  # exported with batch 1, length 64
    feeds = {"input": x.numpy()}
    if cond is not None:
        feeds["cond"] = cond.numpy()
    (out,) = ort.InferenceSession(str(path)).run(None, feeds)
    torch.testing.assert_close(torch.from_numpy(out), eager(model, x, cond), atol=1e-5, rtol=0)


def test_onnx_full_size_named_model(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    model = build("TCN-4000", seed=0)  # dilation 10,000, kernel 19
    path = export_model(model, tmp_path / "tcn.onnx", "onnx")
    x, cond = inputs(model, batch=1, length=3000)
    (out,) = ort.InferenceSession(str(path)).run(None, {"input": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(out), eager(model, x, cond), atol=1e-5, rtol=0)


def test_checkpoint_round_trip(tmp_path):
    model = build("LSTM-cs-32", seed=1, hidden_size=6)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1)  # differ from any fresh initialisation
    path = save_checkpoint(model, tmp_path / "ckpt.pt", epoch=3)
    loaded = load_checkpoint(path)
    assert loaded.config_name == "LSTM-cs-32" and not loaded.training
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)


def run_cli(argv):
    parser = argparse.ArgumentParser(prog="springstudy")
    register_export(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    args.func(args)


def test_cli_exports_a_checkpoint(tmp_path, capsys):
    model = build("GCN-250", seed=7, channels=3)
    with torch.no_grad():
        model.mix.bias.fill_(0.25)
    ckpt = save_checkpoint(model, tmp_path / "gcn.pt")
    out = tmp_path / "exported" / "gcn.ts"
    run_cli(["export", "--checkpoint", str(ckpt), "--format", "torchscript", "--out", str(out)])
    assert "GCN-250" in capsys.readouterr().out
    x, cond = inputs(model)
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.load(str(out))(x), eager(model, x, cond))


def test_cli_exports_an_untrained_model(tmp_path):
    out = tmp_path / "lstm.onnx"
    run_cli(["export", "--model", "lstm-96", "--format", "onnx", "--out", str(out), "--seed", "2"])
    assert out.stat().st_size > 100_000  # 38k float32 parameters


def test_cli_user_errors(tmp_path):
    from springstudy.errors import UserError

    out = str(tmp_path / "x.pt")
    with pytest.raises(UserError, match="--model"):
        run_cli(["export", "--format", "torchscript", "--out", out])
    with pytest.raises(UserError, match="unknown model"):
        run_cli(["export", "--model", "TCN-9", "--format", "torchscript", "--out", out])
    with pytest.raises(UserError, match="not found"):
        run_cli(["export", "--checkpoint", str(tmp_path / "none.pt"), "--format", "onnx",
                 "--out", out])
    ckpt = save_checkpoint(build("GRU-96", hidden_size=4), tmp_path / "gru.pt")
    with pytest.raises(UserError, match="holds GRU-96"):
        run_cli(["export", "--model", "LSTM-96", "--checkpoint", str(ckpt), "--format",
                 "torchscript", "--out", out])
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot load"):
        run_cli(["export", "--checkpoint", str(tmp_path / "junk.pt"), "--format",
                 "torchscript", "--out", out])
    with pytest.raises(SystemExit):  # argparse rejects an unknown format
        run_cli(["export", "--model", "GCN-250", "--format", "tflite", "--out", out])


KNOB_SMALL = {"GCN-250-FiLM": dict(channels=4, kernel_size=9), "GRU-32-knobs": dict(hidden_size=8),
              "HyperGRU-32": dict(hidden_size=8, hyper_hidden=16)}


def _knob_model(name):
    model = build(name, seed=3, **KNOB_SMALL[name]).eval()
    with torch.no_grad():                                   # away from the identity start: the knobs matter
        for key, p in model.named_parameters():
            if "encoder" in key or "film" in key or "hyper" in key:
                p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    return model


@pytest.mark.parametrize("name", list(KNOB_SMALL))
@pytest.mark.parametrize("format", ["torchscript", "onnx"])
def test_a_knob_model_exports_with_its_knobs_as_an_input(name, format, tmp_path):
    model = _knob_model(name)
    gen = torch.Generator().manual_seed(2)
    batch = 1 if format == "onnx" and name == "HyperGRU-32" else 2      # its ONNX file takes one item
    x, knobs = torch.randn(batch, 1, 900, generator=gen), torch.rand(batch, 4, generator=gen)
    path = export_model(model, tmp_path / f"m.{format}", format)
    if format == "torchscript":
        extra = {"springstudy.json": ""}
        loaded = torch.jit.load(str(path), _extra_files=extra)
        meta = json.loads(extra["springstudy.json"])
        with torch.no_grad():
            out = loaded(x, knobs)
    else:
        ort = pytest.importorskip("onnxruntime")
        onnx = pytest.importorskip("onnx")
        meta = {p.key: json.loads(p.value) for p in onnx.load(str(path)).metadata_props}
        (out,) = ort.InferenceSession(str(path)).run(None, {"input": x.numpy(), "knobs": knobs.numpy()})
        out = torch.from_numpy(out)
    assert meta["knobs"] == ["decay", "tone", "dwell", "mix"] and "knobs (batch, 4)" in meta["input"]
    with torch.no_grad():
        reference = model(x, knobs)
        assert not torch.allclose(reference, model(x, 1 - knobs))      # the knobs reach the output
    torch.testing.assert_close(out, reference, atol=1e-5, rtol=0)


# --- RTNeural JSON (plain recurrent models), checked against Keras's own layers ----------------

RECURRENT = {"LSTM-96": dict(hidden_size=8, num_layers=2, skip=True), "GRU-96": dict(hidden_size=8),
             "GRU-32": {}}


@pytest.mark.parametrize("name", list(RECURRENT))
def test_rtneural_json_gives_the_models_output_in_keras(name, tmp_path):
    """Keras (torch backend) loads the file's weights into its own LSTM/GRU and Dense layers, as
    RTNeural reads Keras's layout: the output equals the model's."""
    import numpy as np

    from springstudy.rtneural import keras_reference

    model = build(name, seed=3, **RECURRENT[name]).eval()
    path = export_model(model, tmp_path / "m.json", "rtneural")
    spec = json.loads(path.read_text())
    assert [layer["type"] for layer in spec["layers"]] == [model.cell] * model.num_layers + ["dense"]
    x = 0.3 * np.random.default_rng(1).standard_normal(900)
    with torch.no_grad():
        expected = model(torch.tensor(x, dtype=torch.float32)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(keras_reference(path, x), expected, atol=1e-5, rtol=0)
    assert (spec["springstudy"]["skip"] is not None) == (model.res is not None)


def test_rtneural_json_would_show_a_gate_order_mistake(tmp_path, monkeypatch):
    """The Keras check is not a mirror of the writer: torch's GRU gate order written as is (no
    reset/update swap) gives a different output."""
    import numpy as np

    import springstudy.rtneural as rt

    model = build("GRU-96", seed=3, hidden_size=8).eval()
    x = 0.3 * np.random.default_rng(1).standard_normal(400)
    with torch.no_grad():
        expected = model(torch.tensor(x, dtype=torch.float32)[None, None])[0, 0].numpy()
    monkeypatch.setattr(rt, "_gru_order", lambda w, hidden: w)
    wrong = rt.export_rtneural(model, tmp_path / "wrong.json")
    assert np.max(np.abs(rt.keras_reference(wrong, x) - expected)) > 1e-3


@pytest.mark.parametrize("name", ["GCN-250", "LSTM-cs-96", "WaveNet-10"])
def test_rtneural_refuses_what_it_cannot_hold(name, tmp_path):
    from springstudy.rtneural import RTNeuralError

    with pytest.raises(RTNeuralError, match="RTNeural JSON holds plain LSTM or GRU"):
        export_model(build(name, seed=0), tmp_path / "m.json", "rtneural")
