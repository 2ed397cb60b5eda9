"""k-means (KMeans, MiniBatchKMeans) neuralized: the five test groups of docs/neon.md.

Expected values come from scikit-learn (``transform``, ``predict``) or from numpy formulas on
``cluster_centers_``, never from the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.cluster import DBSCAN, KMeans, MiniBatchKMeans
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError

import lrp
import neon
from neon.graph import GraphInputError
from neon.sklearn import UnsupportedEstimatorError
from neon.sklearn.kmeans import neuralize_kmeans

DATASETS = ("iris", "wine", "digits", "breast_cancer")
TOL = 1e-10


def logits_numpy(X, mu):
    d = ((X[:, None, :] - mu[None]) ** 2).sum(2)
    out = np.empty_like(d)
    for c in range(mu.shape[0]):
        out[:, c] = np.delete(d, c, 1).min(1) - d[:, c]
    return out


def midpoint_numpy(X, mu, beta, w2=None):
    """R_i = Σ_k softmin_β(h)_k f/h_k [w²(x − μ_k)² − w²(x − μ_c)²]_i for the assigned c."""
    w2 = np.ones(X.shape[1]) if w2 is None else w2
    d = (w2 * (X[:, None, :] - mu[None]) ** 2)
    dist = d.sum(2)
    c = dist.argmin(1)
    n = np.arange(len(X))
    h = dist - dist[n, c][:, None]
    h[n, c] = np.inf
    f = h.min(1)
    p = np.exp(-beta * (h - f[:, None]))
    p /= p.sum(1, keepdims=True)
    s = np.where(np.isinf(h), 0, p * f[:, None] / np.where(np.isinf(h), 1, h))
    return (s[:, :, None] * (d - d[n, c][:, None, :])).sum(1)


def fit(X, k=3, cls=KMeans, seed=0):
    if cls is KMeans:
        return KMeans(k, n_init=3, random_state=seed).fit(X)
    return MiniBatchKMeans(k, n_init=3, random_state=seed, batch_size=256).fit(X)


# ------------------------------------------------------------------ 1. equivalence

@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("cls", [KMeans, MiniBatchKMeans])
def test_logits_and_predict(nh, name, cls):
    X, _ = nh.load(name)
    km = fit(X, 4, cls)
    g = neon.neuralize(km, X)
    f = g(X)
    mu = km.cluster_centers_
    expected = logits_numpy(X, mu)
    scale = np.abs(expected).max()
    assert np.abs(f - expected).max() <= TOL * scale
    assert np.array_equal(f.argmax(1), km.predict(X))
    d2 = np.sort(km.transform(X) ** 2, 1)
    assert np.abs(f.max(1) - (d2[:, 1] - d2[:, 0])).max() <= 1e-9 * scale
    assert np.array_equal(f > 0, np.eye(4, dtype=bool)[km.predict(X)] & (f.max(1) > 0)[:, None])


def test_random_data_and_graph_meta(nh):
    X = nh.random_data(300, 6, seed=5, shift=20.0)
    km = fit(X, 5)
    g = neon.neuralize(km, X)
    assert g.dtype == torch.float64
    assert g.source is km and "logit" in g.explained
    np.testing.assert_allclose(g(X), logits_numpy(X, km.cluster_centers_), rtol=0,
                               atol=TOL * np.abs(logits_numpy(X, km.cluster_centers_)).max())
    expected_beta = 1 / logits_numpy(X, km.cluster_centers_).max(1).mean()
    assert g.meta["beta"] == pytest.approx(expected_beta, rel=1e-12)
    assert g["logits"].op.beta == g.meta["beta"]
    assert neuralize_kmeans(km, beta=0.25).meta["beta"] == 0.25
    assert neuralize_kmeans(km).meta["beta"] == 1.0


def test_pinned_centroids_regression():
    """Centroids pinned by hand (not by a seed): logits and relevance of a fixed point."""
    km = KMeans(3, n_init=1).fit(np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 3.0]]))
    km.cluster_centers_ = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 3.0]])
    g = neuralize_kmeans(km, beta=math.log(2) / 5)   # softmin weights ∝ 2^(−h/5)
    x = np.array([[1.0, 1.0]])
    np.testing.assert_allclose(g(x), [[3.0, -8.0, -3.0]], atol=1e-14)
    # h = (8, 3) for competitors (1, 2): p ∝ (2^-1.6, 2^-0.6) = (1/3, 2/3)
    # unit 1: (x−μ_1)² − (x−μ_0)² = [8, 0]; unit 2: [0, 3]; R = (1/3·3/8)[8, 0] + (2/3·3/3)[0, 3]
    np.testing.assert_allclose(lrp.explain(g, x)[0], [1.0, 2.0], rtol=1e-12)


# ------------------------------------------------------------------ 2. conservation

@pytest.mark.parametrize("name", DATASETS)
def test_conservation_and_midpoint_closed_form(nh, name):
    X, _ = nh.load(name)
    km = fit(X, 5)
    g = neon.neuralize(km, X, root="midpoint")   # with data the default is root="mean"
    e = lrp.explain(g, X, return_all=True)
    f = g(X).max(1)
    assert np.abs(e.relevance.sum(1) - f).max() <= TOL * np.abs(f).max()
    assert np.isfinite(e.relevance).all()
    expected = midpoint_numpy(X, km.cluster_centers_, g.meta["beta"])
    assert np.abs(e.relevance - expected).max() <= 1e-9 * np.abs(expected).max()
    np.testing.assert_allclose(nh.relevance_absorbed(e), 0, atol=TOL * np.abs(f).max())


def test_conservation_for_another_cluster(nh):
    X = nh.standardized("wine")
    km = fit(X, 3)
    g = neon.neuralize(km, X)
    for c in range(3):
        r = lrp.explain(g, X, target=c)
        f = g(X)[:, c]
        assert np.abs(r.sum(1) - f).max() <= TOL * np.abs(f).max()


def test_relevance_does_not_depend_on_batch(nh):
    X = nh.standardized("iris")
    g = neon.neuralize(fit(X, 3), X)
    full = lrp.explain(g, X)
    np.testing.assert_allclose(lrp.explain(g, X, batch_size=7), full, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(lrp.explain(g, X[5:6]), full[5:6], rtol=1e-12, atol=1e-15)


def test_centroids_and_ties_are_finite(nh):
    X = nh.standardized("wine")
    km = fit(X, 3)
    g = neon.neuralize(km, X)
    mu = km.cluster_centers_
    tie = (mu[0] + mu[1]) / 2
    pts = np.vstack([mu, tie])
    e = lrp.explain(g, pts, return_all=True)
    assert np.isfinite(e.relevance).all()
    f = g(pts).max(1)
    np.testing.assert_allclose(e.relevance.sum(1), f, atol=1e-9 * np.abs(f).max())


# ------------------------------------------------------------------ 3. pipelines

@pytest.mark.parametrize("scaler_index", range(8))
def test_scaler_folding_gives_bare_relevance(nh, scaler_index):
    X, _ = nh.load("wine")
    scaler = nh.scalers()[scaler_index].fit(X)
    Xs = scaler.transform(X)
    km = fit(Xs, 3)
    bare = neuralize_kmeans(km, beta=0.2)
    folded = neuralize_kmeans(km, preprocessing=nh.scaler_map(scaler), beta=0.2)
    fb, ff = bare(Xs), folded(X)
    assert np.abs(ff - fb).max() <= 1e-9 * np.abs(fb).max()
    rb, rf = lrp.explain(bare, Xs), lrp.explain(folded, X)
    assert np.abs(rf - rb).max() <= 1e-8 * np.abs(rb).max()
    assert np.abs(rf.sum(1) - ff.max(1)).max() <= TOL * np.abs(ff).max()


@pytest.mark.parametrize("whiten", [False, True])
def test_pca_folding_is_the_euler_split(nh, whiten):
    X = nh.standardized("wine")
    pca = PCA(5, whiten=whiten).fit(X)
    Z = pca.transform(X)
    km = fit(Z, 3)
    pre = nh.scaler_map(pca)
    g = neuralize_kmeans(km, preprocessing=pre, beta=0.5)
    f = g(X)
    expected = logits_numpy(Z, km.cluster_centers_)
    assert np.abs(f - expected).max() <= 1e-9 * np.abs(expected).max()
    r = lrp.explain(g, X)
    assert np.abs(r.sum(1) - f.max(1)).max() <= TOL * np.abs(f).max()
    # numpy: v_k = preimage of μ_k; R_i = Σ_k s_k[(x−v_k)_i (M(x−v_k))_i − (x−v_c)_i (M(x−v_c))_i]
    a = pre.matrix
    v = np.linalg.lstsq(a, (km.cluster_centers_ - pre.offset).T, rcond=None)[0].T
    m = a.T @ a
    diff = X[:, None, :] - v[None]
    terms = diff * np.einsum("de,nke->nkd", m, diff)
    dist = terms.sum(2)
    n, c = np.arange(len(X)), dist.argmin(1)
    h = dist - dist[n, c][:, None]
    h[n, c] = np.inf
    p = np.exp(-0.5 * (h - h.min(1, keepdims=True)))
    p /= p.sum(1, keepdims=True)
    s = np.where(np.isinf(h), 0, p * h.min(1, keepdims=True) / np.where(np.isinf(h), 1, h))
    expected_r = (s[:, :, None] * (terms - terms[n, c][:, None, :])).sum(1)
    assert np.abs(r - expected_r).max() <= 1e-8 * np.abs(expected_r).max()


def test_pipeline_neuralizer(nh):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    X, _ = nh.load("wine")
    pipe = make_pipeline(MinMaxScaler(), KMeans(3, n_init=3, random_state=0)).fit(X)
    g = neon.neuralize(pipe, X, beta=1.0, root="midpoint")
    assert np.array_equal(g(X).argmax(1), pipe.predict(X))
    bare = neuralize_kmeans(pipe[-1], beta=1.0)
    Xs = pipe[0].transform(X)
    rb, rp = lrp.explain(bare, Xs), lrp.explain(g, X)
    assert np.abs(rp - rb).max() <= 1e-8 * np.abs(rb).max()


# ------------------------------------------------------------------ 4. β → ∞

def test_beta_infinity_is_nearest_competitor(nh):
    X = nh.standardized("iris")
    km = fit(X, 4)
    g = neuralize_kmeans(km, beta=math.inf)
    r = lrp.explain(g, X)
    mu = km.cluster_centers_
    d = ((X[:, None] - mu[None]) ** 2)
    order = d.sum(2).argsort(1)
    n = np.arange(len(X))
    expected = d[n, order[:, 1]] - d[n, order[:, 0]]
    np.testing.assert_allclose(r, expected, atol=1e-10)
    soft = lrp.explain(neuralize_kmeans(km, beta=1e7), X)
    np.testing.assert_allclose(soft, expected, atol=1e-8)
    from lrp import Composite
    from lrp.rules import Midpoint

    override = lrp.explain(neuralize_kmeans(km, beta=1.0), X,
                           composite=Composite([("competition_min", Midpoint(math.inf))]))
    np.testing.assert_allclose(override, expected, atol=1e-10)


# ------------------------------------------------------------------ 5. bad input

def test_bad_input(nh):
    X = nh.standardized("iris")
    with pytest.raises(NotFittedError, match="KMeans is not fitted"):
        neon.neuralize(KMeans(3))
    with pytest.raises(UnsupportedEstimatorError, match="DBSCAN cannot be neuralized"):
        neon.neuralize(DBSCAN().fit(X))
    km = fit(X, 3)
    with pytest.raises(TypeError, match="sparse"):
        neon.neuralize(km, sp.csr_matrix(X))
    with pytest.raises(ValueError, match="NaN"):
        neon.neuralize(km, np.where(X > 2, np.nan, X))
    with pytest.raises(ValueError, match="3 features"):
        neon.neuralize(km, X[:, :3])
    g = neon.neuralize(km, X)
    with pytest.raises(GraphInputError, match="expected 4 features, got 3"):
        lrp.explain(g, X[:, :3])
    with pytest.raises(GraphInputError, match="NaN"):
        lrp.explain(g, np.where(X > 2, np.nan, X))
    with pytest.raises(GraphInputError, match="csr_matrix"):
        lrp.explain(g, sp.csr_matrix(X))
    with pytest.raises(ValueError, match="at least 2 clusters"):
        neon.neuralize(KMeans(1, n_init=1).fit(X))
    with pytest.raises(ValueError, match="beta must be positive"):
        neuralize_kmeans(km, beta=-1.0)


# ------------------------------------------------------------------ 6. root="equal" (data mean)

def equal_root_numpy(X, mu, mean, beta, target=None):
    """R_i = Σ_k s_k [w_ki (x_i − μ̄_i) + h_k(μ̄)/n_k on the n_k features with w_ki ≠ 0],
    s_k = softmin_β(h)_k f_c / h_k, h_k = d_k − d_c, w_k = 2(μ_c − μ_k) (Euclidean)."""
    d = ((X[:, None, :] - mu[None]) ** 2).sum(2)
    dm = ((mean - mu) ** 2).sum(1)
    c = d.argmin(1) if target is None else np.full(len(X), target)
    out = np.zeros_like(X)
    for n in range(len(X)):
        k = [j for j in range(len(mu)) if j != c[n]]
        h = d[n, k] - d[n, c[n]]
        f = h.min()
        p = np.exp(-beta * (h - f))
        p /= p.sum()
        for j, hj, pj in zip(k, h, p):
            w = 2 * (mu[c[n]] - mu[j])
            support = np.abs(w) > 1e-12 * np.abs(w).max()
            per = w * (X[n] - mean) + support * (dm[j] - dm[c[n]]) / support.sum()
            out[n] += pj * f / hj * per
    return out


def test_equal_root_by_hand():
    """μ = (0,0), (4,0), (2,4); μ̄ = (2,0); x = (1,1): d = (2, 10, 10), h = (8, 8), f = 8,
    so s = (1/2, 1/2) for every β. Unit 1: w = (−8, 0), h(μ̄) = 0, support {0}: [8, 0].
    Unit 2: w = (−4, −8), h(μ̄) = 16 − 4 = 12 over 2 features: [4 + 6, −8 + 6] = [10, −2].
    R = ½[8, 0] + ½[10, −2] = [9, −1] (the midpoint rule gives [4, 4])."""
    km = KMeans(3, n_init=1).fit(np.array([[0.0, 0.0], [4.0, 0.0], [2.0, 4.0]]))
    km.cluster_centers_ = np.array([[0.0, 0.0], [4.0, 0.0], [2.0, 4.0]])
    data = np.array([[1.0, 0.0], [3.0, 0.0]])
    x = np.array([[1.0, 1.0]])
    for beta in (0.1, 2.0):
        g = neuralize_kmeans(km, data, beta=beta, root="equal")
        np.testing.assert_allclose(g(x), [[8.0, -8.0, -8.0]], atol=1e-13)
        np.testing.assert_allclose(lrp.explain(g, x)[0], [9.0, -1.0], rtol=1e-11)
        assert g.meta["root"] == "equal"
        np.testing.assert_array_equal(g.meta["reference_mean"], [2.0, 0.0])
    mid = neuralize_kmeans(km, data, beta=2.0, root="midpoint")
    assert mid.meta["root"] == "midpoint"
    np.testing.assert_allclose(lrp.explain(mid, x)[0], [4.0, 4.0], rtol=1e-12)
    # the default with data: the mean split on the midpoint network, here the equal root's
    # numbers too (unit 1's h(μ̄) = 0, so spreading it over every feature changes nothing)
    default = neuralize_kmeans(km, data, beta=2.0)
    assert default.meta["root"] == "mean" and "distance" in default
    np.testing.assert_allclose(lrp.explain(default, x)[0], [9.0, -1.0], rtol=1e-11)
    assert neuralize_kmeans(km, beta=2.0).meta["root"] == "midpoint"   # no data


@pytest.mark.parametrize("name", DATASETS)
def test_equal_root_logits_conservation_and_numpy(nh, name):
    X, _ = nh.load(name)
    km = fit(X, 4)
    g = neuralize_kmeans(km, X, root="equal")
    f = g(X)
    scale = np.abs(f).max()
    d2 = km.transform(X) ** 2                       # scikit-learn's own distances
    expected = np.stack([np.delete(d2, c, 1).min(1) - d2[:, c] for c in range(4)], 1)
    assert np.abs(f - expected).max() <= 1e-9 * scale
    assert np.array_equal(f.argmax(1), km.predict(X))
    e = lrp.explain(g, X, return_all=True)
    assert np.isfinite(e.relevance).all()
    assert np.abs(e.relevance.sum(1) - f.max(1)).max() <= TOL * scale
    want = equal_root_numpy(X, km.cluster_centers_, X.mean(0), g.meta["beta"])
    assert np.abs(e.relevance - want).max() <= 1e-8 * np.abs(want).max()
    for c in range(4):                              # another cluster's (negative) logit
        r = lrp.explain(g, X[:40], target=c)
        assert np.abs(r.sum(1) - f[:40, c]).max() <= TOL * scale
        want = equal_root_numpy(X[:40], km.cluster_centers_, X.mean(0), g.meta["beta"], c)
        assert np.abs(r - want).max() <= 1e-8 * np.abs(want).max()


def test_equal_root_float32_and_batches(nh):
    X = nh.standardized("wine")
    g = neuralize_kmeans(fit(X, 3), X, root="equal")
    full = lrp.explain(g, X)
    np.testing.assert_allclose(lrp.explain(g, X, batch_size=7), full, rtol=1e-12, atol=1e-14)
    f = g(X).max(1)
    r32 = lrp.explain(g.to(torch.float32), torch.as_tensor(X, dtype=torch.float32))
    assert np.abs(r32.numpy().sum(1) - f).max() <= 1e-4 * np.abs(f).max()


def test_equal_root_known_by_construction(nh):
    """Clusters that differ in feature 0 only: feature 0 carries the whole logit and ranks
    first for every sample; the other features (which the model ignores) get exactly 0."""
    rng = np.random.default_rng(3)
    mu = np.array([[-4.0, 1.0, 2.0, -1.0], [0.0, 1.0, 2.0, -1.0], [5.0, 1.0, 2.0, -1.0]])
    X = mu[rng.integers(0, 3, 300)] + rng.normal(size=(300, 4))
    km = KMeans(3, n_init=1).fit(X)
    km.cluster_centers_ = mu
    g = neuralize_kmeans(km, X, root="equal")
    r = lrp.explain(g, X)
    f = g(X).max(1)
    assert (r.argmax(1) == 0).all()
    np.testing.assert_allclose(r[:, 0], f, rtol=1e-10)
    assert np.abs(r[:, 1:]).max() == 0


def test_equal_root_scaler_pipeline_matches_bare(nh):
    """A per-feature scaler folded into the units gives the bare model's relevance on the
    scaled data: w_i (x_i − μ̄_i) and h(μ̄) do not change under x' = s x + t."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, _ = nh.load("wine")
    pipe = make_pipeline(StandardScaler(), KMeans(3, n_init=3, random_state=0)).fit(X)
    g = neon.neuralize(pipe, X, beta=0.5, root="equal")
    Xs = pipe[0].transform(X)
    bare = neuralize_kmeans(pipe[-1], Xs, beta=0.5, root="equal")
    assert np.array_equal(g(X).argmax(1), pipe.predict(X))
    rb, rp = lrp.explain(bare, Xs), lrp.explain(g, X)
    assert np.abs(rp - rb).max() <= 1e-8 * np.abs(rb).max()


