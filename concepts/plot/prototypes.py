"""Plots of activation-maximization prototypes: images (:func:`image`, :func:`image_grid`)
and tabular prototypes as feature bars (:func:`feature_view`).

Images are drawn as they are fed to the model, mapped to [0, 1] for display by one of

* ``scale="box"`` (the default when the result has a box): x ↦ (x − low) / (high − low)
  elementwise, so every image of a grid is on the model's own input range;
* ``scale="each"``: each image's own min and max (the default without a box);
* ``scale="shared"``: the min and max over all images drawn.

One channel is drawn in grey, three as RGB; other channel counts are refused (pick or average
channels first). Non-finite values are refused with their count and positions, and a batch
passed where one image is expected is refused, as in :mod:`lrp.plot`.
"""

from __future__ import annotations

import numpy as np

from lrp.plot import _as_array, _bar_axes, _blank, _nonfinite_message, _xlimits

__all__ = ["image", "image_grid", "feature_view", "SCALES"]

SCALES = ("box", "each", "shared")


def _is_result(x) -> bool:
    return hasattr(x, "inputs") and hasattr(x, "objective") and hasattr(x, "trajectory")


def _check_finite(a: np.ndarray, what: str) -> None:
    message = _nonfinite_message(a, what)
    if message:
        raise ValueError(message)


def _channels_last(a: np.ndarray) -> np.ndarray:
    """(H, W) or (C, H, W) with C ∈ {1, 3} → (H, W) or (H, W, 3)."""
    if a.ndim == 2:
        return a
    if a.ndim == 3 and a.shape[0] == 1:
        return a[0]
    if a.ndim == 3 and a.shape[0] == 3:
        return np.moveaxis(a, 0, -1)
    if a.ndim == 3:
        raise ValueError(f"an image of shape {a.shape} has {a.shape[0]} channels; one "
                         "(grey) or three (RGB) can be drawn: pick channels (x[:3]) or "
                         "average them (x.mean(0, keepdims=True))")
    raise ValueError(f"cannot draw an array of shape {a.shape} as an image: expected "
                     "(H, W) or (C, H, W)")


def _box(box, low, high):
    if low is not None or high is not None:
        if low is None or high is None:
            raise ValueError("give both low and high (the input range), or neither")
        return _as_array(low), _as_array(high)
    if box is None:
        return None
    return _as_array(box[0]), _as_array(box[1])


