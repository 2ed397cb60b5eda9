"""Faithfulness of NEON on every neuralized scikit-learn family, against its peers (issue 12).

For each model family on a bundled data set, the graph is ``neon.neuralize(model, X_train)``
and NEON is ``lrp.explain(graph, x, target)`` with the graph's default rules, whatever they
are when this runs. Its peers explain the same scalar output s(x) = f_t(x) (the graph's
declared output for the target t):

* ``gradient``: ``lrp.gradient`` (signed); ``gradient×input``: ``lrp.gradient_x_input``;
* ``occlusion``: ``lrp.occlusion(window=1, baseline=training mean)``;
* ``LIME``: ``lrp.lime(samples=500, baseline=training mean, seed)``;
* ``shap``: ``shap.KernelExplainer`` on a numpy function returning s for the target's column
  (one explainer per target), ``nsamples=200``, ``l1_reg=False``, background
  ``shap.kmeans(X_train, 10)``, numpy's global RNG seeded;
* ``random``: ``lrp.metrics.random_relevance(x, seed)``, the floor every method should beat.

Families (``--families``; data, model, explained output t, samples explained):

=========  ==================================================================================
kmeans     wine, StandardScaler + KMeans(3), fitted on all 178; the assigned cluster's logit;
           drawn from all wines (default with data: ``root="mean"``, the distances split
           relative to the data mean)
kmeans_    the same k-means neuralized with ``root="midpoint"`` (the published rule; the
midpoint   default without reference data)
ocsvm      digits / 16, OneClassSVM(rbf, γ="scale", ν=0.1) on 3/4 of the 0s; the outlierness
           o(x) (target None); drawn from the digits 1–9 (default with data:
           ``root="shapley"``, Shapley values against the data mean)
ocsvm_     the same one-class SVM with ``root="split"`` (the published rule; the default
split      without reference data)
kde        digits / 16, KernelDensity(gaussian) on the same 0s, bandwidth h = (2γ)^(-1/2)
           with the one-class SVM's γ = 1 / (d · var) (h ≈ 2.0); the outlierness o(x) (target
           None); drawn from the digits 1–9 (default: ``root="split"``)
kde_       the same KDE with ``root="shapley"`` (opt-in)
shapley
gmm        wine, StandardScaler + GaussianMixture(2, full) on the 59 wines of class 0;
           −log p(x) (target None); drawn from the 119 wines of classes 1 and 2 (default with
           data: ``root="shapley"``)
gmm_split  the same mixture with ``root="split"``
svc2       breast cancer, StandardScaler + SVC(rbf) on a stratified 70 %; the predicted class's
           f_c; drawn from the 171 held-out tumours
svc3       wine, StandardScaler + SVC(rbf) on a stratified 50 %; the predicted class's f_c; the
           89 held-out wines (fewer than 100)
logreg     wine, LogisticRegression on the raw features, fitted on all; the predicted class's
           decision function; drawn from all wines
linreg     diabetes (sklearn's centred, scaled features), LinearRegression on all 442; the
           prediction; drawn from all
mlpc       wine, StandardScaler + MLPClassifier((16,), lbfgs) — scaled inside the pipeline
           (on raw wine it does not train: 40 % accuracy), the graph reads raw features —
           fitted on all; the predicted class's logit; drawn from all wines
mlpr       diabetes, MLPRegressor((32,), lbfgs) on all 442; the prediction; drawn from all
pca        breast cancer, StandardScaler + PCA(10) + LogisticRegression on a stratified 70 %;
           the predicted class's decision function; drawn from the held-out tumours
=========  ==================================================================================

Targets are the estimator's own labels (``model.predict``). Samples whose explained output is
not positive are left out before drawing (the normalized curve s_k / s_0 reads upside down
for them; ``pixel_flipping`` warns): for the classifiers that is the rare sample whose
predicted class does not win every duel (SVC voting cycles); the density outputs and the
diabetes predictions are positive on every sample used here. So every family explains the
graph's own output, normalized by its value at x. Two choices make that meaningful for the
regressors and the density models:

* **Density models (one-class SVM, KDE, GMM) explain outliers**: each is fitted on one class
  and explains how unusual the samples of the other classes are, the novelty-detection use
  NEON's outlier explanations were derived for (Kauffmann et al., Pattern Recognition 2020).
  Then removing a feature toward the training data lowers the outlierness, as removing
  evidence lowers a logit. (A GaussianMixture(3) on all wines, explaining inliers, gave MoRF
  AUCs of 1.1–1.4 for every method: the mean of a multi-modal data set is itself unusual, so
  removal raised −log p.)
* **Regressors explain the prediction** (diabetes progression, positive on all 442 samples).
  It does not fall to 0 when every feature is removed but ends at f(baseline) (about the
  mean prediction, 152), so their AUCs lie closer together (random ≈ 0.9–1.1): read the summary's
  share of the random-to-best range, and the raw MoRF AOPC (mean over the steps of s_0 − s_k,
  offset-free, higher is better) beside the AUC.

Metrics (``lrp.metrics.pixel_flipping``, one feature per step, steps = the feature count,
64 for digits; the class fixed at x; seed fixed): the MoRF AUC of s_k / s_0 under the
training-mean baseline and under the resample baseline (each removed feature takes its value
in a random training row, the same draws for every method), lower is better; the LeRF − MoRF
gap (mean baseline), higher is better; the MoRF AOPC (mean baseline, raw outputs, higher is
better); conservation, the median over samples of Σ_i R_i / s
(1 = conserving), and for NEON also the median δ = |ΣR − s| / |s| of
``lrp.metrics.conservation``; time per sample: one batched call on all samples, median of 3
(after an untimed warm-up on 2 samples) for every method but shap, which runs once.

Summary per family: NEON's distance to the best method's MoRF AUC under each baseline
(NEON − best over all methods but random; 0 when NEON is best; goal ≤ 0.02), the same as a
share of the random-to-best range, and shap's time / NEON's (goal ≥ 100×).

Usage::

    python benchmarks/bench_faithfulness.py                    # every family, 100 samples
    python benchmarks/bench_faithfulness.py --quick            # smoke run: 12 samples each
    python benchmarks/bench_faithfulness.py --families svc2 logreg --json /tmp/faith.json

The default run took 25 s on one (shared) core, shap and LIME taking most of it, so nothing
is cut for time: every method sees the same 100 samples (89 for svc3). ``--quick`` is a smoke
run: with 12 samples and one repeat its times, and so the shap / NEON ratio, are dominated by
per-call overhead and are not representative.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
import warnings

import numpy as np

FAMILIES = ("kmeans", "kmeans_midpoint", "ocsvm", "ocsvm_split", "kde", "kde_shapley", "gmm",
            "gmm_split", "svc2", "svc3", "logreg", "linreg", "mlpc", "mlpr", "pca")
GOAL_AUC, GOAL_SPEED = 0.02, 100.0


# ---------------------------------------------------------------------------- the models

def _split(n, fraction, seed, labels=None):
    """(train, test) index arrays: a seeded split, stratified when labels are given."""
    from sklearn.model_selection import train_test_split

    index = np.arange(n)
    return train_test_split(index, train_size=fraction, random_state=seed, stratify=labels)


def build(family: str, seed: int = 0) -> dict:
    """One family: dict with ``estimator``, ``graph`` (neuralized with the training data),
    ``pool`` (the samples that may be explained), ``data`` (the training data: the baselines'
    source, shap's background), ``target`` (samples -> the estimator's labels, or None) and
    ``what`` (the setting in words)."""
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.mixture import GaussianMixture
    from sklearn.neighbors import KernelDensity
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, OneClassSVM

    import neon

    def labels_of(model):
        return model.predict

    def none(_):
        return None

    options = {}
    if family in ("kmeans", "kmeans_midpoint"):
        X, _ = load_wine(return_X_y=True)
        model = make_pipeline(StandardScaler(), KMeans(3, n_init=10, random_state=seed)).fit(X)
        pool, data, target = X, X, labels_of(model)
        what = "wine, StandardScaler + KMeans(3); the assigned cluster's logit"
        if family == "kmeans_midpoint":
            options, what = {"root": "midpoint"}, what + " (root='midpoint')"
    elif family in ("ocsvm", "ocsvm_split"):
        X, y = load_digits(return_X_y=True)
        X = X / 16.0
        zeros = np.random.default_rng(seed).permutation(np.flatnonzero(y == 0))
        data = X[zeros[: len(zeros) * 3 // 4]]
        model = OneClassSVM(gamma="scale", nu=0.1).fit(data)
        pool, target = X[y != 0], none
        what = "digits/16, OneClassSVM(rbf, ν=0.1) on 3/4 of the 0s; outlierness of digits 1–9"
        if family == "ocsvm_split":
            options, what = {"root": "split"}, what + " (root='split')"
    elif family in ("kde", "kde_shapley"):
        X, y = load_digits(return_X_y=True)
        X = X / 16.0
        zeros = np.random.default_rng(seed).permutation(np.flatnonzero(y == 0))
        data = X[zeros[: len(zeros) * 3 // 4]]
        gamma = 1.0 / (data.shape[1] * data.var())        # the one-class SVM's "scale"
        model = KernelDensity(kernel="gaussian", bandwidth=float(np.sqrt(0.5 / gamma)))
        model.fit(data)
        pool, target = X[y != 0], none
        what = (f"digits/16, KernelDensity(gaussian, h={model.bandwidth_:.2f}) on 3/4 of the "
                "0s; outlierness of digits 1–9")
        if family == "kde_shapley":
            options, what = {"root": "shapley"}, what + " (root='shapley')"
    elif family in ("gmm", "gmm_split"):
        X, y = load_wine(return_X_y=True)
        data = X[y == 0]
        model = make_pipeline(StandardScaler(), GaussianMixture(
            2, covariance_type="full", random_state=seed)).fit(data)
        pool, target = X[y != 0], none
        what = "wine, StandardScaler + GaussianMixture(2, full) on class 0; −log p of the others"
        if family == "gmm_split":
            options, what = {"root": "split"}, what + " (root='split')"
    elif family in ("svc2", "svc3"):
        load, share, what = {
            "svc2": (load_breast_cancer, 0.7, "breast cancer, StandardScaler + SVC(rbf) on "
                                              "70 %; predicted class's f_c"),
            "svc3": (load_wine, 0.5, "wine, StandardScaler + SVC(rbf) on 50 %; predicted "
                                     "class's f_c (3 classes)")}[family]
        X, y = load(return_X_y=True)
        train, test = _split(len(X), share, seed, y)
        model = make_pipeline(StandardScaler(), SVC()).fit(X[train], y[train])
        pool, data, target = X[test], X[train], labels_of(model)
    elif family == "logreg":
        X, y = load_wine(return_X_y=True)
        with warnings.catch_warnings():      # lbfgs on unscaled features needs many steps
            warnings.simplefilter("ignore")
            model = LogisticRegression(max_iter=20_000).fit(X, y)
        pool, data, target = X, X, labels_of(model)
        what = "wine (raw features), LogisticRegression; predicted class's decision function"
    elif family == "linreg":
        X, y = load_diabetes(return_X_y=True)
        model = LinearRegression().fit(X, y)
        pool, data, target = X, X, none
        what = "diabetes, LinearRegression; the prediction"
    elif family == "mlpc":
        X, y = load_wine(return_X_y=True)
        model = make_pipeline(StandardScaler(), MLPClassifier(
            (16,), solver="lbfgs", max_iter=5000, random_state=seed)).fit(X, y)
        pool, data, target = X, X, labels_of(model)
        what = "wine, StandardScaler + MLPClassifier((16,)); predicted class's logit"
    elif family == "mlpr":
        X, y = load_diabetes(return_X_y=True)
        with warnings.catch_warnings():      # lbfgs stops at max_iter
            warnings.simplefilter("ignore")
            model = MLPRegressor(hidden_layer_sizes=(32,), solver="lbfgs", max_iter=5000,
                                 random_state=seed).fit(X, y)
        pool, data, target = X, X, none
        what = "diabetes, MLPRegressor((32,)); the prediction"
    elif family == "pca":
        X, y = load_breast_cancer(return_X_y=True)
        train, test = _split(len(X), 0.7, seed, y)
        model = make_pipeline(StandardScaler(), PCA(10, random_state=seed),
                              LogisticRegression(max_iter=5000)).fit(X[train], y[train])
        pool, data, target = X[test], X[train], labels_of(model)
        what = ("breast cancer, StandardScaler + PCA(10) + LogisticRegression on 70 %; "
                "predicted class's decision function")
    else:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    graph = neon.neuralize(model, data, **options)
    return dict(estimator=model, graph=graph, pool=pool, data=data, target=target, what=what)


# ---------------------------------------------------------------------------- explained output

def _columns(graph, target, n):
    """The output column each sample's target picks (column 0 for a single-output graph
    without a target)."""
    if target is None:
        return np.zeros(n, dtype=int)
    labels = list(np.asarray(graph.output_labels).tolist())
    return np.array([labels.index(t) for t in np.asarray(target).tolist()], dtype=int)


def _outputs(graph, x):
    import torch

    with torch.no_grad():
        return graph(torch.as_tensor(np.asarray(x, dtype=np.float64))).numpy()


def explained(graph, x, target):
    """s(x) = f_t(x), the scalar each method explains (the graph's output for the target)."""
    out = _outputs(graph, x)
    if target is None and out.shape[1] != 1:
        raise ValueError("target None needs a single-output graph here")
    return out[np.arange(len(x)), _columns(graph, target, len(x))]


def choose(model: dict, n: int, seed: int):
    """(x, target, info): up to n seeded samples of the pool whose explained output is
    positive."""
    pool = model["pool"]
    target_all = model["target"](pool)
    s = explained(model["graph"], pool, target_all)
    positive = np.flatnonzero(s > 0)
    rng = np.random.default_rng(seed)
    index = np.sort(rng.choice(positive, min(n, len(positive)), replace=False))
    target = None if target_all is None else np.asarray(target_all)[index]
    info = dict(pool=len(pool), positive=len(positive), n=len(index), features=pool.shape[1])
    if target is not None:      # does argmax f reproduce predict? (SVC cycles may not)
        out = _outputs(model["graph"], pool)
        labels = np.asarray(model["graph"].output_labels)
        info["argmax_agrees"] = float(np.mean(labels[out.argmax(1)] == target_all))
    return pool[index], target, info


# ---------------------------------------------------------------------------- the methods

def shap_kernel(graph, x, target, data, *, nsamples, background, seed):
    """shap's KernelExplainer on s = f_t, one explainer per target column (a numpy function
    returning that column), ``l1_reg=False``, background ``shap.kmeans(data, background)``."""
    import shap

    columns = _columns(graph, target, len(x))
    values = np.zeros(x.shape, dtype=np.float64)
    np.random.seed(seed)         # shap.kmeans and KernelExplainer draw from numpy's global RNG
    summary = shap.kmeans(data, background)
    for c in np.unique(columns):
        rows = np.flatnonzero(columns == c)

        def f(z, c=c):
            return _outputs(graph, z)[:, c]

        explainer = shap.KernelExplainer(f, summary)
        v = explainer.shap_values(x[rows], nsamples=nsamples, l1_reg=False, silent=True)
        values[rows] = np.asarray(v).reshape(len(rows), -1)
    return values


def methods(graph, data, *, lime_samples, shap_nsamples, shap_background, seed) -> dict:
    """Method name -> ``f(x, target) -> relevance`` (ndarray shaped like x)."""
    import lrp
    import lrp.metrics

    mean = data.mean(0)

    def np_(fn):
        return lambda x, t: np.asarray(fn(x, t), dtype=np.float64)

    calls = {
        "NEON": np_(lambda x, t: lrp.explain(graph, x, t)),
        "gradient": np_(lambda x, t: lrp.gradient(graph, x, t)),
        "gradient×input": np_(lambda x, t: lrp.gradient_x_input(graph, x, t)),
        "occlusion": np_(lambda x, t: lrp.occlusion(graph, x, t, window=1, baseline=mean)),
        "LIME": np_(lambda x, t: lrp.lime(graph, x, t, samples=lime_samples, baseline=mean,
                                          seed=seed)),
        "shap": lambda x, t: shap_kernel(graph, x, t, data, nsamples=shap_nsamples,
                                         background=shap_background, seed=seed),
        "random": np_(lambda x, t: lrp.metrics.random_relevance(x, seed=seed)),
    }
    if not shap_nsamples:
        del calls["shap"]
    return calls


def _timed(fn, repeats):
    walls, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls), out


