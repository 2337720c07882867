"""Reading ``params.yaml``: the one place every number of the study lives.

``params.yaml`` has a top-level ``profile`` (``smoke``, ``quick`` or ``paper``) and groups per
stage. A group may hold a ``profiles`` mapping whose entry for the active profile overrides the
group's plain keys, so one file describes all three sizes of the study without repeating itself.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from springstudy.errors import SpringStudyError

PROFILES = ("smoke", "quick", "paper")


class ConfigError(SpringStudyError, ValueError):
    """params.yaml is missing, unreadable or names something that does not exist."""


def project_root(start: str | Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the working directory) holding params.yaml."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "params.yaml").is_file():
            return folder
    raise ConfigError(f"no params.yaml found in {here} or any folder above it")


def load_params(path: str | Path | None = None) -> dict[str, Any]:
    """Load params.yaml as a dict; ``path`` defaults to the project root's params.yaml."""
    path = Path(path) if path is not None else project_root() / "params.yaml"
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(params).__name__}")
    return params


def resolve(group: dict[str, Any], profile: str) -> dict[str, Any]:
    """Return ``group`` with the active profile's overrides applied (deep merge, profile wins).

    >>> resolve({"steps": 10, "profiles": {"paper": {"steps": 1000}}}, "paper")
    {'steps': 1000}
    """
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    base = {k: copy.deepcopy(v) for k, v in group.items() if k != "profiles"}
    override = (group.get("profiles") or {}).get(profile) or {}
    return _merge(base, override)


def stage_params(stage: str, params: dict[str, Any] | None = None, profile: str | None = None) -> dict[str, Any]:
    """The parameters of one stage group for the active (or given) profile."""
    params = load_params() if params is None else params
    profile = profile or params.get("profile", "quick")
    if stage not in params:
        raise ConfigError(f"params.yaml has no group {stage!r} (groups: {', '.join(sorted(params))})")
    return resolve(params[stage], profile)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base
