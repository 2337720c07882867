"""``springstudy efficiency`` (alias ``bench``): thesis Table 11 done right (RTF, FLOP bound,
memory), offline and streaming; the same job as the ``efficiency`` stage, notebook
``06_efficiency`` and the package ``springstudy.efficiency``.

    springstudy efficiency --out reports/tables --figures figures   # the study's run (~12 min, 2 cores)
    springstudy bench --models GCN-250 LSTM-96 --rates 48000 --blocks 512 --no-memory

Every flag of a setting is its :class:`springstudy.efficiency.EfficiencySettings` field with
dashes (``--offline-seconds``: ``offline_seconds`` in params.yaml and the notebook); the older
short forms (``--seconds``, ``--stream-seconds``, ``--memory-block``, ``--offline-budget``,
``--offline-max-pass``, ``--stream-threads``) still work. It writes ``efficiency.csv`` (one row
per model, sample rate, mode, block and thread count), its details, the memory measurements, the
run record (machine, load, matmul throughput) and ``table11_efficiency.csv``/``.md`` under
``--out``, and the two figures under ``--figures``.
"""

from __future__ import annotations

import argparse
import dataclasses

from springstudy.errors import UserError

#: Older flags kept as aliases of a setting's flag.
ALIASES = {"offline_seconds": ["--seconds"], "streaming_seconds": ["--stream-seconds"],
           "table_block": ["--memory-block"], "offline_budget_s": ["--offline-budget"],
           "offline_max_pass_s": ["--offline-max-pass"], "streaming_threads": ["--stream-threads"]}


def thread_value(text: str) -> int | str:
    """A thread count on the command line: a whole number, or ``all``."""
    return "all" if text.lower() == "all" else int(text)


def run(args: argparse.Namespace) -> None:
    """Handler of ``springstudy efficiency``: the efficiency stage's own ``run`` (see ``--help``)."""
    from springstudy import efficiency as eff

    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(eff.EfficiencySettings)
              if f.name != "memory" and getattr(args, f.name) is not None}
    values["memory"] = not args.no_memory
    try:
        settings = eff.EfficiencySettings.from_dict(values)
    except eff.EfficiencyError as err:
        raise UserError(str(err)) from err
    from springstudy.environment import collect
    from springstudy.stages import efficiency as stage

    result = stage.run(settings, tables_dir=args.out, figures_dir=args.figures, machine=collect(),
                       progress=not args.quiet)
    print(stage.table11_markdown(result))
    print(stage.reading(result))
    print("wrote " + ", ".join(str(p) for p in result.written.values()))


def add(sub: argparse._SubParsersAction) -> None:
    """Add ``springstudy efficiency`` (and its short alias ``bench``) to the command line's subcommands."""
    from springstudy.efficiency import DEFAULTS, HELP_TEXT, EfficiencySettings

    p = sub.add_parser("efficiency", aliases=["bench"],
                       help="real-time factor, FLOP bound and memory of the models (Table 11)",
                       description="Time every named model offline (one pass over one input, warm-up, median) "
                                   "and streaming (Streamer, per block size), compare with the FLOP-bound RTF of "
                                   "this machine, measure peak memory in fresh subprocesses, and write "
                                   "efficiency.csv and Table 11 beside the thesis's numbers.")
    for f in dataclasses.fields(EfficiencySettings):
        if f.name == "memory":
            continue
        default = getattr(DEFAULTS, f.name)
        shown = "all" if default is None and f.name == "models" else (
            " ".join(map(str, default)) if isinstance(default, tuple) else default)
        kind = {"rates": int, "blocks": int, "table_block": int, "repeats": int, "memory_workers": int,
                "models": str, "threads": thread_value, "streaming_threads": thread_value}.get(f.name, float)
        many = isinstance(default, tuple) or f.name == "models"
        p.add_argument("--" + f.name.replace("_", "-"), *ALIASES.get(f.name, []), dest=f.name, type=kind,
                       nargs="+" if many else None, default=None,
                       help=f"{HELP_TEXT[f.name]} (default: {shown})")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument("--out", default="reports/tables", help="folder for the tables (default reports/tables)")
    p.add_argument("--figures", default=None, help="folder for the two figures (default: none written)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)
