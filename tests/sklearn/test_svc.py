"""SVC/NuSVC neuralizer and rules: equivalence, conservation, preprocessing, β, bad input.

Expected values come from scikit-learn itself or from plain numpy written here (explicit
loops over support-vector pairs), never from the code under test.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, NuSVC

import lrp
import neon
from lrp.rules import DuelMidpoint, RivalSoftMin
from neon.graph import GraphInputError
from neon.sklearn.preprocessing import AffinePreprocessing
from neon.sklearn.registry import UnsupportedEstimatorError

LOADERS = {"iris": load_iris, "wine": load_wine, "breast_cancer": load_breast_cancer,
           "digits": load_digits}
_CACHE: dict = {}


def dataset(name, n=None):
    """Standardized bundled data (digits subsampled to keep the tests fast)."""
    if name not in _CACHE:
        X, y = LOADERS[name](return_X_y=True)
        if name == "digits":
            X, y = X[::3], y[::3]
        _CACHE[name] = (StandardScaler().fit_transform(X), y)
    X, y = _CACHE[name]
    return (X, y) if n is None else (X[:n], y[:n])


def fitted(model, name):
    X, y = dataset(name)
    return model.fit(X, y), X


# ------------------------------------------------------------------- numpy references


def ovo_coefficients(model):
    """Per duel (a, b, index, coef, intercept), positive votes for a — written independently."""
    K = len(model.classes_)
    coef = np.asarray(model.dual_coef_)
    if K == 2:
        return [(0, 1, np.arange(coef.shape[1]), -coef[0], -model.intercept_[0])]
    start = np.concatenate([[0], np.cumsum(model.n_support_)])
    out, k = [], 0
    for a in range(K):
        for b in range(a + 1, K):
            ia = list(range(start[a], start[a + 1]))
            ib = list(range(start[b], start[b + 1]))
            c = np.concatenate([coef[b - 1, ia], coef[a, ib]])
            out.append((a, b, np.array(ia + ib), c, model.intercept_[k]))
            k += 1
    return out


def sq_dist(X, U):
    return ((X[:, None, :] - U[None, :, :]) ** 2).sum(-1)


def numpy_pools(model, X):
    """log P and log N per duel from the dual coefficients, (N, n_duels) each."""
    U, gamma = model.support_vectors_, model._gamma
    D = sq_dist(X, U)
    log_p, log_n = [], []
    for _, _, idx, c, b in ovo_coefficients(model):
        terms = np.exp(-gamma * D[:, idx])
        P = terms[:, c > 0] @ c[c > 0] + max(b, 0)
        N = -(terms[:, c < 0] @ c[c < 0]) + max(-b, 0)
        log_p.append(np.log(P))
        log_n.append(np.log(N))
    return np.array(log_p).T, np.array(log_n).T


def ovo_decision(model, X):
    """scikit-learn's own one-vs-one decision values, positive votes for the first class."""
    if len(model.classes_) == 2:
        return -model.decision_function(X)[:, None]
    shape = model.decision_function_shape
    model.decision_function_shape = "ovo"
    try:
        return model.decision_function(X)
    finally:
        model.decision_function_shape = shape


def numpy_duel_relevance(x, U, coef, b, gamma, R, stabilizer=0.01):
    """Explicit pair-by-pair relevance of one duel (positive votes) for one sample x."""
    eps = stabilizer / gamma
    D = (x[None, :] - U) ** 2                      # per-feature squared differences
    d = D.sum(1)
    keep = coef != 0
    a = np.where(keep, np.log(np.abs(np.where(keep, coef, 1))) - gamma * d, -np.inf)
    z = d - np.log(np.abs(np.where(keep, coef, 1))) / gamma
    pos, neg = np.flatnonzero(coef > 0), np.flatnonzero(coef < 0)
    P = np.exp(a[pos]).sum() + max(b, 0)
    N = np.exp(a[neg]).sum() + max(-b, 0)
    out = np.zeros_like(x)
    for i in pos:
        for j in neg:
            R_ij = np.exp(a[i]) / P * np.exp(a[j]) / N * R
            h = z[j] - z[i]
            out += R_ij * (D[j] - D[i]) / (h + (eps if h >= 0 else -eps))
    if b > 0:
        for j in neg:
            out += b / P * np.exp(a[j]) / N * R * D[j] / d[j]
    if b < 0:
        for i in pos:
            out += np.exp(a[i]) / P * (-b) / N * R * D[i] / d[i]
    return out


