"""Grad-CAM, guided Grad-CAM and CAM: against hand computations in numpy (a tiny conv net
and a scikit-learn MLP, every activation, gradient and map computed here from the weights)
and against captum's LayerGradCam / GuidedGradCam on ResNet-18, VGG-11 and a 1-d conv net."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from captum.attr import GuidedGradCam, LayerAttribution, LayerGradCam
from torch import nn

import lrp
import neon
from lrp.methods.cams import cam_node
from tests.methods.conftest import F32, F64, per_sample_rel_l2

torch.set_num_threads(1)


# ------------------------------------------------------------------ numpy, independent

def np_conv(x, w, b):
    """3 × 3 convolution, stride 1, zero padding 1: x (N, Ci, H, W), w (Co, Ci, 3, 3)."""
    n, _, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, w.shape[0], h, wd)) + b[None, :, None, None]
    for i in range(3):
        for j in range(3):
            out += np.einsum("nchw,oc->nohw", xp[:, :, i:i + h, j:j + wd], w[:, :, i, j])
    return out


def np_conv_back(g, w):
    """∂/∂x of ⟨g, conv(x)⟩ for the convolution above."""
    n, _, h, wd = g.shape
    gx = np.zeros((n, w.shape[1], h + 2, wd + 2))
    for i in range(3):
        for j in range(3):
            gx[:, :, i:i + h, j:j + wd] += np.einsum("nohw,oc->nchw", g, w[:, :, i, j])
    return gx[:, :, 1:-1, 1:-1]


def np_maxpool(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max((3, 5))


def np_maxpool_back(x, g):
    """Each window's gradient to its first maximum in row-major order, as torch (the ReLU
    before the pool leaves windows of zeros, so ties do occur)."""
    n, c, h, w = x.shape
    windows = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5)
    first = np.eye(4)[windows.reshape(n, c, h // 2, w // 2, 4).argmax(-1)]
    routed = first * g[..., None]
    return routed.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(
        n, c, h, w)


def np_resize_axis(a, axis, size, mode):
    """Resize one axis as torch's interpolate with align_corners=False."""
    n = a.shape[axis]
    scale = n / size
    if mode == "nearest":
        return np.take(a, np.minimum(np.floor(np.arange(size) * scale).astype(int), n - 1),
                       axis)
    src = np.maximum((np.arange(size) + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(int), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    lam = (src - i0).reshape([-1 if k == axis else 1 for k in range(a.ndim)])
    return np.take(a, i0, axis) * (1 - lam) + np.take(a, i1, axis) * lam


def np_resize(a, size, mode="bilinear"):
    for k, s in enumerate(size):
        a = np_resize_axis(a, 2 + k, s, mode)
    return a


# ------------------------------------------------------------------------- a tiny net

class Tiny(nn.Module):
    """conv → ReLU → max pool → conv → ReLU → global average pool → flatten → linear."""

    def __init__(self):
        super().__init__()
        self.c1, self.r1, self.p1 = nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)
        self.c2, self.r2 = nn.Conv2d(4, 3, 3, padding=1), nn.ReLU()
        self.gap, self.flatten, self.fc = nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 3)

    def forward(self, x):
        h = self.p1(self.r1(self.c1(x)))
        return self.fc(self.flatten(self.gap(self.r2(self.c2(h)))))


@pytest.fixture(scope="module")
def tiny():
    """(graph, x, a dict of every numpy value and weight)."""
    torch.manual_seed(3)
    model = Tiny().double().eval()
    x = torch.randn(3, 2, 6, 6, dtype=F64)
    graph = neon.neuralize(model, x[:1])
    p = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    v = {"x": x.numpy()}
    v["c1"] = np_conv(v["x"], p["c1.weight"], p["c1.bias"])
    v["r1"] = np.maximum(v["c1"], 0)
    v["p1"] = np_maxpool(v["r1"])
    v["c2"] = np_conv(v["p1"], p["c2.weight"], p["c2.bias"])
    v["r2"] = np.maximum(v["c2"], 0)
    v["logits"] = v["r2"].mean((2, 3)) @ p["fc.weight"].T + p["fc.bias"]
    return graph, x, v, p


