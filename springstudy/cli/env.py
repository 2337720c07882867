"""``springstudy env``: the environment record (versions, CPU, GPU) as JSON."""

from __future__ import annotations

import argparse
import json


def add(sub: argparse._SubParsersAction) -> None:
    """Add ``springstudy env`` to the command line's subcommands."""
    p = sub.add_parser("env", help="print the environment record (versions, CPU, GPU) as JSON")
    p.add_argument("--out", help="also write the JSON to this file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Handler of ``springstudy env``."""
    from springstudy.environment import collect
    from springstudy.outputs import write_json_atomic

    record = collect()
    print(json.dumps(record, indent=2))
    if args.out:
        write_json_atomic(args.out, record)
