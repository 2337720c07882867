"""The device's reference impulse response, which every model's IR and RT60 is compared against.

Three sources, named by the value the notebook's ``device_ir`` (and ``springstudy ir
--device-ir``) takes:

* a ``.wav`` or ``.npy`` file: read as it is. A synthetic dataset's ``tank_ir.wav`` (with its
  ``tank.json`` beside it) is the tank's *true* IR; any other file is taken as given.
* ``linear`` (:data:`LINEAR`): for a real dataset, which has no true IR, the reference is
  *estimated* from the training pairs by the Linear IR baseline
  (:class:`springstudy.baselines.LinearIR` in its spectral H1 form, ``method="h1"``: the
  least-squares FIR, best for prediction, leaves the last lags of an item-long filter, which
  few samples constrain, too noisy for a decay fit). It is the best linear time-invariant fit of
  the device over the training notes, not a measurement: its length is at most one item, and
  where the notes carry no energy (very low or high bands) it is poorly determined.
* the synthetic tank itself (:class:`springstudy.data.tank.SpringTank`), built by the caller.

:class:`DeviceReference` carries the IR together with what it is (``kind``: ``true``,
``estimate`` or ``file``), so tables and figures can say which reference their errors are
relative to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from springstudy.errors import SpringStudyError

#: ``device_ir`` value asking for the Linear IR estimate from the dataset's training pairs.
LINEAR = "linear"
#: ``device_ir`` value asking for the dataset's true IR where it has one (a synthetic dataset's
#: ``tank_ir.wav``), else the :data:`LINEAR` estimate (a real dataset): the pipeline's default.
AUTO = "auto"
#: File name of a synthetic dataset's true impulse response.
TANK_IR_FILE = "tank_ir.wav"
#: What a reference is: the device's true IR, an estimate from data, or a file taken as given.
REFERENCE_KINDS = ("true", "estimate", "file")


class DeviceIRError(SpringStudyError, ValueError):
    """The device's reference IR cannot be had as asked (missing or unreadable file, wrong rate,
    no dataset for the estimate). The message names the file or folder."""


@dataclass
class DeviceReference:
    """The device's reference IR at ``sample_rate`` and where it comes from.

    ``kind`` is one of :data:`REFERENCE_KINDS`; ``source`` says in words what the IR is
    (``describe()`` gives one line for the notebook); ``info`` holds the fit's details for an
    estimate (items, item length, taps, regularisation, data, split).
    """

    ir: np.ndarray = field(repr=False)
    sample_rate: int
    kind: str
    source: str
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in REFERENCE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(REFERENCE_KINDS)}, not {self.kind!r}")

    @property
    def is_estimate(self) -> bool:
        """True when the reference is estimated from data rather than the device's true IR."""
        return self.kind == "estimate"

    def describe(self) -> str:
        """One line: what the reference is, its rate and length."""
        what = {"true": "true IR", "estimate": "ESTIMATE (Linear IR baseline)", "file": "IR from a file"}[self.kind]
        return (f"{self.sample_rate} Hz device reference: {what}, {self.ir.size / self.sample_rate:.3g} s; "
                f"{self.source}")

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (no samples)."""
        return {"sample_rate": self.sample_rate, "kind": self.kind, "source": self.source,
                "ir_samples": int(self.ir.size), **({"fit": self.info} if self.info else {})}


def read_device_ir(path: str | Path, sample_rate: int) -> DeviceReference:
    """The reference IR in a ``.wav`` or ``.npy`` file, which must be mono and, for a WAV, at
    ``sample_rate``. A ``tank_ir.wav`` with ``tank.json`` beside it (a synthetic dataset) is
    the tank's true IR (``kind="true"``); any other file has ``kind="file"``.

    Raises :class:`DeviceIRError` naming the file when it is missing, of another format or rate,
    or not a non-empty mono IR.
    """
    path = Path(path)
    if not path.is_file():
        raise DeviceIRError(f"{path}: device IR not found (give a .wav or .npy file, or {LINEAR!r} to estimate "
                            "it from the dataset's training pairs)")
    if path.suffix == ".npy":
        try:
            ir = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise DeviceIRError(f"{path}: cannot read the device IR ({err})") from None
    elif path.suffix == ".wav":
        import soundfile

        try:
            ir, rate = soundfile.read(path, dtype="float64", always_2d=False)
        except (RuntimeError, soundfile.LibsndfileError) as err:
            raise DeviceIRError(f"{path}: cannot read the device IR ({err})") from None
        if rate != sample_rate:
            raise DeviceIRError(f"{path} is at {rate} Hz, the models at {sample_rate} Hz")
    else:
        raise DeviceIRError(f"{path}: a device IR must be a .npy or .wav file")
    ir = np.asarray(ir, dtype=np.float64)
    if ir.ndim != 1 or ir.size == 0:
        raise DeviceIRError(f"{path}: expected a mono impulse response, got shape {ir.shape}")
    if not np.all(np.isfinite(ir)):
        raise DeviceIRError(f"{path}: the device IR holds NaN or Inf")
    true = path.name == "tank_ir.wav" and (path.parent / "tank.json").is_file()
    source = f"the synthetic tank's true IR ({path})" if true else f"read from {path}"
    return DeviceReference(ir=ir, sample_rate=int(sample_rate), kind="true" if true else "file", source=source)


def estimate_device_ir(data: str | Path, split_file: str | Path | None = None, seed: int | None = None,
                       split_method: str = "random", ir_seconds: float | None = None,
                       regularisation: float | None = None,
                       sample_rate: int | None = None) -> DeviceReference:
    """The device's IR estimated from the training pairs of ``data`` by the Linear IR baseline.

    The training split comes from ``split_file`` or, without one, from the trainer's seeded rule
    (``seed``, ``split_method``); items get the trainer's ``RemoveDC`` and ``NormalisePair``
    (one gain per pair, so the device's gain survives). The fit is
    :func:`springstudy.evaluate.build_baselines`' ``Linear IR`` by the H1 spectral estimate
    (``ir_method="h1"``, whose tail is clean enough for decay fits): ``ir_seconds`` of IR (None:
    the item length), Tikhonov floor ``regularisation`` (None: the baselines' default).
    ``sample_rate``, if given, must be the dataset's.

    Raises :class:`DeviceIRError` naming the folder or file when the data cannot be used.
    """
    from springstudy.baselines import LINEAR_IR_REGULARISATION
    from springstudy.data import DatasetError
    from springstudy.data.tensors import load_split_tensors
    from springstudy.evaluate import DEFAULT_SEED, build_baselines

    data = Path(data)
    if not data.exists():
        raise DeviceIRError(f"{data}: dataset folder not found (needed to estimate the device IR from its pairs)")
    if split_file is not None and not Path(split_file).is_file():
        raise DeviceIRError(f"{split_file}: split file not found")
    seed = DEFAULT_SEED if seed is None else int(seed)
    regularisation = LINEAR_IR_REGULARISATION if regularisation is None else float(regularisation)
    try:
        splits, rate, record = load_split_tensors(data, split_file, seed, split_method, ("train",))
    except DatasetError as err:
        raise DeviceIRError(f"cannot estimate the device IR: {err}") from None
    if sample_rate is not None and rate != int(sample_rate):
        raise DeviceIRError(f"{data} is at {rate} Hz, the models at {sample_rate} Hz")
    try:
        fit = build_baselines(["Linear IR"], splits["train"], rate, ir_seconds=ir_seconds,
                              ir_regularisation=regularisation, ir_method="h1")["Linear IR"]
    except ValueError as err:
        raise DeviceIRError(f"{data}: cannot estimate the device IR ({err})") from None
    split = str(split_file) if split_file is not None else f"seeded {split_method} split, seed {seed}"
    info = {**fit.fit_info, "data": str(data), "split": split}
    source = (f"Linear IR (Wiener/H1) estimate from {fit.fit_info['items']} training pairs of {data} "
              f"({split}), {fit.params} taps, regularisation {regularisation:g}")
    return DeviceReference(ir=np.asarray(fit.ir, dtype=np.float64), sample_rate=rate, kind="estimate",
                           source=source, info=info)


def device_reference(source: str | Path, sample_rate: int, data: str | Path | None = None,
                     split_file: str | Path | None = None, seed: int | None = None,
                     split_method: str = "random", ir_seconds: float | None = None,
                     regularisation: float | None = None) -> DeviceReference:
    """The reference named by ``source``: :data:`LINEAR` estimates it from ``data``'s training
    pairs (:func:`estimate_device_ir`, which needs ``data``); :data:`AUTO` reads ``data``'s
    ``tank_ir.wav`` where it exists and estimates otherwise; anything else is a ``.wav`` or
    ``.npy`` path (:func:`read_device_ir`)."""
    keyword = str(source).strip().lower()
    if keyword == AUTO:
        if data is None:
            raise DeviceIRError(f"device IR {AUTO!r} looks in a dataset's folder for {TANK_IR_FILE}: give its folder")
        if (Path(data) / TANK_IR_FILE).is_file():
            return read_device_ir(Path(data) / TANK_IR_FILE, sample_rate)
        keyword = LINEAR
    if keyword == LINEAR:
        if data is None:
            raise DeviceIRError(f"device IR {LINEAR!r} is estimated from a dataset's training pairs: give its folder")
        return estimate_device_ir(data, split_file, seed, split_method, ir_seconds, regularisation, sample_rate)
    return read_device_ir(source, sample_rate)
