"""Perturbation methods: occlusion, RISE and LIME.

They explain by evaluating the graph on perturbed copies of x and never differentiate it. All
follow the one call convention, ``method(graph, x, target=None, *, batch_size=None,
**options)``: ``target`` as in :func:`lrp.explain`, read once at x, so every copy is scored
on the class chosen for x (``target=None``: the class predicted for x, not for the copy),
s(copy) = Σ_c mask_c f_c(copy). The copies of every sample are rows of one batch, cut into
forward passes of ``batch_size`` rows (captum's ``perturbations_per_eval`` counts windows
instead); rows are built by index arithmetic, never by a Python loop per copy or per sample.
Without ``batch_size`` all copies go through in one pass, so give one for large images.

Per-sample layout: a sample of one axis, (F,), is tabular; a sample of more axes is
image-like, channels first, (C, L), (C, H, W) or (C, D, H, W), and occlusion windows, RISE
masks and LIME superpixels cover all channels of a spatial position together.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F

from ..calls import Attribution, Call, check_batch_size, check_seed
from ..rules.base import check_choice, check_flag, check_number
from .autograd import fast_layout, per_sample

__all__ = ["occlusion", "rise", "lime", "occlusion_windows", "rise_masks", "lime_draws",
           "lime_kernel", "LIME_REGRESSORS"]

LIME_REGRESSORS = ("ridge", "lasso")


# ---------------------------------------------------------------------------- shared

def _result(call, results, score, return_all, **info):
    attribution = call.finish(results)
    return Attribution(attribution, score, info) if return_all else attribution


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _spatial(shape):
    """(has a channel axis, spatial shape) of one sample's shape."""
    shape = tuple(shape)
    if len(shape) == 1:
        return False, shape
    return True, shape[1:]


def _one_input(call, method):
    if len(call.xs) != 1:
        names = ", ".join(call.graph.input_names)
        raise ValueError(f"{method} explains graphs with one input; this graph takes "
                         f"{len(call.xs)} ({names}): use lrp.occlusion, which occludes each "
                         "input in turn")
    return call.xs[0]


def _draw_device(generator):
    return generator.device if generator is not None else torch.device("cpu")


def _rows(total, chunk, device):
    for first in range(0, total, chunk):
        yield torch.arange(first, min(first + chunk, total), device=device)


def _scores(call, copies, mask_rows):
    """s(copy) = Σ_c mask_c f_c(copy) per row, with the mask fixed at x."""
    out = call.output_at([fast_layout(c) for c in copies])
    return per_sample(out * mask_rows.to(out.dtype))


def _view(t, dims):
    """``t`` of shape (R,) as (R, 1, …, 1) with ``dims`` trailing axes."""
    return t.reshape(-1, *([1] * dims))


# ---------------------------------------------------------------------------- occlusion

def _positive_ints(value, name, length, where):
    if _is_int(value):
        if value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value}")
        return None
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{name} must be a positive integer or a tuple of them (one per axis "
                        f"of one sample), got {value!r} ({type(value).__name__})")
    if len(value) != length:
        raise ValueError(f"{name} {tuple(value)} has {len(value)} entries; {where} has "
                         f"{length} axes per sample: give one entry per axis, or one integer")
    for v in value:
        if not _is_int(v) or v < 1:
            raise ValueError(f"{name} {tuple(value)}: every entry must be a positive integer, "
                             f"got {v!r}")
    return tuple(int(v) for v in value)


def _per_input(value, name, count):
    """One ``value`` per graph input: a tuple of them for several inputs, else ``value``
    repeated (for one input a tuple is that input's per-axis shape)."""
    if count > 1 and isinstance(value, (tuple, list)):
        if len(value) != count:
            raise ValueError(f"the graph has {count} inputs: give {name} as one integer or a "
                             f"tuple of one {name} per input, got {value!r}")
        return list(value)
    return [value] * count


