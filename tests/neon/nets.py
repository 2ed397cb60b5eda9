"""A small model zoo and reference helpers for the importer tests.

Every expected value in the tests comes from the torch modules defined here (forward passes
and forward hooks), never from the code under test.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# --------------------------------------------------------------------------------- helpers


def rel_err(actual, expected) -> float:
    """Max absolute error divided by the max absolute expected value.

    Parameters
    ----------
    actual, expected : torch.Tensor
        Tensors of the same shape.

    Returns
    -------
    float
    """
    actual = torch.as_tensor(actual).detach()
    expected = torch.as_tensor(expected).detach()
    assert actual.shape == expected.shape, (tuple(actual.shape), tuple(expected.shape))
    scale = expected.abs().max().clamp_min(1e-30)
    return float((actual.double() - expected.double()).abs().max() / scale.double())


TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


@torch.no_grad()
def randomize_batchnorm(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm random running statistics and affine parameters, in place.

    running_mean ~ U(-1, 1), running_var ~ U(0.5, 2), weight ~ U(0.5, 1.5), bias ~ U(-0.5, 0.5):
    far from the identity that default initialization gives, so a folding bug shows.

    Parameters
    ----------
    module : torch.nn.Module
    seed : int

    Returns
    -------
    torch.nn.Module
        ``module`` itself.
    """
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features

            def uniform(low, high, n=n):
                return torch.rand(n, generator=gen, dtype=torch.float64) * (high - low) + low

            m.running_mean.copy_(uniform(-1.0, 1.0))
            m.running_var.copy_(uniform(0.5, 2.0))
            if m.weight is not None:
                m.weight.copy_(uniform(0.5, 1.5))
                m.bias.copy_(uniform(-0.5, 0.5))
    return module


def leaf_modules(module: nn.Module) -> dict[str, nn.Module]:
    """The modules without children, by qualified name."""
    return {name: m for name, m in module.named_modules() if name and not list(m.children())}


@torch.no_grad()
def record(module: nn.Module, x: torch.Tensor):
    """Run ``module`` on ``x`` and record every leaf module call.

    Outputs and inputs are cloned in the hooks, because in-place ReLUs and ``+=`` overwrite
    them later in the forward.

    Parameters
    ----------
    module : torch.nn.Module
    x : torch.Tensor

    Returns
    -------
    output : torch.Tensor
    outputs, inputs : dict of str to list of torch.Tensor
        Per leaf module name, one entry per call, in call order.
    """
    outputs: dict[str, list] = {}
    inputs: dict[str, list] = {}
    handles = []
    for name, m in leaf_modules(module).items():
        def pre(mod, args, name=name):
            inputs.setdefault(name, []).append(args[0].detach().clone())

        def post(mod, args, out, name=name):
            outputs.setdefault(name, []).append(out.detach().clone())

        handles.append(m.register_forward_pre_hook(pre))
        handles.append(m.register_forward_hook(post))
    try:
        out = module(x)
    finally:
        for h in handles:
            h.remove()
    return out, outputs, inputs


def call_name(name: str, k: int) -> str:
    """The graph node name of the ``k``-th call (from 0) of the module ``name``."""
    return name if k == 0 else f"{name}:{k}"


def prepare(module: nn.Module, dtype=torch.float64, seed: int = 0) -> nn.Module:
    """Randomize BatchNorm, switch to eval mode and cast to ``dtype``."""
    randomize_batchnorm(module, seed)
    return module.eval().to(dtype)


# ------------------------------------------------------------------------------- VGG-style


class VGGStyle(nn.Module):
    """Conv-BN-ReLU stacks with max pooling, adaptive pooling and a dropout classifier."""

    def __init__(self, num_classes: int = 10):
        super().__init__()

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        self.features = nn.Sequential(*block(3, 8), *block(8, 8), nn.MaxPool2d(2),
                                      *block(8, 16), nn.MaxPool2d(2))
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(nn.Linear(64, 32), nn.ReLU(inplace=True), nn.Dropout(0.5),
                                        nn.Linear(32, num_classes))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


# ---------------------------------------------------------------------------- ResNet-style


class Bottleneck(nn.Module):
    """1x1-3x3-1x1 bottleneck with ``out += identity`` (torchvision's form)."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def residual(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.residual(x)
        out += identity
        return self.relu(out)


class BottleneckPlus(Bottleneck):
    """The same bottleneck written ``out = out + identity``."""

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.residual(x)
        out = out + identity
        return self.relu(out)


class ResNetStyle(nn.Module):
    """Stem, two stages of bottlenecks (downsampling shortcuts), global pooling, linear head."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = nn.Sequential(Bottleneck(8, 4), Bottleneck(16, 4))
        self.layer2 = nn.Sequential(BottleneckPlus(16, 8, stride=2), BottleneckPlus(32, 8))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# -------------------------------------------------------------------------- DenseNet-style


class DenseLayer(nn.Module):
    """Pre-activation BN-ReLU-Conv1x1-BN-ReLU-Conv3x3 reading the concatenated features."""

    def __init__(self, cin: int, growth: int):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, 2 * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(2 * growth)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(2 * growth, growth, 3, padding=1, bias=False)

    def forward(self, features):
        x = torch.cat(features, 1)
        x = self.conv1(self.relu1(self.norm1(x)))
        return self.conv2(self.relu2(self.norm2(x)))


