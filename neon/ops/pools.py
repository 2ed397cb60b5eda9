"""Pools of neuralized models: the k-means competition, soft minima and the SVC rivals.

Each pool takes the outputs of a distance (or duel) layer and reduces them over the last axis
exactly (hard minima or exact log-sum-exp soft minima). Their rules redistribute relevance
with a soft-min of stiffness β (Kauffmann et al., IEEE TNNLS 2022); β lives on the op, set
when the graph is built, so a sample's relevance never depends on its batch.

* :class:`CompetitionMin` — the fused k-means layers f_c = min_{k≠c} (d_k − d_c);
* :class:`SoftMin` — −β⁻¹ log Σ_k exp(−β (a_k + b_k)) (one-class SVM, KDE, GMM);
* :class:`DistancePool` — the same soft minimum over a distance layer, reading the input x
  and carrying a reference point, for rules that see through both layers;
* :class:`RivalMin` — f_c = min_{j≠c} g_cj over one-vs-one duels (SVC).
"""

from __future__ import annotations

import math

import torch

from .base import Op
from .distance import SquaredDistance

__all__ = ["Pool", "CompetitionMin", "SoftMin", "DistancePool", "RivalMin", "check_beta",
           "MAX_PAIRS"]

#: The most antithetic pairs of feature orders a distance pool's Shapley rule may sample.
MAX_PAIRS = 1024


class Pool(Op):
    """Category: min/max pools over the last axis that carry a relevance stiffness ``beta``."""

    kind = "pool"


def check_beta(beta, name: str = "beta") -> float:
    """β as a float, refused unless it is positive (``math.inf``: the hard limit) and not NaN."""
    try:
        if isinstance(beta, (str, bytes, bool)):
            raise TypeError
        value = float(beta)
    except (TypeError, ValueError):
        raise TypeError(f"the stiffness {name} must be a positive number, got {beta!r}") \
            from None
    if math.isnan(value) or not value > 0:
        raise ValueError(f"the stiffness {name} must be positive (math.inf for the hard "
                         f"minimum), got {beta!r}")
    return value


class CompetitionMin(Pool):
    """The fused k-means competition and min-pool layers (Kauffmann et al. 2022).

    f_c(x) = min_{k≠c} h_ck(x),  h_ck = d_k(x) − d_c(x)
           = min_{k≠c} (w_ck·x + b_ck),  w_ck = 2(μ_c − μ_k), b_ck = ‖μ_k‖² − ‖μ_c‖²,

    for every cluster c at once, from the (N, K) squared distances d: the hard minimum is
    exact (f_c > 0 ⇔ c is the nearest centroid, and then f_c = second-smallest − smallest
    distance). ``beta`` is the relevance stiffness of the soft-min redistribution
    R_k = softmin_β(h_c)_k · R_c used by the rules; it does not change the forward pass.

    References
    ----------
    Kauffmann, Esders, Ruff, Montavon, Samek, Müller, "From clustering to cluster
    explanations via neural networks", IEEE TNNLS 2022.
    """

    kind = "competition_min"

    def __init__(self, beta: float = 1.0):
        super().__init__()
        self.beta = check_beta(beta)

    def forward(self, d):
        if d.shape[1] < 2:
            raise ValueError("the k-means competition needs at least 2 clusters")
        vals, idx = d.topk(2, dim=1, largest=False)
        out = vals[:, :1] - d
        out.scatter_(1, idx[:, :1], vals[:, 1:] - vals[:, :1])
        return out

    def extra_repr(self):
        return f"beta={self.beta:.6g}"


