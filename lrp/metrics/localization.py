"""Localization: does the explanation point at the object?

Both metrics compare a relevance map with a ground-truth mask of where the evidence is (the
object's segmentation, the planted feature, the bounding box): :func:`pointing_game` asks
whether the map's maximum lies on the mask, :func:`localization` how much of the positive
relevance (relevance mass) and how many of the most relevant positions (relevance rank) fall
inside it.

Spatial layout (both functions). Relevance is batch first, (N, …), a tensor or an array (a
DataFrame or an :class:`lrp.calls.Attribution` is read as its values). The masks say which
axes are spatial: they are boolean, shaped (N, *S) (one mask per sample) or S (one mask for
every sample), where S is the trailing axes of one map; the map's leading axes (its
channels) are **summed first**, R_p = Σ_c R_{c,p}, so the positions p are the spatial ones.
Relevance of 4 or more axes has its channels on axis 1, (N, C, …) as the graph's inputs
have, and they are always summed.

==========================  ====================  =======================================
relevance                   masks                 positions scored
==========================  ====================  =======================================
(N, C, H, W)                (N, H, W) or (H, W)   pixels, channels summed
(N, C, D, H, W)             (N, D, H, W), (D, …)  voxels, channels summed
(N, H, W)                   (N, H, W) or (H, W)   pixels
(N, C, L)                   (N, L) or (L,)        time steps, channels summed
(N, F)                      (N, F) or (F,)        features
==========================  ====================  =======================================

Masks shaped like a relevance with channels, (N, C, *S), are accepted when they are the same
on every channel (a mask broadcast to x's shape), and so is Quantus's (N, 1, *S). 3-axis
relevance (N, A, B) is an image (N, H, W) or a signal (N, C, L) as its masks say; a mask
shape that fits both readings (R of shape (3, 3, 3) with masks (3, 3): three 1-d masks, or
one 2-d mask?) is refused rather than guessed. A single map must be given with its batch
axis, ``r[None]``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..rules.base import check_number
from .inputs import as_maps
from .scores import Score

__all__ = ["pointing_game", "localization", "PointingResult", "LocalizationResult"]


# ---------------------------------------------------------------------------- shared input

def _is_suffix(part: tuple, whole: tuple) -> bool:
    return 1 <= len(part) <= len(whole) and tuple(whole[len(whole) - len(part):]) == part


def spatial_maps(relevance: torch.Tensor, masks, name: str = "masks"):
    """(R summed over channels, masks), both (N, *S), the masks boolean on R's device; the
    reading of the masks' shape is the module's table."""
    if hasattr(masks, "to_numpy"):
        masks = masks.to_numpy()
    if not isinstance(masks, (torch.Tensor, np.ndarray)):
        raise TypeError(f"{name} must be a boolean tensor or array, got "
                        f"{type(masks).__name__}")
    if masks.dtype not in (torch.bool, np.bool_):
        raise TypeError(f"{name} must be boolean (True inside the ground truth), got dtype "
                        f"{masks.dtype}; threshold it yourself, e.g. masks > 0.5")
    if isinstance(masks, np.ndarray) and not masks.flags.writeable:
        masks = masks.copy()                          # (a broadcast view)
    m = torch.as_tensor(masks).to(relevance.device)
    n, rest, shape = relevance.shape[0], tuple(relevance.shape[1:]), tuple(m.shape)
    if shape == tuple(relevance.shape) and relevance.dim() >= 4:
        # a mask broadcast over the channels of x
        if not bool((m == m[:, :1]).all()):
            raise ValueError(f"{name} of shape {shape} (like the relevance) differ between "
                             "channels; the games are played on spatial positions: give one "
                             f"mask per sample of shape {(n, *rest[1:])} (relevance without "
                             "a channel axis, (N, D, H, W), takes one: relevance[:, None])")
        m = m[:, 0]
    allowed = rest[1:] if relevance.dim() >= 4 else rest     # spatial axes: never axis 1
    if tuple(m.shape) == shape and len(shape) >= 3 and shape[0] == n and shape[1] == 1 and \
            not _is_suffix(shape[1:], allowed) and _is_suffix(shape[2:], allowed):
        m = m[:, 0]                                   # Quantus's (N, 1, *S)
    shape = tuple(m.shape)
    per_sample = len(shape) >= 2 and shape[0] == n and _is_suffix(shape[1:], allowed)
    shared = _is_suffix(shape, allowed)
    if per_sample and shared and n == 1:
        shared = False                                # the two readings agree
    if per_sample and shared:
        raise ValueError(f"{name} of shape {shape} fit relevance of shape "
                         f"{tuple(relevance.shape)} in two ways: one mask {shape[1:]} per "
                         f"sample, or one mask {shape} for all; give masks of shape "
                         f"(N, *spatial) = {(n, *shape)} to mean the second")
    if not (per_sample or shared):
        raise ValueError(f"{name} of shape {shape} do not fit relevance of shape "
                         f"{tuple(relevance.shape)}: give one boolean mask per sample, "
                         f"(N, *spatial), or one for all, (*spatial), where spatial are "
                         f"trailing axes of {allowed} (e.g. {(n, *rest[-2:])} for "
                         "(N, C, H, W) relevance)")
    spatial = shape[1:] if per_sample else shape
    m = m.expand(n, *spatial)
    channels = len(rest) - len(spatial)
    r = relevance.sum(dim=tuple(range(1, 1 + channels))) if channels else relevance
    return r, m


def _warn(message: str, stacklevel: int = 3) -> None:
    """A RuntimeWarning pointing at the caller of the public function (``stacklevel``: 3
    from the public function itself, one more per helper in between)."""
    warnings.warn(message, RuntimeWarning, stacklevel=stacklevel)


def _rows(mask: torch.Tensor) -> list:
    return torch.nonzero(mask).flatten().tolist()


def _empty_masks(m: torch.Tensor) -> torch.Tensor:
    empty = ~m.flatten(1).any(1)
    if bool(empty.any()):
        _warn(f"{int(empty.sum())} masks are empty (samples {_rows(empty)[:5]}): their "
              "scores are NaN", stacklevel=4)
    return empty


# ---------------------------------------------------------------------------- pointing game

@dataclass(frozen=True, eq=False)
class PointingResult:
    """The pointing game's result (:func:`pointing_game`).

    Attributes
    ----------
    hits : ndarray of bool, (N,)
        Whether the map's maximum hit the (dilated) mask; False where undefined.
    accuracy : Score
        Per sample 1.0 (hit), 0.0 (miss) or NaN (empty mask, constant map); its mean is the
        pointing accuracy. Higher is better.
    centre : Score
        The same game played by the centre point (a map whose maximum is the centre of the
        grid): per sample the share of the central positions — the middle one, or the 2 or
        4 middle ones of even sizes — inside the (dilated) mask, i.e. the expected hit of a
        centre point chosen at random among them, or NaN (empty mask). Counting "any central
        position hits" instead would score 1 on every quadrant-sized mask of an even grid,
        since the 4 middle pixels touch all four quadrants. A method should beat it.
    per_class : dict or None
        ``label -> Score`` of the samples of that label (``.mean()`` is the class's
        accuracy), when ``labels`` were given.
    ties : ndarray of int, (N,)
        How many positions share each map's maximum (1 unless tied).
    tolerance : float
    """

    hits: np.ndarray
    accuracy: Score
    centre: Score
    per_class: dict | None
    ties: np.ndarray
    tolerance: float


def _ball(tolerance: float, spatial: tuple, dtype, device) -> tuple[torch.Tensor, list]:
    """The offsets d (integers) with ‖d‖₂ ≤ τ, as a 0/1 kernel cut to the grid's extent."""
    half = [min(math.floor(tolerance), s - 1) for s in spatial]
    axes = [torch.arange(-h, h + 1, dtype=torch.float64) for h in half]
    grids = torch.meshgrid(*axes, indexing="ij")
    ball = sum(g * g for g in grids) <= tolerance * tolerance
    return ball.to(device=device, dtype=dtype), half


