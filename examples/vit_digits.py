"""A vision transformer on digits: AttnLRP and CP-LRP beside the gradient family.

A small torchvision ``VisionTransformer`` (8 × 8 digits cut into 2 × 2 patches: 16 tokens and
a class token, 2 layers of 4 heads, width 32; its patch embedding takes the one grey channel)
is trained in seconds, imported with :func:`neon.from_torch` (the attention decomposed into
q/k/v projections, the ``scores`` product, the ``attention`` softmax and the ``context``
product) and explained for its predicted class with

* ``lrp.AttnLRP()`` (Achtibat et al. 2024): the softmax's deep-Taylor rule, the uniform rule
  on the q kᵀ and A v products, the identity rule through LayerNorm's scale and GELU;
* ``lrp.CPLRP()`` (Ali et al. 2022): the attention weights and LayerNorm scales held constant,
  so no relevance flows into queries and keys;
* gradient × input and integrated gradients (32 steps from 0).

The heatmaps of 8 test digits are saved side by side, each caption stating ΣR / f. Then
pixel flipping (:func:`lrp.metrics.pixel_flipping`, 16 steps of 4 pixels, MoRF and LeRF) on
100 test digits measures how fast the explained logit falls when the pixels each method
calls relevant go first, under the two baselines of examples/removal_digits.py (removed
pixels set to 0, or to the training mean), with a random order as the reference. Which
method wins depends on the baseline, as on the CNN; the table is printed as measured.

Measured (``python examples/vit_digits.py``, 2 CPU cores, seed 0: 20 epochs in 6 s, test
accuracy 98.1 %; also in benchmarks/RESULTS.md, "Transformers"), means over 100 test digits
of the MoRF AUC (lower is better) and the gap LeRF − MoRF (higher is better):

====================  ==========  ======  ===================  ===================
method                0: MoRF     0: gap  training mean: MoRF  training mean: gap
====================  ==========  ======  ===================  ===================
integrated gradients  −0.230      1.132   0.440                0.205
AttnLRP               −0.134      0.998   0.468                0.214
CP-LRP                −0.089      0.890   0.487                0.166
gradient × input       0.157      0.336   0.504                0.108
gradient               0.178      0.325   0.655                −0.197
random                 0.414      −0.024  0.563                −0.030
====================  ==========  ======  ===================  ===================

AttnLRP is ahead of gradient × input and of CP-LRP in MoRF AUC under both baselines (seeds
1 and 2 as well; under the mean baseline by 0.02–0.04 only), and integrated gradients is
ahead of AttnLRP in 5 of those 6 cases (once by 0.001). The LRP maps do not sum to f: over
the 100 digits ΣR / Σf is 0.36 (AttnLRP) and 0.62 (CP-LRP). The position embedding, a bias
added to every token, keeps 35 % of f under both; AttnLRP's softmax rule absorbs another
28 % (the bias of its Taylor expansion).

The class token: torchvision's ``VisionTransformer`` concatenates
``class_token.expand(n, -1, -1)`` to the patch tokens; the imported graph holds the learned
token as a Constant node, which absorbs the relevance that reaches it.

Run: ``python examples/vit_digits.py`` (figures in examples/out/vit_digits.png and
examples/out/vit_digits_removal.png).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import torch  # noqa: E402
from digits_cnn import accuracy, fit, load_digits_tensors, save_figure  # noqa: E402
from torch import nn  # noqa: E402

import lrp  # noqa: E402
import neon  # noqa: E402
from lrp.metrics import pixel_flipping, random_relevance  # noqa: E402

OUT_DIR = HERE / "out"
PATCH, WIDTH, LAYERS, HEADS, MLP = 2, 32, 2, 4, 64
EPOCHS = 20
STEPS = 16                      # 64 pixels, 4 per step
IG_STEPS = 32
#: The methods of the faithfulness table (integrated gradients and random are extra rows).
COMPARED = ("AttnLRP", "CP-LRP", "gradient × input", "gradient")


def build_vit(seed: int = 0) -> nn.Module:
    """An untrained torchvision ``VisionTransformer`` for 1 × 8 × 8 digits.

    2 × 2 patches (16 tokens + the class token), ``LAYERS`` layers of ``HEADS`` heads, width
    ``WIDTH``, MLP width ``MLP``; the patch embedding ``conv_proj`` takes one channel (the
    grey digit) instead of three. torchvision initializes ``heads.head`` to zero; it is
    drawn from N(0, 0.02²) here.
    """
    from torchvision.models import VisionTransformer

    torch.manual_seed(seed)
    model = VisionTransformer(image_size=8, patch_size=PATCH, num_layers=LAYERS,
                              num_heads=HEADS, hidden_dim=WIDTH, mlp_dim=MLP, num_classes=10)
    model.conv_proj = nn.Conv2d(1, WIDTH, PATCH, PATCH)
    nn.init.normal_(model.heads.head.weight, std=0.02)
    return model


def fit_vit(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, epochs: int, seed: int,
            batch_size: int = 64, lr: float = 3e-3) -> nn.Module:
    """Train with AdamW (weight decay 1e-4) and a one-cycle learning rate peaking at ``lr``
    over seeded minibatches (:func:`digits_cnn.fit`'s loop). Returns the model in eval mode."""
    return fit(model, X, y, epochs=epochs, seed=seed, batch_size=batch_size, lr=lr,
               optimizer=lambda params, lr: torch.optim.AdamW(params, lr=lr, weight_decay=1e-4),
               schedule=lambda opt, steps: torch.optim.lr_scheduler.OneCycleLR(
                   opt, max_lr=lr, total_steps=steps))


def train_digits_vit(seed: int = 0, epochs: int = EPOCHS, batch_size: int = 64):
    """Train :func:`build_vit`'s transformer on the digits, deterministically.

    Parameters
    ----------
    seed : int
        Seeds the initialization and the minibatch order (the split is fixed).
    epochs : int
        Passes over the training set (20: about 97 % test accuracy in about 6 s).
    batch_size : int

    Returns
    -------
    model : torchvision.models.VisionTransformer
        In eval mode, parameters frozen.
    X_test : torch.Tensor
        float32 test images, shape (N, 1, 8, 8), values in [0, 1].
    y_test : torch.Tensor
        int64 test labels.
    """
    X_train, X_test, y_train, y_test = load_digits_tensors()
    model = fit_vit(build_vit(seed), X_train, y_train, epochs=epochs, seed=seed,
                    batch_size=batch_size)
    for p in model.parameters():
        p.requires_grad_(False)
    return model, X_test, y_test


def methods() -> dict:
    """Name → ``method(graph, x, target)`` for every map of the figure and the table."""
    return {
        "AttnLRP": lambda g, x, t: lrp.explain(g, x, t, lrp.AttnLRP()),
        "CP-LRP": lambda g, x, t: lrp.explain(g, x, t, lrp.CPLRP()),
        "gradient × input": lrp.gradient_x_input,
        "integrated gradients": lambda g, x, t: lrp.integrated_gradients(
            g, x, t, baseline=0.0, steps=IG_STEPS),
        "gradient": lrp.gradient,
        "random": lambda g, x, t: random_relevance(x, seed=0),
    }


def explain(graph, model, x, target) -> tuple[dict, dict, np.ndarray]:
    """Every method's maps of ``x`` (tensors), their times, and the explained logit f.

    Refuses non-finite maps, and LRP explanations whose output (the start relevance Σ) is
    not the torch module's own logit of the target class.
    """
    with torch.no_grad():
        f = model(x).gather(1, target[:, None])[:, 0]
    maps, seconds = {}, {}
    for name, method in methods().items():
        start = time.perf_counter()
        maps[name] = method(graph, x, target)
        seconds[name] = time.perf_counter() - start
        if not torch.isfinite(maps[name]).all():
            raise ValueError(f"{name} returned non-finite relevance")
    for composite in (lrp.AttnLRP(), lrp.CPLRP()):
        out = lrp.explain(graph, x, target, composite, return_all=True).output
        error = (out - f).abs().max().item()
        if error > 1e-5 * f.abs().max().item():
            raise AssertionError(f"{type(composite).__name__} explains {error:.3g} away "
                                 "from the module's logit")
    return maps, seconds, f.numpy()


def shares(maps: dict, f: np.ndarray) -> dict:
    """Median ΣR / f per method (where a sum means something)."""
    return {name: float(np.median(maps[name].flatten(1).sum(1).numpy() / f))
            for name in ("AttnLRP", "CP-LRP", "gradient × input")}


def faithfulness(graph, x, target, X_train, steps: int = STEPS) -> dict:
    """Pixel flipping (both orders) of every method under both baselines.

    Returns baseline name → method → :class:`lrp.metrics.RemovalResult`.
    """
    maps = {name: method(graph, x, target) for name, method in methods().items()}
    baselines = {"zero": 0.0, "training mean": X_train.mean(0)}
    return {b: {name: pixel_flipping(graph, x, r, target, order="both", baseline=value,
                                     steps=steps)
                for name, r in maps.items()}
            for b, value in baselines.items()}


def table(results: dict) -> list[dict]:
    """One row per method: MoRF AUC, LeRF AUC and their gap (means over the digits) per
    baseline, sorted by the zero baseline's MoRF AUC (best first)."""
    rows = []
    for name in results["zero"]:
        row = {"method": name}
        for b, by_method in results.items():
            r = by_method[name]
            row[b] = {"morf": float(np.nanmean(r.auc["morf"].values)),
                      "lerf": float(np.nanmean(r.auc["lerf"].values)),
                      "gap": float(np.nanmean(r.gap.values))}
        rows.append(row)
    return sorted(rows, key=lambda row: row["zero"]["morf"])


def format_table(rows: list[dict]) -> str:
    """The faithfulness table as markdown."""
    baselines = [k for k in rows[0] if k != "method"]
    head = "| method | " + " | ".join(f"{b}: MoRF ↓ | {b}: LeRF ↑ | {b}: gap ↑"
                                     for b in baselines) + " |"
    lines = [head, "|---|" + "---|" * 3 * len(baselines)]
    for row in rows:
        cells = " | ".join(f"{row[b]['morf']:.3f} | {row[b]['lerf']:.3f} | {row[b]['gap']:.3f}"
                           for b in baselines)
        lines.append(f"| {row['method']} | {cells} |")
    return "\n".join(lines)


def plot(x, maps: dict, titles, logits, path=None):
    """Each digit beside its maps per method on one symmetric scale; captions state f and
    ΣR with its share of f. Saves to ``path`` if given; returns the figure."""
    import matplotlib.pyplot as plt

    from lrp.plot import explanation_grid

    fig = explanation_grid(list(x), {k: list(v) for k, v in maps.items()}, titles,
                           outputs=logits, size=1.6,
                           suptitle="A vision transformer on digits: relevance of the "
                           "predicted logit f\n% = ΣR / f (LRP: biases, position embeddings "
                           "and stabilizers take or add the rest)")
    if path is not None:
        save_figure(fig, path)
    plt.close(fig)
    return fig


def removal_figure(results: dict, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from lrp.plot import removal_curves

    fig, axes = plt.subplots(1, len(results), figsize=(16, 4.2), sharey=True,
                             layout="constrained")
    for ax, (baseline, by_method) in zip(axes, results.items()):
        removal_curves(by_method, ax=ax, legend="outside", title="ViT: removed pixels set to 0"
                       if baseline == "zero" else f"ViT: removed pixels set to the {baseline}")
    return save_figure(fig, path)


def main(out_dir: Path | str = OUT_DIR, *, epochs: int = EPOCHS, n_faithfulness: int = 100,
         n_show: int = 8, seed: int = 0) -> dict:
    """Train, import, explain ``n_show`` test digits (figure), measure faithfulness on
    ``n_faithfulness`` test digits (printed table, second figure).

    Returns a dict: ``accuracy``, ``train_seconds``, ``graph``, ``model``, ``x``,
    ``target``, ``f``, ``maps`` (method → tensor), ``seconds``, ``shares`` (median ΣR / f),
    ``output_error`` (max |graph(x) − model(x)|), ``results`` (baseline → method →
    RemovalResult), ``rows`` (see :func:`table`), ``path`` and ``removal_path``.
    """
    torch.set_flush_denormal(True)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model, X_test, y_test = train_digits_vit(seed=seed, epochs=epochs)
    train_seconds = time.perf_counter() - start
    acc = accuracy(model, X_test, y_test)
    print(f"trained a {LAYERS}-layer, {HEADS}-head ViT (width {WIDTH}, 2×2 patches) in "
          f"{train_seconds:.1f} s ({epochs} epochs); test accuracy {acc:.1%} on "
          f"{len(y_test)} digits")
    graph = neon.from_torch(model, X_test[:1])
    with torch.no_grad():
        output_error = (graph(X_test) - model(X_test)).abs().max().item()
        target = graph(X_test).argmax(1)
    print(f"imported: {len(graph.nodes)} nodes; max |graph(x) − model(x)| {output_error:.2e}")

    x, t = X_test[:n_show], target[:n_show]
    maps, seconds, f = explain(graph, model, x, t)
    share = shares(maps, f)
    for name in maps:
        note = f"ΣR / f median {share[name]:.3f}" if name in share else ""
        print(f"{name:22s} {1000 * seconds[name]:7.1f} ms  {note}")
    titles = [f"label {int(a)}, pred {int(b)}" for a, b in zip(y_test[:n_show], t)]
    shown = {k: maps[k] for k in ("AttnLRP", "CP-LRP", "gradient × input",
                                  "integrated gradients")}
    path = out_dir / "vit_digits.png"
    plot(x, shown, titles, f, path)

    X_train = load_digits_tensors()[0]
    xf, tf = X_test[:n_faithfulness], target[:n_faithfulness]
    start = time.perf_counter()
    results = faithfulness(graph, xf, tf, X_train)
    rows = table(results)
    print(f"\npixel flipping on {len(xf)} test digits ({STEPS} steps of 4 pixels, "
          f"{time.perf_counter() - start:.1f} s); AUC of s_k / s_0, means over the digits")
    print(format_table(rows))
    for b, by_method in results.items():
        order = sorted(by_method, key=lambda n: np.nanmean(by_method[n].auc["morf"].values))
        print(f"MoRF ranking, {b} baseline: " + " > ".join(order))
    removal_path = removal_figure(results, out_dir / "vit_digits_removal.png")
    print(f"saved {path} and {removal_path}")
    return {"accuracy": acc, "train_seconds": train_seconds, "graph": graph, "model": model,
            "x": x, "target": t, "f": f, "maps": maps, "seconds": seconds, "shares": share,
            "output_error": output_error, "results": results, "rows": rows, "path": path,
            "removal_path": removal_path}


if __name__ == "__main__":
    main()
