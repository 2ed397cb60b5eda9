"""concepts.activations, concepts.node_gradients and concepts.Cache against independent
references: forward hooks and autograd on the source torch module, numpy computations from a
fitted scikit-learn model's own attributes. Nothing here is compared with a value the code
under test computed, except where two of its paths must agree (chunked vs one pass, a cache
hit vs the computation it replaces)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import concepts
import neon
from concepts import Cache
from tests.neon.nets import randomize_batchnorm

torch.set_num_threads(1)
F64 = torch.float64


class Net(nn.Module):
    """conv, BatchNorm (folded by the import), ReLU, max pool, conv, ReLU; global average
    pool, a functional flatten, linear."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4),
                                      nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(4, 5, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(5, 3)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


def _net():
    torch.manual_seed(0)
    net = randomize_batchnorm(Net()).double().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


@pytest.fixture(scope="module")
def cnn():
    net = _net()
    torch.manual_seed(1)
    x = torch.randn(7, 2, 8, 8, dtype=F64)
    return net, neon.neuralize(net, x[:1]), x


def hooked(model, x, names=None):
    """Every named module's output on x, by forward hooks on the source module."""
    seen, handles = {}, []
    for name, module in model.named_modules():
        if name and (names is None or name in names):
            handles.append(module.register_forward_hook(
                lambda m, i, o, name=name: seen.__setitem__(name, o.detach().clone())))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return seen


def close(a, b, tol=1e-10):
    torch.testing.assert_close(torch.as_tensor(a), torch.as_tensor(b), rtol=tol, atol=tol)


# ------------------------------------------------------------------ activations: torch

def test_every_node_equals_the_hooked_output_of_its_module(cnn):
    net, graph, x = cnn
    seen = hooked(net, x)
    # a node holds the value of the module it is named after, or of the module a rewrite
    # merged into it (the BatchNorm folded into features.0); "flatten" is the functional
    # .flatten(1) of forward, whose reference is the pool's output flattened here
    holder = {graph.resolve(alias): alias for alias in graph.aliases}
    names = {n.name for n in graph.nodes}
    reference = {n: seen[holder.get(n, n)] for n in names if holder.get(n, n) in seen}
    reference["flatten"] = seen["pool"].flatten(1)
    assert names == set(reference) and len(names) == 8            # no node skipped
    for node, want in reference.items():
        got = concepts.activations(graph, x, node, cache=False)
        assert got.shape == want.shape, node
        close(got, want)


def test_module_names_mean_the_module_output(cnn):
    net, graph, x = cnn
    seen = hooked(net, x)
    for name in ["features", "features.1", "features.2", "features.3", "features.4",
                 "features.5", "pool", "fc"]:
        close(concepts.activations(graph, x, name, cache=False), seen[name])
    # the conv whose BatchNorm was folded into it holds the BatchNorm's output (the import's
    # documented canonicalization), not the bare convolution's
    folded = concepts.activations(graph, x, "features.0", cache=False)
    close(folded, seen["features.1"])
    assert (folded - seen["features.0"]).abs().max() > 0.1
    # without canonicalization every module name is that module's output
    plain = neon.from_torch(net, x[:1], canonicalize=False)
    for name in seen:
        close(concepts.activations(plain, x, name, cache=False), seen[name])


def test_resnet18_module_names():
    torch.manual_seed(0)
    model = randomize_batchnorm(torchvision.models.resnet18(weights=None, num_classes=10))
    model = model.double().eval()
    torch.manual_seed(2)
    x = torch.randn(2, 3, 32, 32, dtype=F64)
    graph = neon.neuralize(model, x[:1])
    names = ["maxpool", "layer1", "layer2.0", "layer2", "layer3", "layer4", "avgpool", "fc"]
    seen = hooked(model, x, names)
    for name in names:
        got = concepts.activations(graph, x, name, cache=False, batch_size=1)
        assert tuple(got.shape) == tuple(seen[name].shape), name
        close(got, seen[name], 1e-9)


def test_the_input_node_is_the_input(cnn):
    _, graph, x = cnn
    (name,) = graph.input_names
    got = concepts.activations(graph, x, name, cache=False)
    assert torch.equal(got, x) and got is not x


# ------------------------------------------------------------------ activations: sklearn

@pytest.fixture(scope="module")
def wine_kmeans():
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_wine
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, _ = load_wine(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), KMeans(3, n_init=3, random_state=0)).fit(X)
    return pipe, neon.neuralize(pipe, X), X


