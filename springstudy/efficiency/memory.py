"""Peak memory of offline and streaming inference, each measured in a fresh subprocess."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import torch

from springstudy.efficiency.timing import noise_signal
from springstudy.models import build
from springstudy.streaming import Streamer


#: Bytes per MB in every memory column (decimal, as the thesis prints MB and GB).
BYTES_PER_MB = 1e6
#: Share of the memory available at the start that concurrent memory subprocesses may plan to use.
MEMORY_CAP_SHARE = 0.4


# --------------------------------------------------------------------------------------------
# Memory


@dataclass(frozen=True)
class MemoryMeasurement:
    """Peak memory of one workload in a fresh subprocess, in MB (``BYTES_PER_MB``).

    ``peak_mb[i]`` is the peak resident size above ``baseline_mb`` after ``seconds[i]`` of
    input (one entry for an offline pass or an allocation); ``method`` says how the peak was
    read (``clear_refs``: VmHWM reset at the baseline; ``maxrss``: the process's lifetime peak,
    which can hide an inference smaller than the import's own peak).
    """

    baseline_mb: float
    peak_mb: tuple[float, ...]
    seconds: tuple[float, ...]
    method: str


def _status_kib(field_name: str) -> int | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset this process's peak RSS (Linux >= 4.0: VmHWM := VmRSS); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _resident_bytes() -> int:
    kib = _status_kib("VmRSS")
    if kib is not None:
        return kib * 1024
    import psutil

    return psutil.Process().memory_info().rss


def _peak_bytes() -> int:
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


def _memory_child(task: dict[str, Any]) -> dict[str, Any]:
    """Run one memory workload in this (fresh) process; see :func:`peak_memory`."""
    torch.set_num_threads(int(task.get("threads", 1)))
    kind = task["kind"]
    model = build(task["model"]).eval() if kind in ("offline", "streaming") else None
    gc.collect()
    baseline = _resident_bytes()
    method = "clear_refs" if _reset_peak() else "maxrss"
    if method == "maxrss":
        baseline = max(baseline, _peak_bytes())
    peaks: list[float] = []
    with torch.inference_mode():
        if kind == "allocation":  # calibration: touch every page of ``megabytes``
            held = torch.ones(int(task["megabytes"] * BYTES_PER_MB) // 4)
            peaks.append(_peak_bytes())
            del held
        elif kind == "offline":
            x = noise_signal(int(round(task["seconds"][0] * task["sample_rate"])))
            y = model(x)
            peaks.append(_peak_bytes())
            del x, y
        elif kind == "streaming":
            block = int(task["block"])
            streamer = Streamer(model, max_block=block)
            x = noise_signal(block)
            done = 0
            for seconds in sorted(task["seconds"]):
                target = int(round(seconds * task["sample_rate"]))
                while done < target:
                    streamer.process(x)
                    done += block
                peaks.append(_peak_bytes())
        else:
            raise ValueError(f"unknown memory workload {kind!r}")
    return {"baseline_mb": baseline / BYTES_PER_MB,
            "peak_mb": [max(0.0, p - baseline) / BYTES_PER_MB for p in peaks],
            "method": method}


def peak_memory(task: dict[str, Any], timeout: float | None = None) -> MemoryMeasurement:
    """Peak memory of a workload run in a fresh Python subprocess.

    ``task`` is ``{"kind": "offline", "model": name, "sample_rate": sr, "seconds": [s]}``,
    ``{"kind": "streaming", "model": name, "sample_rate": sr, "block": n, "seconds": [s1, s2]}``
    or ``{"kind": "allocation", "megabytes": mb}`` (a calibration that holds ``mb`` MB), with an
    optional ``"threads"`` (default 1). The child imports torch and this module, builds the
    model, records its resident size as the baseline and resets its peak counter, then runs
    the workload and reports the peak above the baseline after each length in ``seconds``.
    """
    code = ("import json, sys\n"
            "from springstudy.efficiency.memory import _memory_child\n"
            "print('MEMORY ' + json.dumps(_memory_child(json.loads(sys.argv[1]))))\n")
    env = dict(os.environ)
    threads = str(task.get("threads", 1))
    env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    done = subprocess.run([sys.executable, "-c", code, json.dumps(task)], capture_output=True,
                          text=True, timeout=timeout, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("MEMORY ")]
    if done.returncode != 0 or not lines:
        errors = [line for line in done.stderr.strip().splitlines() if line.strip()]
        reason = errors[-1].strip() if errors else "no output"
        if done.returncode < 0:
            reason = f"killed by signal {-done.returncode} (out of memory?)"
        raise RuntimeError(f"memory subprocess failed ({done.returncode}): {reason}")
    record = json.loads(lines[-1][len("MEMORY "):])
    seconds = tuple(float(s) for s in task.get("seconds", [0.0]))
    return MemoryMeasurement(record["baseline_mb"], tuple(record["peak_mb"]),
                             tuple(sorted(seconds)), record["method"])


def _run_within_cap(jobs: list[tuple[dict[str, Any], float]], workers: int,
                    cap_mb: float) -> list[MemoryMeasurement | Exception]:
    """Run memory tasks on ``workers`` threads so that their predicted peaks stay under the cap.

    A task predicted above the cap runs alone. Each result is a measurement or the exception
    its subprocess raised (a run killed for memory is reported, not fatal).
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    condition, in_use = threading.Condition(), [0.0]

    def run(task: dict[str, Any], predicted_mb: float) -> MemoryMeasurement | Exception:
        need = min(predicted_mb, cap_mb)
        with condition:
            condition.wait_for(lambda: in_use[0] == 0 or in_use[0] + need <= cap_mb)
            in_use[0] += need
        try:
            return peak_memory(task)
        except (RuntimeError, subprocess.TimeoutExpired) as err:
            return err
        finally:
            with condition:
                in_use[0] -= need
                condition.notify_all()

    with ThreadPoolExecutor(max(1, workers)) as pool:
        return list(pool.map(lambda job: run(*job), jobs))
