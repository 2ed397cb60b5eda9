"""Sparseness (Gini index) and complexity (entropy) of relevance maps
(lrp.metrics.complexity).

Expected values come from hand computations (one-hot, uniform and small maps), from the
Gini index's mean-absolute-difference form computed with numpy, from scipy.stats.entropy,
and from quantus 0.6.0's Sparseness and Complexity, never from the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import entropy
from torch import nn

import lrp.metrics as M

torch.set_num_threads(1)
F64 = torch.float64


def _gini_pairs(a):
    """Σ_i Σ_j |c_i − c_j| / (2 P Σ c) per row, c = |a| (the mean absolute difference)."""
    c = np.abs(a.reshape(len(a), -1))
    p = c.shape[1]
    return np.abs(c[:, :, None] - c[:, None, :]).sum((1, 2)) / (2 * p * c.sum(1))


def test_sparseness_by_hand():
    for p in (1, 2, 5, 64):
        one_hot = np.zeros((1, p))
        one_hot[0, p // 2] = -3.0                          # the sign does not matter
        assert M.sparseness(one_hot).values[0] == pytest.approx(1 - 1 / p, abs=1e-15)
        assert M.sparseness(np.full((1, p), 0.7)).values[0] == pytest.approx(0.0, abs=1e-15)
    # c = 1, 2, 3, 4: (−3·1 − 1·2 + 1·3 + 3·4) / (4 · 10) = 0.25
    assert M.sparseness(np.array([[4.0, -1.0, 3.0, 2.0]])).values[0] == pytest.approx(0.25)
    score = M.sparseness(np.ones((2, 3)))
    assert score.higher_is_better and score.name == "sparseness"


def test_sparseness_against_the_mean_absolute_difference():
    rng = np.random.default_rng(0)
    r = rng.normal(size=(7, 3, 4, 5)) * rng.random((7, 1, 1, 1)) ** 3
    r[2, :, :2] = 0.0                                      # zeros count as features
    np.testing.assert_allclose(M.sparseness(r).values, _gini_pairs(r), rtol=1e-12)
    t = M.sparseness(torch.as_tensor(r, dtype=torch.float32))
    np.testing.assert_allclose(t.values, _gini_pairs(r), rtol=2e-5)
    # every element is a feature: channels are not summed
    assert not np.allclose(M.sparseness(r).values, _gini_pairs(r.sum(1)))
    np.testing.assert_allclose(M.sparseness(r * 1e-9).values, M.sparseness(r).values,
                               rtol=1e-12)


def test_complexity_by_hand():
    for p in (1, 2, 5, 64):
        one_hot = np.zeros((1, p))
        one_hot[0, 0] = 2.0
        assert M.complexity(one_hot).values[0] == pytest.approx(0.0, abs=1e-15)
        assert M.complexity(np.full((1, p), -0.3)).values[0] == pytest.approx(math.log(p))
    # shares 1/4, 1/4, 1/2: −(2 · ¼ log ¼ + ½ log ½) = 1.5 log 2
    assert M.complexity(np.array([[1.0, -1.0, 2.0, 0.0]])).values[0] == pytest.approx(
        1.5 * math.log(2))
    score = M.complexity(np.ones((2, 3)))
    assert not score.higher_is_better and score.name == "complexity"


def test_complexity_against_scipy():
    rng = np.random.default_rng(1)
    r = rng.normal(size=(6, 2, 9)) * rng.random((6, 1, 1)) ** 3
    r[0, 0] = 0.0
    expected = entropy(np.abs(r.reshape(6, -1)), axis=1)      # scipy normalizes to Σ = 1
    np.testing.assert_allclose(M.complexity(r).values, expected, rtol=1e-12)
    np.testing.assert_allclose(M.complexity(torch.as_tensor(r)).values, expected, rtol=1e-12)


@pytest.fixture(scope="module")
def quantus_graph():
    quantus = pytest.importorskip("quantus")
    import neon

    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(2 * 5 * 6, 3)).double()
    return quantus, neon.neuralize(net, torch.zeros(1, 2, 5, 6, dtype=F64))


def test_against_quantus(quantus_graph):
    """quantus.Sparseness adds 1e-7 to the (max-normalized) |R| before its Gini sum, which
    shifts it by ~1e-7 relative; quantus.Complexity takes log(p + 1e-12)."""
    quantus, graph = quantus_graph
    rng = np.random.default_rng(2)
    n = 12
    a = rng.normal(size=(n, 2, 5, 6))
    x, y = rng.normal(size=a.shape), np.zeros(n, int)
    for normalise in (False, True):
        kw = dict(abs=True, normalise=normalise, disable_warnings=True)
        sparse = quantus.Sparseness(**kw)(model=graph, x_batch=x, y_batch=y, a_batch=a.copy())
        np.testing.assert_allclose(M.sparseness(a).values, sparse, rtol=1e-5)
        simple = quantus.Complexity(**kw)(model=graph, x_batch=x, y_batch=y, a_batch=a.copy())
        np.testing.assert_allclose(M.complexity(a).values, simple, rtol=1e-9)


def test_all_zero_maps_are_nan_with_a_warning():
    r = np.ones((3, 4))
    r[1] = 0.0
    with pytest.warns(RuntimeWarning, match="1 maps are all zero"):
        s = M.sparseness(r)
    with pytest.warns(RuntimeWarning, match="complexity is undefined"):
        c = M.complexity(r)
    np.testing.assert_array_equal(np.isnan(s.values), [False, True, False])
    np.testing.assert_array_equal(np.isnan(c.values), [False, True, False])
    assert s.values[0] == 0.0 and c.values[0] == pytest.approx(math.log(4))
