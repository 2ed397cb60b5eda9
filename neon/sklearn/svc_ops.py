"""Ops of the neuralized SVC/NuSVC networks (Bley, Kauffmann et al., arXiv:2508.03913, 2025).

The RBF network is built in its fused form, three nodes:

``distance`` (:class:`SupportVectorDistance`)
    d_j(x) = ‖A x + c − u_j‖² for every support vector u_j: one GEMM for all N × S distances.
``duels`` (:class:`RBFDuels`)
    one log-ratio per one-vs-one class pair (a, b),
    g_ab = LSE_{i∈S⁺}(−γ z_i) − LSE_{j∈S⁻}(−γ z_j), z_i = d_i − γ⁻¹ log α_i,
    which is γ · smin_{j∈S⁻} smax_{i∈S⁺} h_ij over the pair units h_ij = z_j − z_i. The pair
    layer (|S⁺|·|S⁻| units per duel) is never materialized: both pools are log-sum-exps.
``rivals`` (:class:`RivalMin`)
    f_c = min_{j≠c} g_cj, the duel that class c wins by the least (g_ba = −g_ab).

The linear kernel gives one exact affine layer (:class:`RootedLinear`) before ``rivals``; the
polynomial kernel gives Linear → :class:`KernelPower` → Linear before ``rivals``. Their rules
are in :mod:`lrp.svc_rules`.
"""

from __future__ import annotations

import torch

from neon.ops import Linear, Op, Power

__all__ = ["SupportVectorDistance", "RBFDuels", "RivalMin", "RootedLinear", "KernelPower"]


def _buffer(value, like=None):
    t = torch.as_tensor(value)
    if like is not None and t.is_floating_point():
        t = t.to(like.dtype)
    return t.detach().clone()


class SupportVectorDistance(Op):
    """Squared distances to the support vectors, in the estimator's feature space.

    d_j(x) = ‖y − u_j‖² with y = A x + c the preprocessed input (A = I, c = 0 without
    preprocessing; A diagonal for per-feature scalers; dense for PCA). In raw coordinates this
    is the weighted distance Σ_i s_i² (x_i − v_ji)² (diagonal A = diag(s)) or the quadratic form
    (x − v_j)ᵀ AᵀA (x − v_j), v_j = A⁺(u_j − c) the preimage of u_j.

    Parameters
    ----------
    centers : tensor (S, k)
        The support vectors u_j in the estimator's space.
    scale, matrix, offset : tensor, optional
        The preprocessing: diagonal ``scale`` (d,) or dense ``matrix`` (k, d), and ``offset``.
    anchor : tensor (d,), optional
        For a dense A with a null space (PCA), preimages are taken as the nearest ones to
        this raw point: v_j = x₀ + A⁺(u_j − c − A x₀) (default x₀ = 0, i.e. v_j = A⁺(u_j − c)).
    coincident_tol : float
        Distances below tol·(‖y‖² + ‖u_j‖²) are recomputed directly (a GEMM's cancellation
        error is ~1e-16 of that) and, in the rule, treated as coincident points (x = u_j).

    Notes
    -----
    :meth:`split` gives the per-feature (Euler) split of Σ_j ω_j d_j(x),
    Σ_j ω_j (x − v_j)_i [Aᵀ(y − u_j)]_i, which for A = diag(s) is Σ_j ω_j s_i² (x_i − v_ji)²,
    as four matrix products (no N × S × d tensor).

    References
    ----------
    Bley, Kauffmann et al., arXiv:2508.03913, 2025; Kauffmann, Montavon et al., "From clustering
    to cluster explanations via neural networks", IEEE TNNLS 2022 (neuralization).
    """

    kind = "svc_distance"

    def __init__(self, centers, *, scale=None, matrix=None, offset=None, anchor=None,
                 coincident_tol: float = 1e-10):
        super().__init__()
        u = _buffer(centers)
        self.register_buffer("centers", u)
        self.register_buffer("scale", None if scale is None else _buffer(scale, u))
        self.register_buffer("matrix", None if matrix is None else _buffer(matrix, u))
        self.register_buffer("offset", None if offset is None else _buffer(offset, u))
        c = torch.zeros(u.shape[1], dtype=u.dtype) if offset is None else self.offset
        if self.matrix is not None:
            x0 = torch.zeros(self.matrix.shape[1], dtype=u.dtype) if anchor is None \
                else _buffer(anchor, u)
            pre = x0 + (u - c - self.matrix @ x0) @ torch.linalg.pinv(self.matrix).T
            back = u @ self.matrix                                 # Aᵀ u_j
        elif self.scale is not None:
            safe = torch.where(self.scale == 0, torch.ones_like(self.scale), self.scale)
            pre = torch.where(self.scale == 0, torch.zeros_like(u), (u - c) / safe)
            back = u * self.scale
        else:
            pre, back = u, u
        self.register_buffer("preimages", pre)
        self.register_buffer("back", back)
        self.register_buffer("cross", pre * back)
        self.register_buffer("center_sq", (u * u).sum(1))
        self.coincident_tol = float(coincident_tol)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """y = A x + c, the estimator's view of the raw input."""
        if self.matrix is not None:
            x = x @ self.matrix.T
        elif self.scale is not None:
            x = x * self.scale
        return x if self.offset is None else x + self.offset

    def _pullback(self, y: torch.Tensor) -> torch.Tensor:
        """Aᵀ y."""
        if self.matrix is not None:
            return y @ self.matrix
        return y if self.scale is None else y * self.scale

    def _threshold(self, y):
        tol = max(self.coincident_tol, 100 * torch.finfo(y.dtype).eps)   # float32: ~1e-5
        return tol * ((y * y).sum(1, keepdim=True) + self.center_sq)

    def forward(self, x):
        y = self.embed(x)
        d = ((y * y).sum(1, keepdim=True) - 2 * y @ self.centers.T + self.center_sq).clamp_min(0)
        near = d < self._threshold(y)
        if bool(near.any()):  # recompute the few near-coincident pairs directly
            n, j = near.nonzero(as_tuple=True)
            d = d.index_put((n, j), ((y[n] - self.centers[j]) ** 2).sum(1))
        return d

    def coincident(self, x, d) -> torch.Tensor:
        """Mask (N, S) of pairs with x on the support vector (distance below tolerance)."""
        return d < self._threshold(self.embed(x))

    def split(self, x, omega) -> torch.Tensor:
        """Σ_j ω_j (x − v_j)_i [Aᵀ(y − u_j)]_i for every sample and raw feature i, (N, d)."""
        p = self._pullback(self.embed(x))                  # Aᵀ y
        return (x * p * omega.sum(1, keepdim=True) - x * (omega @ self.back)
                - (omega @ self.preimages) * p + omega @ self.cross)

    def extra_repr(self):
        pre = ("dense" if self.matrix is not None
               else "diagonal" if self.scale is not None else "none")
        return f"support_vectors={self.centers.shape[0]}, preprocessing={pre}"


