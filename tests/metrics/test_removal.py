"""Feature removal / pixel flipping (lrp.metrics.removal) and its plot (lrp.plot.removal).

Expected values come from hand computation (a linear graph whose outputs are sums of known
terms, with literal curves), from numpy re-implementations written here (Python loops over
samples and steps that sort with ``sorted`` and evaluate the torch module or the scikit-learn
estimator directly), and from ``quantus.PixelFlipping`` 0.6.0 — never from the code under
test.
"""

from __future__ import annotations

import copy
import math
import warnings

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

import lrp
import lrp.metrics
import lrp.plot
import neon
from lrp.metrics import RemovalResult, pixel_flipping, random_relevance, removal_bounds

matplotlib.use("Agg")
torch.set_num_threads(1)
# random nets often have a negative logit for the predicted class; the warning about it is
# tested in test_negative_output_is_warned_about
pytestmark = pytest.mark.filterwarnings("ignore:.*is negative for samples:RuntimeWarning")
F64, F32 = torch.float64, torch.float32


# ---------------------------------------------------------------------------- references

def _frozen(net, dtype=F64):
    net = net.to(dtype).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _linear(weight, bias):
    lin = nn.Linear(weight.shape[1], weight.shape[0], dtype=F64)
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(weight))
        lin.bias.copy_(torch.as_tensor(bias))
    lin = _frozen(lin)
    return lin, neon.neuralize(lin, torch.zeros(1, weight.shape[1], dtype=F64))


def _order(values, order):
    """Unit indices in removal order: a stable sort by value, ties by index."""
    idx = range(len(values))
    if order == "morf":
        return sorted(idx, key=lambda j: (-values[j], j))
    return sorted(idx, key=lambda j: (values[j], j))


def _ceil_bounds(units, steps):
    return [math.ceil(k * units / steps) for k in range(steps + 1)]


def _reference(score, x, units_rel, unit_elements, base, order, steps):
    """Curves (N, steps + 1) by loops: ``score(i, x')`` of sample i's copy x' (flat numpy),
    units ranked by ``units_rel[i]``, unit u covering the flat elements ``unit_elements[u]``,
    removed elements set to ``base[i]`` (flat)."""
    n = x.shape[0]
    bounds = _ceil_bounds(len(unit_elements), steps)
    out = np.zeros((n, steps + 1))
    for i in range(n):
        ranking = _order(list(units_rel[i]), order)
        for k, b in enumerate(bounds):
            copy = x[i].reshape(-1).copy()
            for u in ranking[:b]:
                for e in unit_elements[u]:
                    copy[e] = base[i].reshape(-1)[e]
            out[i, k] = score(i, copy)
    return out


def _linear_score(weight, bias, classes):
    return lambda i, v: float(weight[classes[i]] @ v + bias[classes[i]])


def _model_score(model, shape, classes):
    def score(i, v):
        with torch.no_grad():
            out = model(torch.as_tensor(v, dtype=F64).reshape(1, *shape))
        return float(out[0, classes[i]])
    return score


def _trapezoid(y, t):
    """∫ y dt by the trapezoid rule, written out."""
    return sum((t[k + 1] - t[k]) * (y[k] + y[k + 1]) / 2 for k in range(len(t) - 1))


# ---------------------------------------------------------------------------- fixtures

W = np.array([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.5, 2.0, -3.0], [0.3, -0.7, 1.1, 0.2]])
B = np.array([0.5, -0.25, 1.0])


@pytest.fixture(scope="module")
def linear():
    return _linear(W, B)


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    net = _frozen(nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(),
                                nn.Linear(3 * 5 * 7, 4)))
    x = torch.randn(4, 2, 5, 7, dtype=F64)
    return net, neon.neuralize(net, x[:1]), x


# ---------------------------------------------------------------------------- by hand

