"""Compiled kernels for streaming (numba): the GRU recurrence and the gated activation.

**GRU.** torch's CPU GRU (unlike its LSTM, which runs as one oneDNN primitive) dispatches a
handful of operators per time step, about 12 µs per sample on our CPU for 96 units: more than
real time allows at 48 kHz on a loaded core. The recurrence itself is small (a 3H x H
matrix-vector product and 3H gate nonlinearities per sample), so a compiled loop does it in a
few µs.

Equations as ``torch.nn.GRU`` (Cho et al. 2014, PyTorch's "linear before reset" form), with
the input projection ``gi = W_ih x + b_ih`` computed beforehand for the whole block::

    r = sigmoid(gi_r + W_hr h + b_hr)
    z = sigmoid(gi_z + W_hz h + b_hz)
    n = tanh(gi_n + r * (W_hn h + b_hn))
    h = n + z * (h - n)

**Gated activation** of WaveNet/GCN layers, ``tanh(a) * sigmoid(b)`` over a (2C, n) block, in
one vectorised pass instead of torch's sigmoid and product passes (:func:`gated_activation`).

Imported lazily (``springstudy.streaming`` builds its GRU plan and gated stacks on it);
compiled on first use and cached on disk by numba.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic


@numba.njit(cache=True, nogil=True, fastmath=True)
def gru_steps(gi: np.ndarray, weight_hh_t: np.ndarray, bias_hh: np.ndarray, h: np.ndarray,
              out: np.ndarray) -> None:  # pragma: no cover - compiled
    """Run the GRU recurrence over a block; ``h`` (H,) is updated in place, ``out`` (n, H).

    ``gi`` (n, 3H) is the input projection with its bias; ``weight_hh_t`` (H, 3H) is
    ``W_hh`` transposed so that the product is a sum of contiguous rows (it vectorises).
    """
    n, hidden = gi.shape[0], h.shape[0]
    gates = 3 * hidden
    gh = np.empty(gates, dtype=gi.dtype)
    e = np.empty(2 * hidden, dtype=gi.dtype)
    one = gi.dtype.type(1.0)
    for t in range(n):
        for i in range(gates):
            gh[i] = bias_hh[i]
        for j in range(hidden):
            hj = h[j]
            for i in range(gates):
                gh[i] += weight_hh_t[j, i] * hj
        for i in range(2 * hidden):
            e[i] = np.exp(-(gi[t, i] + gh[i]))
        for i in range(hidden):
            r = one / (one + e[i])
            z = one / (one + e[hidden + i])
            c = np.tanh(gi[t, 2 * hidden + i] + r * gh[2 * hidden + i])
            h[i] = c + z * (h[i] - c)
            out[t, i] = h[i]


# --------------------------------------------------------------------------------------------
# Gated activation

#: Fast-math flags of the gate: no reassociation (the exponential's range reduction stays exact),
#: and infinities and NaNs keep their meaning. The gate's functions also take numpy's error model
#: (no ZeroDivisionError check), without which the loop does not vectorise.
_GATE_MATH = {"nsz", "arcp", "contract"}
#: Arguments of the exponentials are clamped to +-this. exp(40) * exp(40) stays far below the
#: float32 maximum, and nothing is lost: tanh(a) is +-1 in float32 beyond |a| = 9.1, and
#: sigmoid(b) < 5e-18 (an absolute error below that) for b < -40.
_GATE_CLAMP = 40.0


@intrinsic
def _float32_from_bits(typingctx, bits):  # pragma: no cover - compiled
    """The float32 whose bit pattern is the low 32 bits of the integer ``bits``."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = args[0]
        if bits.bitwidth > 32:
            value = builder.trunc(value, ir.IntType(32))
        return builder.bitcast(value, ir.FloatType())

    return types.float32(bits), codegen


@numba.njit(inline="always", fastmath=_GATE_MATH, error_model="numpy", cache=True)
def _exp32(x: np.float32) -> np.float32:  # pragma: no cover - compiled
    """e**x in float32 for |x| <= 87 (max relative error about 1.5 ulp), in plain arithmetic
    that vectorises: e**x = 2**k * e**f with k = round(x / ln 2), f = x - k ln 2 (ln 2 split in
    two parts, the first exact in float32 times k), e**f by its degree-7 Taylor polynomial
    (|f| <= ln(2)/2: truncation error < 5e-9), 2**k built from its exponent bits."""
    k = np.floor(x * np.float32(1.4426950408889634) + np.float32(0.5))
    f = x - k * np.float32(0.693145751953125)
    f = f - k * np.float32(1.4286068203094173e-06)
    p = np.float32(1.0 / 5040.0)
    p = p * f + np.float32(1.0 / 720.0)
    p = p * f + np.float32(1.0 / 120.0)
    p = p * f + np.float32(1.0 / 24.0)
    p = p * f + np.float32(1.0 / 6.0)
    p = p * f + np.float32(0.5)
    p = p * f + np.float32(1.0)
    p = p * f + np.float32(1.0)
    return p * _float32_from_bits((np.int32(k) + np.int32(127)) << np.int32(23))


@numba.njit("void(float32[:, ::1])", fastmath=_GATE_MATH, error_model="numpy", nogil=True, cache=True)
def gated_activation(h: np.ndarray) -> None:  # pragma: no cover - compiled
    """In place on ``h`` (2C, n), whose rows hold 2a (the tanh half, pre-doubled) and b:
    rows 0..C-1 become ``-tanh(a) * sigmoid(b)`` (the sign and the doubling as the fused
    streaming plan folds them). With e1 = exp(-2a) and e2 = exp(-b),
    -tanh(a) sigmoid(b) = (e1 - 1) / ((1 + e1)(1 + e2)): two exponentials and one division."""
    c, n = h.shape[0] // 2, h.shape[1]
    one = np.float32(1.0)
    lo, hi = np.float32(-_GATE_CLAMP), np.float32(_GATE_CLAMP)
    for i in range(c):
        a = h[i]
        b = h[c + i]
        for t in range(n):
            x, y = -a[t], -b[t]
            # Clamped so that a NaN passes through (a comparison with NaN is false).
            e1 = _exp32(hi if x > hi else (lo if x < lo else x))
            e2 = _exp32(hi if y > hi else (lo if y < lo else y))
            a[t] = (e1 - one) / ((one + e1) * (one + e2))
