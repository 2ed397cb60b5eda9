"""lrp.metrics sanity checks: spearman, ssim, randomization_check, random_logit_check.

References: ``scipy.stats.spearmanr`` and ``skimage.metrics.structural_similarity`` per
sample; Quantus 0.6.0's similarity functions and its ``RandomLogit``; numpy recomputations
of every stage (the randomized copies explained again with ``lrp.gradient``, compared with
scipy / scikit-image); Adebayo et al.'s finding (gradient and LRP-ε lose their similarity when
the top layer is randomized, guided backprop keeps much of it) on a small CNN trained here
on scikit-learn's digits — never values from the code under test.
"""

from __future__ import annotations

import functools
import warnings

import matplotlib
import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity
from torch import nn

import lrp
import lrp.metrics
import lrp.plot
import neon

matplotlib.use("Agg")
torch.set_num_threads(1)
F64 = torch.float64


def _scipy_spearman(a, b):
    a, b = np.asarray(a).reshape(len(a), -1), np.asarray(b).reshape(len(b), -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # scipy warns on constant input (NaN)
        return np.array([spearmanr(u, v)[0] for u, v in zip(a, b)])


def _skimage_ssim(a, b, data_range=None, window=7):
    out = []
    for u, v in zip(a, b):
        r = data_range if data_range is not None else \
            float(max(u.max(), v.max()) - min(u.min(), v.min()))
        out.append(structural_similarity(u, v, win_size=window, data_range=r))
    return np.array(out)


# ---------------------------------------------------------------------------- spearman


def test_spearman_agrees_with_scipy_with_ties_and_constant_maps():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 3, 5))
    b = a + rng.normal(size=a.shape)
    a[0] = np.round(a[0])                       # many ties
    b[1] = np.round(b[1] * 2) / 2
    a[2, :, :3] = 0.0                           # a block of zeros (|R| maps have these)
    b[3] = 1.5                                  # constant map: undefined
    a[4] = -2.0
    ours = lrp.metrics.spearman(a, b)
    ref = _scipy_spearman(a, b)
    assert ours.dtype == np.float64 and ours.shape == (6,)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-14)
    assert np.isnan(ours[3]) and np.isnan(ours[4]) and np.isnan(ref[3])
    assert not np.isnan(ours[[0, 1, 2, 5]]).any()


def test_spearman_of_tensors_float32_and_extremes():
    rng = np.random.default_rng(1)
    a = torch.tensor(rng.normal(size=(4, 50)), dtype=torch.float32)
    ours = lrp.metrics.spearman(a, a * 3 + 1)            # monotone: 1
    np.testing.assert_allclose(ours, 1.0, rtol=1e-12)
    np.testing.assert_allclose(lrp.metrics.spearman(a, -a), -1.0, rtol=1e-12)
    b = torch.tensor(rng.normal(size=(4, 50)), dtype=torch.float32)
    np.testing.assert_allclose(lrp.metrics.spearman(a, b), _scipy_spearman(a, b), rtol=1e-6)


def test_spearman_matches_quantus_batched():
    from quantus.functions.similarity_func import correlation_spearman

    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(5, 40)), rng.normal(size=(5, 40))
    a[:, :10] = 0.0
    np.testing.assert_allclose(lrp.metrics.spearman(a, b),
                               correlation_spearman(a, b, batched=True), rtol=1e-12)


# ---------------------------------------------------------------------------- ssim


@pytest.mark.parametrize("shape,window", [((4, 12, 15), 7), ((3, 9, 9), 3), ((2, 7, 20), 5),
                                          ((2, 7, 7), 7)])
def test_ssim_agrees_with_skimage(shape, window):
    rng = np.random.default_rng(3)
    a = rng.normal(size=shape)
    b = 0.7 * a + 0.5 * rng.normal(size=shape)
    ours = lrp.metrics.ssim(a, b, window=window)
    np.testing.assert_allclose(ours, _skimage_ssim(a, b, window=window), rtol=0, atol=1e-10)
    fixed = lrp.metrics.ssim(a, b, window=window, data_range=4.0)
    np.testing.assert_allclose(fixed, _skimage_ssim(a, b, 4.0, window), rtol=0, atol=1e-10)


