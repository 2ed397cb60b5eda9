"""Bad-input rows of lrp.metrics.roar, roar_remove, data_randomization_check and their
result types, for tests/test_bad_input_table.py: ``(entry point, what is wrong, zero-argument
call, exception class, words the message must contain)``. Every train function here returns
an untrained tiny model (no optimisation), so the rows that get past validation stay fast."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

import lrp
import lrp.metrics as M

F64 = torch.float64
X = torch.randn(6, 4, generator=torch.Generator().manual_seed(0), dtype=F64)
Y = torch.tensor([0, 1, 2, 0, 1, 2])
XT, YT = X[:4].clone(), Y[:4].clone()


def _net(classes=3):
    torch.manual_seed(0)
    return nn.Linear(4, classes).double()


def train(X, y, seed):
    return _net()


ONE = _net()
METHODS = {"g": lrp.gradient}


def roar(**kw):
    args = {"train": train, "X_train": X, "y_train": Y, "X_test": XT, "y_test": YT,
            "methods": METHODS, "fractions": (0.25, 0.5), "seed": 0}
    args.update(kw)
    return lambda: M.roar(args.pop("train"), args.pop("X_train"), args.pop("y_train"),
                          args.pop("X_test"), args.pop("y_test"), args.pop("methods"),
                          **args)


def remove(**kw):
    args = {"x": X, "relevance": X, "fraction": 0.5, "baseline": 0.0}
    args.update(kw)
    return lambda: M.roar_remove(args.pop("x"), args.pop("relevance"), args.pop("fraction"),
                                 **args)


def data(**kw):
    args = {"train": train, "X_train": X, "y_train": Y, "x": XT, "method": lrp.gradient,
            "seed": 0}
    args.update(kw)
    return lambda: M.data_randomization_check(args.pop("train"), args.pop("X_train"),
                                              args.pop("y_train"), args.pop("x"),
                                              args.pop("method"), **args)


RESULT = M.roar(train, X, Y, XT, YT, METHODS, fractions=(0.5,), seed=0)
with warnings.catch_warnings():               # the untrained model memorises nothing
    warnings.simplefilter("ignore", RuntimeWarning)
    DATA = M.data_randomization_check(train, X, Y, XT, lrp.gradient, seed=0)


def _wrong_shape(graph, x, target, *, batch_size=None):
    return torch.zeros(len(x), 5, dtype=F64)


ROWS = [
    # ---- lrp.metrics.roar
    ("lrp.metrics.roar", "train not callable", roar(train=ONE), TypeError,
     "train must be a function"),
    ("lrp.metrics.roar", "train returns a string", roar(train=lambda X, y, s: "model"),
     TypeError, "train returned str"),
    ("lrp.metrics.roar", "train returns the same model every time",
     roar(train=lambda X, y, s: ONE), ValueError, "same model object twice"),
    ("lrp.metrics.roar", "a one-output model", roar(train=lambda X, y, s: _net(1)),
     ValueError, "at least 2 classes"),
    ("lrp.metrics.roar", "labels beyond the model's outputs",
     roar(train=lambda X, y, s: _net(2)), ValueError, "one output per class"),
    ("lrp.metrics.roar", "float64 samples, a float32 model",
     roar(train=lambda X, y, s: nn.Linear(4, 3)), TypeError, "give X as torch.float32"),
    ("lrp.metrics.roar", "X_train a list", roar(X_train=X.tolist()), TypeError,
     "tensor or a numpy array"),
    ("lrp.metrics.roar", "X_train without batch axis", roar(X_train=X[0]), ValueError,
     "batch first"),
    ("lrp.metrics.roar", "X_train of one sample", roar(X_train=X[:1], y_train=Y[:1]),
     ValueError, "at least 2"),
    ("lrp.metrics.roar", "X_train with NaN",
     roar(X_train=torch.where(X > 1, np.nan, X)), ValueError, "NaN"),
    ("lrp.metrics.roar", "X_train complex", roar(X_train=X.to(torch.complex128)), TypeError,
     "real numbers"),
    ("lrp.metrics.roar", "X_test in another dtype", roar(X_test=XT.float()), TypeError,
     "give both in the dtype"),
    ("lrp.metrics.roar", "X_test of another sample shape", roar(X_test=XT[:, :3]),
     ValueError, "same shape"),
    ("lrp.metrics.roar", "float labels", roar(y_train=Y.double()), TypeError,
     "integer class labels"),
    ("lrp.metrics.roar", "boolean labels", roar(y_test=YT > 0), TypeError,
     "integer class labels"),
    ("lrp.metrics.roar", "y_train of the wrong length", roar(y_train=Y[:5]), ValueError,
     "one integer label per sample of X_train"),
    ("lrp.metrics.roar", "negative labels", roar(y_test=YT - 1), ValueError, "negative"),
    ("lrp.metrics.roar", "a single class", roar(y_train=Y * 0), ValueError, "single class"),
    ("lrp.metrics.roar", "methods empty", roar(methods={}), ValueError, "methods is empty"),
    ("lrp.metrics.roar", "methods a list", roar(methods=[lrp.gradient]), TypeError,
     "methods must be a dict"),
    ("lrp.metrics.roar", "a method named random", roar(methods={"random": lrp.gradient}),
     ValueError, "reserved"),
    ("lrp.metrics.roar", "a method name not a string", roar(methods={1: lrp.gradient}),
     TypeError, "non-empty string"),
    ("lrp.metrics.roar", "precomputed relevance as a method", roar(methods={"r": X}),
     TypeError, "precomputed relevance"),
    ("lrp.metrics.roar", "an unknown method name", roar(methods={"s": "saliency"}),
     ValueError, "not a method of lrp"),
    ("lrp.metrics.roar", "a method returning the wrong shape",
     roar(methods={"w": _wrong_shape}), ValueError, "methods['w']"),
    ("lrp.metrics.roar", "fractions unsorted", roar(fractions=(0.5, 0.25)), ValueError,
     "sorted and unique"),
    ("lrp.metrics.roar", "fractions repeated", roar(fractions=(0.5, 0.5)), ValueError,
     "sorted and unique"),
    ("lrp.metrics.roar", "a fraction of 1", roar(fractions=(0.5, 1.0)), ValueError,
     "(0, 1)"),
    ("lrp.metrics.roar", "a fraction of 0", roar(fractions=(0.0, 0.5)), ValueError,
     "fractions must be >"),
    ("lrp.metrics.roar", "a fraction that removes no feature", roar(fractions=(0.1,)),
     ValueError, "removes none"),
    ("lrp.metrics.roar", "two fractions removing as many features",
     roar(fractions=(0.3, 0.35)), ValueError, "further apart"),
    ("lrp.metrics.roar", "fractions a number", roar(fractions=0.5), TypeError,
     "sequence of fractions"),
    ("lrp.metrics.roar", "fractions empty", roar(fractions=()), ValueError,
     "fractions is empty"),
    ("lrp.metrics.roar", "a fraction a string", roar(fractions=("0.5",)), TypeError,
     "fractions must be a real number"),
    ("lrp.metrics.roar", "unknown baseline", roar(baseline="median"), ValueError,
     "baseline must be one of"),
    ("lrp.metrics.roar", "baseline None", roar(baseline=None), TypeError, "baseline"),
    ("lrp.metrics.roar", "baseline of the wrong shape", roar(baseline=torch.zeros(3)),
     ValueError, "one value per feature"),
    ("lrp.metrics.roar", "baseline NaN", roar(baseline=float("nan")), ValueError,
     "baseline"),
    ("lrp.metrics.roar", "repeats 0", roar(repeats=0), ValueError, "repeats must be ≥ 1"),
    ("lrp.metrics.roar", "repeats a float", roar(repeats=2.0), TypeError,
     "repeats must be an integer"),
    ("lrp.metrics.roar", "seed a generator", roar(seed=torch.Generator()), TypeError,
     "integer seed"),
    ("lrp.metrics.roar", "negative seed", roar(seed=-1), ValueError, "seed"),
    ("lrp.metrics.roar", "batch_size 0", roar(batch_size=0), ValueError, "batch_size"),

    # ---- lrp.metrics.roar_remove
    ("lrp.metrics.roar_remove", "relevance of another shape",
     remove(relevance=X[:, :3]), ValueError, "one relevance per element"),
    ("lrp.metrics.roar_remove", "relevance a method", remove(relevance=lrp.gradient),
     TypeError, "relevance must be a tensor"),
    ("lrp.metrics.roar_remove", "fraction 0", remove(fraction=0), ValueError,
     "fraction must be >"),
    ("lrp.metrics.roar_remove", "fraction above 1", remove(fraction=1.5), ValueError,
     "(0, 1]"),
    ("lrp.metrics.roar_remove", "fraction removing no feature", remove(fraction=0.05),
     ValueError, "removes none"),
    ("lrp.metrics.roar_remove", "baseline 'mean' (no training set here)",
     remove(baseline="mean"), ValueError, "X_train.mean(0)"),
    ("lrp.metrics.roar_remove", "baseline of the wrong shape",
     remove(baseline=np.zeros(5)), ValueError, "one value per feature"),
    ("lrp.metrics.roar_remove", "x a string", remove(x="x"), TypeError,
     "tensor or a numpy array"),

    # ---- lrp.metrics.data_randomization_check
    ("lrp.metrics.data_randomization_check", "train a model, not a function",
     data(train=ONE), TypeError, "train must be a function"),
    ("lrp.metrics.data_randomization_check", "train returns the same model twice",
     data(train=lambda X, y, s: ONE), ValueError, "same model object twice"),
    ("lrp.metrics.data_randomization_check", "x of another sample shape",
     data(x=XT[:, :3]), ValueError, "same shape"),
    ("lrp.metrics.data_randomization_check", "y_train of the wrong length",
     data(y_train=Y[:4]), ValueError, "one integer label per sample"),
    ("lrp.metrics.data_randomization_check", "a single class", data(y_train=Y * 0),
     ValueError, "single class"),
    ("lrp.metrics.data_randomization_check", "precomputed relevance as the method",
     data(method=X), TypeError, "precomputed relevance cannot be used"),
    ("lrp.metrics.data_randomization_check", "an unknown method name",
     data(method="saliency"), ValueError, "not a method of lrp"),
    ("lrp.metrics.data_randomization_check", "ssim on tabular input",
     data(similarity="ssim"), ValueError, "compares images"),
    ("lrp.metrics.data_randomization_check", "unknown similarity",
     data(similarity="pearson"), ValueError, "similarity must be one of"),
    ("lrp.metrics.data_randomization_check", "absolute not a bool", data(absolute=1),
     TypeError, "absolute"),
    ("lrp.metrics.data_randomization_check", "seed a generator",
     data(seed=torch.Generator()), TypeError, "integer seed"),
    ("lrp.metrics.data_randomization_check", "seed a float", data(seed=0.5), TypeError,
     "seed"),
    ("lrp.metrics.data_randomization_check", "batch_size 0", data(batch_size=0),
     ValueError, "batch_size"),
    ("lrp.metrics.data_randomization_check", "target out of range", data(target=7),
     Exception, "target"),

    # ---- the result types
    ("lrp.metrics.RoarResult.mean", "a method not measured",
     lambda: RESULT.mean("saliency"), ValueError, "method must be one of"),
    ("lrp.metrics.DataRandomizationResult.mean", "a similarity not measured",
     lambda: DATA.mean("ssim"), ValueError, "similarity must be one of"),
]
