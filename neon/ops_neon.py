"""Neuralization ops: squared distances, the k-means competition and min/max pools.

These are the layers of the networks that neuralization-propagation (NEON) builds from
non-neural models (Kauffmann et al., "From clustering to cluster explanations via neural
networks", IEEE TNNLS 2022; Kauffmann et al., "Towards explaining anomalies: a deep Taylor
decomposition of one-class models", Pattern Recognition 2020):

* :class:`SquaredDistance` — d_k(x) = ‖A_k (x − v_k)‖² for all units at once (one GEMM),
  with A_k the identity, a per-feature diagonal, or a (shared or per-unit) matrix;
* :class:`CompetitionMin` — the fused k-means layers f_c = min_{k≠c} (d_k − d_c);
* :class:`SoftMin` / :class:`SoftMax` — exact log-sum-exp pools with per-unit offsets;
* :class:`HardMin` / :class:`HardMax` — hard pools carrying a relevance stiffness β.

Every forward is exact; β of a hard pool only matters to the relevance rules
(:mod:`lrp.neon_rules`). Ops expose the primitives those rules need
(:meth:`SquaredDistance.split`, :meth:`SquaredDistance.pair_contributions`).
"""

from __future__ import annotations

import math

import torch

from .ops import Op

__all__ = ["SquaredDistance", "CompetitionMin", "SoftMin", "SoftMax", "HardMin", "HardMax",
           "coincidence_tolerance"]


def coincidence_tolerance(dtype: torch.dtype) -> float:
    """Relative tolerance τ = min(eps^(1/6), 5e-3) (2.5e-3 in float64, 5e-3 in float32).

    A pair with d_k ≤ τ ‖v_k‖²_w is "near": its distance and per-feature split are computed
    directly (x − v_k), not by the GEMM expansion, whose rounding error c·eps·(‖x‖² + ‖v‖²)
    (c ≈ the number of features) would swamp a small d_k: a point and its own centre give
    exactly 0 (the GEMM gives ±1e-14 in float64, ±5e-5 in float32). Unflagged pairs keep a
    relative error below about 5·c·eps/τ (~1e-11 in float64, ~1e-3 in float32): if
    ‖x‖² ≤ 4‖v‖², the error is below 5·c·eps ‖v‖² < 5·c·eps d/τ; otherwise
    d ≥ (‖x‖ − ‖v‖)² ≥ ‖x‖²/4. The cap keeps the directly computed pairs few in float32.
    """
    return min(torch.finfo(dtype).eps ** (1.0 / 6.0), 5e-3)


