"""Guided backpropagation, DeconvNet and excitation backprop (lrp.methods.walks and the rules
of lrp.rules.gradient) against a numpy reference written here, and composed with LRP rules.

The reference shares no code with lrp: each net is a list of flat layers (dense matrices,
convolutions unrolled by index loops, max pooling as a winner index per window) and each
walk is its definition, per sample:

* gradient:          affine R_in = Wᵀ R,  ReLU R_in = R · 1[x > 0],  max pool → the winner;
* guided backprop:   ReLU R_in = max(R, 0) · 1[x > 0];
* DeconvNet:         ReLU R_in = max(R, 0);
* excitation:        affine P_j = a⁺_j Σ_k w⁺_jk P_k / Σ_j' a⁺_j' w⁺_j'k (biases ignored;
                     0 where the denominator is 0), ReLU passes, max pool → the winner;
* contrastive:       P(target) − P(dual), the dual with the top layer's weights negated;

every walk started at 1 on the target (the mask), LRP (lrp.explain) at f(x) on it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import lrp
import neon
from lrp import rules, select

torch.set_num_threads(1)
F64 = torch.float64


# ---------------------------------------------------------------------- the numpy reference


def conv_matrix(weight, bias, in_shape, padding):
    """A stride-1 Conv2d as a dense (C_out·H'·W', C_in·H·W) matrix, by index loops."""
    c_out, c_in, kh, kw = weight.shape
    _, h, w = in_shape
    ho, wo = h + 2 * padding - kh + 1, w + 2 * padding - kw + 1
    M = np.zeros((c_out * ho * wo, c_in * h * w))
    for o in range(c_out):
        for i in range(ho):
            for j in range(wo):
                row = (o * ho + i) * wo + j
                for c in range(c_in):
                    for p in range(kh):
                        for q in range(kw):
                            y, x = i + p - padding, j + q - padding
                            if 0 <= y < h and 0 <= x < w:
                                M[row, (c * h + y) * w + x] += weight[o, c, p, q]
    return M, np.repeat(bias, ho * wo), (c_out, ho, wo)


def pool_windows(shape, k):
    """Per output of a k×k, stride-k max pool over (C, H, W): the flat input indices."""
    c, h, w = shape
    out = []
    for ch in range(c):
        for i in range(h // k):
            for j in range(w // k):
                out.append([(ch * h + i * k + p) * w + j * k + q for p in range(k)
                            for q in range(k)])
    return np.array(out)


def forward(layers, x):
    """The input of every layer, and the output."""
    inputs = []
    for layer in layers:
        inputs.append(x)
        kind = layer[0]
        if kind == "affine":
            x = layer[1] @ x + layer[2]
        elif kind == "relu":
            x = np.maximum(x, 0)
        else:
            x = x[layer[1]].max(1)
    return inputs, x


def backward(layers, x, start, walk, top_dual=False, excited=None):
    """One reference walk from ``start`` (a vector on the output) down to the input.
    ``excited`` (a list) gets whether every unit carrying probability had excitatory input
    (Σ_j a⁺_j w⁺_jk > 0 wherever P_k ≠ 0), the condition under which Σ P stays 1."""
    inputs, _ = forward(layers, x)
    R = start
    ok = True
    for depth in range(len(layers) - 1, -1, -1):
        layer, a = layers[depth], inputs[depth]
        kind = layer[0]
        if kind == "affine":
            W = layer[1]
            if walk == "excitation":
                W = -W if (top_dual and depth == len(layers) - 1) else W
                Wp, ap = np.maximum(W, 0), np.maximum(a, 0)
                z = Wp @ ap
                ok = ok and bool(np.all((z > 0) | (R == 0)))
                s = np.where(z > 0, R / np.where(z > 0, z, 1.0), 0.0)
                R = ap * (Wp.T @ s)
            else:
                R = W.T @ R
        elif kind == "relu":
            if walk == "gradient":
                R = R * (a > 0)
            elif walk == "guided":
                R = np.maximum(R, 0) * (a > 0)
            elif walk == "deconv":
                R = np.maximum(R, 0)
            # excitation: ReLU passes
        else:
            windows = layer[1]
            back = np.zeros_like(a)
            winners = windows[np.arange(len(windows)), a[windows].argmax(1)]
            np.add.at(back, winners, R)
            R = back
    if excited is not None:
        excited.append(ok)
    return R


def reference(layers, X, targets, walk, top_dual=False, scale=None, excited=None):
    """The walk for every sample, started at 1 on its target (times ``scale[n]``)."""
    out = []
    for n, (x, t) in enumerate(zip(X, targets)):
        _, f = forward(layers, x)
        start = np.zeros_like(f)
        start[t] = 1.0 if scale is None else scale[n]
        out.append(backward(layers, x, start, walk, top_dual, excited))
    return np.array(out)


def epsilon_guided(layers, X, targets, eps):
    """LRP-ε on the affine layers, guided backprop on the ReLUs, max pooling to the winner,
    started at f_t(x)."""
    out = []
    for x, t in zip(X, targets):
        inputs, f = forward(layers, x)
        R = np.where(np.arange(len(f)) == t, f, 0.0)
        for depth in range(len(layers) - 1, -1, -1):
            layer, a = layers[depth], inputs[depth]
            if layer[0] == "affine":
                W, b = layer[1], layer[2]
                z = W @ a + b
                R = a * (W.T @ (R / (z + eps * np.where(z >= 0, 1.0, -1.0))))
            elif layer[0] == "relu":
                R = np.maximum(R, 0) * (a > 0)
            else:                                   # max pool: all to the winner
                windows, back = layer[1], np.zeros_like(a)
                np.add.at(back, windows[np.arange(len(windows)), a[windows].argmax(1)], R)
                R = back
        out.append(R)
    return np.array(out)


# ----------------------------------------------------------------------------------- nets


def mlp():
    torch.manual_seed(30)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 6), nn.ReLU(),
                          nn.Linear(6, 4)).double().eval()
    P = [m for m in model if isinstance(m, nn.Linear)]
    layers = [("affine", P[0].weight.detach().numpy(), P[0].bias.detach().numpy()), ("relu",),
              ("affine", P[1].weight.detach().numpy(), P[1].bias.detach().numpy()), ("relu",),
              ("affine", P[2].weight.detach().numpy(), P[2].bias.detach().numpy())]
    torch.manual_seed(31)
    x = torch.rand(6, 5, dtype=F64) + 0.05        # positive: every unit can be excited
    return model, layers, x


def cnn():
    torch.manual_seed(32)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(3 * 3 * 3, 4)).double().eval()
    conv, fc = model[0], model[4]
    M, b, shape = conv_matrix(conv.weight.detach().numpy(), conv.bias.detach().numpy(),
                              (2, 6, 6), padding=1)
    layers = [("affine", M, b), ("relu",), ("pool", pool_windows(shape, 2)),
              ("affine", fc.weight.detach().numpy(), fc.bias.detach().numpy())]
    torch.manual_seed(33)
    x = torch.rand(5, 2, 6, 6, dtype=F64) + 0.05
    return model, layers, x


@pytest.fixture(scope="module", params=["mlp", "cnn"])
def net(request):
    model, layers, x = {"mlp": mlp, "cnn": cnn}[request.param]()
    for p in model.parameters():
        p.requires_grad_(False)
    graph = neon.neuralize(model, x[:1])
    X = x.reshape(len(x), -1).numpy()
    # the reference forward is the model's (the unrolled convolution is right)
    _, f = zip(*(forward(layers, v) for v in X))
    np.testing.assert_allclose(np.array(f), model(x).numpy(), rtol=1e-12, atol=1e-13)
    return request.param, model, graph, layers, x, X


def targets_for(x):
    return np.arange(len(x)) % 4


# ---------------------------------------------------------------------------------- walks


def test_guided_backprop(net):
    _, model, graph, layers, x, X = net
    t = targets_for(x)
    expected = reference(layers, X, t, "guided").reshape(x.shape)
    ours = lrp.guided_backprop(graph, x, torch.tensor(t))
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-12, atol=1e-14)
    assert np.abs(expected).max() > 0
    # differs from the plain gradient and from DeconvNet here (the rules matter)
    assert not np.allclose(expected, reference(layers, X, t, "gradient").reshape(x.shape))


def test_deconvnet(net):
    _, model, graph, layers, x, X = net
    t = targets_for(x)
    expected = reference(layers, X, t, "deconv").reshape(x.shape)
    ours = lrp.deconvnet(graph, x.numpy(), t)
    assert isinstance(ours, np.ndarray)
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-14)
    assert not np.allclose(expected, reference(layers, X, t, "guided").reshape(x.shape))


def test_excitation_backprop_and_its_sum(net):
    """The marginal winning probabilities; Σ P = 1 for the samples whose every unit carrying
    probability has excitatory input (the reference says which), less where one has none."""
    _, model, graph, layers, x, X = net
    t = targets_for(x)
    excited = []
    expected = reference(layers, X, t, "excitation", excited=excited).reshape(x.shape)
    ours = lrp.excitation_backprop(graph, x, torch.tensor(t))
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-11, atol=1e-14)
    total = ours.reshape(len(x), -1).sum(1).numpy()
    excited = np.array(excited)
    assert excited.sum() >= len(x) // 2, excited
    np.testing.assert_allclose(total[excited], 1.0, rtol=1e-12)
    assert (total[~excited] < 1 - 1e-6).all()
    assert (ours >= 0).all()


def test_contrastive_excitation_backprop(net):
    """c-MWP = P(target) − P(dual unit with the top layer's weights negated), in numpy;
    where both walks keep their mass the contrast sums to 0."""
    _, model, graph, layers, x, X = net
    t = targets_for(x)
    e_plain, e_dual = [], []
    plain = reference(layers, X, t, "excitation", excited=e_plain)
    dual = reference(layers, X, t, "excitation", top_dual=True, excited=e_dual)
    ours = lrp.excitation_backprop(graph, x, torch.tensor(t), contrastive=True)
    np.testing.assert_allclose(ours.numpy(), (plain - dual).reshape(x.shape), rtol=1e-10,
                               atol=1e-13)
    both = np.array(e_plain) & np.array(e_dual)
    assert both.any()
    np.testing.assert_allclose(ours.reshape(len(x), -1).sum(1).numpy()[both], 0.0,
                               atol=1e-12)
    assert np.abs(plain - dual).max() > 1e-3


def test_walks_target_none_batches_and_return_all(net):
    """target=None is the predicted class; chunks change nothing; return_all carries the
    explained output f_t(x)."""
    _, model, graph, layers, x, X = net
    pred = model(x).argmax(1).numpy()
    for fn, walk in ((lrp.guided_backprop, "guided"), (lrp.deconvnet, "deconv"),
                     (lrp.excitation_backprop, "excitation")):
        expected = reference(layers, X, pred, walk).reshape(x.shape)
        np.testing.assert_allclose(fn(graph, x).numpy(), expected, rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(fn(graph, x, batch_size=2).numpy(), expected, rtol=1e-11,
                                   atol=1e-14)
        res = fn(graph, x, torch.tensor(pred), return_all=True)
        assert isinstance(res, lrp.Attribution)
        np.testing.assert_allclose(res.output.numpy(), model(x).max(1).values.numpy(),
                                   rtol=1e-12)
    res = lrp.excitation_backprop(graph, x, contrastive=True, return_all=True, batch_size=4)
    plain = reference(layers, X, pred, "excitation")
    dual = reference(layers, X, pred, "excitation", top_dual=True)
    np.testing.assert_allclose(res.attribution.numpy(), (plain - dual).reshape(x.shape),
                               rtol=1e-10, atol=1e-13)


def test_contrastive_refused_when_the_top_is_not_affine():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.Tanh()).double()
    graph = neon.neuralize(model, torch.rand(1, 3, dtype=F64))
    with pytest.raises(ValueError, match="not an affine layer") as info:
        lrp.excitation_backprop(graph, torch.rand(2, 3, dtype=F64), contrastive=True)
    assert "contrastive=False" in str(info.value) and "tanh" in str(info.value)


def test_excitation_unit_without_excitatory_input_passes_nothing():
    """A unit whose inputs excite it not at all (all its weights ≤ 0) passes nothing on, as
    the reference's 0 for a zero denominator says; the total is then below 1."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1)).double().eval()
    with torch.no_grad():
        model[0].weight[1] = -model[0].weight[1].abs()     # unit 1: no excitatory input
        model[0].bias[1] = 1.0                             # but still active
        model[2].weight.copy_(torch.tensor([[0.5, 2.0]]))
    x = torch.rand(2, 3, dtype=F64) + 0.1
    graph = neon.neuralize(model, x[:1])
    layers = [("affine", model[0].weight.detach().numpy(), model[0].bias.detach().numpy()),
              ("relu",),
              ("affine", model[2].weight.detach().numpy(), model[2].bias.detach().numpy())]
    expected = reference(layers, x.numpy(), [0, 0], "excitation")
    ours = lrp.excitation_backprop(graph, x, lrp.Column(0))
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-12, atol=1e-15)
    assert np.isfinite(ours.numpy()).all()
    assert (ours.sum(1) < 1 - 1e-3).all()


