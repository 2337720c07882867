"""Loaders, splits and transforms on tiny real-format fixtures (see tests/datafixtures.py)."""

from __future__ import annotations

import pickle
import shutil

import h5py
import numpy as np
import pytest
import soundfile as sf
import torch
from datafixtures import WET_GAIN, egfx_signal, springset_arrays, write_egfxset, write_h5, write_springset, write_wav
from torch.utils.data import DataLoader

from springstudy.data import DatasetError, EGFxSetPairs, SpringSetPairs, open_dataset
from springstudy.data.splits import (
    make_splits,
    read_split_file,
    split_indices,
    split_sizes,
    write_split_file,
)
from springstudy.data.transforms import (
    Compose,
    NormalisePair,
    RandomCrop,
    RemoveDC,
    TransformedPairs,
    evaluation_pairs,
    training_pairs,
)


@pytest.fixture()
def springset(tmp_path):
    return write_springset(tmp_path / "springset")


@pytest.fixture()
def egfxset(tmp_path):
    return write_egfxset(tmp_path / "egfxset")


# --- loading ---------------------------------------------------------------------------------
def test_springset_pairs_match_the_h5_rows(springset):
    pairs = open_dataset(springset)
    assert isinstance(pairs, SpringSetPairs) and pairs.layout == "springset"
    assert pairs.sample_rate == 16_000
    assert len(pairs) == 10
    assert pairs.ids[:2] == ["springset/train/0", "springset/train/1"]
    assert pairs.ids[6] == "springset/val_test/0"
    with h5py.File(springset / "dry_train.h5") as f:
        row = f["Xtrain"][4, :, 0]
    dry, wet = pairs[pairs.index_of("springset/train/4")]
    assert dry.shape == (1, 1600) and dry.dtype == torch.float32
    np.testing.assert_allclose(dry[0].numpy(), row, rtol=1e-6)
    np.testing.assert_allclose(wet[0].numpy(), WET_GAIN * row, rtol=1e-6)
    item = pairs.items[7]
    assert (item.subset, item.index, item.length) == ("val_test", 1, 1600)
    assert item.source("wet").endswith("wet_val_test.h5[1]")


def test_springset_found_inside_the_archive_folder_name(tmp_path):
    write_springset(tmp_path / "raw" / "spring")
    assert len(open_dataset(tmp_path / "raw")) == 10


def test_preload_and_pickle_give_the_same_items(springset):
    lazy, eager = open_dataset(springset), open_dataset(springset, preload=True)
    for i in (0, 9):
        for a, b in zip(lazy[i], eager[i]):
            assert torch.equal(a, b)
    clone = pickle.loads(pickle.dumps(lazy))     # what a DataLoader worker receives
    assert torch.equal(clone[3][0], lazy[3][0])


def test_egfxset_pairs_by_position_and_name_not_listing_order(egfxset):
    pairs = open_dataset(egfxset)
    assert isinstance(pairs, EGFxSetPairs) and pairs.sample_rate == 48_000
    # natural order: 6-2 before 6-10; positions in the thesis's order
    assert pairs.ids == ["egfxset/Bridge/1-0", "egfxset/Bridge/6-2", "egfxset/Bridge/6-10",
                         "egfxset/Neck/1-0", "egfxset/Neck/6-2", "egfxset/Neck/6-10"]
    for i, item in enumerate(pairs.items):
        dry, wet = pairs.load(i)
        expected = egfx_signal(item.name, item.subset, 4800)
        np.testing.assert_allclose(dry, expected, atol=2e-7)        # 24-bit rounding
        np.testing.assert_allclose(wet, WET_GAIN * expected, atol=2e-7)
    item = pairs.items[pairs.index_of("egfxset/Neck/6-10")]
    assert (item.string, item.fret, item.midi) == (6, 10, 50)
    assert item.dry_path.parent.name == "Neck" and item.wet_path.parts[-3] == "Spring Reverb"
    meta = pairs.metadata()[0]
    assert meta["id"] == "egfxset/Bridge/1-0" and meta["seconds"] == pytest.approx(0.1)


# --- bad inputs: every one a DatasetError naming the file --------------------------------------
def _h5_rewrite(path, key, data):
    path.unlink()
    write_h5(path, key, data)


