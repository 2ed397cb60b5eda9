"""Validation shared by every scikit-learn neuralizer: fitted estimators, reference data.

scikit-learn's own :func:`~sklearn.utils.validation.check_is_fitted` and
:func:`~sklearn.utils.check_array` do the work; these wrappers name the estimator and say
what to do.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["check_fitted", "check_data", "as_tensor"]


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
    if hasattr(X, "to_numpy") and hasattr(X, "columns"):   # a DataFrame
        X = X.to_numpy()
    X = np.asarray(X)
    if X.dtype == object or not np.issubdtype(X.dtype, np.number) or \
            np.issubdtype(X.dtype, np.complexfloating) or X.dtype == bool:
        raise TypeError(f"{name} must be real numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-d (n_samples, n_features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} holds no samples (shape {X.shape})")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features, but the estimator was fitted "
                         f"with {n_features}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinite values "
                         f"({int((~np.isfinite(X)).sum())} of them)")
    return X.astype(np.float64)


def as_tensor(array, dtype=torch.float64) -> torch.Tensor:
    """A float64 tensor copy of a numpy array (neuralized graphs are built in float64)."""
    return torch.as_tensor(np.array(array, dtype=np.float64), dtype=dtype)
