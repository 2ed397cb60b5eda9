"""How activation maximization parameterizes the input it optimizes.

``"plain"`` (:class:`Plain`)
    The optimized tensor is the input itself (pixels, features, sequence values), shifted and
    scaled to the box (x = low + (high − low) ⊙ z) or to the data's spread (x = s ⊙ z), so a
    step size means the same for features of any units. A box is enforced by projection:
    x ← clip(x, low, high) after every step.
``"fft"`` (:class:`FFT`, images (C, H, W) only)
    The input is a scaled spectrum, decorrelated across colours and (with a box) squashed into
    it (Olah et al. 2017; Mordvintsev et al. 2018):

        y = irfft2(s ⊙ z) / 4,   s(f) = 1 / max(|f|, 1/max(H, W))^decay,
        u = M y            (colour decorrelation: M the square root of the colour
                            correlation of natural images for C = 3, normalized to a largest
                            column norm of 1; the identity otherwise or if decorrelate=False),
        x = low + (high − low) · σ(u)   with a box,   x = u without one,

    with z the complex spectrum (the optimized tensor, real and imaginary parts),
    |f| = √(f_y² + f_x²) in cycles per pixel, irfft2 orthonormal. Equal steps in z are
    steps of equal energy in every frequency, weighted toward low frequencies by 1/f, which
    is the spectrum of natural images: gradient ascent then favours smooth, natural
    patterns over the high-frequency noise pixel ascent produces.

References
----------
Olah, Mordvintsev, Schubert, "Feature visualization", Distill 2017; Mordvintsev, Pezzotti,
Schubert, Olah, "Differentiable image parameterizations", Distill 2018 (and the Lucid code
they describe, whose colour matrix is used here).
"""

from __future__ import annotations

import torch

from lrp.rules.base import check_flag, check_number

__all__ = ["Parameterization", "Plain", "FFT", "COLOR_CORRELATION", "resolve"]

#: The square root of the colour correlation of natural (ImageNet) images, from Lucid.
COLOR_CORRELATION = ((0.26, 0.09, 0.02), (0.27, 0.00, -0.05), (0.27, -0.09, 0.03))

#: Margin kept from 0 and 1 when a given start is mapped through the inverse sigmoid.
_SQUASH_MARGIN = 1e-4


