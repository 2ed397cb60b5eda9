"""The IR as a well-behaved ``nn.Module``: apply, dtype round trips, state dicts, lint,
node names that clash with module attributes, declarations and unique names."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from torch import nn

import neon
from neon import GraphLintError, ops
from neon.graph import DECLARATIONS, Graph

DT = torch.float64


class SmallCNN(nn.Module):
    """Node names ``features.0`` … ``classifier``: nested modules, as in torchvision models."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AvgPool2d(2))
        self.classifier = nn.Linear(16, 3)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    net = SmallCNN().double().eval()
    x = torch.randn(3, 2, 6, 6, dtype=DT)
    return net, neon.from_torch(net, x), x


@pytest.fixture(scope="module")
def neuralized():
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_iris
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    X, y = load_iris(return_X_y=True)
    X, y = X[::3], y[::3]
    graphs = {
        "kmeans": neon.neuralize(KMeans(3, n_init=2, random_state=0).fit(X), X),
        "svc": neon.neuralize(SVC().fit(X, y), X),
        "pipeline": neon.neuralize(make_pipeline(StandardScaler(), PCA(2),
                                                 KMeans(3, n_init=2, random_state=0)).fit(X), X),
    }
    return graphs, torch.as_tensor(X[:5])


def by_hand(names=("fc", "act", "out")):
    g = Graph()
    g.add_input("x", (3,))
    prev = "x"
    for i, name in enumerate(names):
        op = (ops.Linear(torch.randn(3, 3, dtype=DT, generator=torch.Generator().manual_seed(i)),
                         torch.randn(3, dtype=DT, generator=torch.Generator().manual_seed(9 + i)))
              if i % 2 == 0 else ops.Tanh())
        prev = g.add_node(name, op, [prev])
    g.set_output(prev)
    return g


# --------------------------------------------------------------------------- nn.Module API

def test_apply_visits_every_op(cnn):
    _, graph, _ = cnn
    seen = []
    graph.apply(lambda m: seen.append(m) if isinstance(m, ops.Op) else None)
    assert len(seen) == len(graph) == len(list(graph.nodes))
    assert {id(m) for m in seen} == {id(n.op) for n in graph.nodes}


def test_float32_and_back_round_trip(cnn):
    net, graph, x = cnn
    g = graph.copy()
    assert g.to(torch.float32) is g
    assert g.dtype == torch.float32
    assert all(b.dtype == torch.float32 for b in g.buffers() if b.is_floating_point())
    out32 = g(x.float())
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32.double(), net(x), rtol=1e-4, atol=1e-5)
    with pytest.raises(neon.GraphInputError, match="float64"):
        g(x)
    assert g.double() is g and g.dtype == DT
    out = g(x)
    assert out.dtype == DT
    torch.testing.assert_close(out, net(x), rtol=1e-5, atol=1e-6)   # float32-rounded buffers


def test_state_dict_keys_are_node_names(cnn):
    net, graph, _ = cnn
    names = [n.name for n in graph.nodes]
    assert "features.0" in names and "classifier" in names
    expected = {f"ops.{graph.op_key(n.name)}.{b}" for n in graph.nodes
                for b, _ in n.op.named_buffers()}
    assert set(graph.state_dict()) == expected
    sd = graph.state_dict()
    assert "ops.features/0.weight" in sd and "ops.classifier.bias" in sd
    # and they are the torch module's parameters, under the same path
    for key, value in net.state_dict().items():
        assert torch.equal(sd["ops." + key.replace(".", "/", key.count(".") - 1)], value), key


def test_load_state_dict_restores_a_perturbed_copy(cnn):
    _, graph, x = cnn
    copy = graph.copy()
    with torch.no_grad():
        for b in copy.buffers():
            if b.is_floating_point():
                b.add_(torch.randn_like(b))
    assert not torch.allclose(copy(x), graph(x))
    copy.load_state_dict(graph.state_dict())
    torch.testing.assert_close(copy(x), graph(x), rtol=0, atol=0)


def test_load_state_dict_on_neuralized_graphs(neuralized):
    graphs, x = neuralized
    for graph in graphs.values():
        copy = graph.copy()
        with torch.no_grad():
            for b in copy.buffers():
                if b.is_floating_point():
                    b.mul_(1.5)
        copy.load_state_dict(graph.state_dict())
        torch.testing.assert_close(copy(x), graph(x), rtol=0, atol=0)


def _own_classes():
    seen, stack = [], [ops.Op]
    while stack:
        cls = stack.pop()
        if cls.__module__.startswith("neon.") and cls not in seen:
            seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen


ALLOWED = {"forward", "extra_repr", "__init__", "__repr__", "__init_subclass__",
           "__module__", "__doc__", "__qualname__", "__annotations__", "__dict__",
           "__weakref__", "__firstlineno__", "__static_attributes__"}


def test_no_op_or_graph_method_shadows_an_nn_module_attribute(cnn, neuralized):
    classes = _own_classes() + [Graph, type(cnn[1].ops)]
    assert {ops.Linear, ops.SquaredDistance, ops.RBFDuels, ops.RootedLinear} <= set(classes)
    clashes = {cls.__name__: sorted(k for k in vars(cls) if hasattr(nn.Module, k)
                                    and k not in ALLOWED) for cls in classes}
    assert {k: v for k, v in clashes.items() if v} == {}
    # instance attributes too (what __init__ sets), on real ops and graphs
    module_state = set(vars(nn.Module()))
    instances = [cnn[1]] + list(neuralized[0].values())
    instances += [n.op for g in instances for n in g.nodes]
    bad = {type(m).__name__: sorted(k for k in vars(m) if k not in module_state
                                    and hasattr(nn.Module, k)) for m in instances}
    assert {k: v for k, v in bad.items() if v} == {}


