"""The gradient family (lrp.gradient, gradient_x_input, integrated_gradients, smoothgrad) and
the backward walks against captum, and the gradient family against hand computations.

Every expected value comes from an independent computation: captum 0.9 on the source torch
module, torch autograd on the source module (never on the graph), numpy formulas written
here (closed-form gradients of small nets, quadrature rules written out by hand), or
scikit-learn's fitted parameters.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import lrp
import neon
from tests.methods.conftest import per_sample_rel_l2

torch.set_num_threads(1)
F64, F32 = torch.float64, torch.float32
CAPTUM_TOL = {F64: 1e-8, F32: 1e-3}

#: captum's own warnings (inputs not requiring grad, hooks on activations)
captum_warnings = pytest.mark.filterwarnings("ignore::UserWarning")


def worst(ours, theirs) -> float:
    return float(per_sample_rel_l2(ours, theirs).max())


@contextlib.contextmanager
def default_dtype(dtype):
    """captum draws NoiseTunnel's noise in the default dtype: make it the input's."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def equal_range(x: torch.Tensor) -> torch.Tensor:
    """x rescaled per sample to [−1, 1] with both ends attained exactly: max − min = 2 for
    every sample, so captum's absolute stdev is sigma · 2 for our relative sigma."""
    flat = x.reshape(len(x), -1)
    lo, hi = flat.amin(1, keepdim=True), flat.amax(1, keepdim=True)
    y = ((flat - lo) / (hi - lo) * 2 - 1).clamp(-1, 1)
    rows = torch.arange(len(x))
    y[rows, flat.argmin(1)] = -1.0
    y[rows, flat.argmax(1)] = 1.0
    return y.reshape(x.shape)


def autograd_on(model, xs, target):
    """∂ model(xs)[n, target_n] / ∂xs by torch autograd on the source module."""
    xs = [v.detach().clone().requires_grad_(True) for v in xs]
    out = model(*xs)
    picked = out[torch.arange(len(out)), torch.as_tensor(target)]
    grads = torch.autograd.grad(picked.sum(), xs)
    return [g.detach() for g in grads], picked.detach()


# ================================================================== 1. captum agreement

#: explicit per-sample targets, deliberately not the predicted classes
TARGETS = {"resnet18": [7, 0, 4], "vgg11": [2, 9, 5], "conv1d": [3, 0, 2]}
#: (model, dtype), grouped so each large model is built once per dtype
CASES = [("conv1d", F64), ("conv1d", F32), ("resnet18", F64), ("resnet18", F32),
         ("vgg11", F64), ("vgg11", F32)]
IG_METHODS = ("riemann_left", "riemann_right", "riemann_middle", "gausslegendre")
NT_TYPES = (("smoothgrad", "mean"), ("smoothgrad_sq", "squared"), ("vargrad", "variance"))
#: captum multiplies its quadrature weights by ``torch.tensor(step_sizes).float()``: in
#: float64 its Gauss–Legendre result carries the float32 rounding of the weights (≤ 2⁻²⁴ ≈
#: 6e-8 relative each; measured 3e-9 to 8e-9). The riemann weights 1/n are exact for n a
#: power of two, so those are held to 1e-8; our Gauss–Legendre is checked to 1e-12 against
#: a numpy quadrature elsewhere in this file.
CAPTUM_GL_F64_TOL = 1e-7
#: every measured relative L2 (printed at the end of the module with pytest -s)
MEASURED: dict = {}
#: integrated gradients' measured relative completeness gaps (printed likewise)
GAPS: dict = {}


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    if MEASURED:
        print("\nmax per-sample relative L2 vs captum:")
        for key, value in MEASURED.items():
            print(f"  {key}: {value:.2e}")
    if GAPS:
        print("\nintegrated gradients, max relative completeness gap:")
        for key, value in GAPS.items():
            print(f"  {key}: {value:.2e}")


#: what each case runs: the large models get fewer methods and rows (VGG-11 is 0.1 s per
#: sample and pass in float64, and 12 s to build)
PLAN = {
    ("conv1d", F64): dict(rows=slice(0, 3), steps=16, ig=IG_METHODS, nt=NT_TYPES, more=True),
    ("conv1d", F32): dict(rows=slice(0, 3), steps=16, ig=IG_METHODS, nt=NT_TYPES, more=True),
    ("resnet18", F64): dict(rows=slice(0, 2), steps=4, ig=IG_METHODS, nt=NT_TYPES, more=True),
    ("resnet18", F32): dict(rows=slice(0, 2), steps=4, ig=("riemann_right", "gausslegendre"),
                            nt=NT_TYPES[2:], more=True),
    ("vgg11", F64): dict(rows=slice(1, 3), steps=4, ig=("gausslegendre",), nt=NT_TYPES[2:],
                         more=False),
    ("vgg11", F32): dict(rows=slice(1, 3), steps=4, ig=(), nt=(), more=False),
}


