"""The RBF SVC duel rules: DuelTaylor (the default) by hand, its conservation, faithfulness
and speed on a small breast-cancer version, an answer known by construction, and the old
midpoint rule still selectable.

Expected values come from plain numpy written here: the duel values from ``dual_coef_``,
``intercept_`` and the kernel formula, their gradients from that formula (and checked by
finite differences), the residual split by explicit loops. Never from the code under test.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

import lrp
import lrp.metrics
import neon
from lrp.rules import DuelMidpoint, RuleError
from lrp.rules.neon import DuelTaylor, root_split
from neon.testing import check_neuralizer

torch.set_num_threads(1)

# ------------------------------------------------------------------- numpy references


def duel_terms(model):
    """Per duel (a, b, index, coef, intercept), positive votes for a — written here."""
    k = len(model.classes_)
    coef = np.asarray(model.dual_coef_)
    if k == 2:
        return [(0, 1, np.arange(coef.shape[1]), -coef[0], -model.intercept_[0])]
    start = np.concatenate([[0], np.cumsum(model.n_support_)])
    out, n = [], 0
    for a in range(k):
        for b in range(a + 1, k):
            ia, ib = np.arange(start[a], start[a + 1]), np.arange(start[b], start[b + 1])
            out.append((a, b, np.r_[ia, ib], np.r_[coef[b - 1, ia], coef[a, ib]],
                        model.intercept_[n]))
            n += 1
    return out


def g_and_grad(x, U, coef, b, gamma):
    """g = log P − log N of one duel at one point, and its gradient, from the kernel sums."""
    k = np.exp(-gamma * ((x - U) ** 2).sum(1))
    dk = -2 * gamma * (x - U) * k[:, None]             # ∇ k(x, u_i)
    pos, neg = coef > 0, coef < 0
    P = coef[pos] @ k[pos] + max(b, 0.0)
    N = -coef[neg] @ k[neg] + max(-b, 0.0)
    grad = coef[pos] @ dk[pos] / P + coef[neg] @ dk[neg] / N     # ∇P/P − ∇N/N
    return np.log(P / N), grad


def split_by_hand(c, total):
    """The residual split of root_split, written as loops over the features."""
    r = total - c.sum()
    out = c.copy()
    side = [i for i in range(len(c)) if (c[i] > 0 if r > 0 else c[i] < 0)]
    mass = sum(c[i] for i in side)
    if mass != 0:
        for i in side:
            out[i] += c[i] * r / mass
        return out
    live = [i for i in range(len(c)) if c[i] != 0]
    for i in live:
        out[i] += r / len(live)
    return out


# Gauss–Legendre rules on [0, 1], written out: (t_q, w_q)
GAUSS = {2: [(0.5 - 0.5 / math.sqrt(3), 0.5), (0.5 + 0.5 / math.sqrt(3), 0.5)],
         3: [(0.5 - 0.5 * math.sqrt(0.6), 5 / 18), (0.5, 8 / 18),
             (0.5 + 0.5 * math.sqrt(0.6), 5 / 18)]}


def taylor_by_hand(model, x, shares, mu, at="midpoint", points=2):
    """DuelTaylor for one sample: shares maps (a, b) duel -> relevance R_ab."""
    U, gamma = model.support_vectors_, model._gamma
    nodes = {"midpoint": [(0.5, 1.0)], "input": [(1.0, 1.0)]}.get(at) or GAUSS[points]
    slope = np.zeros_like(x)
    for a, b, idx, coef, b0 in duel_terms(model):
        R = shares.get((a, b), 0.0)
        if R == 0:
            continue
        g, _ = g_and_grad(x, U[idx], coef, b0, gamma)
        for t, w in nodes:
            _, grad = g_and_grad(mu + t * (x - mu), U[idx], coef, b0, gamma)
            slope += w * R / g * grad
    return split_by_hand(slope * (x - mu), sum(shares.values()))


def tiny_binary():
    """Three support vectors ((0, 0) against (2, 0) and (0, 2)) and an intercept ≠ 0 (the
    virtual unit), two features."""
    X = np.array([[0, 0], [2, 0], [0, 2], [-2, -2], [3, 3], [-1, -3.0]])
    y = np.array([0, 1, 1, 0, 1, 0])
    model = SVC(C=100.0, gamma=0.05).fit(X, y)
    assert len(model.support_vectors_) == 3 and abs(model.intercept_[0]) > 0.5
    return model, X


# ------------------------------------------------------------------- by hand


def test_gradient_reference_matches_finite_differences():
    model, _ = tiny_binary()
    (_, _, idx, coef, b), = duel_terms(model)
    U, gamma = model.support_vectors_, model._gamma
    x, h = np.array([0.4, 0.7]), 1e-6
    _, grad = g_and_grad(x, U[idx], coef, b, gamma)
    fd = [(g_and_grad(x + h * e, U[idx], coef, b, gamma)[0]
           - g_and_grad(x - h * e, U[idx], coef, b, gamma)[0]) / (2 * h) for e in np.eye(2)]
    np.testing.assert_allclose(grad, fd, rtol=1e-6)
    # and the numpy duel value has the sign of scikit-learn's decision function (negated)
    g, _ = g_and_grad(x, U[idx], coef, b, gamma)
    assert np.sign(g) == -np.sign(model.decision_function(x[None])[0])


@pytest.mark.parametrize("at, points", [("midpoint", None), ("input", None), ("path", None),
                                       ("path", 3)])
def test_tiny_binary_by_hand(at, points):
    model, X = tiny_binary()
    graph = neon.neuralize(model, X)
    mu = X.mean(0)
    np.testing.assert_allclose(graph.meta["reference_point"], mu, rtol=1e-12)
    x = np.array([[0.3, 0.8], [1.5, -0.2], [0.5, 0.5], [0.9, 0.95], [-1.0, 2.5]])
    R = lrp.explain(graph, x, composite=DuelTaylor(at, points=points))
    f = graph.forward(x)
    for n in range(len(x)):
        c = int(np.argmax(f[n]))
        # binary: explaining class 0 (f = −g) with R is explaining g with R for odd rules
        expected = taylor_by_hand(model, x[n], {(0, 1): f[n, c]}, mu, at, points or 2)
        np.testing.assert_allclose(R[n], expected, rtol=1e-8, atol=1e-12)
        assert R[n].sum() == pytest.approx(f[n, c], rel=1e-10)


@pytest.mark.parametrize("points", [None, 2, 3])
def test_tiny_multiclass_by_hand(points):
    X = np.array([[0, 0], [0.3, 0.1], [2, 0], [2.2, 0.4], [1, 2], [1.1, 1.6], [1, 0.7]])
    y = np.array([0, 0, 1, 1, 2, 2, 0])
    model = SVC(C=5.0, gamma=0.5).fit(X, y)
    beta = 0.7
    graph = neon.neuralize(model, X, beta=beta)
    mu = X.mean(0)
    x = np.array([[0.5, 0.4], [1.8, 0.9], [1.0, 1.4], [0.2, 1.5]])
    if points is None:              # default rules: RivalSoftMin, DuelTaylor (path, 2 nodes)
        R, at = lrp.explain(graph, x), "path"
    else:                                          # the path option below the same split
        R, at = lrp.explain(graph, x, composite=DuelTaylor("path", points=points)), "path"
    U, gamma = model.support_vectors_, model._gamma
    for n in range(len(x)):
        g = {}
        for a, b, idx, coef, b0 in duel_terms(model):
            g[a, b] = g_and_grad(x[n], U[idx], coef, b0, gamma)[0]
            g[b, a] = -g[a, b]
        f = [min(g[c, j] for j in range(3) if j != c) for c in range(3)]
        c = int(np.argmax(f))
        rivals = [j for j in range(3) if j != c]
        w = np.exp([-beta * g[c, j] for j in rivals])
        w /= w.sum()
        shares = {(min(c, j), max(c, j)): share * f[c] for j, share in zip(rivals, w)}
        expected = taylor_by_hand(model, x[n], shares, mu, at, points or 2)
        np.testing.assert_allclose(R[n], expected, rtol=1e-8, atol=1e-12)
        assert R[n].sum() == pytest.approx(f[c], rel=1e-10)


def test_path_conserves_exactly_and_one_point_is_the_midpoint():
    """float64, a 3-class wine SVC: Σ_i R_i = f_c to rounding for every sample; the
    one-node path rule is the midpoint rule; more nodes change the relevance."""
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), SVC()).fit(X[::2], y[::2])
    graph = neon.neuralize(pipe, X[::2])
    x = X[1::2]
    f = graph.forward(x)
    c = f.argmax(1)
    for points in (1, 2, 5):
        e = lrp.explain(graph, x, composite=DuelTaylor("path", points=points),
                        return_all=True)
        np.testing.assert_allclose(np.asarray(e.relevance).sum(1), f[np.arange(len(x)), c],
                                   rtol=1e-12, atol=1e-12)
    mid = lrp.explain(graph, x, composite=DuelTaylor("midpoint"))
    one = lrp.explain(graph, x, composite=DuelTaylor("path", points=1))
    np.testing.assert_allclose(one, mid, rtol=1e-12, atol=1e-14)
    two = lrp.explain(graph, x, composite=DuelTaylor("path", points=2))
    assert np.abs(two - mid).max() > 1e-3
    np.testing.assert_allclose(lrp.explain(graph, x), two, rtol=1e-12, atol=1e-14)  # default


def test_root_split_cases_by_hand():
    c = torch.tensor([[2.0, -1.0, 0.0, 1.0],      # r = 5 − 2 = 3 > 0: onto the positives
                      [2.0, -1.0, 0.0, 1.0],      # r = 0 − 2 = −2 < 0: onto the negatives
                      [-1.0, -3.0, 0.0, 0.0],     # r = 1 + 4 = 5 > 0, no positive: even split
                      [0.0, 0.0, 0.0, 0.0]],      # nothing to split on: absorbed
                     dtype=torch.float64)
    total = torch.tensor([5.0, 0.0, 1.0, 2.0], dtype=torch.float64)
    got = root_split(c, total)
    expected = torch.tensor([[2 + 2 * 3 / 3, -1.0, 0.0, 1 + 1 * 3 / 3],
                             [2.0, -1 + (-1) * (-2) / (-1), 0.0, 1.0],
                             [-1 + 2.5, -3 + 2.5, 0.0, 0.0],
                             [0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    for n in range(3):
        np.testing.assert_allclose(got[n].numpy(), split_by_hand(c[n].numpy(), float(total[n])))


def test_weighted_gradient_matches_autograd_of_the_duels():
    """The op's closed-form Σ_k coef_k ∇g_k against torch autograd through its own forward."""
    X = np.random.default_rng(0).normal(size=(30, 3))
    y = np.repeat([0, 1, 2], 10)
    X[y == 1] += 2.0
    graph = neon.neuralize(SVC(gamma=0.4).fit(X, y), X)
    op = graph["duels"].op
    x = torch.as_tensor(X[:5] + 0.1)
    coef = torch.as_tensor(np.random.default_rng(1).normal(size=(5, op.n_duels)))
    x_req = x.clone().requires_grad_(True)
    g = op(graph["distance"].op(x_req))
    (auto,) = torch.autograd.grad((g * coef).sum(), x_req)
    torch.testing.assert_close(op.weighted_gradient(x, coef), auto, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------- breast cancer, small


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.3, random_state=0,
                                                   stratify=y)
    pipe = make_pipeline(StandardScaler(), SVC()).fit(X_train, y_train)
    x = X_test[::4]                                 # 43 tumours
    return pipe, neon.neuralize(pipe, X_train), X_train, x, pipe.predict(x)


