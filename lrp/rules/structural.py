"""Rules for the structural and elementwise ops: pass-through, proportional split, max
pooling, exact routing, softmax.
"""

from __future__ import annotations

import torch

from neon.ops import (
    Add,
    AvgPool,
    Concat,
    Constant,
    Elementwise,
    Embedding,
    Expand,
    Flatten,
    LogSoftmax,
    MaxPool,
    Permute,
    Reshape,
    Roll,
    Routing,
    Select,
    Softmax,
    Summation,
)

from .base import Rule, check_number, divide, register_default, vjp

__all__ = ["Pass", "Norm", "WinnerTakeAll", "ProportionalMax", "Route", "SoftmaxRule",
           "TokenSum"]


class Pass(Rule):
    """R_in = R_out: elementwise activations (ReLU, SiLU, GELU, …), identities, and a
    scaler's per-feature affine map (an ``ElementwiseAffine``, whose relevance is relative to
    its offset). Unfolded BatchNorms and constant shifts get :class:`ElementwiseEpsilon`."""

    ops = (Elementwise, LogSoftmax)

    def __call__(self, op, inputs, output, relevance):
        return [relevance]


class Norm(Rule):
    """Proportional split for sums and averages: R_i = a_i (Jᵀ (R / stab(z)))_i.

    Add: R_a = a / (a + b + ε·sign) · R; Sum, Mean, AvgPool and adaptive average pooling:
    each input gets its share a_j / Σ a of every window it belongs to (the Norm rule of zennit).
    """

    ops = (Summation,)

    def __init__(self, stabilizer: float = 1e-6):
        self.stabilizer = check_number(stabilizer, "stabilizer")

    def __call__(self, op, inputs, output, relevance):
        s = divide(relevance, output, self.stabilizer)
        if isinstance(op, Add):
            return [_unbroadcast(a * s, a.shape) for a in inputs]
        return [g * a for g, a in zip(vjp(op, inputs, s), inputs)]


def _unbroadcast(t, shape):
    while t.dim() > len(shape):
        t = t.sum(0)
    for i, n in enumerate(shape):
        if n == 1 and t.shape[i] != 1:
            t = t.sum(i, keepdim=True)
    return t


class WinnerTakeAll(Rule):
    """Max pooling: all relevance of a window to its maximum (the gradient)."""

    ops = (MaxPool,)

    def __call__(self, op, inputs, output, relevance):
        return vjp(op, inputs, relevance)


class ProportionalMax(Rule):
    """Max pooling treated as average pooling: R_j = a_j / Σ_window a · R (Norm rule)."""

    ops = (MaxPool,)

    def __init__(self, stabilizer: float = 1e-6):
        self.stabilizer = check_number(stabilizer, "stabilizer")

    def handles(self, op) -> bool:
        """Max pooling without dilation (average pooling has no dilated windows)."""
        return super().handles(op) and all(d == 1 for d in getattr(op, "dilation", (1,)))

    def __call__(self, op, inputs, output, relevance):
        avg = AvgPool(op.dim, op.kernel_size, op.stride, op.padding, op.ceil_mode)
        (a,) = inputs
        return Norm(self.stabilizer)(avg, inputs, avg(a), relevance)


class Route(Rule):
    """Exact routing by index for the Routing ops (R_in = Jᵀ R, J a 0/1 index map).

    Concat splits R; Reshape and Flatten reshape it back; Permute permutes it by the inverse
    permutation; Roll rolls it back by the negative shifts; Expand sums the relevance of the
    copies of each value back onto it; a Constant absorbs what reaches it (its input, read
    for the batch size only, gets none); a Select by ints and slices puts R back in place.
    Every other Routing op (Select by tensors, Pad) gets the
    vector-Jacobian product: a reflected or replicated value collects the relevance of its
    copies, and relevance of a padded constant is dropped (absorbed, like a bias).
    """

    ops = (Routing,)

    def __call__(self, op, inputs, output, relevance):
        if isinstance(op, Constant):
            return [torch.zeros_like(inputs[0])]
        if isinstance(op, Concat):
            return list(torch.split(relevance, [a.shape[op.dim] for a in inputs], op.dim))
        if isinstance(op, (Reshape, Flatten)):
            return [relevance.reshape(inputs[0].shape)]
        if isinstance(op, Permute):
            return [relevance.permute(op.inverse())]
        if isinstance(op, Expand):
            return [relevance.sum_to_size(inputs[0].shape)]
        if isinstance(op, Roll):
            return [torch.roll(relevance, tuple(-s for s in op.shifts), op.dims)]
        if isinstance(op, Select) and all(isinstance(i, (int, slice)) for i in op.index):
            # basic indexing picks every value at most once: put R back where it came from
            out = relevance.new_zeros(inputs[0].shape)
            out[(slice(None),) + op.index] = relevance
            return [out]
        return vjp(op, inputs, relevance)


class SoftmaxRule(Rule):
    """Relevance through a softmax s = softmax(x): R_i = x_i (R_i − s_i Σ_k R_k).

    For attention-style use inside a network; at the output, :func:`lrp.explain` explains
    the logits before the softmax instead.
    """

    ops = (Softmax,)

    def __call__(self, op, inputs, output, relevance):
        (x,) = inputs
        total = relevance.sum(op.dim, keepdim=True)
        return [x * (relevance - output * total)]


class TokenSum(Rule):
    """The embedding lookup: a token's relevance is the sum of its vector's,
    R_t = Σ_d R_{t,d}, and a padding token gets none.

    The methods of :mod:`lrp` explain a token graph at its embedding vectors and sum there
    (:mod:`neon.tokens`); this rule gives a walk over the whole graph the same result.
    """

    ops = (Embedding,)

    def __call__(self, op, inputs, output, relevance):
        r = relevance.sum(-1)
        if op.padding_idx is not None:
            r = r.masked_fill(inputs[0] == op.padding_idx, 0)
        return [r]


register_default(Elementwise, Pass)
register_default(LogSoftmax, Pass)
register_default(Summation, Norm)
register_default(Routing, Route)
register_default(MaxPool, WinnerTakeAll)
register_default(Softmax, SoftmaxRule)
register_default(Embedding, TokenSum)
