"""Plots of relevance that do not mislead.

Contract shared by every function here:

* **One sample per map.** :func:`heatmap` draws one sample and refuses a batch; batches go to
  :func:`heatmap_grid` or :func:`explanation_grid`, one panel per sample.
* **Symmetric scale, zero is white.** A map is drawn on [−m, m] of a diverging colormap
  (red positive, blue negative), with m = ``vmax`` or max |R| over what is drawn.
* **One scale per figure.** Multi-panel figures share one m (max |R| over all panels) and one
  colour bar, so panels can be compared; per-panel scales only with ``shared_scale=False``,
  and then every panel names its own scale ("±0.31") and has its own colour bar.
* **No silent non-finite values.** NaN and ±inf are refused with their count and positions;
  ``nonfinite="mask"`` draws them in :data:`MASK_COLOUR` and says so under the map.
* **Say what the map sums to.** Wherever an explained output f is printed beside a map, the
  caption also states ΣR and its share of f (:func:`sum_caption`), so a map that holds only
  part of f says so.

The grids use matplotlib's "compressed" layout, which packs the square panels together and
may leave a margin around them: save with ``bbox_inches="tight"`` to drop it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["heatmap", "heatmap_grid", "explanation_grid", "feature_bars", "sum_caption",
           "symmetric_limit", "to_image", "MASK_COLOUR"]

MASK_COLOUR = "black"
"""Colour of non-finite pixels drawn with ``nonfinite="mask"``."""

POSITIVE, NEGATIVE = "tab:red", "tab:blue"
_MAX_CHANNELS = 4  # a 3-d array with more leading entries is taken for a batch
_SHOWN_POSITIONS = 5
_CHAR_INCHES = 0.62 * 7 / 72  # mean width of a character of a 7 pt caption
_BAR_INCHES = 4.0  # longest shared colour bar


# ------------------------------------------------------------------------------ conversions


def _as_array(x) -> np.ndarray:
    """A float numpy array from a numpy array, torch tensor, pandas object or sequence."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    elif hasattr(x, "to_numpy"):
        x = x.to_numpy()
    return np.asarray(x, dtype=float)


def _batch_error(shape) -> ValueError:
    return ValueError(
        f"heatmap draws one sample, got an array of shape {tuple(shape)} that holds "
        f"{shape[0]} samples along its leading axis (summing them would mix the samples); "
        "pass one sample, e.g. R[i], or draw the batch with lrp.plot.heatmap_grid(R) or "
        "lrp.plot.explanation_grid(images, {'method': R})"
        + ("; if it is one sample with many channels, sum them first: R.sum(0)"
           if len(shape) == 3 else "")
        + ("; channels last? move them first: R.transpose(2, 0, 1)"
           if len(shape) == 3 and shape[-1] <= _MAX_CHANNELS else ""))


def to_image(t) -> np.ndarray:
    """The 2-d map of one sample, as drawn.

    Parameters
    ----------
    t : array or tensor
        One sample, of shape (H, W); (1, H, W) or (3, H, W), whose channels are **summed**;
        or (1, C, H, W). A (2, H, W) or (4, H, W) array is refused as ambiguous (channels of
        one sample, or a few samples?).

    Returns
    -------
    numpy.ndarray
        Shape (H, W), float.

    Raises
    ------
    ValueError
        For a batch, i.e. 4-d with more than one sample, or 3-d with more than 4 leading
        entries (a batch of maps, not channels: sum the channels yourself if it is one
        sample), and for any other number of dimensions.
    """
    a = _as_array(t)
    if a.ndim == 4:
        if a.shape[0] != 1:
            raise _batch_error(a.shape)
        a = a[0]
    if a.ndim == 3:
        if a.shape[0] > _MAX_CHANNELS:
            raise _batch_error(a.shape)
        if a.shape[0] not in (1, 3):    # 2 or 4: channels of one sample, or a few samples?
            raise ValueError(
                f"an array of shape {a.shape} is ambiguous: {a.shape[0]} channels of one "
                f"sample, or {a.shape[0]} samples? Sum the channels yourself (R.sum(0)) or "
                "draw the samples with lrp.plot.heatmap_grid(R); (1, H, W) and RGB-like "
                "(3, H, W) maps are read as channels")
        a = a.sum(0)
    if a.ndim != 2:
        raise ValueError(f"cannot show an array of shape {a.shape} as a map: expected (H, W), "
                         "(C, H, W), (1, H, W) or (1, C, H, W); reshape flat vectors first, "
                         "e.g. R.reshape(8, 8)")
    return a


