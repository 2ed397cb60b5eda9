"""Errors of the importer and of graph inputs: each names the problem, where, and what fits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import neon
from neon import GraphInputError, TraceError, UnsupportedOpError
from tests.neon.nets import FixedSizeCNN, PlainMLP, SmallCNN, make


def wrap(fn):
    """A module whose forward is ``fn`` (plus a linear layer to hold some parameters)."""

    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return fn(self, x)

    return Wrapped()


X4 = torch.randn(2, 4)


# --------------------------------------------------------------------- unknown modules


class WithLeaf(nn.Module):
    def __init__(self, leaf, cin):
        super().__init__()
        self.conv = nn.Conv2d(3, cin, 3, padding=1)
        self.block = nn.Sequential(nn.ReLU(), leaf)

    def forward(self, x):
        return self.block(self.conv(x))


@pytest.mark.parametrize("leaf,cin,type_name", [
    (nn.LocalResponseNorm(2), 3, "torch.nn.modules.normalization.LocalResponseNorm"),
    (nn.PixelShuffle(2), 4, "torch.nn.modules.pixelshuffle.PixelShuffle"),
    (nn.InstanceNorm2d(3), 3, "InstanceNorm2d"),
])
def test_unknown_module_is_named_with_its_path(leaf, cin, type_name):
    with pytest.raises(UnsupportedOpError) as info:
        neon.from_torch(WithLeaf(leaf, cin), torch.randn(1, 3, 8, 8))
    msg = str(info.value)
    assert type_name in msg and "is not supported" in msg
    assert "'block.1'" in msg  # where it is called
    assert "Supported modules:" in msg and "Conv2d" in msg and "BatchNorm2d" in msg


def test_unknown_module_returning_a_tuple_is_named():
    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.FractionalMaxPool2d(2, output_size=2, return_indices=True)

        def forward(self, x):
            return self.rnn(x)[0]

    with pytest.raises(UnsupportedOpError) as info:
        neon.from_torch(Recurrent(), torch.randn(1, 1, 4, 4))
    msg = str(info.value)
    assert "FractionalMaxPool2d is not supported" in msg and "'rnn'" in msg
    assert "getitem" not in msg


# ------------------------------------------------------------------- unknown functions


def test_unknown_function_names_function_and_module():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return torch.exp(self.fc(x))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Sequential(nn.Linear(4, 4))
            self.block = Block()

        def forward(self, x):
            return self.block(self.inner(x))

    with pytest.raises(UnsupportedOpError) as info:
        neon.from_torch(Net(), X4)
    msg = str(info.value)
    assert "function torch.exp is not supported" in msg
    assert "in module 'block'" in msg
    assert "Supported:" in msg and "relu" in msg and "cat" in msg


def test_unknown_function_at_top_level():
    def fn(self, x):
        return torch.cumsum(F.relu(self.fc(x)), 1)

    with pytest.raises(UnsupportedOpError) as info:
        neon.from_torch(wrap(fn), X4)
    msg = str(info.value)
    assert "cumsum is not supported" in msg and "<top level>" in msg and "fx node" in msg


def test_unknown_method_and_tuple_function():
    with pytest.raises(UnsupportedOpError, match=r"method \.cumsum\(\) is not supported"):
        neon.from_torch(wrap(lambda self, x: self.fc(x).cumsum(1)), X4)
    with pytest.raises(UnsupportedOpError, match=r"unbind is not supported"):
        neon.from_torch(wrap(lambda self, x: torch.unbind(self.fc(x).view(-1, 2, 2), 1)[0]),
                        X4)


@pytest.mark.parametrize("fn,expected", [
    (lambda self, x: self.fc(x) + self.fc.weight[:2], "would act on the batch axis"),
    (lambda self, x: self.fc(x)[:, :1] * self.fc.bias, "broadcasts the tensor"),
    (lambda self, x: self.fc(x) - x, "difference of two computed tensors"),
    (lambda self, x: 1.0 / self.fc(x), "only division of a computed tensor by a constant"),
    (lambda self, x: self.fc(x) + torch.arange(x.size(0))[:, None],
     "from the input's shape"),
    (lambda self, x: self.fc(x) + torch.ones(x.shape) * x.size(0),
     "from the input's shape"),
    (lambda self, x: self.fc(x).squeeze(), "squeeze without a dim"),
    (lambda self, x: self.fc(x).view(-1, 2, 2).permute(1, 0, 2), "moves the batch axis"),
    (lambda self, x: torch.roll(self.fc(x), 1), "roll without dims"),
    (lambda self, x: F.interpolate(self.fc(x).view(-1, 1, 2, 2), scale_factor=2.0,
                                   mode="bicubic"), "mode 'bicubic' is not supported"),
    (lambda self, x: F.dropout(self.fc(x), 0.5, training=True), "training=True"),
    (lambda self, x: F.softmax(self.fc(x)), "softmax without an explicit dim"),
    (lambda self, x: (self.fc(x), x), "returns tuple"),
    (lambda self, x: torch.add(self.fc(x), x, alpha=2), "alpha != 1"),
    (lambda self, x: self.fc(x)[0], "must keep the batch axis whole"),
    (lambda self, x: self.fc(x).sum(1, dtype=torch.float64), "sum with dtype=torch.float64"),
])
@pytest.mark.filterwarnings("ignore:Implicit dimension choice for softmax")
def test_other_unsupported_constructs(fn, expected):
    with pytest.raises(UnsupportedOpError, match=expected):
        neon.from_torch(wrap(fn), X4)


# --------------------------------------------------------------------- batch axis mixing


@pytest.mark.parametrize("fn,expected", [
    (lambda self, x: self.fc(x).view(-1), "mixes the batch axis"),
    (lambda self, x: self.fc(x).reshape(1, -1), "mixes the batch axis"),
    (lambda self, x: self.fc(x).view(-1, 2), "mixes the batch axis"),
    (lambda self, x: self.fc(x).mean(0), "acts on the batch axis"),
    (lambda self, x: self.fc(x).sum(dim=-2), "acts on the batch axis"),
    (lambda self, x: self.fc(x).mean(), "over all axes includes the batch axis"),
    (lambda self, x: torch.cat([self.fc(x), x]), "acts on the batch axis"),
    (lambda self, x: torch.flatten(self.fc(x)), "acts on the batch axis"),
    (lambda self, x: F.softmax(self.fc(x), dim=0), "acts on the batch axis"),
])
def test_ops_over_the_batch_axis_are_rejected(fn, expected):
    with pytest.raises(UnsupportedOpError, match=expected) as info:
        neon.from_torch(wrap(fn), X4)
    assert "fx node" in str(info.value)


def test_view_keeping_the_batch_axis_is_fine():
    module = wrap(lambda self, x: self.fc(x).view(-1, 2, 2).flatten(1))
    graph = neon.from_torch(module, X4[:1])
    x = torch.randn(5, 4)
    with torch.no_grad():
        torch.testing.assert_close(graph(x), module(x))


# ------------------------------------------------------------------------- tracing


def test_data_dependent_control_flow_is_a_trace_error():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            if x.sum() > 0:
                return self.fc(x)
            return -x

    with pytest.raises(TraceError) as info:
        neon.from_torch(Branchy(), X4)
    msg = str(info.value)
    assert "cannot trace Branchy" in msg and "control flow" in msg


# ---------------------------------------------------------------------- conv options


def test_padding_mode_reflect():
    module = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"))
    with pytest.raises(UnsupportedOpError) as info:
        neon.from_torch(module, torch.randn(1, 3, 8, 8))
    msg = str(info.value)
    assert "padding_mode='reflect'" in msg and "zero padding" in msg and "'0'" in msg


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_same_padding_with_even_kernel():
    module = nn.Sequential(nn.Conv2d(3, 4, 4, padding="same"))
    with pytest.raises(UnsupportedOpError, match="even kernel pads asymmetrically"):
        neon.from_torch(module, torch.randn(1, 3, 8, 8))


def test_batchnorm_without_running_stats():
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False))
    with pytest.raises(UnsupportedOpError, match="without running statistics"):
        neon.from_torch(module, torch.randn(2, 3, 8, 8))


def test_maxpool_with_indices():
    module = nn.Sequential(nn.MaxPool2d(2, return_indices=True))
    with pytest.raises(UnsupportedOpError, match="return_indices"):
        neon.from_torch(module, torch.randn(1, 3, 8, 8))


# ------------------------------------------------------------------ importer arguments


def test_bad_import_arguments():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        neon.from_torch(lambda x: x, X4)
    with pytest.raises(TypeError, match="floating-point"):
        neon.from_torch(PlainMLP(4), torch.ones(1, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="batch axis first"):
        neon.from_torch(PlainMLP(4), torch.ones(4))
    with pytest.raises(TypeError, match="example input"):
        neon.neuralize(PlainMLP(4))


# ------------------------------------------------------------------------ graph inputs


@pytest.fixture(scope="module")
def cnn_graph():
    torch.manual_seed(0)
    return neon.from_torch(SmallCNN(), torch.randn(1, 3, 16, 16))


@pytest.fixture(scope="module")
def mlp_graph():
    torch.manual_seed(0)
    return neon.from_torch(PlainMLP(6), torch.randn(1, 6))


def test_wrong_rank(cnn_graph, mlp_graph):
    with pytest.raises(GraphInputError) as info:
        cnn_graph(torch.randn(3, 16, 16))
    msg = str(info.value)
    assert "expected shape (N, 3, *, *)" in msg and "rank 3" in msg and "(3, 16, 16)" in msg
    with pytest.raises(GraphInputError, match=r"expected shape \(N, 6\).*rank 3"):
        mlp_graph(torch.randn(2, 6, 1))


def test_wrong_channel_count(cnn_graph):
    with pytest.raises(GraphInputError) as info:
        cnn_graph(torch.randn(2, 4, 16, 16))
    msg = str(info.value)
    assert "expected 3 channels, got 4" in msg and "(N, 3, *, *)" in msg


def test_wrong_feature_count(mlp_graph):
    with pytest.raises(GraphInputError, match=r"expected 6 features, got 5"):
        mlp_graph(torch.randn(2, 5))
    with pytest.raises(GraphInputError, match=r"expected 6 features, got 7"):
        mlp_graph(np.zeros((2, 7), dtype=np.float32))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_inputs(mlp_graph, bad):
    x = torch.randn(3, 6)
    x[1, 2] = bad
    x[2, 0] = bad
    with pytest.raises(GraphInputError, match=r"contains 2 NaN or infinite value"):
        mlp_graph(x)
    with pytest.raises(GraphInputError, match="NaN or infinite"):
        mlp_graph(x.numpy())


def test_spatial_size_the_net_cannot_take():
    torch.manual_seed(0)
    module = FixedSizeCNN()
    graph = neon.from_torch(module, torch.randn(1, 3, 8, 8))
    graph(torch.randn(2, 3, 8, 8))  # fine
    with pytest.raises(GraphInputError) as info:
        graph(torch.randn(2, 3, 12, 12))
    msg = str(info.value)
    assert "node 'fc' (Linear) failed" in msg
    assert "(2, 3, 12, 12)" in msg and "(N, 3, *, *)" in msg
    with pytest.raises(GraphInputError, match=r"node 'pool' \(MaxPool\) failed"):
        graph(torch.randn(1, 3, 1, 1))


def test_integer_and_non_array_inputs(mlp_graph):
    # integers are numbers, numpy and torch alike: converted to the graph's dtype
    assert mlp_graph(torch.ones(2, 6, dtype=torch.int64)).dtype == torch.float32
    assert mlp_graph(np.ones((2, 6), dtype=np.int64)).dtype == np.float32
    # a list of rows is a batch (numpy out)
    rows = mlp_graph([[0.0] * 6, [1] * 6])
    assert isinstance(rows, np.ndarray) and rows.shape[0] == 2
    with pytest.raises(GraphInputError, match="rectangular"):
        mlp_graph([[0.0] * 6, [1.0] * 5])
    with pytest.raises(GraphInputError, match="numeric array expected"):
        mlp_graph(np.array([["a"] * 6]))
    with pytest.raises(GraphInputError, match="expected a torch.Tensor, numpy array, DataFrame"):
        mlp_graph({"x": 1})
    with pytest.raises(GraphInputError, match="complex.*x.real"):
        mlp_graph(np.ones((2, 6), dtype=np.complex64))
    with pytest.raises(GraphInputError, match="boolean"):
        mlp_graph(np.ones((2, 6), dtype=bool))
    with pytest.raises(GraphInputError, match="lose precision"):
        mlp_graph(np.ones((2, 6)))                       # float64 into a float32 graph
    with pytest.raises(GraphInputError, match="one sample without its batch axis.*x\\[None\\]"):
        mlp_graph(torch.ones(6))


def test_wrong_number_of_inputs(mlp_graph):
    with pytest.raises(GraphInputError, match=r"takes 1 input\(s\) \(x\), got 2"):
        mlp_graph(torch.randn(2, 6), torch.randn(2, 6))


def test_input_errors_on_imported_zoo_net():
    module, x = make("seq_conv")
    graph = neon.from_torch(module, x[:1])
    with torch.no_grad():
        torch.testing.assert_close(graph(x[:, :, :33]), module(x[:, :, :33]))
    with pytest.raises(GraphInputError, match="expected 4 channels, got 3"):
        graph(x[:, :3])


class _KeywordCall(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.soft = nn.LogSoftmax(dim=1)
        self.flat = nn.Flatten()

    def forward(self, x):
        return self.soft(input=self.flat(input=self.fc(input=x)))


class _NameClash(nn.Module):
    def __init__(self):
        super().__init__()
        self.x = nn.Linear(3, 3)
        self.out = nn.Linear(3, 2)

    def forward(self, x):
        return self.out(self.x(x))


@pytest.mark.parametrize("cls", [_KeywordCall, _NameClash])
def test_keyword_inputs_and_name_clashes_import_exactly(cls):
    torch.manual_seed(0)
    model = cls().eval()
    x = torch.randn(4, 3)
    graph = neon.from_torch(model, x[:1])
    torch.testing.assert_close(graph(x), model(x))
    assert len(set(graph.input_names) | {n.name for n in graph.nodes}) == len(graph) + 1
