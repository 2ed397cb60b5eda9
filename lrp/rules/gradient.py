"""Gradient-family rules: the vector-Jacobian product of any op.

Gradient methods (gradient, gradient × input, integrated gradients, SmoothGrad) are the same
reverse walk as LRP with these rules; guided backpropagation and DeconvNet change the ReLU's.
"""

from __future__ import annotations

import torch

from neon.ops import Affine, Concat, Flatten, ReLU, Reshape

from .base import Rule, vjp
from .structural import Route

__all__ = ["Gradient"]


class Gradient(Rule):
    """The plain vector-Jacobian product of any op (gradient-family methods)."""

    def __call__(self, op, inputs, output, relevance):
        if isinstance(op, Affine):
            return [op.transpose(relevance, inputs[0].shape)]
        if isinstance(op, ReLU):
            return [torch.where(inputs[0] > 0, relevance, torch.zeros_like(relevance))]
        if isinstance(op, (Reshape, Flatten, Concat)):
            return Route()(op, inputs, output, relevance)
        return vjp(op, inputs, relevance)
