"""lrp.metrics.roar, roar_remove and data_randomization_check.

References, none of them the code under test: hand-computed removals (tabular and image
samples, top-k by value, not by |R|, ties in index order); a plain numpy/torch
re-implementation of the whole ROAR loop (numpy argsort, numpy means, the models' own
forward passes); the Bayes accuracies of the synthetic task (only features 0 and 1 carry
the label, y = [x0 + x1 > 0], so with x0 removed the best accuracy is 3/4 and with both
removed 1/2); for the data randomization test, models retrained here with the reported
permutation, their gradients by autograd and ``scipy.stats.spearmanr``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

import lrp
import lrp.metrics as M
import neon

torch.set_num_threads(1)
F64 = torch.float64


# ---------------------------------------------------------------------------- the task

def _data(n, seed):
    """10 standard-normal features; the label is [x0 + x1 > 0]."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 10, generator=g, dtype=F64)
    return X, (X[:, 0] + X[:, 1] > 0).long()


def _init(net, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=F64) / p.shape[-1] ** 0.5)
    return net


def _linear(X, y, seed, steps=200):
    """Logistic regression (10 → 2 logits), full-batch Adam, seeded initialization."""
    net = _init(nn.Linear(X.shape[1], 2).double(), seed)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(net(X), y).backward()
        opt.step()
    return net.eval()


def _mlp(X, y, seed, steps=400):
    """10 → 64 → 2 ReLU MLP: enough to memorise 64 random labels."""
    net = _init(nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 2)).double(), seed)
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(net(X), y).backward()
        opt.step()
    return net.eval()


def _oracle(graph, x, target, *, batch_size=None):
    """The true-feature attribution: 1 on features 0 and 1, 0 elsewhere."""
    r = torch.zeros_like(x)
    r[:, :2] = 1.0
    return r


XTR, YTR = _data(400, 0)
XTE, YTE = _data(400, 1)


@pytest.fixture(scope="module")
def faithful():
    return M.roar(_linear, XTR, YTR, XTE, YTE,
                  {"gradient × input": lrp.gradient_x_input, "oracle": _oracle}, seed=0)


# ---------------------------------------------------------------------------- removal

def test_roar_remove_by_hand_tabular():
    x = np.array([[1.0, 2, 3, 4], [5, 6, 7, 8]])
    r = np.array([[0.1, -5.0, 3.0, 2.0],      # by value: features 2, 3 (not 1, |R| = 5)
                  [4.0, 4.0, 1.0, -1.0]])      # a tie: index order, features 0, 1
    fill = np.array([10.0, 20, 30, 40])
    out = M.roar_remove(x, r, 0.5, baseline=fill)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, [[1, 2, 30, 40], [10, 20, 7, 8]])
    # m = ⌊f U + ½⌋: 0.3 · 4 = 1.2 → 1 feature; 0.4 · 4 = 1.6 → 2
    np.testing.assert_array_equal(M.roar_remove(x, r, 0.3, baseline=0.0),
                                  [[1, 2, 0, 4], [0, 6, 7, 8]])
    np.testing.assert_array_equal(M.roar_remove(x, r, 0.4, baseline=0.0),
                                  [[1, 2, 0, 0], [0, 0, 7, 8]])
    t = M.roar_remove(torch.tensor(x), torch.tensor(r), 0.5, baseline=torch.tensor(fill))
    assert isinstance(t, torch.Tensor) and t.dtype == F64
    np.testing.assert_array_equal(t.numpy(), out)
    assert np.array_equal(x, [[1, 2, 3, 4], [5, 6, 7, 8]])          # x untouched


def test_roar_remove_by_hand_images_sums_channels():
    x = torch.arange(8, dtype=F64).reshape(1, 2, 2, 2)              # channels 0…3 and 4…7
    r = torch.tensor([[[[5.0, 0.5], [-1.0, 0.0]],
                       [[-6.0, 0.5], [3.0, 0.0]]]], dtype=F64)
    # per position Σ_c R_c: (0,0) −1, (0,1) 1, (1,0) 2, (1,1) 0 → (1,0) first, then (0,1);
    # by a single channel's value (5 at (0,0)) or by |R| the order would differ
    out = M.roar_remove(x, r, 0.25, baseline=-1.0)
    expected = x.clone()
    expected[0, :, 1, 0] = -1.0
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    fill = -torch.arange(8, dtype=F64).reshape(2, 2, 2) - 10
    out = M.roar_remove(x, r, 0.5, baseline=fill)
    expected = x.clone()
    for i, j in ((1, 0), (0, 1)):
        expected[0, :, i, j] = fill[:, i, j]
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


