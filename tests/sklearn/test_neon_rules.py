"""NEON ops and rules, checked by hand on tiny examples with plain numpy expectations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import lrp
from lrp.rules import DistanceSplit, Midpoint, SoftMinRedistribution
from neon.graph import Graph
from neon.ops import CompetitionMin, SoftMin, SquaredDistance

T = torch.as_tensor


def graph_of(*ops, d):
    g = Graph()
    g.add_input("x", (d,))
    prev = "x"
    for i, op in enumerate(ops):
        prev = g.add_node(f"n{i}", op, [prev])
    g.set_output(prev)
    return g


# ------------------------------------------------------------------------- squared distance

def test_distance_matches_numpy_all_forms():
    rng = np.random.default_rng(1)
    x, v = rng.normal(size=(7, 3)) + 50, rng.normal(size=(4, 3)) + 50
    a = rng.uniform(0.5, 2, size=3)
    ak = rng.uniform(0.5, 2, size=(4, 3))
    m = rng.normal(size=(2, 3))
    mk = rng.normal(size=(4, 2, 3))
    diff = x[:, None, :] - v[None]
    expected = {
        "plain": (diff ** 2).sum(2),
        "diag": (a ** 2 * diff ** 2).sum(2),
        "unit_diag": (ak ** 2 * diff ** 2).sum(2),
        "matrix": (np.einsum("pd,nkd->nkp", m, diff) ** 2).sum(2),
        "unit_matrix": (np.einsum("kpd,nkd->nkp", mk, diff) ** 2).sum(2),
    }
    ops = {"plain": SquaredDistance(T(v)), "diag": SquaredDistance(T(v), weight=T(a)),
           "unit_diag": SquaredDistance(T(v), weight=T(ak)),
           "matrix": SquaredDistance(T(v), matrix=T(m)),
           "unit_matrix": SquaredDistance(T(v), matrix=T(mk))}
    for name, op in ops.items():
        got = op(T(x)).numpy()
        np.testing.assert_allclose(got, expected[name], rtol=1e-10, err_msg=name)


def test_split_is_sum_of_per_feature_terms():
    """split(x, t) = Σ_k t_k c_k(x), c the per-feature terms (Euler split for matrices)."""
    rng = np.random.default_rng(2)
    x, v, t = rng.normal(size=(5, 3)), rng.normal(size=(4, 3)), rng.normal(size=(5, 4))
    a, m, mk = rng.uniform(0.5, 2, size=(4, 3)), rng.normal(size=(2, 3)), rng.normal(size=(4, 3, 3))
    diff = x[:, None, :] - v[None]
    cases = [
        (SquaredDistance(T(v)), diff ** 2),
        (SquaredDistance(T(v), weight=T(a)), a ** 2 * diff ** 2),
        (SquaredDistance(T(v), matrix=T(m)), diff * np.einsum("de,nke->nkd", m.T @ m, diff)),
        (SquaredDistance(T(v), matrix=T(mk)),
         diff * np.einsum("kde,nke->nkd", np.einsum("kpd,kpe->kde", mk, mk), diff)),
    ]
    for op, terms in cases:
        np.testing.assert_allclose(op.split(T(x), T(t)).numpy(), (t[:, :, None] * terms).sum(1),
                                   rtol=1e-10, atol=1e-12)


def test_coincident_points_are_exactly_zero():
    """GEMM distances of a point and itself are off by ~1e-14·‖x‖²; the op recomputes them."""
    rng = np.random.default_rng(3)
    v = rng.normal(size=(30, 8)) * 100 + 1000
    for op in (SquaredDistance(T(v)), SquaredDistance(T(v), weight=T(np.full(8, 3.0))),
               SquaredDistance(T(v), matrix=T(rng.normal(size=(8, 8))))):
        d = op(T(v)).numpy()
        assert np.all(np.diag(d) == 0)
        assert np.all(d >= 0)
    v32 = torch.as_tensor(v, dtype=torch.float32)
    assert bool((torch.diagonal(SquaredDistance(v32)(v32)) == 0).all())


def test_distance_split_hand_example():
    """Two centres, 2 features: R_i = Σ_k (x_i − u_ki)² / d_k · R_k, weighted by a²."""
    u = np.array([[0.0, 0.0], [2.0, 1.0]])
    a = np.array([1.0, 3.0])
    x = np.array([[1.0, 2.0]])
    r = np.array([[0.3, 0.7]])
    op = SquaredDistance(T(u), weight=T(a))
    d = op(T(x))
    c0 = a ** 2 * (x[0] - u[0]) ** 2    # [1, 36] / 37
    c1 = a ** 2 * (x[0] - u[1]) ** 2    # [1, 9] / 10
    expected = 0.3 * c0 / c0.sum() + 0.7 * c1 / c1.sum()
    got = DistanceSplit()(op, [T(x)], d, T(r))[0].numpy()
    np.testing.assert_allclose(got[0], expected, rtol=1e-12)
    np.testing.assert_allclose(got[0], [0.3 / 37 + 0.07, 0.3 * 36 / 37 + 0.63], rtol=1e-12)


def test_distance_split_at_a_centre_absorbs_and_never_nan():
    u = np.array([[0.0, 0.0], [2.0, 1.0]])
    x = np.array([[2.0, 1.0], [1e-9, 0.0]])      # exactly u_1; very close to u_0
    op = SquaredDistance(T(u))
    d = op(T(x))
    assert d[0, 1] == 0
    r = T(np.array([[0.2, 0.8], [0.5, 0.5]]))
    got = DistanceSplit()(op, [T(x)], d, r)[0].numpy()
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got[0], 0.2 * np.array([4, 1]) / 5, rtol=1e-12)  # 0.8 absorbed
    # near but not coincident: the split is still exact (all to feature 0 from unit 0)
    np.testing.assert_allclose(got[1], [0.5 + 0.5 * (2 - 1e-9) ** 2 / d[1, 1].item(),
                                        0.5 / d[1, 1].item()], rtol=1e-9)


# ------------------------------------------------------------------------------- pools

def test_soft_pools_forward():
    a = np.array([[1.0, 2.0, 4.0], [0.0, 0.0, 0.0]])
    b = np.array([0.5, -1.0, 0.0])
    beta = 0.7
    smin = -np.log(np.exp(-beta * (a + b)).sum(1, keepdims=True)) / beta
    np.testing.assert_allclose(SoftMin(beta, T(b))(T(a)).numpy(), smin, rtol=1e-14)
    # log domain: no underflow far away
    far = SoftMin(10.0)(T(np.array([[1e4, 1e4 + 1]])))
    assert np.isfinite(far.numpy()).all() and abs(far.item() - 1e4) < 1e-3
    with pytest.raises(ValueError, match="beta must be positive"):
        SoftMin(0.0)


def test_soft_min_redistribution_hand_example():
    a = np.array([[1.0, 2.0, 4.0]])
    beta = 0.5
    p = np.exp(-beta * a) / np.exp(-beta * a).sum()
    r = np.array([[2.5]])
    op = SoftMin(beta)
    got = SoftMinRedistribution()(op, [T(a)], op(T(a)), T(r))[0].numpy()
    np.testing.assert_allclose(got, p * 2.5, rtol=1e-14)
    got = SoftMinRedistribution(beta)(SoftMin(2.0), [T(a)], SoftMin(2.0)(T(a)), T(r))[0]
    np.testing.assert_allclose(got.numpy(), p * 2.5, rtol=1e-14)   # β of the rule, not the op


def test_beta_to_infinity_is_the_hard_min():
    """Group 4: the soft-min redistribution tends to the hard-min variant as β → ∞."""
    rng = np.random.default_rng(4)
    a = T(rng.normal(size=(50, 6)))
    r = T(rng.normal(size=(50, 1)))
    op = SoftMin(1.0)
    hard = SoftMinRedistribution(math.inf)(op, [a], op(a), r)[0].numpy()
    winner = np.zeros((50, 6))
    winner[np.arange(50), a.numpy().argmin(1)] = r.numpy()[:, 0]
    np.testing.assert_array_equal(hard, winner)
    soft = SoftMinRedistribution(1e9)(op, [a], op(a), r)[0].numpy()
    np.testing.assert_allclose(soft, winner, atol=1e-12)
    tie = T(np.array([[1.0, 1.0, 3.0]]))
    got = SoftMinRedistribution(math.inf)(op, [tie], op(tie), T(np.array([[1.0]])))[0]
    np.testing.assert_allclose(got.numpy(), [[0.5, 0.5, 0.0]])


# ------------------------------------------------------------------------ k-means units

MU = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 3.0]])


def test_competition_forward_hand_example():
    x = np.array([[1.0, 1.0], [3.0, 0.5]])
    d = ((x[:, None] - MU[None]) ** 2).sum(2)       # [[2, 10, 5], [9.25, 1.25, 15.25]]
    f = CompetitionMin()(T(d)).numpy()
    np.testing.assert_allclose(f, [[3.0, -8.0, -3.0], [-8.0, 8.0, -14.0]])


def midpoint_numpy(x, mu, c, beta, f):
    """The midpoint rule from its definition: units w_k·(x − m_k), root m_k = (μ_c + μ_k)/2."""
    ks = [k for k in range(len(mu)) if k != c]
    w = np.array([2 * (mu[c] - mu[k]) for k in ks])
    m = np.array([(mu[c] + mu[k]) / 2 for k in ks])
    h = (w * (x - m)).sum(1)
    if math.isinf(beta):
        p = (h == h.min()) / (h == h.min()).sum()
    else:
        p = np.exp(-beta * (h - h.min())) / np.exp(-beta * (h - h.min())).sum()
    return ((w * (x - m)) / h[:, None] * (p * f)[:, None]).sum(0)


@pytest.mark.parametrize("beta", [0.3, 2.0, math.inf])
def test_midpoint_rule_hand_example(beta):
    x = np.array([[1.0, 1.0]])
    g = graph_of(SquaredDistance(T(MU)), CompetitionMin(beta), d=2)
    e = lrp.explain(g, x, return_all=True)
    expected = midpoint_numpy(x[0], MU, 0, beta, 3.0)
    np.testing.assert_allclose(e.relevance[0], expected, rtol=1e-12)
    assert abs(e.relevance.sum() - 3.0) < 1e-12
    if beta == math.inf:   # nearest competitor μ_2 only: (x−μ_2)² − (x−μ_0)² = [0, 3]
        np.testing.assert_allclose(e.relevance[0], [0.0, 3.0], atol=1e-14)


def test_midpoint_rule_other_cluster_and_general_mask():
    x = np.array([[1.0, 1.0], [3.0, 0.5]])
    g = graph_of(SquaredDistance(T(MU)), CompetitionMin(0.5), d=2)
    r = lrp.explain(g, x, target=2)
    for n, f in enumerate([-3.0, -14.0]):
        np.testing.assert_allclose(r[n], midpoint_numpy(x[n], MU, 2, 0.5, f), rtol=1e-12)
    mask = np.ones((2, 3))
    r_all = lrp.explain(g, x, target=mask)
    logits = g(x)
    expected = sum(midpoint_numpy(x[1], MU, c, 0.5, logits[1, c]) for c in range(3))
    np.testing.assert_allclose(r_all[1], expected, rtol=1e-12)


def test_midpoint_rule_tie_absorbs_and_never_nan():
    """A point exactly between two centroids: f_c = 0, and a competitor tie h_k = 0."""
    x = np.array([[2.0, 0.0], [2.0, -5.0]])  # equidistant from μ_0 and μ_1
    g = graph_of(SquaredDistance(T(MU)), CompetitionMin(1.0), d=2)
    e = lrp.explain(g, x, return_all=True)
    assert np.isfinite(e.relevance).all()
    np.testing.assert_allclose(e.relevance, 0.0, atol=1e-14)
    r = lrp.explain(g, x, target=2, return_all=True)   # f_2 < 0 with a tie among competitors
    assert np.isfinite(r.relevance).all()
    absorbed = sum(row["absorbed"].numpy() for row in r.table)
    logits = g(x)[:, 2]
    np.testing.assert_allclose(r.relevance.sum(1) + absorbed, logits, rtol=1e-12)


def test_rules_declare_their_kinds():
    assert Midpoint().handles(CompetitionMin())
    assert DistanceSplit().handles(SquaredDistance(T(MU)))
    assert not DistanceSplit().handles(CompetitionMin())
    assert SoftMinRedistribution().handles(SoftMin(1.0))
    assert not SoftMinRedistribution().handles(CompetitionMin())
    with pytest.raises(ValueError, match="at least 2 clusters"):
        CompetitionMin()(T(np.zeros((3, 1))))


def test_ops_move_dtype():
    g = graph_of(SquaredDistance(T(MU)), CompetitionMin(1.0), d=2)
    g.to(torch.float32)
    x = torch.tensor([[1.0, 1.0]])
    r = lrp.explain(g, x)
    assert r.dtype == torch.float32
    assert abs(float(r.sum()) - 3.0) < 1e-5
