"""TCAV speed: a 10 concepts × 50 random runs study at a conv node of 16 × 32 × 32 = 16,384
dimensions, ours (``concepts.tcav``) against captum's ``captum.concept.TCAV``.

The model is a small CNN with a planted concept and random weights elsewhere: its first conv
layer's channel 0 is a horizontal-edge detector, and the class-0 logit reads that channel
(through a second conv layer, a global average pool and a linear layer whose other weights
are random and small), so horizontal stripes raise the class-0 logit. Inputs are generated
3 × 32 × 32 images in [0, 1]: smooth random images (the random sets, the tested inputs and
a "random concept" drawn the same way), horizontal stripes on such images (the planted
concept) and eight other synthetic patterns.

Both sides run the same study at the output of ``features.1`` (the first ReLU): per concept,
``runs`` CAVs against the random sets N_0 … N_{runs−1}, and ``runs`` random-vs-random CAVs
N_r vs N_{(r+1) mod R} for the null (10 × 50 + 50 = 550 CAVs in the full study), with 200
examples per set and 200 tested inputs, target class 0. The random sets are drawn from one
pool of random images with ``concepts.tcav``'s own draws (a seeded ``randperm`` per set), so
captum gets the same sets. captum scores each experimental set [concept, N_r] and
[N_r, N_(r+1)]; its verdict is the same two-sample t-test (scipy) of the concept's scores
against the null scores, Holm-adjusted over the concepts as ours.

captum's cost is linear in the number of CAVs (its default classifier, scikit-learn's SGD, fed
through a DataLoader, and its activations saved to disk); measured here 0.33–0.40 s per CAV
(CONCEPTS.md's 1.9 s was for a larger study), so by default it runs with fewer runs
(``--captum-runs 2 5``: 10 × 2 + 2 and 10 × 5 + 5 CAVs), reports the seconds per CAV at
both sizes (equal if its cost is linear in the number of CAVs) and an extrapolation to the
full study, marked as such. Give ``--captum-runs 50`` to measure it. One method per process:
ru_maxrss is that method's peak.

Usage::

    python benchmarks/bench_tcav.py                     # the study above (a few minutes)
    python benchmarks/bench_tcav.py --quick             # tiny sizes, seconds
    python benchmarks/bench_tcav.py --captum-runs 50    # captum on the full study (~3 min)
    python benchmarks/bench_tcav.py --concepts 2 --runs 2 --captum-runs 2   # a smoke run
    python benchmarks/bench_tcav.py --one ours_sgd ...  # internal: one method, prints JSON
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

OURS = ["ours_sgd", "ours_mean_difference", "ours_torch_logistic"]
CONCEPTS = ["horizontal stripes", "random concept", "vertical stripes", "diagonal stripes",
            "checkerboard", "dots", "red", "green", "blue", "ramp"]
PLANTED, RANDOM = CONCEPTS[0], CONCEPTS[1]
LAYER = "features.1"
TARGET = 0
ALPHA = 0.05


# ---------------------------------------------------------------------------- model, data

def build_model(channels=16, seed=0, spread=0.3):
    """The planted CNN: Conv(3→C)-ReLU-Conv(C→C)-ReLU-AvgPool-Flatten-Linear(C→10).

    conv1: channel 0 a horizontal-edge detector, the others random. conv2: channels 2k and
    2k+1 read u ± n_k, with u the centre tap of conv1's channel 0 and n_k a random,
    zero-mean kernel on the other channels (norm ``spread``): which of each pair is active
    varies from position to position and input to input, so the gradient at the node varies
    too, while its channel-0 part is always ≥ 0. Class 0's logit is the mean of every conv2
    channel: horizontal stripes raise it. The other classes' weights stay random.
    """
    import torch
    from torch import nn

    torch.manual_seed(seed)
    model = nn.Sequential()
    model.features = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.ReLU(),
                                   nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU())
    model.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    model.classifier = nn.Linear(channels, 10)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        conv1, conv2, head = model.features[0], model.features[2], model.classifier
        edge = torch.tensor([[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0], [0.0, 0.0, 0.0]]) / 3
        conv1.weight[0] = edge.expand(3, 3, 3)
        conv1.bias[0] = 0.0
        u = torch.zeros(channels, 3, 3)
        u[0, 1, 1] = 1.0
        for k in range(channels // 2):
            n = torch.randn(channels, 3, 3, generator=gen)
            n[1:] -= n[1:].mean()
            n[0] = 0.0
            n *= spread / n.norm()
            conv2.weight[2 * k], conv2.weight[2 * k + 1] = u + n, u - n
        conv2.bias.zero_()
        head.weight[TARGET] = 1.0
        head.bias[TARGET] = 0.0
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def _smooth(n, size, gen):
    import torch

    low = torch.rand(n, 3, max(2, size // 4), max(2, size // 4), generator=gen)
    up = torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear",
                                         align_corners=False)
    return (0.2 + 0.6 * up + 0.05 * torch.randn(n, 3, size, size, generator=gen)).clamp(0, 1)


def images(kind, n, size, gen):
    """n generated 3 × size × size images of one kind, values in [0, 1]."""
    import torch

    base = _smooth(n, size, gen)
    if kind in ("random", RANDOM):
        return base
    rows = torch.arange(size, dtype=torch.float32)
    yy, xx = torch.meshgrid(rows, rows, indexing="ij")
    period = torch.randint(3, 7, (n, 1, 1, 1), generator=gen).float()
    phase = torch.rand(n, 1, 1, 1, generator=gen) * period
    amp = 0.5 + 0.5 * torch.rand(n, 1, 1, 1, generator=gen)
    if kind == "horizontal stripes":
        pattern = ((yy + phase) % period < period / 2).float()
    elif kind == "vertical stripes":
        pattern = ((xx + phase) % period < period / 2).float()
    elif kind == "diagonal stripes":
        pattern = ((xx + yy + phase) % (2 * period) < period).float()
    elif kind == "checkerboard":
        pattern = ((((yy + phase) // period) + ((xx + phase) // period)) % 2).float()
    elif kind == "dots":
        pattern = torch.zeros(n, 1, size, size)
        for _ in range(6):
            cy = torch.rand(n, 1, 1, 1, generator=gen) * size
            cx = torch.rand(n, 1, 1, 1, generator=gen) * size
            pattern = torch.maximum(pattern, torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2)
                                                       / (2 * 1.5 ** 2)))
    elif kind in ("red", "green", "blue"):
        tint = torch.zeros(1, 3, 1, 1)
        tint[0, ("red", "green", "blue").index(kind)] = 1.0
        return (0.5 * base + 0.5 * amp * tint).clamp(0, 1)
    elif kind == "ramp":
        pattern = (xx / (size - 1)).expand(n, 1, size, size)
    else:
        raise ValueError(kind)
    return (0.4 * base + 0.6 * amp * pattern.expand(n, 3, size, size)).clamp(0, 1)


def study(cfg):
    """Everything both sides get: model, inputs, concept sets, random pool and the draws."""
    import torch

    gen = torch.Generator().manual_seed(cfg["seed"])
    model = build_model(cfg["channels"], cfg["seed"])
    n, size = cfg["examples"], cfg["size"]
    inputs = images("random", n, size, gen)
    sets = {name: images(name, n, size, gen) for name in CONCEPTS[:cfg["concepts"]]}
    pool = images("random", cfg["pool"], size, gen)
    return model, inputs, sets, pool


def random_draws(pool_size, size, count, seed):
    """The rows of the random sets, as ``concepts.tcav(randoms=count, random_pool=...)``
    draws them."""
    import torch

    gen = torch.Generator().manual_seed(int(seed))
    return [torch.randperm(pool_size, generator=gen)[:size] for _ in range(count)]


def verdicts(scores, null, names):
    """Two-sided t-tests of each concept's run scores against the null scores, Holm-adjusted
    (as concepts.tcav with test="runs")."""
    import numpy as np
    from scipy import stats

    from concepts import adjust_p_values

    p = []
    for name in names:
        a, b = np.asarray(scores[name], float), np.asarray(null, float)
        if np.std(a) == 0 and np.std(b) == 0:
            p.append(1.0 if a.mean() == b.mean() else 0.0)
        else:
            p.append(float(stats.ttest_ind(a, b).pvalue))
    adjusted = adjust_p_values(p, "holm")
    return {name: {"score": float(np.mean(scores[name])), "p_adjusted": float(q),
                   "significant": bool(q <= ALPHA)} for name, q in zip(names, adjusted)}


# ---------------------------------------------------------------------------- methods

def run_ours(learner, cfg):
    import concepts
    import neon

    model, inputs, sets, pool = study(cfg)
    t0 = time.perf_counter()
    graph = neon.neuralize(model, inputs[:1])
    t1 = time.perf_counter()
    R = max(cfg["runs"], 3)
    result = concepts.tcav(graph, inputs, sets, LAYER, target=TARGET, randoms=R,
                           random_pool=pool, random_size=cfg["examples"], runs=cfg["runs"],
                           learner=learner, seed=cfg["seed"], alpha=ALPHA, correction="holm",
                           cache=False)
    wall = time.perf_counter() - t1
    rows = {r["concept"]: r for r in result.rows}
    return {"wall": wall, "import": t1 - t0, "cavs": (len(sets) + 1) * cfg["runs"],
            "timings": result.timings,
            "verdicts": {name: {"score": r["score_mean"], "p_adjusted": r["p_adjusted"],
                                "significant": r["significant"]} for name, r in rows.items()}}


def run_captum(cfg):
    import random

    import numpy as np
    import torch
    from captum.concept import TCAV, Concept

    random.seed(cfg["seed"])
    np.random.seed(cfg["seed"])
    torch.manual_seed(cfg["seed"])
    model, inputs, sets, pool = study(cfg)
    runs, R = cfg["runs"], max(cfg["runs"], 3)
    draws = random_draws(len(pool), cfg["examples"], R, cfg["seed"])

    def loader(x):
        return torch.utils.data.DataLoader(x, batch_size=64)

    names = list(sets)
    concept_objs = {name: Concept(i, name.replace(" ", "_"), loader(x))
                    for i, (name, x) in enumerate(sets.items())}
    randoms = [Concept(len(names) + r, f"random_{r}", loader(pool[draws[r]]))
               for r in range(R)]
    experimental = [[concept_objs[name], randoms[r]] for name in names for r in range(runs)]
    experimental += [[randoms[r], randoms[(r + 1) % R]] for r in range(runs)]
    with tempfile.TemporaryDirectory() as save_path, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        tcav = TCAV(model, [LAYER], save_path=save_path + "/")
        scores = tcav.interpret(inputs, experimental, target=TARGET)
        wall = time.perf_counter() - t0

    def sign(concepts_):
        key = "-".join(str(c.id) for c in concepts_)
        return float(scores[key][LAYER]["sign_count"][0])
    per = {name: [sign(experimental[i * runs + r]) for r in range(runs)]
           for i, name in enumerate(names)}
    null = [sign(s) for s in experimental[len(names) * runs:]]
    return {"wall": wall, "cavs": len(experimental), "verdicts": verdicts(per, null, names)}


def one(method, cfg, threads):
    """Run one method in this process; print a JSON line."""
    import torch

    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    try:
        out = run_captum(cfg) if method == "captum" else \
            run_ours(method[len("ours_"):], cfg)
    except Exception as err:
        print(json.dumps({"method": method, "runs": cfg["runs"],
                          "error": f"{type(err).__name__}: {str(err)[:300]}"}))
        return
    out.update(method=method, runs=cfg["runs"], concepts=cfg["concepts"],
               peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out))


# ---------------------------------------------------------------------------- driver

def spawn(method, cfg, threads):
    cmd = [sys.executable, __file__, "--one", method, "--threads", str(threads),
           "--config", json.dumps(cfg)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = out.stdout.strip().splitlines()
    if lines:
        row = json.loads(lines[-1])
    else:
        row = {"method": method, "runs": cfg["runs"], "error": out.stderr.strip()[-300:]}
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def _verdict(row, name):
    v = row.get("verdicts", {}).get(name)
    if v is None:
        return "—"
    return f"{'significant' if v['significant'] else 'n.s.'} ({v['score']:.2f}, " \
           f"p̃ {v['p_adjusted']:.2g})"


def cost_model(rows, method):
    """One method's wall time as a function of the number of CAVs, from its measured runs:
    ``at(n) → (seconds, measured?)`` (a straight line through its smallest and largest
    measurement; one measurement: proportional), and how it was made. (None, None) when
    the method has no measurement."""
    done = sorted((r for r in rows if r["method"] == method and "wall" in r),
                  key=lambda r: r["cavs"])
    if not done:
        return None, None
    measured = {r["cavs"]: r["wall"] for r in done}
    lo, hi = done[0], done[-1]
    if hi["cavs"] > lo["cavs"]:
        slope = (hi["wall"] - lo["wall"]) / (hi["cavs"] - lo["cavs"])
        line = (lo["wall"] - slope * lo["cavs"], slope)
        how = (f"a straight line through its {lo['cavs']}- and {hi['cavs']}-CAV runs, "
               f"{line[0]:.1f} s + {slope:.3f} s per CAV")
    else:
        line = (0.0, hi["wall"] / hi["cavs"])
        how = f"{line[1]:.3f} s per CAV × CAVs (one measured size)"

    def at(n):
        if n in measured:
            return measured[n], True
        return line[0] + line[1] * n, False
    return at, how


def table(rows, full_cavs) -> str:
    """Markdown: one line per measured run; for each method not measured on the full study,
    a line extrapolated to it (marked); the ratio is captum's time over the method's at the
    same number of CAVs (marked when either side is extrapolated)."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    models = {m: cost_model(rows, m) for m in methods}
    captum_at = models.get("captum", (None, None))[0]
    lines = ["| method | CAVs | wall s | s per CAV | captum ÷ ours (same CAVs) | "
             f"{PLANTED!r} (planted) | {RANDOM!r} | peak MB |",
             "|---|---|---|---|---|---|---|---|"]

    def ratio(method, n, seconds, measured):
        if method == "captum":
            return "1"
        if captum_at is None:
            return "—"
        theirs, known = captum_at(n)
        return f"{theirs / seconds:.1f}" + ("" if known and measured else " (extrapolated)")

    notes = []
    for m in methods:
        for r in (r for r in rows if r["method"] == m):
            if "error" in r:
                lines.append(f"| {m} ({r.get('runs')} runs) | | did not run: "
                             f"{r['error'][:120]} | | | | | |")
                continue
            lines.append(f"| {m} ({r['concepts']} × {r['runs']} runs) | {r['cavs']} | "
                         f"{r['wall']:.2f} | {r['wall'] / r['cavs']:.4f} | "
                         f"{ratio(m, r['cavs'], r['wall'], True)} | {_verdict(r, PLANTED)} | "
                         f"{_verdict(r, RANDOM)} | {r['peak_mb']:.0f} |")
        at, how = models[m]
        if at is None:
            continue
        seconds, measured = at(full_cavs)
        if not measured:
            lines.append(f"| {m}, **extrapolated** to the full study | {full_cavs} | "
                         f"**{seconds:.1f} (extrapolated)** | {seconds / full_cavs:.4f} | "
                         f"{ratio(m, full_cavs, seconds, False)} | not run | not run | |")
            done = sorted((r for r in rows if r["method"] == m and "wall" in r),
                          key=lambda r: r["cavs"])
            notes.append(f"- {m} extrapolated by {how}; seconds per CAV as measured: " +
                         ", ".join(f"{r['cavs']} CAVs {r['wall'] / r['cavs']:.3f} s"
                                   for r in done) +
                         (" (equal per-CAV times at two sizes: a cost linear in the number "
                          "of CAVs)" if len(done) > 1 else ""))
    return "\n".join(lines + ([""] + notes if notes else []))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--one", metavar="METHOD")
    p.add_argument("--config", help="internal: the study as JSON")
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes (4 channels of 12 × 12, 3 concepts, 6 runs, 30 examples)")
    p.add_argument("--concepts", type=int, default=10)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--examples", type=int, default=200, help="examples per set and inputs")
    p.add_argument("--size", type=int, default=32, help="image side")
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--pool", type=int, default=1000, help="random images to draw sets from")
    p.add_argument("--captum-runs", type=int, nargs="*", default=[2, 5],
                   help="captum's runs, one measurement each (none: skip captum)")
    p.add_argument("--reduced", nargs="*", default=[], metavar="METHOD=RUNS",
                   help="run these of our methods with fewer runs, extrapolated to the full "
                        "study like captum (e.g. ours_sgd=10)")
    p.add_argument("--methods", nargs="+", default=OURS, choices=OURS)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.one:
        one(args.one, json.loads(args.config), args.threads)
        return
    if args.quick:
        args.concepts, args.runs, args.examples, args.size, args.channels, args.pool = \
            3, 6, 30, 12, 4, 150
        args.captum_runs = [3, 6] if args.captum_runs == [2, 5] else args.captum_runs
    if not 1 <= args.concepts <= len(CONCEPTS):
        p.error(f"--concepts must be 1 … {len(CONCEPTS)}")
    reduced = {}
    for item in args.reduced:
        method, _, runs = item.partition("=")
        if method not in OURS or not runs.isdigit() or int(runs) < 2:
            p.error(f"--reduced takes METHOD=RUNS with METHOD one of {', '.join(OURS)} and "
                    f"RUNS ≥ 2, got {item!r}")
        reduced[method] = min(int(runs), args.runs)
    cfg = {"concepts": args.concepts, "runs": args.runs, "examples": args.examples,
           "size": args.size, "channels": args.channels, "pool": args.pool, "seed": args.seed}
    d = args.channels * args.size * args.size
    full_cavs = (args.concepts + 1) * args.runs
    print(f"TCAV at {LAYER!r} ({args.channels} × {args.size} × {args.size} = {d:,} dims), "
          f"{args.concepts} concepts × {args.runs} runs + {args.runs} null CAVs = {full_cavs} "
          f"CAVs, {args.examples} examples per set, {args.threads} threads, CPU",
          file=sys.stderr, flush=True)
    rows = [spawn(m, dict(cfg, runs=reduced.get(m, args.runs)), args.threads)
            for m in args.methods]
    for runs in sorted(set(args.captum_runs)):
        rows.append(spawn("captum", dict(cfg, runs=min(runs, args.runs)), args.threads))
    print(f"\nTCAV at {LAYER!r}, {d:,} dimensions; {args.concepts} concepts, "
          f"{args.examples} examples per set and {args.examples} inputs, target class "
          f"{TARGET}; full study {args.runs} runs = {full_cavs} CAVs; verdict: Holm-adjusted "
          f"t-test of the runs' scores against the random-vs-random scores, alpha {ALPHA} "
          f"(score, adjusted p); {args.threads} threads, CPU\n")
    print(table(rows, full_cavs))


if __name__ == "__main__":
    main()