def _truncate(path, fraction=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


SPRINGSET_BREAKAGE = {
    "missing file": (lambda r: (r / "wet_train.h5").unlink(), "wet_train.h5: missing file"),
    "wrong key": (lambda r: _h5_rewrite(r / "dry_train.h5", "X_train", springset_arrays(6, 1600, 0)[0]),
                  r"dry_train.h5: no dataset 'Xtrain' \(wrong h5 key"),
    "count mismatch": (lambda r: _h5_rewrite(r / "wet_train.h5", "Ytrain_0", springset_arrays(5, 1600, 0)[1]),
                       "wet_train.h5: 5 wet items .*count mismatch"),
    "length mismatch": (lambda r: _h5_rewrite(r / "wet_val_test.h5", "Yvalidation_0",
                                              springset_arrays(4, 1500, 0)[1]),
                        "wet_val_test.h5: .*length mismatch"),
    "wrong shape": (lambda r: _h5_rewrite(r / "dry_val_test.h5", "Xvalidation", np.zeros((4, 1600))),
                    r"dry_val_test.h5: .*expected \(N, T, 1\)"),
    "empty array": (lambda r: _h5_rewrite(r / "dry_val_test.h5", "Xvalidation", np.zeros((0, 1600, 1))),
                    "dry_val_test.h5: .*empty"),
    "empty file": (lambda r: (r / "dry_val_test.h5").write_bytes(b""), r"dry_val_test.h5: empty file \(0 bytes\)"),
    "truncated": (lambda r: _truncate(r / "wet_val_test.h5"), "wet_val_test.h5: .*truncated"),
}


@pytest.mark.parametrize("case", sorted(SPRINGSET_BREAKAGE))
def test_springset_bad_input_is_a_clear_error(springset, case):
    breakage, message = SPRINGSET_BREAKAGE[case]
    breakage(springset)
    with pytest.raises(DatasetError, match=message):
        open_dataset(springset)


def test_springset_wrong_sample_rate_attribute(springset):
    with h5py.File(springset / "wet_train.h5", "a") as f:
        f.attrs["sample_rate"] = 44_100
    with pytest.raises(DatasetError, match="wet_train.h5: wrong sample rate 44100"):
        open_dataset(springset)


@pytest.mark.parametrize("value, kind", [(np.nan, "NaN"), (np.inf, "Inf")])
def test_springset_non_finite_samples(springset, value, kind):
    dry, wet = springset_arrays(6, 1600, 0)
    wet[2, 100, 0] = value
    _h5_rewrite(springset / "wet_train.h5", "Ytrain_0", wet)
    pairs = open_dataset(springset)               # structure is fine ...
    pairs[1]                                        # ... and clean items still load
    with pytest.raises(DatasetError, match=rf"wet_train.h5\[2\]: 1 {kind} samples \(first at sample 100\)"):
        pairs[2]
    with pytest.raises(DatasetError, match=kind):
        open_dataset(springset, verify=True)
    with pytest.raises(DatasetError, match=kind):
        open_dataset(springset, preload=True)


def _write_rate(root, rate):
    write_wav(root / "Spring Reverb" / "Neck" / "6-2.wav", np.zeros(4800), rate=rate)


EGFXSET_BREAKAGE = {
    "missing wet partner": (lambda r: (r / "Spring Reverb" / "Bridge" / "6-2.wav").unlink(),
                            r"Clean/Bridge/6-2.wav: no partner 6-2.wav in .*Spring Reverb/Bridge"),
    "missing dry partner": (lambda r: write_wav(r / "Spring Reverb" / "Neck" / "3-3.wav", np.zeros(4800)),
                            r"Spring Reverb/Neck/3-3.wav: no partner 3-3.wav in .*Clean/Neck"),
    "position on one side": (lambda r: shutil.rmtree(r / "Spring Reverb" / "Neck"),
                             r"Spring Reverb/Neck: missing folder"),
    "no wet folder": (lambda r: shutil.rmtree(r / "Spring Reverb"), r"Spring Reverb: missing folder"),
    "unexpected folder": (lambda r: (r / "Clean" / "Bridge-Neck").mkdir(), r"Clean/Bridge-Neck: unexpected folder"),
    "wrong sample rate": (lambda r: _write_rate(r, 44_100), r"Neck/6-2.wav: wrong sample rate 44100 Hz"),
    "length mismatch": (lambda r: write_wav(r / "Spring Reverb" / "Bridge" / "1-0.wav", np.zeros(4700)),
                        r"Spring Reverb/Bridge/1-0.wav: 4700 samples .*length mismatch"),
    "stereo": (lambda r: write_wav(r / "Clean" / "Neck" / "1-0.wav", np.zeros((4800, 2))),
               r"Clean/Neck/1-0.wav: 2 channels"),
    "empty file": (lambda r: (r / "Clean" / "Bridge" / "6-10.wav").write_bytes(b""),
                   r"Clean/Bridge/6-10.wav: empty file \(0 bytes\)"),
    "no samples": (lambda r: write_wav(r / "Clean" / "Bridge" / "6-10.wav", np.zeros(0)),
                   r"Clean/Bridge/6-10.wav: empty file \(no samples\)"),
    "truncated": (lambda r: _truncate(r / "Spring Reverb" / "Neck" / "6-10.wav", 0.6),
                  r"Spring Reverb/Neck/6-10.wav: truncated WAV"),
}


@pytest.mark.parametrize("case", sorted(EGFXSET_BREAKAGE))
def test_egfxset_bad_input_is_a_clear_error(egfxset, case):
    breakage, message = EGFXSET_BREAKAGE[case]
    breakage(egfxset)
    with pytest.raises(DatasetError, match=message):
        open_dataset(egfxset)


@pytest.mark.parametrize("value, kind", [(np.nan, "NaN"), (-np.inf, "Inf")])
def test_egfxset_non_finite_samples(egfxset, value, kind):
    wet = WET_GAIN * egfx_signal("1-0", "Neck", 4800)
    wet[7] = value
    write_wav(egfxset / "Spring Reverb" / "Neck" / "1-0.wav", wet, subtype="FLOAT")
    pairs = open_dataset(egfxset)
    with pytest.raises(DatasetError, match=rf"Spring Reverb/Neck/1-0.wav: 1 {kind} samples .*egfxset/Neck/1-0"):
        pairs[pairs.index_of("egfxset/Neck/1-0")]
    with pytest.raises(DatasetError, match=kind):
        open_dataset(egfxset, verify=True)


def test_not_a_dataset(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        open_dataset(tmp_path / "nowhere")
    (tmp_path / "file.h5").write_bytes(b"x")
    with pytest.raises(DatasetError, match="expected a dataset folder"):
        open_dataset(tmp_path / "file.h5")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="not a SpringSet folder"):
        open_dataset(tmp_path / "empty")


def test_unknown_item_id(springset):
    with pytest.raises(DatasetError, match="no item 'springset/train/99'"):
        open_dataset(springset).index_of("springset/train/99")


# --- splits ----------------------------------------------------------------------------------
def test_split_file_is_byte_identical_for_a_seed_and_differs_for_another(springset, tmp_path):
    pairs = open_dataset(springset)
    a = write_split_file(tmp_path / "a.json", make_splits(pairs, seed=7))
    b = write_split_file(tmp_path / "b.json", make_splits(open_dataset(springset), seed=7))
    c = write_split_file(tmp_path / "c.json", make_splits(pairs, seed=8))
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    record = read_split_file(a, pairs)
    assert record["counts"] == {"train": 5, "validation": 3, "test": 2}
    listed = [i for name in ("train", "validation", "test") for i in record["splits"][name]]
    assert sorted(listed) == sorted(pairs.ids)      # a partition: every item once
    assert not list(tmp_path.glob(".*.tmp"))        # atomic write leaves no temp files


class _Ids:
    """A stand-in dataset with many items, for split proportions."""

    layout = "springset"

    def __init__(self, n):
        self.ids = [f"springset/train/{i}" for i in range(n)]

    def __len__(self):
        return len(self.ids)


def test_split_proportions_are_the_thesis_50_25_25():
    assert split_sizes(1186) == (593, 297, 296)
    assert split_sizes(690) == (345, 173, 172)
    assert split_sizes(3) == (1, 1, 1)
    record = make_splits(_Ids(1186), seed=20231)
    assert record["counts"] == {"train": 593, "validation": 297, "test": 296}
    with pytest.raises(DatasetError, match="cannot be split"):
        split_sizes(2)


def test_original_split_keeps_springset_train_and_halves_val_test(springset):
    pairs = open_dataset(springset)
    record = make_splits(pairs, seed=1, method="original")
    assert record["splits"]["train"] == [f"springset/train/{i}" for i in range(6)]
    assert record["splits"]["validation"] == ["springset/val_test/0", "springset/val_test/2"]
    assert record["splits"]["test"] == ["springset/val_test/1", "springset/val_test/3"]
    assert make_splits(pairs, seed=2, method="original")["splits"] == record["splits"]


def test_original_split_needs_springset(egfxset):
    with pytest.raises(DatasetError, match="no original split"):
        make_splits(open_dataset(egfxset), seed=1, method="original")


def test_stale_split_file_is_rejected(springset, egfxset, tmp_path):
    path = write_split_file(tmp_path / "split.json", make_splits(open_dataset(springset), seed=3))
    with pytest.raises(DatasetError, match="split of a springset dataset"):
        read_split_file(path, open_dataset(egfxset))
    write_springset(tmp_path / "bigger", n_train=7)
    with pytest.raises(DatasetError, match="in no split.*stale split file"):
        read_split_file(path, open_dataset(tmp_path / "bigger"))
    write_springset(tmp_path / "smaller", n_train=5)
    with pytest.raises(DatasetError, match="not in .*stale split file"):
        read_split_file(path, open_dataset(tmp_path / "smaller"))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(DatasetError, match="bad.json: not a valid split file"):
        read_split_file(tmp_path / "bad.json")


# --- transforms -------------------------------------------------------------------------------
def _rms(x):
    return float(x.pow(2).mean().sqrt())


def test_normalise_pair_keeps_the_wet_dry_gain_ratio():
    gen = torch.Generator().manual_seed(0)
    dry = 0.3 * torch.randn(1, 4000, generator=gen)
    wet = 0.05 * torch.randn(1, 4000, generator=gen)     # a quiet device: gain far from 1
    for reference in ("pair", "dry"):
        ndry, nwet = NormalisePair(0.9, reference)(dry, wet)
        assert _rms(nwet) / _rms(ndry) == pytest.approx(_rms(wet) / _rms(dry), rel=1e-6)
        assert float(torch.stack([ndry.abs().max(), nwet.abs().max()]).max() if reference == "pair"
                     else ndry.abs().max()) == pytest.approx(0.9, rel=1e-6)
    # the thesis's separate peak normalisation would have made the ratio about 1: not ours
    ndry, nwet = NormalisePair(0.9)(dry, wet)
    assert _rms(nwet) / _rms(ndry) < 0.3


def test_remove_dc_zeroes_the_mean_and_keeps_the_gain():
    t = torch.arange(8000) / 16000
    dry = torch.sin(2 * torch.pi * 100 * t)[None] + 0.1
    wet = 0.25 * torch.sin(2 * torch.pi * 100 * t)[None] - 0.02
    ndry, nwet = Compose([RemoveDC(), NormalisePair()])(dry, wet, np.random.default_rng(0))
    assert abs(float(ndry.mean())) < 1e-6 and abs(float(nwet.mean())) < 1e-6
    assert _rms(nwet) / _rms(ndry) == pytest.approx(0.25, rel=1e-4)


def test_random_crop_uses_one_offset_for_dry_and_wet_and_pads_short_items():
    dry = torch.arange(1000, dtype=torch.float32)[None]
    crop = RandomCrop(100)
    cdry, cwet = crop(dry, 2 * dry, np.random.default_rng(5))
    assert cdry.shape == (1, 100) and torch.equal(cwet, 2 * cdry)
    assert torch.equal(cdry[0], torch.arange(int(cdry[0, 0]), int(cdry[0, 0]) + 100, dtype=torch.float32))
    pdry, pwet = RandomCrop(1500)(dry, dry, np.random.default_rng(0))
    assert pdry.shape == (1, 1500) and float(pdry[0, 1000:].abs().sum()) == 0


def test_training_crops_are_seeded_and_evaluation_uses_whole_items(springset):
    pairs = open_dataset(springset)
    train = training_pairs(pairs, range(6), crop=400, seed=11)
    again = training_pairs(pairs, range(6), crop=400, seed=11)
    first = [train[k][0] for k in range(6)]
    assert all(torch.equal(a, again[k][0]) for k, a in enumerate(first))
    train.set_epoch(1)
    assert any(not torch.equal(a, train[k][0]) for k, a in enumerate(first))
    other = training_pairs(pairs, range(6), crop=400, seed=12)
    assert any(not torch.equal(a, other[k][0]) for k, a in enumerate(first))
    dry, wet = next(iter(DataLoader(train, batch_size=4)))
    assert dry.shape == wet.shape == (4, 1, 400)
    # fixtures hold wet = 0.5 * dry exactly, so after DC removal and one shared gain, still 0.5
    torch.testing.assert_close(wet, WET_GAIN * dry, atol=1e-6, rtol=1e-5)
    ev = evaluation_pairs(pairs, [6, 7])
    assert ev.ids == ["springset/val_test/0", "springset/val_test/1"]
    edry, ewet = ev[0]
    assert edry.shape == (1, 1600)
    torch.testing.assert_close(ewet, WET_GAIN * edry, atol=1e-6, rtol=1e-5)


def test_split_indices_feed_transformed_views(springset, tmp_path):
    pairs = open_dataset(springset)
    path = write_split_file(tmp_path / "s.json", make_splits(pairs, seed=1))
    indices = split_indices(pairs, read_split_file(path, pairs))
    views = {name: TransformedPairs(pairs, idx) for name, idx in indices.items()}
    assert sum(len(v) for v in views.values()) == len(pairs)
    assert views["test"].ids == read_split_file(path)["splits"]["test"]


def test_package_import_is_light():
    import subprocess
    import sys

    # springstudy.data (and the download command the CLI registers) must not pull in heavy modules
    code = ("import sys, springstudy.data, springstudy.data.download; "
            "print(any(m in sys.modules for m in ('torch', 'h5py', 'soundfile', 'pandas', 'numpy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_soundfile_reads_what_the_fixture_wrote(egfxset):
    info = sf.info(str(egfxset / "Clean" / "Bridge" / "1-0.wav"))
    assert (info.samplerate, info.subtype, info.channels) == (48_000, "PCM_24", 1)