def test_literal_curves_auc_aopc_gap(linear):
    """f_0 = x1 + 2 x2 + 3 x3 + 4 x4 + 0.5 at x = 1, baseline 0: the curves by hand."""
    _, g = linear
    x = torch.ones(1, 4, dtype=F64)
    rel = torch.tensor([[0.1, 0.4, 0.3, 0.2]], dtype=F64)    # MoRF order 2, 3, 4, 1
    r = pixel_flipping(g, x, rel, 0, order="both", baseline=0.0, steps=4)
    np.testing.assert_allclose(r.curves["morf"], [[10.5, 8.5, 5.5, 1.5, 0.5]], atol=1e-12)
    np.testing.assert_allclose(r.curves["lerf"], [[10.5, 9.5, 5.5, 2.5, 0.5]], atol=1e-12)
    np.testing.assert_allclose(r.fractions, [0, 0.25, 0.5, 0.75, 1])
    # AUC: 0.25 · (10.5/2 + 8.5 + 5.5 + 1.5 + 0.5/2) / 10.5 = 0.5; LeRF 0.25 · 23 / 10.5
    np.testing.assert_allclose(r.auc["morf"].values, [0.5], atol=1e-12)
    np.testing.assert_allclose(r.auc["lerf"].values, [0.25 * 23 / 10.5], atol=1e-12)
    np.testing.assert_allclose(r.aopc["morf"].values, [26 / 5], atol=1e-12)  # (0+2+5+9+10)/5
    np.testing.assert_allclose(r.aopc["lerf"].values, [24 / 5], atol=1e-12)  # (0+1+5+8+10)/5
    np.testing.assert_allclose(r.gap.values, [0.25 * 2 / 10.5], atol=1e-12)
    assert not r.auc["morf"].higher_is_better and r.auc["lerf"].higher_is_better
    assert r.aopc["morf"].higher_is_better and not r.aopc["lerf"].higher_is_better
    assert r.gap.higher_is_better
    assert set(r.scores) == {"auc_morf", "aopc_morf", "auc_lerf", "aopc_lerf", "gap"}
    assert "constant 0" in r.baseline


