"""DeepLIFT's rules, Rescale and RevealCancel, for networks that know their reference input
(:class:`neon.ops.ReferencedMLP`).

DeepLIFT (Shrikumar et al., "Learning important features through propagating activation
differences", ICML 2017) explains the difference f(x) − f(x̄) from a reference input x̄ (for
scikit-learn models: the training mean). Every unit k with activation g compares
z = a·w_k + b and y = g(z) with their values z̄, ȳ at the reference. Changes are carried
forward as a positive and a negative part, Δa = Δa⁺ + Δa⁻ (at the input, the parts of
x − x̄; after a unit, its Δy⁺ and Δy⁻), and a dense layer adds them up by sign,

    Δz⁺ = W⁺Δa⁺ + W⁻Δa⁻,   Δz⁻ = W⁻Δa⁺ + W⁺Δa⁻.

A unit turns them into Δy± with multipliers m± = Δy±/Δz±:

* Rescale: one multiplier, m⁺ = m⁻ = Δy/Δz;
* RevealCancel: Δy⁺ = ½[g(z̄+Δz⁺) − g(z̄)] + ½[g(z̄+Δz⁻+Δz⁺) − g(z̄+Δz⁻)] and Δy⁻
  symmetrically, so positive and negative changes that cancel before a ReLU are not both
  dropped.

The multipliers M± of the parts then flow back, M±_in = (M⁺m⁺)W± + (M⁻m⁻)W∓, and the input's
relevance is M⁺Δx⁺ + M⁻Δx⁻. Relevance arrives at the output as a share of the value f(x)
(M = R/f at the top), so the input relevance sums to (R/f)(f(x) − f(x̄)) exactly: for the
explained output, f(x) − f(x̄); the share f(x̄) is the reference's, absorbed like a bias.
"""

from __future__ import annotations

from neon.ops import ReferencedMLP

from .base import Rule, check_number, divide, register_default

__all__ = ["Rescale", "RevealCancel"]


def _split(w):
    return w.clamp(min=0), w.clamp(max=0)


class _DeepLift(Rule):
    ops = (ReferencedMLP,)

    def __init__(self, stabilizer: float = 1e-12):
        self.stabilizer = check_number(stabilizer, "stabilizer")

    def multipliers(self, g, z_ref, dz_pos, dz_neg):
        """(m⁺, m⁻, Δy⁺, Δy⁻) of a unit y = g(z) given its reference pre-activation and the
        positive and negative parts of its change."""
        raise NotImplementedError

    def _chain(self, op, x, relevance, output):
        """The whole network of a :class:`~neon.ops.ReferencedMLP`: every unit's change from
        the reference is carried forward as a positive and a negative part (Δa⁺ ≥ 0,
        Δa⁻ ≤ 0, the parts of the layer below's Δy), then the multipliers M± of those
        parts flow back, M±_in = (M⁺m⁺)W± + (M⁻m⁻)W∓; the input's relevance is
        M⁺ Δx⁺ + M⁻ Δx⁻. At the output R is a share of the value f(x): M = R / f."""
        d = x - op.reference
        x_pos, x_neg = d.clamp(min=0), d.clamp(max=0)
        d_pos, d_neg = x_pos, x_neg
        a_ref = op.reference[None]
        saved = []
        for w, b, g in op.layers():
            w_pos, w_neg = _split(w)
            z_ref = a_ref @ w.T + b
            dz_pos = d_pos @ w_pos.T + d_neg @ w_neg.T
            dz_neg = d_pos @ w_neg.T + d_neg @ w_pos.T
            m_pos, m_neg, d_pos, d_neg = self.multipliers(g, z_ref, dz_pos, dz_neg)
            saved.append((w_pos, w_neg, m_pos, m_neg))
            a_ref = g(z_ref)
        big_pos = big_neg = divide(relevance, output, self.stabilizer)
        for w_pos, w_neg, m_pos, m_neg in reversed(saved):
            u_pos, u_neg = big_pos * m_pos, big_neg * m_neg
            big_pos, big_neg = u_pos @ w_pos + u_neg @ w_neg, u_pos @ w_neg + u_neg @ w_pos
        return [big_pos * x_pos + big_neg * x_neg]

    def __call__(self, op, inputs, output, relevance):
        return self._chain(op, inputs[0], relevance, output)


class Rescale(_DeepLift):
    """DeepLIFT's Rescale rule: one multiplier m = Δy/Δz per unit (Shrikumar et al., ICML
    2017, section 3.5.2). For a network of one hidden layer it gives
    R_j = Σ_k w_kj (x_j − x̄_j) m_k v_k.

    Parameters
    ----------
    stabilizer : float
        ε of the divisions (units with Δ = 0 exactly pass nothing). Default 1e-12.
    """

    def multipliers(self, g, z_ref, dz_pos, dz_neg):
        dz = dz_pos + dz_neg
        dy = g(z_ref + dz) - g(z_ref)
        m = divide(dy, dz, self.stabilizer)
        return m, m, m * dz_pos, m * dz_neg


class RevealCancel(_DeepLift):
    """DeepLIFT's RevealCancel rule: the positive and negative changes of every unit get
    their own multipliers m± = Δy±/Δz± (module notes; Shrikumar et al., ICML 2017, section
    3.5.3). For the identity activation m⁺ = m⁻ = 1, as Rescale. The default of
    :class:`~neon.ops.ReferencedMLP`.

    Parameters
    ----------
    stabilizer : float
        ε of the divisions (units with Δ = 0 exactly pass nothing). Default 1e-12.
    """

    def multipliers(self, g, z_ref, dz_pos, dz_neg):
        y_ref = g(z_ref)
        dy_pos = 0.5 * ((g(z_ref + dz_pos) - y_ref) + (g(z_ref + dz_neg + dz_pos)
                                                       - g(z_ref + dz_neg)))
        dy_neg = 0.5 * ((g(z_ref + dz_neg) - y_ref) + (g(z_ref + dz_pos + dz_neg)
                                                       - g(z_ref + dz_pos)))
        return (divide(dy_pos, dz_pos, self.stabilizer), divide(dy_neg, dz_neg, self.stabilizer),
                dy_pos, dy_neg)


register_default(ReferencedMLP, RevealCancel)
