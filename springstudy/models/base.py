"""What every springstudy model shares: shapes, parameter count, true receptive field."""

from __future__ import annotations

import math

from torch import nn


class SpringModel(nn.Module):
    """Base of the study's models: a causal map (B, 1, T) -> (B, 1, T).

    ``forward(x, cond=None)`` takes an optional conditioning vector ``cond`` (B, cond_dim) that
    reaches the network through FiLM layers when the model was built with ``cond_dim > 0``.
    """

    # TorchScript must not compile these Python-side properties.
    __jit_unused_properties__ = ["num_parameters", "receptive_field"]

    #: Named configuration this instance was built from (set by ``springstudy.models.build``).
    config_name = ""

    @property
    def num_parameters(self) -> int:
        """Number of parameters (all of them, trainable or not; buffers excluded)."""
        return sum(p.numel() for p in self.parameters())

    @property
    def receptive_field(self) -> int | float:
        """True receptive field in samples; ``math.inf`` for recurrent models."""
        raise NotImplementedError


INFINITE_RECEPTIVE_FIELD = math.inf
