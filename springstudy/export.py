"""Export a springstudy model for real-time use: TorchScript or ONNX.

``export_model(model, path, format)`` writes a file that maps (B, 1, T) -> (B, 1, T) for any
B and T (and takes a second input: the knob values ``knobs`` (B, 4) of a knob-conditioned model,
or the conditioning vector ``cond`` (B, cond_dim) of one built with ``cond_dim > 0``), like
neural-amp-modeler's models export themselves.

- TorchScript: ``torch.jit.script`` of the model (no tracing, so no shape is baked in). The
  named configuration and receptive field go in the extra file ``springstudy.json``.
- ONNX: the TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``, opset 17),
  with dynamic batch and time axes. The torch.export-based default exporter of torch 2.11 did
  not finish within minutes for the recurrent models and for GCN-2500 on our machines, while
  this one exports every family (LSTM/GRU become ONNX LSTM/GRU ops). It needs the ``onnx``
  package; onnxruntime reproduces the PyTorch output (tests/test_export.py). The same metadata
  as above is stored in the ONNX model's ``metadata_props``.

``springstudy export --model NAME [--checkpoint PATH] --format torchscript|onnx --out FILE`` is
the command line (``springstudy.cli.export``). Torch is imported inside the functions so that
``springstudy --help`` stays fast.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

#: Formats ``export_model`` writes (``rtneural``: plain LSTM/GRU models only, :mod:`springstudy.rtneural`).
FORMATS = ("torchscript", "onnx", "rtneural")
#: ONNX operator set: LSTM/GRU and Conv with dilation are stable there.
ONNX_OPSET = 17
#: Length of the example signal the ONNX exporter runs (the time axis stays dynamic).
EXAMPLE_LENGTH = 64


def _second_input(model: nn.Module) -> tuple[str, int]:
    """The name and width of a model's second input: ``knobs`` (B, 4) for a knob-conditioned
    model, ``cond`` (B, cond_dim) for one built with FiLM conditioning, or ("", 0)."""
    from springstudy.models.conditioned import is_conditioned

    if is_conditioned(model):
        return "knobs", int(model.knob_count)
    return ("cond", int(getattr(model, "cond_dim", 0))) if getattr(model, "cond_dim", 0) else ("", 0)


def export_metadata(model: nn.Module) -> dict[str, object]:
    """What an exported file says about its model: name, overrides, size, receptive field, inputs."""
    from springstudy.data.knobs import KNOB_NAMES

    rf = getattr(model, "receptive_field", None)
    name, width = _second_input(model)
    metadata: dict[str, object] = {
        "model_name": getattr(model, "config_name", "") or type(model).__name__,
        "model_overrides": dict(getattr(model, "config_overrides", {})),
        "num_parameters": int(sum(p.numel() for p in model.parameters())),
        "receptive_field": rf if rf is None or rf != float("inf") else "inf",
        "cond_dim": int(getattr(model, "cond_dim", 0)),
        "input": "(batch, 1, time)" + (f", {name} (batch, {width})" if width else ""),
        "output": "(batch, 1, time)",
    }
    if name == "knobs":
        metadata["knobs"] = list(KNOB_NAMES)
        metadata["knob_scale"] = ("each knob in [0, 1] over the range of the training data (its tank.json); "
                                  "smooth a turn in the host (springstudy.streaming.KnobSmoother)")
    return metadata


def export_model(model: nn.Module, path: str | Path, format: str) -> Path:
    """Export a CPU, eval-mode copy of ``model`` (the caller's is not changed) to ``path``.

    ``format`` is ``"torchscript"``, ``"onnx"`` or ``"rtneural"`` (RTNeural's JSON, plain
    recurrent models only: :mod:`springstudy.rtneural`). Returns the path written.
    """
    import torch

    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {format!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = copy.deepcopy(model).cpu().eval()  # a portable file: CPU weights, inference mode
    metadata = export_metadata(model)
    if format == "rtneural":
        from springstudy.rtneural import export_rtneural

        return export_rtneural(model, path, metadata)
    if format == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is in maintenance
            scripted = torch.jit.script(model)
            torch.jit.save(scripted, str(path),
                           _extra_files={"springstudy.json": json.dumps(metadata)})
        return path
    return _export_onnx(model, path, metadata)


def _export_onnx(model: nn.Module, path: Path, metadata: dict[str, object]) -> Path:
    import torch

    try:
        import onnx
    except ImportError as err:  # pragma: no cover - onnx is a declared dependency
        raise RuntimeError("ONNX export needs the 'onnx' package (pip install onnx)") from err
    second, width = _second_input(model)
    example = [torch.zeros(1, 1, EXAMPLE_LENGTH)]
    names = ["input"]
    axes: dict[str, dict[int, str]] = {"input": {0: "batch", 2: "time"},
                                       "output": {0: "batch", 2: "time"}}
    if width > 0:
        example.append(torch.full((1, width), 0.5))
        names.append(second)
        axes[second] = {0: "batch"}
    if getattr(model, "per_item", False):
        # The HyperGRU runs each item with its own generated weights, a loop the tracing exporter
        # unrolls for the example's one item: its ONNX file takes batch 1 (any length).
        axes = {key: {k: v for k, v in value.items() if v != "batch"} for key, value in axes.items()}
        metadata = {**metadata, "batch": "1 (each item runs with its own generated weights)"}
    with warnings.catch_warnings():
        # The TorchScript-based exporter is deprecated in favour of dynamo; see the module doc.
        warnings.simplefilter("ignore", DeprecationWarning)
        # nn.LSTM/GRU check their input sizes in Python while traced: harmless here.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*batch_size other than 1.*")
        warnings.filterwarnings("ignore", message="Constant folding")
        torch.onnx.export(model, tuple(example), str(path), input_names=names,
                          output_names=["output"], dynamic_axes=axes,
                          opset_version=ONNX_OPSET, dynamo=False)
    proto = onnx.load(str(path))
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.save(proto, str(path))
    return path
