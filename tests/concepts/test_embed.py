"""concepts.embed and concepts.plot.embedding.embedding against independent references.

The activations are recomputed here without the graph: forward hooks on the source torch
module, numpy from a fitted scikit-learn model's own attributes (``coefs_``, ``intercepts_``,
``cluster_centers_``, the scaler's ``mean_``/``scale_``). scikit-learn's PCA and TSNE are then
run by the test on those, with the same seed; an eigendecomposition in numpy checks the PCA
map. Predictions are checked against the torch module's argmax and the estimator's
``predict``."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402
from torch import nn  # noqa: E402

import concepts  # noqa: E402
import neon  # noqa: E402
from concepts.embed import Embedding, default_node, embed  # noqa: E402
from concepts.plot.embedding import embedding as plot_embedding  # noqa: E402

torch.set_num_threads(1)
F64 = torch.float64
FAST = dict(max_iter=250)          # scikit-learn's smallest t-SNE run (fast at N ≤ 100)


class Net(nn.Module):
    """conv, ReLU, max pool (``features``); a functional flatten; linear ``fc``."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(),
                                      nn.MaxPool2d(2))
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(self.features(x).flatten(1))


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    net = Net().double().eval()
    x = torch.randn(72, 2, 8, 8, dtype=F64)
    x[:24] += 1.0                                   # some structure to embed
    return net, neon.neuralize(net, x[:1]), x


def hooked(net, x):
    """(output of ``features`` flattened, input of ``fc``, logits), by hooks on the module."""
    seen = {}
    h1 = net.features.register_forward_hook(lambda m, i, o: seen.__setitem__("features", o))
    h2 = net.fc.register_forward_pre_hook(lambda m, i: seen.__setitem__("fc_in", i[0]))
    try:
        with torch.no_grad():
            logits = net(x)
    finally:
        h1.remove()
        h2.remove()
    return (seen["features"].reshape(len(x), -1).numpy(), seen["fc_in"].numpy(),
            logits.numpy())


