"""History buffers of the streaming convolutions: the mirrored ring (long histories) and the shifting buffer (short ones)."""

from __future__ import annotations

from typing import Optional

import torch


#: Block length the ring buffers and work buffers are first sized for; they grow on a longer block.
DEFAULT_MAX_BLOCK = 4096


class _Views:
    """The strided views a buffer hands out, kept by (shape, offset): on a stream of equal blocks
    the positions repeat, so after the first round a view costs a dictionary lookup instead of a
    new tensor. Bounded: cleared when ``MAX_VIEWS`` are kept (random block sizes)."""

    MAX_VIEWS = 512
    data: torch.Tensor
    views: dict[tuple, torch.Tensor]

    def view(self, key: tuple, size: tuple[int, ...], stride: tuple[int, ...], offset: int) -> torch.Tensor:
        view = self.views.get(key)
        if view is None:
            if len(self.views) >= self.MAX_VIEWS:
                self.views.clear()
            view = self.views[key] = self.data.as_strided(size, stride, offset)
        return view


class MirroredRingBuffer(_Views):
    """History of a (C, .) signal in a ring of length L stored twice (``data`` is (1, C, 2L)).

    After ``write(x)``, ``window(m)`` is a contiguous-in-time view of the last m <= L samples.
    A producer may also compute the next n samples straight into ``write_target(n)`` (when they
    do not wrap around the end of the ring) and then ``commit(n)``, which saves a copy.
    """

    def __init__(self, channels: int, length: int, dtype: torch.dtype,
                 device: torch.device) -> None:
        self.length, self.channels = length, channels
        self.data = torch.zeros(1, channels, 2 * length, dtype=dtype, device=device)
        self.rows = self.data[0]  # (C, 2L) view
        self.position = 0  # where the next sample goes, in [0, L)
        self.views: dict[tuple, torch.Tensor] = {}

    def write(self, x: torch.Tensor) -> None:
        """Append the block ``x`` (..., C, n), n <= L."""
        n, length, w = x.shape[-1], self.length, self.position
        first = min(n, length - w)
        self.data[..., w:w + first] = x[..., :first]
        self.data[..., w + length:w + length + first] = x[..., :first]
        if first < n:  # the block wraps around the end of the ring
            rest = n - first
            self.data[..., :rest] = x[..., first:]
            self.data[..., length:length + rest] = x[..., first:]
        self.position = (w + n) % length

    def write_target(self, n: int) -> Optional[torch.Tensor]:
        """A (C, n) view to compute the next n samples into, or None if they would wrap."""
        w = self.position
        if w + n > self.length:
            return None
        return self.view((n, w), (self.channels, n), (2 * self.length, 1), w)

    def commit(self, target: torch.Tensor, n: int) -> None:
        """Mirror the n samples just computed into ``target = write_target(n)``; advance."""
        w = self.position + self.length
        self.view((n, w), (self.channels, n), (2 * self.length, 1), w).copy_(target)
        self.position = (w + n) % self.length

    def window(self, m: int) -> torch.Tensor:
        """The last m <= L samples, (1, C, m), a view into the ring."""
        end = self.position + self.length
        return self.data[..., end - m:end]

    def taps(self, kernel_size: int, dilation: int, n: int, channels: Optional[int] = None) -> torch.Tensor:
        """The k dilated taps of the last n outputs, (k, C, n): tap j = window[j*d : j*d + n].

        The window spans the history (k-1)*d plus the n newest samples; a view, never a copy.
        ``channels`` takes only the first rows (default: all C).
        """
        start = self.position + self.length - (kernel_size - 1) * dilation - n
        return self.view((n, start, kernel_size, dilation, channels),
                         (kernel_size, channels or self.channels, n), (dilation, 2 * self.length, 1), start)

    def diagonal_taps(self, kernel_size: int, dilation: int, n: int) -> torch.Tensor:
        """Row j's tap j of the last n outputs, (k, n): row j delayed by (k-1-j)*d; a view."""
        start = self.position + self.length - (kernel_size - 1) * dilation - n
        return self.view((n, start, kernel_size, dilation, "diagonal"), (kernel_size, n),
                         (dilation + 2 * self.length, 1), start)

    def reset(self) -> None:
        self.data.zero_()
        self.position = 0


