"""Each rule against a hand computation on small nets with explicit weights.

Expected values come from the numpy reference in conftest.py (the table form of each rule,
written independently of :mod:`lrp`), from numbers worked out by hand in the test, or from
torch.autograd.
"""

import numpy as np
import pytest
import torch
from torch import nn

import lrp
import neon
from lrp import rules, select
from neon import ops

F64 = torch.float64

# A 2-layer MLP with explicit weights (inputs and hidden units of both signs).
W1 = [[0.5, -1.0, 0.3, 0.8],
      [-0.7, 0.2, 0.9, -0.4],
      [1.1, 0.6, -0.5, 0.2],
      [-0.3, -0.8, -0.6, 0.7],
      [0.4, 0.9, 0.1, -1.2]]
B1 = [0.1, -0.2, 0.05, 0.3, -0.1]
W2 = [[0.6, -0.4, 1.0, 0.3, -0.7],
      [-0.9, 0.8, 0.2, -0.5, 0.6],
      [0.3, 0.5, -0.8, 0.9, 0.4]]
B2 = [0.2, -0.1, 0.05]
X = [[1.0, -0.5, 2.0, 0.3],
     [-1.2, 0.8, 0.4, -0.6],
     [0.3, 0.7, -0.2, 1.1]]


def dense(W, b):
    W = torch.tensor(W, dtype=F64)
    layer = nn.Linear(W.shape[1], W.shape[0], bias=b is not None).double()
    with torch.no_grad():
        layer.weight.copy_(W)
        if b is not None:
            layer.bias.copy_(torch.tensor(b, dtype=F64))
    return layer


def conv(weight, bias, **kw):
    weight = torch.as_tensor(np.asarray(weight), dtype=F64)
    layer = nn.Conv2d(weight.shape[1], weight.shape[0], tuple(weight.shape[2:]),
                      bias=bias is not None, **kw).double()
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(torch.as_tensor(np.asarray(bias), dtype=F64))
    return layer


def mlp(activation="relu", bias=True):
    act = nn.ReLU() if activation == "relu" else nn.LeakyReLU(0.1)
    return nn.Sequential(dense(W1, B1 if bias else None), act,
                         dense(W2, B2 if bias else None))


def explain_per_layer(module, x, layer_rules, target, **extra):
    """Explain with one rule per affine layer (bottom to top), selected by node name."""
    x = torch.as_tensor(np.asarray(x), dtype=F64)
    graph = neon.from_torch(module, x)
    names = [n.name for n in graph.nodes if n.kind in ("linear", "conv")]
    assert len(names) == len(layer_rules)
    entries = [(select.name(n), r) for n, r in zip(names, layer_rules)]
    entries += list(extra.items())
    return lrp.explain(graph, x, target=target, composite=lrp.Composite(entries)).numpy()


TARGETS = {"class": [0, 2, 1], "all-outputs": np.ones((3, 3))}


def torch_target(target):
    return torch.tensor(target, dtype=F64) if np.ndim(target) == 2 else target


# ------------------------------------------------------------------ literal hand computations

def single_layer():
    # z = W a + b with a = (1, 2): z_0 = 1·1 + 2·2 + 0.5 = 5.5, z_1 = −1 + 2 = 1
    return nn.Sequential(dense([[1.0, 2.0], [-1.0, 1.0]], [0.5, 0.0])), torch.tensor(
        [[1.0, 2.0]], dtype=F64)


def test_lrp0_literal():
    m, x = single_layer()
    g = neon.from_torch(m, x)
    e = lrp.explain(g, x, target=0, composite=lrp.Composite([("linear", rules.Epsilon(0))]),
                    return_all=True)
    # R starts at z_0 = 5.5; R_j = a_j w_0j / 5.5 · 5.5 = (1, 4); the bias keeps 0.5
    np.testing.assert_allclose(e.relevance.numpy(), [[1.0, 4.0]], rtol=1e-15)
    np.testing.assert_allclose(e.output.numpy(), [5.5])
    np.testing.assert_allclose(e.table[0]["absorbed"].numpy(), [0.5], rtol=1e-14)


def test_epsilon_literal():
    m, x = single_layer()
    g = neon.from_torch(m, x)
    r = lrp.explain(g, x, target=0, composite=lrp.Composite([("linear", rules.Epsilon(1.0))]))
    # R_j = a_j w_0j / (5.5 + 1) · 5.5
    np.testing.assert_allclose(r.numpy(), [[5.5 / 6.5, 22 / 6.5]], rtol=1e-14)
    # a negative output: class 1 has z = 1 > 0 here; flip the input sign so z_1 = 1 − 2·... < 0
    x2 = torch.tensor([[2.0, -1.0]], dtype=F64)   # z_1 = −2 − 1 = −3
    r = lrp.explain(g, x2, target=1, composite=lrp.Composite([("linear", rules.Epsilon(1.0))]))
    # R_1 = −3; R_j = a_j w_1j / (−3 − 1) · (−3): (2·−1, −1·1) · 0.75
    np.testing.assert_allclose(r.numpy(), [[-1.5, -0.75]], rtol=1e-14)