def _morf(graph, x, relevance, target, data, baseline):
    result = lrp.metrics.pixel_flipping(graph, x, relevance, target, order="morf",
                                        baseline=baseline, steps=x.shape[1], data=data, seed=0)
    return float(result.auc["morf"].mean())


def test_conservation_at_least_90_percent(cancer):
    pipe, graph, X_train, x, target = cancer
    e = lrp.explain(graph, x, target, return_all=True)
    ratio = e.relevance.sum(1) / e.output.numpy()
    assert np.median(ratio) >= 0.9
    np.testing.assert_allclose(ratio, 1.0, rtol=1e-9)          # in fact exact
    result = lrp.metrics.conservation(graph, x, e)          # δ = |ΣR − f| / |f|
    assert float(np.max(result.delta.values)) < 1e-9
    # the midpoint rule does not reach the threshold (measured median ≈ 0.77)
    old = lrp.explain(graph, x, target, composite=DuelMidpoint())
    assert np.median(old.sum(1) / e.output.numpy()) < 0.9


@pytest.mark.parametrize("baseline", ["mean", "resample"])
def test_as_faithful_as_occlusion(cancer, baseline):
    pipe, graph, X_train, x, target = cancer
    neon_auc = _morf(graph, x, lrp.explain(graph, x, target), target, X_train, baseline)
    occlusion = lrp.occlusion(graph, x, target, window=1, baseline=X_train.mean(0))
    occ_auc = _morf(graph, x, occlusion, target, X_train, baseline)
    old_auc = _morf(graph, x, lrp.explain(graph, x, target, composite=DuelMidpoint()), target,
                    X_train, baseline)
    random_auc = _morf(graph, x, lrp.metrics.random_relevance(x, seed=0), target, X_train,
                       baseline)
    assert neon_auc <= occ_auc + 0.01, (neon_auc, occ_auc)
    assert neon_auc < old_auc - 0.3 and neon_auc < random_auc - 0.3


