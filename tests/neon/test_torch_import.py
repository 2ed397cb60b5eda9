"""neon.from_torch reproduces torch modules: outputs and the activations of named nodes.

Expected values are the modules' own outputs and their forward hooks' (cloned) outputs.
BatchNorm statistics and affine parameters are randomized, so a folding bug cannot hide
behind BatchNorm's near-identity default initialization.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import neon
from neon import ops
from tests.neon.nets import (
    TOL,
    ZOO,
    DenseStyle,
    FunctionalMLP,
    MobileStyle,
    ResNetStyle,
    VGGStyle,
    call_name,
    make,
    prepare,
    randomize_batchnorm,
    record,
    rel_err,
)

DTYPES = [torch.float64, torch.float32]
BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def check_activations(module, graph, x, tol):
    """Assert every leaf module call has a node whose value equals the call's output.

    With canonicalization a BatchNorm's name resolves to the affine op it was folded into,
    which then computes the BatchNorm's output; that affine op's own pre-BatchNorm output no
    longer exists, so it is the one value not compared.

    Returns
    -------
    dict
        Node name -> expected value, for the nodes compared.
    """
    with torch.no_grad():
        _, outputs, _ = record(module, x)
    folded = {graph.resolve(name) for name in graph.aliases}
    expected = {}
    for name, calls in outputs.items():
        for k, value in enumerate(calls):
            node = call_name(name, k)
            assert node in graph, f"module call {node!r} has no node in the graph"
            if graph.resolve(node) == node and node in folded and graph[node].kind in (
                    "conv", "linear"):
                continue  # a folded affine op now outputs its BatchNorm's value
            expected[node] = value
    with torch.no_grad():
        _, acts = graph.forward(x, keep=list(expected))
    for node, value in expected.items():
        assert rel_err(acts[node], value) <= tol, node
    return expected


# ------------------------------------------------------------------- output equals module


@pytest.mark.parametrize("canonicalize", [True, False], ids=["canonical", "raw"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_output_equals_module(name, dtype, canonicalize):
    module, x = make(name, dtype)
    graph = neon.from_torch(module, x[:1], canonicalize=canonicalize)
    with torch.no_grad():
        expected = module(x)
        out = graph(x)
    assert out.dtype == dtype
    assert rel_err(out, expected) <= TOL[dtype]
    kinds = {n.kind for n in graph.nodes}
    has_bn = any(isinstance(m, BATCHNORMS) for m in module.modules())
    if canonicalize:
        assert "identity" not in kinds
    elif has_bn:
        assert "batchnorm" in kinds


def test_randomized_batchnorm_is_far_from_identity():
    module, x = make("vgg_style")
    reference = VGGStyle().eval().double()
    reference.load_state_dict(module.state_dict())
    for m in reference.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_parameters()
            m.reset_running_stats()
    with torch.no_grad():
        assert rel_err(reference(x), module(x)) > 1e-2


@pytest.mark.parametrize("canonicalize", [True, False], ids=["canonical", "raw"])
@pytest.mark.parametrize("name", ["vgg_style", "resnet_style", "dense_style", "mobile_style",
                                  "functional_mlp", "seq_conv", "conv3d", "conv_variants",
                                  "activations_log_softmax"])
def test_zoo_named_activations(name, canonicalize):
    module, x = make(name)
    graph = neon.from_torch(module, x[:1], canonicalize=canonicalize)
    compared = check_activations(module, graph, x, TOL[torch.float64])
    assert len(compared) >= 5


def test_named_activations_float32():
    module, x = make("resnet_style", torch.float32)
    graph = neon.from_torch(module, x[:1])
    check_activations(module, graph, x, TOL[torch.float32])


# ------------------------------------------------------------------------------ names


def test_module_called_twice_gives_two_named_nodes():
    module, x = make("functional_mlp")
    graph = neon.from_torch(module, x[:1], canonicalize=False)
    with torch.no_grad():
        _, outputs, inputs = record(module, x)
    assert len(outputs["shared"]) == len(outputs["act"]) == 2
    assert graph["shared"].inputs == ("add",)
    assert graph["shared:1"].inputs == ("act",)
    assert graph["act:1"].inputs == ("shared:1",)
    assert graph["shared"].op is not graph["shared:1"].op
    _, acts = graph.forward(x, keep=["shared", "shared:1", "act", "act:1"])
    for node, value in [("shared", outputs["shared"][0]), ("shared:1", outputs["shared"][1]),
                        ("act", outputs["act"][0]), ("act:1", outputs["act"][1])]:
        assert rel_err(acts[node], value) <= 1e-12, node
    assert "shared:2" not in graph


def test_functional_ops_become_named_nodes():
    module, x = make("functional_mlp")
    graph = neon.from_torch(module, x[:1], canonicalize=False)
    kinds = {n.name: n.kind for n in graph.nodes}
    assert kinds["view"] == "reshape" and kinds["view:1"] == "reshape"
    assert kinds["mean"] == "mean" and kinds["flatten"] == "flatten"
    assert kinds["relu"] == "relu" and kinds["relu:1"] == "relu"
    assert kinds["add"] == "add" and kinds["add:1"] == "add"
    assert kinds["cat"] == "concat"
    assert graph["add:1"].inputs == ("head", "skip")
    assert graph.output == "add:1"
    # the mean over (2, 3) of the 2x4x4 view, against torch
    _, acts = graph.forward(x, keep=["mean", "add"])
    img = x.view(x.size(0), 2, 4, 4)
    assert rel_err(acts["mean"], img.mean((2, 3))) <= 1e-12
    with torch.no_grad():
        _, _, inputs = record(module, x)
    assert rel_err(acts["add"], inputs["shared"][0]) <= 1e-12


@pytest.mark.parametrize("canonicalize", [True, False], ids=["canonical", "raw"])
def test_residual_adds_are_scoped_nodes(canonicalize):
    module, x = make("resnet_style")
    graph = neon.from_torch(module, x[:1], canonicalize=canonicalize)
    with torch.no_grad():
        _, outputs, inputs = record(module, x)
    # `out += identity` (layer1) and `out = out + identity` (layer2) both become Add nodes
    for block in ["layer1.0", "layer1.1", "layer2.0", "layer2.1"]:
        add = graph[f"{block}.add"]
        assert add.kind == "add"
        assert graph.consumers(add.name) == [f"{block}.relu:2"]
        # the Add is what the block's third ReLU call reads
        _, acts = graph.forward(x, keep=[add.name, f"{block}.relu:2"])
        assert rel_err(acts[add.name], inputs[f"{block}.relu"][2]) <= 1e-12
        assert rel_err(acts[f"{block}.relu:2"], outputs[f"{block}.relu"][2]) <= 1e-12
    # downsampling shortcut vs. plain identity shortcut
    assert graph["layer1.0.add"].inputs[1] == graph.resolve("layer1.0.downsample.1")
    assert graph["layer1.1.add"].inputs[1] == "layer1.0.relu:2"
    assert graph["layer2.0.downsample.0"].op.stride == (2, 2)


def test_concat_and_depthwise_nodes():
    dense, x = make("dense_style")
    graph = neon.from_torch(dense, x[:1])
    assert graph["block.0.cat"].kind == "concat" and graph["block.0.cat"].inputs == ("stem",)
    assert graph["block.2.cat"].inputs == ("stem", "block.0.conv2", "block.1.conv2")
    assert graph["cat"].inputs == ("stem", "block.0.conv2", "block.1.conv2", "block.2.conv2")
    assert graph["cat"].op.dim == 1
    mobile, x = make("mobile_style")
    graph = neon.from_torch(mobile, x[:1])
    depthwise = graph["features.3.conv.3"].op
    assert isinstance(depthwise, ops.Conv) and depthwise.groups == 24
    assert graph["features.3.add"].inputs == ("features.2", "features.3.conv.6")
    assert graph["features.3.conv.2"].kind == "hardtanh"
    assert (graph["features.3.conv.2"].op.low, graph["features.3.conv.2"].op.high) == (0, 6)
    assert "features.4.add" not in graph  # stride 2: no residual


def test_batchnorm_name_resolves_to_folded_conv():
    module, x = make("vgg_style")
    graph = neon.from_torch(module, x[:1], canonicalize=True)
    assert graph.resolve("features.1") == "features.0"
    assert graph["features.1"].kind == "conv"
    with torch.no_grad():
        _, outputs, _ = record(module, x)
    _, acts = graph.forward(x, keep=["features.1", "features.0", "features.4"])
    assert rel_err(acts["features.1"], outputs["features.1"][0]) <= 1e-12
    assert torch.equal(acts["features.1"], acts["features.0"])
    assert rel_err(acts["features.4"], outputs["features.4"][0]) <= 1e-12
    # without canonicalization the conv keeps its own output
    raw = neon.from_torch(module, x[:1], canonicalize=False)
    _, acts = raw.forward(x, keep=["features.0", "features.1"])
    assert rel_err(acts["features.0"], outputs["features.0"][0]) <= 1e-12
    assert rel_err(acts["features.1"], outputs["features.1"][0]) <= 1e-12
    assert raw["features.1"].kind == "batchnorm"


# --------------------------------------------------------------------- import bookkeeping


def test_import_restores_training_flags_and_copies_parameters():
    module, x = make("vgg_style")
    module.train()
    module.features[1].eval()  # a frozen BatchNorm inside a training model
    state = {k: v.clone() for k, v in module.state_dict().items()}
    graph = neon.from_torch(module, x[:1])
    assert module.training and module.features[0].training
    assert not module.features[1].training
    for k, v in module.state_dict().items():
        assert torch.equal(v, state[k]), k  # no running-stat updates, no folding in place
    module.eval()
    with torch.no_grad():
        expected = module(x)
        module.classifier[3].weight.add_(1.0)  # the graph holds its own copy
    assert rel_err(graph(x), expected) <= 1e-10


def test_example_batch_size_does_not_matter():
    module, x = make("resnet_style")
    one = neon.from_torch(module, x[:1])
    many = neon.from_torch(module, torch.cat([x, x, x]))
    assert [n.name for n in one.nodes] == [n.name for n in many.nodes]
    assert rel_err(many(x), one(x)) <= 1e-12


def test_sequential_and_functional_softmax_outputs():
    module, x = make("activations_softmax")
    graph = neon.from_torch(module, x[:1])
    assert graph[graph.output].kind == "softmax"
    assert torch.allclose(graph(x).sum(1), torch.ones(len(x), dtype=x.dtype))
    module, x = make("functional_log_softmax")
    graph = neon.from_torch(module, x[:1])
    assert graph[graph.output].kind == "log_softmax"
    assert graph[graph.output].op.dim == 1


def test_dropout_is_dropped_in_eval():
    module, x = make("vgg_style")
    raw = neon.from_torch(module, x[:1], canonicalize=False)
    assert raw["classifier.2"].kind == "identity"
    graph = neon.from_torch(module, x[:1])
    assert graph.resolve("classifier.2") == "classifier.1"
    assert graph["classifier.3"].inputs == ("classifier.1",)


# ---------------------------------------------------------------------------- torchvision


TORCHVISION = ["vgg16_bn", "resnet50", "densenet121", "mobilenet_v2"]
COMBOS = [(torch.float32, True), (torch.float32, False),
          (torch.float64, True), (torch.float64, False)]


@pytest.fixture(scope="module", params=TORCHVISION)
def torchvision_model(request):
    torch.manual_seed(0)
    model = getattr(torchvision.models, request.param)(weights=None)
    randomize_batchnorm(model, seed=1)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    yield request.param, model.eval(), x
    del model


@pytest.mark.parametrize("dtype,canonicalize", COMBOS,
                         ids=[f"{'f32' if d == torch.float32 else 'f64'}-"
                              f"{'canonical' if c else 'raw'}" for d, c in COMBOS])
def test_torchvision_output_equals_module(torchvision_model, dtype, canonicalize):
    name, model, x = torchvision_model
    model.to(dtype)  # in place; float32 combos run first, then float64
    x = x.to(dtype)
    with torch.no_grad():
        expected = model(x)
    graph = neon.from_torch(model, x, canonicalize=canonicalize)
    with torch.no_grad():
        out = graph(x)
    assert out.shape == (1, 1000)
    assert rel_err(out, expected) <= TOL[dtype], name
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    n_bn_nodes = sum(n.kind == "batchnorm" for n in graph.nodes)
    if canonicalize:
        # densenet's pre-activation BatchNorms read concatenations or pools: they stay
        assert n_bn_nodes < n_bn if name == "densenet121" else n_bn_nodes == 0
    else:
        assert n_bn_nodes == n_bn
    if dtype == torch.float64 and name != "vgg16_bn":
        check_activations(model, graph, x, TOL[dtype])
        if name == "resnet50":
            assert graph["layer1.0.add"].kind == "add"
            assert "layer1.0.relu:2" in graph and "layer1.0.relu:3" not in graph


# ------------------------------------------------------------------------- misc. modules


def test_neuralize_routes_modules_to_from_torch():
    module, x = make("seq_conv")
    graph = neon.neuralize(module, x[:1])
    assert isinstance(graph, neon.Graph)
    assert graph.source == "SeqConvNet"
    with torch.no_grad():
        assert rel_err(graph(x), module(x)) <= 1e-10
    raw = neon.neuralize(module, x[:1], canonicalize=False)
    assert "body.1" in raw._nodes and "body.1" not in neon.neuralize(module, x[:1])._nodes


@pytest.mark.parametrize("fn", [
    lambda x: torch.flatten(input=x, start_dim=1),
    lambda x: F.softmax(input=x, dim=1),
    lambda x: x.mean(1, keepdim=True) + x,
    lambda x: torch.sum(x, dim=[-1]),
    lambda x: x[:, 1:3, ::2],
    lambda x: x.view(x.shape[0], -1),
    lambda x: x.reshape(-1, 8).relu() + x.flatten(1).sigmoid(),
    lambda x: torch.cat((torch.tanh(x), x.clone().detach().contiguous()), dim=-1),
], ids=["flatten_kw", "softmax_kw", "mean_keepdim", "sum_list", "getitem", "view_shape",
        "reshape_methods", "cat_neg_dim"])
def test_functional_forms(fn):
    class Fn(nn.Module):
        def forward(self, x):
            return fn(x)

    x = torch.randn(3, 4, 2, dtype=torch.float64)
    graph = neon.from_torch(Fn(), x[:1])
    assert rel_err(graph(x), fn(x)) <= 1e-15


def test_two_input_module():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 4)
            self.b = nn.Linear(5, 4)

        def forward(self, u, v):
            return torch.relu(self.a(u)) + self.b(v)

    torch.manual_seed(0)
    module = TwoInputs().double()
    u, v = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    graph = neon.from_torch(module, (u[:1], v[:1]))
    assert graph.input_names == ["u", "v"]
    with torch.no_grad():
        assert rel_err(graph(u, v), module(u, v)) <= 1e-12
    assert set(graph.consumers("u")) == {"a"} and set(graph.consumers("v")) == {"b"}


@pytest.mark.parametrize("net", [VGGStyle, ResNetStyle, DenseStyle, MobileStyle, FunctionalMLP])
def test_zoo_nets_have_no_identity_batchnorm(net):
    # guards the premise of the exactness tests: every BatchNorm is randomized
    torch.manual_seed(0)
    module = prepare(net())
    for m in module.modules():
        if isinstance(m, BATCHNORMS):
            assert (m.running_var - 1).abs().max() > 0.05
            assert (m.weight - 1).abs().max() > 0.05