def test_zplus_and_alphabeta_literal():
    # a = (1, 2, −1), w_0 = (2, −1, 1), b_0 = 0.5: z = 2 − 2 − 1 + 0.5 = −0.5
    m = nn.Sequential(dense([[2.0, -1.0, 1.0]], [0.5]))
    x = torch.tensor([[1.0, 2.0, -1.0]], dtype=F64)
    g = neon.from_torch(m, x)
    # P = a⁺w⁺ + a⁻w⁻ = (2, 0, 0), b⁺ = 0.5; N = a⁺w⁻ + a⁻w⁺ = (0, −2, −1), b⁻ = 0
    R = -0.5
    zp = lrp.explain(g, x, target=0, composite=lrp.Composite([("linear", rules.ZPlus(0))]))
    np.testing.assert_allclose(zp.numpy(), [[2 / 2.5 * R, 0, 0]], rtol=1e-14)
    ab = lrp.explain(g, x, target=0,
                     composite=lrp.Composite([("linear", rules.AlphaBeta(2, 1, 0))]))
    expected = 2 * np.array([2 / 2.5, 0, 0]) * R - np.array([0, -2 / -3, -1 / -3]) * R
    np.testing.assert_allclose(ab.numpy(), [expected], rtol=1e-14)


def test_flat_literal_padding_counts_only_in_bounds_inputs():
    op = ops.Conv(torch.randn(1, 1, 3, 3, dtype=F64), torch.randn(1, dtype=F64), padding=1)
    a = torch.randn(1, 1, 3, 3, dtype=F64)
    R = torch.ones(1, 1, 3, 3, dtype=F64)
    (r,) = rules.Flat(stabilizer=0)(op, [a], op(a), R)
    # each output k shares R_k = 1 over its n_k in-bounds inputs: n = 4 (corner), 6 (edge), 9
    n = np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]], dtype=float)
    expected = np.zeros((3, 3))
    for oy in range(3):
        for ox in range(3):
            for iy in range(oy - 1, oy + 2):
                for ix in range(ox - 1, ox + 2):
                    if 0 <= iy < 3 and 0 <= ix < 3:
                        expected[iy, ix] += 1 / n[oy, ox]
    np.testing.assert_allclose(r[0, 0].numpy(), expected, rtol=1e-14)
    assert expected[0, 0] == pytest.approx(1 / 4 + 2 / 6 + 1 / 9)
    assert float(r.sum()) == pytest.approx(9.0, rel=1e-14)   # flat conserves


# ------------------------------------------------------------------ rules vs the reference

@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("activation", ["relu", "leaky"])
@pytest.mark.parametrize("kw", [dict(eps=0.0), dict(eps=1e-6), dict(eps=0.25),
                                dict(eps=0.1, scale="rms"), dict(eps=0.0, zero_bias=True),
                                dict(eps=0.3, scale="rms", zero_bias=True)],
                         ids=["lrp0", "eps1e-6", "eps0.25", "rms", "lrp0-nobias", "rms-nobias"])
def test_epsilon(ref, kw, activation, target):
    rule = rules.Epsilon(kw["eps"], scale=kw.get("scale"), zero_bias=kw.get("zero_bias", False))
    m = mlp(activation)
    got = explain_per_layer(m, X, [rule, rule], torch_target(TARGETS[target]))
    want = ref.reference_lrp(ref.layers_of(m, (4,)), X, TARGETS[target],
                             [("epsilon", kw)] * 2)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("activation", ["relu", "leaky"])
@pytest.mark.parametrize("g,zero_bias", [(0.25, False), (1.0, False), (0.25, True)])
def test_gamma(ref, g, zero_bias, activation, target):
    """Mixed-sign inputs (first layer, LeakyReLU outputs) and relevance at units with z < 0
    (the all-outputs target starts negative relevance at negative logits; the LeakyReLU lets
    relevance reach hidden units with z < 0)."""
    m = mlp(activation)
    rule = rules.Gamma(g, zero_bias=zero_bias)
    got = explain_per_layer(m, X, [rule, rule], torch_target(TARGETS[target]))
    want = ref.reference_lrp(ref.layers_of(m, (4,)), X, TARGETS[target],
                             [("gamma", dict(g=g, zero_bias=zero_bias))] * 2)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_gamma_branches_are_exercised(ref):
    """The fixture really has negative logits, negative hidden pre-activations carrying
    relevance and inputs of both signs, and the negative branch differs from the positive."""
    m = mlp("leaky")
    x = torch.tensor(X, dtype=F64)
    z1 = m[0](x)
    z2 = m(x)
    assert (z2 < 0).any() and (z2 > 0).any()
    assert (z1 < 0).any() and (x < 0).any() and (x > 0).any()
    # a rule that used the positive branch everywhere would give another answer
    W, b = np.array(W2), np.array(B2)
    a = m[1](z1)[0].detach().numpy()
    R = z2[0].detach().numpy()
    sign_aware = ref.gamma(a, W, b, R)
    naive = np.zeros_like(a)
    for k in range(3):
        q = ref.pos(a) * (W[k] + 0.25 * ref.pos(W[k])) + ref.neg(a) * (W[k] + 0.25 * ref.neg(W[k]))
        d = q.sum() + b[k] + 0.25 * ref.pos(b[k])
        naive += q / (d + 1e-6 * ref.sign(d)) * R[k]
    assert not np.allclose(sign_aware, naive)


