"""Sanity-check curves: the similarity of each method's explanation to its original as the
layers are randomized (Adebayo et al., NeurIPS 2018, Fig. 2 and 4).

x: the stages, the original model first, then each re-initialized node in order (from the
output backwards); y: the mean similarity over the samples (Spearman or SSIM), with a band.
A curve that drops is a method that depends on the randomized layers; one that stays high
does not. Methods are compared only when they were measured alike (same stages, cascade and
sign convention): mixed settings are refused.
"""

from __future__ import annotations

import numpy as np

from ._named import check_alike, named_results

__all__ = ["randomization_curves"]

SANITY_BANDS = ("sem", "quantiles", None)


def _results(results) -> dict:
    from ..metrics.sanity import RandomizationResult

    return named_results(results, RandomizationResult, "lrp.metrics.randomization_check",
                         "lrp.metrics.randomization_check(graph, lrp.gradient, x)")


def _check_alike(results: dict, score: str) -> None:
    for name, r in results.items():
        if score not in r.scores:
            raise ValueError(f"results[{name!r}] has no {score!r} scores (it has "
                             f"{', '.join(map(repr, r.scores))}): pass score= one of those, "
                             "or measure it with similarity=")
    check_alike(results, (("stages", "stages"), ("cascade", "cascade"),
                          ("absolute", "absolute")),
                "compare methods on the same graph under the same settings")


def _summary(values: np.ndarray, band):
    """(mean, low, high) of one stage's defined values (NaN when none is)."""
    v = values[~np.isnan(values)]
    if v.size == 0:
        return np.nan, np.nan, np.nan
    mean = v.mean()
    if band == "sem":
        if v.size < 2:
            return mean, np.nan, np.nan
        sem = v.std(ddof=1) / np.sqrt(v.size)
        return mean, mean - sem, mean + sem
    if band == "quantiles":
        return mean, np.quantile(v, 0.25), np.quantile(v, 0.75)
    return mean, np.nan, np.nan


def randomization_curves(results, ax=None, *, score: str = "spearman", title=None,
                         band="sem", alpha: float = 0.2):
    """Similarity to the original explanation per randomization stage, one line per method.

    Parameters
    ----------
    results : RandomizationResult or dict
        One result of :func:`lrp.metrics.randomization_check`, or method name → result. All
        must share the stages, the cascade and ``absolute`` (refused otherwise).
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure).
    score : {"spearman", "ssim"}
        Which similarity to draw; every result must hold it.
    title : str, optional
        Default: "Cascading randomization" or "Independent randomization", with the score.
    band : {"sem", "quantiles", None}
        ± one standard error of the mean over the samples (default), the 25–75 % quantiles,
        or no band.
    alpha : float
        Opacity of the bands, 0 … 1.

    Returns
    -------
    matplotlib Figure
        x ticks "original", then the stages' node names; y the mean similarity over the
        samples where it is defined (the original point is the map's similarity with
        itself, 1); the legend names each method with its similarity at the last stage,
        and how many values were undefined (constant maps) if any. A dotted line marks 0.
    """
    import matplotlib.pyplot as plt

    from ..rules.base import check_choice, check_number

    results = _results(results)
    check_choice(score, "score", ("spearman", "ssim"))
    check_choice(band, "band", SANITY_BANDS)
    alpha = check_number(alpha, "alpha")
    if alpha > 1:
        raise ValueError(f"alpha is an opacity: give 0 ≤ alpha ≤ 1, got {alpha}")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string or None, got {type(title).__name__}")
    _check_alike(results, score)
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(4.0, 1.2 + 0.6 * (len(
            next(iter(results.values())).stages) + 1)), 4))
    else:
        fig = ax.figure
    colours = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    first = next(iter(results.values()))
    positions = np.arange(len(first.stages) + 1)
    for m, (name, r) in enumerate(results.items()):
        colour = colours[m % len(colours)]
        stages = [r.original[score].values] + [s.values for s in r.scores[score]]
        summary = np.array([_summary(v, band) for v in stages])
        undefined = int(sum(np.isnan(v).sum() for v in stages))
        label = (name or r.method) + f" (last stage {summary[-1, 0]:.2f}"
        if undefined:
            label += f"; {undefined} undefined values left out"
        ax.plot(positions, summary[:, 0], "o-", color=colour, label=label + ")")
        if band is not None and not np.isnan(summary[:, 1]).all():
            ax.fill_between(positions, summary[:, 1], summary[:, 2], color=colour,
                            alpha=alpha, linewidth=0)
    ax.axhline(0.0, color="grey", linestyle=":", linewidth=0.8)
    ax.set_xticks(positions)
    ax.set_xticklabels(["original", *first.stages], rotation=45, ha="right", fontsize=8)
    ax.set_xlabel("re-initialized " + ("from the output down to" if first.cascade == "top_down"
                                       else "alone"))
    sign = "|R|" if first.absolute else "R"
    ax.set_ylabel(f"{'Spearman ρ' if score == 'spearman' else 'SSIM'} with the original "
                  f"({sign})")
    ax.set_ylim(-1.05, 1.05)
    kind = "Cascading" if first.cascade == "top_down" else "Independent"
    ax.set_title(title if title is not None else f"{kind} randomization, {score}", fontsize=9)
    ax.legend(fontsize=7)
    return fig
