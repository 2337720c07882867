"""Compiled kernels (numba) for streaming the convolutional stacks: a whole block of a gated
stack (WaveNet, GCN) or of a TCN in one call.

Why compiled: per block and layer, the torch path dispatches a gather, a matrix product, a
gate or an activation, and a mix, each a few µs of fixed cost, and torch's matrix product is
below its best on the small, wide products of a block (32 x 81 by 81 x 512 for GCN-2500).
One compiled call per block does all layers with no dispatch in between, and its register-tiled
product (:func:`_gemm_acc`: four output rows by four input rows per pass over the block) runs
these shapes at the speed of a large ``torch.mm``.

Layout. Every history is a plain ring (rows, L) with L >= history + block: a block's taps are
copied out of it with at most one wrap per tap (:func:`_gather`), each sample is written once.
Everything is float32, in flat arrays with integer offsets (``meta``), because each array
argument costs the dispatcher about half a µs.

Indices are unsigned (``np.uint64``) in the inner loops: numba then emits no negative-index
wrap-around, and the loops vectorise.

Gated activation: ``tanh(a) * sigmoid(b)`` as :func:`_gate_rows` (two exponentials, one
division), shared with the standalone :func:`gated_activation`.

Compiled on first use (about 6 s per block kernel on our CPU) and cached on disk by numba
(then about 10 ms to load).
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

#: Fast-math flags: no reassociation (the exponential's range reduction stays exact, and sums
#: keep the order written), and infinities and NaNs keep their meaning. The kernels also take
#: numpy's error model (no ZeroDivisionError check), without which the loops do not vectorise.
_MATH = {"nsz", "arcp", "contract"}
_JIT = dict(fastmath=_MATH, error_model="numpy", cache=True)
#: Arguments of the gate's exponentials are clamped to +-this. exp(40) * exp(40) stays far below
#: the float32 maximum, and nothing is lost: tanh(a) is +-1 in float32 beyond |a| = 9.1, and
#: sigmoid(b) < 5e-18 (an absolute error below that) for b < -40.
_GATE_CLAMP = 40.0
_u = np.uint64

# Columns of ``meta`` (one row per layer or block): the first five describe the layer's input
# ring (kernel size, dilation, ring rows, ring offset in the flat ``rings``, ring length); the
# others are offsets into ``params`` or flags, per kernel.
KERNEL, DILATION, ROWS, RING, LENGTH = range(5)
G_WEIGHT, G_BIAS, G_MIX, G_SKIP, G_FIELDS = range(5, 10)


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


@numba.njit(inline="always", **_JIT)
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


@numba.njit(inline="always", **_JIT)
def _gate_rows(h, c, n):  # pragma: no cover - compiled
    """In place on the first n columns of ``h`` (2C, >= n), whose rows hold 2a (the tanh half,
    pre-doubled) and b: rows 0..C-1 become ``q = -tanh(a) * sigmoid(b)``. With e1 = exp(-2a)
    and e2 = exp(-b), -tanh(a) sigmoid(b) = (e1 - 1) / ((1 + e1)(1 + e2))."""
    one = np.float32(1.0)
    lo, hi = np.float32(-_GATE_CLAMP), np.float32(_GATE_CLAMP)
    for i in range(c):
        a = h[i]
        b = h[c + i]
        for t in range(n):
            tt = _u(t)
            x, y = -a[tt], -b[tt]
            # Clamped so that a NaN passes through (a comparison with NaN is false).
            e1 = _exp32(hi if x > hi else (lo if x < lo else x))
            e2 = _exp32(hi if y > hi else (lo if y < lo else y))
            a[tt] = (e1 - one) / ((one + e1) * (one + e2))


@numba.njit("void(float32[:, ::1])", nogil=True, **_JIT)
def gated_activation(h: np.ndarray) -> None:  # pragma: no cover - compiled
    """In place on ``h`` (2C, n), rows 2a and b: rows 0..C-1 become ``-tanh(a) * sigmoid(b)``
    (the sign and the doubling as the fused streaming plans fold them)."""
    _gate_rows(h, h.shape[0] // 2, h.shape[1])


# --------------------------------------------------------------------------------------------
# Building blocks


@numba.njit(inline="always", **_JIT)
def _axpy_rows(acc, weights, first, x, rows, n):  # pragma: no cover - compiled
    """acc[:n] += sum_i weights[first + i] * x[i, :n] over ``rows`` rows of x, four a pass
    (one load and store of ``acc`` per four products)."""
    i = 0
    while i + 4 <= rows:
        w0, w1, w2, w3 = weights[first + i], weights[first + i + 1], weights[first + i + 2], weights[first + i + 3]
        x0, x1, x2, x3 = x[i], x[i + 1], x[i + 2], x[i + 3]
        for t in range(n):
            tt = _u(t)
            acc[tt] += (w0 * x0[tt] + w1 * x1[tt]) + (w2 * x2[tt] + w3 * x3[tt])
        i += 4
    while i < rows:
        w0, x0 = weights[first + i], x[i]
        for t in range(n):
            tt = _u(t)
            acc[tt] += w0 * x0[tt]
        i += 1


#: The product takes its right operand in panels of rows of at most this many floats (256 KB,
#: a quarter of our L2), so that each group of four output rows rereads it from L2, not L3.
_PANEL_FLOATS = 65536


@numba.njit(inline="always", **_JIT)
def _gemm_acc(w, x, h, n):  # pragma: no cover - compiled
    """h[:, :n] += w @ x[:, :n] for w (R, K), x (K, >= n), h (R, >= n), all row-contiguous.

    Four output rows by four input rows a pass: per group of samples, 4 loads of x, 4 loads and
    stores of h and 16 fused multiply-adds (the register tiling of a BLAS microkernel, with the
    block's samples as the vector dimension), over panels of x's rows that stay in L2."""
    rows, inner = w.shape
    panel = max(4, (_PANEL_FLOATS // max(n, 1)) // 4 * 4)
    for first in range(0, inner, panel):
        _gemm_panel(w, x, h, n, first, min(inner, first + panel))


@numba.njit(inline="always", **_JIT)
def _gemm_panel(w, x, h, n, first, last):  # pragma: no cover - compiled
    """h[:, :n] += w[:, first:last] @ x[first:last, :n] (see :func:`_gemm_acc`)."""
    rows = w.shape[0]
    r = 0
    while r + 4 <= rows:
        h0, h1, h2, h3 = h[r], h[r + 1], h[r + 2], h[r + 3]
        i = first
        while i + 4 <= last:
            x0, x1, x2, x3 = x[i], x[i + 1], x[i + 2], x[i + 3]
            a0, a1, a2, a3 = w[r, i], w[r, i + 1], w[r, i + 2], w[r, i + 3]
            b0, b1, b2, b3 = w[r + 1, i], w[r + 1, i + 1], w[r + 1, i + 2], w[r + 1, i + 3]
            c0, c1, c2, c3 = w[r + 2, i], w[r + 2, i + 1], w[r + 2, i + 2], w[r + 2, i + 3]
            d0, d1, d2, d3 = w[r + 3, i], w[r + 3, i + 1], w[r + 3, i + 2], w[r + 3, i + 3]
            for t in range(n):
                tt = _u(t)
                v0, v1, v2, v3 = x0[tt], x1[tt], x2[tt], x3[tt]
                h0[tt] += (a0 * v0 + a1 * v1) + (a2 * v2 + a3 * v3)
                h1[tt] += (b0 * v0 + b1 * v1) + (b2 * v2 + b3 * v3)
                h2[tt] += (c0 * v0 + c1 * v1) + (c2 * v2 + c3 * v3)
                h3[tt] += (d0 * v0 + d1 * v1) + (d2 * v2 + d3 * v3)
            i += 4
        while i < last:
            x0 = x[i]
            a0, b0, c0, d0 = w[r, i], w[r + 1, i], w[r + 2, i], w[r + 3, i]
            for t in range(n):
                tt = _u(t)
                v0 = x0[tt]
                h0[tt] += a0 * v0
                h1[tt] += b0 * v0
                h2[tt] += c0 * v0
                h3[tt] += d0 * v0
            i += 1
        r += 4
    while r < rows:
        hr = h[r]
        for i in range(first, last):
            a0, x0 = w[r, i], x[i]
            for t in range(n):
                tt = _u(t)
                hr[tt] += a0 * x0[tt]
        r += 1


@numba.njit(inline="always", **_JIT)
def _fill(row, value, n):  # pragma: no cover - compiled
    for t in range(n):
        row[_u(t)] = value


@numba.njit(inline="always", **_JIT)
def _write_ring(src, ring_row, start, n, step=1):  # pragma: no cover - compiled
    """ring_row[start:start + n] = src[:n], wrapping around the ring's end (``step`` 0: n
    copies of src[0])."""
    length = ring_row.shape[0]
    head = min(n, length - start)
    for t in range(head):
        ring_row[_u(start + t)] = src[_u(t * step)]
    for t in range(head, n):
        ring_row[_u(t - head)] = src[_u(t * step)]


@numba.njit(inline="always", **_JIT)
def _add_from_ring(ring_row, start, dst, n):  # pragma: no cover - compiled
    """dst[:n] += ring_row[start:start + n], wrapping around the ring's end."""
    length = ring_row.shape[0]
    head = min(n, length - start)
    for t in range(head):
        dst[_u(t)] += ring_row[_u(start + t)]
    for t in range(head, n):
        dst[_u(t)] += ring_row[_u(t - head)]


