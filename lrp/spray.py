"""SpRAy: spectral relevance analysis (Lapuschkin et al., 2019).

SpRAy finds the different strategies a model uses for one class, "Clever Hans" shortcuts
included, by clustering the relevance maps of the class's samples: maps that look alike
(relevance in the same places) fall into one cluster, and a cluster that attends to a
watermark, a border or a tag stands out from the clusters that attend to the object.

The steps, each a documented choice of :class:`SpRAy`:

1. **Preprocess** every map to a small vector (:meth:`SpRAy.preprocess`): sum channels,
   optionally take |R|, pool to a common small size over sum-preserving windows, normalize
   each map (unit mass Σ|R| = 1 by default), flatten.
2. **Affinity**: the symmetric k-nearest-neighbour graph of the vectors on Euclidean
   distances, A = (C + Cᵀ)/2 with C the directed 0/1 kNN connectivity, a scipy sparse matrix
   with at most 2·N·k entries (never a dense N × N).
3. **Spectrum** of the normalized Laplacian L = I − D^{-1/2} A D^{-1/2}: its
   ``n_eigenvalues`` smallest eigenvalues 0 = λ₁ ≤ λ₂ ≤ … and eigenvectors (the spectral
   embedding), from ARPACK's Lanczos method on matrix-vector products only.
4. **Eigengap**: a large gap λ_{k+1} − λ_k suggests k clusters (von Luxburg, 2007).
5. **Clustering** of the embedding's first k eigenvectors, rows scaled to unit length
   (Ng, Jordan & Weiss, 2002), with k-means or Ward's agglomerative clustering.
6. **Inspection**: the cluster-mean maps, a t-SNE of the embedding (:meth:`SpRAy.tsne`) and
   the plots of :mod:`lrp.plot.spray`.

Scale: every step's memory is linear in N (the kNN search runs over chunks of rows whose
distance block is bounded), so 10⁵ maps of 28 × 28 fit on one small machine; see
``benchmarks/bench_spray.py``.

References
----------
S. Lapuschkin, S. Wäldchen, A. Binder, G. Montavon, W. Samek, K.-R. Müller. "Unmasking
Clever Hans predictors and assessing what machines really learn." Nature Communications 10,
1096 (2019).

A. Y. Ng, M. I. Jordan, Y. Weiss. "On spectral clustering: analysis and an algorithm."
NeurIPS 2002.

U. von Luxburg. "A tutorial on spectral clustering." Statistics and Computing 17, 395–416
(2007).
"""

from __future__ import annotations

import numbers
import time
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .datasets import DatasetExplanation, is_stored, row_blocks
from .rules.base import check_choice, check_flag, check_number

__all__ = ["SpRAy", "SpRAyWarning"]

NORMALIZE = ("mass", "max", None)
CLUSTER = ("kmeans", "agglomerative")
AUTO_PROGRESS = 10_000
"""``progress=None`` shows progress bars from this many maps on."""

_CHUNK_BYTES = 64 * 2 ** 20  # one chunk's block of kNN distances (rows × N)
_SHOWN = 5                   # indices quoted in an error message
_KMEANS_INIT = 10            # k-means restarts
_WARD_WARN = 20_000          # Ward without connectivity is quadratic in N


class SpRAyWarning(UserWarning):
    """A SpRAy result that needs the user's attention (a disconnected kNN graph, an eigengap
    that the computed spectrum cannot show, a quadratic-memory clustering)."""


# ------------------------------------------------------------------------------ validation

def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _indices(mask: np.ndarray) -> str:
    where = np.flatnonzero(mask)
    shown = ", ".join(str(int(i)) for i in where[:_SHOWN])
    more = where.size - min(where.size, _SHOWN)
    return shown + (f" and {more} more" if more else "")