class DenseStyle(nn.Module):
    """A stem, one dense block (torch.cat of all previous features), a transition, a head."""

    def __init__(self, num_classes: int = 10, growth: int = 4, layers: int = 3):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = nn.ModuleList(DenseLayer(8 + i * growth, growth) for i in range(layers))
        width = 8 + layers * growth
        self.transition = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                                        nn.Conv2d(width, 8, 1, bias=False), nn.AvgPool2d(2))
        self.norm = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        features = [self.stem(x)]
        for layer in self.block:
            features.append(layer(features))
        x = self.transition(torch.cat(features, 1))
        x = F.relu(self.norm(x))
        x = F.adaptive_avg_pool2d(x, (1, 1))
        return self.fc(torch.flatten(x, 1))


# ------------------------------------------------------------------------- MobileNet-style


class InvertedResidual(nn.Module):
    """Expand 1x1 - depthwise 3x3 (groups = channels) - project 1x1, ReLU6, optional residual."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        self.use_res = stride == 1 and cin == cout
        self.conv = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        if self.use_res:
            return x + self.conv(x)
        return self.conv(x)


class MobileStyle(nn.Module):
    """Stem, inverted residual blocks with depthwise convolutions, functional head."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8),
            nn.ReLU6(inplace=True),
            InvertedResidual(8, 8, 1, 3), InvertedResidual(8, 16, 2, 3),
            InvertedResidual(16, 16, 1, 2),
            nn.Conv2d(16, 32, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6(inplace=True))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(32, num_classes))

    def forward(self, x):
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        return self.classifier(torch.flatten(x, 1))


# --------------------------------------------------------------------------- functional MLP


class FunctionalMLP(nn.Module):
    """An MLP over 32 features that reuses ``shared``/``act`` and uses functional ops.

    Uses F.relu, torch.flatten, ``x.view(x.size(0), ...)``, operator ``+``, ``x.mean((2, 3))``
    and a BatchNorm1d after a Linear.
    """

    def __init__(self, num_classes: int = 5):
        super().__init__()
        self.fc1 = nn.Linear(32, 16)
        self.bn = nn.BatchNorm1d(16)
        self.fc2 = nn.Linear(16, 16)
        self.shared = nn.Linear(16, 16)
        self.act = nn.Tanh()
        self.head = nn.Linear(16 + 2, num_classes)
        self.skip = nn.Linear(32, num_classes, bias=False)

    def forward(self, x):
        img = x.view(x.size(0), 2, 4, 4)
        m = img.mean((2, 3))
        h = F.relu(self.bn(self.fc1(torch.flatten(img, 1))))
        h = h + F.relu(self.fc2(h))
        h = self.act(self.shared(h))
        h = self.act(self.shared(h))
        return self.head(torch.cat([h, m], 1)) + self.skip(x.view(x.size(0), -1))


# ------------------------------------------------------------------------- 1-d conv network


class SeqConvNet(nn.Module):
    """Conv1d with stride, dilation and padding, BatchNorm1d, MaxPool1d, AdaptiveAvgPool1d."""

    def __init__(self, channels: int = 4, num_classes: int = 3):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(channels, 8, 5, stride=2, padding=2), nn.BatchNorm1d(8), nn.ReLU(),
            nn.Conv1d(8, 8, 3, dilation=2, padding=2), nn.BatchNorm1d(8), nn.ReLU(),
            nn.MaxPool1d(2),
            nn.Conv1d(8, 16, 3, padding=1, groups=2), nn.ReLU(),
            nn.AdaptiveAvgPool1d(4))
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        return self.fc(self.body(x).flatten(1))


# ------------------------------------------------------------------- coverage of the rest


class Conv3dNet(nn.Module):
    """Conv3d (stride, padding, dilation), BatchNorm3d, 3-d max/avg/adaptive pooling."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv3d(2, 4, 3, stride=(1, 2, 2), padding=1, dilation=(1, 1, 2)),
            nn.BatchNorm3d(4), nn.ReLU(),
            nn.MaxPool3d(2, ceil_mode=True),
            nn.Conv3d(4, 6, (1, 3, 3), padding=(0, 1, 1), groups=2),
            nn.AvgPool3d(2, stride=1, padding=1, count_include_pad=False),
            nn.AdaptiveAvgPool3d((1, 2, 2)), nn.Flatten(), nn.Linear(24, 3))

    def forward(self, x):
        return self.body(x)


class ConvVariants(nn.Module):
    """Conv2d with stride/padding/dilation/groups, padding='same'/'valid', depthwise, and
    AvgPool/MaxPool with ceil_mode and count_include_pad."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(4, 8, 3, stride=2, padding=2, dilation=2, groups=2),
            nn.LeakyReLU(0.1),
            nn.Conv2d(8, 8, 3, padding="same", dilation=2),
            nn.BatchNorm2d(8),
            nn.Conv2d(8, 8, 5, padding="same", groups=8, bias=False),
            nn.BatchNorm2d(8), nn.ReLU(),
            nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
            nn.Conv2d(8, 12, (3, 2), stride=(1, 2), padding=(1, 0), padding_mode="zeros"),
            nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
            nn.AvgPool2d(2, ceil_mode=True, count_include_pad=True),
            nn.Conv2d(12, 6, 1, padding="valid"),
            nn.Flatten(), nn.Linear(6 * 2 * 1, 4))

    def forward(self, x):
        return self.body(x)


