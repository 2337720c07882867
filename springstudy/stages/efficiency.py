"""The ``efficiency`` stage (thesis §4.2, Table 11): every model's FLOPs, offline and streaming
real-time factor against this machine's FLOP bound, and peak memory.

:func:`run` measures with :func:`springstudy.efficiency.benchmark` under one
:class:`~springstudy.efficiency.EfficiencySettings` (params.yaml's ``efficiency`` group, notebook
``06_efficiency``'s parameters and ``springstudy efficiency``'s flags name its fields alike),
records the machine, and writes ``efficiency.csv``, its details, the memory table, the run
record, Table 11 and the two figures. :func:`reading` is what the notebook says of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from springstudy import efficiency as eff


@dataclass
class EfficiencyStage:
    """What :func:`run` measured and wrote."""

    settings: eff.EfficiencySettings
    result: eff.EfficiencyResult
    machine: dict[str, Any]
    written: dict[str, Path]


def run(settings: eff.EfficiencySettings, *, tables_dir: Path, figures_dir: Path | None,
        machine: dict[str, Any], progress: bool = False) -> EfficiencyStage:
    """Benchmark every model of ``settings`` and write the tables and (with ``figures_dir``) the
    figures (see the module doc); ``machine`` is the environment record the run is labelled with.
    ``springstudy efficiency`` runs this too."""
    result = eff.benchmark(settings, progress=progress)
    result.info["machine"] = {k: machine.get(k) for k in ("cpu", "cpu_count", "cpu_affinity", "platform")}
    written = eff.write_efficiency(result, tables_dir, figures_dir)
    return EfficiencyStage(settings, result, machine, written)


def table11_markdown(stage: EfficiencyStage) -> str:
    """Table 11, ours beside the thesis's (Markdown)."""
    block = stage.settings.table_block
    return eff.table11_markdown(eff.table11(stage.result.rows, block, stage.result.details), stage.result.info,
                                block, stage.result.memory)


def reading(stage: EfficiencyStage, target_ratio: float = 3.0, memory_limit_mb: float = 200.0) -> str:
    """What the table says against the targets (measured/bound ``target_ratio`` for the
    convolutional models, ``memory_limit_mb`` for streaming) and against the thesis's Table 11."""
    result, block = stage.result, stage.settings.table_block
    memory = result.memory if stage.settings.memory else None
    return (eff.reading(result.rows, memory, block, target_ratio, memory_limit_mb, result.details)
            + "\n\n" + eff.thesis_reading(result.rows, memory, block)
            + f"\n\nMachine: {stage.machine['cpu']}, {stage.machine['cpu_count']} cores; load average during the run "
            f"{result.info['load_average_start']} → {result.info['load_average_end']} (1, 5, 15 min).")


__all__ = ["EfficiencyStage", "reading", "run", "table11_markdown"]
