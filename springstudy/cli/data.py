"""``springstudy data synth|prepare|download|reamp-signal``: the synthetic tank's datasets, the
pipeline's data stage, the real datasets from Zenodo, and the re-amping signal for one's own device."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from springstudy.config import FORMATS
from springstudy.errors import UserError


def add(sub: argparse._SubParsersAction) -> None:
    """Add ``springstudy data`` and its three subcommands."""
    p = sub.add_parser("data", help="build the synthetic tank dataset, or download the real ones")
    data_sub = p.add_subparsers(dest="data_command", required=True,
                                metavar="{synth,prepare,download,reamp-signal}")
    add_synth(data_sub)
    add_prepare(data_sub)
    add_download(data_sub)
    add_reamp(data_sub)


def add_reamp(data_sub: argparse._SubParsersAction) -> None:
    """Add ``springstudy data reamp-signal``."""
    r = data_sub.add_parser("reamp-signal", help="write the standard input to record through your own device "
                            "(sync chirp, sweeps, noise bursts, impulses, notes; then use the dry/wet pair layout)")
    r.add_argument("--out", required=True, help="WAV file to write (24-bit mono)")
    r.add_argument("--rate", type=int, default=48_000, choices=(16_000, 48_000),
                   help="sample rate: 48000 for the egfxset slot, 16000 for the springset slot")
    r.add_argument("--seed", type=int, default=0, help="seed of the noise bursts and notes")
    r.set_defaults(func=run_reamp)


def run_reamp(args: argparse.Namespace) -> None:
    """Handler of ``springstudy data reamp-signal``."""
    from springstudy.data.pair import DRY_FILE, WET_FILE, write_reamp_signal

    signal = write_reamp_signal(args.out, args.rate, args.seed)
    parts = ", ".join(f"{name} {a:.1f}-{b:.1f} s" for name, (a, b) in signal.sections.items())
    print(f"wrote {args.out}: {signal.samples.size / signal.sample_rate:.1f} s at {signal.sample_rate} Hz ({parts}).\n"
          f"Play it through the device, record the output in mono at the same rate, and put the two files in one "
          f"folder as {DRY_FILE} and {WET_FILE}; then set data.sources.<format> in params.yaml to that folder.")


def add_synth(data_sub: argparse._SubParsersAction) -> None:
    """Add ``springstudy data synth``."""
    s = data_sub.add_parser("synth", help="render the synthetic spring tank dataset in a real dataset's format")
    s.add_argument("--format", required=True, choices=FORMATS)
    s.add_argument("--preset", default="quick", choices=("smoke", "quick", "paper"),
                   help="dataset size: smoke (a handful), quick (a few hundred), paper (the real sizes)")
    s.add_argument("--out", required=True, help="folder to write (created; must be empty or absent)")
    s.add_argument("--seed", type=int, default=None, help="random seed (default: the tank's default)")
    s.add_argument("--tank", default=None, choices=("clean", "realistic"),
                   help="named tank (default: the dataclass defaults, i.e. clean, or --params' preset)")
    s.add_argument("--rt60", type=float, default=None, help="reverberation time of the tank in seconds")
    s.add_argument("--drive", type=float, default=None, help="driver nonlinearity drive (0 = linear)")
    s.add_argument("--params", default=None,
                   help="read the tank parameters from this params.yaml (group data.tank); flags win")
    s.add_argument("--knobs", action="store_true",
                   help="render every item at its own knob setting (decay, tone, dwell, mix; a seeded Latin "
                        "hypercube over the ranges of --params' knobs group, or the default ranges) and write knobs.csv")
    s.add_argument("--overwrite", action="store_true", help="replace an existing dataset in --out")
    s.set_defaults(func=run_synth)


def run_synth(args: argparse.Namespace) -> None:
    """Handler of ``springstudy data synth``: the tank from params.yaml's data.tank, flags winning."""
    from springstudy.config import ConfigError, load_params, stage_params
    from springstudy.data.synth import SynthError, synthesize
    from springstudy.data.tank import TankParams

    from springstudy.data.knobs import KnobRanges

    values: dict[str, Any] = {}
    seed = args.seed
    ranges, sizes = None, None
    try:
        if args.params:
            params = load_params(args.params)
            values.update(params.get("data", {}).get("tank", {}) or {})
            seed = seed if seed is not None else params.get("seed")
        if args.knobs:
            group = stage_params("knobs", params, args.preset) if args.params and "knobs" in params else {}
            ranges = KnobRanges.from_dict(group.get("ranges"))
            sizes = group.get("items")
        if args.tank is not None:
            values["preset"] = args.tank
        if args.rt60 is not None:
            values["rt60"] = args.rt60
        if args.drive is not None:
            values["drive"] = args.drive
        tank = TankParams.from_dict(values)
        started = time.perf_counter()
        out = synthesize(args.format, args.preset, args.out, seed=seed, tank=tank, overwrite=args.overwrite,
                         knobs=ranges, sizes=sizes if args.format == "springset" else None)
    except (ConfigError, SynthError, ValueError) as err:
        raise UserError(str(err)) from err
    report = json.loads((out / "tank.json").read_text())
    print(f"wrote {report['items']} {args.format} pairs to {out} in {time.perf_counter() - started:.1f} s "
          f"(true RT60 T30 {report['rt60_t30_s']['broadband']:.2f} s)")


