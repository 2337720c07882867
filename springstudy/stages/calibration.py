"""The ``calibration`` stage: is the default tank like the real Accutronics 4EB2C1B?

:func:`run` measures a SpringSet-format dataset by the same protocols the real device's notes
were measured by (leave-one-out and full-split Linear IR ESR, spectral centroids, decay, levels;
:func:`springstudy.data.calibration.calibrate`), writes the table beside the real device's
numbers and its DVC metrics, and draws the spectra and decay (with the tank's true IR where the
dataset has one). Notebook ``08_calibration`` shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soundfile as sf

from springstudy.data import calibration as cal
from springstudy.outputs import save_figure


@dataclass
class CalibrationStage:
    """What :func:`run` measured and wrote."""

    result: Any
    table_markdown: Path
    figure: Path
    written: list[Path] = field(default_factory=list)


def run(data_dir: Path, *, draws: int, seed: int, tables_dir: Path, metrics_dir: Path,
        figures_dir: Path) -> CalibrationStage:
    """Calibrate the dataset at ``data_dir`` against the real device (see the module doc)."""
    result = cal.calibrate(data_dir, draws=draws, seed=seed)
    paths = cal.write_calibration(result, tables_dir, metrics_dir)
    ir_path = Path(data_dir) / "tank_ir.wav"
    true_ir = sf.read(ir_path)[0] if ir_path.is_file() else None
    figure = save_figure(cal.plot_calibration(result, true_ir), figures_dir / "calibration.png", close=True)
    return CalibrationStage(result, paths[1], figure, [*paths, figure])


__all__ = ["CalibrationStage", "run"]
