"""Pipelines: affine preprocessing steps become graph nodes, relevance lands on raw features.

docs/neon.md test 3: a Pipeline gives each raw feature the relevance its scaled value gets from the
bare estimator on the scaled data (a shifting scaler must not turn w_i(s_i x_i + t_i) into
w_i s_i x_i). Expected values come from scikit-learn (transform, decision_function, predict)
and numpy formulas on fitted attributes, never from the code under test. The LRP-0 tests of
linear models and MLPs are of the origin-relative rule (``root="origin"``, what a graph built
without reference data does); their rooted relevance with reference data is tested here for
test 3 and in test_roots.py.
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import datasets
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    PolynomialFeatures,
    RobustScaler,
    StandardScaler,
)
from sklearn.svm import SVC, OneClassSVM
from sklearn.tree import DecisionTreeClassifier

import lrp
import neon
from neon.graph import GraphInputError
from neon.sklearn import UnsupportedEstimatorError

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

LRP0 = lrp.EpsilonOnly(0.0)


@cache
def dataset(name):
    """Raw (unscaled) features: the point of a pipeline."""
    if name == "constant":  # a constant and an all-zero column (scalers keep scale 1 there)
        rng = np.random.default_rng(2)
        X = rng.normal(size=(90, 4)) * [1.0, 10.0, 0.1, 3.0] + [5.0, -20.0, 0.0, 1.0]
        X = np.concatenate([X, np.full((90, 1), 7.0), np.zeros((90, 1))], 1)
        return X, (X[:, 0] - 5 + 0.1 * (X[:, 1] + 20) > 0).astype(int)
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    return np.asarray(X, dtype=np.float64), y


def fit(pipe, data):
    X, y = dataset(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return pipe.fit(X, y)


def _pred_index(est, X):
    return np.searchsorted(est.classes_, est.predict(X))


def _class_weights(clf, pred):
    """w_c per sample for the predicted class (binary: ±w)."""
    if len(clf.classes_) == 2:
        return np.where(pred[:, None] == 1, clf.coef_[0], -clf.coef_[0])
    return clf.coef_[pred]


# ----------------------------------------------------------------------------- 3. scalers

SCALERS = {
    "standard": lambda: [StandardScaler()],
    "standard-no-mean": lambda: [StandardScaler(with_mean=False)],
    "standard-no-std": lambda: [StandardScaler(with_std=False)],
    "standard-neither": lambda: [StandardScaler(with_mean=False, with_std=False)],
    "minmax": lambda: [MinMaxScaler()],
    "minmax-range": lambda: [MinMaxScaler(feature_range=(-1.0, 2.0))],
    "maxabs": lambda: [MaxAbsScaler()],
    "robust": lambda: [RobustScaler()],
    "robust-no-centering": lambda: [RobustScaler(with_centering=False)],
    "robust-no-scaling": lambda: [RobustScaler(with_scaling=False)],
    "robust-unit-variance": lambda: [RobustScaler(unit_variance=True, quantile_range=(10, 90))],
    "chain-standard-minmax": lambda: [StandardScaler(), MinMaxScaler()],
    "chain-maxabs-robust": lambda: [MaxAbsScaler(), RobustScaler(with_centering=False)],
    "chain-passthrough": lambda: [MinMaxScaler(), "passthrough", StandardScaler(with_std=False)],
}


# every setting on wine (3 classes); the basic ones also on a binary set and on data with a
# constant and an all-zero column
SCALER_CASES = [(s, "wine") for s in SCALERS] + [
    (s, d) for d in ("breast_cancer", "constant")
    for s in ("standard", "standard-no-mean", "standard-no-std", "minmax", "maxabs", "robust")]


@pytest.mark.parametrize("scalers,data", SCALER_CASES)
def test_scaled_linear_pipeline_gives_raw_features_the_scaled_relevance(scalers, data):
    X, _ = dataset(data)
    pipe = fit(make_pipeline(*SCALERS[scalers](), LogisticRegression(max_iter=60)), data)
    clf, scaled = pipe[-1], pipe[:-1].transform(X)
    graph = neon.neuralize(pipe, root="origin")
    out = graph(X)
    # equivalence with the pipeline
    df = pipe.decision_function(X)
    ref = np.stack([-df, df], 1) if df.ndim == 1 else df
    assert np.abs(out - ref).max() < 1e-10 * np.abs(ref).max()
    assert np.array_equal(pipe.classes_[out.argmax(1)], pipe.predict(X))
    # LRP-0: raw feature i gets x'_i w_ci, its scaled value's relevance (root −t/s, not 0)
    pred = _pred_index(pipe, X)
    R = lrp.explain(graph, X, composite=LRP0)
    expected = scaled * _class_weights(clf, pred)
    assert np.abs(R - expected).max() < 1e-9 * np.abs(expected).max()
    # and the same as the bare estimator's graph on the scaled data (default composite too)
    bare = neon.neuralize(clf, root="origin")
    for composite in (LRP0, None):
        R_bare = lrp.explain(bare, scaled, composite=composite)
        R_pipe = lrp.explain(graph, X, composite=composite)
        assert np.abs(R_pipe - R_bare).max() < 1e-9 * np.abs(R_bare).max()
    # rooted with reference data: the raw features get the relevance the bare estimator,
    # rooted on the scaled data, gives the scaled features; it conserves f_c exactly
    rooted = neon.neuralize(pipe, X)
    assert np.abs(rooted(X) - ref).max() < 1e-10 * np.abs(ref).max()
    R_pipe = lrp.explain(rooted, X)
    R_bare = lrp.explain(neon.neuralize(clf, scaled), scaled)
    assert np.abs(R_pipe - R_bare).max() < 1e-9 * np.abs(R_bare).max()
    f = ref[np.arange(len(X)), pred] if ref.shape[1] > 2 else np.abs(df)
    assert np.abs(R_pipe.sum(1) - f).max() < 1e-9 * np.abs(f).max()


def test_scaler_nodes_are_named_after_the_steps():
    pipe = fit(make_pipeline(StandardScaler(), MinMaxScaler(), LogisticRegression()), "wine")
    graph = neon.neuralize(pipe, root="origin")
    assert [n.name for n in graph.nodes] == ["standardscaler", "minmaxscaler", "linear"]
    assert [n.kind for n in graph.nodes] == ["elementwise_affine", "elementwise_affine", "linear"]
    rooted = neon.neuralize(pipe, dataset("wine")[0])
    assert [n.name for n in rooted.nodes] == ["standardscaler", "minmaxscaler", "linear"]
    assert graph.meta["pipeline"] is pipe
    assert graph.meta["preprocessing_steps"] == ("standardscaler", "minmaxscaler")
    assert graph.source is pipe
    assert "Pass" in lrp.Composite().describe(graph).splitlines()[2]


def test_folded_preprocessing_reproduces_and_measures_from_zero():
    X, _ = dataset("wine")
    pipe = fit(make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)), "wine")
    graph = neon.neuralize(pipe, fold_preprocessing=True, root="origin")
    assert [n.name for n in graph.nodes] == ["linear"]
    assert np.abs(graph(X) - pipe.decision_function(X)).max() < 1e-10 * np.abs(
        pipe.decision_function(X)).max()
    pred = _pred_index(pipe, X)
    R = lrp.explain(graph, X, composite=LRP0)
    expected = X * pipe[-1].coef_[pred] / pipe[0].scale_  # w_i s_i x_i: reference point 0
    assert np.abs(R - expected).max() < 1e-9 * np.abs(expected).max()


def test_regressor_pipeline():
    X, y = datasets.load_diabetes(return_X_y=True)
    pipe = make_pipeline(RobustScaler(), StandardScaler(), Ridge()).fit(X, y)
    graph = neon.neuralize(pipe, root="origin")
    assert np.abs(graph(X)[:, 0] - pipe.predict(X)).max() < 1e-10 * np.abs(pipe.predict(X)).max()
    R = lrp.explain(graph, X, composite=LRP0)
    assert np.allclose(R, pipe[:-1].transform(X) * pipe[-1].coef_, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- MLP pipelines

@cache
def mlp_pipeline(kind):
    pre = {"standard": [StandardScaler()], "minmax": [MinMaxScaler()],
           "pca": [StandardScaler(), PCA(6, whiten=True)]}[kind]
    mlp = MLPClassifier(hidden_layer_sizes=(10,), max_iter=200, random_state=0)
    return fit(make_pipeline(*pre, mlp), "wine")


@pytest.mark.parametrize("kind", ["standard", "minmax", "pca"])
def test_mlp_pipeline_reproduces_and_matches_bare_relevance(kind):
    X, _ = dataset("wine")
    pipe = mlp_pipeline(kind)
    scaled = pipe[:-1].transform(X)
    for data in (None, X):      # origin-relative, and rooted on the data
        graph = neon.neuralize(pipe, data, root="origin" if data is None else None)
        out = graph(X)
        e = np.exp(out - out.max(1, keepdims=True))
        assert np.abs(e / e.sum(1, keepdims=True) - pipe.predict_proba(X)).max() < 1e-12
        assert np.array_equal(pipe.classes_[out.argmax(1)], pipe.predict(X))
        if kind == "pca":
            continue
        bare = (neon.neuralize(pipe[-1], root="origin") if data is None
                else neon.neuralize(pipe[-1], scaled))
        for composite in (None, lrp.EpsilonPlusFlat(), lrp.EpsilonOnly(0.1)):
            R_bare = lrp.explain(bare, scaled, composite=composite)
            R_pipe = lrp.explain(graph, X, composite=composite)
            assert np.isfinite(R_pipe).all()
            assert np.abs(R_pipe - R_bare).max() < 1e-9 * np.abs(R_bare).max()


# ----------------------------------------------------------------------------- PCA

PCAS = {
    "pca": lambda: [PCA(5)],
    "pca-whiten": lambda: [PCA(5, whiten=True)],
    "pca-full": lambda: [PCA()],
    "standard-pca": lambda: [StandardScaler(), PCA(6)],
    "standard-pca-whiten": lambda: [StandardScaler(), PCA(0.9, whiten=True)],
    "pca-then-standard": lambda: [PCA(4), StandardScaler()],
}


@cache
def pca_pipeline(steps):
    return fit(make_pipeline(*PCAS[steps](), LogisticRegression(max_iter=100)), "wine")


@pytest.mark.parametrize("steps", list(PCAS))
def test_pca_pipeline_reproduces_predictions(steps):
    X, _ = dataset("wine")
    pipe = pca_pipeline(steps)
    df = pipe.decision_function(X)
    for graph in (neon.neuralize(pipe, root="origin"), neon.neuralize(pipe, X)):
        out = graph(X)
        assert np.abs(out - df).max() < 1e-9 * np.abs(df).max()
        e = np.exp(out - out.max(1, keepdims=True))
        assert np.abs(e / e.sum(1, keepdims=True) - pipe.predict_proba(X)).max() < 1e-10
        assert np.array_equal(pipe.classes_[out.argmax(1)], pipe.predict(X))
        R = lrp.explain(graph, X)
        assert R.shape == X.shape and np.isfinite(R).all()
    # rooted, the PCA is folded into the linear node and Σ R = f_c exactly
    pred = _pred_index(pipe, X)
    f = df[np.arange(len(X)), pred]
    assert np.abs(R.sum(1) - f).max() < 1e-9 * np.abs(f).max()
    assert not any(n.name.startswith("pca") for n in graph.nodes)


@pytest.mark.parametrize("steps", ["pca", "pca-whiten", "standard-pca", "standard-pca-whiten"])
def test_pca_reference_point_is_the_pca_mean(steps):
    """PCA is a centring node (Pass) and a bias-free Linear: with LRP-0,
    R_i = (x'_i − μ_i) (Aᵀ w_c)_i, A the (whitened) components; Σ_i R_i = f_c − b_c."""
    X, _ = dataset("wine")
    pipe = pca_pipeline(steps)
    pca, clf = pipe[-2], pipe[-1]
    before = pipe[:-2].transform(X) if len(pipe) > 2 else X
    A = pca.components_
    if pca.whiten:
        A = A / np.sqrt(pca.explained_variance_)[:, None]
    pred = _pred_index(pipe, X)
    expected = (before - pca.mean_) * (clf.coef_[pred] @ A)
    graph = neon.neuralize(pipe, root="origin")
    R = lrp.explain(graph, X, composite=LRP0)
    assert np.abs(R - expected).max() < 1e-8 * np.abs(expected).max()
    f = pipe.decision_function(X)[np.arange(len(X)), pred] - clf.intercept_[pred]
    assert np.abs(R.sum(1) - f).max() < 1e-9 * np.abs(f).max()
    assert [n.name for n in graph.nodes][-3:] == ["pca.center", "pca", "linear"]


NESTED = {
    ("pre.standardscaler", "pre.pca"): lambda: Pipeline([
        ("pre", make_pipeline(StandardScaler(), PCA(3))),
        ("clf", LogisticRegression(max_iter=200))]),
    ("scale", "model.pca"): lambda: Pipeline([
        ("scale", StandardScaler()),
        ("model", make_pipeline(PCA(3), LogisticRegression(max_iter=200)))]),
    (): lambda: Pipeline([("clf", LogisticRegression(max_iter=200))]),
}


@pytest.mark.parametrize("names", list(NESTED))
def test_nested_and_single_step_pipelines(names):
    X, _ = dataset("wine")
    pipe = fit(NESTED[names](), "wine")
    graph = neon.neuralize(pipe, X)
    assert graph.meta["preprocessing_steps"] == names
    df = pipe.decision_function(X)
    assert np.abs(graph(X) - df).max() < 1e-9 * np.abs(df).max()


@pytest.mark.parametrize("kind", ["diagonal", "dense-rooted", "dense-rootless"])
def test_plain_affine_preprocessing_given_directly(kind):
    """neuralize(est, preprocessing=AffinePreprocessing(...)) outside a Pipeline."""
    from neon.sklearn.preprocessing import AffinePreprocessing

    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 3))
    if kind == "diagonal":
        pre = AffinePreprocessing(rng.normal(size=3), scale=rng.uniform(0.5, 2, size=3))
    elif kind == "dense-rooted":  # 2 × 3: a root exists (least-norm solution)
        pre = AffinePreprocessing(rng.normal(size=2), matrix=rng.normal(size=(2, 3)))
    else:  # 5 × 3: c is generically outside the range of A, so no root
        pre = AffinePreprocessing(rng.normal(size=5), matrix=rng.normal(size=(5, 3)))
    Xp = pre.transform(X)
    clf = LogisticRegression().fit(Xp, (Xp[:, 0] > Xp[:, 1]).astype(int))
    df = clf.decision_function(Xp)
    for data in (None, X):
        graph = neon.neuralize(clf, data, preprocessing=pre,
                               root="origin" if data is None else None)
        assert np.abs(graph(X)[:, 1] - df).max() < 1e-10 * np.abs(df).max()
        R = lrp.explain(graph, X)
        assert R.shape == X.shape and np.isfinite(R).all()
    assert np.abs(R.sum(1) - np.abs(df)).max() < 1e-9 * np.abs(df).max()   # rooted: exact


