"""Neuralizers for KernelDensity (gaussian kernel) and GaussianMixture.

Both are soft-min pools over distance units (Kauffmann et al., Pattern Recognition 2020;
docs/neon.md "Kernel density and Gaussian mixtures"):

* KernelDensity: the one-class network over the training points with α_j = w_j / Σw and
  γ = 1/(2h²): o(x) = smin_γ(‖x − x_j‖² − γ⁻¹ log α_j) and
  −``score_samples``(x) = γ·o(x) + (D/2) log(2πh²) (the constant: ``meta["bias"]``).
* GaussianMixture: −log p(x) = smin_1(h_k), h_k = ½‖L_kᵀ(x − μ_k)‖² − Σ log diag L_k
  + (D/2) log 2π − log π_k, L_k from ``precisions_cholesky_`` per covariance type;
  ``predict`` = argmin_k h_k.
"""

from __future__ import annotations

import numpy as np

from ..graph import Graph
from .builders import (
    declare_estimator,
    distance_pool_graph,
    input_width,
    pool_reference,
    resolve_pool_root,
)
from .registry import Expected, UnsupportedEstimatorError, register_neuralizer
from .validation import check_data, check_fitted

__all__ = ["neuralize_kernel_density", "neuralize_gaussian_mixture", "gmm_units"]


def kernel_density_reference(estimator, X) -> Expected:
    """o(x) = (−score_samples(x) − (D/2) log 2πh²) / γ with γ = 1/(2h²)."""
    h = float(estimator.bandwidth_)
    bias = 0.5 * X.shape[1] * np.log(2 * np.pi * h * h)
    o = (-estimator.score_samples(X) - bias) * (2 * h * h)
    return Expected(o[:, None], rtol=1e-7, what="score_samples(X)")


def gaussian_mixture_reference(estimator, X) -> Expected:
    """−log p(x) = −score_samples(x)."""
    return Expected(-estimator.score_samples(X)[:, None], rtol=1e-8, what="score_samples(X)")


@register_neuralizer("KernelDensity", reference=kernel_density_reference)
def neuralize_kernel_density(estimator, data=None, *, preprocessing=None,
                             root: str | None = None) -> Graph:
    """A :class:`neon.Graph` of a gaussian KernelDensity: o(x) with −log p = γ o + bias.

    Parameters
    ----------
    estimator : KernelDensity, fitted, kernel='gaussian', euclidean metric
    data : array (n, d), optional
        Reference data in raw-feature space (the training data). Its mean is the reference
        point of ``root="shapley"``.
    preprocessing : AffinePreprocessing, optional
        Folded into the distances (the density relation then holds in the estimator's space).
    root : {None, "shapley", "split"}
        How the output is explained (:func:`~neon.sklearn.builders.resolve_pool_root`).
        ``"split"`` (the default, with or without data): the published soft-min and
        distance-split rules. ``"shapley"`` (needs ``data``): the pool becomes a
        :class:`~neon.ops.DistancePool` explained by :class:`lrp.rules.PoolShapley`, a
        little more faithful (docs/neon.md) but 7× slower here, since every training
        point is a unit.

    Returns
    -------
    Graph
        Output ``outlierness`` (N, 1), o(x) = −γ⁻¹ log Σ_j α_j exp(−γ ‖x − x_j‖²).
        ``meta``: ``gamma`` = 1/(2h²), ``bandwidth``, ``bias`` = (D/2) log(2πh²) with
        −score_samples = gamma·o + bias.

    References
    ----------
    Kauffmann, Müller, Montavon, Pattern Recognition 101, 2020.
    """
    check_fitted(estimator, "tree_")
    if estimator.kernel != "gaussian":
        raise UnsupportedEstimatorError(
            f"KernelDensity with kernel={estimator.kernel!r} cannot be neuralized; supported: "
            "kernel='gaussian'")
    metric = estimator.metric
    p = (estimator.metric_params or {}).get("p", 2)
    if not (metric in ("euclidean", "l2") or (metric == "minkowski" and p == 2)):
        raise UnsupportedEstimatorError(
            f"KernelDensity with metric={metric!r} cannot be neuralized; supported: euclidean")
    points = np.asarray(estimator.tree_.data, dtype=np.float64)
    if data is not None:
        data = check_data(data, input_width(points.shape[1], preprocessing, "KernelDensity"),
                          "data")
    w = estimator.tree_.sample_weight
    w = np.ones(len(points)) if w is None else np.asarray(w, dtype=np.float64)
    keep = w > 0
    points, w = points[keep], w[keep]
    h = float(estimator.bandwidth_)
    gamma = 1.0 / (2 * h * h)
    # every training point is a unit: the Shapley rule's 2P(d + 1)·n_train pool terms per
    # sample cost more than the goal of 100× shap's speed allows (docs/neon.md), so the
    # split stays the default; root="shapley" is opt-in
    root = resolve_pool_root(root, data, estimator, default="split")
    graph = distance_pool_graph(points, np.log(w / w.sum()), gamma, preprocessing,
                                reference=pool_reference(data, root), pairs=1)
    dim = points.shape[1]
    bias = 0.5 * dim * np.log(2 * np.pi * h * h)
    return declare_estimator(
        graph, estimator, preprocessing, gamma=gamma, beta=gamma, bandwidth=h,
        bias=float(bias), conserves=True, root=root,
        explained=("outlierness o(x) = -1/gamma log sum_j a_j exp(-gamma ||x - x_j||^2), "
                   "a_j = w_j / sum w, gamma = 1/(2 h^2); -score_samples(x) = gamma o(x) + bias"))


