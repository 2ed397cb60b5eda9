"""NEON rules: relevance for neuralized distance models (k-means, one-class SVM, KDE, GMM).

Deep-Taylor rules for the ops of :mod:`neon.ops_neon` (Kauffmann et al., "From clustering
to cluster explanations via neural networks", IEEE TNNLS 2022; Kauffmann et al., "Towards
explaining anomalies: a deep Taylor decomposition of one-class models", Pattern Recognition
2020):

* :class:`SoftMinRedistribution` — min/max pools: R_k = softmin_β(a)_k · R_out (soft-max
  weights for max pools); β = ∞ gives all relevance to the minimum (ties split evenly);
* :class:`Midpoint` — the fused k-means competition f_c = min_{k≠c}(d_k − d_c): soft-min
  over the competitors, then the midpoint rule on h_k = d_k − d_c, sent to the distance units
  as R(d_k) = s_k d_k, R(d_c) = −Σ_k s_k d_c with s_k = R_k / h_k;
* :class:`DistanceSplit` — a distance unit's relevance split over features by its
  per-feature terms, R_i = Σ_k c_ki / d_k · R(d_k) (c_ki = a_ki² (x_i − v_ki)², or the Euler
  split of a quadratic form).

Chained, Midpoint and DistanceSplit give the closed form of the midpoint rule,
R_i = Σ_k s_k [(x_i − μ_ki)² − (x_i − μ_ci)²] (weighted when a scaler was folded), with
two GEMMs and no per-sample weights. Units whose relevance cannot be split (a distance of
exactly 0 at a support vector or training point; a k-means tie h_k = 0) pass nothing: the
share is absorbed, shows in ``lrp.explain(..., return_all=True).table``, and is never NaN.
"""

from __future__ import annotations

import math

import torch

from .rules import Rule, register_default

__all__ = ["SoftMinRedistribution", "Midpoint", "DistanceSplit", "pool_weights",
           "absorbed_share"]