def test_kmeans_distance_and_logits_equal_numpy(wine_kmeans):
    pipe, graph, X = wine_kmeans
    scaler, km = pipe[0], pipe[-1]
    # what the node holds: centres mapped back to raw features, weighted by 1 / scale²
    op = graph["distance"].op
    centres = op.centers + (0 if op.origin is None else op.origin)
    close(centres, scaler.inverse_transform(km.cluster_centers_), 1e-9)
    close(op.w2.reshape(-1), 1 / scaler.scale_ ** 2, 1e-12)
    # so the node is the squared distance in the scaled space, KMeans's own
    Z = (X - scaler.mean_) / scaler.scale_
    d = ((Z[:, None, :] - km.cluster_centers_[None]) ** 2).sum(-1)
    got = concepts.activations(graph, X, "distance", cache=False)
    assert isinstance(got, np.ndarray) and got.shape == (len(X), 3)
    np.testing.assert_allclose(got, d, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(got, km.transform(Z) ** 2, rtol=1e-9, atol=1e-9)
    # cluster logits f_c = min_{k ≠ c} (d_k − d_c)
    f = np.stack([np.delete(d, c, 1).min(1) - d[:, c] for c in range(3)], 1)
    logits = concepts.activations(graph, X, "logits", cache=False)
    np.testing.assert_allclose(logits, f, rtol=1e-9, atol=1e-9)
    assert (logits.argmax(1) == pipe.predict(X)).all()


# ------------------------------------------------------------------ batching, data forms

def test_batch_size_chunks_equal_one_pass(cnn):
    _, graph, x = cnn
    one = concepts.activations(graph, x, "features.4", cache=False)
    for size in (1, 3, 7, 100):
        close(concepts.activations(graph, x, "features.4", cache=False, batch_size=size), one,
              1e-13)


def test_data_forms(wine_kmeans):
    _, graph, X = wine_kmeans
    want = concepts.activations(graph, X, "distance", cache=False)
    t = torch.as_tensor(X)
    out = concepts.activations(graph, t, "distance", cache=False)
    assert isinstance(out, torch.Tensor)
    close(out, want, 0)
    assert isinstance(concepts.activations(graph, t, "distance", cache=False, numpy=True),
                      np.ndarray)
    assert isinstance(concepts.activations(graph, X, "distance", cache=False, numpy=False),
                      torch.Tensor)
    forms = {
        "DataFrame": pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])]),
        "list of rows": X.tolist(),
        "list of arrays": [X[:50], X[50:120], X[120:]],
        "generator": (X[i:i + 40] for i in range(0, len(X), 40)),
        "list of tensors": list(t.split(60)),
        "DataLoader (x, y)": DataLoader(TensorDataset(t, torch.zeros(len(X))), batch_size=32),
        "Dataset of samples": TensorDataset(t, torch.zeros(len(X))),
        "list of samples": list(X),
    }
    for what, data in forms.items():
        got = concepts.activations(graph, data, "distance", cache=False)
        assert isinstance(got, np.ndarray), what
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, err_msg=what)


# ------------------------------------------------------------------ cache

def test_second_call_is_a_hit_and_results_are_copies(cnn):
    net, graph, x = cnn
    cache = Cache()
    first = concepts.activations(graph, x, "features.4", cache=cache)
    assert (cache.hits, cache.misses, len(cache)) == (0, 1, 1)
    first += 100.0                                # the caller's copy, not the cache's
    second = concepts.activations(graph, x, "features.4", cache=cache)
    assert (cache.hits, cache.misses) == (1, 1)
    close(second, hooked(net, x)["features.4"])
    numpy_out = concepts.activations(graph, x.numpy(), "features.4", cache=cache)
    numpy_out[:] = 0
    assert cache.hits == 2
    close(concepts.activations(graph, x, "features.4", cache=cache), second, 0)


