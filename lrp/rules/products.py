"""Rules for products of two computed tensors (:mod:`neon.ops.products`): gates and the
bilinear products of attention.

A product y = a ∘ b is not a sum of contributions of one input, so the ε rule of an affine
layer does not apply as it is: how its relevance is shared between the two factors is a
choice. :class:`SignalTakeAll` (the default) treats the gate as a constant that only
modulates the signal — Arras et al.'s rule for LSTM gates and, on the attention-weights ×
values product, CP-LRP's rule for attention heads; :class:`UniformSplit` gives each factor
half — AttnLRP's uniform rule for bilinear products.

For an elementwise product (:class:`~neon.ops.Mul`) both rules are exact without a
denominator. For a contraction (:class:`~neon.ops.MatMul`, :class:`~neon.ops.Einsum`),
y_k = Σ_i a_i b_i runs over many products, and each product a_i b_i gets its share
a_i b_i / y_k of R_k (ε-stabilized), which the op's transposed maps compute in two products.
"""

from __future__ import annotations

import torch

from neon.ops import Product

from .base import EpsilonRule, RuleError, divide, register_default

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


def _halves(op, inputs, output, relevance, epsilon):
    if op.elementwise:
        half = relevance / 2
        return [_sum_back(half, a) for a in inputs]
    a, b = inputs
    s = divide(relevance, output, epsilon).mul_(0.5)
    ga, gb = op.transposes(a, b, s)
    return [ga.mul_(a), gb.mul_(b)]


class _ProductRule(EpsilonRule):
    ops = (Product,)


class SignalTakeAll(_ProductRule):
    """Signal-take-all for a gated product y = g ∘ x: the gate g is a constant of the
    forward pass, so y is a linear map of the signal x, whose LRP-ε share is all of R:

        R_x = x ⊙ J_xᵀ (R / (y + ε·sign(y))),   R_g = 0.

    For an elementwise gate (:class:`~neon.ops.Mul`) this is R_x = R exactly (summed over
    the copies of x if the gate broadcast it). For the attention-weights × values product
    A v (:class:`~neon.ops.MatMul` with ``gate`` the softmax's output) it is
    R_v = v ⊙ Aᵀ (R / stab(A v)): the values get everything, the attention weights — and
    through them the queries and keys — nothing. Which factor is the gate is ``op.gate``;
    **a product with no identified gate** (``op.gate is None``, such as q kᵀ) is split as
    :class:`UniformSplit` does.

    Parameters
    ----------
    epsilon : float
        Stabilizer ε ≥ 0 of the contraction's denominator (unused by elementwise products).

    Notes
    -----
    A gate (a sigmoid of a squeeze-and-excitation branch, an LSTM gate, a row of attention
    weights) decides how much of the signal passes, not what it says. Treating it as a
    detached constant is what makes CP-LRP on a transformer equal gradient × input of the
    model with its attention weights detached (with ε = 0 and the other conventions of
    :class:`lrp.CPLRP`).

    References
    ----------
    Arras et al., "Explaining recurrent neural network predictions in sentiment analysis",
    WASSA 2017 (gates). Ali et al., "XAI for transformers: better explanations through
    conservative propagation", ICML 2022 (the AH-rule for attention heads).
    """

    def __call__(self, op, inputs, output, relevance):
        gate = getattr(op, "gate", None)
        if gate is None:
            return _halves(op, inputs, output, relevance, self.epsilon)
        out = [None, None]
        out[gate] = torch.zeros_like(inputs[gate])
        if op.elementwise:
            out[1 - gate] = _sum_back(relevance, inputs[1 - gate])
            return out
        s = divide(relevance, output, self.epsilon)
        signal = op.transposes(*inputs, s)[1 - gate]
        out[1 - gate] = signal.mul_(inputs[1 - gate])
        return out


class UniformSplit(_ProductRule):
    """Uniform split of a product: each factor gets half of every elementary product's
    relevance,

        R_a = a ⊙ Jₐᵀ (R / stab(y)) / 2,   R_b = b ⊙ J_bᵀ (R / stab(y)) / 2,

    which for an elementwise product is R_a = R_b = R / 2 exactly (summed back over
    broadcast copies), and for a contraction y_k = Σ_i a_i b_i gives a_i and b_i each
    a_i b_i / (2 stab(y_k)) of R_k.

    Parameters
    ----------
    epsilon : float
        Stabilizer ε ≥ 0 of the contraction's denominator (unused by elementwise products).

    Notes
    -----
    For a bilinear product the factors' gradient × input shares are equal,
    a·∂(ab)/∂a = b·∂(ab)/∂b = ab, so splitting R in proportion to them gives each half;
    this conserves relevance (exactly for elementwise products, up to ε for contractions).

    References
    ----------
    Achtibat et al., "AttnLRP: attention-aware layer-wise relevance propagation for
    transformers", ICML 2024 (the uniform rule for bilinear products and matrix products).
    """

    def __call__(self, op, inputs, output, relevance):
        return _halves(op, inputs, output, relevance, self.epsilon)


register_default(Product, SignalTakeAll)
