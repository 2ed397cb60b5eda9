"""Normalization by a sample's own statistics: LayerNorm and GroupNorm.

y = γ ⊙ (x − μ(x)) ⊙ r(x) + β with μ the mean and r = 1/√(var + eps) the inverse standard
deviation over the normalized axes (biased variance, as torch). Every op of the
:class:`Normalization` category exposes the two parts separately — :meth:`statistics`
(μ, r) and :meth:`normalize` (the affine map given them) — so a rule can treat the scale r as
a constant while the mean subtraction, which is linear, propagates like a linear layer
(:class:`lrp.rules.FrozenScale`; Ali et al., ICML 2022).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Op

__all__ = ["Normalization", "LayerNorm", "GroupNorm", "L2Normalize"]


class Normalization(Op):
    """Category: y = γ ⊙ (x − μ(x)) ⊙ r(x) + β with per-sample statistics μ, r."""

    kind = "normalization"
    weight: torch.Tensor | None
    bias: torch.Tensor | None

    def __init__(self, weight, bias, eps: float):
        super().__init__()
        self.register_buffer("weight", None if weight is None else weight.detach().clone())
        self.register_buffer("bias", None if bias is None else bias.detach().clone())
        self.eps = float(eps)

    def statistics(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, r): the mean and inverse standard deviation, shaped to broadcast against x."""
        raise NotImplementedError

    def affine_shape(self, x) -> tuple:
        """The shape that broadcasts γ and β against ``x``."""
        raise NotImplementedError

    def normalize(self, x, mean, rstd):
        """γ ⊙ (x − mean) ⊙ rstd + β for given statistics."""
        y = (x - mean) * rstd
        if self.weight is not None:
            y = y * self.weight.reshape(self.affine_shape(x))
        if self.bias is not None:
            y = y + self.bias.reshape(self.affine_shape(x))
        return y

    def forward(self, x):
        return self.normalize(x, *self.statistics(x))

    def transpose_frozen(self, x, grad_out):
        """Jᵀ g for the map x ↦ γ ⊙ (x − μ(x)) ⊙ r + β with the inverse std r held at its
        value at ``x`` (the mean subtraction kept: it is linear). This generic form runs one
        vector-Jacobian product; subclasses give the closed form
        r ⊙ (γg − mean_group(γg))."""
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            mean, rstd = self.statistics(xg)
            (g,) = torch.autograd.grad(self.normalize(xg, mean, rstd.detach()), xg, grad_out)
        return g

    def _scaled(self, x, grad_out):
        return grad_out if self.weight is None else \
            grad_out * self.weight.reshape(self.affine_shape(x))


class LayerNorm(Normalization):
    """Normalization over the trailing axes of shape ``normalized_shape`` (``nn.LayerNorm``,
    ``F.layer_norm``; ConvNeXt's LayerNorm2d is a permute, this op, and a permute back)."""

    kind = "layer_norm"

    def __init__(self, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
        super().__init__(weight, bias, eps)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)

    def statistics(self, x):
        dims = tuple(range(x.dim() - len(self.normalized_shape), x.dim()))
        var, mean = torch.var_mean(x, dims, correction=0, keepdim=True)
        return mean, torch.rsqrt(var + self.eps)

    def affine_shape(self, x):
        return self.normalized_shape

    def forward(self, x):
        """torch's fused kernel (the same numbers as :meth:`normalize` at
        :meth:`statistics`, in one pass)."""
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def transpose_frozen(self, x, grad_out):
        dims = tuple(range(x.dim() - len(self.normalized_shape), x.dim()))
        t = self._scaled(x, grad_out)
        return (t - t.mean(dims, keepdim=True)).mul_(self.statistics(x)[1])

    def extra_repr(self):
        return f"normalized_shape={self.normalized_shape}, eps={self.eps}"


class GroupNorm(Normalization):
    """Normalization over groups of ``groups`` channels and all spatial axes (``nn.GroupNorm``,
    ``F.group_norm``); γ and β are per channel."""

    kind = "group_norm"

    def __init__(self, groups: int, weight=None, bias=None, eps: float = 1e-5):
        super().__init__(weight, bias, eps)
        self.groups = int(groups)

    def statistics(self, x):
        n, c = x.shape[:2]
        grouped = x.reshape(n, self.groups, -1)
        var, mean = torch.var_mean(grouped, -1, correction=0)
        shape = (n, c) + (1,) * (x.dim() - 2)
        per_channel = c // self.groups
        return (mean.repeat_interleave(per_channel, 1).reshape(shape),
                torch.rsqrt(var + self.eps).repeat_interleave(per_channel, 1).reshape(shape))

    def affine_shape(self, x):
        return (-1,) + (1,) * (x.dim() - 2)

    def forward(self, x):
        return F.group_norm(x, self.groups, self.weight, self.bias, self.eps)

    def transpose_frozen(self, x, grad_out):
        t = self._scaled(x, grad_out)
        grouped = t.reshape(t.shape[0], self.groups, -1)
        centred = (grouped - grouped.mean(-1, keepdim=True)).reshape(t.shape)
        return centred.mul_(self.statistics(x)[1])

    def extra_repr(self):
        return f"groups={self.groups}, eps={self.eps}"


class L2Normalize(Normalization):
    """y = x / max(‖x‖₂, eps) over the last axis (``F.normalize(x, dim=-1)``: Swin v2's
    cosine attention normalizes queries and keys so). In the category's terms μ = 0 and
    r = 1 / max(‖x‖₂, eps), with no γ or β."""

    kind = "l2_normalize"

    def __init__(self, eps: float = 1e-12):
        super().__init__(None, None, eps)

    def statistics(self, x):
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
        return torch.zeros((), dtype=x.dtype, device=x.device), 1 / norm.clamp_min(self.eps)

    def affine_shape(self, x):
        return ()

    def forward(self, x):
        return F.normalize(x, dim=-1, eps=self.eps)

    def transpose_frozen(self, x, grad_out):
        return grad_out * self.statistics(x)[1]