@captum_warnings
@pytest.mark.parametrize("name,dtype", CASES, ids=[f"{n}-{str(d)[6:]}" for n, d in CASES])
def test_agrees_with_captum(models, name, dtype):
    """Saliency (both abs settings), InputXGradient, IntegratedGradients (the quadratures,
    chunked with internal_batch_size ↔ batch_size; a nonzero baseline), GuidedBackprop,
    Deconvolution and NoiseTunnel(Saliency) (smoothgrad, smoothgrad_sq, vargrad, seeded and
    unseeded), each by captum on the source module, against ours on the neuralized graph
    (BatchNorm folded), with explicit per-sample targets (see PLAN for what runs where).

    VGG-11 is explained on samples 1 and 2 only: sample 0 has a classifier ReLU whose
    pre-activation is −4.3e-7 (4e-7 of the layer's largest), inside the float32 rounding of
    its 25088-term sum, so in float32 the gradient there depends on summation order: captum's
    float32 pass flips that ReLU (1.1e-2 relative L2 from the float64 answer of the same
    float32 weights; ours 1.7e-6), and along an integrated-gradients path ours flips it at
    some points (3.7e-3). Samples 1 and 2 keep every ReLU ≥ 1.7e-5 of its layer's largest
    pre-activation away from its kink.
    """
    from captum.attr import (
        Deconvolution,
        GuidedBackprop,
        InputXGradient,
        IntegratedGradients,
        NoiseTunnel,
        Saliency,
    )

    plan = PLAN[name, dtype]
    model, graph, x = models(name, dtype)
    x = x[plan["rows"]]
    t = torch.tensor(TARGETS[name])[plan["rows"]]
    got = {}

    def check(key, ours, theirs):
        got[key] = worst(ours, theirs)

    check("Saliency(abs=False)", lrp.gradient(graph, x, t),
          Saliency(model).attribute(x, target=t, abs=False))
    check("GuidedBackprop", lrp.guided_backprop(graph, x, t),
          GuidedBackprop(model).attribute(x, target=t))
    if plan["more"]:
        check("Saliency(abs=True)", lrp.gradient(graph, x, t, abs=True),
              Saliency(model).attribute(x, target=t, abs=True))
        check("InputXGradient", lrp.gradient_x_input(graph, x, t),
              InputXGradient(model).attribute(x, target=t))
        check("Deconvolution", lrp.deconvnet(graph, x, t),
              Deconvolution(model).attribute(x, target=t))
    # n_steps a power of two: captum's riemann alphas come from a float32 torch.linspace,
    # exact only then. internal_batch_size = 2N + 1 rows: chunks cut across steps.
    steps, rows = plan["steps"], 2 * len(x) + 1
    for method in plan["ig"]:
        theirs = IntegratedGradients(model).attribute(x, target=t, n_steps=steps,
                                                      method=method, internal_batch_size=rows)
        ours = lrp.integrated_gradients(graph, x, t, steps=steps, method=method,
                                        batch_size=rows)
        check(f"IntegratedGradients({method})", ours, theirs)
    if plan["more"]:
        theirs = IntegratedGradients(model).attribute(x, baselines=0.25, target=t,
                                                      n_steps=steps, method="riemann_middle")
        check("IntegratedGradients(riemann_middle, baselines=0.25)",
              lrp.integrated_gradients(graph, x, t, baseline=0.25, steps=steps,
                                       method="riemann_middle"), theirs)
    # NoiseTunnel: captum's stdevs is absolute, our sigma relative to max − min, which
    # equal_range makes 2 for every sample; the same draws after torch.manual_seed(seed).
    xe, stdev, samples = equal_range(x), 0.25, 4 if name == "conv1d" else 2
    for seed, (nt_type, variant) in enumerate(plan["nt"], start=5):
        with default_dtype(dtype):
            torch.manual_seed(seed)
            theirs = NoiseTunnel(Saliency(model)).attribute(
                xe, nt_type=nt_type, nt_samples=samples, stdevs=stdev, target=t, abs=False)
        check(f"NoiseTunnel({nt_type})",
              lrp.smoothgrad(graph, xe, t, samples=samples, sigma=stdev / 2, variant=variant,
                             seed=seed), theirs)
        if nt_type == "vargrad":     # seed=None draws from torch's global generator
            torch.manual_seed(seed)
            check(f"NoiseTunnel({nt_type}), seed=None",
                  lrp.smoothgrad(graph, xe, t, samples=samples, sigma=stdev / 2,
                                 variant=variant), theirs)
    MEASURED.update({f"{name} {str(dtype)[6:]} {k}": v for k, v in got.items()})

    def tol(key):
        if dtype == F64 and "gausslegendre" in key:
            return CAPTUM_GL_F64_TOL
        return CAPTUM_TOL[dtype]

    bad = {k: f"{v:.2e} > {tol(k):g}" for k, v in got.items() if not v <= tol(k)}
    assert not bad, f"relative L2 vs captum too large: {bad}"


@captum_warnings
def test_noise_differs_from_captum_with_another_seed(models):
    """The NoiseTunnel agreement above is about the draws, not luck: another seed differs."""
    from captum.attr import NoiseTunnel, Saliency

    model, graph, x = models("conv1d")
    xe, t = equal_range(x), torch.tensor(TARGETS["conv1d"])
    with default_dtype(F64):
        torch.manual_seed(5)
        theirs = NoiseTunnel(Saliency(model)).attribute(xe, nt_type="smoothgrad", nt_samples=4,
                                                        stdevs=0.25, target=t, abs=False)
    assert worst(lrp.smoothgrad(graph, xe, t, samples=4, sigma=0.125, seed=5), theirs) <= 1e-12
    assert worst(lrp.smoothgrad(graph, xe, t, samples=4, sigma=0.125, seed=6), theirs) > 1e-3


# ============================================== tiny smooth nets with closed-form gradients


class TanhNet(nn.Module):
    """f(x) = W2 tanh(W1 x + b1) + b2: ∇f_t = W1ᵀ (W2[t] ⊙ (1 − tanh²(W1 x + b1)))."""

    def __init__(self, d=4, h=6, k=3, seed=3):
        super().__init__()
        torch.manual_seed(seed)
        self.l1, self.l2 = nn.Linear(d, h), nn.Linear(h, k)

    def forward(self, x):
        return self.l2(torch.tanh(self.l1(x)))


