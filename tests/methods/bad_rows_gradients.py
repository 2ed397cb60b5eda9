"""Bad-input rows of the gradient family (lrp.methods.gradients), the backward walks
(lrp.methods.walks) and their rules (lrp.rules.gradient).

``ROWS = [(entry point, what is wrong, zero-argument call, exception class, words the message
must contain), ...]``, in the form of tests/test_bad_input_table.py's TABLE; the test at the
bottom runs every row (``pytest tests/methods/bad_rows_gradients.py``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import lrp
import neon
from lrp import rules, select
from lrp.methods.gradients import path_points
from neon.graph import GraphInputError

torch.set_num_threads(1)
F64 = torch.float64


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).double().eval()


def _cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(3 * 4 * 4, 3)).double().eval()


class _TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.fa, self.fb, self.fc = nn.Linear(3, 4), nn.Linear(2, 4), nn.Linear(8, 2)

    def forward(self, a, b):
        return self.fc(torch.cat([torch.relu(self.fa(a)), torch.relu(self.fb(b))], 1))


MLP = _mlp()
G = neon.neuralize(MLP, torch.randn(1, 4, dtype=F64))
C = neon.neuralize(_cnn(), torch.randn(1, 2, 4, 4, dtype=F64))
TANH_TOP = neon.neuralize(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2),
                                        nn.Tanh()).double(), torch.randn(1, 4, dtype=F64))
TWO = neon.neuralize(_TwoInputs().double(), (torch.randn(1, 3, dtype=F64),
                                             torch.randn(1, 2, dtype=F64)))
X = torch.randn(2, 4, dtype=F64)
XC = torch.rand(2, 2, 4, 4, dtype=F64)
XA, XB = torch.randn(2, 3, dtype=F64), torch.randn(2, 2, dtype=F64)


def _kmeans():
    from sklearn.cluster import KMeans

    data = np.random.default_rng(0).normal(size=(30, 3))
    return KMeans(2, n_init=2, random_state=0).fit(data)


ig, sg = lrp.integrated_gradients, lrp.smoothgrad

# (entry point, what is wrong, call, exception, words the message must contain)
ROWS = [
    # ---- lrp.gradient
    ("lrp.gradient", "a torch module instead of a graph", lambda: lrp.gradient(MLP, X),
     TypeError, "neon.neuralize"),
    ("lrp.gradient", "an unneuralized estimator", lambda: lrp.gradient(_kmeans(), X[:, :3]),
     TypeError, "scikit-learn estimator"),
    ("lrp.gradient", "abs and square both True",
     lambda: lrp.gradient(G, X, abs=True, square=True), ValueError, "not both"),
    ("lrp.gradient", "reduce_channels on tabular input",
     lambda: lrp.gradient(G, X, reduce_channels=True), ValueError, "tabular"),
    ("lrp.gradient", "abs not a bool", lambda: lrp.gradient(G, X, abs=1), TypeError,
     "abs must be True or False"),
    ("lrp.gradient", "square not a bool", lambda: lrp.gradient(G, X, square="yes"), TypeError,
     "square must be True or False"),
    ("lrp.gradient", "reduce_channels not a bool",
     lambda: lrp.gradient(C, XC, reduce_channels=None), TypeError,
     "reduce_channels must be True or False"),
    ("lrp.gradient", "return_all not a bool", lambda: lrp.gradient(G, X, return_all=1),
     TypeError, "return_all must be True or False"),
    ("lrp.gradient", "batch_size=0", lambda: lrp.gradient(G, X, batch_size=0), ValueError,
     "positive integer"),
    ("lrp.gradient", "batch_size a float", lambda: lrp.gradient(G, X, batch_size=2.0),
     ValueError, "positive integer"),
    ("lrp.gradient", "input of the wrong width",
     lambda: lrp.gradient(G, torch.randn(2, 5, dtype=F64)), GraphInputError, "5"),
    ("lrp.gradient", "no samples", lambda: lrp.gradient(G, X[:0]), ValueError,
     "no samples"),
    ("lrp.gradient", "one target per sample, wrong count",
     lambda: lrp.gradient(G, X, [0, 1, 2]), lrp.TargetError, "3"),
    # ---- lrp.gradient_x_input
    ("lrp.gradient_x_input", "a torch module instead of a graph",
     lambda: lrp.gradient_x_input(MLP, X), TypeError, "neon.neuralize"),
    ("lrp.gradient_x_input", "batch_size=0", lambda: lrp.gradient_x_input(G, X, batch_size=0),
     ValueError, "positive integer"),
    ("lrp.gradient_x_input", "return_all not a bool",
     lambda: lrp.gradient_x_input(G, X, return_all="no"), TypeError,
     "return_all must be True or False"),
    # ---- lrp.integrated_gradients
    ("lrp.integrated_gradients", "a torch module instead of a graph",
     lambda: ig(MLP, X), TypeError, "neon.neuralize"),
    ("lrp.integrated_gradients", "steps=0", lambda: ig(G, X, steps=0), ValueError,
     "steps must be ≥ 1"),
    ("lrp.integrated_gradients", "steps a float", lambda: ig(G, X, steps=2.5), TypeError,
     "steps must be an integer"),
    ("lrp.integrated_gradients", "one trapezoid node",
     lambda: ig(G, X, steps=1, method="riemann_trapezoid"), ValueError, "steps must be ≥ 2"),
    ("lrp.integrated_gradients", "unknown method", lambda: ig(G, X, method="simpson"),
     ValueError, "gausslegendre"),
    ("lrp.integrated_gradients", "baseline of the wrong shape",
     lambda: ig(G, X, baseline=torch.zeros(3)), ValueError, "does not broadcast"),
    ("lrp.integrated_gradients", "baseline with the wrong number of samples",
     lambda: ig(G, X, baseline=np.zeros((3, 4))), ValueError, "(3, 4)"),
    ("lrp.integrated_gradients", "baseline with NaN",
     lambda: ig(G, X, baseline=torch.full((4,), math.nan)), ValueError, "NaN"),
    ("lrp.integrated_gradients", "scalar baseline NaN", lambda: ig(G, X, baseline=math.nan),
     ValueError, "NaN"),
    ("lrp.integrated_gradients", "scalar baseline infinite",
     lambda: ig(G, X, baseline=math.inf), ValueError, "finite"),
    ("lrp.integrated_gradients", "baseline a string", lambda: ig(G, X, baseline="zeros"),
     TypeError, "str"),
    ("lrp.integrated_gradients", "baseline None", lambda: ig(G, X, baseline=None), TypeError,
     "must be a number"),
    ("lrp.integrated_gradients", "baseline a bool", lambda: ig(G, X, baseline=True),
     TypeError, "must be a number"),
    ("lrp.integrated_gradients", "baseline of booleans",
     lambda: ig(G, X, baseline=torch.zeros(4, dtype=torch.bool)), TypeError,
     "real numbers"),
    ("lrp.integrated_gradients", "callable baseline returning a string",
     lambda: ig(G, X, baseline=lambda x: "zeros"), TypeError, "str"),
    ("lrp.integrated_gradients", "one baseline array for a two-input graph",
     lambda: ig(TWO, (XA, XB), baseline=np.zeros(3)), ValueError, "one baseline per input"),
    ("lrp.integrated_gradients", "batch_size=0", lambda: ig(G, X, batch_size=0), ValueError,
     "positive integer"),
    ("lrp.integrated_gradients", "return_all not a bool", lambda: ig(G, X, return_all=1),
     TypeError, "return_all must be True or False"),
    # ---- path_points
    ("lrp.methods.gradients.path_points", "unknown method", lambda: path_points("simpson", 4),
     ValueError, "riemann_left"),
    ("lrp.methods.gradients.path_points", "steps=0", lambda: path_points("riemann_left", 0),
     ValueError, "steps must be ≥ 1"),
    # ---- lrp.smoothgrad
    ("lrp.smoothgrad", "a torch module instead of a graph", lambda: sg(MLP, X), TypeError,
     "neon.neuralize"),
    ("lrp.smoothgrad", "samples=0", lambda: sg(G, X, samples=0), ValueError,
     "samples must be ≥ 1"),
    ("lrp.smoothgrad", "samples a float", lambda: sg(G, X, samples=2.0), TypeError,
     "samples must be an integer"),
    ("lrp.smoothgrad", "sigma=-1", lambda: sg(G, X, sigma=-1), ValueError,
     "sigma must be ≥ 0"),
    ("lrp.smoothgrad", "sigma NaN", lambda: sg(G, X, sigma=math.nan), ValueError, "NaN"),
    ("lrp.smoothgrad", "sigma a string", lambda: sg(G, X, sigma="0.1"), TypeError,
     "sigma must be a real number"),
    ("lrp.smoothgrad", "unknown variant", lambda: sg(G, X, variant="median"), ValueError,
     "'variance'"),
    ("lrp.smoothgrad", "seed a string", lambda: sg(G, X, seed="x"), TypeError,
     "seed must be None, a non-negative integer"),
    ("lrp.smoothgrad", "seed a float", lambda: sg(G, X, seed=1.5), TypeError,
     "seed must be None, a non-negative integer"),
    ("lrp.smoothgrad", "unknown method name", lambda: sg(G, X, method="nonsense"), ValueError,
     "integrated_gradients"),
    ("lrp.smoothgrad", "wrapping itself", lambda: sg(G, X, method="smoothgrad"), ValueError,
     "cannot wrap 'smoothgrad'"),
    ("lrp.smoothgrad", "method not callable", lambda: sg(G, X, method=42), TypeError,
     "method must be callable"),
    ("lrp.smoothgrad", "return_all not a bool", lambda: sg(G, X, return_all="yes"), TypeError,
     "return_all must be True or False"),
    ("lrp.smoothgrad", "batch_size=0", lambda: sg(G, X, batch_size=0), ValueError,
     "positive integer"),
    ("lrp.smoothgrad", "an option the wrapped method lacks",
     lambda: sg(G, X, samples=2, seed=0, steps=4), TypeError, "steps"),
    ("lrp.smoothgrad", "a bad option of the wrapped method",
     lambda: sg(G, X, method="integrated_gradients", steps=0, samples=2, seed=0), ValueError,
     "steps must be ≥ 1"),
    # ---- the walks
    ("lrp.guided_backprop", "a torch module instead of a graph",
     lambda: lrp.guided_backprop(MLP, X), TypeError, "neon.neuralize"),
    ("lrp.guided_backprop", "batch_size=0", lambda: lrp.guided_backprop(G, X, batch_size=0),
     ValueError, "positive integer"),
    ("lrp.guided_backprop", "return_all not a bool",
     lambda: lrp.guided_backprop(G, X, return_all=1), TypeError,
     "return_all must be True or False"),
    ("lrp.deconvnet", "a torch module instead of a graph", lambda: lrp.deconvnet(MLP, X),
     TypeError, "neon.neuralize"),
    ("lrp.deconvnet", "batch_size=0", lambda: lrp.deconvnet(G, X, batch_size=-1), ValueError,
     "positive integer"),
    ("lrp.deconvnet", "return_all not a bool", lambda: lrp.deconvnet(G, X, return_all=None),
     TypeError, "return_all must be True or False"),
    ("lrp.excitation_backprop", "a torch module instead of a graph",
     lambda: lrp.excitation_backprop(MLP, X), TypeError, "neon.neuralize"),
    ("lrp.excitation_backprop", "contrastive=1",
     lambda: lrp.excitation_backprop(G, X, contrastive=1), TypeError,
     "contrastive must be True or False"),
    ("lrp.excitation_backprop", "contrastive with a non-affine explained node",
     lambda: lrp.excitation_backprop(TANH_TOP, X, contrastive=True), ValueError,
     "not an affine layer"),
    ("lrp.excitation_backprop", "batch_size=0",
     lambda: lrp.excitation_backprop(G, X, batch_size=0), ValueError, "positive integer"),
    ("lrp.excitation_backprop", "contrastive with batch_size=0",
     lambda: lrp.excitation_backprop(G, X, contrastive=True, batch_size=0), ValueError,
     "positive integer"),
    ("lrp.excitation_backprop", "return_all not a bool",
     lambda: lrp.excitation_backprop(G, X, contrastive=True, return_all=1), TypeError,
     "return_all must be True or False"),
    # ---- the rules
    ("lrp.rules.GuidedBackprop", "a parameter it does not take",
     lambda: rules.GuidedBackprop(1), TypeError, "takes no arguments"),
    ("lrp.rules.DeconvNet", "a parameter it does not take",
     lambda: rules.DeconvNet(dual=True), TypeError, "takes no arguments"),
    ("lrp.rules.Gradient", "a parameter it does not take", lambda: rules.Gradient(0.1),
     TypeError, "takes no arguments"),
    ("lrp.rules.ExcitationBackprop", "dual not a bool",
     lambda: rules.ExcitationBackprop(dual="yes"), TypeError, "dual must be True or False"),
    ("lrp.rules.ExcitationBackprop", "assigned to a ReLU",
     lambda: lrp.explain(G, X, composite=lrp.Composite(
         [(select.kind("relu"), rules.ExcitationBackprop())])), lrp.RuleError,
     "handles only Affine ops"),
    ("lrp.rules.GuidedBackprop", "the class, not an instance, in a composite",
     lambda: lrp.Composite([(select.kind("relu"), rules.GuidedBackprop)]), TypeError,
     "GuidedBackprop(...)"),
]


@pytest.mark.parametrize("entry,what,call,exc,words", ROWS,
                         ids=[f"{r[0]}: {r[1]}" for r in ROWS])
def test_row(entry, what, call, exc, words):
    with pytest.raises(exc) as info:
        call()
    assert words in str(info.value), f"{entry} ({what}): {info.value}"


def test_every_public_function_has_rows():
    from lrp.methods import gradients, walks

    names = {r[0].split(".")[-1] for r in ROWS}
    public = set(gradients.__all__) - {"IG_METHODS", "SMOOTHGRAD_VARIANTS"}
    public |= set(walks.__all__) | set(rules.gradient.__all__)
    assert public <= names, public - names
