"""Max-sensitivity (lrp.metrics.max_sensitivity).

Expected values: on linear graphs gradient × input is E(x) = w_c ⊙ x in closed form, so
E(x + δ) − E(x) = w_c ⊙ δ, computed here with numpy from the documented draws (torch's
generator, re-drawn in the test); a Python loop over draws and samples that calls the
method on each copy (a neuralized scikit-learn model, LRP on a CNN); and
quantus.MaxSensitivity fed the same noise through its perturb_func. Never the code under test.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from torch import nn

import lrp
import lrp.metrics as M
import neon

torch.set_num_threads(1)
F64 = torch.float64


@pytest.fixture(scope="module")
def linear():
    torch.manual_seed(0)
    net = nn.Linear(5, 3).double().eval()
    graph = neon.neuralize(net, torch.zeros(1, 5, dtype=F64))
    x = torch.randn(4, 5, dtype=F64)
    w, b = net.weight.detach().numpy(), net.bias.detach().numpy()
    return (w, b), graph, x


def _noise(shapes, samples, radius, seed, dtype=F64):
    """The documented draws: per draw, per input, radius · (2 torch.rand − 1)."""
    g = torch.Generator().manual_seed(seed)
    return [[(radius * (2 * torch.rand(s, generator=g, dtype=dtype) - 1)).numpy()
             for s in shapes] for _ in range(samples)]


def _reference(w_rows, x, draws, norm="fro", normalize=True):
    """max_s ‖w_c ⊙ δ_s‖ / ‖w_c ⊙ x‖ per sample with numpy."""
    def size(v):
        return np.linalg.norm(v, axis=1) if norm == "fro" else np.abs(v).max(1)
    change = np.stack([size(w_rows * d[0]) for d in draws]).max(0)
    return change / size(w_rows * x) if normalize else change


@pytest.mark.parametrize("norm", ["fro", "inf"])
@pytest.mark.parametrize("normalize", [True, False])
def test_gradient_x_input_on_a_linear_graph_in_closed_form(linear, norm, normalize):
    (w, b), graph, x = linear
    c = x.numpy() @ w.T + b
    draws = _noise([tuple(x.shape)], 6, 0.3, seed=5)
    expected = _reference(w[c.argmax(1)], x.numpy(), draws, norm, normalize)
    ours = M.max_sensitivity(graph, lrp.gradient_x_input, x, radius=0.3, samples=6, seed=5,
                             norm=norm, normalize=normalize)
    np.testing.assert_allclose(ours.values, expected, rtol=1e-12)
    assert not ours.higher_is_better and ours.name == "max_sensitivity"


def test_the_target_is_fixed_at_x(linear):
    """Noise large enough to flip predictions: the copies still explain x's class (or the
    given one), which a per-copy argmax would not."""
    (w, b), graph, x = linear
    radius, samples = 3.0, 8
    draws = _noise([tuple(x.shape)], samples, radius, seed=1)
    at_x = (x.numpy() @ w.T + b).argmax(1)
    flipped = [((x.numpy() + d[0]) @ w.T + b).argmax(1) != at_x for d in draws]
    assert np.any(flipped)
    ours = M.max_sensitivity(graph, "gradient_x_input", x, radius=radius, samples=samples,
                             seed=1)
    np.testing.assert_allclose(ours.values, _reference(w[at_x], x.numpy(), draws), rtol=1e-12)
    chosen = M.max_sensitivity(graph, "gradient_x_input", x, target=[2, 0, 1, 1],
                               radius=radius, samples=samples, seed=1)
    np.testing.assert_allclose(chosen.values,
                               _reference(w[[2, 0, 1, 1]], x.numpy(), draws), rtol=1e-12)
    # what re-reading the target at each copy would give, to show the test can tell
    per_copy = np.stack([
        np.linalg.norm(w[((x.numpy() + d[0]) @ w.T + b).argmax(1)] * (x.numpy() + d[0])
                       - w[at_x] * x.numpy(), axis=1) for d in draws]).max(0)
    per_copy /= np.linalg.norm(w[at_x] * x.numpy(), axis=1)
    assert np.abs(per_copy - ours.values).max() > 1e-3


def test_chunks_seeds_names_and_input_types(linear):
    _, graph, x = linear
    base = M.max_sensitivity(graph, lrp.gradient_x_input, x, samples=5, seed=3)
    for batch_size in (1, 3, 7, 20, 100):                     # chunks across draws
        chunked = M.max_sensitivity(graph, lrp.gradient_x_input, x, samples=5, seed=3,
                                    batch_size=batch_size)
        np.testing.assert_allclose(chunked.values, base.values, rtol=1e-14)
    again = M.max_sensitivity(graph, "gradient_x_input", x.numpy(), samples=5,
                              seed=torch.Generator().manual_seed(3))
    np.testing.assert_allclose(again.values, base.values, rtol=1e-14)
    other = M.max_sensitivity(graph, lrp.gradient_x_input, x, samples=5, seed=4)
    assert np.abs(other.values - base.values).min() > 0
    torch.manual_seed(9)
    unseeded = M.max_sensitivity(graph, lrp.gradient_x_input, x, samples=5)
    torch.manual_seed(9)
    np.testing.assert_array_equal(
        M.max_sensitivity(graph, lrp.gradient_x_input, x, samples=5).values, unseeded.values)


def test_radius_zero_gives_zero(linear):
    _, graph, x = linear
    for method in (lrp.gradient_x_input, lrp.explain, "integrated_gradients"):
        out = M.max_sensitivity(graph, method, x, radius=0, samples=3, seed=0)
        np.testing.assert_array_equal(out.values, np.zeros(len(x)))


def test_zero_explanation_at_x_is_nan_with_a_warning(linear):
    _, graph, x = linear
    x = x.clone()
    x[1] = 0.0                                                # w_c ⊙ 0 = 0
    with pytest.warns(RuntimeWarning, match="1 explanations at x are all zero"):
        out = M.max_sensitivity(graph, "gradient_x_input", x, samples=3, seed=0)
    assert np.isnan(out.values[1]) and np.isfinite(out.values[[0, 2, 3]]).all()
    absolute = M.max_sensitivity(graph, "gradient_x_input", x, samples=3, seed=0,
                                 normalize=False)
    assert absolute.values[1] > 0


class _TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.fc = nn.Linear(5, 3)

    def forward(self, a, b):
        return self.fc(torch.cat([a, b], 1))


def test_two_graph_inputs_share_one_norm():
    """Each draw perturbs input a, then input b; the norm runs over both together."""
    model = _TwoInputs().double().eval()
    torch.manual_seed(3)
    a, b = torch.randn(3, 2, dtype=F64), torch.randn(3, 3, dtype=F64)
    graph = neon.neuralize(model, (a[:1], b[:1]))
    w, bias = model.fc.weight.detach().numpy(), model.fc.bias.detach().numpy()
    xn = np.concatenate([a.numpy(), b.numpy()], 1)
    rows = w[(xn @ w.T + bias).argmax(1)]
    draws = _noise([(3, 2), (3, 3)], 4, 0.1, seed=8)
    draws = [[np.concatenate(d, 1)] for d in draws]
    ours = M.max_sensitivity(graph, lrp.gradient_x_input, (a, b), radius=0.1, samples=4,
                             seed=8, batch_size=5)
    np.testing.assert_allclose(ours.values, _reference(rows, xn, draws), rtol=1e-12)


def test_neuralized_kmeans_against_a_loop_over_copies():
    """NEON (lrp.explain with the k-means graph's rules) with the assigned cluster fixed at
    x: a Python loop over draws and samples that explains one copy at a time, with the
    cluster assigned to x as its target."""
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    graph = neon.neuralize(KMeans(3, n_init=2, random_state=0).fit(X), X)
    x = X[:5]
    radius, samples = 0.8, 4
    draws = _noise([(5, 4)], samples, radius, seed=2)
    assigned = np.asarray(graph(torch.as_tensor(x)).argmax(1))
    moved = [np.asarray(graph(torch.as_tensor(x + d[0])).argmax(1)) != assigned for d in draws]
    assert np.any(moved)                                       # some copies change cluster
    e0 = lrp.explain(graph, x, assigned)
    expected = np.zeros(5)
    for d in draws:
        for i in range(5):
            e = lrp.explain(graph, x[i:i + 1] + d[0][i:i + 1], [int(assigned[i])])
            expected[i] = max(expected[i],
                              np.linalg.norm(e[0] - e0[i]) / np.linalg.norm(e0[i]))
    ours = M.max_sensitivity(graph, "explain", x, radius=radius, samples=samples, seed=2,
                             batch_size=6)
    np.testing.assert_allclose(ours.values, expected, rtol=1e-10)
    assert ours.values.min() > 0


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(4)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(3 * 5 * 5, 3)).double().eval()
    return neon.neuralize(net, torch.zeros(1, 1, 5, 5, dtype=F64))


def test_lrp_on_a_cnn_against_quantus(cnn):
    """quantus.MaxSensitivity with our draws passed in through perturb_func (one call per
    draw, the whole batch at once, as our draw order), its default norms (Frobenius of the
    difference over Frobenius of E(x)) and no normalisation."""
    quantus = pytest.importorskip("quantus")
    x = torch.rand(3, 1, 5, 5, dtype=F64)
    explain = functools.partial(lrp.explain, composite=lrp.EpsilonPlus())
    samples, radius = 5, 0.05
    draws = iter(_noise([tuple(x.shape)], samples, radius, seed=6))

    def perturb(arr, **kwargs):
        return arr + next(draws)[0].reshape(arr.shape)

    def explain_func(model, inputs, targets, **kwargs):
        return np.asarray(explain(cnn, np.asarray(inputs, dtype=np.float64),
                                  np.asarray(targets)))

    y = np.asarray(cnn(x).argmax(1))
    metric = quantus.MaxSensitivity(nr_samples=samples, lower_bound=radius,
                                    perturb_func=perturb, disable_warnings=True)
    theirs = metric(model=cnn, x_batch=x.numpy(), y_batch=y, a_batch=None,
                    explain_func=explain_func, device="cpu")
    ours = M.max_sensitivity(cnn, explain, x, radius=radius, samples=samples, seed=6)
    np.testing.assert_allclose(ours.values, np.asarray(theirs, float), rtol=1e-10)
    assert math.isfinite(ours.mean())
