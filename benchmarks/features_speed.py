"""Benchmark: Essentia descriptors (thesis §3.2.3) of the whole `quick` synthetic datasets.

Target (issue 10): at least 100x real time on 2 cores. Run: python benchmarks/features_speed.py
[--workers 2] [--repeats 3]. The `quick` SpringSet (224 pairs x 2 s at 16 kHz) and EGFxSet
(90 pairs x 5 s at 48 kHz) are synthesized into a temporary folder first (not timed). Each run
times ``springstudy.features.descriptor_table(data, workers=N)`` with time.perf_counter, from
opening the dataset to the finished table (process pool start-up, reading the files, all nine
descriptors on the dry and the wet side). "Real time" counts the audio analysed: the dry plus the
wet seconds of every item. Prints JSON: per dataset and in total, the audio seconds, the wall
seconds of every repeat and the speed of the best and the median repeat, plus the load average
before the runs. On a shared machine other processes take cores away, so the CPU seconds of
this process and its (reaped) workers are recorded too: ``x_real_time_cpu`` = audio seconds /
(CPU seconds / workers) is the speed the run would have with the 2 cores to itself and no
parallel overhead beyond what was measured (the wall figure is the one to quote when the load
average is below the core count).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from springstudy.data.synth import synthesize
from springstudy.features import descriptor_table


def _cpu_seconds() -> float:
    """User + system CPU time of this process and of its terminated (reaped) children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(workers: int = 2, repeats: int = 3, preset: str = "quick") -> dict:
    report: dict = {"workers": workers, "repeats": repeats, "preset": preset,
                    "cpus": len(os.sched_getaffinity(0)), "load_average_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        data = {fmt: synthesize(fmt, preset, Path(tmp) / fmt, progress=False) for fmt in ("springset", "egfxset")}
        walls: dict[str, list[float]] = {fmt: [] for fmt in data}
        cpus: dict[str, list[float]] = {fmt: [] for fmt in data}
        audio: dict[str, float] = {}
        for _ in range(repeats):
            for fmt, path in data.items():
                cpu_before = _cpu_seconds()
                started = time.perf_counter()
                table = descriptor_table(path, workers=workers, progress=False)
                walls[fmt].append(time.perf_counter() - started)
                cpus[fmt].append(_cpu_seconds() - cpu_before)
                audio[fmt] = float(table["seconds"].sum())
    walls["total"] = [sum(w) for w in zip(*(walls[f] for f in data))]
    cpus["total"] = [sum(c) for c in zip(*(cpus[f] for f in data))]
    audio["total"] = sum(audio.values())
    for name in walls:
        report[name] = {"audio_seconds": round(audio[name], 1), "wall_seconds": [round(w, 2) for w in walls[name]],
                        "x_real_time_best": round(audio[name] / min(walls[name]), 1),
                        "x_real_time_median": round(audio[name] / statistics.median(walls[name]), 1),
                        "cpu_seconds": [round(c, 2) for c in cpus[name]],
                        "x_real_time_cpu": round(audio[name] / (statistics.median(cpus[name]) / workers), 1)}
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--preset", default="quick", choices=("smoke", "quick", "paper"))
    args = parser.parse_args()
    main(args.workers, args.repeats, args.preset)