def _as_tensor(relevance) -> torch.Tensor:
    """The maps as a floating tensor (on their device for a tensor; float32 and float64 are
    kept, other floats become float32, integers float64)."""
    if isinstance(relevance, torch.Tensor):
        t = relevance.detach()
    else:
        if hasattr(relevance, "to_numpy"):
            relevance = relevance.to_numpy()
        if hasattr(relevance, "toarray"):
            raise TypeError("relevance must be a dense array or tensor, got a sparse matrix; "
                            "pass relevance.toarray()")
        a = np.asarray(relevance)
        if a.dtype == object:
            try:
                a = a.astype(np.float64)
            except (TypeError, ValueError) as e:
                raise TypeError(f"relevance must be a numeric array of maps: {e}") from None
        if np.iscomplexobj(a):
            raise ValueError(f"Complex data not supported: relevance must hold real numbers, "
                             f"got dtype {a.dtype}")
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise TypeError(f"relevance must be a numeric array of maps, got dtype {a.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(a))
    if t.is_complex():
        raise ValueError(f"Complex data not supported: relevance must hold real numbers, got "
                         f"dtype {t.dtype}")
    if t.dtype == torch.bool:
        raise TypeError(f"relevance must hold real numbers, got dtype {t.dtype}; convert "
                        "masks with .astype(float) if that is meant")
    if not t.is_floating_point():
        t = t.to(torch.float64)
    elif t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float32)
    return t


def _maps(t: torch.Tensor) -> torch.Tensor:
    """Channels summed: (N, C, H, W) → (N, H, W); (N, H, W) and (N, F) as they are."""
    if t.ndim == 4:
        return t.sum(1)
    if t.ndim in (2, 3):
        return t
    raise ValueError(f"relevance must be maps of shape (N, C, H, W), (N, H, W) or vectors "
                     f"(N, F); got shape {tuple(t.shape)}"
                     + ("; one sample? add the batch axis: R[None]" if t.ndim == 1 else ""))


def _pool_shape(pool, shape: tuple) -> tuple:
    """The pooled map shape for maps of ``shape`` ((H, W) or (F,)), validated."""
    if pool is None:
        return shape
    if _is_int(pool):
        size = (int(pool),) * len(shape)
    elif isinstance(pool, (tuple, list)) and all(_is_int(p) for p in pool) and len(pool) == 2:
        if len(shape) != 2:
            raise ValueError(f"pool={tuple(pool)} is a map size (h, w), but the relevance "
                             f"holds vectors of {shape[0]} features; pool them to a length "
                             "with an integer pool")
        size = tuple(int(p) for p in pool)
    else:
        raise TypeError(f"pool must be None, a positive integer or a pair of them (h, w), got "
                        f"{pool!r}")
    if any(s < 1 for s in size):
        raise ValueError(f"pool must be positive, got {pool!r}")
    if any(s > n for s, n in zip(size, shape)):
        raise ValueError(f"pool={pool!r} is larger than the maps ({'×'.join(map(str, shape))})"
                         ": pooling only shrinks; pass a smaller size or pool=None")
    return size


def pool_matrix(n: int, m: int) -> np.ndarray:
    """The (m, n) matrix that pools a length-n axis into m sum-preserving windows.

    Window i covers [i·n/m, (i+1)·n/m) of the axis (in pixel units) and P[i, y] is the part
    of pixel [y, y+1) inside it, so each column sums to 1 and ``P @ r`` keeps Σr. When m
    divides n, P sums blocks of n/m pixels.
    """
    edges = np.arange(m + 1) * (n / m)
    y = np.arange(n)
    overlap = (np.minimum(y[None, :] + 1, edges[1:, None])
               - np.maximum(y[None, :], edges[:-1, None]))
    return np.clip(overlap, 0.0, None)


# ------------------------------------------------------------------------------ steps

def _pool(maps: torch.Tensor, size: tuple) -> torch.Tensor:
    shape = tuple(maps.shape[1:])
    if size == shape:
        return maps
    mats = [torch.as_tensor(pool_matrix(n, m), dtype=maps.dtype, device=maps.device)
            for n, m in zip(shape, size)]
    if len(shape) == 1:
        return maps @ mats[0].T
    return mats[0] @ (maps @ mats[1].T)


def _progress(enabled: bool, **kw):
    from tqdm.auto import tqdm

    return tqdm(disable=not enabled, leave=False, **kw)


