"""Which feature-level concepts drive a wine's k-means cluster, and what does a cluster's (or
an inlier's) ideal wine look like?

StandardScaler + KMeans(3) on the wine data, neuralized with ``neon.neuralize`` (the scaler
folds into a weighted distance, so the graph reads the raw, named features).

**TCAV** (Kim et al., ICML 2018) at the graph's input ``x``, for each cluster's logit, the
inputs being the cluster's members. A concept is a set of 40 random wines moved by one
standard deviation along a group of features:

* "phenolic" — total_phenols, flavanoids and proanthocyanins up;
* "deep colour" — color_intensity up and hue down;
* "alcohol & proline" — both up;
* "random (all wines)" — the whole data set unmoved: its CAV against each random set is a
  random direction, the random-vs-random check (it must not come out significant).

Random sets: 20 sets of 40 wines drawn from the data; 20 runs per concept; Holm's
correction over the concepts of each cluster. The CAV learner is the mean difference
(``learner="mean_difference"``): at the input of a tabular model its direction
m_C − m_N is the only one whose sensitivity S = ∇f · (m_C − m_N) does not depend on the
units of the features (it is the same in raw and in standardized units), while the normal
of a fitted classifier is not. Its held-out accuracy, measured along the raw-unit direction,
is dominated by the widest feature (proline, sd ≈ 315) and says nothing here, so nothing is
held out (``held_out=0``).

**Prototypes** with ``concepts.maximize``: the input that maximizes each cluster's logit
inside the data's box (a k-means logit is unbounded without one), and the input a one-class
SVM (StandardScaler + OneClassSVM) finds most inlying, inside the box and under a density
prior (a neuralized StandardScaler + KernelDensity) that keeps it where wines are. Drawn as
z-scores against the data beside the cluster centroids and the most inlying real wine.

Run: ``python examples/concepts_wine.py`` (figures in examples/out/).
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import concepts  # noqa: E402
import concepts.plot  # noqa: E402
import neon  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
SET_SIZE = 40
RUNS = 20
CONTROL = "random (all wines)"
GROUPS = {
    "phenolic": {"total_phenols": 1, "flavanoids": 1, "proanthocyanins": 1},
    "deep colour": {"color_intensity": 1, "hue": -1},
    "alcohol & proline": {"alcohol": 1, "proline": 1},
}
COLUMNS = ["concept", "target", "score_mean", "score_std", "null_mean", "null_std",
           "magnitude_mean", "p_value", "p_adjusted", "significant"]


def load():
    from sklearn.datasets import load_wine

    data = load_wine(as_frame=True)
    return data.data, data.target.to_numpy()


def build(frame):
    """(pipeline, graph): StandardScaler + KMeans(3), neuralized on the raw features."""
    from sklearn.cluster import KMeans
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), KMeans(3, n_init=10, random_state=0)).fit(frame)
    return pipe, neon.neuralize(pipe, frame)


def concept_sets(X, names, seed=0):
    """concept → (40, 13) wines moved by one standard deviation along its features (signs
    as in GROUPS), plus the unmoved data as the random-vs-random check."""
    rng = np.random.default_rng(seed)
    sd = X.std(0)
    sets = {}
    for concept, moves in GROUPS.items():
        wines = X[rng.choice(len(X), SET_SIZE, replace=False)].copy()
        for feature, sign in moves.items():
            j = names.index(feature)
            wines[:, j] += sign * sd[j]
        sets[concept] = wines
    sets[CONTROL] = X.copy()
    return sets


def run_tcav(graph, X, cluster, sets, seed=0):
    """cluster → TCAVResult at the input x, the cluster's members as inputs."""
    return {c: concepts.tcav(graph, X[cluster == c], sets, "x", target=c, randoms=RUNS,
                             runs=RUNS, random_pool=X, random_size=SET_SIZE,
                             learner="mean_difference", held_out=0, seed=seed)
            for c in range(3)}


def prototypes(graph, oc_graph, density, X):
    """The k-means prototypes (one result per cluster, 4 starts) and the one-class SVM's
    inlier prototype (−outlierness under the density prior), all inside the data box."""
    km = [concepts.maximize(graph, concepts.output(target=c), data=X, box="data", starts=4,
                            seed=0)
          for c in range(3)]
    oc = concepts.maximize(oc_graph, -concepts.output(), data=X, box="data", starts=4, seed=0,
                           constraints=[concepts.DensityPrior(density, 1.0)])
    return km, oc