class SquaredDistance(Op):
    """Squared distances to K centres, all N × K at once.

    d_k(x) = ‖A_k (x − v_k)‖² = Σ_i c_ki(x),   c_ki = (x − v_k)_i [M_k (x − v_k)]_i,
    M_k = A_kᵀ A_k, with A_k one of

    * the identity (``weight=None``): d_k = ‖x − v_k‖²;
    * a diagonal (``weight`` of shape (d,) or (K, d), the a_i or a_ki):
      d_k = Σ_i a_ki² (x_i − v_ki)², c_ki = a_ki² (x_i − v_ki)²;
    * a matrix (``matrix`` of shape (p, d) shared, or (K, p, d) per unit): the quadratic form
      (x − v_k)ᵀ A_kᵀ A_k (x − v_k), split per feature by Euler's c_ki above.

    The identity and diagonal cases are one GEMM, ‖x‖²_w − 2 x·(w v_k) + ‖v_k‖²_w, on
    coordinates centred at the mean of the centres when that mean lies farther from the
    origin than the centres' spread (a shift leaves distances unchanged and shrinks the
    cancellation). Near pairs, d_k ≤ τ ‖v_k‖²_w with τ from :func:`coincidence_tolerance`
    (a sufficient form of NEON.md's d < τ (‖x‖² + ‖u‖²) that needs no N × K scale buffer),
    are recomputed directly, so a point and itself give exactly 0, never ±1e-14
    (NEON.md "Coincident points").

    Parameters
    ----------
    centers : tensor (K, d)
        The points v_k in the input's coordinates.
    weight : tensor (d,) or (K, d), optional
        Per-feature weights a (distance weights a², e.g. a folded scaler's scale).
    matrix : tensor (p, d) or (K, p, d), optional
        A shared or per-unit linear map A (e.g. a folded PCA, a Gaussian's Cholesky factor).
    References
    ----------
    Kauffmann, Müller, Montavon, "Towards explaining anomalies: a deep Taylor decomposition of
    one-class models", Pattern Recognition 101, 2020; Kauffmann et al., "From clustering to
    cluster explanations via neural networks", IEEE TNNLS 2022.
    """

    kind = "squared_distance"

    def __init__(self, centers: torch.Tensor, weight: torch.Tensor | None = None,
                 matrix: torch.Tensor | None = None):
        super().__init__()
        if centers.dim() != 2:
            raise ValueError(f"centers must be (K, d), got shape {tuple(centers.shape)}")
        if weight is not None and matrix is not None:
            raise ValueError("give per-feature weights or a matrix, not both")
        k, d = centers.shape
        origin = centers.mean(0)
        spread = (centers - origin).square().sum(1).mean()
        if origin.square().sum() <= spread:   # near the origin already: skip the shift
            origin = None
        self.register_buffer("origin", None if origin is None else origin.detach().clone())
        self.register_buffer("centers", (centers if origin is None else centers - origin)
                             .detach().clone())
        w2 = None
        if weight is not None:
            w2 = weight.detach().reshape(-1, d).square()
            if w2.shape[0] not in (1, k):
                raise ValueError(f"weight must be (d,) or (K, d) = ({k}, {d}), got "
                                 f"{tuple(weight.shape)}")
        self.register_buffer("w2", None if w2 is None else w2.clone())
        if matrix is not None and (matrix.dim() not in (2, 3) or matrix.shape[-1] != d
                                   or (matrix.dim() == 3 and matrix.shape[0] != k)):
            raise ValueError(f"matrix must be (p, {d}) or ({k}, p, {d}), got "
                             f"{tuple(matrix.shape)}")
        self.register_buffer("matrix", None if matrix is None else matrix.detach().clone())

    @property
    def n_units(self) -> int:
        return self.centers.shape[0]

    @property
    def per_unit_matrix(self) -> bool:
        return self.matrix is not None and self.matrix.dim() == 3

    def _centre(self, x):
        return x if self.origin is None else x - self.origin

    # --------------------------------------------------------------------- forward
    def _mapped(self, x):
        """x and the centres in the coordinates where the distance is Euclidean-weighted."""
        if self.matrix is not None:          # shared matrix: distances in the mapped space
            return x @ self.matrix.T, self.centers @ self.matrix.T
        return x, self.centers

    def _norms(self, x, v):
        """(‖x‖²_w as (N, 1) or (N, K), ‖v_k‖²_w as (K,)): the scale of the GEMM's error."""
        if self.w2 is None:
            return (torch.linalg.vector_norm(x, 2, 1, keepdim=True).square_(),
                    v.square().sum(1))
        return x.square() @ self.w2.T, (self.w2 * v.square()).sum(1)

    def _gemm(self, x):
        """Distances by the GEMM expansion ‖x‖² − 2 x·v + ‖v‖² (one N × K buffer); x centred."""
        x, v = self._mapped(x)
        xx, vv = self._norms(x, v)
        d = x @ (v if self.w2 is None else self.w2 * v).T
        return d.mul_(-2).add_(xx).add_(vv).clamp_(min=0)

    def _per_unit(self, x):
        """Distances for per-unit matrices: ‖A_k x − A_k v_k‖², (N, K, p) at most."""
        z = torch.einsum("nd,kpd->nkp", x, self.matrix)
        u = torch.einsum("kd,kpd->kp", self.centers, self.matrix)
        return (z - u).square().sum(2)

    def forward(self, x):
        x = self._centre(x)
        if self.per_unit_matrix:
            return self._per_unit(x)
        d = self._gemm(x)
        n, k = self.near_pairs(d)
        if n.numel():
            d[n, k] = self._direct(x, n, k).sum(1)
        return d

    # ------------------------------------------------------------------ for the rules
    def _direct(self, x, n, k):
        """Per-feature contributions c_ki for the pairs (n, k), computed directly; x centred."""
        diff = x[n] - self.centers[k]
        if self.matrix is None:
            if self.w2 is None:
                return diff.square()
            return diff.square() * (self.w2[k] if self.w2.shape[0] > 1 else self.w2)
        a = self.matrix[k] if self.per_unit_matrix else self.matrix.expand(len(n), -1, -1)
        z = torch.einsum("mpd,md->mp", a, diff)
        return diff * torch.einsum("mpd,mp->md", a, z)

    def pair_contributions(self, x, n, k):
        """c_ki(x_n) for the pairs (n, k): rows of per-feature terms summing to d_k(x_n)."""
        return self._direct(self._centre(x), n, k)

    def near_pairs(self, distances):
        """Pairs (n, k) with d_k ≤ τ ‖v_k‖²_w (:func:`coincidence_tolerance`): computed directly.

        Per-unit matrices are always computed directly, so no pair is flagged for them.
        """
        if self.per_unit_matrix:
            return torch.nonzero(distances < 0, as_tuple=True)
        v = self.centers if self.matrix is None else self.centers @ self.matrix.T
        vv = v.square().sum(1) if self.w2 is None else (self.w2 * v.square()).sum(1)
        return torch.nonzero(distances <= coincidence_tolerance(distances.dtype) * vv,
                             as_tuple=True)

    def split(self, x, t):
        """Σ_k t_nk c_ki(x_n) for all n, i without an N × K × d tensor (GEMMs).

        Diagonal: x_i² (t a²)_i − 2 x_i (t (a² v))_i + (t (a² v²))_i. Shared matrix:
        x_i (Mx)_i Σt − x_i (t Mv)_i − (Mx)_i (t v)_i + (t (v ⊙ Mv))_i. Per-unit matrices
        (Gaussian mixtures, K small): direct, N × K × d.
        """
        x = self._centre(x)
        v = self.centers
        if self.per_unit_matrix:
            z = torch.einsum("nd,kpd->nkp", x, self.matrix) - torch.einsum(
                "kd,kpd->kp", v, self.matrix)
            g = torch.einsum("nkp,kpd->nkd", z * t.unsqueeze(2), self.matrix)
            return ((x.unsqueeze(1) - v) * g).sum(1)
        if self.matrix is not None:
            m = self.matrix.T @ self.matrix
            mx, mv = x @ m, v @ m
            return (x * mx * t.sum(1, keepdim=True) - x * (t @ mv) - mx * (t @ v)
                    + t @ (v * mv))
        if self.w2 is None:   # x ⊙ (x Σt − 2 t v) + t v², in place on one GEMM output
            out = t @ (-2 * v)
            out.addcmul_(x, t.sum(1, keepdim=True)).mul_(x)
            return out.addmm_(t, v.square())
        if self.w2.shape[0] == 1:   # shared weights: Σ_k t_k a² = a² Σt
            out = t @ (-2 * self.w2 * v)
            out.addcmul_(x * self.w2, t.sum(1, keepdim=True)).mul_(x)
        else:
            out = t @ (-2 * self.w2 * v)
            out.addcmul_(x, t @ self.w2).mul_(x)
        return out.addmm_(t, self.w2 * v.square())

    def extra_repr(self):
        form = ("euclidean" if self.w2 is None and self.matrix is None
                else "weighted" if self.matrix is None else "quadratic form")
        return f"units={self.n_units}, features={self.centers.shape[1]}, {form}"