@pytest.fixture(scope="module")
def tanh():
    """(module, graph, x, numpy parameters)."""
    model = TanhNet().double().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    torch.manual_seed(4)
    x = torch.randn(3, 4, dtype=F64) * 1.5
    graph = neon.neuralize(model, x[:1])
    P = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    return model, graph, x, P


def tanh_f(P, X):
    return np.tanh(X @ P["l1.weight"].T + P["l1.bias"]) @ P["l2.weight"].T + P["l2.bias"]


def tanh_grad(P, X, t):
    """∇_x f_t at each row of X (numpy, closed form)."""
    h = np.tanh(X @ P["l1.weight"].T + P["l1.bias"])
    return ((1 - h ** 2) * P["l2.weight"][t]) @ P["l1.weight"]


def ig_numpy(P, x, base, t, alphas, weights):
    """(x − x') ⊙ Σ_k w_k ∇f_t(x' + α_k (x − x')) per sample, the closed-form gradient."""
    out = []
    for n in range(len(x)):
        pts = base[n][None] + alphas[:, None] * (x[n] - base[n])[None]
        out.append((x[n] - base[n]) * (weights[:, None] * tanh_grad(P, pts, t[n])).sum(0))
    return np.array(out)


@captum_warnings
def test_riemann_trapezoid_is_the_trapezoid_rule(tanh):
    """riemann_trapezoid is the trapezoid rule: n nodes α_k = k/(n−1), weights 1/(n−1) with
    the two ends halved (they sum to 1), checked against that rule written out here with the
    closed-form gradient.

    captum 0.9 differs, and it is captum's rule that is off: its riemann_trapezoid takes the
    nodes torch.linspace(0, 1, n) but the step 1/n (ends halved), weights summing to
    (n − 1)/n, so its integrated gradients are ours scaled by (n − 1)/n and miss completeness
    by a factor 1/n. With n − 1 a power of two captum's float32 linspace nodes are exact, and
    the ratio holds up to captum's weights being cast to float32 before use
    (``torch.tensor(step_sizes).float()`` in IntegratedGradients: 1/17 carries a relative
    rounding of ≤ 2⁻²⁴ ≈ 6e-8); it is asserted below after checking captum's own weights.
    """
    from captum.attr import IntegratedGradients
    from captum.attr._utils.approximation_methods import approximation_parameters

    model, graph, x, P = tanh
    t = np.array([0, 2, 1])
    n = 17
    alphas = np.arange(n) / (n - 1)
    weights = np.full(n, 1 / (n - 1))
    weights[0] = weights[-1] = 0.5 / (n - 1)
    expected = ig_numpy(P, x.numpy(), np.zeros_like(x.numpy()), t, alphas, weights)
    ours = lrp.integrated_gradients(graph, x, torch.tensor(t), steps=n,
                                    method="riemann_trapezoid")
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-12, atol=1e-14)
    # the same rule via numpy's own trapezoid on the integrand sampled at those nodes
    for i in range(len(x)):
        pts = alphas[:, None] * x.numpy()[i][None]
        integrand = tanh_grad(P, pts, t[i]) * x.numpy()[i]
        np.testing.assert_allclose(ours[i].numpy(), np.trapezoid(integrand, alphas, axis=0),
                                   rtol=1e-12, atol=1e-14)

    step_sizes, captum_alphas = approximation_parameters("riemann_trapezoid")
    assert np.array_equal(np.array(captum_alphas(n)), alphas)         # exact nodes at n = 17
    assert sum(step_sizes(n)) == pytest.approx((n - 1) / n, rel=1e-15)  # not 1: captum's slip
    theirs = IntegratedGradients(model).attribute(x, target=torch.tensor(t), n_steps=n,
                                                  method="riemann_trapezoid")
    np.testing.assert_allclose(ours.numpy() * (n - 1) / n, theirs.numpy(), rtol=6e-8,
                               atol=1e-15)
    assert not np.allclose(ours.numpy(), theirs.numpy(), rtol=1e-3, atol=0)   # n/(n−1) off


def test_path_points_by_hand():
    """Nodes and weights of the four simple rules at n = 4, written out."""
    from lrp.methods.gradients import path_points

    cases = {"riemann_left": ([0, .25, .5, .75], [.25] * 4),
             "riemann_right": ([.25, .5, .75, 1], [.25] * 4),
             "riemann_middle": ([.125, .375, .625, .875], [.25] * 4),
             "riemann_trapezoid": ([0, 1 / 3, 2 / 3, 1], [1 / 6, 1 / 3, 1 / 3, 1 / 6])}
    for method, (nodes, weights) in cases.items():
        a, w = path_points(method, 4)
        np.testing.assert_allclose(a, nodes, rtol=0, atol=1e-15, err_msg=method)
        np.testing.assert_allclose(w, weights, rtol=0, atol=1e-15, err_msg=method)
    a, w = path_points("gausslegendre", 3)      # nodes 1/2 ± √(3/5)/2, weights 5/18, 8/18
    r = np.sqrt(0.6) / 2
    np.testing.assert_allclose(a, [0.5 - r, 0.5, 0.5 + r], atol=1e-15)
    np.testing.assert_allclose(w, [5 / 18, 8 / 18, 5 / 18], atol=1e-15)


