"""The acoustic comparison of the study (thesis §4.3, Figs 16-19): every system against the device.

A *system* is the device (the synthetic tank's true IR, or an IR estimated from a real
dataset's dry/wet pairs) or a model measured by sweep. :func:`analyse_ir` computes its energy
decay (Lundeby noise handling), the T20/T30/T60 estimates broadband and per octave band, and
its energy decay relief; :func:`rt60_table` lays the numbers out with each system's error
against the device, as ``reports/tables/rt60.csv`` holds them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from springstudy.acoustics.decay import (METHODS, OCTAVE_BANDS, DecayEstimate, EnergyDecay,
                                         energy_decay_curve, fit_decay, octave_band)
from springstudy.acoustics.relief import DecayRelief, energy_decay_relief

#: The system every other is compared against.
DEVICE = "device"

#: Columns of the RT60 table, in order.
RT60_COLUMNS = ("system", "band", "method", "rt60_s", "error_pct")
#: Columns of the RT60 table over several sample rates (the study's ``rt60.csv``): the rate
#: leads, and ``reference`` says what each row's device is (``true``, ``estimate`` or ``file``;
#: see :mod:`springstudy.acoustics.reference`).
RT60_RATE_COLUMNS = ("sample_rate", *RT60_COLUMNS, "reference")


@dataclass
class SystemAcoustics:
    """Everything measured of one system's impulse response.

    ``estimates[(band, method)]``: band ``"broadband"`` or an octave centre such as ``"1000"``;
    ``band_decays[band]``: the energy decay curve each band's estimates were fitted on.
    """

    name: str
    sample_rate: float
    ir: np.ndarray = field(repr=False)
    decay: EnergyDecay = field(repr=False)
    estimates: dict[tuple[str, str], DecayEstimate]
    band_decays: dict[str, EnergyDecay] = field(repr=False)
    relief: DecayRelief = field(repr=False)

    def rt60(self, band: str = "broadband", method: str = "t30") -> float:
        """The ``method`` estimate in ``band`` (s; NaN when refused)."""
        return self.estimates[(band, method)].rt60_s

    def summary(self) -> dict:
        """The estimates and the noise floor as a JSON-ready dict (NaN as None)."""
        from springstudy.outputs import json_safe

        noise = self.decay.noise
        return json_safe({
            "system": self.name,
            "sample_rate": self.sample_rate,
            "ir_samples": int(self.ir.size),
            "noise_floor": None if noise is None else {
                "crosspoint_s": noise.crosspoint / self.sample_rate, "noise_db": noise.noise_db,
                "dynamic_range_db": noise.dynamic_range_db, "converged": noise.converged,
                "note": noise.note},
            "estimates": [{"band": band, "method": method, "label": e.label, "fit_range_db": list(e.fit_range_db),
                           "rt60_s": e.rt60_s, "correlation": e.correlation, "reason": e.reason}
                          for (band, method), e in self.estimates.items()],
        })


def analyse_ir(name: str, ir: np.ndarray, sample_rate: float, methods: Sequence[str] = METHODS,
               bands: Sequence[float] = OCTAVE_BANDS, noise: str = "lundeby",
               relief_frame: float = 0.02, relief_hop: float = 0.01) -> SystemAcoustics:
    """Decay curves, T20/T30/T60 (broadband and per octave band) and the decay relief of ``ir``.

    Each octave band gets its own Lundeby noise estimate; a band above Nyquist is left out.
    The relief is integrated up to the broadband crosspoint (the noise is not part of the decay).
    """
    ir = np.asarray(ir, dtype=np.float64)
    decays = {"broadband": energy_decay_curve(ir, sample_rate, noise)}
    for centre in bands:
        if centre * math.sqrt(2.0) < sample_rate / 2.0:
            decays[str(int(centre))] = energy_decay_curve(octave_band(ir, sample_rate, centre), sample_rate, noise)
    estimates = {(band, method): fit_decay(decay, method) for band, decay in decays.items() for method in methods}
    stop = decays["broadband"].noise.crosspoint if decays["broadband"].noise is not None else None
    relief = energy_decay_relief(ir, sample_rate, frame=relief_frame, hop=relief_hop, stop=stop)
    return SystemAcoustics(name=name, sample_rate=float(sample_rate), ir=ir, decay=decays["broadband"],
                           estimates=estimates, band_decays=decays, relief=relief)


def rt60_table(systems: Sequence[SystemAcoustics], device: str | None = DEVICE) -> "pandas.DataFrame":  # noqa: F821
    """Long table ``system, band, method, rt60_s, error_pct`` (error re the device, percent).

    ``error_pct`` = 100·(system - device)/device for the same band and method; NaN where either
    estimate was refused (too little dynamic range) or ``device`` is None, 0 for the device itself.
    """
    import pandas as pd

    by_name = {s.name: s for s in systems}
    if device is not None and device not in by_name:
        raise ValueError(f"no system named {device!r} among {', '.join(by_name)}")
    reference = by_name[device].estimates if device is not None else {}
    rows = []
    for system in systems:
        for key, estimate in system.estimates.items():
            ref = reference.get(key)
            ref_value = ref.rt60_s if ref is not None else math.nan
            error = 100.0 * (estimate.rt60_s - ref_value) / ref_value if ref_value else math.nan
            rows.append({"system": system.name, "band": key[0], "method": key[1],
                         "rt60_s": estimate.rt60_s, "error_pct": error})
    return pd.DataFrame(rows, columns=list(RT60_COLUMNS))


def rt60_table_by_rate(groups: Mapping[int, tuple[Sequence[SystemAcoustics], str | None]],
                       device: str | None = DEVICE) -> "pandas.DataFrame":  # noqa: F821
    """One long table over several sample rates, columns :data:`RT60_RATE_COLUMNS`.

    ``groups[rate] = (systems, reference)``: each rate's systems (its device among them) go
    through :func:`rt60_table`, so errors are relative to the device *at the same rate*;
    ``reference`` (what that device is: ``true``, ``estimate`` or ``file``; None leaves the
    cell empty) fills the ``reference`` column of that rate's rows. Rates keep the given order.
    """
    import pandas as pd

    frames = []
    for rate, (systems, reference) in groups.items():
        if any(float(s.sample_rate) != float(rate) for s in systems):
            raise ValueError(f"systems at {sorted({s.sample_rate for s in systems})} Hz grouped under {rate} Hz")
        frame = rt60_table(systems, device)
        frame.insert(0, "sample_rate", int(rate))
        frame["reference"] = reference
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=list(RT60_RATE_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(RT60_RATE_COLUMNS)]


def write_rt60_table(table: "pandas.DataFrame", path: str | Path) -> Path:  # noqa: F821
    """Write the RT60 table as CSV (atomically); refused estimates are empty cells."""
    from springstudy.outputs import write_csv_atomic

    return write_csv_atomic(path, table)
