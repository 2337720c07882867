"""Acoustic analysis of the device and the models (thesis §4.3, Figs 16-19), done right.

* :mod:`~springstudy.acoustics.sweep`: Farina exponential sweep, inverse filter, ``measure_ir``
  for any numpy processor, ``model_processor`` for a torch model.
* :mod:`~springstudy.acoustics.decay`: Schroeder energy decay with Lundeby noise handling,
  T20/T30/T60 (ISO 3382-1 ranges, each number named), octave bands.
* :mod:`~springstudy.acoustics.relief`: energy decay relief (the waterfall, Jot 1992).
* :mod:`~springstudy.acoustics.stability`: impulse + 10 s of silence must decay.
* :mod:`~springstudy.acoustics.reference`: the device's reference IR: a file (a synthetic
  tank's true IR) or, for real data, the Linear IR estimate from the training pairs.
* :mod:`~springstudy.acoustics.report`: every system against the device; the RT60 table.
* :mod:`~springstudy.acoustics.plots`: Figs 16-19 (imports matplotlib; not imported here).
* :mod:`~springstudy.acoustics.command`: the ``springstudy ir`` subcommand (``register_ir``).
"""

from springstudy.acoustics.decay import (DECAY_RANGES, METHOD_LABELS, METHODS, NOISE_MARGIN_DB,
                                         OCTAVE_BANDS, DecayEstimate, DecayRangeError, EnergyDecay,
                                         NoiseFloor, band_decay_times, decay_estimate, decay_time,
                                         energy_decay_curve, fit_decay, lundeby, octave_band,
                                         rt60_t20, rt60_t30, rt60_t60, schroeder_edc)
from springstudy.acoustics.relief import DecayRelief, energy_decay_relief
from springstudy.acoustics.reference import (AUTO, LINEAR, REFERENCE_KINDS, DeviceIRError, DeviceReference,
                                             device_reference, estimate_device_ir, read_device_ir)
from springstudy.acoustics.report import (DEVICE, RT60_COLUMNS, RT60_RATE_COLUMNS, SystemAcoustics, analyse_ir,
                                          rt60_table, rt60_table_by_rate, write_rt60_table)
from springstudy.acoustics.stability import StabilityResult, check_stability
from springstudy.acoustics.sweep import (IRMeasurement, SweepSpec, exponential_sweep, inverse_sweep,
                                         kernel_equaliser,
                                         measure_ir, model_processor, sweep_amplitude,
                                         sweep_passband)


def register_ir(sub: "argparse._SubParsersAction") -> None:  # noqa: F821
    """Add the ``springstudy ir`` subcommand (see :mod:`springstudy.acoustics.command`)."""
    from springstudy.acoustics.command import register_ir as register

    register(sub)


__all__ = [
    "AUTO", "DECAY_RANGES", "DEVICE", "LINEAR", "METHODS", "METHOD_LABELS", "NOISE_MARGIN_DB", "OCTAVE_BANDS",
    "REFERENCE_KINDS", "RT60_COLUMNS", "RT60_RATE_COLUMNS", "DecayEstimate", "DecayRangeError", "DecayRelief",
    "DeviceIRError", "DeviceReference", "EnergyDecay", "IRMeasurement",
    "NoiseFloor", "StabilityResult", "SweepSpec", "SystemAcoustics", "analyse_ir", "band_decay_times",
    "check_stability", "decay_estimate", "decay_time", "device_reference", "energy_decay_curve",
    "energy_decay_relief", "estimate_device_ir",
    "exponential_sweep", "fit_decay", "inverse_sweep", "kernel_equaliser", "lundeby", "measure_ir", "model_processor",
    "octave_band", "read_device_ir", "register_ir", "rt60_t20", "rt60_t30", "rt60_t60", "rt60_table",
    "rt60_table_by_rate", "schroeder_edc", "sweep_amplitude", "sweep_passband", "write_rt60_table",
]
