"""No import cycle among the package's modules (imports inside functions included)."""

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
    cli = ROOT / "springstudy" / "cli.py"
    importers = sorted(p.relative_to(ROOT).as_posix() for p, targets in module_graph().items() if cli in targets)
    assert not importers, f"these modules import springstudy.cli: {importers}"