class CompetitionMin(Op):
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
        self.beta = float(beta)

    def forward(self, d):
        if d.shape[1] < 2:
            raise ValueError("the k-means competition needs at least 2 clusters")
        vals, idx = d.topk(2, dim=1, largest=False)
        out = vals[:, :1] - d
        out.scatter_(1, idx[:, :1], vals[:, 1:] - vals[:, :1])
        return out

    def extra_repr(self):
        return f"beta={self.beta:.6g}"


def _check_beta(beta):
    beta = float(beta)
    if not beta > 0 or math.isnan(beta):
        raise ValueError(f"the stiffness beta must be positive, got {beta}")
    return beta


class SoftMin(Op):
    """Exact log-sum-exp soft minimum over the last axis, with per-unit offsets.

    smin_β(a + b) = −β⁻¹ log Σ_k exp(−β (a_k + b_k)), shape (N, …, 1). It tends to
    min_k (a_k + b_k) as β → ∞. The one-class SVM's outlier score o(x) = smin_γ(d_j − γ⁻¹ log
    α_j) = −γ⁻¹ log Σ_j α_j exp(−γ d_j) (Kauffmann et al. 2020) is this pool over distances.
    """

    kind = "softmin_pool"
    sign = -1.0

    def __init__(self, beta: float, offset: torch.Tensor | None = None):
        super().__init__()
        self.beta = _check_beta(beta)
        self.register_buffer("offset", None if offset is None else offset.detach().clone())

    def shifted(self, a):
        """a + b: the pooled units."""
        return a if self.offset is None else a + self.offset

    def forward(self, a):
        s = self.sign
        return s / self.beta * torch.logsumexp(s * self.beta * self.shifted(a), -1,
                                               keepdim=True)

    def extra_repr(self):
        return f"beta={self.beta:.6g}"


class SoftMax(SoftMin):
    """Exact log-sum-exp soft maximum over the last axis: smax_β(a + b) = β⁻¹ log Σ exp(β(a + b)).

    Tends to max_k (a_k + b_k) as β → ∞ (Bley, Kauffmann et al. 2025 use it over pair units).
    """

    kind = "softmax_pool"
    sign = 1.0


class HardMin(Op):
    """Hard minimum over the last axis, min_k (a_k + b_k), carrying a relevance stiffness β.

    The forward is the exact minimum; β only parametrizes the soft-min redistribution of
    relevance (β = ∞: all relevance to the minimum).
    References
    ----------
    Kauffmann, Müller, Montavon, "Towards explaining anomalies: a deep Taylor decomposition of
    one-class models", Pattern Recognition 101, 2020; Kauffmann et al., "From clustering to
    cluster explanations via neural networks", IEEE TNNLS 2022.
    """

    kind = "hardmin_pool"
    sign = -1.0

    def __init__(self, beta: float = math.inf, offset: torch.Tensor | None = None):
        super().__init__()
        self.beta = _check_beta(beta)
        self.register_buffer("offset", None if offset is None else offset.detach().clone())

    shifted = SoftMin.shifted

    def forward(self, a):
        a = self.shifted(a)
        return a.amin(-1, keepdim=True) if self.sign < 0 else a.amax(-1, keepdim=True)

    def extra_repr(self):
        return f"beta={self.beta:.6g}"


class HardMax(HardMin):
    """Hard maximum over the last axis, max_k (a_k + b_k), with a relevance stiffness β."""

    kind = "hardmax_pool"
    sign = 1.0