class _Recorder:
    """train(X, y, seed): records its arguments and returns a new fixed classifier
    logits = (x0, x1) (no training), so accuracies can be computed by hand."""

    def __init__(self):
        self.calls = []

    def __call__(self, X, y, seed):
        self.calls.append((X.clone(), y.clone(), seed))
        net = nn.Linear(4, 2, bias=False).double()
        with torch.no_grad():
            net.weight.copy_(torch.eye(2, 4, dtype=F64))
        return net


def _as_relevance(graph, x, target, *, batch_size=None):
    """R = x: the removal then takes the largest values, checkable by hand."""
    return x.clone()


def test_roar_removes_top_k_by_value_and_replaces_by_the_training_mean():
    X = torch.tensor([[4.0, 1, 2, 3], [0, 5, 1, 2], [2, 2, 6, 0], [2, 0, 3, 7]], dtype=F64)
    y = torch.tensor([0, 1, 0, 1])
    Xt = torch.tensor([[3.0, 2, 0, 1], [1, 3, 9, 0]], dtype=F64)
    yt = torch.tensor([0, 0])
    mean = np.array([2.0, 2.0, 3.0, 3.0])                # by hand, column means of X
    rec = _Recorder()
    res = M.roar(rec, X, y, Xt, yt, {"R = x": _as_relevance}, fractions=(0.25, 0.5),
                 seed=7)
    # calls: unmodified, then "R = x" at 0.25 and 0.5, then random at 0.25 and 0.5
    assert len(rec.calls) == 5 and [c[2] for c in rec.calls] == [7] * 5
    assert all(torch.equal(c[1], y) for c in rec.calls)
    torch.testing.assert_close(rec.calls[0][0], X, rtol=0, atol=0)
    top1 = np.array([[mean[0], 1, 2, 3], [0, mean[1], 1, 2], [2, 2, mean[2], 0],
                     [2, 0, 3, mean[3]]])
    top2 = np.array([[mean[0], 1, 2, mean[3]], [0, mean[1], 1, mean[3]],
                     [mean[0], 2, mean[2], 0],                 # tie 2, 2: index order
                     [2, 0, mean[2], mean[3]]])
    np.testing.assert_array_equal(rec.calls[1][0].numpy(), top1)
    np.testing.assert_array_equal(rec.calls[2][0].numpy(), top2)
    # test set, same removal: logits (x0, x1), labels 0, 0
    test1 = np.array([[mean[0], 2, 0, 1], [1, 3, mean[2], 0]])          # predicts 1, 1
    test2 = np.array([[mean[0], mean[1], 0, 1], [1, mean[1], mean[2], 0]])  # 0 (tie), 1
    expected = [np.mean(np.argmax(t[:, :2], 1) == yt.numpy()) for t in (test1, test2)]
    np.testing.assert_array_equal(res.accuracy["R = x"], [expected])
    assert res.original.tolist() == [0.5]              # (3, 2) → 0 right, (1, 3) → 1 wrong
    np.testing.assert_array_equal(res.removed, [1, 2])
    assert res.units == 4 and res.methods == ["R = x", "random"]
    # the random ranking: uniform draws of seed 7, train then test, per repeat
    g = torch.Generator().manual_seed(7)
    draw_tr = torch.rand((4, 4), generator=g, dtype=F64).numpy()
    draw_te = torch.rand((2, 4), generator=g, dtype=F64).numpy()
    for k, m in enumerate((1, 2)):
        for got, data, draw in ((rec.calls[3 + k][0].numpy(), X.numpy(), draw_tr),):
            want = data.copy()
            for i in range(len(data)):
                top = np.argsort(-draw[i], kind="stable")[:m]
                want[i, top] = mean[top]
            np.testing.assert_array_equal(got, want)
        want = Xt.numpy().copy()
        for i in range(len(want)):
            top = np.argsort(-draw_te[i], kind="stable")[:m]
            want[i, top] = mean[top]
        acc = np.mean(np.argmax(want[:, :2], 1) == yt.numpy())
        assert res.accuracy["random"][0, k] == acc


