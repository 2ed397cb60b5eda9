"""Distance ops: squared distances from every sample to K centres, all N × K at once.

The first layer of every network that neuralization-propagation (NEON) builds from a distance
model: k-means, one-class SVM, kernel density, Gaussian mixtures and kernel SVMs all start
with one :class:`SquaredDistance` op (Kauffmann et al., "From clustering to cluster
explanations via neural networks", IEEE TNNLS 2022; Kauffmann et al., "Towards explaining
anomalies: a deep Taylor decomposition of one-class models", Pattern Recognition 2020; Bley,
Kauffmann et al., arXiv:2508.03913, 2025). One op, one coincidence tolerance
(:func:`coincidence_tolerance`) and one preimage policy for centres under preprocessing (see
:class:`SquaredDistance`); its rule is ``lrp.rules.DistanceSplit``.
"""

from __future__ import annotations

import torch

from .base import Op

__all__ = ["Distance", "SquaredDistance", "coincidence_tolerance"]


class Distance(Op):
    """Category: distance layers, (N, d) → (N, K), each output a sum of per-feature terms."""

    kind = "distance"


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


def _prefix_sums(steps, start, order):
    """start + the running sums of ``steps`` (N, d, …) taken in each order (P, d), the start
    itself first: (N, P, d + 1, …). One gather, then in place."""
    padded = torch.cat([torch.zeros_like(steps[:, :1]), steps], 1)      # a zero step first
    index = torch.cat([torch.zeros_like(order[:, :1]), order + 1], 1)   # (P, d + 1)
    out = padded.index_select(1, index.flatten()).unflatten(1, index.shape)
    return out.cumsum_(2).add_(start)


