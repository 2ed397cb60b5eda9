"""One wine's k-means cluster explained four ways: NEON, gradient × input, occlusion, LIME.

Wine data, StandardScaler + KMeans(3) as a scikit-learn Pipeline, neuralized with
``neon.neuralize`` (the scaler folds into the distances, so every method works on the raw,
named features). The explained output is the cluster logit of the cluster the model assigns
(``target = pipe.predict(x)``); numpy goes in, numpy comes out.

* NEON (``lrp.explain``): the midpoint rule; the relevance sums to the logit.
* gradient × input: x ⊙ ∂f/∂x in the raw feature space, i.e. measured against the all-zero
  wine (0 % alcohol, 0 mg/l proline …), far outside the data; its sum is not the logit.
* occlusion, window 1: f(x) − f(x with feature j set to its data mean), one feature at a
  time, the baseline being the mean wine in the model's input space (the raw data mean).
* LIME on the wine's own 13 features, switched-off features set to the data mean.

Bars per feature, one panel per method; NEON, occlusion and LIME share one x-axis (logit
units), gradient × input, about 6× larger in sum, gets its own so as not to squash them.
Each panel states ΣR and its share of the logit. The script prints the four attributions
per feature as a table, and the time of each method (the first autograd call of a process,
gradient × input here, includes torch's one-time start-up of autograd, about 0.5 s).

Run: ``python examples/methods_wine.py`` (figure in examples/out/methods_wine.png).
"""

from __future__ import annotations

import time
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
    """Fit StandardScaler + KMeans(3) and neuralize the pipeline."""
    from sklearn.cluster import KMeans
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), KMeans(3, n_init=10, random_state=0)).fit(X)
    return pipe, neon.neuralize(pipe, X)


def explain_all(graph, x, target, mean, *, lime_samples=500, seed=0):
    """The four attributions of ``x`` (numpy, (1, 13)) for cluster ``target``: a dict
    method name -> (13,) array, plus LIME's fit R²; each checked to be numpy like ``x``."""
    calls = {
        "NEON": lambda: lrp.explain(graph, x, target),
        "occlusion (to the mean)": lambda: lrp.occlusion(graph, x, target, window=1,
                                                         baseline=mean),
        "LIME (to the mean)": lambda: lrp.lime(graph, x, target, samples=lime_samples,
                                               baseline=mean, seed=seed, return_all=True),
        "gradient × input": lambda: lrp.gradient_x_input(graph, x, target),
    }
    out, seconds, r2 = {}, {}, None
    for name, call in calls.items():
        start = time.perf_counter()
        result = call()
        seconds[name] = time.perf_counter() - start
        if hasattr(result, "attribution"):
            r2 = float(np.asarray(result.info["r2"])[0])
            result = result.attribution
        if not isinstance(result, np.ndarray) or result.shape != x.shape:
            raise TypeError(f"{name}: numpy of shape {x.shape} in, got "
                            f"{type(result).__name__} {getattr(result, 'shape', '')} out")
        out[name] = result[0]
    return out, seconds, r2


def table(names, x, mean, R, logit) -> str:
    """The attributions per feature (rows) and method (columns), their sums and the logit."""
    short = {"NEON": "NEON", "gradient × input": "grad×input",
             "occlusion (to the mean)": "occlusion", "LIME (to the mean)": "LIME"}
    head = f"{'feature':30s} {'x':>9s} {'mean':>9s}" + "".join(
        f" {short[m]:>11s}" for m in R)
    lines = [head, "-" * len(head)]
    for j, name in enumerate(names):
        lines.append(f"{name:30s} {x[j]:9.3g} {mean[j]:9.3g}" + "".join(
            f" {R[m][j]:11.3f}" for m in R))
    lines.append("-" * len(head))
    lines.append(f"{'sum':30s} {'':9s} {'':9s}" + "".join(f" {R[m].sum():11.3f}" for m in R))
    lines.append(f"{'cluster logit f(x)':30s} {'':9s} {'':9s}" + f" {logit:11.3f}" * len(R))
    return "\n".join(lines)


def plot(names, R, logit, title, path=None):
    """One panel of bars per method, features in their order.

    NEON, occlusion and LIME (all measured against a reference wine, in logit units) share
    one x-axis; gradient × input, several times larger, gets its own, named in its title, so
    that it does not squash the other three. Returns the figure.
    """
    shared = [m for m in R if m != "gradient × input"]
    own = [m for m in R if m == "gradient × input"]
    fig, axes = plt.subplots(1, len(R), figsize=(2.0 + 3.2 * len(R), 1.6 + 0.3 * len(names)),
                             squeeze=False, layout="constrained")
    axes = list(axes[0])
    feature_bars(np.stack([R[m] for m in shared]), names, ax=axes[:len(shared)], sort=False,
                 title=shared,
                 outputs=[logit] * len(shared), output_name="logit")
    for m, ax in zip(own, axes[len(shared):]):
        feature_bars(R[m], names, ax=ax, sort=False, title=f"{m} (own x-axis)",
                     outputs=logit, output_name="logit")
        ax.tick_params(labelleft=False)
    fig.suptitle(title)
    if path is not None:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return fig


def main(out_dir=OUT, index: int = 0) -> dict:
    """Explain wine ``index``'s cluster four ways, print the table, save the figure.

    Returns a dict with the figure ``path``, the ``attributions`` (method -> (13,) array),
    the ``graph``, ``x`` (1, 13), ``target`` (the assigned cluster, shape (1,)), the data
    ``mean``, the ``logit``, the feature ``names`` and LIME's ``r2``.
    """
    from sklearn.datasets import load_wine

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = load_wine()
    X, y, names = data.data, data.target, list(data.feature_names)
    pipe, graph = build(X)
    x = X[index:index + 1]
    target = pipe.predict(x)
    logits = graph(x)
    assert int(logits.argmax(1)[0]) == int(target[0]), "the graph must reproduce predict"
    logit = float(logits[0, target[0]])
    mean = X.mean(0)
    R, seconds, r2 = explain_all(graph, x, target, mean)
    print(f"wine {index} (class {y[index]}) is in cluster {target[0]}, cluster logit "
          f"f(x) = {logit:.4f}; f(mean wine) = {float(graph(mean[None])[0, target[0]]):.4f}")
    print(table(names, x[0], mean, R, logit))
    print("times: " + ", ".join(f"{m} {1000 * s:.1f} ms" for m, s in seconds.items())
          + f"; LIME fit R² {r2:.4f}")
    path = out_dir / "methods_wine.png"
    plot(names, R, logit, f"Wine {index}, StandardScaler + KMeans(3): why cluster "
         f"{target[0]}? Four explanations of its cluster logit\n(logit units; NEON, occlusion "
         "and LIME on one x-axis, gradient × input on its own)", path)
    print(f"saved {path}")
    return {"path": path, "attributions": R, "graph": graph, "x": x, "target": target,
            "mean": mean, "logit": logit, "names": names, "r2": r2}


if __name__ == "__main__":
    main()