def _reference_roar(train, X, y, Xt, yt, fractions, seeds):
    """ROAR in plain numpy/torch for gradient × input (autograd), per sample."""
    def accuracy(model, data, labels):
        with torch.no_grad():
            return float((model(torch.as_tensor(data)).argmax(1) == labels).double().mean())

    def gxi(model, data, labels):
        leaf = torch.as_tensor(data).clone().requires_grad_(True)
        model(leaf).gather(1, labels[:, None]).sum().backward()
        return (leaf.grad * leaf).detach().numpy()

    base = train(X, y, seeds[0])
    mean = X.numpy().mean(0)
    ranked = {}
    for name, data, labels in (("train", X, y), ("test", Xt, yt)):
        r = gxi(base, data, labels)
        ranked[name] = np.stack([np.argsort(-row, kind="stable") for row in r])
    original = [accuracy(train(X, y, s), Xt, yt) for s in seeds]
    out = np.empty((len(seeds), len(fractions)))
    for i, s in enumerate(seeds):
        for k, f in enumerate(fractions):
            m = int(np.floor(f * X.shape[1] + 0.5))
            mods = {}
            for name, data in (("train", X.numpy()), ("test", Xt.numpy())):
                new = data.copy()
                for n in range(len(new)):
                    top = ranked[name][n, :m]
                    new[n, top] = mean[top]
                mods[name] = new
            model = train(torch.as_tensor(mods["train"]), y, s)
            out[i, k] = accuracy(model, mods["test"], yt)
    return np.array(original), out


def test_roar_equals_an_independent_reimplementation():
    X, y, Xt, yt = XTR[:200], YTR[:200], XTE[:100], YTE[:100]
    fractions = (0.2, 0.5)
    res = M.roar(_linear, X, y, Xt, yt, {"gxi": lrp.gradient_x_input}, fractions=fractions,
                 repeats=2, seed=11)
    assert res.seeds == [11, 12]
    original, acc = _reference_roar(_linear, X, y, Xt, yt, fractions, [11, 12])
    np.testing.assert_array_equal(res.original, original)
    np.testing.assert_array_equal(res.accuracy["gxi"], acc)
    assert res.accuracy["random"].shape == (2, 2)


# ---------------------------------------------------------------------------- faithfulness

def test_roar_faithful_rankings_drop_accuracy_more_than_random(faithful):
    acc = {k: v[0] for k, v in faithful.accuracy.items()}
    assert faithful.original[0] > 0.95
    # gradient × input of the linear model removes the one feature that carries the
    # positive evidence; the remaining one is then symmetric in both classes: chance
    assert acc["gradient × input"][0] < acc["random"][0] - 0.3
    assert acc["gradient × input"][0] < 0.6
    # the oracle: x0 removed → Bayes accuracy 3/4 from x1; x0 and x1 removed → 1/2
    assert abs(acc["oracle"][0] - 0.75) < 0.06
    assert acc["oracle"][1] < 0.6 and acc["oracle"][1] < acc["random"][1] - 0.15
    assert acc["random"][0] > 0.85                 # 1 of 10 features: rarely an informative
    area = faithful.area()
    assert area["oracle"].mean() < area["random"].mean() - 0.1
    assert not area["oracle"].higher_is_better


def test_roar_area_and_table(faithful):
    f = faithful.fractions
    for name, score in faithful.area().items():
        a = np.concatenate([[faithful.original[0]], faithful.accuracy[name][0]])
        xs = np.concatenate([[0.0], f])
        by_hand = sum((xs[i + 1] - xs[i]) * (a[i] + a[i + 1]) / 2 for i in range(len(f)))
        assert score.values[0] == pytest.approx(by_hand / f[-1], rel=1e-12)
    text = faithful.table()
    for name in ("gradient × input", "oracle", "random"):
        assert name in text
    assert f"{faithful.accuracy['oracle'][0, 1]:.3f}" in text
    xs, ys = faithful.curve("oracle")
    assert xs[0] == 0 and ys[0] == faithful.original.mean() and len(ys) == len(f) + 1
    assert "RoarResult" in repr(faithful)


def test_roar_is_deterministic_with_a_seed():
    X, y, Xt, yt = XTR[:120], YTR[:120], XTE[:60], YTE[:60]
    run = lambda s: M.roar(lambda a, b, c: _linear(a, b, c, steps=60), X, y, Xt, yt,  # noqa
                           {"g": lrp.gradient}, fractions=(0.1, 0.5), seed=s)
    a, b, c = run(3), run(3), run(4)
    for key in ("g", "random"):
        np.testing.assert_array_equal(a.accuracy[key], b.accuracy[key])
    np.testing.assert_array_equal(a.original, b.original)
    assert c.seeds == [4]
    assert not np.array_equal(a.accuracy["random"], c.accuracy["random"]) or \
        not np.array_equal(a.original, c.original)


