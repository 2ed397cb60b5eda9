"""Builders shared by the scikit-learn neuralizers: graph skeletons and folded distances.

* :func:`fold_distance` — a :class:`~neon.ops.SquaredDistance` with the pipeline's affine
  preprocessing folded in (used by k-means, one-class SVM, KDE, GMM and SVC);
* :func:`distance_pool_graph` — x → distance → soft-min pool (one-class SVM, KDE);
* :func:`start_graph`, :func:`add_first_linear`, :func:`finish_graph` — the skeleton of the
  linear-model and MLP networks;
* :func:`input_width` — the raw input width behind preprocessing.

``data`` is always in the graph's input space, i.e. raw features: a neuralizer that needs
reference data in its estimator's own space applies ``preprocessing.transform(data)``.
"""

from __future__ import annotations

import numpy as np
import torch

from ..graph import Graph
from ..ops import Linear, SoftMin, SquaredDistance
from .preprocessing import AffinePreprocessing, add_preprocessing_nodes, fold_into_linear
from .validation import as_tensor, check_data

__all__ = ["input_width", "fold_distance", "distance_pool_graph", "all_outputs",
           "start_graph", "add_first_linear", "finish_graph", "declare_estimator"]


def input_width(n_features: int, preprocessing, estimator_name: str = "the estimator") -> int:
    """Number of raw input features of a graph whose estimator sees ``n_features``.

    Raises ``ValueError`` when ``preprocessing`` does not output ``n_features`` features.
    """
    if preprocessing is None:
        return n_features
    if len(preprocessing.offset) != n_features:
        raise ValueError(f"preprocessing outputs {len(preprocessing.offset)} features, but "
                         f"{estimator_name} was fitted with {n_features}")
    return preprocessing.n_features_in



def fold_distance(centers, preprocessing: AffinePreprocessing | None = None, weight=None,
                  matrix=None) -> dict:
    """Arguments of :class:`neon.ops.SquaredDistance` with ``preprocessing`` folded in.

    The estimator measures d_k = ‖B_k (x' − μ_k)‖² on preprocessed features x' = A x + c
    (B_k: identity, per-feature ``weight`` b of shape (d',) or (K, d'), or ``matrix`` of shape
    (p, d') or (K, p, d')). With v_k the preimage of μ_k (A v_k + c = μ_k),
    d_k = ‖B_k A (x − v_k)‖²: for a per-feature scaler a weighted distance with weights b·s;
    for a dense A (PCA) the quadratic form (x − v_k)ᵀ (B_k A)ᵀ (B_k A) (x − v_k)
    (Kauffmann et al., IEEE TNNLS 2022; docs/neon.md "Pipelines and preprocessing"). The
    preimages are ``preprocessing.preimage(μ_k)``, the one policy of every neuralizer (its
    reasons: :class:`neon.ops.SquaredDistance`). Returns a dict with ``centers``, ``weight`` and
    ``matrix`` as float64 tensors (or None).
    """
    centers = np.asarray(centers, dtype=np.float64)
    weight = None if weight is None else np.asarray(weight, dtype=np.float64)
    matrix = None if matrix is None else np.asarray(matrix, dtype=np.float64)
    if preprocessing is not None:
        centers = preprocessing.preimage(centers)
        if preprocessing.is_diagonal:
            s = np.asarray(preprocessing.scale, dtype=np.float64)
            if matrix is not None:
                matrix = matrix * s
            else:
                weight = s if weight is None else weight * s
        else:
            a = np.asarray(preprocessing.matrix, dtype=np.float64)
            if matrix is not None:
                matrix = matrix @ a
            elif weight is not None:
                matrix = weight[..., :, None] * a
            else:
                matrix = a
            weight = None
    return dict(centers=as_tensor(centers),
                weight=None if weight is None else as_tensor(weight),
                matrix=None if matrix is None else as_tensor(matrix))


def distance_pool_graph(points, log_alpha, gamma, preprocessing=None, weight=None,
                        matrix=None) -> Graph:
    """x → distance (N, S) → outlierness (N, 1): o = smin_γ(d_j − γ⁻¹ log α_j).

    Shared by the one-class SVM, kernel density and Gaussian-mixture neuralizers.
    """
    points = np.asarray(points, dtype=np.float64)
    n_in = input_width(points.shape[1], preprocessing)
    graph = Graph()
    graph.add_input("x", (n_in,))
    op = SquaredDistance(**fold_distance(points, preprocessing, weight, matrix))
    graph.add_node("distance", op, ["x"])
    graph.add_node("outlierness", SoftMin(gamma, as_tensor(-np.asarray(log_alpha) / gamma)),
                   ["distance"])
    graph.set_output("outlierness")
    return graph


