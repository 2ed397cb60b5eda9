"""NEON rules for the neuralized SVC/NuSVC networks (:mod:`neon.sklearn.svc_ops`).

Reference: Bley, Kauffmann et al., arXiv:2508.03913, 2025; Kauffmann, Montavon et al.,
neuralization-propagation (NEON). Registered as the default rules of the SVC op kinds:

``svc_rivals`` → :class:`RivalSoftMin`
    R_cj = softmin_β(g_c·)_j · R_c: each class's relevance split over its duels (conserving
    for every β; β → ∞ gives the strongest rival everything). Duel (a, b) receives R_ab + R_ba.
``svc_duels`` → :class:`DuelMidpoint`
    pair weights from the two pools, the midpoint rule on the linear pair units and the
    distance split on the pairs that include the intercept's virtual unit, in closed form;
    its output is relevance on the distance units d_j (the ``distance`` node).
``svc_distance`` → :class:`DistanceSplit`
    R_i = Σ_j ρ_j (x − v_j)_i [Aᵀ(y − u_j)]_i / d_j, exact (coincident points absorbed).
``svc_linear`` → :class:`RootRule` (exact); ``svc_power`` → :class:`PowerPass`.

Conservation: everything conserves exactly except the midpoint rule on the pair units, whose
root (u_i + u_j)/2 lies off the unit's hyperplane when α_i ≠ α_j; the gap is
Σ_ij R_ij c_ij / h_ij with c_ij = γ⁻¹ log(α_i/α_j). It shows as ``absorbed`` on the ``duels``
row of ``lrp.explain(..., return_all=True).conservation()``.
"""

from __future__ import annotations

import math

import torch

from .rules import Rule, divide, register_default

__all__ = ["RivalSoftMin", "DuelMidpoint", "DistanceSplit", "RootRule", "PowerPass"]


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

    kinds = ("svc_rivals",)

    def __init__(self, beta: float | None = None):
        self.beta = beta

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

    kinds = ("svc_duels",)

    def __init__(self, stabilizer: float = 0.01, chunk: int = 1 << 22):
        self.stabilizer = stabilizer
        self.chunk = chunk

    def __call__(self, op, inputs, output, relevance):
        (d,) = inputs
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
        return [rho]

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


class DistanceSplit(Rule):
    """Distance units to raw features: R_i = Σ_j ρ_j E_ji / d_j, Σ_i E_ji = d_j.

    E_ji = (x − v_j)_i [Aᵀ(y − u_j)]_i, i.e. (x_i − u_ji)² without preprocessing and
    s_i² (x_i − v_ji)² for a per-feature scaler (the conserving Euler split of a quadratic form
    for PCA). Exact, except that a unit whose input coincides with its support vector (d_j = 0,
    a 0/0 split) passes nothing: its ρ_j is absorbed and reported, never NaN.
    Four matrix products (:meth:`SupportVectorDistance.split`).
    """

    kinds = ("svc_distance",)

    def __call__(self, op, inputs, output, relevance):
        (x,) = inputs
        hit = op.coincident(x, output)
        omega = torch.where(hit, torch.zeros_like(relevance),
                            relevance / torch.where(hit, torch.ones_like(output), output))
        return [op.split(x, omega)]


class RootRule(Rule):
    """Affine units with a root point on their hyperplane: R_i = Σ_k w_ki (x_i − m_ki) / z_k R_k.

    Exact: z_k(x) = w_k·(x − m_k) because z_k(m_k) = 0, so Σ_i R_i = Σ_k R_k (up to ε on
    z_k = 0 units). For an SVC duel with the linear kernel the root is the projection of the
    duel's mean support vector onto its decision hyperplane (in the estimator's space, mapped
    back through the preprocessing), so R_i ≈ w_i (x_i − ū_i): gradient × (x − reference).

    Parameters
    ----------
    stabilizer : float
        ε of z + ε·sign(z).
    """

    kinds = ("svc_linear",)

    def __init__(self, stabilizer: float = 1e-12):
        self.stabilizer = stabilizer

    def __call__(self, op, inputs, output, relevance):
        (x,) = inputs
        s = divide(relevance, output, self.stabilizer)
        return [x * (s @ op.weight) - s @ op.weighted_root]


class PowerPass(Rule):
    """The polynomial kernel's power unit y = t^p passes its relevance: R_t = R_y.

    y vanishes exactly where t does, and t ↦ t^p is a monotone (odd p) or sign-symmetric
    (even p) reparametrization of t, so the deep-Taylor root of the unit is the root t̃ = 0 of
    its input and the whole relevance goes to t (conserving). The affine layer before it,
    t = γ u·x + c₀, then splits it with the ε-rule (c₀'s share is absorbed and reported).
    """

    kinds = ("svc_power",)

    def __call__(self, op, inputs, output, relevance):
        return [relevance]


register_default("svc_rivals", RivalSoftMin)
register_default("svc_duels", DuelMidpoint)
register_default("svc_distance", DistanceSplit)
register_default("svc_linear", RootRule)
register_default("svc_power", PowerPass)
