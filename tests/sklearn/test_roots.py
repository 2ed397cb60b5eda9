"""Reference points from data: the rooted first layer of linear models, MLPs and pipelines.

docs/neon.md, "Already-neural and linear". Every expected value is computed here in numpy from
the fitted ``coef_``/``intercept_`` (or ``coefs_``/``intercepts_``), the data mean and
scikit-learn's own ``decision_function``/``predict``/``transform``, never from the code under
test:

* linear classifiers, ``root="nearest"``: m_c = μ − f_c(μ) w_c/‖w_c‖², R = w_c ⊙ (x − m_c),
  so R − w_c ⊙ (x − μ) = f_c(μ) w_c²/‖w_c‖² and Σ_i R_i = f_c(x) to 1e-10;
* linear regressors, ``root="equal"``: R = w ⊙ (x − μ) + f(μ)/d' (d' nonzero weights);
* MLPs: the first layer hands R_k on as Σ_k w_ki (x_i − m_ki) R_k / z_k (exact there);
* a data set whose answer is known by construction (the label depends on two of ten
  offset features): the rooted relevance ranks those two first, the origin rule never.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn import datasets
from sklearn import linear_model as lm
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import LinearSVC

import lrp
import lrp.metrics
import neon
from neon.ops import Linear, RootedLinear
from neon.sklearn import builders
from neon.sklearn.builders import ReferenceDataWarning
from neon.testing import check_neuralizer

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TOL = 1e-10


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def raw(name):
    """A bundled data set on its raw (unscaled, offset) features."""
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return np.asarray(X, dtype=np.float64), y


def offsets_data(n=300, d=6, seed=0):
    """Features with large positive offsets and different scales; a linear label."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, d))
    X = Z * rng.uniform(0.3, 4.0, d) + rng.uniform(20, 300, d)
    return X, Z, rng


def class_weight(est, pred):
    """Per sample, w_c and the class's decision sign (binary: ±w, one row of coef_)."""
    coef = np.atleast_2d(est.coef_)
    if coef.shape[0] == 1:
        sign = np.where(pred == 1, 1.0, -1.0)
        return sign[:, None] * coef[0], sign
    return coef[pred], None


def explained_decision(est, Z, pred):
    """f_c(z) of the class c = pred, from scikit-learn's decision_function."""
    df = est.decision_function(Z)
    if df.ndim == 1:
        return np.where(pred == 1, df, -df)
    return df[np.arange(len(Z)), pred]


def nearest_relevance(est, x, mean, pred):
    """w_c ⊙ (x − m_c), m_c = μ − f_c(μ) w_c / ‖w_c‖², in numpy."""
    w, _ = class_weight(est, pred)
    f_mu = explained_decision(est, np.repeat(mean[None], len(x), 0), pred)
    m = mean[None] - (f_mu / (w * w).sum(1))[:, None] * w
    return w * (x - m), w, f_mu


# ----------------------------------------------------------------------------- linear classifiers

CLASSIFIERS = {
    "logistic-multi": (lambda: lm.LogisticRegression(max_iter=5000), "wine"),
    "logistic-binary": (lambda: lm.LogisticRegression(max_iter=5000), "breast_cancer"),
    "linear-svc": (lambda: LinearSVC(max_iter=5000, random_state=0), "wine"),
    "ridge-classifier": (lambda: lm.RidgeClassifier(), "breast_cancer"),
    "sgd-binary": (lambda: lm.SGDClassifier(random_state=0), "breast_cancer"),
}


