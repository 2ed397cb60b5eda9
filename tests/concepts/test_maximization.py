"""concepts.maximize against maximizers known in closed form or found independently (a linear
program, a brute-force grid, scikit-learn's own densities): a linear unit in a box is
maximized at the corner sign(w), a tanh unit too, a Gaussian's log-density at its mean (or
at the mean clipped into a box, for a diagonal covariance), a linear unit with an L2 penalty
at w / 2λ, a k-means cluster logit at the vertex a linear program and a 2001² grid find;
unbounded problems are refused; one-hot groups and integers come out valid; priors read
scikit-learn's densities exactly and pull prototypes to the data."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from scipy.optimize import linprog
from torch import nn

import concepts
import neon
from concepts import (
    DataDistance,
    DensityPrior,
    Integer,
    OneHot,
    UnboundedObjectiveError,
    channel,
    output,
    unit,
)
from concepts.parameterizations import FFT
from concepts.regularizers import L1, L2, AlphaNorm, TotalVariation, gaussian_blur
from concepts.transforms import Jitter, Pad, Rotate, Scale, compose

torch.set_num_threads(1)
F64 = torch.float64


def _linear(d=5, act=None, seed=0):
    torch.manual_seed(seed)
    layers = [nn.Linear(d, 1)] + ([act] if act is not None else [])
    net = nn.Sequential(*layers).double()
    return net, neon.neuralize(net, torch.randn(1, d, dtype=F64))


def _blobs():
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(c, 0.05, (30, 2))
                        for c in [(0.2, 0.2), (0.8, 0.3), (0.5, 0.8)]])
    km = KMeans(3, n_init=4, random_state=0).fit(x)
    return km, neon.neuralize(km, x), x


def _kmeans_box_maximizer(mu, c, low=0.0, high=1.0):
    """max_x min_{k≠c} w_ck·x + b_ck on the box, by a linear program in (x, t)."""
    others = [k for k in range(len(mu)) if k != c]
    w = np.array([2 * (mu[c] - mu[k]) for k in others])
    b = np.array([mu[k] @ mu[k] - mu[c] @ mu[c] for k in others])
    d = mu.shape[1]
    bounds = [(low, high)] * d + [(None, None)]
    res = linprog(np.r_[np.zeros(d), -1.0], A_ub=np.hstack([-w, np.ones((len(others), 1))]),
                  b_ub=b, bounds=bounds, method="highs")
    return res.x[:d], -res.fun


def _cnn(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1),
                        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    return neon.neuralize(net, torch.randn(1, 3, 12, 12))


# ---------------------------------------------------------------------------- known maximizers

def test_linear_unit_in_a_box_goes_to_the_corner_sign_w():
    net, g = _linear()
    w, b = net[0].weight.detach()[0], float(net[0].bias.detach())
    r = concepts.maximize(g, unit("0", 0), box=(-1, 1), starts=3)
    assert torch.equal(r.inputs, torch.sign(w).expand(3, -1))
    assert torch.allclose(r.objective, torch.full((3,), float(w.abs().sum()) + b, dtype=F64))
    # a per-feature box: the corner of each feature's own range
    low = torch.tensor([-1.0, 0.0, -2.0, 0.5, -0.5], dtype=F64)
    high = torch.tensor([0.0, 2.0, 1.0, 1.0, 3.0], dtype=F64)
    r = concepts.maximize(g, output(), box=(low, high), starts=2, seed=1)
    want = torch.where(w > 0, high, low)
    assert torch.equal(r.inputs, want.expand(2, -1))
    assert bool(((r.inputs >= low) & (r.inputs <= high)).all())


def test_tanh_unit_goes_to_the_same_corner():
    net, g = _linear(act=nn.Tanh(), seed=3)
    w, b = net[0].weight.detach()[0], float(net[0].bias.detach())
    r = concepts.maximize(g, unit("1", 0), box=(-0.5, 0.5), starts=2)
    assert torch.equal(r.inputs, 0.5 * torch.sign(w).expand(2, -1))
    assert np.isclose(float(r.objective[0]), np.tanh(0.5 * float(w.abs().sum()) + b))


def test_gaussian_log_density_peaks_at_the_mean_and_its_clip_in_a_box():
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(0)
    data = rng.normal([1.0, -2.0, 0.5], [0.5, 1.0, 2.0], size=(200, 3))
    for kind in ("full", "diag"):
        gm = GaussianMixture(1, covariance_type=kind, random_state=0).fit(data)
        g = neon.neuralize(gm, data)
        r = concepts.maximize(g, -output(), steps=400, lr=0.1)      # log p(x)
        assert np.allclose(r.inputs.numpy()[0], gm.means_[0], atol=1e-3), kind
        assert np.isclose(float(r.objective[0]), gm.score_samples(gm.means_)[0], atol=1e-6)
    # diagonal covariance: the box maximizer is the mean clipped into the box
    low, high = np.array([1.5, -3.0, -1.0]), np.array([2.0, -2.5, 0.0])
    r = concepts.maximize(g, -output(), box=(low, high), steps=300, lr=0.05)
    assert np.allclose(r.inputs.numpy()[0], np.clip(gm.means_[0], low, high), atol=1e-4)


def test_linear_unit_with_l2_peaks_at_w_over_2_lambda():
    net, g = _linear(d=4)
    w = net[0].weight.detach()[0]
    r = concepts.maximize(g, output(), regularizers=[L2(1.5)], steps=400)
    assert torch.allclose(r.inputs[0], w / 3.0, atol=1e-5)
    # with a centre c: the peak moves to c + w / 2λ
    c = torch.tensor([1.0, -1.0, 0.0, 2.0], dtype=F64)
    r = concepts.maximize(g, output(), regularizers=[L2(1.5, center=c)], steps=400)
    assert torch.allclose(r.inputs[0], c + w / 3.0, atol=1e-5)


def test_kmeans_cluster_logit_in_a_box_reaches_the_vertex_a_linear_program_finds():
    km, g, data = _blobs()
    mu = km.cluster_centers_
    grid = np.linspace(0, 1, 2001)
    points = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
    logits = g(points)
    for c in range(3):
        x_lp, f_lp = _kmeans_box_maximizer(mu, c)
        best = points[logits[:, c].argmax()]
        assert np.abs(best - x_lp).max() <= 1e-3                 # grid and LP agree
        t = time.perf_counter()
        r = concepts.maximize(g, output(target=c), box=(0, 1), starts=4)
        took = time.perf_counter() - t
        x = r.inputs.numpy()
        assert ((x >= 0) & (x <= 1)).all()
        assert np.abs(x - x_lp).max() < 5e-3, (c, x, x_lp)
        assert np.allclose(r.objective.numpy(), f_lp, atol=5e-3)
        assert took < 5.0


def test_kmeans_logit_unbounded_without_a_box_is_refused():
    km, g, data = _blobs()
    for c in range(3):
        with pytest.raises(UnboundedObjectiveError, match="convex hull") as info:
            concepts.maximize(g, output(target=c))
        assert "box" in str(info.value) and "prior" in str(info.value)
    with pytest.raises(UnboundedObjectiveError, match="convex hull"):
        concepts.maximize(g, unit("logits", 1))


def test_kmeans_logit_of_a_centroid_inside_the_hull_is_bounded_and_maximized():
    """μ_3 = (0.5, 0.4) lies inside the triangle of the other three: f_3 is bounded above, so
    no box is needed, and the maximizer is the LP optimum without bounds."""
    from sklearn.cluster import KMeans

    mu = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, 1.0], [0.5, 0.4]])
    km = KMeans(4, n_init=1, init=mu, max_iter=1).fit(mu)
    km.cluster_centers_ = mu.copy()
    g = neon.neuralize(km, mu)
    x_lp, f_lp = _kmeans_box_maximizer(mu, 3, low=None, high=None)
    r = concepts.maximize(g, output(target=3), starts=3, steps=400)
    assert np.abs(r.inputs.numpy() - x_lp).max() < 5e-3
    assert np.allclose(r.objective.numpy(), f_lp, atol=1e-3)
    with pytest.raises(UnboundedObjectiveError, match="convex hull"):
        concepts.maximize(g, output(target=0))


def test_a_linear_models_output_is_refused_without_a_box_and_cornered_with_one():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    data = rng.normal(size=(80, 3)) * [1.0, 5.0, 0.2]
    y = data @ [1.0, -0.3, 4.0] > 0
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(data, y)
    g = neon.neuralize(model, data)
    with pytest.raises(UnboundedObjectiveError, match="affine") as info:
        concepts.maximize(g, output(target=True), box=False)
    assert "box" in str(info.value)
    r = concepts.maximize(g, output(target=True), data=data, starts=2)       # the data box
    w = model[-1].coef_[0] / model[0].scale_
    want = np.where(w > 0, data.max(0), data.min(0))
    assert isinstance(r.inputs, np.ndarray)
    assert np.allclose(r.inputs, want, atol=1e-12)
    assert np.allclose(r.objective, model.decision_function(want[None])[0])


def test_l1_bounds_a_linear_unit_only_when_it_beats_the_largest_slope():
    net, g = _linear(d=3)
    w = net[0].weight.detach()[0]
    big = float(w.abs().max())
    with pytest.raises(UnboundedObjectiveError):
        concepts.maximize(g, output(), regularizers=[L1(0.9 * big)])
    r = concepts.maximize(g, output(), regularizers=[L1(1.1 * big)], steps=16)
    assert r.inputs.shape == (1, 3)


# ---------------------------------------------------------------------------- images

def test_cnn_channel_with_fft_and_transforms_gives_a_non_constant_image_in_the_box():
    g = _cnn()
    trans = [Pad(2, value=0.5), Jitter(2), Scale((0.9, 1.0, 1.1)), Rotate(10)]
    t = time.perf_counter()
    r = concepts.maximize(g, channel("2", 1), shape=(3, 12, 12), box=(0, 1),
                          parameterization="fft", transforms=trans, starts=2, steps=64)
    took = time.perf_counter() - t
    x = r.inputs
    assert x.shape == (2, 3, 12, 12) and x.dtype == torch.float32
    assert float(x.std()) > 1e-3
    assert bool(((x >= 0) & (x <= 1)).all())
    assert r.trajectory.shape == (64, 2)
    assert bool((r.trajectory[-8:].mean(0) > r.trajectory[:8].mean(0)).all())
    assert took < 10
    # plain pixels with total variation and blur steps, fft without decorrelation
    r = concepts.maximize(g, channel("2", 1), shape=(3, 12, 12), box=(0, 1), steps=32,
                          regularizers=[TotalVariation(1e-3), concepts.Blur(4, 0.5)])
    assert float(r.inputs.std()) > 1e-3
    r = concepts.maximize(g, channel("2", 0), shape=(3, 12, 12), box=(0, 1), steps=32,
                          parameterization=FFT(decorrelate=False))
    assert float(r.inputs.std()) > 1e-3


def test_a_relu_networks_channel_is_refused_without_a_box():
    g = _cnn()
    for param in ("plain", "fft"):
        with pytest.raises(UnboundedObjectiveError, match="linearly"):
            concepts.maximize(g, channel("2", 1), shape=(3, 12, 12), parameterization=param)
    r = concepts.maximize(g, channel("2", 1), shape=(3, 12, 12), regularizers=[L2(0.1)],
                          steps=8)
    assert bool(torch.isfinite(r.inputs).all())


def test_fft_parameterization_inverts_a_start_and_scales_by_one_over_f():
    from concepts.maximization import Problem

    fft = FFT()
    start = torch.rand(2, 3, 8, 6, dtype=F64, generator=torch.Generator().manual_seed(0))
    start = start.clamp(0.05, 0.95)
    for box in (None, (torch.zeros(3, 8, 6, dtype=F64), torch.ones(3, 8, 6, dtype=F64))):
        p = Problem(graph=None, shape=(3, 8, 6), dtype=F64, device=torch.device("cpu"),
                    starts=2, box=box)
        z = fft.init(p, start, None)
        assert torch.allclose(fft.image(z, p), start, atol=1e-10)
    s = fft._scale(p)
    assert float(s[0, 0]) == 8.0                       # 1 / max(0, 1/8)
    assert np.isclose(float(s[0, 1]), 6.0)            # |f| = 1/6 cycles per pixel
    assert np.isclose(float(s[4, 3]), 1 / np.hypot(0.5, 0.5))


def test_transforms_are_known_maps():
    gen = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 16, dtype=F64).reshape(2, 1, 4, 4)
    assert torch.equal(Rotate([90]).apply(x, gen).round(), torch.rot90(x, 1, (2, 3)))
    assert torch.equal(Scale(1.0).apply(x, gen), x)
    assert torch.equal(compose([Pad(3)], x, gen), x)            # pad, then crop back
    y = Jitter(1).apply(x, gen)
    assert y.shape == x.shape
    for i in range(2):                                         # a shift by (dy, dx)
        ok = [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1)
              if torch.equal(y[i, 0, 1:3, 1:3], x[i, 0, 1 + a:3 + a, 1 + b:3 + b])]
        assert ok
    z = Scale(2.0).apply(torch.ones(1, 2, 5, 5, dtype=F64), gen)
    assert torch.allclose(z, torch.ones_like(z))


def test_regularizer_penalties_by_hand():
    x = torch.tensor([[1.0, -2.0, 3.0]], dtype=F64)
    assert float(L2(1.0).penalty(x)) == 14.0
    assert float(L1(1.0).penalty(x)) == 6.0
    assert float(AlphaNorm(1.0, alpha=3).penalty(x)) == 36.0
    img = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]], dtype=F64)    # a 2×2 checkerboard
    assert float(TotalVariation(1.0).penalty(img)) == 4.0
    const = torch.full((1, 2, 6, 6), 0.3, dtype=F64)
    assert torch.allclose(gaussian_blur(const, 1.0), const)


# ---------------------------------------------------------------------------- tabular constraints

def test_one_hot_and_integer_columns_come_out_valid_and_optimal():
    net, g = _linear(d=6, seed=5)
    w = net[0].weight.detach()[0]
    r = concepts.maximize(g, output(), box=(-1.0, 3.6), starts=3, seed=2,
                          constraints=[OneHot([[0, 1, 2]]), Integer([3])])
    x = r.inputs
    group = x[:, :3]
    assert bool(((group == 0) | (group == 1)).all()) and bool((group.sum(1) == 1).all())
    assert bool((group.argmax(1) == w[:3].argmax()).all())      # the largest weight wins
    assert bool((x[:, 3] == x[:, 3].round()).all())
    assert bool((x[:, 3] == (3.0 if w[3] > 0 else -1.0)).all())
    corner = torch.where(w[4:] > 0, torch.tensor(3.6, dtype=F64), torch.tensor(-1.0, dtype=F64))
    assert torch.equal(x[:, 4:], corner.expand(3, -1))


# ---------------------------------------------------------------------------- priors

def test_density_priors_read_scikit_learns_densities():
    from sklearn.mixture import GaussianMixture
    from sklearn.neighbors import KernelDensity
    from sklearn.svm import OneClassSVM

    rng = np.random.default_rng(0)
    data = rng.normal(size=(40, 2))
    x = torch.as_tensor(rng.normal(size=(7, 2)) * 1.5)
    kde = KernelDensity(bandwidth=0.7).fit(data)
    gmm = GaussianMixture(2, random_state=0).fit(data)
    oc = OneClassSVM(gamma=0.5).fit(data)
    for est, want in ((kde, kde.score_samples(x.numpy())), (gmm, gmm.score_samples(x.numpy())),
                      (oc, np.log(oc.score_samples(x.numpy())))):
        prior = DensityPrior(neon.neuralize(est, data), 1.0)
        assert np.allclose(prior.log_density(x).numpy(), want, rtol=1e-8, atol=1e-8), est
    km = __import__("sklearn.cluster", fromlist=["KMeans"]).KMeans(2, n_init=1).fit(data)
    with pytest.raises(TypeError, match="log-density"):
        DensityPrior(neon.neuralize(km, data), 1.0)


def test_one_class_svm_inlier_prototype_lies_in_the_data():
    from sklearn.svm import OneClassSVM

    rng = np.random.default_rng(0)
    data = np.concatenate([rng.normal(c, 0.3, (40, 2)) for c in [(0, 0), (3, 1)]])
    oc = OneClassSVM(gamma=0.5, nu=0.2).fit(data)
    g = neon.neuralize(oc, data)
    with pytest.raises(UnboundedObjectiveError):
        concepts.maximize(g, output())                       # outlierness grows forever
    r = concepts.maximize(g, -output(), data=data, starts=3)
    scores = oc.score_samples(r.inputs)
    assert (scores >= np.quantile(oc.score_samples(data), 0.9)).all()
    nearest = np.sqrt(((r.inputs[:, None] - data[None]) ** 2).sum(2)).min(1)
    assert (nearest < 0.3).all()


def test_data_distance_and_density_prior_pull_the_prototype_to_the_data():
    from sklearn.neighbors import KernelDensity

    km, g, data = _blobs()
    target = int(km.predict([[0.5, 0.8]])[0])

    def nearest(x):
        return np.sqrt(((np.asarray(x)[:, None] - data[None]) ** 2).sum(2)).min(1)

    free = concepts.maximize(g, output(target=target), data=data, box=(0, 1), starts=2)
    pulled = concepts.maximize(g, output(target=target), data=data, box=(0, 1), starts=2,
                               constraints=[DataDistance(data, 20.0)])
    assert (nearest(pulled.inputs) < 0.5 * nearest(free.inputs).min()).all()
    # the prior alone bounds the logit: no box needed
    kde = neon.neuralize(KernelDensity(bandwidth=0.1).fit(data), data)
    prior = concepts.maximize(g, output(target=target), constraints=[DensityPrior(kde, 0.1)],
                              start=data[km.labels_ == target][:2])
    assert (nearest(prior.inputs) < 0.5 * nearest(free.inputs).min()).all()
    assert km.predict(prior.inputs).tolist() == [target, target]


# ---------------------------------------------------------------------------- bookkeeping

def test_seeds_repeat_and_differ():
    g = _cnn()
    kw = dict(shape=(3, 12, 12), box=(0, 1), starts=2, steps=8, transforms=[Jitter(1)])
    a = concepts.maximize(g, channel("2", 1), seed=4, **kw)
    b = concepts.maximize(g, channel("2", 1), seed=4, **kw)
    c = concepts.maximize(g, channel("2", 1), seed=5, **kw)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.trajectory, b.trajectory)
    assert not torch.equal(a.inputs, c.inputs)


def test_dtypes_results_and_types():
    km, g, data = _blobs()                                    # float64 graph
    r = concepts.maximize(g, output(target=0), box=(0, 1), starts=2, steps=10)
    assert r.inputs.dtype == F64 and isinstance(r.inputs, torch.Tensor)
    assert r.trajectory.shape == (10, 2) and r.regularized.shape == (10, 2)
    assert set(r.activations) == {"logits"} and r.activations["logits"].shape == (2, 3)
    assert torch.allclose(r.activations["logits"][:, 0], r.objective)
    r = concepts.maximize(g, output(target=0), data=data, starts=3, steps=10)
    assert isinstance(r.inputs, np.ndarray) and isinstance(r.trajectory, np.ndarray)
    assert r.best(2).shape == (2, 2)
    assert r.objective[r.order[0]] == r.objective.max()
    assert "output(target=0)" in repr(r)
    _, g32 = _linear(d=3)
    g32 = g32.to(torch.float32)
    r = concepts.maximize(g32, output(), box=(-1, 1), steps=20)
    assert r.inputs.dtype == torch.float32


def test_start_is_used_and_one_start_is_repeated():
    net, g = _linear(d=3)
    w = net[0].weight.detach()[0]
    start = torch.zeros(1, 3, dtype=F64)
    # no box, no data: z = x, one step x ← x + lr ∇(w·x − ‖x‖²) = lr w
    r = concepts.maximize(g, output(), regularizers=[L2(1.0)], start=start, starts=2, steps=1,
                          lr=0.01, schedule="constant", optimizer="sgd")
    assert torch.allclose(r.inputs, (0.01 * w).expand(2, -1))
    # a box [-1, 1]: z = (x + 1) / 2, so the step in x is lr · 2² · w
    r = concepts.maximize(g, output(), box=(-1, 1), start=start, steps=1, lr=0.01,
                          schedule="constant", optimizer="sgd")
    assert torch.allclose(r.inputs, 0.04 * w[None])


# ---------------------------------------------------------------------------- plots

def test_prototype_plots_draw_what_they_are_given():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from concepts import plot as cplot

    g = _cnn()
    r = concepts.maximize(g, channel("2", 1), shape=(3, 12, 12), box=(0, 1), starts=3, steps=4)
    fig = cplot.image_grid(r)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 3
    best = int(r.order[0])
    assert shown[0].get_title().startswith(f"start {best}:")
    # the box scale maps [0, 1] to itself: the drawn RGB is the input, channels last
    assert np.allclose(shown[0].images[0].get_array(), r.inputs[best].permute(1, 2, 0).numpy())
    plt.close(fig)
    ax = cplot.image(np.linspace(-1, 1, 16).reshape(4, 4))          # own min-max
    assert np.isclose(ax.images[0].get_array().min(), 0) and \
        np.isclose(ax.images[0].get_array().max(), 1)
    plt.close(ax.figure)
    net, lin = _linear(d=3)
    t = concepts.maximize(lin, output(), box=(-1, 1), starts=2, steps=4)
    data = np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]])
    axes = cplot.feature_view(t, feature_names=["a", "b", "c"], data=data)
    widths = [p.get_width() for p in axes[0].patches]
    x = t.inputs[0].numpy()
    assert np.allclose(widths, (x - data.mean(0)) / np.where(data.std(0) > 0, data.std(0), 1))
    assert [tick.get_text() for tick in axes[0].get_yticklabels()] == ["a", "b", "c"]
    plt.close(axes[0].figure)


def test_progress_prints_to_stderr(capsys):
    _, g = _linear(d=2)
    concepts.maximize(g, output(), box=(0, 1), steps=10, progress=True)
    err = capsys.readouterr().err
    assert err.count("concepts.maximize: step") == 10 and "step 10/10" in err
