"""Bad-input rows of lrp.metrics.pixel_flipping, random_relevance, removal_bounds and
lrp.plot.removal_curves, for tests/test_bad_input_table.py: ``(entry point, what is wrong,
zero-argument call, exception class, words the message must contain)``. The graphs are tiny:
a tabular MLP (4 features), an image CNN (2, 4, 4) and a graph of two inputs."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

import lrp
import lrp.metrics
import lrp.plot
import neon
from lrp.metrics import pixel_flipping, random_relevance, removal_bounds

F64 = torch.float64


def _graphs():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).double().eval()
    cnn = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(3 * 4 * 4, 3)).double().eval()
    return (mlp, neon.neuralize(mlp, torch.randn(1, 4, dtype=F64)),
            neon.neuralize(cnn, torch.randn(1, 2, 4, 4, dtype=F64)))


class _TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.out = nn.Linear(4, 5), nn.Linear(4, 5), nn.Linear(5, 2)

    def forward(self, a, b):
        return self.out(torch.relu(self.a(a) + self.b(b)))


MLP, G, C = _graphs()
ONES = neon.neuralize(nn.Linear(4, 2, dtype=F64).requires_grad_(False)
                      .apply(lambda m: nn.init.ones_(m.weight)), torch.zeros(1, 4, dtype=F64))
X = torch.randn(3, 4, dtype=F64)
R = torch.rand(3, 4, dtype=F64)
XC = torch.rand(2, 2, 4, 4, dtype=F64)
RC = torch.rand(2, 2, 4, 4, dtype=F64)


def pf(**kw):
    graph, x, rel = kw.pop("graph", G), kw.pop("x", X), kw.pop("relevance", R)
    return lambda: pixel_flipping(graph, x, rel, **kw)


def _two_inputs():
    net = _TwoInputs().double().eval()
    graph = neon.neuralize(net, (X[:1], X[:1]))
    return pixel_flipping(graph, (X, X), (R, R))


def _result(**kw):
    kw.setdefault("steps", 2)
    kw.setdefault("baseline", 0.0)
    return pixel_flipping(G, X, R, **kw)


def _all_zero():
    zero = neon.neuralize(nn.Linear(4, 2, bias=False, dtype=F64).requires_grad_(False)
                          .apply(lambda m: nn.init.zeros_(m.weight)),
                          torch.zeros(1, 4, dtype=F64))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = pixel_flipping(zero, X, R, steps=2, baseline=0.0)
    return lrp.plot.removal_curves(result)


ROWS = [
    # ---- pixel_flipping: graph, x, target
    ("lrp.metrics.pixel_flipping", "a torch module instead of a graph",
     pf(graph=MLP), TypeError, "neuralize"),
    ("lrp.metrics.pixel_flipping", "empty batch", pf(x=X[:0], relevance=R[:0]), ValueError,
     "no samples"),
    ("lrp.metrics.pixel_flipping", "a graph with two inputs", _two_inputs, ValueError,
     "one input"),
    ("lrp.metrics.pixel_flipping", "target out of range", pf(target=7), lrp.TargetError,
     "out of range"),
    # ---- relevance
    ("lrp.metrics.pixel_flipping", "relevance of the wrong shape",
     pf(relevance=R[:, :3]), ValueError, "shape"),
    ("lrp.metrics.pixel_flipping", "relevance with NaN",
     pf(relevance=torch.where(R > 0.5, math.nan, R)), ValueError, "NaN"),
    ("lrp.metrics.pixel_flipping", "relevance an unknown method name",
     pf(relevance="saliency"), ValueError, "not a method of lrp"),
    ("lrp.metrics.pixel_flipping", "relevance a number", pf(relevance=1.0), TypeError,
     "relevance"),
    # ---- order, steps
    ("lrp.metrics.pixel_flipping", "order in capitals", pf(order="MoRF"), ValueError,
     "order must be one of"),
    ("lrp.metrics.pixel_flipping", "order None", pf(order=None), ValueError, "order"),
    ("lrp.metrics.pixel_flipping", "steps 0", pf(steps=0), ValueError, "steps must be"),
    ("lrp.metrics.pixel_flipping", "steps a float", pf(steps=2.0), TypeError,
     "steps must be an integer"),
    ("lrp.metrics.pixel_flipping", "more steps than features", pf(steps=5), ValueError,
     "steps ≤ 4"),
    ("lrp.metrics.pixel_flipping", "more steps than patches",
     pf(graph=C, x=XC, relevance=RC, region=2, steps=5), ValueError, "patches"),
    # ---- baseline, data
    ("lrp.metrics.pixel_flipping", "unknown baseline name", pf(baseline="black"), ValueError,
     "baseline must be one of"),
    ("lrp.metrics.pixel_flipping", "baseline a bool", pf(baseline=True), TypeError,
     "baseline must be"),
    ("lrp.metrics.pixel_flipping", "baseline None", pf(baseline=None), TypeError,
     "baseline must be"),
    ("lrp.metrics.pixel_flipping", "baseline NaN", pf(baseline=math.nan), ValueError, "NaN"),
    ("lrp.metrics.pixel_flipping", "baseline a list", pf(baseline=[0.0] * 4), TypeError,
     "baseline must be"),
    ("lrp.metrics.pixel_flipping", "baseline of the wrong shape",
     pf(baseline=np.zeros(3)), ValueError, "does not broadcast"),
    ("lrp.metrics.pixel_flipping", "baseline tensor with inf",
     pf(baseline=torch.full((4,), math.inf, dtype=F64)), ValueError, "infinite"),
    ("lrp.metrics.pixel_flipping", "resample without data", pf(baseline="resample"),
     ValueError, "pass data="),
    ("lrp.metrics.pixel_flipping", "mean of a one-sample batch",
     pf(x=X[:1], relevance=R[:1]), ValueError, "one sample"),
    ("lrp.metrics.pixel_flipping", "uniform of a one-sample batch",
     pf(x=X[:1], relevance=R[:1], baseline="uniform"), ValueError, "pass data="),
    ("lrp.metrics.pixel_flipping", "data with a constant baseline",
     pf(baseline=0.0, data=X), ValueError, "drop data"),
    ("lrp.metrics.pixel_flipping", "data of the wrong width",
     pf(data=np.zeros((5, 3))), ValueError, "data must be samples shaped like x"),
    ("lrp.metrics.pixel_flipping", "data with NaN",
     pf(data=np.full((5, 4), np.nan)), ValueError, "data"),
    ("lrp.metrics.pixel_flipping", "empty data", pf(data=np.zeros((0, 4))), ValueError,
     "data"),
    ("lrp.metrics.pixel_flipping", "a baseline that overflows the graph",
     pf(graph=ONES, baseline=1e308), ValueError, "NaN or infinite"),
    # ---- region
    ("lrp.metrics.pixel_flipping", "region for tabular samples", pf(region=2), ValueError,
     "tabular"),
    ("lrp.metrics.pixel_flipping", "region 0", pf(graph=C, x=XC, relevance=RC, region=0),
     ValueError, "positive integer"),
    ("lrp.metrics.pixel_flipping", "region with an entry per channel too",
     pf(graph=C, x=XC, relevance=RC, region=(2, 2, 2)), ValueError, "one entry per spatial"),
    ("lrp.metrics.pixel_flipping", "region larger than the image",
     pf(graph=C, x=XC, relevance=RC, region=5), ValueError, "larger than"),
    ("lrp.metrics.pixel_flipping", "region a float", pf(graph=C, x=XC, relevance=RC,
                                                         region=2.0), TypeError, "region"),
    ("lrp.metrics.pixel_flipping", "region with a float entry",
     pf(graph=C, x=XC, relevance=RC, region=(2, 1.5)), ValueError, "positive integer"),
    # ---- seed, batch_size
    ("lrp.metrics.pixel_flipping", "negative seed", pf(baseline="uniform", seed=-1),
     ValueError, "non-negative"),
    ("lrp.metrics.pixel_flipping", "seed a float", pf(baseline="uniform", seed=0.5),
     TypeError, "seed"),
    ("lrp.metrics.pixel_flipping", "batch_size 0", pf(batch_size=0), ValueError,
     "batch_size must be a positive integer"),
    ("lrp.metrics.pixel_flipping", "batch_size a float", pf(batch_size=2.5), ValueError,
     "batch_size"),
    # ---- the result
    ("lrp.metrics.RemovalResult.normalized", "an order that was not measured",
     lambda: _result().normalized("lerf"), ValueError, "was not measured"),
    ("lrp.metrics.RemovalResult.normalized", "no order for a result of both",
     lambda: _result(order="both").normalized(), ValueError, "both orders"),
    # ---- random_relevance, removal_bounds
    ("lrp.metrics.random_relevance", "seed a string", lambda: random_relevance(X, "0"),
     TypeError, "seed"),
    ("lrp.metrics.random_relevance", "x of strings",
     lambda: random_relevance(np.array([["a", "b"]])), TypeError, "numeric"),
    ("lrp.metrics.removal_bounds", "more steps than units", lambda: removal_bounds(4, 5),
     ValueError, "steps ≤ 4"),
    ("lrp.metrics.removal_bounds", "no units", lambda: removal_bounds(0, 1), ValueError,
     "units must be"),
    # ---- removal_curves
    ("lrp.plot.removal_curves", "empty dict", lambda: lrp.plot.removal_curves({}),
     ValueError, "empty"),
    ("lrp.plot.removal_curves", "not a result", lambda: lrp.plot.removal_curves({"a": R}),
     TypeError, "RemovalResult"),
    ("lrp.plot.removal_curves", "a list of results",
     lambda: lrp.plot.removal_curves([_result()]), TypeError, "dict"),
    ("lrp.plot.removal_curves", "a key that is not a name",
     lambda: lrp.plot.removal_curves({1: _result()}), TypeError, "names"),
    ("lrp.plot.removal_curves", "results under different baselines",
     lambda: lrp.plot.removal_curves({"a": _result(), "b": _result(baseline=1.0)}),
     ValueError, "same settings"),
    ("lrp.plot.removal_curves", "results with different steps",
     lambda: lrp.plot.removal_curves({"a": _result(), "b": _result(steps=4)}), ValueError,
     "same steps"),
    ("lrp.plot.removal_curves", "an order that was not measured",
     lambda: lrp.plot.removal_curves(_result(), orders="lerf"), ValueError,
     "order='lerf' or 'both'"),
    ("lrp.plot.removal_curves", "an unknown order",
     lambda: lrp.plot.removal_curves(_result(), orders="up"), ValueError, "orders"),
    ("lrp.plot.removal_curves", "orders as a number",
     lambda: lrp.plot.removal_curves(_result(), orders=1), TypeError, "orders"),
    ("lrp.plot.removal_curves", "an unknown legend place",
     lambda: lrp.plot.removal_curves(_result(), legend="left"), ValueError, "legend"),
    ("lrp.plot.removal_curves", "unknown band", lambda: lrp.plot.removal_curves(
        _result(), band="iqr"), ValueError, "band must be one of"),
    ("lrp.plot.removal_curves", "normalized not a bool", lambda: lrp.plot.removal_curves(
        _result(), normalized="yes"), TypeError, "True or False"),
    ("lrp.plot.removal_curves", "alpha above 1", lambda: lrp.plot.removal_curves(
        _result(), alpha=2), ValueError, "opacity"),
    ("lrp.plot.removal_curves", "title a number", lambda: lrp.plot.removal_curves(
        _result(), title=3), TypeError, "title"),
    ("lrp.plot.removal_curves", "no defined normalized curve", _all_zero, ValueError,
     "normalized=False"),
]
