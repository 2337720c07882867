"""Recurrent models as RTNeural JSON, the model file of the real-time C++ inference library
RTNeural (and the plugins built on it).

RTNeural reads the JSON its Python helper writes from a Keras model: ``in_shape`` and a list of
``layers``, each with ``type`` (``lstm``, ``gru``, ``dense``), ``activation``, ``shape`` and
``weights`` in Keras's layout. :func:`rtneural_model` converts a plain recurrent springstudy
model (LSTM or GRU, any number of layers, no convolutional front end, no FiLM or knobs) to it:

- LSTM: kernel ``(inputs, 4H)``, recurrent kernel ``(H, 4H)``, bias ``(4H)``; torch's and
  Keras's gate orders agree (input, forget, cell, output), and torch's two biases add up.
- GRU: kernel ``(inputs, 3H)``, recurrent kernel ``(H, 3H)``, bias ``(2, 3H)`` (input and
  recurrent: Keras's ``reset_after``, which is torch's GRU); torch orders the gates (reset,
  update, new), Keras (update, reset, new), so the first two blocks swap.
- The readout: a ``dense`` layer ``(H, 1)``.
- The linear skip from the input, which a sequential RTNeural model cannot hold, is written
  under the extra key ``springstudy.skip`` (``weight``, ``bias``): the host adds
  ``weight · x + bias`` to the network's output (RTNeural ignores keys it does not read).

The conversion is checked against Keras's own LSTM and GRU layers (``tests/test_export.py``):
Keras, run on its torch backend, loads the file's weights and must give the model's output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from springstudy.errors import SpringStudyError

#: Model families this format holds: a plain recurrent network with a linear readout.
SUPPORTED = "plain LSTM or GRU models (no convolutional front end, no FiLM, no knob input)"


class RTNeuralError(SpringStudyError, ValueError):
    """The model cannot be written as RTNeural JSON."""


def _array(t: Any) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def _gru_order(w: np.ndarray, hidden: int) -> np.ndarray:
    """torch's (reset, update, new) blocks along axis 0 as Keras's (update, reset, new)."""
    return np.concatenate([w[hidden:2 * hidden], w[:hidden], w[2 * hidden:]], axis=0)


def supports(model: Any) -> bool:
    """Whether ``model`` is one this format holds (:data:`SUPPORTED`)."""
    from springstudy.models.recurrent import RecurrentNet

    return isinstance(model, RecurrentNet) and model.features is None and model.film is None


def rtneural_model(model: Any, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The RTNeural JSON (as a dict) of a plain recurrent springstudy model; ``metadata`` (what
    :func:`springstudy.export.export_metadata` says of it) goes under ``springstudy``."""
    if not supports(model):
        raise RTNeuralError(f"{getattr(model, 'config_name', type(model).__name__)}: RTNeural JSON holds {SUPPORTED}")
    rnn, hidden = model.rnn, model.hidden_size
    layers = []
    for k in range(model.num_layers):
        w_ih, w_hh = _array(getattr(rnn, f"weight_ih_l{k}")), _array(getattr(rnn, f"weight_hh_l{k}"))
        b_ih, b_hh = _array(getattr(rnn, f"bias_ih_l{k}")), _array(getattr(rnn, f"bias_hh_l{k}"))
        if model.cell == "lstm":
            weights = [w_ih.T.tolist(), w_hh.T.tolist(), (b_ih + b_hh).tolist()]
        else:
            weights = [_gru_order(w_ih, hidden).T.tolist(), _gru_order(w_hh, hidden).T.tolist(),
                       [_gru_order(b_ih, hidden).tolist(), _gru_order(b_hh, hidden).tolist()]]
        layers.append({"type": model.cell, "activation": "tanh", "shape": [None, None, hidden], "weights": weights})
    layers.append({"type": "dense", "activation": "", "shape": [None, None, 1],
                   "weights": [_array(model.lin.weight).T.tolist(), _array(model.lin.bias).tolist()]})
    extra = dict(metadata or {})
    extra["skip"] = (None if model.res is None else
                     {"weight": float(model.res.weight.item()), "bias": float(model.res.bias.item()),
                      "use": "output = network(x) + weight * x + bias"})
    return {"in_shape": [None, None, 1], "layers": layers, "springstudy": extra}


def export_rtneural(model: Any, path: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write :func:`rtneural_model` of ``model`` (with ``metadata``) to ``path`` (JSON)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rtneural_model(model, metadata)) + "\n")
    return path


def keras_reference(path: str | Path, x: np.ndarray) -> np.ndarray:
    """The output for ``x`` (samples, float) of the RTNeural JSON at ``path`` as Keras computes it:
    Keras's own LSTM/GRU/Dense layers (torch backend) loaded with the file's weights, plus the
    file's skip term. An independent check of the layout RTNeural reads."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    spec = json.loads(Path(path).read_text())
    layers: list[Any] = [keras.Input((None, 1))]
    for layer in spec["layers"]:
        units = layer["shape"][-1]
        if layer["type"] == "lstm":
            layers.append(keras.layers.LSTM(units, return_sequences=True))
        elif layer["type"] == "gru":
            layers.append(keras.layers.GRU(units, return_sequences=True, reset_after=True))
        elif layer["type"] == "dense":
            layers.append(keras.layers.Dense(units))
        else:
            raise RTNeuralError(f"{path}: layer type {layer['type']!r} is not one this module writes")
    net = keras.Sequential(layers)
    for built, layer in zip(net.layers, spec["layers"]):
        built.set_weights([np.asarray(w, dtype=np.float32) for w in layer["weights"]])
    y = np.asarray(keras.ops.convert_to_numpy(net(np.asarray(x, dtype=np.float32)[None, :, None])))[0, :, 0]
    skip = spec.get("springstudy", {}).get("skip")
    return y + (skip["weight"] * np.asarray(x) + skip["bias"] if skip else 0.0)


__all__ = ["RTNeuralError", "SUPPORTED", "export_rtneural", "keras_reference", "rtneural_model", "supports"]