def test_nearest_root_is_the_projection_of_the_mean(nh):
    X = nh.standardized("iris")
    km = fit(X, 3)
    g = neuralize_kmeans(km, X, root="nearest", beta=math.inf)
    r = lrp.explain(g, X)
    mu, mean = km.cluster_centers_, X.mean(0)
    d = ((X[:, None] - mu[None]) ** 2).sum(2)
    order = d.argsort(1)
    n = np.arange(len(X))
    c, k = order[:, 0], order[:, 1]
    w = 2 * (mu[c] - mu[k])                                # (N, d)
    hm = ((mean - mu[k]) ** 2).sum(1) - ((mean - mu[c]) ** 2).sum(1)
    m = mean - (hm / (w ** 2).sum(1))[:, None] * w         # nearest point of h = 0
    np.testing.assert_allclose(r, w * (X - m), atol=1e-10)
    assert np.abs(r.sum(1) - (d[n, k] - d[n, c])).max() <= 1e-10


def test_root_bad_input(nh):
    X = nh.standardized("iris")
    km = fit(X, 3)
    with pytest.raises(ValueError,
                       match="root must be None, 'mean', 'equal', 'nearest' or 'midpoint'"):
        neuralize_kmeans(km, X, root="average")
    with pytest.raises(ValueError, match="root='mean' needs reference data"):
        neuralize_kmeans(km, root="mean")
    with pytest.raises(ValueError, match="root must be"):
        neuralize_kmeans(km, X, root=1)
    with pytest.raises(ValueError, match="root='equal' needs reference data"):
        neuralize_kmeans(km, root="equal")
    with pytest.raises(ValueError, match="root='nearest' needs reference data"):
        neon.neuralize(km, root="nearest")


