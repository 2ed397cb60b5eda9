"""Cases a review as a new user found after the reliability work: each gave a plausible wrong
answer or an unhelpful message. The regressor-prediction mask explained f², a callable target
on a labelled graph read labels as columns, a too-long lrp.Column was sliced silently with
batch_size, rows of float64 arrays were narrowed, large integers were rounded, a conv net's
missing batch axis surfaced as the importer's internal batch of two, a (2, H, W) batch was
summed into one heatmap, a Series target ignored its index."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_wine
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KernelDensity
from sklearn.preprocessing import StandardScaler
from torch import nn

import lrp
import neon
from lrp import plot
from neon.graph import GraphInputError

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def wine():
    X, y = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def test_a_regressors_prediction_is_not_taken_as_a_mask(wine):
    X, _ = wine
    model = LinearRegression().fit(X[:, 2:], X[:, :2])
    graph = neon.neuralize(model)
    x = X[:3, 2:]
    with pytest.raises(lrp.TargetError, match="equals the graph's own output.*target=None"):
        lrp.explain(graph, x, target=model.predict(x))
    weights = np.full((3, 2), 0.5)                       # a weighting mask still works
    e = lrp.explain(graph, x, target=weights, return_all=True)
    np.testing.assert_allclose(e.output.numpy(), 0.5 * model.predict(x).sum(1), rtol=1e-9)


def test_single_output_graphs_say_there_are_no_classes(wine):
    X, _ = wine
    graph = neon.neuralize(KernelDensity(bandwidth=1.0).fit(X))
    with pytest.raises(lrp.TargetError, match="one output column.*target=None"):
        lrp.explain(graph, X[:3], target=1)
    with pytest.raises(lrp.TargetError, match="one output column: target=None"):
        lrp.explain(graph, X[:3], target=np.ones(3))


def test_a_callable_target_returns_labels_on_a_labelled_graph(wine):
    X, y = wine
    model = LogisticRegression(max_iter=1000).fit(X, y + 1)       # labels 1, 2, 3
    graph = neon.neuralize(model)
    x = X[::20]
    by_labels = lrp.explain(graph, x, target=lambda out: model.predict(x))
    np.testing.assert_allclose(by_labels, lrp.explain(graph, x, target=model.predict(x)))
    by_columns = lrp.explain(graph, x, target=lambda out: lrp.Column(out.argmin(1)))
    np.testing.assert_allclose(by_columns, lrp.explain(
        graph, x, target=lrp.Column(graph(x).argmin(1))))


def test_column_targets_of_the_wrong_length_are_refused_with_batch_size(wine):
    X, y = wine
    graph = neon.neuralize(LogisticRegression(max_iter=1000).fit(X, y))
    with pytest.raises(lrp.TargetError, match="the input has 4 samples, the lrp.Column 6"):
        lrp.explain(graph, X[:4], target=lrp.Column([0, 1, 2, 0, 1, 2]), batch_size=2)


def test_a_series_target_follows_its_index(wine):
    X, y = wine
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(13)]).iloc[:6]
    model = LogisticRegression(max_iter=1000).fit(pd.DataFrame(X, columns=frame.columns), y)
    graph = neon.neuralize(model)
    labels = pd.Series(model.predict(frame), index=frame.index)
    want = lrp.explain(graph, frame, target=labels.to_numpy())
    shuffled = labels.iloc[::-1]                            # same pairs, another order
    pd.testing.assert_frame_equal(lrp.explain(graph, frame, target=shuffled), want)
    with pytest.raises(lrp.TargetError, match="index does not match"):
        lrp.explain(graph, frame, target=labels.set_axis(range(10, 16)))
    with pytest.raises(GraphInputError, match=r"Series: one row\? .*X.iloc\[\[0\]\]"):
        graph(frame.iloc[0])


def test_rows_that_carry_a_dtype_follow_the_array_rule():
    graph = neon.neuralize(nn.Sequential(nn.Linear(4, 2)), torch.rand(1, 4))   # float32
    with pytest.raises(GraphInputError, match="lose precision"):
        graph([np.ones(4), np.ones(4)])                    # float64 rows
    with pytest.raises(GraphInputError, match="lose precision"):
        graph([torch.ones(4, dtype=torch.float64)] * 2)
    assert graph([[1, 2, 3, 4.0]]).dtype == np.float32     # Python numbers: no dtype
    with pytest.raises(GraphInputError, match="integers beyond"):
        graph(np.array([[16777217, 0, 0, 0]]))
    assert graph(np.array([[16777216, 0, 0, 0]])).dtype == np.float32


def test_a_conv_nets_missing_batch_axis_is_named():
    net = nn.Sequential(nn.Conv2d(3, 3, 1), nn.ReLU())
    with pytest.raises(neon.TraceError, match=r"batch axis.*x\[None\]"):
        neon.neuralize(net, torch.rand(3, 8, 8))


def test_heatmap_refuses_ambiguous_arrays_and_bad_vmax():
    with pytest.raises(ValueError, match="ambiguous.*R.sum\\(0\\).*heatmap_grid"):
        plot.heatmap(np.ones((2, 6, 6)))
    with pytest.raises(ValueError, match="channels last"):
        plot.heatmap(np.ones((8, 8, 3)))
    for bad in (True, "0.5"):
        with pytest.raises(ValueError, match="vmax"):
            plot.heatmap(np.ones((6, 6)), vmax=bad)
    with pytest.raises(TypeError, match="dict"):
        plot.explanation_grid(np.ones((1, 6, 6)), [np.ones((1, 6, 6))])
    frame = pd.DataFrame([[1.0, -2.0]], columns=["a", "b"])
    with pytest.raises(ValueError, match="feature_names differ"):
        plot.feature_bars(frame, feature_names=["x", "y"])
    assert lrp.plot is plot


def test_a_bare_zbox_goes_to_the_first_layer_and_bounds_have_a_shape():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(3, 2, 3, padding=1), nn.Flatten(), nn.Linear(128, 3))
    x = torch.rand(2, 2, 8, 8)
    graph = neon.neuralize(net, x[:1])
    assigned = lrp.resolve(lrp.rules.ZBox(0.0, 1.0)).assign(graph)
    assert isinstance(assigned["0"], lrp.rules.ZBox)
    assert not isinstance(assigned["2"], lrp.rules.ZBox)
    with pytest.raises(lrp.RuleError, match=r"bound of shape \(8,\).*per channel"):
        lrp.explain(graph, x, composite=lrp.rules.ZBox(torch.zeros(8), torch.ones(8)))
    per_channel = lrp.rules.ZBox(torch.zeros(2, 1, 1), torch.ones(2, 1, 1))
    assert torch.isfinite(lrp.explain(graph, x, composite=per_channel)).all()


def test_state_dict_keys_are_one_to_one():
    g = neon.Graph()
    g.add_input("x", (2,))
    previous = "x"
    for name in ("a/", "a..", "a%2F", "a/.", "type", "type%"):
        previous = g.add_node(name, neon.ops.ReLU(), [previous])
    g.set_output(previous)
    keys = [g.op_key(n.name) for n in g.nodes]
    assert len(set(keys)) == len(keys)
    g.lint()


@pytest.mark.parametrize("make", ["kmeans", "ocsvm", "kde", "gmm", "svc"])
def test_every_neuralizer_declares_feature_names(make):
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture
    from sklearn.svm import SVC, OneClassSVM

    data = load_wine(as_frame=True)
    X = (data.data - data.data.mean()) / data.data.std()
    estimator = {"kmeans": lambda: KMeans(3, n_init=2, random_state=0).fit(X),
                 "ocsvm": lambda: OneClassSVM(gamma=0.1).fit(X),
                 "kde": lambda: KernelDensity(bandwidth=1.0).fit(X),
                 "gmm": lambda: GaussianMixture(2, random_state=0).fit(X),
                 "svc": lambda: SVC().fit(X, data.target)}[make]()
    graph = neon.neuralize(estimator)
    assert graph.feature_names == list(X.columns)
    with pytest.raises(GraphInputError, match="another order"):
        lrp.explain(graph, X.iloc[:3, ::-1])
