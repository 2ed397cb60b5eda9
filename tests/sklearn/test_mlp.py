"""MLPClassifier / MLPRegressor as Linear + activation layers.

Expected values come from scikit-learn (predict, predict_proba) and from a numpy/torch
forward pass written here from coefs_/intercepts_, never from the code under test. Graphs are
built with reference data (the rooted first layer, the default) unless a test is about the
origin-relative ε rule (``root="origin"``); the rooted first layer is tested in
test_roots.py.
"""

from __future__ import annotations

import copy
import warnings
from functools import cache

import numpy as np
import pytest
import torch
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.neural_network import MLPClassifier, MLPRegressor

import lrp
import neon

TOL = 1e-10

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ACT = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh,
       "logistic": lambda z: 1 / (1 + np.exp(-z)), "identity": lambda z: z}


def _standardize(X):
    return (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1.0)


@cache
def dataset(name):
    rng = np.random.default_rng(0)
    if name == "random2":
        X = rng.normal(size=(100, 5))
        return X, (np.sin(X[:, 0]) + X[:, 1] * X[:, 2] > 0).astype(int)
    if name == "multilabel":
        X = rng.normal(size=(100, 5))
        return X, np.stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] * X[:, 4] > 0],
                           1).astype(int)
    if name == "regression":
        X = rng.normal(size=(100, 4))
        return X, np.stack([np.sin(X[:, 0]) + X[:, 1], X[:, 2] * X[:, 3]], 1)
    if name == "diabetes":
        X, y = datasets.load_diabetes(return_X_y=True)
        return _standardize(X), (y - y.mean()) / y.std()
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    if name == "digits":
        X, y = X[:300], y[:300]
    return _standardize(np.asarray(X, dtype=np.float64)), y


@cache
def fitted(kind, data, activation="relu", hidden=(12, 8)):
    X, y = dataset(data)
    cls = MLPRegressor if kind == "regressor" else MLPClassifier
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cls(hidden_layer_sizes=hidden, activation=activation, max_iter=150,
                   random_state=0).fit(X, y)