@pytest.mark.parametrize("case", list(CLASSIFIERS))
def test_classifier_root_is_nearest_boundary_point_and_conserves(case):
    make, data = CLASSIFIERS[case]
    X, y = raw(data)
    est = _fit(make(), X, y)
    graph = neon.neuralize(est, X)
    assert graph.meta["root"] == "nearest" and graph.conserves
    assert isinstance(graph["linear"].op, RootedLinear)
    x = X[::3]
    pred = np.searchsorted(est.classes_, est.predict(x))
    R = lrp.explain(graph, x, est.predict(x))
    mean = X.mean(0)
    expected, w, f_mu = nearest_relevance(est, x, mean, pred)
    scale = np.abs(expected).max()
    assert np.abs(R - expected).max() <= TOL * scale
    # conservation: Σ_i R_i = f_c(x), scikit-learn's decision function
    f = explained_decision(est, x, pred)
    assert np.abs(R.sum(1) - f).max() <= TOL * max(np.abs(f).max(), 1.0)
    # R − gradient × (x − μ) = f_c(μ) w_ci² / ‖w_c‖² exactly (gradient of f_c: w_c)
    offset = f_mu[:, None] * w ** 2 / (w * w).sum(1, keepdims=True)
    assert np.abs(R - w * (x - mean) - offset).max() <= TOL * scale
    # … and the gradient the library computes agrees
    gxm = np.asarray(lrp.gradient(graph, x, est.predict(x))) * (x - mean)
    assert np.abs(R - gxm - offset).max() <= TOL * scale
    assert np.allclose(graph.meta["reference_mean"], mean, rtol=1e-12)
    out_mu = est.decision_function(mean[None])[0]
    ref = np.stack([-out_mu, out_mu]) if np.ndim(out_mu) == 0 else out_mu
    assert np.allclose(graph.meta["reference_output"], ref, rtol=1e-10, atol=1e-12)


def test_binary_columns_share_the_root():
    X, y = raw("breast_cancer")
    est = _fit(lm.LogisticRegression(max_iter=5000), X, y)
    graph = neon.neuralize(est, X)
    op = graph["linear"].op
    assert torch.equal(op.root[0], op.root[1])
    R0 = lrp.explain(graph, X[:40], target=np.zeros(40, dtype=int))
    R1 = lrp.explain(graph, X[:40], target=np.ones(40, dtype=int))
    assert np.abs(R0 + R1).max() <= TOL * np.abs(R1).max()


@pytest.mark.parametrize("root", ["nearest", "equal"])
def test_both_root_kinds_on_a_classifier(root):
    X, Z, rng = offsets_data()
    y = np.argmax(Z[:, :3] + 0.2 * rng.normal(size=(len(Z), 3)), 1)
    est = _fit(lm.LogisticRegression(max_iter=5000), X, y)
    graph = neon.neuralize(est, X, root=root)
    pred = np.searchsorted(est.classes_, est.predict(X))
    R = lrp.explain(graph, X, est.predict(X))
    mean = X.mean(0)
    w = est.coef_[pred]
    f_mu = est.decision_function(mean[None])[0][pred]
    if root == "nearest":
        shift = f_mu[:, None] * w ** 2 / (w * w).sum(1, keepdims=True)
    else:                           # an equal share f_c(μ)/d of the boundary offset each
        shift = np.repeat((f_mu / X.shape[1])[:, None], X.shape[1], 1)
    expected = w * (X - mean) + shift
    assert np.abs(R - expected).max() <= TOL * np.abs(expected).max()
    f = est.decision_function(X)[np.arange(len(X)), pred]
    assert np.abs(R.sum(1) - f).max() <= TOL * np.abs(f).max()


# ----------------------------------------------------------------------------- regressors

REGRESSORS = {
    "linear": lm.LinearRegression, "ridge": lm.Ridge,
    "huber": lambda: lm.HuberRegressor(max_iter=2000),
}


@pytest.mark.parametrize("name", list(REGRESSORS))
def test_regressor_root_shares_the_mean_prediction_equally(name):
    X, y = raw("diabetes") if name != "huber" else datasets.load_diabetes(
        return_X_y=True, scaled=False)
    X = np.asarray(X, dtype=np.float64)
    est = _fit(REGRESSORS[name](), X, y)
    graph = neon.neuralize(est, X)
    assert graph.meta["root"] == "equal" and graph.conserves
    R = lrp.explain(graph, X)
    mean = X.mean(0)
    f_mu = est.predict(mean[None])[0]
    expected = est.coef_ * (X - mean) + f_mu / X.shape[1]
    assert np.abs(R - expected).max() <= TOL * np.abs(expected).max()
    pred = est.predict(X)
    assert np.abs(R.sum(1) - pred).max() <= TOL * np.abs(pred).max()
    assert graph.meta["reference_output"][0] == pytest.approx(f_mu, rel=1e-12)


