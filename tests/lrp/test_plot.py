"""lrp.plot draws what it says: one sample per heatmap, no silent NaN/inf, a validated vmax,
colour bars, one symmetric scale per figure, and captions that state what a map sums to."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lrp import plot  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def maps(*scales, shape=(6, 6), seed=0):
    """One map per scale, max |R| exactly equal to that scale."""
    rng = np.random.default_rng(seed)
    out = []
    for s in scales:
        r = rng.uniform(-1, 1, size=shape)
        r.flat[0] = -1.0  # the largest magnitude, negative
        out.append(s * r)
    return np.stack(out)


def heat_axes(fig):
    """The axes holding a relevance image (diverging colormap), in drawing order."""
    return [ax for ax in fig.axes if ax.images and ax.images[0].get_cmap().name == "bwr"]


def n_colorbars(fig):
    """Axes that are neither panels nor hidden: the colour bars."""
    return sum(1 for ax in fig.axes if not ax.images and ax.get_visible() and ax.axison)


def new_ax():
    return plt.subplots(figsize=(3, 3))[1]


# ---------------------------------------------------------------------------- heatmap: shapes


@pytest.mark.parametrize("shape", [(2, 1, 6, 6), (3, 3, 6, 6), (5, 6, 6), (16, 6, 6)])
def test_heatmap_refuses_a_batch(shape):
    with pytest.raises(ValueError, match=r"one sample.*heatmap_grid"):
        plot.heatmap(np.ones(shape), new_ax())


def test_heatmap_refuses_a_torch_batch():
    with pytest.raises(ValueError, match="heatmap_grid"):
        plot.heatmap(torch.ones(2, 1, 6, 6), new_ax())


@pytest.mark.parametrize("shape", [(6, 6), (1, 6, 6), (1, 1, 6, 6), (3, 6, 6), (1, 3, 6, 6)])
def test_heatmap_accepts_one_sample_and_sums_channels(shape):
    r = np.random.default_rng(1).normal(size=shape)
    ax = plot.heatmap(r, new_ax())
    expected = r.reshape((-1, 6, 6)).sum(0)
    np.testing.assert_allclose(ax.images[0].get_array(), expected)
    m = np.abs(expected).max()
    assert ax.images[0].get_clim() == pytest.approx((-m, m))


@pytest.mark.parametrize("shape", [(36,), (2, 2, 2, 2, 2)])
def test_heatmap_refuses_other_shapes(shape):
    with pytest.raises(ValueError, match="reshape"):
        plot.heatmap(np.ones(shape), new_ax())


def test_to_image_refuses_a_batch():
    with pytest.raises(ValueError, match="samples"):
        plot.to_image(np.ones((4, 1, 6, 6)))


# ---------------------------------------------------------------------------- heatmap: values


def test_heatmap_refuses_nan_saying_how_many_and_where():
    r = np.zeros((6, 6))
    r[2, 3] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN at \(2, 3\)"):
        plot.heatmap(r, new_ax())


def test_heatmap_refuses_inf_saying_how_many_and_where():
    r = np.ones((1, 6, 6))
    r[0, 0, 1] = np.inf
    r[0, 4, 4] = -np.inf
    with pytest.raises(ValueError, match=r"2 inf at \(0, 0, 1\), \(0, 4, 4\)"):
        plot.heatmap(r, new_ax())


def test_heatmap_masks_nonfinite_only_when_asked():
    r = maps(2.0)[0]
    r[1, 1], r[2, 2] = np.nan, np.inf
    ax = plot.heatmap(r, new_ax(), nonfinite="mask")
    image = ax.images[0].get_array()
    assert np.ma.is_masked(image) and image.mask[1, 1] and image.mask[2, 2]
    assert image.mask.sum() == 2
    assert ax.images[0].get_clim() == pytest.approx((-2.0, 2.0))  # the finite values
    assert "2 non-finite" in ax.get_xlabel()
    with pytest.raises(ValueError, match="nonfinite must be"):
        plot.heatmap(r, new_ax(), nonfinite="ignore")


@pytest.mark.parametrize("vmax", [-1, 0, 0.0, float("nan"), float("inf"), "big"])
def test_heatmap_refuses_a_bad_vmax_naming_it(vmax):
    with pytest.raises(ValueError, match="vmax") as info:
        plot.heatmap(maps(1.0)[0], new_ax(), vmax=vmax)
    assert repr(vmax) in str(info.value)


def test_heatmap_scale_is_symmetric_and_vmax_is_used():
    r = np.linspace(-0.5, 3.0, 36).reshape(6, 6)
    ax = plot.heatmap(r, new_ax())
    assert ax.images[0].get_clim() == pytest.approx((-3.0, 3.0))
    ax = plot.heatmap(r, new_ax(), vmax=10)
    assert ax.images[0].get_clim() == pytest.approx((-10.0, 10.0))


def test_heatmap_of_zeros_is_white_on_a_unit_scale():
    ax = plot.heatmap(np.zeros((6, 6)), new_ax())
    assert ax.images[0].get_clim() == (-1.0, 1.0)


def test_heatmap_has_a_colorbar_by_default():
    fig, ax = plt.subplots()
    plot.heatmap(maps(1.0)[0], ax)
    assert len(fig.axes) == 2
    assert ax.images[0].colorbar is not None
    fig, ax = plt.subplots()
    plot.heatmap(maps(1.0)[0], ax, colorbar=False)
    assert len(fig.axes) == 1 and ax.images[0].colorbar is None


def test_heatmap_caption_states_the_sum_beside_the_output():
    r = np.full((4, 4), 0.25 / 16)
    ax = plot.heatmap(r, new_ax(), output=1.0)
    assert ax.get_xlabel().replace("\n", ", ") == "f = 1, ΣR = 0.25 (25 %)"


# ---------------------------------------------------------------------------- captions


def test_sum_caption():
    r = np.array([0.3, 0.22])
    assert plot.sum_caption(r, 2.31) == "f = 2.31, ΣR = 0.52 (23 %)"
    assert plot.sum_caption(r) == "ΣR = 0.52"
    assert plot.sum_caption(torch.tensor(r), torch.tensor(0.52), name="o") == \
        "o = 0.52, ΣR = 0.52 (100 %)"
    assert plot.sum_caption(r, 0.0) == "f = 0, ΣR = 0.52"
    assert plot.sum_caption(r, 2.31, sep="\n") == "f = 2.31\nΣR = 0.52 (23 %)"
    with pytest.raises(ValueError, match="one number"):
        plot.sum_caption(r, [1.0, 2.0])


def test_symmetric_limit():
    assert plot.symmetric_limit([maps(1.0)[0], maps(4.0)[0]]) == pytest.approx(4.0)
    assert plot.symmetric_limit(np.array([np.nan, -2.0, 1.0])) == 2.0
    assert plot.symmetric_limit(np.zeros(3)) == 1.0
    assert plot.symmetric_limit(np.zeros(3), vmax=0.5) == 0.5
    with pytest.raises(ValueError, match="-1"):
        plot.symmetric_limit(np.zeros(3), vmax=-1)


# ---------------------------------------------------------------------------- heatmap_grid


def test_grid_shares_one_symmetric_scale_and_one_colorbar():
    R = maps(0.5, 5.0, 1.0)
    fig = plot.heatmap_grid(R, titles=["a", "b", "c"])
    panels = heat_axes(fig)
    assert len(panels) == 3
    assert {ax.images[0].get_clim() for ax in panels} == {(-5.0, 5.0)}
    assert n_colorbars(fig) == 1
    assert [ax.get_title() for ax in panels] == ["a", "b", "c"]


def test_grid_takes_a_sequence_of_tensors_and_a_fixed_vmax():
    fig = plot.heatmap_grid([torch.tensor(m[None]) for m in maps(1.0, 2.0)], vmax=3)
    assert {ax.images[0].get_clim() for ax in heat_axes(fig)} == {(-3.0, 3.0)}
    with pytest.raises(ValueError, match="vmax"):
        plot.heatmap_grid(maps(1.0, 2.0), vmax=-1)


def test_grid_with_own_scales_names_each_scale_and_gives_each_a_colorbar():
    fig = plot.heatmap_grid(maps(0.31, 5.0), titles=["a", "b"], shared_scale=False)
    panels = heat_axes(fig)
    assert [ax.images[0].get_clim() for ax in panels] == [pytest.approx((-0.31, 0.31)),
                                                          pytest.approx((-5.0, 5.0))]
    assert [ax.get_title() for ax in panels] == ["a (±0.31)", "b (±5)"]
    assert all(ax.images[0].colorbar is not None for ax in panels)
    assert n_colorbars(fig) == 2


def test_grid_refuses_nonfinite_naming_the_sample():
    R = maps(1.0, 1.0)
    R[1, 0, 2] = np.nan
    with pytest.raises(ValueError, match=r"relevances\[1\].*1 NaN at \(0, 2\)"):
        plot.heatmap_grid(R)


def test_grid_captions_state_the_sum_and_its_share():
    R = maps(1.0, 2.0)
    f = R.sum((1, 2)) * 4
    fig = plot.heatmap_grid(R, outputs=f)
    for ax, r in zip(heat_axes(fig), R):
        assert ax.get_xlabel().replace("\n", ", ") == plot.sum_caption(r, r.sum() * 4)
        assert "(25 %)" in ax.get_xlabel()


def test_grid_checks_its_arguments():
    with pytest.raises(ValueError, match="titles has 1 entries for 2 samples"):
        plot.heatmap_grid(maps(1.0, 2.0), titles=["a"])
    with pytest.raises(ValueError, match="empty"):
        plot.heatmap_grid([])


# ---------------------------------------------------------------------------- explanation_grid


def test_explanation_grid_shares_one_scale_across_methods_and_samples():
    images = np.random.default_rng(0).random((2, 1, 6, 6))
    fig = plot.explanation_grid(list(images), {"A": maps(0.2, 0.4), "B": maps(3.0, 1.0)},
                                ["x", "y"])
    panels = heat_axes(fig)
    assert len(panels) == 4
    assert {ax.images[0].get_clim() for ax in panels} == {(-3.0, 3.0)}
    assert n_colorbars(fig) == 1


def test_explanation_grid_with_own_scales_names_them():
    images = np.zeros((2, 6, 6))
    fig = plot.explanation_grid(images, {"A": maps(0.2, 0.4), "B": maps(3.0, 1.0)},
                                shared_scale=False)
    titles = sorted(ax.get_title() for ax in heat_axes(fig))
    assert titles == sorted(["A (±0.2)", "±0.4", "B (±3)", "±1"])
    assert n_colorbars(fig) == 4


@pytest.mark.parametrize("orientation", ["rows", "columns"])
def test_explanation_grid_captions_and_orientation(orientation):
    images = np.zeros((3, 6, 6))
    R = maps(1.0, 1.0, 1.0)
    fig = plot.explanation_grid(images, {"A": R}, ["p", "q", "r"], outputs=[1.0, 2.0, 3.0],
                                orientation=orientation, output_name="o")
    panels = heat_axes(fig)
    assert all(ax.get_xlabel().startswith("o = ") and "ΣR = " in ax.get_xlabel()
               for ax in panels)
    rows = {round(ax.get_position().y0, 3) for ax in panels}
    assert len(rows) == (3 if orientation == "rows" else 1)


def test_explanation_grid_checks_lengths():
    with pytest.raises(ValueError, match="2 entries for 3 samples"):
        plot.explanation_grid(np.zeros((3, 6, 6)), {"A": maps(1.0, 1.0)})
    with pytest.raises(ValueError, match="orientation"):
        plot.explanation_grid(np.zeros((2, 6, 6)), {"A": maps(1.0, 1.0)}, orientation="up")


# ---------------------------------------------------------------------------- feature_bars


NAMES = ["alcohol", "ash", "hue", "proline"]


def bar_colours(ax):
    return [tuple(p.get_facecolor()[:3]) for p in ax.patches]


def test_feature_bars_one_sample_sorted_with_names_and_signed_colours():
    ax = plot.feature_bars(np.array([0.1, -0.5, 0.3, 0.0]), NAMES, title="one")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["ash", "hue", "alcohol", "proline"]  # largest |R| on top
    red, blue = matplotlib.colors.to_rgb(plot.POSITIVE), matplotlib.colors.to_rgb(plot.NEGATIVE)
    assert bar_colours(ax)[:3] == [blue, red, red]
    assert ax.get_title() == "one"
    assert any(line.get_xdata()[0] == 0 for line in ax.lines)  # the zero line


def test_feature_bars_samples_share_x_limits():
    R = np.array([[0.1, -0.5, 0.3, 0.0], [2.0, 0.1, 0.0, -0.1]])
    axes = plot.feature_bars(R, NAMES, sort=False, outputs=[1.0, 4.0])
    assert len(axes) == 2
    assert axes[0].get_xlim() == axes[1].get_xlim()
    lo, hi = axes[0].get_xlim()
    assert lo < -0.5 and hi > 2.0
    assert [t.get_text() for t in axes[0].get_yticklabels()] == NAMES
    assert "ΣR = -0.1" in axes[0].get_xlabel() and "(-10 %)" in axes[0].get_xlabel()
    assert "f = 4, ΣR = 2 (50 %)" in axes[1].get_xlabel()


def test_feature_bars_top_keeps_the_sum():
    r = np.array([0.1, -0.5, 0.3, 0.05])
    ax = plot.feature_bars(r, NAMES, top=2)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["ash", "hue", "other 2 features (sum)"]
    widths = [p.get_width() for p in ax.patches]
    assert sum(widths) == pytest.approx(r.sum())


def test_feature_bars_refuses_bad_input():
    with pytest.raises(ValueError, match="3 feature names for 4 features"):
        plot.feature_bars(np.ones(4), NAMES[:3])
    r = np.ones((2, 4))
    r[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN at \(1, 2\)"):
        plot.feature_bars(r, NAMES)
    with pytest.raises(ValueError, match="inf"):
        plot.feature_bars(np.array([1.0, np.inf, 0, 0]), NAMES)
    with pytest.raises(ValueError, match="shape"):
        plot.feature_bars(np.ones((2, 2, 4)), NAMES)
    with pytest.raises(ValueError, match="top"):
        plot.feature_bars(np.ones(4), NAMES, top=0)


def test_feature_bars_takes_tensors_and_pandas():
    ax = plot.feature_bars(torch.tensor([0.1, -0.2, 0.3, 0.4]), NAMES, sort=False)
    assert [t.get_text() for t in ax.get_yticklabels()] == NAMES
    pd = pytest.importorskip("pandas")
    ax = plot.feature_bars(pd.Series([0.1, -0.2], index=["a", "b"]), sort=False)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    frame = pd.DataFrame([[0.1, -0.2], [0.5, 0.0]], columns=["a", "b"], index=[7, 9])
    axes = plot.feature_bars(frame, sort=False)
    assert [ax.get_title() for ax in axes] == ["sample 7", "sample 9"]
    assert [t.get_text() for t in axes[0].get_yticklabels()] == ["a", "b"]
    assert axes[0].get_xlim() == axes[1].get_xlim()
