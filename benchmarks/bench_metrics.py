"""Pixel flipping: ours vs quantus' ``PixelFlipping``, same inputs and relevance, one run.

1,000 scikit-learn digits (1 × 8 × 8, scaled to [0, 1]) on a small CNN trained for a few
seconds, 64 steps of one pixel each (quantus: ``features_in_step=1``), baseline 0, the class
predicted for x, MoRF; for three methods' relevance (gradient, gradient × input, LRP
EpsilonPlus), each computed once and handed to both sides. Ours evaluates all N × steps
perturbed copies in batched forward passes (``--rows`` rows each; default pixel_flipping's,
1,024 rows of 8 × 8 on the CPU); quantus loops over the steps with one forward pass of
``--quantus-batch`` samples each.
Reported: median seconds of ``--repeats`` runs each, the ratio quantus / ours, and the
largest difference between the two sides' curves (they must agree).

Usage::

    python benchmarks/bench_metrics.py             # the configuration above
    python benchmarks/bench_metrics.py --quick     # smoke run: 64 samples, 16 steps of 4
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings


def _model(epochs: int, seed: int = 0):
    """(model, x of all digits, labels, train accuracy): a small CNN trained with Adam."""
    import torch
    from sklearn.datasets import load_digits
    from torch import nn

    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(digits.target)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(16 * 4 * 4, 10))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(128):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        accuracy = float((model(x).argmax(1) == y).float().mean())
    return model, x, y, accuracy


def _relevances(graph, x, target):
    import lrp

    return {
        "gradient": lrp.gradient(graph, x, target),
        "gradient_x_input": lrp.gradient_x_input(graph, x, target),
        "lrp_epsilon_plus": lrp.explain(graph, x, target, composite=lrp.EpsilonPlus()),
    }


def _ours(graph, x, rel, target, steps, rows):
    import lrp.metrics

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # negative logits, if any
        return lrp.metrics.pixel_flipping(graph, x, rel, target, baseline=0.0, steps=steps,
                                          order="morf", batch_size=rows)


def _quantus(model, x, rel, target, features_in_step, batch):
    import numpy as np
    import quantus

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metric = quantus.PixelFlipping(features_in_step=features_in_step, perturb_baseline=0.0,
                                       normalise=False, abs=False, disable_warnings=True,
                                       display_progressbar=False)
        out = metric(model=model, x_batch=x, y_batch=target, a_batch=rel, softmax=False,
                     channel_first=True, device="cpu", batch_size=batch)
    return np.asarray(out)


def _timed(fn, repeats):
    walls, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls), result


def run(n, steps, repeats, epochs, rows, quantus_batch, threads):
    import numpy as np
    import torch

    import neon

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    t0 = time.perf_counter()
    model, x_all, _, accuracy = _model(epochs)
    train_s = time.perf_counter() - t0
    x = x_all[:n]
    graph = neon.neuralize(model, x[:1])
    with torch.no_grad():
        target = model(x).argmax(1)
    relevances = _relevances(graph, x, target)
    features = x[0].numel()
    if features % steps:
        raise SystemExit(f"--steps must divide the {features} pixels (quantus' "
                         "features_in_step)")
    fis = features // steps
    xn, tn = x.numpy(), target.numpy()
    _ours(graph, x[:8], relevances["gradient"][:8], target[:8], steps, rows)      # warm-up
    _quantus(model, xn[:8], relevances["gradient"][:8].numpy(), tn[:8], fis, quantus_batch)
    rows_out = []
    for name, rel in relevances.items():
        ours_s, ours = _timed(lambda r=rel: _ours(graph, x, r, target, steps, rows), repeats)
        theirs_s, theirs = _timed(lambda r=rel: _quantus(model, xn, r.numpy(), tn, fis,
                                                         quantus_batch), repeats)
        diff = float(np.abs(ours.curves["morf"][:, 1:] - theirs).max())
        rows_out.append({"method": name, "ours": ours_s, "quantus": theirs_s, "diff": diff,
                         "auc": ours.auc["morf"].mean(), "aopc": ours.aopc["morf"].mean()})
    return rows_out, {"accuracy": accuracy, "train_s": train_s, "n": n, "steps": steps,
                      "fis": fis, "repeats": repeats, "threads": threads, "rows": rows,
                      "quantus_batch": quantus_batch}


def table(rows, meta) -> str:
    lines = [f"digits CNN (train accuracy {meta['accuracy']:.3f}, trained in "
             f"{meta['train_s']:.1f} s), {meta['n']} samples × {meta['steps']} steps of "
             f"{meta['fis']} pixel(s), baseline 0, MoRF, float32, {meta['threads']} thread(s), "
             f"median of {meta['repeats']}; ours: {meta['rows'] or 'default'} rows per pass, "
             f"quantus: batch_size {meta['quantus_batch']}\n",
             "| relevance | ours s | quantus s | quantus / ours | max abs Δ curve | "
             "MoRF AUC | MoRF AOPC |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['ours']:.3f} | {r['quantus']:.3f} | "
                     f"{r['quantus'] / r['ours']:.1f} | {r['diff']:.2e} | {r['auc']:.3f} | "
                     f"{r['aopc']:.3f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 64 samples, 16 steps, 1 repeat, 3 training epochs")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--steps", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--rows", type=int, default=None,
                   help="our perturbed rows per forward pass (default: pixel_flipping's)")
    p.add_argument("--quantus-batch", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="fail if the curves differ by more than this")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.steps, args.repeats, args.epochs = 64, 16, 1, 3
    rows, meta = run(args.n, args.steps, args.repeats, args.epochs, args.rows,
                     args.quantus_batch, args.threads)
    print(table(rows, meta))
    worst = max(r["diff"] for r in rows)
    if worst > args.tolerance:
        print(f"\nFAIL: the curves differ by {worst:.2e} > {args.tolerance:g}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