def test_sparse_regressor_gives_zero_weight_features_nothing():
    X, y = datasets.load_diabetes(return_X_y=True, scaled=False)
    est = lm.Lasso(alpha=5.0, max_iter=50_000).fit(X, y)
    zero = est.coef_ == 0
    assert zero.any() and not zero.all()
    graph = neon.neuralize(est, X)
    R = lrp.explain(graph, X)
    assert np.all(R[:, zero] == 0)
    mean = X.mean(0)
    expected = est.coef_ * (X - mean) + np.where(zero, 0.0, est.predict(mean[None])[0]
                                                 / (~zero).sum())
    assert np.abs(R - expected).max() <= TOL * np.abs(expected).max()
    assert np.abs(R.sum(1) - est.predict(X)).max() <= TOL * np.abs(est.predict(X)).max()


def test_constant_regressor_has_no_root_and_does_not_claim_conservation():
    X, y = raw("diabetes")
    est = lm.Lasso(alpha=1e6).fit(X, y)
    assert np.all(est.coef_ == 0)
    graph = neon.neuralize(est, X)
    assert not graph.conserves
    R = lrp.explain(graph, X[:10])
    assert np.all(R == 0)


def test_multi_target_regressor_roots_every_target():
    X, Z, rng = offsets_data()
    Y = np.stack([Z @ rng.normal(size=6) + 40.0, Z[:, 0] - 2 * Z[:, 1] - 15.0], 1)
    est = lm.Ridge().fit(X, Y)
    graph = neon.neuralize(est, X)
    mean = X.mean(0)
    f_mu = est.predict(mean[None])[0]
    per_target = [est.coef_[t] * (X - mean) + f_mu[t] / 6 for t in range(2)]
    R = lrp.explain(graph, X)
    expected = per_target[0] + per_target[1]
    assert np.abs(R - expected).max() <= TOL * np.abs(expected).max()
    R1 = lrp.explain(graph, X, target=1)
    assert np.abs(R1 - per_target[1]).max() <= TOL * np.abs(per_target[1]).max()
    assert np.abs(R1.sum(1) - est.predict(X)[:, 1]).max() <= TOL * np.abs(Y[:, 1]).max()


# ----------------------------------------------------------------------------- known answer

def test_known_answer_two_true_features_rank_first():
    """The label depends on features 2 and 7 only; every feature has a large positive
    offset, the true ones a wide spread (small weights), the others a narrow one. The rooted
    relevance puts {2, 7} on top by |R| for ≥ 90 % of the samples (the rest sit at the
    mean of a true feature); relevance against the origin, w_i x_i, for none (measured:
    92–96 % and 0 % over eight seeds, 95 % and 0 % on this one)."""
    rng = np.random.default_rng(0)
    n, d = 1000, 10
    offset, scale = rng.uniform(300, 2000, d), rng.uniform(0.2, 1.0, d)
    scale[[2, 7]], offset[[2, 7]] = 5.0, rng.uniform(50, 100, 2)
    Z = rng.normal(size=(n, d))
    X = Z * scale + offset
    y = (2 * Z[:, 2] - 1.5 * Z[:, 7] + 0.3 * rng.normal(size=n) > 0).astype(int)
    est = lm.LogisticRegression(solver="newton-cholesky").fit(X, y)
    assert est.score(X, y) > 0.9
    hits = {}
    for root in ("nearest", "equal", "origin"):
        R = lrp.explain(neon.neuralize(est, X, root=root), X, est.predict(X))
        top = np.sort(np.argsort(-np.abs(R), 1)[:, :2], 1)
        hits[root] = np.mean((top[:, 0] == 2) & (top[:, 1] == 7))
    assert hits["nearest"] >= 0.9 and hits["equal"] >= 0.9, hits
    assert hits["origin"] <= 0.05, hits


def test_removal_test_rooted_linear_ties_occlusion_and_beats_the_origin():
    """A small version of the measurement in docs/neon.md: wine, LogisticRegression on raw
    features, 30 samples, MoRF AUC under the mean baseline (lower is better). For a linear
    model occlusion with the mean is the exact w_i (x_i − μ_i), the best order there is."""
    X, y = raw("wine")
    est = _fit(lm.LogisticRegression(max_iter=20_000), X, y)
    x = X[::6]
    target = est.predict(x)
    graph = neon.neuralize(est, X)
    old = neon.neuralize(est, X, root="origin")

    def auc(relevance):
        res = lrp.metrics.pixel_flipping(graph, x, relevance, target, baseline="mean",
                                         steps=X.shape[1], data=X)
        return float(res.auc["morf"].mean())

    occlusion = auc(lrp.occlusion(graph, x, target, window=1, baseline=X.mean(0)))
    rooted, origin = auc(lrp.explain(graph, x, target)), auc(lrp.explain(old, x, target))
    assert rooted <= occlusion + 0.02, (rooted, occlusion)
    assert origin >= rooted + 0.3, (origin, rooted)


