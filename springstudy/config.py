"""Reading ``params.yaml``: the one place every number of the study lives.

``params.yaml`` has a top-level ``profile`` (``smoke``, ``quick`` or ``paper``) and groups per
stage. A group may hold a ``profiles`` mapping whose entry for the active profile overrides the
group's plain keys, so one file describes all three sizes of the study without repeating itself.
A setting several stages use lives once, in a shared group (:data:`SHARED_SETTINGS`: the
``scoring`` group's pre-emphasis, Linear IR regularisation and bootstrap), and
:func:`stage_params` hands it to each stage that uses it. This module is the one resolver: a
stage's numbers are its group, the active profile's overrides, the shared settings, and for
training the dataset format's and the named run's entries (:func:`train_params`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from springstudy.errors import SpringStudyError


from springstudy import schema
from springstudy.schema import FORMATS, PROFILES

#: Settings several stages use, each written once in a shared params.yaml group:
#: ``{group: {stage: keys the stage takes from it}}``. A stage's own group may not repeat them.
SHARED_SETTINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "scoring": {"train": ("pre_emphasis",),
                "baselines": ("pre_emphasis", "ir_regularisation", "n_resamples", "confidence"),
                "evaluate": ("pre_emphasis", "ir_regularisation", "n_resamples", "confidence"),
                "knobs": ("pre_emphasis", "n_resamples", "confidence")},
}


class ConfigError(SpringStudyError, ValueError):
    """params.yaml is missing, unreadable or names something that does not exist."""


def project_root(start: str | Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the working directory) holding params.yaml."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "params.yaml").is_file():
            return folder
    raise ConfigError(f"no params.yaml found in {here} or any folder above it")


def load_params(path: str | Path | None = None, check: bool = True) -> dict[str, Any]:
    """Load params.yaml as a dict; ``path`` defaults to the project root's params.yaml.

    With ``check`` (the default) the whole file is checked against :mod:`springstudy.schema`
    for every profile (:func:`check_params`): a mistake anywhere is a :class:`ConfigError` that
    names the file and each key path, before any stage uses a value."""
    path = Path(path) if path is not None else project_root() / "params.yaml"
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        params = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(params, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(params).__name__}")
    if check:
        check_params(params, path)
    return params


def params_problems(params: dict[str, Any]) -> list[str]:
    """Every violation of the schema in ``params`` (a loaded params.yaml), one line each, naming the
    key path; a violation that only one profile's overrides make says which. Each group is
    resolved for every profile (and ``train`` for every format and run) and checked as resolved."""
    lines: list[str] = []

    def add(found: list[str]) -> None:
        lines.extend(line for line in found if line not in lines)

    unknown = sorted(set(params) - set(schema.TOP_LEVEL))
    if unknown:
        add([f"{key}: unknown group; the groups are {', '.join(schema.TOP_LEVEL)}" for key in unknown])
    add(schema.problems(_TopLevel, {k: params[k] for k in ("profile", "seed") if k in params}))
    add([f"{name}.profiles: dvc.yaml passes this group to its stage as written, so per-profile values "
         f"would never be read; set the plain keys" for name in schema.UNPROFILED
         if isinstance(params.get(name), dict) and "profiles" in params[name]])
    for profile in PROFILES:
        for name in (*schema.GROUPS, "efficiency", "train"):
            if name not in params:
                continue
            try:
                if name == "train":
                    add(_train_problems(params, profile))
                    continue
                group = resolve(params[name], profile, name)
            except ConfigError as err:
                add([str(err).removeprefix("params.yaml: ")])
                continue
            check = (schema.efficiency_problems if name == "efficiency"
                     else lambda values, where: schema.problems(schema.GROUPS[name], values, where))
            add(_in_profile(check(group, name), params[name], name, profile))
            if name == "knobs":          # its training settings are a training run's
                for part in ("train", "recurrent"):
                    if isinstance(group.get(part), dict):
                        add(_in_profile(schema.train_problems(group[part], f"knobs.{part}"), params[name],
                                        name, profile))
    return lines


def check_params(params: dict[str, Any], path: str | Path = "params.yaml") -> None:
    """Raise :class:`ConfigError` naming ``path`` and every violation :func:`params_problems` finds."""
    found = params_problems(params)
    if found:
        raise ConfigError(f"{path}: " + "; ".join(found))


class _TopLevel(schema.BaseModel):
    model_config = schema.ConfigDict(strict=True, extra="ignore")
    profile: schema.Literal[PROFILES] = None
    seed: int = schema.Field(None, ge=0)


def _train_problems(params: dict[str, Any], profile: str) -> list[str]:
    """The train group's violations for ``profile``: its plain settings with each format's entry,
    then each run's resolved settings."""
    train = params["train"]
    if not isinstance(train, dict):
        return [f"train: expected a mapping of settings, got {type(train).__name__} {train!r}"]
    found: list[str] = []
    reserved = {"model", "out", "data"}
    for format in FORMATS:
        group = train_params(params, profile, format)
        if "seed" not in train and "seed" not in ((train.get("profiles") or {}).get(profile) or {}):
            group.pop("seed", None)                     # the top-level seed, checked there
        bad = sorted(reserved & set(group))
        found += [f"train.{key}: set per run (train.runs) or by the stage, not in the train group" for key in bad]
        lines = schema.train_problems({k: v for k, v in group.items() if k not in reserved}, "train")
        found += _in_profile(_in_format(lines, train, format, profile), train, "train", profile)
    runs = train.get("runs") or {}
    if not isinstance(runs, dict):
        return found + [f"train.runs: expected a mapping of run names to entries, got {type(runs).__name__}"]
    for run, entry in runs.items():
        where = f"train.runs.{run}"
        if not isinstance(entry, dict):
            found.append(f"{where}: expected a mapping with model and format, got {entry!r}")
            continue
        entry_problems = schema.problems(schema.RunEntry, {k: v for k, v in entry.items() if k in ("model", "format")}, where)
        if entry_problems:
            found += entry_problems
            continue
        try:
            group = train_params(params, profile, entry["format"], run)
        except ConfigError as err:
            found.append(str(err).removeprefix("params.yaml: "))
            continue
        own = set(entry) | set(((entry.get("profiles") or {}).get(profile) or {}))
        values = {k: v for k, v in group.items() if k in own and k not in ("model", "format", "profiles")}
        found += _in_profile(schema.train_problems(values, where), entry, where, profile)
    return found