def gmm_units(estimator):
    """(means, weight, matrix, constants) of the GMM's units h_k = ½‖L_kᵀ(x − μ_k)‖² + const_k.

    ``weight`` (K, D) for diag/spherical (a_ki = pc_ki / √2), ``matrix`` (K, D, D) for full
    (L_kᵀ/√2) or (D, D) for tied; const_k = −log det L_k + (D/2) log 2π − log π_k.
    """
    mu = np.asarray(estimator.means_, dtype=np.float64)
    k, dim = mu.shape
    pc = np.asarray(estimator.precisions_cholesky_, dtype=np.float64)
    kind = estimator.covariance_type
    weight = matrix = None
    if kind == "full":
        matrix = np.swapaxes(pc, 1, 2) / np.sqrt(2)
        logdet = np.log(np.diagonal(pc, axis1=1, axis2=2)).sum(1)
    elif kind == "tied":
        matrix = pc.T / np.sqrt(2)
        logdet = np.full(k, np.log(np.diag(pc)).sum())
    elif kind == "diag":
        weight = pc / np.sqrt(2)
        logdet = np.log(pc).sum(1)
    elif kind == "spherical":
        weight = np.repeat(pc[:, None], dim, 1) / np.sqrt(2)
        logdet = dim * np.log(pc)
    else:
        raise UnsupportedEstimatorError(f"GaussianMixture covariance_type={kind!r} is not "
                                        "supported; supported: full, tied, diag, spherical")
    const = -logdet + 0.5 * dim * np.log(2 * np.pi) - np.log(estimator.weights_)
    return mu, weight, matrix, const


@register_neuralizer("GaussianMixture", reference=gaussian_mixture_reference)
def neuralize_gaussian_mixture(estimator, data=None, *, preprocessing=None,
                               root: str | None = None) -> Graph:
    """A :class:`neon.Graph` computing −log p(x) of a fitted GaussianMixture.

    o(x) = smin_1(h) = −log Σ_k π_k N(x; μ_k, Σ_k) = −``score_samples``(x), with the
    distance units h_k − const_k = ½ (x − μ_k)ᵀ P_k (x − μ_k), P_k = L_k L_kᵀ, split per
    feature by ½ (x_i − μ_ki)[P_k (x − μ_k)]_i (½ (x_i − μ_ki)²/σ²_ki for diagonal types).

    Parameters
    ----------
    estimator : GaussianMixture, fitted (any covariance type)
    data : array (n, d), optional
        Reference data in raw-feature space (the training data); its mean is the reference
        point of the default explanation with data.
    preprocessing : AffinePreprocessing, optional
        Folded into the units.
    root : {None, "shapley", "split"}
        ``"shapley"`` (the default with ``data``): Shapley values of −log p against the data
        mean (:class:`lrp.rules.PoolShapley`); ``"split"`` (the default without): soft-min
        redistribution then the per-feature split above.

    Returns
    -------
    Graph
        Output ``neg_log_density`` (N, 1). ``meta["component_constants"]``: const_k;
        the node ``units`` (N, K) holds h_k − const_k, and ``predict`` = argmin_k h_k.

    References
    ----------
    Kauffmann, Müller, Montavon, Pattern Recognition 101, 2020 (NEON); docs/neon.md.
    """
    check_fitted(estimator, "precisions_cholesky_")
    mu, weight, matrix, const = gmm_units(estimator)
    n_in = input_width(mu.shape[1], preprocessing, "GaussianMixture")
    if data is not None:
        data = check_data(data, n_in, "data")
    root = resolve_pool_root(root, data, estimator)
    graph = distance_pool_graph(mu, -const, 1.0, preprocessing, weight, matrix,
                                reference=pool_reference(data, root), pairs=8,
                                names=("units", "neg_log_density"))
    return declare_estimator(
        graph, estimator, preprocessing, beta=1.0, component_constants=const, bias=0.0,
        conserves=True, root=root,
        explained="-log p(x) = -score_samples(x) = smin_1(h_k), h_k = 0.5 (x-mu_k)' P_k (x-mu_k)"
                  " + const_k")