class SoftMin(Pool):
    """Exact log-sum-exp soft minimum over the last axis, with per-unit offsets.

    smin_β(a + b) = −β⁻¹ log Σ_k exp(−β (a_k + b_k)), shape (N, …, 1). It tends to
    min_k (a_k + b_k) as β → ∞. The one-class SVM's outlier score o(x) = smin_γ(d_j − γ⁻¹ log
    α_j) = −γ⁻¹ log Σ_j α_j exp(−γ d_j) (Kauffmann et al. 2020) is this pool over distances.
    """

    kind = "softmin_pool"

    def __init__(self, beta: float, offset: torch.Tensor | None = None):
        super().__init__()
        self.beta = check_beta(beta)
        if math.isinf(self.beta):       # −∞ · a would be NaN: the log-sum-exp needs finite β
            raise ValueError("the soft minimum's stiffness beta must be finite (it is the "
                             "model's own, e.g. γ of a one-class SVM); for the hard-min "
                             "relevance use SoftMinRedistribution(beta=math.inf)")
        self.register_buffer("offset", None if offset is None else offset.detach().clone())

    def shifted(self, a):
        """a + b: the pooled units."""
        return a if self.offset is None else a + self.offset

    def forward(self, a):
        return -torch.logsumexp(-self.beta * self.shifted(a), -1, keepdim=True) / self.beta

    def pooled_(self, a):
        """smin_β(a + b) over the last axis, computed in ``a`` (which the caller owns and
        loses): the same values as :meth:`forward`, without its keepdim axis and without
        new buffers of a's size (for rules that pool many points at once)."""
        z = a if self.offset is None else a.add_(self.offset)
        z = z.mul_(-self.beta)
        top = z.amax(-1, keepdim=True)
        return z.sub_(top).exp_().sum(-1).log_().add_(top[..., 0]).div_(-self.beta)

    def extra_repr(self):
        return f"beta={self.beta:.6g}"


class DistancePool(SoftMin):
    """o(x) = smin_β(d(x) + b) over a distance layer d, with the layer's input x at hand.

    The forward is :class:`SoftMin`'s on the distances (the first input); the second input
    is the network's input x, which the forward ignores. ``geometry`` is a copy of the
    distance layer (d = geometry(x)) and ``reference`` a reference input x̄ (the data mean),
    so that a rule can evaluate the whole model o at points between x̄ and x: the default
    rule ``lrp.rules.PoolShapley`` computes Shapley values of o against x̄ that way. The
    one-class SVM and Gaussian-mixture neuralizers build it when given reference data, the
    kernel-density one with ``root="shapley"``.

    Parameters
    ----------
    beta : float
        The soft minimum's stiffness (γ for the one-class SVM and KDE, 1 for a GMM).
    offset : tensor (K,), optional
        Per-unit offsets b_k.
    reference : tensor (d,)
        The reference input x̄, in the input's coordinates.
    geometry : SquaredDistance
        A copy of the distance layer that feeds this op.
    pairs : int
        How many antithetic pairs of feature orders the default rule samples (its
        ``pairs=None``): set by the neuralizer from measurements, like ``beta`` (8 for a
        Gaussian mixture, whose few separated components make the estimate vary between
        orders; 1 for the one-class SVM and KDE, whose many overlapping units give the same
        removal curves from 1 to 32 pairs; docs/neon.md). The op's own default is 8.
    """

    kind = "distance_pool"
    arity = 2
    rule_inputs = True
    copies = ("geometry",)

    def __init__(self, beta: float, offset: torch.Tensor | None, reference: torch.Tensor,
                 geometry: SquaredDistance, pairs: int = 8):
        super().__init__(beta, offset)
        if isinstance(pairs, bool) or not isinstance(pairs, int) or \
                not 1 <= pairs <= MAX_PAIRS:
            raise ValueError(f"pairs must be an integer from 1 to {MAX_PAIRS}, got {pairs!r}")
        self.pairs = pairs
        if not isinstance(geometry, SquaredDistance):
            raise TypeError("geometry must be a neon.ops.SquaredDistance (a copy of the "
                            f"distance layer), got {type(geometry).__name__}")
        d = geometry.centers.shape[1]
        if reference is None or tuple(reference.shape) != (d,):
            got = None if reference is None else tuple(reference.shape)
            raise ValueError(f"reference must be a ({d},) input point, got {got}")
        if offset is not None and tuple(offset.shape) != (geometry.n_units,):
            raise ValueError(f"offset must be ({geometry.n_units},), one per distance unit, "
                             f"got {tuple(offset.shape)}")
        self.geometry = geometry
        self.register_buffer("reference", reference.detach().clone()
                             .to(geometry.centers.dtype))

    def forward(self, d, x=None):
        return super().forward(d)

    def extra_repr(self):
        return (f"beta={self.beta:.6g}, units={self.geometry.n_units}, pairs={self.pairs}, "
                "with reference")


class RivalMin(Pool):
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
        self.register_buffer("pairs", torch.as_tensor(pairs).long().clone())
        self.n_classes = int(n_classes)
        self.beta = check_beta(beta)

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
