"""Attribution-method speed: ours vs captum's same configuration, side by side in one run.

Integrated gradients (32 steps), SmoothGrad (32 noisy copies), occlusion (window 16, stride 8)
and Grad-CAM (layer4) on torchvision ResNet-50, batch 4 at 224², random weights, each also
as a ratio to one plain input-gradient pass of the batch. Both sides evaluate the same
number of rows per forward pass (``--rows``: captum's ``internal_batch_size``,
``nt_samples_batch_size`` × batch and ``perturbations_per_eval`` × batch). One method per
process, so the resident-set maximum is that method's peak memory.

Usage::

    python benchmarks/bench_methods.py                      # the configuration above
    python benchmarks/bench_methods.py --size 64 --repeats 1 --skip occlusion   # quick check
    python benchmarks/bench_methods.py --one ig_ours ...    # internal: one method, prints JSON
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

PAIRS = ["integrated_gradients", "smoothgrad", "occlusion", "grad_cam"]
METHODS = ["gradient"] + [f"{p}_{side}" for p in PAIRS for side in ("ours", "captum")]
STEPS, SAMPLES, WINDOW, STRIDE, SIGMA = 32, 32, 16, 8, 0.15


def _setup(model_name, batch, size):
    import torch
    import torchvision

    torch.manual_seed(0)
    model = getattr(torchvision.models, model_name)(weights=None).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        target = model(x).argmax(1)
    return model, x, target


def _method(name, model, x, target, rows):
    """A zero-argument callable computing one attribution of the batch (and the graph if
    ours, so the caller can free the torch module)."""
    import torch

    n = x.shape[0]
    if name == "gradient":
        def run():
            xx = x.clone().requires_grad_(True)
            out = model(xx)
            torch.autograd.grad(out[torch.arange(n), target].sum(), xx)
        return run
    family, side = name.rsplit("_", 1)
    if side == "ours":
        import lrp
        import neon

        graph = neon.from_torch(model, x[:1])
        if family == "integrated_gradients":
            return lambda: lrp.integrated_gradients(graph, x, target, steps=STEPS,
                                                    method="gausslegendre", batch_size=rows)
        if family == "smoothgrad":
            return lambda: lrp.smoothgrad(graph, x, target, samples=SAMPLES, sigma=SIGMA,
                                          seed=0, batch_size=rows)
        if family == "occlusion":
            return lambda: lrp.occlusion(graph, x, target, window=WINDOW, stride=STRIDE,
                                         batch_size=rows)
        if family == "grad_cam":
            return lambda: lrp.grad_cam(graph, x, target, node="layer4")
    from captum import attr

    if family == "integrated_gradients":
        ig = attr.IntegratedGradients(model)
        return lambda: ig.attribute(x, target=target, n_steps=STEPS, method="gausslegendre",
                                    internal_batch_size=rows)
    if family == "smoothgrad":
        tunnel = attr.NoiseTunnel(attr.Saliency(model))
        stdevs = SIGMA * float(x.max() - x.min())   # captum: one absolute σ for the batch
        return lambda: tunnel.attribute(x, nt_type="smoothgrad", nt_samples=SAMPLES,
                                        nt_samples_batch_size=max(rows // n, 1),
                                        stdevs=stdevs, target=target, abs=False)
    if family == "occlusion":
        occ = attr.Occlusion(model)
        return lambda: occ.attribute(x, sliding_window_shapes=(3, WINDOW, WINDOW),
                                     strides=(3, STRIDE, STRIDE), baselines=0.0, target=target,
                                     perturbations_per_eval=max(rows // n, 1))
    if family == "grad_cam":
        cam = attr.LayerGradCam(model, model.layer4)

        def run():
            a = cam.attribute(x, target=target)
            return attr.LayerAttribution.interpolate(a, x.shape[2:], interpolate_mode="bilinear")
        return run
    raise ValueError(name)


def one(model_name, method, batch, size, repeats, threads, rows):
    """Time one method in this process; print a JSON line."""
    import torch

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    model, x, target = _setup(model_name, batch, size)
    fn = _method(method, model, x, target, rows)
    if method.endswith("_ours"):     # the graph holds its own (BatchNorm-folded) weights
        del model
        gc.collect()
    if not method.startswith("occlusion"):   # occlusion: 92 passes, warm after the first
        fn()                         # warm-up; the graph import is outside the timing
    walls, cpus = [], []
    for _ in range(repeats):
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        fn()
        r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        walls.append(t1 - t0)
        cpus.append(r1.ru_utime - r0.ru_utime)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"model": model_name, "method": method, "wall": statistics.median(walls),
                      "wall_min": min(walls), "user": statistics.median(cpus),
                      "peak_mb": peak, "repeats": repeats}))


def run(model_name, methods, batch, size, repeats, threads, rows):
    rows_out = []
    for method in methods:
        reps = 1 if method.startswith("occlusion") else repeats
        cmd = [sys.executable, __file__, "--one", method, "--model", model_name, "--batch",
               str(batch), "--size", str(size), "--repeats", str(reps), "--threads",
               str(threads), "--rows", str(rows)]
        out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
        line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else json.dumps(
            {"model": model_name, "method": method, "error": out.stderr.strip()[-300:]})
        row = json.loads(line)
        rows_out.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    return rows_out


def table(rows) -> str:
    """Markdown: median wall time, ratio to the gradient pass and ours / captum."""
    by = {r["method"]: r for r in rows}
    base = by.get("gradient", {}).get("wall")
    lines = ["| method | ours s | captum s | ours / captum | ours × gradient | "
             "ours peak MB | captum peak MB |", "|---|---|---|---|---|---|---|"]
    if base:
        lines.insert(0, f"one gradient pass of the batch: {base:.3f} s, peak "
                        f"{by['gradient']['peak_mb']:.0f} MB\n")
    for family in PAIRS:
        ours, theirs = by.get(f"{family}_ours", {}), by.get(f"{family}_captum", {})
        if "wall" not in ours or "wall" not in theirs:
            err = ours.get("error") or theirs.get("error") or "skipped"
            lines.append(f"| {family} | did not run: {err[:100]} | | | | | |")
            continue
        lines.append(f"| {family} | {ours['wall']:.2f} | {theirs['wall']:.2f} | "
                     f"{ours['wall'] / theirs['wall']:.2f} | "
                     f"{ours['wall'] / base if base else float('nan'):.1f} | "
                     f"{ours['peak_mb']:.0f} | {theirs['peak_mb']:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--one", metavar="METHOD")
    p.add_argument("--model", default="resnet50")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rows", type=int, default=32)
    p.add_argument("--skip", nargs="*", default=[], choices=PAIRS)
    args = p.parse_args(argv)
    if args.one:
        one(args.model, args.one, args.batch, args.size, args.repeats, args.threads, args.rows)
        return
    methods = [m for m in METHODS if not any(m.startswith(s) for s in args.skip)]
    rows = run(args.model, methods, args.batch, args.size, args.repeats, args.threads,
               args.rows)
    print(f"\n{args.model}, batch {args.batch}, {args.size}x{args.size}, {args.threads} "
          f"threads, {args.rows} rows per pass, median of {args.repeats} (occlusion: one run, "
          "no warm-up), CPU, flush-denormal\n")
    print(table(rows))


if __name__ == "__main__":
    main()
