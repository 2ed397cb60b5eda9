"""concepts.CAV and concepts.fit_many on synthetic activations with a known concept direction:
two Gaussian clouds offset along a unit vector u (d = 20), far from the origin as ReLU
activations are. References: u itself, scikit-learn fitted here on the same training split,
numpy written here."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import concepts
import concepts.cav as cav_module
import neon
from concepts import CAV, Cache, fit_many
from concepts.cav import LEARNERS

torch.set_num_threads(1)
F64 = torch.float64
D = 20


def clouds(n=1000, sep=5.0, seed=0, n_random=None):
    """(concept, random, u): N(base + sep·u, I) and N(base, I), base far from the origin."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=D)
    u /= np.linalg.norm(u)
    base = 10 * rng.normal(size=D)
    concept = base + sep * u + rng.normal(size=(n, D))
    random = base + rng.normal(size=(n if n_random is None else n_random, D))
    return concept, random, u


def split(t, held_out, seed, salt):
    """The split CAV documents: a permutation drawn from seed 2·seed + salt (0 for the
    concept set, 1 for the random set), the first round(n·held_out) held out."""
    n = len(t)
    k = int(round(n * held_out))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(2 * seed + salt))
    order = order.numpy()
    return t[order[k:]], t[order[:k]]


def unit(v):
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


@pytest.fixture(scope="module")
def data():
    return clouds()


# ------------------------------------------------------------------ every learner

@pytest.mark.parametrize("learner", LEARNERS)
def test_learners_find_the_concept_direction(data, learner):
    concept, random, u = data
    cav = CAV.from_activations(concept, random, learner=learner, seed=0)
    v = cav.direction.numpy()
    assert cav.direction.shape == (D,)
    assert abs(np.linalg.norm(v) - 1) < 1e-12
    assert v @ u >= 0.9, (learner, v @ u)
    assert (concept.mean(0) - random.mean(0)) @ v > 0             # toward the concept
    assert cav.accuracy >= 0.95 and cav.chance == 0.5
    assert not cav.near_chance
    assert cav.learner == learner and f"{learner}, held-out accuracy" in repr(cav)


@pytest.mark.parametrize("learner", ["logistic", "linear_svm", "mean_difference",
                                     "torch_logistic"])
def test_direction_does_not_depend_on_where_the_activations_sit(data, learner):
    """Shifting both sets by one vector (a ReLU layer's positive offset) moves the boundary,
    not its normal."""
    concept, random, _ = data
    shift = np.full(D, 50.0)
    here = CAV.from_activations(concept, random, learner=learner).direction
    there = CAV.from_activations(concept + shift, random + shift, learner=learner).direction
    assert float(here @ there) > 1 - 1e-6, learner


def test_torch_logistic_ignores_a_dead_unit():
    concept, random, u = clouds()
    concept[:, 3] = random[:, 3] = 0.0                  # a unit that is 0 on every input
    cav = CAV.from_activations(concept, random, learner="torch_logistic")
    v = cav.direction.numpy()
    assert v[3] == 0
    u = unit(np.where(np.arange(D) == 3, 0, u))
    assert v @ u >= 0.9 and cav.accuracy >= 0.95


# ------------------------------------------------------------------ against references

def test_sgd_equals_scikit_learn_on_the_same_split(data):
    from sklearn.linear_model import SGDClassifier

    concept, random, _ = data
    for seed in (0, 3):
        cav = CAV.from_activations(concept, random, learner="sgd", seed=seed, held_out=0.33)
        (ta, sa), (tb, sb) = split(concept, 0.33, seed, 0), split(random, 0.33, seed, 1)
        model = SGDClassifier(loss="hinge", alpha=0.01, random_state=seed).fit(
            np.vstack([ta, tb]), np.r_[np.ones(len(ta)), np.zeros(len(tb))])
        np.testing.assert_allclose(cav.direction.numpy(), unit(model.coef_[0]), rtol=1e-10,
                                   atol=1e-12)
        score = model.score(np.vstack([sa, sb]), np.r_[np.ones(len(sa)), np.zeros(len(sb))])
        assert cav.accuracy == pytest.approx(score, abs=1e-12)
        assert cav.chance == pytest.approx(max(len(sa), len(sb)) / (len(sa) + len(sb)))


