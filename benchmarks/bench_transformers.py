"""Transformer speed and memory: AttnLRP and CP-LRP as ratios to a plain input-gradient pass.

torchvision ``vit_b_16`` and ``swin_t`` with random weights (ViT's zero-initialized
``heads.head`` weight redrawn from N(0, 0.02²); its class token stays torchvision's zero),
float32 on the CPU, batch 4 at 224². Four methods per model, each explaining the class the
module predicts:

* ``gradient``: the torch module itself, forward and ``torch.autograd.grad`` of the sum of
  the target logits with respect to the input (parameters frozen) — the reference;
* ``graph_gradient``: the same gradient through the imported graph, ``lrp.gradient``;
* ``attnlrp``, ``cplrp``: ``lrp.explain(graph, x, target, lrp.AttnLRP())`` / ``lrp.CPLRP()``.

The graph (``neon.from_torch``) is imported before the timing (its time is reported apart)
and the torch module is freed then: the graph holds its own copy of the weights. Times: the
minimum (and median) of ``--repeats`` calls after one warm-up call.

Memory: one process per (model, method). After the set-up (module built, graph imported,
module freed) the heap's free pages are handed back (glibc ``malloc_trim``) and the peak
resident set (VmHWM) is reset through ``/proc/self/clear_refs``; "before MB" is the resident
set then (weights, torch, the graph), "peak MB" the resident-set maximum over the warm-up
and the timed calls, "growth MB" their difference: the extra memory the calls need at their
peak, tensors and allocator slack together. Linux only; elsewhere "peak MB" is the
process's lifetime maximum and no growth is given.

Usage::

    python benchmarks/bench_transformers.py                        # the configuration above
    python benchmarks/bench_transformers.py --batch 1 --size 64 --repeats 1   # quick check
    python benchmarks/bench_transformers.py --one vit_b_16 attnlrp ...  # internal: prints JSON
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import resource
import statistics
import time

from bench_lrp import run as run_in_processes  # one process per measurement, two allocators

MODELS = ["vit_b_16", "swin_t"]
METHODS = ["gradient", "graph_gradient", "attnlrp", "cplrp"]
TARGET = 1.5                      # × the module's gradient pass


def _model(name, size):
    import torch
    import torchvision

    torch.manual_seed(0)
    options = {"image_size": size} if name.startswith("vit_") and size != 224 else {}
    model = torchvision.models.get_model(name, weights=None, **options).eval()
    with torch.no_grad():
        for m in model.modules():      # ViT's head is zero-initialized: the output would be 0
            if isinstance(m, torch.nn.Linear) and not m.weight.any():
                m.weight.normal_(0, 0.02)
        for p in model.parameters():
            p.requires_grad_(False)
    return model


def _status(key):
    """A field of /proc/self/status in MiB, or None where there is none."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return float(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the peak resident set (VmHWM) to the current one; False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _trim() -> None:
    """Return the heap's free pages to the system (glibc), so the resident set is what lives."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _method(name, model, x, target):
    """(zero-argument callable computing the attribution of the batch, graph import seconds)."""
    import torch

    rows = torch.arange(x.shape[0])
    if name == "gradient":
        def run():
            xx = x.clone().requires_grad_(True)
            return torch.autograd.grad(model(xx)[rows, target].sum(), xx)[0]
        return run, None
    import lrp
    import neon

    start = time.perf_counter()
    graph = neon.from_torch(model, x[:1])
    seconds = time.perf_counter() - start
    if name == "graph_gradient":
        return (lambda: lrp.gradient(graph, x, target)), seconds
    composite = {"attnlrp": lrp.AttnLRP(), "cplrp": lrp.CPLRP()}[name]
    return (lambda: lrp.explain(graph, x, target, composite)), seconds


def one(model_name, method, batch, size, repeats, threads):
    """Time one method in this process; print a JSON line."""
    import torch

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    model = _model(model_name, size)
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        target = model(x).argmax(1)
    try:
        fn, import_s = _method(method, model, x, target)
        if method != "gradient":     # the graph holds its own weights: free the module's
            del model
        gc.collect()
        _trim()
        reset = _reset_peak()
        before = _status("VmRSS")
        out = fn()                   # warm-up
        finite = bool(torch.isfinite(out).all())
        del out
    except Exception as err:  # report, do not stop the other runs
        print(json.dumps({"model": model_name, "method": method,
                          "error": f"{type(err).__name__}: {str(err)[:200]}"}))
        return
    walls, cpus = [], []
    for _ in range(repeats):
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        fn()
        r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        walls.append(t1 - t0)
        cpus.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    peak = _status("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"model": model_name, "method": method, "wall_min": min(walls),
                      "wall": statistics.median(walls), "cpu": statistics.median(cpus),
                      "before_mb": before, "peak_mb": peak,
                      "growth_mb": peak - before if reset else None,
                      "import_s": import_s, "finite": finite, "repeats": repeats}))


def run(models, methods, batch, size, repeats, threads, allocators):
    return run_in_processes(models, methods, batch, size, repeats, threads, allocators,
                            script=__file__)


def table(rows) -> str:
    """Markdown: min and median wall time, the ratio of the mins to the module's gradient
    pass and to the graph's (same model, same allocator), memory."""
    lines = ["| allocator | model | method | min s | median s | × gradient (min) | "
             f"≤ {TARGET}× | × graph gradient | before MB | peak MB | growth MB | import s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    base = {(r["allocator"], r["model"], r["method"]): r["wall_min"] for r in rows
            if r["method"] in ("gradient", "graph_gradient") and "wall_min" in r}
    nan = float("nan")
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['allocator']} | {r['model']} | {r['method']} | "
                         f"did not run: {r['error'][:80]} | | | | | | | | |")
            continue
        key = (r["allocator"], r["model"])
        ratio = r["wall_min"] / base.get((*key, "gradient"), nan)
        ratio_graph = r["wall_min"] / base.get((*key, "graph_gradient"), nan)
        met = "" if r["method"] == "gradient" else ("yes" if ratio <= TARGET else "no")
        growth = "" if r["growth_mb"] is None else f"{r['growth_mb']:.0f}"
        before = "" if r.get("before_mb") is None else f"{r['before_mb']:.0f}"
        imported = "" if r["import_s"] is None else f"{r['import_s']:.2f}"
        flag = "" if r["finite"] else " (non-finite!)"
        lines.append(f"| {r['allocator']} | {r['model']} | {r['method']}{flag} | "
                     f"{r['wall_min']:.3f} | {r['wall']:.3f} | {ratio:.2f} | {met} | "
                     f"{ratio_graph:.2f} | {before} | {r['peak_mb']:.0f} | {growth} | "
                     f"{imported} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--one", nargs=2, metavar=("MODEL", "METHOD"))
    p.add_argument("--models", nargs="+", default=MODELS)
    p.add_argument("--methods", nargs="+", default=METHODS)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--allocators", nargs="+", default=["default", "tuned"])
    args = p.parse_args(argv)
    if args.one:
        one(*args.one, args.batch, args.size, args.repeats, args.threads)
        return
    rows = run(args.models, args.methods, args.batch, args.size, args.repeats, args.threads,
               args.allocators)
    print(f"\nbatch {args.batch}, {args.size}x{args.size}, {args.threads} threads, float32, "
          f"min of {args.repeats} after a warm-up, CPU, flush-denormal\n")
    print(table(rows))


if __name__ == "__main__":
    main()
