"""Acoustic analysis of the device and the models (thesis §4.3, Figs 16-19), done right.

* :mod:`~springstudy.acoustics.sweep`: Farina exponential sweep, inverse filter, ``measure_ir``
  for any numpy processor, ``model_processor`` for a torch model.
* :mod:`~springstudy.acoustics.decay`: Schroeder energy decay with Lundeby noise handling,
  T20/T30/T60 (ISO 3382-1 ranges, each number named), octave bands.
* :mod:`~springstudy.acoustics.relief`: energy decay relief (the waterfall, Jot 1992).
* :mod:`~springstudy.acoustics.stability`: impulse + 10 s of silence must decay.
* :mod:`~springstudy.acoustics.reference`: the device's reference IR: a file (a synthetic
  tank's true IR) or, for real data, the Linear IR estimate from the training pairs.
* :mod:`~springstudy.acoustics.comparison`: every system against the device; the RT60 table.
* :mod:`~springstudy.acoustics.plots`: Figs 16-19 (imports matplotlib; not imported here).

The ``springstudy ir`` subcommand is :mod:`springstudy.cli.ir`. The package exports the decay
analysis (decay, relief, comparison), which needs nothing of the rest of springstudy; import
sweep, stability, reference and plots from their modules. (The
synthetic tank imports the decay analysis, so the data stage must not pull the models, the
evaluation and the CLI in with it: tests/test_dvc_deps.py.)
"""

from springstudy.acoustics.decay import (DECAY_RANGES, METHOD_LABELS, METHODS, NOISE_MARGIN_DB,
                                         OCTAVE_BANDS, DecayEstimate, DecayRangeError, EnergyDecay,
                                         NoiseFloor, band_decay_times, decay_estimate, decay_time,
                                         energy_decay_curve, fit_decay, lundeby, octave_band,
                                         rt60_t20, rt60_t30, rt60_t60, schroeder_edc)
from springstudy.acoustics.relief import DecayRelief, energy_decay_relief
from springstudy.acoustics.comparison import (DEVICE, RT60_COLUMNS, RT60_RATE_COLUMNS, SystemAcoustics, analyse_ir,
                                          rt60_table, rt60_table_by_rate, write_rt60_table)

__all__ = [
    "DECAY_RANGES", "DEVICE", "METHODS", "METHOD_LABELS", "NOISE_MARGIN_DB", "OCTAVE_BANDS",
    "RT60_COLUMNS", "RT60_RATE_COLUMNS", "DecayEstimate", "DecayRangeError", "DecayRelief",
    "EnergyDecay", "NoiseFloor", "SystemAcoustics", "analyse_ir", "band_decay_times",
    "decay_estimate", "decay_time", "energy_decay_curve", "energy_decay_relief", "fit_decay", "lundeby",
    "octave_band", "rt60_t20", "rt60_t30", "rt60_t60", "rt60_table", "rt60_table_by_rate", "schroeder_edc",
    "write_rt60_table",
]
