"""Rules for products of two computed tensors (:mod:`neon.ops.products`): gates and
bilinear products.

A product y = a ⊙ b is not a sum of contributions, so the ε rule does not apply: how its
relevance is shared between the two factors is a choice. :class:`SignalTakeAll` (the default)
treats a gate as a constant that only modulates the signal; :class:`UniformSplit` splits the
relevance in half, the factors' equal shares of gradient × input.
"""

from __future__ import annotations

import torch

from neon.ops import Product

from .base import Rule, RuleError, register_default

__all__ = ["SignalTakeAll", "UniformSplit"]


def _sum_back(relevance: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """The relevance of every copy of a broadcast factor summed back onto it."""
    if relevance.shape == factor.shape:
        return relevance
    try:
        fits = torch.broadcast_shapes(relevance.shape, factor.shape) == relevance.shape
    except RuntimeError:
        fits = False
    if not fits:
        raise RuleError(f"a product's factor of shape {tuple(factor.shape)} does not broadcast "
                        f"to its output of shape {tuple(relevance.shape)}: the product rules "
                        "handle elementwise products with broadcasting only")
    return relevance.sum_to_size(factor.shape)


def _halves(inputs, relevance):
    half = relevance / 2
    return [_sum_back(half, a) for a in inputs]


class SignalTakeAll(Rule):
    """Signal-take-all for a gated product y = g ⊙ x: the signal x gets all the relevance,
    the gate g none.

        R_x = R (summed over the copies of x, if the gate broadcast it),   R_g = 0.

    Which factor is the gate is ``op.gate`` (:class:`neon.ops.Mul`). **A product with no
    identified gate** (``op.gate is None``) is split uniformly, as :class:`UniformSplit`
    does: each factor gets R/2. Relevance is conserved exactly in both cases.

    Notes
    -----
    A gate (a sigmoid of a squeeze-and-excitation branch, an LSTM gate)
    decides how much of the signal passes, not what it says; treating it as a constant of
    the forward pass makes the product a linear map of the signal, whose LRP-0 share is all
    of R. The gate's own input then gets no relevance through this path.

    References
    ----------
    Arras et al., "Explaining recurrent neural network predictions in sentiment analysis",
    WASSA 2017.
    """

    ops = (Product,)

    def _params(self):
        return {}

    def __call__(self, op, inputs, output, relevance):
        gate = getattr(op, "gate", None)
        if gate is None:
            return _halves(inputs, relevance)
        out = [None, None]
        out[gate] = torch.zeros_like(inputs[gate])
        out[1 - gate] = _sum_back(relevance, inputs[1 - gate])
        return out


class UniformSplit(Rule):
    """Uniform split of a product y = a ⊙ b: each factor gets half of the relevance,

        R_a = R / 2,   R_b = R / 2   (each summed back over its broadcast copies).

    Notes
    -----
    For a bilinear product the factors' gradient × input shares are equal,
    a·∂(ab)/∂a = b·∂(ab)/∂b = ab, so splitting R in proportion to them gives each half; this
    conserves relevance exactly and needs no denominator (no ε, no 0/0 where y = 0).

    References
    ----------
    Achtibat et al., "AttnLRP: attention-aware layer-wise relevance propagation for
    transformers", ICML 2024 (the uniform rule for multiplicative gates).
    """

    ops = (Product,)

    def _params(self):
        return {}

    def __call__(self, op, inputs, output, relevance):
        return _halves(inputs, relevance)


register_default(Product, SignalTakeAll)
