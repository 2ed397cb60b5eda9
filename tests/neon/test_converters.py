"""User converters (``neon.register_converter``), converters found through the class hierarchy,
subclasses that override ``forward``, and bare leaf modules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import lrp
import neon
from neon import ops
from neon import torch_import as ti

DT = torch.float64


@pytest.fixture
def registry():
    """Restores the converter tables after the test, whatever it registered."""
    saved = {name: dict(getattr(ti, name)) for name in ("_MODULES", "_FUNCTIONS", "_METHODS")}
    yield
    for name, before in saved.items():
        table = getattr(ti, name)
        for key in [k for k in table if k not in before]:
            table.pop(key)
        table.update(before)


def seeded(*shape, seed=0):
    return torch.randn(*shape, dtype=DT, generator=torch.Generator().manual_seed(seed))


class Scale(nn.Module):
    """A user module: y = x ⊙ s with a learnable per-feature vector s."""

    def __init__(self, s):
        super().__init__()
        self.s = nn.Parameter(s)

    def forward(self, x):
        return x * self.s


class Erf(ops.Elementwise):
    """y = erf(x); no ``kind`` of its own, so it is explained like any elementwise op."""

    def forward(self, x):
        return torch.erf(x)


def _register_scale():
    @neon.register_converter(Scale)
    def convert(module, call):
        assert isinstance(call, ti.Call) and len(call.tensors) == 1
        return ops.ElementwiseAffine(module.s.detach(), torch.zeros_like(module.s))
    return convert


# ------------------------------------------------------------------------ user converters

def test_registered_module_converter_reproduces_and_explains(registry):
    returned = _register_scale()
    assert callable(returned)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), Scale(torch.rand(6, dtype=DT) + 0.5), nn.ReLU(),
                        nn.Linear(6, 3)).double().eval()
    x = seeded(5, 4, seed=1)
    graph = neon.from_torch(net, x)
    assert isinstance(graph["1"].op, ops.ElementwiseAffine)
    torch.testing.assert_close(graph(x), net(x), rtol=1e-13, atol=1e-13)

    # ε-LRP by hand (numpy): Linear ε, the scale and the ReLU pass relevance through
    R = lrp.explain(graph, x)
    W1, b1 = net[0].weight.detach().numpy(), net[0].bias.detach().numpy()
    s = net[1].s.detach().numpy()
    W2, b2 = net[3].weight.detach().numpy(), net[3].bias.detach().numpy()
    a0 = x.numpy()
    z1 = a0 @ W1.T + b1
    a2 = np.maximum(z1 * s, 0)
    z3 = a2 @ W2.T + b2
    mask = np.eye(3)[z3.argmax(1)]
    eps = 1e-6

    def back(a, W, z, r):
        return a * ((r / (z + eps * np.where(z >= 0, 1.0, -1.0))) @ W)

    r2 = back(a2, W2, z3, z3 * mask)
    r0 = back(a0, W1, z1, r2)          # R(scale output) = R(scale input): pass-through
    np.testing.assert_allclose(R.numpy(), r0, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("target", [torch.erf, "erf"], ids=["function", "method"])
def test_registered_function_and_method_converters(registry, target):
    calls = []

    @neon.register_converter(target)
    def convert(call):
        calls.append(call)
        return Erf()

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 4)

        def forward(self, x):
            h = self.fc(x)
            return torch.erf(h) if target is torch.erf else h.erf()

    torch.manual_seed(0)
    net = Net().double()
    x = seeded(3, 3, seed=2)
    graph = neon.from_torch(net, x)
    assert calls and isinstance(calls[0].output, torch.Tensor)
    assert [type(n.op) for n in graph.nodes] == [ops.Linear, Erf]
    torch.testing.assert_close(graph(x), torch.erf(x @ net.fc.weight.T + net.fc.bias),
                               rtol=1e-13, atol=1e-13)
    R = lrp.explain(graph, x)
    assert R.shape == x.shape and torch.isfinite(R).all()


def test_converter_returning_a_non_op_is_refused(registry):
    @neon.register_converter(Scale)
    def convert(module, call):
        return nn.Identity()

    net = nn.Sequential(nn.Linear(2, 2), Scale(torch.ones(2))).double()
    with pytest.raises(neon.UnsupportedOpError, match="returned Identity, not a neon.ops.Op"):
        neon.from_torch(net, seeded(2, 2))

    @neon.register_converter(torch.erf)
    def convert_fn(call):
        return torch.erf

    class Net(nn.Module):
        def forward(self, x):
            return torch.erf(x)

    with pytest.raises(neon.UnsupportedOpError, match="not a neon.ops.Op"):
        neon.from_torch(Net(), seeded(2, 2))


@pytest.mark.parametrize("target", [42, None, 3.5], ids=["int", "None", "float"])
def test_register_converter_refuses_a_non_target(registry, target):
    with pytest.raises(TypeError, match="module class, a function or a method name"):
        neon.register_converter(target)


def test_cleanup_leaves_tables_as_they_were():
    assert Scale not in ti._MODULES
    assert torch.erf not in ti._FUNCTIONS and "erf" not in ti._METHODS


# ------------------------------------------------------------------ the class hierarchy

class PlainLinear(nn.Linear):
    pass


class PlainConv(nn.Conv2d):
    """A subclass with extra state but the parent's forward."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.note = "mine"


