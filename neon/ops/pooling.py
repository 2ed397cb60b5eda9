"""Pooling and reductions: max and average pooling, sums and means over axes.

Average pooling, sums and means are :class:`~neon.ops.Summation` ops (fixed non-negative
weights); max pooling is its own category.
"""

from __future__ import annotations

import torch.nn.functional as F

from .base import Op, Summation, as_tuple

__all__ = ["MaxPool", "AvgPool", "AdaptiveAvgPool", "Sum", "Mean"]


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