@numba.njit(inline="always", **_JIT)
def _gather(ring, end, kernel_size, dilation, cols, n):  # pragma: no cover - compiled
    """The k dilated taps of the n samples that end at ``end`` (exclusive) of ``ring`` (C, L),
    tap-major into ``cols`` (k*C, >= n): row j*C + c, column t = ring[c, end - n - (k-1-j)*d + t]."""
    channels, length = ring.shape
    for j in range(kernel_size):
        start = (end - n - (kernel_size - 1 - j) * dilation) % length
        head = min(n, length - start)
        for c in range(channels):
            src, dst = ring[c], cols[j * channels + c]
            for t in range(head):
                dst[_u(t)] = src[_u(start + t)]
            for t in range(head, n):
                dst[_u(t)] = src[_u(t - head)]


@numba.njit(inline="always", **_JIT)
def row_stride(n):  # pragma: no cover - compiled
    """Row length of the work matrices of an n-sample block: n rounded up to an odd number of
    16 floats (64-byte lines). Rows 2 KB apart (n = 512) put the four rows a product pass
    touches at the same address modulo 4 KB, where loads wait on earlier stores ("4K
    aliasing"): 70 instead of 95 GFLOP/s on our CPU."""
    lines = (n + 15) // 16
    return 16 * (lines + 1 - lines % 2)