def test_completeness_gap_falls_with_steps(tanh):
    """Σ IG − (f(x) − f(x')), computed here from the source module, agrees with
    info["gap"] and falls as the steps grow: riemann_right as O(1/n) (halving per doubling
    at least), riemann_middle as O(1/n²) (≤ 1e-3 relative at 256 steps), and Gauss–Legendre
    is at rounding level already at 32 steps."""
    model, graph, x, P = tanh
    t = torch.tensor([1, 0, 2])
    base = torch.full_like(x, -0.5)
    change = (model(x) - model(base))[torch.arange(3), t]
    counts = (4, 16, 64, 256)
    for method, factor in (("riemann_right", 2), ("riemann_middle", 8)):
        gaps = []
        for steps in counts:
            res = lrp.integrated_gradients(graph, x, t, baseline=-0.5, steps=steps,
                                           method=method, return_all=True)
            gap = res.attribution.sum(1) - change
            torch.testing.assert_close(res.info["gap"], gap, rtol=1e-8, atol=1e-13)
            torch.testing.assert_close(res.info["baseline_output"],
                                       model(base)[torch.arange(3), t], rtol=1e-12, atol=1e-14)
            torch.testing.assert_close(res.info["relative_gap"], gap.abs() / change.abs(),
                                       rtol=1e-8, atol=1e-14)
            torch.testing.assert_close(res.output, model(x)[torch.arange(3), t], rtol=1e-12,
                                       atol=1e-14)
            gaps.append(float((gap.abs() / change.abs()).max()))
        GAPS.update({f"tanh net {method} steps={s}": g for s, g in zip(counts, gaps)})
        assert all(b < a / factor for a, b in zip(gaps, gaps[1:])), (method, gaps)
    assert gaps[-1] <= 1e-3, gaps
    gl = lrp.integrated_gradients(graph, x, t, baseline=-0.5, steps=32, return_all=True)
    GAPS["tanh net gausslegendre steps=32"] = float(gl.info["relative_gap"].max())
    assert float(gl.info["relative_gap"].max()) <= 1e-10


def test_integrated_gradients_closed_form_on_smooth_net(tanh):
    """Gauss–Legendre and the midpoint rule against the same rules in numpy on the
    closed-form gradient, with a baseline of one sample's shape."""
    _, graph, x, P = tanh
    t = np.array([2, 2, 0])
    base = np.array([0.3, -0.2, 0.1, 0.5])
    nodes, w = np.polynomial.legendre.leggauss(12)
    expected = ig_numpy(P, x.numpy(), np.broadcast_to(base, x.shape), t, (nodes + 1) / 2, w / 2)
    ours = lrp.integrated_gradients(graph, x.numpy(), t, baseline=base, steps=12)
    assert isinstance(ours, np.ndarray)
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-14)
    mid = (np.arange(10) + 0.5) / 10
    expected = ig_numpy(P, x.numpy(), np.broadcast_to(base, x.shape), t, mid, np.full(10, .1))
    ours = lrp.integrated_gradients(graph, x, torch.tensor(t), baseline=torch.tensor(base),
                                    steps=10, method="riemann_middle")
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ linear model, baselines


@pytest.fixture(scope="module")
def linear():
    torch.manual_seed(8)
    model = nn.Linear(5, 3).double().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.randn(4, 5, dtype=F64)
    return model, neon.neuralize(model, x[:1]), x, model.weight.numpy().copy()


def test_integrated_gradients_exact_on_a_linear_model(linear):
    """IG = (x − x') ⊙ w_t for every rule and step count; the completeness gap is ~0."""
    model, graph, x, W = linear
    t = np.array([0, 2, 1, 2])
    for method, steps in (("gausslegendre", 1), ("riemann_left", 3), ("riemann_trapezoid", 2),
                          ("riemann_middle", 7)):
        res = lrp.integrated_gradients(graph, x, torch.tensor(t), steps=steps, method=method,
                                       return_all=True)
        np.testing.assert_allclose(res.attribution.numpy(), x.numpy() * W[t], rtol=1e-12,
                                   atol=1e-15, err_msg=method)
        assert float(res.info["gap"].abs().max()) <= 1e-10 * float(x.abs().max())
        assert float(res.info["relative_gap"].max()) <= 1e-10


def test_baseline_forms(linear):
    """A scalar, one sample's shape, the input's shape and a callable, each against
    (x − x') ⊙ w_t in numpy."""
    _, graph, x, W = linear
    t = np.array([1, 1, 0, 2])
    xn = x.numpy()
    one = np.array([0.5, -1.0, 0.0, 2.0, 0.25])
    full = np.random.default_rng(0).normal(size=xn.shape)
    forms = {"scalar": (-0.75, np.full_like(xn, -0.75)),
             "integer scalar": (2, np.full_like(xn, 2.0)),
             "one sample (numpy)": (one, np.broadcast_to(one, xn.shape)),
             "one sample (tensor)": (torch.tensor(one), np.broadcast_to(one, xn.shape)),
             "full": (torch.tensor(full), full),
             "callable": (lambda v: v.mean(0, keepdim=True) * 0.5,
                          np.broadcast_to(xn.mean(0, keepdims=True) * 0.5, xn.shape))}
    for what, (baseline, b) in forms.items():
        ours = lrp.integrated_gradients(graph, x, torch.tensor(t), baseline=baseline, steps=3)
        np.testing.assert_allclose(ours.numpy(), (xn - b) * W[t], rtol=1e-12, atol=1e-14,
                                   err_msg=what)