def test_gamma_unit_with_zero_z_passes_nothing():
    # z_0 = 1 − 1 = 0 exactly; z_1 = 1 + 1 = 2
    op = ops.Linear(torch.tensor([[1.0, -1.0], [1.0, 1.0]], dtype=F64), None)
    a = torch.tensor([[1.0, 1.0]], dtype=F64)
    R = torch.tensor([[5.0, 0.0]], dtype=F64)
    (r,) = rules.Gamma(0.25)(op, [a], op(a), R)
    assert torch.equal(r, torch.zeros_like(r))


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("activation", ["relu", "leaky"])
@pytest.mark.parametrize("alpha,beta,zero_bias", [(2, 1, False), (1, 0, False), (2, 1, True),
                                                  (1, 0, True)])
def test_alphabeta(ref, alpha, beta, zero_bias, activation, target):
    m = mlp(activation)
    rule = rules.AlphaBeta(alpha, beta, zero_bias=zero_bias)
    got = explain_per_layer(m, X, [rule, rule], torch_target(TARGETS[target]))
    want = ref.reference_lrp(ref.layers_of(m, (4,)), X, TARGETS[target],
                             [("alphabeta", dict(alpha=alpha, beta=beta,
                                                 zero_bias=zero_bias))] * 2)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_alphabeta_requires_alpha_minus_beta_one():
    with pytest.raises(ValueError, match="alpha - beta = 1"):
        rules.AlphaBeta(2, 2)
    with pytest.raises(ValueError, match="alpha, beta >= 0"):
        rules.AlphaBeta(0.5, -0.5)


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("activation", ["relu", "leaky"])
@pytest.mark.parametrize("zero_bias", [False, True])
def test_zplus(ref, zero_bias, activation, target):
    m = mlp(activation)
    rule = rules.ZPlus(zero_bias=zero_bias)
    got = explain_per_layer(m, X, [rule, rule], torch_target(TARGETS[target]))
    want = ref.reference_lrp(ref.layers_of(m, (4,)), X, TARGETS[target],
                             [("zplus", dict(zero_bias=zero_bias))] * 2)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("zero_bias", [False, True])
def test_wsquare(ref, zero_bias):
    m = mlp("relu")
    got = explain_per_layer(m, X, [rules.WSquare(zero_bias=zero_bias), rules.Epsilon(0)], [0, 1, 2])
    want = ref.reference_lrp(ref.layers_of(m, (4,)), X, [0, 1, 2],
                             [("wsquare", dict(zero_bias=zero_bias)), ("epsilon", dict(eps=0))])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    # w² ignores the input: same relevance map per unit relevance for any input
    assert not np.allclose(want[0] / want[0].sum(), want[1] / want[1].sum())


# -------------------------------------------------------------------- convolutional nets

RNG = np.random.default_rng(7)
CW1 = np.round(RNG.normal(size=(3, 2, 3, 3)), 1)
CB1 = np.round(RNG.normal(size=3) * 0.3, 1)
CW2 = np.round(RNG.normal(size=(2, 3, 2, 2)), 1)
CB2 = np.round(RNG.normal(size=2) * 0.3, 1)
LW = np.round(RNG.normal(size=(3, 18)), 1)
LB = np.round(RNG.normal(size=3) * 0.3, 1)
CX = np.round(RNG.uniform(-1, 1, size=(2, 2, 4, 4)), 2)


def cnn():
    return nn.Sequential(conv(CW1, CB1, padding=1), nn.ReLU(),
                         conv(CW2, CB2, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                         dense(LW, LB))


CNN_RULES = [
    ("epsilon", rules.Epsilon(0.0), dict(eps=0.0)),
    ("epsilon", rules.Epsilon(0.1, scale="rms"), dict(eps=0.1, scale="rms")),
    ("gamma", rules.Gamma(0.25), dict(g=0.25)),
    ("alphabeta", rules.AlphaBeta(2, 1), dict(alpha=2, beta=1)),
    ("zplus", rules.ZPlus(), dict()),
    ("wsquare", rules.WSquare(), dict()),
    ("flat", rules.Flat(), dict()),
]


@pytest.mark.parametrize("name,rule,kw", CNN_RULES, ids=[f"{c[0]}{i}" for i, c in
                                                          enumerate(CNN_RULES)])
def test_conv_rules(ref, name, rule, kw):
    """Every affine rule on both convolutions (padding, stride 2) against the unrolled net."""
    m = cnn()
    top = rules.Epsilon(1e-6)
    got = explain_per_layer(m, CX, [rule, rule, top], [0, 2])
    want = ref.reference_lrp(ref.layers_of(m, (2, 4, 4)), CX, [0, 2],
                             [(name, kw), (name, kw), ("epsilon", dict(eps=1e-6))])
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-14)


