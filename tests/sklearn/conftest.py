"""Shared fixtures of the NEON neuralizer tests: data sets and test-owned preprocessing maps."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from neon.sklearn.preprocessing import AffinePreprocessing

DATASETS = ("iris", "wine", "digits", "breast_cancer")


@functools.cache
def load(name: str):
    """(X, y) of a scikit-learn bundled data set, float64."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    return np.asarray(bunch.data, dtype=np.float64), bunch.target


def standardized(name: str) -> np.ndarray:
    """The data set scaled to zero mean and unit variance (constant features left at 0)."""
    X, _ = load(name)
    sd = X.std(0)
    return (X - X.mean(0)) / np.where(sd > 0, sd, 1.0)


def random_data(n=200, d=5, seed=0, shift=0.0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * rng.uniform(0.5, 3, size=d) + shift


def scaler_map(scaler) -> AffinePreprocessing:
    """x' = s x + t of a fitted per-feature scaler, read from its attributes here in the test
    (independent of the Pipeline neuralizer)."""
    name = type(scaler).__name__
    d = scaler.n_features_in_
    if name == "StandardScaler":
        s = 1 / scaler.scale_ if scaler.with_std else np.ones(d)
        m = scaler.mean_ if scaler.with_mean else np.zeros(d)
        return AffinePreprocessing(-m * s, scale=s, steps=(name,))
    if name == "MinMaxScaler":
        return AffinePreprocessing(scaler.min_, scale=scaler.scale_, steps=(name,))
    if name == "MaxAbsScaler":
        return AffinePreprocessing(np.zeros(d), scale=1 / scaler.scale_, steps=(name,))
    if name == "RobustScaler":
        s = 1 / scaler.scale_ if scaler.with_scaling else np.ones(d)
        c = scaler.center_ if scaler.with_centering else np.zeros(d)
        return AffinePreprocessing(-c * s, scale=s, steps=(name,))
    if name == "PCA":
        a = scaler.components_
        if scaler.whiten:
            a = a / np.sqrt(scaler.explained_variance_)[:, None]
        return AffinePreprocessing(-a @ scaler.mean_, matrix=a, steps=(name,))
    raise AssertionError(name)


def scalers():
    """Every per-feature scaler configuration the pipelines must fold."""
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

    out = [StandardScaler(with_mean=m, with_std=s) for m in (True, False) for s in (True, False)]
    return out + [MinMaxScaler(), MinMaxScaler((-2, 3)), MaxAbsScaler(), RobustScaler()]


def relevance_absorbed(explanation) -> np.ndarray:
    """Per-sample relevance absorbed over all nodes (start − input relevance)."""
    return sum(row["absorbed"].numpy() for row in explanation.table)


@pytest.fixture
def nh():
    """The helpers of this conftest (test modules cannot import it under importlib mode)."""
    import types

    return types.SimpleNamespace(
        load=load, standardized=standardized, random_data=random_data, scaler_map=scaler_map,
        scalers=scalers, relevance_absorbed=relevance_absorbed,
        DATASETS=DATASETS)
