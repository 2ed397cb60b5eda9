"""DeepLIFT / DeepSHAP (lrp.deeplift), competitive gradient × input and the contrastive target
lrp.targets.Versus, against references that share no code with lrp:

* captum 0.9's DeepLift and DeepLiftShap on the source torch modules (Rescale rule);
* hand computations (a 2-unit ReLU network; the Shapley values of a product, enumerated);
* the summation-to-delta property Σ R = f(x) − f(x̄), with f evaluated by the source module;
* the limit x̄ → x, where DeepLIFT's multipliers become the gradient (torch autograd on the
  source module);
* plain torch autograd per class (competitive gradients, the gradient of a contrast);
* scikit-learn's fitted coefficients (a labelled classifier).

captum's max pooling: its maxpool rule (the change routed to the maxima at x and at x̄, which
conserves) takes effect only when no other hooked nonlinearity reads or feeds the pool
directly; right after an ``nn.ReLU`` module captum's ReLU hook records the gradient before the
pool's hook rewrites it, so the net effect is the gradient at x. Measured: on conv → ReLU →
maxpool captum equals our ``maxpool="gradient"`` (to 1e-17) and its convergence delta is ours;
on conv → ReLU → conv → maxpool it equals ``maxpool="conserving"``. Both are tested.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import lrp
import neon
from lrp.methods.reference import competitive_gradient_x_input, deeplift
from lrp.targets import Versus
from tests.methods.conftest import per_sample_rel_l2

torch.set_num_threads(1)
F64, F32 = torch.float64, torch.float32
captum_warnings = pytest.mark.filterwarnings("ignore::UserWarning")
TIMES: dict = {}


@pytest.fixture(scope="module", autouse=True)
def _report():
    start = time.perf_counter()
    yield
    print(f"\ntest_reference: {time.perf_counter() - start:.1f} s; measured:")
    for key, value in TIMES.items():
        print(f"  {key}: {value:.2e}")


def worst(ours, theirs) -> float:
    return float(per_sample_rel_l2(ours, theirs).max())


# ------------------------------------------------------------------------------ models

def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(),
                         nn.Linear(8, 4))


def relu_mlp():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 7), nn.ReLU(),
                         nn.Linear(7, 4))


def cnn_relu_maxpool():
    """A ReLU module feeds the max pool: captum's effect is the gradient at the pool."""
    torch.manual_seed(2)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 4, 3), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(4, 3))


def cnn_conv_maxpool():
    """A convolution feeds the max pool: captum's conserving maxpool rule applies."""
    torch.manual_seed(3)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 3))


def avg_cnn():
    torch.manual_seed(4)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten(), nn.Linear(20, 3))


class Residual(nn.Module):
    """conv → BN → ReLU, a residual block (conv → BN, + skip, ReLU), pools, a dense head;
    BatchNorm with random statistics (folded into the convolutions on import)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.conv1, self.bn1 = nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.conv2, self.bn2 = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()
        self.pool, self.head = nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(16, 3)
        for bn in (self.bn1, self.bn2):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.5, 0.5)

    def forward(self, x):
        h = self.relu1(self.bn1(self.conv1(x)))
        h = self.relu2(self.bn2(self.conv2(h)) + h)
        return self.fc(self.head(self.pool(h)).flatten(1))


class Mix(nn.Module):
    """Every op family DeepLIFT has a rule for: GroupNorm, GELU, attention (MatMul, softmax
    with a constant scale), a residual Add, LayerNorm, a sigmoid gate (Mul), L2 normalization,
    a log-softmax inside the graph, reshapes."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(6)
        self.conv, self.gn = nn.Conv1d(2, 4, 3, padding=1), nn.GroupNorm(2, 4)
        self.q, self.k, self.v = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4)
        self.ln, self.gate = nn.LayerNorm(4), nn.Linear(4, 4)
        self.out = nn.Linear(24, 3)

    def forward(self, x):                       # x: (N, 2, 6)
        t = F.gelu(self.gn(self.conv(x))).transpose(1, 2)
        weights = torch.softmax(self.q(t) @ self.k(t).transpose(1, 2) / 2.0, dim=-1)
        t = self.ln(t + weights @ self.v(t))
        t = t * torch.sigmoid(self.gate(t))
        t = F.normalize(t, dim=-1) + torch.log_softmax(t, dim=-1)
        return self.out(t.flatten(1))


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(7)
        self.fa, self.fb, self.fc = nn.Linear(3, 4), nn.Linear(2, 4), nn.Linear(8, 3)
        self.ra, self.rb = nn.ReLU(), nn.ReLU()

    def forward(self, a, b):
        return self.fc(torch.cat([self.ra(self.fa(a)), self.rb(self.fb(b))], 1))