def test_roar_numpy_in_numpy_to_train_and_graphs_accepted():
    X, y, Xt, yt = XTR[:120], YTR[:120], XTE[:60], YTE[:60]
    kinds = []

    def train(a, b, s):
        kinds.append((type(a), type(b)))
        model = _linear(torch.as_tensor(a), torch.as_tensor(b), s, steps=60)
        return neon.neuralize(model, torch.as_tensor(a[:1]))

    methods = {"gxi": "gradient_x_input"}
    res_np = M.roar(train, X.numpy(), y.numpy(), Xt.numpy(), yt.numpy(), methods,
                    fractions=(0.3,), seed=0)
    assert set(kinds) == {(np.ndarray, np.ndarray)}
    res_t = M.roar(lambda a, b, s: _linear(a, b, s, steps=60), X, y, Xt, yt, methods,
                   fractions=(0.3,), seed=0)
    for key in ("gxi", "random"):
        np.testing.assert_array_equal(res_np.accuracy[key], res_t.accuracy[key])


# ---------------------------------------------------------------------------- data randomization

XD, YD = _data(64, 2)
XQ = _data(40, 3)[0]


def _reference_maps(model, x):
    """|∂f_c/∂x| for the model's predicted class c, by autograd."""
    leaf = x.clone().requires_grad_(True)
    out = model(leaf)
    out.gather(1, out.argmax(1, keepdim=True)).sum().backward()
    return leaf.grad.abs().numpy(), out.argmax(1).detach()


def test_data_randomization_gradient_depends_on_the_labels():
    seen = []

    def train(X, y, seed):
        seen.append((y.clone(), seed))
        return _mlp(X, y, seed)

    res = M.data_randomization_check(train, XD, YD, XQ, lrp.gradient, seed=5)
    perm = res.permutation
    assert sorted(perm.tolist()) == list(range(64))
    assert [s for _, s in seen] == [5, 5]
    assert torch.equal(seen[0][0], YD) and torch.equal(seen[1][0], YD[perm])
    assert res.changed == pytest.approx(float((YD[perm] != YD).double().mean()))
    assert res.accuracy_true == 1.0 and res.accuracy_permuted == 1.0     # memorised
    assert res.accuracy_permuted_on_true < 0.75
    rho = res.scores["spearman"]
    assert not rho.higher_is_better and rho.mean() < 0.25
    # independent: the two models retrained here, autograd gradients, scipy
    a, ca = _reference_maps(_mlp(XD, YD, 5), XQ)
    b, cb = _reference_maps(_mlp(XD, YD[perm], 5), XQ)
    expected = np.array([spearmanr(u, v)[0] for u, v in zip(a, b)])
    np.testing.assert_allclose(rho.values, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(res.target_true.argmax(1), ca.numpy())
    np.testing.assert_array_equal(res.target_permuted.argmax(1), cb.numpy())
    assert "data randomization" in res.summary() and res.mean() == pytest.approx(rho.mean())


def test_data_randomization_same_labels_give_similarity_one():
    """With a training that ignores the labels it is given (so the 'permuted' model is the
    true one), both maps are the same: ρ = 1, and the memorisation warning fires."""
    with pytest.warns(RuntimeWarning, match="not memorised"):
        res = M.data_randomization_check(lambda X, y, s: _mlp(X, YD, s, steps=100), XD, YD,
                                         XQ, lrp.gradient, seed=0, absolute=False)
    np.testing.assert_allclose(res.scores["spearman"].values, 1.0, rtol=0, atol=1e-12)
    assert res.accuracy_true == res.accuracy_permuted_on_true


def test_data_randomization_given_target_is_explained_on_both_models():
    target = (XQ[:, 0] + XQ[:, 1] > 0).long()
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # the MLP memorises: no warning
        res = M.data_randomization_check(lambda X, y, s: _mlp(X, y, s, steps=300), XD, YD,
                                         XQ, "gradient", target=target, seed=1)
    np.testing.assert_array_equal(res.target_true.argmax(1), target.numpy())
    np.testing.assert_array_equal(res.target_permuted.argmax(1), target.numpy())
    assert res.scores["spearman"].values.shape == (40,)
