"""``springstudy efficiency`` (alias ``bench``): thesis Table 11 done right (RTF, FLOP bound, memory),
offline and streaming; the same job as the ``efficiency`` stage, notebook ``06_efficiency`` and the
package ``springstudy.efficiency``.

    springstudy efficiency --out reports/tables --figures figures   # the study's run (~12 min, 2 cores)
    springstudy bench --models GCN-250 LSTM-96 --rates 48000 --blocks 512 --no-memory

writes ``efficiency.csv`` (one row per model, sample rate, mode, block and thread count), its
details, the memory measurements, the run record (machine, load, matmul throughput) and
``table11_efficiency.csv``/``.md`` under ``--out``, and the two figures under ``--figures``.
The work is :func:`springstudy.efficiency.benchmark`, imported in the handler so that
``springstudy --help`` stays fast; the defaults are that module's constants.
"""

from __future__ import annotations

import argparse

from springstudy.errors import UserError


def run(args: argparse.Namespace) -> None:
    """Handler of ``springstudy efficiency`` (see ``springstudy efficiency --help``)."""
    from springstudy import efficiency as eff
    from springstudy.models import list_models

    known = {name.lower(): name for name in list_models()}
    unknown = [m for m in args.models or [] if m.lower() not in known]
    if unknown:
        raise UserError(f"unknown model(s) {', '.join(unknown)}; named models: {', '.join(list_models())}")
    models = [known[m.lower()] for m in args.models] if args.models else list_models()
    for name, values in (("rates", args.rates), ("blocks", args.blocks)):
        if any(v < 1 for v in values):
            raise UserError(f"--{name} must be positive integers, not {values}")
    for name in ("seconds", "stream_seconds"):
        if getattr(args, name) <= 0:
            raise UserError(f"--{name.replace('_', '-')} must be positive")
    if args.repeats < 1 or args.memory_workers < 1:
        raise UserError("--repeats and --memory-workers must be at least 1")
    try:
        threads = eff.thread_counts(args.threads)
        stream_threads = eff.thread_counts(args.stream_threads)
    except ValueError as err:
        raise UserError(str(err)) from err
    result = eff.benchmark(models, args.rates, args.blocks, args.seconds, args.stream_seconds, args.repeats,
                           threads, stream_threads, memory=not args.no_memory,
                           memory_seconds=args.memory_seconds, memory_block=args.memory_block,
                           offline_budget_s=args.offline_budget, offline_max_pass_s=args.offline_max_pass,
                           memory_workers=args.memory_workers,
                           memory_stream_seconds=args.memory_stream_seconds,
                           progress=not args.quiet)
    written = eff.write_efficiency(result, args.out, args.figures)
    table = eff.table11(result.rows, details=result.details)
    print(eff.table11_markdown(table, result.info, memory=result.memory))
    print(eff.reading(result.rows, result.memory, details=result.details))
    print("wrote " + ", ".join(str(p) for p in written.values()))


def add(sub: argparse._SubParsersAction) -> None:
    """Add ``springstudy efficiency`` (and its short alias ``bench``) to the command line's subcommands."""
    from springstudy import efficiency as eff

    p = sub.add_parser("efficiency", aliases=["bench"],
                       help="real-time factor, FLOP bound and memory of the models (Table 11)",
                       description="Time every named model offline (one pass over one input, warm-up, median) "
                                   "and streaming (Streamer, per block size), compare with the FLOP-bound RTF of "
                                   "this machine, measure peak memory in fresh subprocesses, and write "
                                   "efficiency.csv and Table 11 beside the thesis's numbers.")
    p.add_argument("--models", nargs="+", default=None, metavar="NAME",
                   help="named models (default: all of springstudy.models.list_models())")
    p.add_argument("--rates", nargs="+", type=int, default=list(eff.SAMPLE_RATES), metavar="HZ",
                   help=f"sample rates (default: {' '.join(map(str, eff.SAMPLE_RATES))})")
    p.add_argument("--blocks", nargs="+", type=int, default=list(eff.BLOCK_SIZES), metavar="N",
                   help=f"streaming block sizes (default: {' '.join(map(str, eff.BLOCK_SIZES))})")
    p.add_argument("--seconds", type=float, default=eff.OFFLINE_SECONDS,
                   help=f"offline input length in seconds (default {eff.OFFLINE_SECONDS:g})")
    p.add_argument("--stream-seconds", type=float, default=eff.STREAMING_SECONDS,
                   help=f"audio streamed per timed repeat (default {eff.STREAMING_SECONDS:g})")
    p.add_argument("--repeats", type=int, default=eff.REPEATS,
                   help=f"timed repeats per measurement, median reported (default {eff.REPEATS})")
    p.add_argument("--threads", nargs="+", default=["1", "all"], metavar="N|all",
                   help="thread counts of the offline rows (default: 1 all)")
    p.add_argument("--stream-threads", nargs="+", default=["1"], metavar="N|all",
                   help="thread counts of the streaming rows (default: 1)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    p.add_argument("--memory-seconds", nargs="+", type=float, default=list(eff.MEMORY_SECONDS), metavar="S",
                   help=f"input lengths whose peak memory is measured (default: "
                        f"{' '.join(f'{s:g}' for s in eff.MEMORY_SECONDS)})")
    p.add_argument("--memory-stream-seconds", nargs="+", type=float, default=list(eff.MEMORY_STREAM_SECONDS),
                   metavar="S", help=f"input lengths after which the streaming peak is read (default: "
                                     f"{' '.join(f'{s:g}' for s in eff.MEMORY_STREAM_SECONDS)})")
    p.add_argument("--memory-block", type=int, default=eff.TABLE_BLOCK,
                   help=f"block size of the streaming memory measurement (default {eff.TABLE_BLOCK})")
    p.add_argument("--memory-workers", type=int, default=eff.MEMORY_WORKERS,
                   help=f"memory subprocesses run at once, within a share of the free memory "
                        f"(default {eff.MEMORY_WORKERS})")
    p.add_argument("--offline-budget", type=float, default=eff.OFFLINE_BUDGET_S, metavar="S",
                   help=f"seconds of timed offline passes per model and thread count; a slower model is "
                        f"timed fewer times (default {eff.OFFLINE_BUDGET_S:g})")
    p.add_argument("--offline-max-pass", type=float, default=eff.OFFLINE_MAX_PASS_S, metavar="S",
                   help=f"longest an offline pass may take; a slower one runs on a shorter input, stated in "
                        f"the details (default {eff.OFFLINE_MAX_PASS_S:g})")
    p.add_argument("--out", default="reports/tables", help="folder for the tables (default reports/tables)")
    p.add_argument("--figures", default=None, help="folder for the two figures (default: none written)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run)