def test_ssim_sums_channels_and_matches_quantus():
    from quantus.functions.similarity_func import ssim as quantus_ssim

    rng = np.random.default_rng(4)
    a = rng.uniform(size=(3, 2, 10, 11))
    b = a + 0.3 * rng.normal(size=a.shape)
    ours = lrp.metrics.ssim(torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(ours, _skimage_ssim(a.sum(1), b.sum(1)), atol=1e-10)
    theirs = [quantus_ssim(u, v) for u, v in zip(a.sum(1), b.sum(1))]
    np.testing.assert_allclose(ours, theirs, atol=1e-10)


def test_ssim_of_identical_and_constant_maps():
    rng = np.random.default_rng(5)
    a = rng.normal(size=(2, 8, 8))
    np.testing.assert_allclose(lrp.metrics.ssim(a, a), 1.0, rtol=1e-12)
    c = np.full((1, 8, 8), 2.0)
    assert np.isnan(lrp.metrics.ssim(c, c)).all()      # data range 0: undefined


# ---------------------------------------------------------------------------- models


@pytest.fixture(scope="module")
def digits_cnn():
    """conv → ReLU → conv → ReLU → linear, trained for ~2 s on standardized digits (8 × 8);
    graph in float64 and 24 test images."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = torch.tensor(d.images / 16.0, dtype=torch.float32)[:, None]
    X = (X - X.mean(0)) / (X.std(0) + 0.1)
    y = torch.tensor(d.target)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(8 * 8 * 8, 10))
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(net(X[:1500]), y[:1500]).backward()
        opt.step()
    net = net.double().eval()
    for p in net.parameters():
        p.requires_grad_(False)
    x = X[1500:1524].double()
    accuracy = float((net(X[1500:].double()).argmax(1) == y[1500:]).double().mean())
    assert accuracy > 0.8, accuracy
    return net, neon.neuralize(net, x[:1]), x


@pytest.fixture(scope="module")
def small():
    """A random-weight CNN (1, 8, 8) → 4 classes and 5 images, float64."""
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(3 * 8 * 8, 4)).double().eval()
    x = torch.rand(5, 1, 8, 8, dtype=F64)
    return net, neon.neuralize(net, x[:1]), x


def _state(graph):
    return {k: v.clone() for k, v in graph.state_dict().items()}


# ---------------------------------------------------------------------------- randomization


EPSILON = functools.partial(lrp.explain, composite=lrp.EpsilonOnly())


def test_adebayo_gradient_and_lrp_react_guided_backprop_barely(digits_cnn):
    _, g, x = digits_cnn
    signed = {name: lrp.metrics.randomization_check(g, m, x, seed=0, absolute=False)
              for name, m in [("gradient", lrp.gradient), ("lrp_epsilon", EPSILON),
                              ("guided_backprop", lrp.guided_backprop)]}
    assert signed["gradient"].stages == ["5", "2", "0"]       # linear, conv 2, conv 1
    top = {name: r.mean("spearman")[0] for name, r in signed.items()}
    # top layer random: gradient and LRP-ε decorrelate, guided backprop keeps its map
    assert abs(top["gradient"]) < 0.3 and abs(top["lrp_epsilon"]) < 0.3, top
    assert top["guided_backprop"] > max(top["gradient"], top["lrp_epsilon"]) + 0.3, top
    ssim_top = {name: r.mean("ssim")[0] for name, r in signed.items()}
    assert ssim_top["guided_backprop"] > max(ssim_top["gradient"],
                                             ssim_top["lrp_epsilon"]) + 0.3, ssim_top
    # on |R| too, the gradient drops further than guided backprop
    grad = lrp.metrics.randomization_check(g, lrp.gradient, x, seed=0)
    gbp = lrp.metrics.randomization_check(g, lrp.guided_backprop, x, seed=0)
    assert gbp.mean("spearman")[0] > grad.mean("spearman")[0] + 0.2
    for s in grad.scores["spearman"] + grad.scores["ssim"]:
        assert s.higher_is_better is False and len(s) == len(x)


def test_the_graph_is_left_untouched_bit_for_bit(small):
    _, g, x = small
    before = _state(g)
    out = g(x).clone()
    for cascade in ("top_down", "independent"):
        lrp.metrics.randomization_check(g, lrp.gradient, x, cascade=cascade, seed=3)
    after = g.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert torch.equal(g(x), out)


def test_same_seed_same_result_other_seed_other_result(small):
    _, g, x = small
    a = lrp.metrics.randomization_check(g, lrp.gradient, x, seed=7)
    b = lrp.metrics.randomization_check(g, lrp.gradient, x, seed=7)
    c = lrp.metrics.randomization_check(g, lrp.gradient, x, seed=8)
    for name in a.scores:
        for sa, sb, sc in zip(a.scores[name], b.scores[name], c.scores[name]):
            np.testing.assert_array_equal(sa.values, sb.values)      # deterministic
            assert not np.allclose(sa.values, sc.values)
    gen = lrp.metrics.randomization_check(g, lrp.gradient, x,
                                          seed=torch.Generator().manual_seed(7))
    np.testing.assert_array_equal(gen.scores["spearman"][0].values,
                                  a.scores["spearman"][0].values)


@pytest.mark.parametrize("cascade", ["top_down", "independent"])
def test_randomized_copies_differ_exactly_at_the_stages_nodes(digits_cnn, cascade):
    _, g, _ = digits_cnn
    original = {n.name: n.op for n in g.nodes}
    stages = lrp.metrics.parametrized_nodes(g)
    seen = []
    for i, (stage, nodes, copy) in enumerate(lrp.metrics.randomized_copies(
            g, cascade=cascade, seed=0)):
        seen.append(stage)
        expected = stages[:i + 1] if cascade == "top_down" else [stage]
        assert list(nodes) == expected
        for name, op in original.items():
            new = copy[name].op
            for key, t in op.named_buffers():
                t2 = dict(new.named_buffers())[key]
                if name in expected:
                    assert not torch.allclose(t, t2), (stage, name, key)
                    # drawn at the trained tensor's scale (σ of its entries), mean ≈ 0
                    if t.numel() > 100:
                        ratio = float(t2.std() / t.std())
                        assert 0.8 < ratio < 1.2, (name, key, ratio)
                        assert abs(float(t2.mean())) < 0.2 * float(t.std())
                else:
                    assert torch.equal(t, t2), (stage, name, key)
    assert seen == stages


def test_every_stage_matches_a_recomputation_with_scipy_and_skimage(small):
    net, g, x = small
    res = lrp.metrics.randomization_check(g, lrp.gradient, x, seed=11, cascade="independent")
    target = net(x).argmax(1)                       # fixed at x on the original model
    r0 = lrp.gradient(g, x, target).numpy()

    def maps(r):                                    # Adebayo's abs_grayscale_norm
        m = np.abs(r).sum(1)
        return m / m.reshape(len(m), -1).max(1)[:, None, None]

    for k, (stage, _, copy) in enumerate(lrp.metrics.randomized_copies(
            g, cascade="independent", seed=11)):
        rk = lrp.gradient(copy, x, target).numpy()
        np.testing.assert_allclose(res.scores["spearman"][k].values,
                                   _scipy_spearman(np.abs(r0), np.abs(rk)), atol=1e-12)
        np.testing.assert_allclose(res.scores["ssim"][k].values,
                                   _skimage_ssim(maps(r0), maps(rk), data_range=1.0),
                                   atol=1e-10)
        assert res.stages[k] == stage
    np.testing.assert_allclose(res.original["spearman"].values, 1.0)
    assert res.target.shape == (5, 4)
    np.testing.assert_allclose(res.target.argmax(1), target.numpy())


def test_the_target_does_not_follow_the_randomized_prediction(small):
    net, g, x = small
    res = lrp.metrics.randomization_check(g, lrp.gradient, x, seed=2, absolute=False,
                                          similarity="spearman")
    target = net(x).argmax(1)
    r0 = lrp.gradient(g, x, target).numpy()
    stage, _, copy = next(lrp.metrics.randomized_copies(g, seed=2))
    assert (copy(x).argmax(1) != target).any()      # the prediction changed …
    rk = lrp.gradient(copy, x, target).numpy()      # … the explained class did not
    np.testing.assert_allclose(res.scores["spearman"][0].values, _scipy_spearman(r0, rk),
                               atol=1e-12)
    assert list(res.scores) == ["spearman"]


def test_stage_order_matches_quantus_layer_generator(small):
    from quantus.helpers.model.pytorch_model import PyTorchModel

    net, g, _ = small
    names = [name for name, _ in PyTorchModel(net, channel_first=True)
             .get_random_layer_generator(order="top_down", seed=0)]
    assert names == lrp.metrics.parametrized_nodes(g)


def test_tabular_graphs_default_to_spearman_and_summary():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).double()
    x = torch.randn(10, 6, dtype=F64)
    g = neon.neuralize(net, x[:1])
    res = lrp.metrics.randomization_check(g, "gradient_x_input", x.numpy(), seed=0,
                                          batch_size=4)
    assert list(res.scores) == ["spearman"] and len(res.stages) == 2
    assert res.method == "lrp.gradient_x_input"
    text = res.summary()
    assert "original" in text and res.stages[0] in text and "lower similarity" in text
    assert res.mean().shape == (2,)


def test_constant_explanations_give_nan_and_a_warning():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 3)).double()
    x = torch.randn(4, 6, dtype=F64)
    g = neon.neuralize(net, x[:1])
    # the gradient of a linear model is its weight row; the same map for every sample is
    # fine, but a constant row is not: make row 0 constant
    with torch.no_grad():
        g["0"].op.weight[0] = 0.5
    with pytest.warns(RuntimeWarning, match="undefined"):
        res = lrp.metrics.randomization_check(g, lrp.gradient, x, target=0, seed=0)
    assert np.isnan(res.original["spearman"].values).all()


# ---------------------------------------------------------------------------- random logit


def test_random_logit_on_a_linear_model_is_the_rank_correlation_of_weight_rows():
    torch.manual_seed(4)
    net = nn.Sequential(nn.Linear(12, 5)).double()
    x = torch.randn(30, 12, dtype=F64)
    g = neon.neuralize(net, x[:1])
    res = lrp.metrics.random_logit_check(g, lrp.gradient, x, seed=0)
    w = net[0].weight.detach().numpy()
    c = net(x).argmax(1).numpy()
    np.testing.assert_array_equal(res.target, c)
    assert np.all(res.other != res.target) and set(res.other) <= set(range(5))
    np.testing.assert_allclose(res.scores["spearman"].values,
                               _scipy_spearman(np.abs(w[c]), np.abs(w[res.other])), atol=1e-12)
    assert res.scores["spearman"].higher_is_better is False
    again = lrp.metrics.random_logit_check(g, lrp.gradient, x, seed=0)
    np.testing.assert_array_equal(again.other, res.other)
    assert "random-logit" in res.summary()


def test_random_logit_draws_uniformly_over_the_other_classes():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4)).double()
    x = torch.randn(4000, 3, dtype=F64)
    g = neon.neuralize(net, x[:1])
    res = lrp.metrics.random_logit_check(g, lrp.gradient, x, target=1, seed=1)
    counts = np.bincount(res.other, minlength=4)
    assert counts[1] == 0
    assert np.all(np.abs(counts[[0, 2, 3]] / 4000 - 1 / 3) < 0.03), counts


def test_random_logit_matches_quantus_on_two_classes():
    import quantus
    from quantus.functions.similarity_func import correlation_spearman

    torch.manual_seed(5)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(3 * 8 * 8, 2)).double().eval()
    x = torch.rand(6, 1, 8, 8, dtype=F64)
    g = neon.neuralize(net, x[:1])
    y = net(x).argmax(1).numpy()

    def explain(model, inputs, targets, **kwargs):
        return lrp.gradient(g, np.asarray(inputs), lrp.Column(np.asarray(targets)))

    metric = quantus.RandomLogit(similarity_func=correlation_spearman, num_classes=2, seed=0,
                                 abs=True, normalise=False, disable_warnings=True)
    theirs = metric(model=net, x_batch=x.numpy(), y_batch=y, a_batch=None,
                    explain_func=explain, device="cpu")
    ours = lrp.metrics.random_logit_check(g, lrp.gradient, x, seed=0, similarity="spearman")
    np.testing.assert_array_equal(ours.other, 1 - y)     # the only other class
    np.testing.assert_allclose(ours.scores["spearman"].values, theirs, atol=1e-12)


def test_random_logit_refuses_a_target_of_several_classes():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4)).double()
    x = torch.randn(2, 3, dtype=F64)
    g = neon.neuralize(net, x[:1])
    mask = torch.tensor([[1.0, 1.0, 0, 0], [0, 1.0, 0, 0]], dtype=F64)
    with pytest.raises(ValueError, match="one class per sample"):
        lrp.metrics.random_logit_check(g, lrp.gradient, x, target=mask)


# ---------------------------------------------------------------------------- plot


def test_randomization_curves_draw_one_line_per_method(small, tmp_path):
    import matplotlib.pyplot as plt

    _, g, x = small
    results = {"gradient": lrp.metrics.randomization_check(g, lrp.gradient, x, seed=0),
               "guided backprop": lrp.metrics.randomization_check(g, lrp.guided_backprop, x,
                                                                  seed=0)}
    fig = lrp.plot.randomization_curves(results, score="spearman")
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
    assert len(lines) == 2
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("gradient (last stage") and \
        labels[1].startswith("guided backprop")
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["original", *results["gradient"].stages]
    for line, r in zip(lines, results.values()):
        y = line.get_ydata()
        np.testing.assert_allclose(y[0], 1.0)
        np.testing.assert_allclose(y[1:], [np.nanmean(s.values) for s in r.scores["spearman"]])
    assert len(ax.collections) == 2                 # one band per method
    fig.savefig(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").stat().st_size > 0
    plt.close(fig)
    fig, ax = plt.subplots()
    assert lrp.plot.randomization_curves(results["gradient"], ax, score="ssim",
                                         band=None) is fig
    assert len(ax.collections) == 0 and "ssim" in ax.get_title()
    plt.close(fig)


def test_randomization_curves_refuse_results_measured_differently(small):
    _, g, x = small
    a = lrp.metrics.randomization_check(g, lrp.gradient, x, seed=0)
    b = lrp.metrics.randomization_check(g, lrp.gradient, x, seed=0, cascade="independent")
    with pytest.raises(ValueError, match="measured differently"):
        lrp.plot.randomization_curves({"a": a, "b": b})