def _display(images, scale, box):
    """Images mapped to [0, 1] for display."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(map(repr, SCALES))}, got {scale!r}")
    if scale == "box":
        if box is None:
            raise ValueError("scale='box' needs the input range: a result with a box, or "
                             "low= and high=; otherwise use scale='each' or 'shared'")
        low, high = box
        width = high - low
        out = []
        for a in images:
            lo, w = np.broadcast_to(low, a.shape), np.broadcast_to(width, a.shape)
            out.append(np.where(w > 0, (a - lo) / np.where(w > 0, w, 1), 0.5))
        return [np.clip(a, 0, 1) for a in out]
    if scale == "shared":
        lo = min(float(a.min()) for a in images)
        hi = max(float(a.max()) for a in images)
        return [(a - lo) / (hi - lo) if hi > lo else np.full_like(a, 0.5) for a in images]
    return [(a - a.min()) / (a.max() - a.min()) if a.max() > a.min()
            else np.full_like(a, 0.5) for a in images]


def _draw_image(ax, a, title=None):
    shown = _channels_last(a)
    if shown.ndim == 2:
        ax.imshow(shown, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(shown, interpolation="nearest")
    _blank(ax)
    if title:
        ax.set_title(title, fontsize=8)


def image(x, ax=None, *, title=None, scale=None, low=None, high=None):
    """Draw one image prototype.

    Parameters
    ----------
    x : array or tensor, (H, W), (C, H, W) or (1, C, H, W)
        One image (C = 1 or 3).
    ax : Axes, optional
    title : str, optional
    scale : {"box", "each", "shared"}, optional
        How values map to [0, 1]: ``"box"`` with ``low``/``high``, else ``"each"``.
    low, high : number or array, optional
        The input range (broadcast to the image).

    Returns
    -------
    Axes

    Raises
    ------
    ValueError
        For a batch (a leading axis of more than one image; draw it with :func:`image_grid`),
        for non-finite values, other channel counts or shapes.
    """
    import matplotlib.pyplot as plt

    a = _as_array(x)
    if a.ndim == 4:
        if a.shape[0] != 1:
            raise ValueError(f"image draws one image, got a batch of {a.shape[0]} (shape "
                             f"{a.shape}); pass one, x[i], or draw them all with "
                             "concepts.plot.image_grid")
        a = a[0]
    if a.ndim == 3 and a.shape[0] not in (1, 3):
        raise ValueError(f"image draws one image, got shape {a.shape}: a batch of "
                         f"{a.shape[0]} images (draw it with concepts.plot.image_grid) or "
                         f"an image of {a.shape[0]} channels (pick or average channels)")
    _check_finite(a, "the image")
    box = _box(None, low, high)
    (shown,) = _display([a], scale or ("box" if box is not None else "each"), box)
    if ax is None:
        _, ax = plt.subplots(figsize=(2.5, 2.5), layout="constrained")
    _draw_image(ax, shown, title)
    return ax


def _image_batch(images):
    """(list of (C, H, W) or (H, W) arrays, box or None, titles or None)."""
    if _is_result(images):
        a = _as_array(images.inputs)
        if a.ndim not in (3, 4):
            raise ValueError(f"image_grid draws image prototypes; this result holds inputs "
                             f"of shape {a.shape[1:]} (tabular: use concepts.plot."
                             "feature_view)")
        values = np.asarray(_as_array(images.objective)).reshape(-1)
        order = np.asarray(images.order)
        return ([a[i] for i in order], images.box,
                [f"start {i}: J = {values[i]:.3g}" for i in order])
    if isinstance(images, (list, tuple)):
        arrays = [_as_array(i) for i in images]
    else:
        a = _as_array(images)
        if a.ndim not in (3, 4):
            raise ValueError(f"image_grid takes a batch of images (N, C, H, W) or (N, H, W), "
                             f"got shape {a.shape}; draw one image with concepts.plot.image")
        arrays = list(a)
    return arrays, None, None


def image_grid(images, *, titles=None, ncols=None, size=2.0, scale=None, low=None,
               high=None, suptitle=None):
    """Draw image prototypes side by side.

    Parameters
    ----------
    images : MaximizationResult, array or tensor (N, C, H, W) / (N, H, W), or list of images
        A result is drawn best start first, each panel titled with its start and final
        objective, on the result's box.
    titles : sequence of str, optional
        One per image (replacing a result's).
    ncols : int, optional
        Panels per row (default: all in one row, at most 8).
    size : float
        Panel size in inches.
    scale : {"box", "each", "shared"}, optional
        Default: ``"box"`` when a box is known (a result's, or ``low``/``high``), else
        ``"each"``.
    low, high : number or array, optional
        The input range.
    suptitle : str, optional

    Returns
    -------
    Figure

    Raises
    ------
    ValueError
        For non-finite values (count and positions), a tabular result, channel counts other
        than 1 and 3, a wrong number of titles, a bad ``ncols`` or ``scale``.
    """
    import matplotlib.pyplot as plt

    arrays, box, default_titles = _image_batch(images)
    if not arrays:
        raise ValueError("image_grid got no images")
    for i, a in enumerate(arrays):
        _check_finite(a, f"image {i}")
    given = _box(box, low, high)
    if titles is not None:
        if isinstance(titles, str) or len(titles) != len(arrays):
            raise ValueError(f"titles must be a sequence of one title per image "
                             f"({len(arrays)}), got {titles!r}")
        default_titles = list(titles)
    n = len(arrays)
    if ncols is None:
        ncols = min(n, 8)
    if isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols!r}")
    if isinstance(size, bool) or not isinstance(size, (int, float)) or not size > 0:
        raise ValueError(f"size must be a positive number of inches, got {size!r}")
    shown = _display(arrays, scale or ("box" if given is not None else "each"), given)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3),
                             squeeze=False, layout="constrained")
    for k, ax in enumerate(axes.ravel()):
        if k < n:
            _draw_image(ax, shown[k], default_titles[k] if default_titles else None)
        else:
            ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def feature_view(result, feature_names=None, *, data=None, ax=None, title=None):
    """Bars of tabular prototypes, one panel per start (all on the same x-limits).

    Parameters
    ----------
    result : MaximizationResult or array (N, F) / (F,)
    feature_names : sequence of str, optional
        Default: the result's (the graph's) feature names, else "feature k".
    data : array (n, F), optional
        Draw z-scores (x − mean) / std against these data instead of raw values, so that
        features of different scales compare (constant features: x − mean).
    ax : Axes or sequence of Axes, optional
        One per start.
    title : str or sequence of str, optional
        A result's panels are titled with the start and its final objective.

    Returns
    -------
    Axes (one prototype) or ndarray of Axes

    Raises
    ------
    ValueError
        For image-shaped prototypes, non-finite values, names or data of the wrong width.
    """
    from lrp.plot import _draw_bars

    titles = None
    if _is_result(result):
        a = _as_array(result.inputs)
        feature_names = feature_names if feature_names is not None else result.feature_names
        values = np.asarray(_as_array(result.objective)).reshape(-1)
        titles = [f"start {i}: J = {v:.3g}" for i, v in enumerate(values)]
    else:
        a = _as_array(result)
    one = a.ndim == 1
    a = np.atleast_2d(a)
    if a.ndim != 2:
        raise ValueError(f"feature_view draws tabular prototypes (N, F); got shape "
                         f"{a.shape[1:]} per prototype (images: use concepts.plot.image_grid)")
    _check_finite(a, "the prototypes")
    width = a.shape[1]
    names = [f"feature {k}" for k in range(width)] if feature_names is None else \
        [str(s) for s in feature_names]
    if len(names) != width:
        raise ValueError(f"{len(names)} feature names for {width} features")
    label = "value"
    if data is not None:
        d = _as_array(data)
        if d.ndim != 2 or d.shape[1] != width:
            raise ValueError(f"data must be (n, {width}), got shape {d.shape}")
        _check_finite(d, "data")
        mean, std = d.mean(0), d.std(0)
        a = (a - mean) / np.where(std > 0, std, 1)
        label = "z-score against the data"
    suptitle = None
    if isinstance(title, str):
        if len(a) == 1:
            titles = [title]
        else:
            suptitle = title
    elif title is not None:
        titles = list(title)
        if len(titles) != len(a):
            raise ValueError(f"one title per prototype ({len(a)}), got {len(titles)}")
    axes = _bar_axes(ax, len(a), width, True)
    bars = [(row, names) for row in a]
    xlim = _xlimits(bars)
    for i, (axis, row) in enumerate(zip(axes, a)):
        _draw_bars(axis, row, names, xlim)
        if i:
            axis.tick_params(labelleft=False)
        if titles is not None:
            axis.set_title(titles[i], fontsize=9)
        axis.set_xlabel(label, fontsize=8)
    if suptitle:
        axes[0].figure.suptitle(suptitle)
    return axes[0] if one else np.asarray(axes)