@numba.njit(inline="always", **_JIT)
def _ring(rings, meta, layer):  # pragma: no cover - compiled
    """Layer ``layer``'s input ring, a (rows, L) view of the flat ``rings``."""
    rows, length, offset = meta[layer, ROWS], meta[layer, LENGTH], meta[layer, RING]
    return rings[offset:offset + rows * length].reshape((rows, length))


# --------------------------------------------------------------------------------------------
# Gated stack (WaveNet, GCN)


@numba.njit(nogil=True, **_JIT)
def gated_stack_block(x, out, rings, positions, params, meta, work, channels, has_valid_row):  # pragma: no cover
    """One block of a folded gated stack (see ``springstudy.streaming.CompiledGatedStackPlan``).

    ``x`` (n,) in, ``out`` (n,) out. Layer l reads its input ring (rows_l, L_l) at
    ``positions[l]`` (advanced by n here), computes h = b + W @ taps (2C, n), the gate
    q = -z in place, adds ``skip_l . [1; q]`` to the output, and (all but the last layer)
    writes x_{l+1} = base + m + M @ q into ring l+1, where base is x_l (the newest tap of its
    gather) or, for the first layer, ``x_weight * x``. ``params`` holds per layer W (2C, k*rows),
    b (2C), M | m as (C, 1 + C) and skip (1 + C), at the offsets in ``meta``; the first layer's
    ``x_weight`` (C) follows its mix. ``work`` holds cols (max k*rows, s), h (2C, s), the next
    x (C, s) and the output sum (n), s = ``row_stride(n)``. A WaveNet's first ring has a second
    row, 1 on every real sample (``has_valid_row``), that its folded input projection's bias reads.
    """
    n = x.shape[0]
    stride = row_stride(n)
    layers = meta.shape[0]
    c2 = 2 * channels
    max_cols = 0
    for layer in range(layers):
        max_cols = max(max_cols, meta[layer, KERNEL] * meta[layer, ROWS])
    h = work[max_cols * stride:(max_cols + c2) * stride].reshape((c2, stride))
    nxt = work[(max_cols + c2) * stride:(max_cols + c2 + channels) * stride].reshape((channels, stride))
    total = work[(max_cols + c2 + channels) * stride:(max_cols + c2 + channels) * stride + n]

    ring = _ring(rings, meta, 0)
    position = positions[0]
    _write_ring(x, ring[0], position, n)
    if has_valid_row:  # 1 on every real sample (0 in the causal zero padding)
        _write_ring(np.ones(1, dtype=np.float32), ring[1], position, n, 0)
    for layer in range(layers):
        k, d, rows = meta[layer, KERNEL], meta[layer, DILATION], meta[layer, ROWS]
        ring = _ring(rings, meta, layer)
        end = (positions[layer] + n) % ring.shape[1]
        positions[layer] = end
        cols = work[:k * rows * stride].reshape((k * rows, stride))
        _gather(ring, end, k, d, cols, n)
        weight = params[meta[layer, G_WEIGHT]:meta[layer, G_WEIGHT] + c2 * k * rows].reshape((c2, k * rows))
        bias = params[meta[layer, G_BIAS]:meta[layer, G_BIAS] + c2]
        for r in range(c2):
            _fill(h[r], bias[r], n)
        _gemm_acc(weight, cols, h, n)
        _gate_rows(h, channels, n)
        skip = params[meta[layer, G_SKIP]:meta[layer, G_SKIP] + 1 + channels]
        if layer == 0:
            _fill(total, skip[0], n)
        else:
            for t in range(n):
                total[_u(t)] += skip[0]
        _axpy_rows(total, skip, 1, h, channels, n)
        if layer == layers - 1:
            break
        mix_at = meta[layer, G_MIX]
        mix = params[mix_at:mix_at + channels * (1 + channels)].reshape((channels, 1 + channels))
        if layer == 0:  # x_1 = x_weight * x + m + M @ q
            x_weight = params[mix_at + channels * (1 + channels):mix_at + channels * (2 + channels)]
            for r in range(channels):
                scale, shift, dst = x_weight[r], mix[r, 0], nxt[r]
                for t in range(n):
                    tt = _u(t)
                    dst[tt] = scale * x[tt] + shift
        else:  # x_{l+1} = x_l + m + M @ q; x_l is the newest tap, the last C rows of cols
            for r in range(channels):
                shift, src, dst = mix[r, 0], cols[(k - 1) * rows + r], nxt[r]
                for t in range(n):
                    tt = _u(t)
                    dst[tt] = src[tt] + shift
        _gemm_acc(mix[:, 1:], h, nxt, n)
        following = _ring(rings, meta, layer + 1)
        for r in range(channels):
            _write_ring(nxt[r], following[r], positions[layer + 1], n)
    for t in range(n):
        out[_u(t)] = total[_u(t)]


