"""TCAV bars: the score per concept with its spread over runs, the random-vs-random null, and
the verdict of the (adjusted) test."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["tcav"]

_SIGNIFICANT, _NOT = "tab:blue", "tab:gray"


def tcav(result, ax=None, *, title=None, show_runs: bool = True):
    """Bars of the mean TCAV score per concept, grouped by (node, target).

    Each bar is a concept's mean score over the runs, with an error bar of ±1 standard
    deviation over the runs and (``show_runs``) the runs' scores as dots; a black line across
    the bar marks the mean score of the random-vs-random null, a thin grey error bar at its
    right end the null's ±1 standard deviation (over runs for ``test="runs"``, over random
    sets for ``test="sets"``); above the bar, ``*`` marks a significant hypothesis (adjusted
    p ≤ alpha), ``n.s.`` one that is not. Faded bars are the ones not significant. The
    dashed line at 0.5 is where a direction whose sign the output ignores would score.

    Parameters
    ----------
    result : concepts.TCAVResult
        From :func:`concepts.tcav`, with at least one row.
    ax : matplotlib Axes, optional
        Where to draw (default: a new figure sized to the bars).
    title : str, optional
        Default: what was tested (output, learner, runs, correction, alpha).
    show_runs : bool
        Draw each run's score as a dot.

    Returns
    -------
    matplotlib Axes
    """
    from concepts.tcav import TCAVResult

    if not isinstance(result, TCAVResult):
        raise TypeError(f"concepts.plot.tcav draws a concepts.TCAVResult (from "
                        f"concepts.tcav), got {type(result).__name__}")
    if not result.rows:
        raise ValueError("the TCAV result has no rows (no hypotheses were tested): nothing to "
                         "plot")
    if not isinstance(show_runs, bool):
        raise TypeError(f"show_runs must be True or False, got {show_runs!r}")
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys((r["node"], r["target"]) for r in result.rows))
    concepts = list(dict.fromkeys(r["concept"] for r in result.rows))
    rows = {(r["concept"], r["node"], r["target"]): r for r in result.rows}
    width = 0.8 / len(concepts)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 1.2 + 0.55 * len(groups) * len(concepts)
                                          + 0.4 * len(groups)), 3.6))
    colours = plt.get_cmap("tab10")
    for gi, (node, target) in enumerate(groups):
        for ci, concept in enumerate(concepts):
            row = rows.get((concept, node, target))
            if row is None:
                continue
            x = gi + (ci - (len(concepts) - 1) / 2) * width
            err = row["score_std"] if math.isfinite(row["score_std"]) else 0.0
            ax.bar(x, row["score_mean"], width * 0.9, yerr=err, capsize=3,
                   color=colours(ci % 10), alpha=1.0 if row["significant"] else 0.45,
                   edgecolor="black", linewidth=0.6, label=concept if gi == 0 else None,
                   error_kw={"elinewidth": 0.9})
            if show_runs and (concept, node, target) in result.scores:
                runs = np.asarray(result.scores[(concept, node, target)], dtype=float)
                offsets = np.linspace(-0.25, 0.25, len(runs)) * width if len(runs) > 1 else [0]
                ax.scatter(x + np.asarray(offsets), runs, s=7, color="black", alpha=0.5,
                           zorder=3, linewidths=0)
            null_std = row["null_std"] if math.isfinite(row["null_std"]) else 0.0
            ax.hlines(row["null_mean"], x - width * 0.45, x + width * 0.45, colors="black",
                      linewidth=1.6, zorder=4, label="null mean ± sd (random vs random)"
                      if gi == 0 and ci == 0 else None)
            ax.errorbar(x + width * 0.38, row["null_mean"], yerr=null_std, color="dimgray",
                        linewidth=0.8, capsize=2, zorder=4)
            mark = "*" if row["significant"] else "n.s."
            ax.text(x, min(1.08, row["score_mean"] + err + 0.03), mark, ha="center",
                    va="bottom", fontsize=11 if row["significant"] else 7)
    ax.axhline(0.5, color="gray", linestyle="--", linewidth=0.7, zorder=1)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{node}\ntarget {target!r}" if isinstance(target, str)
                        else f"{node}\ntarget {target}" for node, target in groups])
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("TCAV score (fraction of inputs with S > 0)")
    s = result.settings
    if title is None:
        correction = {"holm": "Holm", "bonferroni": "Bonferroni", None: "no correction"}.get(
            s.get("correction"), "")
        title = (f"TCAV, output {s.get('output', 'logit')!r}, learner {s.get('learner', '?')!r}"
                 f", {s.get('runs', '?')} runs; * adjusted p ≤ {s.get('alpha', '?')} "
                 f"(test {s.get('test', 'runs')!r}, {correction})")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return ax