def score(graph, x, relevance, target, data, seed) -> dict:
    """MoRF AUC under the mean and the resample baseline, the LeRF − MoRF gap (mean)."""
    import lrp.metrics

    steps = min(x.shape[1], 64)
    both = lrp.metrics.pixel_flipping(graph, x, relevance, target, order="both",
                                      baseline="mean", data=data, steps=steps, seed=seed)
    resample = lrp.metrics.pixel_flipping(graph, x, relevance, target, order="morf",
                                          baseline="resample", data=data, steps=steps,
                                          seed=seed)
    return dict(auc_mean=float(both.auc["morf"].mean()), gap_mean=float(both.gap.mean()),
                auc_resample=float(resample.auc["morf"].mean()),
                aopc_mean=float(both.aopc["morf"].mean()))


def run_family(family, *, n, seed, repeats, lime_samples, shap_nsamples, shap_background,
               log=print) -> dict:
    """Every method on one family: dict with ``info`` and ``rows`` (method -> numbers)."""
    import lrp.metrics

    model = build(family, seed)
    graph, data = model["graph"], model["data"]
    x, target, info = choose(model, n, seed)
    info["what"] = model["what"]
    s = explained(graph, x, target)
    rows = {}
    calls = methods(graph, data, lime_samples=lime_samples, shap_nsamples=shap_nsamples,
                    shap_background=shap_background, seed=seed)
    for name, explain in calls.items():
        t0 = time.perf_counter()
        try:
            fast = name != "shap"
            if fast:
                explain(x[:2], None if target is None else target[:2])       # warm-up
            seconds, relevance = _timed(lambda e=explain: e(x, target), repeats if fast else 1)
            row = dict(ms=1000 * seconds / len(x), repeats=repeats if fast else 1)
            row.update(score(graph, x, relevance, target, data, seed))
            if name != "random":
                row["sum_ratio"] = float(np.median(relevance.reshape(len(x), -1).sum(1) / s))
            if name == "NEON":
                cons = lrp.metrics.conservation(graph, x, relevance, target)
                if not np.allclose(cons.output, s, rtol=1e-9, atol=0):
                    raise RuntimeError("the benchmark's explained output differs from the one "
                                       "lrp explains")
                row["delta"] = float(cons.median)
        except Exception as error:     # a method that fails is reported, the others still run
            row = dict(error=f"{type(error).__name__}: {error}")
            traceback.print_exc(file=sys.stderr)
        rows[name] = row
        log(f"  {family:7s} {name:15s} {time.perf_counter() - t0:6.1f} s "
            + (row.get("error", "")[:120] or f"AUC mean {row['auc_mean']:.3f}"))
    return dict(info=info, rows=rows)