def test_logistic_equals_scikit_learn_on_all_data(data):
    from sklearn.linear_model import LogisticRegression

    concept, random, _ = data
    cav = CAV.from_activations(concept, random, learner="logistic", held_out=0)
    model = LogisticRegression(max_iter=10000, tol=1e-10).fit(
        np.vstack([concept, random]), np.r_[np.ones(len(concept)), np.zeros(len(random))])
    # the optimum (tight tolerance) on the raw activations; the CAV stops at lbfgs's default
    assert cav.direction.numpy() @ unit(model.coef_[0]) > 1 - 1e-5
    assert np.isnan(cav.accuracy) and not cav.near_chance


def test_mean_difference_equals_numpy(data):
    concept, random, _ = data
    cav = CAV.from_activations(concept, random, learner="mean_difference", held_out=0)
    np.testing.assert_allclose(cav.direction.numpy(), unit(concept.mean(0) - random.mean(0)),
                               rtol=1e-12, atol=1e-14)
    for seed in (0, 1):
        cav = CAV.from_activations(concept, random, learner="mean_difference", seed=seed)
        (ta, sa), (tb, sb) = split(concept, 0.33, seed, 0), split(random, 0.33, seed, 1)
        v = unit(ta.mean(0) - tb.mean(0))
        np.testing.assert_allclose(cav.direction.numpy(), v, rtol=1e-12, atol=1e-14)
        threshold = ((ta @ v).mean() + (tb @ v).mean()) / 2      # halfway between the means
        right = (sa @ v > threshold).sum() + (sb @ v <= threshold).sum()
        assert cav.accuracy == pytest.approx(right / (len(sa) + len(sb)), abs=1e-12)


def test_near_chance():
    concept, random, _ = clouds(n=300, sep=0.0)        # one distribution
    for learner in LEARNERS:
        cav = CAV.from_activations(concept, random, learner=learner)
        assert cav.near_chance, (learner, cav.accuracy)
        assert "near chance" in repr(cav)
    concept, random, _ = clouds(n=300, sep=5.0, n_random=150)
    cav = CAV.from_activations(concept, random, learner="mean_difference")
    assert cav.chance == pytest.approx(99 / 149) and not cav.near_chance


# ------------------------------------------------------------------ fit_many

def _pairs(k=5, n=100, sizes=None):
    out = []
    for i in range(k):
        concept, random, _ = clouds(n=n if sizes is None else sizes[i], sep=2.0 + i, seed=10 + i)
        out.append((concept, random, f"concept {i}", f"random {i}"))
    return out


def test_fit_many_mean_difference_equals_one_by_one():
    pairs = _pairs()
    many = fit_many(pairs, learner="mean_difference", node="layer3", seed=2)
    for cav, (a, b, c, r) in zip(many, pairs):
        one = CAV.from_activations(a, b, learner="mean_difference", seed=2, node="layer3",
                                   concept=c, random=r)
        torch.testing.assert_close(cav.direction, one.direction, rtol=1e-14, atol=1e-15)
        assert (cav.accuracy, cav.chance, cav.node, cav.concept, cav.random) == \
            (one.accuracy, one.chance, "layer3", c, r)


def test_fit_many_torch_logistic_equals_one_by_one():
    pairs = _pairs()
    many = fit_many(pairs, learner="torch_logistic")
    for cav, (a, b, *_) in zip(many, pairs):
        one = CAV.from_activations(a, b, learner="torch_logistic")
        assert float(cav.direction @ one.direction) > 1 - 1e-9
        assert cav.accuracy == one.accuracy


