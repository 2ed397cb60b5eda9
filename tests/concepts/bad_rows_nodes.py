"""Bad-input rows of concepts.activations, concepts.node_gradients, concepts.Cache,
concepts.CAV (fit, from_activations) and concepts.fit_many, for tests/test_bad_input_table.py:
``(entry point, what is wrong, zero-argument call, exception class, words the message must
contain)``. The graphs are tiny: a CNN with a module named ``features`` and a tabular MLP."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import concepts
import lrp
import neon
from concepts import CAV, Cache, CAVError, fit_many
from neon.graph import GraphInputError

F64 = torch.float64


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(3 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(self.features(x).flatten(1))


torch.manual_seed(0)
NET = _Net().double().eval()
CNN = neon.neuralize(NET, torch.randn(1, 2, 4, 4, dtype=F64))
MLP = neon.neuralize(nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).double(),
                     torch.randn(1, 4, dtype=F64))
ONE = neon.neuralize(nn.Sequential(nn.Linear(4, 1)).double(), torch.randn(1, 4, dtype=F64))
XC = torch.rand(3, 2, 4, 4, dtype=F64)
X = np.random.default_rng(0).normal(size=(3, 4))
_rng = np.random.default_rng(1)
A = _rng.normal(size=(20, 6)) + 1.0
B = _rng.normal(size=(20, 6))
P_X = np.random.default_rng(2).normal(size=(6, 4)) + 1.0
N_X = np.random.default_rng(3).normal(size=(6, 4))


def act(**kw):
    return lambda: concepts.activations(kw.pop("graph", CNN), kw.pop("x", XC),
                                        kw.pop("node", "features"), **kw)


def grad(**kw):
    return lambda: concepts.node_gradients(kw.pop("graph", CNN), kw.pop("x", XC),
                                           kw.pop("node", "features"), **kw)


def cav(a=A, b=B, **kw):
    return lambda: CAV.from_activations(a, b, **kw)


def fit(**kw):
    return lambda: CAV.fit(kw.pop("graph", MLP), kw.pop("node", "1"), kw.pop("p", P_X),
                           kw.pop("n", N_X), **kw)


def many(pairs, **kw):
    return lambda: fit_many(pairs, **kw)


ROWS = [
    # ---- concepts.activations
    ("concepts.activations", "unknown node (close names listed)", act(node="features.00"),
     KeyError, "close names: features.0"),
    ("concepts.activations", "node index instead of a name", act(node=0), TypeError,
     "string"),
    ("concepts.activations", "empty batch", act(x=XC[:0]), ValueError, "no samples"),
    ("concepts.activations", "empty list", act(x=[]), ValueError, "no samples"),
    ("concepts.activations", "wrong image size", act(x=torch.rand(3, 2, 5, 4, dtype=F64)),
     GraphInputError, "the graph expects x: (N, 2, *, *)"),
    ("concepts.activations", "wrong channel count", act(x=torch.rand(3, 3, 4, 4, dtype=F64)),
     GraphInputError, "expected"),
    ("concepts.activations", "wrong width", act(graph=MLP, x=X[:, :3], node="1"),
     GraphInputError, "expected 4 features, got 3"),
    ("concepts.activations", "a torch module instead of a graph", act(graph=NET), TypeError,
     "neuralize"),
    ("concepts.activations", "cache='yes'", act(cache="yes"), TypeError, "concepts.Cache"),
    ("concepts.activations", "batch_size 0", act(batch_size=0), ValueError,
     "positive integer"),
    ("concepts.activations", "not data at all", act(x=3), TypeError, "iterable of batches"),
    ("concepts.activations", "an iterable of strings", act(x=["a", "b"]), TypeError,
     "batch 0 is a str"),
    ("concepts.activations", "NaN input", act(x=torch.full((2, 2, 4, 4), np.nan, dtype=F64)),
     GraphInputError, "NaN"),
    # ---- concepts.node_gradients
    ("concepts.node_gradients", "output='softmax'", grad(output="softmax"), ValueError,
     "'logit', 'log_softmax'"),
    ("concepts.node_gradients", "log_softmax of a single output",
     grad(graph=ONE, x=X, node="0", output="log_softmax"), ValueError, "C ≥ 2 classes"),
    ("concepts.node_gradients", "unknown node", grad(node="featurez"), KeyError,
     "no node or source module named 'featurez'"),
    ("concepts.node_gradients", "a torch module instead of a graph", grad(graph=NET),
     TypeError, "neuralize"),
    ("concepts.node_gradients", "empty batch", grad(x=XC[:0]), ValueError, "no samples"),
    ("concepts.node_gradients", "target out of range", grad(target=5), lrp.TargetError,
     "out of range"),
    ("concepts.node_gradients", "too few targets", grad(target=[0, 1]), lrp.TargetError,
     "one class per sample"),
    # ---- concepts.Cache
    ("concepts.Cache", "max_items 0", lambda: Cache(max_items=0), ValueError,
     "max_items must be a positive integer"),
    ("concepts.Cache", "max_items 2.5", lambda: Cache(max_items=2.5), ValueError,
     "max_items must be a positive integer"),
    # ---- concepts.CAV.from_activations
    ("concepts.CAV.from_activations", "sets of different widths", cav(b=B[:, :5]), CAVError,
     "differ in width (6 vs 5)"),
    ("concepts.CAV.from_activations", "one concept example", cav(a=A[:1]), CAVError,
     "at least 2"),
    ("concepts.CAV.from_activations", "random set equal to the concept set", cav(b=A.copy()),
     CAVError, "random examples equal the concept examples"),
    ("concepts.CAV.from_activations", "learner='svm'", cav(learner="svm"), ValueError,
     "'linear_svm'"),
    ("concepts.CAV.from_activations", "held_out 1.5", cav(held_out=1.5), ValueError,
     "[0, 1)"),
    ("concepts.CAV.from_activations", "negative held_out", cav(held_out=-0.2), ValueError,
     "held_out must be ≥ 0"),
    ("concepts.CAV.from_activations", "held_out a string", cav(held_out="0.3"), TypeError,
     "held_out must be a real number"),
    ("concepts.CAV.from_activations", "NaN activations",
     cav(a=np.where(A > 2.5, np.nan, A)), CAVError, "NaN"),
    ("concepts.CAV.from_activations", "activations without a batch axis", cav(a=A[0]),
     CAVError, "shape (n, ...)"),
    ("concepts.CAV.from_activations", "a near-empty split", cav(a=A[:2], b=B[:2]), CAVError,
     "cannot be split"),
    ("concepts.CAV.from_activations", "equal means", cav(a=[[0.0], [2.0]], b=[[1.0], [1.0]],
                                                         learner="mean_difference",
                                                         held_out=0),
     CAVError, "same mean"),
    ("concepts.CAV.from_activations", "only constant features (torch_logistic)",
     cav(a=np.ones((4, 2)), b=np.ones((3, 2)), learner="torch_logistic", held_out=0),
     CAVError, "no direction"),
    ("concepts.CAV.from_activations", "seed 1.5", cav(seed=1.5), TypeError,
     "seed must be an integer"),
    ("concepts.CAV.from_activations", "negative seed", cav(seed=-1), ValueError,
     "seed must be ≥ 0"),
    # ---- concepts.CAV.fit
    ("concepts.CAV.fit", "a torch module instead of a graph", fit(graph=NET), TypeError,
     "neuralize"),
    ("concepts.CAV.fit", "unknown node", fit(node="3"), KeyError, "no node or source module"),
    ("concepts.CAV.fit", "node not a string", fit(node=1), TypeError, "string"),
    ("concepts.CAV.fit", "random set equal to the concept set", fit(n=P_X), CAVError,
     "random examples equal the concept examples"),
    ("concepts.CAV.fit", "examples of the wrong width", fit(n=N_X[:, :3]), GraphInputError,
     "expected 4 features, got 3"),
    ("concepts.CAV.fit", "no random examples", fit(n=N_X[:0]), ValueError, "no samples"),
    ("concepts.CAV.fit", "learner='svm'", fit(learner="svm"), ValueError, "'linear_svm'"),
    # ---- concepts.fit_many
    ("concepts.fit_many", "a pair of different widths", many([(A, B), (A, B[:, :4])]),
     CAVError, "differ in width"),
    ("concepts.fit_many", "learner='svm'", many([(A, B)], learner="svm"), ValueError,
     "'linear_svm'"),
    ("concepts.fit_many", "negative held_out", many([(A, B)], held_out=-0.5), ValueError,
     "held_out must be ≥ 0"),
    ("concepts.fit_many", "held_out 1.5", many([(A, B)], held_out=1.5), ValueError, "[0, 1)"),
    ("concepts.fit_many", "random set equal to the concept set", many([(A, A.copy())]),
     CAVError, "random examples equal"),
    ("concepts.fit_many", "too few examples", many([(A[:1], B[:1])]), CAVError,
     "at least 2"),
    ("concepts.fit_many", "equal means (batched mean difference)",
     many([(A, B), (np.repeat([[0.0] * 6, [2.0] * 6], 10, axis=0), np.ones((20, 6)))],
          learner="mean_difference", held_out=0), CAVError, "same mean activation"),
    ("concepts.fit_many", "NaN activations", many([(np.full((4, 3), np.nan), B[:4, :3])]),
     CAVError, "NaN"),
]