def knn_indices(x: torch.Tensor, k: int, *, progress: bool = False) -> torch.Tensor:
    """The k nearest neighbours (Euclidean, the point itself excluded) of every row of ``x``.

    Rows are processed in chunks whose block of squared distances
    ‖x_j‖² − 2 x_i·x_j (the ‖x_i‖² of a row does not change its ranking) holds about
    ``_CHUNK_BYTES``, so memory is O(chunk · N), on x's device and in its dtype.

    Returns
    -------
    torch.Tensor
        (N, k) int64 on x's device, each row's neighbours nearest first.
    """
    n = x.shape[0]
    sq = (x * x).sum(1)
    rows = max(1, min(n, _CHUNK_BYTES // (n * x.element_size())))
    out = torch.empty(n, k, dtype=torch.long, device=x.device)
    with _progress(progress, total=n, desc="SpRAy kNN graph", unit="maps") as bar:
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            d = torch.addmm(sq[None, :], x[start:stop], x.T, alpha=-2.0)
            own = torch.arange(stop - start, device=x.device)
            d[own, own + start] = torch.inf
            out[start:stop] = d.topk(k, dim=1, largest=False, sorted=True).indices
            bar.update(stop - start)
    return out


def knn_affinity(x: torch.Tensor, k: int, *, progress: bool = False):
    """A = (C + Cᵀ)/2, C the directed kNN connectivity (C_ij = 1 if j is one of the k nearest
    neighbours of i): 1 for mutual neighbours, 1/2 for one-sided ones. scipy CSR, float64."""
    import scipy.sparse as sp

    n = x.shape[0]
    cols = knn_indices(x, k, progress=progress).cpu().numpy().ravel()
    rows = np.repeat(np.arange(n), k)
    c = sp.csr_matrix((np.ones(n * k), (rows, cols)), shape=(n, n))
    a = ((c + c.T) * 0.5).tocsr()
    a.sort_indices()
    return a


def _flip_signs(vectors: np.ndarray) -> np.ndarray:
    """Each column's sign chosen so that its entry of largest magnitude is positive."""
    big = np.abs(vectors).argmax(0)
    signs = np.sign(vectors[big, np.arange(vectors.shape[1])])
    signs[signs == 0] = 1.0
    return vectors * signs


def laplacian_spectrum(affinity, count: int, v0: np.ndarray, *, progress: bool = False):
    """The ``count`` smallest eigenvalues of L = I − D^{-1/2} A D^{-1/2} and their
    eigenvectors, and the graph's connected components.

    The eigenvalues of L are 1 − μ for the eigenvalues μ of S = D^{-1/2} A D^{-1/2}, so the
    smallest of L are the largest of S (ARPACK ``which="LA"``, matrix-vector products only).
    Eigenvalue 0 has one eigenvector per connected component c, u_c ∝ D^{1/2} 1_c; these are
    set exactly (largest components first) and deflated, S − 2 Σ_c u_c u_cᵀ, so Lanczos
    looks for the others only and a multiple eigenvalue 0 is never missed. Small problems
    (N ≤ 2·count + 1, or fewer than 21 nodes) use a dense symmetric eigensolver.

    Returns
    -------
    eigenvalues : ndarray (count,)
        Ascending.
    vectors : ndarray (N, count)
        Orthonormal eigenvectors, each column's largest-magnitude entry positive.
    components : ndarray (N,) of int
        The component of each node.
    n_components : int
    """
    import scipy.linalg
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

    n = affinity.shape[0]
    degree = np.asarray(affinity.sum(1)).ravel()
    root = np.sqrt(degree)
    s = sp.diags(1.0 / root) @ affinity @ sp.diags(1.0 / root)
    s = s.tocsr()
    n_comp, comp = connected_components(affinity, directed=False)
    comp_mass = np.bincount(comp, weights=degree, minlength=n_comp)
    u = root / np.sqrt(comp_mass[comp])          # Σ_c u_c, each u_c of unit norm on c

    def project(v):
        """Σ_c u_c u_cᵀ v."""
        return u * np.bincount(comp, weights=u * v, minlength=n_comp)[comp]

    order = np.argsort(-np.bincount(comp, minlength=n_comp), kind="stable")
    null = min(n_comp, count)
    values = [np.zeros(null)]
    vectors = np.zeros((n, count))
    for j, c in enumerate(order[:null]):
        vectors[:, j] = np.where(comp == c, u, 0.0)
    rest = count - null
    if rest:
        ncv = min(n, max(2 * rest + 1, 20))
        if ncv >= n:
            basis = np.zeros((n, n_comp))
            basis[np.arange(n), comp] = u
            dense = s.toarray() - 2.0 * basis @ basis.T
            mu, w = scipy.linalg.eigh(dense, subset_by_index=[n - rest, n - 1])
        else:
            with _progress(progress, desc="SpRAy eigsh", unit="matvec") as bar:
                def matvec(v):
                    bar.update(1)
                    v = np.asarray(v).ravel()
                    return s @ v - 2.0 * project(v)

                op = LinearOperator((n, n), matvec=matvec, dtype=np.float64)
                start = v0 - project(v0)
                try:
                    mu, w = eigsh(op, k=rest, which="LA", v0=start, ncv=ncv)
                except ArpackNoConvergence as e:
                    raise RuntimeError(
                        f"ARPACK found only {len(e.eigenvalues)} of the {rest} eigenvalues "
                        "it was asked for; ask for fewer (n_eigenvalues) or give more "
                        "neighbours (n_neighbors) for a better-conditioned graph") from None
        keep = np.argsort(-mu, kind="stable")
        values.append(1.0 - mu[keep])
        vectors[:, null:] = w[:, keep]
    return (np.concatenate(values), _flip_signs(vectors), comp, n_comp)


def eigengap(eigenvalues) -> int:
    """The number of clusters k the spectrum suggests: argmax over k = 1 … K − 1 of
    λ_{k+1} − λ_k (ascending eigenvalues, 1-based k; the first of equal gaps).

    k = 1 means the largest gap follows λ₁ = 0: λ₂ exceeds every later gap, the graph is
    well connected and the spectrum shows no cluster structure.
    """
    gaps = np.diff(np.asarray(eigenvalues, dtype=float))
    return int(np.argmax(gaps)) + 1


# ------------------------------------------------------------------------------ estimator

class SpRAy(ClusterMixin, BaseEstimator):
    r"""Spectral relevance analysis: cluster relevance maps by their spectral embedding.

    Parameters
    ----------
    n_clusters : int or None
        Clusters to form, 1 ≤ n_clusters ≤ n_eigenvalues. ``None`` (default): the number the
        eigengap suggests (:attr:`eigengap_`).
    n_neighbors : int
        k of the kNN graph, 1 ≤ k < N (default 10, as in the paper).
    n_eigenvalues : int
        Eigenvalues (and eigenvectors) of the Laplacian to compute, 2 ≤ K < N (default 32);
        the eigengap is looked for among them.
    pool : None, int or (h, w)
        Pool each map to this size over **sum-preserving windows** before comparing maps:
        output cell i of an axis of length n pooled to m covers [i·n/m, (i+1)·n/m) and holds
        the relevance of the pixels inside it, a pixel cut by a window border being split in
        proportion to its overlap (:func:`pool_matrix`), so the pooled map has the same sum.
        When m divides n this is the sum over blocks of n/m pixels, i.e. adaptive average
        pooling times the block area (the factor is removed by ``normalize``). An int pools
        both axes of (H, W) maps to that size, or vectors (N, F) to that length; ``None``
        (default) keeps the maps as they are. Pooling only shrinks.
    normalize : {"mass", "max", None}
        Per-map scale after pooling: ``"mass"`` (default) divides each map by Σ|R| (unit
        mass, so maps are compared by where relevance lies, not by how much there is);
        ``"max"`` by max |R|; ``None`` keeps the scale. Maps whose divisor is 0 (all zero)
        are refused with their indices.
    absolute : bool
        Take |R| before pooling (default False: positive and negative evidence differ).
    cluster : {"kmeans", "agglomerative"}
        k-means (``n_init=10``, seeded from ``random_state``) or Ward's agglomerative
        clustering on the row-normalized embedding. Ward here needs O(N²) memory (scipy's
        linkage on pairwise distances); it warns from 20,000 maps on.
    random_state : None, int or numpy RandomState
        Seeds ARPACK's starting vector and k-means, so an int gives reproducible results.
    progress : None or bool
        tqdm progress bars on the kNN search and on ARPACK (counting matrix-vector
        products, whose total is not known in advance). ``None`` (default): shown from
        10,000 maps on.

    Attributes
    ----------
    affinity_ : scipy.sparse.csr_matrix (N, N)
        A = (C + Cᵀ)/2, with C_ij = 1 if map j is one of the ``n_neighbors`` nearest
        (Euclidean) neighbours of map i (i itself excluded): 1 for mutual neighbours, 1/2
        for one-sided ones, as CoRelAy (the authors' implementation) symmetrizes.
    eigenvalues_ : ndarray (n_eigenvalues,)
        The smallest eigenvalues of L = I − D^{-1/2} A D^{-1/2}, D = diag(A 1), ascending;
        exactly 0 once per connected component of the graph.
    embedding_ : ndarray (N, n_eigenvalues)
        The orthonormal eigenvectors, column j for ``eigenvalues_[j]``, each column's
        largest-magnitude entry positive. For eigenvalue 0 of a disconnected graph they are
        the component indicators D^{1/2} 1_c / ‖D^{1/2} 1_c‖, largest component first.
    eigengaps_ : ndarray (n_eigenvalues − 1,)
        λ_{k+1} − λ_k.
    eigengap_ : int
        The suggested number of clusters, argmax_k (λ_{k+1} − λ_k) over k = 1 … K − 1
        (von Luxburg, 2007). 1 means the largest gap follows λ₁ = 0: no cluster structure
        shows. If the graph has at least ``n_eigenvalues`` components, every computed
        eigenvalue is 0, no gap shows and it is ``n_eigenvalues`` (with a warning).
    n_clusters_ : int
        The number of clusters formed (``n_clusters``, or ``eigengap_``).
    labels_ : ndarray (N,) of int
        Cluster of each map, numbered by decreasing size (0 is the largest cluster; equal
        sizes by first member). The features clustered are the rows of
        ``embedding_[:, :n_clusters_]`` scaled to unit length (Ng, Jordan & Weiss, 2002).
    cluster_sizes_ : ndarray (n_clusters_,) of int
    cluster_means_ : ndarray (n_clusters_, \*map_shape_)
        The mean preprocessed (pooled, normalized) map of each cluster.
    cluster_relevance_ : ndarray (n_clusters_, \*sample_shape_)
        The mean of the relevance as given (before any preprocessing) over each cluster.
    n_components_ : int
        Connected components of the kNN graph (more than 1 warns).
    map_shape_ : tuple
        Shape of one preprocessed map, e.g. the pooled (h, w).
    sample_shape_ : tuple
        Shape of one sample of the relevance as given.
    n_features_in_ : int
        Values per sample as given.
    timings_ : dict
        Seconds spent in ``"preprocess"``, ``"knn"``, ``"eigsh"`` and ``"cluster"``.
    tsne_ : ndarray (N, 2)
        Set by :meth:`tsne`.

    Notes
    -----
    Input layout: a 4-d array is (N, C, H, W) and its channels are summed; a 3-d array is N
    single-channel maps (N, H, W) (sum the channels of (N, C, L) sequences yourself); a 2-d
    array is N vectors (N, F). numpy arrays, torch tensors (on any device: the
    preprocessing and the kNN search run there) and array-likes are accepted; float32 and
    float64 keep their precision (other types become float32 / float64), the graph and the
    spectrum are float64. The kNN search ranks ‖x_j‖² − 2 x_i·x_j, exact up to the input's
    rounding, so near-ties between neighbours may break differently in float32 than in a
    float64 reference.

    Memory: O(N · (D + k + K)) for D values per preprocessed map, plus one chunk of the
    distance block (about 64 MiB); the dense eigensolver is used only when N ≤ 2K + 1.

    Examples
    --------
    >>> spray = SpRAy(n_neighbors=10, pool=14, random_state=0).fit(relevance)  # doctest: +SKIP
    >>> spray.eigengap_, spray.labels_                                         # doctest: +SKIP
    """

    def __init__(self, n_clusters=None, n_neighbors=10, n_eigenvalues=32, pool=None,
                 normalize="mass", absolute=False, cluster="kmeans", random_state=None,
                 progress=None):
        self.n_clusters = n_clusters
        self.n_neighbors = n_neighbors
        self.n_eigenvalues = n_eigenvalues
        self.pool = pool
        self.normalize = normalize
        self.absolute = absolute
        self.cluster = cluster
        self.random_state = random_state
        self.progress = progress

    # ---------------------------------------------------------------- validation
    def _check_params(self) -> None:
        """The parameters that do not depend on the data."""
        check_number(self.n_neighbors, "n_neighbors", minimum=1, integer=True)
        check_number(self.n_eigenvalues, "n_eigenvalues", minimum=2, integer=True)
        if self.n_clusters is not None:
            check_number(self.n_clusters, "n_clusters", minimum=1, integer=True)
            if self.n_clusters > self.n_eigenvalues:
                raise ValueError(f"n_clusters={self.n_clusters} exceeds "
                                 f"n_eigenvalues={self.n_eigenvalues}: the clustering uses the "
                                 "first n_clusters eigenvectors; raise n_eigenvalues")
        check_choice(self.normalize, "normalize", NORMALIZE)
        check_flag(self.absolute, "absolute")
        check_choice(self.cluster, "cluster", CLUSTER)
        if self.progress is not None:
            check_flag(self.progress, "progress")
        try:
            check_random_state(self.random_state)
        except ValueError:
            raise ValueError(f"random_state must be None, an integer or a numpy RandomState, "
                             f"got {self.random_state!r}") from None

    def _check_sizes(self, n: int) -> None:
        """The parameters bounded by the number of maps."""
        if n < 3:
            raise ValueError(f"SpRAy needs at least 3 maps (a graph with a spectral gap), got "
                             f"{n} sample{'s' if n != 1 else ''}")
        if self.n_neighbors >= n:
            raise ValueError(f"n_neighbors must be smaller than the number of maps: got "
                             f"n_neighbors={self.n_neighbors} for {n} maps")
        if self.n_eigenvalues >= n:
            raise ValueError(f"n_eigenvalues must be smaller than the number of maps: got "
                             f"n_eigenvalues={self.n_eigenvalues} for {n} maps; pass at most "
                             f"{n - 1}")

    # ---------------------------------------------------------------- preprocessing
    def _prepared(self, relevance):
        """(raw tensor, preprocessed (N, D) tensor, map shape)."""
        raw = _as_tensor(relevance)
        maps = _maps(raw)
        if maps.shape[0] == 0:
            raise ValueError("relevance holds no maps (empty batch)")
        if maps[0].numel() == 0:
            raise ValueError(f"Found array with 0 feature(s) (shape={tuple(raw.shape)}) while a "
                             "minimum of 1 is required: relevance maps must not be empty")
        bad = ~torch.isfinite(maps.reshape(maps.shape[0], -1)).all(1)
        if bad.any():
            bad = bad.cpu().numpy()
            raise ValueError(f"relevance has non-finite values (NaN or inf) in "
                             f"{int(bad.sum())} maps, at indices {_indices(bad)}; fix or drop "
                             "them")
        size = _pool_shape(self.pool, tuple(maps.shape[1:]))
        check_choice(self.normalize, "normalize", NORMALIZE)
        check_flag(self.absolute, "absolute")
        if self.absolute:
            maps = maps.abs()
        x = _pool(maps, size).reshape(maps.shape[0], -1)
        if self.normalize is not None:
            scale = x.abs().sum(1) if self.normalize == "mass" else x.abs().amax(1)
            zero = scale == 0
            if zero.any():
                zero = zero.cpu().numpy()
                what = "Σ|R|" if self.normalize == "mass" else "max |R|"
                pooled = " after pooling" if size != tuple(maps.shape[1:]) else ""
                raise ValueError(
                    f"{int(zero.sum())} maps are all zero{pooled} ({what} = 0) and cannot be "
                    f"normalized with normalize={self.normalize!r}: indices {_indices(zero)}; "
                    "drop them, or pass normalize=None")
            x = x / scale[:, None]
        return raw, x, size

    def _prepared_in_chunks(self, relevance):
        """(preprocessed (N, D) tensor, map shape) of stored relevance, read chunk by chunk;
        only the small preprocessed vectors are kept."""
        parts, size = [], None
        for start, stop, block in row_blocks(relevance):
            try:
                _, x, size = self._prepared(block)
            except ValueError as err:
                raise ValueError(f"rows {start}–{stop - 1} of the stored relevance: {err} "
                                 "(indices within those rows)") from None
            parts.append(x)
        return torch.cat(parts), size

    def preprocess(self, relevance) -> np.ndarray:
        """The maps as SpRAy compares them: channels summed, |R| if ``absolute``, pooled,
        normalized, flattened. Needs no fit.

        Parameters
        ----------
        relevance : array or tensor
            (N, C, H, W), (N, H, W) or (N, F), see the class notes.

        Returns
        -------
        ndarray (N, D)
            In the input's floating precision.
        """
        return self._prepared(relevance)[1].cpu().numpy()

    # ---------------------------------------------------------------- fit
    def fit(self, relevance, y=None):
        """Cluster the relevance maps.

        Parameters
        ----------
        relevance : array, tensor, zarr array, dask array or DatasetExplanation
            (N, C, H, W), (N, H, W) or (N, F): the maps of one class's samples. Stored
            relevance (:func:`lrp.explain_dataset`, :func:`lrp.dask.explain`) is read and
            preprocessed chunk by chunk, so only the pooled vectors are held in memory.
        y : ignored

        Returns
        -------
        self
        """
        timings = {}
        self._check_params()
        t0 = time.perf_counter()
        if is_stored(relevance):         # a store or a dask array: preprocessed chunk by chunk
            raw, x, size = None, *self._prepared_in_chunks(relevance)
            sample_shape = tuple(_stored_shape(relevance)[1:])
        else:
            raw, x, size = self._prepared(relevance)
            sample_shape = tuple(raw.shape[1:])
        n = x.shape[0]
        self._check_sizes(n)
        progress = n >= AUTO_PROGRESS if self.progress is None else self.progress
        rng = check_random_state(self.random_state)
        timings["preprocess"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        affinity = knn_affinity(x, self.n_neighbors, progress=progress)
        timings["knn"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        v0 = rng.uniform(-1.0, 1.0, n)
        values, vectors, comp, n_comp = laplacian_spectrum(affinity, self.n_eigenvalues, v0,
                                                           progress=progress)
        timings["eigsh"] = time.perf_counter() - t0
        if n_comp > 1:
            sizes = np.sort(np.bincount(comp))[::-1]
            shown = ", ".join(map(str, sizes[:8])) + (", …" if n_comp > 8 else "")
            warnings.warn(f"the kNN graph has {n_comp} connected components (sizes {shown}): "
                          f"eigenvalue 0 has multiplicity {min(n_comp, self.n_eigenvalues)} "
                          "and each component is a cluster of its own; a larger "
                          "n_neighbors connects them", SpRAyWarning, stacklevel=2)
        if n_comp >= self.n_eigenvalues:
            gap = self.n_eigenvalues
            warnings.warn(f"all {self.n_eigenvalues} computed eigenvalues are 0 ({n_comp} "
                          "components): no eigengap shows; raise n_eigenvalues above the "
                          "number of components", SpRAyWarning, stacklevel=2)
        else:
            gap = eigengap(values)
        k = gap if self.n_clusters is None else int(self.n_clusters)

        t0 = time.perf_counter()
        labels = self._cluster(vectors[:, :k], k, rng)
        timings["cluster"] = time.perf_counter() - t0

        self.affinity_ = affinity
        self.eigenvalues_ = values
        self.embedding_ = vectors
        self.eigengaps_ = np.diff(values)
        self.eigengap_ = gap
        self.n_clusters_ = k
        self.n_components_ = n_comp
        self.labels_ = labels
        self.cluster_sizes_ = np.bincount(labels, minlength=k)
        self.map_shape_ = tuple(size)
        self.sample_shape_ = sample_shape
        self.n_features_in_ = int(np.prod(self.sample_shape_))
        self.cluster_means_ = _means(x, labels, k).reshape(k, *size)
        self.cluster_relevance_ = _means(raw, labels, k) if raw is not None else \
            _stored_means(relevance, labels, k)
        self.timings_ = timings
        return self

    def _cluster(self, features: np.ndarray, k: int, rng) -> np.ndarray:
        """Labels of the rows of ``features`` scaled to unit length, numbered by size."""
        norms = np.linalg.norm(features, axis=1, keepdims=True)
        features = features / np.where(norms > 0, norms, 1.0)
        n = features.shape[0]
        if k == 1:
            labels = np.zeros(n, dtype=np.int64)
        elif self.cluster == "kmeans":
            from sklearn.cluster import KMeans

            labels = KMeans(k, n_init=_KMEANS_INIT, random_state=rng).fit(features).labels_
        else:
            from sklearn.cluster import AgglomerativeClustering

            if n >= _WARD_WARN:
                warnings.warn(f"cluster='agglomerative' on {n} maps needs O(N²) memory "
                              f"(about {n * n * 4 / 2 ** 30:.0f} GiB); cluster='kmeans' needs "
                              "O(N)", SpRAyWarning, stacklevel=3)
            labels = AgglomerativeClustering(k, linkage="ward").fit(features).labels_
        return _by_size(np.asarray(labels, dtype=np.int64), k)

    # ---------------------------------------------------------------- inspection
    def tsne(self, perplexity=30.0, random_state=None, **kwargs) -> np.ndarray:
        """A 2-d t-SNE of the spectral embedding (all ``n_eigenvalues`` columns of
        :attr:`embedding_`), stored in :attr:`tsne_`.

        Parameters
        ----------
        perplexity : float
            t-SNE's perplexity, > 0 and < N (default 30).
        random_state : None, int or RandomState
            t-SNE's seed; ``None`` uses the estimator's ``random_state``.
        **kwargs
            Passed to :class:`sklearn.manifold.TSNE` (``init`` defaults to ``"pca"``).

        Returns
        -------
        ndarray (N, 2)

        Notes
        -----
        scikit-learn's Barnes-Hut t-SNE takes minutes for 10⁵ points.

        References
        ----------
        L. van der Maaten, G. Hinton. "Visualizing data using t-SNE." JMLR 9 (2008).
        """
        from sklearn.manifold import TSNE

        check_is_fitted(self, "embedding_")
        if "n_components" in kwargs:
            raise TypeError("tsne embeds in 2 dimensions; n_components cannot be changed")
        n = self.embedding_.shape[0]
        perplexity = check_number(perplexity, "perplexity", strict=True)
        if perplexity >= n:
            raise ValueError(f"perplexity must be smaller than the number of maps: got "
                             f"perplexity={perplexity:g} for {n} maps")
        seed = self.random_state if random_state is None else random_state
        kwargs.setdefault("init", "pca")
        self.tsne_ = TSNE(2, perplexity=perplexity, random_state=seed,
                          **kwargs).fit_transform(self.embedding_)
        return self.tsne_

    def members(self, cluster: int, count: int | None = None) -> np.ndarray:
        """Indices of the members of ``cluster``, most typical first: by distance to the
        cluster's mean in the clustered features (rows of ``embedding_[:, :n_clusters_]``
        scaled to unit length).

        Parameters
        ----------
        cluster : int
            0 ≤ cluster < n_clusters_.
        count : int, optional
            At most this many (default all).

        Returns
        -------
        ndarray of int
        """
        check_is_fitted(self, "labels_")
        check_number(cluster, "cluster", integer=True)
        if cluster >= self.n_clusters_:
            raise ValueError(f"cluster must be < n_clusters_ = {self.n_clusters_}, got "
                             f"{cluster}")
        if count is not None:
            check_number(count, "count", integer=True)
        index = np.flatnonzero(self.labels_ == cluster)
        f = self.embedding_[index, :self.n_clusters_]
        norms = np.linalg.norm(f, axis=1, keepdims=True)
        f = f / np.where(norms > 0, norms, 1.0)
        order = np.argsort(np.linalg.norm(f - f.mean(0), axis=1), kind="stable")
        return index[order][:count]


def _by_size(labels: np.ndarray, k: int) -> np.ndarray:
    """Relabel so that cluster 0 is the largest; equal sizes by first member."""
    sizes = np.bincount(labels, minlength=k)
    first = np.full(k, labels.size)
    np.minimum.at(first, labels, np.arange(labels.size))
    order = np.lexsort((first, -sizes))
    new = np.empty(k, dtype=np.int64)
    new[order] = np.arange(k)
    return new[labels]


def _stored_shape(relevance) -> tuple:
    return tuple((relevance.relevance if isinstance(relevance, DatasetExplanation)
                  else relevance).shape)


def _stored_means(relevance, labels: np.ndarray, k: int) -> np.ndarray:
    """Mean of the stored rows per label, in float64, chunk by chunk."""
    sums, counts = None, np.bincount(labels, minlength=k).astype(np.float64)
    for start, stop, block in row_blocks(relevance):
        block = block.astype(np.float64)
        if sums is None:
            sums = np.zeros((k, *block.shape[1:]))
        np.add.at(sums, labels[start:stop], block)
    return sums / counts.reshape(-1, *([1] * (sums.ndim - 1)))


def _means(t: torch.Tensor, labels: np.ndarray, k: int) -> np.ndarray:
    """Mean of the rows of ``t`` per label, summed in float64 over chunks of rows."""
    n = t.shape[0]
    index = torch.as_tensor(labels, device=t.device)
    sums = torch.zeros(k, *t.shape[1:], dtype=torch.float64, device=t.device)
    rows = max(1, _CHUNK_BYTES // max(1, t[0].numel() * 8))
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        sums.index_add_(0, index[start:stop], t[start:stop].to(torch.float64))
    counts = torch.bincount(index, minlength=k).to(torch.float64)
    return (sums / counts.reshape(-1, *([1] * (t.ndim - 1)))).cpu().numpy()
