"""The efficiency benchmark's settings, each under one name everywhere.

A field of :class:`EfficiencySettings` is, under the same name, the key of ``params.yaml``'s
``efficiency`` group, the parameter of notebook ``06_efficiency``, the argument of
:func:`springstudy.efficiency.benchmark` (through the settings object) and, with dashes, the
flag of ``springstudy efficiency`` (``offline_seconds`` is ``--offline-seconds``). Its defaults
are the study's; :data:`DEFAULTS` is the instance every function default reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from springstudy.errors import SpringStudyError
from springstudy.schema import EfficiencyFields, efficiency_problems


class EfficiencyError(SpringStudyError, ValueError):
    """An efficiency setting is unknown or out of range."""


@dataclass(frozen=True)
class EfficiencySettings(EfficiencyFields):
    """Every setting of the efficiency benchmark (the fields of
    :class:`springstudy.schema.EfficiencyFields`, whose types and ranges are the schema's);
    ``check`` validates them."""

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> EfficiencySettings:
        """Settings from a mapping of field names (a params.yaml group, the notebook's parameters,
        the command line's flags); an unknown name is an error, lists become tuples."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise EfficiencyError(f"unknown efficiency setting(s) {', '.join(unknown)}; "
                                  f"settings: {', '.join(sorted(names))}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}).check()

    def check(self) -> EfficiencySettings:
        """Raise :class:`EfficiencyError` for a setting of the wrong type or out of range (the
        schema's :func:`springstudy.schema.efficiency_problems`) or an unknown model; return the settings."""
        from springstudy.models import list_models

        found = efficiency_problems(dataclasses.asdict(self))
        if found:
            raise EfficiencyError("efficiency settings: " + "; ".join(found))
        if self.models is not None:
            known = {name.lower(): name for name in list_models()}
            unknown = [m for m in self.models if m.lower() not in known]
            if unknown:
                raise EfficiencyError(f"unknown model(s) {', '.join(unknown)}; named models: "
                                      f"{', '.join(list_models())}")
        return self

    def model_names(self) -> list[str]:
        """The named models to measure, spelt as the registry spells them (all when ``models`` is None)."""
        from springstudy.models import list_models

        known = {name.lower(): name for name in list_models()}
        return [known[m.lower()] for m in self.models] if self.models else list_models()

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain values (tuples as lists), e.g. for a run record."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def thread_counts(values: Iterable[str | int | None]) -> list[int | None]:
    """Parse thread counts: integers, or ``all``/None for every core."""
    out: list[int | None] = []
    for v in values:
        if v is None or (isinstance(v, str) and v.lower() == "all"):
            out.append(None)
        else:
            n = int(v)
            if n < 1:
                raise ValueError(f"thread counts must be >= 1, not {n}")
            out.append(n)
    return out


#: The study's settings: every function default of the efficiency package reads these.
DEFAULTS = EfficiencySettings()

#: What each setting means (the command line's help).
HELP_TEXT = {
    "models": "named models (all: springstudy.models.list_models())",
    "rates": "sample rates in Hz",
    "blocks": "streaming block sizes in samples (latency = block / rate)",
    "table_block": "the block Table 11 reports streaming at, and the block of the streaming memory measurement",
    "offline_seconds": "offline input length in seconds",
    "streaming_seconds": "audio streamed per timed repeat, in seconds",
    "repeats": "timed repeats per measurement; the median is reported",
    "threads": "thread counts of the offline rows (N or all)",
    "streaming_threads": "thread counts of the streaming rows (N or all)",
    "offline_budget_s": "seconds of timed offline passes per model and thread count; a slower model is timed "
                        "fewer times",
    "offline_max_pass_s": "longest an offline pass may take; a slower one runs on a shorter input, stated in the "
                          "details",
    "memory": "measure peak memory in fresh subprocesses",
    "memory_seconds": "offline input lengths whose peak memory is measured",
    "memory_stream_seconds": "input lengths after which the streaming peak is read",
    "memory_workers": "memory subprocesses run at once, within a share of the free memory",
}

__all__ = ["DEFAULTS", "EfficiencyError", "EfficiencySettings", "HELP_TEXT", "thread_counts"]
