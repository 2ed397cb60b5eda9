"""Why is a handwritten digit an outlier for a one-class SVM trained on one digit class?

A OneClassSVM (RBF) is trained on the 0s of scikit-learn's digits, neuralized into the
outlierness network o(x) = −γ⁻¹ log Σ_j α̃_j exp(−γ‖x − u_j‖²) and explained with the
soft-min redistribution and distance-split rules (Kauffmann et al., "Towards explaining
anomalies: a deep Taylor decomposition of one-class models", Pattern Recognition 2020).
Heatmaps on the 8×8 images (diverging colormap, symmetric around zero) beside each digit
show which pixels make other digits outliers; the relevance of each image sums to o(x).

Run: ``python examples/digits_outlier.py`` (figures in examples/out/).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import lrp  # noqa: E402
import neon  # noqa: E402
from lrp.plot import explanation_grid  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"

INLIER = 0


def fit(X):
    from sklearn.svm import OneClassSVM

    return OneClassSVM(gamma="scale", nu=0.1).fit(X)


def choose(y, o, threshold, rng):
    """One held-out inlier digit and the most outlying sample of a few other classes."""
    picks = [int(rng.choice(np.flatnonzero(y == INLIER)))]
    for digit in (1, 3, 7, 8):
        members = np.flatnonzero(y == digit)
        picks.append(int(members[np.argmax(o[members])]))
    return picks


def plot(X, y, R, o, threshold, picks, path=None):
    """Each picked digit above its heatmap, all maps on one symmetric scale (one colour bar).

    Each caption states o and ΣR with its share of o. Saves to ``path`` if given; returns the
    figure.
    """
    titles = [f"digit {y[i]}: {'outlier' if o[i] > threshold else 'inlier'}" for i in picks]
    fig = explanation_grid(X[picks].reshape(-1, 8, 8),
                           {"relevance": R[picks].reshape(-1, 8, 8)}, titles,
                           outputs=o[picks], output_name="o", orientation="columns", size=2.0,
                           suptitle=f"One-class SVM on digit {INLIER}: which pixels make a "
                           f"digit an outlier (threshold o > {threshold:.2f})")
    if path is not None:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return fig


def main(out_dir=OUT):
    from sklearn.datasets import load_digits

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    X, y = digits.data / 16.0, digits.target
    rng = np.random.default_rng(0)
    train = np.flatnonzero(y == INLIER)
    train = rng.permutation(train)[: len(train) * 3 // 4]
    svm = fit(X[train])
    graph = neon.neuralize(svm)
    o = graph(X)[:, 0]
    threshold = graph.meta["threshold"]
    held_out = np.setdiff1d(np.arange(len(X)), train)
    agree = (o[held_out] > threshold) == (svm.predict(X[held_out]) == -1)
    print(f"gamma = {graph.meta['gamma']:.4g}, {len(svm.support_vectors_)} support vectors; "
          f"outlier decision agrees with predict on {agree.mean():.1%} of held-out samples")
    picks = choose(y, np.where(np.isin(np.arange(len(X)), train), -np.inf, o), threshold, rng)
    R = lrp.explain(graph, X[picks])
    for k, i in enumerate(picks):
        print(f"sample {i:4d} (digit {y[i]}): o = {o[i]:.4f} "
              f"({'outlier' if o[i] > threshold else 'inlier'}), sum of relevance "
              f"{R[k].sum():.4f}")
    Rfull = np.zeros_like(X)
    Rfull[picks] = R
    path = out_dir / "digits_outlier_heatmaps.png"
    plot(X, y, Rfull, o, threshold, picks, path)
    print(f"saved {path}")
    return path


if __name__ == "__main__":
    main()
