"""``springstudy features``: the Essentia descriptors (thesis §3.2.3) of a dataset, per item and side."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from springstudy.errors import UserError


def add(sub: argparse._SubParsersAction) -> None:
    """Add ``springstudy features``: the thesis §3.2.3 descriptor tables of one dataset."""
    from springstudy.features import FEATURES_DIR

    p = sub.add_parser("features", help="Essentia descriptors (thesis §3.2.3) of a dataset, per item and side")
    p.add_argument("--data", required=True, help="dataset folder (SpringSet or EGFxSet layout)")
    p.add_argument("--out", default=None,
                   help="CSV to write (a JSON with the same stem is written beside it); "
                        f"default {FEATURES_DIR}/<dataset>_features.csv under the project root")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all CPUs)")
    p.add_argument("--splits", default=None, help="split file (JSON) whose split names fill the 'split' column")
    p.add_argument("--params", default=None, help="read the descriptor parameters from this params.yaml "
                                                  "(group 'features', profile applied)")
    p.add_argument("--preliminary", action="store_true",
                   help="also write the librosa/pyloudnorm table (LUFS, pYIN, noise) as <dataset>_preliminary.csv")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Handler of ``springstudy features``."""
    from springstudy.config import ConfigError, load_params, stage_params
    from springstudy.data import DatasetError, detect_layout
    from springstudy.features import (FeatureError, FeatureParams, default_output, descriptor_table,
                                      preliminary_path, table_meta, write_descriptor_table)

    try:
        params, workers = FeatureParams(), args.workers
        if args.params:
            loaded = load_params(args.params)
            # The group's keys (checked by the schema on loading) are descriptor parameters.
            params = FeatureParams.from_dict(stage_params("features", loaded) if "features" in loaded else {})
        if workers is not None and workers < 1:
            raise FeatureError(f"workers must be at least 1, not {workers}")
        layout = detect_layout(args.data)
        out = Path(args.out) if args.out else default_output(layout)
        jobs = [("essentia", out)] + ([("preliminary", preliminary_path(out))] if args.preliminary else [])
        for analysis, path in jobs:
            started = time.perf_counter()
            table = descriptor_table(args.data, analysis, params, workers=workers,
                                     split_file=args.splits, progress=not args.quiet)
            elapsed = time.perf_counter() - started
            meta = table_meta(args.data, analysis, params, args.splits)
            csv_path, json_path = write_descriptor_table(table, path, meta)
            audio = float(table["seconds"].sum())
            print(f"wrote {len(table)} rows ({analysis}) to {csv_path} and {json_path.name} in {elapsed:.1f} s "
                  f"({audio / elapsed:.0f}x real time)")
    except (ConfigError, DatasetError, FeatureError) as err:
        raise UserError(str(err)) from err
