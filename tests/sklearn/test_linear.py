"""Linear classifiers and regressors as one Linear op (docs/neon.md, "Already-neural and linear").

Expected values come from scikit-learn (decision_function, predict, predict_proba) or from
numpy formulas on the fitted coef_/intercept_, never from the code under test. The
equivalence tests neuralize with reference data (the rooted op, the default) and without
(``root="origin"``, the plain Linear); the LRP tests here are of the origin-relative rule
(``root="origin"``); the rooted relevance is tested in test_roots.py.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from functools import cache

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn import datasets
from sklearn import linear_model as lm
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.svm import LinearSVC, LinearSVR
from sklearn.tree import DecisionTreeClassifier

import lrp
import neon
from neon.graph import GraphInputError
from neon.sklearn import UnsupportedEstimatorError

TOL = 1e-10  # relative to the largest |expected| value

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# ----------------------------------------------------------------------------- data

def _standardize(X):
    return (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0)


@cache
def dataset(name):
    """(X, y) float64, standardized by numpy here so every solver converges quickly."""
    rng = np.random.default_rng(0)
    if name == "random2":
        X = rng.normal(size=(120, 5))
        y = (X @ rng.normal(size=5) + 0.3 * rng.normal(size=120) > 0).astype(int)
    elif name == "random4":
        X = rng.normal(size=(160, 6))
        y = np.argmax(X @ rng.normal(size=(6, 4)), 1)
    elif name == "digits":
        X, y = datasets.load_digits(return_X_y=True)
        X, y = X[:400], y[:400]
    else:
        X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return _standardize(np.asarray(X, dtype=np.float64)), y


CLASSIFIERS = {
    "LogisticRegression": lambda: lm.LogisticRegression(max_iter=300),
    "LinearSVC": lambda: LinearSVC(max_iter=2000, random_state=0),
    "RidgeClassifier": lambda: lm.RidgeClassifier(),
    "RidgeClassifierCV": lambda: lm.RidgeClassifierCV(),
    "SGDClassifier": lambda: lm.SGDClassifier(random_state=0, max_iter=50),
    "SGDClassifier-log": lambda: lm.SGDClassifier(loss="log_loss", random_state=0, max_iter=50),
    "Perceptron": lambda: lm.Perceptron(random_state=0, max_iter=50),
}
CLASSIFICATION_SETS = ["random2", "random4", "iris", "wine", "breast_cancer", "digits"]


@cache
def fitted(name, data):
    X, y = dataset(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return CLASSIFIERS[name]().fit(X, y)


ERRORS: dict = {}


def _record(key, actual, expected):
    err = float(np.abs(np.asarray(actual) - np.asarray(expected)).max()
                / max(np.abs(expected).max(), 1e-30))
    ERRORS[key] = max(err, ERRORS.get(key, 0.0))
    return err


# ----------------------------------------------------------------------------- 1. equivalence

@pytest.mark.parametrize("data", CLASSIFICATION_SETS)
@pytest.mark.parametrize("name", list(CLASSIFIERS))
def test_classifier_reproduces_decision_function_and_predict(name, data):
    X, _ = dataset(data)
    est = fitted(name, data)
    for graph in (neon.neuralize(est, X), neon.neuralize(est, root="origin")):
        out = graph(X)
        df = est.decision_function(X)
        if len(est.classes_) == 2:
            assert out.shape == (len(X), 2)
            assert _record((name, "decision"), out[:, 1], df) < TOL
            assert _record((name, "decision"), out[:, 0], -df) < TOL
        else:
            assert out.shape == (len(X), len(est.classes_))
            assert _record((name, "decision"), out, df) < TOL
        assert np.array_equal(est.classes_[out.argmax(1)], est.predict(X))
        assert graph.dtype == torch.float64


@pytest.mark.parametrize("data", CLASSIFICATION_SETS)
def test_logistic_regression_probabilities(data):
    X, _ = dataset(data)
    est = fitted("LogisticRegression", data)
    out = neon.neuralize(est, X)(X)
    if len(est.classes_) == 2:
        proba1 = 1.0 / (1.0 + np.exp(-out[:, 1]))
        proba = np.stack([1.0 - proba1, proba1], 1)
    else:
        e = np.exp(out - out.max(1, keepdims=True))
        proba = e / e.sum(1, keepdims=True)
    assert np.abs(proba - est.predict_proba(X)).max() < 1e-12


def test_sgd_log_loss_binary_probabilities():
    X, _ = dataset("breast_cancer")
    est = fitted("SGDClassifier-log", "breast_cancer")
    graph = neon.neuralize(est, X)
    proba1 = 1.0 / (1.0 + np.exp(-graph(X)[:, 1]))
    assert np.abs(proba1 - est.predict_proba(X)[:, 1]).max() < 1e-12
    assert graph.meta["link"] == "logistic of column 1"


REGRESSORS = {
    "LinearRegression": lm.LinearRegression, "Ridge": lm.Ridge, "RidgeCV": lm.RidgeCV,
    "Lasso": lambda: lm.Lasso(alpha=0.01), "ElasticNet": lambda: lm.ElasticNet(alpha=0.01),
    "BayesianRidge": lm.BayesianRidge, "ARDRegression": lm.ARDRegression,
    "HuberRegressor": lm.HuberRegressor,
    "LassoCV": lambda: lm.LassoCV(alphas=[0.01, 0.1], cv=3),
    "ElasticNetCV": lambda: lm.ElasticNetCV(alphas=[0.01, 0.1], cv=3),
    "SGDRegressor": lambda: lm.SGDRegressor(random_state=0, max_iter=50),
    "LinearSVR": lambda: LinearSVR(random_state=0, max_iter=2000),
}


@cache
def regression_data(name):
    if name == "diabetes":
        X, y = datasets.load_diabetes(return_X_y=True)
        return _standardize(X), y
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 4))
    return X, X @ rng.normal(size=4) + 0.5 + 0.1 * rng.normal(size=100)


@pytest.mark.parametrize("data", ["diabetes", "random"])
@pytest.mark.parametrize("name", list(REGRESSORS))
def test_regressor_reproduces_predict(name, data):
    X, y = regression_data(data)
    est = REGRESSORS[name]().fit(X, y)
    for graph in (neon.neuralize(est, X), neon.neuralize(est, root="origin")):
        out = graph(X)
        assert out.shape == (len(X), 1)
        assert _record((name, "predict"), out[:, 0], est.predict(X)) < TOL


@pytest.mark.parametrize("make", [lm.LinearRegression, lm.Ridge, lambda: lm.Lasso(alpha=0.01)])
def test_multi_target_regressor(make):
    X, y = regression_data("random")
    Y = np.stack([y, -2 * y + X[:, 0]], 1)
    est = make().fit(X, Y)
    graph = neon.neuralize(est, root="origin")
    out = graph(X)
    assert out.shape == (len(X), 2)
    assert _record(("multi-target", "predict"), out, est.predict(X)) < TOL
    # default: every target explained (their sum); target=k: that target only
    eps0 = lrp.EpsilonOnly(0.0)
    R = lrp.explain(graph, X, composite=eps0)
    R1 = lrp.explain(graph, X, target=1, composite=eps0)
    assert np.allclose(R, X * est.coef_.sum(0), atol=1e-12)
    assert np.allclose(R1, X * est.coef_[1], atol=1e-12)


def test_registered_names_are_listed():
    supported = neon.sklearn.supported_estimators()
    for name in ["LogisticRegression", "LinearSVC", "RidgeClassifier", "SGDClassifier",
                 "LinearRegression", "Ridge", "SGDRegressor", "MLPClassifier", "MLPRegressor",
                 "Pipeline"]:
        assert name in supported


def test_meta_and_summary():
    X, _ = dataset("iris")
    est = fitted("LogisticRegression", "iris")
    graph = neon.neuralize(est, X)
    assert graph.source is est
    assert graph.meta["task"] == "classification"
    assert graph.meta["root"] == "nearest" and graph.conserves
    assert list(graph.output_labels) == list(est.classes_)
    assert graph.meta["link"] == "softmax"
    assert "linear" in graph.summary()


# ----------------------------------------------------------------------------- 2. LRP

@pytest.mark.parametrize("data", ["random2", "random4", "wine"])
def test_lrp0_bias_free_classifier_is_w_times_x_and_conserves(data):
    X, y = dataset(data)
    est = lm.LogisticRegression(fit_intercept=False, max_iter=300).fit(X, y)
    graph = neon.neuralize(est, root="origin")
    expl = lrp.explain(graph, X, composite=lrp.EpsilonOnly(0.0), return_all=True)
    R = expl.relevance
    pred = np.searchsorted(est.classes_, est.predict(X))
    if len(est.classes_) == 2:
        w = np.where(pred[:, None] == 1, est.coef_[0], -est.coef_[0])
        f = np.abs(est.decision_function(X))
    else:
        w = est.coef_[pred]
        f = est.decision_function(X)[np.arange(len(X)), pred]
    assert np.abs(R - w * X).max() < 1e-12
    assert np.abs(R.sum(1) - f).max() < 1e-12 * np.abs(f).max()
    assert np.abs(np.asarray(expl.output) - f).max() < 1e-12 * np.abs(f).max()


def test_lrp0_bias_free_regressor_is_w_times_x():
    X, y = regression_data("random")
    est = lm.Ridge(fit_intercept=False).fit(X, y)
    R = lrp.explain(neon.neuralize(est, root="origin"), X, composite=lrp.EpsilonOnly(0.0))
    assert np.abs(R - X * est.coef_).max() < 1e-12
    assert np.abs(R.sum(1) - est.predict(X)).max() < 1e-12 * np.abs(est.predict(X)).max()


def test_binary_default_target_explains_the_predicted_class():
    X, y = dataset("breast_cancer")
    est = lm.LogisticRegression(fit_intercept=False, max_iter=300).fit(X, y)
    graph = neon.neuralize(est, root="origin")
    R = lrp.explain(graph, X, composite=lrp.EpsilonOnly(0.0))
    # the predicted class's evidence |f| is positive for every sample
    f = est.decision_function(X)
    assert np.allclose(R.sum(1), np.abs(f), rtol=1e-10, atol=1e-12)
    R0 = lrp.explain(graph, X, target=0, composite=lrp.EpsilonOnly(0.0))
    assert np.allclose(R0, -X * est.coef_[0], atol=1e-12)


def test_epsilon_with_intercept_keeps_bias_share():
    X, y = dataset("wine")
    est = fitted("LogisticRegression", "wine")
    expl = lrp.explain(neon.neuralize(est, root="origin"), X, return_all=True)  # ε = 1e-6
    pred = np.searchsorted(est.classes_, est.predict(X))
    f = est.decision_function(X)[np.arange(len(X)), pred]
    expected = X * est.coef_[pred] * (f / (f + 1e-6 * np.sign(f)))[:, None]
    assert np.abs(expl.relevance - expected).max() < 1e-10


# ----------------------------------------------------------------------------- 5. bad input

def test_unfitted_estimator():
    with pytest.raises(NotFittedError, match="LogisticRegression is not fitted"):
        neon.neuralize(lm.LogisticRegression())


def test_unsupported_estimator_lists_supported():
    X, y = dataset("iris")
    tree = DecisionTreeClassifier().fit(X, y)
    with pytest.raises(UnsupportedEstimatorError,
                       match="DecisionTreeClassifier cannot be neuralized.*Supported:.*"
                             "LogisticRegression.*MLPClassifier"):
        neon.neuralize(tree)


def test_sparse_nan_and_feature_count_refused():
    X, _ = dataset("iris")
    est = fitted("LogisticRegression", "iris")
    with pytest.raises(TypeError, match="sparse"):
        neon.neuralize(est, sp.csr_matrix(X))
    with pytest.raises(ValueError, match="has 3 features, but the estimator was fitted with 4"):
        neon.neuralize(est, X[:, :3])
    bad = X.copy()
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        neon.neuralize(est, bad)
    graph = neon.neuralize(est, X)
    with pytest.raises(GraphInputError, match="expected 4 features, got 3"):
        graph(X[:, :3])
    with pytest.raises(GraphInputError, match="NaN"):
        lrp.explain(graph, bad)
    with pytest.raises(GraphInputError, match="csr_matrix|coo_matrix|sparse"):
        graph(sp.csr_matrix(X))


def test_non_finite_coefficients_and_unknown_options():
    X, y = dataset("iris")
    est = lm.LogisticRegression(max_iter=300).fit(X, y)
    with pytest.raises(TypeError, match="unexpected keyword"):
        neon.neuralize(est, beta=2.0)
    est.coef_[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite coefficients"):
        neon.neuralize(est)


def test_import_neon_does_not_import_sklearn():
    code = "import neon, sys; assert 'sklearn' not in sys.modules, 'sklearn imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr


def test_zz_report_errors():
    """Prints the largest relative equivalence error per estimator (run with -s to see)."""
    for key, err in sorted(ERRORS.items()):
        print(f"  {key[0]:>20s} {key[1]:<9s} max rel. error {err:.2e}")