def test_two_input_baselines():
    """A graph with two inputs: a baseline per input (tuple) or one number for both, IG
    against autograd quadrature on the source module."""
    model = TwoInputs().double().eval()
    torch.manual_seed(12)
    a, b = torch.randn(3, 3, dtype=F64), torch.randn(3, 2, dtype=F64)
    graph = neon.neuralize(model, (a[:1], b[:1]))
    t = [0, 2, 1]
    ba, bb = torch.full_like(a, 0.2), torch.full_like(b, -0.1)
    nodes, w = np.polynomial.legendre.leggauss(6)
    ia, ib = torch.zeros_like(a), torch.zeros_like(b)
    for alpha, weight in zip((nodes + 1) / 2, w / 2):
        (ga, gb), _ = autograd_on(model, [ba + alpha * (a - ba), bb + alpha * (b - bb)], t)
        ia, ib = ia + weight * ga, ib + weight * gb
    ra, rb = lrp.integrated_gradients(graph, (a, b), t, baseline=(0.2, -0.1), steps=6)
    torch.testing.assert_close(ra, (a - ba) * ia, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(rb, (b - bb) * ib, rtol=1e-12, atol=1e-14)
    za, zb = lrp.integrated_gradients(graph, (a, b), t, baseline=0.0, steps=6,
                                      return_all=True).attribution
    ya, yb = lrp.integrated_gradients(graph, (a, b), t, steps=6)
    torch.testing.assert_close(za, ya, rtol=0, atol=0)
    torch.testing.assert_close(zb, yb, rtol=0, atol=0)


# ====================================================== 2. gradient against autograd (source)


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(11)
        self.fa, self.fb = nn.Linear(3, 5), nn.Linear(2, 5)
        self.fc = nn.Linear(10, 3)

    def forward(self, a, b):
        return self.fc(torch.cat([torch.tanh(self.fa(a)), torch.relu(self.fb(b))], 1))


def _net(kind):
    torch.manual_seed(21)
    if kind == "tabular":
        m, shape = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)), (4, 6)
    elif kind == "conv1d":
        m = nn.Sequential(nn.Conv1d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2),
                          nn.Flatten(), nn.Linear(3 * 4, 3))
        shape = (4, 2, 8)
    elif kind == "conv2d":
        m = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 3))
        shape = (4, 3, 6, 6)
    else:
        m = nn.Sequential(nn.Conv3d(2, 3, 3, padding=1), nn.Softplus(), nn.Flatten(),
                          nn.Linear(3 * 4 * 4 * 4, 3))
        shape = (3, 2, 4, 4, 4)
    m = m.double().eval()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.uniform_(-1, 1)
                mod.running_var.uniform_(0.5, 2)
                mod.weight.uniform_(0.5, 1.5)
    for p in m.parameters():
        p.requires_grad_(False)
    torch.manual_seed(22)
    x = torch.randn(*shape, dtype=F64)
    return m, neon.neuralize(m, x[:1]), x


NETS = {}


def net(kind):
    if kind not in NETS:
        NETS[kind] = _net(kind)
    return NETS[kind]


