"""Regularizers of activation maximization: penalties on the input, and blur steps.

:func:`concepts.maximize` maximizes  J(t(x)) − Σ_r λ_r R_r(x)  (plus any prior terms), so a
regularizer pulls the prototype toward natural-looking or small inputs. Each takes its weight
λ ≥ 0 as an argument; the penalties are sums over one sample's elements (so λ scales with the
input size):

===================================  =======================================================
:class:`L2` ``(weight, center)``     R = ‖x − c‖²  (Simonyan et al. 2014)
:class:`L1` ``(weight)``             R = ‖x‖₁
:class:`TotalVariation` ``(weight)``  R = Σ |x[c, i+1, j] − x[c, i, j]| + |x[c, i, j+1] −
                                     x[c, i, j]| (images; Mahendran & Vedaldi 2015)
:class:`AlphaNorm` ``(weight, α)``   R = ‖x‖_α^α = Σ |x_i|^α (Mahendran & Vedaldi 2015)
:class:`Blur` ``(every, sigma)``     every k steps, x ← G_σ * x, a Gaussian blur of the
                                     input (images, plain parameterization; Yosinski et al.
                                     2015)
===================================  =======================================================

References
----------
Simonyan, Vedaldi, Zisserman, "Deep inside convolutional networks", ICLR workshop 2014;
Mahendran, Vedaldi, "Understanding deep image representations by inverting them", CVPR
2015; Yosinski, Clune, Nguyen, Fuchs, Lipson, "Understanding neural networks through deep
visualization", ICML workshop 2015; Olah, Mordvintsev, Schubert, "Feature visualization",
Distill 2017.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from lrp.rules.base import check_number

__all__ = ["Regularizer", "L2", "L1", "TotalVariation", "AlphaNorm", "Blur"]


def _image_only(shape, what: str) -> None:
    if len(shape) != 3:
        raise ValueError(f"{what} is for images, one sample of shape (C, H, W); this graph's "
                         f"input has one sample of shape {tuple(shape)}")


def _array(value, what: str) -> torch.Tensor:
    """A finite real tensor from a number, an array or a tensor."""
    if isinstance(value, bool) or value is None:
        raise TypeError(f"{what} must be a number, an array or a tensor, got {value!r}")
    if hasattr(value, "to_numpy") and not isinstance(value, np.ndarray):
        value = value.to_numpy()
    if not isinstance(value, (torch.Tensor, np.ndarray, int, float, np.number, list, tuple)):
        raise TypeError(f"{what} must be a number, an array or a tensor, got "
                        f"{type(value).__name__}")
    t = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor)
                        else value.detach())
    if t.dtype == torch.bool or t.is_complex() or not (t.is_floating_point() or t.dtype in (
            torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)):
        raise TypeError(f"{what} must hold real numbers, got dtype {t.dtype}")
    t = t.double() if not t.is_floating_point() else t
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{what} contains NaN or infinite values")
    return t


def broadcast_to_sample(t: torch.Tensor, shape, what: str, dtype, device) -> torch.Tensor:
    """``t`` broadcast to one sample's ``shape`` (a ValueError naming ``what`` otherwise)."""
    t = t.to(device=device, dtype=dtype)
    try:
        return torch.broadcast_to(t, tuple(shape)).clone()
    except RuntimeError:
        raise ValueError(f"{what} has shape {tuple(t.shape)}, which does not broadcast to one "
                         f"sample's shape {tuple(shape)}") from None


class Regularizer:
    """Base: a term added to the maximized objective, ``term(x)`` = −λ R(x) per sample.

    Attributes
    ----------
    weight : float
        λ ≥ 0.
    """

    weight: float = 0.0

    def check(self, problem) -> None:
        """Refuse an input this regularizer does not apply to (``problem.shape`` is one
        sample's shape); prepare tensors for ``problem.dtype`` and ``problem.device``."""

    def penalty(self, x: torch.Tensor) -> torch.Tensor:
        """R(x), shape (N,)."""
        raise NotImplementedError

    def term(self, x: torch.Tensor):
        """The contribution to the maximized objective, −λ R(x) (N,), or None."""
        if self.weight == 0:
            return None
        return -self.weight * self.penalty(x)

    def after_step(self, x: torch.Tensor, step: int):
        """A step on the input x after optimizer step ``step`` (0-based): the new input, or
        None to leave it. Default: None."""
        return None

    def __repr__(self):
        return f"{type(self).__name__}(weight={self.weight:g})"