def logits(est, X):
    """The last pre-activation, by numpy from coefs_/intercepts_ (reference forward)."""
    a = X
    for i, (w, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        a = a @ w + b
        if i < len(est.coefs_) - 1:
            a = ACT[est.activation](a)
    return a


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _rel(actual, expected):
    return float(np.abs(actual - expected).max() / max(np.abs(expected).max(), 1e-30))


# ----------------------------------------------------------------------------- 1. equivalence

CLASSIFIER_CASES = [(d, a) for d in ["random2", "iris", "wine"]
                    for a in ["relu", "tanh", "logistic", "identity"]]
CLASSIFIER_CASES += [("breast_cancer", "relu"), ("breast_cancer", "tanh"), ("digits", "relu")]


@pytest.mark.parametrize("data,activation", CLASSIFIER_CASES)
def test_classifier_reproduces_predict_proba(data, activation):
    X, _ = dataset(data)
    est = fitted("classifier", data, activation)
    graph = neon.neuralize(est, X)
    out = graph(X)
    z = logits(est, X)
    if len(est.classes_) == 2:
        assert out.shape == (len(X), 2)
        assert _rel(out, np.concatenate([-z, z], 1)) < TOL
        proba = 1 / (1 + np.exp(-out[:, 1]))
        assert np.abs(proba - est.predict_proba(X)[:, 1]).max() < 1e-12
        assert graph.meta["link"] == "logistic of column 1"
    else:
        assert _rel(out, z) < TOL
        assert np.abs(_softmax(out) - est.predict_proba(X)).max() < 1e-12
        assert graph.meta["link"] == "softmax"
    assert np.array_equal(est.classes_[out.argmax(1)], est.predict(X))


def test_multilabel_classifier():
    X, Y = dataset("multilabel")
    est = fitted("classifier", "multilabel")
    out = neon.neuralize(est, X)(X)
    assert out.shape == Y.shape
    assert np.abs(1 / (1 + np.exp(-out)) - est.predict_proba(X)).max() < 1e-12
    assert np.array_equal((out > 0).astype(int), est.predict(X))


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize("data", ["regression", "diabetes"])
def test_regressor_reproduces_predict(data, activation):
    X, _ = dataset(data)
    est = fitted("regressor", data, activation)
    out = neon.neuralize(est, X)(X)
    pred = est.predict(X)
    assert _rel(out, pred.reshape(len(X), -1)) < TOL


def test_poisson_regressor_explains_the_log_prediction():
    X, y = dataset("regression")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPRegressor(hidden_layer_sizes=(6,), loss="poisson", max_iter=100,
                           random_state=0).fit(X, np.exp(y[:, 0]))
    graph = neon.neuralize(est, X)
    assert _rel(np.exp(graph(X)[:, 0]), est.predict(X)) < TOL
    assert graph.meta["link"] == "exp"


def test_single_hidden_layer_and_node_names():
    X, _ = dataset("iris")
    est = fitted("classifier", "iris", "tanh", (5,))
    graph = neon.neuralize(est, X)
    assert [n.name for n in graph.nodes] == ["dense1", "tanh1", "dense2"]
    assert np.abs(_softmax(graph(X)) - est.predict_proba(X)).max() < 1e-12


# ----------------------------------------------------------------------------- 4. LRP

def _zero_bias(est):
    est = copy.deepcopy(est)
    est.intercepts_ = [np.zeros_like(b) for b in est.intercepts_]
    return est


def _gradient_times_input(est, X, target):
    """Gradient × input of logit ``target`` by autograd through a torch MLP built here."""
    x = torch.tensor(X, requires_grad=True)
    a = x
    for i, w in enumerate(est.coefs_):
        a = a @ torch.tensor(w)
        if i < len(est.coefs_) - 1:
            a = torch.relu(a)
    a[torch.arange(len(X)), torch.as_tensor(target)].sum().backward()
    return (x.grad * x).detach().numpy(), a.detach().numpy()


@pytest.mark.parametrize("data", ["iris", "wine", "digits"])
def test_lrp0_on_zero_bias_relu_mlp_is_gradient_times_input(data):
    X, _ = dataset(data)
    est = _zero_bias(fitted("classifier", data))
    graph = neon.neuralize(est, root="origin")
    pred = np.searchsorted(est.classes_, est.predict(X))
    R = lrp.explain(graph, X, composite=lrp.EpsilonOnly(0.0))
    expected, z = _gradient_times_input(est, X, pred)
    assert np.abs(R - expected).max() < 1e-10 * np.abs(expected).max()
    # and conserves: Σ_i R_i = the predicted logit (ReLU nets are positively homogeneous)
    f = z[np.arange(len(X)), pred]
    assert np.abs(R.sum(1) - f).max() < 1e-10 * np.abs(f).max()


COMPOSITES = {
    "EpsilonPlusFlat": lambda: lrp.EpsilonPlusFlat(),
    "EpsilonPlus": lambda: lrp.EpsilonPlus(),
    "EpsilonOnly(0.25)": lambda: lrp.EpsilonOnly(0.25),
    "Alpha2Beta1Flat": lambda: lrp.EpsilonAlpha2Beta1Flat(),
    "ZPlus-dense": lambda: lrp.Composite([("linear", lrp.rules.ZPlus())]),
}


@pytest.mark.parametrize("composite", list(COMPOSITES))
@pytest.mark.parametrize("data,activation", [("wine", "relu"), ("breast_cancer", "relu"),
                                             ("iris", "tanh"), ("random2", "logistic")])
def test_standard_composites_give_finite_relevance(data, activation, composite):
    X, _ = dataset(data)
    graph = neon.neuralize(fitted("classifier", data, activation), X)
    expl = lrp.explain(graph, X, composite=COMPOSITES[composite](), return_all=True)
    assert expl.relevance.shape == X.shape
    assert np.isfinite(expl.relevance).all()
    assert np.isfinite(np.asarray(expl.output)).all()
    assert (np.asarray(expl.output) >= 0).all()  # the predicted class's logit or |z|


def test_flat_on_first_layer_spreads_evenly():
    X, _ = dataset("wine")
    graph = neon.neuralize(fitted("classifier", "wine"), X)
    expl = lrp.explain(graph, X, composite=lrp.EpsilonPlusFlat(), return_all=True)
    first = expl.nodes["dense1"].sum(1)  # relevance arriving at the first layer's output
    expected = np.repeat((np.asarray(first) / X.shape[1])[:, None], X.shape[1], 1)
    assert np.allclose(expl.relevance, expected, rtol=1e-5, atol=1e-8)


def test_regressor_default_target_explains_every_output():
    X, _ = dataset("regression")
    est = _zero_bias(fitted("regressor", "regression"))
    graph = neon.neuralize(est, root="origin")
    R = lrp.explain(graph, X, composite=lrp.EpsilonOnly(0.0))
    assert np.allclose(R.sum(1), est.predict(X).sum(1), rtol=1e-9, atol=1e-10)
    R1 = lrp.explain(graph, X, target=1, composite=lrp.EpsilonOnly(0.0))
    assert np.allclose(R1.sum(1), est.predict(X)[:, 1], rtol=1e-9, atol=1e-10)


# ----------------------------------------------------------------------------- 5. bad input

def test_unfitted_mlp():
    with pytest.raises(NotFittedError, match="MLPClassifier is not fitted"):
        neon.neuralize(MLPClassifier())


def test_unsupported_activation_named():
    est = copy.deepcopy(fitted("classifier", "iris"))
    est.activation = "softsign"
    with pytest.raises(TypeError, match="activation='softsign'.*relu, tanh, logistic"):
        neon.neuralize(est)


def test_mlp_bad_data():
    X, _ = dataset("iris")
    est = fitted("classifier", "iris")
    with pytest.raises(ValueError, match="has 2 features, but the estimator was fitted with 4"):
        neon.neuralize(est, X[:, :2])
    bad = X.copy()
    bad[3, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        neon.neuralize(est, bad)