def all_outputs(out: torch.Tensor) -> torch.Tensor:
    """Default target of regressors: every output column, a mask M = 1.

    The propagation then starts at R = y(x) ⊙ M, so Σ_i R_i explains Σ_t y_t(x) (one target
    for a single-output regressor). Reference: Bach et al., PLoS ONE 2015.

    Parameters
    ----------
    out : torch.Tensor of shape (N, T)

    Returns
    -------
    torch.Tensor of ones, shaped like ``out``
    """
    return torch.ones_like(out)


def start_graph(estimator, data, preprocessing, n_features: int):
    """A graph with input ``x`` of raw features (x' = A x + c is added later).

    The graph's input has d_in = A's column count (raw features) when ``preprocessing`` is
    given, else the estimator's feature count. Reference: docs/neon.md, "Pipelines and
    preprocessing".

    Parameters
    ----------
    estimator : fitted estimator
    data : array-like or None
        Reference data in raw-feature space (validated: dense, finite, feature count).
    preprocessing : AffinePreprocessing or None
        x' = A x + c from a pipeline; its output size must equal ``n_features``.
    n_features : int
        Number of features the estimator was fitted on.

    Returns
    -------
    graph : Graph
    source : str
        The node the estimator's first op reads (the input ``x``).
    """
    d_in = input_width(n_features, preprocessing, type(estimator).__name__)
    if data is not None:
        check_data(data, d_in, name="data")
    graph = Graph()
    graph.add_input("x", (d_in,))
    return graph, "x"


def declare_estimator(graph, estimator, preprocessing, *, explained: str, output_labels=None,
                      default_target=None, conserves: bool = False, **meta):
    """What every neuralized graph declares and keeps, in one place.

    Declares ``source`` (the estimator), ``explained``, ``output_labels``,
    ``default_target``, ``conserves`` and ``feature_names`` (from ``feature_names_in_`` when
    no preprocessing stands between the user's columns and the estimator; a Pipeline declares
    its own). ``meta`` gets ``preprocessing`` (the map x' = A x + c or None),
    ``preprocessing_steps`` (names), ``example_input`` (zeros (1, d), for ``summary``) and the
    estimator-specific entries ``**meta`` (β, γ, thresholds, …).

    Returns
    -------
    Graph
    """
    d_in = graph.input_specs[0].shape[0]
    graph.meta.update(
        preprocessing=preprocessing,
        preprocessing_steps=tuple(preprocessing.steps) if preprocessing is not None else (),
        example_input=torch.zeros(1, d_in, dtype=torch.float64), **meta)
    names = getattr(estimator, "feature_names_in_", None)
    return graph.declare(source=estimator, explained=explained, output_labels=output_labels,
                         default_target=default_target, conserves=conserves,
                         feature_names=names if names is not None and preprocessing is None
                         else None)


def finish_graph(graph, estimator, preprocessing, output: str, **declarations):
    """Set the output node, then :func:`declare_estimator` (the linear and MLP networks)."""
    graph.set_output(output)
    return declare_estimator(graph, estimator, preprocessing, **declarations)


def add_first_linear(graph, source, name, weight, bias, preprocessing, fold: bool, **meta):
    """Add the estimator's first ``Linear`` op z = W x' + b, after the preprocessing nodes.

    With ``fold=True`` the preprocessing is folded in instead: z = (W A) x + (W c + b), one op
    on raw features (relevance then measured against x = 0 by LRP-0/ε). Reference: docs/neon.md,
    "Pipelines and preprocessing".

    Parameters
    ----------
    graph : Graph
    source : str
        The node it reads (before any preprocessing nodes).
    name : str
        Node name of the Linear op.
    weight, bias : ndarray of shapes (k, d) and (k,)
    preprocessing : AffinePreprocessing or None
    fold : bool
    **meta
        Node meta.

    Returns
    -------
    str
        The Linear node's name.
    """
    if fold:
        weight, bias = fold_into_linear(weight, bias, preprocessing)
    else:
        source = add_preprocessing_nodes(graph, preprocessing, source)
    return graph.add_node(name, Linear(as_tensor(weight), as_tensor(bias)), [source], **meta)