class Parameterization:
    """Base: x = image(p) for the optimized tensor p."""

    name = "parameterization"

    def check(self, problem) -> None:
        """Refuse inputs this parameterization does not apply to."""

    def init(self, problem, start, generator) -> torch.Tensor:
        """The initial optimized tensor: from ``start`` (N, *shape) in input space, or drawn
        (``start=None``; the plain parameterization receives a drawn start in input
        space)."""
        raise NotImplementedError

    def image(self, p: torch.Tensor, problem) -> torch.Tensor:
        """The input x (N, *shape) for the optimized tensor p (differentiable)."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class Plain(Parameterization):
    """The input in its own units, shifted and scaled: x = a + s ⊙ z.

    a = low and s = high − low with a box (so z ∈ [0, 1]), else a = 0 and s the data's
    standard deviation per element (1 without data, or where it is 0). The step size then
    means the same for every feature whatever its units (a step of lr moves a feature by
    about lr times its range or spread); a box is kept by clipping x after each step.

    One-hot groups g (:class:`concepts.OneHot`) are relaxed to the simplex by a softmax,
    x_g = softmax(z_g): Adam steps each coordinate by about the sign of its gradient, so
    with a Euclidean projection onto the simplex instead, coordinates whose gradients share
    a sign would keep their gaps and the largest weight need not win; under the softmax the
    coordinates above the current average grow and the others shrink. A start x_g is
    encoded as z_g = log(0.9 x_g + 0.1 / |g|), so a one-hot start stays reachable from the
    other categories.
    """

    name = "plain"

    def init(self, problem, start, generator):
        return self.encode(start.detach(), problem)

    def encode(self, x, problem):
        """z for inputs x (elements of zero width stay at z = 0)."""
        s = problem.units
        z = torch.where(s > 0, (x - problem.offset) / torch.where(s > 0, s, 1), 0.0)
        for g in problem.groups:
            soft = 0.9 * x[:, g].clamp(0, 1) + 0.1 / len(g)
            z = z.index_copy(1, g, torch.log(soft))
        return z

    def image(self, p, problem):
        x = torch.lerp(problem.offset, problem.upper, p)     # exact at z = 0 and z = 1
        for g in problem.groups:
            x = x.index_copy(1, g, torch.softmax(p[:, g], 1))
        return x

class FFT(Parameterization):
    """A 1/f-scaled Fourier spectrum with colour decorrelation, squashed into the box.

    Parameters
    ----------
    decorrelate : bool
        Apply the natural-image colour matrix for 3 channels (identity for other counts).
    decay : float
        The exponent of the 1/f scaling (≥ 0; 0: white spectrum).
    sd : float
        Standard deviation of the drawn initial spectrum (> 0).
    """

    name = "fft"

    def __init__(self, decorrelate=True, decay=1.0, sd=0.01):
        self.decorrelate = check_flag(decorrelate, "FFT decorrelate")
        self.decay = check_number(decay, "FFT decay")
        self.sd = check_number(sd, "FFT sd", strict=True)

    def check(self, problem):
        if len(problem.shape) != 3:
            raise ValueError(f"the fft parameterization is for images, one sample of shape "
                             f"(C, H, W); this graph's input has one sample of shape "
                             f"{tuple(problem.shape)}: use parameterization='plain'")

    def _scale(self, problem):
        _, h, w = problem.shape
        fy = torch.fft.fftfreq(h, dtype=problem.dtype, device=problem.device)[:, None]
        fx = torch.fft.rfftfreq(w, dtype=problem.dtype, device=problem.device)[None, :]
        f = torch.sqrt(fx * fx + fy * fy)
        return 1.0 / f.clamp_min(1.0 / max(h, w)) ** self.decay

    def _matrix(self, problem):
        c = problem.shape[0]
        if self.decorrelate and c == 3:
            m = torch.tensor(COLOR_CORRELATION, dtype=problem.dtype, device=problem.device)
            return m / m.norm(dim=0).max()
        return torch.eye(c, dtype=problem.dtype, device=problem.device)

    def init(self, problem, start, generator):
        _, h, w = problem.shape
        if start is None:
            shape = (problem.starts, problem.shape[0], h, w // 2 + 1, 2)
            z = torch.randn(shape, generator=generator, dtype=problem.dtype) * self.sd
            return z.to(problem.device)
        u = start.detach()
        if problem.box is not None:
            low, high = problem.box
            width = high - low
            q = torch.where(width > 0, (u - low) / torch.where(width > 0, width, 1), 0.5)
            q = q.clamp(_SQUASH_MARGIN, 1 - _SQUASH_MARGIN)
            u = torch.log(q) - torch.log1p(-q)
        m = self._matrix(problem)
        y = torch.einsum("ij,njhw->nihw", torch.linalg.inv(m), u) * 4.0
        spectrum = torch.fft.rfft2(y, norm="ortho") / self._scale(problem)
        return torch.view_as_real(spectrum).contiguous()

    def image(self, p, problem):
        _, h, w = problem.shape
        spectrum = torch.view_as_complex(p) * self._scale(problem)
        y = torch.fft.irfft2(spectrum, s=(h, w), norm="ortho") / 4.0
        u = torch.einsum("ij,njhw->nihw", self._matrix(problem), y)
        if problem.box is None:
            return u
        low, high = problem.box
        return low + (high - low) * torch.sigmoid(u)

    def __repr__(self):
        return f"FFT(decorrelate={self.decorrelate}, decay={self.decay:g}, sd={self.sd:g})"


PARAMETERIZATIONS = {"plain": Plain, "fft": FFT}


def resolve(parameterization) -> Parameterization:
    """A :class:`Parameterization` from ``"plain"``, ``"fft"`` or an instance."""
    if isinstance(parameterization, Parameterization):
        return parameterization
    if isinstance(parameterization, str) and parameterization in PARAMETERIZATIONS:
        return PARAMETERIZATIONS[parameterization]()
    raise ValueError(f"parameterization must be one of {', '.join(map(repr, PARAMETERIZATIONS))} "
                     f"or a concepts.FFT(...), got {parameterization!r}")
