"""Kernel-machine ops of the neuralized SVC/NuSVC networks (Bley, Kauffmann et al.,
arXiv:2508.03913, 2025).

The RBF network is three nodes: a :class:`~neon.ops.SquaredDistance` to every support vector,
the fused duel layer :class:`RBFDuels` (one log-ratio per one-vs-one class pair, the pair
units never materialized; it also reads the input x, which only its rules use) and the
:class:`~neon.ops.RivalMin` pool. The linear kernel is one
exact affine layer with a root point per unit (:class:`RootedLinear`); the polynomial kernel
is Linear → Power → Linear.
"""

from __future__ import annotations

import torch

from .affine import Linear
from .base import Op
from .distance import SquaredDistance

__all__ = ["RBFDuels", "RootedLinear"]


def _buffer(value, like=None):
    t = torch.as_tensor(value)
    if like is not None and t.is_floating_point():
        t = t.to(like.dtype)
    return t.detach().clone()


class RBFDuels(Op):
    """One log-ratio per class pair: g_ab(x) = log P_ab(x) − log N_ab(x).

    P_ab = Σ_{i∈S⁺} α_i exp(−γ d_i(x)), N_ab = Σ_{j∈S⁻} α_j exp(−γ d_j(x)), where S⁺/S⁻ are
    the support vectors whose coefficient in this duel is positive/negative (α = |coef|, zero
    coefficients dropped) and the intercept b joins as a virtual unit with d = 0 and α = |b|
    (in S⁺ if b > 0). Then decision_ab = P_ab − N_ab, so sign(g_ab) = sign(decision_ab)
    exactly; positive g_ab votes for class a. Computed in the log domain (LSE).

    Inputs: the (N, S) squared distances d and, optionally, the network's input x (N, D).
    The forward pass does not depend on x (a term 0·x₁ keeps every backward walk defined);
    x is there for the rule :class:`lrp.rules.neon.DuelTaylor`, which expands each duel
    around a root found from ``reference`` and needs the gradient ∇ₓ g (through
    ``geometry``). Output (N, n_duels).

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
    reference : tensor (D,), optional
        The reference point μ of :class:`~lrp.rules.neon.DuelTaylor`, in input (raw-feature)
        coordinates: the mean of the reference data, or of the support vectors.
    geometry : SquaredDistance, optional
        A copy of the distance layer that feeds this op (d = geometry(x)), so that rules can
        evaluate the duels and their gradients at points other than x.

    References
    ----------
    Bley, Kauffmann et al., arXiv:2508.03913, 2025; Kauffmann, Montavon et al., "From clustering
    to cluster explanations via neural networks", IEEE TNNLS 2022 (neuralization).
    """

    kind = "svc_duels"
    arity = None
    rule_inputs = True
    copies = ("geometry",)

    def __init__(self, gamma, pos_index, pos_logw, neg_index, neg_logw, virtual_logw,
                 virtual_sign, counts, reference=None, geometry=None):
        super().__init__()
        if geometry is not None and not isinstance(geometry, SquaredDistance):
            raise TypeError("geometry must be a neon.ops.SquaredDistance, got "
                            f"{type(geometry).__name__}")
        self.gamma = float(gamma)
        for name, value in [("pos_index", pos_index), ("pos_logw", pos_logw),
                            ("neg_index", neg_index), ("neg_logw", neg_logw),
                            ("virtual_logw", virtual_logw), ("virtual_sign", virtual_sign)]:
            self.register_buffer(name, _buffer(value))
        self.counts = [tuple(int(v) for v in c) for c in counts]
        self.register_buffer("reference", None if reference is None else _buffer(reference))
        self.geometry = geometry

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

    def forward(self, d, x=None):
        log_p, log_n = self.log_pools(d)
        g = log_p - log_n
        if x is not None:       # read by the rules only; the zero term keeps vjp(x) defined
            g = g + 0.0 * x.reshape(x.shape[0], -1)[:, :1]
        return g

    def distance_weights(self, d, coef, block: int = 1 << 23):
        """T (N, S) with Σ_k coef_k g_k's differential in d: T_j = ∂(Σ_k coef_k g_k)/∂d_j.

        ∂g_k/∂d_i = −γ p_ki (i ∈ S⁺) and +γ n_kj (j ∈ S⁻), with the pools' weights
        p_ki = α_i e^{−γ d_i} / P_k, n_kj = α_j e^{−γ d_j} / N_k; so
        T_j = γ Σ_k coef_k (n_kj − p_kj). ``coef`` is (N, n_duels). At most ``block``
        gathered values are held at once.
        """
        log_p, log_n = self.log_pools(d)
        t = torch.zeros_like(d)
        width = max(self.pos_index.shape[1], self.neg_index.shape[1])
        step = max(1, block // max(1, d.shape[0] * width))
        n = d.shape[0]
        for k in range(0, self.n_duels, step):
            duels = slice(k, k + step)
            for index, logw, log_pool, sign in ((self.pos_index, self.pos_logw, log_p, -1.0),
                                                (self.neg_index, self.neg_logw, log_n, 1.0)):
                idx = index[duels]                                        # (kb, W)
                w = (-self.gamma * d[:, idx] + logw[duels]).sub_(log_pool[:, duels, None])
                w = w.exp_().mul_(coef[:, duels, None]).mul_(sign * self.gamma)
                t.scatter_add_(1, idx.reshape(1, -1).expand(n, -1), w.reshape(n, -1))
        return t

    def weighted_gradient(self, x, coef):
        """Σ_k coef_k ∇ₓ g_k(x), (N, D), for ``coef`` (N, n_duels) (needs ``geometry``).

        ∇ₓ g_k = Σ_j T_j ∇ₓ d_j(x) with T from :meth:`distance_weights`, one vector-Jacobian
        product of the distance layer (so it holds for every form of the distance: weighted,
        or a quadratic form folded from a PCA). The virtual unit (d = 0) has no gradient.
        """
        if self.geometry is None:
            raise ValueError("this RBFDuels op has no geometry (a copy of its distance "
                             "layer): build it with neon.neuralize(svc, X)")
        with torch.enable_grad():
            point = x.detach().requires_grad_(True)
            d = self.geometry(point)
            t = self.distance_weights(d.detach(), coef)
            (grad,) = torch.autograd.grad(d, point, t)
        return grad

    def members(self, k: int):
        """(pos index, pos log α, neg index, neg log α) of duel ``k``, unpadded."""
        p, m = self.counts[k]
        return (self.pos_index[k, :p], self.pos_logw[k, :p],
                self.neg_index[k, :m], self.neg_logw[k, :m])

    def extra_repr(self):
        pairs = sum(p * m for p, m in self.counts)
        ref = "" if self.reference is None else ", reference point"
        return (f"duels={self.n_duels}, gamma={self.gamma:.4g}, pair_units={pairs:,} "
                f"(fused){ref}")


class RootedLinear(Linear):
    """An exact affine layer z = W x + b with a root point m_k on each unit's hyperplane.

    z_k(m_k) = 0, so z_k(x) = w_k·(x − m_k) exactly and the rule
    R_i = Σ_k w_ki (x_i − m_ki) / z_k · R_k conserves relevance (:class:`lrp.rules.RootRule`).
    """

    kind = "rooted_linear"

    def __init__(self, weight, bias, root):
        super().__init__(weight, bias)
        self.register_buffer("root", _buffer(root, self.weight))
        self.register_buffer("weighted_root", self.weight * self.root)   # w_ki m_ki
