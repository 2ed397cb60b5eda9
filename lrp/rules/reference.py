"""Rules relative to a reference input: DeepLIFT's Rescale and RevealCancel on dense layers
that know their reference (:class:`neon.ops.ReferencedLinear`).

DeepLIFT (Shrikumar et al., "Learning important features through propagating activation
differences", ICML 2017) explains the difference f(x) − f(x̄) from a reference input x̄ (for
scikit-learn models: the training mean). Each dense unit k with activation g compares
z = a·w_k + b and y = g(z) with their values z̄, ȳ at the reference; the input j contributes
c_jk = w_kj (a_j − ā_j) to Δz_k = z_k − z̄_k, and relevance (a share of Δy_k) flows back in
proportion to the contributions, weighted by a multiplier m = Δy/Δz:

* Rescale: one multiplier per unit, m_k = Δy_k / Δz_k;
* RevealCancel: the positive and the negative contributions Δz⁺_k = Σ_j max(c_jk, 0) and
  Δz⁻_k = Σ_j min(c_jk, 0) get their own multipliers m± = Δy± / Δz± with
  Δy⁺ = ½[g(z̄ + Δz⁺) − g(z̄)] + ½[g(z̄ + Δz⁻ + Δz⁺) − g(z̄ + Δz⁻)] (and Δy⁻ symmetrically),
  so contributions that cancel each other before a ReLU are not both dropped.

Both conserve: Σ_j R_j = Σ_k R_k (Δy⁺ + Δy⁻ = Δy). At the layer that computes the explained
output (``op.top``), relevance arrives as the value f(x); its share f(x̄)/f(x) is the
reference's, absorbed like a bias, so the input relevance sums to f(x) − f(x̄) exactly.
"""

from __future__ import annotations

from neon.ops import ReferencedLinear

from .base import Rule, check_number, divide, register_default

__all__ = ["Rescale", "RevealCancel"]


def _signed_sums(op, da):
    """(Δz⁺, Δz⁻): the sums of the positive and of the negative contributions w_kj Δa_j."""
    w_pos, w_neg = op.weight.clamp(min=0), op.weight.clamp(max=0)
    da_pos, da_neg = da.clamp(min=0), da.clamp(max=0)
    return da_pos @ w_pos.T + da_neg @ w_neg.T, da_pos @ w_neg.T + da_neg @ w_pos.T


class _DeepLift(Rule):
    ops = (ReferencedLinear,)

    def __init__(self, stabilizer: float = 1e-12):
        self.stabilizer = check_number(stabilizer, "stabilizer")

    def _start(self, op, inputs, output, relevance):
        """(Δa, z̄, s): the input's difference from the reference, the reference
        pre-activation, and s = R / Δy (R / y at the top layer, the reference's share
        absorbed)."""
        (a,) = inputs
        z_ref = op.forward_with(op.reference[None])
        y = op.activate(output)
        dy = y - op.activate(z_ref)
        # hidden: R is a share of Δy; top: R is a share of the value y, and R·Δy/y of Δy
        s = divide(relevance, y if op.top else dy, self.stabilizer)
        return a - op.reference, z_ref, s


class Rescale(_DeepLift):
    """DeepLIFT's Rescale rule on a dense layer with a reference:

        R_j = Σ_k w_kj (a_j − ā_j) · m_k · R_k / Δy_k,   m_k = Δy_k / Δz_k,

    i.e. R_j = Σ_k w_kj Δa_j R_k / Δz_k (the ε-free z-rule on differences). ``stabilizer``: ε
    of the divisions (units with Δ = 0 exactly pass nothing). Reference: Shrikumar et al.,
    ICML 2017.
    """

    def __call__(self, op, inputs, output, relevance):
        da, z_ref, s = self._start(op, inputs, output, relevance)
        dz = output - z_ref
        dy = op.activate(output) - op.activate(z_ref)
        t = s * divide(dy, dz, self.stabilizer)       # m_k R_k / Δy_k
        return [da * (t @ op.weight)]


class RevealCancel(_DeepLift):
    """DeepLIFT's RevealCancel rule on a dense layer with a reference:

        R_j = Σ_k (c⁺_jk m⁺_k + c⁻_jk m⁻_k) R_k / Δy_k,   c_jk = w_kj (a_j − ā_j),

    with c± the positive and negative parts of the contributions and m± = Δy± / Δz± as in the
    module notes. For the identity activation m⁺ = m⁻ = 1 and it equals Rescale. Conserves:
    Σ_j R_j = Σ_k R_k. Reference: Shrikumar et al., ICML 2017, section 3.5.3.
    """

    def __call__(self, op, inputs, output, relevance):
        da, z_ref, s = self._start(op, inputs, output, relevance)
        g = op.activate
        pos, neg = _signed_sums(op, da)
        y_ref = g(z_ref)
        dy_pos = 0.5 * ((g(z_ref + pos) - y_ref) + (g(z_ref + neg + pos) - g(z_ref + neg)))
        dy_neg = 0.5 * ((g(z_ref + neg) - y_ref) + (g(z_ref + pos + neg) - g(z_ref + pos)))
        t_pos = s * divide(dy_pos, pos, self.stabilizer)   # m⁺ R / Δy
        t_neg = s * divide(dy_neg, neg, self.stabilizer)
        w_pos, w_neg = op.weight.clamp(min=0), op.weight.clamp(max=0)
        da_pos, da_neg = da.clamp(min=0), da.clamp(max=0)
        return [da_pos * (t_pos @ w_pos + t_neg @ w_neg)
                + da_neg * (t_pos @ w_neg + t_neg @ w_pos)]


register_default(ReferencedLinear, RevealCancel)
