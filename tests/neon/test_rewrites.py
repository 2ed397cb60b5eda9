"""Rewrites keep outputs equal: BatchNorm folding, dropping identities, canonicalize."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import neon
from neon.rewrites import canonicalize, drop_identities, fold_batchnorm
from tests.neon.nets import make, randomize_batchnorm, record, rel_err

BN_NETS = ["vgg_style", "resnet_style", "dense_style", "mobile_style", "functional_mlp",
           "seq_conv", "conv3d", "conv_variants", "activations"]


def kinds(graph):
    """The op kinds of ``graph``'s nodes, in topological order."""
    return [n.kind for n in graph.nodes]


def bn_names(graph):
    """Names of the nodes that are still BatchNorm ops."""
    return {n.name for n in graph.nodes if n.kind == "batchnorm"}


@pytest.mark.parametrize("name", BN_NETS)
def test_fold_batchnorm_keeps_outputs(name):
    module, x = make(name)
    raw = neon.from_torch(module, x[:1], canonicalize=False)
    folded = fold_batchnorm(raw)
    with torch.no_grad():
        expected = module(x)
    assert rel_err(folded(x), expected) <= 1e-10
    assert rel_err(raw(x), expected) <= 1e-10  # the input graph is left as it was
    assert len(bn_names(folded)) < len(bn_names(raw))
    assert kinds(raw).count("identity") == kinds(folded).count("identity")
    for removed in bn_names(raw) - bn_names(folded):
        target = folded.resolve(removed)
        assert target != removed and folded[target].kind in ("conv", "linear")
        assert raw[removed].inputs == (target,)


@pytest.mark.parametrize("name", ["vgg_style", "mobile_style", "activations", "functional_mlp"])
def test_drop_identities_keeps_outputs(name):
    module, x = make(name)
    raw = neon.from_torch(module, x[:1], canonicalize=False)
    dropped = drop_identities(raw)
    with torch.no_grad():
        expected = module(x)
    assert rel_err(dropped(x), expected) <= 1e-10
    assert "identity" not in kinds(dropped)
    assert bn_names(dropped) == bn_names(raw)
    identities = [n for n in raw.nodes if n.kind == "identity"]
    for node in identities:
        assert dropped.resolve(node.name) == dropped.resolve(node.inputs[0])
    if name == "functional_mlp":
        assert not identities and dropped is raw


def test_dropped_identity_after_batchnorm_resolves_through_the_fold():
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.3), nn.ReLU(),
                           nn.Flatten(), nn.Linear(4 * 6 * 6, 2), nn.Identity())
    randomize_batchnorm(module)
    module.eval().double()
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    graph = neon.from_torch(module, x[:1])
    assert [n.name for n in graph.nodes] == ["0", "3", "4", "5"]
    assert graph.resolve("2") == "0" and graph.resolve("1") == "0"
    assert graph.output == "5" and graph.resolve("6") == "5"
    with torch.no_grad():
        _, outputs, _ = record(module, x)
        assert rel_err(graph(x), module(x)) <= 1e-12
    _, acts = graph.forward(x, keep=["1", "2", "6"])
    for name in ["1", "2", "6"]:
        assert rel_err(acts[name], outputs[name][0]) <= 1e-12, name


def test_batchnorm_after_concat_stays():
    module, x = make("dense_style")
    graph = neon.from_torch(module, x[:1])
    # norm1 of every dense layer and the transition's BN read concatenations; `norm` reads
    # the average pool; norm2 follows a conv and is folded into it
    assert bn_names(graph) == {"block.0.norm1", "block.1.norm1", "block.2.norm1",
                               "transition.0", "norm"}
    assert graph["block.1.norm1"].inputs == ("block.1.cat",)
    assert graph["transition.0"].inputs == ("cat",)
    for i in range(3):
        assert graph.resolve(f"block.{i}.norm2") == f"block.{i}.conv1"
    with torch.no_grad():
        assert rel_err(graph(x), module(x)) <= 1e-10


