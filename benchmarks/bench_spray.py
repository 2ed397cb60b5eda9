"""SpRAy speed and memory: fit on 10⁴ and 10⁵ structured 28 × 28 relevance maps.

The maps are generated: four planted strategies (a Gaussian blob of relevance in one of four
places, one of them a small corner "watermark"), in proportions 40/30/20/10 %, each map
scaled by a random amplitude, plus Gaussian noise, float32. :class:`lrp.spray.SpRAy` (10
neighbours, 32 eigenvalues, k-means, eigengap) is fitted without pooling (784 values per map)
and pooled to 14 × 14 (196), and the time of each step is reported: preprocess (channel sum,
pooling, unit mass), kNN (chunked ``torch`` distance blocks and top-k), eigsh (ARPACK on the
normalized adjacency, deflated by the graph's components), cluster (k-means on the embedding).
The adjusted Rand index against the planted strategies checks that the answer is right.

Memory, two figures per run (one configuration per process):

* ``tracemalloc MB``: the peak of memory allocated through Python's allocators **during
  the fit**, i.e. numpy and scipy arrays (the sparse graph, ARPACK's Lanczos basis, the
  embedding, k-means); torch tensors (the preprocessed maps, the distance block of a kNN
  chunk) do not go through them and are not counted.
* ``maxrss MB``: the process's resident-set maximum (``resource.getrusage``), everything
  included: the interpreter and libraries, the generated maps (``data MB``) and torch;
  ``maxrss before fit MB`` is the same maximum just before the fit (imports and data), so
  the fit's own peak is the difference.

Usage::

    python benchmarks/bench_spray.py --quick              # 2,000 maps, both pool settings
    python benchmarks/bench_spray.py --sizes 10000        # 10⁴
    python benchmarks/bench_spray.py                      # 10⁴ and 10⁵ (minutes; 10⁵ ≈ 2 GB)
    python benchmarks/bench_spray.py --compare-knn        # also scikit-learn's kNN graph
    python benchmarks/bench_spray.py --one 10000 none     # internal: one run, prints JSON
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

SHARES = (0.4, 0.3, 0.2, 0.1)
CENTRES = ((9.0, 9.0), (9.0, 19.0), (19.0, 14.0), (2.0, 25.0))   # the last: a corner mark
WIDTHS = (3.0, 3.0, 3.5, 1.2)
SIZE, NOISE = 28, 0.3


def structured_maps(n: int, seed: int = 0):
    """(maps (n, 28, 28) float32, planted labels (n,)), the strategies in blocks."""
    import numpy as np

    rng = np.random.default_rng(seed)
    counts = np.floor(np.array(SHARES) * n).astype(int)
    counts[0] += n - counts.sum()
    labels = np.repeat(np.arange(len(SHARES)), counts)
    yy, xx = np.mgrid[:SIZE, :SIZE].astype(np.float32)
    maps = rng.standard_normal((n, SIZE, SIZE), dtype=np.float32)
    maps *= NOISE
    amplitude = rng.uniform(0.5, 1.5, n).astype(np.float32)
    start = 0
    for g, count in enumerate(counts):
        cy, cx = CENTRES[g]
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * WIDTHS[g] ** 2))
        maps[start:start + count] += amplitude[start:start + count, None, None] * blob
        start += count
    return maps, labels


def one(n: int, pool: str, threads: int, compare_knn: bool) -> None:
    """Fit once in this process; print a JSON line."""
    import resource
    import tracemalloc
    import warnings

    import numpy as np
    import torch
    from sklearn.metrics import adjusted_rand_score

    from lrp.spray import SpRAy

    torch.set_num_threads(threads)
    maps, labels = structured_maps(n)
    est = SpRAy(pool=None if pool == "none" else int(pool), random_state=0, progress=False)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(maps)
    wall = time.perf_counter() - t0
    traced = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    row = {"n": n, "pool": pool, "values": int(np.prod(est.map_shape_)), "wall": wall,
           **{k: v for k, v in est.timings_.items()}, "tracemalloc_mb": traced,
           "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "maxrss_before_mb": before,
           "data_mb": maps.nbytes / 2 ** 20, "eigengap": est.eigengap_,
           "n_clusters": est.n_clusters_, "components": est.n_components_,
           "ari": adjusted_rand_score(labels, est.labels_),
           "warnings": [str(w.message)[:80] for w in caught]}
    if compare_knn:
        from sklearn.neighbors import kneighbors_graph

        x = est.preprocess(maps)
        t0 = time.perf_counter()
        c = kneighbors_graph(x, est.n_neighbors, include_self=False, n_jobs=threads)
        row["sklearn_knn"] = time.perf_counter() - t0
        row["knn_entries_differing"] = int((((c + c.T) * 0.5) != est.affinity_).nnz)
    print(json.dumps(row))


def run(sizes, pools, threads, compare_knn):
    rows = []
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads))
    for n in sizes:
        for pool in pools:
            cmd = [sys.executable, __file__, "--one", str(n), pool, "--threads", str(threads)]
            if compare_knn:
                cmd.append("--compare-knn")
            out = subprocess.run(cmd, capture_output=True, text=True, env=env)
            line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else json.dumps(
                {"n": n, "pool": pool, "error": out.stderr.strip()[-300:]})
            row = json.loads(line)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def table(rows, compare_knn: bool) -> str:
    head = ("| maps | pooled to | values | preprocess s | kNN s | eigsh s | cluster s | total s "
            "| tracemalloc MB | maxrss MB | maxrss before fit MB | data MB | eigengap | ARI |")
    lines = [head + (" sklearn kNN s | differing entries |" if compare_knn else ""),
             "|---" * (14 + 2 * compare_knn) + "|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['n']} | {r['pool']} | did not run: {r['error'][:120]} |")
            continue
        pooled = "28 × 28" if r["pool"] == "none" else f"{r['pool']} × {r['pool']}"
        line = (f"| {r['n']:,} | {pooled} | {r['values']} | {r['preprocess']:.2f} | "
                f"{r['knn']:.1f} | {r['eigsh']:.1f} | {r['cluster']:.2f} | {r['wall']:.1f} | "
                f"{r['tracemalloc_mb']:.0f} | {r['maxrss_mb']:.0f} | "
                f"{r['maxrss_before_mb']:.0f} | {r['data_mb']:.0f} | "
                f"{r['eigengap']} | {r['ari']:.3f} |")
        if compare_knn:
            line += f" {r['sklearn_knn']:.1f} | {r['knn_entries_differing']} |"
        lines.append(line)
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--one", nargs=2, metavar=("N", "POOL"))
    p.add_argument("--quick", action="store_true", help="2,000 maps only")
    p.add_argument("--sizes", nargs="*", type=int, default=[10_000, 100_000])
    p.add_argument("--pools", nargs="*", default=["none", "14"],
                   help="'none' or a pooled size per run")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--compare-knn", action="store_true",
                   help="also time sklearn.neighbors.kneighbors_graph on the same maps")
    args = p.parse_args(argv)
    if args.one:
        one(int(args.one[0]), args.one[1], args.threads, args.compare_knn)
        return
    sizes = [2_000] if args.quick else args.sizes
    rows = run(sizes, args.pools, args.threads, args.compare_knn)
    print(f"\nSpRAy on structured 28 × 28 maps (4 planted strategies 40/30/20/10 %, noise "
          f"σ = {NOISE}), 10 neighbours, 32 eigenvalues, k-means, {args.threads} threads, "
          "CPU; one process per row\n")
    print(table(rows, args.compare_knn))
    warned = {w for r in rows for w in r.get("warnings", [])}
    if warned:
        print("\nwarnings: " + "; ".join(sorted(warned)))


if __name__ == "__main__":
    main()