class RBFDuels(Op):
    """One log-ratio per class pair: g_ab(x) = log P_ab(x) − log N_ab(x).

    P_ab = Σ_{i∈S⁺} α_i exp(−γ d_i(x)), N_ab = Σ_{j∈S⁻} α_j exp(−γ d_j(x)), where S⁺/S⁻ are
    the support vectors whose coefficient in this duel is positive/negative (α = |coef|, zero
    coefficients dropped) and the intercept b joins as a virtual unit with d = 0 and α = |b|
    (in S⁺ if b > 0). Then decision_ab = P_ab − N_ab, so sign(g_ab) = sign(decision_ab)
    exactly; positive g_ab votes for class a. Computed in the log domain (LSE).

    Input: the (N, S) squared distances; output (N, n_duels).

    Parameters
    ----------
    gamma : float
        The RBF width γ (the estimator's resolved ``_gamma``).
    pos_index, pos_logw, neg_index, neg_logw : tensor (n_duels, width)
        Support-vector indices and log α of each side, padded with index 0 and log α = −inf.
    virtual_logw : tensor (n_duels,)
        log |b| of the intercept unit.
    virtual_sign : tensor (n_duels,)
        +1 (in S⁺), −1 (in S⁻) or 0 (b = 0: no virtual unit).
    counts : list of (int, int)
        The number of real units on each side of every duel.

    References
    ----------
    Bley, Kauffmann et al., arXiv:2508.03913, 2025; Kauffmann, Montavon et al., "From clustering
    to cluster explanations via neural networks", IEEE TNNLS 2022 (neuralization).
    """

    kind = "svc_duels"

    def __init__(self, gamma, pos_index, pos_logw, neg_index, neg_logw, virtual_logw,
                 virtual_sign, counts):
        super().__init__()
        self.gamma = float(gamma)
        for name, value in [("pos_index", pos_index), ("pos_logw", pos_logw),
                            ("neg_index", neg_index), ("neg_logw", neg_logw),
                            ("virtual_logw", virtual_logw), ("virtual_sign", virtual_sign)]:
            self.register_buffer(name, _buffer(value))
        self.counts = [tuple(int(v) for v in c) for c in counts]

    @property
    def n_duels(self) -> int:
        return len(self.counts)

    def _virtual(self, sign):
        inf = torch.full_like(self.virtual_logw, -torch.inf)
        return torch.where(self.virtual_sign == sign, self.virtual_logw, inf)

    def log_pools(self, d, block: int = 1 << 23):
        """(log P, log N), each (N, n_duels); at most ``block`` gathered values at once."""
        width = max(self.pos_index.shape[1], self.neg_index.shape[1])
        step = max(1, block // max(1, d.shape[0] * width))
        parts = [self._log_pools(d, slice(k, k + step)) for k in range(0, self.n_duels, step)]
        return torch.cat([p[0] for p in parts], 1), torch.cat([p[1] for p in parts], 1)

    def _log_pools(self, d, duels):
        ap = -self.gamma * d[:, self.pos_index[duels]] + self.pos_logw[duels]
        an = -self.gamma * d[:, self.neg_index[duels]] + self.neg_logw[duels]
        log_p = torch.logaddexp(torch.logsumexp(ap, -1), self._virtual(1)[duels])
        log_n = torch.logaddexp(torch.logsumexp(an, -1), self._virtual(-1)[duels])
        return log_p, log_n

    def forward(self, d):
        log_p, log_n = self.log_pools(d)
        return log_p - log_n

    def members(self, k: int):
        """(pos index, pos log α, neg index, neg log α) of duel ``k``, unpadded."""
        p, m = self.counts[k]
        return (self.pos_index[k, :p], self.pos_logw[k, :p],
                self.neg_index[k, :m], self.neg_logw[k, :m])

    def extra_repr(self):
        pairs = sum(p * m for p, m in self.counts)
        return f"duels={self.n_duels}, gamma={self.gamma:.4g}, pair_units={pairs:,} (fused)"


class RivalMin(Op):
    """f_c(x) = min_{j≠c} g_cj(x): class c against its strongest rival.

    The input holds one value per duel (a, b), a < b, positive votes for a; g_ba = −g_ab.
    f_c > 0 ⇔ c wins every duel (then c is also the one-vs-one vote winner). Hard min in the
    forward pass; ``beta`` is the relevance stiffness of the soft-min split used by the rule
    (β → ∞: all relevance to the strongest rival).

    Parameters
    ----------
    pairs : tensor (n_duels, 2)
        The class indices (a, b) of each duel.
    n_classes : int
    beta : float

    References
    ----------
    Bley, Kauffmann et al., arXiv:2508.03913, 2025; Kauffmann, Montavon et al., "From clustering
    to cluster explanations via neural networks", IEEE TNNLS 2022 (neuralization).
    """

    kind = "svc_rivals"

    def __init__(self, pairs, n_classes: int, beta: float = 1.0):
        super().__init__()
        self.register_buffer("pairs", _buffer(pairs).long())
        self.n_classes = int(n_classes)
        self.beta = float(beta)

    def rival_matrix(self, g):
        """G (N, K, K) with G[:, c, j] = g_cj and +inf on the diagonal."""
        k = self.n_classes
        out = torch.full((g.shape[0], k, k), torch.inf, dtype=g.dtype, device=g.device)
        a, b = self.pairs[:, 0], self.pairs[:, 1]
        out[:, a, b] = g
        out[:, b, a] = -g
        return out

    def forward(self, g):
        return self.rival_matrix(g).amin(2)

    def extra_repr(self):
        return f"classes={self.n_classes}, duels={self.pairs.shape[0]}, beta={self.beta:.4g}"


class RootedLinear(Linear):
    """An exact affine layer z = W x + b with a root point m_k on each unit's hyperplane.

    z_k(m_k) = 0, so z_k(x) = w_k·(x − m_k) exactly and the rule
    R_i = Σ_k w_ki (x_i − m_ki) / z_k · R_k conserves relevance (:class:`lrp.svc_rules.RootRule`).
    """

    kind = "svc_linear"

    def __init__(self, weight, bias, root):
        super().__init__(weight, bias)
        self.register_buffer("root", _buffer(root, self.weight))
        self.register_buffer("weighted_root", self.weight * self.root)   # w_ki m_ki


class KernelPower(Power):
    """The polynomial kernel's power unit, y = t^p (t = γ u·x + c₀, p the degree).

    Its own kind so that it gets the SVC rule (relevance passed through unchanged,
    :class:`lrp.svc_rules.PowerPass`) independently of the generic ``power`` kind.
    """

    kind = "svc_power"
