"""Remove and retrain: do the pixels a method ranks first carry the digit's class?

Pixel flipping (examples/removal_digits.py) removes pixels from test digits and watches the
trained CNN's logit fall, but the modified digits are unlike anything the CNN was trained on,
so part of the fall is the distribution shift. ROAR (Hooker et al., NeurIPS 2019;
:func:`lrp.metrics.roar`) removes the pixels from the training digits too and *retrains* the
CNN from scratch on them: a method whose top pixels carry the class leaves less to learn, and
the retrained CNN's test accuracy falls faster than after removing random pixels.

The user story: a digits CNN (``examples/digits_cnn.py``) is trained; gradient, |gradient|,
gradient × input and LRP (``lrp.EpsilonPlusFlat``) explain every training and test digit for
its true label; for each fraction of the 64 pixels, the top pixels of each digit (ranked by
the value of R, most positive first, as ROAR does; |gradient| is the gradient's map of
absolute values, to show what that choice does) are set to the training mean, a new CNN is
trained with the same seed, and its test accuracy is recorded, beside a random ranking.
Then Adebayo et al.'s data randomization test (:func:`lrp.metrics.data_randomization_check`):
the CNN is trained on 300 digits with their true labels and with permuted labels (which it
memorises), and the explanations of the same test digits on the two models are compared by
Spearman's rank correlation of |R| (low: the explanation depends on what the model learned).

Every retraining is 5 epochs (about 0.4 s on one core); the whole run (78 trainings for
ROAR, 4 for the data randomization test) takes about a minute. Measured (``python
examples/roar_digits.py``: 5 epochs, 3 repeats, seed 0, one thread), test accuracy (360
digits) after removing the top fraction of pixels and retraining, mean over the 3 repeats
(± their standard deviation at 0.9); area = mean accuracy along the curve from 0 to 0.9
(lower: the ranking removed what the class needs):

====================  =====  =====  =====  =====  =====  ===========  =====
method                0      0.1    0.3    0.5    0.7    0.9          area
====================  =====  =====  =====  =====  =====  ===========  =====
gradient              0.979  0.974  0.981  0.989  0.981  0.956±0.012  0.979
|gradient|            0.979  0.954  0.909  0.814  0.623  0.222±0.106  0.759
gradient × input      0.979  0.955  0.947  0.928  0.817  0.588±0.105  0.877
LRP EpsilonPlusFlat   0.979  0.968  0.944  0.896  0.806  0.522±0.017  0.862
random                0.979  0.960  0.900  0.804  0.652  0.233±0.076  0.764
====================  =====  =====  =====  =====  =====  ===========  =====

Data randomization (64 test digits; 300 training digits, 100 epochs; both models fit their
training labels, accuracy 1.000, and the permuted-label model is at 0.110 on the true
ones): mean Spearman ρ of |R| between the true-label and the permuted-label model —
gradient 0.102, LRP EpsilonPlusFlat 0.182. Both explanations change with what the model
learned.

Reading: no ranking beats random clearly here; |gradient| ties with it (Hooker et al. found
the gradient, integrated gradients and guided backprop no better than random on ImageNet).
The signed rankings give higher curves than random, the signed gradient by far: the
accuracy even rises above the unmodified one (0.989 at half the pixels removed), which only
added information can do. The mask — which pixels were set to the mean — is a function of
the explained class (here the true label, on the test digits too), and the signed
gradient's top pixels sit at class-specific places, so the mask tells the retrained CNN the
class. This is ROAR's known caveat: removal can add information as well as take it away, so
read every curve against the random one and never as a faithfulness score on its own.
gradient × input and LRP rank stroke pixels (x > 0) first; the grey they leave behind still
outlines the digit. These are this run's numbers, not a ranking of the methods in general.

Run: ``python examples/roar_digits.py`` (figure in examples/out/roar_digits.png).
"""

from __future__ import annotations

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
from digits_cnn import DigitsCNN, fit, load_digits_tensors, save_figure  # noqa: E402

import lrp  # noqa: E402
import neon  # noqa: E402
from lrp.metrics import data_randomization_check, roar, roar_remove  # noqa: E402

OUT_DIR = HERE / "out"
FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)
#: The methods of the data randomization test (a subset of :func:`methods`).
RANDOMIZED = ("gradient", "LRP EpsilonPlusFlat")


def methods() -> dict:
    """The compared methods; :func:`lrp.metrics.roar` adds the random ranking itself."""
    return {
        "gradient": lrp.gradient,
        "|gradient|": functools.partial(lrp.gradient, abs=True),
        "gradient × input": lrp.gradient_x_input,
        "LRP EpsilonPlusFlat": functools.partial(lrp.explain, composite=lrp.EpsilonPlusFlat()),
    }


def trainer(epochs: int):
    """``train(X, y, seed)``: a new :class:`DigitsCNN`, initialized under ``seed`` and fitted
    with :func:`digits_cnn.fit` (Adam, seeded minibatches) for ``epochs`` epochs."""
    def train(X, y, seed):
        torch.manual_seed(seed)
        return fit(DigitsCNN(), X, y, epochs=epochs, seed=seed)
    return train


