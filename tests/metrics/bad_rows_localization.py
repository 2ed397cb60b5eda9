"""Bad-input rows of lrp.metrics.pointing_game, localization, sparseness, complexity and
max_sensitivity, for tests/test_bad_input_table.py.

``ROWS = [(entry point, what is wrong, zero-argument call, exception class, words the message
must contain), ...]``; the test at the bottom runs every row
(``pytest tests/metrics/bad_rows_localization.py``). Graphs are tiny: a tabular MLP (4
features, 3 classes).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import lrp
import lrp.metrics as M
import neon
from lrp.targets import TargetError
from neon.graph import GraphInputError

torch.set_num_threads(1)
F64 = torch.float64


def _mlp():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).double().eval()
    return net, neon.neuralize(net, torch.randn(1, 4, dtype=F64))


NET, G = _mlp()
X = torch.randn(2, 4, dtype=F64)
R = np.random.default_rng(0).normal(size=(2, 3, 4, 4))          # (N, C, H, W)
MASK = np.zeros((2, 4, 4), bool)
MASK[:, 1, 1] = True


def point(**kw):
    return lambda: M.pointing_game(kw.pop("relevance", R), kw.pop("masks", MASK), **kw)


def loc(**kw):
    return lambda: M.localization(kw.pop("relevance", R), kw.pop("masks", MASK))


def sens(**kw):
    return lambda: M.max_sensitivity(kw.pop("graph", G), kw.pop("method", lrp.gradient),
                                     kw.pop("x", X), **kw)


def _nan_method(graph, x, target=None, *, batch_size=None):
    return torch.full_like(x, math.nan)


def _flat_method(graph, x, target=None, *, batch_size=None):
    return x[:, :2]


_NAN = np.where(np.arange(R.size).reshape(R.shape) == 5, np.nan, R)

ROWS = [
    # ---- the relevance maps (shared by the four map metrics)
    ("lrp.metrics.pointing_game", "relevance a list of maps", point(relevance=[R[0], R[1]]),
     TypeError, "one tensor or array"),
    ("lrp.metrics.pointing_game", "relevance a string", point(relevance="lrp"), TypeError,
     "tensor or an array"),
    ("lrp.metrics.pointing_game", "one map without its batch axis",
     point(relevance=R[0, 0, 0], masks=MASK[0, 0]), ValueError, "r[None]"),
    ("lrp.metrics.pointing_game", "relevance with NaN", point(relevance=_NAN), ValueError,
     "NaN or infinite"),
    ("lrp.metrics.pointing_game", "boolean relevance", point(relevance=R > 0), TypeError,
     "real numbers"),
    ("lrp.metrics.pointing_game", "empty batch", point(relevance=R[:0], masks=MASK[0]),
     ValueError, "no samples"),
    # ---- masks
    ("lrp.metrics.pointing_game", "masks of 0/1 floats", point(masks=MASK.astype(float)),
     TypeError, "must be boolean"),
    ("lrp.metrics.pointing_game", "masks a list", point(masks=MASK.tolist()), TypeError,
     "boolean tensor or array"),
    ("lrp.metrics.pointing_game", "masks of the wrong size", point(masks=MASK[:, :3]),
     ValueError, "do not fit"),
    ("lrp.metrics.pointing_game", "one mask per sample for a batch of another size",
     point(masks=np.zeros((5, 4, 4), bool)), ValueError, "do not fit"),
    ("lrp.metrics.pointing_game", "masks that fit two ways",
     point(relevance=np.ones((3, 3, 3)), masks=np.ones((3, 3), bool)), ValueError,
     "in two ways"),
    ("lrp.metrics.pointing_game", "masks like x that differ between channels",
     point(masks=np.arange(R.size).reshape(R.shape) % 3 == 0), ValueError,
     "differ between channels"),
    # ---- tolerance and labels
    ("lrp.metrics.pointing_game", "negative tolerance", point(tolerance=-1), ValueError,
     "tolerance must be ≥ 0"),
    ("lrp.metrics.pointing_game", "NaN tolerance", point(tolerance=math.nan), ValueError,
     "tolerance must be a number"),
    ("lrp.metrics.pointing_game", "infinite tolerance", point(tolerance=math.inf),
     ValueError, "tolerance must be finite"),
    ("lrp.metrics.pointing_game", "tolerance a string", point(tolerance="15"), TypeError,
     "tolerance must be a real number"),
    ("lrp.metrics.pointing_game", "tolerance on four spatial axes",
     point(relevance=np.ones((1, 1, 2, 2, 2, 2)), masks=np.ones((1, 2, 2, 2, 2), bool),
           tolerance=1), ValueError, "1 to 3 spatial axes"),
    ("lrp.metrics.pointing_game", "labels of the wrong length", point(labels=[0, 1, 2]),
     ValueError, "one label per sample"),
    ("lrp.metrics.pointing_game", "one label for the batch", point(labels=3), TypeError,
     "one label per sample"),
    ("lrp.metrics.pointing_game", "labels a string", point(labels="ab"), TypeError,
     "one label per sample"),
    ("lrp.metrics.pointing_game", "NaN labels", point(labels=[0.0, math.nan]), ValueError,
     "NaN"),
    # ---- localization (mass and rank)
    ("lrp.metrics.localization", "integer masks", loc(masks=MASK.astype(int)), TypeError,
     "must be boolean"),
    ("lrp.metrics.localization", "masks of another shape", loc(masks=MASK[:, :, :2]),
     ValueError, "do not fit"),
    ("lrp.metrics.localization", "infinite relevance",
     loc(relevance=np.where(R > 1, np.inf, R)), ValueError, "NaN or infinite"),
    ("lrp.metrics.localization", "one map without its batch axis",
     loc(relevance=R[0, 0, 0], masks=MASK[0, 0]), ValueError, "batch axis"),
    ("lrp.metrics.localization", "relevance of several graph inputs (a tuple)",
     loc(relevance=(R, R)), TypeError, "several inputs"),
    # ---- sparseness and complexity
    ("lrp.metrics.sparseness", "NaN", lambda: M.sparseness(_NAN), ValueError,
     "NaN or infinite"),
    ("lrp.metrics.sparseness", "one map without its batch axis",
     lambda: M.sparseness(np.ones(5)), ValueError, "r[None]"),
    ("lrp.metrics.sparseness", "strings", lambda: M.sparseness(np.array([["a", "b"]])),
     TypeError, "real numbers"),
    ("lrp.metrics.sparseness", "a number", lambda: M.sparseness(3.0), TypeError,
     "tensor or an array"),
    ("lrp.metrics.complexity", "infinite", lambda: M.complexity(np.full((2, 3), np.inf)),
     ValueError, "NaN or infinite"),
    ("lrp.metrics.complexity", "complex values",
     lambda: M.complexity(np.ones((2, 3), dtype=complex)), TypeError, "real numbers"),
    ("lrp.metrics.complexity", "empty batch", lambda: M.complexity(np.ones((0, 3))),
     ValueError, "no samples"),
    ("lrp.metrics.complexity", "one map without its batch axis",
     lambda: M.complexity(torch.ones(4)), ValueError, "batch axis"),
    # ---- max_sensitivity
    ("lrp.metrics.max_sensitivity", "a torch module, not a graph", sens(graph=NET),
     TypeError, "neuralize"),
    ("lrp.metrics.max_sensitivity", "unknown method name", sens(method="saliency"),
     ValueError, "not a method of lrp"),
    ("lrp.metrics.max_sensitivity", "method not callable", sens(method=3), TypeError,
     "method must be a method of lrp"),
    ("lrp.metrics.max_sensitivity", "a method returning NaN", sens(method=_nan_method),
     ValueError, "NaN"),
    ("lrp.metrics.max_sensitivity", "a method returning the wrong shape",
     sens(method=_flat_method), ValueError, "has shape (2, 2)"),
    ("lrp.metrics.max_sensitivity", "x of the wrong width",
     sens(x=torch.zeros(2, 5, dtype=F64)), GraphInputError, "expected 4 features"),
    ("lrp.metrics.max_sensitivity", "target out of range", sens(target=7), TargetError,
     "out of range"),
    ("lrp.metrics.max_sensitivity", "negative radius", sens(radius=-0.1), ValueError,
     "radius must be ≥ 0"),
    ("lrp.metrics.max_sensitivity", "NaN radius", sens(radius=math.nan), ValueError,
     "radius must be a number"),
    ("lrp.metrics.max_sensitivity", "radius a string", sens(radius="0.02"), TypeError,
     "radius must be a real number"),
    ("lrp.metrics.max_sensitivity", "samples 0", sens(samples=0), ValueError,
     "samples must be ≥ 1"),
    ("lrp.metrics.max_sensitivity", "samples 2.5", sens(samples=2.5), TypeError,
     "samples must be an integer"),
    ("lrp.metrics.max_sensitivity", "negative seed", sens(seed=-1), ValueError,
     "seed must be a non-negative integer"),
    ("lrp.metrics.max_sensitivity", "seed a float", sens(seed=1.5), TypeError,
     "seed must be None"),
    ("lrp.metrics.max_sensitivity", "seed a bool", sens(seed=True), TypeError,
     "seed must be None"),
    ("lrp.metrics.max_sensitivity", "unknown norm", sens(norm="l2"), ValueError,
     "norm must be one of 'fro', 'inf'"),
    ("lrp.metrics.max_sensitivity", "normalize not a bool", sens(normalize=1), TypeError,
     "normalize must be True or False"),
    ("lrp.metrics.max_sensitivity", "batch_size 0", sens(batch_size=0), ValueError,
     "batch_size must be a positive integer"),
]


@pytest.mark.parametrize("entry,what,call,exc,words", ROWS,
                         ids=[f"{r[0]}: {r[1]}" for r in ROWS])
def test_row(entry, what, call, exc, words):
    with pytest.raises(exc) as info:
        call()
    assert words.lower() in str(info.value).lower(), f"{entry} ({what}): {info.value}"


def test_every_public_function_has_rows():
    import importlib

    names = {r[0].split(".")[-1] for r in ROWS}
    modules = [importlib.import_module(f"lrp.metrics.{m}")     # the names are functions too
               for m in ("localization", "complexity", "robustness")]
    public = {n for m in modules for n in m.__all__}
    public -= {"PointingResult", "LocalizationResult", "SENSITIVITY_NORMS"}
    assert public <= names, public - names
