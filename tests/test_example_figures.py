"""The examples' figures tell the truth: one shared symmetric scale per figure, colour bars,
and ΣR (with its share of the output) printed next to every output f, o or logit.

The plotting functions of the examples run on small synthetic inputs (fast, independent of
the models); the digits SVC example, whose maps hold only part of f, also runs for real.
Whether the examples run and conserve relevance is tested in tests/test_lrp_example.py,
tests/sklearn/test_examples_*.py and tests/neon/test_examples_digits.py.
"""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lrp.plot import sum_caption  # noqa: E402
from tests.example_modules import load_example  # noqa: E402


def load(name):
    return load_example(name, "figures")


def heat_axes(fig):
    return [ax for ax in fig.axes if ax.images and ax.images[0].get_cmap().name == "bwr"]


def colorbars(fig):
    return [ax for ax in fig.axes if not ax.images and ax.axison]


def caption(ax):
    return ax.get_xlabel().replace("\n", ", ")


def assert_one_symmetric_scale(fig, n_maps, maps):
    panels = heat_axes(fig)
    assert len(panels) == n_maps
    m = float(np.abs(np.asarray(maps)).max())
    for ax in panels:
        assert ax.images[0].get_clim() == pytest.approx((-m, m))
    assert len(colorbars(fig)) == 1
    return panels


def digits(n, seed=0):
    """n raw digits (0–16) and relevance maps whose sums are a quarter of f."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 17, size=(n, 64)).astype(float)
    R = rng.normal(size=(n, 64)) * np.linspace(0.5, 2.0, n)[:, None]
    f = 4 * R.sum(1)
    return X, R, f


def test_digits_svc_figure(tmp_path):
    X, R, f = digits(4)
    fig = load("digits_svc").plot(X, R, [1, 2, 3, 4], [1, 2, 3, 5], f, tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 1000
    panels = assert_one_symmetric_scale(fig, 4, R)
    for ax, r, fk in zip(panels, R, f):
        assert caption(ax) == sum_caption(r, fk)
        assert caption(ax).endswith("(25 %)")


def test_digits_svc_figure_on_the_real_model_states_the_share_of_f(tmp_path, monkeypatch):
    module = load("digits_svc")
    drawn = {}
    plot = module.plot

    def spy(X, R, pred, truth, f, path):
        drawn.update(fig=plot(X, R, pred, truth, f, path), R=R, f=f)
        return drawn["fig"]

    monkeypatch.setattr(module, "plot", spy)
    module.main(tmp_path, n_show=3)
    panels = assert_one_symmetric_scale(drawn["fig"], 3, drawn["R"])
    for ax, r, fk in zip(panels, drawn["R"], drawn["f"]):
        share = float(re.search(r"\((-?\d+) %\)", caption(ax)).group(1))
        assert share == round(100 * r.sum() / fk)
        assert caption(ax).startswith(f"f = {fk:.3g}, ΣR = {r.sum():.3g}")


def test_digits_outlier_figure(tmp_path):
    X, R, o = digits(6, seed=1)
    y = np.arange(6)
    picks = [0, 2, 5]
    fig = load("digits_outlier").plot(X, y, R, o, 1.0, picks, tmp_path / "b.png")
    panels = assert_one_symmetric_scale(fig, 3, R[picks])
    for ax, i in zip(panels, picks):
        assert caption(ax) == sum_caption(R[i], o[i], name="o")


def test_wine_kmeans_figure(tmp_path):
    rng = np.random.default_rng(2)
    names = [f"feature_{k}" for k in range(5)]
    R = rng.normal(size=(8, 5)) * np.arange(1, 9)[:, None]
    logits = R.sum(1)
    chosen = [1, 4, 7]
    fig = load("wine_kmeans").plot(names, R, None, np.zeros(8, int), np.zeros(8, int),
                                   np.array([0]), logits, chosen, tmp_path / "c.png")
    axes = [ax for ax in fig.axes if ax.patches]
    assert len(axes) == 3
    assert len({ax.get_xlim() for ax in axes}) == 1  # one x-axis for all samples
    lo, hi = axes[0].get_xlim()
    assert lo <= R[chosen].min() and hi >= R[chosen].max()
    assert [t.get_text() for t in axes[0].get_yticklabels()] == names
    for ax, i in zip(axes, chosen):
        assert sum_caption(R[i], logits[i], name="logit") in caption(ax)
        assert "(100 %)" in caption(ax)


def test_lrp_digits_figure(tmp_path):
    rng = np.random.default_rng(3)
    x = torch.rand(3, 1, 8, 8)
    maps = {name: torch.tensor(rng.normal(size=(3, 1, 8, 8)) * s)
            for name, s in (("A", 0.1), ("B", 1.0), ("C", 0.5))}
    logits = maps["B"].flatten(1).sum(1) * 2
    fig = load("lrp_digits").plot(x, maps, ["a", "b", "c"], logits, tmp_path / "d.png")
    panels = assert_one_symmetric_scale(fig, 9, torch.stack(list(maps.values())).numpy())
    assert caption(panels[0]) == sum_caption(maps["A"][0], logits[0])
    assert "(50 %)" in caption(panels[1])  # sample 0, method B (panels go row by row)
