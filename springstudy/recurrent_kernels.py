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

The gated stacks' and TCNs' kernels are in :mod:`springstudy.conv_kernels`.

Imported lazily (``springstudy.streaming`` builds its GRU plan on it);
compiled on first use and cached on disk by numba.
"""

from __future__ import annotations

import numba
import numpy as np


#: Fast-math flags that keep infinities and NaNs meaning what they do (``fastmath=True`` lets the
#: compiler assume neither occurs: a NaN input then raised ZeroDivisionError instead of giving NaN,
#: as torch's GRU does), and numpy's error model (a division by zero is IEEE, no check).
_MATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


@numba.njit(cache=True, nogil=True, fastmath=_MATH, error_model="numpy")
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
