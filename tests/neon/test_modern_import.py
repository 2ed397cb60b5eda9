"""The converters of today's CNNs (neon/torch_modern.py): each construct imported from a small
module reproduces it in float64, becomes the expected op kind, and keeps working on another
batch (and, where the input's size is free, another size)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import neon
from neon import GraphInputError

DT = torch.float64


def seeded(*shape, seed=0):
    return torch.randn(*shape, dtype=DT, generator=torch.Generator().manual_seed(seed))


class Lambda(nn.Module):
    """A conv (so there are parameters), then ``fn(self, x)``."""

    def __init__(self, fn, cin=3, cout=4, extra=None):
        super().__init__()
        self.extra = extra
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, cout).reshape(cout, 1, 1))
        self.norm = nn.LayerNorm(cout)
        self.fn = fn

    def forward(self, x):
        return self.fn(self, self.conv(x))


def se_gate(self, z):
    """squeeze-and-excitation: a sigmoid gate of shape (C, 1, 1) times the signal."""
    return torch.sigmoid(z.mean((2, 3), keepdim=True)) * z


def channels_last_norm(self, z):
    """ConvNeXt's LayerNorm2d: permute, layer_norm over channels, permute back."""
    y = z.permute(0, 2, 3, 1)
    y = F.layer_norm(y, (4,), self.norm.weight, self.norm.bias, 1e-6)
    return y.permute(0, 3, 1, 2)