def _positions(mask: np.ndarray) -> str:
    where = [str(tuple(int(i) for i in p)) for p in np.argwhere(mask)[:_SHOWN_POSITIONS]]
    more = mask.sum() - len(where)
    return ", ".join(where) + (f" and {more} more" if more else "")


def _nonfinite_message(a: np.ndarray, what: str) -> str | None:
    """None if ``a`` is finite, else how many NaN / inf values it has and where."""
    nan, inf = np.isnan(a), np.isinf(a)
    if not (nan.any() or inf.any()):
        return None
    parts = [f"{int(m.sum())} {name} at {_positions(m)}"
             for name, m in (("NaN", nan), ("inf", inf)) if m.any()]
    return f"{what} has non-finite values: " + "; ".join(parts)


def _check_nonfinite(a: np.ndarray, what: str, nonfinite: str) -> int:
    """Raise on non-finite values (``"raise"``) or count them (``"mask"``)."""
    if nonfinite not in ("raise", "mask"):
        raise ValueError(f"nonfinite must be 'raise' or 'mask', got {nonfinite!r}")
    message = _nonfinite_message(a, what)
    if message is None:
        return 0
    if nonfinite == "raise":
        raise ValueError(message + f"; fix them, or pass nonfinite='mask' to draw them in "
                         f"{MASK_COLOUR}")
    return int((~np.isfinite(a)).sum())


def _samples(relevances) -> list[np.ndarray]:
    """One array per sample: the leading axis of an array, or the items of a sequence."""
    if isinstance(relevances, (list, tuple)):
        return [_as_array(r) for r in relevances]
    a = _as_array(relevances)
    if a.ndim < 2:
        raise ValueError(f"expected a batch of maps (N, H, W) or (N, C, H, W), got shape "
                         f"{a.shape}")
    return list(a)


# ------------------------------------------------------------------------------ scale, captions


def _check_vmax(vmax) -> float:
    try:
        if isinstance(vmax, (bool, str, bytes)):
            raise TypeError
        m = float(vmax)
    except (TypeError, ValueError):
        raise ValueError(f"vmax must be a finite number > 0, got {vmax!r}") from None
    if not (np.isfinite(m) and m > 0):
        raise ValueError(f"vmax must be a finite number > 0 (the scale is [-vmax, vmax]), got "
                         f"{vmax!r}")
    return m


def symmetric_limit(maps, vmax=None) -> float:
    """The half-range m of the symmetric colour scale [−m, m].

    Parameters
    ----------
    maps : array or sequence of arrays
        What is drawn (one map or several: m covers them all).
    vmax : float, optional
        If given, m = ``vmax``; it must be finite and > 0.

    Returns
    -------
    float
        ``vmax``, else max |R| over the finite values of ``maps``; 1.0 if that is 0 (an
        all-zero map is white on any scale).

    Raises
    ------
    ValueError
        If ``vmax`` is not a finite number > 0.
    """
    if vmax is not None:
        return _check_vmax(vmax)
    arrays = [_as_array(a) for a in maps] if isinstance(maps, (list, tuple)) else [
        _as_array(maps)]
    finite = [np.abs(a[np.isfinite(a)]) for a in arrays]
    m = max((float(f.max()) for f in finite if f.size), default=0.0)
    return m if m > 0 else 1.0


