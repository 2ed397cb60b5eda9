"""Neuralizer for k-means (KMeans, MiniBatchKMeans).

The network of Kauffmann et al., "From clustering to cluster explanations via neural
networks", IEEE TNNLS 2022: every cluster's logit

    f_c(x) = min_{k≠c} h_ck(x),   h_ck = d_k(x) − d_c(x) = w_ck·x + b_ck,

(d_k = ‖x − μ_k‖², weighted or a quadratic form when preprocessing is folded in), so
f_c > 0 exactly for the assigned cluster and argmax_c f_c = ``predict``. Explained by default:
the assigned cluster's logit, with a soft-min split over the competitors (stiffness β) and a
root point on each competition unit's hyperplane (:mod:`lrp.rules.neon`). Two networks:

* ``root="mean"`` (the default with reference data): the midpoint network below, its
  distance layer split relative to the data mean μ̄ (the op's ``reference``):
  R_i = Σ_k s_k [w_cki (x_i − μ̄_i) + h_ck(μ̄) / d] for (weighted) Euclidean distances,
  the equal root's relevance with the ``distance`` node kept, at one GEMM more than the
  midpoint network;
  it meets the faithfulness goal (benchmarks/RESULTS.md, issue 12), where the published
  midpoint rule trails the best method by 0.05 MoRF AUC;
* ``root="equal"`` (opt-in, needs reference data): one :class:`~neon.ops.RootedLinear` layer
  holding the K(K−1)/2 units g_ab = d_b − d_a (a < b), each rooted from the data mean μ̄ by
  :func:`~neon.sklearn.builders.linear_roots`, then a :class:`~neon.ops.RivalMin` pool
  (g_ba = −g_ab). Rules RivalSoftMin and RootRule give
  R_i = Σ_k s_k [w_cki (x_i − μ̄_i) + h_ck(μ̄) / n_ck],  s_k = softmin_β(h_c)_k f_c / h_ck,
  with n_ck the number of features unit (c, k) depends on (0 off them);
* ``root="midpoint"`` (the default without data; the paper's rule): one
  :class:`~neon.ops.SquaredDistance` op and one :class:`~neon.ops.CompetitionMin` op, root
  (μ_c + μ_k)/2, R_i = Σ_k s_k [(x_i − μ_ki)² − (x_i − μ_ci)²].
"""

from __future__ import annotations

import numpy as np

from ..graph import Graph
from ..ops import CompetitionMin, RivalMin, RootedLinear, SquaredDistance, check_beta
from .builders import declare_estimator, fold_distance, input_width, linear_roots
from .registry import Expected, register_neuralizer
from .validation import as_tensor, check_data, check_fitted

__all__ = ["neuralize_kmeans", "default_beta", "competition_units", "KMEANS_ROOTS"]

KMEANS_ROOTS = ("mean", "equal", "nearest", "midpoint")


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


def competition_units(centers, weight=None, matrix=None):
    """(pairs, W, b) of the units g_ab(x) = d_b(x) − d_a(x) = w_ab·x + b_ab, a < b.

    With d_k = (x − v_k)ᵀ M (x − v_k) (M = I, diag(a²) for a per-feature ``weight`` a, or
    AᵀA for a shared ``matrix`` A): w_ab = 2 M (v_a − v_b), b_ab = v_bᵀ M v_b − v_aᵀ M v_a.
    g_ab > 0 ⇔ x is nearer to v_a; ordered (0,1), (0,2), …, (1,2), ….
    """
    v = np.asarray(centers, dtype=np.float64)
    if matrix is not None:
        a = np.asarray(matrix, dtype=np.float64)
        mv = v @ (a.T @ a)
    elif weight is not None:
        mv = v * np.asarray(weight, dtype=np.float64) ** 2
    else:
        mv = v
    vmv = np.einsum("kd,kd->k", v, mv)
    pairs = np.array([(a, b) for a in range(len(v)) for b in range(a + 1, len(v))])
    w = 2 * (mv[pairs[:, 0]] - mv[pairs[:, 1]])
    bias = vmv[pairs[:, 1]] - vmv[pairs[:, 0]]
    return pairs, w, bias


def _check_root(root, data):
    if root is not None and not (isinstance(root, str) and root in KMEANS_ROOTS):
        raise ValueError(f"root must be None, 'mean', 'equal', 'nearest' or 'midpoint', got "
                         f"{root!r}: 'mean' (the default with data) splits every distance "
                         "relative to the data mean, 'equal' roots every competition unit on "
                         "its hyperplane from the data mean, 'nearest' at the hyperplane's "
                         "point nearest to the mean (all three need reference data), "
                         "'midpoint' (the default without data) at the centroids' midpoint")
    if root in ("mean", "equal", "nearest") and data is None:
        raise ValueError(f"root={root!r} needs reference data: neon.neuralize(km, X_train), or "
                         "root='midpoint'")
    if root is None:
        return "midpoint" if data is None else "mean"
    return root


