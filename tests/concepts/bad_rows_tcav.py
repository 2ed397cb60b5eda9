"""Bad-input rows of concepts.tcav, concepts.TCAVResult, concepts.adjust_p_values and
concepts.plot.tcav, for tests/test_bad_input_table.py: ``(entry point, what is wrong,
zero-argument call, exception class, words the message must contain)``. The graph is a tiny
MLP with named layers (fc1, relu, fc2; 4 features, 3 classes); k-means and one-class SVM
graphs are built inside the calls that need them."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

import concepts
import concepts.plot
import neon
from concepts import CAVError
from lrp import TargetError
from neon.graph import GraphInputError

F64 = torch.float64

torch.manual_seed(0)
_NET = nn.Sequential(OrderedDict(fc1=nn.Linear(4, 5), relu=nn.ReLU(),
                                 fc2=nn.Linear(5, 3))).double()
G = neon.neuralize(_NET, torch.zeros(1, 4, dtype=F64))
_g = torch.Generator().manual_seed(0)
X = torch.randn(6, 4, generator=_g, dtype=F64)
C = torch.randn(8, 4, generator=_g, dtype=F64) + 1.0
N = [torch.randn(8, 4, generator=_g, dtype=F64) for _ in range(3)]
POOL = torch.randn(40, 4, generator=_g, dtype=F64)


def run(**kw):
    args = dict(graph=G, inputs=X, concepts={"c": C}, node="fc1", target=0, randoms=N,
                learner="mean_difference")
    args.update(kw)
    return concepts.tcav(args.pop("graph"), args.pop("inputs"), args.pop("concepts"),
                         args.pop("node"), **args)


def _kmeans_graph():
    from sklearn.cluster import KMeans

    data = np.random.default_rng(0).normal(size=(40, 4))
    return neon.neuralize(KMeans(2, n_init=2, random_state=0).fit(data), data)


def _svm_graph():
    from sklearn.svm import OneClassSVM

    data = np.random.default_rng(0).normal(size=(40, 4))
    return neon.neuralize(OneClassSVM(gamma=0.3).fit(data), data)


def _regressor_graph():
    from sklearn.linear_model import LinearRegression

    data = np.random.default_rng(0).normal(size=(40, 4))
    return neon.neuralize(LinearRegression().fit(data, np.c_[data[:, 0], data[:, 1]]), data)


def _result():
    return run()


def _empty_plot():
    return concepts.plot.tcav(concepts.TCAVResult())


ROWS = [
    ("concepts.tcav", "a torch module instead of a graph", lambda: run(graph=_NET), TypeError,
     "neuralize"),
    ("concepts.tcav", "unknown node (near names listed)", lambda: run(node="fc3"), KeyError,
     "close names: fc2, fc1"),
    ("concepts.tcav", "node given by index", lambda: run(node=0), TypeError, "string"),
    ("concepts.tcav", "the same node twice", lambda: run(node=["fc1", "fc1"]), ValueError,
     "name each node once"),
    ("concepts.tcav", "concept set of the wrong width",
     lambda: run(concepts={"wide": torch.zeros(8, 5, dtype=F64)}), GraphInputError,
     "concepts['wide']: input 'input_1': expected 4 features"),
    ("concepts.tcav", "too few examples for a CAV",
     lambda: run(concepts={"tiny": C[:2]}), CAVError, "needs at least 3"),
    ("concepts.tcav", "a random set equal to the concept set",
     lambda: run(randoms=[C, N[0], N[1]]), CAVError, "equals concept set 'c'"),
    ("concepts.tcav", "empty concepts dict", lambda: run(concepts={}), ValueError,
     "concepts is empty"),
    ("concepts.tcav", "concepts as a list", lambda: run(concepts=[C]), TypeError,
     "dict name → example set"),
    ("concepts.tcav", "alpha outside (0, 1)", lambda: run(alpha=1.5), ValueError,
     "alpha must be a significance level in (0, 1)"),
    ("concepts.tcav", "alpha 0", lambda: run(alpha=0), ValueError, "(0, 1)"),
    ("concepts.tcav", "unknown correction", lambda: run(correction="fdr"), ValueError,
     "'holm', 'bonferroni', None"),
    ("concepts.tcav", "unknown test", lambda: run(test="bootstrap"), ValueError,
     "'runs', 'sets'"),
    ("concepts.tcav", "runs 0", lambda: run(runs=0), ValueError, "runs must be ≥ 2"),
    ("concepts.tcav", "more runs than random sets", lambda: run(runs=5), ValueError,
     "needs 5 random sets"),
    ("concepts.tcav", "randoms a count without random_pool", lambda: run(randoms=10),
     ValueError, "give random_pool"),
    ("concepts.tcav", "only two random sets", lambda: run(randoms=N[:2]), ValueError,
     "at least 3 random sets"),
    ("concepts.tcav", "no random sets at all", lambda: run(randoms=None), ValueError,
     "random example sets"),
    ("concepts.tcav", "random_size larger than the pool",
     lambda: run(randoms=4, random_pool=POOL, random_size=50), ValueError, "exceeds the 40"),
    ("concepts.tcav", "random_pool beside a list of sets",
     lambda: run(random_pool=POOL), ValueError, "leave them out"),
    ("concepts.tcav", "unknown learner", lambda: run(learner="svm"), ValueError,
     "'sgd', 'logistic'"),
    ("concepts.tcav", "unknown output", lambda: run(output="softmax"), ValueError,
     "'logit', 'log_softmax'"),
    ("concepts.tcav", "log_softmax of a one-output graph",
     lambda: run(graph=_svm_graph(), inputs=X.numpy(), concepts={"c": C.numpy()}, node="x",
                 target=None, randoms=[n.numpy() for n in N], output="log_softmax"),
     ValueError, "C ≥ 2 classes"),
    ("concepts.tcav", "target not a label of a labelled graph",
     lambda: run(graph=_kmeans_graph(), inputs=X.numpy(), concepts={"c": C.numpy()},
                 node="x", target=5, randoms=[n.numpy() for n in N]),
     TargetError, "not among this graph's output labels"),
    ("concepts.tcav", "target=None on a graph that explains all its outputs",
     lambda: run(graph=_regressor_graph(), inputs=X.numpy(), concepts={"c": C.numpy()},
                 node="x", target=None, randoms=[n.numpy() for n in N]),
     TargetError, "one output per hypothesis"),
    ("concepts.tcav", "one target per sample", lambda: run(target=torch.zeros(6).long()),
     TargetError, "one target per hypothesis"),
    ("concepts.tcav", "target column out of range", lambda: run(target=7), TargetError,
     "out of range"),
    ("concepts.tcav", "the same target twice", lambda: run(target=[1, 1]), TargetError,
     "twice"),
    ("concepts.tcav", "held_out 1", lambda: run(held_out=1.0), ValueError, "held_out"),
    ("concepts.tcav", "relative with one concept", lambda: run(relative=True), ValueError,
     "at least 2 concepts"),
    ("concepts.tcav", "relative not a bool", lambda: run(relative="yes"), TypeError,
     "True or False"),
    ("concepts.tcav", "seed a float", lambda: run(seed=1.5), TypeError, "seed must be an "
     "integer"),
    ("concepts.tcav", "inputs with NaN", lambda: run(inputs=torch.full((2, 4), float("nan"),
                                                                      dtype=F64)),
     GraphInputError, "inputs: "),
    ("concepts.TCAVResult.table", "sort by an unknown key",
     lambda: _result().table(sort="pvalue"), ValueError, "row keys"),
    ("concepts.TCAVResult.runs_of", "unknown concept", lambda: _result().runs_of("dog"),
     KeyError, "concepts: 'c'"),
    ("concepts.adjust_p_values", "a p-value above 1",
     lambda: concepts.adjust_p_values([0.2, 1.5]), ValueError, "[0, 1]"),
    ("concepts.adjust_p_values", "unknown method",
     lambda: concepts.adjust_p_values([0.2], method="fdr"), ValueError, "'holm'"),
    ("concepts.plot.tcav", "an empty result", _empty_plot, ValueError, "no rows"),
    ("concepts.plot.tcav", "not a TCAV result", lambda: concepts.plot.tcav({"rows": []}),
     TypeError, "TCAVResult"),
]
