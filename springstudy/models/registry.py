"""The thesis's named configurations (thesis Table 6, Tables 8-11) as data.

Each name maps to a model family and the constructor arguments of the structure that
reproduces the thesis's parameter count. The parameter count is the ground truth of a named
config (the notes of each named configuration below): Table 6's "Layers", "Dilation" and "RF (ms)" columns
contradict it in places, and every such deviation is written in the config's ``note``.
The thesis's counts are printed to three significant figures ("31.5k").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from springstudy.models.base import SpringModel
from springstudy.models.conditioned import FiLMNet, HyperGRU, KnobGRU
from springstudy.models.gcn import GCN
from springstudy.models.recurrent import GRU, LSTM, LSTMConvSkip, RecurrentNet
from springstudy.models.tcn import TCN
from springstudy.models.wavenet import WaveNet

#: Model family name (as the thesis writes it) -> class.
FAMILIES: dict[str, type[SpringModel]] = {
    "TCN": TCN,
    "WaveNet": WaveNet,
    "GCN": GCN,
    "LSTM": LSTM,
    "LSTM-cs": LSTMConvSkip,
    "GRU": GRU,
}
#: Families of the knob study's conditioned models (:mod:`springstudy.models.conditioned`).
KNOB_FAMILIES: dict[str, type[SpringModel]] = {"FiLM": FiLMNet, "KnobGRU": KnobGRU, "HyperGRU": HyperGRU}

#: Sample rates of the two datasets (SpringSet 16 kHz, EGFxSet 48 kHz).
SAMPLE_RATES = (16_000, 48_000)


@dataclass(frozen=True)
class NamedConfig:
    """One named configuration: family, constructor arguments, what the thesis printed."""

    name: str
    family: str
    kwargs: Mapping[str, Any]
    thesis_params: int | None
    thesis_rf_ms: float | None = None  # Table 6, "RF (ms)" as printed
    thesis_layers: int | None = None  # Table 6, "Layers" as printed
    in_thesis: bool = True
    note: str = ""
    source: str = field(default="Table 6")


_TCN_NOTE = ("BatchNorm in every block as §3.1.1/Fig. 4 describe (+258 parameters, +0.8%; the "
             "thesis-era code had none). Dilation 10**n really applied (thesis code: 1 in every "
             "block), so the true RF is {rf} samples, not the printed {ms} ms.")

CONFIGS: dict[str, NamedConfig] = {c.name: c for c in [
    NamedConfig(
        "TCN-baseline", "TCN",
        dict(num_blocks=5, channels=32, kernel_size=9, dilation_growth=10),
        thesis_params=31_500, source="Tables 8-9",
        note="Same structure as TCN-1800 (3.15e4 parameters in Table 9); the baseline differs "
             "only in training (2500 steps on one concatenated sequence, Table 8). "
             + _TCN_NOTE.format(rf="88,889", ms="(no RF printed)")),
    NamedConfig(
        "TCN-1800", "TCN",
        dict(num_blocks=5, channels=32, kernel_size=9, dilation_growth=10),
        thesis_params=31_500, thesis_rf_ms=5000, thesis_layers=5,
        note=_TCN_NOTE.format(rf="88,889 (1.85 s at 48 kHz)", ms="5000")),
    NamedConfig(
        "TCN-4000", "TCN",
        dict(num_blocks=5, channels=32, kernel_size=19, dilation_growth=10),
        thesis_params=62_900, thesis_rf_ms=4000, thesis_layers=5,
        note=_TCN_NOTE.format(rf="199,999 (4.17 s at 48 kHz)", ms="4000")),
    NamedConfig(
        "WaveNet-10", "WaveNet",
        dict(dilation_depth=10, num_repeat=1, channels=16, kernel_size=3),
        thesis_params=18_600, thesis_rf_ms=160, thesis_layers=10,
        note="Gated WaveNet (Damskägg/Wright) that matches the count; §3.1.2's text mentions "
             "PReLU, the counted structure is gated tanh*sigmoid. Name = layer count, not ms. "
             "True RF 1 + 2*(2**10-1) = 2047 samples; the thesis summed k*d."),
    NamedConfig(
        "WaveNet-18", "WaveNet",
        dict(dilation_depth=9, num_repeat=2, channels=16, kernel_size=3),
        thesis_params=33_400, thesis_rf_ms=215, thesis_layers=18,
        note="18 layers = dilations 1..256 repeated twice (Table 6 prints 'Dilation 10'; depth "
             "9 x 2 repeats is what gives 18 layers and the count). True RF 2045 samples."),
    NamedConfig(
        "WaveNet-24", "WaveNet",
        dict(dilation_depth=8, num_repeat=3, channels=16, kernel_size=3),
        thesis_params=44_600, thesis_rf_ms=47, thesis_layers=24,
        note="24 layers = dilations 1..128 repeated three times (Table 6 prints 'Dilation 10'). "
             "True RF 1531 samples."),
    NamedConfig(
        "GCN-250", "GCN",
        dict(num_blocks=1, num_layers=4, channels=16, kernel_size=41, dilation_growth=6),
        thesis_params=65_600, thesis_rf_ms=250, thesis_layers=10,
        note="4 gated layers (Table 6 prints 10 layers; 10 layers of kernel 41 would have "
             "~190k parameters). Dilations 1, 6, 36, 216: true RF 10,361 samples (216 ms at "
             "48 kHz). The last layer's 1x1 mix (272 parameters) feeds nothing, as in gcntf."),
    NamedConfig(
        "GCN-2500", "GCN",
        dict(num_blocks=1, num_layers=10, channels=16, kernel_size=5, dilation_growth=3),
        thesis_params=26_400, thesis_rf_ms=2500, thesis_layers=10,
        note="Dilations 3**0..3**9: true RF 1 + 4*(3**10-1)/2 = 118,097 samples (2.46 s at "
             "48 kHz). The last layer's 1x1 mix (272 parameters) feeds nothing, as in gcntf."),
    NamedConfig(
        "LSTM-96", "LSTM",
        dict(hidden_size=96, num_layers=1, skip=False),
        thesis_params=38_100, source="Tables 9, 11",
        note="One LSTM layer of 96 and a linear output, no skip (38,113 parameters; a skip "
             "would add 2). Not in Table 6."),
    NamedConfig(
        "LSTM-cs-32", "LSTM-cs",
        dict(hidden_size=32, num_layers=2, conv_kernel_size=3, skip=True, dropout=0.5),
        thesis_params=17_100, thesis_layers=1,
        note="Two LSTM layers of 32 (Table 6 prints 1 layer; one layer would have 8.7k "
             "parameters). Dropout 0.5 between the layers as in the thesis code. Causal conv "
             "front end (the thesis padded it symmetrically)."),
    NamedConfig(
        "LSTM-cs-96", "LSTM-cs",
        dict(hidden_size=96, num_layers=1, conv_kernel_size=3, skip=True),
        thesis_params=75_200, thesis_layers=2,
        note="One LSTM layer of 96 (Table 6 prints 2 layers; two would have 150k parameters). "
             "Causal conv front end (the thesis padded it symmetrically)."),
    NamedConfig(
        "GRU-96", "GRU",
        dict(hidden_size=96, num_layers=1, skip=False),
        thesis_params=None, in_thesis=False, source="(extension)",
        note="Not a thesis configuration: the LSTM-96 shape with a GRU cell, for comparison "
             "(§3.1 names GRU among the recurrent candidates)."),
]}


_GCN_250 = CONFIGS["GCN-250"].kwargs
_WAVENET_10 = CONFIGS["WaveNet-10"].kwargs

#: The knob study's models: each conditioned model and the unconditioned model of its family it
#: is compared with. Not thesis configurations, and not in :func:`list_models` (so the thesis's
#: tables and the efficiency benchmark stay as they are); :func:`build` and :func:`get_config`
#: know them.
KNOB_CONFIGS: dict[str, NamedConfig] = {c.name: c for c in [
    NamedConfig("GCN-250-FiLM", "FiLM", dict(family="GCN", **_GCN_250), thesis_params=None, in_thesis=False,
                source="(knob study)", note="GCN-250 with a FiLM layer after every gate, fed by a knob MLP "
                                            "(4 -> 32 -> 16)."),
    NamedConfig("WaveNet-10-FiLM", "FiLM", dict(family="WaveNet", **_WAVENET_10), thesis_params=None,
                in_thesis=False, source="(knob study)",
                note="WaveNet-10 with a FiLM layer after every gate, fed by a knob MLP (4 -> 32 -> 16)."),
    NamedConfig("GRU-32", "GRU", dict(hidden_size=32, num_layers=1, skip=True), thesis_params=None, in_thesis=False,
                source="(knob study)", note="A GRU of 32 with a linear skip: the unconditioned partner of "
                                            "GRU-32-knobs and HyperGRU-32."),
    NamedConfig("GRU-32-knobs", "KnobGRU", dict(hidden_size=32, skip=True), thesis_params=None, in_thesis=False,
                source="(knob study)", note="GRU-32 whose input is the sample and the four knobs."),
    NamedConfig("HyperGRU-32", "HyperGRU", dict(hidden_size=32, hyper_hidden=64, skip=True), thesis_params=None,
                in_thesis=False, source="(knob study)",
                note="GRU-32 whose weights an MLP (4 -> 64 -> 3,360) generates from the knobs (HyperGRU)."),
]}


def list_knob_models() -> list[str]:
    """Names of the knob study's models (:data:`KNOB_CONFIGS`)."""
    return list(KNOB_CONFIGS)