def test_feature_names_from_a_data_frame():
    pd = pytest.importorskip("pandas")
    data = datasets.load_wine(as_frame=True)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(data.data, data.target)
    assert isinstance(data.data, pd.DataFrame)
    graph = neon.neuralize(pipe, data.data)
    assert graph.feature_names == list(data.data.columns)
    X = data.data.to_numpy(copy=True)  # graph.check_inputs warns on read-only arrays
    assert np.abs(graph(X) - pipe.decision_function(data.data)).max() < 1e-9


# ----------------------------------------------------------------------------- 5. bad input

UNSUPPORTED = {
    "polynomialfeatures": lambda: make_pipeline(PolynomialFeatures(2), LogisticRegression()),
    "functiontransformer": lambda: make_pipeline(FunctionTransformer(np.log1p),
                                                 LogisticRegression()),
    "pre.normalizer": lambda: Pipeline([("pre", make_pipeline(StandardScaler(), Normalizer())),
                                        ("clf", LogisticRegression())]),
}


@pytest.mark.parametrize("step", list(UNSUPPORTED))
def test_unsupported_step_is_named(step):
    pipe = fit(UNSUPPORTED[step](), "iris")
    with pytest.raises(UnsupportedEstimatorError,
                       match=rf"pipeline step '{step}' \(\w+\) cannot be neuralized.*"
                             r"supported.*StandardScaler"):
        neon.neuralize(pipe)