# ----------------------------------------------------------------------------- the old behaviour

def test_origin_option_restores_the_plain_linear_and_epsilon():
    X, y = raw("wine")
    est = _fit(lm.LogisticRegression(max_iter=5000), X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ReferenceDataWarning)
        graphs = [neon.neuralize(est, root="origin"), neon.neuralize(est, X, root="origin")]
    pred = np.searchsorted(est.classes_, est.predict(X))
    f = est.decision_function(X)[np.arange(len(X)), pred]
    expected = X * est.coef_[pred] * (f / (f + 1e-6 * np.sign(f)))[:, None]
    for graph in graphs:
        assert type(graph["linear"].op) is Linear
        assert graph.meta["root"] == "origin" and not graph.conserves
        assert "reference_mean" not in graph.meta
        R = lrp.explain(graph, X, est.predict(X))
        assert np.abs(R - expected).max() <= TOL * np.abs(expected).max()


def test_without_data_the_old_behaviour_and_a_one_time_warning(monkeypatch):
    monkeypatch.setattr(builders, "_WARNED", set())
    X, y = raw("iris")
    est = _fit(lm.LogisticRegression(max_iter=5000), X, y)
    with pytest.warns(ReferenceDataWarning, match=r"LogisticRegression neuralized without "
                      r"reference data.*neon\.neuralize\(model, X_train\).*root='origin'") as rec:
        graph = neon.neuralize(est)
    assert len(rec) == 1 and rec[0].filename == __file__     # points at the caller
    assert type(graph["linear"].op) is Linear and graph.meta["root"] == "origin"
    with warnings.catch_warnings():
        warnings.simplefilter("error", ReferenceDataWarning)
        neon.neuralize(est)                                   # once per estimator class
        neon.neuralize(_fit(lm.LogisticRegression(C=0.1, max_iter=5000), X, y))
        neon.neuralize(est, X)                                # with data: never
        neon.neuralize(make_pipeline(StandardScaler(), lm.Ridge()).fit(X, y), X)
    mlp = _fit(MLPClassifier((4,), max_iter=50, random_state=0), X, y)
    with pytest.warns(ReferenceDataWarning, match="MLPClassifier"):
        neon.neuralize(mlp)
    with pytest.warns(ReferenceDataWarning, match="Ridge"):    # a pipeline's final step
        neon.neuralize(make_pipeline(StandardScaler(), lm.Ridge()).fit(X, y))


@pytest.mark.parametrize("model", ["linear", "mlp", "pipeline"])
def test_root_option_is_validated(model):
    X, y = raw("iris")
    est = {"linear": lambda: lm.LogisticRegression(max_iter=5000),
           "mlp": lambda: MLPClassifier((4,), max_iter=50, random_state=0),
           "pipeline": lambda: make_pipeline(StandardScaler(), lm.LogisticRegression())}[model]
    est = _fit(est(), X, y)
    choices = ("root must be None, 'deeplift', 'equal', 'nearest' or 'origin'" if model == "mlp"
               else "root must be None, 'nearest', 'equal' or 'origin'")
    for bad in ("data", "Nearest", 1, True, ("nearest",)):
        with pytest.raises(ValueError, match=choices):
            neon.neuralize(est, X, root=bad)
    for kind in ("nearest", "equal"):
        with pytest.raises(ValueError, match=rf"root='{kind}' needs reference data: "
                                             r"neon\.neuralize\(model, X_train\)"):
            neon.neuralize(est, root=kind)


# ----------------------------------------------------------------------------- MLPs

