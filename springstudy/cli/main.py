"""The ``springstudy`` console script: the parser of every subcommand and the one error exit.

:func:`main` is the one place that turns a :class:`springstudy.errors.SpringStudyError` (the base
of every error the package raises on bad input) into one clear line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from springstudy import __version__
from springstudy.cli import data, efficiency, env, evaluate, export, features, ir, train
from springstudy.errors import SpringStudyError

#: Subcommand modules in the order ``--help`` lists them.
SUBCOMMANDS = (env, data, features, train, evaluate, efficiency, ir, export)

#: Exit status of a run stopped by an error in its input.
EXIT_INPUT_ERROR = 2
#: Exit status of a run stopped by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="springstudy",
        description="Neural spring-reverb modelling study: data, training, evaluation, acoustics.",
    )
    parser.add_argument("--version", action="version", version=f"springstudy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, title="subcommands")
    for module in SUBCOMMANDS:
        module.add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``springstudy`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except SpringStudyError as err:
        print(f"springstudy: error: {err}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        print("springstudy: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


__all__ = ["EXIT_INPUT_ERROR", "EXIT_INTERRUPTED", "SUBCOMMANDS", "build_parser", "main"]