# ---------------------------------------------------------------------------- tables

def _f(value, fmt="{:.3f}"):
    return "—" if value is None or (isinstance(value, float) and np.isnan(value)) \
        else fmt.format(value)


def summary_of(result) -> dict:
    """NEON against the best method (random excluded) under both baselines, and its speed."""
    rows = result["rows"]
    ok = {m: r for m, r in rows.items() if "error" not in r}
    out = {}
    if "NEON" not in ok:
        return out
    peers = {m: r for m, r in ok.items() if m != "random"}
    for base in ("mean", "resample"):
        key = f"auc_{base}"
        best = min(peers, key=lambda m: peers[m][key])
        dist = ok["NEON"][key] - peers[best][key]
        floor = ok.get("random", {}).get(key)
        span = None if floor is None else floor - peers[best][key]
        out[base] = dict(best=best, best_auc=peers[best][key], distance=dist,
                         share=dist / span if span and span > 0 else None)
    if "shap" in ok:
        out["speed"] = ok["shap"]["ms"] / ok["NEON"]["ms"]
    return out


def tables(results: dict, settings: dict) -> str:
    lines = [
        f"Faithfulness on neuralized scikit-learn models (seed {settings['seed']}, up to "
        f"{settings['n']} samples per family, {settings['threads']} thread(s)). MoRF AUC of "
        "s_k / s_0, one feature removed per step (steps = features, 64 for digits), the "
        "class fixed at x, baseline: training mean or resampled training values; lower is "
        "better. Gap: AUC(LeRF) − AUC(MoRF), mean baseline, higher is better. ΣR/f: median "
        "over samples (1 = conserving); δ: NEON's median |ΣR − f| / |f| "
        "(lrp.metrics.conservation). ms: per sample, one batched call, median of "
        f"{settings['repeats']} (shap: one run). LIME {settings['lime_samples']} draws; "
        f"shap KernelExplainer nsamples={settings['shap_nsamples']}, l1_reg=False, "
        f"background shap.kmeans(X_train, {settings['shap_background']}). Explained output: "
        "the graph's own for the estimator's label (regressors: the prediction; density "
        "models, fitted on one class: the outlierness or −log p of the other classes' "
        "samples), only samples where it is positive. AOPC: mean over the steps of s_0 − s_k "
        "(mean baseline, raw outputs, higher is better). For the regressors the curve ends at "
        "f(baseline) ≈ the mean prediction, not 0, so their AUCs lie closer together: read "
        "the summary's share of the random-to-best range and the AOPC.",
        "",
        "| family | method | MoRF AUC mean | MoRF AUC resample | gap mean | AOPC mean | ΣR/f | "
        "δ | ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for family, result in results.items():
        if "error" in result:
            lines.append(f"| {family} | did not run: {result['error'][:120]} | | | | | | | |")
            continue
        info = result["info"]
        label = f"{family} (n={info['n']}, d={info['features']})"
        for method, row in result["rows"].items():
            if "error" in row:
                lines.append(f"| {label} | {method}: {row['error'][:100]} | | | | | | | |")
            else:
                lines.append(
                    f"| {label} | {method} | {_f(row['auc_mean'])} | "
                    f"{_f(row['auc_resample'])} | {_f(row['gap_mean'])} | "
                    f"{_f(row['aopc_mean'], '{:.3g}')} | "
                    f"{_f(row.get('sum_ratio'))} | {_f(row.get('delta'), '{:.2g}')} | "
                    f"{_f(row['ms'], '{:.3g}')} |")
            label = ""
    lines += [
        "",
        f"Summary: NEON's distance to the best method's MoRF AUC (goal ≤ {GOAL_AUC}; in "
        "brackets as a share of the random-to-best range) and shap's time / NEON's "
        f"(goal ≥ {GOAL_SPEED:.0f}×). n: samples explained, of the pool's samples with a "
        "positive explained output.",
        "",
        "| family | setting | n of positive | best (mean) | NEON − best, mean | best (resample) | "
        "NEON − best, resample | shap / NEON | goals |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for family, result in results.items():
        if "error" in result:
            continue
        s = summary_of(result)
        if not s:
            lines.append(f"| {family} | NEON did not run | | | | | | | |")
            continue
        info = result["info"]
        cells, met = [], True
        for base in ("mean", "resample"):
            b = s[base]
            met &= b["distance"] <= GOAL_AUC
            share = "" if b["share"] is None else f" ({b['share']:.2f})"
            cells += [f"{b['best']} {b['best_auc']:.3f}", f"{b['distance']:.3f}{share}"]
        speed = s.get("speed")
        if speed is not None:
            met &= speed >= GOAL_SPEED
        drawn = f"{info['n']} of {info['positive']} (pool {info['pool']})"
        if info.get("argmax_agrees", 1.0) < 1.0:
            drawn += f"; argmax f = predict on {100 * info['argmax_agrees']:.1f} % of the pool"
        lines.append(f"| {family} | {info['what']} | {drawn} | {' | '.join(cells)} | "
                     f"{_f(speed, '{:.0f}×')} | {'met' if met else 'missed'} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- main

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 12 samples per family, LIME 200 draws, 1 timing repeat")
    p.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    p.add_argument("--n", type=int, default=100, help="samples explained per family")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3, help="timing repeats (not shap)")
    p.add_argument("--lime-samples", type=int, default=500)
    p.add_argument("--shap-nsamples", type=int, default=200, help="0 leaves shap out")
    p.add_argument("--shap-background", type=int, default=10)
    p.add_argument("--json", metavar="PATH", help="also write the numbers as JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.lime_samples, args.repeats = min(args.n, 12), 200, 1
    if args.shap_nsamples:
        try:
            import shap  # noqa: F401
        except ImportError:
            print("shap is not installed (bench extra): running without it", file=sys.stderr)
            args.shap_nsamples = 0

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    settings = dict(seed=args.seed, n=args.n, threads=args.threads, repeats=args.repeats,
                    lime_samples=args.lime_samples, shap_nsamples=args.shap_nsamples,
                    shap_background=args.shap_background)
    results = {}
    t0 = time.perf_counter()
    with threadpool_limits(limits=args.threads):
        for family in args.families:
            try:
                results[family] = run_family(
                    family, n=args.n, seed=args.seed, repeats=args.repeats,
                    lime_samples=args.lime_samples, shap_nsamples=args.shap_nsamples,
                    shap_background=args.shap_background,
                    log=lambda line: print(line, file=sys.stderr, flush=True))
            except Exception as error:      # a family that cannot be built is reported
                traceback.print_exc(file=sys.stderr)
                results[family] = dict(error=f"{type(error).__name__}: {error}")
    total = time.perf_counter() - t0
    print(tables(results, settings))
    print(f"\ntotal {total:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dict(settings=settings, results=results, seconds=total), fh, indent=1,
                      default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
