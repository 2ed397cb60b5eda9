"""The pointing game and relevance mass / rank accuracy (lrp.metrics.localization).

Expected values come from hand computations on tiny maps, from scipy's Euclidean distance
transform (the tolerance), from a brute-force average over every tie-breaking order (rank
accuracy at ties), and from quantus 0.6.0's PointingGame, RelevanceMassAccuracy and
RelevanceRankAccuracy, never from the code under test.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import torch
from scipy.ndimage import distance_transform_edt
from torch import nn

import lrp.metrics as M

torch.set_num_threads(1)
F64 = torch.float64


def _quiet(f, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*args, **kw)


@pytest.fixture(scope="module")
def quantus_graph():
    """quantus needs a model even where it scores given maps; a neon.Graph is one."""
    quantus = pytest.importorskip("quantus")
    import neon

    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(6 * 7, 3)).double()
    return quantus, neon.neuralize(net, torch.zeros(1, 1, 6, 7, dtype=F64))


def _blobs(rng, n, shape, p=0.15):
    masks = rng.random((n, *shape)) < p
    flat = masks.reshape(n, -1)                         # a view
    flat[:, 0] |= ~flat.any(1)                          # never empty
    return masks


# ---------------------------------------------------------------------------- pointing game

def test_pointing_game_by_hand():
    r = np.zeros((3, 4, 4))
    r[0, 0, 0], r[1, 3, 3], r[2, 2, 1] = 5.0, 5.0, 5.0
    r[:, 1, 3] = 1.0                                  # not maximal anywhere
    m = np.zeros((3, 4, 4), bool)
    m[0, 0, 0] = m[0, 1, 1] = True                    # holds the maximum and a centre pixel
    m[1, 0, 0] = True                                 # far from the maximum (3, 3)
    m[2, 2, 2] = True                                 # 1 px right of the maximum (2, 1)
    exact = M.pointing_game(r, m)
    np.testing.assert_array_equal(exact.hits, [True, False, False])
    np.testing.assert_array_equal(exact.accuracy.values, [1.0, 0.0, 0.0])
    assert exact.accuracy.higher_is_better and exact.accuracy.mean() == pytest.approx(1 / 3)
    np.testing.assert_array_equal(exact.ties, [1, 1, 1])
    # centre of a 4 x 4 grid: pixels (1..2, 1..2); the baseline is the share of them inside
    np.testing.assert_array_equal(exact.centre.values, [0.25, 0.0, 0.25])
    np.testing.assert_array_equal(M.pointing_game(r, m, tolerance=0.99).hits,
                                  [True, False, False])
    one = M.pointing_game(r, m, tolerance=1)
    np.testing.assert_array_equal(one.hits, [True, False, True])
    # τ = 1 adds the 4-neighbours: (1, 2) and (2, 1) join (1, 1) for sample 0, and join
    # (2, 2) for sample 2; the centre pixel (1, 1) is √2 from (0, 0)
    np.testing.assert_array_equal(one.centre.values, [0.75, 0.0, 0.75])
    # τ = 1.5 adds the diagonals: all 4 for samples 0 and 2, (1, 1) for sample 1
    np.testing.assert_array_equal(M.pointing_game(r, m, tolerance=1.5).centre.values,
                                  [1.0, 0.25, 1.0])
    # (3, 3) to (0, 0) is 3√2 = 4.243
    np.testing.assert_array_equal(M.pointing_game(r, m, tolerance=4.24).hits,
                                  [True, False, True])
    np.testing.assert_array_equal(M.pointing_game(r, m, tolerance=4.25).hits,
                                  [True, True, True])


def test_centre_of_odd_and_even_grids():
    """The centre point is the middle pixel of an odd axis, the two middle ones of an even
    axis; the baseline is the share of them in the mask (a centre point picked at random
    among them)."""
    for shape, centre in [((5, 5), [(2, 2)]), ((5, 4), [(2, 1), (2, 2)]),
                          ((4, 4), [(1, 1), (1, 2), (2, 1), (2, 2)])]:
        for p in itertools.product(*map(range, shape)):
            m = np.zeros((1, *shape), bool)
            m[(0, *p)] = True
            r = np.random.default_rng(1).normal(size=(1, *shape))
            expected = float(p in centre) / len(centre)
            assert M.pointing_game(r, m).centre.values[0] == expected, (shape, p)


@pytest.mark.parametrize("tolerance", [0, 0.5, 1, math.sqrt(2), 1.5, 2.3, 3, 6])
def test_tolerance_against_the_distance_transform(tolerance):
    """hit ⇔ (Euclidean distance from the argmax to the nearest mask pixel) ≤ τ, with the
    distance from scipy.ndimage.distance_transform_edt; 1-, 2- and 3-d grids."""
    rng = np.random.default_rng(2)
    for shape in [(13,), (7, 9), (4, 5, 6)]:
        n = 12
        r = rng.normal(size=(n, *shape))
        m = rng.random((n, *shape)) < 0.08
        flat = m.reshape(n, -1)                               # a view
        flat[:, 0] |= ~flat.any(1)
        result = M.pointing_game(r[:, None], m, tolerance=tolerance)   # one channel
        expected, centre = [], []
        mid = [sorted({(s - 1) // 2, s // 2}) for s in shape]
        for i in range(n):
            distance = distance_transform_edt(~m[i])
            p = np.unravel_index(np.argmax(r[i]), shape)
            expected.append(distance[p] <= tolerance)
            centre.append(np.mean([distance[c] <= tolerance
                                   for c in itertools.product(*mid)]))
        np.testing.assert_array_equal(result.hits, expected, err_msg=str(shape))
        np.testing.assert_array_equal(result.centre.values, np.array(centre, float))


def test_pointing_game_against_quantus(quantus_graph):
    """Ties (maps rounded to few levels) count as quantus counts them: a hit when any
    maximal position is in the mask."""
    quantus, graph = quantus_graph
    rng = np.random.default_rng(3)
    n = 40
    a = np.round(rng.normal(size=(n, 1, 6, 7)))               # many tied maxima
    s = _blobs(rng, n, (1, 6, 7), p=0.3)
    theirs = quantus.PointingGame(abs=False, normalise=False, disable_warnings=True)(
        model=graph, x_batch=rng.normal(size=a.shape), y_batch=np.zeros(n, int), a_batch=a,
        s_batch=s)
    ours = _quiet(M.pointing_game, a, s)
    assert (ours.ties > 1).sum() >= 5                          # the ties are exercised
    np.testing.assert_array_equal(ours.hits, np.asarray(theirs, bool))
    np.testing.assert_array_equal(ours.accuracy.values, np.asarray(theirs, float))


def test_quantus_counts_an_empty_mask_as_a_hit_ours_is_nan(quantus_graph):
    quantus, graph = quantus_graph
    rng = np.random.default_rng(4)
    a, s = rng.normal(size=(2, 1, 6, 7)), _blobs(rng, 2, (1, 6, 7))
    s[1] = False
    theirs = quantus.PointingGame(abs=False, normalise=False, disable_warnings=True)(
        model=graph, x_batch=a, y_batch=np.zeros(2, int), a_batch=a, s_batch=s)
    assert bool(theirs[1]) is True                            # NaN written into a bool array
    with pytest.warns(RuntimeWarning, match="1 masks are empty"):
        ours = M.pointing_game(a, s)
    assert np.isnan(ours.accuracy.values[1]) and not ours.hits[1]
    assert np.isnan(ours.centre.values[1])


def test_channels_are_summed_and_every_mask_form_reads_the_same():
    rng = np.random.default_rng(5)
    r = rng.normal(size=(6, 3, 5, 7))
    m = _blobs(rng, 6, (5, 7), p=0.3)
    summed = r.sum(1).reshape(6, -1)
    expected = m.reshape(6, -1)[np.arange(6), summed.argmax(1)]
    forms = {"(N, H, W)": m, "(N, 1, H, W)": m[:, None],
             "(N, C, H, W), like x": np.broadcast_to(m[:, None], r.shape)}
    for what, masks in forms.items():
        np.testing.assert_array_equal(M.pointing_game(r, masks).hits, expected, err_msg=what)
    one = M.pointing_game(r, m[2])                            # one mask for every sample
    np.testing.assert_array_equal(one.hits, m[2].reshape(-1)[summed.argmax(1)])
    t = M.pointing_game(torch.as_tensor(r, dtype=torch.float32), torch.as_tensor(m))
    np.testing.assert_array_equal(t.hits, expected)
    signal = M.pointing_game(r[:, :, 0], m[:, 0])            # (N, C, L) with masks (N, L)
    np.testing.assert_array_equal(
        signal.hits, m[:, 0][np.arange(6), r[:, :, 0].sum(1).argmax(1)])
    tabular = M.pointing_game(r[:, 0, 0], m[:, 0])           # (N, F) with masks (N, F)
    np.testing.assert_array_equal(tabular.hits, m[:, 0][np.arange(6), r[:, 0, 0].argmax(1)])
    # as many samples as channels: axis 1 of 4-d relevance is channels, never spatial
    rgb = M.pointing_game(r[:3], m[:3])
    np.testing.assert_array_equal(rgb.hits, expected[:3])
    single = M.pointing_game(r[:1], m[:1])                    # one sample, (1, H, W)
    np.testing.assert_array_equal(single.hits, expected[:1])


def test_constant_maps_point_nowhere():
    r = np.zeros((3, 4, 4))
    r[1, 2, 2] = 1.0
    r[2] = 7.0
    m = np.zeros((4, 4), bool)
    m[2, 2] = True
    with pytest.warns(RuntimeWarning, match="2 maps are constant"):
        out = M.pointing_game(r, m)
    np.testing.assert_array_equal(out.hits, [False, True, False])
    np.testing.assert_array_equal(out.accuracy.values, [np.nan, 1.0, np.nan])
    np.testing.assert_array_equal(out.ties, [16, 1, 16])
    np.testing.assert_array_equal(out.centre.values, [0.25, 0.25, 0.25])


def test_per_class_accuracy_by_hand():
    r = np.zeros((5, 3, 3))
    for i, p in enumerate([(0, 0), (1, 1), (2, 2), (0, 2), (1, 1)]):
        r[(i, *p)] = 1.0
    m = np.zeros((3, 3), bool)
    m[1, 1] = m[0, 0] = True
    out = M.pointing_game(r, m, labels=["cat", "dog", "cat", "dog", "dog"])
    np.testing.assert_array_equal(out.hits, [True, True, False, False, True])
    assert set(out.per_class) == {"cat", "dog"}
    assert out.per_class["cat"].mean() == 0.5
    assert out.per_class["dog"].mean() == pytest.approx(2 / 3)
    assert out.per_class["dog"].higher_is_better
    ints = M.pointing_game(r, m, labels=torch.tensor([3, 1, 3, 1, 1])).per_class
    assert set(ints) == {1, 3} and all(type(k) is int for k in ints)
    assert M.pointing_game(r, m).per_class is None


# ---------------------------------------------------------------------------- mass and rank

def test_mass_and_rank_by_hand():
    r = np.array([[[2.0, -1.0], [1.0, 1.0]]])
    m = np.array([[True, False], [False, True]])
    out = M.localization(r, m)
    # positive relevance 2 + 1 + 1 = 4, inside 2 + 1
    assert out.mass.values[0] == pytest.approx(0.75)
    # K = 2: 2.0 (inside) first, then one of the tied 1.0s, inside with probability 1/2
    assert out.rank.values[0] == pytest.approx(0.75)
    assert out.chance.values[0] == 0.5
    assert out.mass.higher_is_better and out.rank.higher_is_better
    r2 = np.array([[[3.0, 0.5], [-4.0, 2.0]]])
    m2 = np.array([[False, True], [True, True]])
    out = M.localization(r2, m2)
    assert out.mass.values[0] == pytest.approx(2.5 / 5.5)
    assert out.rank.values[0] == pytest.approx(2 / 3)       # top 3: 3.0, 2.0, 0.5


def test_mass_and_rank_against_quantus(quantus_graph):
    """On non-negative maps the masses agree with quantus's raw ratio; on signed maps ours
    is quantus's on the clipped map max(R, 0) (and differs from quantus on the raw map).
    Rank accuracy agrees on maps without ties (quantus breaks ties by argsort order)."""
    quantus, graph = quantus_graph
    rng = np.random.default_rng(6)
    n = 30
    a = rng.normal(size=(n, 1, 6, 7))
    s = _blobs(rng, n, (1, 6, 7), p=0.25)
    x, y = rng.normal(size=a.shape), np.zeros(n, int)

    def theirs(metric, maps, **kw):
        return np.asarray(metric(abs=False, disable_warnings=True, **kw)(
            model=graph, x_batch=x, y_batch=y, a_batch=maps, s_batch=s), float)

    ours = M.localization(a, s)
    clipped = np.maximum(a, 0)
    for normalise in (False, True):
        np.testing.assert_allclose(
            ours.mass.values, theirs(quantus.RelevanceMassAccuracy, clipped,
                                     normalise=normalise), rtol=1e-12)
        np.testing.assert_allclose(
            ours.rank.values, theirs(quantus.RelevanceRankAccuracy, a.copy(),
                                     normalise=normalise), rtol=1e-12)
    np.testing.assert_allclose(M.localization(np.abs(a), s).mass.values,
                               theirs(quantus.RelevanceMassAccuracy, np.abs(a),
                                      normalise=False), rtol=1e-12)
    raw = theirs(quantus.RelevanceMassAccuracy, a.copy(), normalise=False)
    assert np.abs(raw - ours.mass.values).max() > 0.1        # the documented difference


def _rank_over_orders(r, m):
    """The rank accuracy averaged over every order that breaks the ties of r."""
    k, values = m.sum(), []
    for key in itertools.permutations(range(r.size)):
        order = sorted(range(r.size), key=lambda i: (-r[i], key[i]))
        values.append(m[order[:k]].mean())
    return float(np.mean(values))


def test_rank_at_ties_is_the_expectation_over_tie_breaking():
    rng = np.random.default_rng(7)
    cases = [np.array([1.0, 1, 1, 0, 0, 2]), np.zeros(6), np.array([3.0, 3, 1, 1, 1, -1])]
    cases += [rng.integers(0, 3, 6).astype(float) for _ in range(4)]
    for r in cases:
        for _ in range(3):
            m = rng.random(6) < 0.5
            if not m.any():
                m[rng.integers(6)] = True
            ours = _quiet(M.localization, r[None], m[None]).rank.values[0]
            assert ours == pytest.approx(_rank_over_orders(r, m), abs=1e-12), (r, m)
    m = np.array([True, False, True, False, False, False])
    assert M.localization(np.full((1, 6), 0.5), m[None]).rank.values[0] == pytest.approx(2 / 6)


def test_undefined_mass_and_empty_masks_are_nan_with_a_warning():
    r = np.array([[-1.0, -2.0, 0.0, -3.0], [1.0, 2.0, 0.0, 3.0], [1.0, 2.0, 0.0, 3.0]])
    m = np.array([[True, False, False, False], [False, True, False, False],
                  [False, False, False, False]])
    with pytest.warns(RuntimeWarning) as caught:
        out = M.localization(r, m)
    words = " ".join(str(w.message) for w in caught)
    assert "1 maps have no positive relevance" in words and "1 masks are empty" in words
    np.testing.assert_allclose(out.mass.values, [np.nan, 2 / 6, np.nan])
    np.testing.assert_allclose(out.rank.values, [0.0, 0.0, np.nan])


def test_localization_reads_channels_masks_and_tensors_like_the_pointing_game():
    rng = np.random.default_rng(8)
    r = rng.normal(size=(4, 3, 5, 6))
    m = _blobs(rng, 4, (5, 6), p=0.3)
    reference = M.localization(r.sum(1), m)
    for masks in (m[:, None], np.broadcast_to(m[:, None], r.shape)):
        out = M.localization(r, masks)
        np.testing.assert_allclose(out.mass.values, reference.mass.values, rtol=1e-12)
        np.testing.assert_allclose(out.rank.values, reference.rank.values, rtol=1e-12)
    t = M.localization(torch.as_tensor(r), torch.as_tensor(m))
    np.testing.assert_allclose(t.mass.values, reference.mass.values, rtol=1e-12)
    np.testing.assert_allclose(reference.chance.values, m.reshape(4, -1).mean(1))
