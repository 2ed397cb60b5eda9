"""Bad-input rows of lrp.occlusion, lrp.rise and lrp.lime, for tests/test_bad_input_table.py:
``(entry point, what is wrong, zero-argument call, exception class, words the message must
contain)``. The graphs are tiny: a tabular MLP (4 features) and an image CNN (2, 4, 4)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import lrp
import neon
from lrp.methods.perturbation import lime_draws, lime_kernel, occlusion_windows, rise_masks

F64 = torch.float64


def _mlp():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).double()
    return net, neon.neuralize(net, torch.randn(1, 4, dtype=F64))


def _cnn():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(3 * 4 * 4, 3)).double()
    return net, neon.neuralize(net, torch.randn(1, 2, 4, 4, dtype=F64))


(MLP, G), (CNN, C) = _mlp(), _cnn()
X = torch.randn(2, 4, dtype=F64)
XC = torch.rand(2, 2, 4, 4, dtype=F64)


def occ(**kw):
    kw.setdefault("window", 2)
    return lambda: lrp.occlusion(kw.pop("graph", C), kw.pop("x", XC), **kw)


def rise(**kw):
    kw.setdefault("masks", 4)
    return lambda: lrp.rise(kw.pop("graph", C), kw.pop("x", XC), **kw)


def lime(**kw):
    kw.setdefault("samples", 8)
    return lambda: lrp.lime(kw.pop("graph", C), kw.pop("x", XC), **kw)


ROWS = [
    # ---- lrp.occlusion
    ("lrp.occlusion", "a torch module, not a graph",
     lambda: lrp.occlusion(CNN, XC, window=2), TypeError, "neuralize"),
    ("lrp.occlusion", "no window", lambda: lrp.occlusion(C, XC), TypeError, "window"),
    ("lrp.occlusion", "window 0", occ(window=0), ValueError, "window must be a positive"),
    ("lrp.occlusion", "window a float", occ(window=2.0), TypeError, "window must be"),
    ("lrp.occlusion", "window larger than the image", occ(window=5), ValueError,
     "larger than the input's spatial size"),
    ("lrp.occlusion", "window tuple of the wrong length", occ(window=(2, 2)), ValueError,
     "one entry per axis"),
    ("lrp.occlusion", "window tuple with a zero", occ(window=(2, 0, 2)), ValueError,
     "positive integer"),
    ("lrp.occlusion", "window tuple exceeding an axis", occ(window=(3, 2, 2)), ValueError,
     "does not fit"),
    ("lrp.occlusion", "tabular window larger than the features",
     occ(graph=G, x=X, window=5), ValueError, "larger than"),
    ("lrp.occlusion", "stride larger than the window", occ(window=2, stride=3), ValueError,
     "give a stride ≤ the window"),
    ("lrp.occlusion", "stride 0", occ(stride=0), ValueError, "stride must be a positive"),
    ("lrp.occlusion", "stride tuple of the wrong length", occ(stride=(1, 1)), ValueError,
     "stride"),
    ("lrp.occlusion", "stride a string", occ(stride="1"), TypeError, "stride must be"),
    ("lrp.occlusion", "baseline of the wrong shape", occ(baseline=torch.zeros(3, 3)),
     ValueError, "does not broadcast"),
    ("lrp.occlusion", "baseline NaN", occ(baseline=float("nan")), ValueError, "baseline"),
    ("lrp.occlusion", "baseline a string", occ(baseline="zero"), TypeError, "baseline"),
    ("lrp.occlusion", "batch_size 0", occ(batch_size=0), ValueError, "batch_size"),
    ("lrp.occlusion", "return_all not a bool", occ(return_all=1), TypeError, "return_all"),
    ("lrp.occlusion", "target out of range", occ(target=7), Exception, "target"),
    # ---- lrp.rise
    ("lrp.rise", "a torch module, not a graph", lambda: lrp.rise(CNN, XC, masks=4), TypeError,
     "neuralize"),
    ("lrp.rise", "tabular input", rise(graph=G, x=X), ValueError, "tabular"),
    ("lrp.rise", "masks 0", rise(masks=0), ValueError, "masks"),
    ("lrp.rise", "masks a float", rise(masks=10.0), TypeError, "masks must be an integer"),
    ("lrp.rise", "cells 0", rise(cells=0), ValueError, "cells"),
    ("lrp.rise", "cells a float", rise(cells=2.5), TypeError, "cells must be an integer"),
    ("lrp.rise", "p 0", rise(p=0.0), ValueError, "p must be"),
    ("lrp.rise", "p above 1", rise(p=1.5), ValueError, "0 < p ≤ 1"),
    ("lrp.rise", "p a string", rise(p="half"), TypeError, "p must be a real number"),
    ("lrp.rise", "seed a string", rise(seed="abc"), TypeError, "seed"),
    ("lrp.rise", "seed negative", rise(seed=-1), ValueError, "seed"),
    ("lrp.rise", "batch_size a float", rise(batch_size=2.0), ValueError, "batch_size"),
    ("lrp.rise", "return_all not a bool", rise(return_all="yes"), TypeError, "return_all"),
    # ---- lrp.lime
    ("lrp.lime", "a torch module, not a graph", lambda: lrp.lime(MLP, X), TypeError,
     "neuralize"),
    ("lrp.lime", "samples 1", lime(samples=1), ValueError, "samples"),
    ("lrp.lime", "samples a float", lime(samples=100.0), TypeError, "samples must be an integer"),
    ("lrp.lime", "kernel_width 0", lime(kernel_width=0.0), ValueError, "kernel_width"),
    ("lrp.lime", "kernel_width infinite", lime(kernel_width=float("inf")), ValueError,
     "kernel_width"),
    ("lrp.lime", "unknown regressor", lime(regressor="ols"), ValueError,
     "regressor must be one of"),
    ("lrp.lime", "alpha negative", lime(alpha=-1.0), ValueError, "alpha"),
    ("lrp.lime", "lasso with alpha 0", lime(regressor="lasso", alpha=0.0), ValueError,
     "alpha must be >"),
    ("lrp.lime", "features patch size 0", lime(features=0), ValueError, "patch size"),
    ("lrp.lime", "features patch larger than the image", lime(features=9), ValueError,
     "larger than"),
    ("lrp.lime", "features a float array", lime(features=np.zeros((4, 4))), TypeError,
     "integer segmentation"),
    ("lrp.lime", "features of the wrong shape", lime(features=np.zeros((3, 4), dtype=int)),
     ValueError, "one label per spatial position"),
    ("lrp.lime", "features per sample of the wrong count",
     lime(features=np.zeros((3, 4, 4), dtype=int)), ValueError, "one such array per sample"),
    ("lrp.lime", "features a string", lime(features="slic"), TypeError, "features must be"),
    ("lrp.lime", "tabular features of the wrong length",
     lime(graph=G, x=X, features=np.arange(3)), ValueError, "shape (4,)"),
    ("lrp.lime", "baseline of the wrong shape", lime(graph=G, x=X, baseline=np.zeros(3)),
     ValueError, "does not broadcast"),
    ("lrp.lime", "seed a float", lime(seed=1.5), TypeError, "seed"),
    ("lrp.lime", "batch_size negative", lime(batch_size=-2), ValueError, "batch_size"),
    ("lrp.lime", "return_all not a bool", lime(return_all=None), TypeError, "return_all"),
    ("lrp.lime", "a graph with two inputs is refused clearly",
     lambda: lrp.lime(_two_inputs(), (XC, XC), samples=8), ValueError, "one input"),
    ("lrp.occlusion", "window tuple for the wrong number of inputs",
     lambda: lrp.occlusion(_two_inputs(), (XC, XC), window=(2, 2, 2)), ValueError,
     "one window per input"),
    # ---- the helpers of lrp.methods.perturbation
    ("lrp.methods.perturbation.rise_masks", "spatial of four axes",
     lambda: rise_masks(3, (2, 2, 2, 2), 2, 0.5), ValueError, "1 to 3 positive integers"),
    ("lrp.methods.perturbation.rise_masks", "generator a string",
     lambda: rise_masks(3, (4, 4), 2, 0.5, generator="x"), TypeError, "generator must be"),
    ("lrp.methods.perturbation.lime_kernel", "kernel_width negative",
     lambda: lime_kernel(torch.ones(2, 3, dtype=torch.bool), -1.0), ValueError,
     "kernel_width"),
    ("lrp.methods.perturbation.lime_draws", "samples 0", lambda: lime_draws(0, 3), ValueError,
     "samples"),
    ("lrp.methods.perturbation.occlusion_windows", "window of the wrong length",
     lambda: occlusion_windows((2, 4, 4), (1, 2)), ValueError, "one entry per axis"),
]


def _two_inputs():
    class Two(nn.Module):
        def forward(self, a, b):
            return (a + b).flatten(1)

    return neon.neuralize(Two(), (XC[:1], XC[:1]))