def sum_caption(relevance, output=None, *, name: str = "f", sep: str = ", ") -> str:
    """What a map sums to, beside the output it explains.

    Parameters
    ----------
    relevance : array or tensor
        One sample's relevance; all of it is summed.
    output : float, optional
        The explained output f(x) of that sample.
    name : str
        How the output is called in the caption ("f", "o", "logit").
    sep : str
        Between the output and the sum (``"\\n"`` for two lines).

    Returns
    -------
    str
        ``"f = 2.31, ΣR = 0.52 (22 %)"``: the share ΣR / f tells when the map holds only part
        of f (biases, stabilizers or rival terms took the rest) or more than f. Without
        ``output``: ``"ΣR = 0.52"``. No share when f is 0 or either value is not finite.
    """
    total = float(_as_array(relevance).sum())
    if output is None:
        return f"ΣR = {total:.3g}"
    o = _as_array(output)
    if o.size != 1:
        raise ValueError(f"output must be one number (this sample's f), got shape {o.shape}")
    f = float(o.reshape(-1)[0])
    caption = f"{name} = {f:.3g}{sep}ΣR = {total:.3g}"
    if f != 0 and np.isfinite(f) and np.isfinite(total):
        caption += f" ({100 * total / f:.0f} %)"
    return caption


def _scale_label(m: float) -> str:
    return f"±{m:.2g}"


# ------------------------------------------------------------------------------ drawing


def _blank(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _colormap(cmap):
    import matplotlib.pyplot as plt

    return plt.get_cmap(cmap).with_extremes(bad=MASK_COLOUR)


def _prepared(relevance, what: str, nonfinite: str) -> tuple[np.ndarray, int]:
    """The 2-d map of one sample and its number of non-finite input values."""
    raw = _as_array(relevance)
    bad = _check_nonfinite(raw, what, nonfinite)
    return to_image(raw), bad


def _separator(pairs, name: str, width: float) -> str:
    """", " if every caption of ``pairs`` (relevance, output) fits on one line of ``width``
    inches at 7 pt, else a line break (for all of them, so that the rows stay aligned)."""
    longest = max((len(sum_caption(r, o, name=name)) for r, o in pairs if o is not None),
                  default=0)
    return "\n" if longest * _CHAR_INCHES > 0.9 * width else ", "


def _caption(relevance, output, name: str, bad: int, sep: str = ", ") -> str | None:
    """The text under a map: :func:`sum_caption` and a note on masked values."""
    lines = [] if output is None else [sum_caption(relevance, output, name=name, sep=sep)]
    if bad:
        lines.append(f"{bad} non-finite in {MASK_COLOUR}")
    return "\n".join(lines) or None


def _draw(ax, image, norm, cmap, title=None, caption=None):
    """imshow one 2-d map on ``norm``; non-finite pixels in MASK_COLOUR. Returns the image."""
    im = ax.imshow(np.ma.masked_invalid(image), cmap=_colormap(cmap), norm=norm,
                   interpolation="nearest")
    _blank(ax)
    if title:
        ax.set_title(title, fontsize=8)
    if caption:
        ax.set_xlabel(caption, fontsize=7)
    return im


def _norm(m: float):
    from matplotlib.colors import Normalize

    return Normalize(vmin=-m, vmax=m)


def _colorbar(fig, im, axes, label=None):
    """A colour bar for ``im`` beside ``axes`` (one Axes, or a list sharing the bar)."""
    if isinstance(axes, list):  # at most _BAR_INCHES long, 0.15 in wide
        boxes = [ax.get_position() for ax in axes]
        tall = (max(b.y1 for b in boxes) - min(b.y0 for b in boxes)) * fig.get_size_inches()[1]
        shrink = min(0.8, _BAR_INCHES / tall)
        aspect = float(np.clip(shrink * tall / 0.15, 10.0, 25.0))
        cb = fig.colorbar(im, ax=axes, shrink=shrink, aspect=aspect, pad=0.02)
    else:
        cb = fig.colorbar(im, ax=axes, fraction=0.046, pad=0.04)
    cb.ax.tick_params(labelsize=7)
    if label:
        cb.set_label(label, fontsize=7)
    return cb


def heatmap(relevance, ax=None, *, cmap: str = "bwr", vmax: float | None = None, title=None,
            colorbar: bool = True, output=None, output_name: str = "f",
            nonfinite: str = "raise"):
    """Draw the relevance map of one sample: red positive, blue negative, white zero.

    Parameters
    ----------
    relevance : array or tensor
        One sample: (H, W); (C, H, W) with C ≤ 4, **summed over channels**; (1, H, W) or
        (1, C, H, W). A batch is refused (use :func:`heatmap_grid`).
    ax : matplotlib Axes, optional
        Where to draw (default: the current axes).
    cmap : str
        A diverging colormap, white at its centre.
    vmax : float, optional
        Half-range m of the scale [−m, m]; default max |R| of this map. Must be finite and
        > 0. Pass the same ``vmax`` to compare maps drawn separately; values beyond ±vmax
        take the end colours.
    title : str, optional
        Axes title.
    colorbar : bool
        Add a colour bar beside the map (default).
    output : float, optional
        The explained output f(x); if given, the caption under the map states f, ΣR and
        their ratio (:func:`sum_caption`).
    output_name : str
        The name of the output in that caption.
    nonfinite : {"raise", "mask"}
        NaN/inf values raise (default), or are drawn in :data:`MASK_COLOUR` with a note
        under the map; the scale then covers the finite values.

    Returns
    -------
    matplotlib Axes
        The image is ``ax.images[0]`` (``get_clim()`` is (−m, m)); its colour bar, if any,
        ``ax.images[0].colorbar``.

    Raises
    ------
    ValueError
        For a batch or an unsupported shape, non-finite values (with ``"raise"``), or a
        ``vmax`` that is not finite and > 0.
    """
    import matplotlib.pyplot as plt

    image, bad = _prepared(relevance, "relevance", nonfinite)
    m = symmetric_limit(image, vmax)
    ax = ax or plt.gca()
    sep = _separator([(relevance, output)], output_name,
                     ax.get_position().width * ax.figure.get_figwidth())
    im = _draw(ax, image, _norm(m), cmap, title,
               _caption(relevance, output, output_name, bad, sep))
    if colorbar:
        _colorbar(ax.figure, im, ax)
    return ax


def _figsize(nrows: int, ncols: int, size: float, captions: bool) -> tuple[float, float]:
    """Panels of ``size`` inches, room for a title (and a caption) per row, a colour bar and
    a figure title."""
    return size * ncols + 1.0, (size + (0.45 if captions else 0.3)) * nrows + 0.4


def _finish(fig, suptitle) -> None:
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)