def list_models(include_extensions: bool = True) -> list[str]:
    """Names of the named configurations, in thesis order (extensions last)."""
    return [n for n, c in CONFIGS.items() if include_extensions or c.in_thesis]


def get_config(name: str) -> NamedConfig:
    """The named configuration ``name`` (case-insensitive; the thesis's and the knob study's), or a
    ``KeyError`` listing them."""
    lookup = {n.lower(): c for n, c in {**CONFIGS, **KNOB_CONFIGS}.items()}
    try:
        return lookup[name.lower()]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; named models: {', '.join(CONFIGS)}; knob study: "
                       f"{', '.join(KNOB_CONFIGS)}") from None


def build(name: str, seed: int | None = 0, **overrides: Any) -> SpringModel:
    """Build the named configuration ``name`` with deterministic initial weights.

    ``overrides`` replace constructor arguments of the family (e.g. ``channels=4`` or
    ``kernel_size=3`` for a small test version, ``cond_dim=3`` for FiLM conditioning).
    ``seed`` seeds the initialisation without touching the global RNG; ``None`` uses the
    global RNG.
    """
    config = get_config(name)
    cls = {**FAMILIES, **KNOB_FAMILIES}[config.family]
    kwargs = {**config.kwargs, **overrides}
    try:
        if seed is None:
            model = cls(**kwargs)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = cls(**kwargs)
    except TypeError as err:
        raise TypeError(f"{config.name} ({config.family}): {err}") from None
    model.config_name = config.name
    model.config_overrides = dict(overrides)
    return model