def duel_in_orientation(model, c, j):
    """(coef, intercept) of duel c vs j with positive votes for c."""
    for a, b, idx, coef, b0 in ovo_coefficients(model):
        if (a, b) == (c, j):
            return idx, coef, b0
        if (a, b) == (j, c):
            return idx, -coef, -b0
    raise KeyError((c, j))


def flips(model):
    """Support vectors whose coefficient sign differs from what their class label says."""
    labels = np.repeat(np.arange(len(model.classes_)), model.n_support_)
    n = 0
    for a, _, idx, c, _ in ovo_coefficients(model):
        nz = c != 0
        n += int(((c[nz] > 0) != (labels[idx][nz] == a)).sum())
    return n


def flipped_nusvc(n_classes):
    """A NuSVC fit on small random data with at least one flipped support vector."""
    for seed in range(200):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(int(rng.integers(10, 40)), 2))
        y = rng.integers(0, n_classes, len(X))
        if len(set(y)) < n_classes:
            continue
        for nu in (0.05, 0.1, 0.3):
            for gamma in (0.1, 1.0):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        model = NuSVC(nu=nu, gamma=gamma).fit(X, y)
                    except ValueError:
                        continue
                if flips(model):
                    return model, X
    raise AssertionError("no NuSVC fit with flipped support vectors found")


def check_equivalence(model, X):
    """Sign and predict agreement; returns (#sign mismatches, #argmax≠predict, #cycles)."""
    graph = neon.neuralize(model)
    out, acts = graph.forward(X, keep=["duels"])
    ref = ovo_decision(model, X)
    g = acts["duels"]
    assert g.shape == ref.shape and out.shape == (len(X), len(model.classes_))
    sign_bad = int((np.sign(g) != np.sign(ref)).sum())
    pred = np.searchsorted(model.classes_, model.predict(X))
    wins_all = (out > 0).any(1)
    assert (out.argmax(1)[wins_all] == pred[wins_all]).all()
    return sign_bad, int((out.argmax(1) != pred).sum()), int((~wins_all).sum()), graph, out, g


# ------------------------------------------------------------------- 1. equivalence

MODELS = {
    "SVC-rbf": lambda: SVC(),
    "NuSVC-rbf": lambda: NuSVC(nu=0.2),
    "SVC-linear": lambda: SVC(kernel="linear", C=0.5),
    "NuSVC-linear": lambda: NuSVC(kernel="linear", nu=0.2),
    "SVC-poly": lambda: SVC(kernel="poly", degree=3, coef0=1.0),
    "NuSVC-poly": lambda: NuSVC(kernel="poly", degree=2, nu=0.2, coef0=0.5),
}


@pytest.mark.parametrize("data", ["iris", "wine", "breast_cancer", "digits"])
@pytest.mark.parametrize("kind", list(MODELS))
def test_reproduces_decision_and_predict(kind, data):
    model, X = fitted(MODELS[kind](), data)
    rng = np.random.default_rng(0)
    X = np.concatenate([X, X[:50] + rng.normal(0, 0.5, X[:50].shape)])
    sign_bad, argmax_bad, cycles, graph, out, g = check_equivalence(model, X)
    assert sign_bad == 0
    assert argmax_bad <= cycles            # only one-vs-one vote cycles may differ
    if len(model.classes_) == 2:
        assert argmax_bad == 0
        np.testing.assert_array_equal(out[:, 0], -out[:, 1])
        assert (np.sign(out[:, 1]) == np.sign(model.decision_function(X))).all()
    if kind.endswith(("linear", "poly")):  # exact values
        np.testing.assert_allclose(g, ovo_decision(model, X), rtol=1e-9, atol=1e-9)
    assert graph.meta["kernel"] == model.kernel and "strongest rival" in graph.explained


@pytest.mark.parametrize("n_classes", [2, 3])
def test_random_data_and_flipped_nusvc(n_classes):
    model, X = flipped_nusvc(n_classes)
    assert flips(model) > 0
    grid = np.random.default_rng(1).normal(0, 2, (400, 2))
    sign_bad, argmax_bad, cycles, *_ = check_equivalence(model, np.concatenate([X, grid]))
    assert sign_bad == 0 and argmax_bad <= cycles
    for C in (0.3, 3.0):  # SVC on random data, several classes
        rng = np.random.default_rng(n_classes)
        Xr, yr = rng.normal(size=(80, 5)), rng.integers(0, n_classes + 1, 80)
        svc = SVC(C=C, gamma=0.3).fit(Xr, yr)
        sign_bad, argmax_bad, cycles, *_ = check_equivalence(svc, rng.normal(size=(300, 5)))
        assert sign_bad == 0 and argmax_bad <= cycles