def occlusion_windows(shape, window, stride=None, where="the input"):
    """The window and stride shapes (one entry per axis of one sample) of :func:`occlusion`,
    validated.

    Parameters
    ----------
    shape : tuple of int
        One sample's shape.
    window : int or tuple of int
        An int w: (w,) for tabular samples (F,), (C, w, …, w) for image-like samples
        (C, *spatial), all channels together. A tuple: the full window shape.
    stride : int, tuple of int, or None
        An int applies to every axis; None: the window (non-overlapping windows).

    Returns
    -------
    window, stride : tuple of int
    """
    shape = tuple(int(s) for s in shape)
    if not shape:
        raise ValueError(f"occlusion slides a window over the axes of a sample; {where} has "
                         "scalar samples (shape ()): nothing to slide over")
    full = _positive_ints(window, "window", len(shape), where)
    if full is None:
        channels, spatial = _spatial(shape)
        if window > min(spatial):
            size = f"spatial size {spatial}" if channels else f"{spatial[0]} features"
            raise ValueError(f"window {window} is larger than {where}'s {size}; give a "
                             f"window ≤ {min(spatial)}")
        full = (shape[0],) * channels + (int(window),) * len(spatial)
    bad = [(w, s) for w, s in zip(full, shape) if w > s]
    if bad:
        raise ValueError(f"window {full} does not fit {where}'s sample shape {shape}: an "
                         "entry exceeds the size of its axis")
    if stride is None:
        steps = full
    else:
        steps = _positive_ints(stride, "stride", len(shape), where)
        steps = (int(stride),) * len(shape) if steps is None else steps
    for w, s, size in zip(full, steps, shape):
        if w < size and s > w:
            raise ValueError(f"stride {steps} is larger than window {full} along an axis the "
                             "window does not span: elements between windows would be "
                             "occluded by none; give a stride ≤ the window")
    return full, steps