def imported(model, example, dtype=F64):
    model = model.to(dtype).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, neon.neuralize(model, example)


def picked(model, x, target):
    """f_t(x) per sample by the source module."""
    with torch.no_grad():
        out = model(*x) if isinstance(x, tuple) else model(x)
    return out[torch.arange(len(out)), torch.as_tensor(target)]


# ----------------------------------------------------------------- 1. hand computations

def test_deeplift_by_hand_on_two_relu_units():
    """f(x) = h₁ + 2 h₂, h = ReLU(W x + b), W = [[1, −1], [2, 1]], b = (0, −1); x = (2, 1).

    x̄ = (0, 0): z = (1, 4), z̄ = (0, −1), ȳ = (0, 0): m = (1/1, 4/5); the input multipliers
    1·1·(1, −1) + 2·(4/5)·(2, 1) = (4.2, 0.6), R = (8.4, 0.6), Σ = 9 = f(x) − f(x̄).
    x̄ = (1.5, 2): z̄ = (−0.5, 4): Δz₂ = 0, so unit 2 takes its gradient 1; m₁ = 1/1.5;
    multipliers (2/3)(1, −1) + 2(2, 1) = (14/3, 4/3), R = (7/3, −4/3), Σ = 1 = 9 − 8.
    """
    net = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -1.0], [2.0, 1.0]]))
        net[0].bias.copy_(torch.tensor([0.0, -1.0]))
        net[2].weight.copy_(torch.tensor([[1.0, 2.0]]))
        net[2].bias.zero_()
    graph = neon.neuralize(net, torch.zeros(1, 2, dtype=F64))
    x = torch.tensor([[2.0, 1.0]], dtype=F64)
    assert torch.allclose(deeplift(graph, x), torch.tensor([[8.4, 0.6]], dtype=F64),
                          rtol=0, atol=1e-14)
    got = deeplift(graph, x, baseline=torch.tensor([1.5, 2.0], dtype=F64))
    assert torch.allclose(got, torch.tensor([[7 / 3, -4 / 3]], dtype=F64), rtol=0, atol=1e-14)


def shapley(f, x, ref):
    """Exact Shapley values of the game v(S) = f(x on S, ref elsewhere), by enumeration."""
    d = len(x)
    values = np.zeros(d)
    for i in range(d):
        rest = [j for j in range(d) if j != i]
        for size in range(d):
            for coalition in itertools.combinations(rest, size):
                weight = math.factorial(size) * math.factorial(d - size - 1) / math.factorial(d)
                point = ref.copy()
                point[list(coalition)] = x[list(coalition)]
                without = f(point)
                point[i] = x[i]
                values[i] += weight * (f(point) - without)
    return values


class Product(nn.Module):
    def forward(self, x):
        return x[:, :1] * x[:, 1:2] + x[:, 2:3]


