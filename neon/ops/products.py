"""Products of two computed tensors: gates (squeeze-and-excitation, GLU-style, LSTM gates)
and the bilinear products of attention (query × key, attention weights × values).

:class:`Product` is the category of ops that are bilinear in their inputs (a product of two
values that both depend on the input, unlike a scale by a constant, which is affine). Its
rules (:mod:`lrp.rules.products`) decide how relevance is shared between the factors; every
product exposes :meth:`Product.transposes`, the two vector-Jacobian products (the transposed
maps of each factor with the other held fixed), which is all those rules need.
"""

from __future__ import annotations

import torch

from .base import Op

__all__ = ["Product", "Mul", "MatMul", "Einsum"]


def _check_gate(gate):
    if gate not in (None, 0, 1):
        raise ValueError(f"gate must be 0, 1 or None, got {gate!r}")
    return gate


def _sum_to(t: torch.Tensor, shape) -> torch.Tensor:
    """``t`` summed over the axes it was broadcast along to reach its shape from ``shape``."""
    return t if t.shape == shape else t.sum_to_size(shape)


class Product(Op):
    """Category: ops bilinear in their inputs, y = a ∘ b.

    Attributes
    ----------
    gate : {0, 1} or None
        Which factor is the gate (the factor that modulates the other, the signal): a sigmoid
        gate, a squeeze-and-excitation scale, or the attention weights of an attention-weights
        × values product. The importer sets it where it can tell; ``None`` when neither is.
    """

    kind = "product"
    arity = 2
    elementwise = False

    def __init__(self, gate: int | None = None):
        super().__init__()
        self.gate = _check_gate(gate)

    def transposes(self, a, b, grad_out) -> tuple[torch.Tensor, torch.Tensor]:
        """(Jₐᵀ g, J_bᵀ g): the gradients of ⟨g, a ∘ b⟩ with respect to a and to b."""
        raise NotImplementedError

    def extra_repr(self):
        return f"gate={self.gate}"


class Mul(Product):
    """y = a ⊙ b, elementwise with torch broadcasting (the output has a sample's full shape)."""

    kind = "mul"
    elementwise = True

    def forward(self, a, b):
        return a * b

    def transposes(self, a, b, grad_out):
        return _sum_to(grad_out * b, a.shape), _sum_to(grad_out * a, b.shape)


class MatMul(Product):
    """y = a @ b (``torch.matmul``: a matrix product over the last two axes, batched and
    broadcast over the leading ones), e.g. the attention scores q kᵀ and the context A v.

    Jₐᵀ g = g bᵀ and J_bᵀ g = aᵀ g, each summed back over the axes it was broadcast along.
    """

    kind = "matmul"

    def forward(self, a, b):
        return torch.matmul(a, b)

    def transposes(self, a, b, grad_out):
        return (_sum_to(grad_out @ b.transpose(-2, -1), a.shape),
                _sum_to(a.transpose(-2, -1) @ grad_out, b.shape))


def _parse(equation: str) -> tuple[str, str, str]:
    equation = equation.replace(" ", "")
    if "..." in equation:
        raise ValueError(f"einsum equation {equation!r}: ellipses are not supported; name "
                         "every axis")
    lhs, arrow, out = equation.partition("->")
    terms = lhs.split(",")
    if not arrow or len(terms) != 2:
        raise ValueError(f"einsum equation {equation!r}: give two operands and the output "
                         "explicitly ('ij,jk->ik')")
    return terms[0], terms[1], out


class Einsum(Product):
    """y = einsum(equation, a, b) for an equation of two operands with an explicit output
    (MaxViT's ``"BGHID,BGHJD->BGHIJ"``); spaces are ignored, ellipses refused.

    The transposed maps are einsums too: Jₐᵀ g = einsum("out,b->a", g, b) where every axis of
    a appears in the output or in b (else one autograd product).
    """

    kind = "einsum"

    def __init__(self, equation: str, gate: int | None = None):
        super().__init__(gate)
        self.a, self.b, self.out = _parse(equation)
        self.equation = f"{self.a},{self.b}->{self.out}"

    def forward(self, a, b):
        return torch.einsum(self.equation, a, b)

    def _transpose(self, wanted, other_subs, grad_out, other, like):
        if set(wanted) <= set(self.out) | set(other_subs):
            return torch.einsum(f"{self.out},{other_subs}->{wanted}", grad_out, other)
        with torch.enable_grad():
            x = like.detach().requires_grad_(True)
            y = torch.einsum(self.equation, *((x, other) if wanted == self.a else (other, x)))
            return torch.autograd.grad(y, x, grad_out)[0]

    def transposes(self, a, b, grad_out):
        return (self._transpose(self.a, self.b, grad_out, b, a),
                self._transpose(self.b, self.a, grad_out, a, b))

    def extra_repr(self):
        return f"{self.equation!r}, gate={self.gate}"
