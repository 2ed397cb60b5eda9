"""Affine ops: dense and convolutional layers, per-channel scale and shift.

:class:`Affine` ops (:class:`Linear`, :class:`Conv`) expose the two primitives every
layer-wise rule is built from: :meth:`Affine.forward_with` (the forward with modified
parameters, z = ρ(W) m(a) + ρ(b)) and :meth:`Affine.transpose` (the transposed product
c = ρ(W)ᵀ s, the vector-Jacobian product with respect to the input for given weights).
Both are plain torch calls, differentiable and autograd-safe.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Elementwise, Op, as_tuple

__all__ = ["Affine", "Linear", "ReferencedLinear", "Conv", "ElementwiseAffine", "BatchNorm",
           "BroadcastAffine"]


class Affine(Op):
    """An affine map z = W a + b over the op's single input.

    Subclasses implement :meth:`forward_with` and :meth:`transpose`; rules call them with
    modified weights (ρ(W), ρ(b)) to evaluate z_k = Σ_j a_j ρ(w_jk) + ρ(b_k) and
    c_j = Σ_k ρ(w_jk) s_k without autograd.
    """

    kind = "affine"
    weight: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        self.register_buffer("weight", weight.detach().clone())
        self.register_buffer("bias", None if bias is None else bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with(x)

    def forward_with(self, x, weight=None, bias="same"):
        """Evaluate the op with (optionally) replaced parameters: z = ρ(W) x + ρ(b).

        ``weight=None`` keeps the op's own weight; ``bias=None`` drops the bias,
        ``bias="same"`` keeps the op's own.
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

    def forward_with(self, x, weight=None, bias="same"):
        weight, bias = self._pick(weight, bias)
        return F.linear(x, weight, bias)

    def transpose(self, grad_out, input_shape, weight=None):
        weight = self.weight if weight is None else weight
        return grad_out @ weight

    def out_channel_shape(self, ndim):
        return (-1,)

    def extra_repr(self):
        return f"in={self.weight.shape[1]}, out={self.weight.shape[0]}"


_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
                "identity": lambda z: z}


class ReferencedLinear(Linear):
    """A dense layer z = a Wᵀ + b that knows its input at a reference point and the activation
    that follows it: the layer of a network explained relative to a reference input
    (DeepLIFT; Shrikumar et al., ICML 2017).

    The forward is the plain dense layer. ``reference`` is the layer's input ā when the
    network reads the reference input (the data mean), ``activation`` the elementwise g of
    the next node ("relu", "tanh", "sigmoid", or "identity" where none follows), so the rules
    of :mod:`lrp.rules.reference` can evaluate y = g(z) and ȳ = g(z̄) with z̄ = ā Wᵀ + b.
    ``top``: the layer computes the explained output; its rule turns relevance of the value
    f(x) into relevance of the difference f(x) − f(reference) (the reference's share is
    absorbed, as a bias's).
    """

    kind = "referenced_linear"

    def __init__(self, weight, bias, reference, activation: str = "identity",
                 top: bool = False):
        super().__init__(weight, bias)
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, "
                             f"got {activation!r}")
        self.register_buffer("reference", torch.as_tensor(reference).detach().clone()
                             .to(self.weight.dtype))
        self.activation, self.top = activation, bool(top)

    def activate(self, z):
        """g(z), the activation that follows the layer."""
        return _ACTIVATIONS[self.activation](z)

    def extra_repr(self):
        return f"{super().extra_repr()}, then {self.activation}" + (", top" if self.top else "")


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
        self.stride = as_tuple(stride, self.dim)
        self.padding = as_tuple(padding, self.dim)
        self.dilation = as_tuple(dilation, self.dim)
        self.groups = int(groups)
        self._conv = (F.conv1d, F.conv2d, F.conv3d)[self.dim - 1]

    def _params(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation,
                    groups=self.groups)

    def forward_with(self, x, weight=None, bias="same"):
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


class ElementwiseAffine(Elementwise):
    """Per-channel affine map y = scale ⊙ x + shift, broadcast along ``channel_dim``.

    ``channel_dim=None``: ``scale`` and ``shift`` broadcast against the sample as torch
    broadcasts them (aligned to the trailing axes; scalars allowed). Default rule: relevance
    passes through (a scaler's relevance is relative to its offset, docs/neon.md).
    """

    kind = "elementwise_affine"

    def __init__(self, scale: torch.Tensor, shift: torch.Tensor, channel_dim: int | None = 1):
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale).detach().clone())
        self.register_buffer("shift", torch.as_tensor(shift).detach().clone())
        self.channel_dim = channel_dim

    def _view(self, t, ndim):
        if self.channel_dim is None:
            return t
        shape = [1] * ndim
        shape[self.channel_dim] = -1
        return t.reshape(shape)

    def parts(self, x):
        """(scale, shift) shaped to broadcast against ``x``."""
        return self._view(self.scale, x.dim()), self._view(self.shift, x.dim())

    def forward(self, x):
        scale, shift = self.parts(x)
        return x * scale + shift

    def extra_repr(self):
        return f"channels={self.scale.numel()}"


class BatchNorm(ElementwiseAffine):
    """BatchNorm in eval mode: y = γ (x − μ) / √(σ² + eps) + β as scale ⊙ x + shift.

    Kept as its own kind so rewrites can fold it. One that cannot be folded (after a
    concatenation, a sum, or the input) gets the ε rule over its affine map by default
    (:class:`lrp.rules.ElementwiseEpsilon`; the shift absorbs its share).
    """

    kind = "batchnorm"


class BroadcastAffine(ElementwiseAffine):
    """Arithmetic with constant tensors: y = x ⊙ scale + shift, both broadcast as torch does
    (``x * layer_scale``, ``x / 6``, ``x + 3``, ``-x``; constants hold no batch axis).

    Its default rule is the ε rule over the affine map (the shift absorbs its share), as for
    a BatchNorm: passing y-sized relevance to a layer that divides by x would explode.
    """

    kind = "broadcast_affine"

    def __init__(self, scale, shift):
        super().__init__(scale, shift, channel_dim=None)

    def extra_repr(self):
        return f"scale={tuple(self.scale.shape)}, shift={tuple(self.shift.shape)}"
