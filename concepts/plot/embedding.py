"""Scatter plots of :class:`concepts.embed.Embedding` maps, coloured by label, prediction, or
any per-sample value."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["embedding"]

#: What ``color`` may name instead of giving an array.
COLOR_FIELDS = ("labels", "predictions")


def _values(result, color):
    """(per-sample values or None, their name for the legend/colour bar)."""
    n = len(result)
    if color is None:
        for name in COLOR_FIELDS:
            if getattr(result, name) is not None:
                return np.asarray(getattr(result, name)), name
        return None, None
    if isinstance(color, str):
        if color not in COLOR_FIELDS:
            raise ValueError(f"color must be 'labels', 'predictions', None or an array of one "
                             f"value per sample, got {color!r}")
        values = getattr(result, color)
        if values is None:
            hint = ("pass labels=... to concepts.embed" if color == "labels" else
                    "this graph's argmax is not a prediction (one output, a regressor or "
                    "multi-label)")
            raise ValueError(f"color={color!r}: the embedding has no {color} ({hint}); give "
                             "an array of one value per sample instead")
        return np.asarray(values), color
    if isinstance(color, torch.Tensor):
        color = color.detach().cpu().numpy()
    elif hasattr(color, "to_numpy"):
        color = color.to_numpy()
    elif not hasattr(color, "__len__"):
        raise TypeError(f"color must be 'labels', 'predictions', None or an array of one value "
                        f"per sample, got {type(color).__name__}")
    values = np.asarray(color)
    if values.ndim != 1 or values.shape[0] != n:
        raise ValueError(f"color must hold one value per sample, shape ({n},), got shape "
                         f"{values.shape}")
    return values, None


def _categories(values):
    """Distinct values in sorted order (order of appearance if they do not compare)."""
    try:
        return list(np.unique(values))
    except TypeError:
        return list(dict.fromkeys(values.tolist()))


def _palette(k):
    import matplotlib.pyplot as plt

    if k <= 10:
        return [plt.get_cmap("tab10")(i) for i in range(k)]
    if k <= 20:
        return [plt.get_cmap("tab20")(i) for i in range(k)]
    cmap = plt.get_cmap("turbo")
    return [cmap(v) for v in np.linspace(0.05, 0.95, k)]


def embedding(result, color=None, ax=None, *, title=None, categorical=None, cmap="viridis",
              size=None, alpha=0.85, legend=True):
    """Scatter an embedding, one dot per sample, coloured by a per-sample value.

    Categorical values (strings, booleans, integers: labels, predictions, clusters) get one
    discrete colour each (tab10, tab20, then evenly spaced ``turbo`` colours) and a legend;
    real-valued arrays (a score, a concept's sensitivity, a distance) a continuous colour map
    and a colour bar. Axes of a t-SNE map have no units (only neighbourhoods mean something:
    van der Maaten & Hinton, JMLR 2008), so their ticks are hidden; PCA axes are labelled with
    the variance each component explains.

    Parameters
    ----------
    result : concepts.embed.Embedding
        From :func:`concepts.embed`.
    color : {"labels", "predictions"}, array-like of shape (N,), or None
        What colours the dots: the labels given to ``embed``, the graph's predictions, or one
        value per sample. None: the labels if given, else the predictions, else one colour.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    title : str, optional
        Default: the method, the node and the sample count.
    categorical : bool, optional
        Force discrete colours (True) or a colour map (False, numbers only). Default: a
        colour map for floating-point values, discrete colours otherwise.
    cmap : str or Colormap
        The continuous colour map.
    size : float, optional
        Marker area (points²); default scaled to the sample count.
    alpha : float
        Marker opacity in (0, 1].
    legend : bool
        Draw the legend of the categories (at most 30 entries are listed).

    Returns
    -------
    matplotlib Figure
        The scatter is ``fig.axes[0]`` (or ``ax``); one ``PathCollection`` per category (in
        the legend's order), or a single one whose ``get_array()`` holds the values.
    """
    from concepts.embed import Embedding
    from lrp.rules.base import check_number

    if not isinstance(result, Embedding):
        raise TypeError(f"concepts.plot.embedding draws a concepts.Embedding (from "
                        f"concepts.embed), got {type(result).__name__}")
    if categorical is not None and not isinstance(categorical, bool):
        raise TypeError(f"categorical must be None, True or False, got {categorical!r}")
    if not isinstance(legend, bool):
        raise TypeError(f"legend must be True or False, got {legend!r}")
    alpha = check_number(alpha, "alpha", strict=True)
    if alpha > 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha:g}")
    n = len(result)
    size = check_number(size, "size", strict=True) if size is not None else \
        float(np.clip(4000.0 / n, 4.0, 40.0))
    values, name = _values(result, color)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string, got {type(title).__name__}")
    import matplotlib.pyplot as plt
    from matplotlib.axes import Axes

    if ax is not None and not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    discrete = values is not None and (
        categorical if categorical is not None else values.dtype.kind not in "fc")
    if values is not None and not discrete:
        if values.dtype.kind not in "biufc" or values.dtype.kind in "bc":
            raise ValueError(f"categorical=False needs real numbers to map to colours; got "
                             f"values of dtype {values.dtype}")
        values = values.astype(np.float64)
        if not np.isfinite(values).all():
            raise ValueError(f"color holds NaN or infinite values "
                             f"({int((~np.isfinite(values)).sum())} of {n}); give finite "
                             "values, or categorical=True")
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.2, 4.4))
    else:
        fig = ax.figure
    xy = result.coords
    if values is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=size, alpha=alpha, color="tab:blue", linewidths=0)
    elif discrete:
        cats = _categories(values)
        for cat, colour in zip(cats, _palette(len(cats))):
            where = values == cat
            ax.scatter(xy[where, 0], xy[where, 1], s=size, alpha=alpha, color=colour,
                       linewidths=0, label=str(cat))
        if legend and len(cats) <= 30:
            outside = len(cats) > 10
            ax.legend(title=name, fontsize="small", markerscale=1.5, frameon=False,
                      loc="upper left" if outside else "best",
                      bbox_to_anchor=(1.0, 1.0) if outside else None,
                      ncol=1 if len(cats) <= 15 else 2)
    else:
        dots = ax.scatter(xy[:, 0], xy[:, 1], c=values, cmap=cmap, s=size, alpha=alpha,
                          linewidths=0)
        bar = fig.colorbar(dots, ax=ax)
        if name:
            bar.set_label(name)
    if result.method == "tsne":
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("t-SNE 1")
        ax.set_ylabel("t-SNE 2")
    else:
        ratio = result.explained_variance
        ax.set_xlabel(f"PC 1 ({100 * ratio[0]:.1f} % of the variance)" if ratio is not None
                      else "PC 1")
        ax.set_ylabel(f"PC 2 ({100 * ratio[1]:.1f} % of the variance)" if ratio is not None
                      else "PC 2")
    if title is None:
        what = "t-SNE" if result.method == "tsne" else "PCA"
        extra = f", perplexity {result.settings.get('perplexity'):g}" \
            if result.method == "tsne" and result.settings.get("perplexity") else ""
        title = f"{what} of {result.node!r} ({n} samples{extra})"
    ax.set_title(title, fontsize="medium")
    return fig
