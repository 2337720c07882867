"""Benchmark: render the `paper` synthetic datasets (1186 x 2 s at 16 kHz, 690 x 5 s at 48 kHz).

Target (issue 3): under 2 minutes together on 2 cores. Run: python benchmarks/synth_paper.py
Prints wall-clock seconds per format (time.perf_counter around springstudy.data.synth.synthesize,
numba already compiled by a warm-up smoke render) and the total.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from springstudy.data.synth import synthesize


def main() -> dict[str, float]:
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        synthesize("springset", "smoke", Path(tmp) / "warmup", progress=False)
        for fmt in ("springset", "egfxset"):
            started = time.perf_counter()
            synthesize(fmt, "paper", Path(tmp) / fmt, progress=True)
            times[fmt] = round(time.perf_counter() - started, 1)
    times["total"] = round(sum(times.values()), 1)
    print(json.dumps(times))
    return times


if __name__ == "__main__":
    main()
