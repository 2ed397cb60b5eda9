"""Every named affine rule's fast ``__call__`` equals its ``generic_form()`` (Generic rules
only), on Linear and Conv ops, for non-negative and mixed-sign inputs, and for relevance that
takes each of the rules' shortcut paths; and ``Generic`` itself against a hand computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lrp import rules
from neon import ops

DT = torch.float64


def seeded(*shape, seed=0):
    return torch.randn(*shape, dtype=DT, generator=torch.Generator().manual_seed(seed))


def uniform(*shape, seed=0, low=0.0, high=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, dtype=DT, generator=g) * (high - low) + low


OPS = {
    "linear": (lambda: ops.Linear(seeded(7, 6, seed=1), seeded(7, seed=2)), (5, 6)),
    "conv2d": (lambda: ops.Conv(seeded(4, 3, 3, 3, seed=3), seeded(4, seed=4), stride=1,
                                padding=1), (2, 3, 5, 5)),
    "conv1d-strided": (lambda: ops.Conv(seeded(3, 2, 3, seed=5), seeded(3, seed=6), stride=2,
                                        padding=1, dilation=1), (3, 2, 9)),
}


def _scalar_box(a):
    return rules.ZBox(float(a.min()) - 0.1, float(a.max()) + 0.1)


def _tensor_box(a):
    return rules.ZBox(a.amin(0) - 0.1, a.amax(0) + 0.2)


RULES = {}
for eps in (0.0, 1e-6, 0.25):
    for zb in (False, True):
        RULES[f"Epsilon({eps:g},zb={zb})"] = lambda a, e=eps, z=zb: rules.Epsilon(e,
                                                                                  zero_bias=z)
for gamma in (0.0, 0.25, 1.0):
    for zb in (False, True):
        RULES[f"Gamma({gamma:g},zb={zb})"] = lambda a, g=gamma, z=zb: rules.Gamma(g,
                                                                                zero_bias=z)
RULES["Gamma(0.5,stab=0.1)"] = lambda a: rules.Gamma(0.5, stabilizer=0.1)
RULES["Gamma(0.5,stab=0)"] = lambda a: rules.Gamma(0.5, stabilizer=0.0)
for alpha, beta in ((1.0, 0.0), (2.0, 1.0), (1.5, 0.5)):
    for zb in (False, True):
        RULES[f"AlphaBeta({alpha:g},{beta:g},zb={zb})"] = \
            lambda a, al=alpha, be=beta, z=zb: rules.AlphaBeta(al, be, zero_bias=z)
RULES["AlphaBeta(2,1,stab=0.1)"] = lambda a: rules.AlphaBeta(2.0, 1.0, stabilizer=0.1)
for zb in (False, True):
    RULES[f"ZPlus(zb={zb})"] = lambda a, z=zb: rules.ZPlus(zero_bias=z)
for eps in (1e-6, 0.5):
    RULES[f"Flat({eps:g})"] = lambda a, e=eps: rules.Flat(e)
    for zb in (False, True):
        RULES[f"WSquare({eps:g},zb={zb})"] = lambda a, e=eps, z=zb: rules.WSquare(e,
                                                                                 zero_bias=z)
RULES["ZBox(scalar)"] = _scalar_box
RULES["ZBox(tensor)"] = _tensor_box


def relevances(op, rule, output):
    """Relevance patterns over the units, by the sign of the z the rule divides by.

    relu: zero on every unit with z ≤ 0 (a ReLU follows: Gamma's first shortcut);
    partial: zero on some units with z ≤ 0, non-zero on others (Gamma's second shortcut);
    dense: non-zero everywhere.
    """
    z = output
    if getattr(rule, "zero_bias", False) and op.bias is not None:
        z = output - op.bias.reshape(op.out_channel_shape(output.dim()))
    r = seeded(*output.shape, seed=11).abs() + 0.1
    r = r * torch.where(seeded(*output.shape, seed=12) > -0.5, 1.0, -1.0)   # some negative
    nonpos = z <= 0
    keep = seeded(*output.shape, seed=13) > 0
    out = {
        "relu": torch.where(nonpos, 0.0, r),
        "partial": torch.where(nonpos & keep, 0.0, r),
        "dense": r,
    }
    assert not bool((nonpos & (out["relu"] != 0)).any())
    assert bool((nonpos & (out["partial"] != 0)).any())
    assert bool((nonpos & (out["partial"] == 0)).any())
    assert bool((~nonpos & (out["relu"] != 0)).any())
    return out


def inputs(shape):
    return {"nonneg": uniform(*shape, seed=30, low=0.0, high=1.5),
            "nonneg-with-zeros": torch.relu(seeded(*shape, seed=30)),
            "mixed": seeded(*shape, seed=130)}


def check_conditioning(op, a):
    """The data keep every non-zero |z| (with and without bias) above 5e-3: the fast paths
    take z from the cached output (minus b), the generic form recomputes it, and the two
    roundings differ by ~eps·|b|/|z| in the quotient, which 1e-12 must not see."""
    out = op(a)
    for z in (out, out - op.bias.reshape(op.out_channel_shape(out.dim()))):
        assert float(z[z != 0].abs().min()) > 5e-3


def rel_err(actual, expected):
    return float((actual - expected).abs().max() / expected.abs().max().clamp_min(1e-300))


@pytest.mark.parametrize("op_name", list(OPS))
@pytest.mark.parametrize("rule_name", list(RULES))   # Gamma(0.5, stab=0.1) once caught ε
                                                     # rounded to float32 in a fast path
def test_fast_path_equals_generic_form(rule_name, op_name):
    make_op, shape = OPS[op_name]
    op = make_op()
    for a_name, a in inputs(shape).items():
        check_conditioning(op, a)
        rule = RULES[rule_name](a)
        generic = rule.generic_form()
        output = op(a)
        for r_name, r in relevances(op, rule, output).items():
            (fast,) = rule(op, [a.clone()], output.clone(), r.clone())
            (slow,) = generic(op, [a.clone()], output.clone(), r.clone())
            assert fast.shape == a.shape and fast.dtype == DT
            assert torch.isfinite(fast).all() and torch.isfinite(slow).all()
            err = rel_err(fast, slow)
            assert err <= 1e-12, f"{rule_name} on {op_name}, {a_name} input, {r_name} " \
                                 f"relevance: relative error {err:.3g}"


def test_rules_do_not_modify_their_arguments():
    op = OPS["conv2d"][0]()
    a = seeded(*OPS["conv2d"][1], seed=31)
    output = op(a)
    r = seeded(*output.shape, seed=32)
    for make in RULES.values():
        rule = make(a)
        before = (a.clone(), output.clone(), r.clone())
        rule(op, [a], output, r)
        for t, b in zip((a, output, r), before):
            assert torch.equal(t, b), repr(rule)


def test_every_named_affine_rule_is_covered():
    covered = {type(make(seeded(2, 3))).__name__ for make in RULES.values()}
    named = {n for n in rules.__all__ if isinstance(getattr(rules, n), type)
             and issubclass(getattr(rules, n), rules.affine._AffineRule)} - {"Generic"}
    assert named == covered


def test_rms_epsilon_has_no_generic_form():
    with pytest.raises(NotImplementedError, match="RMS"):
        rules.Epsilon(0.1, scale="rms").generic_form()


@pytest.mark.parametrize("eps", [0.0, 1e-6, 0.3])
@pytest.mark.parametrize("zero_bias", [False, True])
def test_generic_single_term_by_hand(eps, zero_bias):
    """R_j = a_j Σ_k w_jk R_k / (z_k + ε sign z_k), z_k = Σ_j a_j w_jk + b_k, by hand."""
    W = np.array([[0.5, -1.0, 2.0], [-0.3, 0.8, 0.1]])      # (out k, in j)
    b = np.array([0.2, -0.4])
    a = np.array([[1.0, -2.0, 0.5], [0.3, 0.7, -1.1]])
    R = np.array([[1.5, -0.5], [0.0, 2.0]])
    op = ops.Linear(torch.tensor(W), torch.tensor(b))
    expected = np.zeros_like(a)
    for n in range(a.shape[0]):
        for j in range(a.shape[1]):
            total = 0.0
            for k in range(W.shape[0]):
                z = sum(a[n, i] * W[k, i] for i in range(a.shape[1])) + (0 if zero_bias
                                                                         else b[k])
                den = z + eps * (1.0 if z >= 0 else -1.0)
                total += W[k, j] * R[n, k] / den
            expected[n, j] = a[n, j] * total
    x = torch.tensor(a)
    (got,) = rules.Generic(epsilon=eps, zero_bias=zero_bias)(op, [x], op(x), torch.tensor(R))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-13, atol=1e-15)
    # and the named rule it is the generic form of
    (fast,) = rules.Epsilon(eps, zero_bias=zero_bias)(op, [x], op(x), torch.tensor(R))
    np.testing.assert_allclose(fast.numpy(), expected, rtol=1e-13, atol=1e-15)
