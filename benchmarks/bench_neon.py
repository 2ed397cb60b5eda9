"""Speed of NEON explanations against the estimators' own calls, and against SHAP.

Measures, in one run (docs/neon.md, issue 4 "Speed"):

1. k-means, N = 100,000 samples, d = 64, K = 10: ``lrp.explain(neon.neuralize(km), X)`` vs
   ``km.transform(X)`` (target ≤ 3×);
2. one-class SVM with about 2,000 support vectors, N = 20,000, d = 64: explain vs
   ``decision_function`` (target ≤ 1×);
3. ``shap.KernelExplainer`` on wine (standardized, d = 13) with ``shap.kmeans(X, 10)``
   background and ``nsamples=200``, 100 samples, on the k-means logits: the speed-up of ours;
4. peak memory of the k-means explanation with and without ``batch_size`` (a child process
   per setting, since the resident-set maximum only grows).

Graph building (``neon.neuralize``) is timed separately and is *not* inside the explain
timings. Times are the best of several repeats (wall clock), with the process CPU time
(user + system) of that repeat. Run::

    MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 .venv/bin/python benchmarks/bench_neon.py
    .venv/bin/python benchmarks/bench_neon.py          # default malloc

Not part of the test run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

# The CPU is shared with other processes: OpenMP threads that spin while waiting for a
# descheduled peer burn the time slice (measured 3-6x slower explanations at load 7 on
# 2 cores). Passive waiting is set before torch loads OpenMP; override from the shell.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import lrp  # noqa: E402
import neon  # noqa: E402

torch.set_flush_denormal(True)


def timed(fn, repeat=3):
    """(best wall seconds, CPU seconds of that repeat, last result)."""
    best, cpu, out = np.inf, np.nan, None
    for _ in range(repeat):
        c0, t0 = os.times(), time.perf_counter()
        out = fn()
        wall, c1 = time.perf_counter() - t0, os.times()
        if wall < best:
            best, cpu = wall, (c1.user - c0.user) + (c1.system - c0.system)
    return best, cpu, out


def row(name, wall, cpu, ref=None):
    ratio = f"{wall / ref:.2f}×" if ref else "1×"
    print(f"| {name} | {wall * 1e3:.1f} ms | {cpu * 1e3:.0f} ms | {ratio} |")


def header(title):
    print(f"\n### {title}\n\n| what | wall (best) | CPU user+sys | vs reference |")
    print("|---|---|---|---|")


def kmeans_data(n=100_000, d=64, k=10, seed=0):
    from sklearn.cluster import KMeans
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n, d, centers=k, cluster_std=4.0, random_state=seed)
    km = KMeans(k, n_init=1, random_state=seed).fit(X[:10_000])
    return X, km


def bench_kmeans(repeat):
    X, km = kmeans_data()
    header(f"k-means: N = {len(X):,}, d = {X.shape[1]}, K = {km.n_clusters}")
    ref, cpu, _ = timed(lambda: km.transform(X), repeat + 2)
    row("`km.transform(X)` (reference)", ref, cpu)
    wall, cpu, g = timed(lambda: neon.neuralize(km, X[:10_000]), repeat)
    row("`neon.neuralize(km, X[:10000])` (build + β from data; not in the rows below)", wall, cpu,
        ref)
    Xt = torch.as_tensor(X)
    wall, cpu, _ = timed(lambda: g(Xt), repeat)
    row("graph forward (logits)", wall, cpu, ref)
    results = {}
    for bs in (None, 10_000, 2_000):
        wall, cpu, r = timed(lambda bs=bs: lrp.explain(g, Xt, batch_size=bs), repeat)
        results[bs] = wall / ref
        row(f"`lrp.explain(g, X, batch_size={bs})`", wall, cpu, ref)
    f = g(Xt).max(1).values
    gap = float(((r.sum(1) - f).abs() / f.abs().max()).max())
    print(f"\nconservation: max |ΣR − f| / max|f| = {gap:.1e}")
    return results


def bench_ocsvm(repeat):
    from sklearn.datasets import make_blobs
    from sklearn.svm import OneClassSVM

    Xtrain, _ = make_blobs(4_000, 64, centers=5, cluster_std=3.0, random_state=1)
    svm = OneClassSVM(gamma="scale", nu=0.5).fit(Xtrain)
    X, _ = make_blobs(20_000, 64, centers=5, cluster_std=3.5, random_state=2)
    header(f"one-class SVM: N = {len(X):,}, d = 64, {len(svm.support_vectors_):,} support "
           "vectors")
    ref, cpu, _ = timed(lambda: svm.decision_function(X), repeat)
    row("`svm.decision_function(X)` (reference)", ref, cpu)
    wall, cpu, g = timed(lambda: neon.neuralize(svm), repeat)
    row("`neon.neuralize(svm)` (not in the rows below)", wall, cpu, ref)
    Xt = torch.as_tensor(X)
    results = {}
    for bs in (None, 2_000, 500):
        wall, cpu, r = timed(lambda bs=bs: lrp.explain(g, Xt, batch_size=bs), repeat)
        results[bs] = wall / ref
        row(f"`lrp.explain(g, X, batch_size={bs})`", wall, cpu, ref)
    o = g(Xt)[:, 0]
    gap = float(((r.sum(1) - o).abs() / o.abs().max()).max())
    print(f"\nconservation: max |ΣR − o| / max|o| = {gap:.1e}")
    return results


def bench_shap():
    import shap
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_wine

    X = load_wine().data
    X = (X - X.mean(0)) / X.std(0)
    km = KMeans(3, n_init=10, random_state=0).fit(X)
    header("SHAP KernelExplainer vs NEON on wine (standardized, d = 13), 100 samples, "
           "k-means logits")
    g = neon.neuralize(km, X)
    sample = X[:100]
    wall_model, cpu, _ = timed(lambda: g(sample), 5)
    row("graph forward on the 100 samples (model call)", wall_model, cpu)
    background = shap.kmeans(X, 10)

    def run_shap():
        explainer = shap.KernelExplainer(lambda Z: g(np.asarray(Z, dtype=np.float64)),
                                         background)
        return explainer.shap_values(sample, nsamples=200, silent=True)

    shap_wall, cpu, _ = timed(run_shap, 1)
    row("`shap.KernelExplainer(...).shap_values(X[:100], nsamples=200)`", shap_wall, cpu,
        wall_model)
    ours, cpu, _ = timed(lambda: lrp.explain(g, sample), 5)
    row("`lrp.explain(g, X[:100])`", ours, cpu, wall_model)
    both, cpu, _ = timed(lambda: lrp.explain(neon.neuralize(km, X), sample), 5)
    row("`neon.neuralize` + `lrp.explain` (build included)", both, cpu, wall_model)
    print(f"\nspeed-up of NEON over SHAP: {shap_wall / ours:,.0f}× "
          f"({shap_wall / both:,.0f}× with graph building)")


def child_memory(batch):
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(0)
    Xt = torch.as_tensor(rng.normal(size=(100_000, 64)))
    km = KMeans(10, n_init=1, random_state=0).fit(Xt[:2_000].numpy())
    g = neon.neuralize(km, beta=1.0)
    lrp.explain(g, Xt[:10])     # warm up torch and MKL
    with open("/proc/self/clear_refs", "w") as fh:   # reset the peak RSS (VmHWM) to now
        fh.write("5")
    before = _status("VmHWM")
    lrp.explain(g, Xt, batch_size=batch or None)
    print(f"{before / 1024:.0f} {_status('VmHWM') / 1024:.0f}")


def _status(key):
    """A field of /proc/self/status in KiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return float(line.split()[1])
    raise KeyError(key)


