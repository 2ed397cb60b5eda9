"""The method-comparison examples run, save their figures, draw each family on one shared
colour scale, and their numbers agree with what the test computes directly from the graph.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from tests.example_modules import load_example  # noqa: E402

DIGITS_METHODS = {
    "LRP EpsilonPlusFlat": "LRP", "LRP EpsilonGammaBox(0, 1)": "LRP",
    "gradient": "gradient", "gradient × input": "gradient",
    "integrated gradients": "gradient", "SmoothGrad (gradient, 16)": "gradient",
    "guided backprop": "walks", "DeconvNet": "walks",
    "excitation backprop": "excitation", "contrastive excitation BP": "excitation",
    "Grad-CAM": "CAM", "guided Grad-CAM": "CAM",
    "occlusion 2×2": "perturbation", "RISE (500 masks)": "perturbation",
    "LIME (2×2 patches, 300)": "perturbation",
    "DeepLIFT (Rescale, from 0)": "reference", "competitive gradient × input": "reference",
    "meaningful perturbation": "masks", "extremal perturbation (10, 20 %)": "masks",
}


def load(name):
    return load_example(name, "methods_examples")


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    out = tmp_path_factory.mktemp("methods_digits")
    return load("methods_digits").main(out)


@pytest.fixture(scope="module")
def wine(tmp_path_factory):
    out = tmp_path_factory.mktemp("methods_wine")
    return load("methods_wine").main(out)


def maps_of(result):
    return {row["name"]: row["maps"] for row in result["rows"]}


def logit(graph, x, target):
    return graph(x).gather(1, target[:, None])[:, 0]


# ----------------------------------------------------------------------------- digits


def test_digits_figure_has_every_method_in_its_family(digits):
    assert digits["path"].exists() and digits["path"].stat().st_size > 50_000
    assert {row["name"]: row["scale"] for row in digits["rows"]} == DIGITS_METHODS
    for name, maps in maps_of(digits).items():
        assert maps.shape == (8, 1, 8, 8), name
        assert np.isfinite(maps).all() and np.abs(maps).max() > 0, name


def test_digits_each_family_shares_one_symmetric_colour_limit(digits):
    maps = maps_of(digits)
    for scale in set(DIGITS_METHODS.values()):
        members = [name for name, s in DIGITS_METHODS.items() if s == scale]
        m = max(float(np.abs(maps[name]).max()) for name in members)
        assert digits["limits"][scale] == pytest.approx(m)
        for name in members:
            assert len(digits["axes"][name]) == 8
            for ax in digits["axes"][name]:
                assert ax.images[0].get_clim() == pytest.approx((-m, m)), name
    fig = digits["axes"]["gradient"][0].figure
    bars = [ax for ax in fig.axes if not ax.images]
    assert len(bars) == len(set(DIGITS_METHODS.values()))  # one colour bar per family
    assert len({round(m, 9) for m in digits["limits"].values()}) == len(digits["limits"])


def test_digits_gradient_and_gradient_x_input_match_autograd(digits):
    graph, x, target = digits["graph"], digits["x"], digits["target"]
    leaf = x.clone().requires_grad_(True)
    logit(graph, leaf, target).sum().backward()
    grad = leaf.grad.numpy()
    maps = maps_of(digits)
    np.testing.assert_allclose(maps["gradient"], grad, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(maps["gradient × input"], grad * x.numpy(), rtol=1e-4,
                               atol=1e-5)


def test_digits_integrated_gradients_is_complete(digits):
    graph, x, target = digits["graph"], digits["x"], digits["target"]
    with torch.no_grad():
        change = (logit(graph, x, target) - logit(graph, torch.zeros_like(x), target)).numpy()
    total = maps_of(digits)["integrated gradients"].reshape(8, -1).sum(1)
    np.testing.assert_allclose(total, change, rtol=0.03)


def test_digits_occlusion_is_the_drop_of_each_patch(digits):
    """Each pixel carries f(x) − f(x with its 2 × 2 patch at 0), computed here directly."""
    graph, x, target = digits["graph"], digits["x"], digits["target"]
    copies, where = [], []
    for top in range(0, 8, 2):
        for left in range(0, 8, 2):
            c = x.clone()
            c[:, :, top:top + 2, left:left + 2] = 0.0
            copies.append(c)
            where.append((top, left))
    with torch.no_grad():
        f = logit(graph, x, target)
        drops = torch.stack([f - logit(graph, c, target) for c in copies], 1).numpy()
    occlusion = maps_of(digits)["occlusion 2×2"]
    for k, (top, left) in enumerate(where):
        patch = occlusion[:, 0, top:top + 2, left:left + 2].reshape(8, 4)
        np.testing.assert_allclose(patch, np.repeat(drops[:, k:k + 1], 4, 1), rtol=1e-4,
                                   atol=1e-5)


def test_digits_cam_and_excitation_are_nonnegative(digits):
    maps = maps_of(digits)
    assert (maps["Grad-CAM"] >= 0).all()
    assert (maps["excitation backprop"] >= -1e-7).all()
    assert (maps["excitation backprop"].reshape(8, -1).sum(1) <= 1 + 1e-5).all()


def test_digits_reports_a_line_and_a_time_per_method(digits):
    for row in digits["rows"]:
        assert row["line"]
        assert row["seconds"] < 5


# ------------------------------------------------------------------------------- wine


def test_wine_figure_and_numpy_out(wine):
    assert wine["path"].exists() and wine["path"].stat().st_size > 20_000
    assert list(wine["attributions"]) == ["NEON", "occlusion (to the mean)",
                                          "LIME (to the mean)", "gradient × input"]
    for name, r in wine["attributions"].items():
        assert isinstance(r, np.ndarray) and r.shape == (13,), name
    assert isinstance(wine["x"], np.ndarray) and wine["x"].shape == (1, 13)
    assert int(np.asarray(wine["graph"](wine["x"])).argmax(1)[0]) == int(wine["target"][0])


def test_wine_occlusion_is_the_drop_when_a_feature_goes_to_its_mean(wine):
    graph, x, t, mean = wine["graph"], wine["x"], int(wine["target"][0]), wine["mean"]
    copies = np.repeat(x, 13, 0)
    copies[np.arange(13), np.arange(13)] = mean
    f = np.asarray(graph(x))[0, t]
    drops = f - np.asarray(graph(copies))[:, t]
    np.testing.assert_allclose(wine["attributions"]["occlusion (to the mean)"], drops,
                               rtol=1e-9, atol=1e-9)
    assert f == pytest.approx(wine["logit"])


def test_wine_neon_conserves_and_lime_fits_the_near_additive_drops(wine):
    R = wine["attributions"]
    assert R["NEON"].sum() == pytest.approx(wine["logit"], rel=1e-6)
    assert wine["r2"] > 0.99
    occlusion, lime = R["occlusion (to the mean)"], R["LIME (to the mean)"]
    assert np.abs(lime - occlusion).max() < 0.05 * np.abs(occlusion).max()


def test_wine_gradient_x_input_matches_autograd(wine):
    graph, x, t = wine["graph"], wine["x"], int(wine["target"][0])
    leaf = torch.tensor(x, requires_grad=True)
    graph(leaf)[0, t].backward()
    np.testing.assert_allclose(wine["attributions"]["gradient × input"],
                               (leaf.grad * leaf).detach().numpy()[0], rtol=1e-6)


def test_wine_table_lists_every_feature():
    module = load("methods_wine")
    text = module.table(["a", "b"], np.array([1.0, 2.0]), np.array([0.5, 0.5]),
                        {"NEON": np.array([0.25, 0.75]),
                         "LIME (to the mean)": np.array([0.5, 0.5])}, 1.0)
    lines = text.splitlines()
    assert lines[0].split()[-2:] == ["NEON", "LIME"]
    assert lines[2].split()[0] == "a" and lines[3].split()[0] == "b"
    assert lines[-2].split()[-2:] == ["1.000", "1.000"]


def test_digits_deeplift_sums_to_the_change_from_the_black_image(digits):
    graph, x, target = digits["graph"], digits["x"], digits["target"]
    total = maps_of(digits)["DeepLIFT (Rescale, from 0)"].reshape(8, -1).sum(1)
    change = (logit(graph, x, target) - logit(graph, torch.zeros_like(x), target)).numpy()
    np.testing.assert_allclose(total, change, rtol=1e-4, atol=1e-5)
