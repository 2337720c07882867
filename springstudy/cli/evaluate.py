"""``springstudy evaluate``: score runs and baselines on the test split (thesis Tables 8-10).

    springstudy evaluate --run runs/quick/springset --table reports/tables/table9_16k.csv \\
        --items reports/tables/table9_16k_items.csv --metrics reports/metrics/evaluate_16k.json \\
        --figure figures/fig15_predictions_16k.png

Each ``--run`` is a run folder (holding ``best.pt``) or a folder of run folders. Data and split
default to the ones the runs were trained with (their checkpoints' config and ``split.json``).
This module only declares the arguments: the work is :func:`springstudy.evaluate.evaluate`,
imported in the handler so that ``springstudy --help`` stays fast. Options left at None take
the defaults of :mod:`springstudy.evaluate` (the help names them; a test keeps them in step).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from springstudy.errors import UserError
from springstudy.schema import BASELINES

#: Baseline names the command accepts (springstudy.baselines.CLOSED_FORM_BASELINES).
BASELINE_CHOICES = BASELINES


def run(args: argparse.Namespace) -> None:
    """Handler of ``springstudy evaluate`` (see ``springstudy evaluate --help``)."""
    from springstudy import evaluate as ev
    from springstudy import schema
    from springstudy.baselines import LINEAR_IR_REGULARISATION
    from springstudy.metrics import DEFAULT_PRE_EMPHASIS
    from springstudy.outputs import write_bytes_atomic
    from springstudy.outputs import save_figure
    from springstudy.thesis_tables import TABLE_FOR_DATASET

    found = schema.flag_problems(schema.ScoringGroup, {
        "--pre-emphasis": ("pre_emphasis", args.pre_emphasis), "--resamples": ("n_resamples", args.resamples),
        "--ir-regularisation": ("ir_regularisation", args.ir_regularisation),
        "--confidence": ("confidence", args.confidence)}) + schema.flag_problems(schema.EvaluateGroup, {
        "--examples": ("n_examples", args.examples), "--batch-size": ("batch_size", args.batch_size),
        "--noise-amplitude": ("noise_amplitude", args.noise_amplitude), "--ir-seconds": ("ir_seconds", args.ir_seconds)})
    if found:
        raise UserError("; ".join(found))
    resamples = ev.DEFAULT_RESAMPLES if args.resamples is None else args.resamples
    confidence = ev.DEFAULT_CONFIDENCE if args.confidence is None else args.confidence
    baselines = ev.REFERENCE_BASELINES if args.baselines is None else tuple(args.baselines)
    try:
        runs = ev.find_runs([ev.resolve_in_project(r) for r in args.run], args.models) if args.run else {}
        if args.run and not runs:
            raise ev.EvaluationError(f"no run of {', '.join(args.models)} under {', '.join(args.run)}")
        source = ev.common_source(runs) if runs else {}
        data = ev.resolve_in_project(args.data or source.get("data"))
        if data is None:
            raise ev.EvaluationError("no data: give --data (the runs' checkpoints do not name their dataset)")
        split_file = ev.resolve_in_project(args.split_file or source.get("split_file") or source.get("split_json"))
        seed = args.seed if args.seed is not None else int(source.get("seed") or ev.DEFAULT_SEED)
        method = args.split_method or source.get("split_method") or "random"
        result = ev.evaluate(
            data, runs, split_file, seed, method, baselines, args.noise_amplitude, args.ir_seconds,
            LINEAR_IR_REGULARISATION if args.ir_regularisation is None else args.ir_regularisation,
            DEFAULT_PRE_EMPHASIS if args.pre_emphasis is None else args.pre_emphasis,
            ev.DEFAULT_BATCH_SIZE if args.batch_size is None else args.batch_size,
            ev.DEFAULT_EXAMPLES if args.examples is None else args.examples, args.device, progress=not args.quiet)
        summary = result.summary(n_resamples=resamples, confidence=confidence, seed=seed)
    except (ev.EvaluationError, ValueError, KeyError, FileNotFoundError) as err:
        raise UserError(str(err)) from err
    tables = ev.DATASET_TABLES.get(result.dataset)
    if args.items:
        write_bytes_atomic(args.items, result.items.to_csv(index=False, float_format="%.8g").encode())
    if args.table:
        table = Path(args.table)
        title = tables.title if tables else f"Test results, {result.dataset}"
        ev.write_table(summary, table.parent, table.stem if table.suffix else table.name, title,
                       TABLE_FOR_DATASET.get(result.dataset), confidence)
    if args.metrics:
        ev.write_metrics(summary, args.metrics, dataset=result.dataset, sample_rate=result.sample_rate,
                         n_resamples=resamples, confidence=confidence)
    if args.figure:
        figure = ev.plot_predictions(result.examples, result.test, result.sample_rate,
                                     f"Fig 15 · {result.dataset}: prediction (blue) and target (orange)")
        save_figure(figure, args.figure, close=True)
    print(ev.results_markdown(summary, confidence=confidence))


def add(sub: argparse._SubParsersAction) -> None:
    """Add ``springstudy evaluate`` to the command line's subcommands."""
    p = sub.add_parser("evaluate", help="score trained models and baselines on the test split (Tables 8-10)",
                       description="Score each run's best.pt and the closed-form baselines on the whole test "
                                   "items; print the summary (mean and bootstrap interval per metric) and "
                                   "optionally write the per-item CSV, the table (CSV and Markdown beside the "
                                   "thesis's numbers), a DVC metrics file and Fig 15.")
    p.add_argument("--run", action="append", default=[], metavar="DIR",
                   help="a run folder (holding best.pt) or a folder of run folders, e.g. runs/quick/springset; "
                        "repeatable")
    p.add_argument("--models", nargs="+", default=None, metavar="NAME", help="only runs of these model names")
    p.add_argument("--data", default=None, help="dataset folder (default: the one the runs were trained on)")
    p.add_argument("--split-file", default=None,
                   help="split file (default: the runs' own, else a seeded split drawn as the trainer draws it)")
    p.add_argument("--split-method", default=None, choices=("random", "original"),
                   help="how to draw the split when there is no split file (default: the runs', else random)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of the split (if drawn), the bootstrap and the example items (default: the runs')")
    p.add_argument("--baselines", nargs="*", default=None, metavar="NAME", choices=BASELINE_CHOICES,
                   help="closed-form baselines scored beside the runs (default: Naive, Silence, Linear IR; "
                        f"choices: {', '.join(BASELINE_CHOICES)}; --baselines alone: none)")
    p.add_argument("--noise-amplitude", type=float, default=None,
                   help="Noise ceiling: half-width a of U(-a, a) (default: sqrt(3) x RMS of the training targets)")
    p.add_argument("--ir-seconds", type=float, default=None, help="Linear IR length (default: the item length)")
    p.add_argument("--ir-regularisation", type=float, default=None,
                   help="Linear IR: Tikhonov floor relative to the mean input power spectrum (default: 1e-06)")
    p.add_argument("--pre-emphasis", type=float, default=None,
                   help="pre-emphasis coefficient of the esr_pre metric (default: 0.85)")
    p.add_argument("--resamples", type=int, default=None, help="bootstrap resamples (default: 10000)")
    p.add_argument("--confidence", type=float, default=None, help="bootstrap interval level (default: 0.95)")
    p.add_argument("--batch-size", type=int, default=None, help="whole items per forward pass (default: 4)")
    p.add_argument("--examples", type=int, default=None, help="test items drawn in the figure (default: 3)")
    p.add_argument("--device", default="cpu", help="torch device for the models (default: cpu)")
    p.add_argument("--items", default=None, metavar="CSV", help="write the per-item metrics here")
    p.add_argument("--table", default=None, metavar="CSV",
                   help="write the summary table here (and Markdown beside it, with the thesis's numbers)")
    p.add_argument("--metrics", default=None, metavar="JSON", help="write a DVC metrics file here")
    p.add_argument("--figure", default=None, metavar="PNG", help="write Fig 15 (predictions over targets) here")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