def plot_tcav(results, path):
    fig, axes = plt.subplots(len(results), 1, figsize=(7.5, 3.2 * len(results)),
                             layout="constrained")
    for ax, (c, result) in zip(axes, results.items()):
        concepts.plot.tcav(result, ax=ax, title=f"cluster {c}: TCAV of its logit at x, "
                           f"{result.settings['runs']} runs, mean difference; * Holm-adjusted "
                           f"p ≤ {result.settings['alpha']}")
    fig.suptitle("Wine, StandardScaler + KMeans(3): feature-group concepts per cluster")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_prototypes(km, oc, graph, oc_graph, centroids, X, names, path):
    """One panel per prototype, as z-scores against the data: bars = the prototype, black
    diamonds = the cluster's centroid (k-means) or the most inlying wine (one-class SVM),
    grey bands = the data's range (the box)."""
    mean, sd = X.mean(0), X.std(0)
    z_low, z_high = (X.min(0) - mean) / sd, (X.max(0) - mean) / sd
    logits = np.asarray(graph(X))
    outlierness = np.asarray(oc_graph(X)).ravel()
    marks = [*centroids, X[int(np.argmin(outlierness))]]
    titles = [f"k-means cluster {c}: logit {float(r.objective[r.order[0]]):.1f}\n"
              f"(best wine {logits[:, c].max():.1f})" for c, r in enumerate(km)]
    titles.append(f"one-class SVM inlier: outlierness {-float(oc.objective[oc.order[0]]):.2f}"
                  f"\n(most inlying wine {outlierness.min():.2f})")
    results = [*km, oc]
    fig, axes = plt.subplots(1, len(results), figsize=(3.3 * len(results), 5.2),
                             layout="constrained")
    y = np.arange(len(names))
    for ax, r, mark, title in zip(axes, results, marks, titles):
        concepts.plot.feature_view(r.best(1), names, data=X, ax=[ax], title=title)
        ax.hlines(y, z_low, z_high, colors="lightgray", linewidth=5, zorder=0)
        ax.scatter((mark - mean) / sd, y, marker="D", s=14, color="black", zorder=3)
        ax.set_xlim(min(z_low.min(), -3.0) - 0.3, max(z_high.max(), 3.0) + 0.3)
    for ax in axes[1:]:
        ax.tick_params(labelleft=False)
    fig.legend(handles=[plt.Line2D([], [], color="lightgray", linewidth=5,
                                   label="data range (the box)"),
                        plt.Line2D([], [], marker="D", color="black", linestyle="",
                                   markersize=4, label="cluster centroid / most inlying wine")],
               fontsize=8, loc="outside lower center", ncols=2, frameon=False)
    fig.suptitle("Prototypes by activation maximization inside the data box (z-scores)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(out_dir=OUT):
    """TCAV of three feature-group concepts per k-means cluster, and prototypes.

    Saves ``concepts_wine_tcav.png`` and ``concepts_wine_prototypes.png`` in ``out_dir``;
    returns the graphs, pipelines, data, TCAV results by cluster, their table, the
    prototypes and the paths.
    """
    from sklearn.neighbors import KernelDensity
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import OneClassSVM

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame, y = load()
    names = list(frame.columns)
    X = frame.to_numpy()
    pipe, graph = build(frame)
    cluster = np.asarray(graph(X)).argmax(1)
    assert np.array_equal(cluster, pipe.predict(frame)), "the graph must reproduce predict"
    for c in range(3):
        members = cluster == c
        print(f"cluster {c}: {members.sum()} wines, classes "
              f"{np.bincount(y[members], minlength=3).tolist()}")

    sets = concept_sets(X, names)
    results = run_tcav(graph, X, cluster, sets)
    table = pd.concat([r.to_frame() for r in results.values()], ignore_index=True)
    with pd.option_context("display.width", 140, "display.max_columns", 20,
                           "display.precision", 3):
        print(f"\nTCAV at x, {RUNS} runs, learner 'mean_difference', test 'runs', Holm over "
              "the concepts of each cluster:")
        print(table[COLUMNS].to_string(index=False))
    tcav_path = out_dir / "concepts_wine_tcav.png"
    plot_tcav(results, tcav_path)
    print(f"saved {tcav_path}")

    oc_pipe = make_pipeline(StandardScaler(), OneClassSVM(nu=0.1, gamma="scale")).fit(frame)
    oc_graph = neon.neuralize(oc_pipe, frame)
    kde_pipe = make_pipeline(StandardScaler(), KernelDensity(bandwidth=1.0)).fit(frame)
    density = neon.neuralize(kde_pipe, frame)
    km, oc = prototypes(graph, oc_graph, density, X)
    logits = np.asarray(graph(X))
    for c, r in enumerate(km):
        x = r.best(1)
        print(f"cluster {c} prototype: logit {float(r.objective[r.order[0]]):.2f} (best wine "
              f"{logits[:, c].max():.2f}), predicted cluster "
              f"{int(pipe.predict(pd.DataFrame(x, columns=names))[0])}")
    o = np.asarray(oc_graph(X)).ravel()
    x = pd.DataFrame(oc.best(1), columns=names)
    log_p = kde_pipe.score_samples(frame)
    print(f"one-class SVM inlier prototype: outlierness {-float(oc.objective[oc.order[0]]):.3f} "
          f"(most inlying wine {o.min():.3f}); KDE log-density "
          f"{float(kde_pipe.score_samples(x)[0]):.2f} (data: median {np.median(log_p):.2f}, "
          f"max {log_p.max():.2f})")
    centroids = pipe[0].inverse_transform(pipe[-1].cluster_centers_)
    prototypes_path = out_dir / "concepts_wine_prototypes.png"
    plot_prototypes(km, oc, graph, oc_graph, centroids, X, names, prototypes_path)
    print(f"saved {prototypes_path}")
    return {"graph": graph, "pipe": pipe, "X": X, "names": names, "cluster": cluster,
            "sets": sets, "tcav": results, "table": table, "kmeans_prototypes": km,
            "oc_graph": oc_graph, "oc_pipe": oc_pipe, "density": density,
            "kde_pipe": kde_pipe,
            "oc_prototype": oc, "tcav_path": tcav_path, "prototypes_path": prototypes_path}


if __name__ == "__main__":
    main(*sys.argv[1:2])
