"""Whole data sets: throughput of one process, threaded dask and a two-worker LocalCluster;
peak memory per worker; the time a killed run takes to resume.

Two workloads:

* ``cnn``: LRP (``lrp.EpsilonPlusFlat``) on the digits CNN of examples/digits_cnn.py (random
  weights: the cost does not depend on them), float32, the 1,797 digits repeated to
  ``--images`` images, batches of 256;
* ``kmeans``: NEON on a k-means (8 clusters on 16 features, scikit-learn), ``--rows`` rows
  (default 10⁶) drawn from the k-means' blobs, float64, batches of 20,000.

Per workload and engine: samples per second and the whole wall time (the store written in
every case). ``explain_dataset`` writes a zarr store in one process from the in-memory
array; ``dask threads`` explains the same rows read from a zarr array of inputs (chunked
like the batches) with the threaded scheduler; ``cluster`` with a
``distributed.LocalCluster`` of two worker processes of one thread each, the graph scattered
once. The overhead per task is (cluster wall − one-process wall) / tasks. Peak memory per
worker is the maximum resident set the workers report (``psutil`` via distributed).

Resumption: ``explain_dataset`` on the k-means rows is killed (SIGKILL, from a watcher
thread of a child process) when half of the batches are stored, then rerun with the same
arguments: its wall time (verifying the stored half, computing the rest) is compared with an
uninterrupted run.

Usage::

    python benchmarks/bench_datasets.py                    # 10⁶ rows, 20,000 images
    python benchmarks/bench_datasets.py --rows 100000 --images 4000   # quick
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT))


def _cnn(images: int):
    from digits_cnn import DigitsCNN
    from sklearn.datasets import load_digits

    import neon

    torch.manual_seed(0)
    model = DigitsCNN().eval()
    x = (load_digits().images / 16.0).astype(np.float32)[:, None]
    x = np.concatenate([x] * (-(-images // len(x))))[:images]
    return neon.neuralize(model, torch.as_tensor(x[:1])), x


def _kmeans(rows: int):
    from sklearn.cluster import KMeans
    from sklearn.datasets import make_blobs

    import neon

    x, _ = make_blobs(rows, 16, centers=8, random_state=0)
    model = KMeans(8, n_init=1, random_state=0).fit(x[:20_000])
    return neon.neuralize(model), x


def _wall(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def engines(name, graph, x, batch, composite, client, workdir):
    import dask.array as da

    import lrp
    import lrp.dask

    kw = {"composite": composite} if composite is not None else {}
    rows, tasks = len(x), -(-len(x) // batch)
    out = {}
    path = workdir / f"{name}-one"
    out["one process"] = _wall(lambda: lrp.explain_dataset(graph, x, batch_size=batch,
                                                           out=path, progress=False, **kw))
    # the inputs as a zarr array, read by each task (not shipped in the task graph)
    import zarr

    source = zarr.create_array(str(workdir / f"{name}-input"), shape=x.shape,
                               chunks=(batch, *x.shape[1:]), dtype=x.dtype)
    source[:] = x
    arr = da.from_zarr(source)
    out["dask threads"] = _wall(lambda: lrp.dask.explain(graph, arr, out=workdir / f"{name}-t",
                                                         scheduler="threads", **kw))
    client.run(lambda: __import__("gc").collect())
    out["cluster (2 workers)"] = _wall(lambda: lrp.dask.explain(
        graph, arr, out=workdir / f"{name}-c", client=client, **kw))
    memory = max(w["metrics"]["memory"] for w in client.scheduler_info()["workers"].values())
    same = np.array_equal(np.asarray(lrp.datasets.open_store(path)["relevance"][:]),
                          np.asarray(lrp.datasets.open_store(workdir / f"{name}-c")
                                     ["relevance"][:]))
    for engine, wall in out.items():
        print(f"| {name} | {engine} | {rows:,} | {tasks} | {wall:.2f} | {rows / wall:,.0f} |")
    overhead = (out["cluster (2 workers)"] - out["one process"]) / tasks
    print(f"\n{name}: overhead per task on the cluster {overhead * 1e3:+.1f} ms; peak worker "
          f"memory {memory / 2 ** 20:.0f} MB; cluster result equals one process bit for bit: "
          f"{same}\n")


def resume(rows: int, workdir: Path):
    """A child explains the k-means rows and is SIGKILLed at half of the batches."""
    store = workdir / "resume"
    script = textwrap.dedent(f"""
        import sys, threading, time, os, signal
        sys.path.insert(0, {str(HERE)!r}); sys.path.insert(0, {str(ROOT)!r})
        import torch; torch.set_num_threads(1)
        import lrp, zarr
        from bench_datasets import _kmeans
        graph, x = _kmeans({rows})
        half = -(-len(x) // 20000) // 2
        def watch():
            while True:
                time.sleep(0.05)
                try:
                    done = zarr.open_group({str(store)!r}, mode="r")["done"][:]
                except Exception:
                    continue
                if done.sum() >= half:
                    os.kill(os.getpid(), signal.SIGKILL)
        threading.Thread(target=watch, daemon=True).start()
        lrp.explain_dataset(graph, x, batch_size=20000, out={str(store)!r}, progress=False)
    """)
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-1000:]
    import lrp

    graph, x = _kmeans(rows)
    stored = int(lrp.datasets.open_store(store)["done"][:].sum())
    resumed = _wall(lambda: lrp.explain_dataset(graph, x, batch_size=20000, out=store,
                                                progress=False))
    full = _wall(lambda: lrp.explain_dataset(graph, x, batch_size=20000,
                                             out=workdir / "full", progress=False))
    same = np.array_equal(lrp.datasets.open_store(store)["relevance"][:],
                          lrp.datasets.open_store(workdir / "full")["relevance"][:])
    print(f"resume: killed with {stored} of {-(-rows // 20000)} batches stored; resumed in "
          f"{resumed:.2f} s against {full:.2f} s uninterrupted; identical: {same}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--images", type=int, default=20_000)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)            # as every worker: one thread per process
    torch.set_flush_denormal(True)
    import distributed

    import lrp

    workdir = Path(tempfile.mkdtemp(prefix="bench-datasets-"))
    try:
        print("| workload | engine | samples | tasks | wall s | samples / s |")
        print("|---|---|---|---|---|---|")
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None, silence_logs=40) as cluster, \
                distributed.Client(cluster) as client:
            graph, x = _cnn(args.images)
            engines("digits CNN, EpsilonPlusFlat", graph, x, 256, lrp.EpsilonPlusFlat(),
                    client, workdir)
            graph, x = _kmeans(args.rows)
            engines("k-means NEON", graph, x, 20_000, None, client, workdir)
        resume(args.rows, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"(cpu count {os.cpu_count()})")


if __name__ == "__main__":
    main()