def test_product_is_split_by_its_shapley_values():
    """y = a b + c: DeepLIFT's product rule halves the cross term ΔaΔb, which is the Shapley
    split: at x = (2, 3, 5), x̄ = (0, 1, 1) the values are (4, 2, 4) (R_a = Δa (b + b̄)/2 = 4,
    R_b = (a + ā)/2 Δb = 2), checked against an enumeration of coalitions."""
    _, graph = imported(Product(), torch.zeros(1, 3, dtype=F64))
    x, ref = np.array([2.0, 3.0, 5.0]), np.array([0.0, 1.0, 1.0])
    got = deeplift(graph, x[None], baseline=ref)[0]
    expected = shapley(lambda p: p[0] * p[1] + p[2], x, ref)
    np.testing.assert_allclose(expected, [4.0, 2.0, 4.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


# --------------------------------------------------------- 2. summation to delta, exactly

COMPLETE = {
    "relu-mlp": (relu_mlp, (6,)),
    "avg-cnn": (avg_cnn, (2, 8, 8)),
    "residual-bn": (Residual, (2, 8, 8)),
    "maxpool-conserving": (cnn_conv_maxpool, (2, 8, 8)),
    "mixed-ops": (Mix, (2, 6)),
}


@pytest.mark.parametrize("name", list(COMPLETE))
def test_summation_to_delta_holds_exactly(name):
    """Σ_i R_i = f_t(x) − f_t(x̄) to 1e-10 (float64), f from the source module: per
    reference (DeepLIFT) and for the background mean (DeepSHAP, chunked)."""
    build, shape = COMPLETE[name]
    torch.manual_seed(10)
    x, ref = torch.randn(4, *shape, dtype=F64), torch.randn(4, *shape, dtype=F64)
    model, graph = imported(build(), x[:1])
    target = [2, 0, 1, 2]
    kw = dict(maxpool="conserving") if "maxpool" in name else {}
    got = deeplift(graph, x, target, baseline=ref, return_all=True, **kw)
    delta = picked(model, x, target) - picked(model, ref, target)
    sums = got.attribution.reshape(4, -1).sum(1)
    assert float((sums - delta).abs().max()) < 1e-10 * max(1.0, float(delta.abs().max()))
    assert float(got.info["gap"].abs().max()) < 1e-10
    TIMES[f"completeness gap {name}"] = float((sums - delta).abs().max())
    background = torch.randn(5, *shape, dtype=F64)
    shap = deeplift(graph, x, target, background=background, batch_size=7, **kw)
    means = torch.stack([picked(model, background, [t] * 5).mean() for t in target])
    delta = picked(model, x, target) - means
    sums = shap.reshape(4, -1).sum(1)
    assert float((sums - delta).abs().max()) < 1e-10 * max(1.0, float(delta.abs().max()))


def test_gradient_maxpool_reports_its_gap():
    """maxpool="gradient" does not conserve where the maxima of x and x̄ differ: the reported
    gap is Σ R − (f(x) − f(x̄)) with f from the module, and it is not zero here."""
    torch.manual_seed(11)
    x, ref = torch.randn(3, 2, 8, 8, dtype=F64), torch.randn(3, 2, 8, 8, dtype=F64)
    model, graph = imported(cnn_relu_maxpool(), x[:1])
    got = deeplift(graph, x, [0, 1, 2], baseline=ref, return_all=True)
    delta = picked(model, x, [0, 1, 2]) - picked(model, ref, [0, 1, 2])
    gap = got.attribution.reshape(3, -1).sum(1) - delta
    assert torch.allclose(got.info["gap"], gap, rtol=0, atol=1e-12)
    assert float(gap.abs().max()) > 1e-4
    assert torch.allclose(got.info["baseline_output"], picked(model, ref, [0, 1, 2]))


# -------------------------------------------------------------------- 3. against captum

CAPTUM = {
    "mlp-tanh": (mlp, (6,), "gradient"),
    "residual-bn": (Residual, (2, 8, 8), "gradient"),
    "cnn-relu-maxpool": (cnn_relu_maxpool, (2, 8, 8), "gradient"),
    "cnn-conv-maxpool": (cnn_conv_maxpool, (2, 8, 8), "conserving"),
}


@captum_warnings
@pytest.mark.parametrize("name", list(CAPTUM))
def test_agrees_with_captum(name):
    """captum's DeepLift (one baseline per sample) and DeepLiftShap (a background set) on the
    source module, float64: relative L2 per sample ≤ 1e-9 (measured ≤ 1e-15)."""
    from captum.attr import DeepLift, DeepLiftShap

    build, shape, rule = CAPTUM[name]
    torch.manual_seed(12)
    x, ref = torch.randn(3, *shape, dtype=F64), torch.randn(3, *shape, dtype=F64) * 0.5
    model, graph = imported(build(), x[:1])
    target = [1, 0, 2]
    ours = deeplift(graph, x, target, baseline=ref, maxpool=rule)
    theirs = DeepLift(model).attribute(x, ref, target=target)
    TIMES[f"captum DeepLift {name}"] = worst(ours, theirs)
    assert worst(ours, theirs) < 1e-9
    background = torch.randn(4, *shape, dtype=F64)
    ours = deeplift(graph, x, target, background=background, maxpool=rule)
    theirs = DeepLiftShap(model).attribute(x, background, target=target)
    TIMES[f"captum DeepLiftShap {name}"] = worst(ours, theirs)
    assert worst(ours, theirs) < 1e-9


@captum_warnings
def test_agrees_with_captum_in_float32():
    from captum.attr import DeepLift

    torch.manual_seed(13)
    x, ref = torch.randn(3, 2, 8, 8), torch.randn(3, 2, 8, 8) * 0.5
    model, graph = imported(cnn_relu_maxpool(), x[:1], F32)
    ours = deeplift(graph, x, [0, 1, 2], baseline=ref)
    theirs = DeepLift(model).attribute(x, ref, target=[0, 1, 2])
    assert ours.dtype == F32
    TIMES["captum DeepLift float32"] = worst(ours, theirs)
    assert worst(ours, theirs) < 1e-4


# --------------------------------------------------------- 4. the limit x̄ → x: gradients

def test_multipliers_tend_to_the_gradient():
    """For x̄ = x − δ u, R / (δ u) → ∂f_t/∂x as δ → 0 for every rule (secants, midpoints,
    the chains of normalization and softmax): on the smooth mixed-op model, δ = 1e-6 gives
    the autograd gradient of the source module to ≤ 1e-4 relative L2 (measured ~1e-6)."""
    torch.manual_seed(14)
    x = torch.randn(3, 2, 6, dtype=F64)
    model, graph = imported(Mix(), x[:1])
    direction = torch.randn_like(x)
    delta = 1e-6
    got = deeplift(graph, x, [0, 1, 2], baseline=x - delta * direction) / (delta * direction)
    point = x.clone().requires_grad_(True)
    out = model(point)
    (grad,) = torch.autograd.grad(out[torch.arange(3), [0, 1, 2]].sum(), point)
    TIMES["limit x̄ → x vs autograd"] = worst(got, grad)
    assert worst(got, grad) < 1e-4


# ------------------------------------------------------------ 5. call convention, inputs

def test_numpy_in_numpy_out_and_batch_size_changes_nothing():
    torch.manual_seed(15)
    x, ref = torch.randn(5, 2, 8, 8, dtype=F64), torch.randn(5, 2, 8, 8, dtype=F64)
    _, graph = imported(avg_cnn(), x[:1])
    whole = deeplift(graph, x, [0, 1, 2, 0, 1], baseline=ref)
    chunked = deeplift(graph, x.numpy(), np.array([0, 1, 2, 0, 1]), baseline=ref.numpy(),
                       batch_size=2)
    assert isinstance(chunked, np.ndarray) and chunked.shape == (5, 2, 8, 8)
    np.testing.assert_allclose(chunked, whole.numpy(), rtol=0, atol=1e-13)
    background = torch.randn(3, 2, 8, 8, dtype=F64)
    a = deeplift(graph, x, 1, background=background)
    b = deeplift(graph, x, 1, background=background.numpy(), batch_size=4)
    assert torch.allclose(a, b, rtol=0, atol=1e-13)
    # one reference as background is DeepLIFT from it
    one = deeplift(graph, x, 1, background=ref[:1])
    assert torch.allclose(one, deeplift(graph, x, 1, baseline=ref[0]), rtol=0, atol=1e-13)


@captum_warnings
def test_two_inputs():
    """A graph of two inputs: a tuple of baselines or of backgrounds, a tuple of
    attributions; against captum's DeepLift and DeepLiftShap on the module."""
    from captum.attr import DeepLift, DeepLiftShap

    torch.manual_seed(16)
    a, b = torch.randn(4, 3, dtype=F64), torch.randn(4, 2, dtype=F64)
    ra, rb = torch.randn(4, 3, dtype=F64), torch.randn(4, 2, dtype=F64)
    model, graph = imported(TwoInputs(), (a[:1], b[:1]))
    ours = deeplift(graph, (a, b), [0, 1, 2, 0], baseline=(ra, rb))
    theirs = DeepLift(model).attribute((a, b), (ra, rb), target=[0, 1, 2, 0])
    assert all(worst(o, t) < 1e-9 for o, t in zip(ours, theirs))
    bg = (torch.randn(3, 3, dtype=F64), torch.randn(3, 2, dtype=F64))
    ours = deeplift(graph, (a, b), [0, 1, 2, 0], background=bg, batch_size=5)
    theirs = DeepLiftShap(model).attribute((a, b), bg, target=[0, 1, 2, 0])
    assert all(worst(o, t) < 1e-9 for o, t in zip(ours, theirs))


def test_referenced_mlp_equals_the_rescale_rule():
    """A scikit-learn MLPRegressor neuralized as one ReferencedMLP node: DeepLIFT from the
    data mean equals lrp.rules.reference.Rescale (a separate implementation that carries
    positive and negative parts), and sums to f(x) − f(μ) with f from scikit-learn."""
    from sklearn.neural_network import MLPRegressor

    from lrp.rules.reference import Rescale

    rng = np.random.default_rng(0)
    data = rng.normal(size=(80, 4))
    model = MLPRegressor(hidden_layer_sizes=(6, 5), max_iter=300, random_state=0).fit(
        data, data[:, 0] - data[:, 1] ** 2)
    graph = neon.neuralize(model, data, root="deeplift")
    assert [n.kind for n in graph.nodes] == ["referenced_mlp"]
    x = data[:6]
    ours = deeplift(graph, x, baseline=data.mean(0))
    theirs = lrp.explain(graph, x, composite=Rescale())
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)
    delta = model.predict(x) - model.predict(data.mean(0, keepdims=True))
    np.testing.assert_allclose(ours.sum(1), delta, rtol=0, atol=1e-9)


# ------------------------------------------------------------- 6. competitive gradients

def competitive_by_hand(model, x, target):
    """Plain torch: G_c = x ⊙ ∂f_c/∂x per class (one backward per class), then the
    competition of each feature among the classes."""
    maps = []
    for c in range(model(x[:1]).shape[1]):
        point = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(point)[:, c].sum(), point)
        maps.append(grad * x)
    maps = torch.stack(maps, 1)                             # (N, C, ...)
    own = maps[torch.arange(len(x)), torch.as_tensor(target)]
    wins_up = (own > 0) & (own == maps.amax(1))
    wins_down = (own < 0) & (own == maps.amin(1))
    return torch.where(wins_up | wins_down, own, torch.zeros_like(own))


