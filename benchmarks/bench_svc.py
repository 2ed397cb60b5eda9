"""Benchmark: NEON explanations of an RBF SVC vs shap.KernelExplainer (not part of the tests).

Setting (issue 4): wine (d = 13), standardized; an RBF SVC (three classes, one-vs-one);
100 samples explained. shap.KernelExplainer on the SVC's ``decision_function`` with
``shap.kmeans(X, 10)`` as background and ``nsamples=200``; ours: ``lrp.explain`` on the
neuralized SVC (f_c = min over rivals of the duel log-ratio, Bley, Kauffmann et al.,
arXiv:2508.03913). Both are compared with the model's own ``decision_function`` call on the
same 100 samples. Times are the best and the median of ``--repeats`` runs; graph building is
timed separately and reported both inside and outside the explanation time.

Run::

    MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 \\
        .venv/bin/python benchmarks/bench_svc.py --repeats 30 --shap-repeats 3 --checks \\
        --write /tmp/svc.md   (then copy the figures into benchmarks/RESULTS.md)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import warnings

import numpy as np
import torch


def timed(fn, repeats):
    """(best, median) wall time of ``fn()`` over ``repeats`` runs, and its last result."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), out


def setup(n=100, seed=0):
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = SVC().fit(X, y)
    rows = np.random.default_rng(seed).choice(len(X), n, replace=False)
    return model, X, X[rows]


def run(repeats=5, shap_repeats=2):
    import shap

    import lrp
    import neon

    torch.set_flush_denormal(True)
    model, X, Xe = setup()
    background = shap.kmeans(X, 10)
    t_model = timed(lambda: model.decision_function(Xe), max(repeats, 20))
    t_build = timed(lambda: neon.neuralize(model), repeats)
    graph = t_build[2]
    t_ours = timed(lambda: lrp.explain(graph, Xe), repeats)
    t_both = timed(lambda: lrp.explain(neon.neuralize(model), Xe), repeats)

    def run_shap():
        explainer = shap.KernelExplainer(model.decision_function, background)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return explainer.shap_values(Xe, nsamples=200, silent=True)

    t_shap = timed(run_shap, shap_repeats)
    e = lrp.explain(graph, Xe, return_all=True)
    f = e.output.numpy()
    gap = np.abs(e.relevance.sum(1) - f) / np.abs(f)
    return dict(model=t_model, build=t_build, ours=t_ours, ours_with_build=t_both,
                shap=t_shap, n_sv=int(model.support_vectors_.shape[0]),
                gap_median=float(np.median(gap)), gap_p95=float(np.percentile(gap, 95)),
                agree=float(np.mean(graph.forward(Xe).argmax(1)
                                    == np.searchsorted(model.classes_, model.predict(Xe)))))


def _ovo(model, X):
    if len(model.classes_) == 2:
        return -model.decision_function(X)[:, None]
    model.decision_function_shape = "ovo"
    try:
        return model.decision_function(X)
    finally:
        model.decision_function_shape = "ovr"


def _check_sets(seed=0):
    from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    sets = []
    for loader in (load_iris, load_wine, load_breast_cancer, load_digits):
        X, y = loader(return_X_y=True)
        X = StandardScaler().fit_transform(X)
        name = loader.__name__.replace("load_", "")
        sets.append((name, X, y))
        if len(set(y)) > 2:
            sets.append((name + " (one vs rest labels)", X, (y == y[0]).astype(int)))
    for s in range(20):
        X = rng.normal(size=(60, 3))
        sets.append((f"random {s}", X, rng.integers(0, int(rng.integers(2, 5)), 60)))
    return sets


def checks(seed=0):
    """Sign agreement and argmax = predict over many fits, and conservation gaps."""
    from sklearn.svm import SVC, NuSVC

    import lrp
    import neon

    rng = np.random.default_rng(seed)
    tot = dict(fits=0, points=0, duels=0, sign_bad=0, argmax_bad=0, cycles=0)
    gaps = []
    models = [lambda: SVC(), lambda: SVC(C=10, gamma=2.0), lambda: NuSVC(nu=0.1),
              lambda: NuSVC(nu=0.3, gamma=0.5), lambda: SVC(kernel="linear"),
              lambda: SVC(kernel="poly", coef0=1)]
    for name, X, y in _check_sets(seed):
        for make in models:
            model = make()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(X, y)
            except ValueError:      # infeasible nu
                continue
            Xt = np.concatenate([X, X + rng.normal(0, 0.5, X.shape)])
            graph = neon.neuralize(model)
            out, acts = graph.forward(Xt, keep=["duels"])
            ref = _ovo(model, Xt)
            pred = np.searchsorted(model.classes_, model.predict(Xt))
            tot["fits"] += 1
            tot["points"] += len(Xt)
            tot["duels"] += ref.size
            tot["sign_bad"] += int((np.sign(acts["duels"]) != np.sign(ref)).sum())
            tot["argmax_bad"] += int((out.argmax(1) != pred).sum())
            tot["cycles"] += int((~(out > 0).any(1)).sum())
            if model.kernel == "rbf" and not name.startswith("random"):
                e = lrp.explain(graph, Xt[len(X):], return_all=True)
                f = e.output.numpy()
                gap = np.abs(e.relevance.sum(1) - f) / np.abs(f)
                gaps.append((name, repr(model), float(np.median(gap)),
                             float(np.percentile(gap, 95)),
                             float(np.abs(e.relevance.sum(1) - f).sum() / np.abs(f).sum())))
    return tot, gaps


