"""Conservation: where does relevance add up to the explained output, and where not?

Conservation (completeness) asks that the relevance of the input features sums to the output
that is explained, Σ_i R_i = f(x). :func:`lrp.metrics.conservation` reports
δ = |Σ_i R_i − f(x)| / |f(x)| per sample; it is never an exact float equality, and for an
:class:`lrp.Explanation` the per-node table says where the missing relevance was absorbed
(``ConservationResult.absorbed``, summed in ``absorbed_total``).

The claims (design notes, reference experiment 4), each checked on every sample:

* a bias-free ReLU network (a digits CNN trained here in float64 with ``bias=False``
  everywhere: conv, conv, max-pool, dense, dense) conserves exactly with LRP-0
  (``lrp.rules.Epsilon(epsilon=0)``) and with z⁺ (``lrp.rules.ZPlus(stabilizer=0.0)``): the
  rules redistribute z_k = Σ_j a_j w_jk (resp. its positive part) with nothing left for a
  bias or a stabilizer, ReLU passes relevance on and max-pooling hands it to the winner;
* neuralized k-means (wine, StandardScaler + KMeans(3), default NEON rules Midpoint and
  DistanceSplit) conserves exactly: the midpoint rule's roots lie on each competitor's
  hyperplane, so Σ_i R_i = f_c (docs/neon.md, "k-means");
* a one-class SVM (RBF, trained on the 0s of digits as in examples/digits_outlier.py)
  conserves exactly on every sample that is not one of its support vectors: the soft-min
  redistribution passes o(x) to the support-vector units and the distance split passes each
  unit's share to the pixels. At a support vector u_j the unit j has d_j(x) = 0 and cannot
  be split (0/0): its share is absorbed (docs/neon.md, "Coincident points"), δ > 0, and the
  gap is the absorbed relevance;
* with biases (the digits CNN of examples/digits_cnn.py, BatchNorm folded into its second
  convolution, explained with ``lrp.EpsilonPlusFlat()``) δ is not 0 — the biases and the
  stabilizers take their share — but the gap f − Σ R equals the relevance absorbed in the
  graph's nodes (the Explanation's table) to float precision: nothing is lost untracked.

Measured (``python examples/conservation.py``, seed 0; every model in float64 but one float32
row for scale; "untracked" is max |gap − absorbed_total| / |f|, "absorbed" the median of
absorbed_total / f):

==============================  ====  ========  ========  ========  =========  ========
case                            n     median δ  95 % δ    max δ     untracked  absorbed
==============================  ====  ========  ========  ========  =========  ========
bias-free CNN, LRP-0            360   2.0e-16   7.0e-16   1.1e-15   0          0 %
bias-free CNN, z⁺               360   1.5e-16   3.4e-16   5.4e-16   0          0 %
bias-free CNN, LRP-0 (float32)  360   9.0e-08   2.7e-07   5.1e-07   0          0 %
wine k-means, NEON              178   1.6e-16   7.0e-16   2.1e-15   0          0 %
one-class SVM, not an SV        1778  1.7e-16   4.4e-16   7.9e-16   0          0 %
one-class SVM, at its SVs       19    0.12      0.16      0.16      0          12 %
digits CNN, EpsilonPlusFlat     360   0.066     0.23      0.34      0          5.4 %
==============================  ====  ========  ========  ========  =========  ========

"Exact" means exact to the dtype's rounding: ~1e-16 in float64, ~1e-7 in float32 (the
bias-free CNN is 97 % accurate, the digits CNN 98 %). The one-class SVM (19 support vectors)
absorbs at each of its support vectors the soft-min share of that vector's own unit, a median
of 12 % of o(x), and nothing anywhere else. The digits CNN's gap is absorbed mostly by the
z⁺ rule of its second convolution (the folded BatchNorm bias enters z⁺'s denominator as b⁺;
6.8 % of Σ f), and a little by the ε rules of the two dense layers (0.3 %); the table is
printed by the script. "untracked" is exactly 0 on these graphs: the per-node table's
entries add up to the gap; the tests check two of its entries (the top dense layer's, the
support vectors') against a hand computation from the models' parameters.

Run: ``python examples/conservation.py`` (about 10 s; figure in examples/out/conservation.png).
"""

from __future__ import annotations

import copy
import functools
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import torch  # noqa: E402
from digits_cnn import fit, load_digits_tensors, save_figure, train_digits_cnn  # noqa: E402
from torch import nn  # noqa: E402

import lrp  # noqa: E402
import neon  # noqa: E402
from lrp.metrics import conservation  # noqa: E402

OUT_DIR = HERE / "out"
INLIER = 0                        # the one-class SVM's training class, as in digits_outlier.py


