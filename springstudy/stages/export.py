"""The ``export`` stage: every trained model (each run's ``best.pt``) exported to TorchScript and
ONNX, and the plain recurrent models to RTNeural's JSON too, each file loaded back and checked
against the model (notebook ``12_export``).

:func:`run` writes ``<out_dir>/<dataset>/<model>.pt``, ``.onnx`` and ``.json`` and a table of
what it wrote: per file its size, the largest difference between the loaded file's output and
the model's on 1 s of seeded noise (torch.jit.load for TorchScript, onnxruntime for ONNX, Keras's
own LSTM/GRU layers for the RTNeural JSON), and which hosts load it (:data:`HOSTS`). A file whose
output differs by more than :data:`TOLERANCE` fails the stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from springstudy.errors import SpringStudyError
from springstudy.outputs import write_bytes_atomic, write_csv_atomic
from springstudy.tables import markdown_table

#: Where each format's file can be loaded.
HOSTS = {"rtneural": "RTNeural (C++ real-time inference: RTNeural::json_parser::parseJson) and plugins built on "
                     "it; the host adds the skip term the file lists",
         "torchscript": "LibTorch (C++: torch::jit::load), PyTorch (torch.jit.load); JUCE plugins built on LibTorch",
         "onnx": "ONNX Runtime (C, C++, C#, Python; plugins built on it), onnx2c and other ONNX compilers"}
#: Largest difference allowed between an exported file's output and the model's (float32).
TOLERANCE = 1e-4
#: Length (s) of the seeded noise each exported file is checked on.
CHECK_SECONDS = 1.0


class ExportError(SpringStudyError):
    """An exported file does not reproduce its model, or a run has no checkpoint."""


@dataclass
class ExportStage:
    """What :func:`run` exported and measured."""

    table: pd.DataFrame
    written: list[Path] = field(default_factory=list)


def check_export(model: Any, path: Path, format: str, sample_rate: int, seed: int = 0) -> float:
    """Largest |difference| between the file at ``path`` loaded back and ``model`` (eval mode)
    on ``CHECK_SECONDS`` of seeded noise at ``sample_rate`` (batch 1; knob models at the middle
    of their knob ranges, 0.5 each)."""
    import torch

    from springstudy.export import _second_input

    rng = np.random.default_rng(seed)
    x = torch.tensor(0.1 * rng.standard_normal((1, 1, int(CHECK_SECONDS * sample_rate))), dtype=torch.float32)
    name, width = _second_input(model)
    cond = torch.full((1, width), 0.5) if width else None
    with torch.no_grad():
        expected = (model.eval()(x, cond) if cond is not None else model.eval()(x)).numpy()
    if format == "torchscript":
        loaded = torch.jit.load(str(path))
        with torch.no_grad():
            got = (loaded(x, cond) if cond is not None else loaded(x)).numpy()
    elif format == "rtneural":
        from springstudy.rtneural import keras_reference

        got = keras_reference(path, x[0, 0].numpy().astype(np.float64))[None, None]
    else:
        import onnxruntime as ort

        feeds = {"input": x.numpy()}
        if cond is not None:
            feeds[name] = cond.numpy()
        (got,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)
    return float(np.max(np.abs(got - expected)))


def formats_for(model: Any, formats: tuple[str, ...]) -> list[str]:
    """The ``formats`` that hold ``model`` (RTNeural JSON: plain recurrent models only)."""
    from springstudy.rtneural import supports

    return [f for f in formats if f != "rtneural" or supports(model)]


def run(runs: dict[str, dict[str, Path]], out_dir: Path, table_dir: Path, sample_rates: dict[str, int],
        formats: tuple[str, ...] = ("torchscript", "onnx", "rtneural"), seed: int = 0) -> ExportStage:
    """Export ``runs[dataset][model]`` (run folders holding ``best.pt``) to ``formats`` under
    ``out_dir/<dataset>/``, check each file, write ``export.csv`` and ``export.md`` under
    ``table_dir``; raise :class:`ExportError` if a file does not reproduce its model."""
    from springstudy.export import export_model
    from springstudy.models import load_checkpoint

    rows, written, failures = [], [], []
    for dataset, by_model in runs.items():
        for model_name, folder in by_model.items():
            checkpoint = Path(folder) / "best.pt"
            if not checkpoint.is_file():
                raise ExportError(f"{checkpoint}: missing; train the run first (stage train@{model_name})")
            model = load_checkpoint(checkpoint).eval()
            for format in formats_for(model, formats):
                suffix = {"torchscript": ".pt", "onnx": ".onnx", "rtneural": ".json"}[format]
                path = export_model(model, Path(out_dir) / dataset / f"{model_name}{suffix}", format)
                error = check_export(model, path, format, sample_rates[dataset], seed)
                written.append(path)
                rows.append({"dataset": dataset, "model": model_name, "format": format,
                             "file": path.as_posix(), "size_kb": path.stat().st_size / 1024,
                             "max_abs_diff": error, "hosts": HOSTS[format]})
                if not error <= TOLERANCE:
                    failures.append(f"{path}: output differs from the model's by {error:.3g} (> {TOLERANCE:g})")
    table = pd.DataFrame(rows, columns=["dataset", "model", "format", "file", "size_kb", "max_abs_diff", "hosts"])
    table_dir = Path(table_dir)
    written.append(write_csv_atomic(table_dir / "export.csv", table))
    md = markdown_table(table, {"dataset": "Dataset", "model": "Model", "format": "Format", "file": "File",
                                "size_kb": "Size (KiB)", "max_abs_diff": "Max |file − model|"})
    hosts = "\n".join(f"- **{f}**: {h}" for f, h in HOSTS.items() if f in formats)
    write_bytes_atomic(table_dir / "export.md",
                       (f"{md}\n\nEach file loaded back and run on {CHECK_SECONDS:g} s of seeded noise against the "
                        f"model (knob models at the middle of their ranges). Who loads what:\n\n{hosts}\n").encode())
    written.append(table_dir / "export.md")
    if failures:
        raise ExportError("exported files that do not reproduce their models:\n" + "\n".join(failures))
    return ExportStage(table, written)


__all__ = ["CHECK_SECONDS", "ExportError", "ExportStage", "HOSTS", "TOLERANCE", "check_export", "formats_for", "run"]
