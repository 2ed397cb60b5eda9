"""Builders shared by the scikit-learn neuralizers: graph skeletons and folded distances.

* :func:`fold_distance` — a :class:`~neon.ops.SquaredDistance` with the pipeline's affine
  preprocessing folded in (used by k-means, one-class SVM, KDE, GMM and SVC);
* :func:`distance_pool_graph` — x → distance → soft-min pool (one-class SVM, KDE);
* :func:`start_graph`, :func:`add_first_linear`, :func:`finish_graph` — the skeleton of the
  linear-model and MLP networks;
* :func:`input_width` — the raw input width behind preprocessing;
* :func:`resolve_root`, :func:`linear_roots` — the reference points of the linear models' and
  MLPs' first ``Linear`` (:class:`~neon.ops.RootedLinear`), and the
  :class:`ReferenceDataWarning` without reference data.

``data`` is always in the graph's input space, i.e. raw features: a neuralizer that needs
reference data in its estimator's own space applies ``preprocessing.transform(data)``.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch

from ..graph import Graph
from ..ops import DistancePool, Linear, RootedLinear, SoftMin, SquaredDistance
from .preprocessing import (
    AffinePreprocessing,
    add_preprocessing_nodes,
    chain_preprocessing,
    fold_into_linear,
)
from .validation import as_tensor, check_data

__all__ = ["input_width", "fold_distance", "distance_pool_graph", "all_outputs",
           "start_graph", "add_first_linear", "finish_graph", "declare_estimator",
           "ROOTS", "ReferenceDataWarning", "resolve_root", "linear_roots",
           "POOL_ROOTS", "resolve_pool_root", "pool_reference"]

ROOTS = ("nearest", "equal", "origin")


class ReferenceDataWarning(UserWarning):
    """A supervised model was neuralized without reference data. A linear model or an MLP
    then measures its relevance against x' = 0 (raw features: the origin), an RBF SVC
    against the mean of its support vectors, not against the data.

    Issued once per process and estimator class (the first ``LogisticRegression`` neuralized
    without data warns, the next ones do not; an ``MLPClassifier`` then warns once more).
    ``neon.neuralize(model, X_train)`` removes the cause; ``root="origin"`` asks for the old
    behaviour without the warning.
    """


_WARNED: set = set()     # estimator classes already warned about (once per process)


def resolve_root(root, data, estimator, default: str) -> str:
    """The reference-point policy of a linear model's or MLP's first layer, validated.

    Parameters
    ----------
    root : {None, "nearest", "equal", "origin"}
        ``"nearest"`` and ``"equal"``: a root on each unit's hyperplane chosen from the mean
        of ``data`` (:func:`linear_roots`; need ``data``). ``"origin"``: the plain ``Linear``
        with LRP-ε, relevance measured against x' = 0 (the behaviour before reference data).
        ``None``: ``default`` when ``data`` is given, else ``"origin"`` with a one-time
        :class:`ReferenceDataWarning`.
    data : ndarray or None
        The reference data (already validated).
    estimator : fitted estimator
        Named in the messages.
    default : {"nearest", "equal"}
        The estimator family's choice (docs/neon.md, "Already-neural and linear").

    Returns
    -------
    str
        One of ``ROOTS``.
    """
    name = type(estimator).__name__
    if root is not None and not (isinstance(root, str) and root in ROOTS):
        raise ValueError(
            f"root must be None, 'nearest', 'equal' or 'origin', got {root!r}: 'nearest' roots "
            "every unit at the point of its hyperplane nearest to the reference data's mean, "
            "'equal' at the point reached by shifting every feature's contribution equally, "
            "'origin' measures relevance against x = 0 (no reference data)")
    if root in ("nearest", "equal") and data is None:
        raise ValueError(f"root={root!r} needs reference data: neon.neuralize(model, X_train) "
                         f"with X_train in the {name}'s raw input space")
    if root is not None:
        return root
    if data is not None:
        return default
    if name not in _WARNED:
        _WARNED.add(name)
        warnings.warn(
            f"{name} neuralized without reference data: the relevance of its first layer is "
            "measured against x' = 0 (R_i = w_i x'_i for a linear model), which on raw "
            "(unscaled, offset) features says little about which features matter. Pass the "
            "training data, neon.neuralize(model, X_train), to root every unit on its "
            "hyperplane from the data mean, or root='origin' to keep this behaviour without "
            "the warning (shown once per estimator class).", ReferenceDataWarning,
            stacklevel=_outside_neon())
    return "origin"


def _outside_neon() -> int:
    """The ``stacklevel`` of the first caller outside the neon package."""
    import sys

    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "neon":
        frame, level = frame.f_back, level + 1
    return level


_SUPPORT = 1e-12     # |w_ki| ≤ this × max_i |w_ki|: feature i outside unit k's support


def linear_roots(weight, bias, mean, kind: str = "nearest") -> np.ndarray:
    """Per unit, a point of its hyperplane chosen from ``mean``: the deep-Taylor root.

    With μ the mean and z_k(μ) = w_k·μ + b_k:

    * ``"nearest"``: the point of the hyperplane nearest to μ,
      m_k = μ − z_k(μ) w_k / ‖w_k‖², so w_ki (x_i − m_ki) = w_ki (x_i − μ_i) + z_k(μ) w_ki²/‖w_k‖²;
    * ``"equal"``: the point reached from μ by shifting every feature's contribution by the same
      amount, m_ki = μ_i − z_k(μ) / (d_k w_ki) on the d_k features with w_ki ≠ 0 (m_ki = μ_i
      off them), so w_ki (x_i − m_ki) = w_ki (x_i − μ_i) + z_k(μ)/d_k. It is the hyperplane's
      point nearest to μ in the metric Σ_i (w_ki δ_i)², so it does not change when a feature
      is rescaled (a change of units), which the Euclidean ``"nearest"`` does.

    Both satisfy w_k·m_k + b_k = 0, so z_k(x) = w_k·(x − m_k) exactly and
    R_i = w_ki (x_i − m_ki) conserves z_k (:class:`lrp.rules.RootRule`). A unit with w_k = 0 (a
    constant) has no root: it gets m_k = μ and its constant b_k stays unexplained. Weights
    below 1e-12 of the unit's largest count as 0 for ``"equal"`` (no share, no huge m_ki).
    Reference: Montavon et al., "Explaining nonlinear classification decisions with deep
    Taylor decomposition", Pattern Recognition 65, 2017 (roots of linear units).

    Parameters
    ----------
    weight : ndarray of shape (k, d)
    bias : ndarray of shape (k,)
    mean : ndarray of shape (d,)
        μ, the reference data's mean in the space the units read.
    kind : {"nearest", "equal"}

    Returns
    -------
    ndarray of shape (k, d)
    """
    if kind not in ("nearest", "equal"):
        raise ValueError(f"kind must be 'nearest' or 'equal', got {kind!r}")
    weight = np.asarray(weight, dtype=np.float64)
    bias = np.asarray(bias, dtype=np.float64)
    mean = np.asarray(mean, dtype=np.float64)
    value = weight @ mean + bias                                    # z_k(μ)
    if kind == "nearest":
        norm = np.einsum("kd,kd->k", weight, weight)
        step = np.divide(value, norm, out=np.zeros_like(value), where=norm > 0)
        return mean[None, :] - step[:, None] * weight
    big = np.abs(weight).max(1, keepdims=True)
    support = (np.abs(weight) > _SUPPORT * big) & (big > 0)
    count = support.sum(1, keepdims=True)
    share = np.divide(value[:, None], count, out=np.zeros((len(value), 1)), where=count > 0)
    shift = np.divide(share, weight, out=np.zeros_like(weight), where=support)
    return mean[None, :] - shift


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


POOL_ROOTS = ("shapley", "split")


def resolve_pool_root(root, data, estimator, default: str = "shapley") -> str:
    """The explanation of a distance-pool model (one-class SVM, KDE, GMM), validated.

    ``"shapley"`` (needs reference data): the pool reads x and carries the data mean, and
    :class:`lrp.rules.PoolShapley` gives Shapley values of the whole model against that
    mean. ``"split"`` (the only choice without data): the published NEON rule, soft-min
    redistribution then the distance split at x (Kauffmann et al. 2020). ``None`` gives
    ``default`` with data (the family's choice, docs/neon.md) and ``"split"`` without.
    """
    if root is not None and not (isinstance(root, str) and root in POOL_ROOTS):
        raise ValueError(
            f"root must be None, 'shapley' or 'split', got {root!r}: 'shapley' explains the "
            "model by Shapley values against the mean of the reference data, 'split' by the "
            "published soft-min and distance-split rules")
    if root == "shapley" and data is None:
        raise ValueError(f"root='shapley' needs reference data: neon.neuralize(model, X_train)"
                         f" with X_train in the {type(estimator).__name__}'s raw input space, "
                         "or root='split'")
    if root is None:
        return "split" if data is None else default
    return root


def pool_reference(data, root):
    """The reference point of ``root="shapley"``: the mean of the validated reference data
    (None for ``"split"``)."""
    return data.mean(0) if root == "shapley" else None


def distance_pool_graph(points, log_alpha, gamma, preprocessing=None, weight=None,
                        matrix=None, *, reference=None, pairs=None,
                        names=("distance", "outlierness")) -> Graph:
    """x → distance (N, S) → outlierness (N, 1): o = smin_γ(d_j − γ⁻¹ log α_j).

    Shared by the one-class SVM, kernel density and Gaussian-mixture neuralizers. With a
    ``reference`` (d,) (the data mean) the pool is a :class:`~neon.ops.DistancePool` that
    also reads x and holds a copy of the distance layer (its rule: Shapley values against
    the reference, from ``pairs`` antithetic pairs of orders, which the caller chooses);
    without, a plain :class:`~neon.ops.SoftMin`. ``names``: the two nodes.
    """
    points = np.asarray(points, dtype=np.float64)
    n_in = input_width(points.shape[1], preprocessing)
    graph = Graph()
    graph.add_input("x", (n_in,))
    op = SquaredDistance(**fold_distance(points, preprocessing, weight, matrix))
    distance, pooled = names
    graph.add_node(distance, op, ["x"])
    offset = as_tensor(-np.asarray(log_alpha) / gamma)
    if reference is None:
        graph.add_node(pooled, SoftMin(gamma, offset), [distance])
    elif pairs is None:
        raise ValueError("a distance pool with a reference needs its number of pairs")
    else:
        graph.add_node(pooled, DistancePool(gamma, offset, as_tensor(reference),
                                            copy.deepcopy(op), pairs), [distance, "x"])
    graph.set_output(pooled)
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
    data : ndarray of shape (n, d_in), float64, or None
        The validated reference data.
    """
    d_in = input_width(n_features, preprocessing, type(estimator).__name__)
    if data is not None:
        data = check_data(data, d_in, name="data")
    graph = Graph()
    graph.add_input("x", (d_in,))
    return graph, "x", data


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


_FOLLOWING = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid"}


def reference_mlp(graph, reference):
    """``graph`` with its chain of dense layers (from the first ``Linear`` node to the output,
    with the activations between them) fused into one :class:`~neon.ops.ReferencedMLP` node
    ``mlp`` that knows the chain's input at ``reference``, so DeepLIFT's rules
    (:mod:`lrp.rules.reference`) explain the network relative to it. The nodes before the
    chain (a pipeline's per-feature steps) stay.

    Parameters
    ----------
    graph : Graph
        A network whose nodes after the first ``Linear`` form one chain of ``Linear`` and
        activation nodes ending at the output.
    reference : ndarray of shape (d_in,)
        The reference input in raw-feature space (the data mean).

    Returns
    -------
    Graph
        A new graph with the same forward.
    """
    import torch

    from ..graph import Graph
    from ..ops import Linear, ReferencedMLP

    nodes = graph.nodes
    start = next(i for i, n in enumerate(nodes) if type(n.op) is Linear)
    chain = nodes[start:]
    weights, biases, activations = [], [], []
    for node in chain:
        if type(node.op) is Linear:
            weights.append(node.op.weight)
            biases.append(node.op.bias)
            activations.append("identity")
        elif node.kind in _FOLLOWING and activations[-1] == "identity":
            activations[-1] = _FOLLOWING[node.kind]
        else:
            raise ValueError(f"node {node.name!r} ({node.kind}) is not part of a dense chain")
    x = torch.as_tensor(np.asarray(reference, dtype=np.float64)[None]).to(graph.dtype)
    with torch.no_grad():
        _, values = graph.forward(x, keep=[chain[0].inputs[0]])
    fused = Graph()
    for spec in graph.input_specs:
        fused.add_input(spec.name, spec.shape, vocabulary=spec.vocabulary)
    for node in nodes[:start]:
        fused.add_node(node.name, node.op, node.inputs, **node.meta)
    fused.add_node("mlp", ReferencedMLP(weights, biases, activations,
                                        values[chain[0].inputs[0]][0]),
                   [chain[0].inputs[0]], role="network")
    fused.set_output("mlp")
    fused.meta = dict(graph.meta)
    return fused.to(graph.device)


def finish_graph(graph, estimator, preprocessing, output: str, **declarations):
    """Set the output node, then :func:`declare_estimator` (the linear and MLP networks)."""
    graph.set_output(output)
    return declare_estimator(graph, estimator, preprocessing, **declarations)


def _split_at_dense(preprocessing):
    """(per-feature steps before the first dense step, the rest), each composed or None."""
    if preprocessing is None:
        return None, None
    pieces = preprocessing.pieces()
    first = next((k for k, p in enumerate(pieces) if not p.is_diagonal), len(pieces))
    return chain_preprocessing(pieces[:first]), chain_preprocessing(pieces[first:])


def add_first_linear(graph, source, name, weight, bias, preprocessing, fold: bool, *,
                     data=None, root: str = "nearest", **meta):
    """Add the estimator's first ``Linear`` op z = W x' + b, after the preprocessing nodes.

    Without ``data`` the op is a plain ``Linear`` behind one node per preprocessing step
    (LRP-ε: relevance measured against x' = 0); with ``fold=True`` the preprocessing is folded
    in instead, z = (W A) x + (W c + b), one op on raw features (relevance against x = 0).

    With ``data`` the op is a :class:`~neon.ops.RootedLinear`: unit k gets the root m_k of
    :func:`linear_roots` (``root``: "nearest" or "equal") from the mean μ_u of ``data`` in the
    space u the op reads, so its default rule gives R_i = Σ_k w_ki (u_i − m_ki) / z_k · R_k.
    u is x' behind the per-feature steps (kept as nodes, rule Pass); a dense step (PCA) and
    every step after it are folded into the op, because the ε rule of a dense node would
    split a rooted unit's relevance in proportion to (x − μ)_i A_ki / z_k, which measured
    less faithful than the folded root (docs/neon.md, "Already-neural and linear"). With
    ``fold=True`` everything is folded and u = x. Reference: Montavon et al., "Explaining
    nonlinear classification decisions with deep Taylor decomposition", Pattern Recognition
    2017.

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
    data : ndarray of shape (n, d_raw), optional
        Reference data in raw-feature space (validated); gives the roots.
    root : {"nearest", "equal"}
        Which root of each unit's hyperplane (:func:`linear_roots`).
    **meta
        Node meta.

    Returns
    -------
    str
        The Linear node's name.
    """
    if data is None:
        if fold:
            weight, bias = fold_into_linear(weight, bias, preprocessing)
        else:
            source = add_preprocessing_nodes(graph, preprocessing, source)
        return graph.add_node(name, Linear(as_tensor(weight), as_tensor(bias)), [source],
                              **meta)
    nodes, folded = (None, preprocessing) if fold else _split_at_dense(preprocessing)
    source = add_preprocessing_nodes(graph, nodes, source)
    weight, bias = fold_into_linear(weight, bias, folded)
    mean = np.asarray(data, dtype=np.float64).mean(0)
    if nodes is not None:
        mean = nodes.transform(mean[None, :])[0]                   # μ_u = A μ + c
    roots = linear_roots(weight, bias, mean, root)
    op = RootedLinear(as_tensor(weight), as_tensor(bias), as_tensor(roots))
    return graph.add_node(name, op, [source], **meta)
