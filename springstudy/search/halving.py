"""Successive halving (Jamieson and Talwalkar 2016) on any objective: the schedule and the rungs."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
from tqdm.auto import tqdm


# --- successive halving, on any objective --------------------------------------------------------

@dataclass
class RungResult:
    """One configuration's result at one rung."""

    config_id: str
    group: str
    rung: int
    steps: int
    val_loss: float
    promoted: bool = False


def survivors(n: int, eta: int, min_survivors: int = 1) -> int:
    """How many of ``n`` configurations go on to the next rung: ``max(min(n, min_survivors), n // eta)``."""
    return max(min(n, min_survivors), n // eta)


def schedule(configurations: Mapping[str, int], rungs: Sequence[int], eta: int, min_survivors: int = 1,
             per_family: bool = True) -> pd.DataFrame:
    """Planned configurations per rung (rows) and family (columns, or one group ``all``), with
    each rung's cumulative step count and the rung's total; ``total.sum()`` is the number of
    rung trainings."""
    groups = dict(configurations) if per_family else {"all": sum(configurations.values())}
    rows = []
    alive = dict(groups)
    for r, steps in enumerate(rungs):
        rows.append({"rung": r, "steps": steps, **alive, "total": sum(alive.values())})
        alive = {g: survivors(n, eta, min_survivors) for g, n in alive.items()}
    table = pd.DataFrame(rows)
    return table


def _sort_key(value: float) -> float:
    return value if math.isfinite(value) else math.inf


def successive_halving(config_ids: Sequence[str], rungs: Sequence[int], evaluate: Callable[[str, int], float],
                       eta: int, groups: Mapping[str, str] | None = None, min_survivors: int = 1,
                       rungs_to_run: int | None = None, progress: bool = False,
                       desc: str = "search") -> list[RungResult]:
    """Progressive pruning (thesis §3.3.1) by successive halving.

    At rung ``r`` every live configuration is evaluated with ``evaluate(config_id, rungs[r])``
    (its validation loss after ``rungs[r]`` cumulative steps; lower is better, NaN or inf for a
    failed run). Within each group (``groups[config_id]``; one group if None) the best
    ``survivors(n, eta, min_survivors)`` with a finite loss are promoted; ties keep the input
    order. Nobody is promoted from the last rung. ``rungs_to_run`` stops after that many rungs
    (their survivors stay marked promoted). Returns one :class:`RungResult` per evaluation.
    """
    groups = dict(groups) if groups is not None else {c: "all" for c in config_ids}
    order = {c: i for i, c in enumerate(config_ids)}
    n_rungs = len(rungs) if rungs_to_run is None else min(len(rungs), int(rungs_to_run))
    per_group: dict[str, int] = {}
    for c in config_ids:
        per_group[groups[c]] = per_group.get(groups[c], 0) + 1
    planned = schedule(per_group, rungs[:n_rungs], eta, min_survivors)["total"].sum() if n_rungs else 0
    results: list[RungResult] = []
    alive = list(config_ids)
    bar = tqdm(total=int(planned), desc=desc, unit="run", disable=not progress)
    try:
        for r in range(n_rungs):
            rung_results = []
            for config_id in alive:
                bar.set_postfix_str(f"rung {r}, {config_id}")
                loss = float(evaluate(config_id, int(rungs[r])))
                rung_results.append(RungResult(config_id, groups[config_id], r, int(rungs[r]), loss))
                bar.update(1)
            if r < len(rungs) - 1:
                for group in dict.fromkeys(groups[c] for c in alive):
                    members = [x for x in rung_results if x.group == group]
                    finite = sorted((x for x in members if math.isfinite(x.val_loss)),
                                    key=lambda x: (_sort_key(x.val_loss), order[x.config_id]))
                    for x in finite[:survivors(len(members), eta, min_survivors)]:
                        x.promoted = True
            results.extend(rung_results)
            alive = [x.config_id for x in rung_results if x.promoted]
    finally:
        bar.close()
    return results