def test_flat_first_conv_with_padding(ref):
    m = cnn()
    got = explain_per_layer(m, CX, [rules.Flat(), rules.ZPlus(), rules.Epsilon()], [1, 1])
    want = ref.reference_lrp(ref.layers_of(m, (2, 4, 4)), CX, [1, 1],
                             [("flat", {}), ("zplus", {}), ("epsilon", dict(eps=1e-6))])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    # counting the padded taps would give the border pixels less: check the mask matters
    W, b, mask, _ = ref.conv_dense(CW1, CB1, (2, 4, 4), 1, 1)
    assert mask.sum(1).min() < mask.sum(1).max()


@pytest.mark.parametrize("per_channel", [True, False])
def test_zbox(ref, per_channel):
    m = cnn()
    if per_channel:
        low, high = torch.tensor([-1.0, -2.0]).view(2, 1, 1), torch.tensor([2.0, 1.5]).view(2, 1, 1)
    else:
        low, high = -1.5, 1.25
    lo = np.broadcast_to(np.asarray(low, dtype=float), (2, 4, 4)).reshape(-1)
    hi = np.broadcast_to(np.asarray(high, dtype=float), (2, 4, 4)).reshape(-1)
    got = explain_per_layer(m, CX, [rules.ZBox(low, high), rules.Gamma(), rules.Epsilon()],
                            [0, 1])
    want = ref.reference_lrp(ref.layers_of(m, (2, 4, 4)), CX, [0, 1],
                             [("zbox", dict(low=lo, high=hi)), ("gamma", {}),
                              ("epsilon", dict(eps=1e-6))])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_zbox_on_dense_first_layer(ref):
    m = mlp("relu")
    low, high = torch.tensor([-2.0, -1.0, -0.5, -1.5]), torch.tensor([2.0, 1.0, 2.5, 1.5])
    got = explain_per_layer(m, X, [rules.ZBox(low, high), rules.Epsilon(0)], [0, 1, 2])
    want = ref.reference_lrp(ref.layers_of(m, (4,)), X, [0, 1, 2],
                             [("zbox", dict(low=low.numpy(), high=high.numpy())),
                              ("epsilon", dict(eps=0))])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------------- the generic rule

def test_generic_as_epsilon(ref):
    m = mlp("leaky")
    got = explain_per_layer(m, X, [rules.Generic(epsilon=0.2)] * 2, [0, 1, 2])
    want = ref.reference_lrp(ref.layers_of(m, (4,)), X, [0, 1, 2], [("epsilon", dict(eps=0.2))] * 2)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    same = explain_per_layer(m, X, [rules.Epsilon(0.2)] * 2, [0, 1, 2])
    np.testing.assert_allclose(got, same, rtol=1e-12)


def test_generic_as_zplus(ref):
    """On the layer with non-negative inputs (after the ReLU) ZPlus is ρ = (·)⁺, m = (·)⁺."""
    m = mlp("relu")
    plus = rules.Generic(param_modifier=lambda t: t.clamp(min=0),
                         input_modifier=lambda t: t.clamp(min=0))
    got = explain_per_layer(m, X, [rules.Epsilon(0), plus], [0, 1, 2])
    want = ref.reference_lrp(ref.layers_of(m, (4,)), X, [0, 1, 2],
                             [("epsilon", dict(eps=0)), ("zplus", {})])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    same = explain_per_layer(m, X, [rules.Epsilon(0), rules.ZPlus()], [0, 1, 2])
    np.testing.assert_allclose(got, same, rtol=1e-12)


