"""Every op of the IR and every neuralized graph family is differentiable: gradcheck in float64.

``torch.autograd.gradcheck`` compares the analytic gradient (autograd through the op's
forward) with central finite differences, so an in-place operation that breaks autograd, a
detached buffer or a wrong custom path shows as an error or a mismatch. Inputs are drawn away
from the points where an op is not differentiable (ties of min/max, ReLU at 0).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

import neon
from neon import ops

DT = torch.float64


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def randn(*shape, seed=0, scale=1.0, shift=0.0):
    return torch.randn(*shape, generator=_gen(seed), dtype=DT) * scale + shift


def rand(*shape, seed=0, low=0.0, high=1.0):
    return torch.rand(*shape, generator=_gen(seed), dtype=DT) * (high - low) + low


def check(fn, *inputs):
    xs = tuple(x.detach().clone().requires_grad_(True) for x in inputs)
    assert torch.autograd.gradcheck(fn, xs, eps=1e-6, atol=1e-6, rtol=1e-5)


def away_from(x: torch.Tensor, points, gap=0.05) -> torch.Tensor:
    """``x`` with every entry moved at least ``gap`` away from each of ``points``."""
    for p in points:
        close = (x - p).abs() < gap
        x = torch.where(close, p + gap * torch.where(x >= p, 1.0, -1.0).to(x.dtype) * 2, x)
    return x


# ----------------------------------------------------------------------------- the op zoo

@functools.cache
def _duels_op():
    """An RBFDuels op from a real 3-class SVC (and its distance op, to feed it)."""
    from sklearn.svm import SVC

    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(12, 3)) + 2.5 * c for c in range(3)])
    y = np.repeat([0, 1, 2], 12)
    g = neon.neuralize(SVC(kernel="rbf", gamma=0.3).fit(X, y), X)
    return g["distance"].op, g["duels"].op, torch.as_tensor(X[:3], dtype=DT)


def op_cases():
    """(id, op, inputs) for every concrete op class of ``neon.ops.__all__``."""
    x2 = randn(3, 4, seed=1)
    img = randn(2, 3, 6, 6, seed=2)
    cases = [
        ("Linear", ops.Linear(randn(5, 4, seed=3), randn(5, seed=4)), (x2,)),
        ("Linear/no-bias", ops.Linear(randn(5, 4, seed=3), None), (x2,)),
        ("Conv1d", ops.Conv(randn(4, 3, 3, seed=5), randn(4, seed=6), stride=2, padding=1,
                            dilation=1), (randn(2, 3, 9, seed=7),)),
        ("Conv2d", ops.Conv(randn(4, 3, 3, 3, seed=8), randn(4, seed=9), stride=(2, 1),
                            padding=(1, 2), dilation=(1, 2)), (img,)),
        ("Conv2d/groups", ops.Conv(randn(6, 1, 3, 3, seed=10), None, padding=1, groups=3),
         (img,)),
        ("Conv3d", ops.Conv(randn(2, 3, 2, 2, 2, seed=11), randn(2, seed=12), stride=2,
                            padding=1), (randn(2, 3, 4, 4, 4, seed=13),)),
        ("ElementwiseAffine", ops.ElementwiseAffine(randn(3, seed=14), randn(3, seed=15)),
         (img,)),
        ("BatchNorm", ops.BatchNorm(rand(3, seed=16, low=0.5, high=2), randn(3, seed=17)),
         (img,)),
        ("ReLU", ops.ReLU(), (away_from(x2, [0.0]),)),
        ("Hardtanh", ops.Hardtanh(-0.5, 0.7), (away_from(x2, [-0.5, 0.7]),)),
        ("LeakyReLU", ops.LeakyReLU(0.1), (away_from(x2, [0.0]),)),
        ("ELU", ops.ELU(0.7), (away_from(x2, [0.0]),)),
        ("Tanh", ops.Tanh(), (x2,)),
        ("Sigmoid", ops.Sigmoid(), (x2,)),
        ("Softplus", ops.Softplus(2.0, 3.0), (away_from(x2 * 2, [1.5]),)),
        ("GELU", ops.GELU(), (x2,)),
        ("GELU/tanh", ops.GELU("tanh"), (x2,)),
        ("Identity", ops.Identity(), (x2,)),
        ("Power", ops.Power(3), (x2,)),
        ("Softmax", ops.Softmax(1), (x2,)),
        ("LogSoftmax", ops.LogSoftmax(-1), (img,)),
        ("MaxPool1d", ops.MaxPool(1, 3, stride=2, padding=1), (randn(2, 2, 9, seed=18),)),
        ("MaxPool2d", ops.MaxPool(2, 2, stride=1, padding=1), (img,)),
        ("MaxPool2d/dilation", ops.MaxPool(2, 2, stride=2, dilation=2, ceil_mode=True), (img,)),
        ("MaxPool3d", ops.MaxPool(3, 2, stride=2, padding=1), (randn(1, 2, 4, 4, 4, seed=19),)),
        ("AvgPool1d", ops.AvgPool(1, 3, stride=2, padding=1), (randn(2, 2, 9, seed=20),)),
        ("AvgPool2d", ops.AvgPool(2, 3, stride=2, padding=1, count_include_pad=False), (img,)),
        ("AvgPool2d/divisor", ops.AvgPool(2, 2, divisor_override=3, ceil_mode=True), (img,)),
        ("AvgPool3d", ops.AvgPool(3, 2, stride=1), (randn(1, 2, 3, 3, 3, seed=21),)),
        ("AdaptiveAvgPool1d", ops.AdaptiveAvgPool(1, 4), (randn(2, 2, 7, seed=22),)),
        ("AdaptiveAvgPool2d", ops.AdaptiveAvgPool(2, (4, 5)), (img,)),
        ("AdaptiveAvgPool3d", ops.AdaptiveAvgPool(3, 2), (randn(1, 2, 3, 5, 4, seed=23),)),
        ("Sum", ops.Sum((1, 3), keepdim=True), (img,)),
        ("Mean", ops.Mean((2,)), (img,)),
        ("Add", ops.Add(), (img, randn(2, 3, 6, 6, seed=24), randn(1, 3, 1, 6, seed=25))),
        ("Concat", ops.Concat(1), (img, randn(2, 1, 6, 6, seed=26))),
        ("Reshape", ops.Reshape((9, 12)), (img,)),
        ("Flatten", ops.Flatten(2), (img,)),
        ("Select", ops.Select((slice(1, 3), 2)), (img,)),
        ("CompetitionMin", ops.CompetitionMin(2.0),
         (torch.tensor([[0.3, 1.1, 2.5, 0.9], [4.0, 1.2, 3.3, 2.1], [0.5, 0.1, 0.7, 1.9]],
                       dtype=DT),)),
        ("SoftMin", ops.SoftMin(0.7), (rand(3, 5, seed=27, high=3),)),
        ("SoftMin/offset", ops.SoftMin(1.3, randn(5, seed=28)), (rand(3, 5, seed=29, high=3),)),
        ("RivalMin", ops.RivalMin([[0, 1], [0, 2], [1, 2]], 3),
         (torch.tensor([[0.4, -1.2, 0.8], [-0.3, 1.7, 2.2], [1.1, 0.6, -0.9]], dtype=DT),)),
        ("RootedLinear", ops.RootedLinear(randn(3, 4, seed=30), randn(3, seed=31),
                                          randn(3, 4, seed=32)), (x2,)),
        ("ReferencedMLP", ops.ReferencedMLP([randn(5, 4, seed=52), randn(2, 5, seed=55)],
                                            [randn(5, seed=53), randn(2, seed=56)],
                                            ["tanh", "identity"], randn(4, seed=54)), (x2,)),
        ("SiLU", ops.SiLU(), (x2,)),
        ("Hardswish", ops.Hardswish(), (away_from(x2 * 3, [-3.0, 3.0]),)),
        ("Hardsigmoid", ops.Hardsigmoid(), (away_from(x2 * 3, [-3.0, 3.0]),)),
        ("BroadcastAffine", ops.BroadcastAffine(randn(3, 1, 6, seed=33), randn(6, seed=34)),
         (img,)),
        ("BroadcastAffine/scalar", ops.BroadcastAffine(torch.tensor(0.5, dtype=DT),
                                                       torch.tensor(3.0, dtype=DT)), (img,)),
        ("Mul", ops.Mul(gate=1), (img, randn(2, 3, 1, 1, seed=35))),
        ("Mul/ungated", ops.Mul(), (img, randn(2, 3, 6, 6, seed=36))),
        ("MatMul", ops.MatMul(gate=0),
         (randn(2, 2, 3, 4, seed=57), randn(2, 2, 4, 5, seed=58))),
        ("MatMul/broadcast", ops.MatMul(),
         (randn(2, 2, 3, 4, seed=59), randn(2, 1, 4, 5, seed=60))),
        ("Einsum", ops.Einsum("b g i d, b g j d -> b g i j"),
         (randn(2, 2, 3, 4, seed=61), randn(2, 2, 5, 4, seed=62))),
        ("Einsum/summed-axis", ops.Einsum("bij,bjk->bk"),
         (randn(2, 3, 4, seed=63), randn(2, 4, 5, seed=64))),
        ("Constant", ops.Constant(randn(1, 6, seed=65)), (img,)),
        ("Permute", ops.Permute((0, 2, 3, 1)), (img,)),
        ("Expand", ops.Expand((3, 4, 6)), (randn(2, 3, 1, 6, seed=37),)),
        ("Pad", ops.Pad((1, 2, 0, 1)), (img,)),
        ("Pad/reflect", ops.Pad((1, 2, 2, 1), "reflect"), (img,)),
        ("Pad/circular", ops.Pad((1, 1), "circular"), (randn(2, 3, 5, seed=38),)),
        ("Roll", ops.Roll((2, -1), (2, 3)), (img,)),
        ("Interpolate/nearest", ops.Interpolate(scale_factor=2.0), (img,)),
        ("Interpolate/bilinear", ops.Interpolate((9, 7), mode="bilinear",
                                                 align_corners=False), (img,)),
        ("Interpolate/linear", ops.Interpolate(scale_factor=1.5, mode="linear",
                                               align_corners=True), (randn(2, 2, 6, seed=39),)),
        ("LayerNorm", ops.LayerNorm((6,), randn(6, seed=47), randn(6, seed=48)), (img,)),
        ("LayerNorm/2d-no-affine", ops.LayerNorm((6, 6)), (img,)),
        ("GroupNorm", ops.GroupNorm(3, randn(3, seed=49), randn(3, seed=50)), (img,)),
        ("GroupNorm/one-group", ops.GroupNorm(1), (randn(2, 4, 5, seed=51),)),
        ("L2Normalize", ops.L2Normalize(), (img,)),
    ]
    dist, duels, X = _duels_op()
    with torch.no_grad():
        d = dist(X)
    cases.append(("RBFDuels", duels, (d,)))
    geometry = ops.SquaredDistance(randn(5, 4, seed=66), matrix=randn(5, 3, 4, seed=67))
    with torch.no_grad():
        units = geometry(x2)
    cases.append(("DistancePool", ops.DistancePool(0.7, randn(5, seed=68), randn(4, seed=69),
                                                   geometry), (units, x2)))
    return cases


def distance_cases():
    """SquaredDistance in every form, near the origin and far from it (the shift path)."""
    K, d = 3, 4
    centres = randn(K, d, seed=40)
    centres = centres - centres.mean(0)   # mean at the origin: no shift unless moved
    forms = {
        "identity": {},
        "weight(d)": {"weight": rand(d, seed=41, low=0.5, high=2)},
        "weight(K,d)": {"weight": rand(K, d, seed=42, low=0.5, high=2)},
        "matrix(p,d)": {"matrix": randn(2, d, seed=43)},
        "matrix(K,p,d)": {"matrix": randn(K, 3, d, seed=44)},
    }
    out = []
    for shift in (0.0, 25.0):
        v = centres + shift
        near = v[1] + 1e-3 * randn(d, seed=45)   # a near pair: recomputed directly
        x = torch.cat([v[:1], near[None], randn(2, d, seed=46, shift=shift)])
        for form, kw in forms.items():
            out.append((f"{form}/shift={shift:g}", ops.SquaredDistance(v, **kw), x))
    return out


CONCRETE = [name for name in ops.__all__ if isinstance(getattr(ops, name), type)
            and issubclass(getattr(ops, name), ops.Op)
            and name not in ("Op", "Elementwise", "Summation", "Routing", "Distance", "Pool",
                             "Affine", "Product", "Normalization",
                             "Embedding")]   # reads integers: nothing to differentiate


def test_every_concrete_op_has_a_gradcheck_case():
    covered = {type(op).__name__ for _, op, _ in op_cases()} | {"SquaredDistance"}
    assert set(CONCRETE) - covered == set()


@pytest.mark.parametrize("case", op_cases(), ids=lambda c: c[0])
def test_op_gradcheck(case):
    _, op, inputs = case
    op = op.double()
    check(op, *inputs)


@pytest.mark.parametrize("case", distance_cases(), ids=lambda c: c[0])
def test_squared_distance_gradcheck(case):
    _, op, x = case
    with torch.no_grad():
        dist = op(x)
    # the forward against the definition ‖A_k (x − v_k)‖², computed here directly
    v = op.centers if op.origin is None else op.centers + op.origin
    diff = x[:, None, :] - v[None]                                     # (N, K, d)
    if op.matrix is not None:
        a = op.matrix if op.matrix.dim() == 3 else op.matrix.expand(v.shape[0], -1, -1)
        expected = torch.einsum("kpd,nkd->nkp", a, diff).square().sum(2)
    elif op.w2 is not None:
        expected = (op.w2[None] * diff.square()).sum(2)
    else:
        expected = diff.square().sum(2)
    torch.testing.assert_close(dist, expected, rtol=1e-9, atol=1e-9)
    assert float(dist[0, 0]) == 0.0   # the sample that is a centre: exactly 0
    if not op.per_unit_matrix:        # the near pair takes the direct path
        n, k = op.near_pairs(dist)
        pairs = set(zip(n.tolist(), k.tolist()))
        assert {(0, 0), (1, 1)} <= pairs
    check(op, x)


def test_squared_distance_shift_path_is_taken():
    shifts = {name.split("=")[1]: op.origin is not None for name, op, _ in distance_cases()}
    assert shifts == {"0": False, "25": True}


# ------------------------------------------------------------------ neuralized graph families

def _data():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    idx = np.r_[0:20, 50:70, 100:120]
    return X[idx], y[idx]


def _wine():
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    return X[::3], y[::3]


def estimators():
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.mixture import GaussianMixture
    from sklearn.neighbors import KernelDensity
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, OneClassSVM

    X, y = _data()
    Xw, _ = _wine()
    binary = y < 2
    cases = [
        ("KMeans", lambda: KMeans(3, n_init=2, random_state=0).fit(X), X),
        ("OneClassSVM", lambda: OneClassSVM(gamma=0.3, nu=0.2).fit(X), X),
        ("KernelDensity", lambda: KernelDensity(bandwidth=0.7).fit(X), X),
    ]
    for cov in ("full", "tied", "diag", "spherical"):
        cases.append((f"GaussianMixture/{cov}", lambda cov=cov: GaussianMixture(
            3, covariance_type=cov, random_state=0).fit(X), X))
    for kernel in ("rbf", "linear", "poly"):
        cases.append((f"SVC/{kernel}/3-class",
                      lambda kernel=kernel: SVC(kernel=kernel, degree=3).fit(X, y), X))
        cases.append((f"SVC/{kernel}/binary",
                      lambda kernel=kernel: SVC(kernel=kernel, degree=2).fit(X[binary],
                                                                           y[binary]), X))
    cases += [
        ("LogisticRegression", lambda: LogisticRegression(max_iter=500).fit(X, y), X),
        ("LinearRegression", lambda: LinearRegression().fit(X[:, 1:], X[:, 0]), X[:, 1:]),
        ("MLPClassifier", lambda: MLPClassifier((6,), max_iter=400, random_state=0)
         .fit(X, y), X),
        ("Pipeline/Scaler+PCA+KMeans", lambda: make_pipeline(
            StandardScaler(), PCA(3), KMeans(3, n_init=2, random_state=0)).fit(Xw), Xw),
        ("Pipeline/Scaler+OneClassSVM", lambda: make_pipeline(
            StandardScaler(), OneClassSVM(gamma=0.05)).fit(Xw), Xw),
    ]
    return cases


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("case", estimators(), ids=lambda c: c[0])
def test_neuralized_graph_gradcheck(case):
    _, fit, X = case
    est = fit()
    graph = neon.neuralize(est, X)
    assert graph.dtype == DT
    x = torch.as_tensor(X[[1, 17, 33]], dtype=DT)
    if any(isinstance(n.op, ops.ReLU) for n in graph.nodes):
        _, acts = graph(x, keep=True)
        for n in graph.nodes:   # no hidden unit at the ReLU kink
            if isinstance(n.op, ops.ReLU):
                assert float(acts[n.inputs[0]].abs().min()) > 1e-4
    check(graph, x)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("kind", ["OneClassSVM", "KMeans"])
def test_input_gradient_without_scaler(kind):
    """The issue's plain check: torch.autograd.grad(graph(x).sum(), x) works (it used to raise
    "modified by an inplace operation"), and matches the gradient of the model's own score."""
    from sklearn.cluster import KMeans
    from sklearn.svm import OneClassSVM

    X, _ = _data()
    est = (OneClassSVM(gamma=0.3, nu=0.2) if kind == "OneClassSVM"
           else KMeans(3, n_init=2, random_state=0)).fit(X)
    graph = neon.neuralize(est, X)
    # include training points (and, for the SVM, support vectors) so near pairs are recomputed
    rows = X[:4] if kind == "KMeans" else est.support_vectors_[:4]
    x = torch.as_tensor(rows, dtype=DT).requires_grad_(True)
    (grad,) = torch.autograd.grad(graph(x).sum(), x)
    assert torch.isfinite(grad).all()
    # finite differences of the graph's own output, sample by sample and feature by feature
    h = 1e-6
    with torch.no_grad():
        for i in range(x.shape[1]):
            e = torch.zeros_like(x)
            e[:, i] = h
            fd = (graph(x + e) - graph(x - e)).sum(1) / (2 * h)
            torch.testing.assert_close(grad[:, i], fd, rtol=1e-5, atol=1e-6)


