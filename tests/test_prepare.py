"""The pipeline's data stage: synthetic by default, a real folder (checked, linked) on request."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from datafixtures import write_egfxset, write_springset

from springstudy.cli.main import main
from springstudy.data import DatasetError, open_dataset
from springstudy.data.prepare import prepare


def test_synthetic_source_renders_the_profile_preset(tmp_path: Path) -> None:
    params = {"seed": 9, "data": {"sources": {"springset": "synthetic"}, "tank": {"rt60": 0.8}}}
    out = prepare("springset", "smoke", tmp_path / "springset", params, progress=False)
    report = json.loads((out / "tank.json").read_text())
    assert report["seed"] == 9 and report["preset"] == "smoke" and report["params"]["rt60"] == 0.8


def test_real_source_is_checked_and_linked_not_moved(tmp_path: Path) -> None:
    raw = write_springset(tmp_path / "raw" / "springset")
    params = {"data": {"sources": {"springset": str(raw)}}}
    out = prepare("springset", "quick", tmp_path / "data" / "springset", params, progress=False)
    pairs = open_dataset(out)
    assert len(pairs) == len(open_dataset(raw))
    assert (raw / "dry_train.h5").exists()          # the download is untouched
    a, b = pairs[0], open_dataset(raw)[0]
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_real_source_problems_are_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="names no folder"):
        prepare("springset", "quick", tmp_path / "out", {"data": {"sources": {"springset": str(tmp_path / "nope")}}})
    eg = write_egfxset(tmp_path / "raw" / "egfxset")
    with pytest.raises(DatasetError, match="holds a egfxset dataset"):
        prepare("springset", "quick", tmp_path / "out", {"data": {"sources": {"springset": str(eg)}}})
    raw = write_springset(tmp_path / "raw" / "bad")
    with h5py.File(raw / "wet_train.h5", "r+") as handle:
        key = next(iter(handle))
        data = handle[key][:]
        data[1, 10, 0] = np.nan
        handle[key][...] = data
    with pytest.raises(DatasetError, match="NaN"):
        prepare("springset", "quick", tmp_path / "out", {"data": {"sources": {"springset": str(raw)}}})
    assert not (tmp_path / "out").exists()


def test_cli_prepare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(f"profile: smoke\nseed: 1\ndata:\n  sources:\n    springset: {tmp_path / 'missing'}\n")
    assert main(["data", "prepare", "--format", "springset", "--params", str(params), "--out", str(tmp_path / "o")]) == 2
    assert "names no folder" in capsys.readouterr().err
