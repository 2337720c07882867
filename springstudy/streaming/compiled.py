"""The compiled plans' base: one compiled call per block for the float32 convolutional families."""

from __future__ import annotations

from typing import Any

import torch


class CompiledPlan:
    """Frame of the compiled plans (:mod:`springstudy.conv_kernels`): per layer a plain ring
    (rows, history + max_block) in one flat float32 array, its write position, the folded
    weights in one flat ``params`` array, and a ``meta`` table of offsets the kernel reads.
    Subclasses fill ``meta`` (kernel, dilation, ring rows and their parameter offsets), the
    history lengths, ``work_rows`` (rows of the work buffer at the longest block) and ``kernel_args``.
    """

    meta: Any
    params: Any
    history_lengths: list[int]
    work_rows: int

    def pack(self, layer: int, parts: dict[int, torch.Tensor], pieces: list[torch.Tensor], offset: int) -> int:
        """Append each tensor of ``parts`` to ``pieces`` and record its offset in ``meta[layer]``."""
        for field, values in parts.items():
            flat = values.detach().reshape(-1).to(torch.float32)
            self.meta[layer, field] = offset
            pieces.append(flat)
            offset += flat.numel()
        return offset

    def allocate(self, max_block: int, keep: bool = False) -> None:
        """Rings and work for blocks up to ``max_block``; ``keep`` carries the histories over."""
        import numpy as np

        from springstudy import conv_kernels as kernels

        old = self.rings_by_layer() if keep else None
        self.max_block = max_block
        rows = [int(m[kernels.ROWS]) for m in self.meta]
        sizes = [r * (history + max_block) for r, history in zip(rows, self.history_lengths)]
        self.meta[:, kernels.LENGTH] = [history + max_block for history in self.history_lengths]
        self.meta[:, kernels.RING] = np.cumsum([0] + sizes[:-1])
        self.rings = np.zeros(sum(sizes), dtype=np.float32)
        self.positions = np.zeros(len(self.history_lengths), dtype=np.int64)
        self.work = np.zeros(self.work_rows * kernels.row_stride.py_func(max_block), dtype=np.float32)
        if old is not None:  # the last `history` samples of each ring, oldest first
            new = self.rings_by_layer()
            for l, (ring, position) in enumerate(old):
                history = self.history_lengths[l]
                if history:
                    new[l][0][:, :history] = ring[:, (position - history + np.arange(history)) % ring.shape[1]]
                self.positions[l] = history

    def rings_by_layer(self) -> list[tuple[Any, int]]:
        """(ring (rows, L) view, write position) per layer."""
        from springstudy import conv_kernels as kernels

        return [(self.rings[m[kernels.RING]:m[kernels.RING] + m[kernels.ROWS] * m[kernels.LENGTH]]
                 .reshape(int(m[kernels.ROWS]), int(m[kernels.LENGTH])), int(p))
                for m, p in zip(self.meta, self.positions)]

    def reset(self) -> None:
        self.rings.fill(0.0)
        self.positions.fill(0)

    def kernel_args(self) -> tuple:
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        if n > self.max_block:
            self.allocate(max(n, 2 * self.max_block), keep=True)
        out = torch.empty(1, n, dtype=torch.float32)
        self.kernel(x.reshape(n).contiguous().numpy(), out.numpy()[0], self.rings, self.positions,
                    self.params, self.meta, self.work, *self.kernel_args())
        return out
