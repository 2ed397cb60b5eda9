"""KernelDensity (gaussian) and GaussianMixture neuralized: the five test groups of docs/neon.md.

Expected values come from scikit-learn (score_samples, predict) or numpy on the fitted
attributes (``precisions_``, ``covariances_``), never from the code under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KernelDensity

import lrp
import neon
from lrp import Composite
from lrp.rules import SoftMinRedistribution
from neon.graph import GraphInputError
from neon.sklearn import UnsupportedEstimatorError
from neon.sklearn.density import neuralize_gaussian_mixture, neuralize_kernel_density

DATASETS = ("iris", "wine", "digits", "breast_cancer")
TYPES = ("full", "tied", "diag", "spherical")
TOL = 1e-10


def jitter(X, seed=0, size=0.05):
    rng = np.random.default_rng(seed)
    return X + size * rng.normal(size=X.shape) * np.where(X.std(0) > 0, X.std(0), 1)


def kde(X, bandwidth=0.5, **kw):
    return KernelDensity(bandwidth=bandwidth, leaf_size=len(X) + 1, **kw).fit(X)


# ------------------------------------------------------------------ KDE

@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("bandwidth", [0.7, "scott", "silverman"])
def test_kde_score_samples(nh, name, bandwidth):
    X = nh.standardized(name)
    est = kde(X, bandwidth)
    g = neon.neuralize(est)
    Xt = jitter(X)
    o = g(Xt)[:, 0]
    h = est.bandwidth_
    assert g.meta["gamma"] == pytest.approx(1 / (2 * h * h), rel=1e-14)
    assert g.meta["bias"] == pytest.approx(X.shape[1] / 2 * np.log(2 * np.pi * h * h), rel=1e-14)
    expected = -est.score_samples(Xt)
    got = g.meta["gamma"] * o + g.meta["bias"]
    assert np.abs(got - expected).max() <= 1e-9 * np.abs(expected).max()


def test_kde_sample_weights_and_random_data(nh):
    X = nh.random_data(120, 3, seed=7, shift=10.0)
    w = np.random.default_rng(0).uniform(0.1, 2, size=len(X))
    est = KernelDensity(bandwidth=1.3, leaf_size=200).fit(X, sample_weight=w)
    g = neon.neuralize(est)
    Xt = jitter(X)
    d = ((Xt[:, None] - X[None]) ** 2).sum(2)
    gamma = 1 / (2 * 1.3 ** 2)
    o = -np.log((w / w.sum() * np.exp(-gamma * d)).sum(1)) / gamma
    np.testing.assert_allclose(g(Xt)[:, 0], o, rtol=1e-12)
    np.testing.assert_allclose(gamma * g(Xt)[:, 0] + g.meta["bias"], -est.score_samples(Xt),
                               rtol=1e-10)


def test_kde_conservation_and_training_points(nh):
    X = nh.standardized("wine")
    est = kde(X, 1.0)
    g = neon.neuralize(est)
    Xt = jitter(X)
    e = lrp.explain(g, Xt, return_all=True)
    o = g(Xt)[:, 0]
    assert np.abs(e.relevance.sum(1) - o).max() <= TOL * np.abs(o).max()
    e = lrp.explain(g, X, return_all=True)            # every training point is a centre
    o = g(X)[:, 0]
    absorbed = nh.relevance_absorbed(e)
    assert np.isfinite(e.relevance).all() and np.isfinite(absorbed).all()
    np.testing.assert_allclose(e.relevance.sum(1) + absorbed, o, atol=TOL * o.max())
    share = absorbed / o
    assert ((share > 0) & (share <= 1 + 1e-12)).all()
    print(f"KDE wine h=1: absorbed share at training points median {np.median(share):.3f}")


def test_kde_bad_input(nh):
    X = nh.standardized("iris")
    with pytest.raises(UnsupportedEstimatorError, match="kernel='tophat'.*gaussian"):
        neon.neuralize(KernelDensity(kernel="tophat").fit(X))
    with pytest.raises(UnsupportedEstimatorError, match="metric='manhattan'"):
        neon.neuralize(KernelDensity(metric="manhattan").fit(X))
    with pytest.raises(NotFittedError, match="KernelDensity is not fitted"):
        neon.neuralize(KernelDensity())
    g = neon.neuralize(kde(X))
    with pytest.raises(GraphInputError, match="expected 4 features, got 2"):
        g(X[:, :2])
    with pytest.raises(GraphInputError, match="csr_matrix"):
        lrp.explain(g, sp.csr_matrix(X))
    with pytest.raises(GraphInputError, match="NaN"):
        lrp.explain(g, np.where(X > 1, np.nan, X))


# ------------------------------------------------------------------ GaussianMixture

def gmm(X, kind, k=3):
    return GaussianMixture(k, covariance_type=kind, random_state=0, reg_covar=1e-3).fit(X)


def full_precisions(est):
    """P_k as (K, D, D) from scikit-learn's ``precisions_`` for every covariance type."""
    p = est.precisions_
    k, d = est.means_.shape
    if est.covariance_type == "full":
        return p
    if est.covariance_type == "tied":
        return np.repeat(p[None], k, 0)
    if est.covariance_type == "diag":
        return np.stack([np.diag(q) for q in p])
    return np.stack([q * np.eye(d) for q in p])


