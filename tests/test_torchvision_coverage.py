"""Coverage of torchvision's CNNs: every classification builder (transformers aside: they
belong to the transformer tests) imports, reproduces its module and explains with relevance
in the range gradient × input gives.

Random weights, randomized BatchNorm statistics, small inputs. The default run samples one
builder per family (the smallest); ``NEON_HEAVY=1`` runs all of them (``-m heavy`` selects
only the rest). Per builder:

* import, and equivalence with the module in float32 (≤ 1e-4 relative);
* ``lrp.explain`` with EpsilonPlusFlat and EpsilonOnly: finite and shaped like the input;
* ΣR/f of ε-only within a factor 2 of gradient × input's x·∇f/f, per sample. Random deep nets
  with randomized BatchNorm shifts often compute a logit made almost wholly of shifts
  (x·∇f/f ≈ 1e-10); there a ratio is noise, and the check is that ε-only stays as small
  (|ΣR/f| ≤ 2e-3 where |x·∇f/f| < 1e-3: DenseNet's Pass rule gave 5e7);
  The reference for networks with LayerNorm/GroupNorm (ConvNeXt) is the gradient × input of
  the network whose normalization scale is held constant (what the FrozenScale rule
  explains, Ali et al. 2022): a LayerNorm network is nearly invariant to its input's scale,
  so its own x·∇f/f is ≈ 1e-8 whatever the rules do;
* the bias-free variant (biases, BatchNorm means and shifts zero) in float64 (≤ 1e-10): with
  every stabilizer at 0 (LRP-0) relevance is conserved exactly (ΣR/f = 1), and, for the
  piecewise-linear families (ReLU, max/average pooling, concatenation, BatchNorm), LRP-0 =
  gradient × input exactly. (For SiLU networks x·∇f/f is not 1 here: EfficientNetV2-S gives
  2.6–2.9, a function of degree above one, while LRP conserves.)
"""

from __future__ import annotations

import os
import re
import warnings

import pytest
import torch
import torchvision
from torch import nn

import lrp
import neon
from lrp import rules, select
from neon import ops
from tests.neon.nets import randomize_batchnorm

HEAVY = os.environ.get("NEON_HEAVY", "") not in ("", "0")
TRANSFORMERS = ("vit_", "swin_", "maxvit_")
BUILDERS = [name for name in torchvision.models.list_models(module=torchvision.models)
            if not name.startswith(TRANSFORMERS)]
# one per family, the smallest: what the default run checks
SAMPLED = {"alexnet", "convnext_tiny", "densenet121", "efficientnet_b0", "efficientnet_v2_s",
           "googlenet", "inception_v3", "mnasnet0_5", "mobilenet_v2", "mobilenet_v3_small",
           "regnet_x_400mf", "regnet_y_400mf", "resnet18", "resnext50_32x4d",
           "shufflenet_v2_x0_5", "squeezenet1_1", "vgg11_bn", "wide_resnet50_2"}
SIZE = {"alexnet": 64, "inception_v3": 80}
# ReLU networks with max/average pooling, concatenations and BatchNorm: LRP-0 = gradient × input
PIECEWISE_LINEAR = ("alexnet", "vgg", "resnet", "resnext", "wide_resnet", "densenet",
                    "googlenet", "inception", "squeezenet", "shufflenet", "regnet_x", "mnasnet",
                    "mobilenet_v2")
# LRP-0: every stabilizer at zero, on every op family the CNNs contain
LRP0 = lrp.Composite([(select.kind("affine"), rules.Epsilon(0.0)),
                      (select.kind("summation"), rules.Norm(0.0)),
                      (select.kind("batchnorm", "broadcast_affine"), rules.ElementwiseEpsilon(0.0)),
                      (select.kind("normalization"), rules.FrozenScale(0.0))])


def _param(name):
    marks = [] if name in SAMPLED else [
        pytest.mark.heavy, pytest.mark.skipif(not HEAVY, reason="NEON_HEAVY=1 runs all")]
    return pytest.param(name, marks=marks, id=name)


def _family(name: str) -> str:
    return re.match(r"efficientnet_v2|regnet_[xy]|mobilenet_v[23]|wide_resnet|[a-z]+",
                    name).group()


def test_the_sample_covers_every_family():
    families = {_family(name) for name in BUILDERS}
    sampled = {_family(name) for name in SAMPLED}
    assert SAMPLED <= set(BUILDERS) and families == sampled, families - sampled
    assert len(BUILDERS) == 68   # 80 classification builders, 12 of them transformers


def _model(name):
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # inception/googlenet: init_weights future warning
        model = torchvision.models.get_model(name, weights=None)
    return randomize_batchnorm(model.eval(), seed=1)


def _input(name, dtype=torch.float32):
    size = SIZE.get(name, 32)
    return torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(2),
                       dtype=dtype)


def _ratios(relevance, f):
    return relevance.flatten(1).sum(1) / f


def _within_factor_two(ratio, reference, floor=1e-3):
    """Per sample: ratio / reference in [1/2, 2] where |reference| ≥ floor, else |ratio| ≤
    2·floor (a logit the input hardly moves: both must stay negligible)."""
    big = reference.abs() >= floor
    share = ratio / torch.where(big, reference, torch.ones_like(reference))
    return bool(torch.where(big, (share >= 0.5) & (share <= 2.0), ratio.abs() <= 2 * floor).all())


