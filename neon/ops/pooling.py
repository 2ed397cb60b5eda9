"""Pooling, reductions and resampling: max and average pooling, sums and means over axes,
nearest and (bi/tri)linear interpolation.

Average pooling, sums, means and interpolation are :class:`~neon.ops.Summation` ops (fixed
non-negative weights); max pooling is its own category.
"""

from __future__ import annotations

import torch.nn.functional as F

from .base import Op, Summation, as_tuple

__all__ = ["MaxPool", "AvgPool", "AdaptiveAvgPool", "Sum", "Mean", "Interpolate"]


class MaxPool(Op):
    """Max over each window: y[p] = max_{q ∈ window(p)} x[q] (``dim`` spatial axes)."""

    kind = "maxpool"

    def __init__(self, dim, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__()
        self.dim = dim
        self.kernel_size = as_tuple(kernel_size, dim)
        self.stride = as_tuple(kernel_size if stride is None else stride, dim)
        self.padding = as_tuple(padding, dim)
        self.dilation = as_tuple(dilation, dim)
        self.ceil_mode = bool(ceil_mode)
        self._fn = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[dim - 1]

    def forward(self, x):
        return self._fn(x, self.kernel_size, self.stride, self.padding, self.dilation,
                        ceil_mode=self.ceil_mode)

    def extra_repr(self):
        return f"{self.dim}d, kernel={self.kernel_size}, stride={self.stride}"


class AvgPool(Summation):
    """Mean over each window: y[p] = (1/n_p) Σ_{q ∈ window(p)} x[q] (torch's conventions)."""

    kind = "avgpool"

    def __init__(self, dim, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.dim = dim
        self.kernel_size = as_tuple(kernel_size, dim)
        self.stride = as_tuple(kernel_size if stride is None else stride, dim)
        self.padding = as_tuple(padding, dim)
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


class AdaptiveAvgPool(Summation):
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


class Sum(Summation):
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


_INTERPOLATION = ("nearest", "nearest-exact", "linear", "bilinear", "trilinear")


class Interpolate(Summation):
    """Resampling by ``F.interpolate``: y[p] = Σ_q c_pq x[q] with fixed weights c ≥ 0.

    Nearest modes copy one input value to each output; the linear modes (``linear``,
    ``bilinear``, ``trilinear``, with ``align_corners`` as torch) mix the neighbours with
    convex weights. Either ``size`` (the output's spatial size) or ``scale_factor`` is kept as
    given, so the op resamples inputs of other sizes as the module would. Bicubic and area
    modes are not Summation ops (bicubic weights can be negative) and are refused at import.
    """

    kind = "interpolate"

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None):
        super().__init__()
        if mode not in _INTERPOLATION:
            raise ValueError(f"interpolation mode must be one of {_INTERPOLATION}, got {mode!r}")
        if (size is None) == (scale_factor is None):
            raise ValueError("give exactly one of size and scale_factor")
        self.size, self.scale_factor = size, scale_factor
        self.mode, self.align_corners = mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x):
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                             self.recompute_scale_factor)

    def extra_repr(self):
        how = f"size={self.size}" if self.size is not None else f"scale={self.scale_factor}"
        return f"{how}, mode={self.mode!r}"
