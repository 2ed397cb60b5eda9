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

__all__ = ["Affine", "Linear", "ReferencedMLP", "Conv", "ElementwiseAffine",
           "BatchNorm", "BroadcastAffine"]


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


class ReferencedMLP(Op):
    """A chain of dense layers a_l = g_l(a_{l−1} W_lᵀ + b_l) in one op, with the chain's input
    at a reference point: the network DeepLIFT's RevealCancel explains whole (Shrikumar et
    al., ICML 2017), carrying every unit's positive and negative change from the reference
    forward through the chain, which rules on separate layers cannot see.

    Parameters
    ----------
    weights, biases : lists of tensors
        W_l of shape (out_l, in_l) and b_l of shape (out_l,).
    activations : list of str
        g_l per layer: "relu", "tanh", "sigmoid" or "identity" (the last is the output's).
    reference : tensor of shape (in_1,)
        The chain's input at the reference point (the data mean).
    """

    kind = "referenced_mlp"

    def __init__(self, weights, biases, activations, reference):
        super().__init__()
        if not len(weights) == len(biases) == len(activations) >= 1:
            raise ValueError("give one weight, bias and activation per layer")
        for a in activations:
            if a not in _ACTIVATIONS:
                raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {a!r}")
        self.n_layers = len(weights)
        for i, (w, b) in enumerate(zip(weights, biases)):
            self.register_buffer(f"weight{i}", w.detach().clone())
            self.register_buffer(f"bias{i}", b.detach().clone())
        self.activations = list(activations)
        self.register_buffer("reference", torch.as_tensor(reference).detach().clone()
                             .to(weights[0].dtype))

    def layers(self):
        """(W_l, b_l, g_l) for every layer, in order."""
        return [(getattr(self, f"weight{i}"), getattr(self, f"bias{i}"),
                 _ACTIVATIONS[self.activations[i]]) for i in range(self.n_layers)]

    def forward(self, x):
        for w, b, g in self.layers():
            x = g(F.linear(x, w, b))
        return x

    def extra_repr(self):
        sizes = [self.weight0.shape[1]] + [
            getattr(self, f"weight{i}").shape[0] for i in range(self.n_layers)]
        return f"sizes={sizes}, activations={self.activations}"


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