# --------------------------------------------------------------------------------------------
# TCN

# Columns of ``meta`` (one row per block) of the TCN kernel. A projected block's ring holds
# k + 1 projections of its input (``WEIGHT`` is then the (k + 1, C_in) projection, applied by
# the block before it) instead of the input itself.
T_WEIGHT, T_BIAS, T_ALPHA, T_RESIDUAL, T_OUT, T_PROJECTED, T_FIELDS = range(5, 12)


@numba.njit(inline="always", **_JIT)
def _prelu_rows(h, alpha, rows, n):  # pragma: no cover - compiled
    for r in range(rows):
        a, hr = alpha[r], h[r]
        for t in range(n):
            tt = _u(t)
            v = hr[tt]
            hr[tt] = v if v >= np.float32(0.0) else a * v


@numba.njit(nogil=True, **_JIT)
def tcn_block(x, out, rings, positions, params, meta, work):  # pragma: no cover - compiled
    """One block of samples through a folded TCN (see ``springstudy.streaming.CompiledTCNPlan``).

    Per TCN block i with input ring (C_in, L): h = b + W @ taps (BatchNorm and FiLM folded),
    PReLU in place, h += R @ x_i (the newest tap: the 1x1 residual), then h goes to the next
    block's ring, or, when the next block is projected, P @ h does. A projected block (the
    one-channel last block of the named TCNs) reads tap j of row j of its ring of projections
    p_j = w_j . x (row k: the residual r . x), k rows a block instead of k * C_in.
    ``work`` holds cols (max k*C_in, s), h (max C_out, s) and the projections (k + 1, s),
    s = ``row_stride(n)``.
    """
    n = x.shape[0]
    stride = row_stride(n)
    blocks = meta.shape[0]
    max_cols, max_out = 0, 1
    for b in range(blocks):
        if meta[b, T_PROJECTED] == 0:
            max_cols = max(max_cols, meta[b, KERNEL] * meta[b, ROWS])
        max_out = max(max_out, meta[b, T_OUT])
    h_all = work[max_cols * stride:(max_cols + max_out) * stride]
    projections_at = (max_cols + max_out) * stride

    ring = _ring(rings, meta, 0)
    _write_ring(x, ring[0], positions[0], n)
    for b in range(blocks):
        k, d, rows = meta[b, KERNEL], meta[b, DILATION], meta[b, ROWS]
        ring = _ring(rings, meta, b)
        end = (positions[b] + n) % ring.shape[1]
        positions[b] = end
        c_out, bias_at = meta[b, T_OUT], meta[b, T_BIAS]
        alpha = params[meta[b, T_ALPHA]:meta[b, T_ALPHA] + c_out]
        if meta[b, T_PROJECTED] == 1:  # the last block: sum of k delayed rows, PReLU, residual
            length = ring.shape[1]
            _fill(out, params[bias_at], n)
            for j in range(k):
                _add_from_ring(ring[j], (end - n - (k - 1 - j) * d) % length, out, n)
            a = alpha[0]
            for t in range(n):
                tt = _u(t)
                v = out[tt]
                out[tt] = v if v >= np.float32(0.0) else a * v
            _add_from_ring(ring[k], (end - n) % length, out, n)  # the residual
            return
        cols = work[:k * rows * stride].reshape((k * rows, stride))
        _gather(ring, end, k, d, cols, n)
        h = h_all[:c_out * stride].reshape((c_out, stride))
        for r in range(c_out):
            _fill(h[r], params[bias_at + r], n)
        weight_at = meta[b, T_WEIGHT]
        _gemm_acc(params[weight_at:weight_at + c_out * k * rows].reshape((c_out, k * rows)), cols, h, n)
        _prelu_rows(h, alpha, c_out, n)
        newest = work[(k - 1) * rows * stride:k * rows * stride].reshape((rows, stride))
        residual_at = meta[b, T_RESIDUAL]
        _gemm_acc(params[residual_at:residual_at + c_out * rows].reshape((c_out, rows)), newest, h, n)
        if b == blocks - 1:  # a plain last block (one output channel)
            _copy_row(h[0], out, n)
            return
        following = _ring(rings, meta, b + 1)
        source = h
        if meta[b + 1, T_PROJECTED] == 1:  # the next block keeps projections of h
            rows_p = meta[b + 1, ROWS]
            projections = work[projections_at:projections_at + rows_p * stride].reshape((rows_p, stride))
            for r in range(rows_p):
                _fill(projections[r], np.float32(0.0), n)
            at = meta[b + 1, T_WEIGHT]
            _gemm_acc(params[at:at + rows_p * c_out].reshape((rows_p, c_out)), h, projections, n)
            source = projections
        for r in range(following.shape[0]):
            _write_ring(source[r], following[r], positions[b + 1], n)


@numba.njit(inline="always", **_JIT)
def _copy_row(src, dst, n):  # pragma: no cover - compiled
    for t in range(n):
        dst[_u(t)] = src[_u(t)]
