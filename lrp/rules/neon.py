"""NEON rules: relevance for neuralized models (k-means, one-class SVM, KDE, GMM, SVC).

Deep-Taylor rules for the ops of :mod:`neon.ops.distance`, :mod:`neon.ops.pools` and
:mod:`neon.ops.kernels` (Kauffmann et al., "From clustering to cluster explanations via
neural networks", IEEE TNNLS 2022; Kauffmann et al., "Towards explaining anomalies: a deep
Taylor decomposition of one-class models", Pattern Recognition 2020; Bley, Kauffmann et al.,
"Explaining kernel SVMs with neuralization", arXiv:2508.03913, 2025):

* :class:`SoftMinRedistribution` — soft-min pools: R_k = softmin_β(a)_k · R_out;
  β = ∞ gives all relevance to the minimum (ties split evenly);
* :class:`PoolShapley` — a distance pool built with reference data (one-class SVM, KDE,
  GMM): Shapley values of the whole model against the data mean, by antithetic permutations;
* :class:`Midpoint` — the fused k-means competition f_c = min_{k≠c}(d_k − d_c): soft-min
  over the competitors, then the midpoint rule on h_k = d_k − d_c, sent to the distance units
  as R(d_k) = s_k d_k, R(d_c) = −Σ_k s_k d_c with s_k = R_k / h_k;
* :class:`DistanceSplit` — the one rule of every distance layer: a unit's relevance split over
  features by its per-feature terms, R_i = Σ_k c_ki / d_k · R(d_k);
* :class:`RivalSoftMin`, :class:`DuelTaylor` (the default), :class:`DuelMidpoint`,
  :class:`RootRule` — the SVC network's rivals, duels and linear-kernel units.

Chained, Midpoint and DistanceSplit give the closed form of the midpoint rule,
R_i = Σ_k s_k [(x_i − μ_ki)² − (x_i − μ_ci)²] (weighted when a scaler was folded), with
two GEMMs and no per-sample weights. Units whose relevance cannot be split (a distance of
exactly 0 at a support vector or training point; a k-means tie h_k = 0) pass nothing: the
share is absorbed, shows in ``lrp.explain(..., return_all=True).table``, and is never NaN.

Conservation: everything conserves exactly except the SVC midpoint rule on the pair units,
whose root (u_i + u_j)/2 lies off the unit's hyperplane when α_i ≠ α_j (the gap is reported
as ``absorbed`` on the ``duels`` row of ``conservation()``; docs/neon.md). The default SVC
duel rule, :class:`DuelTaylor`, conserves exactly.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from neon.ops import (
    MAX_PAIRS,
    CompetitionMin,
    DistancePool,
    RBFDuels,
    RivalMin,
    RootedLinear,
    SoftMin,
    SquaredDistance,
)

from .base import Rule, RuleError, check_choice, check_number, divide, register_default


def _beta(beta):
    """An optional stiffness: None (the op's own) or a number > 0, ``math.inf`` allowed."""
    return None if beta is None else check_number(beta, "beta", strict=True, allow_inf=True)

__all__ = ["SoftMinRedistribution", "Midpoint", "DistanceSplit", "RivalSoftMin",
           "DuelTaylor", "DuelMidpoint", "RootRule", "PoolShapley", "pool_weights",
           "absorbed_share", "root_split"]


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
    """Soft-min redistribution through a soft-min pool: R_k = softmin_β(a + b)_k · R_out.

    Conserves Σ_k R_k = R_out for every β (Kauffmann et al. 2020, 2022). ``beta=None``
    uses the op's own β (the forward's: the log-sum-exp is reused, one fused pass); another
    β recomputes the weights; ``beta=math.inf`` is the hard-min (winner-take-all) variant.
    """

    ops = (SoftMin,)

    def __init__(self, beta: float | None = None):
        self.beta = _beta(beta)

    def __call__(self, op, inputs, output, relevance):
        beta = op.beta if self.beta is None else self.beta
        if beta == op.beta:
            # the forward's log-sum-exp is the softmax's normalizer: one fused pass,
            # softmin_β(a)_k = exp(−β (a_k + b_k − smin_β(a + b)))
            z = inputs[0] - output if op.offset is None else \
                torch.add(inputs[0], op.offset).sub_(output)
            rel = z.mul_(-beta).exp_().mul_(relevance)
        else:
            rel = pool_weights(inputs[0], beta, -1.0, op.offset).mul_(relevance)
        return [rel] + [torch.zeros_like(x) for x in inputs[1:]]   # a DistancePool's x: 0


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

    ops = (CompetitionMin,)

    def __init__(self, beta: float | None = None):
        self.beta = _beta(beta)

    def __call__(self, op, inputs, output, relevance):
        (d,) = inputs
        beta = op.beta if self.beta is None else self.beta
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
    Σ_i R_i = Σ_k R(d_k). Computed as GEMMs (:meth:`neon.ops.SquaredDistance.split`);
    pairs close enough for the closed form to lose precision are split directly; a unit at
    distance exactly 0 (x is the centre) passes nothing and its relevance is absorbed.

    With a reference x̄ on the op (``op.reference``, the data mean), each unit is split
    relative to it: c_ki(x) − c_ki(x̄) + d_k(x̄)/d, feature i's change of the unit from the
    typical sample plus an equal share of what the unit measures there (still summing to
    d_k(x)). Behind the k-means competition (:class:`Midpoint`) this is exactly the "equal"
    root of each competition unit h_ck = d_k − d_c (docs/neon.md, "k-means").
    """

    ops = (SquaredDistance,)

    def __call__(self, op, inputs, output, relevance):
        (x,) = inputs
        n, k = op.near_pairs(output)
        t = _safe_ratio(relevance, output)
        if n.numel():
            t[n, k] = 0
        result = op.split(x, t)
        ref = op.reference
        if ref is not None:
            at_ref = ref.expand_as(x)
            equal_share = op(ref[None])[0] / x.shape[1]           # d_k(x̄) / d
            result = result - op.split(at_ref, t) + (t @ equal_share)[:, None]
        if n.numel():
            c = op.pair_contributions(x, n, k)
            if ref is not None:
                c = c - op.pair_contributions(at_ref, n, k) + equal_share[k][:, None]
            d = c.sum(1)
            w = _safe_ratio(relevance[n, k], d).masked_fill_(op.coincident(x, n, k, d), 0)
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


class RivalSoftMin(Rule):
    """Soft-min split of f_c = min_{j≠c} g_cj over the duels.

    R_cj = exp(−β g_cj) / Σ_{j'≠c} exp(−β g_cj') · R_c, and duel (a, b) receives R_ab + R_ba
    (explaining g_ba = −g_ab with relevance R is the same as explaining g_ab with R for the
    duel rules, which are odd in both). Σ over duels = Σ_c R_c for every β.

    Parameters
    ----------
    beta : float, optional
        Stiffness; default the op's ``beta`` (fixed when the graph was built). ``math.inf``:
        the hard-min variant (ties split equally).

    References
    ----------
    Kauffmann et al., "From clustering to cluster explanations via neural networks",
    IEEE TNNLS 2022 (soft-min redistribution); Bley, Kauffmann et al., arXiv:2508.03913.
    """

    ops = (RivalMin,)

    def __init__(self, beta: float | None = None):
        self.beta = _beta(beta)

    def weights(self, op, g):
        """softmin_β over each class's rivals, (N, K, K) (zero on the diagonal)."""
        beta = op.beta if self.beta is None else self.beta
        rival = op.rival_matrix(g)
        if math.isinf(beta):
            hit = (rival == rival.amin(2, keepdim=True)).to(g.dtype)
            return hit / hit.sum(2, keepdim=True)
        return torch.softmax(-beta * rival, dim=2)

    def __call__(self, op, inputs, output, relevance):
        (g,) = inputs
        shares = self.weights(op, g) * relevance.unsqueeze(2)
        a, b = op.pairs[:, 0], op.pairs[:, 1]
        return [shares[:, a, b] + shares[:, b, a]]


class DuelMidpoint(Rule):
    """Relevance of each duel g_ab onto the squared distances d_j, in closed form.

    With the pools' weights p_i = α_i e^{−γ d_i} / P (i ∈ S⁺) and n_j = α_j e^{−γ d_j} / N
    (j ∈ S⁻) — the soft-max pool over S⁺ and the soft-min pool over S⁻ both redistribute with
    these — the pair unit (i, j) receives R_ij = p_i n_j R. Then

    * linear pair units h_ij = z_j − z_i (both real support vectors), midpoint rule with root
      (u_i + u_j)/2: R_k += R_ij (D_jk − D_ik) / h_ij, D_jk the per-feature share of d_j. So
      the distance d_j receives ρ_j = d_j Σ_i s_ij and d_i receives −d_i Σ_j s_ij with
      s_ij = R_ij / stab(h_ij): O(N·|S⁺|·|S⁻|) scalars per duel (in chunks), never
      O(N·pairs·d);
    * pairs with the intercept's virtual unit v (distance units ±d_j + const), distance split:
      d_j receives R_vj = p_v n_j R in full (v ∈ S⁺), or d_i receives p_i n_v R (v ∈ S⁻).

    The midpoint rule is not exactly conservative here: h_ij((u_i + u_j)/2) = γ⁻¹ log(α_i/α_j).
    The missing share Σ_ij s_ij γ⁻¹ log(α_i/α_j) is reported as absorbed at this node.

    Parameters
    ----------
    stabilizer : float
        Relative stabilizer: h_ij + ε·sign(h_ij) with ε = stabilizer · γ⁻¹ (squared-distance
        units, the scale of the pair units' offsets γ⁻¹ log(α_i/α_j)). Pair units with h_ij
        near 0 but off-hyperplane midpoints otherwise blow up: with ε → 0 one wine sample got
        relevance −2041 for f = 0.18. Measured over iris, wine, breast cancer and digits
        (SVC and NuSVC): ε = 0.01/γ gives median relative gaps 0.15–0.47 and 95th
        percentiles ≤ 0.63 (ε → 0: medians 0.11–0.55, 95th percentiles up to 4.7).
    chunk : int
        At most this many pair scalars are held at once (samples are chunked).
    """

    ops = (RBFDuels,)

    def __init__(self, stabilizer: float = 0.01, chunk: int = 1 << 22):
        self.stabilizer = check_number(stabilizer, "stabilizer")
        self.chunk = check_number(chunk, "chunk", minimum=1, integer=True)

    def __call__(self, op, inputs, output, relevance):
        d = inputs[0]
        rho = torch.zeros_like(d)
        log_p, log_n = op.log_pools(d)
        for k in range(op.n_duels):
            rows = (relevance[:, k] != 0).nonzero().squeeze(1)   # samples this duel explains
            if len(rows) == 0:
                continue
            pi, _, ni, _ = op.members(k)
            to_pos, to_neg = self._duel(op, k, d[rows], relevance[rows, k], log_p[rows, k],
                                        log_n[rows, k])
            rho.index_put_((rows[:, None], pi[None, :]), to_pos, accumulate=True)
            rho.index_put_((rows[:, None], ni[None, :]), to_neg, accumulate=True)
        return [rho] + [torch.zeros_like(x) for x in inputs[1:]]   # nothing to x directly

    def _duel(self, op, k, d, r, log_p, log_n):
        """Relevance onto the distances of S⁺ and of S⁻ of duel ``k``: (N, P), (N, M)."""
        pi, pw, ni, nw = op.members(k)
        gamma = op.gamma
        dp, dn = d[:, pi], d[:, ni]
        p = torch.exp(-gamma * dp + pw - log_p[:, None])          # soft-max pool over S⁺
        n = torch.exp(-gamma * dn + nw - log_n[:, None])          # soft-min pool over S⁻
        to_pos, to_neg = torch.zeros_like(dp), torch.zeros_like(dn)
        sign, vlog = float(op.virtual_sign[k]), op.virtual_logw[k]
        if sign > 0:    # pairs (v, j): distance split onto d_j
            to_neg += (torch.exp(vlog - log_p) * r)[:, None] * n
        elif sign < 0:  # pairs (i, v): distance split onto d_i
            to_pos += (torch.exp(vlog - log_n) * r)[:, None] * p
        if len(pi) == 0 or len(ni) == 0:
            return to_pos, to_neg
        zp, zn = dp - pw / gamma, dn - nw / gamma
        eps = self.stabilizer / gamma
        rows, cols = torch.empty_like(dp), torch.empty_like(dn)
        step = max(1, self.chunk // (len(pi) * len(ni)))
        a = p * r[:, None]                                        # R_ij = a_i n_j
        for s in range(0, d.shape[0], step):
            e = slice(s, s + step)
            inv = zn[e, None, :] - zp[e, :, None]                 # pair units h_ij (chunk, P, M)
            inv.add_((inv >= 0).to(inv.dtype), alpha=2 * eps).sub_(eps).reciprocal_()
            rows[e] = a[e] * torch.bmm(inv, n[e, :, None]).squeeze(2)    # Σ_j R_ij / h_ij
            cols[e] = n[e] * torch.bmm(a[e, None, :], inv).squeeze(1)    # Σ_i R_ij / h_ij
        return to_pos - rows * dp, to_neg + cols * dn


def check_geometry(op, d, x, where, rule):
    """Refuse an op whose ``geometry`` (its copy of the distance layer that feeds it, kept for
    the rules) does not give the distances ``d`` it receives from input ``x``: the relevance
    would then explain another model than the output. Equal up to 64 eps of the largest
    distance (the copy runs the same code on the same input)."""
    x = x.reshape(x.shape[0], -1)
    width = op.geometry.centers.shape[1]
    if x.shape[1] != width:
        raise RuleError(f"{where}: {rule} needs the op's second input to be the network input "
                        f"x with {width} features, got {x.shape[1]}, as neon.neuralize(model, "
                        "X) builds it")
    with torch.no_grad():
        again = op.geometry(x)
    same = again.shape == d.shape
    if same and d.numel():
        gap = float((again - d).abs().amax())
        same = gap <= 64 * torch.finfo(d.dtype).eps * float(d.detach().abs().amax())
    if not same:
        raise RuleError(f"{where}: the op's geometry (a copy of its distance layer) does not "
                        "give the distances it receives; rebuild the graph with "
                        "neon.neuralize, or change both copies together")


def root_split(contributions: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """Relevance R = c + correction with Σ_i R_i = ``total``, the order of c kept.

    ``contributions`` c (N, D) are ∂_i E (x_i − μ_i) and ``total`` (N,) is E(x). The
    residual r = E(x) − Σ_i c_i is what the reference point μ itself still carries. It is
    moved to the features by a root of the plane P(y) = E(x) + ∇E·(y − x) searched from μ
    along v (deep-Taylor root search, Montavon et al. 2017), R_i = ∂_i E (x_i − m_i):

    * r > 0: v = (x − μ) ⊙ [c > 0], so R_i = c_i (1 + r / Σ_{c_j>0} c_j) on the features that
      raise E and R_i = c_i on the others (z⁺-like direction);
    * r < 0: the same on the features that lower E (those with c_i < 0);
    * no feature has the residual's sign (say r > 0 and every c_i ≤ 0): v_i = 1/∂_i E on the
      features with c_i ≠ 0, i.e. r is shared equally among them.

    In each case the ranking of the features by c is unchanged within each sign, and
    Σ_i R_i = E(x) exactly, unless every c_i = 0 (then R = 0 and E is absorbed).
    """
    residual = total - contributions.sum(1)
    up = (residual > 0).unsqueeze(1)
    part = torch.where(up, contributions.clamp(min=0), contributions.clamp(max=0))
    mass = part.sum(1)
    relevance = contributions + part * _safe_ratio(residual, mass).unsqueeze(1)
    live = (contributions != 0).to(contributions.dtype)
    even = _safe_ratio(residual, live.sum(1)).masked_fill_(mass != 0, 0)
    return relevance.add_(live * even.unsqueeze(1))


class DuelTaylor(Rule):
    """Deep-Taylor rule of the SVC duel layer: gradient × (x − root), a root from the data.

    The duels g_k (:class:`neon.ops.RBFDuels`) arrive with relevance R_k (from
    :class:`RivalSoftMin`). With coefficients c_k = R_k / g_k frozen at x, the explained
    quantity is E(x) = Σ_k c_k g_k(x) = Σ_k R_k. It is expanded on the plane through x with
    the slope of E at a point x̃ between x and the reference point μ (stored on the op: the
    mean of the reference data, or of the support vectors),

        P(y) = E(x) + ∇E(x̃)·(y − x),   ∇E = Σ_k c_k ∇g_k,
        ∇g_k = γ (Σ_{j∈S⁻} n_kj ∇d_j − Σ_{i∈S⁺} p_ki ∇d_i)

    (p, n: the pools' soft-max/soft-min weights at x̃, the intercept's virtual unit has no
    gradient), and R_i = ∂_i E(x̃) (x_i − m_i) with m a root of P (P(m) = 0) searched from μ
    (:func:`root_split`): first c_i = ∂_i E(x̃)(x_i − μ_i), then the residual
    E(x) − Σ_i c_i ≈ E(μ) moved onto the features that push E in its direction. So
    Σ_i R_i = Σ_k R_k exactly, and features are ranked as by gradient × (x − μ).

    ``at="midpoint"``: x̃ = (x + μ)/2, where ∇E(x̃)·(x − μ) matches
    E(x) − E(μ) to second order (the one-point midpoint rule of the path integral of
    integrated gradients, Sundararajan et al. 2017); ``at="input"``: x̃ = x (the tangent
    plane); ``at="path"`` (default): the slope is the Gauss–Legendre average over the segment
    from μ to x with ``points`` = n nodes (default 2),

        ∇E ← Σ_{q=1..n} w_q ∇E(μ + t_q (x − μ)),   t_q = (1 + ξ_q)/2, w_q = ω_q/2

    (ξ_q, ω_q: the Legendre nodes and weights on [−1, 1]; n = 1 is the midpoint), so that
    ∇E·(x − μ) matches E(x) − E(μ) to order 2n (exact for polynomials of degree 2n − 1
    along the segment; Sundararajan et al. 2017 with a Gauss rule in place of the Riemann
    sum). The coefficients c_k stay frozen at x; the residual goes through
    :func:`root_split` as before. The pair units h_ij are never formed: the cost is one
    extra distance layer and one vector-Jacobian product per slope point, O(n·N·S·D).

    All relevance goes to the input x (the op's second input); the distance layer gets 0.
    Measured (docs/neon.md, "Two-class and multi-class SVC/NuSVC"): on breast cancer, wine,
    iris and digits (StandardScaler + SVC) the removal curve is as low as occlusion's.

    Parameters
    ----------
    at : {"path", "midpoint", "input"}
        Where the slope is taken (default "path": two Gauss–Legendre nodes; it was made the
        default over "midpoint" because it is better or equal in 25 of 30 measured cells and
        at most 0.002 MoRF AUC worse in the other 5).
    points : int, optional
        Only with ``at="path"``: the number n ≥ 1 of Gauss–Legendre nodes (default 2, at
        most 64). Measured (StandardScaler + SVC(rbf), seeds 0–2, docs/neon.md): n = 2 or 3
        lowers wine's MoRF AUC (3 classes, 50 % split, seed 0) from −0.328 / −0.682 to
        −0.343 / −0.725 (mean / resample baseline); elsewhere within ±0.002 or better.
    stabilizer : float
        ε of c_k = R_k / (g_k + ε·sign(g_k)); a duel with g_k = 0 exactly gets c_k = 0 with
        ε = 0 (its R_k still reaches the features through the residual).

    References
    ----------
    Montavon, Lapuschkin, Binder, Samek, Müller, "Explaining nonlinear classification
    decisions with deep Taylor decomposition", Pattern Recognition 65, 2017 (root points and
    search directions); Kauffmann et al., IEEE TNNLS 2022 (neuralization-propagation);
    Bley, Kauffmann et al., arXiv:2508.03913, 2025 (the SVC network); Sundararajan, Taly, Yan,
    "Axiomatic attribution for deep networks", ICML 2017.
    """

    ops = (RBFDuels,)

    def __init__(self, at: str = "path", stabilizer: float = 0.0,
                 points: int | None = None):
        self.at = check_choice(at, "at", ("midpoint", "input", "path"))
        self.stabilizer = check_number(stabilizer, "stabilizer")
        if points is not None and self.at != "path":
            raise ValueError(f"points={points!r} is used only with at='path' (got "
                             f"at={self.at!r}); leave points out or pass at='path'")
        if points is not None:
            points = check_number(points, "points", minimum=1, integer=True)
            if points > 64:
                raise ValueError(f"points must be ≤ 64 (Gauss–Legendre nodes on the segment "
                                 f"from the reference to x), got {points}")
        self.points = points

    def nodes(self) -> list:
        """[(t_q, w_q)]: where on the segment μ → x the slope is taken, with its weight."""
        if self.at == "input":
            return [(1.0, 1.0)]
        if self.at == "midpoint":
            return [(0.5, 1.0)]
        xi, omega = np.polynomial.legendre.leggauss(2 if self.points is None else self.points)
        return [(0.5 * (1.0 + float(a)), 0.5 * float(b)) for a, b in zip(xi, omega)]

    def check(self, op, inputs, where):
        if len(inputs) < 2 or op.reference is None or op.geometry is None:
            raise RuleError(
                f"{where}: DuelTaylor needs the duel layer to read the input x and to carry a "
                "reference point and its distance geometry, as neon.neuralize(svc, X) builds "
                "it; for a hand-built RBFDuels use lrp.rules.DuelMidpoint()")
        check_geometry(op, inputs[0], inputs[1], where, "DuelTaylor")

    def __call__(self, op, inputs, output, relevance):
        d, x = inputs[0], inputs[1]
        shape = x.shape
        x = x.reshape(shape[0], -1)
        mu = op.reference.to(x.dtype)
        coef = divide(relevance, output, self.stabilizer)
        step = x - mu
        slope = None
        for t, w in self.nodes():
            point = x if t == 1.0 else (x + mu) * 0.5 if t == 0.5 else \
                torch.add(mu, step, alpha=t)
            part = op.weighted_gradient(point, coef)
            slope = part.mul_(w) if slope is None else slope.add_(part, alpha=w)
        contributions = slope.mul_(step)
        result = root_split(contributions, relevance.sum(1))
        return [torch.zeros_like(d), result.reshape(shape)]


class PoolShapley(Rule):
    """Shapley values of a distance pool o(x) = smin_β(d(x) + b) against a reference point.

    The players are the input features; a coalition S takes its features from x and the
    others from the reference x̄ (the data mean, ``op.reference``), and the value of S is o at
    that point. The Shapley value of feature i is its marginal contribution o(S ∪ {i}) − o(S)
    averaged over all orders in which the features can join (Shapley 1953; Štrumbelj and
    Kononenko 2014 for the permutation estimate). It is estimated from ``pairs`` seeded
    random orders π, each with its reverse (antithetic pairs, Mitchell et al. 2022):

        φ_i = (1/2P) Σ_p [o(y_p,r+1) − o(y_p,r)],   π_p(r) = i,

    where y_pr has the first r features of π_p from x (``SquaredDistance.prefix_distances``).
    An order and its reverse put every other feature j before i exactly once, so for a single
    quadratic unit (one dominant Gaussian, one support vector) the pair already gives the
    exact Shapley value; the sampling error comes only from where the soft minimum switches
    between units, which the one-point rules (soft-min redistribution, then the distance
    split at x) cannot see. Each order telescopes, so Σ_i φ_i = o(x) − o(x̄) exactly; the
    reference's own value o(x̄) is shared equally, R_i = (φ_i + o(x̄)/d) · R_out / o(x), and
    Σ_i R_i = R_out.

    Measured (``benchmarks/bench_faithfulness.py``, docs/neon.md): on the GMM of wine's class
    0 the MoRF AUC drops from 0.506 / 0.652 (mean / resample baseline; soft-min
    redistribution then distance split) to 0.485 / 0.633, against shap's 0.480 / 0.624; on
    one-class SVMs of four data sets it matches shap's KernelExplainer. The cost is
    2P·(d + 1) evaluations of the pool per sample, none from scratch
    (:meth:`~neon.ops.SquaredDistance.prefix_distances`): O(P·N·d·K) for Euclidean
    distances, in blocks of about ``budget`` elements that stay in cache.

    Parameters
    ----------
    pairs : int, optional
        P ≥ 1, the number of antithetic pairs of orders (at most 1024). Default ``None``: the
        op's own ``pairs``, chosen by the neuralizer (8 for a Gaussian mixture, 1 for the
        one-class SVM and KDE).
    seed : int
        Seed of the orders (a CPU ``torch.Generator``): the same relevance on every call and
        every device.

    References
    ----------
    Shapley, "A value for n-person games", 1953; Štrumbelj, Kononenko, "Explaining prediction
    models and individual predictions with feature contributions", KAIS 41, 2014; Mitchell,
    Cooper, Frank, Holmes, "Sampling permutations for Shapley value estimation", JMLR 23,
    2022; Kauffmann, Müller, Montavon, Pattern Recognition 101, 2020 (the networks).
    """

    ops = (DistancePool,)
    #: Elements of the largest prefix tensor (N·2P·(d+1)·K·p) built at once: small enough
    #: to stay in cache through its few passes (1 << 22 was 2–3× slower on one core).
    budget = 1 << 18

    def __init__(self, pairs: int | None = None, seed: int = 0):
        self.pairs = None if pairs is None else check_number(pairs, "pairs", minimum=1,
                                                             integer=True)
        if self.pairs is not None and self.pairs > MAX_PAIRS:
            raise ValueError(f"pairs must be ≤ {MAX_PAIRS} (antithetic pairs of feature "
                             f"orders), got {self.pairs}")
        self.seed = check_number(seed, "seed", minimum=0, integer=True)

    def orders(self, d: int, device, pairs: int) -> torch.Tensor:
        """(2P, d) int64: P seeded random orders of the d features, then their reverses."""
        generator = torch.Generator().manual_seed(self.seed)
        first = torch.rand(pairs, d, generator=generator, dtype=torch.float64).argsort(1)
        return torch.cat([first, first.flip(1)]).to(device)

    def check(self, op, inputs, where):
        check_geometry(op, inputs[0], inputs[1], where, "PoolShapley")

    def __call__(self, op, inputs, output, relevance):
        d, x = inputs[0], inputs[1]
        shape = x.shape
        x = x.reshape(shape[0], -1)
        n, dim = x.shape
        order = self.orders(dim, x.device, op.pairs if self.pairs is None else self.pairs)
        rank = order.argsort(1)                    # rank[p, i]: where feature i joins in p
        geometry = op.geometry
        # quadratic forms build the prefix points by one GEMM, whose blocks can be larger
        width = 1 if geometry.matrix is None else geometry.matrix.shape[-2] / 4
        rows = max(1, int(self.budget / (rank.shape[0] * (dim + 1) * geometry.n_units * width)))
        phi = torch.empty_like(x)
        for start in range(0, n, rows):
            block = x[start:start + rows]
            dist = geometry.prefix_distances(block, op.reference, order)  # (b, 2P, d+1, K)
            value = op.pooled_(dist)                                        # (b, 2P, d+1)
            gain = value.diff(dim=2)                                        # (b, 2P, d)
            share = gain.gather(2, rank.expand(len(block), -1, -1)).mean(1)
            phi[start:start + rows] = share.add_(value[:, :1, 0] / dim)
        return [torch.zeros_like(d), phi.mul_(_safe_ratio(relevance, output)).reshape(shape)]


class RootRule(Rule):
    """Affine units with a root point on their hyperplane: R_i = Σ_k w_ki (x_i − m_ki) / z_k R_k.

    Exact: z_k(x) = w_k·(x − m_k) because z_k(m_k) = 0, so Σ_i R_i = Σ_k R_k (up to ε on
    z_k = 0 units). For an SVC duel with the linear kernel the root is the projection of the
    duel's mean support vector onto its decision hyperplane (in the estimator's space, mapped
    back through the preprocessing), so R_i ≈ w_i (x_i − ū_i): gradient × (x − reference).

    Parameters
    ----------
    stabilizer : float
        ε of z + ε·sign(z). Default 0: Σ_i R_i = Σ_k R_k to rounding (an absolute ε of
        1e-12 left relative errors up to 8e-13 on MinMax-scaled k-means); units with z = 0
        exactly pass nothing.
    """

    ops = (RootedLinear,)

    def __init__(self, stabilizer: float = 0.0):
        self.stabilizer = check_number(stabilizer, "stabilizer")

    def __call__(self, op, inputs, output, relevance):
        (x,) = inputs
        s = divide(relevance, output, self.stabilizer)
        return [x * (s @ op.weight) - s @ op.weighted_root]


register_default(SoftMin, SoftMinRedistribution)
register_default(DistancePool, PoolShapley)
register_default(CompetitionMin, Midpoint)
register_default(SquaredDistance, DistanceSplit)
register_default(RivalMin, RivalSoftMin)
register_default(RBFDuels, DuelTaylor)
register_default(RootedLinear, RootRule)