def test_minmax_clip_refused():
    pipe = fit(make_pipeline(MinMaxScaler(clip=True), LogisticRegression()), "iris")
    with pytest.raises(UnsupportedEstimatorError, match=r"step 'minmaxscaler': "
                                                        r"MinMaxScaler\(clip=True\).*not an "
                                                        "affine map"):
        neon.neuralize(pipe)


def test_unsupported_final_estimator_lists_supported():
    pipe = fit(make_pipeline(StandardScaler(), DecisionTreeClassifier()), "iris")
    with pytest.raises(UnsupportedEstimatorError,
                       match="final step 'decisiontreeclassifier'.*DecisionTreeClassifier cannot "
                             "be neuralized.*Supported:.*LogisticRegression"):
        neon.neuralize(pipe)


def test_passthrough_final_step_refused():
    X, _ = dataset("iris")
    pipe = Pipeline([("scale", StandardScaler()), ("est", "passthrough")]).fit(X)
    with pytest.raises(UnsupportedEstimatorError, match="final step 'est'.*passthrough"):
        neon.neuralize(pipe)


def test_unfitted_pipeline():
    with pytest.raises(NotFittedError, match="not fitted"):
        neon.neuralize(make_pipeline(StandardScaler(), LogisticRegression()))


def test_pipeline_bad_data():
    X, _ = dataset("wine")
    pipe = fit(make_pipeline(StandardScaler(), PCA(3), LogisticRegression()), "wine")
    with pytest.raises(TypeError, match="sparse"):
        neon.neuralize(pipe, sp.csr_matrix(X))
    with pytest.raises(ValueError, match="has 3 features, but the estimator was fitted with 13"):
        neon.neuralize(pipe, X[:, :3])
    bad = X.copy()
    bad[5, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        neon.neuralize(pipe, bad)
    graph = neon.neuralize(pipe, X)
    with pytest.raises(GraphInputError, match="expected 13 features, got 3"):
        graph(X[:, :3])
    with pytest.raises(GraphInputError, match="NaN"):
        lrp.explain(graph, bad)


# ----------------------------------------------------------------------------- other finals

def _against_bare(pipe, graph, X, rtol=1e-8):
    """The pipeline graph on raw X equals the bare estimator's graph on transformed X."""
    bare = neon.neuralize(pipe[-1])
    ref, out = bare(pipe[:-1].transform(X)), graph(X)
    assert np.abs(out - ref).max() <= rtol * max(np.abs(ref).max(), 1.0)
    return out


@pytest.mark.parametrize("pre", ["minmax", "standard-pca"])
def test_kmeans_pipeline_reproduces_predict(pre):
    X, _ = dataset("wine")
    steps = [MinMaxScaler()] if pre == "minmax" else [StandardScaler(), PCA(4)]
    pipe = make_pipeline(*steps, KMeans(3, n_init=3, random_state=0)).fit(X)
    graph = neon.neuralize(pipe)
    out = _against_bare(pipe, graph, X)
    assert np.array_equal(out.argmax(1), pipe.predict(X))
    if pre == "minmax":  # test 3: the raw features get the scaled features' relevance
        scaled = pipe[:-1].transform(X)
        R_bare = lrp.explain(neon.neuralize(pipe[-1]), scaled)
        R_pipe = lrp.explain(graph, X)
        assert np.abs(R_pipe - R_bare).max() < 1e-8 * np.abs(R_bare).max()


def test_one_class_svm_pipeline_reproduces_predict():
    X, _ = dataset("wine")
    pipe = make_pipeline(StandardScaler(), OneClassSVM(gamma=0.05, nu=0.2)).fit(X)
    graph = neon.neuralize(pipe)
    out = _against_bare(pipe, graph, X)
    threshold = graph.meta["threshold"]
    clear = np.abs(pipe.decision_function(X)) > 1e-9
    predicted = np.where(out.reshape(len(X)) > threshold, -1, 1)
    assert np.array_equal(predicted[clear], pipe.predict(X)[clear])


@pytest.mark.parametrize("data,kernel", [("breast_cancer", "rbf"), ("iris", "rbf"),
                                         ("wine", "linear")])
def test_svc_pipeline_reproduces_predict(data, kernel):
    X, y = dataset(data)
    pipe = make_pipeline(StandardScaler(), SVC(kernel=kernel, gamma="scale")).fit(X, y)
    graph = neon.neuralize(pipe)
    out = _against_bare(pipe, graph, X)
    agree = np.mean(pipe.classes_[out.argmax(1)] == pipe.predict(X))
    # two classes: always equal; several: equal except at one-vs-one vote cycles (svc.py)
    assert agree == 1.0 if len(pipe.classes_) == 2 else agree >= 0.99