def np_backward(v, p, mask, guided=False):
    """∂s/∂(node) for s = Σ_c mask_c logits_c, at r2, c2, p1, r1 and x; ``guided``: ReLUs
    pass back only positive gradient at positive inputs (guided backpropagation)."""
    g = {}
    g["r2"] = np.broadcast_to((mask @ p["fc.weight"])[:, :, None, None] / 9, v["r2"].shape)
    g["c2"] = g["r2"] * (v["c2"] > 0) * ((g["r2"] > 0) if guided else 1)
    g["p1"] = np_conv_back(g["c2"], p["c2.weight"])
    g["r1"] = np_maxpool_back(v["r1"], g["p1"])
    g["c1"] = g["r1"] * (v["c1"] > 0) * ((g["r1"] > 0) if guided else 1)
    g["x"] = np_conv_back(g["c1"], p["c1.weight"])
    return g


def np_grad_cam(v, g, node, relu=True):
    alpha = g[node].mean((2, 3))
    m = np.einsum("nk,nkhw->nhw", alpha, v[node])[:, None]
    return (np.maximum(m, 0) if relu else m), alpha


def one_hot(labels, k=3):
    return np.eye(k)[labels]


TINY_TARGETS = {
    "labels": (torch.tensor([0, 2, 1]), lambda v: one_hot([0, 2, 1])),
    "none": (None, lambda v: one_hot(v["logits"].argmax(1))),
    "mask": (torch.tensor([[0.5, -1.0, 2.0]] * 3, dtype=F64),
             lambda v: np.array([[0.5, -1.0, 2.0]] * 3)),
}


@pytest.mark.parametrize("node", ["p1", "r1", "c2"])
@pytest.mark.parametrize("which", list(TINY_TARGETS))
@pytest.mark.parametrize("relu", [True, False])
def test_grad_cam_by_hand(tiny, node, which, relu):
    graph, x, v, p = tiny
    target, mask = TINY_TARGETS[which]
    mask = mask(v)
    g = np_backward(v, p, mask)
    want, alpha = np_grad_cam(v, g, node, relu)
    assert np.abs(want).max() > 1e-3 and (relu or want.min() < 0)
    got = lrp.grad_cam(graph, x, target, node=node, relu=relu, return_all=True)
    assert got.node == node
    np.testing.assert_allclose(got.info["map"].numpy(), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got.info["alpha"].numpy(), alpha, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got.output.numpy(), (v["logits"] * mask).sum(1), rtol=1e-12)
    np.testing.assert_allclose(got.attribution.numpy(), np_resize(want, (6, 6)),
                               rtol=1e-10, atol=1e-12)
    assert got.attribution.shape == (3, 1, 6, 6)


def test_grad_cam_upsample_choices_by_hand(tiny):
    graph, x, v, p = tiny
    want, _ = np_grad_cam(v, np_backward(v, p, one_hot([1, 1, 0])), "p1")
    t = torch.tensor([1, 1, 0])
    kept = lrp.grad_cam(graph, x, t, node="p1", upsample=False)
    np.testing.assert_allclose(kept.numpy(), want, rtol=1e-10, atol=1e-12)
    near = lrp.grad_cam(graph, x, t, node="p1", upsample=True, interpolation="nearest")
    np.testing.assert_allclose(near.numpy(), np_resize(want, (6, 6), "nearest"), rtol=1e-10,
                               atol=1e-12)
    # numpy in, numpy out (float64); batch_size cuts the batch without changing the result
    arr = lrp.grad_cam(graph, x.numpy(), t.numpy(), node="p1", batch_size=2)
    assert isinstance(arr, np.ndarray) and arr.dtype == np.float64
    np.testing.assert_allclose(arr, np_resize(want, (6, 6)), rtol=1e-10, atol=1e-12)


