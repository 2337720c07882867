"""``springstudy export``: a model as TorchScript or ONNX for real-time use.

    springstudy export --model NAME [--checkpoint PATH] --format torchscript|onnx --out FILE

Without ``--checkpoint`` the exported model is the untrained, seeded initialisation of NAME; a
checkpoint is the dict described in ``springstudy.models.checkpoint``. The work is
:func:`springstudy.export.export_model`.
"""

from __future__ import annotations

import argparse

from springstudy.cli.common import load_model


def add(sub: argparse._SubParsersAction) -> None:
    """Add ``springstudy export`` to the command line's subcommands."""
    from springstudy.export import FORMATS

    p = sub.add_parser("export", help="export a model to TorchScript or ONNX for real-time use")
    p.add_argument("--model", help="named configuration (see the model table); optional with "
                                    "--checkpoint, which names its model")
    p.add_argument("--checkpoint", help="checkpoint to load (a torch.save dict with model_name "
                                        "and model_state); without it the model is untrained")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--out", required=True, help="file to write")
    p.add_argument("--seed", type=int, default=0,
                   help="initialisation seed of an untrained model (default: 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Handler of ``springstudy export``."""
    from springstudy.export import export_model

    model = load_model(args.model, args.checkpoint, args.seed)
    out = export_model(model, args.out, args.format)
    rf = model.receptive_field
    print(f"exported {model.config_name} ({model.num_parameters:,} parameters, receptive field "
          f"{rf if rf == float('inf') else int(rf)} samples) as {args.format} to {out}")