def test_imported_cnn_gradcheck():
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 3, stride=1), nn.Tanh(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(4, 3)).double().eval()
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 2.0)
    x = randn(2, 2, 6, 6, seed=50)
    graph = neon.from_torch(net, x)
    torch.testing.assert_close(graph(x), net(x), rtol=1e-12, atol=1e-12)
    _, acts = graph(x, keep=True)
    relu_in = [acts[n.inputs[0]] for n in graph.nodes if isinstance(n.op, ops.ReLU)]
    assert relu_in and all(float(a.abs().min()) > 1e-5 for a in relu_in)
    check(graph, x)


AFFINE = [c for c in op_cases() if isinstance(c[1], ops.Affine)]


@pytest.mark.parametrize("case", AFFINE, ids=lambda c: c[0])
def test_affine_primitives_are_differentiable(case):
    """forward_with (modified weights) and transpose are plain differentiable torch calls, and
    transpose is the vector-Jacobian product autograd computes."""
    _, op, (a,) = case
    out = op(a)
    s = randn(*out.shape, seed=60)
    ax = a.clone().requires_grad_(True)
    (want,) = torch.autograd.grad(op(ax), ax, s)
    torch.testing.assert_close(op.transpose(s, a.shape), want, rtol=1e-12, atol=1e-12)
    w = op.weight.clamp(min=0)
    check(lambda x, w: op.forward_with(x, w, None), a, w)
    check(lambda g, w: op.transpose(g, a.shape, w), s, w)