@pytest.mark.parametrize("build,shape", [(mlp, (6,)), (cnn_relu_maxpool, (2, 8, 8))],
                         ids=["mlp", "cnn"])
def test_competitive_gradients_against_plain_torch(build, shape):
    torch.manual_seed(17)
    x = torch.randn(4, *shape, dtype=F64)
    model, graph = imported(build(), x[:1])
    target = [1, 0, 2, 2]
    expected = competitive_by_hand(model, x, target)
    got = competitive_gradient_x_input(graph, x, target, return_all=True)
    assert torch.allclose(got.attribution, expected, rtol=0, atol=1e-13)
    chunked = competitive_gradient_x_input(graph, x.numpy(), np.array(target), batch_size=5)
    np.testing.assert_allclose(chunked, expected.numpy(), rtol=0, atol=1e-13)
    kept = (expected != 0).reshape(4, -1).double().mean(1)
    assert torch.allclose(got.info["kept"], kept)
    # default target: the predicted class
    with torch.no_grad():
        predicted = model(x).argmax(1)
    assert torch.allclose(competitive_gradient_x_input(graph, x),
                          competitive_by_hand(model, x, predicted), rtol=0, atol=1e-13)


def test_competition_keeps_each_feature_for_one_class():
    """Every feature's positive value is kept by at most one class, and so is its negative
    value (continuous random weights: no ties)."""
    torch.manual_seed(18)
    x = torch.randn(3, 6, dtype=F64)
    _, graph = imported(mlp(), x[:1])
    maps = torch.stack([competitive_gradient_x_input(graph, x, c) for c in range(4)], 1)
    assert int((maps > 0).sum(1).max()) <= 1 and int((maps < 0).sum(1).max()) <= 1
    assert int((maps != 0).sum()) > 0


