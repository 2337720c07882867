"""``springstudy train``: train a named model (Adam, ReduceLROnPlateau, early stopping, resumable)."""

from __future__ import annotations

import argparse

from springstudy.config import FORMATS
from springstudy.errors import UserError


def add(sub: argparse._SubParsersAction) -> None:
    """Add ``springstudy train`` to the command line's subcommands."""
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
    p.add_argument("--format", default=None, choices=FORMATS,
                   help="with --params: the dataset format whose train.formats entry applies (default: --data's "
                        "own layout)")
    p.add_argument("--run", default=None,
                   help="with --params: the train.runs entry whose settings apply (e.g. GCN-250_16k), so the "
                        "command reproduces the pipeline's train@ stage")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/last.pt (refused if a setting that changes what is trained differs)")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Handler of ``springstudy train``: params.yaml's train group (profile applied), flags winning."""
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
            from springstudy.data import detect_layout

            params = load_params(args.params)
            fmt = args.format or (detect_layout(args.data) if args.data else None)
            config = config_from_params(args.model, args.out, args.data, params,
                                        args.profile or params.get("profile", "quick"), format=fmt, run=args.run,
                                        **overrides)
        else:
            config = TrainConfig.from_dict({"model": args.model, "out": args.out, "data": args.data,
                                            **{k: v for k, v in overrides.items() if v is not None}})
        result = train(config, resume=args.resume, overwrite=args.overwrite)
    except (ConfigError, TrainingError, KeyError) as err:
        raise UserError(str(err)) from err
    if result.summary:
        s = result.summary
        print(f"{s['model']}: {s['steps']} steps ({s['stopped']}), best validation loss {s['best_val_loss']:.4f} "
              f"at step {s['best_step']}; {s['train_samples_per_second']:.0f} samples/s; wrote {args.out}")