def pool_weights(a: torch.Tensor, beta: float, sign: float = -1.0,
                 offset: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(sign · β · (a + b)) over the last axis; β = ∞: uniform over the extremal units.

    ``sign = −1`` gives the soft-min weights softmin_β(a)_k = exp(−β a_k) / Σ exp(−β a_k').
    Units at +∞ (min) or −∞ (max) get weight 0. ``offset`` b is added first (per unit).
    """
    if math.isinf(beta):
        a = a if offset is None else a + offset
        best = a.amin(-1, keepdim=True) if sign < 0 else a.amax(-1, keepdim=True)
        hit = (a == best).to(a.dtype)
        return hit / hit.sum(-1, keepdim=True)
    # one buffer, by hand: torch.softmax is slow over a short last axis
    z = a * (sign * beta) if offset is None else torch.add(a, offset).mul_(sign * beta)
    z.sub_(z.amax(-1, keepdim=True)).exp_()
    return z.div_(z.sum(-1, keepdim=True))


def _safe_ratio(num, den):
    """num / den, 0 where den is 0 (a share given to nobody) or infinite (no share).

    Inputs are finite (checked at the graph input), so a non-finite quotient comes only from
    den = 0 (or ±∞), and is set to 0 in place.
    """
    return (num / den).nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)


class SoftMinRedistribution(Rule):
    """Soft-min (soft-max) redistribution through a pool: R_k = softmax(∓β a)_k · R_out.

    Conserves Σ_k R_k = R_out for every β (Kauffmann et al. 2020, 2022). ``beta=None``
    uses the op's own β (the forward's for log-sum-exp pools, the stored stiffness for hard
    pools); ``beta=math.inf`` is the hard-min (winner-take-all) variant.
    """

    kinds = ("softmin_pool", "softmax_pool", "hardmin_pool", "hardmax_pool")

    def __init__(self, beta: float | None = None):
        self.beta = beta

    def __call__(self, op, inputs, output, relevance):
        beta = op.beta if self.beta is None else float(self.beta)
        if op.kind in ("softmin_pool", "softmax_pool") and beta == op.beta:
            # the forward's log-sum-exp is the softmax's normalizer: one fused pass,
            # softmin_β(a)_k = exp(−β (a_k + b_k − smin_β(a + b)))
            z = inputs[0] - output if op.offset is None else \
                torch.add(inputs[0], op.offset).sub_(output)
            return [z.mul_(op.sign * beta).exp_().mul_(relevance)]
        return [pool_weights(inputs[0], beta, op.sign, op.offset).mul_(relevance)]


def competition_relevance(d, c, r, beta):
    """Relevance per unit distance t (N, K) for explaining cluster c (N,) with relevance r (N, 1).

    h_k = d_k − d_c (k ≠ c), R_k = softmin_β(h)_k r, s_k = R_k / h_k (0 at a tie h_k = 0),
    t_k = s_k for k ≠ c and t_c = −Σ_k s_k, so that Σ_k t_k d_k = Σ_k R_k (ties excepted).
    """
    c = c.unsqueeze(1)
    h = d - d.gather(1, c)
    h.scatter_(1, c, math.inf)
    s = pool_weights(h, beta).mul_(r).div_(h).nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
    return s.scatter_(1, c, -s.sum(1, keepdim=True))


class Midpoint(Rule):
    """Midpoint rule of the k-means network, in closed form (Kauffmann et al. 2022).

    For the explained logit f_c = min_{k≠c} h_k, h_k = d_k − d_c = w_k·(x − m_k) with root
    m_k = (μ_c + μ_k)/2 on each unit's hyperplane: R_k = softmin_β(h)_k · R_c, then
    R_i = Σ_k w_ki (x_i − m_ki) / h_k · R_k = Σ_k s_k [(x_i − μ_ki)² − (x_i − μ_ci)²].
    This rule sends R(d_k) = s_k d_k and R(d_c) = −(Σ_k s_k) d_c to the distance units,
    whose :class:`DistanceSplit` finishes the sum exactly. ``beta=None`` uses the op's stored
    stiffness; ``beta=math.inf`` sends everything to the nearest competitor. Relevance on a
    tie h_k = 0 is absorbed.
    """

    kinds = ("competition_min",)

    def __init__(self, beta: float | None = None):
        self.beta = beta

    def __call__(self, op, inputs, output, relevance):
        (d,) = inputs
        beta = op.beta if self.beta is None else float(self.beta)
        if int(torch.count_nonzero(relevance, 1).max()) <= 1:   # one cluster per sample
            c = relevance.abs().argmax(1)
            t = competition_relevance(d, c, relevance.gather(1, c.unsqueeze(1)), beta)
        else:                                   # a general mask: one pass per cluster
            t = torch.zeros_like(d)
            for k in range(d.shape[1]):
                if bool(relevance[:, k].any()):
                    c = torch.full((d.shape[0],), k, dtype=torch.long, device=d.device)
                    t += competition_relevance(d, c, relevance[:, k:k + 1], beta)
        return [t.mul_(d)]


class DistanceSplit(Rule):
    """Distance-split rule: R_i = Σ_k c_ki(x) / d_k(x) · R(d_k) (Kauffmann et al. 2020).

    c_ki = a_ki² (x_i − v_ki)² for (weighted) Euclidean distances; for a quadratic form
    (x − v)ᵀ M (x − v) the Euler split c_ki = (x − v_k)_i [M (x − v_k)]_i. Conserves
    Σ_i R_i = Σ_k R(d_k). Computed as GEMMs (:meth:`neon.ops_neon.SquaredDistance.split`);
    pairs close enough for the closed form to lose precision are split directly; a unit at
    distance exactly 0 (x is the centre) passes nothing and its relevance is absorbed.
    """

    kinds = ("squared_distance",)

    def __call__(self, op, inputs, output, relevance):
        (x,) = inputs
        n, k = op.near_pairs(output)
        t = _safe_ratio(relevance, output)
        if n.numel():
            t[n, k] = 0
        result = op.split(x, t)
        if n.numel():
            c = op.pair_contributions(x, n, k)
            w = _safe_ratio(relevance[n, k], c.sum(1))
            result.index_add_(0, n, c * w.unsqueeze(1))
        return [result]


def absorbed_share(explanation):
    """Per sample, the share of the explained output that no input feature received.

    (f(x) − Σ_i R_i) / f(x) from an ``lrp.explain(..., return_all=True)`` result: 0 off the
    centres, positive at a support vector / training point whose own distance unit is 0
    (Kauffmann et al. 2020). Samples with f(x) = 0 give 0. Never NaN.
    """
    absorbed = sum(row["absorbed"] for row in explanation.table)
    out = explanation.output
    return _safe_ratio(absorbed, out)


for _kind in SoftMinRedistribution.kinds:
    register_default(_kind, SoftMinRedistribution)
register_default("competition_min", Midpoint)
register_default("squared_distance", DistanceSplit)