def _grid_axes(n: int, ncols: int | None, size: float, captions: bool):
    import matplotlib.pyplot as plt

    ncols = min(n, 8) if ncols is None else max(1, min(n, int(ncols)))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=_figsize(nrows, ncols, size, captions),
                             squeeze=False, layout="compressed")
    for ax in axes.ravel()[n:]:
        ax.set_axis_off()
    return fig, axes.ravel()[:n]


def _limits(images, vmax, shared_scale: bool) -> list[float]:
    """m per panel: one for all (shared) or each panel's own."""
    if shared_scale:
        return [symmetric_limit(images, vmax)] * len(images)
    return [symmetric_limit(image, vmax) for image in images]


def _panel_title(title, m: float, shared_scale: bool):
    if shared_scale:
        return title
    return f"{title} ({_scale_label(m)})" if title else _scale_label(m)


def _items(values, n: int, what: str) -> list:
    """``values`` as a list of ``n`` (None: n Nones); tensors become floats."""
    if values is None:
        return [None] * n
    values = list(_as_array(values) if hasattr(values, "detach") else values)
    if len(values) != n:
        raise ValueError(f"{what} has {len(values)} entries for {n} samples")
    return values


def heatmap_grid(relevances, *, titles=None, outputs=None, output_name: str = "f",
                 shared_scale: bool = True, vmax: float | None = None, cmap: str = "bwr",
                 ncols: int | None = None, nonfinite: str = "raise", size: float = 1.6,
                 suptitle: str | None = None):
    """Draw a batch of relevance maps, one panel per sample, on one scale by default.

    Parameters
    ----------
    relevances : array, tensor or sequence
        (N, H, W) or (N, C, H, W) (channels summed), or a sequence of maps each accepted by
        :func:`heatmap`.
    titles : sequence of str, optional
        One title per panel.
    outputs : sequence of float, optional
        The explained output f per sample; each caption then states f, ΣR and their ratio.
    output_name : str
        The name of the output in the captions.
    shared_scale : bool
        True (default): every panel on [−m, m], m = ``vmax`` or max |R| over **all**
        panels, with one colour bar for the figure. False: each panel on its own m, named
        in its title ("±0.31"), each with its own colour bar.
    vmax : float, optional
        Fixes m (finite, > 0) for every panel.
    cmap : str
        A diverging colormap, white at its centre.
    ncols : int, optional
        Panels per row (default: up to 8).
    nonfinite : {"raise", "mask"}
        As in :func:`heatmap`.
    size : float
        Panel size in inches.
    suptitle : str, optional
        A title for the figure.

    Returns
    -------
    matplotlib Figure
        Its heatmap panels are the axes with images, in sample order.
    """
    samples = _samples(relevances)
    n = _count(len(samples))
    titles, outputs = _items(titles, n, "titles"), _items(outputs, n, "outputs")
    prepared = [_prepared(r, f"relevances[{i}]", nonfinite) for i, r in enumerate(samples)]
    limits = _limits([image for image, _ in prepared], vmax, shared_scale)
    fig, axes = _grid_axes(n, ncols, size, outputs[0] is not None or nonfinite == "mask")
    norms = _norms(limits, shared_scale)
    sep = _separator(zip(samples, outputs), output_name, size)
    for i, (ax, (image, bad)) in enumerate(zip(axes, prepared)):
        im = _draw(ax, image, norms[i], cmap, _panel_title(titles[i], limits[i], shared_scale),
                   _caption(samples[i], outputs[i], output_name, bad, sep))
        if not shared_scale:
            _colorbar(fig, im, ax)
    if shared_scale:
        _colorbar(fig, im, list(axes), label="relevance (shared scale)")
    _finish(fig, suptitle)
    return fig


