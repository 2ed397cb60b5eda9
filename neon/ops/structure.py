"""Structure ops: sums of branches, concatenation, reshapes and indexing.

``Add`` is a :class:`~neon.ops.Summation`; the others are :class:`~neon.ops.Routing` ops that
move values without arithmetic.
"""

from __future__ import annotations

import torch

from .base import Routing, Summation

__all__ = ["Add", "Concat", "Reshape", "Flatten", "Select"]


class Add(Summation):
    """y = Σ_i x_i (residual connections); inputs broadcast as torch does."""

    kind = "add"
    arity = None

    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Concat(Routing):
    """y = concatenation of the inputs along ``dim`` (never the batch axis)."""

    kind = "concat"
    arity = None

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, *xs):
        return torch.cat(xs, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Reshape(Routing):
    """y = x reshaped to (batch, *shape); the batch axis stays symbolic."""

    kind = "reshape"

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x):
        return x.reshape((x.shape[0],) + self.shape)

    def extra_repr(self):
        return f"shape=(N, {', '.join(map(str, self.shape))})"


class Flatten(Routing):
    """y = x with axes ``start_dim`` … ``end_dim`` merged (start_dim ≥ 1)."""

    kind = "flatten"

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x):
        return torch.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Select(Routing):
    """y = x[:, index] for an index (ints, slices, tensors) that leaves the batch axis alone."""

    kind = "select"

    def __init__(self, index):
        super().__init__()
        self.index = index if isinstance(index, tuple) else (index,)

    def forward(self, x):
        return x[(slice(None),) + self.index]

    def extra_repr(self):
        return f"index={self.index}"
