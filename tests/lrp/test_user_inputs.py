"""The first-hour cases of the reliability issue: targets read as labels, DataFrames and lists,
one dtype rule, models passed instead of graphs, a missing batch axis. Each failed (silently or
with an unrelated message) before targets and inputs were made to mean what users mean."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris, load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

import lrp
import neon
from neon.graph import GraphInputError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def wine_labels_1_to_3():
    """LogisticRegression fitted on labels 1..3 (the user study's case)."""
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = LogisticRegression(max_iter=1000).fit(X, y + 1)
    return model, X[::3], neon.neuralize(model)


def decision_of(model, X, labels):
    """The decision value of each sample's given label, from scikit-learn alone."""
    columns = np.searchsorted(model.classes_, labels)
    return model.decision_function(X)[np.arange(len(X)), columns]


def test_predicted_labels_explain_the_predicted_classes(wine_labels_1_to_3):
    model, X, graph = wine_labels_1_to_3
    predicted = model.predict(X)
    assert set(predicted) <= {1, 2, 3}
    e = lrp.explain(graph, X, target=predicted, return_all=True)
    np.testing.assert_allclose(e.output.numpy(), decision_of(model, X, predicted), rtol=1e-9)
    # the same as the default (the predicted class), for every sample
    np.testing.assert_allclose(e.relevance, lrp.explain(graph, X), rtol=1e-12)


def test_a_scalar_target_is_a_label_and_columns_are_explicit(wine_labels_1_to_3):
    model, X, graph = wine_labels_1_to_3
    by_label = lrp.explain(graph, X, target=1, return_all=True)       # label 1 = column 0
    np.testing.assert_allclose(by_label.output.numpy(), model.decision_function(X)[:, 0],
                               rtol=1e-9)
    by_column = lrp.explain(graph, X, target=lrp.Column(1), return_all=True)
    np.testing.assert_allclose(by_column.output.numpy(), model.decision_function(X)[:, 1],
                               rtol=1e-9)
    with pytest.raises(lrp.TargetError, match=r"label\(s\) 0 are not among.*\[1, 2, 3\].*Column"):
        lrp.explain(graph, X, target=0)
    with pytest.raises(lrp.TargetError, match="boolean"):
        lrp.explain(graph, X, target=True)
    with pytest.raises(lrp.TargetError, match="not among"):
        lrp.explain(graph, X, target=2.5)
    assert np.allclose(lrp.explain(graph, X, target=2.0), lrp.explain(graph, X, target=2))


def test_string_labels(wine_labels_1_to_3):
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    model = LogisticRegression(max_iter=1000).fit(X, names)
    graph = neon.neuralize(model)
    e = lrp.explain(graph, X[:10], target="virginica", return_all=True)
    np.testing.assert_allclose(e.output.numpy(), model.decision_function(X[:10])[:, 2],
                               rtol=1e-9)
    per_sample = lrp.explain(graph, X[:10], target=model.predict(X[:10]), batch_size=3)
    np.testing.assert_allclose(per_sample, lrp.explain(graph, X[:10]), rtol=1e-12)
    with pytest.raises(lrp.TargetError, match="'rose' are not among"):
        lrp.explain(graph, X[:10], target="rose")


def test_kmeans_targets_are_cluster_labels():
    X, _ = load_wine(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), KMeans(3, n_init=3, random_state=0)).fit(X)
    graph = neon.neuralize(pipe, X)
    assert list(graph.output_labels) == [0, 1, 2]
    labels = pipe.predict(X[:20])
    np.testing.assert_allclose(lrp.explain(graph, X[:20], target=labels),
                               lrp.explain(graph, X[:20]), rtol=1e-12)


def test_regressor_targets_are_columns():
    X, _ = load_wine(return_X_y=True)
    Y = np.c_[X[:, 0], X[:, 1]]
    model = LinearRegression().fit(X[:, 2:], Y)
    graph = neon.neuralize(model)
    e = lrp.explain(graph, X[:5, 2:], target=1, return_all=True)
    np.testing.assert_allclose(e.output.numpy(), model.predict(X[:5, 2:])[:, 1], rtol=1e-9)
    with pytest.raises(lrp.TargetError, match="declares no output labels"):
        lrp.explain(graph, X[:5, 2:], target="a")


# ----------------------------------------------------------------------------- DataFrames

@pytest.fixture(scope="module")
def frame_model():
    data = load_wine(as_frame=True)
    X, y = data.data, data.target
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    return model, X, neon.neuralize(model)


def test_dataframes_in_dataframes_out(frame_model):
    model, X, graph = frame_model
    assert graph.feature_names == list(X.columns)
    np.testing.assert_allclose(graph(X.iloc[:5]), graph(X.to_numpy()[:5]))
    R = lrp.explain(graph, X.iloc[:5])
    assert isinstance(R, pd.DataFrame)
    assert list(R.columns) == list(X.columns) and list(R.index) == list(X.index[:5])
    np.testing.assert_allclose(R.to_numpy(), lrp.explain(graph, X.to_numpy()[:5]))
    R2 = lrp.explain(graph, X.to_numpy()[:5], as_frame=True)
    assert isinstance(R2, pd.DataFrame) and list(R2.columns) == list(X.columns)
    assert isinstance(lrp.explain(graph, X.iloc[:5], as_frame=False), np.ndarray)


def test_dataframe_columns_are_checked(frame_model):
    _, X, graph = frame_model
    with pytest.raises(GraphInputError, match="another order.*df\\[graph.feature_names\\]"):
        graph(X[X.columns[::-1]])
    with pytest.raises(GraphInputError, match="missing \\['alcohol'\\]"):
        lrp.explain(graph, X.drop(columns="alcohol").assign(extra=1.0))
    with pytest.raises(GraphInputError, match="non-numeric"):
        graph(X.assign(alcohol="x"))


def test_lists_of_rows(frame_model):
    _, X, graph = frame_model
    rows = X.to_numpy()[:5].tolist()
    R = lrp.explain(graph, rows)
    assert isinstance(R, np.ndarray) and R.shape == (5, 13)
    np.testing.assert_allclose(R, lrp.explain(graph, X.to_numpy()[:5]))


# ---------------------------------------------------------------- models instead of graphs

def test_a_model_instead_of_a_graph_says_neuralize_first(frame_model):
    model, X, _ = frame_model
    with pytest.raises(TypeError, match="scikit-learn estimator Pipeline.*neon.neuralize"):
        lrp.explain(model, X)
    net = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(TypeError, match="torch module Sequential.*neon.neuralize"):
        lrp.explain(net, torch.randn(2, 3))
    with pytest.raises(TypeError, match="takes a neon.Graph"):
        lrp.explain("graph", torch.randn(2, 3))


def test_a_missing_batch_axis_is_named():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    x = torch.rand(2, 3, 8, 8)
    net(x)
    with pytest.raises(neon.TraceError, match=r"shape \(3, 8, 8\).*x\[None\]"):
        neon.neuralize(net, x[0])
    graph = neon.neuralize(net, x[:1])
    with pytest.raises(GraphInputError, match=r"without its batch axis.*x\[None\]"):
        lrp.explain(graph, x[0])


def test_a_bare_module_is_imported():
    lin = nn.Linear(5, 2)
    x = torch.randn(3, 5)
    graph = neon.from_torch(lin, x)
    torch.testing.assert_close(graph(x), lin(x).detach())
    assert graph.source == "Linear"
