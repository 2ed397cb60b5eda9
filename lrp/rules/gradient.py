"""Gradient-family rules: backward walks that are the gradient, or the gradient with the
ReLU's or the affine layers' backward pass changed.

Gradient methods (gradient, gradient × input, integrated gradients, SmoothGrad) are the same
reverse walk as LRP with :class:`Gradient` started at the target mask (``lrp.gradient`` runs
it through torch autograd, which gives the same numbers faster). Guided backpropagation and
DeconvNet change the ReLU's backward pass, excitation backprop the affine layers'; being
rules, each composes with LRP rules in one :class:`lrp.Composite`.
"""

from __future__ import annotations

import torch

from neon.ops import Affine, Concat, Constant, Flatten, ReLU, Reshape

from .base import Rule, check_flag, divide, vjp
from .structural import Route

__all__ = ["Gradient", "GuidedBackprop", "DeconvNet", "ExcitationBackprop"]


class Gradient(Rule):
    """The plain vector-Jacobian product of any op: R_in = (∂op/∂x)ᵀ R_out."""

    def __call__(self, op, inputs, output, relevance):
        if isinstance(op, Affine):
            return [op.transpose(relevance, inputs[0].shape)]
        if isinstance(op, ReLU):
            return [torch.where(inputs[0] > 0, relevance, torch.zeros_like(relevance))]
        if isinstance(op, (Reshape, Flatten, Concat, Constant)):
            return Route()(op, inputs, output, relevance)
        return vjp(op, inputs, relevance)


class GuidedBackprop(Gradient):
    """Guided backpropagation: the gradient, except that a ReLU passes back only positive
    signal arriving at positive inputs, R_in = max(R_out, 0) · 1[x > 0].

    Every other op gets its gradient. Reference: Springenberg et al., "Striving for
    simplicity: the all convolutional net", ICLR workshop 2015.
    """

    def __call__(self, op, inputs, output, relevance):
        if isinstance(op, ReLU):
            return [torch.where(inputs[0] > 0, relevance.clamp(min=0),
                                torch.zeros_like(relevance))]
        return super().__call__(op, inputs, output, relevance)


class DeconvNet(Gradient):
    """DeconvNet: a ReLU passes back the rectified signal, R_in = max(R_out, 0), whatever its
    input was (the forward pass's switch is ignored); every other op gets its gradient
    (max pooling keeps its switches).

    Reference: Zeiler & Fergus, "Visualizing and understanding convolutional networks",
    ECCV 2014.
    """

    def __call__(self, op, inputs, output, relevance):
        if isinstance(op, ReLU):
            return [relevance.clamp(min=0)]
        return super().__call__(op, inputs, output, relevance)


class ExcitationBackprop(Rule):
    """Excitation backprop's marginal winning probability through an affine layer:

        P_j = a⁺_j Σ_k w⁺_jk P_k / Σ_j' a⁺_j' w⁺_j'k,

    biases ignored. Only excitatory connections (w > 0) carry probability, so a unit's
    probability is split among its inputs in proportion to a⁺_j w⁺_jk; the signal a⁺ equals
    the activation after a ReLU, and at the input negative values count as no excitation.
    A unit whose inputs excite it not at all (Σ a⁺ w⁺ = 0) passes nothing on. With
    ``dual=True`` the weights are negated first ((−w)⁺): the dual unit of contrastive
    excitation backprop, used on the top layer only. Structural ops keep their LRP defaults
    (ReLU passes, sums and average pooling split proportionally, max pooling goes to the
    winner), which are excitation backprop's rules for them.

    Reference: Zhang et al., "Top-down neural attention by excitation backprop", ECCV 2016.
    """

    ops = (Affine,)

    def __init__(self, dual: bool = False):
        self.dual = check_flag(dual, "dual")

    def __call__(self, op, inputs, output, relevance):
        (a,) = inputs
        positive = a.clamp(min=0)
        w = (-op.weight if self.dual else op.weight).clamp(min=0)
        z = op.forward_with(positive, w, None)
        return [positive * op.transpose(divide(relevance, z, 0.0), a.shape, w)]