def _mlp_first_layer_reference(est, x, mean, pred, root):
    """Numpy LRP of a one-hidden-layer ReLU MLP: ε (1e-6) on the output layer, the rooted
    rule on the first: R_i = Σ_k w_ki (x_i − m_ki) R_k / z_k."""
    W1, b1 = est.coefs_[0].T, est.intercepts_[0]           # (H, d), (H,)
    V, c = est.coefs_[1], est.intercepts_[1]               # (H, C), (C,)
    if V.shape[1] == 1:                                     # binary: columns [−z, z]
        V, c = np.concatenate([-V, V], 1), np.concatenate([-c, c])
    z = x @ W1.T + b1
    a = np.maximum(z, 0)
    out = a @ V + c
    f = out[np.arange(len(x)), pred]
    Rk = a * V[:, pred].T * (f / (f + 1e-6 * np.where(f >= 0, 1.0, -1.0)))[:, None]
    z_mu = W1 @ mean + b1
    if root == "nearest":
        m = mean[None] - (z_mu / (W1 * W1).sum(1))[:, None] * W1
    else:
        m = mean[None] - (z_mu / W1.shape[1])[:, None] / W1
    s = np.divide(Rk, z, out=np.zeros_like(z), where=z != 0)
    R = x * (s @ W1) - s @ (W1 * m)
    return R, Rk


@pytest.mark.parametrize("data", ["wine", "breast_cancer"])
@pytest.mark.parametrize("root", ["equal", "nearest"])
def test_mlp_first_layer_is_rooted_and_conserves_there(data, root):
    X, y = raw(data)
    est = _fit(MLPClassifier((12,), solver="lbfgs", max_iter=300, random_state=0), X, y)
    graph = neon.neuralize(est, X) if root == "equal" else neon.neuralize(est, X, root=root)
    assert graph.meta["root"] == root and not graph.conserves
    assert isinstance(graph["dense1"].op, RootedLinear)
    x = X[::4]
    pred = np.searchsorted(est.classes_, est.predict(x))
    expl = lrp.explain(graph, x, est.predict(x), return_all=True)
    expected, Rk = _mlp_first_layer_reference(est, x, X.mean(0), pred, root)
    assert np.abs(expl.relevance - expected).max() <= 1e-9 * np.abs(expected).max()
    arriving = np.asarray(expl.nodes["dense1"])
    assert np.abs(arriving - Rk).max() <= 1e-9 * np.abs(Rk).max()
    # the first layer conserves what arrives at it (the ε output layer absorbs the bias)
    total = arriving.sum(1)
    assert np.abs(expl.relevance.sum(1) - total).max() <= TOL * np.abs(total).max()


@pytest.mark.parametrize("activation", ["tanh", "logistic"])
def test_mlp_other_activations_conserve_at_the_first_layer(activation):
    X, Z, rng = offsets_data()
    y = Z[:, 0] - Z[:, 1] ** 2 + 0.1 * rng.normal(size=len(Z))
    est = _fit(MLPRegressor(hidden_layer_sizes=(8, 5), activation=activation, solver="lbfgs",
                            max_iter=200, random_state=0), X, y)
    graph = neon.neuralize(est, X, root="equal")   # a regressor's default is "deeplift"
    expl = lrp.explain(graph, X, return_all=True)
    total = np.asarray(expl.nodes["dense1"]).sum(1)
    assert np.isfinite(expl.relevance).all()
    assert np.abs(expl.relevance.sum(1) - total).max() <= TOL * np.abs(total).max()


def test_mlp_composites_still_replace_the_first_layer_rule():
    X, y = raw("wine")
    est = _fit(MLPClassifier((10,), solver="lbfgs", max_iter=200, random_state=0), X, y)
    rooted, origin = neon.neuralize(est, X), neon.neuralize(est, root="origin")
    for composite in (lrp.EpsilonPlusFlat(), lrp.EpsilonOnly(0.1)):
        a = lrp.explain(rooted, X, composite=composite)
        b = lrp.explain(origin, X, composite=composite)
        assert np.abs(a - b).max() <= 1e-12 * np.abs(b).max()


# ----------------------------------------------------------------------------- pipelines

def test_pipeline_passes_the_data_on_and_roots_in_the_scaled_space():
    X, y = raw("wine")
    pipe = _fit(make_pipeline(StandardScaler(), lm.LogisticRegression(max_iter=2000)), X, y)
    graph = neon.neuralize(pipe, X)
    assert [n.name for n in graph.nodes] == ["standardscaler", "linear"]
    clf, u = pipe[-1], pipe[:-1].transform(X)
    pred = np.searchsorted(clf.classes_, pipe.predict(X))
    expected, _, _ = nearest_relevance(clf, u, u.mean(0), pred)
    R = lrp.explain(graph, X, pipe.predict(X))
    assert np.abs(R - expected).max() <= TOL * np.abs(expected).max()
    # the bare estimator rooted on the scaled data gives the raw features the same relevance
    bare = lrp.explain(neon.neuralize(clf, u), u, pipe.predict(X))
    assert np.abs(R - bare).max() <= TOL * np.abs(bare).max()
    f = pipe.decision_function(X)[np.arange(len(X)), pred]
    assert np.abs(R.sum(1) - f).max() <= TOL * np.abs(f).max()


