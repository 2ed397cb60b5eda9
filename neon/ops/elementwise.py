"""Elementwise activations y_i = g(x_i), and the softmax family along one axis.

Every activation derives from :class:`~neon.ops.Elementwise` (default rule: relevance passes
through unchanged). ``Softmax`` and ``LogSoftmax`` normalize along an axis and are their own
category.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Elementwise, Op

__all__ = ["ReLU", "Hardtanh", "LeakyReLU", "ELU", "Tanh", "Sigmoid", "Softplus", "GELU",
           "SiLU", "Hardswish", "Hardsigmoid", "Identity", "Power", "Softmax", "LogSoftmax"]


class ReLU(Elementwise):
    """y = max(x, 0)."""

    kind = "relu"

    def forward(self, x):
        return torch.relu(x)


class Hardtanh(Elementwise):
    """y = min(max(x, low), high); ReLU6 is Hardtanh(0, 6)."""

    kind = "hardtanh"

    def __init__(self, low: float = -1.0, high: float = 1.0):
        super().__init__()
        self.low, self.high = float(low), float(high)

    def forward(self, x):
        return torch.clamp(x, self.low, self.high)

    def extra_repr(self):
        return f"low={self.low}, high={self.high}"


class LeakyReLU(Elementwise):
    """y = x for x ≥ 0, slope·x otherwise."""

    kind = "leaky_relu"

    def __init__(self, slope: float = 0.01):
        super().__init__()
        self.slope = float(slope)

    def forward(self, x):
        return F.leaky_relu(x, self.slope)

    def extra_repr(self):
        return f"slope={self.slope}"


class ELU(Elementwise):
    """y = x for x > 0, alpha·(exp(x) − 1) otherwise."""

    kind = "elu"

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x):
        return F.elu(x, self.alpha)


class Tanh(Elementwise):
    """y = tanh(x)."""

    kind = "tanh"

    def forward(self, x):
        return torch.tanh(x)


class Sigmoid(Elementwise):
    """y = 1 / (1 + exp(−x))."""

    kind = "sigmoid"

    def forward(self, x):
        return torch.sigmoid(x)


class Softplus(Elementwise):
    """y = log(1 + exp(beta·x)) / beta (linear above ``threshold``, as torch)."""

    kind = "softplus"

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = float(beta), float(threshold)

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)


class GELU(Elementwise):
    """y = x Φ(x) (``approximate="tanh"``: the tanh approximation)."""

    kind = "gelu"

    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, approximate=self.approximate)


class SiLU(Elementwise):
    """y = x σ(x) (SiLU, also called Swish; EfficientNet, RegNet)."""

    kind = "silu"

    def forward(self, x):
        return F.silu(x)


class Hardswish(Elementwise):
    """y = x · min(max(x + 3, 0), 6) / 6 (MobileNetV3)."""

    kind = "hardswish"

    def forward(self, x):
        return F.hardswish(x)


class Hardsigmoid(Elementwise):
    """y = min(max(x + 3, 0), 6) / 6 (MobileNetV3's squeeze-and-excitation gates)."""

    kind = "hardsigmoid"

    def forward(self, x):
        return F.hardsigmoid(x)


class Identity(Elementwise):
    """y = x (Identity modules, Dropout in eval, ``.contiguous()``); dropped by rewrites."""

    kind = "identity"

    def forward(self, x):
        return x


class Power(Elementwise):
    """y = x ** p, elementwise (p a positive integer for polynomial kernels)."""

    kind = "power"

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x):
        return x ** self.p

    def extra_repr(self):
        return f"p={self.p}"


class Softmax(Op):
    """y_i = exp(x_i) / Σ_k exp(x_k) along ``dim``."""

    kind = "softmax"

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return torch.softmax(x, self.dim)


class LogSoftmax(Softmax):
    """y_i = x_i − log Σ_k exp(x_k) along ``dim``."""

    kind = "log_softmax"

    def forward(self, x):
        return torch.log_softmax(x, self.dim)
