"""Perturbation masks: meaningful perturbation and extremal perturbation.

Both optimise a mask m ∈ [0, 1] over the spatial positions of an input by gradient descent
through the graph. A mask value 1 keeps the input there, 0 replaces it by a perturbation
x̃ (a Gaussian blur of x, a constant, or noise):

    Φ(x; m) = x ⊙ m + x̃ ⊙ (1 − m),

m shared by all channels of a position. :func:`meaningful_perturbation` (Fong & Vedaldi
2017) finds the smallest smooth region whose deletion lowers the explained score most;
:func:`extremal_perturbation` (Fong, Patrick & Vedaldi 2019) finds, for each of a few fixed
areas, the smooth region of that area that keeps the score highest (or whose deletion lowers
it most). Both follow the one call convention, ``method(graph, x, target=None, *,
batch_size=None, **options)``: the target is read once at x, s(x') = Σ_c mask_c f_c(x') with
f the explained output (the logits before an output softmax), and every sample of a chunk
is optimised together in one batch (the objective is a sum over samples and Adam acts
element by element, so a sample gets the same mask alone or in a batch).

Input: images (N, C, H, W) or 1-d signals (N, C, L), one graph input.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F

from ..calls import Attribution, Call, check_seed, explained_node
from ..rules.base import check_choice, check_flag, check_number
from .autograd import fast_layout, per_sample

__all__ = ["meaningful_perturbation", "extremal_perturbation", "gaussian_blur",
           "total_variation", "smooth_mask", "area_penalty", "PERTURBATIONS",
           "EXTREMAL_VARIANTS", "SMOOTHINGS"]

#: What a removed position is replaced by (``perturbation=``).
PERTURBATIONS = ("blur", "constant", "noise")
#: ``extremal_perturbation(variant=)``: keep only the area (``"preserve"``) or delete it.
EXTREMAL_VARIANTS = ("preserve", "delete")
#: ``extremal_perturbation(smoothing=)``: how the low-resolution parameter becomes the mask.
SMOOTHINGS = ("max", "gaussian")

_MULTILINEAR = {1: "linear", 2: "bilinear"}


# ------------------------------------------------------------------------- helpers

def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_tensor(x, name, min_dim):
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        kind = f"a tensor of dtype {x.dtype}" if isinstance(x, torch.Tensor) else \
            type(x).__name__
        raise TypeError(f"{name} must be a floating-point torch tensor, got {kind}")
    if x.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} axes, got shape "
                         f"{tuple(x.shape)}")


def _gaussian_taps(sigma, truncate, dtype, device):
    """The normalised 1-d Gaussian exp(−k² / 2σ²), k = −r … r, r = int(truncate·σ + 0.5)
    (scipy.ndimage's radius)."""
    radius = int(truncate * sigma + 0.5)
    k = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    taps = torch.exp(-0.5 * (k / sigma) ** 2)
    return taps / taps.sum(), radius


def gaussian_blur(x, sigma, *, truncate=4.0):
    """A Gaussian blur of ``x`` over its spatial axes, each channel on its own.

        x̃ = x ∗ g_σ,   g_σ(k) ∝ exp(−k² / (2σ²)),  |k| ≤ int(truncate · σ + 0.5),

    one separable 1-d convolution per spatial axis, the input extended by repeating its edge
    values (``scipy.ndimage.gaussian_filter(x, (0, 0, σ, σ), mode="nearest",
    truncate=truncate)`` computes the same).

    Parameters
    ----------
    x : tensor, (N, C, *spatial)
        At least one spatial axis.
    sigma : float
        The standard deviation in samples (pixels), > 0.
    truncate : float
        The kernel's radius in standard deviations (> 0; default 4, scipy's).

    Returns
    -------
    tensor shaped like ``x``
    """
    _check_tensor(x, "x", 3)
    sigma = check_number(sigma, "sigma", strict=True)
    truncate = check_number(truncate, "truncate", strict=True)
    taps, radius = _gaussian_taps(sigma, truncate, x.dtype, x.device)
    kernel = taps.reshape(1, 1, -1)
    out = x
    for axis in range(2, x.dim()):
        moved = out.movedim(axis, -1)
        shape = moved.shape
        flat = F.pad(moved.reshape(-1, 1, shape[-1]), (radius, radius), mode="replicate")
        out = F.conv1d(flat, kernel).reshape(shape).movedim(-1, axis)
    return out


def total_variation(m, beta=3.0):
    """The total variation of order β of each mask, summed over the spatial axes,

        TV_β(m) = Σ_d mean_u |m(u + e_d) − m(u)|^β,

    the mean over all pairs of neighbours along axis d (the form of the reference
    implementations of Fong & Vedaldi 2017; axes of length 1 have no pairs and add 0).

    Parameters
    ----------
    m : tensor, (N, *spatial)
    beta : float
        The exponent, ≥ 1 (default 3, the paper's).

    Returns
    -------
    tensor, (N,)
    """
    _check_tensor(m, "m", 2)
    beta = check_number(beta, "beta", minimum=1.0)
    total = torch.zeros(m.shape[0], dtype=m.dtype, device=m.device)
    for axis in range(1, m.dim()):
        if m.shape[axis] < 2:
            continue
        diff = m.diff(dim=axis).abs().pow(beta)
        total = total + diff.reshape(m.shape[0], -1).mean(1)
    return total


def _axis_weights(size, count, step, sigma, dtype, device):
    """(size, count): exp(−(u − c_v)² / 2σ²), c_v = step·v + (step − 1)/2 the centre of
    parameter v's cell."""
    u = torch.arange(size, dtype=dtype, device=device).unsqueeze(1)
    centre = torch.arange(count, dtype=dtype, device=device) * step + (step - 1) / 2
    return torch.exp(-0.5 * ((u - centre) / sigma) ** 2)


def smooth_mask(p, spatial, step, sigma, smoothing="max"):
    """The smooth mask of extremal perturbation from its low-resolution parameter.

    Parameter p(v) sits at the centre c_v = step·v + (step − 1)/2 of its cell (per axis)
    and, with the Gaussian k(z) = exp(−|z|² / (2σ²)),

        max:      m(u) = max_v k(u − c_v) p(v)                     (smooth max-convolution)
        gaussian: m(u) = Σ_v k(u − c_v) p(v) / Σ_v k(u − c_v)      (Gaussian-weighted mean)

    ``"max"`` is the smooth-mask parameterisation of Fong, Patrick & Vedaldi (2019): a
    mask can be 1 on any union of blobs of radius ≈ σ and falls off smoothly around them.
    Both separate over the axes (k is a product of 1-d Gaussians, and max_{a,b} k₁(a) k₂(b)
    p(a, b) = max_a k₁(a) max_b k₂(b) p(a, b) since k ≥ 0), so each axis is one (size ×
    count) weight matrix. Values stay in [0, 1] for p in [0, 1].

    Parameters
    ----------
    p : tensor, (B, *count)
        One parameter grid per mask, 1 or 2 axes.
    spatial : tuple of int
        The mask's shape, one size per axis of ``p``.
    step : int
        Pixels per parameter cell (≥ 1).
    sigma : float
        The kernel's standard deviation in pixels (> 0).
    smoothing : {"max", "gaussian"}

    Returns
    -------
    tensor, (B, *spatial)
    """
    _check_tensor(p, "p", 2)
    step = check_number(step, "step", minimum=1, integer=True)
    sigma = check_number(sigma, "sigma", strict=True)
    check_choice(smoothing, "smoothing", SMOOTHINGS)
    if not isinstance(spatial, (tuple, list, torch.Size)) or len(spatial) != p.dim() - 1 \
            or not all(_is_int(d) and d >= 1 for d in spatial):
        raise ValueError(f"spatial must be a tuple of {p.dim() - 1} positive integers, one per "
                         f"parameter axis of p (shape {tuple(p.shape)}), got {spatial!r}")
    return _smooth(p, _smoothing_weights(p, spatial, step, sigma, smoothing), smoothing)


def _smoothing_weights(p, spatial, step, sigma, smoothing):
    """Per axis the (size, count) weights of :func:`smooth_mask` (normalised rows for
    ``"gaussian"``)."""
    weights = []
    for axis, size in enumerate(spatial, start=1):
        w = _axis_weights(int(size), p.shape[axis], step, sigma, p.dtype, p.device)
        weights.append(w if smoothing == "max" else w / w.sum(1, keepdim=True))
    return weights


def _smooth(p, weights, smoothing):
    out = p
    for axis, w in enumerate(weights, start=1):
        moved = out.movedim(axis, -1)                            # (…, count)
        if smoothing == "max":
            moved = (moved.unsqueeze(-2) * w).amax(-1)           # (…, size)
        else:
            moved = moved @ w.T
        out = moved.movedim(-1, axis)
    return out


def _reference(pixels, areas, dtype, device):
    """(A, pixels): the sorted ideal mask r_a, 0 on the first int(pixels·(1 − a)) entries
    and 1 on the rest (a fraction a of ones, TorchRay's rounding)."""
    k = torch.arange(pixels, device=device)
    zeros = torch.tensor([int(pixels * (1 - a)) for a in areas], device=device)
    return (k >= zeros.unsqueeze(1)).to(dtype)


def area_penalty(masks, areas):
    """The area constraint of extremal perturbation, per mask,

        R_a(m) = (1 / |Ω|) ‖sort(vec m) − r_a‖²,

    sort ascending, r_a the sorted vector with int(|Ω|·(1 − a)) zeros followed by ones. It
    is 0 exactly for binary masks of area a (up to the rounding of |Ω|·a).

    Parameters
    ----------
    masks : tensor, (N, A, *spatial)
    areas : sequence of float
        One target area a ∈ (0, 1) per mask of a sample (length A).

    Returns
    -------
    tensor, (N, A)
    """
    _check_tensor(masks, "masks", 3)
    areas = _check_areas(areas)
    if len(areas) != masks.shape[1]:
        raise ValueError(f"give one area per mask: masks has {masks.shape[1]} per sample "
                         f"(axis 1), areas {len(areas)}")
    flat = masks.reshape(*masks.shape[:2], -1)
    return _penalty(flat, _reference(flat.shape[-1], areas, masks.dtype, masks.device))


def _penalty(flat, ref):
    """mean((sort(flat) − ref)²) over the last axis."""
    return (flat.sort(-1).values - ref).square().mean(-1)


# ------------------------------------------------------------------ validation

def _check_areas(areas):
    given = areas
    if isinstance(areas, numbers.Real) and not isinstance(areas, bool):
        areas = (areas,)
    if isinstance(areas, (torch.Tensor, np.ndarray)):
        areas = areas.tolist() if areas.ndim == 1 else None
    if not isinstance(areas, (tuple, list)) or not areas:
        what = f"an array of shape {tuple(given.shape)}" if hasattr(given, "shape") \
            else repr(given)
        raise TypeError(f"areas must be a number or a non-empty sequence of numbers in "
                        f"(0, 1), the fractions of the input the masks cover, got {what}")
    out = []
    for a in areas:
        a = check_number(a, "areas", minimum=-math.inf)
        if not 0 < a < 1:
            raise ValueError(f"areas are fractions of the input: every area must lie in "
                             f"(0, 1), got {a:g}")
        out.append(a)
    return tuple(out)


def _image(call, method):
    if len(call.xs) != 1:
        names = ", ".join(call.graph.input_names)
        raise ValueError(f"{method} explains graphs with one input; this graph takes "
                         f"{len(call.xs)} ({names})")
    v = call.xs[0]
    if v.dim() not in (3, 4):
        kind = " (tabular)" if v.dim() == 2 else ""
        raise ValueError(f"{method} masks images (N, C, H, W) or 1-d signals (N, C, L); this "
                         f"input has shape {tuple(v.shape)}{kind}: use lrp.occlusion or "
                         "lrp.lime for other inputs")
    return v


def _sizes(value, name, spatial, default):
    """One positive integer ≤ the axis size per spatial axis (an int for all axes)."""
    if value is None:
        return default
    given = value
    if _is_int(value):
        value = (value,) * len(spatial)
    if not isinstance(value, (tuple, list)) or len(value) != len(spatial) or \
            not all(_is_int(v) for v in value):
        raise TypeError(f"{name} must be a positive integer or a tuple of {len(spatial)} of "
                        f"them (one per spatial axis of {spatial}), got {value!r}")
    for v, d in zip(value, spatial):
        if not 1 <= v <= d:
            raise ValueError(f"{name}={given!r} must lie between 1 and the input's spatial "
                             f"size {spatial} on every axis")
    return tuple(int(v) for v in value)


def _perturbation_options(perturbation, blur_sigma, value, noise_sigma, blur_default):
    """(perturbation, its one parameter), refusing a parameter of another perturbation."""
    check_choice(perturbation, "perturbation", PERTURBATIONS)
    given = {"blur": ("blur_sigma", blur_sigma), "constant": ("value", value),
             "noise": ("noise_sigma", noise_sigma)}
    for kind, (name, v) in given.items():
        if kind != perturbation and v is not None:
            raise ValueError(f"{name} belongs to perturbation={kind!r}, but "
                             f"perturbation={perturbation!r}: drop {name}, or choose "
                             f"perturbation={kind!r}")
    if perturbation == "blur":
        return perturbation, check_number(blur_default if blur_sigma is None else blur_sigma,
                                          "blur_sigma", strict=True)
    if perturbation == "noise":
        return perturbation, check_number(1.0 if noise_sigma is None else noise_sigma,
                                          "noise_sigma", strict=True)
    if value is None:
        return perturbation, 0.0
    if isinstance(value, str):
        if value != "mean":
            raise ValueError(f"value must be a number or 'mean' (each sample's per-channel "
                             f"mean), got {value!r}")
        return perturbation, value
    return perturbation, check_number(value, "value", minimum=-math.inf)


def _check_jitter(jitter, spatial):
    if jitter >= min(spatial):
        raise ValueError(f"jitter {jitter} shifts the input by up to {jitter} pixels, as far "
                         f"as its spatial size {spatial}; give jitter < {min(spatial)}")


def _common(steps, lr, jitter, return_all):
    check_flag(return_all, "return_all")
    steps = check_number(steps, "steps", minimum=1, integer=True)
    lr = check_number(lr, "lr", strict=True)
    jitter = check_number(jitter, "jitter", integer=True)
    return steps, lr, jitter


# ------------------------------------------------------------------ shared machinery

def _perturbed_background(v, perturbation, parameter, generator):
    """x̃ shaped like v (no gradient). The noise is one draw of a sample's shape, shared by
    the batch, so that a sample's result does not depend on the batch it is in."""
    if perturbation == "blur":
        return gaussian_blur(v, parameter)
    if perturbation == "constant":
        if parameter == "mean":
            return v.mean(dim=tuple(range(2, v.dim())), keepdim=True).expand(v.shape)
        return torch.full_like(v, parameter)
    device = generator.device if generator is not None else torch.device("cpu")
    noise = torch.randn(tuple(v.shape[1:]), generator=generator, device=device)
    return (noise.to(device=v.device, dtype=v.dtype) * parameter).expand(v.shape)


def _jitter_offsets(steps, dims, jitter, generator):
    """(steps, dims) integer shifts in [−jitter, jitter], drawn once for the whole call."""
    if jitter == 0:
        return None
    device = generator.device if generator is not None else torch.device("cpu")
    return torch.randint(-jitter, jitter + 1, (steps, dims), generator=generator,
                         device=device).tolist()


def _shift(x, offsets, jitter):
    """x translated by ``offsets`` (one per spatial axis), edges repeated."""
    if offsets is None:
        return x
    k = x.dim() - 2
    padded = F.pad(x, (jitter, jitter) * k, mode="replicate")
    index = [slice(None), slice(None)]
    for d, o in zip(x.shape[2:], offsets):
        index.append(slice(jitter - o, jitter - o + d))
    return padded[tuple(index)]


def _score(graph, node, copy, mask):
    """s(copy) = Σ_c mask_c f_c(copy) per row, differentiable."""
    out = graph.activations(fast_layout(copy), validated=True, keep=[node])[node]
    return per_sample(out * mask.to(out.dtype))


def _upsample(m, spatial):
    """(B, *mask_size) → (B, *spatial), multilinear, align_corners=False."""
    if tuple(m.shape[1:]) == tuple(spatial):
        return m
    mode = _MULTILINEAR[len(spatial)]
    return F.interpolate(m.unsqueeze(1), size=tuple(spatial), mode=mode,
                         align_corners=False)[:, 0]


def _finish(call, v, saliency, score, return_all, info):
    """The map (N, *spatial) repeated over the channels, shaped and typed like x."""
    attribution = call.finish([saliency.unsqueeze(1).expand(v.shape)])
    return Attribution(attribution, score, info) if return_all else attribution


# ------------------------------------------------------------ meaningful perturbation

def meaningful_perturbation(graph, x, target=None, *, perturbation="blur", area=0.05,
                            tv=0.2, tv_beta=3.0, mask_size=None, blur_sigma=None, value=None,
                            noise_sigma=None, steps=300, lr=0.1, jitter=0, seed=None,
                            batch_size=None, return_all=False):
    """Meaningful perturbation (Fong & Vedaldi 2017): the smallest smooth region whose
    deletion lowers the explained score most.

    A mask m ∈ [0, 1] of ``mask_size`` (1 keeps, 0 deletes) is upsampled multilinearly
    (``align_corners=False``) to the input's spatial shape, M = up(m), and optimised by Adam
    from m = 1 (each step followed by clipping m to [0, 1]) to minimise

        λ₁ (1/|m|) ‖1 − m‖₁ + λ₂ TV_β(m) + s(x ⊙ M + x̃ ⊙ (1 − M)),

    λ₁ = ``area`` on the mean deleted fraction, λ₂ = ``tv`` on :func:`total_variation`,
    s the explained score (the logit, or the explained node before an output softmax, of
    the class chosen at x; the paper uses the softmax probability). The perturbation x̃ is
    ``"blur"`` (:func:`gaussian_blur` of x with ``blur_sigma``), ``"constant"`` (``value``,
    or each sample's per-channel mean for ``value="mean"``) or ``"noise"`` (x̃ = η, η ~
    N(0, noise_sigma²) element-wise: one seeded draw of a sample's shape for the whole
    batch). The returned saliency is 1 − M, the deleted part, repeated over the channels.

    Parameters
    ----------
    graph : neon.Graph
        A graph with one input.
    x : tensor or ndarray, (N, C, H, W) or (N, C, L)
    target : as in :func:`lrp.explain`
    perturbation : {"blur", "constant", "noise"}
    area : float
        λ₁ ≥ 0, the weight of the deleted fraction (default 0.05).
    tv : float
        λ₂ ≥ 0, the weight of the total variation (default 0.2).
    tv_beta : float
        β ≥ 1 of the total variation (default 3, the paper's).
    mask_size : int or tuple of int, optional
        The mask's resolution per spatial axis (default ceil(size / 4); the paper uses 28
        for 224 × 224 images). An int for every axis.
    blur_sigma : float, optional
        The blur's standard deviation in pixels for ``perturbation="blur"`` (default 10,
        the paper's σ₀ for 224 × 224 images).
    value : float or "mean", optional
        The replacement for ``perturbation="constant"`` (default 0).
    noise_sigma : float, optional
        The noise's standard deviation for ``perturbation="noise"`` (default 1).
    steps : int
        Adam steps (≥ 1; default 300).
    lr : float
        Adam's learning rate (> 0; default 0.1).
    jitter : int
        Shift the perturbed input by a random offset in [−jitter, jitter] pixels per axis
        at every step (edges repeated; one offset per step for the whole batch) against
        masks that exploit single pixels. Default 0 (none).
    seed : int or torch.Generator, optional
        Seeds the noise and the jitter (an int seeds a CPU generator, so results agree
        across devices); None draws from torch's global generator.
    batch_size : int, optional
        Samples optimised together; default all.
    return_all : bool
        Return an :class:`lrp.calls.Attribution` (``output``: the score at x) whose
        ``info`` holds, per sample, ``deletion_score`` (s(x ⊙ M + x̃ ⊙ (1 − M)) at the
        final mask), ``mask`` (M, shape (N, *spatial)) and ``area`` (the deleted fraction,
        mean of 1 − M).

    Returns
    -------
    tensor or ndarray
        The saliency 1 − M, shaped and typed like ``x``.

    References
    ----------
    Fong & Vedaldi, "Interpretable explanations of black boxes by meaningful
    perturbation", ICCV 2017.
    """
    steps, lr, jitter = _common(steps, lr, jitter, return_all)
    lambda1 = check_number(area, "area")
    lambda2 = check_number(tv, "tv")
    beta = check_number(tv_beta, "tv_beta", minimum=1.0)
    kind, parameter = _perturbation_options(perturbation, blur_sigma, value, noise_sigma,
                                            10.0)
    generator = check_seed(seed)
    call = Call(graph, x, target, batch_size, method="lrp.meaningful_perturbation")
    v = _image(call, "lrp.meaningful_perturbation")
    spatial = tuple(v.shape[2:])
    size = _sizes(mask_size, "mask_size", spatial, tuple(math.ceil(d / 4) for d in spatial))
    _check_jitter(jitter, spatial)
    offsets = _jitter_offsets(steps, len(spatial), jitter, generator)
    background = _perturbed_background(v, kind, parameter, generator)
    node = explained_node(graph)
    out, target_mask = call.outputs_and_masks()
    score = per_sample(out * target_mask)
    masks, deletion = [], []
    for start, stop, (part,), _ in call.chunks():
        m, s = _optimise_deletion(graph, node, part, background[start:stop],
                                  target_mask[start:stop], size, lambda1, lambda2, beta,
                                  steps, lr, offsets, jitter)
        masks.append(m)
        deletion.append(s)
    mask = torch.cat(masks)
    info = {}
    if return_all:
        info = {"deletion_score": torch.cat(deletion), "mask": mask,
                "area": per_sample(1 - mask) / math.prod(spatial)}
    return _finish(call, v, 1 - mask, score, return_all, info)


def _optimise_deletion(graph, node, v, background, target_mask, size, lambda1, lambda2,
                       beta, steps, lr, offsets, jitter):
    """(M, final deletion score) for one chunk: Adam on m, all samples together."""
    spatial = tuple(v.shape[2:])
    m = torch.ones(v.shape[0], *size, dtype=v.dtype, device=v.device, requires_grad=True)
    optimiser = torch.optim.Adam([m], lr=lr)
    delta = v - background
    with torch.enable_grad():
        for t in range(steps):
            up = _upsample(m, spatial).unsqueeze(1)
            copy = _shift(background + up * delta, offsets and offsets[t], jitter)
            loss = (lambda1 * (1 - m).abs().reshape(len(m), -1).mean(1)
                    + lambda2 * total_variation(m, beta)
                    + _score(graph, node, copy, target_mask)).sum()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            with torch.no_grad():
                m.clamp_(0, 1)
    with torch.no_grad():
        up = _upsample(m.detach(), spatial)
        final = _score(graph, node, background + up.unsqueeze(1) * delta, target_mask)
    return up, final


# ------------------------------------------------------------- extremal perturbation

def extremal_perturbation(graph, x, target=None, *, areas=(0.05, 0.1, 0.2),
                          variant="preserve", perturbation="blur", smoothing="max",
                          step=None, smooth_sigma=None, blur_sigma=None, value=None,
                          noise_sigma=None, area_weight=1.0, growth=100.0, steps=300,
                          lr=0.05, jitter=0, seed=None, batch_size=None, return_all=False):
    """Extremal perturbation (Fong, Patrick & Vedaldi 2019): for each area a, the smooth
    mask of area a that keeps the explained score highest (``"preserve"``) or whose
    deletion lowers it most (``"delete"``).

    The mask is the smooth parameterisation m = :func:`smooth_mask` (p) of a parameter p ∈
    [0, 1] on a grid of ``step``-pixel cells (smooth max-convolution with a Gaussian of
    ``smooth_sigma`` pixels, or a Gaussian-weighted mean). With Φ(x; m) = x ⊙ m + x̃ ⊙ (1 −
    m) and the area constraint R_a of :func:`area_penalty`, Adam (p clipped to [0, 1] after
    each step, from p = 1) minimises, for every area at once,

        preserve:  − s(Φ(x; m_a))      + λ_t R_a(m_a)
        delete:      s(Φ(x; 1 − m_a))  + λ_t R_a(m_a),

    so m_a marks the kept region (preserve) or the deleted one (delete) and is 1 on the
    evidence either way. s is the explained score (the logit, or the explained node before
    an output softmax, of the class chosen at x), and x̃ as in
    :func:`meaningful_perturbation`. The weight grows geometrically over the steps,

        λ_t = area_weight · |s(x) − s(x̃)| · growth^(t / (steps − 1)),

    so the area is enforced ever more strictly. It is measured in units of the sample's
    score range between x and the fully perturbed x̃ (R_a lies in [0, 1]), so the schedule
    does not depend on the scale of the logits. TorchRay instead weighs raw logits by 300,
    growing ×1.0035 per step (about ×16 over its 800 steps); a weight that is large against
    the score's gradient at the start fixes the mask before the score is heard (a region of
    the right area in the wrong place: the masks start tied at 1, and the sort then ranks
    them arbitrarily), so here it starts at the score's own scale and grows ×100. TorchRay
    also blurs by a pyramid interpolated by the mask value and optimises by SGD with
    momentum; here x̃ is one blur and the optimiser Adam.

    The attribution is the sum of the masks over the areas, Σ_a m_a, as TorchRay's
    pointing-game benchmark (examples/attribution_benchmark.py) sums them: a position kept
    at every area scores ``len(areas)``. It is repeated over the channels.

    Parameters
    ----------
    graph : neon.Graph
        A graph with one input.
    x : tensor or ndarray, (N, C, H, W) or (N, C, L)
    target : as in :func:`lrp.explain`
    areas : float or sequence of float
        Target areas, fractions of the input in (0, 1) (default (0.05, 0.1, 0.2)).
    variant : {"preserve", "delete"}
    perturbation : {"blur", "constant", "noise"}
    smoothing : {"max", "gaussian"}
        How p becomes the mask (:func:`smooth_mask`); "max" is the paper's.
    step : int, optional
        Pixels per parameter cell (default round(smooth_sigma / 3), at least 1).
    smooth_sigma : float, optional
        The smoothing kernel's standard deviation in pixels (default 21/224 of the smallest
        spatial size: TorchRay's 21 for 224 × 224 images).
    blur_sigma : float, optional
        For ``perturbation="blur"`` (default 20, TorchRay's largest blur).
    value : float or "mean", optional
        For ``perturbation="constant"`` (default 0).
    noise_sigma : float, optional
        For ``perturbation="noise"`` (default 1).
    area_weight : float
        λ at the first step in units of |s(x) − s(x̃)| (> 0; default 1).
    growth : float
        λ's growth over all the steps (≥ 1; default 100).
    steps : int
        Adam steps (≥ 1; default 300).
    lr : float
        Adam's learning rate (> 0; default 0.05).
    jitter : int
        Random shifts of the perturbed input, as in :func:`meaningful_perturbation`
        (default 0).
    seed : int or torch.Generator, optional
        Seeds the noise and the jitter.
    batch_size : int, optional
        Samples optimised together (each a row per area in a forward pass); default all.
    return_all : bool
        Return an :class:`lrp.calls.Attribution` (``output``: the score at x) whose
        ``info`` holds ``masks`` (N, len(areas), *spatial), ``area`` (N, len(areas), the
        mean of each mask), ``perturbed_score`` (N, len(areas), the score of the preserved
        or deleted copy at the final masks) and ``areas`` (the targets).

    Returns
    -------
    tensor or ndarray
        Σ_a m_a, shaped and typed like ``x``.

    References
    ----------
    Fong, Patrick & Vedaldi, "Understanding deep networks via extremal perturbations and
    smooth masks", ICCV 2019.
    """
    steps, lr, jitter = _common(steps, lr, jitter, return_all)
    targets = _check_areas(areas)
    check_choice(variant, "variant", EXTREMAL_VARIANTS)
    check_choice(smoothing, "smoothing", SMOOTHINGS)
    weight = check_number(area_weight, "area_weight", strict=True)
    growth = check_number(growth, "growth", minimum=1.0)
    kind, parameter = _perturbation_options(perturbation, blur_sigma, value, noise_sigma,
                                            20.0)
    if smooth_sigma is not None:
        smooth_sigma = check_number(smooth_sigma, "smooth_sigma", strict=True)
    if step is not None:
        step = check_number(step, "step", minimum=1, integer=True)
    generator = check_seed(seed)
    call = Call(graph, x, target, batch_size, method="lrp.extremal_perturbation")
    v = _image(call, "lrp.extremal_perturbation")
    spatial = tuple(v.shape[2:])
    sigma = smooth_sigma if smooth_sigma is not None else min(spatial) * 21 / 224
    step = step if step is not None else max(1, round(sigma / 3))
    if step > min(spatial):
        raise ValueError(f"step {step} is larger than the input's spatial size {spatial}; "
                         f"give a step ≤ {min(spatial)}")
    _check_jitter(jitter, spatial)
    offsets = _jitter_offsets(steps, len(spatial), jitter, generator)
    background = _perturbed_background(v, kind, parameter, generator)
    node = explained_node(graph)
    out, target_mask = call.outputs_and_masks()
    score = per_sample(out * target_mask)
    setup = dict(spatial=spatial, step=step, sigma=sigma, smoothing=smoothing, areas=targets,
                 preserve=variant == "preserve", weight=weight, growth=growth, steps=steps,
                 lr=lr, offsets=offsets, jitter=jitter)
    masks, scores = [], []
    for start, stop, (part,), _ in call.chunks():
        m, s = _optimise_extremal(graph, node, part, background[start:stop],
                                  target_mask[start:stop], score[start:stop], **setup)
        masks.append(m)
        scores.append(s)
    masks = torch.cat(masks)                                   # (N, A, *spatial)
    info = {}
    if return_all:
        count = math.prod(spatial)
        info = {"masks": masks, "perturbed_score": torch.cat(scores),
                "area": masks.reshape(*masks.shape[:2], -1).sum(-1) / count,
                "areas": torch.tensor(targets, dtype=v.dtype, device=v.device)}
    return _finish(call, v, masks.sum(1), score, return_all, info)


def _optimise_extremal(graph, node, v, background, target_mask, score, *, spatial, step, sigma,
                       smoothing, areas, preserve, weight, growth, steps, lr, offsets, jitter):
    """(masks (n, A, *spatial), final scores (n, A)) for one chunk: rows r = i·A + k."""
    n, count = v.shape[0], len(areas)
    grid = tuple(math.ceil(d / step) for d in spatial)
    p = torch.ones(n * count, *grid, dtype=v.dtype, device=v.device, requires_grad=True)
    optimiser = torch.optim.Adam([p], lr=lr)
    ref = _reference(math.prod(spatial), areas, v.dtype, v.device).repeat(n, 1)
    with torch.no_grad():                      # λ in units of the score's range
        scale = (score - _score(graph, node, background, target_mask)).abs()
        scale = scale.clamp_min(torch.finfo(v.dtype).eps).repeat_interleave(count)
    rows_v = v.repeat_interleave(count, 0)
    rows_b = background.repeat_interleave(count, 0)
    rows_t = target_mask.repeat_interleave(count, 0)
    delta = rows_v - rows_b
    sign = -1.0 if preserve else 1.0
    weights = _smoothing_weights(p, spatial, step, sigma, smoothing)

    def copy_of(m):
        keep = m if preserve else 1 - m
        return rows_b + keep.unsqueeze(1) * delta

    with torch.enable_grad():
        for t in range(steps):
            lam = scale * (weight * growth ** (t / (steps - 1)) if steps > 1 else weight)
            m = _smooth(p, weights, smoothing)
            copy = _shift(copy_of(m), offsets and offsets[t], jitter)
            penalty = _penalty(m.reshape(len(m), -1), ref)
            loss = (sign * _score(graph, node, copy, rows_t) + lam * penalty).sum()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            with torch.no_grad():
                p.clamp_(0, 1)
    with torch.no_grad():
        m = _smooth(p.detach(), weights, smoothing)
        final = _score(graph, node, copy_of(m), rows_t)
    return m.reshape(n, count, *spatial), final.reshape(n, count)
