"""Plots of a fitted :class:`lrp.spray.SpRAy`: the eigenvalue spectrum with its eigengap, the
t-SNE of the spectral embedding, and each cluster's mean map beside its most typical members.

Every function takes the fitted estimator, draws headless (any matplotlib backend) and
returns the figure. Heatmaps follow the contract of :mod:`lrp.plot.heatmaps`: a symmetric
diverging scale with zero white, one scale per kind of panel (the cluster means share one,
the members' relevance another), each with its colour bar.
"""

from __future__ import annotations

import numbers

import numpy as np

from .heatmaps import (
    _as_array,
    _blank,
    _colorbar,
    _draw,
    _nonfinite_message,
    _norm,
    symmetric_limit,
    to_image,
)

__all__ = ["spray_eigenvalues", "spray_embedding", "spray_clusters"]

_CATEGORIES = 20   # a float colour array with at most this many integral values is a label


def _fitted(spray):
    from sklearn.utils.validation import check_is_fitted

    from ..spray import SpRAy

    if not isinstance(spray, SpRAy):
        raise TypeError(f"spray must be a fitted lrp.spray.SpRAy, got {type(spray).__name__}")
    check_is_fitted(spray, "labels_")
    return spray


def _axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax.figure, ax


def spray_eigenvalues(spray, ax=None):
    """The smallest eigenvalues of the normalized Laplacian, with the eigengap marked.

    Parameters
    ----------
    spray : lrp.spray.SpRAy
        Fitted.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    matplotlib Figure
        Its axes hold the spectrum (λ_k against k = 1 … K), the eigenvalues up to the gap in
        colour, a dashed line between λ_k and λ_{k+1} at the suggested k (:attr:`eigengap_`)
        with the gap labelled, and a dotted line at ``n_clusters_`` if that differs.

    Notes
    -----
    A large gap λ_{k+1} − λ_k suggests k clusters (von Luxburg, "A tutorial on spectral
    clustering", 2007; Lapuschkin et al., Nat. Commun. 2019, Fig. 4).
    """
    spray = _fitted(spray)
    fig, ax = _axes(ax, (5.0, 3.2))
    values = spray.eigenvalues_
    k = spray.eigengap_
    index = np.arange(1, values.size + 1)
    ax.plot(index, values, "-", color="0.6", lw=1, zorder=1)
    ax.scatter(index[k:], values[k:], s=16, color="0.45", zorder=2, label="eigenvalues")
    ax.scatter(index[:k], values[:k], s=22, color="tab:red", zorder=3,
               label=f"λ₁ … λ_{k}: the {k} suggested cluster{'s' if k != 1 else ''}")
    if k < values.size:
        gap = values[k] - values[k - 1]
        ax.axvline(k + 0.5, ls="--", color="tab:red", lw=1)
        ax.annotate("", xy=(k + 1, values[k]), xytext=(k + 1, values[k - 1]),
                    arrowprops=dict(arrowstyle="<->", color="tab:red", lw=1.2))
        ax.annotate(f"eigengap λ_{k + 1} − λ_{k} = {gap:.3g}\nsuggests k = {k}",
                    xy=(k + 1, (values[k] + values[k - 1]) / 2), xytext=(8, 0),
                    textcoords="offset points", va="center", fontsize=8, color="tab:red")
    if spray.n_clusters_ != k:
        ax.axvline(spray.n_clusters_ + 0.5, ls=":", color="k", lw=1,
                   label=f"n_clusters = {spray.n_clusters_} (used)")
    ax.set_xlabel("k")
    ax.set_ylabel("eigenvalue λ_k of L = I − D^{-1/2} A D^{-1/2}", fontsize=8)
    ax.set_title(f"SpRAy spectrum ({spray.labels_.size} maps, {spray.n_neighbors}-NN graph"
                 + (f", {spray.n_components_} components" if spray.n_components_ > 1 else "")
                 + ")", fontsize=9)
    ax.set_xlim(0.5, values.size + 0.5)
    ax.legend(fontsize=7, loc="upper left")
    return fig


def _categorical(color: np.ndarray) -> bool:
    if color.dtype.kind in "biuUSO":
        return True
    values = np.unique(color)
    return values.size <= _CATEGORIES and bool(np.all(values == np.round(values)))


