"""One-class SVM (RBF) neuralized: the five test groups of docs/neon.md.

o(x) = −γ⁻¹ log Σ_j α̃_j exp(−γ‖x − u_j‖²); expected values come from scikit-learn
(score_samples, decision_function, predict) or numpy on the fitted attributes.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.svm import OneClassSVM

import lrp
import neon
from lrp.rules import absorbed_share
from neon.graph import GraphInputError
from neon.sklearn import UnsupportedEstimatorError
from neon.sklearn.svm import neuralize_one_class_svm

DATASETS = ("iris", "wine", "digits", "breast_cancer")
TOL = 1e-10


def fit(X, gamma="scale", nu=0.2):
    return OneClassSVM(gamma=gamma, nu=nu).fit(X)


def jitter(X, seed=0, size=1e-2):
    rng = np.random.default_rng(seed)
    return X + size * rng.normal(size=X.shape) * X.std(0)


# ------------------------------------------------------------------ 1. equivalence

@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("scaled", [False, True])
def test_score_samples_and_decision_function(nh, name, scaled):
    X = nh.standardized(name) if scaled else nh.load(name)[0]
    svm = fit(X)
    g = neon.neuralize(svm)
    gamma, total, rho = svm._gamma, svm.dual_coef_.sum(), svm.offset_[0]
    Xt = np.vstack([X, jitter(X, size=0.5)])
    o = g(Xt)[:, 0]
    assert o.shape == (len(Xt),) and (o >= -1e-12).all()
    ss = svm.score_samples(Xt)
    assert np.abs(total * np.exp(-gamma * o) - ss).max() / rho <= TOL
    assert np.abs(total * np.exp(-gamma * o) - rho - svm.decision_function(Xt)).max() / rho <= TOL
    dec = svm.decision_function(Xt)
    clear = np.abs(dec) > 1e-9 * rho
    outlier = o > g.meta["threshold"]
    assert np.array_equal(outlier[clear], (svm.predict(Xt) == -1)[clear])
    assert g.meta["gamma"] == gamma and g.meta["rho"] == rho


def test_raw_alpha_option(nh):
    X = nh.random_data(150, 4, seed=2, shift=5.0)
    svm = fit(X, gamma=0.3)
    g = neuralize_one_class_svm(svm, normalize=False)
    gn = neuralize_one_class_svm(svm)
    Xt = jitter(X, size=0.3)
    o, on = g(Xt)[:, 0], gn(Xt)[:, 0]
    ss = svm.score_samples(Xt)
    assert np.abs(np.exp(-0.3 * o) - ss).max() / svm.offset_[0] <= TOL
    np.testing.assert_allclose(o, on - np.log(svm.dual_coef_.sum()) / 0.3, atol=1e-12)
    assert not g.meta["normalized"] and gn.meta["normalized"]
    r = lrp.explain(g, Xt)
    assert np.abs(r.sum(1) - o).max() <= TOL * np.abs(o).max()


def test_pinned_support_vectors_hand_example():
    """Support vectors and coefficients pinned by hand (not by a seed), 2 features."""
    U = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]])
    svm = OneClassSVM(gamma=0.5, nu=0.5).fit(U)
    svm.support_vectors_ = U
    svm.dual_coef_ = np.array([[0.5, 0.5, 0.5]])
    g = neon.neuralize(svm)
    x = np.array([[1.0, 2.0]])
    d = ((x - U) ** 2).sum(1)                        # [5, 5, 2]
    o = -np.log(np.exp(-0.5 * d).mean()) / 0.5
    assert g(x)[0, 0] == pytest.approx(o, rel=1e-12)
    assert o == pytest.approx(2 * np.log(3 / (2 * np.exp(-2.5) + np.exp(-1))), rel=1e-12)
    p = np.exp(-0.5 * d) / np.exp(-0.5 * d).sum()
    expected = (p[:, None] * o * (x - U) ** 2 / d[:, None]).sum(0)
    np.testing.assert_allclose(lrp.explain(g, x)[0], expected, rtol=1e-12)


# ------------------------------------------------------------------ 2. conservation

@pytest.mark.parametrize("name", DATASETS)
def test_conservation_off_support_vectors(nh, name):
    X = nh.standardized(name)
    svm = fit(X, gamma=1.0 / X.shape[1])
    g = neon.neuralize(svm)
    Xt = jitter(X, seed=1)
    e = lrp.explain(g, Xt, return_all=True)
    o = g(Xt)[:, 0]
    assert np.abs(e.relevance.sum(1) - o).max() <= TOL * np.abs(o).max()
    assert (e.relevance >= -1e-12 * np.abs(o).max()).all()   # normalized α: R ≥ 0
    np.testing.assert_allclose(nh.relevance_absorbed(e), 0, atol=TOL * np.abs(o).max())


@pytest.mark.parametrize("gamma", [0.1, 1.0, 10.0])
def test_support_vectors_absorbed_share_reported(nh, gamma):
    X = nh.standardized("iris")
    svm = fit(X, gamma=gamma)
    g = neon.neuralize(svm)
    e = lrp.explain(g, svm.support_vectors_, return_all=True)
    o = g(svm.support_vectors_)[:, 0]
    assert np.isfinite(e.relevance).all()
    absorbed = nh.relevance_absorbed(e)
    assert np.isfinite(absorbed).all()
    np.testing.assert_allclose(e.relevance.sum(1) + absorbed, o, atol=TOL * o.max())
    share = absorbed / o
    assert ((share > 0) & (share <= 1 + 1e-12)).all()
    np.testing.assert_allclose(absorbed_share(e).numpy(), share, rtol=1e-10)
    row = {r["node"]: r for r in e.table}["distance"]
    np.testing.assert_allclose(row["absorbed"].numpy(), absorbed, atol=1e-12 * o.max())
    print(f"gamma={gamma}: absorbed share at support vectors median {np.median(share):.3f}")


# ------------------------------------------------------------------ 3. pipelines

@pytest.mark.parametrize("scaler_index", range(8))
def test_scaler_folding_gives_bare_relevance(nh, scaler_index):
    X, _ = nh.load("breast_cancer")
    X = X[:, :8]
    scaler = nh.scalers()[scaler_index].fit(X)
    Xs = scaler.transform(X)
    svm = fit(Xs)
    bare = neon.neuralize(svm)
    folded = neuralize_one_class_svm(svm, preprocessing=nh.scaler_map(scaler))
    Xt = jitter(X, seed=3)
    Xts = scaler.transform(Xt)
    ob, of = bare(Xts), folded(Xt)
    assert np.abs(of - ob).max() <= 1e-9 * np.abs(ob).max()
    rb, rf = lrp.explain(bare, Xts), lrp.explain(folded, Xt)
    assert np.abs(rf - rb).max() <= 1e-8 * np.abs(rb).max()


def test_pca_folding(nh):
    X = nh.standardized("wine")
    pca = PCA(4, whiten=True).fit(X)
    Z = pca.transform(X)
    svm = fit(Z, gamma=0.5)
    g = neuralize_one_class_svm(svm, preprocessing=nh.scaler_map(pca))
    Xt = jitter(X, seed=4)
    o = g(Xt)[:, 0]
    ss = svm.score_samples(pca.transform(Xt))
    assert np.abs(svm.dual_coef_.sum() * np.exp(-0.5 * o) - ss).max() / svm.offset_[0] <= TOL
    r = lrp.explain(g, Xt)
    assert np.abs(r.sum(1) - o).max() <= TOL * np.abs(o).max()


def test_pipeline_neuralizer(nh):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, _ = nh.load("wine")
    pipe = make_pipeline(StandardScaler(), OneClassSVM(gamma=0.1, nu=0.1)).fit(X)
    g = neon.neuralize(pipe)
    Xt = jitter(X)
    o = g(Xt)[:, 0]
    svm = pipe[-1]
    ss = pipe.score_samples(Xt)
    assert np.abs(svm.dual_coef_.sum() * np.exp(-0.1 * o) - ss).max() / svm.offset_[0] <= TOL
    rb = lrp.explain(neon.neuralize(svm), pipe[0].transform(Xt))
    np.testing.assert_allclose(lrp.explain(g, Xt), rb, atol=1e-8 * np.abs(rb).max())
    pca = make_pipeline(StandardScaler(), PCA(5), OneClassSVM(gamma=0.2, nu=0.1)).fit(X)
    g = neon.neuralize(pca)
    o = g(Xt)[:, 0]
    ss = pca.score_samples(Xt)
    svm = pca[-1]
    assert np.abs(svm.dual_coef_.sum() * np.exp(-0.2 * o) - ss).max() / svm.offset_[0] <= TOL
    r = lrp.explain(g, Xt)
    assert np.abs(r.sum(1) - o).max() <= TOL * np.abs(o).max()


# ------------------------------------------------------------------ 4. β → ∞

def test_beta_infinity_sends_all_to_nearest_support_vector(nh):
    from lrp import Composite
    from lrp.rules import SoftMinRedistribution

    X = nh.standardized("iris")
    svm = fit(X, gamma=0.5)
    g = neon.neuralize(svm)
    Xt = jitter(X, seed=5)
    hard = lrp.explain(g, Xt, composite=Composite([("softmin_pool",
                                                    SoftMinRedistribution(np.inf))]))
    soft = lrp.explain(g, Xt, composite=Composite([("softmin_pool",
                                                    SoftMinRedistribution(1e9))]))
    u = svm.support_vectors_
    a = svm.dual_coef_[0] / svm.dual_coef_.sum()
    h = ((Xt[:, None] - u[None]) ** 2).sum(2) - np.log(a) / 0.5
    j = h.argmin(1)
    o = g(Xt)[:, 0]
    diff2 = (Xt - u[j]) ** 2
    expected = diff2 / diff2.sum(1, keepdims=True) * o[:, None]
    scale = np.abs(expected).max()
    np.testing.assert_allclose(hard, expected, rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(soft, expected, rtol=0, atol=1e-7 * scale)


# ------------------------------------------------------------------ 5. bad input

@pytest.mark.parametrize("kernel", ["linear", "poly", "sigmoid"])
def test_non_distance_kernels_refused(nh, kernel):
    X = nh.standardized("iris")
    with pytest.raises(UnsupportedEstimatorError, match=f"kernel='{kernel}'.*supported: "
                                                        "kernel='rbf'"):
        neon.neuralize(OneClassSVM(kernel=kernel).fit(X))


def test_bad_input(nh):
    X = nh.standardized("iris")
    with pytest.raises(UnsupportedEstimatorError, match="callable kernel"):
        neon.neuralize(OneClassSVM(kernel=lambda a, b: a @ b.T).fit(X))
    with pytest.raises(UnsupportedEstimatorError, match="'precomputed' kernel"):
        neon.neuralize(OneClassSVM(kernel="precomputed").fit(X @ X.T))
    with pytest.raises(NotFittedError, match="OneClassSVM is not fitted"):
        neon.neuralize(OneClassSVM())
    g = neon.neuralize(fit(X))
    with pytest.raises(GraphInputError, match="expected 4 features, got 5"):
        lrp.explain(g, np.hstack([X, X[:, :1]]))
    with pytest.raises(GraphInputError, match="NaN"):
        g(np.full((2, 4), np.nan))
    with pytest.raises(GraphInputError, match="csr_matrix"):
        lrp.explain(g, sp.csr_matrix(X))
    with pytest.raises(ValueError, match="preprocessing outputs 3 features"):
        from neon.sklearn.preprocessing import AffinePreprocessing

        neuralize_one_class_svm(fit(X), preprocessing=AffinePreprocessing(
            np.zeros(3), scale=np.ones(3)))