def _count(n: int) -> int:
    if n == 0:
        raise ValueError("no maps to draw: got an empty batch")
    return n


def _norms(limits: list[float], shared_scale: bool) -> list:
    """One Normalize per panel; with a shared scale, the same object for all panels."""
    if shared_scale:
        return [_norm(limits[0])] * len(limits)
    return [_norm(m) for m in limits]


def explanation_grid(images, relevances: dict, row_titles=None, *, shared_scale: bool = True,
                     vmax: float | None = None, cmap: str = "bwr", outputs=None,
                     output_name: str = "f", orientation: str = "rows", nonfinite: str = "raise",
                     size: float = 1.6, suptitle: str | None = None):
    """Each input beside its heatmaps, one per method, on one scale by default.

    Parameters
    ----------
    images : sequence of arrays or tensors
        The inputs, one per sample (drawn in grey; channels summed as in :func:`to_image`).
    relevances : dict of str -> sequence
        Method name → relevance maps, one per image (each accepted by :func:`heatmap`).
    row_titles : sequence of str, optional
        A label per sample (e.g. "label 3, predicted 3").
    shared_scale : bool
        True (default): all heatmaps, all methods and samples, on one [−m, m] with
        m = ``vmax`` or max |R| over them all, and one colour bar. False: each panel on its
        own m, named in its title ("±0.31"), each with its own colour bar.
    vmax : float, optional
        Fixes m (finite, > 0).
    cmap : str
        A diverging colormap, white at its centre.
    outputs : sequence of float, optional
        The explained output f per sample; every heatmap's caption then states f, ΣR of that
        map and their ratio (:func:`sum_caption`).
    output_name : str
        The name of the output in the captions.
    orientation : {"rows", "columns"}
        One row per sample (inputs in the first column), or one column per sample (inputs
        in the first row).
    nonfinite : {"raise", "mask"}
        As in :func:`heatmap`.
    size : float
        Panel size in inches.
    suptitle : str, optional
        A title for the figure.

    Returns
    -------
    matplotlib Figure
        Inputs and heatmaps are ``fig.axes[:n * (k + 1)]``, row-major in the chosen
        orientation, then the colour bar(s).
    """
    import matplotlib.pyplot as plt

    if orientation not in ("rows", "columns"):
        raise ValueError(f"orientation must be 'rows' or 'columns', got {orientation!r}")
    if not hasattr(relevances, "items"):
        raise TypeError("relevances must be a dict {method name: relevance maps}, e.g. "
                        f"{{'LRP': R}}, got {type(relevances).__name__}")
    n, names = _count(len(images)), list(relevances)
    row_titles, outputs = _items(row_titles, n, "row_titles"), _items(outputs, n, "outputs")
    maps = {name: _items(_samples(r), n, f"relevances[{name!r}]")
            for name, r in relevances.items()}
    prepared = [(name, i, *_prepared(r, f"relevances[{name!r}][{i}]", nonfinite))
                for name, rs in maps.items() for i, r in enumerate(rs)]
    limits = _limits([image for _, _, image, _ in prepared], vmax, shared_scale)
    shape = (n, len(names) + 1) if orientation == "rows" else (len(names) + 1, n)
    fig, grid = plt.subplots(*shape, figsize=_figsize(*shape, size, outputs[0] is not None),
                             squeeze=False, layout="compressed")
    axes = grid if orientation == "rows" else grid.T  # indexed [sample, column]
    for i in range(n):
        _draw_input(axes[i, 0], images[i], row_titles[i], orientation)
    norms = _norms(limits, shared_scale) if prepared else []
    sep = _separator([(maps[name][i], outputs[i]) for name, i, _, _ in prepared], output_name,
                     size)
    for (name, i, image, bad), m, norm in zip(prepared, limits, norms):
        ax = axes[i, names.index(name) + 1]
        heading = name if i == 0 and orientation == "rows" else None
        im = _draw(ax, image, norm, cmap, _panel_title(heading, m, shared_scale),
                   _caption(maps[name][i], outputs[i], output_name, bad, sep))
        if orientation == "columns" and i == 0:
            ax.set_ylabel(name, fontsize=8)
        if not shared_scale:
            _colorbar(fig, im, ax)
    if shared_scale and prepared:
        _colorbar(fig, im, list(axes[:, 1:].ravel()), label="relevance (shared scale)")
    _finish(fig, suptitle)
    return fig


