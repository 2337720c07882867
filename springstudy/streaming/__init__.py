"""Block-by-block (streaming) inference whose output equals the whole-signal forward pass.

``Streamer(model)`` runs a springstudy model on consecutive blocks of any length n >= 1 and
returns exactly (within float rounding) what ``model(whole_signal)`` returns for those samples:
every model of the study is causal, so streaming adds no lookahead and the only latency is the
block itself (n / sample rate). Each causal convolution keeps the last ``(k-1)*d`` samples of
its input in a preallocated ring buffer, each LSTM/GRU keeps its state; nothing is recomputed
over the past and no history is ever shifted or re-padded.

Two paths compute the same thing:

- The *fused* path (default, ``fast=True``) for the study's families. The model's eval-mode
  constants are folded once, when the streamer is built: BatchNorm and FiLM (with its fixed
  conditioning vector) into the convolution or output weights, the gate's tanh into a sigmoid
  (``tanh(a) = 2*sigmoid(2a) - 1``: torch's sigmoid is several times faster than its tanh on
  CPU, and the factors 2 and 1/2 are exact in floating point), biases of the 1x1 mixes into a
  row of ones, a gated stack's output mix into its residual mixes. A block then costs, per
  layer, one gather of the dilated taps, one matrix product, one or two elementwise passes and
  one matrix product that writes the layer's output straight into the next layer's history,
  all into preallocated buffers. Float32 gated stacks (WaveNet, GCN) run all of that for all
  layers in one compiled call per block (:class:`CompiledGatedStackPlan`,
  :mod:`springstudy.conv_kernels`); other dtypes run it in torch operators. Dead work of the
  offline graph (the 1x1 mix of a gated stack's last layer, which feeds nothing) is skipped,
  and a TCN's one-channel last block keeps k projections of its input instead of its 32
  channels (:class:`ProjectedOutput`).
  LSTMs run torch's own (oneDNN) kernel with their state carried; GRUs run a compiled
  recurrence (numba), as torch's CPU GRU dispatches several operators per sample.
- The *module* path (``fast=False``, and any model the fused path does not know): the model's
  own ``forward`` on a private copy whose ``CausalConv1d`` and recurrent submodules are given a
  stateful forward. It is the reference the fused path is tested against.

A long history (a TCN's 80,000 samples) lives in a ring buffer that stores every sample twice
(at i and i + L, the "mirrored ring" trick), so the window a convolution needs (history + new
block) is always one slice; a short one (at most a block) in a linear buffer that moves its
history to the front every few blocks. Either way the k dilated taps are one strided view:
gathering them into a (k*C_in, n) matrix is a single copy and the convolution a single matrix
product over the block, the work the FLOP count describes (``springstudy.efficiency``).
"""

from __future__ import annotations

from springstudy.streaming.buffers import (DEFAULT_MAX_BLOCK, MirroredRingBuffer, SHIFT_ROOM_BLOCKS,
                                           ShiftingBuffer, history_buffer, regrown)
from springstudy.streaming.module_path import (CausalConvStream, ModuleStream, RecurrentStream)
from springstudy.streaming.fused import (ConvInput, FusedPlan, ProjectedOutput, Workspace,
                                         batch_norm_affine, film_affine, tap_major)
from springstudy.streaming.compiled import (CompiledPlan)
from springstudy.streaming.tcn import (CompiledTCNPlan, FoldedTCNBlock, TCNPlan, fold_tcn)
from springstudy.streaming.gated import (CompiledGatedStackPlan, FoldedGatedLayer, FoldedGatedStack,
                                         GatedStackPlan, fold_gated_stack)
from springstudy.streaming.recurrent import (CompiledGRU, RecurrentPlan)
from springstudy.streaming.streamer import (Streamer, fused_plan)
from springstudy.streaming.knobbed import (CONTROL_BLOCK, SMOOTHING_SECONDS, KnobSmoother, KnobStreamer)

__all__ = ["CONTROL_BLOCK", "KnobSmoother", "KnobStreamer", "SMOOTHING_SECONDS", "CausalConvStream", "CompiledGRU", "CompiledGatedStackPlan", "CompiledPlan",
    "CompiledTCNPlan", "ConvInput", "DEFAULT_MAX_BLOCK", "FoldedGatedLayer", "FoldedGatedStack",
    "FoldedTCNBlock", "FusedPlan", "GatedStackPlan", "MirroredRingBuffer", "ModuleStream",
    "ProjectedOutput", "RecurrentPlan", "RecurrentStream", "SHIFT_ROOM_BLOCKS", "ShiftingBuffer",
    "Streamer", "TCNPlan", "Workspace", "batch_norm_affine", "film_affine", "fold_gated_stack",
    "fold_tcn", "fused_plan", "history_buffer", "regrown", "tap_major"]