class Activations(nn.Module):
    """Every supported elementwise module between Linear layers, with a chosen output."""

    def __init__(self, output: str = "none"):
        super().__init__()
        acts = [nn.LeakyReLU(0.2), nn.ELU(0.7), nn.Tanh(), nn.Sigmoid(),
                nn.Softplus(beta=2.0, threshold=0.5), nn.GELU(), nn.GELU("tanh"),
                nn.Hardtanh(-0.5, 0.7), nn.ReLU6()]
        layers = []
        for act in acts:
            layers += [nn.Linear(8, 8), act]
        layers += [nn.Identity(), nn.Dropout(0.3), nn.Linear(8, 8), nn.BatchNorm1d(8),
                   nn.AlphaDropout(0.1), nn.Linear(8, 6)]
        outputs = {"none": nn.Identity(), "softmax": nn.Softmax(dim=1),
                   "log_softmax": nn.LogSoftmax(dim=-1)}
        layers.append(outputs[output])
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x)


class FunctionalActivations(nn.Module):
    """The functional forms: F.* activations, pooling, dropout, sum, getitem, softmax."""

    def __init__(self, output: str = "softmax"):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.fc = nn.Linear(6 + 3, 5)
        with torch.no_grad():
            self.fc.weight.mul_(0.02)  # keep the softmax away from saturation
        self.output = output

    def forward(self, x):
        h = F.dropout(self.conv(x), p=0.4, training=self.training)
        h = F.leaky_relu(h, 0.3) + F.elu(h, alpha=0.5) + torch.tanh(h) + torch.sigmoid(h)
        h = F.softplus(h, beta=0.5) + F.gelu(h) + F.hardtanh(h, -0.3, 0.4) + F.relu6(h)
        h = F.max_pool2d(h, 2) + F.avg_pool2d(h, 2, ceil_mode=True)
        h = F.relu(h).contiguous()
        s = h[:, :3].sum((2, 3))
        z = self.fc(torch.cat([h.mean(dim=(-1, -2)), s], dim=-1))
        if self.output == "softmax":
            return F.softmax(z, dim=1)
        if self.output == "log_softmax":
            return F.log_softmax(z, dim=-1)
        return torch.softmax(z, 1)


class PlainMLP(nn.Module):
    """An MLP without BatchNorm (its parameter count is the graph's)."""

    def __init__(self, features: int = 6, hidden: int = 7, classes: int = 3):
        super().__init__()
        self.fc1 = nn.Linear(features, hidden)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x):
        return self.fc2(self.relu(self.fc1(x)))


class SmallCNN(nn.Module):
    """Conv-ReLU-MaxPool twice, adaptive pooling, linear head; takes any size >= 4."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.conv2(x)))
        return self.fc(torch.flatten(self.gap(x), 1))


class FixedSizeCNN(nn.Module):
    """Conv-ReLU-MaxPool then Flatten-Linear: only 8x8 inputs fit the linear layer."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 4 * 4, 2)

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.conv(x))).view(x.size(0), -1))


# name -> (factory, example input shape)
ZOO = {
    "vgg_style": (VGGStyle, (2, 3, 16, 16)),
    "resnet_style": (ResNetStyle, (2, 3, 16, 16)),
    "dense_style": (DenseStyle, (2, 3, 12, 12)),
    "mobile_style": (MobileStyle, (2, 3, 16, 16)),
    "functional_mlp": (FunctionalMLP, (3, 32)),
    "seq_conv": (SeqConvNet, (2, 4, 40)),
    "conv3d": (Conv3dNet, (2, 2, 6, 8, 8)),
    "conv_variants": (ConvVariants, (2, 4, 20, 20)),
    "activations": (Activations, (4, 8)),
    "activations_softmax": (lambda: Activations("softmax"), (4, 8)),
    "activations_log_softmax": (lambda: Activations("log_softmax"), (4, 8)),
    "functional_softmax": (lambda: FunctionalActivations("softmax"), (2, 3, 8, 8)),
    "functional_log_softmax": (lambda: FunctionalActivations("log_softmax"), (2, 3, 8, 8)),
    "functional_torch_softmax": (lambda: FunctionalActivations("torch"), (2, 3, 8, 8)),
}


def make(name: str, dtype=torch.float64, seed: int = 0):
    """Build zoo net ``name`` (seeded), randomized BN, eval mode, ``dtype``; and an input.

    Returns
    -------
    module : torch.nn.Module
    x : torch.Tensor
    """
    factory, shape = ZOO[name]
    torch.manual_seed(seed)
    module = prepare(factory(), dtype, seed)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed + 1),
                    dtype=torch.float64).to(dtype)
    return module, x
