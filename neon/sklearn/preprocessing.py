"""Affine preprocessing steps of a Pipeline, and the graph nodes that replay them.

Each supported step is an affine map x' = A x + c of its input (A diagonal for the scalers,
dense for PCA). :func:`step_preprocessing` converts one fitted step,
:func:`chain_preprocessing` composes consecutive steps into one
:class:`AffinePreprocessing` that also keeps its parts (so a neuralizer can give every step
its own node), and
:func:`add_preprocessing_nodes` adds those nodes to a graph.

Reference points (what relevance is measured against)
-----------------------------------------------------
A per-feature step x'_i = s_i x_i + t_i becomes an ``ElementwiseAffine`` node whose default
LRP rule is Pass, so raw feature i gets exactly the relevance of x'_i. A linear model then gives
w_i (s_i x_i + t_i): the reference point is the root x₀_i = −t_i / s_i (the training mean for
StandardScaler), not 0 (docs/neon.md, "Tests that hold the neuralizers honest", 3).

PCA, z = D P (x − μ) (P = ``components_``, μ = ``mean_``, D = diag(1/√λ) when whitened, else
I), becomes a centering node x − μ (Pass) followed by a bias-free ``Linear`` D P. LRP-ε on it
gives R_i = (x_i − μ_i) Σ_k (DP)_ki R_k / z_k, so the reference point is the PCA mean μ, and
the relevance of the components is conserved on the input features (Σ_i R_i = Σ_k R_k).
Composites that pick "the first layer" (EpsilonPlusFlat's Flat) pick this PCA ``Linear``.
A scaler *after* PCA is a shift in component space: its Pass node hands w_k(s_k z_k + t_k) to
component k, which the PCA node then splits proportionally to (x − μ)_i (DP)_ki / z_k.

``fold_preprocessing=True`` (linear models and MLPs) folds the whole map into the first
``Linear`` instead: one op on raw features, relevance measured against x = 0.

With reference data (``neon.neuralize(pipeline, X_train)``) the first layer of a linear model
or MLP is rooted on the data instead (:func:`neon.sklearn.builders.add_first_linear`): the
per-feature steps stay nodes as above, but the root of each unit replaces their root −t/s,
and a PCA step (with the steps after it) is folded into the rooted layer rather than kept as
the centring and ``Linear`` nodes described here.

scikit-learn is imported only inside functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .registry import UnsupportedEstimatorError
from .validation import as_tensor

__all__ = ["AffinePreprocessing", "step_preprocessing", "chain_preprocessing",
           "add_preprocessing_nodes", "fold_into_linear", "supported_steps"]


@dataclass
class AffinePreprocessing:
    """The preprocessing x' = A x + c of a pipeline, in raw-feature coordinates.

    Attributes
    ----------
    offset : ndarray of shape (d_out,)
        c.
    scale : ndarray of shape (d_in,), or None
        The diagonal of A for per-feature scalers (StandardScaler, MinMaxScaler, …).
    matrix : ndarray of shape (d_out, d_in), or None
        A; ``None`` when the map is per-feature (then see ``scale``).
    steps : tuple of str
        Names of the pipeline steps it came from (for messages and node names).
    root : ndarray of shape (d_in,), or None
        A point x₀ with A x₀ + c = 0 that the step knows (PCA: its ``mean_``): the reference
        point of a dense step, and the anchor of its preimages (:meth:`preimage`).
    parts : tuple of AffinePreprocessing
        The single steps of a composition, in pipeline order (empty for a single step).

    Notes
    -----
    x' = A x + c = A_k(… (A_1 x + c_1) …) + c_k. Reference: docs/neon.md, "Pipelines and
    preprocessing"; Kauffmann et al., IEEE TNNLS 2022.
    """

    offset: np.ndarray
    scale: np.ndarray | None = None
    matrix: np.ndarray | None = None
    steps: tuple = ()
    root: np.ndarray | None = None
    parts: tuple = ()

    @property
    def is_diagonal(self) -> bool:
        return self.matrix is None

    @property
    def n_features_in(self) -> int:
        return len(self.scale) if self.is_diagonal else self.matrix.shape[1]

    def pieces(self) -> tuple:
        """The single steps (``(self,)`` for a single step)."""
        return self.parts or (self,)

    def dense(self) -> np.ndarray:
        """A as a dense (d_out, d_in) matrix."""
        return np.diag(self.scale) if self.is_diagonal else self.matrix

    def transform(self, X: np.ndarray) -> np.ndarray:
        """x' = A x + c, row-wise."""
        return (X * self.scale if self.is_diagonal else X @ self.matrix.T) + self.offset

    def then(self, other: AffinePreprocessing) -> AffinePreprocessing:
        """The composition x ↦ other(self(x)) (its parts are not kept; see
        :func:`chain_preprocessing`)."""
        if self.is_diagonal and other.is_diagonal:
            return AffinePreprocessing(other.scale * self.offset + other.offset,
                                       scale=self.scale * other.scale,
                                       steps=self.steps + other.steps)
        a2 = other.dense()
        return AffinePreprocessing(a2 @ self.offset + other.offset,
                                   matrix=a2 @ self.dense(), steps=self.steps + other.steps)

    def preimage(self, points) -> np.ndarray:
        """Raw-feature points v with A v + c = u for each row u of ``points``: the one preimage
        policy of every neuralizer (why: :class:`neon.ops.SquaredDistance`).

        The steps are inverted one at a time, last first. A per-feature step is inverted
        exactly (a feature with scale 0 is invisible to the model; its coordinate is set to
        0). A dense step takes the point of the fibre nearest to its root x₀,
        v = x₀ + A⁺(u − c − A x₀): for PCA (x₀ = ``mean_``) exactly ``inverse_transform``;
        without a known root, x₀ is the least-norm root, which makes v the least-norm
        preimage A⁺(u − c). Raises ``ValueError`` when a point is not in the range of A.
        """
        points = np.asarray(points, dtype=np.float64)
        for part in reversed(self.pieces()):
            points = part._invert(points)
        return points

    def _invert(self, points):
        if self.is_diagonal:
            s = np.asarray(self.scale, dtype=np.float64)
            return np.divide(points - self.offset, s, out=np.zeros_like(points * s),
                             where=s != 0)
        a = np.asarray(self.matrix, dtype=np.float64)
        x0 = _root(self)
        x0 = np.zeros(a.shape[1]) if x0 is None else x0
        target = points - self.offset - x0 @ a.T
        pre = x0 + target @ np.linalg.pinv(a).T
        resid = np.abs(pre @ a.T + self.offset - points).max(initial=0.0)
        if resid > 1e-8 * max(1.0, np.abs(points).max(initial=0.0)):
            raise ValueError(f"preprocessing {self.steps}: the estimator's centres are not in "
                             "the range of the linear map, so its distances are not a "
                             "quadratic form on raw features")
        return pre


