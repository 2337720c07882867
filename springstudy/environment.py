"""What machine and software ran the study (reported by notebooks/00_environment.ipynb)."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import sys
from typing import Any

#: Packages whose versions change numbers in the study.
REPORTED_PACKAGES = ("torch", "torchaudio", "essentia", "librosa", "numpy", "scipy", "auraloss", "springstudy")


def package_version(name: str) -> str | None:
    """Installed version of ``name`` (distribution metadata, else ``__version__``), or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        module = importlib.import_module(name)
    except Exception:  # noqa: BLE001 - a broken install is reported as missing, not raised
        return None
    return str(getattr(module, "__version__", "unknown"))


def cpu_name() -> str:
    """The CPU model name (from /proc/cpuinfo on Linux, else platform.processor())."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def collect() -> dict[str, Any]:
    """Versions of Python and the study's key packages, the CPU, thread counts and the GPU, if any."""
    import torch

    gpu = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        gpu = {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
               "count": torch.cuda.device_count(), "cuda": torch.version.cuda}
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {name: package_version(name) for name in REPORTED_PACKAGES},
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
    }