def spray_embedding(spray, ax=None, color=None, *, title=None):
    """The t-SNE of the spectral embedding, coloured by cluster or by a given array.

    Parameters
    ----------
    spray : lrp.spray.SpRAy
        Fitted. Its t-SNE (:attr:`tsne_`) is computed with the defaults of
        :meth:`SpRAy.tsne` if it has none yet (call ``spray.tsne(...)`` first to choose the
        perplexity; the perplexity is lowered to (N − 1)/3 for fewer than 91 maps).
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    color : array (N,), optional
        What to colour by: default the cluster labels (:attr:`labels_`). Integers, strings,
        booleans, or floats with at most 20 distinct integral values (e.g. the planted
        groups) are categories with a legend; other floats a continuous colour scale with a
        colour bar. Non-finite floats are refused.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib Figure

    References
    ----------
    Lapuschkin et al., Nat. Commun. 10, 1096 (2019), Fig. 4: t-SNE of the spectral embedding.
    """
    spray = _fitted(spray)
    n = spray.labels_.size
    if color is None:
        values, what = spray.labels_, "cluster"
    else:
        values = color.detach().cpu().numpy() if hasattr(color, "detach") else np.asarray(color)
        if values.shape != (n,):
            raise ValueError(f"color must hold one value per map, shape ({n},); got shape "
                             f"{values.shape}")
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            raise ValueError(f"color has {int((~np.isfinite(values)).sum())} non-finite "
                             "values; replace them")
        what = None
    if getattr(spray, "tsne_", None) is None or spray.tsne_.shape[0] != n:
        spray.tsne(perplexity=min(30.0, (n - 1) / 3))
    xy = spray.tsne_
    fig, ax = _axes(ax, (4.6, 4.0))
    if _categorical(values):
        import matplotlib.pyplot as plt

        cats = np.unique(values)
        cmap = plt.get_cmap("tab10" if cats.size <= 10 else "tab20")
        for i, c in enumerate(cats):
            sel = values == c
            name = f"cluster {c}" if what == "cluster" else str(c)
            ax.scatter(xy[sel, 0], xy[sel, 1], s=6, color=cmap(i % cmap.N),
                       label=f"{name} (n = {int(sel.sum())})", rasterized=n > 5000)
        ax.legend(fontsize=7, markerscale=2, loc="best", title=what, title_fontsize=7)
    else:
        sc = ax.scatter(xy[:, 0], xy[:, 1], s=6, c=values.astype(float), cmap="viridis",
                        rasterized=n > 5000)
        fig.colorbar(sc, ax=ax, fraction=0.046, pad=0.04)
    _blank(ax)
    ax.set_xlabel("t-SNE 1", fontsize=8)
    ax.set_ylabel("t-SNE 2", fontsize=8)
    ax.set_title(title or f"t-SNE of the spectral embedding ({n} maps)", fontsize=9)
    return fig


def _per_map(values, n: int, name: str) -> np.ndarray:
    a = _as_array(values)
    if a.ndim < 2 or a.shape[0] != n:
        raise ValueError(f"{name} must hold the {n} samples SpRAy was fitted on along its "
                         f"first axis, got shape {a.shape}")
    message = _nonfinite_message(a, name)
    if message:
        raise ValueError(message)
    return a


def _thumb(a: np.ndarray) -> np.ndarray:
    """A 2-d picture of one map: (H, W) or channels summed; a vector as a 1-row strip."""
    return a.reshape(1, -1) if a.ndim == 1 else to_image(a)


