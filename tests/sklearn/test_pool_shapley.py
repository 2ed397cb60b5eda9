"""Shapley values of the density models against the data mean (``lrp.rules.PoolShapley``).

Every expected value here comes from scikit-learn's own ``score_samples`` evaluated at the
coalition points, or from numpy enumerating all coalitions; none from the code under test.
The rule's orders are read from ``PoolShapley.orders`` (the random draw is the rule's; what
it does with each order is checked independently).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

import lrp
import neon
from lrp.rules import PoolShapley
from neon.ops import DistancePool, SoftMin, SquaredDistance

torch.set_num_threads(1)
TYPES = ("full", "tied", "diag", "spherical")


def blobs(n=120, d=4, seed=0):
    """Three elongated, correlated blobs: mixtures with several overlapping components."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d))
    centres = rng.normal(scale=3.0, size=(3, d))
    return np.concatenate([rng.normal(size=(n // 3, d)) @ mix + c for c in centres])


def outliers(X, n=12, seed=1):
    rng = np.random.default_rng(seed)
    return X.mean(0) + 2.5 * X.std(0) * rng.normal(size=(n, X.shape[1]))


def outlierness(model, Z):
    """o(Z) from scikit-learn alone, in the units the graph uses (docs/neon.md)."""
    est = model[-1] if hasattr(model, "steps") else model
    if isinstance(est, GaussianMixture):
        return -model.score_samples(Z)
    if isinstance(est, OneClassSVM):
        # from the fitted attributes (score_samples = decision_function + ρ loses digits far
        # from the data): o = −γ⁻¹ log Σ_j a_j exp(−γ ‖z − u_j‖²), a = α / Σα
        if hasattr(model, "steps"):
            Z = model[:-1].transform(Z)
        alpha = est.dual_coef_.ravel() / est.dual_coef_.sum()
        g = -est._gamma * ((Z[:, None] - est.support_vectors_[None]) ** 2).sum(2)
        top = g.max(1, keepdims=True)
        return -(np.log((alpha * np.exp(g - top)).sum(1)) + top[:, 0]) / est._gamma
    h = float(est.bandwidth_)                               # KernelDensity
    bias = 0.5 * Z.shape[1] * math.log(2 * math.pi * h * h)
    return (-model.score_samples(Z) - bias) * (2 * h * h)


def permutation_reference(model, x, mean, orders):
    """φ_i + o(x̄)/d by walking every order with scikit-learn's score_samples."""
    n, d = x.shape
    phi = np.zeros((n, d))
    for order in orders:
        point = np.repeat(mean[None], n, 0)
        before = outlierness(model, point)
        for i in order:
            point[:, i] = x[:, i]
            after = outlierness(model, point)
            phi[:, i] += after - before
            before = after
    return phi / len(orders) + outlierness(model, mean[None])[0] / d


def exact_shapley(model, x, mean):
    """The exact Shapley values against the single baseline x̄, by all 2^d coalitions."""
    n, d = x.shape
    value = {}
    for mask in itertools.product((False, True), repeat=d):
        value[mask] = outlierness(model, np.where(np.array(mask)[None], x, mean[None]))
    phi = np.zeros((n, d))
    for mask, v in value.items():
        size = sum(mask)
        for i in range(d):
            if not mask[i]:
                w = math.factorial(size) * math.factorial(d - size - 1) / math.factorial(d)
                phi[:, i] += w * (value[mask[:i] + (True,) + mask[i + 1:]] - v)
    return phi


def models():
    X = blobs()
    out = [(f"gmm-{kind}", GaussianMixture(3, covariance_type=kind, random_state=0).fit(X), X)
           for kind in TYPES]
    out.append(("gmm-pipeline", make_pipeline(StandardScaler(), GaussianMixture(
        2, random_state=0)).fit(X * [1, 10, 100, 0.1]), X * [1, 10, 100, 0.1]))
    out.append(("ocsvm", OneClassSVM(gamma=0.1, nu=0.2).fit(X), X))
    out.append(("ocsvm-pipeline", make_pipeline(StandardScaler(), OneClassSVM(nu=0.2)).fit(X),
                X))
    out.append(("kde", KernelDensity(bandwidth=1.5, leaf_size=1000).fit(X), X))
    return out


def neuralized(name, model, X):
    """The Shapley graph (KDE: opt-in; the others: the default with data)."""
    graph = neon.neuralize(model, X, root="shapley") if name == "kde" else \
        neon.neuralize(model, X)
    return graph


MODELS = models()


@pytest.mark.parametrize("name, model, X", MODELS, ids=[m[0] for m in MODELS])
def test_rule_walks_every_order_as_score_samples_does(name, model, X):
    graph = neuralized(name, model, X)
    assert isinstance(graph[graph.output].op, DistancePool)
    assert graph.meta["root"] == "shapley"
    x = outliers(X)
    relevance = np.asarray(lrp.explain(graph, x))
    pairs = graph[graph.output].op.pairs
    assert pairs == (8 if name.startswith("gmm") else 1)
    orders = PoolShapley().orders(X.shape[1], "cpu", pairs).numpy()
    expected = permutation_reference(model, x, X.mean(0), orders)
    o = outlierness(model, x)
    assert np.abs(relevance - expected).max() <= 1e-8 * np.abs(o).max()
    # conservation: Σ_i R_i = o(x) (every order telescopes from o(x̄) to o(x))
    assert np.abs(relevance.sum(1) - o).max() <= 1e-10 * np.abs(o).max()


def test_one_gaussian_gives_the_exact_shapley_value_with_one_pair():
    # an order and its reverse put every j before i once: exact for a quadratic o
    X = blobs(d=5)
    model = GaussianMixture(1, random_state=0).fit(X)
    graph = neon.neuralize(model, X)
    x = outliers(X)
    mean = X.mean(0)
    relevance = np.asarray(lrp.explain(graph, x, composite=PoolShapley(pairs=1, seed=7)))
    expected = exact_shapley(model, x, mean) + outlierness(model, mean[None])[0] / 5
    assert np.abs(relevance - expected).max() <= 1e-9 * np.abs(relevance).max()


def test_many_pairs_approach_the_exact_shapley_value_of_a_mixture():
    X = blobs(d=4)
    model = GaussianMixture(3, random_state=0).fit(X)
    graph = neon.neuralize(model, X)
    x = outliers(X, n=6)
    mean = X.mean(0)
    phi = exact_shapley(model, x, mean)
    share = outlierness(model, mean[None])[0] / 4
    few = np.asarray(lrp.explain(graph, x, composite=PoolShapley(pairs=1))) - share
    many = np.asarray(lrp.explain(graph, x, composite=PoolShapley(pairs=256))) - share
    err_many = np.abs(many - phi).max() / np.abs(phi).max()
    assert err_many < 0.02
    assert err_many < np.abs(few - phi).max() / np.abs(phi).max()


def test_the_feature_that_makes_the_outlier_is_ranked_first():
    # inliers: 6 features ~ N(0, 1); outliers differ from the data in feature 2 only
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 6))
    x = rng.normal(size=(20, 6)) * 0.5
    x[:, 2] = rng.choice([-1, 1], 20) * rng.uniform(4, 6, 20)
    for model in (GaussianMixture(2, random_state=0).fit(X), OneClassSVM(gamma=0.2).fit(X),
                  KernelDensity(bandwidth=1.0).fit(X)):
        graph = neon.neuralize(model, X, root="shapley")
        relevance = np.asarray(lrp.explain(graph, x))
        assert (relevance.argmax(1) == 2).all(), type(model).__name__


def test_faithfulness_on_wine_beats_the_published_rule():
    """A small version of benchmarks/bench_faithfulness.py's gmm family (docs/neon.md): the
    removal curve under both baselines falls faster with the Shapley rule."""
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    data = X[y == 0]
    model = make_pipeline(StandardScaler(), GaussianMixture(2, random_state=0)).fit(data)
    x = X[y != 0][::3]
    graphs = {root: neon.neuralize(model, data, root=root) for root in ("shapley", "split")}
    auc = {}
    for root, graph in graphs.items():
        relevance = lrp.explain(graph, x)
        for base in ("mean", "resample"):
            curve = lrp.metrics.pixel_flipping(graphs["split"], x, relevance, None,
                                               baseline=base, data=data, seed=0)
            auc[root, base] = float(curve.auc["morf"].mean())
    for base in ("mean", "resample"):
        assert auc["shapley", base] < auc["split", base] - 0.01, auc


def test_kernel_density_keeps_the_split_unless_asked():
    X = blobs()
    model = KernelDensity(bandwidth=1.5).fit(X)
    graph = neon.neuralize(model, X)
    assert graph.meta["root"] == "split" and type(graph["outlierness"].op) is SoftMin
    assert neon.neuralize(model, X, root="shapley").meta["root"] == "shapley"


def test_defaults_and_the_published_rule():
    X = blobs()
    model = GaussianMixture(2, random_state=0).fit(X)
    assert isinstance(neon.neuralize(model)[ "neg_log_density"].op, SoftMin)
    assert neon.neuralize(model).meta["root"] == "split"
    split = neon.neuralize(model, X, root="split")
    assert type(split["neg_log_density"].op) is SoftMin
    x = outliers(X)
    # root="split" with data is the network without data, explained the same way
    assert np.array_equal(np.asarray(lrp.explain(split, x)),
                          np.asarray(lrp.explain(neon.neuralize(model), x)))
    # the Shapley graph computes the same function and keeps the documented units node
    shapley = neon.neuralize(model, X)
    out, acts = shapley.forward(x, keep=["units"])
    assert np.allclose(out[:, 0], -model.score_samples(x), rtol=1e-10)
    h = acts["units"] + shapley.meta["component_constants"]
    assert np.array_equal(h.argmin(1), model.predict(x))
    # the published rule still runs on the Shapley graph and gives the split graph's answer
    published = lrp.Composite([(lrp.select.kind("distance_pool"),
                                lrp.rules.SoftMinRedistribution())])
    assert np.allclose(np.asarray(lrp.explain(shapley, x, composite=published)),
                       np.asarray(lrp.explain(split, x)), rtol=1e-12, atol=1e-12)


def test_deterministic_batch_independent_and_float32():
    X = blobs()
    model = GaussianMixture(3, random_state=0).fit(X)
    graph = neon.neuralize(model, X)
    x = outliers(X, n=40)
    first = np.asarray(lrp.explain(graph, x))
    assert np.array_equal(first, np.asarray(lrp.explain(graph, x)))
    assert not np.allclose(first, np.asarray(lrp.explain(graph, x,
                                                          composite=PoolShapley(seed=1))))
    alone = np.asarray(lrp.explain(graph, x[7:8]))
    assert np.allclose(alone, first[7:8], rtol=1e-12, atol=1e-12)
    small = PoolShapley()
    small.budget = 200                          # one sample per block
    assert np.allclose(np.asarray(lrp.explain(graph, x, composite=small)), first,
                       rtol=1e-12, atol=1e-12)
    x32 = torch.as_tensor(x, dtype=torch.float32)
    r32 = lrp.explain(graph.to(torch.float32), x32)
    assert r32.dtype == torch.float32
    assert np.allclose(r32.numpy(), first, rtol=1e-3, atol=1e-3 * np.abs(first).max())


def test_a_target_mask_scales_the_relevance():
    X = blobs()
    model = OneClassSVM(gamma=0.1).fit(X)
    graph = neon.neuralize(model, X)
    x = torch.as_tensor(outliers(X), dtype=torch.float64)
    full = lrp.explain(graph, x)
    masked = lrp.explain(graph, x, lambda out: out.new_full(out.shape, 0.5))   # R = 0.5 o
    assert torch.allclose(masked, 0.5 * full, rtol=1e-12)


@pytest.mark.parametrize("form", ["identity", "weight(d)", "weight(K,d)", "matrix(p,d)",
                                  "matrix(K,p,d)"])
@pytest.mark.parametrize("shift", [0.0, 40.0])
def test_prefix_distances_are_the_distances_of_the_coalition_points(form, shift):
    gen = torch.Generator().manual_seed(0)
    k, d = 3, 5

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    kw = {"identity": {}, "weight(d)": {"weight": randn(d).abs() + 0.5},
          "weight(K,d)": {"weight": randn(k, d).abs() + 0.5},
          "matrix(p,d)": {"matrix": randn(2, d)}, "matrix(K,p,d)": {"matrix": randn(k, 4, d)}}
    op = SquaredDistance(randn(k, d) + shift, **kw[form])
    x, ref = randn(4, d) + shift, randn(d) + shift
    order = torch.stack([torch.randperm(d, generator=gen) for _ in range(3)])
    got = op.prefix_distances(x, ref, order)
    assert got.shape == (4, 3, d + 1, k)
    centres = (op.centers if op.origin is None else op.centers + op.origin).numpy()
    for p in range(3):
        for r in range(d + 1):
            taken = np.zeros(d, dtype=bool)
            taken[order[p, :r].numpy()] = True
            y = np.where(taken, x.numpy(), ref.numpy())             # (4, d)
            diff = y[:, None, :] - centres[None]                    # (4, K, d)
            if form == "identity":
                want = (diff ** 2).sum(2)
            elif form.startswith("weight"):
                want = (diff ** 2 * kw[form]["weight"].numpy() ** 2).sum(2)
            elif form == "matrix(p,d)":
                want = ((diff @ kw[form]["matrix"].numpy().T) ** 2).sum(2)
            else:
                a = kw[form]["matrix"].numpy()
                want = (np.einsum("kpd,nkd->nkp", a, diff) ** 2).sum(2)
            assert np.abs(got[:, p, r].numpy() - want).max() <= 1e-9 * (1 + want.max())


def test_distance_pool_refuses_what_it_cannot_use():
    geometry = SquaredDistance(torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="SquaredDistance"):
        DistancePool(1.0, None, torch.zeros(3), geometry=SoftMin(1.0))
    with pytest.raises(ValueError, match=r"reference must be a \(3,\) input point"):
        DistancePool(1.0, None, torch.zeros(4), geometry)
    with pytest.raises(ValueError, match=r"offset must be \(2,\)"):
        DistancePool(1.0, torch.zeros(3), torch.zeros(3), geometry)
    with pytest.raises(ValueError, match="pairs must be an integer from 1 to 1024"):
        DistancePool(1.0, None, torch.zeros(3), geometry, pairs=0)


def test_tensor_reference_data_and_a_geometry_that_drifted():
    X = blobs()
    model = OneClassSVM(gamma=0.1).fit(X)
    as_tensor = torch.as_tensor(X).requires_grad_()
    graph = neon.neuralize(model, as_tensor)
    assert np.allclose(graph[graph.output].op.reference.numpy(), X.mean(0), rtol=1e-12)
    x = outliers(X)
    lrp.explain(graph, x)
    with torch.no_grad():
        graph[graph.output].op.geometry.centers.add_(0.5)     # the copy no longer matches
    with pytest.raises(lrp.rules.RuleError, match="geometry"):
        lrp.explain(graph, x)


def test_an_infinite_stiffness_is_refused_by_the_pool():
    with pytest.raises(ValueError, match="beta must be finite"):
        SoftMin(math.inf)
    with pytest.raises(ValueError, match="beta must be finite"):
        DistancePool(math.inf, None, torch.zeros(3, dtype=torch.float64),
                     SquaredDistance(torch.zeros(2, 3, dtype=torch.float64)))


def test_batch_size_does_not_change_the_relevance():
    X = blobs()
    model = GaussianMixture(3, random_state=0).fit(X)
    graph = neon.neuralize(model, X)
    x = outliers(X, n=30)
    whole = lrp.explain(graph, x)
    assert np.array_equal(np.asarray(lrp.explain(graph, x, batch_size=7)), np.asarray(whole))


def test_the_svc_duel_rule_refuses_a_drifted_geometry_too():
    from sklearn.svm import SVC

    X = blobs()
    y = (X[:, 0] > X[:, 0].mean()).astype(int)
    graph = neon.neuralize(SVC().fit(X, y), X)
    x = outliers(X)
    lrp.explain(graph, x)
    with torch.no_grad():
        graph["duels"].op.geometry.centers.mul_(1.01)
    with pytest.raises(lrp.rules.RuleError, match="geometry"):
        lrp.explain(graph, x)


def test_the_in_place_pool_gives_the_forward_values():
    gen = torch.Generator().manual_seed(2)
    a = torch.rand(3, 4, 6, generator=gen, dtype=torch.float64) * 50
    for op in (SoftMin(0.3), SoftMin(2.0, torch.randn(6, generator=gen, dtype=torch.float64))):
        want = op(a)[..., 0]
        got = op.pooled_(a.clone())
        assert torch.allclose(got, want, rtol=1e-13, atol=0)