class ShiftingBuffer(_Views):
    """History of a (C, .) signal in one linear buffer with room for several blocks.

    Blocks are written one after the other after the history; when the room runs out, the last
    ``history`` samples move to the front (one copy of at most one block, every few blocks).
    For histories no longer than a block this costs less than a mirrored ring (which copies
    every sample twice) and a producer can always compute straight into ``write_target``. Same
    interface as ``MirroredRingBuffer``.
    """

    def __init__(self, channels: int, history: int, room: int, dtype: torch.dtype,
                 device: torch.device) -> None:
        if room < history + 1:
            raise ValueError("the room for new samples must exceed the history")
        self.channels, self.history, self.room = channels, history, room
        self.size = history + room
        self.data = torch.zeros(1, channels, self.size, dtype=dtype, device=device)
        self.position = history  # where the next sample goes; the history ends here
        self.views: dict[tuple, torch.Tensor] = {}

    def write_target(self, n: int) -> torch.Tensor:
        """A (C, n) view to compute the next n samples into (moves the history if needed)."""
        if self.position + n > self.size:
            if n > self.room - self.history:
                raise ValueError(f"a block of {n} does not fit a room of {self.room}")
            h = self.history
            # position >= room > 2*history here, so source and destination do not overlap.
            self.data[..., :h] = self.data[..., self.position - h:self.position]
            self.position = h
        return self.view((n, self.position), (self.channels, n), (self.size, 1), self.position)

    def commit(self, target: torch.Tensor, n: int) -> None:
        """The n samples are in ``target = write_target(n)``: advance."""
        self.position += n

    def write(self, x: torch.Tensor) -> None:
        """Append the block ``x`` (..., C, n)."""
        n = x.shape[-1]
        target = self.write_target(n)
        target.copy_(x.reshape(self.channels, n))
        self.commit(target, n)

    def window(self, m: int) -> torch.Tensor:
        """The last m samples (m <= history + the last block), (1, C, m), a view."""
        return self.data[..., self.position - m:self.position]

    def taps(self, kernel_size: int, dilation: int, n: int, channels: Optional[int] = None) -> torch.Tensor:
        """The k dilated taps of the last n outputs, (k, C, n), a view (see MirroredRingBuffer)."""
        start = self.position - (kernel_size - 1) * dilation - n
        return self.view((n, start, kernel_size, dilation, channels),
                         (kernel_size, channels or self.channels, n), (dilation, self.size, 1), start)

    def diagonal_taps(self, kernel_size: int, dilation: int, n: int) -> torch.Tensor:
        """Row j's tap j of the last n outputs, (k, n), a view (see MirroredRingBuffer)."""
        start = self.position - (kernel_size - 1) * dilation - n
        return self.view((n, start, kernel_size, dilation, "diagonal"), (kernel_size, n),
                         (dilation + self.size, 1), start)

    def reset(self) -> None:
        self.data.zero_()
        self.position = self.history


#: A short history's buffer has room for this many of the longest blocks before it shifts.
SHIFT_ROOM_BLOCKS = 4


def history_buffer(channels: int, history: int, max_block: int, dtype: torch.dtype,
                   device: torch.device) -> MirroredRingBuffer | ShiftingBuffer:
    """The buffer for a convolution input with ``history`` past samples and blocks <= max_block.

    Short histories (<= one block) shift in a linear buffer; long ones (a TCN's 80,000 samples)
    live in a mirrored ring whose length is a multiple of ``max_block``, so blocks of that
    length, or of any divisor of it, never wrap around its end.
    """
    if history <= max_block:
        return ShiftingBuffer(channels, history, SHIFT_ROOM_BLOCKS * max_block, dtype, device)
    length = -(-(history + max_block) // max_block) * max_block
    return MirroredRingBuffer(channels, length, dtype, device)


def regrown(ring: MirroredRingBuffer | ShiftingBuffer, history: int,
            max_block: int) -> MirroredRingBuffer | ShiftingBuffer:
    """A buffer for blocks up to ``max_block`` that starts with the last ``history`` samples of ``ring``."""
    kept = ring.window(history).clone()
    new = history_buffer(ring.channels, history, max_block, ring.data.dtype, ring.data.device)
    new.write(kept)
    return new