# -------------------------------------------------------------------------------- lint

def test_lint_passes_on_imported_and_neuralized_graphs(cnn, neuralized):
    assert cnn[1].lint() is cnn[1]
    for graph in neuralized[0].values():
        assert graph.lint() is graph
    assert by_hand().lint() is not None


def test_lint_names_a_missing_output():
    g = by_hand()
    g.output = None
    with pytest.raises(GraphLintError, match="no output"):
        g.lint()
    g.output = "nowhere"
    with pytest.raises(GraphLintError, match="output 'nowhere' is not a node"):
        g.lint()


def test_lint_names_a_cycle():
    g = by_hand()
    g.structure.add_edge("out", "fc")
    with pytest.raises(GraphLintError, match="cycle"):
        g.lint()


def test_lint_names_an_input_no_node_produces():
    g = by_hand()
    g.structure.remove_node("x")
    with pytest.raises(GraphLintError, match=r"node 'fc' reads \['x'\], which no node"):
        g.lint()


def test_lint_names_an_unregistered_op():
    g = by_hand()
    delattr(g.ops, g.op_key("act"))
    with pytest.raises(GraphLintError, match="node 'act': its op is not registered"):
        g.lint()
    g = by_hand()
    g.ops.add_module(g.op_key("fc"), ops.Identity())   # a different op under the name
    with pytest.raises(GraphLintError, match="node 'fc': its op is not registered"):
        g.lint()


def test_lint_names_a_broken_alias_and_edges():
    g = by_hand()
    g.aliases["old"] = "gone"
    with pytest.raises(GraphLintError, match="alias 'old'"):
        g.lint()
    g = by_hand()
    g.structure.add_edge("x", "out")
    with pytest.raises(GraphLintError, match="node 'out': edges do not match"):
        g.lint()


# ------------------------------------------------------------------ names that clash

def test_node_names_that_clash_with_module_attributes():
    names = ("type", "float", "to", "type_", "a.b", "a/b")
    g = by_hand(names)
    assert g.lint() is g
    keys = [g.op_key(n) for n in names]
    assert len(set(keys)) == len(keys)           # one-to-one
    for name, key in zip(names, keys):
        assert getattr(g.ops, key) is g[name].op
        assert not hasattr(nn.Module, key)
    # the module methods still work
    assert callable(g.ops.type) and callable(g.float) and callable(g.ops.to)
    x = torch.randn(4, 3, dtype=DT)
    expected = x
    for name in names:
        op = g[name].op
        expected = (expected @ op.weight.T + op.bias) if isinstance(op, ops.Linear) \
            else torch.tanh(expected)
    torch.testing.assert_close(g(x), expected, rtol=1e-12, atol=1e-12)
    g.float()
    assert g.dtype == torch.float32
    g.double()
    sd = g.state_dict()
    assert {k.split(".")[1] for k in sd} == {g.op_key(n) for n in names[::2]}
    copy = g.copy()
    copy.load_state_dict(sd)
    torch.testing.assert_close(copy(x), g(x), rtol=0, atol=0)


# ------------------------------------------------------------------ declarations, names

def test_copy_keeps_declarations():
    g = by_hand()
    source = object()

    def target(out):
        return out > 0

    g.declare(source=source, explained="the score", output_labels=["a", "b", "c"],
              feature_names=["u", "v", "w"], default_target=target, conserves=True)
    g.meta["beta"] = 2.5
    c = g.copy()
    assert c.source is source
    assert c.explained == "the score"
    assert np.array_equal(c.output_labels, np.array(["a", "b", "c"]))
    assert c.feature_names == ["u", "v", "w"] and c.feature_names is not g.feature_names
    assert c.default_target is target
    assert c.conserves is True
    assert c.meta == {"beta": 2.5}
    assert set(DECLARATIONS) == {"source", "explained", "output_labels", "feature_names",
                                 "default_target", "conserves"}


def test_declare_refuses_unknown_facts():
    g = by_hand()
    with pytest.raises(TypeError, match="bogus"):
        g.declare(bogus=1)
    assert not hasattr(g, "bogus")
    with pytest.raises(ValueError, match="2 feature names for an input of 3"):
        g.declare(feature_names=["a", "b"])


def test_unique_name_counts_up():
    g = Graph()
    g.add_input("x", (2,))
    got = []
    for _ in range(3):
        name = g.unique_name("a")
        got.append(name)
        g.add_node(name, ops.ReLU(), ["x"])
    assert got == ["a", "a:1", "a:2"]
    assert g.unique_name("x") == "x:1"   # inputs take names too
    assert g.unique_name("b") == "b"


def test_version_counts_changes():
    g = by_hand()
    v = g.version
    g.add_node("extra", ops.ReLU(), ["out"])
    assert g.version > v
    v = g.version
    g.set_output("extra")
    assert g.version > v


def test_graph_signature_is_module_like():
    # Graph is an nn.Module whose forward takes the inputs (and keep)
    assert issubclass(Graph, nn.Module)
    params = inspect.signature(Graph.forward).parameters
    assert "keep" in params