def test_the_default_cache_is_used(cnn):
    _, graph, x = cnn
    store = concepts.default_cache()
    y = x + 0.5                                    # data no other test has cached
    hits = store.hits
    concepts.activations(graph, y, "pool")
    concepts.activations(graph, y, "pool")
    assert store.hits == hits + 1


def test_changing_one_weight_is_a_miss_with_the_new_values():
    net = _net()
    torch.manual_seed(3)
    x = torch.randn(4, 2, 8, 8, dtype=F64)
    graph = neon.neuralize(net, x[:1])
    cache = Cache()
    old = concepts.activations(graph, x, "features.4", cache=cache)
    with torch.no_grad():
        graph["features.4"].op.weight[0, 0, 1, 1].add_(1e-3)     # in place, same object
        net.features[4].weight[0, 0, 1, 1].add_(1e-3)
    new = concepts.activations(graph, x, "features.4", cache=cache)
    assert (cache.hits, cache.misses) == (0, 2)
    close(new, hooked(net, x)["features.4"])
    assert (new - old).abs().max() > 1e-6


def test_changing_a_buffer_of_a_neuralized_model_is_a_miss(wine_kmeans):
    _, graph, X = wine_kmeans
    graph = graph.copy()
    op = graph["distance"].op
    cache = Cache()
    concepts.activations(graph, X, "distance", cache=cache)
    raw = (op.centers + (0 if op.origin is None else op.origin)).numpy().copy()
    op.centers.add_(1e-3)
    new = concepts.activations(graph, X, "distance", cache=cache)
    assert (cache.hits, cache.misses) == (0, 2)
    want = (op.w2.numpy()[None] * (X[:, None, :] - (raw + 1e-3)[None]) ** 2).sum(-1)
    np.testing.assert_allclose(new, want, rtol=1e-9, atol=1e-9)


def test_changing_one_input_value_is_a_miss(cnn):
    net, graph, x = cnn
    cache = Cache()
    concepts.activations(graph, x, "pool", cache=cache)
    y = x.clone()
    y[3, 1, 4, 4] += 1e-3
    got = concepts.activations(graph, y, "pool", cache=cache)
    assert (cache.hits, cache.misses) == (0, 2)
    close(got, hooked(net, y)["pool"])


def test_graphs_differing_only_in_a_setting_do_not_share_entries():
    x = torch.randn(2, 1, 8, 8, dtype=F64)
    cache, nets = Cache(), []
    for pool in (nn.MaxPool2d(2), nn.MaxPool2d(2, stride=1)):      # equal weights, names
        torch.manual_seed(0)
        nets.append(nn.Sequential(nn.Conv2d(1, 2, 3), pool).double().eval())
    for net in nets:
        got = concepts.activations(neon.neuralize(net, x[:1]), x, "1", cache=cache)
        close(got, hooked(net, x)["1"])
    assert cache.misses == 2


def test_disk_cache_is_reused_and_never_stale(tmp_path):
    net = _net()
    x = torch.randn(3, 2, 8, 8, dtype=F64)
    graph = neon.neuralize(net, x[:1])
    first = Cache(directory=tmp_path)
    want = concepts.activations(graph, x, "features", cache=first)
    files = sorted(tmp_path.iterdir())
    assert len(files) == 1 and files[0].name.startswith("activations-")
    fresh = Cache(directory=tmp_path)                    # a later session
    close(concepts.activations(graph, x, "features", cache=fresh), want, 0)
    assert (fresh.hits, fresh.misses) == (1, 0)
    with torch.no_grad():
        graph["fc"].op.bias.add_(1.0)
        graph["features.4"].op.bias[0] += 1e-3
        net.fc.bias.add_(1.0)
        net.features[4].bias[0] += 1e-3
    again = Cache(directory=tmp_path)
    got = concepts.activations(graph, x, "features", cache=again)
    assert (again.hits, again.misses) == (0, 1)
    close(got, hooked(net, x)["features"])
    assert len(list(tmp_path.iterdir())) == 2                # no partial files left