def test_guided_grad_cam_by_hand(tiny):
    graph, x, v, p = tiny
    mask = one_hot([2, 0, 1])
    cam_map, _ = np_grad_cam(v, np_backward(v, p, mask), "p1")
    guided = np_backward(v, p, mask, guided=True)["x"]
    assert np.abs(guided).max() > 1e-3
    for mode in ("bilinear", "nearest"):
        want = guided * np_resize(cam_map, (6, 6), mode)
        got = lrp.guided_grad_cam(graph, x.numpy(), [2, 0, 1], node="p1", interpolation=mode)
        assert isinstance(got, np.ndarray) and got.shape == x.shape
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_cam_by_hand(tiny):
    graph, x, v, p = tiny
    for target, mask in TINY_TARGETS.values():
        mask = mask(v)
        weights = mask @ p["fc.weight"]
        want = np.einsum("nk,nkhw->nhw", weights, v["r2"])[:, None]
        got = lrp.cam(graph, x, target, return_all=True)
        assert got.node == "r2"
        np.testing.assert_allclose(got.info["weights"].numpy(), weights, rtol=1e-12)
        np.testing.assert_allclose(got.info["map"].numpy(), want, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got.attribution.numpy(), np_resize(want, (6, 6)),
                                   rtol=1e-10, atol=1e-12)
        # CAM = |Ω| · Grad-CAM(relu=False) at the pool's input on a GAP + linear net
        signed = lrp.grad_cam(graph, x, target, node="r2", relu=False, upsample=False)
        np.testing.assert_allclose(got.info["map"].numpy(), 9 * signed.numpy(), rtol=1e-10,
                                   atol=1e-12)


class MeanPooled(nn.Module):
    """conv → ReLU → x.mean((2, 3)) (a Mean node, not an adaptive pool) → linear."""

    def __init__(self, keepdim):
        super().__init__()
        self.c, self.fc, self.keepdim = nn.Conv2d(2, 3, 3, padding=1), nn.Linear(3, 4), keepdim

    def forward(self, x):
        h = torch.relu(self.c(x))
        if self.keepdim:
            return self.fc(h.mean((-1, -2), keepdim=True).flatten(1))
        return self.fc(h.mean((2, 3)))


@pytest.mark.parametrize("keepdim", [False, True])
def test_cam_on_mean_pooling(keepdim):
    torch.manual_seed(0)
    model = MeanPooled(keepdim).double().eval()
    x = torch.randn(2, 2, 5, 5, dtype=F64)
    graph = neon.neuralize(model, x[:1])
    got = lrp.cam(graph, x, torch.tensor([3, 0]), return_all=True)
    h = torch.relu(model.c(x)).detach().numpy()
    want = np.einsum("nk,nkhw->nhw", model.fc.weight.detach().numpy()[[3, 0]], h)[:, None]
    assert got.attribution.shape == (2, 1, 5, 5)
    np.testing.assert_allclose(got.attribution.numpy(), want, rtol=1e-10, atol=1e-12)
    signed = lrp.grad_cam(graph, x, torch.tensor([3, 0]), node=got.node, relu=False)
    np.testing.assert_allclose(got.attribution.numpy(), 25 * signed.numpy(), rtol=1e-10,
                               atol=1e-12)


def test_default_node(tiny):
    graph, x, _, _ = tiny
    assert cam_node(graph, x) == "r2"           # the gap's 1 × 1 output is left out
    np.testing.assert_array_equal(lrp.grad_cam(graph, x), lrp.grad_cam(graph, x, node="r2"))


# ---------------------------------------------------------------- captum on real nets

CAPTUM_CASES = [  # (model, image size, captum layer = the module whose output is the node)
    ("resnet18", 64, "layer4"), ("vgg11", 32, "features.19"), ("conv1d", 32, "features"),
]