# ----------------------------------------------------------------------------- converters

def _standard_scaler(step):
    """x' = (x − μ) / σ; μ only if ``with_mean``, σ only if ``with_std``."""
    d = step.n_features_in_
    scale = 1.0 / step.scale_ if step.with_std else np.ones(d)
    mean = step.mean_ if step.with_mean else np.zeros(d)
    return scale, -mean * scale


def _minmax_scaler(step):
    """x' = x · scale_ + min_; refused with ``clip=True`` (clipping is not affine)."""
    if getattr(step, "clip", False):
        raise UnsupportedEstimatorError(
            "MinMaxScaler(clip=True) cannot be neuralized: clipping to the feature range is "
            "not an affine map. Refit with clip=False (the default) to neuralize the pipeline.")
    return step.scale_, step.min_


def _maxabs_scaler(step):
    """x' = x / max|x_train|."""
    return 1.0 / step.scale_, np.zeros(step.n_features_in_)


def _robust_scaler(step):
    """x' = (x − median) / IQR; centring only if ``with_centering``, scaling if
    ``with_scaling``."""
    d = step.n_features_in_
    scale = 1.0 / step.scale_ if step.with_scaling else np.ones(d)
    center = step.center_ if step.with_centering else np.zeros(d)
    return scale, -center * scale


_DIAGONAL = {"StandardScaler": _standard_scaler, "MinMaxScaler": _minmax_scaler,
             "MaxAbsScaler": _maxabs_scaler, "RobustScaler": _robust_scaler}


def _pca(step, name):
    """z = D P (x − μ), D = diag(1/√λ) (λ floored at machine ε as scikit-learn does) if
    ``whiten``, else I."""
    matrix = np.asarray(step.components_, dtype=np.float64)
    if step.whiten:
        scale = np.sqrt(np.asarray(step.explained_variance_, dtype=np.float64))
        scale[scale < np.finfo(scale.dtype).eps] = np.finfo(scale.dtype).eps
        matrix = matrix / scale[:, None]
    mean = np.asarray(step.mean_, dtype=np.float64)
    return AffinePreprocessing(-matrix @ mean, matrix=matrix, steps=(name,), root=mean)


def supported_steps() -> list[str]:
    """Names of the preprocessing steps a Pipeline may contain (each an exact affine map
    x' = A x + c; see :func:`step_preprocessing`)."""
    return sorted(_DIAGONAL) + ["PCA", "'passthrough' / None"]


def step_preprocessing(name: str, step) -> AffinePreprocessing | None:
    """The affine map of one fitted pipeline step (``None`` for 'passthrough').

    Parameters
    ----------
    name : str
        The step's name in the pipeline (used for node names and messages).
    step : estimator, 'passthrough' or None

    Returns
    -------
    AffinePreprocessing or None

    Raises
    ------
    UnsupportedEstimatorError
        For a step that is not an affine map scikit-learn computes exactly
        (PolynomialFeatures, FunctionTransformer, MinMaxScaler(clip=True), …).

    Notes
    -----
    StandardScaler: x' = (x − μ)/σ; MinMaxScaler: x' = x·s + m; MaxAbsScaler: x' = x/max|x|;
    RobustScaler: x' = (x − median)/IQR; PCA: z = D P (x − μ). Reference: scikit-learn user
    guide, "Preprocessing data" and "Decomposing signals in components".
    """
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return None
    kind = type(step).__name__
    if kind == "PCA":
        return _pca(step, name)
    if kind not in _DIAGONAL:
        raise UnsupportedEstimatorError(
            f"pipeline step {name!r} ({kind}) cannot be neuralized: it is not one of the "
            f"supported affine preprocessing steps ({', '.join(supported_steps())}).")
    try:
        scale, offset = _DIAGONAL[kind](step)
    except UnsupportedEstimatorError as err:
        raise UnsupportedEstimatorError(f"pipeline step {name!r}: {err}") from None
    return AffinePreprocessing(np.asarray(offset, dtype=np.float64),
                               scale=np.asarray(scale, dtype=np.float64), steps=(name,))