# ------------------------------------------------------------------- rules in a Composite


def test_rules_compose_with_lrp_rules(net):
    """GuidedBackprop on the ReLUs, LRP-ε on the affine layers (conv and linear), max
    pooling by its LRP default (the winner): explain starts at f_t(x); against the numpy
    composition."""
    name, model, graph, layers, x, X = net
    t = targets_for(x)
    eps = 1e-3
    composite = lrp.Composite([(select.kind("relu"), rules.GuidedBackprop()),
                               (select.kind("affine"), rules.Epsilon(eps))])
    ours = lrp.explain(graph, x, torch.tensor(t), composite)
    expected = epsilon_guided(layers, X, t, eps).reshape(x.shape)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-10, atol=1e-13)
    assert not np.allclose(expected, reference(layers, X, t, "guided").reshape(x.shape))


def test_excitation_rule_in_explain(net):
    """ExcitationBackprop on every affine layer inside lrp.explain, which starts at f_t(x):
    f_t(x) times the numpy excitation walk (the rule is linear in R). With DeconvNet on the
    ReLUs as well, a negative start is cut at the first ReLU: max(f_t, 0) times the walk."""
    name, model, graph, layers, x, X = net
    t = targets_for(x)
    f = model(x)[torch.arange(len(x)), torch.tensor(t)].numpy()
    assert (f < 0).any() and (f > 0).any()
    excite = (select.kind("affine"), rules.ExcitationBackprop())
    ours = lrp.explain(graph, x, torch.tensor(t), lrp.Composite([excite]))
    expected = reference(layers, X, t, "excitation", scale=f)
    np.testing.assert_allclose(ours.numpy(), expected.reshape(x.shape), rtol=1e-10,
                               atol=1e-13)
    with_deconv = lrp.Composite([excite, (select.kind("relu"), rules.DeconvNet())])
    ours = lrp.explain(graph, x, torch.tensor(t), with_deconv)
    expected = reference(layers, X, t, "excitation", scale=np.maximum(f, 0))
    np.testing.assert_allclose(ours.numpy(), expected.reshape(x.shape), rtol=1e-10,
                               atol=1e-13)


