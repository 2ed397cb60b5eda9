"""The bad-input table: every public entry point, the bad inputs it must refuse, and the words
its error must contain. A new public entry point joins the table (the completeness test at the
bottom fails until it does)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import lrp
import neon
import neon.testing
from lrp import plot, rules, select
from neon.graph import GraphInputError

torch.set_num_threads(1)
F64 = torch.float64


def _mlp_graph():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).double()
    return neon.neuralize(net, torch.randn(1, 4, dtype=F64))


def _cnn_graph():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(3 * 4 * 4, 3)).double()
    return neon.neuralize(net, torch.randn(1, 2, 4, 4, dtype=F64))


def _kmeans():
    from sklearn.cluster import KMeans

    X = np.random.default_rng(0).normal(size=(40, 3))
    return KMeans(2, n_init=2, random_state=0).fit(X), X


def _ocsvm():
    from sklearn.svm import OneClassSVM

    X = np.random.default_rng(0).normal(size=(30, 3))
    return OneClassSVM(gamma=0.5, nu=0.2).fit(X), X


def _plain_pool():
    """A one-class SVM graph without reference data: its pool is a SoftMin that reads only
    the distances."""
    return neon.neuralize(_ocsvm()[0])


G, C = _mlp_graph(), _cnn_graph()
X = torch.randn(2, 4, dtype=F64)
XC = torch.rand(2, 2, 4, 4, dtype=F64)
R = np.random.default_rng(0).normal(size=(4, 4))

# (entry point, what is wrong, call, exception, words the message must contain)
TABLE = [
    # ---- neon.neuralize / from_torch
    ("neon.neuralize", "torch module without example", lambda: neon.neuralize(nn.Linear(2, 2)),
     TypeError, "example input"),
    ("neon.neuralize", "unsupported estimator",
     lambda: neon.neuralize(__import__("sklearn.tree", fromlist=["x"]).DecisionTreeClassifier()),
     TypeError, "cannot be neuralized"),
    ("neon.neuralize", "unfitted estimator",
     lambda: neon.neuralize(__import__("sklearn.cluster", fromlist=["x"]).KMeans(2)),
     Exception, "not fitted"),
    ("neon.neuralize", "reference data with NaN",
     lambda: neon.neuralize(_kmeans()[0], np.full((3, 3), np.nan)), ValueError, "NaN"),
    ("neon.neuralize", "reference data of the wrong width",
     lambda: neon.neuralize(_kmeans()[0], np.zeros((3, 5))), ValueError, "5 features"),
    ("neon.neuralize", "negative beta", lambda: neon.neuralize(_kmeans()[0], beta=-1.0),
     ValueError, "beta must be positive"),
    ("neon.from_torch", "not a module", lambda: neon.from_torch("net", X), TypeError,
     "nn.Module"),
    ("neon.from_torch", "integer example", lambda: neon.from_torch(nn.Linear(4, 2),
                                                                    torch.ones(1, 4).long()),
     TypeError, "floating-point example"),
    ("neon.from_torch", "example without batch axis",
     lambda: neon.from_torch(nn.Sequential(nn.Conv2d(2, 3, 3)), torch.rand(2, 4, 4)),
     neon.TraceError, "batch axis"),
    ("neon.from_torch", "unsupported module",
     lambda: neon.from_torch(nn.Sequential(nn.LocalResponseNorm(2)), torch.rand(1, 3, 4)),
     neon.UnsupportedOpError, "not supported"),
    ("neon.register_converter", "not a class or function", lambda: neon.register_converter(3),
     TypeError, "module class"),
    ("neon.register_converter", "a module instance",
     lambda: neon.register_converter(nn.ReLU()), TypeError, "not an instance"),
    ("neon.register_neuralizer", "no keys", lambda: neon.register_neuralizer(), TypeError,
     "at least one"),
    ("neon.register_neuralizer", "bad key", lambda: neon.register_neuralizer(3), TypeError,
     "classes or class names"),
    ("neon.Graph.declare", "unknown fact", lambda: G.copy().declare(labels=[1]), TypeError,
     "unknown fact"),
    ("neon.Graph.declare", "feature names of the wrong length",
     lambda: G.copy().declare(feature_names=["a"]), ValueError, "1 feature names"),
    # ---- graph(x)
    ("neon.Graph.node_of", "a name no node or module has", lambda: C.node_of("conv"),
     KeyError, "no node or source module named 'conv'"),
    ("neon.Graph.node_of", "a node index instead of a name", lambda: C.node_of(0), TypeError,
     "string"),
    ("neon.Graph", "NaN input", lambda: G(torch.full((2, 4), math.nan, dtype=F64)),
     GraphInputError, "NaN"),
    ("neon.Graph", "wrong width", lambda: G(torch.zeros(2, 5, dtype=F64)), GraphInputError,
     "expected 4 features, got 5"),
    ("neon.Graph", "missing batch axis", lambda: G(torch.zeros(4, dtype=F64)), GraphInputError,
     "batch axis"),
    ("neon.Graph", "narrowing dtype", lambda: G.copy().to(torch.float32)(X), GraphInputError,
     "lose precision"),
    ("neon.Graph", "complex input", lambda: G(np.ones((2, 4), dtype=complex)), GraphInputError,
     "complex"),
    ("neon.Graph", "boolean input", lambda: G(np.ones((2, 4), dtype=bool)), GraphInputError,
     "boolean"),
    ("neon.Graph", "sparse input",
     lambda: G(__import__("scipy.sparse", fromlist=["x"]).csr_matrix(np.ones((2, 4)))),
     GraphInputError, "sparse"),
    ("neon.Graph", "ragged rows", lambda: G([[0.0] * 4, [0.0] * 3]), GraphInputError,
     "rectangular"),
    ("neon.Graph", "strings", lambda: G(np.array([["a"] * 4])), GraphInputError, "numeric"),
    # ---- lrp.explain
    ("lrp.explain", "a module instead of a graph", lambda: lrp.explain(nn.Linear(4, 3), X),
     TypeError, "neuralize"),
    ("lrp.explain", "empty batch", lambda: lrp.explain(G, X[:0]), ValueError, "no samples"),
    ("lrp.explain", "batch_size 0", lambda: lrp.explain(G, X, batch_size=0), ValueError,
     "positive integer"),
    ("lrp.explain", "batch_size 1.5", lambda: lrp.explain(G, X, batch_size=1.5), ValueError,
     "positive integer"),
    ("lrp.explain", "return_all not a bool", lambda: lrp.explain(G, X, return_all="yes"),
     TypeError, "True or False"),
    ("lrp.explain", "target out of range", lambda: lrp.explain(G, X, target=7),
     lrp.TargetError, "out of range"),
    ("lrp.explain", "boolean target", lambda: lrp.explain(G, X, target=True), lrp.TargetError,
     "boolean"),
    ("lrp.explain", "non-integer float target", lambda: lrp.explain(G, X, target=0.5),
     lrp.TargetError, "not integers"),
    ("lrp.explain", "integer mask", lambda: lrp.explain(G, X, target=torch.zeros(2, 3).long()),
     lrp.TargetError, "floating point"),
    ("lrp.explain", "string target without labels", lambda: lrp.explain(G, X, target="cat"),
     lrp.TargetError, "no output labels"),
    ("lrp.explain", "mask of the wrong shape",
     lambda: lrp.explain(G, X, target=torch.ones(2, 4, dtype=F64)), lrp.TargetError,
     "shaped like the output"),
    ("lrp.explain", "too few targets", lambda: lrp.explain(G, X, target=[0], batch_size=1),
     lrp.TargetError, "one target per sample"),
    ("lrp.explain", "input outside the ZBox",
     lambda: lrp.explain(C, XC * 10, composite=lrp.EpsilonGammaBox(0.0, 1.0)), ValueError,
     "outside the box"),
    ("lrp.explain", "rule that cannot handle its node",
     lambda: lrp.explain(G, X, composite=lrp.Composite([(select.kind("relu"),
                                                         rules.Epsilon())])),
     lrp.RuleError, "handles only"),
    ("lrp.explain", "unknown preset name", lambda: lrp.explain(G, X, composite="EpsilonMagic"),
     ValueError, "EpsilonPlusFlat"),
    ("lrp.explain", "a composite of the wrong type", lambda: lrp.explain(G, X, composite=3),
     TypeError, "composite"),
    ("lrp.Column", "not an integer", lambda: lrp.Column(1.5), lrp.TargetError, "ints"),
    # ---- rules
    ("rules.Epsilon", "negative", lambda: rules.Epsilon(-1), ValueError, "epsilon"),
    ("rules.Epsilon", "NaN", lambda: rules.Epsilon(math.nan), ValueError, "NaN"),
    ("rules.Epsilon", "infinite", lambda: rules.Epsilon(math.inf), ValueError, "finite"),
    ("rules.Epsilon", "a string", lambda: rules.Epsilon("0.1"), TypeError, "real number"),
    ("rules.Epsilon", "a bool", lambda: rules.Epsilon(True), TypeError, "real number"),
    ("rules.Epsilon", "unknown scale", lambda: rules.Epsilon(scale="max"), ValueError, "rms"),
    ("rules.Gamma", "negative gamma", lambda: rules.Gamma(-0.5), ValueError, "gamma"),
    ("rules.Gamma", "NaN gamma", lambda: rules.Gamma(math.nan), ValueError, "NaN"),
    ("rules.AlphaBeta", "alpha - beta != 1", lambda: rules.AlphaBeta(2, 2), ValueError,
     "alpha - beta = 1"),
    ("rules.ZPlus", "negative stabilizer", lambda: rules.ZPlus(-1e-6), ValueError,
     "stabilizer"),
    ("rules.Flat", "negative stabilizer", lambda: rules.Flat(stabilizer=-1), ValueError,
     "stabilizer"),
    ("rules.WSquare", "NaN stabilizer", lambda: rules.WSquare(math.nan), ValueError, "NaN"),
    ("rules.ZBox", "low > high", lambda: rules.ZBox(low=1, high=0), ValueError, "low <= high"),
    ("rules.ZBox", "infinite bound", lambda: rules.ZBox(low=-math.inf, high=0), ValueError,
     "finite"),
    ("rules.Generic", "modifier not callable", lambda: rules.Generic(param_modifier=3),
     TypeError, "callable"),
    ("rules.Generic", "bad output factor", lambda: rules.Generic(output_factor="x"),
     ValueError, "output_factor"),
    ("rules.Norm", "negative stabilizer", lambda: rules.Norm(-1), ValueError, "stabilizer"),
    ("rules.ProportionalMax", "negative stabilizer", lambda: rules.ProportionalMax(-1),
     ValueError, "stabilizer"),
    ("rules.SoftMinRedistribution", "zero beta", lambda: rules.SoftMinRedistribution(0.0),
     ValueError, "beta"),
    ("rules.Midpoint", "NaN beta", lambda: rules.Midpoint(math.nan), ValueError, "beta"),
    ("rules.RivalSoftMin", "negative beta", lambda: rules.RivalSoftMin(-1.0), ValueError,
     "beta"),
    ("rules.DuelMidpoint", "negative stabilizer", lambda: rules.DuelMidpoint(-0.01),
     ValueError, "stabilizer"),
    ("rules.RootRule", "NaN stabilizer", lambda: rules.RootRule(math.nan), ValueError, "NaN"),
    ("rules.DuelTaylor", "unknown expansion point", lambda: rules.DuelTaylor(at="middle"),
     ValueError, "'midpoint', 'input'"),
    ("rules.DuelTaylor", "negative stabilizer", lambda: rules.DuelTaylor(stabilizer=-1),
     ValueError, "stabilizer"),
    ("rules.DuelTaylor", "points with a one-point expansion",
     lambda: rules.DuelTaylor("midpoint", points=3), ValueError, "at='path'"),
    ("rules.DuelTaylor", "no nodes", lambda: rules.DuelTaylor("path", points=0), ValueError,
     "≥ 1"),
    ("rules.DuelTaylor", "fractional nodes", lambda: rules.DuelTaylor("path", points=2.0),
     TypeError, "integer"),
    ("rules.DuelTaylor", "too many nodes", lambda: rules.DuelTaylor("path", points=65),
     ValueError, "≤ 64"),
    ("rules.PoolShapley", "no pairs", lambda: rules.PoolShapley(0), ValueError, "≥ 1"),
    ("rules.PoolShapley", "fractional pairs", lambda: rules.PoolShapley(2.5), TypeError,
     "integer"),
    ("rules.PoolShapley", "too many pairs", lambda: rules.PoolShapley(2000), ValueError,
     "≤ 1024"),
    ("rules.PoolShapley", "negative seed", lambda: rules.PoolShapley(seed=-1), ValueError,
     "seed"),
    ("rules.PoolShapley", "a pool that does not read x",
     lambda: lrp.explain(_plain_pool(), torch.rand(2, 3, dtype=F64),
                         composite=lrp.Composite([(select.kind("distance_pool") |
                                                   select.kind("softmin_pool"),
                                                   rules.PoolShapley())])),
     lrp.rules.RuleError, "handles only DistancePool"),
    ("neon.neuralize", "unknown root of a density model",
     lambda: neon.neuralize(_ocsvm()[0], _ocsvm()[1], root="mean"), ValueError,
     "'shapley' or 'split'"),
    ("neon.neuralize", "Shapley explanation without reference data",
     lambda: neon.neuralize(_ocsvm()[0], root="shapley"), ValueError, "needs reference data"),
    ("rules.register_default", "not a class", lambda: rules.register_default("relu",
                                                                            rules.Pass),
     TypeError, "op class"),
    # ---- presets, selectors, composites
    ("lrp.EpsilonGammaBox", "low > high", lambda: lrp.EpsilonGammaBox(1, 0), ValueError,
     "low <= high"),
    ("lrp.EpsilonPlusFlat", "negative epsilon", lambda: lrp.EpsilonPlusFlat(epsilon=-1),
     ValueError, "epsilon"),
    ("lrp.EpsilonOnly", "NaN epsilon", lambda: lrp.EpsilonOnly(math.nan), ValueError, "NaN"),
    ("lrp.EpsilonPlus", "string epsilon", lambda: lrp.EpsilonPlus("1e-6"), TypeError,
     "real number"),
    ("lrp.EpsilonAlpha2Beta1", "negative stabilizer",
     lambda: lrp.EpsilonAlpha2Beta1(stabilizer=-1), ValueError, "stabilizer"),
    ("lrp.EpsilonAlpha2Beta1Flat", "negative epsilon",
     lambda: lrp.EpsilonAlpha2Beta1Flat(epsilon=-1), ValueError, "epsilon"),
    ("select.kind", "unknown kind", lambda: select.kind("convolution"), ValueError,
     "known kinds"),
    ("select.first", "wrong case", lambda: select.first("Conv"), ValueError, "known kinds"),
    ("select.last", "not a string", lambda: select.last(3), TypeError, "str"),
    ("select.name", "empty pattern", lambda: select.name(""), ValueError, "pattern"),
    ("lrp.Composite", "entry without a rule",
     lambda: lrp.Composite([(select.kind("conv"), "epsilon")]), TypeError, "Rule"),
    ("lrp.Composite", "strict and a selector matching nothing",
     lambda: lrp.Composite([(select.name("classifier.*"), rules.Epsilon())],
                           strict=True).assign(G), lrp.RuleError, "matches no node"),
    ("lrp.composites.resolve", "unknown preset name",
     lambda: lrp.composites.resolve("EpsilonMagic"), ValueError, "EpsilonPlusFlat"),
    ("lrp.composites.resolve", "preset needing parameters",
     lambda: lrp.composites.resolve("EpsilonGammaBox"), TypeError, "low"),
    ("lrp.composites.resolve", "not a composite", lambda: lrp.composites.resolve(3),
     TypeError, "composite"),
    # ---- plots
    ("plot.heatmap", "a batch", lambda: plot.heatmap(np.zeros((3, 1, 4, 4))), ValueError,
     "batch"),
    ("plot.heatmap", "NaN", lambda: plot.heatmap(np.where(R > 1, np.nan, R)), ValueError,
     "NaN"),
    ("plot.heatmap", "negative vmax", lambda: plot.heatmap(R, vmax=-1), ValueError, "vmax"),
    ("plot.heatmap_grid", "inf", lambda: plot.heatmap_grid([R, np.full((4, 4), np.inf)]),
     ValueError, "inf"),
    ("plot.explanation_grid", "maps per method of the wrong count",
     lambda: plot.explanation_grid([R, R], {"a": [R]}), ValueError, "a"),
    ("plot.feature_bars", "names of the wrong length",
     lambda: plot.feature_bars(np.ones(3), ["a", "b"]), ValueError, "names"),
    ("plot.feature_bars", "NaN", lambda: plot.feature_bars(np.array([1.0, np.nan])),
     ValueError, "NaN"),
    ("plot.symmetric_limit", "zero vmax", lambda: plot.symmetric_limit([R], vmax=0),
     ValueError, "vmax"),
    ("plot.to_image", "a batch", lambda: plot.to_image(np.zeros((3, 2, 4, 4))), ValueError,
     "batch"),
    # ---- neon.testing
    ("neon.testing.check_neuralizer", "unfitted estimator",
     lambda: neon.testing.check_neuralizer(
         __import__("sklearn.cluster", fromlist=["x"]).KMeans(2), np.zeros((5, 3))),
     Exception, "not fitted"),
    ("neon.testing.check_neuralizer", "data with NaN",
     lambda: neon.testing.check_neuralizer(_kmeans()[0], np.full((5, 3), np.nan)), ValueError,
     "NaN"),
]


def _method_rows():
    """The attribution methods' and the concept tools' rows, kept beside their tests
    (tests/lrp/, tests/methods/, tests/concepts/, tests/metrics/ and tests/datasets/,
    bad_rows_*.py)."""
    import runpy
    from pathlib import Path

    rows = []
    here = Path(__file__).parent
    for path in sorted([*(here / "lrp").glob("bad_rows_*.py"),
                        *(here / "methods").glob("bad_rows_*.py"),
                        *(here / "concepts").glob("bad_rows_*.py"),
                        *(here / "metrics").glob("bad_rows_*.py"),
                        *(here / "datasets").glob("bad_rows_*.py"),
                        *(here / "cli").glob("bad_rows_*.py")]):
        rows += runpy.run_path(str(path))["ROWS"]
    return rows


TABLE += _method_rows()


@pytest.mark.parametrize("entry,what,call,error,words", TABLE,
                         ids=[f"{e}: {w}" for e, w, *_ in TABLE])
def test_bad_input_is_refused_with_a_message(entry, what, call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words.lower() in str(info.value).lower(), (entry, what, str(info.value))


# Entry points the table covers through another name (the check they get is the same).
COVERED_ELSEWHERE = {
    "neon.Graph": "graph(x) rows above", "neon.Node": "built by Graph.add_node",
    "neon.InputSpec": "built by Graph.add_input", "neon.canonicalize": "takes a Graph only",
    "neon.ops": "ops are built by importers; gradcheck tests construct every op",
    "lrp.Explanation": "a result type", "lrp.select.Selector": "built by select.*",
    "lrp.select.where": "any predicate", "lrp.select.everything": "no parameters",
    "lrp.select.handles": "predicate helper", "lrp.select.is_kind": "predicate helper",
    "lrp.rules.Pass": "no parameters", "lrp.rules.Route": "no parameters",
    "lrp.rules.WinnerTakeAll": "no parameters", "lrp.rules.SoftmaxRule": "no parameters",
    "lrp.rules.Gradient": "no parameters", "lrp.rules.TokenSum": "no parameters",
    "lrp.rules.SignalTakeAll": "no parameters",
    "lrp.rules.UniformSplit": "no parameters", "lrp.rules.GuidedBackprop": "no parameters",
    "lrp.rules.DeconvNet": "no parameters", "lrp.rules.DistanceSplit": "no parameters",
    "lrp.rules.Rule": "base class", "lrp.rules.stabilize": "internal primitive",
    "lrp.rules.divide": "internal primitive", "lrp.rules.vjp": "internal primitive",
    "lrp.rules.default_rule": "takes an op", "lrp.rules.pool_weights": "internal primitive",
    "lrp.rules.absorbed_share": "takes an Explanation",
    "lrp.rules.root_split": "a numeric primitive of DuelTaylor (tests/sklearn/test_svc_rules.py)",
    "lrp.plot.MASK_COLOUR": "a constant",
    "lrp.plot.sum_caption": "formats numbers (the maps it captions are checked by heatmap)",
    "lrp.resolve": "the rows of lrp.composites.resolve", "lrp.PRESETS": "a constant",
    "lrp.UnmatchedSelectorWarning": "a warning class", "lrp.Attribution": "a result type",
    "lrp.calls": "a module (its Call is behind every method's rows)",
    "lrp.datasets": "a module (its explain_dataset and open_store have rows)",
    "lrp.datasets.DatasetExplanation": "a result type",
    "lrp.datasets.StoreMismatchError": "an error class (rows in tests/datasets)",
    "lrp.datasets.fingerprint": "internal: tested through resumed runs",
    "lrp.datasets.explain_dataset": "the rows of lrp.explain_dataset",
    "lrp.datasets.is_stored": "a predicate (any object)",
    "lrp.datasets.row_blocks": "reads stored arrays (tests/datasets/test_stored_results.py)",
    "lrp.methods": "a module (its functions have rows as lrp.<method>)",
    "concepts.default_cache": "no parameters",
    "concepts.Embedding": "a result type (concepts.embed builds it)",
    "lrp.metrics.Score": "a result type (every metric builds it)",
    "lrp.metrics.RemovalResult": "a result type (its normalized() has rows)",
    "lrp.metrics.ConservationResult": "a result type",
    "lrp.metrics.RandomizationResult": "a result type", "lrp.metrics.RandomLogitResult":
    "a result type", "lrp.metrics.PointingResult": "a result type",
    "lrp.metrics.LocalizationResult": "a result type", "lrp.metrics.SENSITIVITY_NORMS":
    "a constant",
}


def test_every_public_entry_point_is_in_the_table():
    import concepts
    import concepts.plot
    import lrp.composites
    import lrp.plot
    import lrp.rules
    import lrp.select

    public = {f"neon.{n}" for n in neon.__all__ if not n.endswith("Error")}
    public |= {f"lrp.{n}" for n in lrp.__all__ if n not in ("rules", "select", "composites",
                                                             "targets", "plot", "calls",
                                                             "methods", "metrics",
                                                             "spray") and
               not n.endswith("Error")}
    public |= {f"lrp.rules.{n}" for n in lrp.rules.__all__ if not n.endswith("Error")}
    public |= {f"lrp.select.{n}" for n in lrp.select.__all__}
    public |= {f"lrp.plot.{n}" for n in lrp.plot.__all__}
    public |= {f"lrp.{n}" for n in lrp.methods.__all__ if n != "METHODS"}
    public |= {f"concepts.{n}" for n in concepts.__all__ if not n.endswith("Error")
               and n not in ("cav", "nodes", "plot", "tcav", "objectives", "maximize")}
    public |= {f"concepts.plot.{n}" for n in concepts.plot.__all__}
    public |= {f"lrp.metrics.{n}" for n in lrp.metrics.__all__}
    public |= {f"lrp.spray.{n}" for n in lrp.spray.__all__ if not n.endswith("Warning")}
    public |= {f"lrp.datasets.{n}" for n in lrp.datasets.__all__}
    try:
        import lrp.dask
    except ImportError:      # the dask extra is not installed
        pass
    else:
        public |= {f"lrp.dask.{n}" for n in lrp.dask.__all__}
    covered = {e for e, *_ in TABLE}
    covered = {("lrp." + e if e.split(".")[0] in ("rules", "select", "plot") else e)
               for e in covered}
    covered |= {e.rsplit(".", 1)[0] for e in covered}     # neon.Graph.declare covers Graph
    covered |= set(COVERED_ELSEWHERE)
    covered |= {"lrp.Composite"} if "lrp.Composite" in covered else set()
    missing = sorted(public - covered)
    assert not missing, f"add bad-input rows for {missing}"