class SquaredDistance(Distance):
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
    (a sufficient form of d < τ (‖x‖² + ‖u‖²) that needs no N × K scale buffer), are
    recomputed directly, so a point and itself give exactly 0, never ±1e-14
    (docs/neon.md, "Coincident points").

    Centres under preprocessing
    ---------------------------
    An estimator behind affine preprocessing x' = A x + c measures ‖B (x' − u_k)‖² to centres
    u_k in its own space. On raw features this is ‖B A (x − v_k)‖² for any preimage v_k
    (A v_k + c = u_k), and the distance does not depend on which one. Its per-feature split
    c_ki = (x − v_k)_i [M (x − v_k)]_i does when A has a null space (PCA keeps fewer components
    than features): moving v_k by n with A n = 0 changes c_ki by −n_i [M (x − v_k)]_i. Every
    neuralizer takes the preimage that the preprocessing's own inverse gives,
    v_k = ``AffinePreprocessing.preimage(u_k)`` (for PCA, ``inverse_transform``: the point of
    the fibre nearest to the PCA mean). That choice is the centre a user sees when mapping it
    back to raw features; it moves with the data when the raw coordinates are shifted (the
    least-norm preimage does not: it is pulled toward an arbitrary origin); and the unseen
    coordinates of the centre are those of the typical sample, so feature i is credited only
    for how x differs from the data along directions the model measures. The op receives the
    preimages already computed (:func:`neon.sklearn.builders.fold_distance`).

    Parameters
    ----------
    centers : tensor (K, d)
        The points v_k in the input's coordinates.
    weight : tensor (d,) or (K, d), optional
        Per-feature weights a (distance weights a², e.g. a folded scaler's scale).
    matrix : tensor (p, d) or (K, p, d), optional
        A shared or per-unit linear map A (e.g. a folded PCA, a Gaussian's Cholesky factor).
    reference : tensor (d,), optional
        A reference input x̄ (the data mean) for the rule: relevance is then split relative
        to it, c_ki(x) − c_ki(x̄) + d_k(x̄)/d per feature (``lrp.rules.DistanceSplit``). The
        forward does not use it.
    References
    ----------
    Kauffmann, Müller, Montavon, "Towards explaining anomalies: a deep Taylor decomposition of
    one-class models", Pattern Recognition 101, 2020; Kauffmann et al., "From clustering to
    cluster explanations via neural networks", IEEE TNNLS 2022.
    """

    kind = "squared_distance"

    def __init__(self, centers: torch.Tensor, weight: torch.Tensor | None = None,
                 matrix: torch.Tensor | None = None, reference: torch.Tensor | None = None):
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
        if reference is not None and tuple(reference.shape) != (d,):
            raise ValueError(f"reference must be ({d},), got {tuple(reference.shape)}")
        self.register_buffer("reference", None if reference is None
                             else reference.detach().clone().to(centers.dtype))

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
            return x.square().sum(1, keepdim=True), v.square().sum(1)
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

    def coincident(self, x, n, k, distances):
        """Mask of the pairs (n, k) whose direct distance is rounding noise: x_n is v_k.

        A centre mapped back to raw features (v_k = preimage of u_k) carries a relative
        rounding error of a few eps per coordinate, so a sample that *is* the centre lies at
        d ≈ eps² ‖v‖², not 0, and the directions of that noise are no explanation. Pairs with
        d ≤ (64 eps)² (‖x_n‖²_w + ‖v_k‖²_w), in the op's stored coordinates and from the
        origin, are coincident: their relevance is absorbed (docs/neon.md, "Coincident
        points").
        """
        eps = torch.finfo(distances.dtype).eps
        raw = x[n]
        v = self.centers[k] if self.origin is None else self.centers[k] + self.origin
        if self.matrix is not None:
            a = self.matrix[k] if self.per_unit_matrix else self.matrix.expand(len(n), -1, -1)
            scale = (torch.einsum("mpd,md->mp", a, raw).square().sum(1)
                     + torch.einsum("mpd,md->mp", a, v).square().sum(1))
        else:
            w2 = 1.0 if self.w2 is None else (self.w2[k] if self.w2.shape[0] > 1 else self.w2)
            scale = (w2 * raw.square()).sum(1) + (w2 * v.square()).sum(1)
        return distances <= (64 * eps) ** 2 * scale

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

    def prefix_distances(self, x, reference, order):
        """d_k on the way from a reference to x, switching features over one at a time.

        For every order π_p of the features (row p of ``order``, a permutation of 0..d−1)
        the points y_pr = x̄ + s_pr ⊙ (x − x̄), r = 0..d, where s_pr marks the first r
        features of π_p: y_p0 = x̄ (the reference), y_pd = x. These are the coalitions a
        permutation estimate of Shapley values visits (``lrp.rules.PoolShapley``).

        No point is mapped from scratch. Weighted Euclidean distances are sums of per-feature
        terms, so d_k(y_pr) = d_k(x̄) + Σ_{j<r} Δ_k,π_j with the exact per-feature change
        Δ_ki = a_ki² (x_i − x̄_i)(x_i + x̄_i − 2 v_ki) (O(N·P·d·K)). For a quadratic form the
        mapped point A_k(y − v_k) moves by the column (x_i − x̄_i) A_k[:, i] at each step: a
        cumulative sum for one shared map (O(N·P·d·p)), and for per-unit maps one GEMM of the
        0/1 prefix masks (P(d + 1) × d) with all the columns (O(N·P·d²·K·p), faster than
        the running sums at the sizes of a Gaussian mixture).

        Parameters
        ----------
        x : tensor (N, d)
        reference : tensor (d,)
            The reference point x̄ (the data mean), in input coordinates.
        order : tensor (P, d) of int64
            P orders of the features.

        Returns
        -------
        tensor (N, P, d + 1, K)
            Entry [n, p, r, k] is d_k(y_pr) for sample n, clamped at 0.
        """
        x = self._centre(x)
        ref = self._centre(reference.to(x.dtype))[None]
        step = x - ref                                                   # (N, d)
        if self.matrix is None:
            # Δ_ki = a_ki² (x_i − x̄_i)(x_i + x̄_i − 2 v_ki), laid out (N, d, K)
            v = self.centers.T                                           # (d, K)
            change = (x + ref).unsqueeze(2).sub(v, alpha=2).mul_(step.unsqueeze(2))
            base = (ref.T - v).square_()
            if self.w2 is not None:
                change.mul_(self.w2.T)
                base.mul_(self.w2.T)
            return _prefix_sums(change, base.sum(0), order).clamp_(min=0)
        if not self.per_unit_matrix:         # one map A: mapped points, then a GEMM
            a = self.matrix
            columns = step[:, :, None] * a.T                             # (N, d, p)
            z = _prefix_sums(columns, (ref @ a.T)[0], order)              # (N, P, d+1, p)
            u = self.centers @ a.T                                       # (K, p)
            out = (z @ (-2 * u.T)).add_(z.square().sum(-1, keepdim=True)).add_(
                u.square().sum(1))
            return out.clamp_(min=0)
        # per-unit maps (a Gaussian mixture: K small, p = d): one GEMM of the 0/1 prefix
        # masks with the columns, laid out (P, d + 1, K, N) so the pool reduces K over
        # contiguous rows of N; 1.5× the running sums' speed here
        a = self.matrix                                                  # (K, p, d)
        n, (k, p, dim) = x.shape[0], a.shape
        taken = order.argsort(1)[:, None, :] < torch.arange(dim + 1, device=x.device)[:, None]
        columns = a.permute(2, 0, 1)[:, :, None, :] * step.T[:, None, :, None]  # (d, K, N, p)
        z = (taken.to(x.dtype).flatten(0, 1) @ columns.reshape(dim, -1))      # (P(d+1), K·N·p)
        z = z.view(-1, k, n, p).add_(torch.einsum("kpd,kd->kp", a, ref - self.centers)[:, None])
        out = z.square_() @ z.new_ones(p)                                # (P(d+1), K, N)
        return out.view(order.shape[0], dim + 1, k, n).permute(3, 0, 1, 2)

    def extra_repr(self):
        form = ("euclidean" if self.w2 is None and self.matrix is None
                else "weighted" if self.matrix is None else "quadratic form")
        return f"units={self.n_units}, features={self.centers.shape[1]}, {form}"
