"""Bad-input rows of lrp.meaningful_perturbation and lrp.extremal_perturbation (and the helpers
of lrp.methods.masks), for tests/test_bad_input_table.py: ``(entry point, what is wrong,
zero-argument call, exception class, words the message must contain)``. The graphs are tiny:
a tabular MLP (4 features), an image CNN (2, 4, 4), a volume CNN (1, 3, 3, 3)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import neon
from lrp.methods import masks

F64 = torch.float64


def _mlp():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).double()
    return neon.neuralize(net, torch.randn(1, 4, dtype=F64))


def _cnn():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(3 * 4 * 4, 3)).double()
    return net, neon.neuralize(net, torch.randn(1, 2, 4, 4, dtype=F64))


def _volume():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv3d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(2 * 27, 3)).double()
    return neon.neuralize(net, torch.randn(1, 1, 3, 3, 3, dtype=F64))


def _signal():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv1d(2, 2, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(2 * 5, 3)).double()
    return neon.neuralize(net, torch.randn(1, 2, 5, dtype=F64))


def _two_inputs():
    class Two(nn.Module):
        def forward(self, a, b):
            return (a + b).flatten(1)

    return neon.neuralize(Two(), (XC[:1], XC[:1]))


G = _mlp()
CNN, C = _cnn()
V = _volume()
S = _signal()
X = torch.randn(2, 4, dtype=F64)
XC = torch.rand(2, 2, 4, 4, dtype=F64)
XV = torch.rand(2, 1, 3, 3, 3, dtype=F64)
XS = torch.rand(2, 2, 5, dtype=F64)


def mp(**kw):
    kw.setdefault("steps", 2)
    return lambda: masks.meaningful_perturbation(kw.pop("graph", C), kw.pop("x", XC), **kw)


def ep(**kw):
    kw.setdefault("steps", 2)
    return lambda: masks.extremal_perturbation(kw.pop("graph", C), kw.pop("x", XC), **kw)


MPN, EPN = "lrp.meaningful_perturbation", "lrp.extremal_perturbation"

ROWS = [
    # ---- lrp.meaningful_perturbation
    (MPN, "a torch module, not a graph",
     lambda: masks.meaningful_perturbation(CNN, XC, steps=2), TypeError, "neuralize"),
    (MPN, "tabular input", mp(graph=G, x=X), ValueError, "(N, C, H, W) or 1-d signals"),
    (MPN, "a volume (N, C, D, H, W)", mp(graph=V, x=XV), ValueError, "masks images"),
    (MPN, "a graph with two inputs", lambda: masks.meaningful_perturbation(
        _two_inputs(), (XC, XC), steps=2), ValueError, "one input"),
    (MPN, "unknown perturbation", mp(perturbation="gaussian"), ValueError,
     "perturbation must be one of"),
    (MPN, "area negative", mp(area=-0.1), ValueError, "area must be ≥ 0"),
    (MPN, "area a string", mp(area="small"), TypeError, "area must be a real number"),
    (MPN, "tv NaN", mp(tv=float("nan")), ValueError, "tv must be a number"),
    (MPN, "tv_beta below 1", mp(tv_beta=0.5), ValueError, "tv_beta must be ≥ 1"),
    (MPN, "mask_size 0", mp(mask_size=0), ValueError, "mask_size=0 must lie between 1"),
    (MPN, "mask_size 0 on one axis of a signal", mp(graph=S, x=XS, mask_size=(0,)),
     ValueError, "spatial size (5,)"),
    (MPN, "mask_size larger than the image", mp(mask_size=5), ValueError,
     "spatial size (4, 4)"),
    (MPN, "mask_size of the wrong length", mp(mask_size=(2, 2, 2)), TypeError,
     "one per spatial axis"),
    (MPN, "mask_size a float", mp(mask_size=2.0), TypeError, "mask_size must be a positive"),
    (MPN, "blur_sigma 0", mp(blur_sigma=0.0), ValueError, "blur_sigma must be >"),
    (MPN, "blur_sigma with a constant perturbation", mp(perturbation="constant",
                                                         blur_sigma=2.0), ValueError,
     "blur_sigma belongs to perturbation='blur'"),
    (MPN, "value with the blur", mp(value=0.5), ValueError, "value belongs to"),
    (MPN, "value an unknown word", mp(perturbation="constant", value="median"), ValueError,
     "'mean'"),
    (MPN, "value infinite", mp(perturbation="constant", value=float("inf")), ValueError,
     "value must be finite"),
    (MPN, "noise_sigma negative", mp(perturbation="noise", noise_sigma=-1.0), ValueError,
     "noise_sigma must be >"),
    (MPN, "noise_sigma with the blur", mp(noise_sigma=1.0), ValueError,
     "noise_sigma belongs to"),
    (MPN, "steps 0", mp(steps=0), ValueError, "steps must be ≥ 1"),
    (MPN, "steps a float", mp(steps=10.0), TypeError, "steps must be an integer"),
    (MPN, "lr 0", mp(lr=0.0), ValueError, "lr must be >"),
    (MPN, "lr infinite", mp(lr=float("inf")), ValueError, "lr must be finite"),
    (MPN, "jitter negative", mp(jitter=-1), ValueError, "jitter must be ≥ 0"),
    (MPN, "jitter a float", mp(jitter=1.0), TypeError, "jitter must be an integer"),
    (MPN, "jitter as large as the image", mp(jitter=4), ValueError, "give jitter < 4"),
    (MPN, "seed a string", mp(seed="abc"), TypeError, "seed"),
    (MPN, "seed negative", mp(seed=-3), ValueError, "seed"),
    (MPN, "batch_size 0", mp(batch_size=0), ValueError, "batch_size"),
    (MPN, "return_all not a bool", mp(return_all=1), TypeError, "return_all"),
    (MPN, "target out of range", mp(target=7), Exception, "target"),
    # ---- lrp.extremal_perturbation
    (EPN, "a torch module, not a graph",
     lambda: masks.extremal_perturbation(CNN, XC, steps=2), TypeError, "neuralize"),
    (EPN, "tabular input", ep(graph=G, x=X), ValueError, "(N, C, H, W) or 1-d signals"),
    (EPN, "a volume (N, C, D, H, W)", ep(graph=V, x=XV), ValueError, "masks images"),
    (EPN, "areas empty", ep(areas=()), TypeError, "non-empty sequence"),
    (EPN, "areas a string", ep(areas="0.1"), TypeError, "areas must be a number"),
    (EPN, "an area of 0", ep(areas=(0.0, 0.1)), ValueError, "(0, 1)"),
    (EPN, "an area NaN", ep(areas=float("nan")), ValueError, "areas must be a number"),
    (EPN, "an area of 1", ep(areas=(0.1, 1.0)), ValueError, "(0, 1)"),
    (EPN, "an area above 1 given as a percentage", ep(areas=5), ValueError, "(0, 1)"),
    (EPN, "an area that is not a number", ep(areas=(0.1, None)), TypeError,
     "areas must be a real number"),
    (EPN, "areas a 2-d array", ep(areas=np.full((2, 2), 0.1)), TypeError,
     "shape (2, 2)"),
    (EPN, "unknown variant", ep(variant="keep"), ValueError, "variant must be one of"),
    (EPN, "unknown smoothing", ep(smoothing="mean"), ValueError, "smoothing must be one of"),
    (EPN, "unknown perturbation", ep(perturbation="fade"), ValueError,
     "perturbation must be one of"),
    (EPN, "step 0", ep(step=0), ValueError, "step must be ≥ 1"),
    (EPN, "step a float", ep(step=2.0), TypeError, "step must be an integer"),
    (EPN, "step larger than the image", ep(step=5), ValueError, "larger than the input's"),
    (EPN, "smooth_sigma 0", ep(smooth_sigma=0.0), ValueError, "smooth_sigma must be >"),
    (EPN, "blur_sigma negative", ep(blur_sigma=-2.0), ValueError, "blur_sigma must be >"),
    (EPN, "value with the blur", ep(value=0.0), ValueError, "value belongs to"),
    (EPN, "area_weight 0", ep(area_weight=0.0), ValueError, "area_weight must be >"),
    (EPN, "growth below 1", ep(growth=0.5), ValueError, "growth must be ≥ 1"),
    (EPN, "steps 0", ep(steps=0), ValueError, "steps must be ≥ 1"),
    (EPN, "lr negative", ep(lr=-0.1), ValueError, "lr must be >"),
    (EPN, "jitter a bool", ep(jitter=True), TypeError, "jitter must be an integer"),
    (EPN, "jitter larger than a signal", ep(graph=S, x=XS, jitter=6), ValueError,
     "give jitter < 5"),
    (EPN, "seed a float", ep(seed=1.5), TypeError, "seed"),
    (EPN, "batch_size a float", ep(batch_size=1.0), ValueError, "batch_size"),
    (EPN, "return_all not a bool", ep(return_all="yes"), TypeError, "return_all"),
    (EPN, "target out of range", ep(target=7), Exception, "target"),
    # ---- the helpers of lrp.methods.masks
    ("lrp.methods.masks.gaussian_blur", "a numpy array",
     lambda: masks.gaussian_blur(XC.numpy(), 1.0), TypeError, "torch tensor"),
    ("lrp.methods.masks.gaussian_blur", "no spatial axis",
     lambda: masks.gaussian_blur(X, 1.0), ValueError, "at least 3 axes"),
    ("lrp.methods.masks.gaussian_blur", "sigma 0", lambda: masks.gaussian_blur(XC, 0.0),
     ValueError, "sigma must be >"),
    ("lrp.methods.masks.total_variation", "beta below 1",
     lambda: masks.total_variation(XC[:, 0], 0.5), ValueError, "beta must be ≥ 1"),
    ("lrp.methods.masks.total_variation", "an integer tensor",
     lambda: masks.total_variation(torch.ones(2, 3, dtype=torch.long)), TypeError,
     "floating-point"),
    ("lrp.methods.masks.smooth_mask", "spatial of the wrong length",
     lambda: masks.smooth_mask(XC[:, 0], (4,), 1, 1.0), ValueError, "one per parameter axis"),
    ("lrp.methods.masks.smooth_mask", "unknown smoothing",
     lambda: masks.smooth_mask(XC[:, 0], (4, 4), 1, 1.0, "mean"), ValueError,
     "smoothing must be one of"),
    ("lrp.methods.masks.area_penalty", "one area for two masks per sample",
     lambda: masks.area_penalty(XC, (0.1,)), ValueError, "one area per mask"),
]
