"""Rules of the ops of modern CNNs and transformers: ElementwiseEpsilon (unfolded BatchNorm,
constant arithmetic), SignalTakeAll and UniformSplit (gated products), FrozenScale (LayerNorm,
GroupNorm), Route's fast paths (Permute, Expand, Roll, Pad) and their default registrations.

Every expected value is a hand computation in numpy written here (explicit Jacobians, sums
over broadcast axes); none uses the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lrp
import neon
from lrp import rules, select
from neon import ops

torch.set_num_threads(1)
F64 = torch.float64


def T(a):
    return torch.as_tensor(np.asarray(a, dtype=float), dtype=F64)


def N(t):
    return t.detach().numpy()


def sign(d):
    return np.where(d >= 0, 1.0, -1.0)


def stab(d, eps):
    return d + eps * sign(d)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# ------------------------------------------------------------------ ElementwiseEpsilon


def test_elementwise_epsilon_on_batchnorm_is_eps_over_the_affine_map():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 5, 5))
    s, t = rng.uniform(0.5, 2.0, size=4), rng.normal(size=4)
    R = rng.normal(size=x.shape)
    y = s[:, None, None] * x + t[:, None, None]
    eps = 0.1
    expected = s[:, None, None] * x / stab(y, eps) * R

    op = ops.BatchNorm(T(s), T(t))
    out = op(T(x))
    np.testing.assert_allclose(N(out), y, rtol=1e-13)
    (r_in,) = rules.ElementwiseEpsilon(eps)(op, [T(x)], out, T(R))
    np.testing.assert_allclose(N(r_in), expected, rtol=1e-12, atol=1e-14)
    # the shift absorbs its share: Σ R_in = Σ R s x / stab(y)
    np.testing.assert_allclose(N(r_in).sum((1, 2, 3)),
                               (R * s[:, None, None] * x / stab(y, eps)).sum((1, 2, 3)),
                               rtol=1e-12)


def test_elementwise_epsilon_without_shift_and_eps_passes_relevance_unchanged():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 4, 4))
    s = rng.uniform(0.5, 2.0, size=3) * np.array([1.0, -1.0, 1.0])
    R = rng.normal(size=x.shape)
    op = ops.BatchNorm(T(s), T(np.zeros(3)))
    (r_in,) = rules.ElementwiseEpsilon(0.0)(op, [T(x)], op(T(x)), T(R))
    np.testing.assert_allclose(N(r_in), R, rtol=1e-13, atol=1e-15)


def test_elementwise_epsilon_at_zero_eps_passes_nothing_from_zero_outputs():
    x = np.array([[1.0, 0.0, -2.0, 3.0]])
    s, t = np.array([2.0, 1.0, 1.0, 1.0]), np.array([0.0, 0.0, 2.0, -3.0])   # y = 2, 0, 0, 0
    R = np.array([[1.0, 5.0, 7.0, 9.0]])
    op = ops.ElementwiseAffine(T(s), T(t), channel_dim=1)
    (r_in,) = rules.ElementwiseEpsilon(0.0)(op, [T(x)], op(T(x)), T(R))
    np.testing.assert_array_equal(N(r_in), [[1.0, 0.0, 0.0, 0.0]])


def test_elementwise_epsilon_sums_back_when_the_constant_broadcasts_the_input():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 1, 3, 4))           # broadcast along channels by the constant
    s, t = rng.normal(size=(5, 1, 1)), rng.normal(size=(5, 1, 1))
    op = ops.BroadcastAffine(T(s), T(t))
    out = op(T(x))
    assert out.shape == (2, 5, 3, 4)
    R = rng.normal(size=out.shape)
    y = x * s + t
    expected = (s * x / stab(y, 1e-6) * R).sum(1, keepdims=True)
    (r_in,) = rules.ElementwiseEpsilon()(op, [T(x)], out, T(R))
    assert r_in.shape == x.shape
    np.testing.assert_allclose(N(r_in), expected, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------- products


def _gated(seed=3):
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=(2, 3, 4, 5))
    gate = sigmoid(rng.normal(size=(2, 3, 1, 1)))
    R = rng.normal(size=signal.shape)
    return signal, gate, R


def test_signal_take_all_gives_everything_to_the_signal_and_nothing_to_the_gate():
    signal, gate, R = _gated()
    op = ops.Mul(gate=1)
    out = op(T(signal), T(gate))
    np.testing.assert_allclose(N(out), signal * gate, rtol=1e-14)
    r_signal, r_gate = rules.SignalTakeAll()(op, [T(signal), T(gate)], out, T(R))
    np.testing.assert_array_equal(N(r_signal), R)
    assert r_gate.shape == gate.shape and r_gate.dtype == F64
    np.testing.assert_array_equal(N(r_gate), np.zeros(gate.shape))
    assert float(r_signal.sum() + r_gate.sum()) == float(T(R).sum())   # exactly conserved


def test_signal_take_all_with_the_gate_first_and_a_broadcast_signal():
    rng = np.random.default_rng(4)
    gate = sigmoid(rng.normal(size=(2, 3, 4, 5)))
    signal = rng.normal(size=(2, 1, 4, 5))      # one map gated per channel
    R = rng.normal(size=(2, 3, 4, 5))
    op = ops.Mul(gate=0)
    out = op(T(gate), T(signal))
    r_gate, r_signal = rules.SignalTakeAll()(op, [T(gate), T(signal)], out, T(R))
    np.testing.assert_allclose(N(r_signal), R.sum(1, keepdims=True), rtol=1e-13)
    np.testing.assert_array_equal(N(r_gate), np.zeros(gate.shape))
    np.testing.assert_allclose(float(r_signal.sum()), R.sum(), rtol=1e-13)


def test_signal_take_all_without_a_gate_splits_in_halves():
    signal, gate, R = _gated(5)
    op = ops.Mul(gate=None)
    out = op(T(gate), T(signal))
    r_a, r_b = rules.SignalTakeAll()(op, [T(gate), T(signal)], out, T(R))
    np.testing.assert_allclose(N(r_a), R.sum((2, 3), keepdims=True) / 2, rtol=1e-13)
    np.testing.assert_allclose(N(r_b), R / 2, rtol=1e-14)


@pytest.mark.parametrize("gate", [None, 0, 1])
def test_uniform_split_halves_and_sums_back_whatever_the_gate(gate):
    signal, g, R = _gated(6)
    op = ops.Mul(gate=gate)
    out = op(T(g), T(signal))
    r_a, r_b = rules.UniformSplit()(op, [T(g), T(signal)], out, T(R))
    assert r_a.shape == g.shape and r_b.shape == signal.shape
    np.testing.assert_allclose(N(r_a), R.sum((2, 3), keepdims=True) / 2, rtol=1e-13)
    np.testing.assert_allclose(N(r_b), R / 2, rtol=1e-14)
    np.testing.assert_allclose(float(r_a.sum() + r_b.sum()), R.sum(), rtol=1e-13)


def test_product_rules_refuse_a_factor_that_does_not_broadcast():
    a, b = torch.ones(2, 3, dtype=F64), torch.ones(2, 3, dtype=F64)
    with pytest.raises(rules.RuleError, match="does not broadcast"):
        rules.SignalTakeAll()(ops.Mul(gate=1), [a, b], a * b, torch.ones(2, 4, dtype=F64))


def test_gradient_rule_on_mul_is_the_product_rule_of_calculus():
    signal, gate, R = _gated(7)
    op = ops.Mul(gate=1)
    a, g = T(signal), T(gate)
    grads = rules.Gradient()(op, [a, g], op(a, g), T(R))
    np.testing.assert_allclose(N(grads[0]), R * gate, rtol=1e-13)
    np.testing.assert_allclose(N(grads[1]), (R * signal).sum((2, 3), keepdims=True), rtol=1e-12)
    a.requires_grad_(True)
    g.requires_grad_(True)
    auto = torch.autograd.grad(a * g, [a, g], T(R))
    for mine, theirs in zip(grads, auto):
        torch.testing.assert_close(mine, theirs, rtol=1e-13, atol=1e-15)


NEW_RULES = [rules.SignalTakeAll(), rules.UniformSplit(), rules.ElementwiseEpsilon(),
             rules.ElementwiseEpsilon(0.5), rules.ElementwiseEpsilon(0), rules.FrozenScale(),
             rules.FrozenScale(epsilon=0.25)]


def test_new_rule_reprs_show_the_values_in_use():
    assert repr(rules.SignalTakeAll()) == "SignalTakeAll(epsilon=1e-06)"
    assert repr(rules.UniformSplit()) == "UniformSplit(epsilon=1e-06)"
    assert repr(rules.ElementwiseEpsilon(0.5)) == "ElementwiseEpsilon(epsilon=0.5)"
    assert repr(rules.FrozenScale()) == "FrozenScale(epsilon=1e-06)"


@pytest.mark.parametrize("rule", NEW_RULES, ids=repr)
def test_new_rule_reprs_round_trip(rule):
    again = eval(repr(rule), {k: getattr(rules, k) for k in rules.__all__})
    assert type(again) is type(rule) and repr(again) == repr(rule)
    assert again._params() == rule._params()


# ------------------------------------------------------------------ FrozenScale


def frozen_scale_reference(x, gamma, beta, R, norm_eps, eps):
    """LRP-ε over y = γ (x − μ) r + β with r frozen, one normalized group per row.

    ``x``, ``gamma``, ``beta``, ``R``: arrays (groups, n). For each group J = diag(γ r)
    (I − 11ᵀ/n) and R_in_j = x_j Σ_k J_kj R_k / stab(y_k). Returns (R_in, y).
    """
    r_in, ys = np.zeros_like(x), np.zeros_like(x)
    for i in range(x.shape[0]):
        n = x.shape[1]
        mu = x[i].mean()
        r = 1.0 / np.sqrt(((x[i] - mu) ** 2).mean() + norm_eps)
        y = gamma[i] * (x[i] - mu) * r + beta[i]
        J = np.diag(gamma[i] * r) @ (np.eye(n) - np.ones((n, n)) / n)
        r_in[i] = x[i] * (J.T @ (R[i] / stab(y, eps)))
        ys[i] = y
    return r_in, ys


@pytest.mark.parametrize("normalized", [(6,), (4, 6)], ids=["last-axis", "two-axes"])
def test_frozen_scale_on_layernorm_matches_the_closed_form(normalized):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 3, 4, 6)) * 2 + 0.5
    gamma, beta = rng.normal(size=normalized), rng.normal(size=normalized)
    R = rng.normal(size=x.shape)
    op = ops.LayerNorm(normalized, T(gamma), T(beta), eps=1e-5)
    out = op(T(x))
    (r_in,) = rules.FrozenScale(1e-3)(op, [T(x)], out, T(R))

    m = int(np.prod(normalized))
    groups = x.size // m
    tile = lambda p: np.broadcast_to(p.reshape(1, -1), (groups, m))  # noqa: E731
    expected, y = frozen_scale_reference(x.reshape(groups, m), tile(gamma), tile(beta),
                                         R.reshape(groups, m), 1e-5, 1e-3)
    np.testing.assert_allclose(N(out).reshape(groups, m), y, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(N(r_in).reshape(groups, m), expected, rtol=1e-10, atol=1e-12)
    # β absorbs its share: Σ R_in = Σ R (y − β) / stab(y), per sample
    share = R.reshape(groups, m) * (y - tile(beta)) / stab(y, 1e-3)
    np.testing.assert_allclose(N(r_in).sum((1, 2, 3)), share.reshape(2, -1).sum(1),
                               rtol=1e-10)


def test_frozen_scale_on_groupnorm_matches_the_closed_form():
    rng = np.random.default_rng(9)
    n, c, h, w, g = 2, 6, 3, 4, 3
    x = rng.normal(size=(n, c, h, w)) + rng.normal(size=(1, c, 1, 1))
    gamma, beta = rng.normal(size=c), rng.normal(size=c)
    R = rng.normal(size=x.shape)
    op = ops.GroupNorm(g, T(gamma), T(beta), eps=1e-5)
    out = op(T(x))
    (r_in,) = rules.FrozenScale()(op, [T(x)], out, T(R))

    per = (c // g) * h * w             # a group: c/g channels, every position
    per_channel = lambda p: np.broadcast_to(  # noqa: E731
        np.repeat(p, h * w).reshape(1, g, per), (n, g, per)).reshape(n * g, per)
    expected, y = frozen_scale_reference(x.reshape(n * g, per), per_channel(gamma),
                                         per_channel(beta), R.reshape(n * g, per), 1e-5, 1e-6)
    np.testing.assert_allclose(N(out).reshape(n * g, per), y, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(N(r_in).reshape(n * g, per), expected, rtol=1e-10, atol=1e-12)
    share = R.reshape(n * g, per) * (y - per_channel(beta)) / stab(y, 1e-6)
    np.testing.assert_allclose(N(r_in).sum((1, 2, 3)), share.reshape(n, -1).sum(1),
                               rtol=1e-10)


def test_frozen_scale_without_shift_conserves_up_to_epsilon():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(3, 5, 8))
    R = rng.normal(size=x.shape)
    op = ops.LayerNorm((8,), eps=1e-5)      # no γ, no β
    (r_in,) = rules.FrozenScale(0.0)(op, [T(x)], op(T(x)), T(R))
    np.testing.assert_allclose(N(r_in).sum((1, 2)), R.sum((1, 2)), rtol=1e-11)


# ------------------------------------------------------------------ Route's fast paths


ROUTED = [
    ("permute", lambda: ops.Permute((0, 2, 3, 1)), (2, 3, 4, 5),
     lambda R, x: np.transpose(R, (0, 3, 1, 2))),
    ("expand", lambda: ops.Expand((3, 4, 5)), (2, 1, 4, 1),
     lambda R, x: R.sum((1, 3), keepdims=True)),
    ("roll", lambda: ops.Roll((1, -2), (2, -1)), (2, 3, 4, 5),
     lambda R, x: np.roll(R, (-1, 2), (2, 3))),
    ("pad-constant", lambda: ops.Pad((1, 2, 0, 1), "constant", 3.0), (2, 3, 4, 5),
     lambda R, x: R[:, :, 0:4, 1:6]),
    ("pad-crop", lambda: ops.Pad((-1, 1)), (2, 3, 4, 5),
     lambda R, x: np.concatenate([np.zeros((2, 3, 4, 1)), R[..., :4]], -1)),
]


@pytest.mark.parametrize("name,make,shape,reference", ROUTED, ids=[r[0] for r in ROUTED])
def test_route_sends_relevance_back_by_the_transposed_index_map(name, make, shape, reference):
    rng = np.random.default_rng(11)
    op, x = make(), T(rng.normal(size=shape))
    out = op(x)
    R = rng.normal(size=tuple(out.shape))
    (routed,) = rules.Route()(op, [x], out, T(R))
    assert routed.shape == x.shape
    np.testing.assert_allclose(N(routed), reference(R, N(x)), rtol=1e-13, atol=1e-15)
    (through_vjp,) = rules.vjp(op, [x], T(R))
    torch.testing.assert_close(routed, through_vjp, rtol=1e-13, atol=1e-15)


def test_route_through_a_reflecting_pad_conserves_relevance():
    rng = np.random.default_rng(12)
    op, x = ops.Pad((2, 2, 1, 1), "reflect"), T(rng.normal(size=(2, 3, 4, 5)))
    R = rng.normal(size=(2, 3, 6, 9))
    (routed,) = rules.Route()(op, [x], op(x), T(R))
    # the first row of the output is a reflection of input row 1, so row 1 collects it
    expected_row1 = R[:, :, 2, 2:7] + R[:, :, 0, 2:7]
    # columns reflected too: input column 1 ← output 1, 2 ← 0 and 8, 3 ← 7
    expected_row1[..., 1] += R[:, :, 2, 1] + R[:, :, 0, 1]
    expected_row1[..., 2] += R[:, :, 2, 0] + R[:, :, 0, 0] + R[:, :, 2, 8] + R[:, :, 0, 8]
    expected_row1[..., 3] += R[:, :, 2, 7] + R[:, :, 0, 7]
    np.testing.assert_allclose(N(routed)[:, :, 1], expected_row1, rtol=1e-13)
    np.testing.assert_allclose(N(routed).sum((1, 2, 3)), R.sum((1, 2, 3)), rtol=1e-13)


# ------------------------------------------------------------------ default rules


def _c(n, seed=13):
    return T(np.random.default_rng(seed).uniform(0.5, 1.5, size=n))


DEFAULTS = [
    ("batchnorm", lambda: ops.BatchNorm(_c(3), _c(3)), rules.ElementwiseEpsilon),
    ("broadcast_affine", lambda: ops.BroadcastAffine(_c(3), _c(3)), rules.ElementwiseEpsilon),
    ("elementwise_affine", lambda: ops.ElementwiseAffine(_c(3), _c(3)), rules.Pass),
    ("mul", lambda: ops.Mul(gate=1), rules.SignalTakeAll),
    ("mul-ungated", lambda: ops.Mul(), rules.SignalTakeAll),
    ("layer_norm", lambda: ops.LayerNorm((4,)), rules.FrozenScale),
    ("group_norm", lambda: ops.GroupNorm(2), rules.FrozenScale),
    ("permute", lambda: ops.Permute((0, 2, 1)), rules.Route),
    ("expand", lambda: ops.Expand((3, 4)), rules.Route),
    ("pad", lambda: ops.Pad((1, 1)), rules.Route),
    ("roll", lambda: ops.Roll((1,), (1,)), rules.Route),
    ("interpolate", lambda: ops.Interpolate(scale_factor=2.0), rules.Norm),
    ("silu", ops.SiLU, rules.Pass),
    ("hardswish", ops.Hardswish, rules.Pass),
    ("hardsigmoid", ops.Hardsigmoid, rules.Pass),
]


@pytest.mark.parametrize("name,make,expected", DEFAULTS, ids=[d[0] for d in DEFAULTS])
def test_default_rule_of_each_new_op(name, make, expected):
    op = make()
    rule = rules.default_rule(op)
    assert type(rule) is expected, (name, rule)
    assert rule.handles(op)


def test_new_rules_declare_their_op_categories():
    assert rules.ElementwiseEpsilon.ops == (ops.ElementwiseAffine,)
    assert rules.SignalTakeAll.ops == rules.UniformSplit.ops == (ops.Product,)
    assert rules.FrozenScale.ops == (ops.Normalization,)
    assert not rules.FrozenScale().handles(ops.BatchNorm(_c(3), _c(3)))
    assert not rules.ElementwiseEpsilon().handles(ops.LayerNorm((4,)))


# ------------------------------------------------------------------ through lrp.explain


def _gated_net(seed=14):
    """x → conv → BatchNorm (unfolded) → ReLU → ×σ(avgpool) (SE gate) → LayerNorm → linear."""
    rng = np.random.default_rng(seed)
    p = dict(conv_w=rng.normal(size=(3, 2, 3, 3)) * 0.5, conv_b=rng.normal(size=3) * 0.1,
             bn_s=rng.uniform(0.5, 2.0, size=3), bn_t=rng.normal(size=3),
             ln_g=rng.normal(size=(3, 5, 5)), ln_b=rng.normal(size=(3, 5, 5)) * 0.3,
             fc_w=rng.normal(size=(4, 75)) * 0.2, fc_b=rng.normal(size=4) * 0.1)
    g = neon.Graph()
    g.add_input("x", (2, 5, 5))
    g.add_node("conv", ops.Conv(T(p["conv_w"]), T(p["conv_b"]), padding=1), ["x"])
    g.add_node("bn", ops.BatchNorm(T(p["bn_s"]), T(p["bn_t"])), ["conv"])
    g.add_node("relu", ops.ReLU(), ["bn"])
    g.add_node("squeeze", ops.AdaptiveAvgPool(2, 1), ["relu"])
    g.add_node("sigmoid", ops.Sigmoid(), ["squeeze"])
    g.add_node("mul", ops.Mul(gate=1), ["relu", "sigmoid"])
    g.add_node("ln", ops.LayerNorm((3, 5, 5), T(p["ln_g"]), T(p["ln_b"])), ["mul"])
    g.add_node("flat", ops.Flatten(), ["ln"])
    g.add_node("fc", ops.Linear(T(p["fc_w"]), T(p["fc_b"])), ["flat"])
    g.set_output("fc")
    return g.lint(), p


def test_explain_through_a_gated_normalized_net_keeps_the_sum_identities():
    graph, p = _gated_net()
    x = T(np.random.default_rng(15).normal(size=(3, 2, 5, 5)))
    e = lrp.explain(graph, x, return_all=True)
    rows = {row["node"]: row for row in e.table}
    assert rows["bn"]["rule"] == "ElementwiseEpsilon(epsilon=1e-06)"
    assert rows["mul"]["rule"] == "SignalTakeAll(epsilon=1e-06)"
    assert rows["ln"]["rule"] == "FrozenScale(epsilon=1e-06)"
    for name, r in e.nodes.items():
        assert torch.isfinite(r).all(), name
    assert torch.isfinite(e.relevance).all()

    # activations recomputed in numpy from the conv output and the graph's parameters
    conv = N(graph.activations(x)["conv"])
    s, t = p["bn_s"][None, :, None, None], p["bn_t"][None, :, None, None]
    bn = s * conv + t
    relu = np.maximum(bn, 0)
    gate = sigmoid(relu.mean((2, 3), keepdims=True))
    mul = relu * gate
    flat = mul.reshape(3, -1)
    mu = flat.mean(1, keepdims=True)
    r = 1 / np.sqrt(((flat - mu) ** 2).mean(1, keepdims=True) + 1e-5)
    ln = (p["ln_g"].reshape(1, -1) * (flat - mu) * r + p["ln_b"].reshape(1, -1))
    logits = ln @ p["fc_w"].T + p["fc_b"]
    c = logits.argmax(1)
    f = logits[np.arange(3), c]
    np.testing.assert_allclose(N(e.output), f, rtol=1e-10)

    def sums(name):
        return N(rows[name]["relevance_in"]), N(rows[name]["relevance_out"])

    # the linear layer: Σ R_in = f (z − b) / stab(z)
    np.testing.assert_allclose(sums("fc")[1], f * (f - p["fc_b"][c]) / stab(f, 1e-6),
                               rtol=1e-9)
    # LayerNorm: Σ R_in = Σ R (y − β) / stab(y)
    r_ln = N(e.nodes["ln"]).reshape(3, -1)
    np.testing.assert_allclose(sums("ln")[1],
                               (r_ln * (ln - p["ln_b"].reshape(1, -1)) / stab(ln, 1e-6)).sum(1),
                               rtol=1e-9)
    # the gated product conserves exactly, and nothing reaches the gate's branch
    np.testing.assert_allclose(sums("mul")[1], sums("mul")[0], rtol=1e-13)
    assert not N(e.nodes["sigmoid"]).any() and not N(e.nodes["squeeze"]).any()
    np.testing.assert_allclose(N(e.nodes["relu"]), N(e.nodes["mul"]), rtol=1e-14)
    # BatchNorm: Σ R_in = Σ R s x / stab(y)
    r_bn = N(e.nodes["bn"])
    np.testing.assert_allclose(sums("bn")[1],
                               (r_bn * s * conv / stab(bn, 1e-6)).sum((1, 2, 3)), rtol=1e-9)


def _batchnorm_after_a_cancelling_layer():
    """x → linear (unit 0's pre-activation cancels to 1e-5 against its bias) → BatchNorm
    (shift 1) → ReLU → sum: the configuration where Pass explodes."""
    x = np.array([[1.0, 2.0, -1.0]])
    w = np.array([[0.5, 1.0, 0.3], [0.2, -0.1, 0.4]])
    b = np.array([1e-5 - w[0] @ x[0], 0.1])             # z_0 = 1e-5, z_1 = 0.1 + ...
    g = neon.Graph()
    g.add_input("x", (3,))
    g.add_node("lin", ops.Linear(T(w), T(b)), ["x"])
    g.add_node("bn", ops.BatchNorm(T([1.0, 1.0]), T([1.0, 0.0])), ["lin"])
    g.add_node("relu", ops.ReLU(), ["bn"])
    g.add_node("out", ops.Linear(T([[1.0, 1.0]]), None), ["relu"])
    g.set_output("out")
    return g.lint(), T(x), w, b


def test_unfolded_batchnorm_with_pass_explodes_and_with_epsilon_does_not():
    graph, x, w, b = _batchnorm_after_a_cancelling_layer()
    f = float(graph(x)[0, 0])
    with_eps = lrp.explain(graph, x)
    with_pass = lrp.explain(graph, x, composite=lrp.Composite([(select.kind("batchnorm"),
                                                                  rules.Pass())]))
    # by hand: unit 0 carries R = y_0 = 1 + 1e-5 to the BatchNorm (unit 1 is cut by the
    # ReLU); Pass hands it to the linear layer, which returns R_0 (z_0 − b_0) / z_0 ≈ 2.2e5;
    # ε hands on R_0 z_0 / y_0 = z_0 instead, and the linear layer returns ≈ 2.2 · z/(z + ε)
    z = w @ N(x)[0] + b
    y = z + np.array([1.0, 0.0])
    r_y = np.maximum(y, 0) * f / stab(f, 1e-6)        # the top layer's ε rule
    passed = (r_y * (z - b) / stab(z, 1e-6)).sum()
    eps = (r_y * z / stab(y, 1e-6) * (z - b) / stab(z, 1e-6)).sum()
    np.testing.assert_allclose(float(with_pass.sum()), passed, rtol=1e-9)
    np.testing.assert_allclose(float(with_eps.sum()), eps, rtol=1e-9)
    assert abs(float(with_pass.sum())) > 1e5 * f
    assert abs(float(with_eps.sum())) < 3 * f