class TwoConsumers(nn.Module):
    """A conv read by its BatchNorm and by a shortcut; a linear read by BN1d and a skip."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 5)
        self.bn1d = nn.BatchNorm1d(5)

    def forward(self, x):
        y = self.conv(x)
        h = torch.relu(self.bn(y)) + y
        z = self.fc(h.mean((2, 3)))
        return self.bn1d(z) + z


def test_affine_op_with_two_consumers_is_not_folded():
    torch.manual_seed(0)
    module = randomize_batchnorm(TwoConsumers()).eval().double()
    x = torch.randn(3, 3, 6, 6, dtype=torch.float64)
    graph = neon.from_torch(module, x[:1])
    assert bn_names(graph) == {"bn", "bn1d"}
    assert set(graph.consumers("conv")) == {"bn", "add"}
    assert torch.equal(graph["conv"].op.weight, module.conv.weight)
    with torch.no_grad():
        assert rel_err(graph(x), module(x)) <= 1e-12


def test_batchnorm_reading_the_input_stays_and_output_batchnorm_folds():
    torch.manual_seed(0)
    module = nn.Sequential(nn.BatchNorm1d(6), nn.Linear(6, 4), nn.BatchNorm1d(4))
    randomize_batchnorm(module)
    module.eval().double()
    x = torch.randn(5, 6, dtype=torch.float64)
    graph = neon.from_torch(module, x[:1])
    assert [n.kind for n in graph.nodes] == ["batchnorm", "linear"]
    assert graph.output == "1" and graph.resolve("2") == "1"
    with torch.no_grad():
        assert rel_err(graph(x), module(x)) <= 1e-12


def test_folding_matches_the_formula():
    # W' = s W, b' = s b + t with s = gamma / sqrt(var + eps), t = beta - mean s
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(2, 3, 3, bias=False), nn.BatchNorm2d(3, eps=1e-3)
    randomize_batchnorm(bn)
    module = nn.Sequential(conv, bn).eval().double()
    graph = neon.from_torch(module, torch.randn(1, 2, 5, 5, dtype=torch.float64))
    op = graph["0"].op
    s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    t = bn.bias - bn.running_mean * s
    torch.testing.assert_close(op.weight, conv.weight * s.view(-1, 1, 1, 1))
    torch.testing.assert_close(op.bias, t)


def test_canonicalize_is_idempotent_and_copies():
    module, x = make("mobile_style")
    raw = neon.from_torch(module, x[:1], canonicalize=False)
    once = canonicalize(raw)
    twice = canonicalize(once)
    assert [n.name for n in twice.nodes] == [n.name for n in once.nodes]
    assert twice.aliases == once.aliases
    with torch.no_grad():
        once["classifier.1"].op.weight.zero_()
    assert rel_err(raw(x), module(x)) <= 1e-10  # raw is untouched by edits of `once`
    assert "batchnorm" in kinds(raw) and "identity" in kinds(raw)


@settings(max_examples=25, deadline=None)
@given(
    dim=st.sampled_from([1, 2, 3]),
    groups=st.sampled_from([1, 2]),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 2),
    dilation=st.integers(1, 2),
    padding=st.integers(0, 2),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_conv_batchnorm_fold_property(dim, groups, kernel, stride, dilation, padding, bias,
                                      seed):
    torch.manual_seed(seed)
    conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[dim - 1](
        2 * groups, 2 * groups, kernel, stride=stride, padding=padding, dilation=dilation,
        groups=groups, bias=bias)
    bn = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[dim - 1](2 * groups)
    module = randomize_batchnorm(nn.Sequential(conv, bn, nn.ReLU()), seed).eval().double()
    x = torch.randn((2, 2 * groups) + (7,) * dim, dtype=torch.float64)
    graph = neon.from_torch(module, x[:1])
    assert kinds(graph) == ["conv", "relu"]
    with torch.no_grad():
        assert rel_err(graph(x), module(x)) <= 1e-10