@pytest.mark.parametrize("name", DATASETS + ("random",))
@pytest.mark.parametrize("kind", TYPES)
def test_gmm_score_samples_predict_and_conservation(nh, name, kind):
    X = nh.random_data(300, 5, seed=3, shift=4.0) if name == "random" else nh.standardized(name)
    if name == "digits":
        X = X[:, X.std(0) > 0][:, :20]
    est = gmm(X, kind)
    g = neon.neuralize(est)
    Xt = jitter(X)
    out, acts = g.forward(Xt, keep=["units"])
    o = out[:, 0]
    expected = -est.score_samples(Xt)
    assert np.abs(o - expected).max() <= TOL * np.abs(expected).max()
    h = acts["units"] + g.meta["component_constants"]
    assert np.array_equal(h.argmin(1), est.predict(Xt))
    r = lrp.explain(g, Xt)
    assert np.abs(r.sum(1) - o).max() <= TOL * np.abs(o).max()
    # numpy: R_i = Σ_k softmin(h)_k o · ½(x − μ_k)_i [P_k (x − μ_k)]_i / (½ (x−μ_k)ᵀ P_k (x−μ_k))
    diff = Xt[:, None] - est.means_[None]
    terms = 0.5 * diff * np.einsum("kde,nke->nkd", full_precisions(est), diff)
    logw = np.log(est.predict_proba(Xt) + 1e-300)      # softmin_1(h) = posterior
    p = np.exp(logw)
    expected_r = (p[:, :, None] * o[:, None, None] * terms / terms.sum(2, keepdims=True)).sum(1)
    assert np.abs(r - expected_r).max() <= 1e-8 * np.abs(expected_r).max()


def test_gmm_hard_limit_is_predicted_component(nh):
    X = nh.standardized("wine")
    est = gmm(X, "diag")
    g = neon.neuralize(est)
    Xt = jitter(X)
    o = g(Xt)[:, 0]
    hard = lrp.explain(g, Xt, composite=Composite([("softmin_pool",
                                                    SoftMinRedistribution(math.inf))]))
    k = est.predict(Xt)
    terms = 0.5 * (Xt - est.means_[k]) ** 2 / est.covariances_[k]
    expected = terms / terms.sum(1, keepdims=True) * o[:, None]
    assert np.abs(hard - expected).max() <= 1e-9 * np.abs(expected).max()
    soft = lrp.explain(g, Xt, composite=Composite([("softmin_pool",
                                                    SoftMinRedistribution(1e8))]))
    assert np.abs(soft - expected).max() <= 1e-6 * np.abs(expected).max()


@pytest.mark.parametrize("kind", TYPES)
def test_gmm_preprocessing_folding(nh, kind):
    from sklearn.preprocessing import StandardScaler

    X, _ = nh.load("wine")
    for pre in (StandardScaler().fit(X), PCA(5, whiten=True).fit(nh.standardized("wine"))):
        Xin = X if isinstance(pre, StandardScaler) else nh.standardized("wine")
        Z = pre.transform(Xin)
        est = gmm(Z, kind)
        bare = neuralize_gaussian_mixture(est)
        folded = neuralize_gaussian_mixture(est, preprocessing=nh.scaler_map(pre))
        np.testing.assert_allclose(folded(Xin), bare(Z), rtol=1e-9)
        r = lrp.explain(folded, Xin)
        o = folded(Xin)[:, 0]
        assert np.abs(r.sum(1) - o).max() <= TOL * np.abs(o).max()
        if isinstance(pre, StandardScaler):
            rb = lrp.explain(bare, Z)
            assert np.abs(r - rb).max() <= 1e-8 * np.abs(rb).max()


def test_gmm_bad_input(nh):
    X = nh.standardized("iris")
    with pytest.raises(NotFittedError, match="GaussianMixture is not fitted"):
        neon.neuralize(GaussianMixture(2))
    g = neuralize_kernel_density(kde(X))
    assert g.source is not None
    g = neon.neuralize(gmm(X, "full"))
    with pytest.raises(GraphInputError, match="expected 4 features, got 3"):
        lrp.explain(g, X[:, :3])
    with pytest.raises(GraphInputError, match="NaN"):
        lrp.explain(g, np.full((1, 4), np.nan))
