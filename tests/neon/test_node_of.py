"""Graph.node_of: nodes addressed by node name, alias or source-module name; and
activations(keep=) returning only what was asked for."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import neon

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=4).eval()
    return model, neon.neuralize(model, torch.randn(1, 3, 32, 32))


def test_a_module_name_means_its_output_node(resnet):
    model, graph = resnet
    x = torch.randn(2, 3, 32, 32)
    seen = {}
    hooks = [getattr(model, name).register_forward_hook(
        lambda m, i, o, name=name: seen.__setitem__(name, o)) for name in ("layer3", "layer4")]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    for name in ("layer3", "layer4"):
        node = graph.node_of(name)
        assert node.startswith(name + "."), node
        value = graph.activations(x, keep=[node])[node]
        torch.testing.assert_close(value, seen[name], rtol=1e-4, atol=1e-4)


def test_node_names_and_aliases_resolve_to_themselves(resnet):
    _, graph = resnet
    assert graph.node_of("layer4.1.conv2") == "layer4.1.conv2"
    assert graph.node_of("layer1.0.bn1") == "layer1.0.conv1"      # BatchNorm folded away
    assert graph.node_of(graph.input_names[0]) == graph.input_names[0]
    assert graph.node_of("fc") == "fc"


def test_unknown_names_list_close_ones(resnet):
    _, graph = resnet
    with pytest.raises(KeyError, match="close names: layer4"):
        graph.node_of("layer44")
    with pytest.raises(TypeError, match="string"):
        graph.node_of(4)


class _Split(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 2), nn.Linear(3, 2)

    def forward(self, x):
        return self.a(x), self.b(x)


class _TwoOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = _Split()
        self.fc = nn.Linear(2, 2)

    def forward(self, x):
        a, b = self.block(x)
        return self.fc(a) + b


class _Nested(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        return self.fc(self.block(x))


def test_a_nested_module_means_its_last_node():
    graph = neon.neuralize(_Nested().double(), torch.randn(1, 3, dtype=torch.float64))
    assert graph.node_of("block") == "block.1"


def test_a_module_with_two_outputs_asks_for_one():
    graph = neon.neuralize(_TwoOut().double(), torch.randn(1, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="2 output nodes"):
        graph.node_of("block")
    assert graph.node_of("block.a") == "block.a"


def test_keep_returns_the_named_nodes_and_frees_the_rest(resnet):
    _, graph = resnet
    x = torch.randn(1, 3, 32, 32)
    kept = graph.activations(x, keep=["layer2.0.conv1"])
    assert set(kept) == {"layer2.0.conv1", graph.output}
    full = graph.activations(x)
    torch.testing.assert_close(kept["layer2.0.conv1"], full["layer2.0.conv1"])
    assert len(full) == len(graph.nodes) + 1