class _FrozenNormalization:
    """Hold LayerNorm/GroupNorm's inverse std constant in the graph's forward (autograd then
    gives the gradient of the network FrozenScale explains)."""

    def __enter__(self):
        self.saved = {cls: cls.forward for cls in (ops.LayerNorm, ops.GroupNorm)}
        for cls in self.saved:
            def frozen(op, x):
                mean, rstd = op.statistics(x)
                return op.normalize(x, mean, rstd.detach())
            cls.forward = frozen

    def __exit__(self, *exc):
        for cls, forward in self.saved.items():
            cls.forward = forward


def _bias_free(model: nn.Module) -> nn.Module:
    with torch.no_grad():
        for m in model.modules():
            bias = getattr(m, "bias", None)
            if isinstance(bias, torch.Tensor):
                bias.zero_()
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.zero_()
    return model


@pytest.mark.parametrize("name", [_param(n) for n in BUILDERS])
def test_builder_imports_reproduces_and_explains(name):
    model = _model(name)
    x = _input(name)
    graph = neon.from_torch(model, x)
    with torch.no_grad():
        expected = model(x)
        out = graph(x)
    assert out.shape == expected.shape
    assert float((out - expected).abs().max() / expected.abs().max()) <= 1e-4
    target = expected.argmax(1)
    f = expected.gather(1, target[:, None])[:, 0]
    for composite in (lrp.EpsilonPlusFlat(), lrp.EpsilonOnly()):
        relevance = lrp.explain(graph, x, target, composite)
        assert relevance.shape == x.shape and bool(torch.isfinite(relevance).all()), composite
    epsilon = _ratios(relevance, f)   # EpsilonOnly, the last one
    with _FrozenNormalization():
        reference = _ratios(lrp.gradient_x_input(graph, x, target), f)
    assert _within_factor_two(epsilon, reference), (epsilon, reference)


@pytest.mark.filterwarnings("ignore::lrp.composites.UnmatchedSelectorWarning")
@pytest.mark.parametrize("name", [_param(n) for n in BUILDERS])
def test_bias_free_builder_lrp0_against_gradient_x_input_in_float64(name):
    model = _bias_free(_model(name)).double()
    x = _input(name, torch.float64)
    graph = neon.from_torch(model, x)
    with torch.no_grad():
        expected = model(x)
        assert float((graph(x) - expected).abs().max() / expected.abs().max()) <= 1e-10
    target = expected.argmax(1)
    f = expected.gather(1, target[:, None])[:, 0]
    relevance = lrp.explain(graph, x, target, LRP0)
    torch.testing.assert_close(_ratios(relevance, f), torch.ones_like(f), rtol=0, atol=1e-8)
    if name.startswith(PIECEWISE_LINEAR):
        reference = lrp.gradient_x_input(graph, x, target)
        torch.testing.assert_close(relevance, reference, rtol=1e-8,
                                   atol=1e-10 * float(reference.abs().max()))


# ------------------------------------------------------------- video and segmentation models

class _Segmentation(nn.Module):
    """A segmentation model's "out" map (the modules return a dict)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


def _other(name):
    torch.manual_seed(0)
    if name in torchvision.models.list_models(module=torchvision.models.segmentation):
        model = torchvision.models.get_model(name, weights=None, weights_backbone=None,
                                             aux_loss=False)
        return _Segmentation(randomize_batchnorm(model.eval(), seed=1)), (2, 3, 32, 32)
    model = torchvision.models.get_model(name, weights=None)
    return randomize_batchnorm(model.eval(), seed=1), (2, 3, 4, 32, 32)


OTHERS = ["r3d_18", "mc3_18", "r2plus1d_18", "lraspp_mobilenet_v3_large", "fcn_resnet50",
          "deeplabv3_mobilenet_v3_large"]


@pytest.mark.parametrize("name", [
    pytest.param(n, id=n) if n in ("r3d_18", "lraspp_mobilenet_v3_large") else _param(n)
    for n in OTHERS])
def test_video_and_segmentation_models_import_and_explain(name):
    """Video ResNets (whose Conv3DSimple subclasses nn.Conv3d) and segmentation heads
    (bilinear interpolation back to the input's size): the output of one class summed over
    the image (segmentation) or the logit (video) explained."""
    model, shape = _other(name)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(2))
    graph = neon.from_torch(model, x)
    with torch.no_grad():
        expected = model(x)
        assert float((graph(x) - expected).abs().max() / expected.abs().max()) <= 1e-4
    mask = torch.zeros_like(expected)
    if expected.dim() == 2:
        mask[torch.arange(2), expected.argmax(1)] = 1.0
    else:
        mask[:, 1] = 1.0     # every pixel's class-1 score
    f = (expected * mask).flatten(1).sum(1)
    relevance = lrp.explain(graph, x, mask, lrp.EpsilonOnly())
    assert relevance.shape == x.shape and bool(torch.isfinite(relevance).all())
    reference = _ratios(lrp.gradient_x_input(graph, x, mask), f)
    assert _within_factor_two(_ratios(relevance, f), reference), (relevance, reference)