@register_neuralizer("KMeans", "MiniBatchKMeans", reference=kmeans_reference)
def neuralize_kmeans(estimator, data=None, *, preprocessing=None, beta=None,
                     root=None) -> Graph:
    """A :class:`neon.Graph` computing the cluster logits of a fitted k-means.

    Parameters
    ----------
    estimator : KMeans or MiniBatchKMeans, fitted
        Centroids μ_k = ``cluster_centers_`` (K ≥ 2).
    data : array (n, d), optional
        Reference data (raw features): it sets β = 1 / mean assigned logit, and its mean μ̄
        roots the competition units for ``root="equal"`` or ``"nearest"``.
    preprocessing : AffinePreprocessing, optional
        x' = A x + c before the estimator (from a Pipeline): folded into the distances so
        relevance lands on raw features (weighted distance, or a quadratic form for PCA).
    beta : float, optional
        Relevance stiffness of the soft-min over competitors; fixed in the graph so no
        sample's relevance depends on its batch. Default: from ``data``, else 1.
    root : {None, "equal", "nearest", "mean", "midpoint"}
        The root point m_ck on each competition unit's hyperplane h_ck = 0, so that
        R_i = Σ_k s_k w_cki (x_i − m_cki) conserves f_c exactly:

        * ``"equal"`` (needs ``data``): from the data mean μ̄, shifting each of the
          n_ck features the unit depends on by the same share,
          w_cki (x_i − m_cki) = w_cki (x_i − μ̄_i) + h_ck(μ̄) / n_ck: feature i's effect
          relative to the typical sample (what replacing x_i by μ̄_i changes in h_ck), plus an
          equal share of what the unit already says at μ̄;
        * ``"nearest"``: the hyperplane's point nearest to μ̄ (Euclidean, raw features);
        * ``"mean"`` (the default with ``data``): the midpoint network (``distance`` →
          ``logits``) whose distance layer is split relative to μ̄ (``lrp.rules.DistanceSplit`` with
          the op's ``reference``): c_ki(x) − c_ki(μ̄) + d_k(μ̄)/d per feature. Behind the
          competition this is exactly ``"equal"`` for (weighted) Euclidean distances, with
          the ``distance`` node kept and one GEMM more than the midpoint; for a folded PCA
          (a quadratic form) it splits the Euler terms instead;
        * ``"midpoint"`` (the default without ``data``; the published rule): (μ_c + μ_k)/2,
          w_cki (x_i − m_cki) = (x_i − μ_ki)² − (x_i − μ_ci)² (weighted when preprocessing
          was folded in): the fused distance network.

    Returns
    -------
    Graph
        Input ``x`` (N, d), output ``logits`` (N, K) with f_c = min_{k≠c} (d_k − d_c).
        ``root="midpoint"`` or ``"mean"``: nodes ``distance`` (SquaredDistance) → ``logits``
        (CompetitionMin). Otherwise ``competition`` (RootedLinear, the K(K−1)/2 units
        g_ab = d_b − d_a) → ``logits`` (RivalMin). Declares ``source``, ``explained``,
        ``output_labels`` (the cluster indices 0 … K−1, as ``predict`` returns them) and
        ``conserves``; ``meta``: ``beta``, ``beta_source``, ``root``, ``reference_mean``
        (μ̄, or None).

    References
    ----------
    Kauffmann, Esders, Ruff, Montavon, Samek, Müller, "From clustering to cluster
    explanations via neural networks", IEEE TNNLS 2022. Montavon et al., "Explaining
    nonlinear classification decisions with deep Taylor decomposition", Pattern Recognition
    65, 2017 (root points of linear units). docs/neon.md, "k-means".
    """
    check_fitted(estimator, "cluster_centers_")
    centers = np.asarray(estimator.cluster_centers_, dtype=np.float64)
    if centers.shape[0] < 2:
        raise ValueError(f"{type(estimator).__name__} has {centers.shape[0]} cluster: cluster "
                         "logits need at least 2 clusters")
    n_in = input_width(centers.shape[1], preprocessing, type(estimator).__name__)
    if beta is not None:
        beta = check_beta(beta)
    data = None if data is None else check_data(data, n_in, "data")
    root = _check_root(root, data)
    folded = fold_distance(centers, preprocessing)
    graph = Graph()
    graph.add_input("x", (n_in,))
    mean = None
    if root in ("midpoint", "mean"):
        reference = None if root == "midpoint" else as_tensor(data.mean(0))
        mean = None if reference is None else data.mean(0)
        graph.add_node("distance", SquaredDistance(**folded, reference=reference), ["x"])
        graph.add_node("logits", CompetitionMin(1.0), ["distance"])
    else:
        mean = data.mean(0)
        pairs, w, b = competition_units(
            folded["centers"].numpy(),
            None if folded["weight"] is None else folded["weight"].numpy(),
            None if folded["matrix"] is None else folded["matrix"].numpy())
        roots = linear_roots(w, b, mean, root)
        graph.add_node("competition", RootedLinear(as_tensor(w), as_tensor(b),
                                                   as_tensor(roots)), ["x"])
        graph.add_node("logits", RivalMin(as_tensor(pairs), centers.shape[0], 1.0),
                       ["competition"])
    graph.set_output("logits")
    source = "given"
    if beta is None and data is not None:
        beta, source = default_beta(graph, data), "data"
    elif beta is None:
        beta, source = 1.0, "default (no data given)"
    graph["logits"].op.beta = float(beta)
    return declare_estimator(
        graph, estimator, preprocessing, beta=float(beta), beta_source=source, root=root,
        reference_mean=mean, output_labels=np.arange(centers.shape[0]), conserves=True,
        explained=("cluster logits f_c(x) = min_{k≠c} ‖x − μ_k‖² − ‖x − μ_c‖² (on the "
                   "estimator's features); f_c > 0 iff x is assigned to c; the default target "
                   "is the assigned cluster (argmax)"))
