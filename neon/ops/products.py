"""Products of two computed tensors: gating (squeeze-and-excitation, GLU-style gates).

:class:`Product` is the category of ops that are bilinear in their inputs (a product of two
values that both depend on the input, unlike a scale by a constant, which is affine). Its
rules (:mod:`lrp.rules.products`) decide how relevance is shared between the factors.
"""

from __future__ import annotations

from .base import Op

__all__ = ["Product", "Mul"]


class Product(Op):
    """Category: ops bilinear in their inputs, y = a ∘ b."""

    kind = "product"
    arity = 2


class Mul(Product):
    """y = a ⊙ b, elementwise with torch broadcasting (the output has a sample's full shape).

    Parameters
    ----------
    gate : {0, 1} or None
        Which input is the gate (the factor that modulates the other, the signal): the one
        produced by a sigmoid-like op or the one broadcast against the other
        (squeeze-and-excitation: a (C, 1, 1) gate times a (C, H, W) signal). The importer
        sets it where it can tell; ``None`` when neither factor is a gate.
    """

    kind = "mul"

    def __init__(self, gate: int | None = None):
        super().__init__()
        if gate not in (None, 0, 1):
            raise ValueError(f"gate must be 0, 1 or None, got {gate!r}")
        self.gate = gate

    def forward(self, a, b):
        return a * b

    def extra_repr(self):
        return f"gate={self.gate}"