def test_gradient_rule_everywhere_is_f_times_the_gradient(net):
    """explain starts at f ⊙ mask, and Gradient is linear in R: the result is f_t(x) · ∂f_t/∂x,
    against autograd on the source module."""
    _, model, graph, layers, x, X = net
    t = torch.tensor(targets_for(x))
    xs = x.clone().requires_grad_(True)
    picked = model(xs)[torch.arange(len(x)), t]
    (g,) = torch.autograd.grad(picked.sum(), xs)
    f = picked.detach().reshape(-1, *[1] * (x.dim() - 1))
    for composite in (lrp.Composite([(select.everything(), rules.Gradient())]),
                      rules.Gradient()):
        ours = lrp.explain(graph, x, t, composite)
        torch.testing.assert_close(ours, f * g, rtol=1e-10, atol=1e-13)
    # and its walk started at the mask (a float mask of 1 on the target) is the gradient
    # itself, what lrp.gradient returns
    torch.testing.assert_close(lrp.gradient(graph, x, t), g, rtol=1e-10, atol=1e-13)


def test_gradient_family_rules_on_a_resnet_block():
    """A residual block (add, BatchNorm folded, average pooling): guided backprop against
    autograd on the source with the ReLU's backward replaced by guided backprop's; the
    gradient and the Gradient-rule walk of explain against plain autograd."""

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(40)
            self.c1, self.bn = nn.Conv2d(2, 2, 3, padding=1), nn.BatchNorm2d(2)
            self.c2 = nn.Conv2d(2, 2, 3, padding=1)
            self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(2, 3)
            self.act = torch.relu

        def forward(self, x):
            h = self.act(self.bn(self.c1(x)))
            h = self.act(self.c2(h) + x)
            return self.fc(self.pool(h).flatten(1))

    class GuidedReLU(torch.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            ctx.save_for_backward(z)
            return z.clamp(min=0)

        @staticmethod
        def backward(ctx, g):
            (z,) = ctx.saved_tensors
            return g.clamp(min=0) * (z > 0)

    model = Block().double().eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-1, 1)
        model.bn.running_var.uniform_(0.5, 2)
    for p in model.parameters():
        p.requires_grad_(False)
    torch.manual_seed(41)
    x = torch.randn(3, 2, 5, 5, dtype=F64)
    graph = neon.neuralize(model, x[:1])
    t = torch.tensor([2, 0, 1])
    for act, method in ((GuidedReLU.apply, lrp.guided_backprop), (torch.relu, lrp.gradient)):
        model.act = act
        xs = x.clone().requires_grad_(True)
        out = model(xs)[torch.arange(3), t]
        (expected,) = torch.autograd.grad(out.sum(), xs)
        torch.testing.assert_close(method(graph, x, t), expected, rtol=1e-10, atol=1e-13)
    # the Gradient rule walked by explain (started at f_t) is f_t times the gradient
    composite = lrp.Composite([(select.everything(), rules.Gradient())])
    f = out.detach().reshape(3, 1, 1, 1)
    torch.testing.assert_close(lrp.explain(graph, x, t, composite), f * expected, rtol=1e-10,
                               atol=1e-13)
