"""Neuralizer for the one-class SVM (OneClassSVM with an RBF kernel).

The network of Kauffmann et al., "Towards explaining anomalies: a deep Taylor decomposition
of one-class models", Pattern Recognition 2020: one distance unit per support vector
u_j, h_j = ‖x − u_j‖² − γ⁻¹ log α_j, pooled by an exact soft minimum,

    o(x) = smin_γ(h) = −γ⁻¹ log Σ_j α_j exp(−γ ‖x − u_j‖²),

computed in the log domain (:class:`~neon.ops.SoftMin`). With α normalized to sum to 1
(the paper's choice, default) o ≥ 0 and ``score_samples(x) = (Σα) exp(−γ o(x))``; with the raw
α, ``score_samples(x) = exp(−γ o(x))``. Outlier (``predict`` = −1) ⇔ o(x) > threshold,
``graph.meta["threshold"]`` = −γ⁻¹ log(ρ / Σα) (normalized) or −γ⁻¹ log ρ (raw).
"""

from __future__ import annotations

import numpy as np

from .builders import (
    declare_estimator,
    distance_pool_graph,
    input_width,
    pool_reference,
    resolve_pool_root,
)
from .registry import Expected, UnsupportedEstimatorError, register_neuralizer
from .validation import check_data, check_fitted

__all__ = ["neuralize_one_class_svm"]


def _check_kernel(estimator):
    kernel = estimator.kernel
    if callable(kernel) or kernel == "precomputed":
        what = "a callable" if callable(kernel) else "'precomputed'"
        raise UnsupportedEstimatorError(
            f"{type(estimator).__name__} with {what} kernel cannot be neuralized: it stores no "
            "support vectors in input space; use kernel='rbf'")
    if kernel != "rbf":
        raise UnsupportedEstimatorError(
            f"{type(estimator).__name__} with kernel={kernel!r} is not a distance model and "
            "cannot be neuralized by NEON; supported: kernel='rbf'")


def one_class_svm_reference(estimator, X) -> Expected:
    """o(x) = −γ⁻¹ log(score_samples(x) / Σα), the default (normalized) outlierness."""
    total = float(np.asarray(estimator.dual_coef_).sum())
    o = -np.log(estimator.score_samples(X) / total) / float(estimator._gamma)
    return Expected(o[:, None], rtol=1e-7, what="score_samples(X)")


@register_neuralizer("OneClassSVM", reference=one_class_svm_reference)
def neuralize_one_class_svm(estimator, data=None, *, preprocessing=None,
                            normalize: bool = True, root: str | None = None):
    """A :class:`neon.Graph` computing the one-class SVM's outlierness o(x).

    Parameters
    ----------
    estimator : OneClassSVM, fitted, kernel='rbf'
        u_j = ``support_vectors_``, α_j = ``dual_coef_[0]``, γ = ``_gamma``,
        ρ = ``offset_``.
    data : array (n, d), optional
        Reference data in raw-feature space (the training data); its mean is the reference
        point of the default explanation with data (``root="shapley"``).
    preprocessing : AffinePreprocessing, optional
        Folded into the distances (weighted distance, or a quadratic form for PCA).
    normalize : bool
        Use α / Σα (default, the paper's choice: o ≥ 0, relevance ≥ 0); ``False`` keeps
        the raw α (o shifts by −γ⁻¹ log Σα).
    root : {None, "shapley", "split"}
        ``"shapley"`` (the default with ``data``): the pool is a
        :class:`~neon.ops.DistancePool` explained by :class:`lrp.rules.PoolShapley`, Shapley
        values of o against the data mean; ``"split"`` (the default without data): the
        paper's soft-min redistribution and distance split.

    Returns
    -------
    Graph
        Input ``x`` (N, d), output ``outlierness`` (N, 1). ``meta``: ``gamma``, ``rho``,
        ``alpha_sum``, ``normalized``, ``threshold``, ``explained``.

    References
    ----------
    Kauffmann, Müller, Montavon, "Towards explaining anomalies: a deep Taylor decomposition
    of one-class models", Pattern Recognition 101, 2020.
    """
    _check_kernel(estimator)
    check_fitted(estimator, "support_vectors_")
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize must be True or False, got {normalize!r}")
    sv = np.asarray(estimator.support_vectors_, dtype=np.float64)
    if data is not None:
        data = check_data(data, input_width(sv.shape[1], preprocessing, "OneClassSVM"), "data")
    root = resolve_pool_root(root, data, estimator)
    alpha = np.asarray(estimator.dual_coef_, dtype=np.float64).ravel()
    keep = alpha > 0
    sv, alpha = sv[keep], alpha[keep]
    gamma = float(estimator._gamma)
    rho = float(np.ravel(estimator.offset_)[0])
    total = float(alpha.sum())
    weights = alpha / total if normalize else alpha
    graph = distance_pool_graph(sv, np.log(weights), gamma, preprocessing, pairs=1,
                                reference=pool_reference(data, root))
    scale = total if normalize else 1.0
    return declare_estimator(
        graph, estimator, preprocessing, gamma=gamma, rho=rho, alpha_sum=total,
        normalized=bool(normalize), beta=gamma, threshold=-np.log(rho / scale) / gamma,
        conserves=True, root=root,
        explained=(f"outlierness o(x) = -1/gamma log sum_j a_j exp(-gamma ||x - u_j||^2) with "
                   f"{'normalized' if normalize else 'raw'} a; score_samples(x) = "
                   f"{scale:.6g} * exp(-gamma o(x)); outlier iff o(x) > threshold"))