def channel_shuffle(self, z):
    n, c, h, w = z.size()
    y = z.view(n, 2, c // 2, h, w)
    y = torch.transpose(y, 1, 2).contiguous()
    return y.view(n, -1, h, w)


def chunk_halves(self, z):
    a, b = z.chunk(2, dim=1)
    return torch.cat([F.relu(b), a * 2.0], 1)


CASES = {
    # name: (fn, expected kinds, free size)
    "silu": (lambda self, z: F.silu(z), {"silu"}, True),
    "silu-module": (lambda self, z: self.extra(z), {"silu"}, True, nn.SiLU()),
    "hardswish": (lambda self, z: F.hardswish(z), {"hardswish"}, True),
    "hardsigmoid-method": (lambda self, z: F.hardsigmoid(z) + z, {"hardsigmoid", "add"}, True),
    "se-gate": (se_gate, {"mul", "sigmoid"}, True),
    "layer-scale": (lambda self, z: self.scale * z, {"broadcast_affine"}, True),
    "constants": (lambda self, z: (z + 3.0) / 6.0 - 1.0, {"broadcast_affine"}, True),
    "neg-and-rsub": (lambda self, z: 2.0 - (-z), {"broadcast_affine"}, True),
    "product": (lambda self, z: z * F.relu(z), {"mul"}, True),
    "permute": (lambda self, z: z.permute(0, 2, 3, 1).flatten(1), {"permute"}, False),
    "transpose": (lambda self, z: torch.transpose(z, 2, 3) + z, {"permute", "add"}, False),
    "swapaxes": (lambda self, z: z.swapaxes(-1, -2), {"permute"}, True),
    "layernorm2d": (channels_last_norm, {"layer_norm", "permute"}, True),
    "layernorm-module": (lambda self, z: self.norm(z.permute(0, 2, 3, 1)), {"layer_norm"}, True),
    "groupnorm": (lambda self, z: F.group_norm(z, 2, self.norm.weight, self.norm.bias),
                  {"group_norm"}, True),
    "groupnorm-module": (lambda self, z: self.extra(z), {"group_norm"}, True,
                         nn.GroupNorm(2, 4)),
    "shuffle": (channel_shuffle, {"permute", "reshape"}, False),
    "chunk": (chunk_halves, {"select", "concat"}, True),
    "split-sizes": (lambda self, z: torch.split(z, [1, 3], 1)[1], {"select"}, True),
    "unsqueeze-expand": (lambda self, z: z.mean(1).unsqueeze(1).expand(-1, 4, -1, -1) + z,
                         {"expand", "reshape"}, False),
    "expand-as": (lambda self, z: z.mean(1, keepdim=True).expand_as(z) * z, {"expand", "mul"},
                  False),
    "pad": (lambda self, z: F.pad(z, (1, 2, 0, 1)), {"pad"}, True),
    "pad-reflect": (lambda self, z: F.pad(z, (1, 1, 2, 2), mode="reflect"), {"pad"}, True),
    "pad-module": (lambda self, z: self.extra(z), {"pad"}, True, nn.ZeroPad2d((1, 0, 2, 1))),
    "pad-replicate-module": (lambda self, z: self.extra(z), {"pad"}, True,
                             nn.ReplicationPad2d(1)),
    "roll": (lambda self, z: torch.roll(z, (1, -2), (2, 3)), {"roll"}, True),
    "nearest": (lambda self, z: F.interpolate(z, scale_factor=2.0), {"interpolate"}, True),
    "bilinear": (lambda self, z: F.interpolate(z, size=(7, 5), mode="bilinear",
                                               align_corners=False), {"interpolate"}, True),
    "upsample-module": (lambda self, z: self.extra(z), {"interpolate"}, True,
                        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_construct_reproduces_module_in_float64(name):
    fn, kinds, free, *extra = CASES[name]
    torch.manual_seed(0)
    module = Lambda(fn, extra=extra[0] if extra else None).double().eval()
    x = seeded(1, 3, 6, 6)
    graph = neon.from_torch(module, x)
    assert kinds <= {n.kind for n in graph.nodes}, {n.kind for n in graph.nodes}
    batch = seeded(3, 3, 6, 6, seed=1)
    with torch.no_grad():
        torch.testing.assert_close(graph(batch), module(batch), rtol=1e-12, atol=1e-12)
        if free:
            other = seeded(2, 3, 8, 10, seed=2)
            torch.testing.assert_close(graph(other), module(other), rtol=1e-12, atol=1e-12)


def test_gates_are_recorded():
    torch.manual_seed(0)
    graph = neon.from_torch(Lambda(se_gate).double(), seeded(1, 3, 6, 6))
    (mul,) = [n for n in graph.nodes if n.kind == "mul"]
    assert graph[mul.inputs[mul.op.gate]].kind == "sigmoid"
    graph = neon.from_torch(Lambda(lambda self, z: z * z.mean((2, 3), keepdim=True)).double(),
                            seeded(1, 3, 6, 6))
    (mul,) = [n for n in graph.nodes if n.kind == "mul"]
    assert mul.op.gate == 1   # the broadcast factor
    graph = neon.from_torch(Lambda(CASES["product"][0]).double(), seeded(1, 3, 6, 6))
    (mul,) = [n for n in graph.nodes if n.kind == "mul"]
    assert mul.op.gate is None


def test_size_read_from_the_input_pins_the_input_shape():
    """F.interpolate(z, size=x.shape[-2:]) (segmentation heads) is exact at the example's
    size; another size is refused instead of being resampled to the example's."""

    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 3, stride=2, padding=1)

        def forward(self, x):
            return F.interpolate(self.conv(x), size=x.shape[-2:], mode="bilinear",
                                 align_corners=False)

    module = Head().double().eval()
    graph = neon.from_torch(module, seeded(1, 3, 8, 8))
    assert graph.input_specs[0].shape == (3, 8, 8)
    x = seeded(2, 3, 8, 8, seed=3)
    with torch.no_grad():
        torch.testing.assert_close(graph(x), module(x), rtol=1e-12, atol=1e-12)
    with pytest.raises(GraphInputError):
        graph(seeded(1, 3, 10, 10))


def test_stochastic_depth_is_the_identity_in_eval():
    from torchvision.ops import StochasticDepth

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)
            self.drop = StochasticDepth(0.5, "row")

        def forward(self, x):
            return x + self.drop(self.conv(x))

    module = Block().double()
    graph = neon.from_torch(module, seeded(1, 3, 5, 5))
    x = seeded(4, 3, 5, 5, seed=4)
    with torch.no_grad():
        torch.testing.assert_close(graph(x), module.eval()(x), rtol=1e-12, atol=1e-12)


def test_a_conv3d_subclass_imports_through_the_class_hierarchy():
    """torchvision's video Conv3DSimple subclasses nn.Conv3d and keeps its forward."""
    from torchvision.models.video.resnet import Conv3DSimple

    module = nn.Sequential(Conv3DSimple(3, 4), nn.ReLU()).double().eval()
    x = seeded(2, 3, 4, 6, 6)
    graph = neon.from_torch(module, x)
    assert graph["0"].kind == "conv"
    with torch.no_grad():
        torch.testing.assert_close(graph(x), module(x), rtol=1e-12, atol=1e-12)


def test_segmentation_head_imports():
    """LR-ASPP: Hardswish, squeeze-and-excitation gates and bilinear upsampling to the
    input's size, reproduced in float64."""
    from tests.test_torchvision_coverage import _other

    wrapped, _ = _other("lraspp_mobilenet_v3_large")
    wrapped = wrapped.double()
    x = seeded(1, 3, 32, 32)
    graph = neon.from_torch(wrapped, x)
    kinds = {n.kind for n in graph.nodes}
    assert {"interpolate", "hardswish", "mul"} <= kinds
    with torch.no_grad():
        torch.testing.assert_close(graph(x), wrapped(x), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("op", [
    neon.ops.LayerNorm((6,), seeded(6, seed=5), seeded(6, seed=6)),
    neon.ops.LayerNorm((4, 6)),
    neon.ops.GroupNorm(2, seeded(4, seed=7), seeded(4, seed=8)),
    neon.ops.GroupNorm(4),
], ids=["layer_norm", "layer_norm-2d", "group_norm", "group_norm-per-channel"])
def test_frozen_transpose_closed_form_equals_autograd(op):
    """The closed forms r ⊙ (γg − mean(γg)) against the generic vector-Jacobian product of
    the map with r held constant."""
    op = op.double()
    x, g = seeded(3, 4, 5, 6, seed=9), seeded(3, 4, 5, 6, seed=10)
    generic = neon.ops.Normalization.transpose_frozen(op, x, g)
    torch.testing.assert_close(op.transpose_frozen(x, g), generic, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op", [
    neon.ops.LayerNorm((6,), seeded(6, seed=5), seeded(6, seed=6), eps=1e-6),
    neon.ops.GroupNorm(2, seeded(4, seed=7), seeded(4, seed=8)),
], ids=["layer_norm", "group_norm"])
def test_fused_forward_equals_the_two_parts(op):
    """forward (torch's fused kernel) = normalize at statistics, the parts the rules use."""
    op = op.double()
    x = seeded(3, 4, 5, 6, seed=11) * 3 + 1
    torch.testing.assert_close(op(x), op.normalize(x, *op.statistics(x)), rtol=1e-12,
                               atol=1e-12)
