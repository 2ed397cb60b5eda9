"""MLPs explained relative to the data mean by DeepLIFT's rules (``root="deeplift"``, the
default of an MLPRegressor given data): RevealCancel and Rescale against a numpy
implementation written here, completeness Σ R = f(x) − f(μ), and the neuralizer's choices."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import lrp
import neon
from lrp import rules
from neon.ops import ReferencedMLP, RootedLinear
from neon.testing import check_neuralizer

torch.set_num_threads(1)
G = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh,
     "logistic": lambda z: 1 / (1 + np.exp(-z)), "identity": lambda z: z}


def _data(seed=0, n=80, d=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * [1.0, 3.0, 0.5, 2.0] + [5.0, -2.0, 10.0, 0.0]
    y = X[:, 0] * X[:, 1] - np.abs(X[:, 2] - 10) + 0.1 * rng.normal(size=n)
    return X, y


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, y)


def _layers(est):
    return [(np.asarray(W), np.asarray(b)) for W, b in zip(est.coefs_, est.intercepts_)]


def _numpy_deeplift(est, x, ref, rule):
    """DeepLIFT from ``ref`` written out in numpy (Shrikumar et al. 2017): every unit's change
    carried forward as a positive and a negative part, then the parts' multipliers back from
    the output. Returns the input contributions, summing to f(x) − f(ref)."""
    g = G[est.activation]
    layers = _layers(est)
    d = x - ref
    pos, neg = np.clip(d, 0, None), np.clip(d, None, 0)
    a_ref, saved = ref[None], []
    for i, (W, b) in enumerate(layers):                  # W: (in, out)
        gi = G["identity"] if i == len(layers) - 1 else g
        zr = a_ref @ W + b
        terms = np.concatenate([pos[:, :, None] * W[None], neg[:, :, None] * W[None]], 1)
        dz_pos, dz_neg = np.clip(terms, 0, None).sum(1), np.clip(terms, None, 0).sum(1)
        if rule == "revealcancel":
            dy_pos = 0.5 * (gi(zr + dz_pos) - gi(zr)) + 0.5 * (gi(zr + dz_neg + dz_pos)
                                                              - gi(zr + dz_neg))
            dy_neg = 0.5 * (gi(zr + dz_neg) - gi(zr)) + 0.5 * (gi(zr + dz_pos + dz_neg)
                                                              - gi(zr + dz_pos))
            m_pos, m_neg = _ratio(dy_pos, dz_pos), _ratio(dy_neg, dz_neg)
        else:
            slope = _ratio(gi(zr + dz_pos + dz_neg) - gi(zr), dz_pos + dz_neg)
            m_pos = m_neg = slope
            dy_pos, dy_neg = slope * dz_pos, slope * dz_neg
        saved.append((W, m_pos, m_neg))
        pos, neg, a_ref = dy_pos, dy_neg, gi(zr)
    big_pos = big_neg = np.ones((len(x), 1))            # the output: M = 1
    for W, m_pos, m_neg in reversed(saved):
        u_pos, u_neg = big_pos * m_pos, big_neg * m_neg  # (n, out)
        # a positive input part meets w > 0 in Δz⁺ and w < 0 in Δz⁻; a negative part the reverse
        up, un = u_pos[:, None, :], u_neg[:, None, :]
        big_pos = (W[None] * np.where(W[None] > 0, up, un)).sum(2)
        big_neg = (W[None] * np.where(W[None] < 0, up, un)).sum(2)
    return big_pos * np.clip(d, 0, None) + big_neg * np.clip(d, None, 0)


def _ratio(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b != 0, a / np.where(b != 0, b, 1.0), 0.0)


@pytest.mark.parametrize("rule", ["revealcancel", "rescale"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic"])
def test_rules_equal_a_numpy_deeplift(rule, activation):
    X, y = _data()
    est = _fit(MLPRegressor(hidden_layer_sizes=(6, 5), activation=activation,
                            solver="lbfgs", max_iter=300, random_state=0), X, y)
    graph = neon.neuralize(est, X)
    assert graph.meta["root"] == "deeplift"
    assert isinstance(graph["mlp"].op, ReferencedMLP) and graph.output == "mlp"
    x = X[::3]
    composite = None if rule == "revealcancel" else lrp.Composite(
        [(lrp.select.kind("referenced_mlp"), rules.Rescale(0.0))])
    relevance = lrp.explain(graph, x, composite=composite)
    expected = _numpy_deeplift(est, x, X.mean(0), rule)
    scale = np.abs(expected).max()
    assert np.abs(relevance - expected).max() <= 1e-9 * scale
    # completeness: the contributions sum to the prediction's difference from the mean's
    diff = est.predict(x) - est.predict(X.mean(0, keepdims=True))
    assert np.abs(relevance.sum(1) - diff).max() <= 1e-9 * np.abs(diff).max()


def test_revealcancel_differs_from_rescale_where_contributions_cancel():
    """One ReLU unit z = x1 + x2 + 0.5, reference (0, 0) (z̄ = 0.5), x = (3, −2): Δz⁺ = 3,
    Δz⁻ = −2, Δz = Δy = 1. By hand, RevealCancel:
    Δy⁺ = ½(relu(3.5) − relu(0.5)) + ½(relu(1.5) − relu(−1.5)) = 2.25,
    Δy⁻ = ½(relu(−1.5) − relu(0.5)) + ½(relu(1.5) − relu(3.5)) = −1.25, so
    R = (3 · 2.25/3, −2 · 1.25/2) = (2.25, −1.25); Rescale: (3, −2) · Δy/Δz = (3, −2).
    Both sum to f(x) − f(reference) = 1.5 − 0.5."""
    est = MLPRegressor(hidden_layer_sizes=(1,))
    est.coefs_ = [np.array([[1.0], [1.0]]), np.array([[1.0]])]
    est.intercepts_ = [np.array([0.5]), np.array([0.0])]
    est.n_layers_, est.out_activation_, est.activation = 3, "identity", "relu"
    est.n_features_in_, est.n_outputs_ = 2, 1
    data = np.array([[1.0, -1.0], [-1.0, 1.0]])         # mean (0, 0)
    graph = neon.neuralize(est, data)
    x = np.array([[3.0, -2.0]])
    np.testing.assert_allclose(lrp.explain(graph, x), [[2.25, -1.25]], rtol=1e-10)
    rescale = lrp.explain(graph, x, composite=lrp.Composite(
        [(lrp.select.kind("referenced_mlp"), rules.Rescale(0.0))]))
    np.testing.assert_allclose(rescale, [[3.0, -2.0]], rtol=1e-12)


def test_pipeline_regressor_measures_from_the_raw_mean():
    X, y = _data(seed=1)
    est = _fit(make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(8,),
                                                             solver="lbfgs", max_iter=300,
                                                             random_state=0)), X, y)
    graph = neon.neuralize(est, X)
    relevance = lrp.explain(graph, X[:10])
    diff = est.predict(X[:10]) - est.predict(X.mean(0, keepdims=True))
    assert np.abs(relevance.sum(1) - diff).max() <= 1e-9 * np.abs(diff).max()
    assert check_neuralizer(est, X[::4])["equivalence_error"] <= 1e-10


def test_choices_of_the_neuralizer():
    X, y = _data()
    reg = _fit(MLPRegressor(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=200,
                            random_state=0), X, y)
    clf = _fit(MLPClassifier((5,), solver="lbfgs", max_iter=200, random_state=0), X, y > 0)
    assert isinstance(neon.neuralize(clf, X)["dense1"].op, RootedLinear)   # classifiers
    assert isinstance(neon.neuralize(reg, X, root="equal")["dense1"].op, RootedLinear)
    deep = neon.neuralize(clf, X, root="deeplift")
    assert deep.meta["root"] == "deeplift" and deep["mlp"].op.activations == ["relu", "identity"]
    with pytest.raises(ValueError, match="needs reference data"):
        neon.neuralize(reg, root="deeplift")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert neon.neuralize(reg).meta["root"] == "origin"   # no data: the old rule