class BiasFreeCNN(nn.Module):
    """Conv(1→8)-ReLU-Conv(8→16)-ReLU-MaxPool-Flatten-Linear(256→32)-ReLU-Linear(32→10), no
    bias anywhere, for 1×8×8 images."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 4 * 4, 32, bias=False), nn.ReLU(),
            nn.Linear(32, 10, bias=False))

    def forward(self, x):
        return self.classifier(self.features(x))


def train_bias_free(epochs: int, seed: int):
    """:class:`BiasFreeCNN` trained in float64 with Adam on seeded minibatches.

    Returns
    -------
    model, X_test (float64), y_test, test accuracy
    """
    X_train, X_test, y_train, y_test = load_digits_tensors()
    X_train, X_test = X_train.double(), X_test.double()
    torch.manual_seed(seed)
    model = fit(BiasFreeCNN().double(), X_train, y_train, epochs=epochs, seed=seed)
    with torch.no_grad():
        accuracy = float((model(X_test).argmax(1) == y_test).double().mean())
    return model, X_test, y_test, accuracy


def _explainer(composite):
    return functools.partial(lrp.explain, composite=composite)


def _measure(case: str, model, graph, x, relevance) -> dict:
    """One table row: conservation of ``relevance`` (for the default target, the predicted
    class or cluster, or the outlierness), δ's median, 95th percentile and maximum, and the
    untracked gap max |gap − absorbed_total| / |f|."""
    t = time.perf_counter()
    result = conservation(graph, x, relevance)
    seconds = time.perf_counter() - t
    delta = result.delta.values
    untracked = np.abs(result.unexplained) / np.abs(result.output)
    return {"case": case, "n": len(delta), "median": result.median, "p95": result.p95,
            "max": float(np.nanmax(delta)), "untracked": float(np.nanmax(untracked)),
            "absorbed_share": float(np.median(result.absorbed_total / result.output)),
            "result": result, "seconds": seconds, "model": model, "x": x}


def run(epochs: int = 10, n_samples: int | None = None, seed: int = 0) -> dict:
    """Train the two CNNs, fit k-means and the one-class SVM, and measure conservation.

    Parameters
    ----------
    epochs : int
        Training epochs of both digits CNNs.
    n_samples : int, optional
        Explain only the first ``n_samples`` test digits (CNN cases) and wine samples; the
        one-class SVM cases keep all its support vectors and the first ``n_samples`` other
        digits. Default: all.
    seed : int
        Seeds the training, the k-means initialization and the one-class SVM's training split.

    Returns
    -------
    dict
        ``rows``: per case ``case``, ``n``, ``median``, ``p95``, ``max`` (of δ), ``untracked``
        (max |gap − absorbed_total| / |f|), ``absorbed_share`` (median of
        absorbed_total / f), ``result`` (the :class:`lrp.metrics.ConservationResult`),
        ``seconds``, ``model`` (the torch module or estimator) and ``x`` (what was
        explained); ``accuracy``: test accuracy of the two CNNs; ``seconds``: per stage;
        ``n_support``: the one-class SVM's number of support vectors.
    """
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_digits, load_wine
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import OneClassSVM

    torch.set_num_threads(1)
    take = slice(None) if n_samples is None else slice(0, n_samples)
    rows, seconds, accuracy = [], {}, {}

    # 1. bias-free ReLU CNN: LRP-0 and z⁺ conserve exactly
    t = time.perf_counter()
    model, X_test, _, accuracy["bias-free CNN"] = train_bias_free(epochs, seed)
    seconds["train bias-free CNN"] = time.perf_counter() - t
    x = X_test[take]
    graph = neon.neuralize(model, x[:1])
    lrp0, zplus = lrp.rules.Epsilon(epsilon=0), lrp.rules.ZPlus(stabilizer=0.0)
    rows.append(_measure("bias-free CNN, LRP-0", model, graph, x, _explainer(lrp0)))
    rows.append(_measure("bias-free CNN, z⁺", model, graph, x, _explainer(zplus)))
    model32 = copy.deepcopy(model).float()
    rows.append(_measure("bias-free CNN, LRP-0 (float32)", model32,
                         neon.neuralize(model32, x[:1].float()), x.float(), _explainer(lrp0)))

    # 2. neuralized k-means on wine: the NEON rules conserve exactly
    t = time.perf_counter()
    wine = load_wine().data
    pipe = make_pipeline(StandardScaler(), KMeans(3, n_init=10, random_state=seed)).fit(wine)
    graph = neon.neuralize(pipe, wine)
    seconds["fit k-means"] = time.perf_counter() - t
    rows.append(_measure("wine k-means, NEON", pipe, graph, wine[take], "explain"))

    # 3. one-class SVM on the 0s of digits: exact off its support vectors, absorbed at them
    t = time.perf_counter()
    digits = load_digits()
    X, y = digits.data / 16.0, digits.target
    rng = np.random.default_rng(seed)
    zeros = np.flatnonzero(y == INLIER)
    train = rng.permutation(zeros)[: len(zeros) * 3 // 4]
    svm = OneClassSVM(gamma="scale", nu=0.1).fit(X[train])
    graph = neon.neuralize(svm)
    seconds["fit one-class SVM"] = time.perf_counter() - t
    support = train[svm.support_]
    # a sample counts as "at a support vector" when its image equals one (digits holds a few
    # exact duplicates, which are support vectors as much as the training point itself)
    same = (X[:, None, :] == svm.support_vectors_[None, :, :]).all(2).any(1)
    off = np.flatnonzero(~same)[take]
    rows.append(_measure("one-class SVM, not an SV", svm, graph, X[off], "explain"))
    rows.append(_measure("one-class SVM, at its SVs", svm, graph, X[support], "explain"))

    # 4. the digits CNN with biases (BatchNorm folded in), EpsilonPlusFlat: δ > 0, but the
    # gap is what the biases and stabilizers absorbed
    t = time.perf_counter()
    cnn, X_test32, y_test = train_digits_cnn(seed=seed, epochs=epochs)
    seconds["train digits CNN"] = time.perf_counter() - t
    with torch.no_grad():
        accuracy["digits CNN"] = float((cnn(X_test32).argmax(1) == y_test).double().mean())
    cnn = copy.deepcopy(cnn).double()
    x = X_test32[take].double()
    graph = neon.neuralize(cnn, x[:1])
    rows.append(_measure("digits CNN, EpsilonPlusFlat", cnn, graph, x,
                         _explainer(lrp.EpsilonPlusFlat())))
    return {"rows": rows, "accuracy": accuracy, "seconds": seconds,
            "n_support": len(svm.support_)}


def table(result: dict) -> str:
    """The measured numbers as text."""
    lines = [f"{'case':32s}{'n':>6s}{'median δ':>10s}{'95 % δ':>10s}{'max δ':>10s}"
             f"{'untracked':>11s}{'absorbed':>10s}"]
    for row in result["rows"]:
        lines.append(f"{row['case']:32s}{row['n']:6d}{row['median']:10.1e}{row['p95']:10.1e}"
                     f"{row['max']:10.1e}{row['untracked']:11.1e}"
                     f"{100 * row['absorbed_share']:9.1f}%")
    return "\n".join(lines)


def figure(result: dict, path: Path, floor: float = 1e-18) -> Path:
    """δ per case on a log axis: a bar to the median, a tick at the 95th percentile; δ = 0
    is drawn at ``floor``. Horizontal lines mark float64's and float32's machine epsilon."""
    import matplotlib.pyplot as plt

    rows = result["rows"]
    names = [row["case"] for row in rows]
    median = np.maximum([row["median"] for row in rows], floor)
    p95 = np.maximum([row["p95"] for row in rows], floor)
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    at = np.arange(len(rows))
    ax.barh(at, median, color="tab:blue", left=floor, label="median δ")
    ax.plot(p95, at, "k|", markersize=14, label="95th percentile")
    for eps, dtype in ((np.finfo(np.float64).eps, "float64"), (np.finfo(np.float32).eps,
                                                                "float32")):
        ax.axvline(eps, color="gray", linestyle=":", linewidth=1)
        ax.text(eps, len(rows) - 0.4, f" eps {dtype}", fontsize=7, color="gray")
    ax.set_xscale("log")
    ax.set_xlim(floor, 3.0)
    ax.set_yticks(at, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("δ = |ΣR − f(x)| / |f(x)| (0 drawn at the left edge)")
    ax.set_title("Conservation per case", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(fig, path)


def main(out_dir: Path | str = OUT_DIR, **options) -> dict:
    """Run, print the table (and where the biased CNN's gap went) and write the figure."""
    result = run(**options)
    print("conservation δ = |ΣR − f| / |f| per sample; untracked = max |gap − absorbed| / |f|"
          "; absorbed = median share of f absorbed in the graph")
    print(", ".join(f"{k} test accuracy {v:.3f}" for k, v in result["accuracy"].items()) +
          f"; one-class SVM with {result['n_support']} support vectors")
    print(table(result))
    biased = result["rows"][-1]["result"]
    print(f"where the digits CNN's gap went (share of Σ f over {len(biased.output)} digits):")
    total = biased.output.sum()
    for node, values in sorted(biased.absorbed.items(), key=lambda kv: -abs(kv[1].sum())):
        if abs(values.sum()) > 1e-12 * abs(total):
            print(f"  {node:24s} {biased.rules[node]:48s} {100 * values.sum() / total:7.2f} %")
    print("times: " + ", ".join(f"{k} {v:.1f} s" for k, v in result["seconds"].items()))
    result["path"] = figure(result, Path(out_dir) / "conservation.png")
    return result


if __name__ == "__main__":
    main()
