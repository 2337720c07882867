"""DVC dependencies that cannot drift: every stage depends on each package file its code imports.

A stage's code is its notebook's code cells (papermill stages) or the CLI handler its command
runs (``springstudy data prepare`` -> ``run_prepare`` in cli.py). From there every
``springstudy`` import, at any depth (imports inside functions count: they run), is followed
through the package, packages' ``__init__.py`` included; imports under ``if TYPE_CHECKING:``
do not run and are skipped. Each file reached must be covered by a ``deps`` entry of the
stage: the file itself or a folder above it.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import yaml
from importgraph import PACKAGE, ROOT, closure, imported_names


def _notebook_imports(path: Path) -> set[str]:
    cells = json.loads(path.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
    return imported_names(ast.parse(code))


def _cli_handler_imports(words: list[str]) -> set[str]:
    """Imports of the CLI code that runs ``springstudy <words>``: the top level of its module
    ``springstudy/cli/<first word>.py`` and its handler there (``run``, or ``run_<last word>`` for a
    nested subcommand such as ``data prepare``)."""
    module = ROOT / PACKAGE / "cli" / f"{words[0]}.py"
    tree = ast.parse(module.read_text())
    handler = "run" if len(words) == 1 else f"run_{words[-1]}"
    top = {name for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
           for name in imported_names(ast.Module(body=[node], type_ignores=[]))}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == handler:
            return top | imported_names(node)
    raise AssertionError(f"{module.relative_to(ROOT)} has no {handler} for `springstudy {' '.join(words)}`")


def _stages() -> list[tuple[str, str, list[str]]]:
    """(name, cmd, deps) of every stage of dvc.yaml, foreach stages once per template."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    out = []
    for name, stage in stages.items():
        body = stage.get("do", stage)
        out.append((name, body["cmd"], [d if isinstance(d, str) else next(iter(d)) for d in body.get("deps", [])]))
    return out


def _entry_imports(cmd: str) -> set[str]:
    notebook = re.search(r"papermill\b.*?\s(notebooks/\S+\.ipynb)", cmd, re.S)
    if notebook:
        return _notebook_imports(ROOT / notebook.group(1))
    cli = re.search(r"(?:^|&&\s*)springstudy((?:\s+[a-z][a-z-]*)+)", cmd)
    assert cli, f"cannot tell what this stage runs: {cmd!r}"
    return _cli_handler_imports(cli.group(1).split())


def _covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(ROOT).as_posix()
    return any(rel == d.rstrip("/") or rel.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("name,cmd,deps", _stages(), ids=[s[0] for s in _stages()])
def test_every_stage_depends_on_the_package_files_its_code_imports(name: str, cmd: str, deps: list[str]) -> None:
    files = closure(frozenset(_entry_imports(cmd)))
    missing = sorted(f.relative_to(ROOT).as_posix() for f in files if not _covered(f, deps))
    assert not missing, f"dvc.yaml stage {name!r} imports files its deps do not cover: {', '.join(missing)}"


def test_the_import_follower_sees_imports_inside_functions_and_skips_type_checking() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from springstudy.plots import save_figure\n"
        "def f():\n    from springstudy.data.transforms import NormalisePair\n"
        "import springstudy.metrics\n")
    files = {f.relative_to(ROOT).as_posix() for f in closure(frozenset(imported_names(tree)))}
    assert {"springstudy/__init__.py", "springstudy/data/__init__.py", "springstudy/data/transforms.py",
            "springstudy/metrics.py"} <= files
    assert "springstudy/plots.py" not in files          # only under TYPE_CHECKING


def test_changing_the_pair_normalisation_marks_the_training_stages_changed(tmp_path: Path) -> None:
    """What dvc itself says: with NormalisePair edited, every train@ stage has a changed dep."""
    import shutil
    import subprocess
    import sys

    for name in ("dvc.yaml", "dvc.lock", "params.yaml", "search.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in (PACKAGE, "notebooks"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    dvc = [sys.executable, "-m", "dvc"]
    subprocess.run([*dvc, "init", "--no-scm", "-q"], cwd=tmp_path, check=True)

    def changed_train_deps() -> dict[str, list[str]]:
        done = subprocess.run([*dvc, "status", "--json"], cwd=tmp_path, check=True, capture_output=True, text=True)
        status = json.loads(done.stdout)
        found = {}
        for stage, entries in status.items():
            if stage.startswith("train@"):
                found[stage] = [path for e in entries if isinstance(e, dict)
                                for change in e.get("changed deps", {}).items() for path in [change[0]]
                                if change[1] == "modified"]
        return found

    stale = [stage for stage, deps in changed_train_deps().items() if "springstudy/data/transforms.py" in deps]
    assert not stale, (f"dvc.lock does not hold the current springstudy/data/transforms.py for {', '.join(stale)}: "
                       "rerun (or, where no number changes, `dvc commit`) those stages")
    transforms = tmp_path / PACKAGE / "data" / "transforms.py"
    transforms.write_text(transforms.read_text().replace("class NormalisePair", "# edited\nclass NormalisePair"))
    after = changed_train_deps()
    runs = yaml.safe_load((ROOT / "params.yaml").read_text())["train"]["runs"]
    assert set(after) == {f"train@{run}" for run in runs}
    assert all("springstudy/data/transforms.py" in deps for deps in after.values()), after


def test_a_stage_that_tracks_a_key_tracks_the_profiles_that_override_it() -> None:
    """DVC reads a params key as written: a stage tracking ``knobs.items`` does not see
    ``knobs.profiles.quick.items`` change, so it must track ``knobs.profiles`` (or the group) too."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    missing = []
    for name, stage in stages.items():
        tracked = [p for p in stage.get("do", stage).get("params", []) if isinstance(p, str)]
        for key in tracked:
            group, _, rest = key.partition(".")
            if not rest or not isinstance(params.get(group), dict):
                continue
            overridden = any(isinstance(entry, dict) and rest.split(".")[0] in entry
                             for entry in (params[group].get("profiles") or {}).values())
            if overridden and group not in tracked and f"{group}.profiles" not in tracked:
                missing.append(f"{name}: {key} (add {group}.profiles)")
    assert not missing, "stages that miss a profile's override: " + "; ".join(missing)