# ------------------------------------------------------------------ 7. the Versus target

def class_gradients(model, x):
    """∂f_c/∂x for every class c, (N, C, ...), by autograd on the source module."""
    grads = []
    for c in range(model(x[:1]).shape[1]):
        point = x.clone().requires_grad_(True)
        grads.append(torch.autograd.grad(model(point)[:, c].sum(), point)[0])
    return torch.stack(grads, 1)


def test_versus_gradient_is_the_gradient_of_the_contrast():
    torch.manual_seed(19)
    x = torch.randn(5, 6, dtype=F64)
    model, graph = imported(mlp(), x[:1])
    grads = class_gradients(model, x)                       # (5, 4, 6)
    rows = torch.arange(5)
    c = torch.tensor([0, 3, 1, 2, 1])
    others = [[k for k in range(4) if k != int(ci)] for ci in c]
    mean_rivals = torch.stack([grads[i, others[i]].mean(0) for i in range(5)])
    expected = grads[rows, c] - mean_rivals
    assert torch.allclose(lrp.gradient(graph, x, target=Versus(c)), expected, atol=1e-13)
    assert torch.allclose(lrp.gradient(graph, x, target=Versus(c.tolist()), batch_size=2),
                          expected, atol=1e-13)
    # the strongest rival per sample
    with torch.no_grad():
        out = model(x)
    rival = out.masked_fill(torch.nn.functional.one_hot(c, 4).bool(), -np.inf).argmax(1)
    expected = grads[rows, c] - grads[rows, rival]
    assert torch.allclose(lrp.gradient(graph, x, target=Versus(c, others="max"),
                                       batch_size=3), expected, atol=1e-13)
    # listed rivals: the sample's own class is left out of the mean
    listed = Versus(c, others=[1, 2])
    mean_listed = torch.stack([grads[i, [k for k in (1, 2) if k != int(c[i])]].mean(0)
                               for i in range(5)])
    assert torch.allclose(lrp.gradient(graph, x, target=listed), grads[rows, c] - mean_listed,
                          atol=1e-13)
    # the predicted class against the others
    top = out.argmax(1)
    rest = torch.stack([grads[i, [k for k in range(4) if k != int(top[i])]].mean(0)
                        for i in range(5)])
    assert torch.allclose(lrp.gradient(graph, x, target=Versus()), grads[rows, top] - rest,
                          atol=1e-13)


