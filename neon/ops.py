"""The op vocabulary of the graph IR.

Every node of a :class:`neon.Graph` holds one op: a small :class:`torch.nn.Module` with an
exact ``forward``. Tensors are buffers (moved by ``graph.to``, never trained). Each op has a
``kind`` string that rules and selectors key on, and each docstring states its math.

Affine ops (:class:`Linear`, :class:`Conv`) also expose the two primitives every
layer-wise rule is built from: :meth:`Affine.apply` (the forward with modified parameters)
and :meth:`Affine.transpose` (the transposed product, i.e. the vector-Jacobian product with
respect to the input for given weights).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Op", "Affine", "Linear", "Conv", "ElementwiseAffine", "BatchNorm",
    "Elementwise", "ReLU", "Hardtanh", "LeakyReLU", "ELU", "Tanh", "Sigmoid", "Softplus",
    "GELU", "Identity", "Power",
    "MaxPool", "AvgPool", "AdaptiveAvgPool", "Sum", "Mean",
    "Add", "Concat", "Reshape", "Flatten", "Select", "Softmax", "LogSoftmax",
]


def _tuple(value, n: int) -> tuple:
    if isinstance(value, Sequence):
        if len(value) != n:
            raise ValueError(f"expected {n} values, got {tuple(value)}")
        return tuple(value)
    return (value,) * n


class Op(nn.Module):
    """Base class of all IR ops.

    Attributes
    ----------
    kind : str
        The op kind rules and selectors match on (``"linear"``, ``"conv"``, ``"relu"``, …).
    arity : int or None
        Number of inputs (``None``: any number ≥ 1).
    """

    kind = "op"
    arity: int | None = 1

    def n_parameters(self) -> int:
        """Number of scalars held in the op's buffers."""
        return sum(b.numel() for b in self.buffers())


# ----------------------------------------------------------------------------- affine ops