def report_checks(tot, gaps):
    lines = [
        "",
        "## Equivalence and conservation (measured with `--checks`)",
        "",
        f"{tot['fits']} fits (SVC/NuSVC, RBF/linear/poly; iris, wine, breast cancer, digits, "
        "their one-vs-rest relabelings, 20 random data sets with 2–4 classes), "
        f"{tot['points']:,} points (the training data and a noisy copy), "
        f"{tot['duels']:,} one-vs-one duel values: sign(graph duel) ≠ sign(decision_function, "
        f"ovo) for {tot['sign_bad']}. argmax(graph) ≠ predict for {tot['argmax_bad']} points, "
        f"all among the {tot['cycles']} points where the one-vs-one votes form a cycle (no class "
        "wins all its duels; predict counts votes there, argmax f_c picks the least-bad worst "
        "duel).",
        "",
        "Relative conservation gap |Σ_i R_i − f| / |f| of the RBF networks (default rules, "
        "midpoint stabilizer 0.01/γ), on the noisy copy (off the support vectors):",
        "",
        "| data | model | median | 95th pct | Σ|gap| / Σ|f| |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {n} | `{m}` | {a:.3f} | {b:.3f} | {c:.3f} |" for n, m, a, b, c in gaps]
    return "\n".join(lines) + "\n"


def report(r, command):
    ms = lambda t: f"{1e3 * t:.2f} ms"
    best = {k: r[k][0] for k in ("model", "build", "ours", "ours_with_build", "shap")}
    med = {k: r[k][1] for k in ("model", "build", "ours", "ours_with_build", "shap")}
    lines = [
        "# SVC explanations: NEON vs shap.KernelExplainer",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores shared with other agents "
        f"(load average at the end {os.getloadavg()[0]:.1f}); torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads. Timings may be noisy: other processes share the "
        "cores; best-of-runs is the steadier number.",
        "",
        f"Model: wine (178 × 13, standardized), SVC(rbf, C=1, gamma='scale'), "
        f"{r['n_sv']} support vectors, 3 classes (3 duels). 100 samples explained.",
        "",
        "| what | best | median | × decision_function (best) |",
        "|---|---|---|---|",
    ]
    for key, name in [("model", "SVC.decision_function (100 samples)"),
                      ("build", "neon.neuralize(SVC) (graph build)"),
                      ("ours", "lrp.explain, graph built beforehand"),
                      ("ours_with_build", "neon.neuralize + lrp.explain"),
                      ("shap", "shap.KernelExplainer, kmeans(X, 10), nsamples=200")]:
        lines.append(f"| {name} | {ms(best[key])} | {ms(med[key])} | "
                     f"{best[key] / best['model']:.0f}× |")
    lines += [
        "",
        f"Speed-up over shap (best times): {best['shap'] / best['ours']:.0f}× with the graph "
        f"built beforehand, {best['shap'] / best['ours_with_build']:.0f}× including the build "
        f"(medians: {med['shap'] / med['ours']:.0f}×, "
        f"{med['shap'] / med['ours_with_build']:.0f}×).",
        "",
        f"Our explanation: graph argmax = predict on {r['agree']:.0%} of the 100 samples; "
        f"relative conservation gap |Σ_i R_i − f| / |f| median {r['gap_median']:.3f}, "
        f"95th percentile {r['gap_p95']:.3f} (midpoint rule on the pair units; see "
        "lrp/rules/neon.py). shap explains all three one-vs-rest outputs of decision_function "
        "in one call; ours explains the predicted class's f_c.",
    ]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shap-repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--checks", action="store_true",
                        help="also count sign/predict agreement and conservation gaps (~1 min)")
    parser.add_argument("--write", default=None, help="write the markdown report here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    r = run(args.repeats, args.shap_repeats)
    env = " ".join(f"{k}={os.environ[k]}" for k in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_")
                   if k in os.environ)
    command = (f"{env} " if env else "") + ".venv/bin/python benchmarks/bench_svc.py " + \
        f"--repeats {args.repeats} --shap-repeats {args.shap_repeats} --threads {args.threads}" + \
        (f" --write {args.write}" if args.write else "")
    command += " --checks" if args.checks else ""
    text = report(r, command)
    if args.checks:
        text += report_checks(*checks())
    print(text)
    if args.write:
        with open(args.write, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