@pytest.fixture(scope="module")
def mlp():
    """An MLPClassifier (two ReLU hidden layers) on iris with string classes."""
    from sklearn.datasets import load_iris
    from sklearn.neural_network import MLPClassifier

    X, y = load_iris(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))[:90]
    X, y = X[order], np.array(["setosa", "versicolor", "virginica"])[y[order]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # convergence: irrelevant here
        model = MLPClassifier((8, 6), max_iter=400, random_state=0).fit(X, y)
    return model, neon.neuralize(model, X), X, y


@pytest.fixture(scope="module")
def kmeans():
    """Pipeline(StandardScaler, KMeans(3)) on wine."""
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_wine
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    X, y = X[::2], y[::2]
    pipe = make_pipeline(StandardScaler(), KMeans(3, n_init=3, random_state=0)).fit(X)
    return pipe, neon.neuralize(pipe, X), X, y


# ------------------------------------------------------------------ t-SNE on a CNN

def test_tsne_of_a_cnn_block_equals_sklearn_on_hooked_activations(cnn):
    net, graph, x = cnn
    feats, _, _ = hooked(net, x)
    assert feats.shape[1] == 64
    result = embed(graph, x, "features", pca=None, random_state=0, **FAST)
    expected = TSNE(n_components=2, perplexity=30.0, random_state=0, **FAST) \
        .fit_transform(feats)
    np.testing.assert_array_equal(result.coords, expected)
    assert isinstance(result, Embedding) and result.coords.shape == (72, 2)
    assert result.node == graph.node_of("features") and result.method == "tsne"
    assert result.explained_variance is None and result.settings["pca_components"] is None
    assert result.settings["width"] == 64 and result.settings["shape"] == (4, 4, 4)
    assert np.isfinite(result.settings["kl_divergence"]) and result.settings["n_iter"] > 0


def test_pca_then_tsne_equals_the_two_sklearn_steps_by_hand(cnn):
    net, graph, x = cnn
    feats, _, _ = hooked(net, x)
    result = embed(graph, x, "features", pca=10, perplexity=12.0, random_state=3,
                   early_exaggeration=8.0, **FAST)
    reducer = PCA(n_components=10, random_state=3)
    reduced = reducer.fit_transform(feats)
    expected = TSNE(perplexity=12.0, random_state=3, early_exaggeration=8.0, **FAST) \
        .fit_transform(reduced)
    np.testing.assert_array_equal(result.coords, expected)
    np.testing.assert_allclose(result.explained_variance, reducer.explained_variance_ratio_,
                               rtol=1e-12)
    # the ratio by hand: eigenvalues of the covariance, largest first, over their sum
    eig = np.linalg.eigvalsh(np.cov(feats, rowvar=False))[::-1]
    np.testing.assert_allclose(result.explained_variance, eig[:10] / eig.sum(), rtol=1e-8)
    assert result.settings["pca_components"] == 10 and result.settings["perplexity"] == 12.0


def test_no_pca_step_when_the_width_does_not_exceed_pca(cnn):
    net, graph, x = cnn
    feats, _, _ = hooked(net, x)
    result = embed(graph, x, "features", pca=64, perplexity=10, random_state=1, **FAST)
    expected = TSNE(perplexity=10.0, random_state=1, **FAST).fit_transform(feats)
    np.testing.assert_array_equal(result.coords, expected)
    assert result.explained_variance is None


def test_pca_components_capped_at_the_sample_count(cnn):
    net, graph, x = cnn
    feats, _, _ = hooked(net, x[:20])
    result = embed(graph, x[:20], "features", pca=50, perplexity=5, random_state=0, **FAST)
    reduced = PCA(n_components=20, random_state=0).fit_transform(feats)
    expected = TSNE(perplexity=5.0, random_state=0, **FAST).fit_transform(reduced)
    np.testing.assert_array_equal(result.coords, expected)
    assert result.settings["pca_components"] == 20


def test_default_node_is_the_input_of_the_last_layer(cnn):
    net, graph, x = cnn
    _, fc_in, _ = hooked(net, x)
    result = embed(graph, x, random_state=0, pca=None, **FAST)
    assert result.node == default_node(graph) == graph["fc"].inputs[0]
    expected = TSNE(random_state=0, **FAST).fit_transform(fc_in)
    np.testing.assert_array_equal(result.coords, expected)


def test_predictions_of_a_torch_graph_are_the_argmax_of_the_module(cnn):
    net, graph, x = cnn
    _, _, logits = hooked(net, x)
    result = embed(graph, x, "features", method="pca")
    np.testing.assert_array_equal(result.predictions, logits.argmax(1))
    assert result.labels is None


def test_method_pca_equals_sklearn_pca_and_the_eigenvectors(cnn):
    net, graph, x = cnn
    feats, _, _ = hooked(net, x)
    result = embed(graph, x, "features", method="pca", random_state=0)
    reducer = PCA(n_components=2, random_state=0)
    np.testing.assert_array_equal(result.coords, reducer.fit_transform(feats))
    np.testing.assert_allclose(result.explained_variance, reducer.explained_variance_ratio_)
    # by hand: projections of the centred rows on the two leading covariance eigenvectors
    centred = feats - feats.mean(0)
    vals, vecs = np.linalg.eigh(np.cov(feats, rowvar=False))
    proj = centred @ vecs[:, ::-1][:, :2]
    sign = np.sign((proj * result.coords).sum(0))     # eigenvectors have no sign
    np.testing.assert_allclose(result.coords, proj * sign, atol=1e-9)
    np.testing.assert_allclose(result.explained_variance, vals[::-1][:2] / vals.sum(),
                               rtol=1e-9)
    assert result.settings["perplexity"] is None


def test_input_node_embeds_the_data_themselves(cnn):
    _, graph, x = cnn
    result = embed(graph, x, graph.input_names[0], pca=20, perplexity=15, random_state=2,
                   **FAST)
    flat = x.reshape(len(x), -1).numpy()
    expected = TSNE(perplexity=15.0, random_state=2, **FAST).fit_transform(
        PCA(20, random_state=2).fit_transform(flat))
    np.testing.assert_array_equal(result.coords, expected)


def test_same_seed_same_map_and_tensor_or_array_or_batches_agree(cnn):
    _, graph, x = cnn
    a = embed(graph, x, "features", random_state=5, perplexity=10, **FAST)
    b = embed(graph, x.numpy(), "features", random_state=5, perplexity=10, **FAST)
    c = embed(graph, (x[i:i + 25] for i in range(0, len(x), 25)), "features",
              random_state=5, perplexity=10, batch_size=7, cache=False, **FAST)
    np.testing.assert_array_equal(a.coords, b.coords)
    # t-SNE's default init is PCA (deterministic here); a random init reads the seed
    r5, r6, r5b = (embed(graph, x, "features", random_state=s, perplexity=10, init="random",
                         **FAST) for s in (5, 6, 5))
    assert np.abs(r5.coords - r6.coords).max() > 1e-3
    np.testing.assert_array_equal(r5.coords, r5b.coords)
    np.testing.assert_allclose(a.coords, c.coords, atol=1e-6)


def test_tsne_options_reach_sklearn(cnn):
    net, graph, x = cnn
    feats, _, _ = hooked(net, x)
    result = embed(graph, x, "features", pca=None, perplexity=8, random_state=0,
                   tsne_method="exact", init="random", learning_rate=50.0, **FAST)
    expected = TSNE(perplexity=8.0, random_state=0, method="exact", init="random",
                    learning_rate=50.0, **FAST).fit_transform(feats)
    np.testing.assert_array_equal(result.coords, expected)


# ------------------------------------------------------------------ neuralized scikit-learn

def test_mlp_hidden_layer_matches_numpy_and_tsne_on_it(mlp):
    model, graph, X, _ = mlp
    hidden = np.maximum(X @ model.coefs_[0] + model.intercepts_[0], 0)
    np.testing.assert_allclose(concepts.activations(graph, X, "relu1"), hidden, atol=1e-12)
    result = embed(graph, X, "relu1", perplexity=20, random_state=0, **FAST)
    expected = TSNE(perplexity=20.0, random_state=0, **FAST).fit_transform(hidden)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(result.coords, expected, atol=1e-6 * scale)


def test_mlp_default_node_is_the_last_hidden_layer_and_predictions_are_predict(mlp):
    model, graph, X, y = mlp
    h1 = np.maximum(X @ model.coefs_[0] + model.intercepts_[0], 0)
    h2 = np.maximum(h1 @ model.coefs_[1] + model.intercepts_[1], 0)
    result = embed(graph, X, method="pca", labels=y)
    assert result.node == "relu2"
    np.testing.assert_allclose(result.coords, PCA(2).fit_transform(h2), atol=1e-9)
    np.testing.assert_array_equal(result.predictions, model.predict(X))
    assert result.predictions.dtype.kind == "U"            # the classes' own type
    np.testing.assert_array_equal(result.labels, y)


def test_kmeans_pipeline_distances_and_cluster_predictions(kmeans):
    pipe, graph, X, y = kmeans
    scaler, km = pipe.steps[0][1], pipe.steps[1][1]
    z = (X - scaler.mean_) / scaler.scale_
    dist = ((z[:, None, :] - km.cluster_centers_[None]) ** 2).sum(-1)
    result = embed(graph, X, method="pca", labels=pd.Series(y))
    assert result.node == "distance"
    np.testing.assert_allclose(result.coords, PCA(2).fit_transform(dist), atol=1e-8)
    np.testing.assert_array_equal(result.predictions, pipe.predict(X))
    np.testing.assert_array_equal(result.labels, y)
    tsne = embed(graph, X, perplexity=15, random_state=0, **FAST)
    expected = TSNE(perplexity=15.0, random_state=0, **FAST).fit_transform(dist)
    np.testing.assert_allclose(tsne.coords, expected, atol=1e-6 * np.abs(expected).max())


def test_no_predictions_where_argmax_is_not_the_prediction():
    from sklearn.neural_network import MLPRegressor
    from sklearn.svm import OneClassSVM

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = MLPRegressor(hidden_layer_sizes=(5,), max_iter=50, random_state=0)
        reg.fit(X, rng.normal(size=(30, 2)))
    svm = OneClassSVM(gamma=0.5, nu=0.3).fit(X)
    for model in (reg, svm):
        result = embed(neon.neuralize(model, X), X, method="pca")
        assert result.predictions is None, type(model).__name__


# ------------------------------------------------------------------ plot

@pytest.fixture(scope="module")
def small(mlp):
    _, graph, X, y = mlp
    return embed(graph, X, "relu1", method="pca", labels=y)


def test_plot_categorical_labels_one_colour_per_class_with_a_legend(small):
    fig = plot_embedding(small, color="labels")
    ax = fig.axes[0]
    classes = sorted(set(small.labels))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == classes
    assert len(ax.collections) == len(classes)
    colours = set()
    for cls, dots in zip(classes, ax.collections):
        np.testing.assert_array_equal(dots.get_offsets(), small.coords[small.labels == cls])
        colours.add(tuple(np.round(dots.get_facecolor()[0], 6)))
    assert len(colours) == len(classes)
    assert len(fig.axes) == 1                                # no colour bar
    assert sum(len(d.get_offsets()) for d in ax.collections) == len(small)
    plt.close(fig)


def test_plot_predictions_and_default_colour(small):
    fig = plot_embedding(small, "predictions", title="mine")
    ax = fig.axes[0]
    assert ax.get_title() == "mine"
    assert ax.get_legend().get_title().get_text() == "predictions"
    got = {t.get_text() for t in ax.get_legend().get_texts()}
    assert got == set(small.predictions)
    plt.close(fig)
    fig = plot_embedding(small)                              # labels given: labels
    assert fig.axes[0].get_legend().get_title().get_text() == "labels"
    assert "PC 1" in fig.axes[0].get_xlabel()
    assert f"{100 * small.explained_variance[0]:.1f} %" in fig.axes[0].get_xlabel()
    plt.close(fig)


def test_plot_continuous_values_get_a_colour_bar(small):
    values = np.linspace(-1, 2, len(small))
    fig, ax = plt.subplots()
    out = plot_embedding(small, values, ax=ax)
    assert out is fig and len(fig.axes) == 2                 # the scatter and its colour bar
    (dots,) = ax.collections
    np.testing.assert_array_equal(dots.get_array(), values)
    np.testing.assert_array_equal(dots.get_offsets(), small.coords)
    assert ax.get_legend() is None
    plt.close(fig)


def test_plot_integers_are_categories_unless_told_otherwise(small):
    clusters = np.arange(len(small)) % 4
    fig = plot_embedding(small, clusters)
    assert len(fig.axes[0].collections) == 4 and len(fig.axes) == 1
    plt.close(fig)
    fig = plot_embedding(small, clusters, categorical=False)
    assert len(fig.axes) == 2
    plt.close(fig)


def test_plot_without_colours_and_tsne_axes(cnn):
    _, graph, x = cnn
    result = embed(graph, x[:30], "features", perplexity=5, random_state=0, **FAST)
    fig = plot_embedding(result)                    # no labels: the predictions
    ax = fig.axes[0]
    assert ax.get_legend().get_title().get_text() == "predictions"
    assert list(ax.get_xticks()) == [] and ax.get_xlabel() == "t-SNE 1"
    assert "t-SNE" in ax.get_title() and "perplexity 5" in ax.get_title()
    plt.close(fig)
    bare = Embedding(coords=result.coords, node=result.node, method="tsne")
    fig = plot_embedding(bare)                      # nothing to colour by: one colour
    assert len(fig.axes[0].collections) == 1 and fig.axes[0].get_legend() is None
    plt.close(fig)
    fig = plot_embedding(result, color=np.arange(30) < 10)          # booleans: 2 classes
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["False", "True"]
    plt.close(fig)


def test_plot_refuses_a_colour_array_of_the_wrong_length(small):
    with pytest.raises(ValueError, match=f"one value per sample, shape \\({len(small)},\\)"):
        plot_embedding(small, np.zeros(len(small) - 1))