class Affine(Op):
    """An affine map z = W a + b over the op's single input.

    Subclasses implement :meth:`apply` and :meth:`transpose`; rules call them with
    modified weights (ρ(W), ρ(b)) to evaluate z_k = Σ_j a_j ρ(w_jk) + ρ(b_k) and
    c_j = Σ_k ρ(w_jk) s_k without autograd.
    """

    weight: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        self.register_buffer("weight", weight.detach().clone())
        self.register_buffer("bias", None if bias is None else bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.apply(x)

    def apply(self, x, weight=None, bias="same"):
        """Evaluate the op with (optionally) replaced parameters.

        ``bias=None`` drops the bias, ``bias="same"`` keeps the op's own.
        """
        raise NotImplementedError

    def transpose(self, grad_out, input_shape, weight=None):
        """Return Wᵀ g: the gradient of ⟨g, W a⟩ with respect to a (shape ``input_shape``)."""
        raise NotImplementedError

    def _pick(self, weight, bias):
        weight = self.weight if weight is None else weight
        bias = self.bias if isinstance(bias, str) and bias == "same" else bias
        return weight, bias

    def out_channel_shape(self, ndim: int) -> tuple:
        """Shape that broadcasts a per-output-unit vector against an output of rank ``ndim``."""
        raise NotImplementedError


class Linear(Affine):
    """Dense layer z = a Wᵀ + b, W of shape (out_features, in_features)."""

    kind = "linear"

    def apply(self, x, weight=None, bias="same"):
        weight, bias = self._pick(weight, bias)
        return F.linear(x, weight, bias)

    def transpose(self, grad_out, input_shape, weight=None):
        weight = self.weight if weight is None else weight
        return grad_out @ weight

    def out_channel_shape(self, ndim):
        return (-1,)

    def extra_repr(self):
        return f"in={self.weight.shape[1]}, out={self.weight.shape[0]}"


class Conv(Affine):
    """Convolution over ``dim`` spatial axes (1, 2 or 3) with zero padding.

    z[n, k, p] = Σ_{c, q} W[k, c, q] a[n, c, stride·p + dilation·q − padding] + b[k],
    with ``groups`` splitting channels into independent blocks (depthwise: groups = C).
    """

    kind = "conv"

    def __init__(self, weight, bias, *, stride=1, padding=0, dilation=1, groups=1):
        super().__init__(weight, bias)
        self.dim = weight.dim() - 2
        if self.dim not in (1, 2, 3):
            raise ValueError("Conv supports 1, 2 or 3 spatial dims, got weight "
                             f"{tuple(weight.shape)}")
        self.stride = _tuple(stride, self.dim)
        self.padding = _tuple(padding, self.dim)
        self.dilation = _tuple(dilation, self.dim)
        self.groups = int(groups)
        self._conv = (F.conv1d, F.conv2d, F.conv3d)[self.dim - 1]

    def _params(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.groups)

    def apply(self, x, weight=None, bias="same"):
        weight, bias = self._pick(weight, bias)
        return self._conv(x, weight, bias, **self._params())

    def transpose(self, grad_out, input_shape, weight=None):
        weight = self.weight if weight is None else weight
        return torch.ops.aten.convolution_backward(
            grad_out, grad_out.new_empty(input_shape), weight, None,
            list(self.stride), list(self.padding), list(self.dilation), False,
            [0] * self.dim, self.groups, [True, False, False])[0]

    def out_channel_shape(self, ndim):
        return (-1,) + (1,) * (ndim - 2)

    def extra_repr(self):
        k = tuple(self.weight.shape)
        return (f"{self.dim}d, out={k[0]}, in={k[1] * self.groups}, kernel={k[2:]}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
                f"groups={self.groups}")


class ElementwiseAffine(Op):
    """Per-channel affine map y = scale ⊙ x + shift, broadcast along ``channel_dim``."""

    kind = "elementwise_affine"

    def __init__(self, scale: torch.Tensor, shift: torch.Tensor, channel_dim: int = 1):
        super().__init__()
        self.register_buffer("scale", scale.detach().clone())
        self.register_buffer("shift", shift.detach().clone())
        self.channel_dim = channel_dim

    def _view(self, t, ndim):
        shape = [1] * ndim
        shape[self.channel_dim] = -1
        return t.reshape(shape)

    def forward(self, x):
        return x * self._view(self.scale, x.dim()) + self._view(self.shift, x.dim())

    def extra_repr(self):
        return f"channels={self.scale.numel()}"


class BatchNorm(ElementwiseAffine):
    """BatchNorm in eval mode: y = γ (x − μ) / √(σ² + eps) + β as scale ⊙ x + shift.

    Kept as its own kind so rewrites can fold it and rules can pass relevance through it.
    """

    kind = "batchnorm"


# ------------------------------------------------------------------------- elementwise ops


class Elementwise(Op):
    """Base of elementwise (monotone, shape-preserving) activations."""

    kind = "elementwise"


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


# ------------------------------------------------------------------------------ pooling ops


class MaxPool(Op):
    """Max over each window: y[p] = max_{q ∈ window(p)} x[q] (``dim`` spatial axes)."""

    kind = "maxpool"

    def __init__(self, dim, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__()
        self.dim = dim
        self.kernel_size = _tuple(kernel_size, dim)
        self.stride = _tuple(kernel_size if stride is None else stride, dim)
        self.padding = _tuple(padding, dim)
        self.dilation = _tuple(dilation, dim)
        self.ceil_mode = bool(ceil_mode)
        self._fn = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[dim - 1]

    def forward(self, x):
        return self._fn(x, self.kernel_size, self.stride, self.padding, self.dilation,
                        ceil_mode=self.ceil_mode)

    def extra_repr(self):
        return f"{self.dim}d, kernel={self.kernel_size}, stride={self.stride}"


class AvgPool(Op):
    """Mean over each window: y[p] = (1/n_p) Σ_{q ∈ window(p)} x[q] (torch's conventions)."""

    kind = "avgpool"

    def __init__(self, dim, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.dim = dim
        self.kernel_size = _tuple(kernel_size, dim)
        self.stride = _tuple(kernel_size if stride is None else stride, dim)
        self.padding = _tuple(padding, dim)
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, x):
        if self.dim == 1:
            if self.divisor_override is not None:
                raise ValueError("AvgPool1d has no divisor_override")
            return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding,
                                self.ceil_mode, self.count_include_pad)
        fn = F.avg_pool2d if self.dim == 2 else F.avg_pool3d
        return fn(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                  self.count_include_pad, self.divisor_override)

    def extra_repr(self):
        return f"{self.dim}d, kernel={self.kernel_size}, stride={self.stride}"


class AdaptiveAvgPool(Op):
    """Adaptive average pooling to ``output_size`` (bins of torch's adaptive pooling)."""

    kind = "adaptive_avgpool"

    def __init__(self, dim, output_size):
        super().__init__()
        self.dim = dim
        self.output_size = output_size
        self._fn = (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d)[dim - 1]

    def forward(self, x):
        return self._fn(x, self.output_size)

    def extra_repr(self):
        return f"{self.dim}d, output_size={self.output_size}"


class Sum(Op):
    """y = Σ over ``dims`` of x (never the batch axis)."""

    kind = "sum"

    def __init__(self, dims, keepdim=False):
        super().__init__()
        self.dims = tuple(dims)
        self.keepdim = bool(keepdim)

    def forward(self, x):
        return x.sum(self.dims, keepdim=self.keepdim)

    def extra_repr(self):
        return f"dims={self.dims}, keepdim={self.keepdim}"


class Mean(Sum):
    """y = mean over ``dims`` of x (never the batch axis)."""

    kind = "mean"

    def forward(self, x):
        return x.mean(self.dims, keepdim=self.keepdim)


# ---------------------------------------------------------------------------- structure ops


class Add(Op):
    """y = Σ_i x_i (residual connections); inputs broadcast as torch does."""

    kind = "add"
    arity = None

    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Concat(Op):
    """y = concatenation of the inputs along ``dim`` (never the batch axis)."""

    kind = "concat"
    arity = None

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, *xs):
        return torch.cat(xs, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Reshape(Op):
    """y = x reshaped to (batch, *shape); the batch axis stays symbolic."""

    kind = "reshape"

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x):
        return x.reshape((x.shape[0],) + self.shape)

    def extra_repr(self):
        return f"shape=(N, {', '.join(map(str, self.shape))})"


class Flatten(Op):
    """y = x with axes ``start_dim`` … ``end_dim`` merged (start_dim ≥ 1)."""

    kind = "flatten"

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x):
        return torch.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Select(Op):
    """y = x[:, index] for an index (ints, slices, tensors) that leaves the batch axis alone."""

    kind = "select"

    def __init__(self, index):
        super().__init__()
        self.index = index if isinstance(index, tuple) else (index,)

    def forward(self, x):
        return x[(slice(None),) + self.index]

    def extra_repr(self):
        return f"index={self.index}"


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

