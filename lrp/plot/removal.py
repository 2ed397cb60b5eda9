"""Removal (pixel-flipping) curves of several methods on one axis.

Each method's mean curve over the samples, with a band (± one standard error of the mean,
or the inter-quartile range), most relevant first (MoRF) solid and least relevant first
(LeRF) dashed, and each curve's mean AUC in the legend. Methods are compared only when they
were measured alike (same baseline, steps, patches): mixed settings are refused, since the
ranking of methods depends on the baseline.
"""

from __future__ import annotations

import numpy as np

from ._named import check_alike, named_results

__all__ = ["removal_curves"]

REMOVAL_BANDS = ("sem", "quantiles", None)
_STYLE = {"morf": "-", "lerf": "--"}


def _results(results) -> dict:
    from ..metrics.removal import RemovalResult

    return named_results(results, RemovalResult, "lrp.metrics.pixel_flipping",
                         "lrp.metrics.pixel_flipping(graph, x, lrp.gradient)")


def _check_alike(results: dict) -> None:
    check_alike(results, (("baseline", "baseline"), ("region", "region"),
                          ("number of units", "units")),
                "compare methods under the same settings (plot each baseline in its own "
                "figure)")
    names = list(results)
    first = results[names[0]]
    for name in names[1:]:
        r = results[name]
        if not np.array_equal(first.fractions, r.fractions):
            raise ValueError(f"results were measured differently: {names[0]!r} has "
                             f"{first.steps} steps, {name!r} has {r.steps}; compare methods "
                             "at the same steps")


def _band(curves: np.ndarray, band):
    if band == "sem":
        if curves.shape[0] < 2:
            return None
        sem = curves.std(axis=0, ddof=1) / np.sqrt(curves.shape[0])
        mean = curves.mean(axis=0)
        return mean - sem, mean + sem
    if band == "quantiles":
        return np.quantile(curves, 0.25, axis=0), np.quantile(curves, 0.75, axis=0)
    return None


def removal_curves(results, ax=None, *, title=None, normalized: bool = True, band="sem",
                   alpha: float = 0.2, orders=None, legend: str | None = "best"):
    """Mean removal curves of one or several methods, with the AUC of each in the legend.

    Parameters
    ----------
    results : RemovalResult or dict
        One result of :func:`lrp.metrics.pixel_flipping`, or method name → result. All must
        share the baseline, the steps and the patches (refused otherwise).
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    title : str, optional
        Default: "Feature removal, baseline …".
    normalized : bool
        Draw s_k / s_0 (default; samples with s_0 = 0 or tiny, NaN there, are left out of
        the mean and their count is named in the legend) or the raw output s_k.
    band : {"sem", "quantiles", None}
        ± one standard error of the mean over samples (default), the 25–75 % quantiles,
        or no band.
    alpha : float
        Opacity of the bands.
    orders : str or tuple of str, optional
        Which measured orders to draw (``"morf"``, ``"lerf"``); default every order the
        results hold. Each must have been measured by every result.
    legend : {"best", "outside", None}
        The legend inside the axes where it covers least (default), to the right of the
        axes (for many methods), or none.

    Returns
    -------
    matplotlib Figure
        One line per method and order (MoRF solid, LeRF dashed, one colour per method);
        the legend labels read "name MoRF (AUC 0.123)", with the mean AUC over the samples
        where it is defined (and the LeRF − MoRF gap when both orders were measured).
    """
    import matplotlib.pyplot as plt

    from ..metrics.removal import ORDER_LABELS
    from ..rules.base import check_choice, check_flag, check_number

    results = _results(results)
    check_flag(normalized, "normalized")
    check_choice(band, "band", REMOVAL_BANDS)
    alpha = check_number(alpha, "alpha")
    if alpha > 1:
        raise ValueError(f"alpha is an opacity: give 0 ≤ alpha ≤ 1, got {alpha}")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string or None, got {type(title).__name__}")
    _check_alike(results)
    if legend is not None:
        check_choice(legend, "legend", ("best", "outside"))
    if orders is not None:
        orders = (orders,) if isinstance(orders, str) else orders
        if not isinstance(orders, (tuple, list)) or not orders:
            raise TypeError(f"orders must be 'morf', 'lerf' or a tuple of them, got {orders!r}")
        for order in orders:
            check_choice(order, "orders", tuple(ORDER_LABELS))
            lacking = [name or "the result" for name, r in results.items()
                       if order not in r.orders]
            if lacking:
                raise ValueError(f"orders={order!r} was not measured for {lacking}: run "
                                 f"pixel_flipping with order={order!r} or 'both'")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    colours = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    first = next(iter(results.values()))
    for m, (name, r) in enumerate(results.items()):
        colour = colours[m % len(colours)]
        for order in (orders or r.orders):
            curves = r.normalized(order) if normalized else r.curves[order]
            defined = ~np.isnan(curves).any(axis=1)
            if not defined.any():
                who = repr(name) if name else "the result"
                raise ValueError(f"no sample of {who} has a defined normalized "
                                 f"{ORDER_LABELS[order]} curve (s_0 is 0 or tiny for all): "
                                 "draw normalized=False")
            kept = curves[defined]
            auc = r.auc[order].mean()
            label = f"{name} {ORDER_LABELS[order]}".strip() + f" (AUC {auc:.3f}"
            if r.gap is not None and order == "lerf":
                label += f"; gap {r.gap.mean():.3f}"
            if (~defined).any():
                label += f"; {int((~defined).sum())} of {len(defined)} samples undefined"
            ax.plot(r.fractions, kept.mean(axis=0), _STYLE[order], color=colour,
                    label=label + ")")
            spread = _band(kept, band)
            if spread is not None:
                ax.fill_between(r.fractions, spread[0], spread[1], color=colour, alpha=alpha,
                                linewidth=0)
    what = "patches" if first.region else "features"
    ax.set_xlabel(f"fraction of {what} removed")
    ax.set_ylabel("s_k / s_0" if normalized else "explained output s_k")
    ax.set_xlim(0, 1)
    ax.set_title(title if title is not None else f"Feature removal, baseline {first.baseline}",
                 fontsize=9)
    if legend == "outside":
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    elif legend is not None:
        ax.legend(fontsize=7)
    return fig
