"""Every method LRP is compared with, on the same 8 test digits of the digits CNN.

Two LRP composites (EpsilonPlusFlat, EpsilonGammaBox(0, 1): pixels lie in [0, 1]) beside the
gradient family (gradient, gradient × input, integrated gradients, SmoothGrad), the backward
walks (guided backprop, DeconvNet, excitation backprop and its contrastive form), the CAM
family (Grad-CAM, guided Grad-CAM), the perturbation methods (occlusion, RISE, LIME), the
reference-based ones (DeepLIFT's Rescale rule from the black image, with the max-pool rule
that conserves; competitive gradient × input) and the perturbation masks (meaningful
perturbation: the deleted region 1 − m; extremal perturbation: the kept masks of 10 and 20 %
of the pixels, summed), all called the same way, ``lrp.<method>(graph, x, target)``, with
the target fixed to the class the CNN predicts.

One row per method, one column per digit. Maps of one family share one symmetric colour
scale (one colour bar per family), so a family's rows can be compared with each other;
families measure different things (relevance, slopes, probabilities, score drops) and are
not put on one scale. Excitation backprop returns winning probabilities (ΣP ≤ 1), about 50×
smaller than guided backprop's or DeconvNet's gradient-like signal, so its two rows get a
scale of their own within the backward walks. Where a map's sum means something, the row
label states it: ΣR / f for LRP and gradient × input, ΣR / (f(x) − f(0)) for integrated
gradients and DeepLIFT (completeness), and the script prints one line per method with its time.

Run: ``python examples/methods_digits.py`` (figure in examples/out/methods_digits.png).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from digits_cnn import train_digits_cnn  # noqa: E402

import lrp  # noqa: E402
import neon  # noqa: E402
from lrp.plot import heatmap, symmetric_limit, to_image  # noqa: E402

#: Scale groups: (family shown in the titles, colour-bar label). Every row of a group is
#: drawn on one symmetric scale [-m, m], m = max |R| over the group's maps.
SCALES = {
    "LRP": ("LRP", "LRP relevance"),
    "gradient": ("gradient family", "gradient family"),
    "walks": ("backward walks", "backward walks:\nguided BP, DeconvNet"),
    "excitation": ("backward walks", "backward walks:\nwinning probability P"),
    "CAM": ("CAM family", "CAM family"),
    "perturbation": ("perturbation", "perturbation:\nscore (drop)"),
    "reference": ("reference-based", "DeepLIFT,\ncompetitive G × I"),
    "masks": ("perturbation masks", "masks: deleted\n(1 − m) / kept (Σ m)"),
}

OCCLUSION_WINDOW = 2        # 2 × 2 patches, non-overlapping (stride = window): 16 patches
LIME_PATCH = 2              # LIME's features: the same 2 × 2 patches


def methods(target):
    """(name, scale group, call graph, x -> result) for every method, in figure order.

    Each call returns an :class:`lrp.calls.Attribution` (``return_all=True``) where the
    method offers one, else the map.
    """
    t = target
    return [
        ("LRP EpsilonPlusFlat", "LRP",
         lambda g, x: lrp.explain(g, x, t, lrp.EpsilonPlusFlat(), return_all=True)),
        ("LRP EpsilonGammaBox(0, 1)", "LRP",
         lambda g, x: lrp.explain(g, x, t, lrp.EpsilonGammaBox(0.0, 1.0), return_all=True)),
        ("gradient", "gradient", lambda g, x: lrp.gradient(g, x, t)),
        ("gradient × input", "gradient", lambda g, x: lrp.gradient_x_input(g, x, t)),
        ("integrated gradients", "gradient",
         lambda g, x: lrp.integrated_gradients(g, x, t, baseline=0.0, steps=32,
                                               return_all=True)),
        ("SmoothGrad (gradient, 16)", "gradient",
         lambda g, x: lrp.smoothgrad(g, x, t, samples=16, sigma=0.15, seed=0)),
        ("guided backprop", "walks", lambda g, x: lrp.guided_backprop(g, x, t)),
        ("DeconvNet", "walks", lambda g, x: lrp.deconvnet(g, x, t)),
        ("excitation backprop", "excitation", lambda g, x: lrp.excitation_backprop(g, x, t)),
        ("contrastive excitation BP", "excitation",
         lambda g, x: lrp.excitation_backprop(g, x, t, contrastive=True)),
        ("Grad-CAM", "CAM", lambda g, x: lrp.grad_cam(g, x, t, return_all=True)),
        ("guided Grad-CAM", "CAM", lambda g, x: lrp.guided_grad_cam(g, x, t)),
        (f"occlusion {OCCLUSION_WINDOW}×{OCCLUSION_WINDOW}", "perturbation",
         lambda g, x: lrp.occlusion(g, x, t, window=OCCLUSION_WINDOW, baseline=0.0)),
        ("RISE (500 masks)", "perturbation",
         lambda g, x: lrp.rise(g, x, t, masks=500, cells=4, p=0.5, seed=0)),
        (f"LIME ({LIME_PATCH}×{LIME_PATCH} patches, 300)", "perturbation",
         lambda g, x: lrp.lime(g, x, t, samples=300, features=LIME_PATCH, baseline=0.0,
                               seed=0, return_all=True)),
        ("DeepLIFT (Rescale, from 0)", "reference",
         lambda g, x: lrp.deeplift(g, x, t, baseline=0.0, maxpool="conserving",
                                   return_all=True)),
        ("competitive gradient × input", "reference",
         lambda g, x: lrp.competitive_gradient_x_input(g, x, t)),
        ("meaningful perturbation", "masks",
         lambda g, x: lrp.meaningful_perturbation(g, x, t, perturbation="constant", area=1.0,
                                                  mask_size=8, steps=200, seed=0)),
        ("extremal perturbation (10, 20 %)", "masks",
         lambda g, x: lrp.extremal_perturbation(g, x, t, areas=(0.1, 0.2),
                                                perturbation="constant", steps=200,
                                                seed=0)),
    ]


def _median(values) -> float:
    return float(np.median(np.asarray(values)))


def describe(name, maps, info, f, f0):
    """(short note for the row label or None, line for the printout) on what ``maps`` sums to
    or ranges over; f the explained logit and f0 = f(0) per sample (numpy arrays)."""
    total = maps.reshape(len(maps), -1).sum(1)
    lo, hi = float(maps.min()), float(maps.max())
    if name.startswith("LRP") or name == "gradient × input":
        share = _median(total / f)
        return f"ΣR/f ≈ {share:.2f}", f"ΣR / f: median {share:.3f}"
    if name == "integrated gradients":
        share = _median(total / (f - f0))
        gap = float(np.abs(info["gap"]).max())
        return (f"ΣR/(f−f(0)) ≈ {share:.2f}",
                f"ΣR / (f(x) − f(0)): median {share:.3f}, max |gap| {gap:.2g}")
    if name.startswith("DeepLIFT"):
        share = _median(total / (f - f0))
        return f"ΣR/(f−f(0)) ≈ {share:.2f}", f"ΣR / (f(x) − f(0)): median {share:.3f}"
    if name.startswith("excitation") or name.startswith("contrastive"):
        return f"ΣP ≈ {_median(total):.2f}", f"ΣP: median {_median(total):.3f} (≤ 1)"
    if name.startswith("occlusion"):
        per_patch = total / OCCLUSION_WINDOW ** 2   # each pixel carries its patch's drop
        share = _median(per_patch / (f - f0))
        return None, (f"Σ patch drops / (f(x) − f(0)): median {share:.2f} (1 if the patches "
                      "added up)")
    if name.startswith("LIME"):
        weights = total / LIME_PATCH ** 2
        share = _median(weights / (f - f0))
        r2 = _median(info["r2"])
        return (f"R² ≈ {r2:.2f}",
                f"Σ patch weights / (f(x) − f(0)): median {share:.2f}, fit R²: median {r2:.2f}")
    if name.startswith("RISE"):
        return None, f"values {lo:.3g} … {hi:.3g} (E[f | pixel kept]; f median {_median(f):.3g})"
    return None, f"values {lo:.3g} … {hi:.3g}"


def run(graph, x, target):
    """Every method on ``x``: a list of dicts (name, scale, family, maps (numpy, like x),
    seconds, note, line), in figure order; refuses non-finite or all-zero maps."""
    with torch.no_grad():
        logits = graph(x)
        f = logits.gather(1, target[:, None])[:, 0].numpy()
        f0 = graph(torch.zeros_like(x)).gather(1, target[:, None])[:, 0].numpy()
    rows = []
    for name, scale, call in methods(target):
        start = time.perf_counter()
        result = call(graph, x)
        seconds = time.perf_counter() - start
        info = getattr(result, "info", {})
        maps = getattr(result, "attribution", getattr(result, "relevance", result))
        maps = maps.detach().cpu().numpy()
        if maps.shape != tuple(x.shape):
            raise ValueError(f"{name} returned shape {maps.shape}, expected {tuple(x.shape)}")
        if not np.isfinite(maps).all():
            raise ValueError(f"{name} returned non-finite values")
        if not np.abs(maps).max() > 0:
            raise ValueError(f"{name} returned all zeros")
        note, line = describe(name, maps, {k: np.asarray(v) for k, v in info.items()}, f, f0)
        rows.append({"name": name, "scale": scale, "family": SCALES[scale][0], "maps": maps,
                     "seconds": seconds, "note": note, "line": line})
    return rows, f


def limits(rows) -> dict:
    """m of every scale group: max |R| over all maps of its rows."""
    return {scale: symmetric_limit([r["maps"] for r in rows if r["scale"] == scale])
            for scale in dict.fromkeys(r["scale"] for r in rows)}


def plot(x, rows, titles, path=None, size=0.95):
    """One row per method (inputs on top), one column per digit, one colour scale and bar per
    scale group. Returns (figure, {method name: its Axes}, {scale group: m}).

    The panels are placed by hand (constrained layout takes seconds on 128 panels).
    """
    n, scales = len(x), limits(rows)
    left, right, top, bottom, gap, bar = 2.0, 1.3, 0.95, 0.1, 0.08, 0.14   # inches
    width = left + n * size + (n - 1) * gap + right
    height = top + (len(rows) + 1) * (size + gap) + bottom
    fig = plt.figure(figsize=(width, height))

    def box(r, i):  # figure fractions of the panel in row r (0: inputs), column i
        x0 = left + i * (size + gap)
        y0 = height - top - (r + 1) * size - r * gap - (0.1 if r else 0.0)
        return [x0 / width, y0 / height, size / width, size / height]

    for i in range(n):
        ax = fig.add_axes(box(0, i))
        ax.imshow(to_image(x[i]), cmap="gray_r", interpolation="nearest", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(titles[i], fontsize=7)
        if i == 0:
            ax.set_ylabel("input", fontsize=7, rotation=0, ha="right", va="center")
    by_method, images, spans = {}, {}, {}
    for r, row in enumerate(rows, start=1):
        m = scales[row["scale"]]
        axes = [fig.add_axes(box(r, i)) for i in range(n)]
        for i, ax in enumerate(axes):
            heatmap(row["maps"][i], ax=ax, vmax=m, colorbar=False)
        label = f"{row['name']}\n[{row['family']}]"
        if row["note"]:
            label += f"\n{row['note']}"
        axes[0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
        by_method[row["name"]] = axes
        images.setdefault(row["scale"], axes[-1].images[0])
        spans.setdefault(row["scale"], []).append(box(r, n - 1))
    for scale, m in scales.items():
        first, last = spans[scale][0], spans[scale][-1]
        x0 = first[0] + first[2] + 0.12 / width
        y0, y1 = last[1], first[1] + first[3]
        cax = fig.add_axes([x0, y0 + 0.1 * (y1 - y0), bar / width, 0.8 * (y1 - y0)])
        colorbar = fig.colorbar(images[scale], cax=cax)
        colorbar.ax.tick_params(labelsize=6)
        colorbar.set_label(f"{SCALES[scale][1]} (±{m:.2g})", fontsize=6)
    fig.suptitle("Explanations of the digits CNN's predicted logit f, one row per method; "
                 "one shared\nsymmetric colour scale per family (red +, blue −, white 0)",
                 fontsize=9, y=1 - 0.15 / height)
    if path is not None:
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return fig, by_method, scales


def main(out_dir: Path = HERE / "out") -> dict:
    """Train the CNN, explain 8 test digits with every method, print and save the figure.

    Returns a dict with the figure ``path``, the ``rows`` (see :func:`run`), the ``axes`` per
    method, the colour limit per scale group (``limits``), the ``graph``, ``x``, ``target``
    and the explained logits ``f``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model, X_test, y_test = train_digits_cnn(seed=0)
    graph = neon.neuralize(model, X_test[:1])
    x, y = X_test[:8], y_test[:8]
    with torch.no_grad():
        target = graph(x).argmax(1)
    rows, f = run(graph, x, target)
    print(f"{'method':32s} {'family':16s} {'time':>8s}  what the maps sum to / range over")
    for row in rows:
        print(f"{row['name']:32s} {row['family']:16s} {1000 * row['seconds']:6.1f} ms  "
              f"{row['line']}")
    titles = [f"label {int(a)}, pred {int(b)}" for a, b in zip(y, target)]
    path = out_dir / "methods_digits.png"
    fig, axes, scales = plot(x, rows, titles, path)
    print("colour limits per family: " + ", ".join(f"{k} ±{m:.3g}" for k, m in scales.items()))
    print(f"saved {path}")
    return {"path": path, "rows": rows, "axes": axes, "limits": scales, "graph": graph,
            "x": x, "target": target, "f": f}


if __name__ == "__main__":
    main()