def bench_memory():
    print("\n### peak memory, k-means explain (N = 100,000, d = 64; X itself is 49 MiB)\n")
    print("| batch_size | RSS before explain | peak RSS during explain | growth |")
    print("|---|---|---|---|")
    for batch in (0, 10_000, 1_000):
        out = subprocess.run([sys.executable, __file__, "--child-memory", str(batch)],
                             capture_output=True, text=True, check=True).stdout.split()
        before, after = float(out[-2]), float(out[-1])
        print(f"| {batch or None} | {before:.0f} MiB | {after:.0f} MiB | "
              f"{after - before:.0f} MiB |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-shap", action="store_true")
    parser.add_argument("--child-memory", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory is not None:
        child_memory(args.child_memory)
        return
    malloc = {k: os.environ[k] for k in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_")
              if k in os.environ}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float64, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, malloc settings: "
          f"{malloc or 'default'}, load average {os.getloadavg()[0]:.1f}")
    km = bench_kmeans(args.repeat)
    oc = bench_ocsvm(args.repeat)
    if not args.skip_shap:
        bench_shap()
    bench_memory()
    print("\nk-means explain / transform: " + ", ".join(
        f"{v:.2f}× (batch_size {k})" for k, v in km.items()) + "; target ≤ 3×")
    print("OCSVM explain / decision_function: " + ", ".join(
        f"{v:.2f}× (batch_size {k})" for k, v in oc.items()) + "; target ≤ 1×")
    print(f"load average after the run: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