def test_at_least_100_times_faster_than_shap(cancer):
    shap = pytest.importorskip("shap")
    pipe, graph, X_train, x, target = cancer
    col = np.searchsorted(graph.output_labels, target)
    lrp.explain(graph, x[:2], target[:2])
    neon_s = min(_timed(lambda: lrp.explain(graph, x, target)) for _ in range(3)) / len(x)

    def f(z):
        with torch.no_grad():
            return graph(torch.as_tensor(z, dtype=torch.float64)).numpy()

    np.random.seed(0)
    explainer = shap.KernelExplainer(f, shap.kmeans(X_train, 10))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shap_s = _timed(lambda: explainer.shap_values(x[:3], nsamples=200, l1_reg=False,
                                                      silent=True)) / 3
    assert col.shape == (len(x),)
    assert shap_s / neon_s >= 100, (shap_s, neon_s)


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ------------------------------------------------------------------- known by construction


def test_the_separating_feature_ranks_first():
    """Labels depend on feature 0 only (a gap around 0); features 1–5 are noise."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    X[:, 0] = np.where(rng.random(300) < 0.5, -1, 1) * rng.uniform(0.5, 2.0, 300)
    y = (X[:, 0] > 0).astype(int)
    train, test = X[:200], X[200:]
    pipe = make_pipeline(StandardScaler(), SVC()).fit(train, y[:200])
    assert (pipe.predict(test) == y[200:]).mean() > 0.97
    graph = neon.neuralize(pipe, train)
    R = lrp.explain(graph, test, pipe.predict(test))
    first = np.argmax(R, axis=1)
    assert (first == 0).mean() >= 0.95, np.bincount(first, minlength=6)
    # the midpoint rule misses it far more often (recorded, not required)
    old = lrp.explain(graph, test, pipe.predict(test), composite=DuelMidpoint())
    assert (np.argmax(old, axis=1) == 0).mean() < (first == 0).mean()


# ------------------------------------------------------------------- the graph, the reference


@pytest.mark.parametrize("classes", [2, 3])
def test_check_neuralizer_passes(classes):
    rng = np.random.default_rng(classes)
    X = rng.normal(size=(60, 4))
    y = np.arange(60) % classes
    X += y[:, None] * 1.5
    report = check_neuralizer(SVC(gamma=0.5).fit(X, y), X[::2])
    assert isinstance(report, dict)


def test_reference_point_from_data_or_support_vectors():
    X, y = load_breast_cancer(return_X_y=True)
    X, y = X[::5], y[::5]
    pipe = make_pipeline(StandardScaler(), SVC()).fit(X, y)
    graph = neon.neuralize(pipe, X)
    np.testing.assert_allclose(graph.meta["reference_point"], X.mean(0), rtol=1e-12)
    assert graph.meta["reference_source"] == "data mean"
    with pytest.warns(UserWarning, match="neuralize.svc, X_train"):
        bare = neon.neuralize(pipe)
    svm = pipe[-1]
    expected = pipe[0].inverse_transform(svm.support_vectors_.mean(0, keepdims=True))[0]
    np.testing.assert_allclose(bare.meta["reference_point"], expected, rtol=1e-10)
    assert "support-vector" in bare.meta["reference_source"]
    e = lrp.explain(bare, X[:20], return_all=True)          # still exact
    np.testing.assert_allclose(e.relevance.sum(1), e.output.numpy(), rtol=1e-9)


def test_batches_dtypes_and_the_old_rule():
    X, y = load_breast_cancer(return_X_y=True)
    X, y = X[::4], y[::4]
    pipe = make_pipeline(StandardScaler(), SVC()).fit(X, y)
    graph = neon.neuralize(pipe, X)
    R = lrp.explain(graph, X)
    np.testing.assert_allclose(lrp.explain(graph, X, batch_size=7), R, rtol=1e-12, atol=1e-14)
    R_t = lrp.explain(graph, torch.as_tensor(X))
    assert isinstance(R_t, torch.Tensor) and np.allclose(R_t.numpy(), R, rtol=1e-12)
    g32 = graph.copy().to(torch.float32)
    R32 = lrp.explain(g32, torch.as_tensor(X, dtype=torch.float32))
    assert R32.dtype == torch.float32 and torch.isfinite(R32).all()
    assert np.corrcoef(R32.numpy().ravel(), R.ravel())[0, 1] > 0.999
    old = lrp.explain(graph, X, composite=DuelMidpoint())
    assert not np.allclose(old, R)
    e = lrp.explain(graph, X, return_all=True)
    rules = {row["node"]: row["rule"] for row in e.table}
    assert rules["duels"].startswith("DuelTaylor")
    # β = ∞ of the rivals still works with the new duel rule
    hard = lrp.explain(graph, X, composite=lrp.Composite(
        [("svc_rivals", lrp.rules.RivalSoftMin(math.inf))]))
    assert np.isfinite(hard).all()


def test_bad_input():
    with pytest.raises(ValueError, match="at must be one of"):
        DuelTaylor(at="middle")
    with pytest.raises(ValueError, match="stabilizer"):
        DuelTaylor(stabilizer=-1.0)
    with pytest.raises(ValueError, match="points=3 is used only with at='path'"):
        DuelTaylor("midpoint", points=3)
    with pytest.raises(ValueError, match="points=2 is used only with at='path'"):
        DuelTaylor("input", points=2)
    with pytest.raises(ValueError, match="points must be ≥ 1"):
        DuelTaylor("path", points=0)
    with pytest.raises(TypeError, match="points must be an integer"):
        DuelTaylor("path", points=2.0)
    with pytest.raises(TypeError, match="points must be an integer"):
        DuelTaylor("path", points=True)
    with pytest.raises(ValueError, match="points must be ≤ 64"):
        DuelTaylor("path", points=65)
    assert "points=4" in repr(DuelTaylor("path", points=4))
    X = np.random.default_rng(0).normal(size=(20, 2))
    y = np.arange(20) % 2
    graph = neon.neuralize(SVC().fit(X, y), X)
    op = graph["duels"].op
    lone = neon.Graph()
    lone.add_input("x", (2,))
    lone.add_node("distance", graph["distance"].op, ["x"])
    lone.add_node("duels", op, ["distance"])               # no x: DuelTaylor cannot run
    lone.set_output("duels")
    with pytest.raises(RuleError, match="DuelMidpoint"):
        lrp.explain(lone, X, lrp.Column(0))
    assert np.isfinite(lrp.explain(lone, X, lrp.Column(0), composite=DuelMidpoint())).all()
