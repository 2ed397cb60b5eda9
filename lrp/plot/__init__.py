"""Plots of relevance and of its evaluation, all matplotlib, each returning its figure.

=====================  ==========================================================
module                 what
=====================  ==========================================================
:mod:`.heatmaps`       :func:`heatmap`, :func:`heatmap_grid`, :func:`explanation_grid`,
                       :func:`feature_bars` (the contract is stated there)
:mod:`.removal`        removal (pixel-flipping) curves of several methods
:mod:`.sanity`         sanity-check (randomization) curves
:mod:`.spray`          SpRAy: eigenvalues with the eigengap, embedding, cluster means
:mod:`.text`           :func:`tokens` (the words of texts coloured by their relevance)
=====================  ==========================================================
"""

from . import heatmaps, removal, sanity, spray, text
from .heatmaps import *  # noqa: F401,F403
from .heatmaps import (  # noqa: F401  (shared with concepts.plot and the other plot modules)
    NEGATIVE,
    POSITIVE,
    _as_array,
    _bar_axes,
    _blank,
    _draw_bars,
    _nonfinite_message,
    _xlimits,
)
from .removal import *  # noqa: F401,F403
from .sanity import *  # noqa: F401,F403
from .spray import *  # noqa: F401,F403
from .text import *  # noqa: F401,F403

__all__ = [*heatmaps.__all__, *removal.__all__, *sanity.__all__, *spray.__all__, *text.__all__]