def _window_grid(shape, window, stride, device=None):
    """Per axis: the window starts, as captum places them: 0, s, 2s, … ceil((D − w)/s)·s
    (the last window may hang over the end and is cut off there)."""
    return [torch.arange(-(-(d - w) // s) + 1, device=device) * s
            for d, w, s in zip(shape, window, stride)]


def _axis_cover(starts, size, width, device):
    """(windows, size) bools: position p inside the window starting at each start."""
    pos = torch.arange(size, device=device)
    starts = starts.to(device).unsqueeze(1)
    return (pos >= starts) & (pos < starts + width)


def _cover(per_axis):
    """The outer product (R, *shape) of per-axis (R, size_d) bools."""
    k = len(per_axis)
    mask = None
    for d, a in enumerate(per_axis):
        shaped = a.reshape(a.shape[0], *([1] * d), a.shape[1], *([1] * (k - d - 1)))
        mask = shaped if mask is None else mask & shaped
    return mask


def _outer(per_axis):
    """The outer product (*shape) of per-axis counts (size_d,)."""
    k = len(per_axis)
    out = None
    for d, a in enumerate(per_axis):
        shaped = a.reshape(*([1] * d), a.shape[0], *([1] * (k - d - 1)))
        out = shaped if out is None else out * shaped
    return out


def occlusion(graph, x, target=None, *, window, stride=None, baseline=0.0, batch_size=None,
              return_all=False):
    """Occlusion (Zeiler & Fergus): slide a window over each sample, replace what it covers
    by the baseline, and credit each element with the mean score drop of the windows
    covering it,

        R_j = (1 / |W_j|) Σ_{w ∈ W_j} ( s(x) − s(x with window w set to the baseline) ),

    W_j the windows covering element j. Windows are placed as captum's ``Occlusion`` places
    them: along each axis they start at 0, s, 2s, …, up to ceil((D − w)/s)·s, so the last
    one may hang over the end and be cut off; as in captum, a stride larger than the window
    is refused along an axis the window does not span, so every element is covered.
    The explained class is fixed at x. For several graph inputs each is occluded in turn
    (the others kept), as captum does.

    Parameters
    ----------
    graph : neon.Graph
    x : tensor, ndarray, DataFrame or list of rows (a tuple for several graph inputs)
    target : as in :func:`lrp.explain`
    window : int or tuple of int
        An int w: a run of w features for tabular samples (F,); a w-long segment, w × w
        square, … over the spatial axes of image-like samples (C, *spatial), covering all
        channels. A tuple: the full window shape of one sample (captum's
        ``sliding_window_shapes``), e.g. ``(1, 4, 4)`` for one channel at a time. For
        several graph inputs, an int for all or a tuple of one spec per input.
    stride : int or tuple of int, optional
        The step between windows, per axis (an int: the same on every axis). Default: the
        window (non-overlapping windows; captum's default is 1).
    baseline : number, tensor or array
        The value occluded elements take; a tensor may be shaped like x or like one sample.
        A tuple, one per input, for several graph inputs. Default 0.
    batch_size : int, optional
        Occluded copies (rows) per forward pass; default: all windows × N copies in one.
    return_all : bool
        Return an :class:`lrp.calls.Attribution` whose ``info`` holds ``windows`` (the
        number of windows per sample, summed over inputs).

    References
    ----------
    Zeiler & Fergus, "Visualizing and understanding convolutional networks", ECCV 2014.
    """
    check_flag(return_all, "return_all")
    call = Call(graph, x, target, None, method="lrp.occlusion")
    rows_per_pass = check_batch_size(batch_size)
    xs, specs = call.xs, call.graph.input_specs
    windows = _per_input(window, "window", len(xs))
    strides = _per_input(stride, "stride", len(xs))
    shapes = []
    for v, w, s, spec in zip(xs, windows, strides, specs):
        where = "the input" if len(xs) == 1 else f"input {spec.name!r}"
        shapes.append(occlusion_windows(v.shape[1:], w, s, where))
    bases = call.baselines(baseline)
    out, mask = call.outputs_and_masks()
    score = per_sample(out * mask)
    n, device = call.n, xs[0].device
    attributions, total_windows = [], 0
    for j, (v, b, (win, step)) in enumerate(zip(xs, bases, shapes)):
        shape = tuple(v.shape[1:])
        grid = _window_grid(shape, win, step, device)
        counts = [len(g) for g in grid]
        windows_j = math.prod(counts)
        total_windows += windows_j
        # how many windows cover each element: the product of the per-axis counts
        covered = _outer([_axis_cover(g, d, w, device).sum(0)
                          for g, d, w in zip(grid, shape, win)])
        acc = torch.zeros_like(v)
        total = windows_j * n                      # rows r = k·N + i: window-major
        for rows in _rows(total, rows_per_pass or total, device):
            sample, k = rows % n, rows // n
            per_axis, rest = [], k
            for d in reversed(range(len(shape))):  # C-order: the last axis fastest
                starts = grid[d][rest % counts[d]]
                rest = rest // counts[d]
                per_axis.append(_axis_cover(starts, shape[d], win[d], device))
            occluded = _cover(per_axis[::-1])
            copy = torch.where(occluded, b[sample], v[sample])
            copies = [copy if i == j else u[sample] for i, u in enumerate(xs)]
            drop = score[sample] - _scores(call, copies, mask[sample])
            acc.index_add_(0, sample, _view(drop, len(shape)) * occluded.to(v.dtype))
        attributions.append(acc / covered.to(v.dtype))
    info = {"windows": torch.full((n,), total_windows, device=device)} if return_all else {}
    return _result(call, attributions, score, return_all, **info)


# ---------------------------------------------------------------------------- RISE

def _require_image(v, method, alternatives):
    channels, spatial = _spatial(v.shape[1:])
    if not channels or len(spatial) > 3:
        raise ValueError(f"{method} masks image-like input (N, C, L), (N, C, H, W) or "
                         f"(N, C, D, H, W); this input has shape {tuple(v.shape)}"
                         f"{' (tabular)' if not channels else ''}: use {alternatives}")
    return spatial


def rise_masks(count, spatial, cells, p, generator=None, *, dtype=torch.float64,
               device=None):
    """``count`` RISE masks of shape ``spatial``, (count, *spatial), values in [0, 1].

    The paper's procedure: a random binary grid of ``cells`` per axis (each cell kept with
    probability p), upsampled (linear / bilinear / trilinear, ``align_corners=False``) to
    (cells + 1)·c per axis, c = ceil(D / cells) the cell size, and cropped to D with a
    random shift in [0, c) per axis. Grids and shifts are drawn in one call each, on the
    generator's device (the CPU for ``generator=None``; an int seeds a CPU generator), and
    ``rise(seed=s)`` uses the masks
    ``rise_masks(masks, spatial, cells, p, torch.Generator().manual_seed(s))``.
    """
    count, cells, p = _rise_options(count, cells, p)
    if not isinstance(spatial, (tuple, list, torch.Size)) or not 1 <= len(spatial) <= 3 or \
            not all(_is_int(d) and d >= 1 for d in spatial):
        raise ValueError(f"spatial must be a tuple of 1 to 3 positive integers (L,), (H, W) "
                         f"or (D, H, W), got {spatial!r}")
    spatial = tuple(int(d) for d in spatial)
    grids, shifts = _rise_draws(count, spatial, cells, p, check_seed(generator, "generator"))
    return _rise_upsample(grids, shifts, spatial, cells, dtype, device or grids.device)


def _rise_options(masks, cells, p):
    count = check_number(masks, "masks", minimum=1, integer=True)
    cells = check_number(cells, "cells", minimum=1, integer=True)
    p = check_number(p, "p", strict=True)
    if p > 1:
        raise ValueError(f"p is the probability that a grid cell is kept: give 0 < p ≤ 1, "
                         f"got {p}")
    return count, cells, p


def _rise_draws(count, spatial, cells, p, generator):
    dev = _draw_device(generator)
    grids = torch.rand(count, *([cells] * len(spatial)), generator=generator, device=dev) < p
    cell = [math.ceil(d / cells) for d in spatial]
    shifts = torch.stack([(torch.rand(count, generator=generator, device=dev) * c).long()
                          .clamp_max(c - 1) for c in cell], 1)
    return grids, shifts


def _rise_upsample(grids, shifts, spatial, cells, dtype, device):
    k = len(spatial)
    cell = [math.ceil(d / cells) for d in spatial]
    up = [(cells + 1) * c for c in cell]
    mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[k]
    g = grids.to(device=device, dtype=dtype).unsqueeze(1)
    big = F.interpolate(g, size=up, mode=mode, align_corners=False)[:, 0]
    shifts = shifts.to(device)
    index = [torch.arange(len(grids), device=device).reshape(-1, *([1] * k))]
    for d in range(k):
        at = shifts[:, d:d + 1] + torch.arange(spatial[d], device=device)   # (M, D_d)
        index.append(at.reshape(len(grids), *([1] * d), spatial[d], *([1] * (k - d - 1))))
    return big[tuple(index)].clamp_(0, 1)     # interpolation may round a hair past 1


def rise(graph, x, target=None, *, masks=2000, cells=7, p=0.5, seed=None, batch_size=None,
         return_all=False):
    """RISE (Petsiuk et al.): the score of x under random smooth masks, averaged with the
    masks as weights,

        S(x) = (1 / (M · p)) Σ_{i=1}^{M} s(x ⊙ M_i) · M_i,

    masked elements going to 0 (the paper's black image). The masks are
    :func:`rise_masks`: binary ``cells`` × ``cells`` grids with keep probability p,
    upsampled bilinearly to (cells + 1)·c and randomly shifted and cropped to (H, W). One set
    of M masks serves every sample of the batch (the draws do not depend on N, so a sample
    gets the same map alone or in a batch). The explained class is fixed at x.

    Image-like input only: samples (C, H, W), (C, L) (1-d masks) or (C, D, H, W); tabular
    input is refused. The map does not depend on the channel and is returned repeated over
    the channel axis, shaped like x.

    Parameters
    ----------
    graph : neon.Graph
        A graph with one input.
    x : tensor or ndarray, (N, C, *spatial)
    target : as in :func:`lrp.explain`
    masks : int
        The number of masks M (default 2000; the paper uses 4000–8000 for ImageNet).
    cells : int
        Grid cells per spatial axis (default 7).
    p : float
        The probability that a cell is kept, 0 < p ≤ 1 (default 0.5).
    seed : int or torch.Generator, optional
        Makes the masks repeatable (an int seeds a CPU generator, so results agree across
        devices); None draws from torch's global generator.
    batch_size : int, optional
        Masked copies (rows) per forward pass; default: all M × N in one.
    return_all : bool
        Return an :class:`lrp.calls.Attribution` (with the score per sample at x).

    References
    ----------
    Petsiuk, Das & Saenko, "RISE: randomized input sampling for explanation of black-box
    models", BMVC 2018.
    """
    check_flag(return_all, "return_all")
    count, cells, p = _rise_options(masks, cells, p)
    generator = check_seed(seed)
    call = Call(graph, x, target, None, method="lrp.rise")
    rows_per_pass = check_batch_size(batch_size)
    v = _one_input(call, "lrp.rise")
    spatial = _require_image(v, "lrp.rise", "lrp.occlusion or lrp.lime for tabular data")
    grids, shifts = _rise_draws(count, spatial, cells, p, generator)
    out, mask = call.outputs_and_masks()
    score = per_sample(out * mask)
    n, device, dims = call.n, v.device, len(spatial)
    saliency = torch.zeros(n, *spatial, dtype=v.dtype, device=device)
    total = count * n                                  # rows r = k·N + i: mask-major
    chunk = rows_per_pass or total
    grids, shifts = grids.to(device), shifts.to(device)
    for rows in _rows(total, chunk, device):
        sample, k = rows % n, rows // n
        first = int(k[0])
        held = _rise_upsample(grids[first:int(k[-1]) + 1], shifts[first:int(k[-1]) + 1],
                              spatial, cells, v.dtype, device)
        m = held[k - first]                            # (R, *spatial)
        s = _scores(call, [v[sample] * m.unsqueeze(1)], mask[sample])
        saliency.index_add_(0, sample, _view(s, dims) * m)
    saliency = (saliency / (count * p)).unsqueeze(1).expand(v.shape)
    return _result(call, [saliency], score, return_all)


# ---------------------------------------------------------------------------- LIME

def lime_kernel(z, kernel_width):
    """LIME's weight of each draw z ∈ {0,1}^d (rows of ``z``):

        π(z) = sqrt(exp(−D(z, 1)² / kernel_width²)) = exp(−D² / (2 kernel_width²)),

    D the cosine distance between z and the all-ones vector (x itself),
    D = 1 − |z|₁ / sqrt(|z|₁ · d) = 1 − sqrt(|z|₁ / d), and D = 1 for z = 0 (scikit-learn's
    cosine distance of a zero vector). This is the kernel of the ``lime`` package's image
    explainer (``kernel_width=0.25``, cosine distance, the square root included).
    """
    kernel_width = check_number(kernel_width, "kernel_width", strict=True)
    z = torch.as_tensor(z).to(torch.float64)
    d = z.shape[1]
    distance = 1 - (z.sum(1) / d).sqrt()
    return torch.exp(-distance.square() / (2 * kernel_width ** 2))


def lime_draws(samples, features, generator=None):
    """The draws Z of :func:`lime`, (samples, features) bools: the first row all True (x
    itself), each other entry True with probability 1/2, in one call of ``torch.rand`` on
    the generator's device (the CPU for ``generator=None``; an int seeds a CPU generator);
    ``lime(seed=s)`` uses ``lime_draws(samples, d, torch.Generator().manual_seed(s))``."""
    samples = check_number(samples, "samples", minimum=1, integer=True)
    features = check_number(features, "features", minimum=1, integer=True)
    generator = check_seed(generator, "generator")
    z = torch.rand(samples, features, generator=generator, device=_draw_device(generator)) < 0.5
    z[0] = True
    return z


def _relabel(labels):
    """Integer labels (N, P) mapped to 0 … d_i − 1 per row, and d = max d_i."""
    out = torch.empty_like(labels)
    d = 0
    for i in range(labels.shape[0]):                  # setup, once per sample
        values, inverse = torch.unique(labels[i], return_inverse=True)
        out[i] = inverse
        d = max(d, len(values))
    return out, d


def _grid_labels(spatial, patch, device):
    """Labels (P,) of a regular grid of patches (``patch`` per axis) over ``spatial``."""
    k = len(spatial)
    label = torch.zeros((), dtype=torch.long, device=device)
    for d, (size, step) in enumerate(zip(spatial, patch)):
        blocks = math.ceil(size / step)
        idx = torch.arange(size, device=device) // step
        label = label * blocks + idx.reshape(*([1] * d), size, *([1] * (k - d - 1)))
    return label.expand(spatial).reshape(-1)


def _slic_labels(v):
    """SLIC superpixels per sample (each min-max scaled to [0, 1]); None without
    scikit-image or for anything but 2-d images."""
    if v.dim() != 4:
        return None
    try:
        from skimage.segmentation import slic
    except ImportError:
        return None
    images = v.detach().to(torch.float64)
    low = images.amin(dim=(1, 2, 3), keepdim=True)
    high = images.amax(dim=(1, 2, 3), keepdim=True)
    images = ((images - low) / (high - low).clamp_min(1e-12)).cpu().numpy()
    labels = []
    for image in images:                              # setup, once per sample
        channels = image.shape[0]
        img = image[0] if channels == 1 else np.moveaxis(image, 0, -1)
        seg = slic(img, n_segments=50, compactness=10.0, start_label=0,
                   channel_axis=None if channels == 1 else -1)
        labels.append(np.asarray(seg, dtype=np.int64).reshape(-1))
    return torch.as_tensor(np.stack(labels), device=v.device)


def _lime_features(v, features):
    """(labels (N, P) in 0 … d − 1 over the spatial positions, d)."""
    n, device = v.shape[0], v.device
    channels, spatial = _spatial(v.shape[1:])
    if features is None:
        if not channels:
            return torch.arange(spatial[0], device=device).expand(n, -1), spatial[0]
        labels = _slic_labels(v)
        if labels is None:
            patch = tuple(math.ceil(d / 8) for d in spatial)
            return _grid_labels(spatial, patch, device).expand(n, -1), \
                math.prod(math.ceil(d / c) for d, c in zip(spatial, patch))
        return _relabel(labels)
    if _is_int(features):
        if features < 1:
            raise ValueError(f"features as an integer is the patch size of a regular grid: "
                             f"give a positive integer, got {features}")
        if features > max(spatial):
            raise ValueError(f"features={features}: the patch is larger than the input's "
                             f"spatial size {spatial}; give a patch size ≤ {max(spatial)}")
        patch = (int(features),) * len(spatial)
        return _grid_labels(spatial, patch, device).expand(n, -1), \
            math.prod(math.ceil(d / c) for d, c in zip(spatial, patch))
    if hasattr(features, "to_numpy"):
        features = features.to_numpy()
    if isinstance(features, (list, tuple)):
        features = np.asarray(features)
    if not isinstance(features, (torch.Tensor, np.ndarray)):
        raise TypeError(f"features must be None, a patch size (int) or an integer "
                        f"segmentation array of shape {spatial} (or {(n, *spatial)}, one per "
                        f"sample), got {type(features).__name__}")
    seg = torch.as_tensor(features)
    if seg.dtype == torch.bool or seg.is_floating_point() or seg.is_complex():
        raise TypeError(f"features must be an integer segmentation array (one label per "
                        f"spatial position), got dtype {seg.dtype}")
    if tuple(seg.shape) == spatial:
        seg = seg.expand(n, *spatial)
    elif tuple(seg.shape) != (n, *spatial):
        raise ValueError(f"features has shape {tuple(seg.shape)}; give one label per spatial "
                         f"position of a sample, shape {spatial}, or one such array per "
                         f"sample, shape {(n, *spatial)}")
    return _relabel(seg.to(device=device, dtype=torch.long).reshape(n, -1))


def _fit(z, y, weights, regressor, alpha):
    """One weighted multi-output linear fit: (coefficients (N, d), intercepts (N,), R² (N,))."""
    from sklearn.linear_model import Lasso, Ridge
    from sklearn.metrics import r2_score

    n, d = y.shape[1], z.shape[1]
    model = Ridge(alpha=alpha) if regressor == "ridge" else Lasso(alpha=alpha)
    model.fit(z, y, sample_weight=weights)
    coef = np.reshape(model.coef_, (n, d))
    intercept = np.reshape(model.intercept_, (n,))
    r2 = r2_score(y, z @ coef.T + intercept, sample_weight=weights, multioutput="raw_values")
    return coef, intercept, np.reshape(r2, (n,))


def lime(graph, x, target=None, *, samples=1000, kernel_width=0.25, features=None,
         baseline=0.0, regressor="ridge", alpha=1.0, seed=None, batch_size=None,
         return_all=False):
    """LIME (Ribeiro et al.): a weighted linear model of the score on interpretable
    features, fitted around x.

    The input is cut into d features (superpixels, patches or tabular features). A draw
    z ∈ {0,1}^d keeps the features with z_k = 1 and sets the others to the baseline; the
    model g(z) = b + Σ_k w_k z_k is fitted to s(copy(z)) by weighted least squares with the
    penalty of ``regressor``, weights :func:`lime_kernel` π(z) (the ``lime`` package's image
    kernel: cosine distance to the all-ones z, width 0.25). Each element of the input gets
    its feature's weight w_k. The explained class is fixed at x.

    As in the ``lime`` package the first draw is z = 1 (x itself) and the others keep each
    feature with probability 1/2. One set of draws Z (samples × d) serves every sample of
    the batch, so the kernel weights are the same for all and one multi-output fit
    (scikit-learn, y of shape (samples, N)) fits every sample at once. With per-sample
    segmentations of different sizes d is the largest; a sample's unused columns of Z
    select nothing in it.

    Parameters
    ----------
    graph : neon.Graph
        A graph with one input.
    x : tensor, ndarray or DataFrame
    target : as in :func:`lrp.explain`
    samples : int
        Draws of z (default 1000), the all-ones draw included.
    kernel_width : float
        The kernel width (> 0; default 0.25).
    features : None, int, or integer array
        None: every feature its own for tabular (N, F) input; for images SLIC superpixels
        (scikit-image's ``slic``, 50 segments, on each sample min-max scaled to [0, 1]) when
        scikit-image is importable, else a regular grid of about 8 patches per spatial
        axis. An int: the patch size of a regular grid (for tabular input, runs of that many
        features). An array of integer labels, one per spatial position, shape (H, W)
        ((L,), (F,) for 1-d and tabular input) or one per sample, shape (N, H, W); labels
        need not be consecutive.
    baseline : number, tensor or array
        The value of switched-off features; a tensor may be shaped like x or like one
        sample. Default 0.
    regressor : {"ridge", "lasso"}
        ``sklearn.linear_model.Ridge(alpha)`` (LIME's default) or ``Lasso(alpha)``.
    alpha : float
        The penalty weight (≥ 0 for ridge, > 0 for lasso; default 1, LIME's).
    seed : int or torch.Generator, optional
        Makes the draws repeatable (an int seeds a CPU generator, so results agree across
        devices); None draws from torch's global generator.
    batch_size : int, optional
        Perturbed copies (rows) per forward pass; default: all samples × N in one.
    return_all : bool
        Return an :class:`lrp.calls.Attribution` whose ``info`` holds, per sample, ``r2``
        (the fit's weighted R²), ``intercept`` (b), ``coefficients`` (w, shape (N, d)) and
        ``features`` (the labels used, shape (N, *spatial)).

    References
    ----------
    Ribeiro, Singh & Guestrin, "'Why should I trust you?': explaining the predictions of any
    classifier", KDD 2016.
    """
    check_flag(return_all, "return_all")
    draws = check_number(samples, "samples", minimum=2, integer=True)
    width = check_number(kernel_width, "kernel_width", strict=True)
    check_choice(regressor, "regressor", LIME_REGRESSORS)
    alpha = check_number(alpha, "alpha", strict=regressor == "lasso")
    generator = check_seed(seed)
    call = Call(graph, x, target, None, method="lrp.lime")
    rows_per_pass = check_batch_size(batch_size)
    v = _one_input(call, "lrp.lime")
    labels, d = _lime_features(v, features)
    (base,) = call.baselines(baseline)
    z = lime_draws(draws, d, generator)
    weights = lime_kernel(z, width)
    out, mask = call.outputs_and_masks()
    score = per_sample(out * mask)
    n, device = call.n, v.device
    channels, spatial = _spatial(v.shape[1:])
    zd = z.to(device)
    pieces = []
    total = draws * n                                # rows r = k·N + i: draw-major
    for rows in _rows(total, rows_per_pass or total, device):
        sample, k = rows % n, rows // n
        keep = zd[k.unsqueeze(1), labels[sample]]    # (R, P)
        keep = keep.reshape(len(rows), *([1] * channels), *spatial)
        pieces.append(_scores(call, [torch.where(keep, v[sample], base[sample])],
                              mask[sample]))
    y = torch.cat(pieces).reshape(draws, n)
    coef, intercept, r2 = _fit(z.cpu().numpy().astype(np.float64),
                               y.detach().cpu().numpy().astype(np.float64),
                               weights.cpu().numpy(), regressor, alpha)
    coef = torch.as_tensor(coef, dtype=v.dtype, device=device)
    attribution = coef.gather(1, labels).reshape(n, *([1] * channels), *spatial).expand(v.shape)
    info = {}
    if return_all:
        info = {"r2": torch.as_tensor(r2, dtype=v.dtype, device=device),
                "intercept": torch.as_tensor(intercept, dtype=v.dtype, device=device),
                "coefficients": coef, "features": labels.reshape(n, *spatial)}
    return _result(call, [attribution], score, return_all, **info)