def _dilate(m: torch.Tensor, tolerance: float) -> torch.Tensor:
    """The positions within Euclidean distance τ of a mask position, (N, *S)."""
    spatial = tuple(m.shape[1:])
    if tolerance < 1 or all(s == 1 for s in spatial):
        return m
    if len(spatial) > 3:
        raise ValueError(f"tolerance > 0 works on 1 to 3 spatial axes; the masks have "
                         f"{len(spatial)} ({spatial}): give tolerance=0")
    conv = (F.conv1d, F.conv2d, F.conv3d)[len(spatial) - 1]
    ball, half = _ball(tolerance, spatial, torch.float32, m.device)
    covered = conv(m.to(torch.float32).unsqueeze(1), ball[None, None], padding=tuple(half))
    return covered.squeeze(1) > 0.5


def _centre(spatial: tuple, device) -> torch.Tensor:
    """The central position(s) of a grid: per axis the middle index, or the two middle ones
    of an even size; their product over the axes (1, 2, 4, … positions)."""
    out = None
    for d, s in enumerate(spatial):
        axis = torch.zeros(s, dtype=torch.bool, device=device)
        axis[(s - 1) // 2: s // 2 + 1] = True
        axis = axis.reshape(*([1] * d), s, *([1] * (len(spatial) - d - 1)))
        out = axis if out is None else out & axis
    return out


def _labels(labels, n: int) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    elif hasattr(labels, "to_numpy"):
        labels = labels.to_numpy()
    elif isinstance(labels, (str, bytes)) or not hasattr(labels, "__len__"):
        raise TypeError(f"labels must be one label per sample (an array, a tensor or a list "
                        f"of length {n}), got {labels!r}")
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(f"labels must be one label per sample: {n} samples, got labels of "
                         f"shape {labels.shape}")
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():
        raise ValueError("labels hold NaN or infinite values; give a label to every sample")
    if labels.dtype.kind not in "biufUSO":
        raise TypeError(f"labels must be integers or strings, got dtype {labels.dtype}")
    return labels


def pointing_game(relevance, masks, *, tolerance=0, labels=None) -> PointingResult:
    """The pointing game (Zhang et al.): a hit when the position of the map's maximum lies
    inside the ground-truth mask, or within ``tolerance`` of it,

        hit = [ min_{q ∈ M} ‖p* − q‖₂ ≤ τ ],   p* = argmax_p R_p,

    with distances in grid steps (pixels) over the spatial axes. The accuracy is the share of
    hits. The same game is played by the centre point, the baseline a method must beat (a
    "detector" that always points at the centre of the image).

    Parameters
    ----------
    relevance : tensor or ndarray, (N, …)
        Relevance maps, batch first; channels are summed first (see the module's table of
        layouts).
    masks : bool tensor or ndarray, (N, *S) or S
        Where the object is, per sample or one for all.
    tolerance : float
        τ ≥ 0 in pixels (Zhang et al. use 15 px on ImageNet-sized images). τ > 0 needs 1 to 3
        spatial axes.
    labels : array-like of length N, optional
        Classes of the samples, for the accuracy per class.

    Returns
    -------
    PointingResult
        ``hits``, ``accuracy`` (Score per sample, higher is better), ``centre`` (the centre
        point's Score), ``per_class`` and ``ties``.

    Notes
    -----
    *Ties.* A hit when **any** of the positions sharing the maximum is within τ of the mask
    (as ``quantus.PointingGame`` counts); ``ties`` says how many positions share it. A map
    that is constant (all positions maximal, an all-zero map included) points nowhere: its
    score is NaN, with a warning. *Empty masks* give NaN, with a warning (Quantus 0.6.0
    assigns NaN into a boolean array, which makes the sample a hit). Relevance is compared
    as signed values: the maximum is the most positively relevant position.

    References
    ----------
    Zhang, Bargal, Lin, Brandt, Shen, Sclaroff, "Top-down neural attention by excitation
    backprop", IJCV 126, 2018 (ECCV 2016).
    """
    tolerance = check_number(tolerance, "tolerance")
    r = as_maps(relevance)
    r, m = spatial_maps(r, masks)
    n, spatial = r.shape[0], tuple(r.shape[1:])
    if labels is not None:
        labels = _labels(labels, n)
    empty = _empty_masks(m)
    target = _dilate(m, tolerance).reshape(n, -1)
    flat = r.reshape(n, -1)
    maximal = flat == flat.amax(1, keepdim=True)
    ties = maximal.sum(1)
    constant = ties == flat.shape[1]
    if bool(constant.any()):
        _warn(f"{int(constant.sum())} maps are constant (samples {_rows(constant)[:5]}): "
              "they point nowhere, their pointing scores are NaN")
    hits = (maximal & target).any(1) & ~constant & ~empty
    values = hits.to(torch.float64)
    values[constant | empty] = math.nan
    central = _centre(spatial, r.device).reshape(1, -1)
    centre = (central & target).sum(1).to(torch.float64) / central.sum()
    centre[empty] = math.nan
    values, centre = values.cpu().numpy(), centre.cpu().numpy()
    where = f"tolerance {tolerance:g} px, channels summed, ties hit if any maximum hits"
    accuracy = Score("pointing_accuracy", values, True, f"pointing game hits ({where})")
    per_class = None
    if labels is not None:
        per_class = {}
        for label in np.unique(labels):
            key = label.item() if isinstance(label, np.generic) else label
            per_class[key] = Score("pointing_accuracy", values[labels == label], True,
                                   f"pointing game hits of class {key!r} ({where})")
    return PointingResult(
        hits=hits.cpu().numpy(), accuracy=accuracy,
        centre=Score("centre_pointing_accuracy", centre, True,
                     f"pointing game hits of the centre point (baseline; {where}; the "
                     "share of the central positions inside the mask)"),
        per_class=per_class, ties=ties.cpu().numpy(), tolerance=tolerance)


# ---------------------------------------------------------------------------- mass and rank

@dataclass(frozen=True, eq=False)
class LocalizationResult:
    """Relevance mass and rank accuracy (:func:`localization`).

    Attributes
    ----------
    mass : Score
        Share of the positive relevance inside the mask, per sample. Higher is better.
    rank : Score
        Share of the K = |M| most relevant positions inside the mask, per sample. Higher is
        better.
    chance : Score
        |M| / P, the share of positions in the mask: what ``rank`` (and ``mass``) of a map
        without information about the mask is on average; compare the scores with it.
    """

    mass: Score
    rank: Score
    chance: Score


def _rank_accuracy(r: torch.Tensor, m: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Share of the K most relevant positions inside the mask, expected over random tie
    breaking at the K-th value: (#inside above v_K + (K − #above) · #inside at v_K / #at v_K)
    / K."""
    top = torch.sort(r, dim=1, descending=True).values
    kth = top.gather(1, (k - 1).clamp_min(0).unsqueeze(1))
    above, at = r > kth, r == kth
    inside_above = (above & m).sum(1).to(r.dtype)
    inside_at = (at & m).sum(1).to(r.dtype)
    needed = k.to(r.dtype) - above.sum(1).to(r.dtype)
    share = inside_above + needed * inside_at / at.sum(1).to(r.dtype)
    return share / k.clamp_min(1).to(r.dtype)


def localization(relevance, masks) -> LocalizationResult:
    """Relevance mass accuracy and relevance rank accuracy (Kohlbrenner et al.; Arras et al.),

        mass = Σ_{p ∈ M} max(R_p, 0) / Σ_p max(R_p, 0),
        rank = |{p ∈ M : p among the K = |M| largest R_p}| / K,

    per sample: how much of the positive relevance and how many of the top-K positions fall
    on the ground-truth mask M. Both are in [0, 1], higher is better; a map that knows
    nothing about M reaches |M| / P on average (``chance``).

    Parameters
    ----------
    relevance : tensor or ndarray, (N, …)
        Relevance maps, batch first; channels are summed first (see the module's table).
    masks : bool tensor or ndarray, (N, *S) or S

    Returns
    -------
    LocalizationResult
        ``mass``, ``rank`` and ``chance``, each a Score with one value per sample.

    Notes
    -----
    *Negative relevance* is left out of the mass (Kohlbrenner et al. score positive
    evidence); ``quantus.RelevanceMassAccuracy`` divides the raw sums instead (Σ_M R / Σ R,
    which leaves [0, 1] for signed maps); the two agree on non-negative maps. A map with no
    positive relevance has no mass to share: NaN, with a warning. *Rank* orders the signed
    values (as Quantus does). At a tie across the K-th value the score is its expectation
    over a random order of the tied positions (a constant map scores exactly |M| / P);
    Quantus breaks ties by ``np.argsort``'s order. *Empty masks* give NaN for both, with a
    warning.

    References
    ----------
    Kohlbrenner, Bauer, Nakajima, Binder, Samek, Lapuschkin, "Towards best practice in
    explaining neural network decisions with LRP", IJCNN 2020; Arras, Osman, Samek, "CLEVR-XAI:
    a benchmark dataset for the ground truth evaluation of neural network explanations",
    Information Fusion 81, 2022.
    """
    r = as_maps(relevance)
    r, m = spatial_maps(r, masks)
    n = r.shape[0]
    r, m = r.reshape(n, -1), m.reshape(n, -1)
    empty = _empty_masks(m)
    positive = r.clamp_min(0)
    total = positive.sum(1)
    none = (total == 0) & ~empty
    if bool(none.any()):
        _warn(f"{int(none.sum())} maps have no positive relevance (samples "
              f"{_rows(none)[:5]}): their relevance mass is NaN")
    mass = (positive * m).sum(1) / torch.where(total == 0, torch.ones_like(total), total)
    mass[none | empty] = math.nan
    k = m.sum(1)
    rank = _rank_accuracy(r, m, k)
    rank[empty] = math.nan
    chance = k.to(torch.float64) / m.shape[1]
    return LocalizationResult(
        mass=Score("relevance_mass", mass.double().cpu().numpy(), True,
                   "share of the positive relevance inside the mask (channels summed)"),
        rank=Score("relevance_rank", rank.double().cpu().numpy(), True,
                   "share of the K = |mask| most relevant positions inside the mask "
                   "(channels summed, ties by expectation)"),
        chance=Score("mask_share", chance.cpu().numpy(), True,
                     "share of positions inside the mask: the chance level of the rank"))