def register_model(name: str, family: str, kwargs: Mapping[str, Any], cls: type[SpringModel] | None = None,
                   note: str = "", replace: bool = False) -> NamedConfig:
    """Add a named model: ``name`` built as ``family(**kwargs)``. ``cls`` registers a new family
    (a :class:`~springstudy.models.base.SpringModel` subclass: ``forward(x, cond=None)`` maps
    (B, 1, T) to (B, 1, T) causally and ``receptive_field`` says how far back it sees). The model
    is then one of :func:`list_models`: ``build``, ``springstudy train --model``, ``train.runs``,
    the evaluation, efficiency, IR and export stages take it like the thesis's. It is built once
    here, so a mistake in ``kwargs`` is an error now. ``replace`` allows a name already taken."""
    if cls is not None:
        if not (isinstance(cls, type) and issubclass(cls, SpringModel)):
            raise TypeError(f"{name}: cls must be a SpringModel subclass, not {cls!r}")
        if family in FAMILIES and FAMILIES[family] is not cls and not replace:
            raise ValueError(f"{name}: family {family!r} is already {FAMILIES[family].__name__}")
        FAMILIES[family] = cls
    elif family not in FAMILIES:
        raise ValueError(f"{name}: unknown family {family!r}; families: {', '.join(FAMILIES)} (or pass cls)")
    taken = {n.lower() for n in {**CONFIGS, **KNOB_CONFIGS}}
    if name.lower() in taken and not replace:
        raise ValueError(f"{name}: a model of that name exists (pass replace=True to redefine it)")
    config = NamedConfig(name, family, dict(kwargs), thesis_params=None, in_thesis=False, note=note,
                         source="(registered)")
    previous = CONFIGS.get(name)
    CONFIGS[name] = config
    try:
        build(name, seed=0)
    except Exception:
        if previous is None:
            del CONFIGS[name]
        else:
            CONFIGS[name] = previous
        raise
    return config


def layer_count(model: SpringModel) -> int:
    """Convolutional blocks/layers of a conv model, stacked recurrent layers of an RNN."""
    if isinstance(model, RecurrentNet):
        return model.num_layers
    return len(model.dilations)


def config_table(include_extensions: bool = True) -> "pandas.DataFrame":  # noqa: F821
    """Parameter counts and true receptive fields of the named configs beside the thesis's.

    Columns: name, family, params, thesis_params, params_diff_pct, receptive_field (samples),
    rf_ms_16k, rf_ms_48k, thesis_rf_ms (Table 6), layers, thesis_layers, in_thesis, note.
    Receptive fields of recurrent models are infinite.
    """
    import pandas as pd

    rows = []
    for name in list_models(include_extensions):
        config, model = CONFIGS[name], build(name)
        rf = model.receptive_field
        params = model.num_parameters
        rows.append({
            "name": name,
            "family": config.family,
            "params": params,
            "thesis_params": config.thesis_params,
            "params_diff_pct": (100.0 * (params - config.thesis_params) / config.thesis_params
                                if config.thesis_params else math.nan),
            "receptive_field": rf,
            "rf_ms_16k": 1000.0 * rf / SAMPLE_RATES[0],
            "rf_ms_48k": 1000.0 * rf / SAMPLE_RATES[1],
            "thesis_rf_ms": config.thesis_rf_ms,
            "layers": layer_count(model),
            "thesis_layers": config.thesis_layers,
            "in_thesis": config.in_thesis,
            "note": config.note,
        })
    table = pd.DataFrame(rows)
    # Integer columns with gaps (a thesis value not printed) stay integers.
    return table.astype({"thesis_params": "Int64", "thesis_layers": "Int64"})