def test_generic_input_modifier_on_mixed_inputs(ref):
    """m(a) = a⁺ on the first layer (inputs of both signs): q_jk = a⁺_j w_jk, β_k = b_k and
    R_j = a⁺_j c_j, so inputs < 0 get nothing."""
    m = mlp("relu")
    rule = rules.Generic(input_modifier=lambda t: t.clamp(min=0), epsilon=0.01)
    got = explain_per_layer(m, X, [rule, rules.Epsilon(0)], [0, 1, 2])
    x = np.array(X)
    W, b = np.array(W1), np.array(B1)
    R_h = ref.reference_lrp(ref.layers_of(m, (4,))[1:], np.maximum(x @ W.T + b, 0), [0, 1, 2],
                            [("epsilon", dict(eps=0))])
    want = np.stack([ref.share(W * ref.pos(x[n])[None], b, R_h[n], 0.01) for n in range(3)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert (got[x < 0] == 0).all() and (got[x > 0] != 0).any()


def test_generic_as_wsquare_and_zero_bias(ref):
    m = mlp("relu")
    w2 = rules.Generic(param_modifier=torch.square, input_modifier=torch.ones_like,
                       output_factor="ones")
    got = explain_per_layer(m, X, [w2, rules.Generic(epsilon=0, zero_bias=True)], [0, 1, 2])
    want = ref.reference_lrp(ref.layers_of(m, (4,)), X, [0, 1, 2],
                             [("wsquare", {}), ("epsilon", dict(eps=0, zero_bias=True))])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    with pytest.raises(ValueError, match="output_factor"):
        rules.Generic(output_factor="weights")


# --------------------------------------------------------------------- non-affine rules

def test_norm_on_add_literal():
    a = torch.tensor([[1.0, 3.0, -1.0]], dtype=F64)
    b = torch.tensor([[3.0, 1.0, 3.0]], dtype=F64)
    R = torch.tensor([[4.0, 8.0, 6.0]], dtype=F64)
    ra, rb = rules.Norm(0)(ops.Add(), [a, b], a + b, R)
    np.testing.assert_allclose(ra.numpy(), [[1.0, 6.0, -3.0]])
    np.testing.assert_allclose(rb.numpy(), [[3.0, 2.0, 9.0]])
    # default stabilizer: denominator a + b + ε·sign
    ra, _ = rules.Norm()(ops.Add(), [a, b], a + b, R)
    np.testing.assert_allclose(ra.numpy(), [[4 / (4 + 1e-6), 3 * 8 / (4 + 1e-6),
                                             -6 / (2 + 1e-6)]], rtol=1e-14)


def test_norm_on_avgpool_and_mean_literal():
    a = torch.tensor([[[[1.0, 3.0, 2.0, 2.0],
                        [0.0, 4.0, 1.0, 5.0]]]], dtype=F64)     # (1, 1, 2, 4)
    pool = ops.AvgPool(2, 2)
    R = torch.tensor([[[[8.0, 4.0]]]], dtype=F64)
    (r,) = rules.Norm(0)(pool, [a], pool(a), R)
    # window sums 8 and 10: R_j = a_j / Σ_window a · R
    np.testing.assert_allclose(r.numpy(), [[[[1.0, 3.0, 0.8, 0.8], [0.0, 4.0, 0.4, 2.0]]]])
    # with ε: the denominator is the window mean + ε, i.e. Σa + n·ε
    (r,) = rules.Norm(0.5)(pool, [a], pool(a), R)
    np.testing.assert_allclose(r[0, 0, 0, :2].numpy(), [8 / (8 + 4 * 0.5), 3 * 8 / (8 + 2)])
    mean = ops.Mean((2, 3))
    R = torch.tensor([[6.0]], dtype=F64)
    (r,) = rules.Norm(0)(mean, [a], mean(a), R)
    np.testing.assert_allclose(r.numpy(), a.numpy() / 18 * 6)
    total = ops.Sum((3,))
    R = torch.tensor([[[1.0, 2.0]]], dtype=F64)
    (r,) = rules.Norm(0)(total, [a], total(a), R)
    np.testing.assert_allclose(r.numpy(), [[[[1 / 8, 3 / 8, 2 / 8, 2 / 8],
                                             [0.0, 8 / 10, 2 / 10, 10 / 10]]]])


def test_norm_on_overlapping_avgpool_with_padding(ref):
    """3×3 average pooling, stride 1, padding 1: each input gets its share of every window."""
    a = torch.tensor(np.round(np.random.default_rng(3).uniform(0.1, 1, (1, 1, 3, 3)), 2))
    pool = ops.AvgPool(2, 3, 1, 1)
    R = torch.tensor(np.random.default_rng(4).uniform(-1, 1, (1, 1, 3, 3)))
    (r,) = rules.Norm(0)(pool, [a], pool(a), R)
    W, _, mask, _ = ref.conv_dense(np.ones((1, 1, 3, 3)), None, (1, 3, 3), 1, 1)
    av = a.numpy().reshape(-1)
    want = ref.epsilon(av, W, np.zeros(9), R.numpy().reshape(-1), eps=0)
    np.testing.assert_allclose(r.numpy().reshape(-1), want, rtol=1e-13)


def test_maxpool_rules_literal():
    a = torch.tensor([[[[1.0, 3.0, 2.0, 2.5],
                        [0.5, 2.0, 1.0, 4.5]]]], dtype=F64)
    pool = ops.MaxPool(2, 2)
    R = torch.tensor([[[[6.0, -2.0]]]], dtype=F64)
    (r,) = rules.WinnerTakeAll()(pool, [a], pool(a), R)
    np.testing.assert_allclose(r.numpy(), [[[[0, 6.0, 0, 0], [0, 0, 0, -2.0]]]])
    (r,) = rules.ProportionalMax(0)(pool, [a], pool(a), R)
    # window sums 6.5 and 10: R_j = a_j / Σ_window a · R
    np.testing.assert_allclose(r.numpy(), [[[[6 / 6.5, 18 / 6.5, 2 / 10 * -2, 2.5 / 10 * -2],
                                             [3 / 6.5, 12 / 6.5, 1 / 10 * -2, 4.5 / 10 * -2]]]],
                               rtol=1e-14)


def test_proportional_max_with_stride_and_padding(ref):
    a = torch.tensor(np.random.default_rng(5).uniform(0.1, 1, (1, 1, 5, 5)))
    pool = ops.MaxPool(2, 3, 2, 1)
    out = pool(a)
    R = torch.tensor(np.random.default_rng(6).uniform(-1, 1, tuple(out.shape)))
    (r,) = rules.ProportionalMax(0)(pool, [a], out, R)
    W, _, mask, _ = ref.conv_dense(np.ones((1, 1, 3, 3)), None, (1, 5, 5), 2, 1)
    want = ref.epsilon(a.numpy().reshape(-1), W, np.zeros(W.shape[0]),
                       R.numpy().reshape(-1), eps=0)
    np.testing.assert_allclose(r.numpy().reshape(-1), want, rtol=1e-13)


def test_route_literal():
    a, b = torch.arange(6.0).view(1, 2, 3), torch.arange(6.0, 10.0).view(1, 2, 2)
    R = torch.arange(100.0, 110.0).view(1, 2, 5)
    ra, rb = rules.Route()(ops.Concat(2), [a, b], torch.cat([a, b], 2), R)
    assert torch.equal(ra, R[:, :, :3]) and torch.equal(rb, R[:, :, 3:])
    x = torch.randn(2, 3, 4)
    (r,) = rules.Route()(ops.Reshape((4, 3)), [x], x.reshape(2, 4, 3), torch.ones(2, 4, 3))
    assert r.shape == x.shape
    R = torch.arange(24.0).view(2, 12)
    (r,) = rules.Route()(ops.Flatten(), [x], x.flatten(1), R)
    assert torch.equal(r, R.view(2, 3, 4))
    sel = ops.Select((slice(1, 3),))
    (r,) = rules.Route()(sel, [x], sel(x), torch.ones(2, 2, 4))
    assert torch.equal(r[:, 0], torch.zeros(2, 4)) and torch.equal(r[:, 1:], torch.ones(2, 2, 4))


class Branches(nn.Module):
    """x → (fc_a, fc_b) → cat → view → relu → flatten → fc."""

    def __init__(self):
        super().__init__()
        self.fc_a = dense(W1, B1)
        self.fc_b = dense(W1[::-1], B1)
        self.fc = dense(np.round(np.random.default_rng(1).normal(size=(3, 10)), 1), B2)

    def forward(self, x):
        h = torch.cat([self.fc_a(x), self.fc_b(x)], 1)
        h = h.view(h.size(0), 2, 5)
        h = torch.relu(h)
        return self.fc(torch.flatten(h, 1))


def test_route_and_pass_in_a_graph():
    m = Branches().double().eval()
    x = torch.tensor(X, dtype=F64)
    g = neon.from_torch(m, x)
    kinds = {n.kind: n.name for n in g.nodes}
    assert {"concat", "reshape", "relu", "flatten"} <= set(kinds)
    e = lrp.explain(g, x, target=[0, 1, 2], return_all=True)
    node = {n.kind: n for n in g.nodes}
    # Flatten and Reshape route by index; ReLU passes; Concat splits
    r_flat = e.nodes[node["flatten"].name]
    assert torch.equal(e.nodes[node["relu"].name], r_flat.view(3, 2, 5))
    assert torch.equal(e.nodes[node["reshape"].name], e.nodes[node["relu"].name])
    r_cat = e.nodes[node["concat"].name]
    assert torch.equal(r_cat, e.nodes[node["reshape"].name].reshape(3, 10))
    assert torch.equal(e.nodes["fc_a"], r_cat[:, :5])
    assert torch.equal(e.nodes["fc_b"], r_cat[:, 5:])


def test_pass_literal_and_kinds():
    R = torch.randn(2, 3)
    for op in (ops.ReLU(), ops.Tanh(), ops.LeakyReLU(0.1), ops.Hardtanh(0, 6), ops.Sigmoid()):
        assert rules.Pass().handles(op)
        (r,) = rules.Pass()(op, [torch.randn(2, 3)], None, R)
        assert r is R or torch.equal(r, R)
    assert not rules.Pass().handles(ops.Linear(torch.ones(2, 2), None))


def test_softmax_rule_literal():
    x = torch.tensor([[1.0, 2.0, -1.0]], dtype=F64)
    s = torch.softmax(x, 1)
    R = torch.tensor([[0.5, 1.0, -2.0]], dtype=F64)
    (r,) = rules.SoftmaxRule()(ops.Softmax(1), [x], s, R)
    sv, xv, Rv = s.numpy()[0], x.numpy()[0], R.numpy()[0]
    want = [xv[i] * (Rv[i] - sv[i] * Rv.sum()) for i in range(3)]
    np.testing.assert_allclose(r.numpy()[0], want, rtol=1e-14)


def test_softmax_inside_and_at_the_output():
    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = dense(W1, B1), dense(W2, B2)

        def forward(self, x):
            return self.fc2(torch.softmax(self.fc1(x), dim=1))

    m = Attn().double().eval()
    x = torch.tensor(X, dtype=F64)
    g = neon.from_torch(m, x)
    e = lrp.explain(g, x, target=1, return_all=True)
    sm = next(n for n in g.nodes if n.kind == "softmax")
    R = e.nodes[sm.name].numpy()
    z = m.fc1(x).detach().numpy()
    s = torch.softmax(torch.tensor(z), 1).numpy()
    want = z * (R - s * R.sum(1, keepdims=True))
    np.testing.assert_allclose(e.nodes["fc1"].numpy(), want, rtol=1e-13)
    # an output softmax is not propagated through: the logits before it are explained
    with_sm = nn.Sequential(mlp(), nn.Softmax(dim=1)).double().eval()
    g2 = neon.from_torch(with_sm, x)
    g1 = neon.from_torch(mlp(), x)
    torch.testing.assert_close(lrp.explain(g2, x), lrp.explain(g1, x), rtol=1e-14, atol=1e-16)


# ------------------------------------------------------------------------------ Gradient

class Everything(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.c1 = nn.Conv2d(2, 4, 3, padding=1)
        self.c2 = nn.Conv2d(2, 4, 1)
        self.pool = nn.MaxPool2d(2)
        self.avg = nn.AvgPool2d(2)
        self.fc = nn.Linear(8 * 2 * 2 + 4 * 2 * 2, 5)
        self.act = nn.Tanh()

    def forward(self, x):
        a = torch.relu(self.c1(x))
        b = self.act(self.c2(x))
        h = self.pool(a + b)
        k = self.avg(b)
        h = torch.cat([h, a[:, :, ::2, ::2]], 1)
        return self.fc(torch.cat([torch.flatten(h, 1), k.reshape(k.size(0), -1)], 1))


def test_gradient_rule_is_the_autograd_gradient():
    m = Everything().double().eval()
    x = torch.randn(3, 2, 4, 4, dtype=F64)
    g = neon.from_torch(m, x)
    grad = lrp.Composite([(select.everything(), rules.Gradient())])
    target = [0, 3, 4]
    r = lrp.explain(g, x, target=target, composite=grad)
    xx = x.clone().requires_grad_(True)
    out = m(xx)
    picked = out[torch.arange(3), target]
    (dx,) = torch.autograd.grad(picked.sum(), xx)
    # the walk starts at f(x) ⊙ one-hot, so the result is f_c(x) · ∂f_c/∂x
    torch.testing.assert_close(r, picked.detach().view(3, 1, 1, 1) * dx, rtol=1e-12, atol=1e-14)


def test_gradient_rule_per_op_is_the_vjp():
    x = torch.randn(2, 3, 4, 4, dtype=F64)
    cases = [ops.Conv(torch.randn(2, 3, 3, 3, dtype=F64), torch.randn(2, dtype=F64), stride=2,
                      padding=1),
             ops.ReLU(), ops.MaxPool(2, 2), ops.AvgPool(2, 3, 1, 1), ops.Tanh(),
             ops.Flatten(), ops.Reshape((12, 4)), ops.Mean((2, 3))]
    for op in cases:
        out = op(x)
        g = torch.randn_like(out)
        (r,) = rules.Gradient()(op, [x], out, g)
        xx = x.clone().requires_grad_(True)
        (want,) = torch.autograd.grad(op(xx), xx, g)
        torch.testing.assert_close(r, want, rtol=1e-13, atol=1e-14, msg=type(op).__name__)
    lin = ops.Linear(torch.randn(3, 5, dtype=F64), torch.randn(3, dtype=F64))
    v = torch.randn(2, 5, dtype=F64)
    g = torch.randn(2, 3, dtype=F64)
    (r,) = rules.Gradient()(lin, [v], lin(v), g)
    torch.testing.assert_close(r, g @ lin.weight)


# ---------------------------------------------------------------------------- defaults

def test_every_op_kind_has_a_default_rule():
    kinds = {}
    for name in ops.__all__:
        cls = getattr(ops, name)
        if isinstance(cls, type) and issubclass(cls, ops.Op) and cls.kind not in ("op",
                                                                                   "elementwise"):
            kinds[cls.kind] = cls

    def Fake(kind):  # an op of that kind, built without its constructor's arguments
        cls = kinds.get(kind) or type("Mystery", (ops.Op,), {"kind": kind})
        return cls.__new__(cls)

    for kind in sorted(k for k in kinds if k not in ("affine", "summation", "routing",
                                                       "distance", "pool")):
        rule = rules.default_rule(Fake(kind))
        assert rule.handles(Fake(kind)), kind
    assert isinstance(rules.default_rule(Fake("linear")), rules.Epsilon)
    assert isinstance(rules.default_rule(Fake("add")), rules.Norm)
    assert isinstance(rules.default_rule(Fake("maxpool")), rules.WinnerTakeAll)
    assert isinstance(rules.default_rule(Fake("concat")), rules.Route)
    with pytest.raises(rules.RuleError, match="no default rule"):
        rules.default_rule(Fake("mystery"))


@pytest.mark.parametrize("a", [[1.0, 2.0], [1.0, -2.0], [0.0, 0.0]],
                         ids=["nonneg", "mixed", "zero"])
@pytest.mark.parametrize("name", ["epsilon", "gamma", "alphabeta", "zplus", "wsquare", "flat",
                                  "zbox", "epsilon-rms"])
def test_zero_stabilizer_passes_nothing_through_zero_denominators(ref, name, a):
    """Stabilizer 0 (the exact, conserving form): units whose denominator is 0 pass nothing,
    with no 0/0 NaN, whichever algebraic shortcut a rule takes (inputs ≥ 0 or not)."""
    W = np.array([[1.0, 1.0], [-1.0, -1.0], [0.0, 0.0], [2.0, -1.0]])
    op = ops.Linear(torch.tensor(W), None)
    x = torch.tensor([a], dtype=F64)
    z = op(x)
    R = torch.tensor([[3.0, 0.0, 0.0, 0.5]], dtype=F64) * (z != 0)
    low, high = np.array([-3.0, -3.0]), np.array([3.0, 3.0])
    rule, want = {
        "epsilon": (rules.Epsilon(0), lambda r: ref.epsilon(x[0].numpy(), W, 0 * W[:, 0], r, 0)),
        "epsilon-rms": (rules.Epsilon(0.5, scale="rms"),
                        lambda r: ref.epsilon(x[0].numpy(), W, 0 * W[:, 0], r, 0.5, "rms")),
        "gamma": (rules.Gamma(0.25, 0), lambda r: ref.gamma(x[0].numpy(), W, 0 * W[:, 0], r,
                                                            0.25, 0)),
        "alphabeta": (rules.AlphaBeta(2, 1, 0), lambda r: ref.alphabeta(x[0].numpy(), W,
                                                                        0 * W[:, 0], r, eps=0)),
        "zplus": (rules.ZPlus(0), lambda r: ref.zplus(x[0].numpy(), W, 0 * W[:, 0], r, 0)),
        "wsquare": (rules.WSquare(0), lambda r: ref.wsquare(x[0].numpy(), W, 0 * W[:, 0], r, 0)),
        "flat": (rules.Flat(0), lambda r: ref.flat(x[0].numpy(), W, 0 * W[:, 0], r,
                                                   np.ones_like(W, dtype=bool), 0)),
        "zbox": (rules.ZBox(torch.tensor(low), torch.tensor(high), 0),
                 lambda r: ref.zbox(x[0].numpy(), W, 0 * W[:, 0], r, low, high, 0)),
    }[name]
    (r,) = rule(op, [x], z, R)
    assert torch.isfinite(r).all(), r
    expected = want(R[0].numpy())
    assert np.isfinite(expected).all()
    np.testing.assert_allclose(r[0].numpy(), expected, rtol=1e-14, atol=1e-15)


def test_stabilizer_sign_of_zero_is_plus():
    z = torch.tensor([0.0, 2.0, -2.0], dtype=F64)
    np.testing.assert_array_equal(rules.stabilize(z, 0.5).numpy(), [0.5, 2.5, -2.5])
    # a unit with z = 0 exactly that receives relevance: R_j = a_j w_j R / (0 + ε)
    op = ops.Linear(torch.tensor([[1.0, -1.0]], dtype=F64), None)
    a = torch.tensor([[2.0, 2.0]], dtype=F64)
    (r,) = rules.Epsilon(0.5)(op, [a], op(a), torch.tensor([[1.0]], dtype=F64))
    np.testing.assert_allclose(r.numpy(), [[4.0, -4.0]])
    ra, rb = rules.Norm(0.5)(ops.Add(), [a, -a], a - a, torch.ones(1, 2, dtype=F64))
    np.testing.assert_allclose(ra.numpy(), [[4.0, 4.0]])
    np.testing.assert_allclose(rb.numpy(), [[-4.0, -4.0]])


def test_proportional_max_refuses_dilated_pooling():
    """Average pooling has no dilation: ProportionalMax on a dilated max-pool would pool the
    wrong windows (it summed relevance 4 out of 1 before), so matching it is an error."""
    model = nn.Sequential(nn.Conv2d(1, 2, 1), nn.ReLU(), nn.MaxPool2d(3, dilation=2),
                          nn.Flatten(), nn.Linear(2, 2)).double()
    x = torch.rand(2, 1, 7, 7, dtype=F64)
    g = neon.from_torch(model, x)
    composite = lrp.Composite([("maxpool", rules.ProportionalMax())])
    with pytest.raises(rules.RuleError, match=r"node '2' \(MaxPool.*ProportionalMax"):
        lrp.explain(g, x, composite=composite)
    assert rules.ProportionalMax().handles(ops.MaxPool(2, 3, dilation=1))
    lrp.explain(g, x)   # the default (winner takes all) handles it