def _picture(a: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3) from (H, W), (1, H, W) or (3, H, W)."""
    if a.ndim == 3 and a.shape[0] in (1, 3):
        a = np.moveaxis(a, 0, -1)
        return a[..., 0] if a.shape[-1] == 1 else a
    if a.ndim == 2:
        return a
    raise ValueError(f"images must be (N, H, W), (N, 1, H, W) or (N, 3, H, W), got samples of "
                     f"shape {a.shape}")


def spray_clusters(spray, relevance=None, images=None, members=6, *, size=1.2):
    """One row per cluster: its mean preprocessed map, then its most typical members.

    Parameters
    ----------
    spray : lrp.spray.SpRAy
        Fitted.
    relevance : array or tensor, optional
        The relevance SpRAy was fitted on (N samples first); the members' maps are drawn as
        given (channels summed), on one symmetric scale shared by all member panels.
    images : array or tensor, optional
        The N inputs, (N, H, W), (N, 1, H, W) or (N, 3, H, W), drawn min-max scaled over
        the drawn members. With ``relevance`` too, each cluster has a second row of images
        under its member heatmaps.
    members : int
        Members per cluster, ≥ 0 (default 6): those nearest the cluster's centre in the
        clustered spectral features (:meth:`SpRAy.members`); fewer for a smaller cluster.
    size : float
        Panel size in inches.

    Returns
    -------
    matplotlib Figure
        Column 0 holds the cluster means (:attr:`cluster_means_`, pooled and normalized as
        SpRAy compared them) on one symmetric scale, with their colour bar on the left, each
        titled "cluster c, n = size"; member panels are titled by sample index ("#17").
    """
    import matplotlib.pyplot as plt

    spray = _fitted(spray)
    if isinstance(members, bool) or not isinstance(members, numbers.Integral) or members < 0:
        raise ValueError(f"members must be an integer ≥ 0, got {members!r}")
    n, k = spray.labels_.size, spray.n_clusters_
    rel = None if relevance is None else _per_map(relevance, n, "relevance")
    img = None if images is None else _per_map(images, n, "images")
    shown = members if (rel is not None or img is not None) else 0
    chosen = [spray.members(c, shown) for c in range(k)]
    per_cluster = 1 + (rel is not None and img is not None)
    rows, cols = k * per_cluster, 1 + shown
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols + 1.6, size * rows + 0.6),
                             squeeze=False, layout="compressed")
    for ax in axes.ravel():
        ax.set_axis_off()
    means = [_thumb(m) for m in spray.cluster_means_]
    norm = _norm(symmetric_limit(means))
    mean_axes = []
    for c in range(k):
        ax = axes[c * per_cluster, 0]
        ax.set_axis_on()
        im = _draw(ax, means[c], norm, "bwr", f"cluster {c}, n = {spray.cluster_sizes_[c]}")
        mean_axes.append(ax)
    bar = fig.colorbar(im, ax=mean_axes, location="left", shrink=min(0.8, 4.0 / (size * rows)),
                       pad=0.02)
    bar.ax.tick_params(labelsize=7)
    bar.set_label("cluster mean (preprocessed)", fontsize=7)
    if rel is not None and shown:
        thumbs = [[_thumb(rel[i]) for i in idx] for idx in chosen]
        m = symmetric_limit([t for row in thumbs for t in row] or [np.zeros(1)])
        rnorm, rel_axes = _norm(m), []
        for c, (idx, row) in enumerate(zip(chosen, thumbs)):
            for j, (i, t) in enumerate(zip(idx, row)):
                ax = axes[c * per_cluster, 1 + j]
                ax.set_axis_on()
                rim = _draw(ax, t, rnorm, "bwr", f"#{i}")
                rel_axes.append(ax)
        if rel_axes:
            _colorbar(fig, rim, rel_axes, label="member relevance (shared scale)")
    if img is not None and shown:
        offset = per_cluster - 1
        pics = [[_picture(img[i]) for i in idx] for idx in chosen]
        flat = [p for row in pics for p in row]
        lo = min((p.min() for p in flat), default=0.0)
        hi = max((p.max() for p in flat), default=1.0)
        span = hi - lo if hi > lo else 1.0
        for c, (idx, row) in enumerate(zip(chosen, pics)):
            for j, (i, p) in enumerate(zip(idx, row)):
                ax = axes[c * per_cluster + offset, 1 + j]
                ax.set_axis_on()
                ax.imshow((p - lo) / span, cmap="gray", vmin=0, vmax=1,
                          interpolation="nearest")
                _blank(ax)
                if rel is None:
                    ax.set_title(f"#{i}", fontsize=8)
    fig.suptitle(f"SpRAy: {k} cluster{'s' if k != 1 else ''} of {n} maps", fontsize=9)
    return fig