class PlainReLU(nn.ReLU):
    pass


def test_subclasses_that_keep_forward_import_like_their_parent():
    torch.manual_seed(0)
    net = nn.Sequential(PlainConv(2, 3, 3, padding=1), PlainReLU(), nn.Flatten(),
                        PlainLinear(3 * 5 * 5, 4)).double().eval()
    x = seeded(2, 2, 5, 5, seed=3)
    graph = neon.from_torch(net, x)
    assert [type(n.op) for n in graph.nodes] == [ops.Conv, ops.ReLU, ops.Flatten, ops.Linear]
    torch.testing.assert_close(graph(x), net(x), rtol=1e-13, atol=1e-13)
    assert graph.lint() is graph


class Doubled(nn.Linear):
    def forward(self, x):
        return super().forward(x) * 2


class Shifted(nn.Linear):
    def forward(self, x):
        return F.linear(x, self.weight) + 1


class Renamed(nn.ReLU):
    """Overrides forward with something that is not a ReLU at all."""

    def forward(self, x):
        return torch.tanh(x)


@pytest.mark.parametrize("cls", [Doubled, Shifted, Renamed])
def test_subclass_overriding_forward_is_not_converted_as_its_parent(cls):
    torch.manual_seed(0)
    inner = cls() if cls is Renamed else cls(3, 2)
    net = nn.Sequential(nn.Linear(3, 3), inner).double().eval()
    x = seeded(4, 3, seed=4)
    try:
        graph = neon.from_torch(net, x)
    except neon.UnsupportedOpError:
        return   # refused, naming what it cannot import: fine
    torch.testing.assert_close(graph(x), net(x), rtol=1e-13, atol=1e-13)


def test_renamed_relu_is_traced_through():
    net = nn.Sequential(nn.Linear(3, 3), Renamed()).double()
    x = seeded(4, 3, seed=5)
    graph = neon.from_torch(net, x)
    assert [type(n.op) for n in graph.nodes] == [ops.Linear, ops.Tanh]
    torch.testing.assert_close(graph(x), net(x), rtol=1e-13, atol=1e-13)


class Fused(nn.Linear):
    def forward(self, x):
        return torch.addmm(self.bias, x, self.weight.t())


def test_overriding_linear_subclass_is_imported_from_its_own_code():
    """``super().forward(x) * 2`` is traced: F.linear on the module's weights, then the
    scale — the module's own function, not the parent's plain Linear."""
    for net in (nn.Sequential(Doubled(3, 2)).double(), Doubled(3, 2).double()):
        x = seeded(2, 3)
        graph = neon.from_torch(net, x)
        assert [type(n.op) for n in graph.nodes] == [ops.Linear, ops.BroadcastAffine]
        torch.testing.assert_close(graph(x), net(x), rtol=1e-13, atol=1e-13)


def test_overriding_linear_subclass_with_an_unknown_call_is_refused_naming_where():
    """Its forward reads ``self.weight`` in a call the importer does not know: refused,
    naming the module and saying that it overrides forward."""
    for net in (nn.Sequential(Fused(3, 2)).double(), Fused(3, 2).double()):
        with pytest.raises(neon.UnsupportedOpError, match="in module") as info:
            neon.from_torch(net, seeded(2, 3))
        assert "overrides forward" in str(info.value)


@pytest.mark.parametrize("make,shape", [
    (lambda: nn.Linear(5, 2), (3, 5)),
    (lambda: PlainLinear(5, 2), (3, 5)),
    (lambda: nn.Conv1d(2, 3, 3, padding=1), (2, 2, 7)),
    (lambda: nn.ReLU(), (3, 4)),
], ids=["Linear", "PlainLinear", "Conv1d", "ReLU"])
def test_bare_leaf_module_imports(make, shape):
    torch.manual_seed(0)
    module = make().double()
    x = seeded(*shape, seed=6)
    graph = neon.from_torch(module, x)
    assert len(graph) == 1
    torch.testing.assert_close(graph(x), module(x), rtol=1e-13, atol=1e-13)
    assert graph.source == type(module).__name__
    assert graph.lint() is graph


def test_bare_linear_is_explained():
    torch.manual_seed(0)
    module = nn.Linear(5, 2, bias=False).double()
    x = seeded(3, 5, seed=7)
    graph = neon.from_torch(module, x)
    R = lrp.explain(graph, x)
    out = module(x).detach()
    # bias-free ε-LRP conserves: Σ_j R_j equals the explained logit
    torch.testing.assert_close(R.sum(1), out.max(1).values, rtol=1e-5, atol=1e-8)
    W = module.weight.detach()
    k = out.argmax(1)
    torch.testing.assert_close(R, x * W[k] * (out.max(1).values / (out.max(1).values + 1e-6
                               * torch.where(out.max(1).values >= 0, 1.0, -1.0)))[:, None],
                               rtol=1e-10, atol=1e-12)