@pytest.mark.parametrize("final", ["logistic", "mlp"])
def test_pipeline_with_pca_folds_it_into_the_rooted_layer(final):
    X, y = raw("wine")
    est = (lm.LogisticRegression(max_iter=2000) if final == "logistic"
           else MLPClassifier((8,), max_iter=400, random_state=0))
    pipe = _fit(make_pipeline(StandardScaler(), PCA(5), est), X, y)
    graph = neon.neuralize(pipe, X)
    first = "linear" if final == "logistic" else "dense1"
    assert [n.name for n in graph.nodes][:2] == ["standardscaler", first]
    proba = pipe.predict_proba(X)
    out = graph(X)
    e = np.exp(out - out.max(1, keepdims=True))
    assert np.abs(e / e.sum(1, keepdims=True) - proba).max() < 1e-10
    if final == "mlp":
        return
    # in the standardized space u: f(u) = w·P(u − μ_pca) + b = v·u + b', v = Pᵀw
    u = pipe[0].transform(X)
    pca, clf = pipe[1], pipe[-1]
    pred = np.searchsorted(clf.classes_, pipe.predict(X))
    v = clf.coef_ @ pca.components_
    bias = clf.intercept_ - v @ pca.mean_
    mu = u.mean(0)
    f_mu = v @ mu + bias
    m = mu[None] - (f_mu / (v * v).sum(1))[:, None] * v                       # (C, d)
    expected = v[pred] * (u - m[pred])
    R = lrp.explain(graph, X, pipe.predict(X))
    assert np.abs(R - expected).max() <= 1e-9 * np.abs(expected).max()
    f = pipe.decision_function(X)[np.arange(len(X)), pred]
    assert np.abs(R.sum(1) - f).max() <= TOL * np.abs(f).max()


def test_folded_preprocessing_roots_in_raw_space():
    X, y = raw("wine")
    pipe = _fit(make_pipeline(MinMaxScaler(), lm.LogisticRegression(max_iter=2000)), X, y)
    graph = neon.neuralize(pipe, X, fold_preprocessing=True)
    assert [n.name for n in graph.nodes] == ["linear"]
    w = pipe[-1].coef_ * pipe[0].scale_                     # raw-space weights
    b = pipe[-1].intercept_ + pipe[-1].coef_ @ pipe[0].min_
    mu = X.mean(0)
    m = mu[None] - ((w @ mu + b) / (w * w).sum(1))[:, None] * w
    pred = np.searchsorted(pipe.classes_, pipe.predict(X))
    expected = w[pred] * (X - m[pred])
    R = lrp.explain(graph, X, pipe.predict(X))
    assert np.abs(R - expected).max() <= TOL * np.abs(expected).max()


# ----------------------------------------------------------------------------- still reproduce

CHECKED = {
    "logistic-raw": lambda: (lm.LogisticRegression(max_iter=5000), "wine"),
    "linear-svc-raw": lambda: (LinearSVC(max_iter=5000, random_state=0), "breast_cancer"),
    "ridge-raw": lambda: (lm.Ridge(), "diabetes"),
    "mlp-raw": lambda: (MLPClassifier((8,), solver="lbfgs", max_iter=200, random_state=0),
                        "wine"),
    "mlp-regressor": lambda: (MLPRegressor(hidden_layer_sizes=(6,), max_iter=200,
                                           random_state=0), "diabetes"),
    "pipeline-pca": lambda: (make_pipeline(StandardScaler(), PCA(4),
                                           lm.LogisticRegression(max_iter=2000)), "wine"),
}


@pytest.mark.parametrize("case", list(CHECKED))
def test_neuralizers_still_reproduce_their_estimators(case):
    est, data = CHECKED[case]()
    X, y = raw(data)
    est = _fit(est, X, y)
    report = check_neuralizer(est, X[::2])
    if case.startswith(("logistic", "linear", "ridge", "pipeline")):
        assert report["conservation_error"] is not None
        assert report["conservation_error"] <= 1e-9
