"""Explain a small CNN trained on digits with two LRP composites and save heatmaps.

Composites are composed in code: the presets EpsilonPlusFlat and EpsilonGammaBox(0, 1)
(pixels lie in [0, 1]), and a hand-made one that puts LRP-0 on the last layer. Each heatmap
sums to the explained logit up to what biases absorb (or add); the script prints that budget.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from digits_cnn import train_digits_cnn  # noqa: E402

import lrp  # noqa: E402
import neon  # noqa: E402
from lrp import rules, select  # noqa: E402


def composites() -> dict:
    """The three rule assignments this example compares."""
    custom = lrp.Composite([
        (select.first(), rules.Flat()),
        (select.last(), rules.Epsilon(0.0)),
        (select.kind("conv"), rules.Gamma(0.5)),
        (select.kind("linear"), rules.Epsilon(0.1, scale="rms")),
    ])
    return {"EpsilonPlusFlat": lrp.EpsilonPlusFlat(),
            "EpsilonGammaBox(0, 1)": lrp.EpsilonGammaBox(0.0, 1.0),
            "custom": custom}


def plot(x, maps: dict, titles, logits, path=None):
    """Each digit beside its heatmap per composite, all on one symmetric scale.

    One colour bar for the figure; each caption states the explained logit f and ΣR of that
    map with its share of f (biases and stabilizers take or add the rest). Saves to ``path``
    if given; returns the figure.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lrp.plot import explanation_grid

    fig = explanation_grid(list(x), {k: list(v) for k, v in maps.items()}, titles,
                           outputs=logits, size=1.8,
                           suptitle="LRP composites on a digits CNN: relevance for the "
                           "predicted logit f\n% = ΣR / f (biases and stabilizers take or "
                           "add the rest)")
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return fig


def main(out_dir: Path = HERE / "out") -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model, X_test, y_test = train_digits_cnn(seed=0)
    graph = neon.neuralize(model, X_test[:1])
    x, y = X_test[:8], y_test[:8]
    predicted = graph(x).argmax(1)
    maps, logits = {}, None
    for name, composite in composites().items():
        result = lrp.explain(graph, x, composite=composite, return_all=True)
        maps[name] = result.relevance
        logits = result.output
        kept = result.relevance.flatten(1).sum(1) / result.output
        print(f"{name:24s} Σ R / f(x): median {kept.median():.3f} "
              f"(biases and stabilizers take or add the rest)")
    print("\nRules of the custom composite:")
    print(composites()["custom"].describe(graph))
    titles = [f"label {int(a)}, pred {int(b)}" for a, b in zip(y, predicted)]
    path = out_dir / "lrp_digits.png"
    plot(x, maps, titles, logits, path)
    print(f"\nsaved {path}")


if __name__ == "__main__":
    main()