def test_node_addressing_resnet(models):
    _, graph, x = models("resnet18", F64, 64)
    assert graph.node_of("layer4") == "layer4.1.relu:1" == cam_node(graph, x)
    by_module = lrp.grad_cam(graph, x, 4, node="layer4")
    torch.testing.assert_close(by_module, lrp.grad_cam(graph, x, 4, node="layer4.1.relu:1"),
                               rtol=0, atol=0)
    torch.testing.assert_close(by_module, lrp.grad_cam(graph, x, 4), rtol=0, atol=0)
    # CAM = H·W · Grad-CAM(relu=False) at layer4 (2 × 2), with several classes in the mask
    mask = torch.zeros(3, 10, dtype=F64)
    mask[:, [2, 7]] = torch.tensor([1.0, -0.5], dtype=F64)
    c = lrp.cam(graph, x, mask, upsample=False, return_all=True)
    assert c.node == "layer4.1.relu:1" and c.attribution.shape == (3, 1, 2, 2)
    signed = lrp.grad_cam(graph, x, mask, node="layer4", relu=False, upsample=False)
    assert float(per_sample_rel_l2(c.attribution, 4 * signed).max()) <= 1e-12
    up = lrp.cam(graph, x, mask)
    want = LayerAttribution.interpolate(c.attribution, (64, 64), interpolate_mode="bilinear")
    torch.testing.assert_close(up, want, rtol=1e-12, atol=1e-12)


def test_unknown_node_lists_close_names(models):
    _, graph, x = models("resnet18", F64, 64)
    with pytest.raises(KeyError, match="layer4"):
        lrp.grad_cam(graph, x, node="layer44")


