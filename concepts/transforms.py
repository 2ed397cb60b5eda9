"""Random transforms for robust activation maximization (images only).

Each step, :func:`concepts.maximize` evaluates the objective at t(x), a random composition of
the transforms given, drawn from the call's seeded generator, so the prototype must excite
the model under small shifts, scalings and rotations; this removes much of the
high-frequency noise of plain ascent (Mordvintsev et al. 2015; Olah et al. 2017).

========================================  =================================================
:class:`Pad` ``(n, mode, value)``          enlarge the canvas by n pixels per side
:class:`Jitter` ``(n)``                   shift by a random (dy, dx) ∈ {−n … n}² per sample
                                          (borders reflected; size kept)
:class:`Scale` ``(factors)``              resize by a factor drawn from ``factors`` (size
                                          kept: centre crop or replicated border)
:class:`Rotate` ``(degrees)``             rotate by an angle drawn per sample (uniform in
                                          [−d, d], or from a list; reflected borders)
========================================  =================================================

The graph has fixed input sizes, so the composition ends with a centre crop back to the
input's (H, W): only :class:`Pad` changes the size, and the transforms after it see the
larger canvas (Lucid's ``pad → jitter → scale → rotate`` order, then the crop).

References
----------
Mordvintsev, Olah, Tyka, "Inceptionism: going deeper into neural networks", Google Research
blog, 2015; Olah, Mordvintsev, Schubert, "Feature visualization", Distill 2017.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F

from lrp.rules.base import check_choice, check_number

__all__ = ["Transform", "Pad", "Jitter", "Scale", "Rotate", "compose"]


class Transform:
    """Base: ``apply(x, generator)`` for a batch x (N, C, H, W)."""

    def apply(self, x: torch.Tensor, generator) -> torch.Tensor:
        raise NotImplementedError


def _draw_int(low: int, high: int, n: int, generator) -> list:
    return torch.randint(low, high + 1, (n,), generator=generator).tolist()


class Pad(Transform):
    """Pad every side by ``n`` pixels.

    Parameters
    ----------
    n : int
        Pixels per side (≥ 0).
    mode : {"constant", "reflect", "replicate"}
    value : float
        The fill of ``mode="constant"`` (e.g. the box's mid-grey).
    """

    MODES = ("constant", "reflect", "replicate")

    def __init__(self, n, mode="constant", value=0.0):
        self.n = check_number(n, "Pad n", integer=True)
        self.mode = check_choice(mode, "Pad mode", self.MODES)
        self.value = check_number(value, "Pad value", minimum=-math.inf)

    def apply(self, x, generator):
        if self.n == 0:
            return x
        if self.mode == "reflect" and self.n >= min(x.shape[-2:]):
            raise ValueError(f"Pad(n={self.n}, mode='reflect') needs n smaller than the image "
                             f"({x.shape[-2]}×{x.shape[-1]}); use mode='replicate'")
        pad = (self.n,) * 4
        if self.mode == "constant":
            return F.pad(x, pad, mode="constant", value=self.value)
        return F.pad(x, pad, mode=self.mode)

    def __repr__(self):
        return f"Pad({self.n}, mode={self.mode!r}, value={self.value:g})"


class Jitter(Transform):
    """Shift each sample by a random (dy, dx), each uniform in {−n, …, n}; the image keeps its
    size, and what enters at a border is reflected."""

    def __init__(self, n):
        self.n = check_number(n, "Jitter n", integer=True)

    def apply(self, x, generator):
        n = self.n
        if n == 0:
            return x
        h, w = x.shape[-2:]
        if n >= min(h, w):
            raise ValueError(f"Jitter({n}) needs shifts smaller than the image ({h}×{w})")
        padded = F.pad(x, (n, n, n, n), mode="reflect")
        dy = _draw_int(-n, n, x.shape[0], generator)
        dx = _draw_int(-n, n, x.shape[0], generator)
        return torch.stack([padded[i, :, n + a:n + a + h, n + b:n + b + w]
                            for i, (a, b) in enumerate(zip(dy, dx))])

    def __repr__(self):
        return f"Jitter({self.n})"


def _centre(x, h, w, mode="replicate"):
    """x cropped (or padded) around its centre to (h, w)."""
    hh, ww = x.shape[-2:]
    if hh < h or ww < w:
        top, left = max(0, h - hh), max(0, w - ww)
        x = F.pad(x, (left // 2, left - left // 2, top // 2, top - top // 2), mode=mode)
        hh, ww = x.shape[-2:]
    i, j = (hh - h) // 2, (ww - w) // 2
    return x[..., i:i + h, j:j + w]


class Scale(Transform):
    """Resize by a factor drawn (once per step) from ``factors`` with bilinear
    interpolation, then crop (or pad with replicated borders) back to the size it had.

    Parameters
    ----------
    factors : sequence of float
        Positive factors, e.g. ``(0.9, 0.95, 1.0, 1.05, 1.1)``.
    """

    def __init__(self, factors):
        if isinstance(factors, numbers.Real) and not isinstance(factors, bool):
            factors = (factors,)
        if isinstance(factors, (str, bytes)) or not hasattr(factors, "__iter__"):
            raise TypeError(f"Scale factors must be a sequence of positive numbers, got "
                            f"{factors!r}")
        factors = tuple(check_number(f, "Scale factor", strict=True) for f in factors)
        if not factors:
            raise ValueError("Scale factors is empty; give at least one factor")
        self.factors = factors

    def apply(self, x, generator):
        k = int(torch.randint(len(self.factors), (1,), generator=generator))
        f = self.factors[k]
        if f == 1.0:
            return x
        h, w = x.shape[-2:]
        size = (max(1, int(round(h * f))), max(1, int(round(w * f))))
        y = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return _centre(y, h, w)

    def __repr__(self):
        return f"Scale({self.factors!r})"


class Rotate(Transform):
    """Rotate each sample about its centre by an angle drawn per sample: uniform in [−d, d]
    for a number d, or from a list of angles (degrees). Bilinear sampling, reflected borders,
    size kept.
    """

    def __init__(self, degrees):
        if isinstance(degrees, numbers.Real) and not isinstance(degrees, bool):
            self.degrees = check_number(degrees, "Rotate degrees")
            self.angles = None
        elif isinstance(degrees, (list, tuple, np.ndarray)):
            angles = tuple(check_number(a, "Rotate angle", minimum=-math.inf) for a in degrees)
            if not angles:
                raise ValueError("Rotate degrees is an empty list; give angles or a number d "
                                 "for a uniform angle in [-d, d]")
            self.degrees, self.angles = None, angles
        else:
            raise TypeError(f"Rotate degrees must be a number d (uniform in [-d, d]) or a list "
                            f"of angles, got {degrees!r}")

    def apply(self, x, generator):
        n = x.shape[0]
        if self.angles is None:
            if self.degrees == 0:
                return x
            a = (torch.rand(n, generator=generator, dtype=torch.float64) * 2 - 1) * self.degrees
        else:
            k = torch.randint(len(self.angles), (n,), generator=generator)
            a = torch.tensor(self.angles, dtype=torch.float64)[k]
        a = (a * math.pi / 180).to(device=x.device, dtype=x.dtype)
        h, w = x.shape[-2:]
        cos, sin = torch.cos(a), torch.sin(a)
        zero = torch.zeros_like(a)
        theta = torch.stack([torch.stack([cos, -sin * h / w, zero], 1),
                             torch.stack([sin * w / h, cos, zero], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection",
                             align_corners=False)

    def __repr__(self):
        what = self.degrees if self.angles is None else list(self.angles)
        return f"Rotate({what!r})"


def compose(transforms, x: torch.Tensor, generator) -> torch.Tensor:
    """The transforms applied in order to x (N, C, H, W), then the centre crop back to x's
    (H, W)."""
    if not transforms:
        return x
    h, w = x.shape[-2:]
    y = x
    for t in transforms:
        y = t.apply(y, generator)
    return _centre(y, h, w)