def test_versus_starts_lrp_at_the_contrast():
    """lrp.explain starts at R = f ⊙ mask: Σ R_start = f_c − mean_{k≠c} f_k, and every other
    method explains the contrast (DeepLIFT sums to its change)."""
    torch.manual_seed(20)
    x, ref = torch.randn(4, 6, dtype=F64), torch.randn(4, 6, dtype=F64)
    model, graph = imported(relu_mlp(), x[:1])
    with torch.no_grad():
        out, out_ref = model(x), model(ref)
    c = [2, 0, 3, 1]
    contrast = torch.stack([out[i, c[i]] - out[i, [k for k in range(4) if k != c[i]]].mean()
                            for i in range(4)])
    explanation = lrp.explain(graph, x, target=Versus(c), return_all=True)
    assert torch.allclose(explanation.output, contrast, atol=1e-13)
    start = lrp.calls.explained_node(graph)
    assert torch.allclose(explanation.nodes[start].sum(1), contrast, atol=1e-13)
    contrast_ref = torch.stack([out_ref[i, c[i]] - out_ref[i, [k for k in range(4)
                                                                if k != c[i]]].mean()
                                for i in range(4)])
    got = deeplift(graph, x, Versus(c), baseline=ref)
    assert torch.allclose(got.sum(1), contrast - contrast_ref, atol=1e-10)
    # excitation backprop is linear in the mask: the contrast of the class maps
    eb = [lrp.excitation_backprop(graph, x, k) for k in range(4)]
    expected = torch.stack([eb[c[i]][i] - sum(eb[k][i] for k in range(4) if k != c[i]) / 3
                            for i in range(4)])
    assert torch.allclose(lrp.excitation_backprop(graph, x, Versus(c)), expected, atol=1e-12)