def test_fit_many_respects_the_memory_bound(monkeypatch):
    pairs = _pairs()
    whole = fit_many(pairs, learner="torch_logistic")
    calls = []
    fit = cav_module._torch_logistic

    def spy(A, B, seed, **kw):
        calls.append(A.shape[0])
        return fit(A, B, seed, **kw)

    per_problem = (67 + 67) * D                       # 100 − 33 training examples per set
    monkeypatch.setattr(cav_module, "_BATCH_ELEMENTS", 2 * per_problem + 1)
    monkeypatch.setattr(cav_module, "_torch_logistic", spy)
    chunked = fit_many(pairs, learner="torch_logistic")
    assert calls == [2, 2, 1]
    for a, b in zip(chunked, whole):
        assert float(a.direction @ b.direction) > 1 - 1e-9 and a.accuracy == b.accuracy


def test_fit_many_with_unequal_sizes_or_sklearn_learners_fits_one_by_one():
    pairs = _pairs(k=3, sizes=[60, 80, 100])
    for learner in ("mean_difference", "sgd"):
        many = fit_many(pairs, learner=learner, seed=1)
        for cav, (a, b, c, r) in zip(many, pairs):
            one = CAV.from_activations(a, b, learner=learner, seed=1)
            assert torch.equal(cav.direction, one.direction)
            assert (cav.concept, cav.random) == (c, r)
    assert fit_many([]) == []


# ------------------------------------------------------------------ on a graph

def test_fit_on_a_graph_equals_from_activations_on_hooked_activations():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 3)).double().eval()
    rng = np.random.default_rng(0)
    concept_x = rng.normal(size=(80, 6)) + 2.0
    random_x = rng.normal(size=(80, 6))
    graph = neon.neuralize(net, torch.zeros(1, 6, dtype=F64))
    seen = {}
    net[1].register_forward_hook(lambda m, i, o: seen.setdefault("relu", []).append(o))
    with torch.no_grad():
        net(torch.as_tensor(concept_x))
        net(torch.as_tensor(random_x))
    hooked_a, hooked_b = seen["relu"]
    cache = Cache()
    for learner in ("sgd", "mean_difference"):
        fitted = CAV.fit(graph, "1", concept_x, random_x, learner=learner, seed=4, cache=cache)
        ref = CAV.from_activations(hooked_a, hooked_b, learner=learner, seed=4)
        torch.testing.assert_close(fitted.direction, ref.direction, rtol=1e-9, atol=1e-12)
        assert fitted.accuracy == ref.accuracy and fitted.node == "1"
        same = CAV.from_activations(concepts.activations(graph, concept_x, "1"),
                                    concepts.activations(graph, random_x, "1"),
                                    learner=learner, seed=4)
        assert torch.equal(fitted.direction, same.direction)
    assert (cache.misses, cache.hits) == (2, 2)            # the second fit reused both sets


# ------------------------------------------------------------------ seeds, sensitivities

@pytest.mark.parametrize("learner", LEARNERS)
def test_same_seed_same_direction(data, learner):
    concept, random, _ = data
    a = CAV.from_activations(concept, random, learner=learner, seed=7)
    b = CAV.from_activations(concept, random, learner=learner, seed=7)
    assert torch.equal(a.direction, b.direction) and a.accuracy == b.accuracy


def test_the_held_out_split_changes_with_the_seed(data):
    concept, random, _ = data
    directions = [CAV.from_activations(concept, random, learner="mean_difference",
                                       seed=s).direction for s in range(3)]
    assert not torch.equal(directions[0], directions[1])
    assert not torch.equal(directions[1], directions[2])
    # with nothing held out the mean difference is the same for every seed
    a, b = (CAV.from_activations(concept, random, learner="mean_difference", held_out=0,
                                 seed=s).direction for s in (0, 1))
    torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-15)


def test_sensitivities_are_gradients_dot_direction(data):
    concept, random, _ = data
    cav = CAV.from_activations(concept[:, :12], random[:, :12], learner="mean_difference")
    G = np.random.default_rng(5).normal(size=(9, 3, 4))
    want = G.reshape(9, -1) @ cav.direction.numpy()
    np.testing.assert_allclose(cav.sensitivities(G).numpy(), want, rtol=1e-12)
    got32 = cav.sensitivities(torch.as_tensor(G, dtype=torch.float32))
    np.testing.assert_allclose(got32.numpy(), want, rtol=1e-5, atol=1e-6)