class L2(Regularizer):
    """λ‖x − c‖² = λ Σ_i (x_i − c_i)².

    Parameters
    ----------
    weight : float
        λ ≥ 0.
    center : number, array or tensor, optional
        c, broadcast to one sample's shape (default 0; e.g. the data mean).
    """

    def __init__(self, weight, center=None):
        self.weight = check_number(weight, "L2 weight")
        self.center = None if center is None else _array(center, "L2 center")
        self._c = None

    def check(self, problem):
        self._c = None if self.center is None else broadcast_to_sample(
            self.center, problem.shape, "L2 center", problem.dtype, problem.device)

    def penalty(self, x):
        d = x if self._c is None else x - self._c.to(x.dtype)
        return d.reshape(x.shape[0], -1).square().sum(1)

    def __repr__(self):
        c = "" if self.center is None else f", center=<{tuple(self.center.shape)}>"
        return f"L2(weight={self.weight:g}{c})"


class L1(Regularizer):
    """λ‖x‖₁ = λ Σ_i |x_i| (sparse prototypes; grows linearly, so it bounds a linear
    objective only when λ exceeds its largest slope)."""

    def __init__(self, weight):
        self.weight = check_number(weight, "L1 weight")

    def penalty(self, x):
        return x.reshape(x.shape[0], -1).abs().sum(1)


class AlphaNorm(Regularizer):
    """λ‖x‖_α^α = λ Σ_i |x_i|^α, α ≥ 1 (α = 6 by Mahendran & Vedaldi 2015: it keeps pixel
    values in a range without fixing them)."""

    def __init__(self, weight, alpha=6):
        self.weight = check_number(weight, "AlphaNorm weight")
        self.alpha = check_number(alpha, "AlphaNorm alpha", minimum=1.0)

    def penalty(self, x):
        return x.reshape(x.shape[0], -1).abs().pow(self.alpha).sum(1)

    def __repr__(self):
        return f"AlphaNorm(weight={self.weight:g}, alpha={self.alpha:g})"


class TotalVariation(Regularizer):
    """λ Σ_{c,i,j} |x[c, i+1, j] − x[c, i, j]| + |x[c, i, j+1] − x[c, i, j]|, the anisotropic
    total variation of images (one sample (C, H, W)): penalizes high-frequency patterns."""

    def __init__(self, weight):
        self.weight = check_number(weight, "TotalVariation weight")

    def check(self, problem):
        _image_only(problem.shape, "TotalVariation")

    def penalty(self, x):
        dv = (x[..., 1:, :] - x[..., :-1, :]).abs().reshape(x.shape[0], -1).sum(1)
        dh = (x[..., :, 1:] - x[..., :, :-1]).abs().reshape(x.shape[0], -1).sum(1)
        return dv + dh


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """x (N, C, H, W) convolved with a normalized Gaussian of standard deviation ``sigma``
    pixels (radius ⌈3σ⌉, replicated borders), separably along H and W."""
    radius = max(1, int(math.ceil(3 * sigma)))
    k = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (k / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    y = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    y = F.conv2d(y, k.reshape(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(y, k.reshape(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


class Blur(Regularizer):
    """Every ``every`` optimizer steps, replace the image by its Gaussian blur (σ = ``sigma``
    pixels): a cheap low-pass prior (Yosinski et al. 2015). Images and the plain
    parameterization only (the FFT parameterization already damps high frequencies).

    Parameters
    ----------
    every : int
        k ≥ 1: blur after steps k, 2k, ….
    sigma : float
        σ > 0, in pixels.
    """

    def __init__(self, every, sigma):
        self.every = check_number(every, "Blur every", minimum=1, integer=True)
        self.sigma = check_number(sigma, "Blur sigma", strict=True)
        self.weight = 0.0

    def check(self, problem):
        _image_only(problem.shape, "Blur")
        if problem.parameterization.name != "plain":
            raise ValueError("Blur steps act on the pixels of the plain parameterization; with "
                             f"parameterization={problem.parameterization.name!r} drop Blur "
                             "(the 1/f spectrum already damps high frequencies) or use "
                             "TotalVariation")

    def term(self, x):
        return None

    def after_step(self, x, step):
        if (step + 1) % self.every:
            return None
        return gaussian_blur(x, self.sigma)

    def __repr__(self):
        return f"Blur(every={self.every}, sigma={self.sigma:g})"
