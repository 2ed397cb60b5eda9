"""Neuralizer for k-means (KMeans, MiniBatchKMeans).

The network of Kauffmann et al., "From clustering to cluster explanations via neural
networks", IEEE TNNLS 2022, in fused form: one :class:`~neon.ops.SquaredDistance` op
(d_k = ‖x − μ_k‖² for all N × K pairs, one GEMM) and one
:class:`~neon.ops.CompetitionMin` op giving every cluster's logit

    f_c(x) = min_{k≠c} (d_k(x) − d_c(x)),

so f_c > 0 exactly for the assigned cluster and argmax_c f_c = ``predict``. Explained by
default: the assigned cluster's logit, with the soft-min redistribution (stiffness β) and
the midpoint rule (:mod:`lrp.rules.neon`).
"""

from __future__ import annotations

import numpy as np

from ..graph import Graph
from ..ops import CompetitionMin, SquaredDistance, check_beta
from .builders import declare_estimator, fold_distance, input_width
from .registry import Expected, register_neuralizer
from .validation import check_data, check_fitted

__all__ = ["neuralize_kmeans", "default_beta"]


def default_beta(graph, data) -> float:
    """β = 1 / mean assigned-cluster logit over ``data`` (the authors' heuristic)."""
    logits = graph(np.asarray(data, dtype=np.float64))
    mean = float(logits.max(1).mean())
    if not mean > 0:
        raise ValueError("cannot set beta from data whose samples all lie on cluster boundaries "
                         "(mean assigned logit 0); pass beta= explicitly")
    return 1.0 / mean


def kmeans_reference(estimator, X) -> Expected:
    """f_c = min_{k≠c} d_k − d_c from scikit-learn's ``transform`` (Euclidean distances)."""
    d = estimator.transform(X) ** 2
    f = np.stack([np.delete(d, c, axis=1).min(1) - d[:, c] for c in range(d.shape[1])], 1)
    return Expected(f, rtol=1e-8, what="transform(X) ** 2")


@register_neuralizer("KMeans", "MiniBatchKMeans", reference=kmeans_reference)
def neuralize_kmeans(estimator, data=None, *, preprocessing=None, beta=None) -> Graph:
    """A :class:`neon.Graph` computing the cluster logits of a fitted k-means.

    Parameters
    ----------
    estimator : KMeans or MiniBatchKMeans, fitted
        Centroids μ_k = ``cluster_centers_`` (K ≥ 2).
    data : array (n, d), optional
        Reference data (raw features) to set β = 1 / mean assigned logit.
    preprocessing : AffinePreprocessing, optional
        x' = A x + c before the estimator (from a Pipeline): folded into the distances so
        relevance lands on raw features (weighted distance, or a quadratic form for PCA).
    beta : float, optional
        Relevance stiffness of the soft-min over competitors; fixed in the graph so no
        sample's relevance depends on its batch. Default: from ``data``, else 1.

    Returns
    -------
    Graph
        Input ``x`` (N, d), output ``logits`` (N, K) with f_c = min_{k≠c} (d_k − d_c).
        Declares ``source``, ``explained``, ``output_labels`` (the cluster indices
        0 … K−1, as ``predict`` returns them) and ``conserves``; ``meta``: ``beta``,
        ``beta_source``.

    References
    ----------
    Kauffmann, Esders, Ruff, Montavon, Samek, Müller, "From clustering to cluster
    explanations via neural networks", IEEE TNNLS 2022.
    """
    check_fitted(estimator, "cluster_centers_")
    centers = np.asarray(estimator.cluster_centers_, dtype=np.float64)
    if centers.shape[0] < 2:
        raise ValueError(f"{type(estimator).__name__} has {centers.shape[0]} cluster: cluster "
                         "logits need at least 2 clusters")
    n_in = input_width(centers.shape[1], preprocessing, type(estimator).__name__)
    graph = Graph()
    graph.add_input("x", (n_in,))
    graph.add_node("distance", SquaredDistance(**fold_distance(centers, preprocessing)), ["x"])
    graph.add_node("logits", CompetitionMin(1.0), ["distance"])
    graph.set_output("logits")
    source = "given"
    if beta is not None:
        beta = check_beta(beta)
    data = None if data is None else check_data(data, n_in, "data")
    if beta is None and data is not None:
        beta, source = default_beta(graph, data), "data"
    elif beta is None:
        beta, source = 1.0, "default (no data given)"
    graph["logits"].op.beta = float(beta)
    return declare_estimator(
        graph, estimator, preprocessing, beta=float(beta), beta_source=source,
        output_labels=np.arange(centers.shape[0]), conserves=True,
        explained=("cluster logits f_c(x) = min_{k≠c} ‖x − μ_k‖² − ‖x − μ_c‖² (on the "
                   "estimator's features); f_c > 0 iff x is assigned to c; the default target "
                   "is the assigned cluster (argmax)"))