def _draw_input(ax, image, label, orientation: str) -> None:
    ax.imshow(to_image(image), cmap="gray_r", interpolation="nearest")
    _blank(ax)
    if label is None:
        return
    if orientation == "rows":
        ax.set_ylabel(label, fontsize=7)
    else:
        ax.set_title(label, fontsize=8)


# ------------------------------------------------------------------------------ tabular


def _table(relevance, feature_names):
    """(values as a 2-d array, feature names, sample labels or None, was it 1-d)."""
    names = sample_labels = None
    if hasattr(relevance, "columns") and hasattr(relevance, "index"):  # a DataFrame
        names, sample_labels = list(relevance.columns), list(relevance.index)
    elif hasattr(relevance, "index") and hasattr(relevance, "to_numpy"):  # a Series
        names = list(relevance.index)
    a = _as_array(relevance)
    if a.ndim not in (1, 2):
        raise ValueError(f"feature_bars takes relevance of shape (F,) for one sample or (N, F) "
                         f"for N samples, got shape {a.shape}")
    one = a.ndim == 1
    a = np.atleast_2d(a)
    if feature_names is not None:
        given = [str(s) for s in feature_names]
        if names is not None and [str(s) for s in names] != given:
            raise ValueError("feature_names differ from the names the relevance carries (its "
                             "DataFrame columns or Series index); drop feature_names, or "
                             "reorder the relevance to them")
        names = given
    if names is None:
        names = [f"feature {k}" for k in range(a.shape[1])]
    if len(names) != a.shape[1]:
        raise ValueError(f"{len(names)} feature names for {a.shape[1]} features")
    return a, [str(s) for s in names], sample_labels, one


def _bars(values: np.ndarray, names: list, top: int | None, sort: bool):
    """(values, labels) of the bars of one sample, the first on top; with ``top``, the rest is
    one last bar, so the bars still sum to ΣR."""
    order = np.argsort(-np.abs(values), kind="stable") if sort or top else np.arange(len(values))
    if top is not None and top < len(values):
        rest = order[top:]
        order = order[:top]
        if not sort:
            order = np.sort(order)
        return (np.r_[values[order], values[rest].sum()],
                [names[k] for k in order] + [f"other {len(rest)} features (sum)"])
    return values[order], [names[k] for k in order]


def _check_top(top):
    if top is None:
        return None
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(f"top must be a positive integer or None, got {top!r}")
    return int(top)


