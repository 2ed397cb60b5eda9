"""LRP speed: ratios to a plain input-gradient pass, side by side with zennit and captum.

One method per process (peak memory on CPU needs a process per method: the resident-set
maximum only grows). ``run`` spawns them all, under the default allocator and under the
tuned one (``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000``, see docs/architecture.md),
and prints a markdown table.

Usage::

    python benchmarks/bench_lrp.py                       # VGG-16, ResNet-50, batch 8, 224
    python benchmarks/bench_lrp.py --batch 2 --size 64   # quick check
    python benchmarks/bench_lrp.py --one vgg16 eps ...   # internal: one method, prints JSON
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time

METHODS = ["gradient", "ours_epsilon", "ours_epsilon_plus_flat", "ours_epsilon_gamma_box",
           "zennit_epsilon_plus_flat", "zennit_epsilon_gamma_box", "captum_lrp"]
TUNED = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "100000000000"}


def _model(name):
    import torch
    import torchvision

    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _method(name, model_name, model, x):
    """A zero-argument callable computing one attribution of ``x``'s predicted class."""
    import torch

    n = x.shape[0]
    with torch.no_grad():
        target = model(x).argmax(1)
    if name == "gradient":
        def run():
            xx = x.clone().requires_grad_(True)
            out = model(xx)
            torch.autograd.grad(out[torch.arange(n), target].sum(), xx)
        return run
    if name.startswith("ours"):
        import lrp
        import neon

        graph = neon.from_torch(model, x[:1])
        composite = {"ours_epsilon": lrp.EpsilonOnly(),
                     "ours_epsilon_plus_flat": lrp.EpsilonPlusFlat(),
                     "ours_epsilon_gamma_box": lrp.EpsilonGammaBox(-6.0, 6.0)}[name]
        return lambda: lrp.explain(graph, x, target, composite)
    if name.startswith("zennit"):
        from zennit.attribution import Gradient
        from zennit.composites import EpsilonGammaBox, EpsilonPlusFlat
        from zennit.torchvision import ResNetCanonizer, VGGCanonizer

        canon = ResNetCanonizer() if "resnet" in model_name else VGGCanonizer()
        composite = EpsilonPlusFlat(canonizers=[canon]) if name.endswith("plus_flat") else \
            EpsilonGammaBox(low=-6.0, high=6.0, canonizers=[canon])
        with torch.no_grad():
            out = model(x)
        start = torch.zeros_like(out)
        start[torch.arange(n), target] = out[torch.arange(n), target]

        def run():
            with Gradient(model=model, composite=composite) as attributor:
                attributor(x, start)
        return run
    if name == "captum_lrp":
        from captum.attr import LRP

        explainer = LRP(model)
        return lambda: explainer.attribute(x, target=target)
    raise ValueError(name)


def one(model_name, method, batch, size, repeats, threads):
    """Time one method in this process; print a JSON line."""
    import torch

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    model = _model(model_name)
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))
    try:
        fn = _method(method, model_name, model, x)
        if method.startswith("ours"):  # the graph holds its own weights: free the module's
            del model
            gc.collect()
        fn()  # warm-up (the graph import is outside the timing)
    except Exception as err:  # a peer that cannot run this model
        print(json.dumps({"model": model_name, "method": method,
                          "error": f"{type(err).__name__}: {str(err)[:200]}"}))
        return
    walls, cpus, syss = [], [], []
    for _ in range(repeats):
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        fn()
        r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        walls.append(t1 - t0)
        cpus.append(r1.ru_utime - r0.ru_utime)
        syss.append(r1.ru_stime - r0.ru_stime)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"model": model_name, "method": method, "wall": statistics.median(walls),
                      "wall_min": min(walls), "user": statistics.median(cpus),
                      "sys": statistics.median(syss), "peak_mb": peak}))


def run(models, methods, batch, size, repeats, threads, allocators, script=__file__):
    """Every (allocator, model, method) in its own process running ``script --one MODEL
    METHOD``, which prints one JSON row; the rows, tagged with the allocator."""
    rows = []
    for alloc in allocators:
        env = dict(os.environ, **(TUNED if alloc == "tuned" else {}))
        if alloc != "tuned":
            for key in TUNED:
                env.pop(key, None)
        for model_name in models:
            for method in methods:
                cmd = [sys.executable, script, "--one", model_name, method, "--batch",
                       str(batch), "--size", str(size), "--repeats", str(repeats),
                       "--threads", str(threads)]
                out = subprocess.run(cmd, env=env, capture_output=True, text=True)
                line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else \
                    json.dumps({"model": model_name, "method": method,
                                "error": out.stderr.strip()[-200:]})
                row = json.loads(line)
                row["allocator"] = alloc
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def table(rows) -> str:
    """Markdown: median wall time, ratio to the gradient pass (same model, same allocator)."""
    lines = ["| allocator | model | method | median s | × gradient | user s | sys s | peak MB |",
             "|---|---|---|---|---|---|---|---|"]
    base = {(r["allocator"], r["model"]): r["wall"] for r in rows
            if r["method"] == "gradient" and "wall" in r}
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['allocator']} | {r['model']} | {r['method']} | "
                         f"did not run: {r['error'][:80]} | | | | |")
            continue
        ratio = r["wall"] / base[(r["allocator"], r["model"])]
        lines.append(f"| {r['allocator']} | {r['model']} | {r['method']} | {r['wall']:.3f} | "
                     f"{ratio:.2f} | {r['user']:.2f} | {r['sys']:.2f} | {r['peak_mb']:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--one", nargs=2, metavar=("MODEL", "METHOD"))
    p.add_argument("--models", nargs="+", default=["vgg16", "resnet50"])
    p.add_argument("--methods", nargs="+", default=METHODS)
    p.add_argument("--batch", type=int, default=8)
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
    print(f"\nbatch {args.batch}, {args.size}x{args.size}, {args.threads} threads, "
          f"{args.repeats} repeats, CPU, flush-denormal\n")
    print(table(rows))


if __name__ == "__main__":
    main()