def test_equal_root_with_pca_folded(nh):
    """Behind a PCA the units are still affine in raw x: g_ab = d_b − d_a with the quadratic
    form's M = AᵀA; logits equal numpy's on the components, relevance conserves."""
    X = nh.standardized("wine")
    pca = PCA(5).fit(X)
    Z = pca.transform(X)
    km = fit(Z, 3)
    g = neuralize_kmeans(km, X, preprocessing=nh.scaler_map(pca), root="equal")
    f = g(X)
    expected = logits_numpy(Z, km.cluster_centers_)
    assert np.abs(f - expected).max() <= 1e-9 * np.abs(expected).max()
    r = lrp.explain(g, X)
    assert np.abs(r.sum(1) - f.max(1)).max() <= TOL * np.abs(f).max()


@pytest.mark.parametrize("pipeline", ["raw", "scaled"])
def test_mean_split_equals_the_equal_root_on_the_distance_network(pipeline):
    """root="mean" keeps the midpoint network (distance → logits) and splits the distances
    relative to the data mean; behind the competition that is the equal root exactly."""
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_wine
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = load_wine(return_X_y=True)[0]
    km = KMeans(3, n_init=4, random_state=0)
    model = (km if pipeline == "raw" else make_pipeline(StandardScaler(), km)).fit(X)
    mean = neon.neuralize(model, X, root="mean")
    equal = neon.neuralize(model, X, root="equal")
    assert mean["distance"].kind == "squared_distance" and mean.meta["root"] == "mean"
    r_mean, r_equal = lrp.explain(mean, X), lrp.explain(equal, X)
    scale = np.abs(r_equal).max()
    assert np.abs(r_mean - r_equal).max() <= 1e-10 * scale
    out = mean.forward(X)
    f = out[np.arange(len(X)), model.predict(X)]
    assert np.abs(r_mean.sum(1) - f).max() <= 1e-9 * np.abs(f).max()
