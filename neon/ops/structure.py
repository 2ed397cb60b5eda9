"""Structure ops: sums of branches, concatenation, reshapes, indexing, and the routing ops of
modern CNNs (permutations, broadcasts, padding, cyclic shifts).

``Add`` is a :class:`~neon.ops.Summation`; the others are :class:`~neon.ops.Routing` ops that
move values without arithmetic. Relevance is routed back by the transpose of their index map:
a copy (``Expand``, reflective ``Pad``) sums the relevance of its copies back; a padded
constant receives relevance that is dropped (absorbed, like a bias).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Routing, Summation

__all__ = ["Add", "Concat", "Constant", "Reshape", "Flatten", "Select", "Permute", "Expand",
           "Pad", "Roll"]


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


class Constant(Routing):
    """y = c broadcast to the batch: a value that does not depend on the input (ViT's class
    token expanded to the batch, then joined to the patch tokens by a :class:`Concat`).

    Its one input is read for the batch size only. Relevance that reaches it is absorbed, as
    a bias's is (the conservation table shows it), and its gradient is zero.
    """

    kind = "constant"
    value: torch.Tensor

    def __init__(self, value: torch.Tensor):
        super().__init__()
        self.register_buffer("value", value.detach().clone())

    def forward(self, x):
        return self.value.expand((x.shape[0],) + tuple(self.value.shape))

    def extra_repr(self):
        return f"shape=(N, {', '.join(map(str, self.value.shape))})"


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


class Permute(Routing):
    """y = x.permute(dims), ``dims`` a permutation of all axes that keeps the batch axis first
    (``transpose``, ``swapaxes``, channels-last blocks)."""

    kind = "permute"

    def __init__(self, dims):
        super().__init__()
        dims = tuple(int(d) for d in dims)
        if sorted(dims) != list(range(len(dims))) or dims[0] != 0:
            raise ValueError(f"dims must be a permutation of 0..{len(dims) - 1} that keeps the "
                             f"batch axis 0 first, got {dims}")
        self.dims = dims

    def forward(self, x):
        return x.permute(self.dims)

    def inverse(self) -> tuple:
        """The permutation that undoes this one."""
        return tuple(sorted(range(len(self.dims)), key=self.dims.__getitem__))

    def extra_repr(self):
        return f"dims={self.dims}"


class Expand(Routing):
    """y = x broadcast to (batch, *shape) (``expand``, ``expand_as``): every copy is x."""

    kind = "expand"

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x):
        return x.expand((x.shape[0],) + self.shape)

    def extra_repr(self):
        return f"shape=(N, {', '.join(map(str, self.shape))})"


class Pad(Routing):
    """y = F.pad(x, pad, mode, value) over the trailing axes (never the batch axis).

    ``pad`` lists (before, after) amounts from the last axis backwards, as torch; negative
    amounts crop. ``mode`` is ``"constant"`` (with ``value``), ``"reflect"``,
    ``"replicate"`` or ``"circular"``.
    """

    kind = "pad"

    def __init__(self, pad, mode: str = "constant", value: float = 0.0):
        super().__init__()
        self.pad = tuple(int(p) for p in pad)
        if mode not in ("constant", "reflect", "replicate", "circular"):
            raise ValueError(f"pad mode must be 'constant', 'reflect', 'replicate' or "
                             f"'circular', got {mode!r}")
        self.mode = mode
        self.value = float(value or 0.0)

    def forward(self, x):
        if self.mode == "constant":
            return F.pad(x, self.pad, "constant", self.value)
        return F.pad(x, self.pad, self.mode)

    def extra_repr(self):
        return f"pad={self.pad}, mode={self.mode!r}" + (
            f", value={self.value}" if self.mode == "constant" and self.value else "")


class Roll(Routing):
    """y = torch.roll(x, shifts, dims): a cyclic shift along sample axes (Swin's windows)."""

    kind = "roll"

    def __init__(self, shifts, dims):
        super().__init__()
        self.shifts = tuple(int(s) for s in shifts)
        self.dims = tuple(int(d) for d in dims)
        if len(self.shifts) != len(self.dims) or 0 in self.dims:
            raise ValueError(f"roll needs one shift per axis and never the batch axis 0; got "
                             f"shifts={self.shifts}, dims={self.dims}")

    def forward(self, x):
        return torch.roll(x, self.shifts, self.dims)

    def extra_repr(self):
        return f"shifts={self.shifts}, dims={self.dims}"
