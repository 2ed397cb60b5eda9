"""Relevance of tokens: the words of a text coloured by their relevance.

Same contract as :mod:`lrp.plot.heatmaps`: a symmetric diverging scale with zero white (red
for evidence for the explained output, blue against), one scale for the whole figure,
non-finite relevance refused, and the sum of the relevance printed beside the explained
output when one is given.
"""

from __future__ import annotations

import numpy as np

from .heatmaps import _as_array, _check_nonfinite, _colorbar, _colormap, _norm, sum_caption
from .heatmaps import symmetric_limit as _limit

__all__ = ["tokens"]

_CHARS_PER_LINE = 64
_CHAR_WIDTH = 9 * 0.6 / 72   # inches per character of the 9 pt monospace words


def _rows(words, relevance) -> tuple[list, list]:
    """(list of word lists, list of relevance vectors), one per sample, lengths checked."""
    a = _as_array(relevance)
    single = isinstance(words, (list, tuple)) and all(isinstance(w, str) for w in words)
    if a.ndim == 1:
        if not single:
            raise ValueError("relevance of one text (shape (L,)) needs its words as a list of "
                             "strings")
        texts, maps = [list(words)], [a]
    elif a.ndim == 2:
        if single:
            raise ValueError(f"relevance of shape {a.shape} is a batch of {a.shape[0]} texts: "
                             "give one list of words per text (a list of lists)")
        texts, maps = [list(w) for w in words], list(a)
        if len(texts) != len(maps):
            raise ValueError(f"{len(texts)} texts for relevance of {len(maps)} samples")
    else:
        raise ValueError(f"token relevance is (L,) for one text or (N, L) for several, got "
                         f"shape {a.shape}")
    for i, (w, r) in enumerate(zip(texts, maps)):
        if not all(isinstance(t, str) for t in w):
            raise TypeError(f"text {i}: words must be strings")
        if len(w) != len(r):
            raise ValueError(f"text {i} has {len(w)} words but {len(r)} relevance values; "
                             "give one word per token (padding included, or cut both)")
    return texts, maps


def tokens(words, relevance, *, outputs=None, titles=None, skip=("<pad>",), vmax=None,
           cmap: str = "bwr", ax=None, width: float = 8.0, suptitle=None):
    """Draw texts with every word on a background coloured by its relevance.

    Parameters
    ----------
    words : list of str, or list of lists of str
        The tokens of one text, or of each text of a batch.
    relevance : array-like, shape (L,) or (N, L)
        One value per token (:func:`lrp.explain` on a graph that reads token ids gives it).
    outputs : array-like of shape (N,), optional
        The explained outputs: each text is captioned with ΣR and its share of f.
    titles : list of str, optional
        A label per text, drawn at the start of its block.
    skip : iterable of str
        Tokens not drawn (padding); their relevance still counts in the caption's sum.
    vmax : float, optional
        Half-range of the colour scale (default: max |R| over the drawn tokens).
    cmap : str
        A diverging colormap.
    ax : matplotlib Axes, optional
        Draw into it (else a new figure).
    width : float
        Figure width in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    texts, maps = _rows(words, relevance)
    for i, r in enumerate(maps):
        _check_nonfinite(r, f"the relevance of text {i}", "raise")
    skip = set(skip or ())
    drawn = [r[[t not in skip for t in w]] for w, r in zip(texts, maps)]
    m = _limit([d for d in drawn if d.size] or [np.zeros(1)], vmax)
    norm, colours = _norm(m), _colormap(cmap)
    outs = None if outputs is None else np.asarray(_as_array(outputs), dtype=float).reshape(-1)
    if outs is not None and len(outs) != len(texts):
        raise ValueError(f"{len(outs)} outputs for {len(texts)} texts")
    if titles is not None and len(titles) != len(texts):
        raise ValueError(f"{len(titles)} titles for {len(texts)} texts")
    lines = []       # (label or None, [(word, value)], caption or None)
    for i, (w, r) in enumerate(zip(texts, maps)):
        pairs = [(t, float(v)) for t, v in zip(w, r) if t not in skip]
        chunk, count, first = [], 0, True
        for t, v in pairs:
            if count + len(t) > _CHARS_PER_LINE and chunk:
                lines.append((titles[i] if titles is not None and first else None, chunk, None))
                chunk, count, first = [], 0, False
            chunk.append((t, v))
            count += len(t) + 1
        caption = None if outs is None else sum_caption(r, outs[i])
        lines.append((titles[i] if titles is not None and first else None, chunk, caption))
    height = 0.32 * len(lines) + 0.3 * sum(c is not None for *_, c in lines) + 0.6
    fig = ax.figure if ax is not None else plt.figure(figsize=(width, height))
    ax = ax or fig.add_axes([0.02, 0.12, 0.85, 0.8])
    ax.set_axis_off()
    char = _CHAR_WIDTH / (ax.get_position().width * fig.get_size_inches()[0])
    y, step = 1.0, 1.0 / max(len(lines) + sum(c is not None for *_, c in lines), 1)
    for label, chunk, caption in lines:
        x = 0.1 if titles is not None else 0.0
        if label:
            ax.text(0.0, y, label + ":", fontsize=8, fontweight="bold", va="top",
                    transform=ax.transAxes)
        for t, v in chunk:
            ax.text(x, y, t, fontsize=9, va="top", transform=ax.transAxes, family="monospace",
                    bbox=dict(boxstyle="square,pad=0.15", facecolor=colours(norm(v)),
                              edgecolor="none"))
            x += (len(t) + 2) * char
        y -= step
        if caption:
            ax.text(0.1 if titles is not None else 0.0, y + step * 0.35, caption, fontsize=7,
                    va="top", color="0.3", transform=ax.transAxes)
            y -= step
    mappable = plt.cm.ScalarMappable(norm=norm, cmap=colours)
    _colorbar(fig, mappable, ax, label="relevance")
    if suptitle:
        fig.suptitle(suptitle, fontsize=9)
    return fig
