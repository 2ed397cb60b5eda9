"""lrp.metrics.conservation: δ = |ΣR − f| / |f| per sample.

Expected values come from numpy forward passes and numpy LRP-0 / LRP-ε written here on the
torch weights, from hand formulas (gradient × input of a linear model: R = w ⊙ x, so
δ = |b| / |w·x + b|), and from scikit-learn's k-means distances — never from the code under
test.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import lrp
import lrp.metrics
import neon
from neon.ops import Add, Linear

torch.set_num_threads(1)
F64 = torch.float64


def _frozen(net):
    net = net.to(F64).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _np(t):
    return t.detach().numpy().astype(np.float64)


def _mlp(bias: bool, seed=0):
    torch.manual_seed(seed)
    net = _frozen(nn.Sequential(nn.Linear(4, 16, bias=bias), nn.ReLU(),
                                nn.Linear(16, 3, bias=bias)))
    x = torch.randn(7, 4, dtype=F64)
    return net, neon.neuralize(net, x[:1]), x


def _lrp_eps_numpy(net, x, target, eps):
    """LRP-ε (ε = 0: LRP-0) on Linear → ReLU → Linear in numpy, with the relevance absorbed
    per layer in closed form, Σ_k R_k (b_k + ε s_k) / (z_k + ε s_k)."""
    w1, w2 = _np(net[0].weight), _np(net[2].weight)
    b1 = _np(net[0].bias) if net[0].bias is not None else np.zeros(w1.shape[0])
    b2 = _np(net[2].bias) if net[2].bias is not None else np.zeros(w2.shape[0])
    a0 = _np(x)
    z1 = a0 @ w1.T + b1
    a1 = np.maximum(z1, 0)
    z2 = a1 @ w2.T + b2
    f = z2[np.arange(len(a0)), target]
    r2 = np.zeros_like(z2)
    r2[np.arange(len(a0)), target] = f

    def back(a, w, b, z, r):
        s = np.where(z >= 0, 1.0, -1.0)
        d = z + eps * s
        q = np.where(d != 0, r / np.where(d != 0, d, 1.0), 0.0)
        absorbed = (q * (b + eps * s)).sum(1)
        return a * (q @ w), absorbed

    r1, absorbed2 = back(a1, w2, b2, z2, r2)
    r0, absorbed1 = back(a0, w1, b1, z1, r1)
    return f, r0, absorbed1, absorbed2


# ---------------------------------------------------------------------------- LRP


def test_lrp0_on_a_bias_free_relu_net_conserves_to_float_precision():
    net, g, x = _mlp(bias=False)
    target = np.array([0, 1, 2, 0, 1, 2, 0])
    e = lrp.explain(g, x, target, composite=lrp.EpsilonOnly(epsilon=0.0), return_all=True)
    res = lrp.metrics.conservation(g, x, e, target)
    f, r0, _, _ = _lrp_eps_numpy(net, x, target, eps=0.0)
    np.testing.assert_allclose(res.output, f, rtol=1e-12)
    np.testing.assert_allclose(res.total, r0.sum(1), rtol=1e-12)
    assert np.all(res.delta.values < 1e-12)
    assert res.median < 1e-12 and res.p95 < 1e-12
    assert res.delta.higher_is_better is False
    assert np.all(np.abs(res.absorbed_total) < 1e-12)
    assert any("epsilon=0.0" in rule for rule in res.rules.values())


def test_zplus_on_positive_inputs_of_a_bias_free_net_conserves():
    net, g, _ = _mlp(bias=False, seed=3)
    x = torch.rand(6, 4, dtype=F64) + 0.1
    res = lrp.metrics.conservation(g, x, functools.partial(
        lrp.explain, composite=lrp.rules.ZPlus(stabilizer=0.0)))
    assert res.rules is not None          # run with return_all: the table is there
    assert np.all(np.abs(res.output) > 1e-3)
    assert np.all(res.delta.values < 1e-12)
    assert any("ZPlus" in rule for rule in res.rules.values())
    # the default stabilizer takes a small share, and the table accounts for it
    res = lrp.metrics.conservation(g, x, functools.partial(lrp.explain,
                                                           composite=lrp.rules.ZPlus()))
    assert np.all(res.delta.values > 1e-8)
    np.testing.assert_allclose(res.gap, res.absorbed_total, rtol=1e-9, atol=1e-15)


def test_with_biases_the_gap_is_the_absorbed_relevance():
    net, g, x = _mlp(bias=True)
    eps = 0.01
    e = lrp.explain(g, x, composite=lrp.EpsilonOnly(epsilon=eps), return_all=True)
    target = net(x).argmax(1).numpy()
    res = lrp.metrics.conservation(g, x, e)
    f, r0, absorbed1, absorbed2 = _lrp_eps_numpy(net, x, target, eps)
    np.testing.assert_allclose(res.output, f, rtol=1e-12)
    np.testing.assert_allclose(res.total, r0.sum(1), rtol=1e-12)
    np.testing.assert_allclose(res.delta.values, np.abs(r0.sum(1) - f) / np.abs(f),
                               rtol=1e-10)
    assert res.delta.mean() > 1e-4               # the biases really take a share
    np.testing.assert_allclose(res.absorbed["0"], absorbed1, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(res.absorbed["2"], absorbed2, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(res.gap, res.absorbed_total, rtol=1e-10, atol=1e-14)
    assert np.all(np.abs(res.unexplained) < 1e-12)
    text = res.summary()
    assert "median" in text and "95th percentile" in text and "absorbed" in text


def test_explain_given_as_a_method_gets_its_table():
    net, g, x = _mlp(bias=True)
    method = functools.partial(lrp.explain, composite=lrp.EpsilonOnly(epsilon=0.01))
    by_method = lrp.metrics.conservation(g, x, method)
    by_name = lrp.metrics.conservation(g, x, "explain")
    e = lrp.explain(g, x, composite=lrp.EpsilonOnly(epsilon=0.01), return_all=True)
    by_table = lrp.metrics.conservation(g, x, e)
    np.testing.assert_allclose(by_method.delta.values, by_table.delta.values, rtol=1e-12)
    np.testing.assert_allclose(by_method.absorbed_total, by_table.absorbed_total, rtol=1e-12)
    assert "EpsilonOnly" in by_method.source and "lrp.explain" in by_method.source
    assert by_name.rules is not None


def test_an_explanation_of_another_x_is_refused():
    net, g, x = _mlp(bias=True)
    e = lrp.explain(g, x, return_all=True)
    with pytest.raises(ValueError, match="another output"):
        lrp.metrics.conservation(g, x + 1.0, e)
    other = (net(x).argmax(1).numpy() + 1) % 3
    with pytest.raises(ValueError, match="another output"):
        lrp.metrics.conservation(g, x, e, target=other)


# ---------------------------------------------------------------------------- gradient × input


def test_gradient_x_input_of_a_bias_free_linear_model_is_exact():
    torch.manual_seed(1)
    net = _frozen(nn.Linear(5, 3, bias=False))
    x = torch.randn(9, 5, dtype=F64)
    g = neon.neuralize(net, x[:1])
    target = np.arange(9) % 3
    res = lrp.metrics.conservation(g, x.numpy(), lrp.gradient_x_input, target)
    w = _np(net.weight)
    f = (_np(x) * w[target]).sum(1)                  # f_c = w_c · x, R = w_c ⊙ x
    np.testing.assert_allclose(res.output, f, rtol=1e-13)
    np.testing.assert_allclose(res.total, f, rtol=1e-12)
    assert np.all(res.delta.values < 1e-12)
    assert res.source == "lrp.gradient_x_input" and res.rules is None


def test_gradient_x_input_with_a_bias_misses_exactly_the_bias():
    torch.manual_seed(2)
    net = _frozen(nn.Linear(5, 2))
    x = torch.randn(8, 5, dtype=F64)
    g = neon.neuralize(net, x[:1])
    res = lrp.metrics.conservation(g, x, lrp.gradient_x_input, target=lrp.Column(1))
    w, b = _np(net.weight)[1], float(net.bias[1])
    f = _np(x) @ w + b
    np.testing.assert_allclose(res.delta.values, abs(b) / np.abs(f), rtol=1e-10)
    np.testing.assert_allclose(res.gap, np.full(8, b), rtol=1e-10)


def test_precomputed_relevance_and_chunks():
    torch.manual_seed(2)
    net = _frozen(nn.Linear(5, 2))
    x = torch.randn(8, 5, dtype=F64)
    g = neon.neuralize(net, x[:1])
    r = lrp.gradient_x_input(g, x, 0)
    whole = lrp.metrics.conservation(g, x, r, 0)
    chunked = lrp.metrics.conservation(g, x, r.numpy(), 0, batch_size=3)
    assert whole.source == "precomputed"
    np.testing.assert_allclose(whole.delta.values, chunked.delta.values, rtol=1e-13)
    attribution = lrp.gradient_x_input(g, x, 0, return_all=True)
    np.testing.assert_allclose(lrp.metrics.conservation(g, x, attribution, 0).delta.values,
                               whole.delta.values, rtol=1e-13)


def test_several_graph_inputs_are_summed():
    rng = np.random.default_rng(0)
    wa, wb = rng.normal(size=(2, 3)), rng.normal(size=(2, 4))
    g = neon.Graph()
    g.add_input("a", (3,))
    g.add_input("b", (4,))
    g.add_node("la", Linear(torch.tensor(wa), None), ["a"])
    g.add_node("lb", Linear(torch.tensor(wb), None), ["b"])
    g.add_node("sum", Add(), ["la", "lb"])
    g.set_output("sum")
    xa, xb = rng.normal(size=(5, 3)), rng.normal(size=(5, 4))
    res = lrp.metrics.conservation(g, (xa, xb), lrp.gradient_x_input, target=lrp.Column(0))
    f = xa @ wa[0] + xb @ wb[0]
    np.testing.assert_allclose(res.output, f, rtol=1e-13)
    np.testing.assert_allclose(res.total, f, rtol=1e-12)


# ---------------------------------------------------------------------------- k-means


def test_neuralized_kmeans_on_wine_conserves():
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler

    X = StandardScaler().fit_transform(load_wine().data)
    km = KMeans(3, n_init=4, random_state=0).fit(X)
    g = neon.neuralize(km, X)
    res = lrp.metrics.conservation(g, X, "explain")
    d = np.sort(km.transform(X) ** 2, axis=1)      # the assigned cluster's logit f_c is
    np.testing.assert_allclose(res.output, d[:, 1] - d[:, 0], rtol=1e-9)  # d_(2) − d_(1)
    assert np.all(res.output > 0)
    assert res.p95 < 1e-10 and np.nanmax(res.delta.values) < 1e-9
    assert np.all(np.abs(res.absorbed_total) < 1e-9 * res.output)
    assert "conservation" in res.summary()


# ---------------------------------------------------------------------------- f(x) = 0


def test_zero_output_gives_nan_and_a_warning_never_inf():
    w = torch.tensor([[1.0, -2.0, 0.5]], dtype=F64)
    g = neon.Graph()
    g.add_input("x", (3,))
    g.add_node("fc", Linear(w, None), ["x"])
    g.set_output("fc")
    x = torch.tensor([[1.0, 1.0, 2.0],      # w·x = 0 exactly
                      [0.0, 0.0, 0.0],      # x = 0
                      [1.0, 0.0, 0.0],
                      [0.3, 0.1, 0.7]], dtype=F64)
    with pytest.warns(RuntimeWarning, match="f\\(x\\) = 0 for 2 sample"):
        res = lrp.metrics.conservation(g, x, lrp.gradient_x_input, target=0)
    assert np.isnan(res.delta.values[:2]).all()
    assert not np.isinf(res.delta.values).any()
    assert np.all(res.delta.values[2:] < 1e-13)
    np.testing.assert_allclose(res.median, float(np.median(res.delta.values[2:])))
    np.testing.assert_allclose(res.gap[:2], 0.0, atol=1e-15)
    assert "undefined" in res.summary()


def test_no_warning_when_every_output_is_defined():
    net, g, x = _mlp(bias=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lrp.metrics.conservation(g, x, lrp.gradient_x_input)
