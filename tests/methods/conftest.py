"""Shared models for the attribution-method tests: torchvision ResNet-18 and VGG-11 (random
weights, BatchNorm statistics randomized so folding matters), a small 1-d conv net, each with
its imported graph, in float64 and float32; built once per test session (VGG-11 takes
seconds to build; every model kept is ~0.5 GB at most)."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import neon
from tests.neon.nets import randomize_batchnorm

torch.set_num_threads(1)
F64, F32 = torch.float64, torch.float32


def per_sample_rel_l2(ours, theirs) -> torch.Tensor:
    """‖a − b‖ / ‖b‖ per sample (batch axis first)."""
    a = torch.as_tensor(ours).detach().double().reshape(len(ours), -1)
    b = torch.as_tensor(theirs).detach().double().reshape(len(theirs), -1)
    return (a - b).norm(dim=1) / b.norm(dim=1).clamp_min(1e-300)


class Conv1dNet(nn.Module):
    """A small 1-d conv net: conv, ReLU, max pool, conv, ReLU, global average pool, linear."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv1d(2, 6, 5, padding=2), nn.ReLU(),
                                      nn.MaxPool1d(2), nn.Conv1d(6, 8, 3, padding=1),
                                      nn.ReLU())
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(self.pool(self.features(x)).flatten(1))


def build(name: str, dtype=F64, size: int = 32):
    """(model, graph, example batch of 3) for ``resnet18``, ``vgg11`` or ``conv1d``; images
    are ``size`` × ``size`` (the 1-d signal has length ``size``)."""
    torch.manual_seed(0)
    if name == "conv1d":
        model, shape = Conv1dNet(), (3, 2, size)
    else:
        model = getattr(torchvision.models, name)(weights=None, num_classes=10)
        randomize_batchnorm(model)
        shape = (3, 3, size, size)
    model = model.to(dtype).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    torch.manual_seed(1)
    x = torch.randn(*shape, dtype=dtype)
    graph = neon.neuralize(model, x[:1])
    return model, graph, x


_HELD: dict = {}


@pytest.fixture(scope="session")
def models():
    """``models(name, dtype, size)`` -> (model, graph, x), built once per session. Tests must
    not modify what they get (copy it first)."""

    def get(name, dtype=F64, size=32):
        key = (name, dtype, size)
        if key not in _HELD:
            _HELD[key] = build(name, dtype, size)
        return _HELD[key]

    return get
