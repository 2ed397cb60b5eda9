"""Pixel flipping ranks methods on neuralized scikit-learn models: is NEON at or near the best?

Four scikit-learn models, neuralized with ``neon.neuralize``; each explained output is what
NEON explains (``lrp.explain(graph, x, target)`` with the graph's default rules), for the
estimator's own predicted label:

* wine, StandardScaler + KMeans(3) (all 178 wines): the assigned cluster's logit
  f_c = min_k≠c (d_k − d_c);
* breast cancer, StandardScaler + SVC(rbf) (fitted on 70 %, the 171 held-out tumours
  explained): the predicted class's f_c, the log-ratio of its α-weighted kernel sums against
  its rival (``graph.meta["duel_value"]``; same sign as the decision function);
* digits / 16, OneClassSVM(rbf, ν = 0.1) on 3/4 of the 0s, the other digits (all outliers)
  explained: the outlierness o(x) = −γ⁻¹ log Σ_j α̃_j exp(−γ‖x − u_j‖²);
* wine, LogisticRegression on the raw (unscaled) features: the predicted class's decision
  function.

Methods, each on the same 100 seeded samples per model: NEON; ``lrp.gradient`` (signed);
``lrp.gradient_x_input``; ``lrp.occlusion(window=1)`` and ``lrp.lime`` (500 draws), both
switching features to the training mean; shap's ``KernelExplainer`` (l1_reg off, 500
coalitions, background ``shap.kmeans(train, 10)``); and a random ordering
(``lrp.metrics.random_relevance``, uniform, seeded) as the floor every method should beat.

Removal: ``lrp.metrics.pixel_flipping``, one feature per step (steps = the feature count),
the class fixed at x, the curve s_k / s_0 and its AUC over the removed fraction (trapezoid),
most relevant first (MoRF AUC, lower is better) and the gap AUC(LeRF) − AUC(MoRF) (higher is
better), under two baselines drawn from the training data: ``"mean"`` (the feature's mean)
and ``"resample"`` (the feature's value in a random training row; the same seed, so every
method meets the same values). Curves can go below 0: removing features can flip the
decision. Time: seconds per sample of one batched call on all 100 samples, after an
untimed warm-up, one core (shared with other jobs, so ±2× between runs).

Measured (seed 0, n = 100; ``python examples/removal_neon.py``, about 20 s)::

    model             method         AUC mean  AUC resamp  gap mean  gap resamp  ms/sample
    wine k-means      NEON            -0.424      -0.559     1.704       1.673       0.01
                      gradient         0.557       0.328    -0.198      -0.052       0.01
                      gradient×input   0.520       0.297    -0.129       0.001       0.01
                      occlusion       -0.430      -0.559     1.700       1.660       0.01
                      LIME            -0.427      -0.559     1.712       1.673       0.25
                      shap            -0.405      -0.550     1.695       1.683        6.7
                      random           0.444       0.204     0.028       0.215       0.00
    breast-cancer     NEON            -0.277      -0.677     1.689       1.810       0.03
    SVC (rbf)         gradient         0.542       0.205     0.046       0.039       0.01
                      gradient×input   0.407       0.078     0.316       0.289       0.02
                      occlusion       -0.265      -0.655     1.671       1.773       0.06
                      LIME            -0.278      -0.680     1.688       1.816        1.4
                      shap            -0.248      -0.614     1.630       1.689       13.8
                      random           0.519       0.142     0.095       0.166       0.00
    digits            NEON             0.418       0.519     0.498       0.454       0.02
    one-class SVM     gradient         0.625       0.703     0.078       0.081       0.01
                      gradient×input   0.565       0.648     0.208       0.201       0.01
                      occlusion        0.418       0.520     0.497       0.454       0.06
                      LIME             0.418       0.519     0.497       0.455       0.92
                      shap             0.420       0.512     0.494       0.470       10.0
                      random           0.659       0.740     0.017       0.015       0.00
    wine logistic     NEON             0.013      -0.003     0.971       0.963       0.00
    regression (raw)  gradient         0.664       0.624    -0.331      -0.290       0.00
                      gradient×input   0.548       0.553    -0.098      -0.148       0.00
                      occlusion        0.012      -0.002     0.973       0.963       0.01
                      LIME             0.012      -0.002     0.973       0.962       0.14
                      shap             0.012      -0.002     0.973       0.961        6.1
                      random           0.500       0.500    -0.003      -0.042       0.00

These are the figures after issue 12 (reference points from the training data, which
``neon.neuralize(model, X_train)`` receives). Before it, NEON scored 0.499 / 0.183 on the SVC
(the midpoint rule on the duels, no better than random) and 0.548 / 0.553 on the
raw-feature logistic regression (R_i = w_i x_i, measured against the all-zero wine).

Conclusion, honestly:

* **k-means and the one-class SVM: NEON is at or near the best.** On the one-class SVM it
  ties occlusion, LIME and shap (MoRF AUC 0.418 against their 0.418–0.420 under the mean,
  0.519 against 0.512–0.520 resampled): given the training data it gives Shapley values
  against the data mean (``lrp.rules.PoolShapley``; the published split rule,
  ``root="split"``, scored 0.424 / 0.534). On k-means, the distances split relative to the
  data mean (the default with data) put it 0.006 behind occlusion (−0.424 vs −0.430); the
  published midpoint rule, ``root="midpoint"``, is 0.05 behind (−0.376). Either way it is
  far from the random 0.444, in one pass per batch.
* **The RBF SVC: NEON ties the best** (−0.277 vs occlusion −0.265 and LIME −0.278 under the
  mean, −0.677 vs −0.655 / −0.680 resampled). The default rule ``DuelTaylor`` expands the
  duels around a root found from the data mean, and conserves f exactly.
* **Logistic regression on raw features: NEON ties occlusion, LIME and shap** (0.013 vs
  0.012). With the training data every unit is rooted on its hyperplane from the data mean,
  so R_i = w_i (x_i − m_i), the exact decomposition those methods also find for a linear
  model. Without data the old rule, R_i = w_i x_i, scores 0.548, as gradient × input does, and
  a ReferenceDataWarning says so.
* Gradient and gradient × input do not beat random on k-means (the signed gradient says
  nothing about which way removal moves a feature); on the one-class SVM they do, by little.
* Occlusion and LIME switch features to exactly the mean baseline, and shap's background is
  the training data, so they are tuned to this kind of removal. The resample baseline is
  the fairer test, and the ranking holds under it.

NEON does this at 0.01–0.03 ms a sample, against shap's 6–14 ms.

The figure (examples/out/removal_neon.png) draws the MoRF curves, one column per model, one
row per baseline (``lrp.plot.removal_curves``). ``run(quick=True)`` is the small version the
test runs (tests/test_removal_neon_example.py).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import lrp  # noqa: E402
import lrp.metrics  # noqa: E402
import neon  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"

MODELS = ("wine k-means", "breast-cancer SVC", "digits one-class SVM",
          "wine logistic regression")
METHODS = ("NEON", "gradient", "gradient × input", "occlusion", "LIME", "shap", "random")
BASELINES = ("mean", "resample")


def build(seed: int = 0) -> dict:
    """The four neuralized models, with the samples they explain and their data.

    Returns a dict model name -> dict with ``graph``, ``pool`` (the samples that may be
    explained), ``target`` (a function samples -> targets: the estimator's own predicted
    labels, or None for the one-class SVM's single output), ``data`` (the training data:
    the mean and resample baselines, occlusion's and LIME's reference, shap's background)
    and the fitted ``estimator``.

    * wine, StandardScaler + KMeans(3), fitted on all 178 wines; explained: the assigned
      cluster's logit; pool: every wine.
    * breast cancer, StandardScaler + SVC(rbf), fitted on a stratified 70 % split; explained:
      the predicted class's f_c; pool: the 171 held-out tumours.
    * digits / 16, OneClassSVM(rbf, γ = "scale", ν = 0.1) fitted on 3/4 of the 0s; explained:
      the outlierness o(x) (> threshold: outlier); pool: the digits 1–9 (all outliers).
    * wine, LogisticRegression on the raw features, fitted on all wines; explained: the
      predicted class's decision function; pool: every wine.
    """
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, OneClassSVM

    models = {}
    X, _ = load_wine(return_X_y=True)
    kmeans = make_pipeline(StandardScaler(), KMeans(3, n_init=10, random_state=seed)).fit(X)
    models["wine k-means"] = dict(graph=neon.neuralize(kmeans, X), pool=X, data=X,
                                  target=kmeans.predict, estimator=kmeans)

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.3, random_state=seed,
                                                   stratify=y)
    svc = make_pipeline(StandardScaler(), SVC()).fit(X_train, y_train)
    models["breast-cancer SVC"] = dict(graph=neon.neuralize(svc, X_train), pool=X_test,
                                       data=X_train, target=svc.predict, estimator=svc)

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.default_rng(seed)
    zeros = rng.permutation(np.flatnonzero(y == 0))
    train = zeros[: len(zeros) * 3 // 4]
    ocsvm = OneClassSVM(gamma="scale", nu=0.1).fit(X[train])
    models["digits one-class SVM"] = dict(graph=neon.neuralize(ocsvm, X[train]), pool=X[y != 0],
                                          data=X[train], target=lambda x: None,
                                          estimator=ocsvm)

    X, y = load_wine(return_X_y=True)
    with warnings.catch_warnings():   # lbfgs on unscaled features needs many iterations
        warnings.simplefilter("ignore")
        logistic = LogisticRegression(max_iter=20_000).fit(X, y)
    models["wine logistic regression"] = dict(graph=neon.neuralize(logistic, X), pool=X,
                                              data=X, target=logistic.predict,
                                              estimator=logistic)
    return models


def shap_kernel(graph, x, target, data, *, nsamples, background=10, seed=0):
    """shap's KernelExplainer on the graph's outputs (l1_reg off), with a k-means summary
    of ``data`` (``shap.kmeans``, ``background`` weighted centres) as its background; the
    values of each sample's target column (column 0 without a target)."""
    import shap

    def f(z):
        with torch.no_grad():
            return graph(torch.as_tensor(z, dtype=torch.float64)).numpy()

    np.random.seed(seed)      # shap.kmeans and KernelExplainer draw from numpy's global RNG
    explainer = shap.KernelExplainer(f, shap.kmeans(data, background))
    values = np.asarray(explainer.shap_values(x, nsamples=nsamples, l1_reg=False,
                                              silent=True))          # (N, d, outputs)
    columns = (np.zeros(len(x), dtype=int) if target is None
               else np.searchsorted(graph.output_labels, target))
    return values[np.arange(len(x)), :, columns]


def methods(graph, data, *, lime_samples, shap_nsamples, seed):
    """Method name -> ``f(x, target) -> relevance`` (numpy, shaped like x)."""
    mean = data.mean(0)

    calls = {
        "NEON": lambda x, t: lrp.explain(graph, x, t),
        "gradient": lambda x, t: lrp.gradient(graph, x, t),
        "gradient × input": lambda x, t: lrp.gradient_x_input(graph, x, t),
        "occlusion": lambda x, t: lrp.occlusion(graph, x, t, window=1, baseline=mean),
        "LIME": lambda x, t: lrp.lime(graph, x, t, samples=lime_samples, baseline=mean,
                                      seed=seed),
        "shap": lambda x, t: shap_kernel(graph, x, t, data, nsamples=shap_nsamples, seed=seed),
        "random": lambda x, t: lrp.metrics.random_relevance(x, seed=seed),
    }
    if not shap_nsamples:
        del calls["shap"]
    return calls


def flip(graph, x, relevance, target, *, baseline, data, seed, order):
    """``lrp.metrics.pixel_flipping`` one feature per step, refusing samples whose explained
    output f(x) is not positive (their normalized curve f / f(x) would read upside down)."""
    result = lrp.metrics.pixel_flipping(graph, x, relevance, target, order=order,
                                        baseline=baseline, steps=x.shape[1], data=data,
                                        seed=seed)
    f_x = next(iter(result.curves.values()))[:, 0]
    if not np.all(f_x > 0):
        raise RuntimeError(f"the explained output f(x) is not positive for samples "
                           f"{np.flatnonzero(~(f_x > 0)).tolist()}: their normalized removal "
                           "curves would not read like the others'")
    return result


def run(n_samples: int = 100, seed: int = 0, shap_nsamples: int = 500, quick: bool = False,
        lime_samples: int | None = None) -> dict:
    """Explain ``n_samples`` samples of each model with every method and flip their features.

    Returns a dict model name -> method name -> dict with ``auc_mean`` and ``auc_resample``
    (MoRF AUC, lower is better), ``gap_mean`` and ``gap_resample`` (LeRF − MoRF, higher is
    better), ``seconds`` (per sample, after one untimed warm-up call), ``curve_mean``,
    ``curve_resample`` (the MoRF curves s_k / s_0 averaged over the samples) and
    ``removal_mean``, ``removal_resample`` (the MoRF :class:`lrp.metrics.RemovalResult`).
    Each model's dict also holds ``"_info"``: the ``index`` of the explained samples in the
    model's pool (:func:`build`), their number ``n``, the ``features`` and the mean f(x).
    ``shap_nsamples`` is KernelExplainer's coalitions per sample; None or 0 leaves shap out.
    ``quick=True`` caps the run for tests (12 samples, shap ≤ 200 draws, LIME 200 draws).
    """
    if quick:
        n_samples = min(n_samples, 12)
        shap_nsamples = min(shap_nsamples, 200) if shap_nsamples else shap_nsamples
    lime_samples = lime_samples or (200 if quick else 500)
    rng = np.random.default_rng(seed)
    results = {}
    for name, model in build(seed).items():
        graph, pool, data = model["graph"], model["pool"], model["data"]
        index = np.sort(rng.choice(len(pool), min(n_samples, len(pool)), replace=False))
        x = pool[index]
        target = model["target"](x)
        if target is not None:
            assert np.array_equal(graph.output_labels[graph(x).argmax(1)], target), \
                "the graph must reproduce predict"
        d = x.shape[1]
        rows = {}
        for method, explain in methods(graph, data, lime_samples=lime_samples,
                                       shap_nsamples=shap_nsamples, seed=seed).items():
            explain(x[:2], None if target is None else target[:2])      # warm-up
            start = time.perf_counter()
            relevance = np.asarray(explain(x, target))
            seconds = (time.perf_counter() - start) / len(x)
            row = {"seconds": seconds}
            for baseline in BASELINES:
                both, morf = (flip(graph, x, relevance, target, baseline=baseline, data=data,
                                   seed=seed, order=order) for order in ("both", "morf"))
                row[f"auc_{baseline}"] = both.auc["morf"].mean()
                row[f"gap_{baseline}"] = both.gap.mean()
                row[f"curve_{baseline}"] = morf.normalized().mean(0)
                row[f"removal_{baseline}"] = morf
                f_x = morf.curves["morf"][:, 0]
            rows[method] = row
        rows["_info"] = {"index": index, "n": len(x), "features": d, "f_mean": float(f_x.mean())}
        results[name] = rows
    return results


def table(results: dict) -> str:
    """The AUCs, gaps and times per model and method, as text."""
    head = (f"{'model':26s} {'method':17s} {'AUC mean':>9s} {'AUC resamp':>10s} "
            f"{'gap mean':>9s} {'gap resamp':>10s} {'ms/sample':>10s}")
    lines = [head, "-" * len(head)]
    for model, rows in results.items():
        for method, row in rows.items():
            if method.startswith("_"):
                continue
            lines.append(f"{model:26s} {method:17s} {row['auc_mean']:9.3f} "
                         f"{row['auc_resample']:10.3f} {row['gap_mean']:9.3f} "
                         f"{row['gap_resample']:10.3f} {1000 * row['seconds']:10.2f}")
        lines.append("")
    return "\n".join(lines)


def plot(results: dict, path=None):
    """MoRF curves (f after removal / f(x), mean ± s.e.m. over the samples) drawn by
    :func:`lrp.plot.removal_curves`: one column per model, one row per baseline, methods as
    lines with their AUC in the legend. Saves to ``path`` if given; returns the figure."""
    from lrp.plot import removal_curves

    fig, axes = plt.subplots(len(BASELINES), len(results), figsize=(4.6 * len(results), 8.0),
                             squeeze=False, layout="constrained")
    for col, (model, rows) in enumerate(results.items()):
        for line, baseline in enumerate(BASELINES):
            curves = {method: row[f"removal_{baseline}"] for method, row in rows.items()
                      if not method.startswith("_")}
            removal_curves(curves, ax=axes[line, col], alpha=0.12,
                           title=f"{model}, baseline: {baseline}")
    fig.suptitle("Feature removal, most relevant first (MoRF): the lower the curve, the "
                 "better the explanation (AUC of f / f(x) in the legends)")
    if path is not None:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return fig


def main(out_dir=OUT, quick: bool = False) -> dict:
    """Run the experiment, print the table, save ``removal_neon.png``; returns ``run``'s
    dict with the figure's ``"path"`` added."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    results = run(quick=quick)
    print(table(results))
    path = out_dir / "removal_neon.png"
    plot(results, path)
    print(f"saved {path}")
    return {**results, "path": path}


if __name__ == "__main__":
    main()