def _titles(title, n: int, sample_labels, one: bool) -> list:
    """One title per panel: the given ones, else "sample <index label>" for several samples."""
    if one:
        return [title]
    if title is not None and not isinstance(title, str):
        return _items(title, n, "title")
    if sample_labels is not None:
        return [f"sample {s}" for s in sample_labels]
    return [f"sample {i}" for i in range(n)]


def _xlimits(bars) -> tuple[float, float]:
    values = np.concatenate([v for v, _ in bars])
    lo, hi = min(0.0, float(values.min())), max(0.0, float(values.max()))
    pad = 0.05 * ((hi - lo) or 1.0)
    return lo - pad, hi + pad


def feature_bars(relevance, feature_names=None, *, ax=None, top: int | None = None,
                 sort: bool = True, title=None, outputs=None, output_name: str = "f"):
    """Horizontal bars of the relevance per named feature: red positive, blue negative.

    Parameters
    ----------
    relevance : array, tensor, pandas Series or DataFrame
        One sample (F,) or N samples (N, F): one panel per sample, **all with the same
        x-limits** so that bars of different samples compare. A DataFrame gives one panel per
        row; names default to a Series' index or a DataFrame's columns.
    feature_names : sequence of str, optional
        One name per feature (default: from pandas, else "feature k").
    ax : Axes or sequence of N Axes, optional
        Where to draw (default: a new figure, one panel per sample).
    top : int, optional
        Show the ``top`` features of largest |R| per sample; the others are summed into one
        last bar, so the bars of a panel always add up to its ΣR.
    sort : bool
        Order by |R|, largest on top (default); False keeps the feature order, the same in
        every panel.
    title : str or sequence of str, optional
        One sample: its title. Several: one title per sample, or one str for the figure (the
        panels are then titled "sample <i>", or by a DataFrame's index).
    outputs : float or sequence of float, optional
        The explained output f per sample; each panel's label then states f, ΣR and their
        ratio (:func:`sum_caption`).
    output_name : str
        The name of the output in that label.

    Returns
    -------
    Axes (one sample) or numpy array of Axes (several)

    Raises
    ------
    ValueError
        For non-finite relevance (with the count and positions), a wrong number of feature
        names, titles, outputs or axes, a bad ``top``, or more than 2 dimensions.
    """
    a, names, sample_labels, one = _table(relevance, feature_names)
    message = _nonfinite_message(a[0] if one else a, "relevance")
    if message:
        raise ValueError(message)
    top = _check_top(top)
    n = len(a)
    outputs = _items([outputs] if one and outputs is not None else outputs, n, "outputs")
    titles = _titles(title, n, sample_labels, one)
    bars = [_bars(row, names, top, sort) for row in a]
    common = not sort and top is None  # the same features in the same order in every panel
    axes = _bar_axes(ax, n, max(len(b[0]) for b in bars), common)
    xlim = _xlimits(bars)
    for i, (axis, (values, labels)) in enumerate(zip(axes, bars)):
        _draw_bars(axis, values, labels, xlim)
        if common and i:
            axis.tick_params(labelleft=False)
        if titles[i]:
            axis.set_title(titles[i], fontsize=9)
        caption = sum_caption(a[i], outputs[i], name=output_name)
        axis.set_xlabel(f"relevance\n{caption}", fontsize=8)
    if not one and isinstance(title, str):
        axes[0].figure.suptitle(title)
    return axes[0] if one else np.asarray(axes)


def _bar_axes(ax, n: int, n_bars: int, common: bool) -> list:
    import matplotlib.pyplot as plt

    if ax is None:
        width = 2.0 + 3.2 * n if common else 5.0 * n
        _, axes = plt.subplots(1, n, figsize=(width, 1.6 + 0.3 * n_bars), squeeze=False,
                               layout="constrained")
        return list(axes.ravel())
    axes = list(np.ravel(np.asarray(ax, dtype=object)))
    if len(axes) != n:
        raise ValueError(f"{len(axes)} axes for {n} samples")
    return axes


def _draw_bars(ax, values, labels, xlim) -> None:
    y = np.arange(len(values))
    ax.barh(y, values, color=np.where(values >= 0, POSITIVE, NEGATIVE))
    ax.axvline(0, color="k", lw=0.6)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_ylim(len(values) - 0.5, -0.5)  # first bar on top
    ax.set_xlim(*xlim)
