"""Bad-input rows of activation maximization (concepts.maximize, the objectives, regularizers,
parameterizations, transforms, constraints, priors, MaximizationResult) and of the prototype
plots, for tests/test_bad_input_table.py: ``(entry point, what is wrong, zero-argument call,
exception class, words the message must contain)``. The graphs are tiny: a tabular MLP, one
linear unit, a CNN with free spatial axes, a k-means."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

import concepts
import lrp
import neon
from concepts import (
    FFT,
    L1,
    L2,
    AlphaNorm,
    Blur,
    DataDistance,
    DensityPrior,
    Integer,
    Jitter,
    OneHot,
    Pad,
    Rotate,
    Scale,
    TotalVariation,
    UnboundedObjectiveError,
    channel,
    direction,
    output,
    unit,
)
from concepts import plot as cplot

F64 = torch.float64
torch.manual_seed(0)
MLP = neon.neuralize(nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).double(),
                     torch.randn(1, 4, dtype=F64))
ONE = neon.neuralize(nn.Sequential(nn.Linear(4, 1)).double(), torch.randn(1, 4, dtype=F64))
CNN = neon.neuralize(nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(),
                                   nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                   nn.Linear(3, 2)).double(),
                     torch.randn(1, 2, 6, 6, dtype=F64))
X = np.random.default_rng(0).normal(size=(10, 4))
BOX = (-1.0, 1.0)
IMG = dict(shape=(2, 6, 6), box=(0.0, 1.0), steps=2)
TAB = dict(box=BOX, steps=2)


def _kmeans():
    from sklearn.cluster import KMeans

    return neon.neuralize(KMeans(2, n_init=1, random_state=0).fit(X), X)


def _result(image=False):
    if image:
        return concepts.maximize(CNN, channel("0", 0), **IMG)
    return concepts.maximize(MLP, output(target=0), **TAB)


def _nan_image():
    r = _result(image=True)
    r.inputs[0, 0, 0, 0] = math.nan
    return r


M = concepts.maximize
U = unit("2", 0)

ROWS = [
    # ---- concepts.maximize: the call
    ("concepts.maximize", "a module instead of a graph", lambda: M(nn.Linear(4, 1), U),
     TypeError, "neuralize"),
    ("concepts.maximize", "objective not an objective", lambda: M(MLP, "2", **TAB), TypeError,
     "objective must be"),
    ("concepts.maximize", "unknown node", lambda: M(MLP, unit("22", 0), **TAB), KeyError,
     "close names"),
    ("concepts.maximize", "unit index out of range", lambda: M(MLP, unit("2", 3), **TAB),
     IndexError, "out of range"),
    ("concepts.maximize", "steps = 0", lambda: M(MLP, U, steps=0, box=BOX), ValueError,
     "steps must be"),
    ("concepts.maximize", "steps a float", lambda: M(MLP, U, steps=2.5, box=BOX), TypeError,
     "steps must be an integer"),
    ("concepts.maximize", "starts = 0", lambda: M(MLP, U, starts=0, **TAB), ValueError,
     "starts must be"),
    ("concepts.maximize", "lr = 0", lambda: M(MLP, U, lr=0, **TAB), ValueError, "lr must be >"),
    ("concepts.maximize", "negative lr", lambda: M(MLP, U, lr=-0.1, **TAB), ValueError, "lr"),
    ("concepts.maximize", "NaN lr", lambda: M(MLP, U, lr=math.nan, **TAB), ValueError, "NaN"),
    ("concepts.maximize", "unknown optimizer", lambda: M(MLP, U, optimizer="lbfgs", **TAB),
     ValueError, "optimizer"),
    ("concepts.maximize", "unknown schedule", lambda: M(MLP, U, schedule="step", **TAB),
     ValueError, "schedule"),
    ("concepts.maximize", "unknown parameterization",
     lambda: M(MLP, U, parameterization="dct", **TAB), ValueError, "parameterization must be"),
    ("concepts.maximize", "fft on tabular input",
     lambda: M(MLP, U, parameterization="fft", **TAB), ValueError, "fft parameterization is for "
     "images"),
    ("concepts.maximize", "progress not a bool", lambda: M(MLP, U, progress="yes", **TAB),
     TypeError, "True or False"),
    ("concepts.maximize", "negative seed", lambda: M(MLP, U, seed=-1, **TAB), ValueError,
     "non-negative"),
    ("concepts.maximize", "seed a string", lambda: M(MLP, U, seed="0", **TAB), TypeError,
     "seed"),
    # box
    ("concepts.maximize", "box with min > max", lambda: M(MLP, U, box=(1.0, 0.0)), ValueError,
     "min > max"),
    ("concepts.maximize", "box of the wrong shape", lambda: M(MLP, U, box=(np.zeros(3), 1.0)),
     ValueError, "does not broadcast"),
    ("concepts.maximize", "box with NaN", lambda: M(MLP, U, box=(math.nan, 1.0)), ValueError,
     "NaN"),
    ("concepts.maximize", "box a string", lambda: M(MLP, U, box="range"), ValueError,
     "box must be"),
    ("concepts.maximize", "box of three bounds", lambda: M(MLP, U, box=(0, 1, 2)), TypeError,
     "(low, high)"),
    ("concepts.maximize", "box='data' without data", lambda: M(MLP, U, box="data"),
     ValueError, "needs data"),
    # start, shape, data
    ("concepts.maximize", "start of the wrong shape",
     lambda: M(MLP, U, start=np.zeros((2, 5)), **TAB), ValueError, "start"),
    ("concepts.maximize", "start outside the box",
     lambda: M(MLP, U, start=np.full((2, 4), 2.0), **TAB), ValueError, "outside the box"),
    ("concepts.maximize", "start with NaN",
     lambda: M(MLP, U, start=np.full((1, 4), math.nan), **TAB), ValueError, "NaN"),
    ("concepts.maximize", "start not an array", lambda: M(MLP, U, start="zeros", **TAB),
     TypeError, "start must be"),
    ("concepts.maximize", "more starts than the start holds",
     lambda: M(MLP, U, start=np.zeros((2, 4)), starts=3, **TAB), ValueError, "starts=3"),
    ("concepts.maximize", "free axes without a shape",
     lambda: M(CNN, channel("0", 0), box=(0, 1)), ValueError, "free axes"),
    ("concepts.maximize", "shape that does not fit",
     lambda: M(CNN, channel("0", 0), shape=(3, 6, 6), box=(0, 1)), ValueError,
     "does not fit"),
    ("concepts.maximize", "shape not a tuple of ints",
     lambda: M(CNN, channel("0", 0), shape=(2, 6.0, 6), box=(0, 1)), TypeError, "shape"),
    ("concepts.maximize", "data of another shape than start",
     lambda: M(CNN, channel("0", 0), start=np.zeros((1, 2, 6, 6)), data=np.zeros((3, 2, 5, 5))),
     ValueError, "shape"),
    ("concepts.maximize", "data with NaN", lambda: M(MLP, U, data=np.full((3, 4), math.nan)),
     ValueError, "NaN"),
    ("concepts.maximize", "data of the wrong width", lambda: M(MLP, U, data=np.zeros((3, 5))),
     ValueError, "data"),
    # targets
    ("concepts.maximize", "output() of a multi-class graph without target",
     lambda: M(MLP, output(), **TAB), ValueError, "name the class"),
    ("concepts.maximize", "target out of range", lambda: M(MLP, output(target=5), **TAB),
     lrp.TargetError, "out of range"),
    ("concepts.maximize", "one target per start of the wrong count",
     lambda: M(MLP, output(target=[0, 1]), starts=3, **TAB), ValueError, "one per start"),
    ("concepts.maximize", "a label a k-means does not have",
     lambda: M(_kmeans(), output(target=7), box=(-3, 3), steps=2), lrp.TargetError,
     "not among"),
    # boundedness
    ("concepts.maximize", "unbounded linear output", lambda: M(ONE, output()),
     UnboundedObjectiveError, "box"),
    ("concepts.maximize", "unbounded k-means cluster logit",
     lambda: M(_kmeans(), output(target=0)), UnboundedObjectiveError, "convex hull"),
    ("concepts.maximize", "unbounded ReLU unit", lambda: M(MLP, output(target=1)),
     UnboundedObjectiveError, "prior"),
    ("concepts.maximize", "objective turning NaN",
     lambda: M(MLP, U, constraints=[DensityPrior(lambda x: x.sum(1) * math.nan, 1.0)], **TAB),
     FloatingPointError, "non-finite"),
    # regularizers, transforms, constraints given to maximize
    ("concepts.maximize", "regularizers not regularizers", lambda: M(MLP, U, regularizers=[3],
                                                                      **TAB),
     TypeError, "regularizers must hold"),
    ("concepts.maximize", "regularizers a string", lambda: M(MLP, U, regularizers="L2", **TAB),
     TypeError, "regularizers must be"),
    ("concepts.maximize", "total variation on tabular input",
     lambda: M(MLP, U, regularizers=[TotalVariation(0.1)], **TAB), ValueError, "images"),
    ("concepts.maximize", "blur on tabular input", lambda: M(MLP, U, regularizers=[Blur(2, 1.0)],
                                                             **TAB),
     ValueError, "images"),
    ("concepts.maximize", "blur with the fft parameterization",
     lambda: M(CNN, channel("0", 0), parameterization="fft", regularizers=[Blur(2, 1.0)], **IMG),
     ValueError, "blur steps act on the pixels"),
    ("concepts.maximize", "transform on tabular input", lambda: M(MLP, U, transforms=[Jitter(1)],
                                                                  **TAB),
     ValueError, "transforms are for images"),
    ("concepts.maximize", "transforms not transforms",
     lambda: M(CNN, channel("0", 0), transforms=["jitter"], **IMG), TypeError,
     "transforms must hold"),
    ("concepts.maximize", "jitter as large as the image",
     lambda: M(CNN, channel("0", 0), transforms=[Jitter(6)], **IMG), ValueError,
     "smaller than the image"),
    ("concepts.maximize", "constraints not constraints",
     lambda: M(MLP, U, constraints=[L2(1.0)], **TAB), TypeError, "constraints must hold"),
    ("concepts.maximize", "one-hot on images",
     lambda: M(CNN, channel("0", 0), constraints=[OneHot([0, 1])], **IMG), ValueError,
     "tabular"),
    ("concepts.maximize", "one-hot column out of range",
     lambda: M(MLP, U, constraints=[OneHot([3, 4])], **TAB), IndexError, "out of range"),
    ("concepts.maximize", "one-hot feature name the graph lacks",
     lambda: M(MLP, U, constraints=[OneHot(["a", "b"])], **TAB), ValueError,
     "unknown feature name"),
    ("concepts.maximize", "overlapping one-hot groups",
     lambda: M(MLP, U, constraints=[OneHot([[0, 1], [1, 2]])], **TAB), ValueError, "overlap"),
    ("concepts.maximize", "one-hot groups overlapping across constraints",
     lambda: M(MLP, U, constraints=[OneHot([0, 1]), OneHot([1, 2])], **TAB), ValueError,
     "overlap"),
    ("concepts.maximize", "integer column without an integer in its box",
     lambda: M(MLP, U, box=(0.2, 0.8), constraints=[Integer([0])], steps=2), ValueError,
     "no integer"),
    ("concepts.maximize", "DataDistance data of another width",
     lambda: M(MLP, U, constraints=[DataDistance(np.zeros((3, 5)), 1.0)], **TAB), ValueError,
     "DataDistance"),
    ("concepts.maximize", "DensityPrior graph of another width",
     lambda: M(CNN, channel("0", 0), constraints=[DensityPrior(_kde(), 1.0)], **IMG),
     ValueError, "prior graph takes"),
    ("concepts.maximize", "DensityPrior callable of the wrong shape",
     lambda: M(MLP, U, constraints=[DensityPrior(lambda x: x, 1.0)], **TAB), ValueError,
     "one log-density per sample"),
    # ---- objectives
    ("concepts.unit", "float index", lambda: unit("0", 1.5), TypeError, "int"),
    ("concepts.unit", "empty tuple index", lambda: unit("0", ()), TypeError, "non-empty"),
    ("concepts.unit", "node not a string", lambda: unit(0, 1), TypeError, "string"),
    ("concepts.channel", "channel a string", lambda: channel("0", "red"), TypeError,
     "channel index"),
    ("concepts.channel", "channel out of range", lambda: M(ONE, channel("0", 3), **TAB),
     IndexError, "out of range"),
    ("concepts.direction", "zero vector", lambda: direction("0", np.zeros(3)), ValueError,
     "zero vector"),
    ("concepts.direction", "NaN in v", lambda: direction("0", [1.0, math.nan]), ValueError,
     "NaN"),
    ("concepts.direction", "no node and no CAV", lambda: direction(None, np.ones(3)), TypeError,
     "CAV"),
    ("concepts.direction", "negative cosine power",
     lambda: direction("0", np.ones(3), cosine_power=-1), ValueError, "cosine_power"),
    ("concepts.direction", "v a string", lambda: direction("0", "up"), TypeError,
     "tensor, an array"),
    ("concepts.direction", "v of the wrong length",
     lambda: M(MLP, direction("0", np.ones(3)), **TAB), ValueError, "per channel"),
    ("concepts.output", "target an objective", lambda: output(unit("0", 0)), TypeError,
     "label or column"),
    ("concepts.Objective", "scaled by a string", lambda: U * "2", TypeError, "real number"),
    ("concepts.Objective", "scaled by NaN", lambda: U * math.nan, ValueError, "NaN"),
    ("concepts.Objective", "plus a number", lambda: U + 1.0, TypeError, "another objective"),
    ("concepts.Objective", "divided by zero", lambda: U / 0, ZeroDivisionError, "divided by 0"),
    ("concepts.MaximizationResult", "best(0)", lambda: _result().best(0), ValueError,
     "k must be"),
    ("concepts.MaximizationResult", "best(k) beyond the starts", lambda: _result().best(3),
     ValueError, "number of starts"),
    # ---- regularizers
    ("concepts.L2", "negative weight", lambda: L2(-1.0), ValueError, "L2 weight"),
    ("concepts.L2", "weight a string", lambda: L2("1"), TypeError, "real number"),
    ("concepts.L2", "NaN center", lambda: L2(1.0, center=[math.nan]), ValueError, "NaN"),
    ("concepts.L2", "center of the wrong shape",
     lambda: M(MLP, U, regularizers=[L2(1.0, center=np.zeros(3))], **TAB), ValueError,
     "does not broadcast"),
    ("concepts.L1", "negative weight", lambda: L1(-0.1), ValueError, "L1 weight"),
    ("concepts.TotalVariation", "infinite weight", lambda: TotalVariation(math.inf),
     ValueError, "finite"),
    ("concepts.Blur", "every = 0", lambda: Blur(0, 1.0), ValueError, "Blur every"),
    ("concepts.Blur", "every a float", lambda: Blur(1.5, 1.0), TypeError, "integer"),
    ("concepts.Blur", "sigma = 0", lambda: Blur(2, 0.0), ValueError, "Blur sigma"),
    ("concepts.AlphaNorm", "alpha below 1", lambda: AlphaNorm(1.0, alpha=0.5), ValueError,
     "alpha"),
    ("concepts.AlphaNorm", "negative weight", lambda: AlphaNorm(-1.0), ValueError, "weight"),
    # ---- parameterization, transforms
    ("concepts.FFT", "decorrelate not a bool", lambda: FFT(decorrelate="yes"), TypeError,
     "True or False"),
    ("concepts.FFT", "negative decay", lambda: FFT(decay=-1), ValueError, "decay"),
    ("concepts.FFT", "sd = 0", lambda: FFT(sd=0), ValueError, "sd"),
    ("concepts.Pad", "negative n", lambda: Pad(-1), ValueError, "Pad n"),
    ("concepts.Pad", "unknown mode", lambda: Pad(2, mode="wrap"), ValueError, "reflect"),
    ("concepts.Jitter", "n a float", lambda: Jitter(1.5), TypeError, "integer"),
    ("concepts.Scale", "factor 0", lambda: Scale([0.0, 1.0]), ValueError, "Scale factor"),
    ("concepts.Scale", "no factors", lambda: Scale([]), ValueError, "empty"),
    ("concepts.Scale", "factors a string", lambda: Scale("big"), TypeError, "sequence"),
    ("concepts.Rotate", "negative range", lambda: Rotate(-5), ValueError, "Rotate degrees"),
    ("concepts.Rotate", "degrees a string", lambda: Rotate("ten"), TypeError, "number"),
    ("concepts.Rotate", "no angles", lambda: Rotate([]), ValueError, "empty"),
    # ---- constraints and priors
    ("concepts.OneHot", "a group of one column", lambda: OneHot([[0], [1, 2]]), ValueError,
     "at least 2"),
    ("concepts.OneHot", "groups a number", lambda: OneHot(3), TypeError, "list of column"),
    ("concepts.OneHot", "a column a float", lambda: M(MLP, U, constraints=[OneHot([0, 1.5])],
                                                      **TAB),
     TypeError, "ints or feature names"),
    ("concepts.Integer", "no columns", lambda: Integer([]), ValueError, "no columns"),
    ("concepts.Integer", "a boolean", lambda: Integer(True), TypeError, "list of columns"),
    ("concepts.DensityPrior", "not a graph or callable", lambda: DensityPrior(3, 1.0),
     TypeError, "callable"),
    ("concepts.DensityPrior", "a graph whose output is not a density",
     lambda: DensityPrior(_kmeans(), 1.0), TypeError, "log-density"),
    ("concepts.DensityPrior", "negative weight", lambda: DensityPrior(lambda x: x, -1.0),
     ValueError, "weight"),
    ("concepts.DataDistance", "no data", lambda: DataDistance(None, 1.0), TypeError,
     "needs data"),
    ("concepts.DataDistance", "negative weight", lambda: DataDistance(X, -1.0), ValueError,
     "DataDistance weight"),
    # ---- plots
    ("concepts.plot.image", "a batch", lambda: cplot.image(np.zeros((3, 1, 4, 4))), ValueError,
     "batch"),
    ("concepts.plot.image", "NaN", lambda: cplot.image(np.full((1, 4, 4), math.nan)),
     ValueError, "NaN"),
    ("concepts.plot.image", "two channels", lambda: cplot.image(np.zeros((2, 4, 4))),
     ValueError, "image_grid"),
    ("concepts.plot.image", "unknown scale", lambda: cplot.image(np.zeros((4, 4)), scale="log"),
     ValueError, "scale must be"),
    ("concepts.plot.image", "box scale without a range",
     lambda: cplot.image(np.zeros((4, 4)), scale="box"), ValueError, "input range"),
    ("concepts.plot.image_grid", "NaN in a result", lambda: cplot.image_grid(_nan_image()),
     ValueError, "NaN"),
    ("concepts.plot.image_grid", "a tabular result", lambda: cplot.image_grid(_result()),
     ValueError, "feature_view"),
    ("concepts.plot.image_grid", "one image", lambda: cplot.image_grid(np.zeros((4, 4))),
     ValueError, "concepts.plot.image"),
    ("concepts.plot.image_grid", "titles of the wrong count",
     lambda: cplot.image_grid(np.zeros((2, 1, 4, 4)), titles=["a"]), ValueError, "titles"),
    ("concepts.plot.image_grid", "ncols 0", lambda: cplot.image_grid(np.zeros((2, 4, 4)),
                                                                     ncols=0),
     ValueError, "ncols"),
    ("concepts.plot.image_grid", "five channels",
     lambda: cplot.image_grid(np.zeros((2, 5, 4, 4))), ValueError, "channels"),
    ("concepts.plot.feature_view", "an image result",
     lambda: cplot.feature_view(_result(image=True)), ValueError, "image_grid"),
    ("concepts.plot.feature_view", "NaN", lambda: cplot.feature_view(np.array([1.0, math.nan])),
     ValueError, "NaN"),
    ("concepts.plot.feature_view", "names of the wrong length",
     lambda: cplot.feature_view(np.ones(3), ["a", "b"]), ValueError, "feature names"),
    ("concepts.plot.feature_view", "data of the wrong width",
     lambda: cplot.feature_view(np.ones((2, 3)), data=np.ones((4, 2))), ValueError,
     "data must be"),
]


def _kde():
    from sklearn.neighbors import KernelDensity

    return neon.neuralize(KernelDensity().fit(X), X)
