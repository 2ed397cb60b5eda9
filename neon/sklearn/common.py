"""Shared pieces of the scikit-learn neuralizers: validation and affine preprocessing.

Every neuralizer takes ``(estimator, data=None, *, preprocessing=None, **options)``.
``preprocessing`` (an :class:`AffinePreprocessing`, built by the Pipeline neuralizer from
scalers and PCA) maps the user's raw features x to the estimator's features x' = A x + c;
each neuralizer folds it into its first op so relevance lands on raw features.

``data`` is always in the graph's input space, i.e. raw features: a neuralizer that needs
reference data in its estimator's own space applies ``preprocessing.transform(data)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["check_fitted", "check_data", "AffinePreprocessing", "as_tensor", "fold_distance"]


def check_fitted(estimator, attributes=None) -> None:
    """Raise scikit-learn's ``NotFittedError`` (naming the estimator) if it is not fitted."""
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(estimator, attributes)
    except NotFittedError as err:
        raise NotFittedError(
            f"{type(estimator).__name__} is not fitted: call fit(X, y) before neuralizing "
            "it") from err


def check_data(X, n_features: int | None = None, name: str = "X") -> np.ndarray:
    """Validate reference data: dense, 2-d, numeric, finite, the right feature count.

    Returns a float64 array. Sparse input is refused (densify it first).
    """
    import scipy.sparse as sp

    if sp.issparse(X):
        raise TypeError(f"{name} is a sparse matrix; neuralized models take dense arrays "
                        "(use X.toarray())")
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    X = np.asarray(X)
    if X.dtype == object or not np.issubdtype(X.dtype, np.number):
        raise TypeError(f"{name} must be numeric, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-d (n_samples, n_features), got shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, but the estimator was fitted "
                         f"with {n_features}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return X.astype(np.float64)


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


def as_tensor(array, dtype=torch.float64) -> torch.Tensor:
    """A float64 tensor copy of a numpy array (neuralized graphs are built in float64)."""
    return torch.as_tensor(np.array(array, dtype=np.float64), dtype=dtype)


@dataclass
class AffinePreprocessing:
    """The preprocessing x' = A x + c of a pipeline, in raw-feature coordinates.

    Attributes
    ----------
    matrix : ndarray of shape (d_out, d_in), or None
        A; ``None`` when the map is per-feature (then see ``scale``).
    scale : ndarray of shape (d_in,), or None
        The diagonal of A for per-feature scalers (StandardScaler, MinMaxScaler, …).
    offset : ndarray of shape (d_out,)
        c.
    steps : list of str
        Names of the pipeline steps it came from (for messages and summaries).
    """

    offset: np.ndarray
    scale: np.ndarray | None = None
    matrix: np.ndarray | None = None
    steps: tuple = ()

    @property
    def is_diagonal(self) -> bool:
        return self.matrix is None

    @property
    def n_features_in(self) -> int:
        return len(self.scale) if self.is_diagonal else self.matrix.shape[1]

    def dense(self) -> np.ndarray:
        """A as a dense (d_out, d_in) matrix."""
        return np.diag(self.scale) if self.is_diagonal else self.matrix

    def transform(self, X: np.ndarray) -> np.ndarray:
        """x' = A x + c, row-wise."""
        return (X * self.scale if self.is_diagonal else X @ self.matrix.T) + self.offset

    def then(self, other: AffinePreprocessing) -> AffinePreprocessing:
        """The composition x ↦ other(self(x))."""
        if self.is_diagonal and other.is_diagonal:
            return AffinePreprocessing(other.scale * self.offset + other.offset,
                                       scale=self.scale * other.scale,
                                       steps=self.steps + other.steps)
        a2 = other.dense()
        return AffinePreprocessing(a2 @ self.offset + other.offset,
                                   matrix=a2 @ self.dense(), steps=self.steps + other.steps)


def fold_distance(centers, preprocessing: AffinePreprocessing | None = None, weight=None,
                  matrix=None) -> dict:
    """Arguments of :class:`neon.ops_neon.SquaredDistance` with ``preprocessing`` folded in.

    The estimator measures d_k = ‖B_k (x' − μ_k)‖² on preprocessed features x' = A x + c
    (B_k: identity, per-feature ``weight`` b of shape (d',) or (K, d'), or ``matrix`` of shape
    (p, d') or (K, p, d')). With v_k the preimage of μ_k (A v_k + c = μ_k),
    d_k = ‖B_k A (x − v_k)‖²: for a per-feature scaler a weighted distance with weights b·s;
    for a dense A (PCA) the quadratic form (x − v_k)ᵀ (B_k A)ᵀ (B_k A) (x − v_k)
    (Kauffmann et al., IEEE TNNLS 2022; NEON.md "Pipelines"). Returns a dict with
    ``centers``, ``weight`` and ``matrix`` as float64 tensors (or None).
    """
    centers = np.asarray(centers, dtype=np.float64)
    weight = None if weight is None else np.asarray(weight, dtype=np.float64)
    matrix = None if matrix is None else np.asarray(matrix, dtype=np.float64)
    if preprocessing is None:
        pass
    elif preprocessing.is_diagonal:
        s = np.asarray(preprocessing.scale, dtype=np.float64)
        if np.any(s == 0):
            raise ValueError(f"preprocessing {preprocessing.steps} has zero scale on feature(s) "
                             f"{np.flatnonzero(s == 0).tolist()}: a distance to its centres "
                             "cannot be written on raw features")
        centers = (centers - preprocessing.offset) / s
        if matrix is not None:
            matrix = matrix * s
        else:
            weight = s if weight is None else weight * s
    else:
        a = np.asarray(preprocessing.matrix, dtype=np.float64)
        target = (centers - preprocessing.offset).T
        pre, *_ = np.linalg.lstsq(a, target, rcond=None)
        resid = np.abs(a @ pre - target).max(initial=0.0)
        if resid > 1e-8 * max(1.0, np.abs(target).max(initial=0.0)):
            raise ValueError(f"preprocessing {preprocessing.steps}: the estimator's centres are "
                             "not in the range of the linear map, so its distances are not a "
                             "quadratic form on raw features")
        centers = pre.T
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