def add_prepare(data_sub: argparse._SubParsersAction) -> None:
    """Add ``springstudy data prepare``."""
    pr = data_sub.add_parser("prepare", help="the pipeline's data stage: synthetic or real, per params.yaml")
    pr.add_argument("--format", required=True, choices=FORMATS)
    pr.add_argument("--params", default="params.yaml", help="params.yaml (data.sources, data.tank, seed, profile)")
    pr.add_argument("--profile", default=None, help="preset of synthetic data (default: params.yaml's profile)")
    pr.add_argument("--out", required=True, help="folder to (re)build")
    pr.set_defaults(func=run_prepare)


def run_prepare(args: argparse.Namespace) -> None:
    """Handler of ``springstudy data prepare``."""
    from springstudy.config import load_params
    from springstudy.data.prepare import prepare

    try:
        params = load_params(args.params)
        out = prepare(args.format, args.profile or params.get("profile", "quick"), args.out, params)
    except ValueError as err:  # the package's errors on bad params or data, and numpy's on bad values
        raise UserError(str(err)) from err
    print(f"prepared {args.format} in {out}")


def add_download(data_sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``springstudy data download springset|egfxset --out DIR [--base-url URL]``."""
    from springstudy.data.download import DATASETS, ZENODO_URL

    p = data_sub.add_parser(
        "download", help="download a real dataset from Zenodo, verify its md5 and extract it")
    p.add_argument("dataset", choices=DATASETS, help="which dataset")
    p.add_argument("--out", required=True, help="folder to extract into (e.g. data/raw/springset)")
    p.add_argument("--base-url", default=ZENODO_URL, help=f"Zenodo server or mirror (default {ZENODO_URL})")
    p.add_argument("--overwrite", action="store_true", help="replace files already in --out")
    p.add_argument("--keep-archives", action="store_true", help="keep the verified zips in --out/.download")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait on a silent connection")
    p.set_defaults(func=run_download)
    return p


def run_download(args: argparse.Namespace) -> None:
    """Handler of ``springstudy data download``."""
    from springstudy.data import DatasetError
    from springstudy.data.download import download

    try:
        out = download(args.dataset, args.out, args.base_url, progress=not args.no_progress,
                       timeout=args.timeout, overwrite=args.overwrite, keep_archives=args.keep_archives)
    except DatasetError as err:
        raise UserError(str(err)) from err
    print(f"{args.dataset} ready in {out}")