def test_bounds_by_hand():
    np.testing.assert_array_equal(removal_bounds(4, 4), [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(removal_bounds(4, 3), [0, 2, 3, 4])
    np.testing.assert_array_equal(removal_bounds(10, 4), [0, 3, 5, 8, 10])
    np.testing.assert_array_equal(removal_bounds(64, 20), _ceil_bounds(64, 20))
    assert np.all(np.diff(removal_bounds(64, 20)) >= 1)     # no empty step
    np.testing.assert_array_equal(removal_bounds(7, 1), [0, 7])


@pytest.mark.parametrize("order", ["morf", "lerf", "both"])
@pytest.mark.parametrize("steps", [4, 3, 1])
def test_linear_against_loops(linear, order, steps):
    _, g = linear
    gen = np.random.default_rng(0)
    x = gen.normal(size=(5, 4))
    rel = gen.normal(size=(5, 4))
    classes = [0, 1, 2, 1, 0]
    r = pixel_flipping(g, x, rel, np.array(classes), order=order, baseline=-0.5, steps=steps)
    base = np.full_like(x, -0.5)
    elements = [[j] for j in range(4)]
    t = np.array(_ceil_bounds(4, steps)) / 4
    for o in (["morf", "lerf"] if order == "both" else [order]):
        ref = _reference(_linear_score(W, B, classes), x, rel, elements, base, o, steps)
        np.testing.assert_allclose(r.curves[o], ref, rtol=1e-12, atol=1e-12)
        auc = [_trapezoid(ref[i] / ref[i, 0], t) for i in range(5)]
        np.testing.assert_allclose(r.auc[o].values, auc, rtol=1e-12)
        aopc = [np.mean([ref[i, 0] - ref[i, k] for k in range(steps + 1)]) for i in range(5)]
        np.testing.assert_allclose(r.aopc[o].values, aopc, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(r.normalized(o), ref / ref[:, :1], rtol=1e-12)
    if order == "both":
        np.testing.assert_allclose(r.gap.values, r.auc["lerf"].values - r.auc["morf"].values)
    else:
        assert r.gap is None


def test_ties_go_in_index_order(linear):
    """Equal relevance everywhere: both orders remove features 1, 2, 3, 4."""
    _, g = linear
    x = np.array([[1.0, 2.0, -1.0, 0.5]])
    r = pixel_flipping(g, x, np.zeros((1, 4)), 0, order="both", baseline=0.0, steps=4)
    by_index = [W[0] @ np.where(np.arange(4) < k, 0.0, x[0]) + B[0] for k in range(5)]
    np.testing.assert_allclose(r.curves["morf"][0], by_index, atol=1e-12)
    np.testing.assert_allclose(r.curves["lerf"][0], by_index, atol=1e-12)


def test_batch_size_does_not_change_the_result(cnn):
    _, g, x = cnn
    rel = random_relevance(x, seed=1)
    runs = [pixel_flipping(g, x, rel, order="both", steps=9, batch_size=b).curves
            for b in (None, 1, 7, 1000)]
    for other in runs[1:]:
        for o in ("morf", "lerf"):
            np.testing.assert_allclose(other[o], runs[0][o], rtol=1e-12, atol=1e-13)


# ---------------------------------------------------------------------------- baselines

def _curves_for(g, x, rel, classes, base, **kw):
    r = pixel_flipping(g, x, rel, np.array(classes), steps=4, **kw)
    ref = _reference(_linear_score(W, B, classes), np.asarray(x), rel,
                     [[j] for j in range(4)], base, "morf", 4)
    np.testing.assert_allclose(r.curves["morf"], ref, rtol=1e-12, atol=1e-12)
    return r


def test_mean_baseline_from_data_and_from_the_batch(linear):
    _, g = linear
    gen = np.random.default_rng(1)
    x, rel, data = gen.normal(size=(6, 4)), gen.normal(size=(6, 4)), gen.normal(size=(30, 4))
    classes = [0, 1, 2, 0, 1, 2]
    r = _curves_for(g, x, rel, classes, np.broadcast_to(data.mean(0), x.shape),
                    baseline="mean", data=data)
    assert "of data" in r.baseline
    r = _curves_for(g, x, rel, classes, np.broadcast_to(x.mean(0), x.shape), baseline="mean")
    assert "of the batch x" in r.baseline and "batch x" in r.auc["morf"].description


def test_tensor_baselines(linear):
    _, g = linear
    gen = np.random.default_rng(2)
    x, rel = gen.normal(size=(3, 4)), gen.normal(size=(3, 4))
    one = gen.normal(size=4)
    _curves_for(g, x, rel, [0, 1, 2], np.broadcast_to(one, x.shape), baseline=one)
    every = gen.normal(size=(3, 4))
    _curves_for(g, torch.as_tensor(x), rel, [0, 1, 2], every, baseline=torch.as_tensor(every))
    _curves_for(g, x, rel, [2, 2, 2], np.broadcast_to(x.min(0), x.shape),
                baseline=lambda v: v.amin(0))


def _reveal(values, seed, baseline, data=None, classes=None):
    """The baseline value of feature t_i for every sample i, read off an identity graph: the
    relevance puts feature t_i first, so s_k = base[i, t_i] for every k ≥ 1."""
    n, f = values.shape
    classes = np.arange(n) % f if classes is None else classes
    eye = neon.neuralize(_linear(np.eye(f), np.zeros(f))[0], torch.zeros(1, f, dtype=F64))
    rel = np.eye(f)[classes]
    r = pixel_flipping(eye, values, rel, classes, baseline=baseline, data=data, seed=seed,
                       steps=f)
    curve = r.curves["morf"]
    np.testing.assert_allclose(curve[:, 1:], np.repeat(curve[:, 1:2], f, axis=1))  # fixed
    return curve[:, 1], classes


def test_uniform_baseline_is_seeded_and_in_range():
    gen = np.random.default_rng(3)
    data = gen.uniform(-2, 3, size=(50, 5)) * np.array([1, 2, 0.5, 1, 3])
    x = gen.normal(size=(400, 5))
    drawn, cls = _reveal(x, 7, "uniform", data)
    lo, hi = data.min(0)[cls], data.max(0)[cls]
    assert np.all(drawn >= lo) and np.all(drawn <= hi)
    again, _ = _reveal(x, 7, "uniform", data)
    np.testing.assert_array_equal(drawn, again)
    other, _ = _reveal(x, 8, "uniform", data)
    assert np.all(other != drawn)
    # uniform on [lo, hi]: the mean of 80 draws per feature is within 4 standard errors
    for c in range(5):
        sel = cls == c
        mid, width = (data[:, c].min() + data[:, c].max()) / 2, np.ptp(data[:, c])
        assert abs(drawn[sel].mean() - mid) < 4 * width / math.sqrt(12 * sel.sum())
    # without data: the range of the batch
    drawn, cls = _reveal(x, 7, "uniform")
    assert np.all(drawn >= x.min(0)[cls]) and np.all(drawn <= x.max(0)[cls])


def test_resample_baseline_takes_values_of_data_rows():
    gen = np.random.default_rng(4)
    data = gen.normal(size=(6, 3))
    x = gen.normal(size=(90, 3)) + 10
    drawn, cls = _reveal(x, 0, "resample", data)
    rows = [np.flatnonzero(np.isclose(data[:, c], v, rtol=0, atol=1e-15))
            for v, c in zip(drawn, cls)]
    assert all(len(r) == 1 for r in rows)           # every value is one row's value
    assert len({int(r[0]) for r in rows}) == 6      # and all rows are drawn
    np.testing.assert_array_equal(drawn, _reveal(x, 0, "resample", data)[0])
    assert not np.array_equal(drawn, _reveal(x, 1, "resample", data)[0])


def test_resample_takes_a_whole_patch_from_one_row():
    """Image samples (2, 3, 4) in patches of 2 × 2: elements of one patch (both channels)
    removed together come from the same data row."""
    gen = np.random.default_rng(5)
    shape = (2, 3, 4)
    f = math.prod(shape)
    eye = nn.Sequential(nn.Flatten(), nn.Linear(f, f, dtype=F64))
    with torch.no_grad():
        eye[1].weight.copy_(torch.eye(f))
        eye[1].bias.zero_()
    eye = _frozen(eye)
    g = neon.neuralize(eye, torch.zeros(1, *shape, dtype=F64))
    data = gen.normal(size=(5, *shape))
    x = gen.normal(size=(60, *shape)) + 10
    rel = np.zeros((60, *shape))
    rel[:, :, 2:, 2:] = 1.0                       # the bottom-right patch (one row, 2 columns)
    first, second = (0, 2, 2), (1, 2, 3)          # two elements of it, in different channels
    values = []
    for e in (first, second):
        target = np.full(60, np.ravel_multi_index(e, shape))
        r = pixel_flipping(g, x, rel, target, baseline="resample", data=data, seed=3,
                           region=2, steps=4)
        assert r.units == 4
        values.append(r.curves["morf"][:, 1])
    pairs = np.stack(values, 1)
    from_rows = np.stack([data[:, first[0], first[1], first[2]],
                          data[:, second[0], second[1], second[2]]], 1)
    for p in pairs:
        assert np.isclose(from_rows, p, rtol=0, atol=1e-15).all(1).any()


# ---------------------------------------------------------------------------- regions

def _patches(spatial, region):
    """Flat element indices (all channels) of each patch, C-order over the patch grid."""
    grids = [range(0, s, r) for s, r in zip(spatial, region)]
    out = []
    for starts in np.ndindex(*[len(gr) for gr in grids]):
        lo = [grids[d][starts[d]] for d in range(len(spatial))]
        out.append([p for p in np.ndindex(*spatial)
                    if all(lo[d] <= p[d] < lo[d] + region[d] for d in range(len(spatial)))])
    return out


def _region_reference(model, x, rel, region, base, order, steps, classes):
    shape = x.shape[1:]
    channels, spatial = shape[0], shape[1:]
    positions = _patches(spatial, region)
    flat = [[np.ravel_multi_index((c, *p), shape) for c in range(channels) for p in patch]
            for patch in positions]
    summed = rel.sum(1)
    units_rel = np.array([[sum(summed[i][p] for p in patch) for patch in positions]
                          for i in range(len(x))])
    return _reference(_model_score(model, shape, classes), x, units_rel, flat, base, order,
                      steps), len(positions)


def test_region_2d_against_loops(cnn):
    net, g, x = cnn
    gen = np.random.default_rng(6)
    rel = gen.normal(size=x.shape)
    one = gen.normal(size=x.shape[1:])
    classes = [0, 3, 1, 2]
    r = pixel_flipping(g, x, rel, np.array(classes), order="both", baseline=one,
                       region=(2, 3), steps=4)
    assert r.units == 9 and r.region == (2, 3)               # 3 × 3 patches, edges smaller
    for o in ("morf", "lerf"):
        ref, units = _region_reference(net, x.numpy(), rel, (2, 3),
                                       np.broadcast_to(one, x.shape), o, 4, classes)
        np.testing.assert_allclose(r.curves[o], ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(r.fractions, np.array(_ceil_bounds(9, 4)) / 9)


def test_region_1d_against_loops():
    torch.manual_seed(2)
    net = _frozen(nn.Sequential(nn.Conv1d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(),
                                nn.Linear(3 * 8, 3)))
    x = torch.randn(5, 2, 8, dtype=F64)
    g = neon.neuralize(net, x[:1])
    gen = np.random.default_rng(7)
    rel = gen.normal(size=x.shape)
    data = gen.normal(size=(20, 2, 8))
    with torch.no_grad():
        classes = net(x).argmax(1).tolist()
    r = pixel_flipping(g, x, rel, baseline="mean", data=data, region=3, steps=3)
    ref, units = _region_reference(net, x.numpy(), rel, (3,),
                                   np.broadcast_to(data.mean(0), x.shape), "morf", 3, classes)
    assert units == 3 == r.units
    np.testing.assert_allclose(r.curves["morf"], ref, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------- quantus

def _quantus_curves(model, x, rel, y, features_in_step, perturb_baseline):
    quantus = pytest.importorskip("quantus")
    old = torch.get_default_dtype()
    torch.set_default_dtype(F64)       # quantus feeds torch.Tensor(x): keep float64
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metric = quantus.PixelFlipping(features_in_step=features_in_step,
                                           perturb_baseline=perturb_baseline, normalise=False,
                                           abs=False, disable_warnings=True)
            out = metric(model=model, x_batch=x, y_batch=y, a_batch=rel, softmax=False,
                         channel_first=True, device="cpu")
    finally:
        torch.set_default_dtype(old)
    return np.array(out)


@pytest.mark.parametrize("features_in_step", [1, 4])
def test_agrees_with_quantus(features_in_step):
    torch.manual_seed(3)
    net = _frozen(nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                nn.Flatten(), nn.Linear(4 * 3 * 3, 5)))
    x = torch.randn(6, 2, 6, 6, dtype=F64)
    g = neon.neuralize(net, x[:1])
    rel = random_relevance(x, seed=4)                 # continuous: no ties
    with torch.no_grad():
        y = net(x).argmax(1).numpy()
    steps = 72 // features_in_step
    xn, rn = x.numpy(), rel.numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # negative logits of a random net
        ours = pixel_flipping(g, x, rel, y, order="both", baseline=0.3, steps=steps)
        # quantus' "black" is the per-sample minimum: a baseline shaped like x
        black = pixel_flipping(g, x, rel, y, baseline=x.amin((1, 2, 3), keepdim=True)
                               .expand_as(x), steps=steps)
    theirs = _quantus_curves(net, xn, rn, y, features_in_step, 0.3)
    assert theirs.shape == (6, steps)
    np.testing.assert_allclose(ours.curves["morf"][:, 1:], theirs, rtol=1e-12, atol=1e-13)
    lerf = _quantus_curves(net, xn, 1 - rn, y, features_in_step, 0.3)  # LeRF: MoRF of 1 − R
    np.testing.assert_allclose(ours.curves["lerf"][:, 1:], lerf, rtol=1e-12, atol=1e-13)
    dark = _quantus_curves(net, xn, rn, y, features_in_step, "black")
    np.testing.assert_allclose(black.curves["morf"][:, 1:], dark, rtol=1e-12, atol=1e-13)


# ---------------------------------------------------------------------------- inputs

def test_method_equals_its_precomputed_relevance(cnn):
    _, g, x = cnn
    for method, pre in ((lrp.gradient, lrp.gradient(g, x, 1)),
                        ("gradient_x_input", lrp.gradient_x_input(g, x, 1))):
        a = pixel_flipping(g, x, method, 1, steps=7, baseline=0.0)
        b = pixel_flipping(g, x, pre, 1, steps=7, baseline=0.0)
        np.testing.assert_array_equal(a.curves["morf"], b.curves["morf"])


def test_numpy_and_tensor_inputs_agree(cnn):
    _, g, x = cnn
    rel = random_relevance(x, seed=0)
    a = pixel_flipping(g, x, rel, order="both", steps=5, baseline="uniform", seed=2)
    b = pixel_flipping(g, x.numpy(), rel.numpy(), order="both", steps=5, baseline="uniform",
                       seed=2)
    for o in ("morf", "lerf"):
        np.testing.assert_array_equal(a.curves[o], b.curves[o])
        assert a.curves[o].dtype == np.float64


def test_float32_agrees_with_float64(cnn):
    net, g, x = cnn
    g32 = neon.neuralize(_frozen(copy.deepcopy(net), F32), x[:1].float())
    rel = random_relevance(x, seed=5)
    a = pixel_flipping(g, x, rel, 2, order="both", steps=6, data=x)
    b = pixel_flipping(g32, x.float(), rel.float(), 2, order="both", steps=6, data=x.float())
    for o in ("morf", "lerf"):
        assert b.curves[o].dtype == np.float64
        np.testing.assert_allclose(b.curves[o], a.curves[o], rtol=1e-4, atol=1e-4)


def test_neuralized_logistic_regression_against_sklearn():
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_wine(return_X_y=True)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    g = neon.neuralize(clf, X)
    xs = X[::12]
    rel = lrp.gradient_x_input(g, xs)
    r = pixel_flipping(g, xs, rel, order="both", baseline="mean", data=X, steps=13)
    classes = clf.predict(xs)
    base = np.broadcast_to(X.mean(0), xs.shape)
    score = lambda i, v: float(clf.decision_function(v[None])[0, classes[i]])  # noqa: E731
    for o in ("morf", "lerf"):
        ref = _reference(score, xs, rel, [[j] for j in range(13)], base, o, 13)
        np.testing.assert_allclose(r.curves[o], ref, rtol=1e-9, atol=1e-9)
    assert np.isfinite(r.gap.values).all()


def test_neuralized_kmeans_runs():
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_wine
    from sklearn.preprocessing import StandardScaler

    X = StandardScaler().fit_transform(load_wine().data)
    km = KMeans(3, n_init=3, random_state=0).fit(X)
    g = neon.neuralize(km, X)
    r = pixel_flipping(g, X[:20], lrp.explain, steps=13, data=X, order="both")
    call = lrp.calls.Call(g, X[:20], method="test")
    out, mask = call.outputs_and_masks()
    np.testing.assert_allclose(r.curves["morf"][:, 0], (out * mask).sum(1).numpy())
    assert np.isfinite(r.curves["morf"]).all() and np.isfinite(r.curves["lerf"]).all()


# ---------------------------------------------------------------------------- undefined

def test_zero_output_gives_nan_auc_and_a_warning():
    _, g = _linear(W, np.zeros(3))
    x = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 1.0, 0.5], [1e-14, 0, 0, 0]])
    with pytest.warns(RuntimeWarning, match=r"0 or tiny.*\[0, 2\]"):
        r = pixel_flipping(g, x, np.ones((3, 4)), 0, baseline=0.0, steps=2, order="both")
    assert np.isnan(r.auc["morf"].values[[0, 2]]).all()
    assert np.isfinite(r.auc["morf"].values[1]) and np.isfinite(r.gap.values[1])
    assert np.isnan(r.gap.values[0])
    assert np.isfinite(r.aopc["morf"].values).all()
    assert np.isnan(r.normalized("morf")[0]).all() and np.isfinite(r.normalized("morf")[1]).all()


def test_negative_output_is_warned_about(linear):
    _, g = linear
    x = np.array([[-1.0, -1.0, -1.0, -1.0], [1.0, 1.0, 1.0, 1.0]])
    with pytest.warns(RuntimeWarning, match=r"negative for samples \[0\]"):
        pixel_flipping(g, x, np.ones((2, 4)), 0, baseline=0.0, steps=2)


# ---------------------------------------------------------------------------- random reference

def test_random_relevance_is_seeded_and_shaped_like_x():
    x = torch.zeros(3, 2, 4, dtype=F32)
    a, b = random_relevance(x, seed=1), random_relevance(x, seed=1)
    assert a.dtype == F32 and a.shape == x.shape and torch.equal(a, b)
    assert not torch.equal(a, random_relevance(x, seed=2))
    assert ((a >= 0) & (a < 1)).all() and len(torch.unique(a)) == a.numel()
    n = random_relevance(np.zeros((3, 5)), seed=1)
    assert isinstance(n, np.ndarray) and n.shape == (3, 5) and n.dtype == np.float64


def test_exact_contributions_beat_every_random_order(linear):
    """Linear model, baseline 0: gradient × input are the exact contributions w_j x_j, and
    removing the k largest first gives the lowest possible output after every step."""
    _, g = linear
    x = np.random.default_rng(8).normal(size=(10, 4))
    ours = pixel_flipping(g, x, lrp.gradient_x_input, 0, baseline=0.0, steps=4)
    for seed in range(5):
        rand = pixel_flipping(g, x, random_relevance(x, seed), 0, baseline=0.0, steps=4)
        assert np.all(ours.curves["morf"] <= rand.curves["morf"] + 1e-12)
        assert np.all(ours.aopc["morf"].values >= rand.aopc["morf"].values - 1e-12)


# ---------------------------------------------------------------------------- plot

def test_removal_curves_plot(cnn, tmp_path):
    _, g, x = cnn
    results = {name: pixel_flipping(g, x, rel, order="both", steps=6, data=x)
               for name, rel in (("gradient", lrp.gradient),
                                 ("random", random_relevance(x, seed=0)))}
    fig = lrp.plot.removal_curves(results, title="test")
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 4
    assert [ln.get_linestyle() for ln in lines] == ["-", "--", "-", "--"]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    auc = results["random"].auc["lerf"].mean()
    assert labels[3].startswith("random LeRF") and f"AUC {auc:.3f}" in labels[3]
    assert all("AUC" in label for label in labels) and "gap" in labels[1]
    np.testing.assert_allclose(lines[0].get_ydata(),
                               np.nanmean(results["gradient"].normalized("morf"), 0))
    assert len(ax.collections) == 4                # one band per curve
    fig.savefig(tmp_path / "removal.png")
    assert (tmp_path / "removal.png").stat().st_size > 0
    import matplotlib.pyplot as plt

    plt.close(fig)
    one = lrp.plot.removal_curves(results["gradient"], normalized=False, band="quantiles")
    assert len(one.axes[0].get_lines()) == 2
    np.testing.assert_allclose(one.axes[0].get_lines()[0].get_ydata(),
                               results["gradient"].curves["morf"].mean(0))
    plt.close(one)
    morf = lrp.plot.removal_curves(results, orders="morf", legend="outside")
    assert [ln.get_linestyle() for ln in morf.axes[0].get_lines()] == ["-", "-"]
    legend = morf.axes[0].get_legend()
    assert all("MoRF" in t.get_text() for t in legend.get_texts())
    assert legend.get_bbox_to_anchor().x0 > morf.axes[0].get_window_extent().x1 - 1
    plt.close(morf)
    silent = lrp.plot.removal_curves(results, orders=("lerf",), legend=None)
    assert silent.axes[0].get_legend() is None and len(silent.axes[0].get_lines()) == 2
    plt.close(silent)


def test_removal_curves_refuses_mixed_settings(cnn):
    _, g, x = cnn
    a = pixel_flipping(g, x, lrp.gradient, steps=6, baseline=0.0)
    b = pixel_flipping(g, x, lrp.gradient, steps=6, data=x)
    c = pixel_flipping(g, x, lrp.gradient, steps=5, baseline=0.0)
    with pytest.raises(ValueError, match="baseline"):
        lrp.plot.removal_curves({"a": a, "b": b})
    with pytest.raises(ValueError, match="steps"):
        lrp.plot.removal_curves({"a": a, "c": c})
    assert isinstance(a, RemovalResult)


def test_one_channel_images_run_channels_last_without_touching_the_graph():
    """The copies of one-channel images go through a channels-last copy of the graph: same
    curves as the graph itself gives, the user's weights keep their layout."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(4 * 3 * 3, 3)).double().eval()
    x = torch.rand(5, 1, 6, 6, dtype=torch.float64)
    g = neon.neuralize(net, x[:1])
    before = {k: (v.clone(), v.stride()) for k, v in g.state_dict().items()}
    rel = torch.rand(x.shape, generator=torch.Generator().manual_seed(1), dtype=x.dtype)
    result = pixel_flipping(g, x, rel, baseline=0.0, steps=4)
    for k, v in g.state_dict().items():
        assert torch.equal(v, before[k][0]) and v.stride() == before[k][1], k
    order = torch.argsort(rel.reshape(5, -1), dim=1, descending=True, stable=True)
    target = net(x).argmax(1)
    with torch.no_grad():
        for k, count in enumerate([0, 9, 18, 27, 36]):
            flipped = x.reshape(5, -1).clone()
            flipped.scatter_(1, order[:, :count], 0.0)
            expected = net(flipped.reshape(x.shape))[torch.arange(5), target]
            np.testing.assert_allclose(result.curves["morf"][:, k], expected.numpy(),
                                       rtol=1e-12, atol=1e-12)
