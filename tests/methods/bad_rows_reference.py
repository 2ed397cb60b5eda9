"""Bad-input rows of lrp.deeplift, lrp.competitive_gradient_x_input (lrp.methods.reference)
and the contrastive target lrp.Versus (lrp.targets), for tests/test_bad_input_table.py:
``(entry point, what is wrong, zero-argument call, exception class, words the message must
contain)``; the tests at the bottom run every row (``pytest tests/methods/bad_rows_reference.py``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import lrp
import neon
from lrp.methods import reference
from lrp.methods.reference import competitive_gradient_x_input, deeplift
from lrp.targets import Versus
from neon.graph import GraphInputError

torch.set_num_threads(1)
F64 = torch.float64


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).double().eval()


class _TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.fa, self.fb, self.fc = nn.Linear(3, 4), nn.Linear(2, 4), nn.Linear(8, 2)

    def forward(self, a, b):
        return self.fc(torch.cat([torch.relu(self.fa(a)), torch.relu(self.fb(b))], 1))


def _kmeans_graph():
    from sklearn.cluster import KMeans

    data = np.random.default_rng(0).normal(size=(30, 3))
    return neon.neuralize(KMeans(2, n_init=2, random_state=0).fit(data), data)


def _labelled():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    data = rng.normal(size=(30, 4))
    labels = np.array(["ant", "bee", "cat"])[rng.integers(0, 3, 30)]
    return neon.neuralize(LogisticRegression().fit(data, labels), data)


MLP = _mlp()
G = neon.neuralize(MLP, torch.randn(1, 4, dtype=F64))
ONE = neon.neuralize(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1)).double(),
                     torch.randn(1, 4, dtype=F64))
TWO = neon.neuralize(_TwoInputs().double(), (torch.randn(1, 3, dtype=F64),
                                             torch.randn(1, 2, dtype=F64)))
X = torch.randn(2, 4, dtype=F64)
XA, XB = torch.randn(2, 3, dtype=F64), torch.randn(2, 2, dtype=F64)
BG = torch.randn(3, 4, dtype=F64)
cgi = competitive_gradient_x_input

# (entry point, what is wrong, call, exception, words the message must contain)
ROWS = [
    # ---- lrp.deeplift
    ("lrp.deeplift", "a torch module instead of a graph", lambda: deeplift(MLP, X), TypeError,
     "neon.neuralize"),
    ("lrp.deeplift", "batch_size=0", lambda: deeplift(G, X, batch_size=0), ValueError,
     "positive integer"),
    ("lrp.deeplift", "return_all not a bool", lambda: deeplift(G, X, return_all=1), TypeError,
     "return_all must be True or False"),
    ("lrp.deeplift", "unknown max-pooling rule", lambda: deeplift(G, X, maxpool="average"),
     ValueError, "'conserving'"),
    ("lrp.deeplift", "target out of range", lambda: deeplift(G, X, 7), lrp.TargetError,
     "out of range"),
    ("lrp.deeplift", "baseline of the wrong shape",
     lambda: deeplift(G, X, baseline=torch.zeros(3)), ValueError, "does not broadcast"),
    ("lrp.deeplift", "baseline with NaN", lambda: deeplift(G, X, baseline=math.nan),
     ValueError, "NaN"),
    ("lrp.deeplift", "baseline and background both",
     lambda: deeplift(G, X, baseline=1.0, background=BG), ValueError, "not both"),
    ("lrp.deeplift", "background a list of numbers",
     lambda: deeplift(G, X, background=[[0.0] * 4]), TypeError,
     "background must be a tensor or an array"),
    ("lrp.deeplift", "background of the wrong width",
     lambda: deeplift(G, X, background=torch.zeros(3, 5, dtype=F64)), GraphInputError,
     "background (the reference inputs"),
    ("lrp.deeplift", "background without its batch axis",
     lambda: deeplift(G, X, background=torch.zeros(4, dtype=F64)), GraphInputError,
     "batch axis"),
    ("lrp.deeplift", "background with NaN",
     lambda: deeplift(G, X, background=torch.full((3, 4), math.nan, dtype=F64)),
     GraphInputError, "NaN"),
    ("lrp.deeplift", "an empty background",
     lambda: deeplift(G, X, background=torch.zeros(0, 4, dtype=F64)), ValueError, "B ≥ 1"),
    ("lrp.deeplift", "one background for a two-input graph",
     lambda: deeplift(TWO, (XA, XB), background=torch.zeros(3, 3, dtype=F64)), ValueError,
     "one (B, ...) batch per input"),
    ("lrp.deeplift", "backgrounds of different sizes",
     lambda: deeplift(TWO, (XA, XB), background=(torch.zeros(3, 3, dtype=F64),
                                                 torch.zeros(2, 2, dtype=F64))),
     ValueError, "same number B"),
    ("lrp.deeplift", "a graph with an op it has no rule for",
     lambda: deeplift(_kmeans_graph(), X[:, :3]), lrp.RuleError, "lrp.integrated_gradients"),
    # ---- lrp.competitive_gradient_x_input
    ("lrp.competitive_gradient_x_input", "a torch module instead of a graph",
     lambda: cgi(MLP, X), TypeError, "neon.neuralize"),
    ("lrp.competitive_gradient_x_input", "batch_size=0", lambda: cgi(G, X, batch_size=0),
     ValueError, "positive integer"),
    ("lrp.competitive_gradient_x_input", "return_all not a bool",
     lambda: cgi(G, X, return_all="yes"), TypeError, "return_all must be True or False"),
    ("lrp.competitive_gradient_x_input", "a float mask",
     lambda: cgi(G, X, torch.full((2, 3), 0.5, dtype=F64)), lrp.TargetError,
     "one class per sample"),
    ("lrp.competitive_gradient_x_input", "a Versus target",
     lambda: cgi(G, X, Versus(0)), lrp.TargetError, "not a mask"),
    ("lrp.competitive_gradient_x_input", "a graph with one output",
     lambda: cgi(ONE, X), ValueError, "C ≥ 2"),
    # ---- lrp.Versus
    ("lrp.Versus", "unknown rival mode", lambda: Versus(0, others="median"), lrp.TargetError,
     "'mean', 'max'"),
    ("lrp.Versus", "a label as others without a list", lambda: Versus("ant", others="bee"),
     lrp.TargetError, "others=['bee']"),
    ("lrp.Versus", "a number as others", lambda: Versus(0, others=2), lrp.TargetError,
     "pass a list"),
    ("lrp.Versus", "no rivals listed", lambda: Versus(0, others=[]), lrp.TargetError,
     "non-empty"),
    ("lrp.Versus", "a callable class", lambda: Versus(lambda out: 0), lrp.TargetError,
     "not a callable"),
    ("lrp.Versus", "a Versus of a Versus", lambda: Versus(Versus(0)), lrp.TargetError,
     "not another Versus"),
    ("lrp.Versus", "a 2-d target", lambda: Versus(np.zeros((2, 3))), lrp.TargetError,
     "one class per sample"),
    ("lrp.Versus", "class out of range",
     lambda: lrp.gradient(G, X, target=Versus(5)), lrp.TargetError, "out of range"),
    ("lrp.Versus", "rival out of range",
     lambda: lrp.gradient(G, X, target=Versus(0, others=[7])), lrp.TargetError,
     "out of range"),
    ("lrp.Versus", "rivals that are only the class itself",
     lambda: lrp.gradient(G, X, target=Versus(0, others=[0])), lrp.TargetError, "no rival"),
    ("lrp.Versus", "float classes", lambda: lrp.gradient(G, X, target=Versus(0.5)),
     lrp.TargetError, "not integers"),
    ("lrp.Versus", "float rivals (a mask)",
     lambda: lrp.gradient(G, X, target=Versus(0, others=[0.5, 1.0])), lrp.TargetError,
     "must name classes"),
    ("lrp.Versus", "a label the classifier does not have",
     lambda: lrp.gradient(_labelled(), X.numpy(), target=Versus("dog")), lrp.TargetError,
     "not among"),
    ("lrp.Versus", "a label on a graph without labels",
     lambda: lrp.gradient(G, X, target=Versus("cat")), lrp.TargetError, "no output labels"),
    ("lrp.Versus", "classes of the wrong count",
     lambda: lrp.gradient(G, X, target=Versus([0, 1, 2])), lrp.TargetError,
     "one class per sample"),
    ("lrp.Versus", "classes of the wrong count, chunked",
     lambda: lrp.gradient(G, X, target=Versus([0, 1, 2]), batch_size=1), lrp.TargetError,
     "one target per sample"),
    ("lrp.Versus", "a graph with one output",
     lambda: lrp.gradient(ONE, X, target=Versus(0)), lrp.TargetError, "C ≥ 2"),
    ("lrp.Versus", "a Series with its own index",
     lambda: lrp.Versus(__import__("pandas").Series([0, 1], index=[5, 3])), lrp.TargetError,
     "align it"),
]


@pytest.mark.parametrize("entry,what,call,exc,words", ROWS,
                         ids=[f"{r[0]}: {r[1]}" for r in ROWS])
def test_row(entry, what, call, exc, words):
    with pytest.raises(exc) as info:
        call()
    assert words in str(info.value), f"{entry} ({what}): {info.value}"


def test_every_public_function_has_rows():
    names = {r[0].split(".")[-1] for r in ROWS}
    public = set(reference.__all__) - {"MAXPOOL_RULES", "RESCALE_EPS"}
    assert public | {"Versus"} <= names, (public | {"Versus"}) - names