def run(*, epochs: int = 5, repeats: int = 3, fractions=FRACTIONS, n_randomization: int = 300,
        randomization_epochs: int = 100, n_explained: int = 64, seed: int = 0) -> dict:
    """ROAR on the digits CNN, then the data randomization test.

    Parameters
    ----------
    epochs : int
        Epochs of every ROAR retraining.
    repeats : int
        Models per fraction and method (seeds ``seed``, ``seed + 1``, …).
    fractions : sequence of float
        Fractions of the 64 pixels removed.
    n_randomization, randomization_epochs : int
        Training digits and epochs of the two models of the data randomization test (the
        permuted-label model has to memorise its labels).
    n_explained : int
        Test digits explained in the data randomization test.
    seed : int

    Returns
    -------
    dict
        ``roar`` (:class:`lrp.metrics.RoarResult`), ``randomization`` (method →
        :class:`lrp.metrics.DataRandomizationResult`), ``seconds`` (phase → seconds), and
        the data: ``X_train``, ``X_test``, ``y_train``, ``y_test``.
    """
    torch.set_num_threads(1)
    X_train, X_test, y_train, y_test = load_digits_tensors()
    start = time.perf_counter()
    result = roar(trainer(epochs), X_train, y_train, X_test, y_test, methods(),
                  fractions=fractions, repeats=repeats, seed=seed)
    seconds = {"roar": time.perf_counter() - start}
    start = time.perf_counter()
    randomization = {
        name: data_randomization_check(trainer(randomization_epochs), X_train[:n_randomization],
                                       y_train[:n_randomization], X_test[:n_explained],
                                       methods()[name], seed=seed)
        for name in RANDOMIZED}
    seconds["data randomization"] = time.perf_counter() - start
    return {"roar": result, "randomization": randomization, "seconds": seconds,
            "X_train": X_train, "X_test": X_test, "y_train": y_train, "y_test": y_test}


def figure(result: dict, path: Path, *, epochs: int, seed: int = 0, shown: int = 3,
           fraction: float = 0.3) -> Path:
    """Left: test accuracy against the fraction removed (mean ± std over the repeats).
    Right: ``shown`` test digits with each method's top ``fraction`` of pixels set to the
    training mean (on the model ROAR explained: the first repeat's)."""
    import matplotlib.pyplot as plt

    r = result["roar"]
    X_train, X_test, y_test = result["X_train"], result["X_test"], result["y_test"]
    fig = plt.figure(figsize=(12, 4.6), layout="constrained")
    grid = fig.add_gridspec(shown, 2 + len(r.methods), width_ratios=[6, 0.2] +
                            [1] * len(r.methods))
    ax = fig.add_subplot(grid[:, 0])
    xs = np.concatenate([[0.0], r.fractions])
    for name, acc in r.accuracy.items():
        ys = np.concatenate([r.original[:, None], acc], axis=1)
        err = ys.std(0, ddof=1) if len(ys) > 1 else None
        ax.errorbar(xs, ys.mean(0), yerr=err, marker="o", capsize=3, label=name,
                    linestyle="--" if name == "random" else "-")
    ax.set_xlabel("fraction of pixels removed (top-ranked, set to the training mean)")
    ax.set_ylabel("test accuracy after retraining")
    ax.set_title(f"ROAR on the digits CNN ({r.repeats} repeat(s), {epochs} epochs each)")
    ax.legend()
    ax.grid(alpha=0.3)

    base = trainer(epochs)(X_train, result["y_train"], r.seeds[0])   # the explained model
    graph = neon.neuralize(base, X_test[:1])
    x, t = X_test[:shown], y_test[:shown]
    mean = X_train.mean(0)
    g = torch.Generator().manual_seed(seed)
    for j, name in enumerate(r.methods):
        rel = torch.rand(x.shape, generator=g) if name == "random" else \
            methods()[name](graph, x, t)
        removed = roar_remove(x, rel, fraction, baseline=mean)
        for i in range(shown):
            a = fig.add_subplot(grid[i, 2 + j])
            a.imshow(removed[i, 0].numpy(), cmap="gray_r", vmin=0, vmax=1)
            a.set_xticks([])
            a.set_yticks([])
            if i == 0:
                a.set_title(name.replace(" EpsilonPlusFlat", "\nEpsilonPlusFlat"), fontsize=8)
    fig.suptitle(f"right: the top {fraction:.0%} of each digit's pixels set to the mean",
                 fontsize=9)
    return save_figure(fig, path)


def main(out_dir: Path | str = OUT_DIR, *, epochs: int = 5, repeats: int = 3,
         fractions=FRACTIONS, n_randomization: int = 300, randomization_epochs: int = 100,
         n_explained: int = 64, seed: int = 0) -> dict:
    """Run (see :func:`run` for the budget options), print both tables, write the figure.

    Returns :func:`run`'s dict with ``path`` (the figure) added.
    """
    result = run(epochs=epochs, repeats=repeats, fractions=fractions,
                 n_randomization=n_randomization, randomization_epochs=randomization_epochs,
                 n_explained=n_explained, seed=seed)
    print(result["roar"].table())
    print(f"({result['seconds']['roar']:.1f} s)")
    print(f"\ndata randomization test: {n_randomization} training digits, "
          f"{randomization_epochs} epochs, {n_explained} test digits explained; Spearman ρ "
          "of |R| between the true-label and the permuted-label model (lower: the "
          "explanation depends on what the model learned)")
    print(f"{'method':22s}{'mean ρ':>8s}{'median ρ':>10s}{'train acc':>11s}"
          f"{'permuted fit':>14s}{'permuted on true':>18s}")
    for name, r in result["randomization"].items():
        rho = r.scores["spearman"]
        print(f"{name:22s}{rho.mean():8.3f}{rho.median():10.3f}{r.accuracy_true:11.3f}"
              f"{r.accuracy_permuted:14.3f}{r.accuracy_permuted_on_true:18.3f}")
    print(f"({result['seconds']['data randomization']:.1f} s)")
    result["path"] = figure(result, Path(out_dir) / "roar_digits.png", epochs=epochs,
                            seed=seed)
    return result


if __name__ == "__main__":
    main(*sys.argv[1:2])
