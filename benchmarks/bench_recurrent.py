"""Unrolled recurrent networks: LRP (Arras et al.'s rules) as a ratio to a gradient pass.

A 2-layer ``nn.LSTM`` (and ``nn.GRU``), 64 inputs and 128 units per layer, batch first,
followed by a linear layer on the last hidden state, random weights, float32 on the CPU,
a batch of 32 sequences of length 64 (the input is the sequence of vectors an embedding
would give). Per model:

* ``gradient``: the torch module (cuDNN-free CPU kernels), forward and
  ``torch.autograd.grad`` of the target logits with respect to the input — the reference;
* ``graph_gradient``: the same gradient through the unrolled graph (``lrp.gradient``);
* ``lrp``: ``lrp.explain(graph, x, target)`` with the default composite — ε on the linear
  maps, signal-take-all at the gates, proportional splits at the sums (Arras et al. 2017).

The import (unrolling 64 steps × 2 layers into ~2,200 nodes) is timed apart. Times: the
minimum and median of ``--repeats`` calls after one warm-up call.

Usage::

    python benchmarks/bench_recurrent.py               # the configuration above
    python benchmarks/bench_recurrent.py --length 16 --repeats 2   # quick check
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

import lrp
import neon


class LastState(nn.Module):
    def __init__(self, kind: str, width: int, hidden: int, layers: int):
        super().__init__()
        self.rnn = getattr(nn, kind)(width, hidden, num_layers=layers, batch_first=True)
        self.out = nn.Linear(hidden, 10)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.out(out[:, -1])


def _times(fn, repeats: int) -> tuple[float, float]:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def measure(kind: str, *, batch: int, length: int, width: int, hidden: int, layers: int,
            repeats: int) -> dict:
    torch.manual_seed(0)
    model = LastState(kind, width, hidden, layers).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.randn(batch, length, width)
    target = model(x).argmax(1)
    start = time.perf_counter()
    graph = neon.neuralize(model, x[:1])
    imported = time.perf_counter() - start

    def module_gradient():
        v = x.clone().requires_grad_(True)
        out = model(v)
        return torch.autograd.grad(out.gather(1, target[:, None]).sum(), v)[0]

    methods = {"gradient": module_gradient,
               "graph_gradient": lambda: lrp.gradient(graph, x, target),
               "lrp": lambda: lrp.explain(graph, x, target)}
    times = {name: _times(fn, repeats) for name, fn in methods.items()}
    e = lrp.explain(graph, x, target, return_all=True)
    return dict(kind=kind, nodes=len(graph), import_s=imported, times=times,
                conservation=float(e.relevance.sum() / e.output.sum()),
                gradient_error=float((lrp.gradient(graph, x, target) - module_gradient())
                                     .abs().max()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    print(f"batch {args.batch}, length {args.length}, {args.layers} layers of {args.hidden} "
          f"units on {args.width} inputs, float32, {args.threads} threads")
    print(f"{'model':6s}{'nodes':>7s}{'import s':>10s}{'method':>16s}{'min ms':>9s}"
          f"{'median ms':>11s}{'× gradient':>12s}")
    for kind in ("LSTM", "GRU"):
        r = measure(kind, batch=args.batch, length=args.length, width=args.width,
                    hidden=args.hidden, layers=args.layers, repeats=args.repeats)
        base = r["times"]["gradient"][0]
        for k, (name, (low, mid)) in enumerate(r["times"].items()):
            head = f"{kind:6s}{r['nodes']:7d}{r['import_s']:10.2f}" if k == 0 else " " * 23
            print(f"{head}{name:>16s}{low * 1e3:9.1f}{mid * 1e3:11.1f}{low / base:12.2f}")
        print(f"{'':23s}ΣR/Σf of LRP {r['conservation']:.3f}; |graph − module gradient| ≤ "
              f"{r['gradient_error']:.1e}")


if __name__ == "__main__":
    main()
