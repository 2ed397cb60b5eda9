"""The Graph API: running, keeping activations, numpy, dtypes, summary, drawing, copying."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from torch import nn

import neon
from neon import Graph, GraphInputError, ops
from tests.neon.nets import PlainMLP, SmallCNN, leaf_modules, make, record, rel_err


@pytest.fixture
def small_cnn():
    torch.manual_seed(0)
    module = SmallCNN().eval()
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    return module, x, neon.from_torch(module, x[:1])


# ----------------------------------------------------------------------------- running


def test_call_and_forward_return_the_module_output(small_cnn):
    module, x, graph = small_cnn
    with torch.no_grad():
        expected = module(x)
    assert rel_err(graph(x), expected) <= 1e-5
    assert torch.equal(graph.forward(x), graph(x))


@pytest.mark.parametrize("keep", [True, "all"])
def test_keep_all_returns_every_node(small_cnn, keep):
    module, x, graph = small_cnn
    out, acts = graph.forward(x, keep=keep)
    assert set(acts) == {"x"} | {n.name for n in graph.nodes}
    assert torch.equal(acts["x"], x)
    assert torch.equal(acts[graph.output], out)
    with torch.no_grad():
        _, outputs, _ = record(module, x)
    for name in ["conv1", "relu", "pool", "conv2", "relu:1", "pool:1", "gap", "fc"]:
        module_name, _, k = name.partition(":")
        assert rel_err(acts[name], outputs[module_name][int(k or 0)]) <= 1e-5, name


def test_keep_names_returns_only_those(small_cnn):
    _, x, graph = small_cnn
    out, acts = graph.forward(x, keep=["conv2", "x"])
    assert list(acts) == ["conv2", "x"]
    assert acts["conv2"].shape == (3, 6, 8, 8)
    _, single = graph.forward(x, keep="relu:1")
    assert list(single) == ["relu:1"]
    assert torch.equal(single["relu:1"], acts["conv2"].relu())


def test_keep_unknown_name_is_an_error(small_cnn):
    _, x, graph = small_cnn
    with pytest.raises(KeyError, match="conv9"):
        graph.forward(x, keep=["conv9"])


def test_numpy_in_numpy_out(small_cnn):
    module, x, graph = small_cnn
    out = graph(x.numpy())
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    with torch.no_grad():
        np.testing.assert_allclose(out, module(x).numpy(), rtol=1e-5, atol=1e-6)
    out2, acts = graph.forward(x.numpy().astype(np.float16), keep=["conv1"])  # widened
    assert isinstance(acts["conv1"], np.ndarray) and acts["conv1"].shape == (3, 4, 16, 16)
    np.testing.assert_allclose(out2, graph(x.half().float()).numpy(), rtol=1e-6)
    with pytest.raises(GraphInputError, match="lose precision"):
        graph(x.numpy().astype(np.float64))             # narrowing: refused, as for tensors


def test_to_float64_and_dtype_mismatch(small_cnn):
    module, x, graph = small_cnn
    assert graph.dtype == torch.float32
    moved = graph.to(torch.float64)
    assert moved is graph and graph.dtype == torch.float64
    assert all(b.dtype == torch.float64 for b in graph.buffers())
    module = module.double()
    with torch.no_grad():
        assert rel_err(graph(x.double()), module(x.double())) <= 1e-12
    torch.testing.assert_close(graph(x), graph(x.double()))   # float32 in: widened exactly
    graph.to(device="cpu", dtype=torch.float32)
    with pytest.raises(GraphInputError, match=r"dtype torch.float64.*graph holds torch.float32"):
        graph(x.double())
    assert graph(x).dtype == torch.float32


def test_different_batch_size_than_example():
    module, x = make("functional_mlp")  # x.view(x.size(0), -1) inside
    graph = neon.from_torch(module, x[:1])
    for n in [1, 2, 7]:
        xn = torch.randn(n, 32, dtype=torch.float64)
        with torch.no_grad():
            assert rel_err(graph(xn), module(xn)) <= 1e-10


def test_any_spatial_size_after_adaptive_pooling(small_cnn):
    module, _, graph = small_cnn
    assert graph.input_specs[0].shape == (3, None, None)
    assert graph.input_specs[0].describe() == "(N, 3, *, *)"
    for shape in [(2, 3, 24, 24), (1, 3, 13, 17), (2, 3, 4, 4)]:
        x = torch.randn(shape)
        with torch.no_grad():
            assert rel_err(graph(x), module(x)) <= 1e-5, shape


def test_several_consumers_and_topological_order():
    module, x = make("resnet_style")
    graph = neon.from_torch(module, x[:1])
    assert set(graph.consumers("maxpool")) == {"layer1.0.conv1", "layer1.0.downsample.0"}
    assert set(graph.consumers("layer1.0.relu:2")) == {"layer1.1.conv1", "layer1.1.add"}
    seen = set(graph.input_names)
    for node in graph.nodes:
        assert set(node.inputs) <= seen, node.name
        seen.add(node.name)
    assert graph.nodes is graph.nodes  # cached


def test_value_read_twice_by_one_node():
    # y feeds `y + y` and a later tanh: y must stay alive after the add
    class Twice(nn.Module):
        def forward(self, x):
            y = F.relu(x)
            return y + y + torch.tanh(y)

    x = torch.randn(4, 5, dtype=torch.float64)
    graph = neon.from_torch(Twice(), x[:1])
    assert graph["add"].inputs == ("relu", "relu")
    y = x.relu()
    assert rel_err(graph(x), y + y + torch.tanh(y)) <= 1e-15


# ------------------------------------------------------------------------- reports


def test_summary_lists_nodes_ops_shapes_and_parameters(small_cnn):
    module, x, graph = small_cnn
    text = graph.summary()
    with torch.no_grad():
        _, outputs, _ = record(module, x[:1])
    for name, m in leaf_modules(module).items():
        calls = outputs[name]
        for k, out in enumerate(calls):
            node = name if k == 0 else f"{name}:{k}"
            line = next(line for line in text.splitlines() if line.split()[0] == node)
            assert str(tuple(out.shape)) in line, line
            n_params = sum(p.numel() for p in m.parameters())
            assert line.split()[-1] == f"{n_params:,}", line
    for op in ["Conv", "ReLU", "MaxPool", "AdaptiveAvgPool", "Flatten", "Linear", "Input"]:
        assert op in text
    total = sum(p.numel() for p in module.parameters())
    assert f"{len(graph)} nodes, {total:,} parameters, output: fc" in text


def test_summary_parameter_count_of_mlp():
    torch.manual_seed(0)
    module = PlainMLP(features=50, hidden=40, classes=3)
    graph = neon.from_torch(module, torch.randn(1, 50))
    total = sum(p.numel() for p in module.parameters())
    assert total == 50 * 40 + 40 + 40 * 3 + 3
    assert f"{total:,} parameters" in graph.summary()
    text = graph.summary(torch.randn(5, 50))
    assert "(5, 40)" in text and "(5, 3)" in text


def test_draw_returns_axes_with_every_node(small_cnn):
    _, _, graph = small_cnn
    ax = graph.draw()
    assert isinstance(ax, Axes)
    labels = {t.get_text() for t in ax.texts}
    assert labels == {"x"} | {n.name for n in graph.nodes}
    fig, given = plt.subplots()
    assert graph.draw(ax=given, labels=False) is given
    assert not given.texts
    plt.close("all")


def test_repr_len_contains(small_cnn):
    _, _, graph = small_cnn
    assert len(graph) == 9
    assert "conv1" in graph and "relu:1" in graph and "nope" not in graph
    assert repr(graph) == "Graph(9 nodes, inputs=['x'], output='fc')"
    with pytest.raises(KeyError, match="nope"):
        graph["nope"]


# --------------------------------------------------------------------------- copying


def test_copy_is_independent():
    module, x = make("vgg_style")
    graph = neon.from_torch(module, x[:1])
    clone = graph.copy()
    assert [n.name for n in clone.nodes] == [n.name for n in graph.nodes]
    assert clone.aliases == graph.aliases and clone.output == graph.output
    assert clone["features.1"].name == "features.0"
    with torch.no_grad():
        expected = module(x)
        clone["classifier.3"].op.weight.zero_()
        clone["classifier.3"].op.bias.fill_(2.0)
    assert torch.allclose(clone(x), torch.full_like(expected, 2.0))
    assert rel_err(graph(x), expected) <= 1e-10
    clone.to(torch.float32)
    assert graph.dtype == torch.float64


# ----------------------------------------------------------------------- manual building


def test_build_a_graph_by_hand():
    torch.manual_seed(0)
    w1, b1 = torch.randn(4, 3), torch.randn(4)
    w2 = torch.randn(2, 4)
    g = Graph()
    assert g.add_input("x", (3,)) == "x"
    g.add_node("fc1", ops.Linear(w1, b1), ["x"])
    g.add_node("relu", ops.ReLU(), ["fc1"])
    g.add_node("fc2", ops.Linear(w2, None), ["relu"])
    g.add_node("sum", ops.Add(), ["fc2", "fc2"])
    g.set_output("sum")
    x = torch.randn(5, 3)
    expected = 2 * F.linear(F.linear(x, w1, b1).relu(), w2)
    assert torch.allclose(g(x), expected, atol=1e-6)
    with pytest.raises(ValueError, match="already exists"):
        g.add_node("relu", ops.ReLU(), ["x"])
    with pytest.raises(KeyError, match="'ghost'"):
        g.add_node("r2", ops.ReLU(), ["ghost"])
    with pytest.raises(ValueError, match="takes 1 input"):
        g.add_node("r3", ops.ReLU(), ["x", "fc1"])
    with pytest.raises(TypeError, match="neon.ops.Op"):
        g.add_node("m", nn.ReLU(), ["x"])
    with pytest.raises(KeyError, match="not a node"):
        g.set_output("ghost")


def test_read_only_and_sparse_numpy_inputs():
    import warnings

    import scipy.sparse as sp

    graph = neon.from_torch(torch.nn.Sequential(torch.nn.Linear(3, 2)).double(),
                            torch.ones(1, 3, dtype=torch.float64))
    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    x.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = graph(x)
    expected = x @ graph[graph.output].op.weight.numpy().T + graph[graph.output].op.bias.numpy()
    np.testing.assert_allclose(out, expected)
    with pytest.raises(neon.GraphInputError, match="sparse matrix.*toarray"):
        graph(sp.csr_matrix(np.ones((2, 3))))