def test_versus_reads_a_classifiers_labels():
    """A LogisticRegression with string labels: Versus("bee") is the logit of "bee" against
    the mean of the others, so its gradient is coef_bee − mean(coef_ant, coef_cat), from
    scikit-learn's coefficients; labels per sample and label rivals read likewise."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    data = rng.normal(size=(60, 4))
    labels = np.array(["ant", "bee", "cat"])[rng.integers(0, 3, 60)]
    model = LogisticRegression().fit(data, labels)
    graph = neon.neuralize(model, data)
    coef = model.coef_
    got = lrp.gradient(graph, data[:3], target=Versus("bee"))
    np.testing.assert_allclose(got, np.tile(coef[1] - coef[[0, 2]].mean(0), (3, 1)),
                               atol=1e-12)
    with pytest.raises(lrp.TargetError, match="no rival"):
        lrp.gradient(graph, data[:3], target=Versus(["cat", "ant", "bee"], others=["bee"]))
    got = lrp.gradient(graph, data[:2], target=Versus(np.array(["cat", "ant"]),
                                                      others=["bee"]), batch_size=1)
    np.testing.assert_allclose(got, [coef[2] - coef[1], coef[0] - coef[1]], atol=1e-12)
    got = lrp.gradient(graph, data[:2], target=Versus(lrp.Column([2, 0]), others="max"))
    scores = model.decision_function(data[:2])
    rivals = [max((k for k in range(3) if k != c), key=lambda k: scores[i, k])
              for i, c in enumerate([2, 0])]
    np.testing.assert_allclose(got, [coef[2] - coef[rivals[0]], coef[0] - coef[rivals[1]]],
                               atol=1e-12)


def test_existing_targets_are_unchanged_by_versus():
    """Plain targets read as before (a class, one per sample, a mask): Versus only adds."""
    torch.manual_seed(21)
    x = torch.randn(3, 6, dtype=F64)
    model, graph = imported(mlp(), x[:1])
    grads = class_gradients(model, x)
    assert torch.allclose(lrp.gradient(graph, x, target=1), grads[:, 1], atol=1e-13)
    assert torch.allclose(lrp.gradient(graph, x, target=[0, 2, 3]),
                          grads[torch.arange(3), [0, 2, 3]], atol=1e-13)
    mask = torch.tensor([[1.0, -1.0, 0, 0]] * 3, dtype=F64)
    assert torch.allclose(lrp.gradient(graph, x, target=mask), grads[:, 0] - grads[:, 1],
                          atol=1e-13)
    assert repr(Versus([0, 1], others={2})) == "Versus([0, 1], others=[2])"
    assert len(Versus([0, 1, 2])) == 3 and Versus(1).ndim == 0


#: methods whose result is linear in the target mask (so Versus gives the contrast of the
#: class maps); the others (guided backprop, DeconvNet, the CAMs, LIME's fit) must still run
LINEAR_IN_MASK = ("explain", "gradient", "gradient_x_input", "integrated_gradients",
                  "smoothgrad", "occlusion", "rise", "deeplift")
OPTIONS = dict(occlusion=dict(window=2), rise=dict(masks=8, seed=0), lime=dict(samples=16, seed=0),
               smoothgrad=dict(samples=2, seed=0), integrated_gradients=dict(steps=4))


def test_every_method_takes_versus():
    """target=Versus(c) through every method of lrp.methods.METHODS (competitive gradients
    refuses masks by design); where a method is linear in its mask, the result is the class
    map minus the mean of the other classes' maps."""
    from lrp.methods import METHODS

    torch.manual_seed(22)
    x = torch.randn(2, 2, 8, 8, dtype=F64)
    _, graph = imported(nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)),
                        x[:1])
    c = [0, 2]
    for name, method in METHODS.items():
        if name == "competitive_gradient_x_input":
            continue
        kw = OPTIONS.get(name, {})
        got = torch.as_tensor(method(graph, x, Versus(c), **kw))
        assert bool(torch.isfinite(got).all()) and got.shape[0] == 2, name
        if name in LINEAR_IN_MASK:
            maps = [torch.as_tensor(method(graph, x, k, **kw)) for k in range(3)]
            expected = torch.stack([maps[c[i]][i] - sum(maps[k][i] for k in range(3)
                                                         if k != c[i]) / 2 for i in range(2)])
            assert torch.allclose(got, expected, atol=1e-10), name
