"""Which human concepts does the digits CNN use, and what do its conv channels look for?

TCAV (Kim et al., ICML 2018) with ``concepts.tcav`` on the small CNN of ``digits_cnn.py``,
at both conv blocks (``features.1``: ReLU after conv 1, 8 × 8 × 8; ``features.4``: ReLU after
conv 2 with its BatchNorm folded, 16 × 8 × 8), for the logits of classes 0, 7 and 1. The
concepts are example sets taken from the training digits:

* "loops" — digits 0, 6, 8 and 9;
* "ink at the top" — the digits with the most ink in their two top rows (the bar of a 7,
  the cap of a 5 or a 3);
* "little ink" — the digits with the least ink overall (thin strokes, mostly 1s);
* "stripes" — digits of any class overlaid with horizontal stripes on every other row (a
  synthetic pattern the CNN never saw: separable at every node, but does it matter?);
* "random digits (control)" — a set drawn like the random sets.

Random sets come from the remaining training digits (``randoms=20, random_pool=...``); per
class, 20 runs with the reference learner (scikit-learn's SGD hinge, α = 0.01), the t-test
of Kim et al. (``test="runs"``) and Holm's correction over the call's concepts × nodes.
That test is anti-conservative for concept sets that are themselves random (see
``concepts.tcav``): the control concept shows how much to trust a verdict, and the number
of CAVs near chance per hypothesis (in the printed tables) says whether the node separates a
concept at all; a verdict on near-chance CAVs is noise, however small its p-value.

Then what the conv-2 channels respond to: activation maximization of
``concepts.channel("features.4", c)`` for eight channels, in the FFT parameterization
squashed into the pixel box [0, 1], under random padding and jitter, beside the test digit
that excites each channel most.

Run: ``python examples/concepts_digits.py`` (figures in examples/out/).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from digits_cnn import accuracy, load_digits_tensors, train_digits_cnn  # noqa: E402

import concepts  # noqa: E402
import concepts.plot  # noqa: E402
import neon  # noqa: E402

OUT = HERE / "out"
CLASSES = (0, 7, 1)
NODES = ["features.1", "features.4"]
SET_SIZE = 50           # examples per concept and per random set
RUNS = 20               # CAVs per concept (each against its own random set)
CHANNELS = range(8)     # conv-2 channels to visualize
CONTROL = "random digits (control)"


def concept_sets(X, y, seed=0):
    """(concept name → examples, random pool) from the training digits X (N, 1, 8, 8)."""
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(X), generator=gen)
    X, y = X[perm], y[perm]
    stripes = torch.zeros(8, 8)
    stripes[::2] = 1.0
    top = X[:, 0, :2].sum((1, 2))
    ink = X.sum((1, 2, 3))
    sets = {
        "loops": X[torch.isin(y, torch.tensor([0, 6, 8, 9]))][:SET_SIZE],
        "ink at the top": X[top.argsort(descending=True)[:SET_SIZE]],
        "little ink": X[ink.argsort()[:SET_SIZE]],
        "stripes": (0.5 * X[-SET_SIZE:] + 0.5 * stripes).clamp(max=1.0),
        CONTROL: X[:SET_SIZE],
    }
    labels = {"ink at the top": y[top.argsort(descending=True)[:SET_SIZE]],
              "little ink": y[ink.argsort()[:SET_SIZE]]}
    pool = X[SET_SIZE:-SET_SIZE]          # the random sets never hold the control's digits
    return sets, pool, labels


def run_tcav(graph, X_test, y_test, sets, pool, seed=0):
    """class → TCAVResult at both nodes, inputs: the test digits of that class."""
    return {k: concepts.tcav(graph, X_test[y_test == k], sets, NODES, target=k, randoms=RUNS,
                             random_pool=pool, random_size=SET_SIZE, runs=RUNS, seed=seed)
            for k in CLASSES}


def channel_prototypes(graph, seed=0):
    """One maximization per channel of features.4: FFT parameterization in the box [0, 1],
    random 1-pixel padding and jitter every step."""
    return [concepts.maximize(graph, concepts.channel("features.4", c), shape=(1, 8, 8),
                              box=(0, 1), parameterization="fft",
                              transforms=[concepts.Pad(1), concepts.Jitter(1)], steps=256,
                              lr=0.2, seed=seed)
            for c in CHANNELS]


def plot_tcav(results, path):
    fig, axes = plt.subplots(len(results), 1, figsize=(9.5, 3.4 * len(results)),
                             layout="constrained")
    for ax, (k, result) in zip(axes, results.items()):
        concepts.plot.tcav(result, ax=ax, title=f"class {k}: TCAV of its logit, "
                           f"{result.settings['runs']} runs, sgd; * Holm-adjusted p ≤ "
                           f"{result.settings['alpha']}")
    fig.suptitle("Digits CNN: concept sensitivity of three class logits at both conv blocks")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_channels(prototypes, X_test, y_test, acts, path):
    images, titles = [], []
    for c, r in zip(CHANNELS, prototypes):
        images.append(r.inputs[0])
        titles.append(f"channel {c}\nJ = {float(r.objective[0]):.2f}")
    for c in CHANNELS:
        i = int(acts[:, c].argmax())
        images.append(X_test[i])
        titles.append(f"top test digit ({int(y_test[i])})\nJ = {float(acts[i, c]):.2f}")
    fig = concepts.plot.image_grid(images, titles=titles, ncols=len(CHANNELS), low=0, high=1,
                                   size=1.4, suptitle="features.4 channels: maximized input "
                                   "(FFT, padding + jitter, box [0, 1]) above the test digit "
                                   "that excites each most")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(out_dir=OUT):
    """Train the CNN, run TCAV for classes 0, 7 and 1, visualize eight conv-2 channels.

    Saves ``concepts_digits_tcav.png`` and ``concepts_digits_channels.png`` in ``out_dir``;
    returns the graph, the TCAV results by class, the prototypes, the test digits and their
    mean channel activations, and the paths.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)            # tiny tensors: one thread is fastest
    try:
        start = time.perf_counter()
        model, X_test, y_test = train_digits_cnn(seed=0)
        X_train, _, y_train, _ = load_digits_tensors()
        graph = neon.neuralize(model, X_test[:1])
        print(f"trained the digits CNN in {time.perf_counter() - start:.1f} s, test accuracy "
              f"{accuracy(model, X_test, y_test):.1%}")
        sets, pool, labels = concept_sets(X_train, y_train)
        for name, ys in labels.items():
            common = ", ".join(f"{d}: {n}" for d, n in Counter(ys.tolist()).most_common(4))
            print(f"concept {name!r}: {SET_SIZE} training digits, mostly {common}")
        start = time.perf_counter()
        results = run_tcav(graph, X_test, y_test, sets, pool)
        print(f"TCAV, {len(CLASSES)} classes × {len(NODES)} nodes × {len(sets)} concepts, "
              f"{RUNS} runs each, in {time.perf_counter() - start:.1f} s")
        for k, result in results.items():
            print(f"\n--- class {k}")
            print(result.summary())
            for r in result.rows:
                if r["concept"] == CONTROL and r["significant"]:
                    print(f"note: the control {CONTROL!r} came out significant at {r['node']}"
                          f", though {r['near_chance_cavs']}/{r['runs']} of its CAVs are near "
                          "chance (the node does not tell it from random digits): a verdict "
                          "on near-chance CAVs is noise that the runs t-test cannot see "
                          "(it treats runs that share one concept set as independent)")
        tcav_path = out_dir / "concepts_digits_tcav.png"
        plot_tcav(results, tcav_path)
        print(f"\nsaved {tcav_path}")

        start = time.perf_counter()
        prototypes = channel_prototypes(graph)
        acts = concepts.activations(graph, X_test, "features.4").mean((2, 3))
        print(f"maximized {len(prototypes)} channels in {time.perf_counter() - start:.1f} s")
        for c, r in zip(CHANNELS, prototypes):
            print(f"channel {c}: J(prototype) = {float(r.objective[0]):.3f}, best test "
                  f"digit {float(acts[:, c].max()):.3f}")
        channels_path = out_dir / "concepts_digits_channels.png"
        plot_channels(prototypes, X_test, y_test, acts, channels_path)
        print(f"saved {channels_path}")
    finally:
        torch.set_num_threads(threads)
    return {"graph": graph, "tcav": results, "sets": sets, "prototypes": prototypes,
            "X_test": X_test, "y_test": y_test, "channel_activations": acts,
            "tcav_path": tcav_path, "channels_path": channels_path}


if __name__ == "__main__":
    main(*sys.argv[1:2])
