"""``springstudy ir``: a model's impulse response by sine sweep, its RT60 and Figs 16-19.

    springstudy ir --model GCN-250 --checkpoint runs/gcn.pt --out reports/ir/GCN-250 --device-ir tank
    springstudy ir --model GCN-250 --checkpoint runs/gcn.pt --out reports/ir/GCN-250 \
        --device-ir linear --data data/raw/springset --split-file data/paper/splits/springset.json

(``--device-ir linear``: a real dataset has no true IR, so the device's reference is the Linear
IR baseline's estimate from the training pairs; ``rt60.json`` and the figures say so.) It writes
``ir.npy`` and ``ir.wav`` (float, the measured IR), ``rt60.csv`` (the RT60 table), ``rt60.json``
(estimates with their fit ranges, noise floor, sweep, stability, device reference) and
``fig16_ir.png`` ... ``fig19_energy_decay.png``. Heavy imports happen in the handler.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

from springstudy.cli.common import load_model
from springstudy.errors import UserError

#: Resolution of the saved figures (dots per inch).
FIGURE_DPI = 120

#: File names of the figures, after the thesis's numbering.
FIGURE_FILES = {"fig16": "fig16_ir.png", "fig17": "fig17_waterfall.png", "fig18": "fig18_rt60.png",
                "fig19": "fig19_energy_decay.png"}


def add(sub: argparse._SubParsersAction) -> None:
    """Add the ``ir`` subcommand to ``springstudy``'s subparsers."""
    from springstudy.acoustics.sweep import SweepSpec

    defaults = SweepSpec()
    p = sub.add_parser("ir", help="measure a model's impulse response by sine sweep; RT60 and Figs 16-19",
                       description="Measure a model's impulse response by one continuous exponential sine "
                                   "sweep (Farina 2000); write the IR (npy, wav), its T20/T30/T60 broadband "
                                   "and per octave band (rt60.csv, rt60.json) and Figs 16-19.")
    p.add_argument("--model", required=True, help="named model configuration (see springstudy.models.list_models)")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint to load (default: the untrained model, initialised with --seed)")
    p.add_argument("--out", required=True, help="folder for the IR, the RT60 table and json, and the figures")
    p.add_argument("--sample-rate", type=int, default=16_000, help="sample rate the model runs at (Hz)")
    p.add_argument("--seed", type=int, default=0,
                   help="initialisation seed of an untrained model, and the split seed for --device-ir linear")
    p.add_argument("--device-ir", default=None,
                   help="the device's IR to compare against: a .npy or .wav file, 'tank' for the "
                        "synthetic tank of params.yaml (data.tank) at --sample-rate, or 'linear' for the "
                        "Linear IR baseline's estimate from the training pairs of --data (an estimate, "
                        "for real datasets, which have no true IR)")
    p.add_argument("--data", default=None, help="dataset folder for --device-ir linear")
    p.add_argument("--split-file", default=None,
                   help="split file for --device-ir linear (default: the seeded split of --split-method, --seed)")
    p.add_argument("--split-method", default="random", choices=("random", "original"),
                   help="split drawn for --device-ir linear without --split-file")
    p.add_argument("--ir-seconds", type=float, default=None,
                   help="length of the Linear IR estimate (s; default: the item length)")
    p.add_argument("--ir-regularisation", type=float, default=None,
                   help="Tikhonov floor of the Linear IR estimate, relative to the mean input power spectrum "
                        "(default: the baselines' 1e-6)")
    p.add_argument("--f-start", type=float, default=defaults.f_start, help="sweep start frequency (Hz)")
    p.add_argument("--f-end", type=float, default=defaults.f_end, help="sweep end frequency (Hz; default Nyquist)")
    p.add_argument("--sweep-seconds", type=float, default=defaults.duration, help="sweep duration (s)")
    p.add_argument("--tail-seconds", type=float, default=defaults.tail,
                   help="silence after the sweep, and the length of the IR (s)")
    p.add_argument("--level-dbfs", type=float, default=defaults.level_dbfs, help="sweep peak level (dBFS)")
    p.add_argument("--block-size", type=int, default=None,
                   help="run the model in exact streaming blocks of this many samples (default: whole signal)")
    p.add_argument("--stability-seconds", type=float, default=10.0,
                   help="silence after the impulse in the stability check (s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Handler of ``springstudy ir`` (see the module docstring)."""
    import numpy as np

    from springstudy.acoustics import plots
    from springstudy.acoustics.comparison import DEVICE, analyse_ir, rt60_table, write_rt60_table
    from springstudy.acoustics.sweep import SweepSpec
    from springstudy.outputs import json_safe, save_figure, write_bytes_atomic, write_json_atomic
    from springstudy.stages.ir import measure_model

    from springstudy import schema

    found = schema.flag_problems(schema.IRGroup, {
        "--f-start": ("sweep_f_start", args.f_start), "--f-end": ("sweep_f_end", args.f_end),
        "--sweep-seconds": ("sweep_seconds", args.sweep_seconds), "--tail-seconds": ("tail_seconds", args.tail_seconds),
        "--level-dbfs": ("sweep_level_dbfs", args.level_dbfs), "--block-size": ("block_size", args.block_size),
        "--stability-seconds": ("stability_seconds", args.stability_seconds),
        "--ir-seconds": ("linear_ir_seconds", args.ir_seconds),
        "--ir-regularisation": ("linear_ir_regularisation", args.ir_regularisation)})
    if args.sample_rate < 1:
        found.append(f"--sample-rate: must be a positive whole number of Hz (got {args.sample_rate})")
    if found:
        raise UserError("; ".join(found))
    model = load_model(args.model, args.checkpoint, args.seed)
    fs = args.sample_rate
    spec = SweepSpec(f_start=args.f_start, f_end=args.f_end, duration=args.sweep_seconds,
                     tail=args.tail_seconds, level_dbfs=args.level_dbfs)
    try:
        spec.check(fs)
    except ValueError as err:
        raise UserError(str(err)) from None
    reference = _device_reference(args, fs) if args.device_ir else None
    device_ir = None if reference is None else reference.ir

    measurement, stability = measure_model(model, fs, spec, args.block_size, args.stability_seconds)
    systems = [analyse_ir(model.config_name, measurement.ir, fs)]
    if device_ir is not None:
        systems.insert(0, analyse_ir(DEVICE, device_ir, fs))
    table = rt60_table(systems, device=DEVICE if device_ir is not None else None)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.save(buffer, measurement.ir)
    write_bytes_atomic(out / "ir.npy", buffer.getvalue())
    write_bytes_atomic(out / "ir.wav", _wav_bytes(measurement.ir, fs))
    write_rt60_table(table, out / "rt60.csv")
    record = {
        "model": model.config_name,
        "checkpoint": str(args.checkpoint) if args.checkpoint else None,
        "measurement": measurement.summary(),
        "stability": stability.to_dict(),
        "device_reference": None if reference is None else reference.summary(),
        "systems": [s.summary() for s in systems],
        "table": json.loads(table.to_json(orient="records")),
    }
    write_json_atomic(out / "rt60.json", json_safe(record))
    figures = {"fig16": plots.plot_impulse_responses(systems), "fig17": plots.plot_waterfalls(systems),
               "fig18": plots.plot_rt60(table), "fig19": plots.plot_energy_decay(systems)}
    if reference is not None and reference.is_estimate:
        for figure in figures.values():
            figure.suptitle("device reference: Linear IR estimate from the training pairs", fontsize="small")
    for key, figure in figures.items():
        save_figure(figure, out / FIGURE_FILES[key], dpi=FIGURE_DPI, close=True)
    t30 = systems[-1].estimates[("broadband", "t30")]
    print(f"{model.config_name}: RT60 from {t30.label} = "
          + (f"{t30.rt60_s:.3f} s" if t30.ok else f"refused ({t30.reason})")
          + f"; stable: {stability.stable}{' (' + stability.reason + ')' if stability.reason else ''}; "
          f"written to {out}")
    if reference is not None:
        print(reference.describe())


def _device_reference(args: argparse.Namespace, sample_rate: int) -> "DeviceReference":  # noqa: F821
    """The device's reference IR for ``--device-ir``: the params.yaml synthetic tank's true IR
    (``tank``), the Linear IR estimate from ``--data`` (``linear``), or a .npy/.wav file."""
    from springstudy.acoustics.reference import LINEAR, DeviceIRError, DeviceReference, device_reference

    source = args.device_ir
    if source == "tank":
        from springstudy.config import ConfigError, load_params
        from springstudy.data.tank import SpringTank, TankParams

        try:
            tank = dict(load_params()["data"]["tank"])
        except (ConfigError, KeyError, TypeError) as err:
            raise UserError(f"--device-ir tank needs params.yaml with data.tank ({err})") from None
        ir = SpringTank(TankParams.from_dict({**tank, "sample_rate": sample_rate})).impulse_response
        return DeviceReference(ir=ir, sample_rate=sample_rate, kind="true",
                               source="the synthetic tank of params.yaml (data.tank), true IR")
    if source.strip().lower() == LINEAR and args.data is None:
        raise UserError(f"--device-ir {LINEAR} needs --data (the dataset whose training pairs it is estimated from)")
    try:
        return device_reference(source, sample_rate, data=args.data, split_file=args.split_file, seed=args.seed,
                                split_method=args.split_method, ir_seconds=args.ir_seconds,
                                regularisation=args.ir_regularisation)
    except DeviceIRError as err:
        raise UserError(str(err)) from None


def _wav_bytes(ir: "numpy.ndarray", sample_rate: int) -> bytes:  # noqa: F821
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, ir, sample_rate, format="WAV", subtype="FLOAT")
    return buffer.getvalue()