def test_cache_keeps_at_most_max_items(cnn):
    _, graph, x = cnn
    cache = Cache(max_items=2)
    for node in ("features.0", "features.2", "features.3"):
        concepts.activations(graph, x, node, cache=cache)
    assert len(cache) == 2
    concepts.activations(graph, x, "features.0", cache=cache)        # dropped: recomputed
    assert (cache.hits, cache.misses) == (0, 4)
    concepts.activations(graph, x, "features.3", cache=cache)
    assert cache.hits == 1


# ------------------------------------------------------------------ node gradients

def _jacobians(net, x, module):
    """(h, G) with G[c] = ∂f_c/∂h at the hooked output h of ``module`` (None: the input),
    by autograd on the source module; f the logits."""
    grads, store = [], {}
    x = x.clone().requires_grad_(True)
    handle = None
    if module is not None:
        def hook(m, i, o):
            o.retain_grad()
            store["h"] = o
        handle = dict(net.named_modules())[module].register_forward_hook(hook)
    try:
        with torch.enable_grad():
            for p in net.parameters():
                p.requires_grad_(False)
            f = net(x)
            h = x if module is None else store["h"]
            for c in range(f.shape[1]):
                (g,) = torch.autograd.grad(f[:, c].sum(), h, retain_graph=True)
                grads.append(g)
    finally:
        if handle is not None:
            handle.remove()
    return f.detach(), torch.stack(grads)


@pytest.mark.parametrize("module", ["features.4", "features.2", "pool", None])
def test_node_gradients_equal_autograd_on_the_source_module(cnn, module):
    net, graph, x = cnn
    f, G = _jacobians(net, x, module)
    node = graph.input_names[0] if module is None else module
    rows = torch.arange(len(x))
    t = torch.tensor([0, 2, 1, 1, 0, 2, 2])
    got = concepts.node_gradients(graph, x, node, target=t.tolist())
    assert isinstance(got, torch.Tensor) and got.shape == G.shape[1:]
    close(got, G[t, rows])
    predicted = f.argmax(1)
    close(concepts.node_gradients(graph, x, node), G[predicted, rows])
    close(concepts.node_gradients(graph, x, node, target=1, batch_size=2), G[1])
    # ∂ log softmax_t / ∂h = ∂f_t/∂h − Σ_c p_c ∂f_c/∂h
    p = torch.softmax(f, 1)
    hand = G[t, rows] - torch.einsum("nc,cn...->n...", p, G)
    close(concepts.node_gradients(graph, x, node, target=t.tolist(), output="log_softmax",
                                  batch_size=3), hand)
    numpy_in = concepts.node_gradients(graph, x.numpy(), node, target=t.tolist())
    assert isinstance(numpy_in, np.ndarray)


def test_node_gradients_with_string_labels_on_a_classifier():
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    labels = np.array(["barolo", "grignolino", "barbera"])[y]
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, labels)
    graph = neon.neuralize(pipe, X)
    scale, lr = pipe[0].scale_, pipe[-1]
    index = {c: i for i, c in enumerate(lr.classes_)}
    picked = X[::9]
    targets = labels[::9][::-1].copy()              # not the true labels, in another order
    t = np.array([index[c] for c in targets])
    # the logit is coef · (x − μ)/σ + b: ∂/∂x = coef_t / σ, ∂/∂(scaled x) = coef_t
    got = concepts.node_gradients(graph, picked, graph.input_names[0], target=targets)
    np.testing.assert_allclose(got, lr.coef_[t] / scale, rtol=1e-10, atol=1e-12)
    scaled = graph.node_of("standardscaler")
    np.testing.assert_allclose(concepts.node_gradients(graph, picked, scaled, target="barbera"),
                               np.tile(lr.coef_[index["barbera"]], (len(picked), 1)),
                               rtol=1e-10, atol=1e-12)
    p = pipe.predict_proba(picked)
    hand = (lr.coef_[t] - p @ lr.coef_) / scale
    np.testing.assert_allclose(concepts.node_gradients(graph, picked, graph.input_names[0],
                                                       target=targets, output="log_softmax"),
                               hand, rtol=1e-8, atol=1e-10)