@pytest.mark.parametrize("kind", ["tabular", "conv1d", "conv2d", "conv3d"])
def test_gradient_is_autograd_on_the_source_module(kind):
    """gradient, |g|, g², gradient × input, and the score, for 1-d (tabular), 1-d/2-d/3-d
    convolutional inputs, explicit targets and the predicted class (target=None)."""
    model, graph, x = net(kind)
    t = [2, 0, 1, 1][:len(x)]
    (g,), picked = autograd_on(model, [x], t)
    res = lrp.gradient(graph, x, t, return_all=True)
    assert isinstance(res, lrp.Attribution) and res.attribution.shape == x.shape
    torch.testing.assert_close(res.attribution, g, rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(res.output, picked, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(lrp.gradient(graph, x, t, abs=True), g.abs(), rtol=1e-10,
                               atol=1e-13)
    torch.testing.assert_close(lrp.gradient(graph, x, t, square=True), g ** 2, rtol=1e-10,
                               atol=1e-15)
    torch.testing.assert_close(lrp.gradient_x_input(graph, x, t), x * g, rtol=1e-10,
                               atol=1e-13)
    (gp,), _ = autograd_on(model, [x], model(x).argmax(1))
    torch.testing.assert_close(lrp.gradient(graph, x), gp, rtol=1e-10, atol=1e-13)
    n = lrp.gradient(graph, x.numpy(), t)
    assert isinstance(n, np.ndarray) and n.dtype == np.float64
    np.testing.assert_allclose(n, g.numpy(), rtol=1e-10, atol=1e-13)


def test_gradient_float32_and_mask_targets():
    """float32 in, float32 out; a float mask target gives Σ_c m_c ∂f_c/∂x; lrp.Column."""
    model, graph, x = net("conv1d")
    m32 = _net("conv1d")[0].float()
    g32 = neon.neuralize(m32, x[:1].float())
    (g,), _ = autograd_on(m32, [x.float()], [0, 1, 2, 0])
    ours = lrp.gradient(g32, x.float(), [0, 1, 2, 0])
    assert ours.dtype == F32
    assert worst(ours, g) <= 1e-5
    mask = torch.tensor([[1.0, 0.0, -2.0]] * len(x), dtype=F64)
    xs = x.clone().requires_grad_(True)
    (gm,) = torch.autograd.grad((model(xs) * mask).sum(), xs)
    torch.testing.assert_close(lrp.gradient(graph, x, mask), gm, rtol=1e-10, atol=1e-13)
    (g1,), _ = autograd_on(model, [x], [1] * len(x))
    torch.testing.assert_close(lrp.gradient(graph, x, lrp.Column(1)), g1, rtol=1e-10,
                               atol=1e-13)


def test_gradient_two_inputs():
    """A graph taking (a, b): tuple in, tuple out, each ∂f_t/∂input of the source module."""
    model = TwoInputs().double().eval()
    torch.manual_seed(12)
    a, b = torch.randn(4, 3, dtype=F64), torch.randn(4, 2, dtype=F64)
    graph = neon.neuralize(model, (a[:1], b[:1]))
    t = [1, 0, 2, 2]
    (ga, gb), _ = autograd_on(model, [a, b], t)
    ra, rb = lrp.gradient(graph, (a, b), t)
    torch.testing.assert_close(ra, ga, rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(rb, gb, rtol=1e-10, atol=1e-13)
    xa, xb = lrp.gradient_x_input(graph, (a.numpy(), b.numpy()), t, batch_size=3)
    assert isinstance(xa, np.ndarray) and isinstance(xb, np.ndarray)
    np.testing.assert_allclose(xa, (a * ga).numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(xb, (b * gb).numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("kind", ["conv1d", "conv2d", "conv3d"])
def test_reduce_channels(kind):
    """Simonyan's map: max_c |g_c|, the channel axis kept with length 1."""
    model, graph, x = net(kind)
    t = [0, 1, 2, 0][:len(x)]
    (g,), _ = autograd_on(model, [x], t)
    ours = lrp.gradient(graph, x, t, reduce_channels=True)
    assert ours.shape == (x.shape[0], 1, *x.shape[2:])
    expected = np.abs(g.numpy()).max(axis=1, keepdims=True)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-10, atol=1e-13)
    squared = lrp.gradient(graph, x, t, reduce_channels=True, square=True)
    np.testing.assert_allclose(squared.numpy(), (g.numpy() ** 2).max(axis=1, keepdims=True),
                               rtol=1e-10, atol=1e-20)


def test_reduce_channels_refused_on_tabular_input():
    _, graph, x = net("tabular")
    with pytest.raises(ValueError, match="tabular"):
        lrp.gradient(graph, x, reduce_channels=True)


def test_batch_size_chunking_changes_nothing():
    """Chunks of samples (gradient, gradient × input, smoothgrad) and of path rows
    (integrated gradients) give what one pass gives, to 1e-12."""
    model, graph, x = net("conv2d")
    t = torch.tensor([2, 0, 1, 1])
    for bs in (1, 3):
        for fn in (lrp.gradient, lrp.gradient_x_input):
            assert worst(fn(graph, x, t, batch_size=bs), fn(graph, x, t)) <= 1e-12
        assert worst(lrp.integrated_gradients(graph, x, t, steps=5, batch_size=bs * 3),
                     lrp.integrated_gradients(graph, x, t, steps=5)) <= 1e-12
        assert worst(lrp.smoothgrad(graph, x, t, samples=3, seed=1, batch_size=bs * 2),
                     lrp.smoothgrad(graph, x, t, samples=3, seed=1)) <= 1e-12
    # chunks that cut a sample's path in the middle
    a = lrp.integrated_gradients(graph, x, t, steps=5, batch_size=7, return_all=True)
    b = lrp.integrated_gradients(graph, x, t, steps=5, return_all=True)
    assert worst(a.attribution, b.attribution) <= 1e-12
    torch.testing.assert_close(a.info["gap"], b.info["gap"], rtol=1e-9, atol=1e-12)


# =================================================================================== SmoothGrad


def draws(x, samples, sigma, seed):
    """The noisy copies, drawn here: std = sigma · (max − min) per sample, one torch.normal
    of shape (N·S, …), copies sample-major."""
    stds = []
    for i in range(len(x)):
        spread = sigma * (x[i].max() - x[i].min())
        stds += [torch.full(x.shape[1:], float(spread), dtype=x.dtype)] * samples
    std = torch.stack(stds)
    noise = torch.normal(0.0, std, generator=torch.Generator().manual_seed(seed))
    return torch.cat([x[i:i + 1].expand(samples, *x.shape[1:]) for i in range(len(x))]) + noise


def test_smoothgrad_variants_against_per_draw_gradients():
    """mean, squared and variance (E[g²] − E[g]²) against autograd on the source module at
    the test's own draws."""
    model, graph, x = net("conv1d")
    t, S, sigma, seed = [1, 2, 0, 1], 5, 0.2, 17
    noisy = draws(x, S, sigma, seed)
    (g,), _ = autograd_on(model, [noisy], np.repeat(t, S))
    g = g.reshape(len(x), S, *x.shape[1:])
    mean, sq = g.mean(1), (g ** 2).mean(1)
    for variant, expected in (("mean", mean), ("squared", sq), ("variance", sq - mean ** 2)):
        ours = lrp.smoothgrad(graph, x, t, samples=S, sigma=sigma, seed=seed, variant=variant)
        torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-13, msg=variant)
    gen = lrp.smoothgrad(graph, x, t, samples=S, sigma=sigma,
                         seed=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(gen, mean, rtol=1e-10, atol=1e-13)


def test_smoothgrad_seeds():
    _, graph, x = net("conv2d")
    a = lrp.smoothgrad(graph, x, samples=3, seed=3)
    assert torch.equal(a, lrp.smoothgrad(graph, x, samples=3, seed=3))
    assert worst(a, lrp.smoothgrad(graph, x, samples=3, seed=4)) > 1e-3
    torch.manual_seed(3)
    b = lrp.smoothgrad(graph, x, samples=3)
    assert torch.equal(a, b)          # seed=None: the global generator, same stream
    # sigma = 0 is the plain gradient
    torch.testing.assert_close(lrp.smoothgrad(graph, x, samples=2, sigma=0.0, seed=1),
                               lrp.gradient(graph, x), rtol=1e-12, atol=1e-15)


def test_smoothgrad_fixes_the_class_at_x():
    """target=None: the class predicted at x, also where noisy copies predict another."""
    model, graph, x = net("tabular")
    S, sigma, seed = 6, 1.0, 2
    noisy = draws(x, S, sigma, seed)
    pred = model(x).argmax(1)
    assert not torch.equal(model(noisy).argmax(1), pred.repeat_interleave(S))  # it matters
    (g,), _ = autograd_on(model, [noisy], pred.repeat_interleave(S))
    ours = lrp.smoothgrad(graph, x, samples=S, sigma=sigma, seed=seed)
    torch.testing.assert_close(ours, g.reshape(len(x), S, -1).mean(1), rtol=1e-10,
                               atol=1e-13)


@pytest.mark.parametrize("method,options", [
    (lrp.explain, dict(composite="EpsilonPlus")),
    ("explain", dict(composite="EpsilonPlus")),
    ("integrated_gradients", dict(steps=8)),
    (lrp.gradient_x_input, {}),
], ids=["lrp.explain", "'explain'", "'integrated_gradients'", "gradient_x_input"])
def test_smoothgrad_wraps_methods(method, options):
    """The mean of the wrapped method over the same noisy copies (drawn here), the target
    fixed at x; squared and variance from the same per-copy results."""
    _, graph, x = net("conv2d")
    t, S, sigma, seed = torch.tensor([0, 2, 1, 1]), 3, 0.1, 9
    inner = lrp.methods.METHODS[method] if isinstance(method, str) else method
    per_copy = inner(graph, draws(x, S, sigma, seed), t.repeat_interleave(S), **options)
    per_copy = per_copy.reshape(len(x), S, *x.shape[1:])
    ours = lrp.smoothgrad(graph, x, t, method=method, samples=S, sigma=sigma, seed=seed,
                          **options)
    torch.testing.assert_close(ours, per_copy.mean(1), rtol=1e-10, atol=1e-13)
    var = lrp.smoothgrad(graph, x, t, method=method, samples=S, sigma=sigma, seed=seed,
                         variant="variance", **options)
    torch.testing.assert_close(var, (per_copy ** 2).mean(1) - per_copy.mean(1) ** 2,
                               rtol=1e-8, atol=1e-12)


def test_smoothgrad_over_lrp_differs_from_the_gradient():
    """The wrapped LRP is really used (not silently the gradient)."""
    _, graph, x = net("conv2d")
    a = lrp.smoothgrad(graph, x, method=lrp.explain, composite="EpsilonPlus", samples=2,
                       seed=1)
    b = lrp.smoothgrad(graph, x, samples=2, seed=1)
    assert worst(a, b) > 1e-2


def test_smoothgrad_two_inputs():
    """Noise on each input, std from each input's own range; tuple in, tuple out."""
    model = TwoInputs().double().eval()
    torch.manual_seed(12)
    a, b = torch.randn(3, 3, dtype=F64), torch.randn(3, 2, dtype=F64) * 4
    graph = neon.neuralize(model, (a[:1], b[:1]))
    t, S, sigma, seed = [0, 1, 2], 4, 0.3, 5
    gen = torch.Generator().manual_seed(seed)

    def noisy(v):
        std = torch.stack([torch.full(v.shape[1:], float(sigma * (v[i].max() - v[i].min())),
                                      dtype=F64) for i in range(len(v)) for _ in range(S)])
        return v.repeat_interleave(S, 0) + torch.normal(0.0, std, generator=gen)

    na, nb = noisy(a), noisy(b)            # drawn in input order from one generator
    (ga, gb), _ = autograd_on(model, [na, nb], np.repeat(t, S))
    ra, rb = lrp.smoothgrad(graph, (a, b), t, samples=S, sigma=sigma, seed=seed)
    torch.testing.assert_close(ra, ga.reshape(3, S, 3).mean(1), rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(rb, gb.reshape(3, S, 2).mean(1), rtol=1e-10, atol=1e-13)


# ========================================================== 4. neuralized scikit-learn models


@pytest.fixture(scope="module")
def wine():
    from sklearn.datasets import load_wine

    data = load_wine(as_frame=True)
    labels = np.array(data.target_names)[data.target]       # string labels, not indices
    return data.data, labels


def test_kmeans_logit_gradient_closed_form(wine):
    """StandardScaler + KMeans: ∇_x f_c = 2 (μ_c − μ_k*) / s with k* the nearest rival in
    the scaled space, for the assigned cluster and for another one; and the DataFrame /
    numpy forms of the result."""
    from sklearn.cluster import KMeans
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, _ = wine
    pipe = make_pipeline(StandardScaler(), KMeans(3, n_init=3, random_state=0)).fit(X)
    graph = neon.neuralize(pipe, X)
    scaler, km = pipe[0], pipe[-1]
    Z = scaler.transform(X)
    mu = km.cluster_centers_
    d = ((Z[:, None, :] - mu[None]) ** 2).sum(2)
    Xs = X.iloc[::9]
    rows = np.arange(0, len(X), 9)
    assigned = km.predict(Z[rows])
    for target in (assigned, (assigned + 1) % 3):
        rival = np.array([min((k for k in range(3) if k != c), key=lambda k: d[r, k])
                          for r, c in zip(rows, target)])
        expected = 2 * (mu[target] - mu[rival]) / scaler.scale_
        ours = lrp.gradient(graph, Xs, target)
        assert isinstance(ours, pd.DataFrame)
        assert list(ours.columns) == list(X.columns) and ours.index.equals(Xs.index)
        np.testing.assert_allclose(ours.to_numpy(), expected, rtol=1e-10, atol=1e-12)
        n = lrp.gradient(graph, Xs.to_numpy(), target)
        assert isinstance(n, np.ndarray)
        np.testing.assert_allclose(n, expected, rtol=1e-10, atol=1e-12)
    # default target: the assigned cluster; a finite difference of the numpy logit agrees
    x0 = X.to_numpy()[rows[:3]]

    def logit(x, c):
        dd = (((x - scaler.mean_) / scaler.scale_ - mu) ** 2).sum(1)
        return np.delete(dd, c).min() - dd[c]

    ours = lrp.gradient(graph, x0)
    h = 1e-4 * X.to_numpy().std(0)
    for i, c in enumerate(km.predict(Z[rows[:3]])):
        fd = [(logit(x0[i] + h[j] * np.eye(13)[j], c) - logit(x0[i] - h[j] * np.eye(13)[j], c))
              / (2 * h[j]) for j in range(13)]
        np.testing.assert_allclose(ours[i], fd, rtol=1e-6, atol=1e-9)


def test_svc_integrated_gradients_with_label_targets(wine):
    """RBF SVC in a pipeline, targets the estimator's string labels: completeness against
    the graph's forward pass (Gauss–Legendre). Three classes: f_c = min over rivals of the
    duels has kinks where the strongest rival changes along the path, so the worst sample's
    gap falls only slowly (≤ 1e-2 relative at 128 steps, measured 5e-3) while the typical
    one is at rounding level; two classes (f = ±g, smooth): ≤ 1e-10 at 128 steps. The
    result is a DataFrame with the wine feature names; a label and its column index explain
    the same class."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    X, y = wine
    base = X.to_numpy().min(0)
    for keep in (np.ones(len(y), bool), y != "class_2"):
        pipe = make_pipeline(StandardScaler(), SVC(kernel="rbf")).fit(X[keep], y[keep])
        graph = neon.neuralize(pipe, X[keep])
        Xs = X[keep].iloc[::20]
        labels = pipe.predict(Xs)
        k = len(pipe.classes_)
        out = graph(Xs.to_numpy())
        out_base = graph(np.broadcast_to(base, Xs.shape).copy())
        col = np.searchsorted(pipe.classes_, labels)
        rows = np.arange(len(Xs))
        change = out[rows, col] - out_base[rows, col]
        worst_gap = []
        for steps in (8, 32, 128):
            res = lrp.integrated_gradients(graph, Xs, labels, baseline=base, steps=steps,
                                           return_all=True)
            assert isinstance(res.attribution, pd.DataFrame)
            assert list(res.attribution.columns) == list(X.columns)
            assert res.attribution.index.equals(Xs.index)
            gap = res.attribution.to_numpy().sum(1) - change
            np.testing.assert_allclose(res.info["gap"].numpy(), gap, rtol=1e-6, atol=1e-12)
            worst_gap.append(float(np.abs(gap / change).max()))
            GAPS[f"SVC {k} classes gausslegendre steps={steps} (max over samples)"] = \
                worst_gap[-1]
        if k == 3:
            assert worst_gap[0] > worst_gap[1] > worst_gap[2], worst_gap
            assert worst_gap[-1] <= 1e-2
            assert np.median(np.abs(gap / change)) <= 1e-10
        else:
            assert worst_gap[-1] <= 1e-10, worst_gap
        by_column = lrp.integrated_gradients(graph, Xs, lrp.Column(col), baseline=base,
                                             steps=128)
        np.testing.assert_allclose(by_column.to_numpy(), res.attribution.to_numpy(),
                                   rtol=1e-12)
        other = lrp.integrated_gradients(graph, Xs, np.roll(labels, 1), baseline=base, steps=8)
        assert not np.allclose(other.to_numpy(), res.attribution.to_numpy())


@pytest.mark.parametrize("n_classes", [2, 3])
def test_logistic_regression_gradient_x_input(wine, n_classes):
    """LogisticRegression on standardized wine features: gradient × input = coef_c ⊙ x for
    the class asked for (binary: ±coef for classes_[1] / classes_[0])."""
    from sklearn.linear_model import LogisticRegression

    X, y = wine
    Z = (X - X.mean()) / X.std()
    keep = np.isin(y, np.unique(y)[:n_classes])
    Z, y = Z[keep], y[keep]
    clf = LogisticRegression(max_iter=5000).fit(Z, y)
    graph = neon.neuralize(clf, Z)
    Zs = Z.iloc[::7]
    for labels in (clf.predict(Zs), np.roll(clf.predict(Zs), 1)):
        if n_classes == 2:
            w = np.where((labels == clf.classes_[1])[:, None], clf.coef_[0], -clf.coef_[0])
        else:
            w = clf.coef_[np.searchsorted(clf.classes_, labels)]
        ours = lrp.gradient_x_input(graph, Zs, labels)
        assert isinstance(ours, pd.DataFrame) and list(ours.columns) == list(X.columns)
        assert ours.index.equals(Zs.index)
        np.testing.assert_allclose(ours.to_numpy(), w * Zs.to_numpy(), rtol=1e-10, atol=1e-13)
        n = lrp.gradient_x_input(graph, Zs.to_numpy(), labels)
        assert isinstance(n, np.ndarray)
        np.testing.assert_allclose(n, w * Zs.to_numpy(), rtol=1e-10, atol=1e-13)
    sg = lrp.smoothgrad(graph, Zs, clf.predict(Zs), samples=2, seed=0)
    assert isinstance(sg, pd.DataFrame)          # linear: every noisy gradient is ±coef
    np.testing.assert_allclose(sg.to_numpy(), lrp.gradient(graph, Zs).to_numpy(), rtol=1e-10)


def test_no_warning_for_numpy_baseline(linear):
    """A (read-only) numpy baseline is used without torch's non-writable-array warning."""
    _, graph, x, _ = linear
    base = np.zeros(5)
    base.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lrp.integrated_gradients(graph, x, baseline=base, steps=2)
