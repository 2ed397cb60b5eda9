"""neon.testing.check_neuralizer: every registered neuralizer passes it, and it catches the
defects it names (a wrong output, a neuralizer that accepts bad data, missing declarations)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import neon
from neon.sklearn import supported_estimators
from neon.sklearn.registry import _REFERENCES, _REGISTRY, Expected
from neon.testing import NeuralizerCheckError, check_neuralizer

torch.set_num_threads(1)


def _data():
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    X, y = X[::3], y[::3]
    return X, (X - X.mean(0)) / X.std(0), y


def _factories():
    from sklearn import linear_model as lm
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture
    from sklearn.neighbors import KernelDensity
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, SVR, LinearSVC, LinearSVR, NuSVC, OneClassSVM

    del SVR
    X, Xs, y = _data()
    target = Xs[:, 0] + 0.5 * Xs[:, 3]
    Xr = Xs[:, 1:]
    cls = lambda est, labels=y: (est.fit(Xs, labels), Xs)   # noqa: E731
    reg = lambda est: (est.fit(Xr, target), Xr)              # noqa: E731
    return {
        "KMeans": lambda: (KMeans(3, n_init=3, random_state=0).fit(Xs), Xs),
        "MiniBatchKMeans": lambda: (MiniBatchKMeans(3, n_init=3, random_state=0).fit(Xs), Xs),
        "OneClassSVM": lambda: (OneClassSVM(gamma=0.1).fit(Xs), Xs),
        "KernelDensity": lambda: (KernelDensity(bandwidth=1.0).fit(Xs), Xs),
        "GaussianMixture": lambda: (GaussianMixture(2, random_state=0).fit(Xs), Xs),
        "SVC": lambda: cls(SVC()),
        "NuSVC": lambda: cls(NuSVC()),
        "LogisticRegression": lambda: cls(lm.LogisticRegression(max_iter=500)),
        "LogisticRegressionCV": lambda: cls(lm.LogisticRegressionCV(max_iter=500)),
        "LinearSVC": lambda: cls(LinearSVC()),
        "RidgeClassifier": lambda: cls(lm.RidgeClassifier()),
        "RidgeClassifierCV": lambda: cls(lm.RidgeClassifierCV()),
        "SGDClassifier": lambda: cls(lm.SGDClassifier(random_state=0)),
        "Perceptron": lambda: cls(lm.Perceptron(random_state=0), y == 1),
        "LinearRegression": lambda: reg(lm.LinearRegression()),
        "Ridge": lambda: reg(lm.Ridge()),
        "RidgeCV": lambda: reg(lm.RidgeCV()),
        "Lasso": lambda: reg(lm.Lasso(alpha=0.01)),
        "LassoCV": lambda: reg(lm.LassoCV()),
        "ElasticNet": lambda: reg(lm.ElasticNet(alpha=0.01)),
        "ElasticNetCV": lambda: reg(lm.ElasticNetCV()),
        "BayesianRidge": lambda: reg(lm.BayesianRidge()),
        "ARDRegression": lambda: reg(lm.ARDRegression()),
        "HuberRegressor": lambda: reg(lm.HuberRegressor()),
        "SGDRegressor": lambda: reg(lm.SGDRegressor(random_state=0)),
        "LinearSVR": lambda: reg(LinearSVR()),
        "MLPClassifier": lambda: cls(MLPClassifier((8,), max_iter=200, random_state=0)),
        "MLPRegressor": lambda: reg(MLPRegressor(hidden_layer_sizes=(8,), max_iter=200,
                                                random_state=0)),
        "Pipeline": lambda: (make_pipeline(StandardScaler(), PCA(3), KMeans(
            3, n_init=3, random_state=0)).fit(X), X),
    }


def test_every_registered_neuralizer_has_a_case():
    assert set(supported_estimators()) == set(_factories())


@pytest.mark.parametrize("name", sorted(_factories()))
def test_registered_neuralizers_pass(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # convergence warnings of the tiny fits
        estimator, X = _factories()[name]()
    report = check_neuralizer(estimator, X)
    if report["conservation_error"] is not None:
        assert report["conservation_error"] < 1e-9


EXTRA = {
    "gmm-tied": lambda: __import__("sklearn.mixture", fromlist=["x"]).GaussianMixture(
        2, covariance_type="tied", random_state=0),
    "gmm-diag": lambda: __import__("sklearn.mixture", fromlist=["x"]).GaussianMixture(
        2, covariance_type="diag", random_state=0),
    "gmm-spherical": lambda: __import__("sklearn.mixture", fromlist=["x"]).GaussianMixture(
        2, covariance_type="spherical", random_state=0),
}


@pytest.mark.parametrize("variant", ["svc-linear", "svc-poly", "svc-binary", "mlp-binary",
                                     "logistic-binary", "pipeline-svc", "pipeline-ocsvm",
                                     *EXTRA])
def test_variants_pass(variant):
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, OneClassSVM

    X, Xs, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est, data = {
            "svc-linear": lambda: (SVC(kernel="linear").fit(Xs, y), Xs),
            "svc-poly": lambda: (SVC(kernel="poly").fit(Xs, y), Xs),
            "svc-binary": lambda: (SVC().fit(Xs, y == 1), Xs),
            "mlp-binary": lambda: (MLPClassifier((8,), max_iter=200, random_state=0).fit(
                Xs, y == 1), Xs),
            "logistic-binary": lambda: (LogisticRegression().fit(Xs, y == 1), Xs),
            "pipeline-svc": lambda: (make_pipeline(StandardScaler(), PCA(5), SVC()).fit(X, y),
                                     X),
            "pipeline-ocsvm": lambda: (make_pipeline(StandardScaler(), OneClassSVM(
                gamma=0.1)).fit(X), X),
            **{k: (lambda f=f: (f().fit(Xs), Xs)) for k, f in EXTRA.items()},
        }[variant]()
    check_neuralizer(est, data)


# ------------------------------------------------------------------ it catches defects

def _doubler():
    from sklearn.base import BaseEstimator

    class Doubler(BaseEstimator):
        """A toy estimator: predict(X) = 2 x_0 (fitted once coef_ exists)."""

        def fit(self, X, y=None):
            self.coef_ = np.eye(1, X.shape[1]) * 2.0
            return self

        def predict(self, X):
            return 2.0 * np.asarray(X)[:, 0]

    return Doubler


Doubler = _doubler()


def _linear_graph(weight, estimator, explained="the prediction"):
    g = neon.Graph()
    g.add_input("x", (weight.shape[1],))
    g.add_node("linear", neon.ops.Linear(torch.as_tensor(weight), None), ["x"])
    g.set_output("linear")
    return g.declare(source=estimator, explained=explained)


@pytest.fixture
def toy_registry():
    """Register neuralizers for Doubler in a test, removing them afterwards."""
    added = []

    def register(fn, reference):
        neon.register_neuralizer(Doubler, reference=reference)(fn)
        added.append(Doubler)

    yield register
    for key in added:
        _REGISTRY.pop(key, None)
        _REFERENCES.pop(key, None)


def _reference(est, X):
    return Expected(est.predict(X)[:, None], what="predict(X)")


def _good(est, data=None, **_):
    from sklearn.utils.validation import check_is_fitted

    from neon.sklearn.validation import check_data

    check_is_fitted(est, "coef_")
    if data is not None:
        check_data(data, 3, "data")
    return _linear_graph(np.array([[2.0, 0.0, 0.0]]), est)


def test_a_correct_user_neuralizer_passes(toy_registry):
    toy_registry(_good, _reference)
    X = np.random.default_rng(0).normal(size=(20, 3))
    assert check_neuralizer(Doubler().fit(X), X)["equivalence_error"] < 1e-15


def test_a_wrong_output_is_caught(toy_registry):
    def wrong(est, data=None, **_):
        _good(est, data)
        return _linear_graph(np.array([[2.0, 1e-3, 0.0]]), est)

    toy_registry(wrong, _reference)
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(NeuralizerCheckError, match="equivalence.*relative error"):
        check_neuralizer(Doubler().fit(X), X)


def test_accepting_bad_reference_data_is_caught(toy_registry):
    def lax(est, data=None, **_):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(est, "coef_")
        return _linear_graph(np.array([[2.0, 0.0, 0.0]]), est)

    toy_registry(lax, _reference)
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(NeuralizerCheckError, match="bad input.*reference data with NaN"):
        check_neuralizer(Doubler().fit(X), X)


def test_missing_declarations_are_caught(toy_registry):
    def anonymous(est, data=None, **_):
        _good(est, data)
        g = _linear_graph(np.array([[2.0, 0.0, 0.0]]), est)
        g.source = None
        return g

    toy_registry(anonymous, _reference)
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(NeuralizerCheckError, match="source"):
        check_neuralizer(Doubler().fit(X), X)


def test_a_neuralizer_without_reference_is_named(toy_registry):
    toy_registry(_good, None)
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(NeuralizerCheckError, match="no reference is registered for Doubler"):
        check_neuralizer(Doubler().fit(X), X)
    check_neuralizer(Doubler().fit(X), X, reference=_reference)


def test_false_conservation_claim_is_caught(toy_registry):
    def claims(est, data=None, **_):
        g = _good(est, data)
        g["linear"].op.bias = torch.ones(1, dtype=torch.float64)   # ε absorbs the bias share
        g.declare(conserves=True)
        return g

    def reference(est, X):
        return Expected(est.predict(X)[:, None] + 1.0, what="predict(X) + 1")

    toy_registry(claims, reference)
    X = np.abs(np.random.default_rng(0).normal(size=(20, 3))) + 1.0
    with pytest.raises(NeuralizerCheckError, match="conservation"):
        check_neuralizer(Doubler().fit(X), X)
