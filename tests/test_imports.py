"""No import cycle among the package's modules (imports inside functions included), every module in
its layer, none longer than one job."""

from __future__ import annotations

from pathlib import Path

from importgraph import ROOT, cycles, module_graph


def test_the_cycle_finder_finds_a_circle_and_only_that() -> None:
    a, b, c, d = (Path(n) for n in "abcd")
    assert cycles({a: {b}, b: {c}, c: {a}, d: {a}}) == [[a, b, c]]
    assert cycles({a: {b}, b: {c}, c: set(), d: {a}}) == []


def test_no_module_of_the_package_imports_itself_through_others() -> None:
    found = [[p.relative_to(ROOT).as_posix() for p in c] for c in cycles(module_graph())]
    assert not found, f"import cycles: {found}"


def test_no_domain_module_imports_the_command_line() -> None:
    cli = ROOT / "springstudy" / "cli"
    importers = sorted(p.relative_to(ROOT).as_posix() for p, targets in module_graph().items()
                       if cli not in p.parents and any(cli in t.parents for t in targets))
    assert not importers, f"these modules import springstudy.cli: {importers}"


#: The package's layers, bottom to top (README, "Layout"): a module may import its own layer and
#: those below it, never one above. Patterns are paths under springstudy/; a file takes the
#: highest layer with a pattern that matches it, and every file must match one.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("__init__.py", "errors.py", "schema.py", "outputs.py", "config.py", "environment.py", "nbtools.py",
              "tables.py", "audio.py",
              "thesis_tables.py", "metrics.py", "lstsq_fir.py", "plots.py")),
    ("signals and data", ("data/*", "acoustics/__init__.py", "acoustics/decay.py", "acoustics/relief.py",
                          "acoustics/comparison.py")),
    ("models", ("models/*", "conv_kernels.py", "recurrent_kernels.py", "streaming/*", "export.py", "rtneural.py")),
    ("experiments", ("train/*", "baselines.py", "bounds.py", "evaluate/*", "efficiency/*", "features/*",
                     "search/*", "data/calibration.py", "acoustics/sweep.py", "acoustics/stability.py",
                     "acoustics/reference.py", "acoustics/plots.py", "report/*")),
    ("stages", ("stages/*",)),
    ("commands", ("cli/*",)),
]


def layer_of(path: Path) -> int | None:
    from fnmatch import fnmatch

    rel = path.relative_to(ROOT / "springstudy").as_posix()
    matches = [level for level, (_, patterns) in enumerate(LAYERS) if any(fnmatch(rel, p) for p in patterns)]
    return max(matches) if matches else None


def test_every_module_has_a_layer_and_imports_nothing_above_it() -> None:
    graph = module_graph()
    unplaced = sorted(p.relative_to(ROOT).as_posix() for p in graph if layer_of(p) is None)
    assert not unplaced, f"give these modules a layer in tests/test_imports.py LAYERS: {unplaced}"
    upward = sorted(f"{p.relative_to(ROOT).as_posix()} ({LAYERS[layer_of(p)][0]}) imports "
                    f"{t.relative_to(ROOT).as_posix()} ({LAYERS[layer_of(t)][0]})"
                    for p, targets in graph.items() for t in targets if layer_of(t) > layer_of(p))
    assert not upward, "imports that reach up a layer:\n" + "\n".join(upward)


#: The longest a module of the package may be: past this, a module does several jobs.
MAX_MODULE_LINES = 500


def test_no_module_is_longer_than_one_job() -> None:
    long = sorted(f"{p.relative_to(ROOT).as_posix()} ({n} lines)" for p in module_graph()
                  if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES)
    assert not long, f"split these along their seams (at most {MAX_MODULE_LINES} lines): {long}"


def test_every_notebook_stage_runs_through_its_stage_module() -> None:
    """Each DVC stage that runs a notebook has ``springstudy/stages/<stage>.py`` with a ``run``,
    and its notebook imports that module: the work lives in the package, not in the notebook."""
    import ast
    import json
    import re

    import yaml

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        cmd = stage.get("do", stage)["cmd"]
        notebook = re.search(r"papermill\b.*?\s(notebooks/\S+\.ipynb)", cmd, re.S)
        if not notebook:
            continue
        module = ROOT / "springstudy" / "stages" / f"{name}.py"
        assert module.is_file(), f"stage {name} runs {notebook.group(1)} but has no springstudy/stages/{name}.py"
        assert any(isinstance(n, ast.FunctionDef) and n.name == "run" for n in ast.parse(module.read_text()).body), \
            f"springstudy/stages/{name}.py has no run()"
        cells = json.loads((ROOT / notebook.group(1)).read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        assert f"from springstudy.stages import {name} as stage" in code, f"{notebook.group(1)} does not use stages.{name}"