def captum_maps(model, x, layer, target, mode):
    """captum's Grad-CAM (relu True and False, upsampled) and guided Grad-CAM (nearest)."""
    module = model.get_submodule(layer)
    maps = {relu: LayerAttribution.interpolate(
        LayerGradCam(model, module).attribute(x, target, relu_attributions=relu),
        tuple(x.shape[2:]), interpolate_mode=mode) for relu in (True, False)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # captum: "setting backward hooks"
        maps["guided"] = GuidedGradCam(model, module).attribute(x, target,
                                                                interpolate_mode="nearest")
    return maps


@pytest.mark.parametrize("name,size,layer", CAPTUM_CASES, ids=[c[0] for c in CAPTUM_CASES])
def test_against_captum(models, name, size, layer):
    """float64: ours against captum, ≤ 1e-8. float32: ours against captum run in float64 on
    the same weights and inputs (upcast: the exact map of the float32 net), ≤ 1e-3. Not
    against captum's own float32 run: on VGG-11 one classifier.0 unit of sample 0 has
    pre-activation 4e-7, captum's float32 pass flips its ReLU and lands 9e-3 off the exact
    map (ours: 2e-6)."""
    model, graph, x = models(name, F64, size)
    target = torch.tensor([1, 3, 2])
    mode = "bilinear" if x.dim() == 4 else "linear"
    check_against(graph, x, layer, target, captum_maps(model, x, layer, target, mode), 1e-8)
    model32, graph32, x32 = models(name, F32, size)
    # build() makes the weights in float32 and casts: the float64 model holds them exactly
    for a, b in zip(model32.state_dict().values(), model.state_dict().values()):
        assert torch.equal(a.to(b.dtype), b)
    exact = captum_maps(model, x32.double(), layer, target, mode)
    check_against(graph32, x32, layer, target, exact, 1e-3)


def check_against(graph, x, layer, target, theirs, tol):
    for relu in (True, False):
        ours = lrp.grad_cam(graph, x, target, node=layer, relu=relu)
        assert ours.shape == (3, 1, *x.shape[2:]) and ours.dtype == x.dtype
        assert bool((theirs[relu].flatten(1).norm(dim=1) > 0).all())
        assert float(per_sample_rel_l2(ours, theirs[relu]).max()) <= tol
    ours = lrp.guided_grad_cam(graph, x, target, node=layer, interpolation="nearest")
    assert ours.shape == x.shape and ours.dtype == x.dtype
    assert bool((theirs["guided"].flatten(1).norm(dim=1) > 0).all())
    assert float(per_sample_rel_l2(ours, theirs["guided"]).max()) <= tol


def test_cam_refuses_vgg(models):
    _, graph, x = models("vgg11", F32)
    with pytest.raises(ValueError, match=r"global average pooling.*relu \(classifier.4\)"):
        lrp.cam(graph, x)


def test_cam_conv1d_equals_scaled_grad_cam(models):
    _, graph, x = models("conv1d", F64)
    c = lrp.cam(graph, x, torch.tensor([0, 1, 3]), upsample=False)
    g = lrp.grad_cam(graph, x, torch.tensor([0, 1, 3]), node="features", relu=False,
                     upsample=False)
    assert c.shape == (3, 1, 16)
    assert float(per_sample_rel_l2(c, 16 * g).max()) <= 1e-12


# ------------------------------------------------------------ a scikit-learn MLP

@pytest.fixture(scope="module")
def mlp():
    from sklearn.datasets import load_wine
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    data = load_wine(as_frame=True)
    frame = (data.data - data.data.mean()) / data.data.std()
    labels = np.array(["barolo", "grignolino", "barbera"])[data.target.to_numpy()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier(hidden_layer_sizes=(6,), max_iter=30, random_state=0)
        model.fit(frame.to_numpy(), labels)
    X = frame.to_numpy()[::12]
    return model, neon.neuralize(model, X), X, frame.iloc[::12]


def np_mlp_cam(model, X, labels, relu=True):
    """Per unit ReLU(∂s/∂a_k · a_k) at the hidden ReLU, from the MLP's coefs_."""
    (w1, w2), (b1, _) = model.coefs_, model.intercepts_
    a = np.maximum(X @ w1 + b1, 0)
    columns = np.searchsorted(model.classes_, labels)    # classes_ are sorted
    m = a * w2[:, columns].T
    return np.maximum(m, 0) if relu else m


def test_mlp_hidden_layer_by_hand(mlp):
    model, graph, X, _ = mlp
    labels = model.predict(X)[::-1].copy()          # not all the predicted classes
    want = np_mlp_cam(model, X, labels)
    assert want.max() > 1e-3
    for node in ("relu1", "dense1"):   # ∂s/∂z = ∂s/∂a · [z > 0], so both give the same map
        got = lrp.grad_cam(graph, X, labels, node=node)
        assert isinstance(got, np.ndarray) and got.shape == (len(X), 6)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    signed = lrp.grad_cam(graph, X, labels, node="relu1", relu=False)
    np.testing.assert_allclose(signed, np_mlp_cam(model, X, labels, relu=False), rtol=1e-10,
                               atol=1e-12)
    # target=None explains the predicted class
    np.testing.assert_allclose(lrp.grad_cam(graph, X, node="relu1"),
                               np_mlp_cam(model, X, model.predict(X)), rtol=1e-10, atol=1e-12)


def test_mlp_dataframe_and_errors(mlp):
    model, graph, X, frame = mlp
    got = lrp.grad_cam(graph, frame, node="relu1")
    assert isinstance(got, pd.DataFrame) and got.index.equals(frame.index)
    assert list(got.columns) == [f"relu1[{k}]" for k in range(6)]
    np.testing.assert_allclose(got.to_numpy(), np_mlp_cam(model, X, model.predict(X)),
                               rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="pass node="):
        lrp.grad_cam(graph, X)
    with pytest.raises(ValueError, match="upsample=True.*no spatial axes"):
        lrp.grad_cam(graph, X, node="relu1", upsample=True)
    with pytest.raises(ValueError, match="global average pooling"):
        lrp.cam(graph, X)
    with pytest.raises(ValueError, match="image- or signal-like"):
        lrp.guided_grad_cam(graph, X, node="relu1")


def test_non_spatial_matches_captum_per_unit():
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).double().eval()
    x = torch.randn(6, 4, dtype=F64)
    graph = neon.neuralize(model, x[:1])
    target = torch.tensor([0, 1, 2, 2, 1, 0])
    ours = lrp.grad_cam(graph, x, target, node="1", relu=False)
    theirs = LayerGradCam(model, model[1]).attribute(x, target, attr_dim_summation=False)
    assert ours.shape == (6, 5) and float(theirs.detach().abs().max()) > 1e-3
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-14)