def _in_format(lines: list[str], train: dict[str, Any], format: str, profile: str) -> list[str]:
    """Point each line at ``train[.profiles.<profile>].formats.<format>.<key>`` where a format's
    entry set the key (the entries override the group's plain keys)."""
    override = ((train.get("profiles") or {}).get(profile) or {})
    entries = [(f"train.profiles.{profile}.formats.{format}", ((override.get("formats") or {}).get(format) or {})),
               (f"train.formats.{format}", ((train.get("formats") or {}).get(format) or {}))]
    pointed = []
    for line in lines:
        key = line.removeprefix("train.").split(":", 1)[0].split(".", 1)[0]
        for where, entry in entries:
            if isinstance(entry, dict) and key in entry:
                line = where + line.removeprefix("train")
                break
        pointed.append(line)
    return pointed


def _in_profile(lines: list[str], group: Any, where: str, profile: str) -> list[str]:
    """Point each line at ``<where>.profiles.<profile>.<key>`` where the profile's override set the key."""
    override = ((group.get("profiles") or {}).get(profile) or {}) if isinstance(group, dict) else {}
    pointed = []
    for line in lines:
        key = line[len(where) + 1:].split(":", 1)[0].split(".", 1)[0] if line.startswith(where + ".") else ""
        if key and isinstance(override, dict) and key in override:
            line = f"{where}.profiles.{profile}.{line[len(where) + 1:]}"
        pointed.append(line)
    return pointed


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping (plain YAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping (lines {seen[key]} and "
                                f"{key_node.start_mark.line + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def resolve(group: dict[str, Any], profile: str, where: str = "") -> dict[str, Any]:
    """Return ``group`` with the active profile's overrides applied (deep merge, profile wins).

    >>> resolve({"steps": 10, "profiles": {"paper": {"steps": 1000}}}, "paper")
    {'steps': 1000}
    """
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    if group is None:
        return {}
    at = f"params.yaml: {where}" if where else "params.yaml"
    if not isinstance(group, dict):
        raise ConfigError(f"{at}: expected a mapping of settings, got {type(group).__name__} {group!r}")
    unknown = sorted(set(group.get("profiles") or {}) - set(PROFILES))
    if unknown:
        raise ConfigError(f"{at}{'.' if where else ': '}profiles: unknown profile(s) {', '.join(map(repr, unknown))}; "
                          f"the profiles are {', '.join(PROFILES)}")
    base = {k: copy.deepcopy(v) for k, v in group.items() if k != "profiles"}
    override = (group.get("profiles") or {}).get(profile) or {}
    return _merge(base, override)


def stage_params(stage: str, params: dict[str, Any] | None = None, profile: str | None = None) -> dict[str, Any]:
    """The parameters of one stage group for the active (or given) profile, with the shared
    settings it uses (:data:`SHARED_SETTINGS`)."""
    params = load_params() if params is None else params
    profile = profile or params.get("profile", "quick")
    if stage not in params:
        raise ConfigError(f"params.yaml has no group {stage!r} (groups: {', '.join(sorted(params))})")
    return _with_shared(stage, resolve(params[stage], profile, stage), params, profile)


def train_params(params: dict[str, Any], profile: str, format: str | None = None,
                 run: str | None = None) -> dict[str, Any]:
    """The training settings of one run: the ``train`` group for ``profile`` with the shared
    settings, then the dataset ``format``'s entry under ``formats`` (e.g. the thesis's batch 16 at
    16 kHz and 8 at 48 kHz), then the keys of ``train.runs.<run>`` besides model and format (its
    own ``profiles:`` resolved for ``profile``); ``seed`` defaults to the top-level seed. The run's
    ``model`` and ``format`` come back under those keys when it names them."""
    train = params.get("train", {}) or {}
    group = _with_shared("train", resolve(train, profile, "train"), params, profile)
    per_format = group.pop("formats", {}) or {}
    unknown = sorted(set(per_format) - set(FORMATS))
    if unknown:
        raise ConfigError(f"params.yaml: train.formats: unknown format(s) {', '.join(map(repr, unknown))}; "
                          f"the formats are {', '.join(FORMATS)}")
    group.pop("runs", None)
    if format is not None:
        group.update(per_format.get(format, {}) or {})
    if "seed" in params:
        group.setdefault("seed", params["seed"])
    if run is not None:
        entry = (train.get("runs") or {}).get(run)
        if entry is None:
            raise ConfigError(f"params.yaml: train.runs has no run {run!r}")
        group.update(resolve(entry, profile, f"train.runs.{run}"))
    return group


def _with_shared(stage: str, group: dict[str, Any], params: dict[str, Any], profile: str) -> dict[str, Any]:
    for name, users in SHARED_SETTINGS.items():
        keys = users.get(stage, ())
        if not keys or name not in params:
            continue
        repeated = sorted(set(keys) & set(group))
        if repeated:
            raise ConfigError(f"params.yaml: {stage}.{repeated[0]} repeats {name}.{repeated[0]}; "
                              f"set it once, in the {name} group")
        shared = resolve(params[name], profile, name)
        missing = [key for key in keys if key not in shared]
        if missing:
            raise ConfigError(f"params.yaml: the {name} group has no {missing[0]} (the {stage} stage uses it)")
        group.update({key: copy.deepcopy(shared[key]) for key in keys})
    return group


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base
