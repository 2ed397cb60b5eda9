"""Rules for normalization by a sample's own statistics (:mod:`neon.ops.normalization`):
LayerNorm and GroupNorm."""

from __future__ import annotations

from neon.ops import Normalization

from .base import EpsilonRule, divide, register_default

__all__ = ["FrozenScale"]


class FrozenScale(EpsilonRule):
    """LRP-ε through a normalization y = γ ⊙ (x − μ(x)) ⊙ r(x) + β with the scale r frozen.

        R_in_j = x_j Σ_k J_kj R_k / (y_k + ε·sign(y_k)),   J = ∂y/∂x at constant r,

    i.e. per normalized group of n values J = diag(γ r)(I − 11ᵀ/n). Summed,
    Σ_j R_in_j = Σ_k R_k (y_k − β_k) / stab(y_k): the shift β absorbs its share, as a bias
    does, and with β = 0 relevance is conserved up to ε.

    Parameters
    ----------
    epsilon : float
        Stabilizer ε ≥ 0 (sign(0) = +1); with ε = 0, units with y = 0 pass nothing.

    Notes
    -----
    The inverse standard deviation r = 1/√(var(x) + eps) is what makes the
    layer non-linear; its gradient redistributes relevance among the features of a token
    and breaks conservation. Treated as a constant of the forward pass (a detach), the rest,
    x ↦ γ ⊙ (x − μ(x)) ⊙ r + β, is affine, since the mean subtraction is linear, and gets
    the ε rule of an affine layer. Jᵀ comes from the op's ``transpose_frozen`` (closed form
    r ⊙ (γg − mean(γg)) per group for LayerNorm and GroupNorm; one vector-Jacobian product
    through ``op.normalize(x, μ(x), r.detach())`` for any other
    :class:`~neon.ops.Normalization` op).

    References
    ----------
    Ali et al., "XAI for transformers: better explanations through conservative
    propagation", ICML 2022 (the LN-rule).
    """

    ops = (Normalization,)

    def __call__(self, op, inputs, output, relevance):
        (x,) = inputs
        s = divide(relevance, output, self.epsilon)
        return [op.transpose_frozen(x, s).mul_(x)]


register_default(Normalization, FrozenScale)
