"""Which features put a wine sample in its k-means cluster?

Wine data, MinMaxScaler + KMeans(3) as a scikit-learn Pipeline, neuralized with
``neon.neuralize`` (the scaler folds into a weighted distance, so relevance lands on the raw,
named features) and explained with the NEON midpoint rule (Kauffmann et al., "From
clustering to cluster explanations via neural networks", IEEE TNNLS 2022). Bar charts of
the relevance per feature for a few samples, including samples whose cluster disagrees with
their wine class; each relevance vector sums to the sample's cluster logit.

Run: ``python examples/wine_kmeans.py`` (figures in examples/out/).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import lrp  # noqa: E402
import neon  # noqa: E402
from lrp.plot import feature_bars  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"


def build(X):
    """Fit MinMaxScaler + KMeans(3) and neuralize the pipeline."""
    from sklearn.cluster import KMeans
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    pipe = make_pipeline(MinMaxScaler(), KMeans(3, n_init=10, random_state=0)).fit(X)
    return pipe, neon.neuralize(pipe, X)


def pick_samples(cluster, y, logits):
    """Two agreeing samples (the most confident ones of two clusters) and up to two
    samples whose cluster's majority class is not their own class."""
    majority = np.array([np.bincount(y[cluster == c]).argmax() for c in range(3)])
    disagree = np.flatnonzero(majority[cluster] != y)
    agree = np.flatnonzero(majority[cluster] == y)
    chosen = []
    for c in (0, 1):
        members = agree[cluster[agree] == c]
        if len(members):
            chosen.append(int(members[logits[members].argmax()]))
    chosen += [int(i) for i in disagree[np.argsort(-logits[disagree])][:2]]
    return chosen, majority


def plot(names, R, X, y, cluster, majority, logits, chosen, path=None):
    """Relevance per feature of the chosen samples, one panel each, on a common x-axis.

    Features keep their order in every panel; each panel states the logit and ΣR. Saves to
    ``path`` if given; returns the figure.
    """
    titles = [f"sample {i}: class {y[i]}, cluster {cluster[i]}"
              f"{'' if majority[cluster[i]] == y[i] else ' (disagrees)'}" for i in chosen]
    axes = feature_bars(R[chosen], names, sort=False, title=titles, outputs=logits[chosen],
                        output_name="logit")
    fig = axes[0].figure
    fig.suptitle("Wine, MinMaxScaler + KMeans(3): why each sample is in its cluster")
    if path is not None:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return fig


def main(out_dir=OUT):
    from sklearn.datasets import load_wine

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = load_wine()
    X, y, names = data.data, data.target, list(data.feature_names)
    pipe, graph = build(X)
    logits_all = graph(X)
    cluster = logits_all.argmax(1)
    assert np.array_equal(cluster, pipe.predict(X)), "the graph must reproduce predict"
    logits = logits_all.max(1)
    R = lrp.explain(graph, X)
    print(f"beta = {graph.meta['beta']:.4g} (1 / mean assigned logit)")
    chosen, majority = pick_samples(cluster, y, logits)
    for i in chosen:
        print(f"sample {i:3d}: class {y[i]}, cluster {cluster[i]} (majority class "
              f"{majority[cluster[i]]}), logit {logits[i]:.6f}, sum of relevance "
              f"{R[i].sum():.6f}, top feature {names[int(np.argmax(R[i]))]}")
    gap = np.abs(R.sum(1) - logits).max()
    print(f"max |sum_i R_i - logit| over all {len(X)} samples: {gap:.2e}")
    path = out_dir / "wine_kmeans_relevance.png"
    plot(names, R, X, y, cluster, majority, logits, chosen, path)
    print(f"saved {path}")
    return path


if __name__ == "__main__":
    main()
