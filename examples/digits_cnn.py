"""Train a small CNN on scikit-learn's digits, import it into neon and print its graph.

Run on its own (``python examples/digits_cnn.py``) or through ``make demo``. Training takes a
few seconds on a CPU and reaches about 98% test accuracy.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from torch import nn

__all__ = ["DigitsCNN", "load_digits_tensors", "fit", "train_digits_cnn", "accuracy",
           "save_figure", "main"]

OUT_DIR = Path(__file__).resolve().parent / "out"


class DigitsCNN(nn.Module):
    """Conv(1→8)-ReLU-Conv(8→16)-BatchNorm-ReLU-MaxPool-Flatten-Linear(256→32)-ReLU-Linear(32→10)
    for 1×8×8 images."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 4 * 4, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def load_digits_tensors(test_size: float = 0.2, seed: int = 0):
    """scikit-learn's bundled digits as tensors, pixels scaled to [0, 1].

    Parameters
    ----------
    test_size : float
        Fraction of samples held out for testing (stratified, fixed split).
    seed : int
        Seed of the split.

    Returns
    -------
    X_train, X_test : torch.Tensor
        float32 images of shape (N, 1, 8, 8).
    y_train, y_test : torch.Tensor
        int64 class labels 0–9.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    X = torch.tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(digits.target, dtype=torch.int64)
    idx_train, idx_test = train_test_split(torch.arange(len(y)).numpy(), test_size=test_size,
                                           random_state=seed, stratify=digits.target)
    idx_train, idx_test = torch.as_tensor(idx_train), torch.as_tensor(idx_test)
    return X[idx_train], X[idx_test], y[idx_train], y[idx_test]


def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``X`` that ``model`` (in eval mode) classifies as ``y``.

    Parameters
    ----------
    model : torch.nn.Module
    X : torch.Tensor
        Inputs, batch first.
    y : torch.Tensor
        Integer labels.

    Returns
    -------
    float
    """
    with torch.no_grad():
        return float((model(X).argmax(1) == y).double().mean())


def fit(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, epochs: int, seed: int,
        batch_size: int = 64, lr: float = 3e-3, optimizer=None, schedule=None) -> nn.Module:
    """Train ``model`` on (X, y) with Adam and cross-entropy over seeded minibatches.

    ``optimizer(parameters, lr)`` replaces Adam; ``schedule(optimizer, total_steps)`` adds a
    learning-rate schedule stepped after every minibatch.

    The minibatch order comes from a generator seeded with ``seed``, so a model initialized
    under ``torch.manual_seed(seed)`` and fitted here is the same on every run. Runs on one
    thread (tiny tensors: fastest, and steady on a busy CPU).

    Returns
    -------
    The model, in eval mode.
    """
    optimizer = (optimizer or torch.optim.Adam)(model.parameters(), lr=lr)
    steps = epochs * -(-len(X) // batch_size)
    scheduler = None if schedule is None else schedule(optimizer, steps)
    loss_fn = nn.CrossEntropyLoss()
    order = torch.Generator().manual_seed(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model.train()
        for _ in range(epochs):
            perm = torch.randperm(len(X), generator=order)
            for start in range(0, len(perm), batch_size):
                batch = perm[start:start + batch_size]
                optimizer.zero_grad()
                loss_fn(model(X[batch]), y[batch]).backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def save_figure(fig, path) -> Path:
    """Save ``fig`` to ``path`` (creating its folder; 120 dpi, tight), close it, return path."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def train_digits_cnn(seed: int = 0, epochs: int = 10, batch_size: int = 64):
    """Train :class:`DigitsCNN` on the digits, deterministically.

    Adam (lr 3e-3) over fixed, seeded minibatches; the split is fixed as well, so the same
    ``seed`` gives the same model.

    Parameters
    ----------
    seed : int
        Seeds the initialization and the minibatch order.
    epochs : int
        Passes over the training set.
    batch_size : int
        Minibatch size.

    Returns
    -------
    model : DigitsCNN
        The trained model, in eval mode.
    X_test : torch.Tensor
        float32 test images, shape (N, 1, 8, 8), values in [0, 1].
    y_test : torch.Tensor
        int64 test labels.
    """
    X_train, X_test, y_train, y_test = load_digits_tensors()
    torch.manual_seed(seed)
    model = fit(DigitsCNN(), X_train, y_train, epochs=epochs, seed=seed, batch_size=batch_size)
    return model, X_test, y_test


def main(out_dir: Path | str = OUT_DIR) -> None:
    """Train the CNN, import it with :func:`neon.neuralize`, print accuracy and graph.

    Saves a drawing of the graph to ``out_dir/digits_cnn_graph.png``.

    Parameters
    ----------
    out_dir : path
        Where the figure goes (created if missing).
    """
    import matplotlib.pyplot as plt

    import neon

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model, X_test, y_test = train_digits_cnn()
    print(f"trained DigitsCNN in {time.perf_counter() - start:.1f} s; "
          f"test accuracy {accuracy(model, X_test, y_test):.1%} on {len(y_test)} digits")
    graph = neon.neuralize(model, X_test[:1])
    print(graph.summary())
    with torch.no_grad():
        diff = (graph(X_test) - model(X_test)).abs().max().item()
    print(f"max |graph(x) - model(x)| over the test set: {diff:.2e} "
          f"(BatchNorm folded into {graph.resolve('features.3')!r})")
    ax = graph.draw()
    ax.set_title("DigitsCNN as a neon graph")
    path = out_dir / "digits_cnn_graph.png"
    ax.figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(ax.figure)
    print(f"graph drawing saved to {path}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