def chain_preprocessing(parts) -> AffinePreprocessing | None:
    """Compose single steps ``x ↦ parts[-1](… parts[0](x))`` into one map that keeps them.

    x ↦ A_k(… (A_1 x + c_1) …) + c_k = A x + c with A = A_k ⋯ A_1 (diagonal while every step
    is). Reference: docs/neon.md, "Pipelines and preprocessing".

    Parameters
    ----------
    parts : iterable of AffinePreprocessing
        Single steps in pipeline order.

    Returns
    -------
    AffinePreprocessing or None
        ``None`` for no steps, the step itself for one.
    """
    parts = tuple(parts)
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    total = parts[0]
    for part in parts[1:]:
        total = total.then(part)
    return AffinePreprocessing(total.offset, scale=total.scale, matrix=total.matrix,
                               steps=total.steps, parts=parts)


# ----------------------------------------------------------------------------- graph nodes

def _root(part) -> np.ndarray | None:
    """x₀ with A x₀ + c = 0: the step's own root, else the least-norm solution if exact."""
    root = getattr(part, "root", None)
    if root is not None:
        return np.asarray(root, dtype=np.float64)
    a = part.dense()
    x0 = np.linalg.lstsq(a, -part.offset, rcond=None)[0]
    exact = np.abs(a @ x0 + part.offset).max(initial=0.0) <= 1e-12 * (
        1.0 + np.abs(part.offset).max(initial=0.0))
    return x0 if exact else None


def add_preprocessing_nodes(graph, preprocessing, source: str) -> str:
    """Add one node (or two) per preprocessing step after node ``source``; return the last.

    A per-feature step becomes an ``ElementwiseAffine`` node (default rule Pass). A dense step
    with a root x₀ (PCA: its mean) becomes ``<step>.center`` (x − x₀, Pass) and a bias-free
    ``Linear`` ``<step>``; a dense step without an exact root becomes a ``Linear`` with bias.
    Node names are the pipeline's step names. Reference points: see the module notes
    (Montavon et al., "Explaining nonlinear classification decisions with deep Taylor
    decomposition", Pattern Recognition 2017, for roots of linear units).

    Parameters
    ----------
    graph : Graph
    preprocessing : AffinePreprocessing or None
        Its :meth:`~AffinePreprocessing.pieces` give one node (or two) each.
    source : str
        The node the preprocessing reads (the graph input).

    Returns
    -------
    str
        The last node added (``source`` when there is no preprocessing).
    """
    from ..ops import ElementwiseAffine, Linear

    if preprocessing is None:
        return source
    for part in preprocessing.pieces():
        name = graph.unique_name("_".join(part.steps) or "preprocessing")
        if part.is_diagonal:
            op = ElementwiseAffine(as_tensor(part.scale), as_tensor(part.offset))
            source = graph.add_node(name, op, [source], role="preprocessing")
            continue
        x0 = _root(part)
        if x0 is None:
            op = Linear(as_tensor(part.matrix), as_tensor(part.offset))
            source = graph.add_node(name, op, [source], role="preprocessing")
            continue
        center = ElementwiseAffine(as_tensor(np.ones_like(x0)), as_tensor(-x0))
        source = graph.add_node(graph.unique_name(f"{name}.center"), center, [source],
                                role="preprocessing")
        source = graph.add_node(name, Linear(as_tensor(part.matrix), None), [source],
                                role="preprocessing")
    return source


def fold_into_linear(weight: np.ndarray, bias: np.ndarray, preprocessing):
    """Fold x' = A x + c into z = W x' + b: returns (W A, W c + b).

    The folded op reads raw features directly; LRP rules on it measure relevance against
    x = 0 (LRP-0/ε) rather than the scalers' roots. Reference: docs/neon.md, "Pipelines and
    preprocessing".

    Parameters
    ----------
    weight : ndarray of shape (k, d')
    bias : ndarray of shape (k,)
    preprocessing : AffinePreprocessing or None

    Returns
    -------
    (ndarray of shape (k, d), ndarray of shape (k,))
    """
    if preprocessing is None:
        return weight, bias
    if preprocessing.is_diagonal:
        return weight * preprocessing.scale, weight @ preprocessing.offset + bias
    return weight @ preprocessing.matrix, weight @ preprocessing.offset + bias
