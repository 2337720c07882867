"""The ``springstudy`` command line.

Each subcommand is a small function ``add_<name>(subparsers)`` that declares its arguments and
sets ``func``; heavy imports happen inside the handlers so ``springstudy --help`` stays fast.
Errors that are the user's (bad paths, bad data, bad params) print one clear line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from springstudy import __version__
from springstudy.errors import UserError


def add_env(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("env", help="print the environment record (versions, CPU, GPU) as JSON")
    p.add_argument("--out", help="also write the JSON to this file")

    def run(args: argparse.Namespace) -> None:
        from springstudy.environment import collect
        from springstudy.io import write_json_atomic

        record = collect()
        print(json.dumps(record, indent=2))
        if args.out:
            write_json_atomic(args.out, record)

    p.set_defaults(func=run)


def add_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="build the synthetic tank dataset, or download the real ones")
    data_sub = p.add_subparsers(dest="data_command", required=True, metavar="{synth,prepare,download}")

    s = data_sub.add_parser("synth", help="render the synthetic spring tank dataset in a real dataset's format")
    s.add_argument("--format", required=True, choices=("springset", "egfxset"))
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
    s.add_argument("--overwrite", action="store_true", help="replace an existing dataset in --out")

    def run(args: argparse.Namespace) -> None:
        from springstudy.data.synth import synthesize_from_cli

        synthesize_from_cli(args)

    s.set_defaults(func=run)

    pr = data_sub.add_parser("prepare", help="the pipeline's data stage: synthetic or real, per params.yaml")
    pr.add_argument("--format", required=True, choices=("springset", "egfxset"))
    pr.add_argument("--params", default="params.yaml", help="params.yaml (data.sources, data.tank, seed, profile)")
    pr.add_argument("--profile", default=None, help="preset of synthetic data (default: params.yaml's profile)")
    pr.add_argument("--out", required=True, help="folder to (re)build")

    def run_prepare(args: argparse.Namespace) -> None:
        from springstudy.config import ConfigError, load_params
        from springstudy.data import DatasetError
        from springstudy.data.prepare import prepare
        from springstudy.data.synth import SynthError

        try:
            params = load_params(args.params)
            out = prepare(args.format, args.profile or params.get("profile", "quick"), args.out, params)
        except (ConfigError, DatasetError, SynthError, ValueError) as err:
            raise UserError(str(err)) from err
        print(f"prepared {args.format} in {out}")

    pr.set_defaults(func=run_prepare)

    from springstudy.data.download import register_download

    register_download(data_sub)


def add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a named model (Adam, ReduceLROnPlateau, early stopping, resumable)")
    p.add_argument("--model", required=True, help="named configuration, e.g. GCN-250 (see springstudy.models.list_models)")
    p.add_argument("--data", required=True, help="dataset folder (SpringSet h5 files or EGFxSet wav folders)")
    p.add_argument("--out", required=True, help="run folder: best.pt, last.pt, summary.json, tensorboard/")
    p.add_argument("--split", default=None, help="split file (JSON); default: a seeded 50/25/25 split")
    p.add_argument("--params", default=None, help="take the remaining settings from this params.yaml (group train)")
    p.add_argument("--profile", default=None, help="profile of --params (default: its `profile`)")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--max-epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--crop-seconds", type=float, default=None)
    p.add_argument("--crop-context-seconds", type=float, default=None,
                   help="input history fed before each crop, outside the loss")
    p.add_argument("--crop-sampling", choices=("uniform", "energy"), default=None,  # train.CROP_SAMPLINGS
                   help="crop offsets: uniform, or in proportion to the wet energy of the window")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--recurrent-init", choices=("default", "modal"), default=None,  # train.RECURRENT_INITS
                   help="an LSTM's start: torch's default, or modal (a bank of damped oscillators with a "
                        "least-squares readout)")
    p.add_argument("--alpha", type=float, default=None, help="weight of the time-domain term (thesis eq. 3.1: 0.5)")
    p.add_argument("--time-term", choices=("mae", "esr", "esr_white"), default=None,
                   help="time-domain term of the loss: mae (thesis eq. 3.1), esr, or esr_white (ESR after "
                        "the dry signals' whitening filter)")
    p.add_argument("--max-cpu-minutes", type=float, default=None,
                   help="stop once training has used this much CPU time (all threads)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--no-tensorboard", action="store_true")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")

    def run(args: argparse.Namespace) -> None:
        from springstudy.config import ConfigError, load_params
        from springstudy.train import TrainConfig, TrainingError, config_from_params, train

        overrides = {"max_steps": args.max_steps, "max_epochs": args.max_epochs, "batch_size": args.batch_size,
                     "crop_seconds": args.crop_seconds, "crop_context_seconds": args.crop_context_seconds,
                     "crop_sampling": args.crop_sampling, "recurrent_init": args.recurrent_init,
                     "lr": args.lr, "alpha": args.alpha, "time_term": args.time_term, "seed": args.seed,
                     "threads": args.threads,
                     "max_cpu_seconds": None if args.max_cpu_minutes is None else 60.0 * args.max_cpu_minutes,
                     "split_file": args.split, "tensorboard": False if args.no_tensorboard else None}
        try:
            if args.params:
                params = load_params(args.params)
                config = config_from_params(args.model, args.out, args.data, params,
                                            args.profile or params.get("profile", "quick"), **overrides)
            else:
                config = TrainConfig.from_dict({"model": args.model, "out": args.out, "data": args.data,
                                                **{k: v for k, v in overrides.items() if v is not None}})
            result = train(config, resume=args.resume)
        except (ConfigError, TrainingError, KeyError) as err:
            raise UserError(str(err)) from err
        if result.summary:
            s = result.summary
            print(f"{s['model']}: {s['steps']} steps ({s['stopped']}), best validation loss {s['best_val_loss']:.4f} "
                  f"at step {s['best_step']}; {s['train_samples_per_second']:.0f} samples/s; wrote {args.out}")

    p.set_defaults(func=run)


def add_evaluate(sub: argparse._SubParsersAction) -> None:
    from springstudy.evaluate_command import register_evaluate

    register_evaluate(sub)


def add_ir(sub: argparse._SubParsersAction) -> None:
    from springstudy.acoustics.command import register_ir

    register_ir(sub)


def add_features(sub: argparse._SubParsersAction) -> None:
    from springstudy.features import register_features

    register_features(sub)


def add_bench(sub: argparse._SubParsersAction) -> None:
    from springstudy.bench_command import register_bench

    register_bench(sub)


def add_export(sub: argparse._SubParsersAction) -> None:
    from springstudy.export import register_export

    register_export(sub)


#: Subcommands in the order ``--help`` lists them.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_env, add_data, add_features, add_train, add_evaluate, add_bench, add_ir, add_export]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="springstudy",
        description="Neural spring-reverb modelling study: data, training, evaluation, acoustics.",
    )
    parser.add_argument("--version", action="version", version=f"springstudy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, title="subcommands")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``springstudy`` console script."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as err:
        print(f"springstudy: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("springstudy: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
