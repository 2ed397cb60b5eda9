"""Bad-input rows of lrp.metrics.conservation, the sanity checks (randomization_check,
random_logit_check, spearman, ssim, parametrized_nodes, randomized_copies) and
lrp.plot.randomization_curves, for tests/test_bad_input_table.py: ``(entry point, what is
wrong, zero-argument call, exception class, words the message must contain)``. The graphs
are tiny: a tabular MLP (4 features, 3 classes), an image CNN (1, 8, 8), a one-output linear
model and a graph without layers."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

import lrp
import lrp.metrics as M
import lrp.plot
import neon
from neon.graph import GraphInputError
from neon.ops import ReLU

F64 = torch.float64


def _mlp():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).double()
    return net, neon.neuralize(net, torch.randn(1, 4, dtype=F64))


def _cnn():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(2 * 8 * 8, 3)).double()
    return net, neon.neuralize(net, torch.randn(1, 1, 8, 8, dtype=F64))


def _one_output():
    torch.manual_seed(0)
    return neon.neuralize(nn.Linear(4, 1).double(), torch.randn(1, 4, dtype=F64))


def _no_layers():
    g = neon.Graph()
    g.add_input("x", (4,))
    g.add_node("relu", ReLU(), ["x"])
    g.set_output("relu")
    return g


(MLP, G), (CNN, C) = _mlp(), _cnn()
G1, G0 = _one_output(), _no_layers()
X = torch.randn(3, 4, dtype=F64)
XC = torch.rand(2, 1, 8, 8, dtype=F64)
XS = torch.rand(2, 2, 4, 4, dtype=F64)
GS = neon.neuralize(nn.Sequential(nn.Conv2d(2, 2, 3, padding=1)).double(), XS[:1])
R = torch.randn(3, 4, dtype=F64)
A = np.random.default_rng(0).normal(size=(2, 8, 8))
E = lrp.explain(G, X, return_all=True)
with warnings.catch_warnings():          # tiny random CNN: some randomized maps are 0 (NaN)
    warnings.simplefilter("ignore", RuntimeWarning)
    RES = M.randomization_check(G, lrp.gradient, X, seed=0)
    RES_C = M.randomization_check(C, lrp.gradient, XC, seed=0)
    RES_I = M.randomization_check(C, lrp.gradient, XC, seed=0, cascade="independent")


def cons(**kw):
    return lambda: M.conservation(kw.pop("graph", G), kw.pop("x", X),
                                  kw.pop("relevance", R), **kw)


def rand(**kw):
    return lambda: M.randomization_check(kw.pop("graph", G), kw.pop("method", lrp.gradient),
                                         kw.pop("x", X), **kw)


def logit(**kw):
    return lambda: M.random_logit_check(kw.pop("graph", G), kw.pop("method", lrp.gradient),
                                        kw.pop("x", X), **kw)


def curves(results=RES_C, **kw):
    return lambda: lrp.plot.randomization_curves(results, **kw)


def _nan(a):
    a = np.array(a, dtype=float)
    a.flat[0] = np.nan
    return a


ROWS = [
    # ---- lrp.metrics.conservation
    ("lrp.metrics.conservation", "a torch module, not a graph", cons(graph=MLP), TypeError,
     "neuralize"),
    ("lrp.metrics.conservation", "x of the wrong width", cons(x=torch.randn(3, 5, dtype=F64)),
     GraphInputError, "features"),
    ("lrp.metrics.conservation", "relevance of the wrong shape",
     cons(relevance=torch.randn(3, 5, dtype=F64)), ValueError, "shape"),
    ("lrp.metrics.conservation", "relevance with NaN", cons(relevance=_nan(R)), ValueError,
     "NaN"),
    ("lrp.metrics.conservation", "relevance a dict", cons(relevance={"x": R}), TypeError,
     "relevance"),
    ("lrp.metrics.conservation", "relevance an unknown method name",
     cons(relevance="saliency"), ValueError, "not a method of lrp"),
    ("lrp.metrics.conservation", "an Explanation of another x",
     cons(relevance=E, x=X + 1.0), ValueError, "another output"),
    ("lrp.metrics.conservation", "target out of range", cons(target=7), Exception, "target"),
    ("lrp.metrics.conservation", "batch_size 0", cons(batch_size=0), ValueError, "batch_size"),

    # ---- lrp.metrics.randomization_check
    ("lrp.metrics.randomization_check", "a torch module, not a graph", rand(graph=MLP),
     TypeError, "neuralize"),
    ("lrp.metrics.randomization_check", "precomputed relevance as the method",
     rand(method=R), TypeError, "precomputed relevance cannot be used"),
    ("lrp.metrics.randomization_check", "an unknown method name", rand(method="saliency"),
     ValueError, "not a method of lrp"),
    ("lrp.metrics.randomization_check", "method a number", rand(method=3), TypeError,
     "method must be"),
    ("lrp.metrics.randomization_check", "x of the wrong width",
     rand(x=torch.randn(3, 5, dtype=F64)), GraphInputError, "features"),
    ("lrp.metrics.randomization_check", "target out of range", rand(target=7), Exception,
     "target"),
    ("lrp.metrics.randomization_check", "unknown cascade", rand(cascade="bottom_up"),
     ValueError, "cascade must be one of"),
    ("lrp.metrics.randomization_check", "negative seed", rand(seed=-1), ValueError, "seed"),
    ("lrp.metrics.randomization_check", "seed a float", rand(seed=1.5), TypeError, "seed"),
    ("lrp.metrics.randomization_check", "unknown similarity", rand(similarity="pearson"),
     ValueError, "similarity must be one of"),
    ("lrp.metrics.randomization_check", "empty similarity", rand(similarity=()), TypeError,
     "similarity must be"),
    ("lrp.metrics.randomization_check", "similarity named twice",
     rand(similarity=("spearman", "spearman")), ValueError, "twice"),
    ("lrp.metrics.randomization_check", "ssim on tabular input", rand(similarity="ssim"),
     ValueError, "ssim' compares images"),
    ("lrp.metrics.randomization_check", "ssim on images smaller than the window",
     rand(graph=GS, x=XS, similarity="ssim"), ValueError, "smaller than ssim's 7×7 window"),
    ("lrp.metrics.randomization_check", "absolute not a bool", rand(absolute=1), TypeError,
     "absolute"),
    ("lrp.metrics.randomization_check", "batch_size 0", rand(batch_size=0), ValueError,
     "batch_size"),
    ("lrp.metrics.randomization_check", "a graph without layers", rand(graph=G0),
     ValueError, "no parametrized node"),

    # ---- lrp.metrics.random_logit_check
    ("lrp.metrics.random_logit_check", "a torch module, not a graph", logit(graph=MLP),
     TypeError, "neuralize"),
    ("lrp.metrics.random_logit_check", "precomputed relevance as the method",
     logit(method=R), TypeError, "precomputed"),
    ("lrp.metrics.random_logit_check", "an unknown method name", logit(method="saliency"),
     ValueError, "not a method of lrp"),
    ("lrp.metrics.random_logit_check", "x without batch axis",
     logit(x=torch.randn(4, dtype=F64)), GraphInputError, "batch"),
    ("lrp.metrics.random_logit_check", "a target of several classes per sample",
     logit(target=torch.tensor([[1.0, 1.0, 0.0]] * 3, dtype=F64)), ValueError,
     "one class per sample"),
    ("lrp.metrics.random_logit_check", "a one-output graph", logit(graph=G1), ValueError,
     "at least 2 output classes"),
    ("lrp.metrics.random_logit_check", "negative seed", logit(seed=-3), ValueError, "seed"),
    ("lrp.metrics.random_logit_check", "seed a string", logit(seed="0"), TypeError, "seed"),
    ("lrp.metrics.random_logit_check", "unknown similarity", logit(similarity="cosine"),
     ValueError, "similarity must be one of"),
    ("lrp.metrics.random_logit_check", "ssim on tabular input", logit(similarity="ssim"),
     ValueError, "compares images"),
    ("lrp.metrics.random_logit_check", "absolute not a bool", logit(absolute="yes"),
     TypeError, "absolute"),
    ("lrp.metrics.random_logit_check", "batch_size negative", logit(batch_size=-1),
     ValueError, "batch_size"),

    # ---- lrp.metrics.spearman
    ("lrp.metrics.spearman", "one map without batch axis",
     lambda: M.spearman(np.ones(4), np.ones(4)), ValueError, "batch"),
    ("lrp.metrics.spearman", "shapes differ", lambda: M.spearman(np.ones((2, 3)),
                                                                  np.ones((2, 4))),
     ValueError, "same shape"),
    ("lrp.metrics.spearman", "NaN in a", lambda: M.spearman(_nan(np.ones((2, 3))),
                                                             np.ones((2, 3))),
     ValueError, "NaN"),
    ("lrp.metrics.spearman", "a string", lambda: M.spearman("a", np.ones((2, 3))), TypeError,
     "tensor or an array"),
    ("lrp.metrics.spearman", "complex maps",
     lambda: M.spearman(np.ones((2, 3)) * 1j, np.ones((2, 3))), TypeError, "real numbers"),
    ("lrp.metrics.spearman", "no samples",
     lambda: M.spearman(np.ones((0, 3)), np.ones((0, 3))), ValueError, "no samples"),
    ("lrp.metrics.spearman", "boolean maps",
     lambda: M.spearman(np.ones((2, 3), bool), np.ones((2, 3))), TypeError, "real numbers"),

    # ---- lrp.metrics.ssim
    ("lrp.metrics.ssim", "even window", lambda: M.ssim(A, A, window=4), ValueError, "odd"),
    ("lrp.metrics.ssim", "window 1", lambda: M.ssim(A, A, window=1), ValueError, "window"),
    ("lrp.metrics.ssim", "window a float", lambda: M.ssim(A, A, window=7.0), TypeError,
     "window must be an integer"),
    ("lrp.metrics.ssim", "data_range 0", lambda: M.ssim(A, A, data_range=0), ValueError,
     "data_range must be >"),
    ("lrp.metrics.ssim", "data_range NaN", lambda: M.ssim(A, A, data_range=float("nan")),
     ValueError, "data_range"),
    ("lrp.metrics.ssim", "data_range a string", lambda: M.ssim(A, A, data_range="1"),
     TypeError, "data_range"),
    ("lrp.metrics.ssim", "tabular maps", lambda: M.ssim(np.ones((2, 9)), np.ones((2, 9))),
     ValueError, "2-d maps"),
    ("lrp.metrics.ssim", "maps smaller than the window",
     lambda: M.ssim(np.ones((2, 5, 5)), np.ones((2, 5, 5))), ValueError,
     "smaller than the window"),
    ("lrp.metrics.ssim", "shapes differ", lambda: M.ssim(A, A[:, :7]), ValueError,
     "same shape"),
    ("lrp.metrics.ssim", "infinite values", lambda: M.ssim(A * np.inf, A), ValueError,
     "NaN or infinite"),

    # ---- lrp.metrics.parametrized_nodes / randomized_copies
    ("lrp.metrics.parametrized_nodes", "a torch module, not a graph",
     lambda: M.parametrized_nodes(MLP), TypeError, "neuralize"),
    ("lrp.metrics.randomized_copies", "a torch module, not a graph",
     lambda: M.randomized_copies(MLP), TypeError, "neuralize"),
    ("lrp.metrics.randomized_copies", "unknown cascade",
     lambda: M.randomized_copies(G, cascade="random"), ValueError, "cascade"),
    ("lrp.metrics.randomized_copies", "seed a float",
     lambda: M.randomized_copies(G, seed=0.5), TypeError, "seed"),
    ("lrp.metrics.randomized_copies", "a graph without layers",
     lambda: M.randomized_copies(G0), ValueError, "no parametrized node"),

    # ---- lrp.plot.randomization_curves
    ("lrp.plot.randomization_curves", "a list of results", curves([RES_C]), TypeError,
     "RandomizationResult"),
    ("lrp.plot.randomization_curves", "an empty dict", curves({}), ValueError, "empty"),
    ("lrp.plot.randomization_curves", "a key that is not a name", curves({1: RES_C}),
     TypeError, "names"),
    ("lrp.plot.randomization_curves", "a value that is not a result",
     curves({"gradient": RES_C.scores}), TypeError, "must be a RandomizationResult"),
    ("lrp.plot.randomization_curves", "unknown score", curves(score="pearson"), ValueError,
     "score must be one of"),
    ("lrp.plot.randomization_curves", "ssim of a tabular result", curves(RES, score="ssim"),
     ValueError, "no 'ssim' scores"),
    ("lrp.plot.randomization_curves", "results measured differently",
     curves({"a": RES_C, "b": RES_I}), ValueError, "measured differently"),
    ("lrp.plot.randomization_curves", "unknown band", curves(band="std"), ValueError,
     "band must be one of"),
    ("lrp.plot.randomization_curves", "alpha above 1", curves(alpha=2.0), ValueError,
     "opacity"),
    ("lrp.plot.randomization_curves", "title a number", curves(title=3), TypeError, "title"),
]
