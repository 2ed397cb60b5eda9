"""Plots of attributions: heatmaps on a diverging colormap symmetric around zero."""

from __future__ import annotations

import numpy as np

__all__ = ["heatmap", "explanation_grid", "to_image"]


def to_image(t) -> np.ndarray:
    """A 2-d numpy array for display: channels summed, batch axis of one dropped."""
    a = t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)
    a = np.squeeze(a)
    if a.ndim == 3:  # (C, H, W)
        a = a.sum(0)
    if a.ndim != 2:
        raise ValueError(f"cannot show an array of shape {a.shape} as an image")
    return a


def heatmap(relevance, ax=None, *, cmap: str = "bwr", vmax: float | None = None, title=None):
    """Show one relevance map; red positive, blue negative, white zero.

    The colour scale is symmetric, [−m, m] with m = ``vmax`` or max |R|, so zero is always
    white and signs are never shifted by the normalization.
    """
    import matplotlib.pyplot as plt

    r = to_image(relevance)
    m = float(np.abs(r).max()) if vmax is None else float(vmax)
    m = m if m > 0 else 1.0
    ax = ax or plt.gca()
    ax.imshow(r, cmap=cmap, vmin=-m, vmax=m, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
    return ax


def explanation_grid(images, relevances: dict, row_titles=None, *, cmap="bwr"):
    """A figure with one row per sample: the input, then one heatmap per method.

    Parameters
    ----------
    images : sequence of arrays or tensors
        The inputs (shown in grey).
    relevances : dict of str -> sequence
        Method name → relevance maps, one per image.
    row_titles : sequence of str, optional
        A label per row (e.g. "label 3, predicted 3").
    """
    import matplotlib.pyplot as plt

    n, k = len(images), len(relevances)
    fig, axes = plt.subplots(n, k + 1, figsize=(1.6 * (k + 1), 1.6 * n), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(to_image(images[i]), cmap="gray_r", interpolation="nearest")
        axes[i, 0].set_xticks([])
        axes[i, 0].set_yticks([])
        if row_titles is not None:
            axes[i, 0].set_ylabel(row_titles[i], fontsize=7)
        for j, (name, maps) in enumerate(relevances.items()):
            heatmap(maps[i], axes[i, j + 1], cmap=cmap, title=name if i == 0 else None)
    fig.tight_layout()
    return fig