@pytest.mark.parametrize("data", ["iris", "breast_cancer"])
def test_log_ratio_matches_numpy_pools(data):
    model, X = fitted(NuSVC(nu=0.3), data)
    log_p, log_n = numpy_pools(model, X)
    # the numpy pools reproduce scikit-learn: P − N is the decision value
    np.testing.assert_allclose(np.exp(log_p) - np.exp(log_n), ovo_decision(model, X),
                               rtol=1e-7, atol=1e-9)
    _, acts = neon.neuralize(model).forward(X, keep=["duels"])
    np.testing.assert_allclose(acts["duels"], log_p - log_n, rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------- 2. conservation


def relative_gap(graph, X, composite=None):
    e = lrp.explain(graph, X, composite=composite, return_all=True)
    f = e.output.numpy()
    return e, (e.relevance.sum(1) - f) / np.abs(f)


def test_conservation_linear_exact():
    for data in ("iris", "breast_cancer"):
        model, X = fitted(SVC(kernel="linear"), data)
        e, gap = relative_gap(neon.neuralize(model), X)
        assert np.abs(gap).max() < 1e-9


@pytest.mark.parametrize("kind", ["SVC-rbf", "NuSVC-rbf", "SVC-poly"])
def test_conservation_measured_and_reported(kind):
    model, X = fitted(MODELS[kind](), "wine")
    X = X + np.random.default_rng(0).normal(0, 0.1, X.shape)   # off the support vectors
    graph = neon.neuralize(model, X)
    if kind.endswith("rbf"):    # the default DuelTaylor conserves exactly
        assert np.abs(relative_gap(graph, X)[1]).max() < 1e-9
    # the midpoint rule (rbf; selected by composite) and the poly ε rules leak, measured
    e, gap = relative_gap(graph, X, DuelMidpoint() if kind.endswith("rbf") else None)
    if kind.endswith("rbf"):
        assert np.percentile(np.abs(gap), 95) < 1.0
    assert np.isfinite(e.relevance).all() and np.isfinite(gap).all()
    rows = {r["node"]: r for r in e.table}
    total_absorbed = sum(float(r["absorbed"].sum()) for r in e.table)
    # the table accounts for the whole gap
    assert total_absorbed == pytest.approx(float(e.output.sum() - e.relevance.sum()), abs=1e-6)
    if kind.endswith("rbf"):  # only the midpoint rule on the pair units leaks
        assert abs(float(rows["rivals"]["absorbed"].sum())) < 1e-9
        assert abs(float(rows["distance"]["absorbed"].sum())) < 1e-9
    print(f"\n{kind} on wine: relative conservation gap median {np.median(np.abs(gap)):.3f}, "
          f"Σ|gap|/Σ|f| {np.abs(gap * e.output.numpy()).sum() / e.output.abs().sum():.3f}")
    print(e.conservation())


def test_coincident_points_are_absorbed_not_nan():
    """At the support vectors the midpoint rule's distance split absorbs the coincident
    unit's share (reported, finite); the default DuelTaylor sends nothing through the
    distance split and conserves exactly there too."""
    model, X = fitted(SVC(gamma=1.0), "iris")
    sv = model.support_vectors_
    graph = neon.neuralize(model, X)
    e = lrp.explain(graph, sv, composite=DuelMidpoint(), return_all=True)
    assert np.isfinite(e.relevance).all()
    rows = {r["node"]: r for r in e.table}
    absorbed = rows["distance"]["absorbed"].numpy()
    assert np.isfinite(absorbed).all() and np.abs(absorbed).max() > 0   # reported
    e = lrp.explain(graph, sv, return_all=True)
    assert np.isfinite(e.relevance).all()
    np.testing.assert_allclose(e.relevance.sum(1), e.output.numpy(), rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------- hand check (tiny)


def tiny(flip=False):
    X = np.array([[0.0, 0.0], [1.0, 0.2], [0.1, 1.0], [1.2, 1.1], [0.6, 0.4]])
    y = np.array([0, 0, 1, 1, 1])
    model = SVC(C=10.0, gamma=0.7).fit(X, 1 - y if flip else y)
    assert 2 <= len(model.support_vectors_) <= 5
    return model


@pytest.mark.parametrize("flip", [False, True])
def test_tiny_binary_by_hand(flip):
    model = tiny(flip)
    x = np.array([[0.3, 0.8], [1.5, -0.2], [0.5, 0.5]])
    graph = neon.neuralize(model)
    R = lrp.explain(graph, x, composite=DuelMidpoint())     # the midpoint rule, by hand
    U, gamma = model.support_vectors_, model._gamma
    _, _, _, coef, b = ovo_coefficients(model)[0]
    f = graph.forward(x)
    for n in range(len(x)):
        c = int(np.argmax(f[n]))
        # the duel of the predicted class, oriented to vote for it
        cc, bb = (coef, b) if c == 0 else (-coef, -b)
        expected = numpy_duel_relevance(x[n], U, cc, bb, gamma, f[n, c])
        np.testing.assert_allclose(R[n], expected, rtol=1e-8, atol=1e-12)
    assert np.sign(model.intercept_[0]) != 0


def test_tiny_multiclass_by_hand():
    X = np.array([[0, 0], [0.3, 0.1], [2, 0], [2.2, 0.4], [1, 2], [1.1, 1.6], [1, 0.7]])
    y = np.array([0, 0, 1, 1, 2, 2, 0])
    model = SVC(C=5.0, gamma=0.5).fit(X, y)
    beta = 0.7
    graph = neon.neuralize(model, beta=beta)
    x = np.array([[0.5, 0.4], [1.8, 0.9], [1.0, 1.4]])
    R = lrp.explain(graph, x, composite=DuelMidpoint())     # the midpoint rule, by hand
    U, gamma = model.support_vectors_, model._gamma
    for n in range(len(x)):
        g = {}
        for c in range(3):
            for j in range(3):
                if c != j:
                    idx, coef, b = duel_in_orientation(model, c, j)
                    k = np.exp(-gamma * ((x[n] - U[idx]) ** 2).sum(1))
                    P = k[coef > 0] @ coef[coef > 0] + max(b, 0)
                    N = -(k[coef < 0] @ coef[coef < 0]) + max(-b, 0)
                    g[c, j] = np.log(P / N)
        f = [min(g[c, j] for j in range(3) if j != c) for c in range(3)]
        c = int(np.argmax(f))
        rivals = [j for j in range(3) if j != c]
        w = np.exp([-beta * g[c, j] for j in rivals])
        w /= w.sum()
        expected = np.zeros(2)
        for j, share in zip(rivals, w):
            idx, coef, b = duel_in_orientation(model, c, j)
            full = np.zeros(len(U))
            full[idx] = coef
            expected += numpy_duel_relevance(x[n], U, full, b, gamma, share * f[c])
        np.testing.assert_allclose(R[n], expected, rtol=1e-8, atol=1e-12)


# ------------------------------------------------------------------- 3. preprocessing


def scaler_preprocessing(scaler):
    return AffinePreprocessing(offset=-scaler.mean_ / scaler.scale_, scale=1 / scaler.scale_,
                               steps=("standardscaler",))


@pytest.mark.parametrize("kernel", ["rbf", "linear"])
def test_scaler_folded_gives_raw_features_the_scaled_relevance(kernel):
    X, y = load_wine(return_X_y=True)
    scaler = StandardScaler().fit(X)
    Xs = scaler.transform(X)
    model = SVC(kernel=kernel, C=0.7).fit(Xs, y)
    bare = lrp.explain(neon.neuralize(model), Xs)
    graph = neon.neuralize(model, preprocessing=scaler_preprocessing(scaler))
    np.testing.assert_allclose(graph.forward(X), neon.neuralize(model).forward(Xs),
                               rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(lrp.explain(graph, X), bare, rtol=1e-7, atol=1e-9)


def test_pca_preprocessing_reproduces_and_conserves_at_distances():
    X, y = load_wine(return_X_y=True)
    scaler = StandardScaler().fit(X)
    pca = PCA(5).fit(scaler.transform(X))
    Z = pca.transform(scaler.transform(X))
    model = SVC().fit(Z, y)
    A = pca.components_ / scaler.scale_
    pre = AffinePreprocessing(offset=-(pca.components_ @ (scaler.mean_ / scaler.scale_))
                              - pca.components_ @ pca.mean_, matrix=A)
    np.testing.assert_allclose(pre.transform(X), Z, atol=1e-9)
    graph = neon.neuralize(model, preprocessing=pre)
    np.testing.assert_allclose(graph.forward(X), neon.neuralize(model).forward(Z), atol=1e-8)
    X = X + np.random.default_rng(0).normal(0, 0.05, X.shape) * X.std(0)   # off the SVs
    Z = pre.transform(X)
    e = lrp.explain(graph, X, return_all=True)
    rows = {r["node"]: r for r in e.table}
    assert abs(float(rows["distance"]["absorbed"].sum())) < 1e-6
    bare = lrp.explain(neon.neuralize(model), Z)      # the same total per sample
    np.testing.assert_allclose(e.relevance.sum(1), bare.sum(1), rtol=1e-7, atol=1e-8)


def test_pipeline_neuralizer():
    X, y = load_wine(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), SVC()).fit(X, y)
    graph = neon.neuralize(pipe)
    scaler, model = pipe[0], pipe[-1]
    np.testing.assert_allclose(lrp.explain(graph, X),
                               lrp.explain(neon.neuralize(model), scaler.transform(X)),
                               rtol=1e-7, atol=1e-9)


# ------------------------------------------------------------------- 4. β → ∞


def test_beta_infinity_is_hard_min():
    model, X = fitted(SVC(C=0.5), "wine")
    graph = neon.neuralize(model)
    hard = lrp.explain(graph, X, composite=lrp.Composite([("svc_rivals",
                                                           RivalSoftMin(math.inf))]))
    stiff = lrp.explain(graph, X, composite=lrp.Composite([("svc_rivals", RivalSoftMin(1e9))]))
    np.testing.assert_allclose(stiff, hard, rtol=1e-9, atol=1e-12)
    soft = lrp.explain(graph, X, composite=lrp.Composite([("svc_rivals", RivalSoftMin(0.01))]))
    assert not np.allclose(soft, hard)
    # hard min: every sample's relevance comes from one duel, its strongest rival
    f = graph.forward(X)
    _, acts = graph.forward(X, keep=["duels"])
    w = RivalSoftMin(math.inf).weights(graph["rivals"].op, torch.as_tensor(acts["duels"]))
    assert ((w.numpy() > 0).sum(2)[np.arange(len(X)), f.argmax(1)] == 1).all()
    # β is stored on the graph; from data it is 1 / mean |f_pred|
    g2 = neon.neuralize(model, X)
    assert g2.meta["beta"] == pytest.approx(1 / np.abs(f.max(1)).mean())


# ------------------------------------------------------------------- 5. bad input


def test_bad_input_errors():
    X, y = dataset("iris")
    with pytest.raises(NotFittedError, match="SVC is not fitted"):
        neon.neuralize(SVC())
    for kernel, word in [("sigmoid", "sigmoid"), ("precomputed", "precomputed"),
                         (lambda a, b: a @ b.T, "callable")]:
        data = X @ X.T if kernel == "precomputed" else X
        model = SVC(kernel=kernel).fit(data, y)
        with pytest.raises(UnsupportedEstimatorError, match=word):
            neon.neuralize(model)
    model = SVC().fit(X, y)
    graph = neon.neuralize(model)
    import scipy.sparse as sp
    with pytest.raises(GraphInputError, match="csr"):
        lrp.explain(graph, sp.csr_matrix(X))
    with pytest.raises(TypeError, match="sparse"):
        neon.neuralize(model, sp.csr_matrix(X))
    with pytest.raises(GraphInputError, match="expected 4 features, got 3"):
        lrp.explain(graph, X[:, :3])
    bad = X.copy()
    bad[2, 1] = np.nan
    with pytest.raises(GraphInputError, match="NaN"):
        lrp.explain(graph, bad)
    with pytest.raises(ValueError, match="outputs 3 features"):
        neon.neuralize(model, preprocessing=AffinePreprocessing(np.zeros(3), scale=np.ones(3)))
    with pytest.raises(TypeError, match="unexpected keyword"):
        neon.neuralize(model, rule="foo")


def test_fitted_on_sparse_data_works():
    import scipy.sparse as sp
    X, y = dataset("iris")
    model = SVC().fit(sp.csr_matrix(X), y)
    out = neon.neuralize(model).forward(X)
    pred = np.searchsorted(model.classes_, model.predict(sp.csr_matrix(X)))
    assert (out.argmax(1) == pred).all()


def test_batch_independent_and_float32():
    model, X = fitted(NuSVC(nu=0.2), "wine")
    graph = neon.neuralize(model, X)
    X = X[::4]
    np.testing.assert_allclose(lrp.explain(graph, X, batch_size=9), lrp.explain(graph, X),
                               rtol=1e-12, atol=1e-12)
    g32 = graph.copy().to(torch.float32)
    x32 = torch.as_tensor(X, dtype=torch.float32)
    R32 = lrp.explain(g32, x32)
    assert R32.dtype == torch.float32 and torch.isfinite(R32).all()
    pred = np.searchsorted(model.classes_, model.predict(X))
    assert (g32(x32).argmax(1).numpy() == pred).mean() > 0.98
