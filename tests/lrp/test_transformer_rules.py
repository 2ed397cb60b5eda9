"""The transformer rules against their definitions.

* MatMul's and Einsum's transposed maps equal torch autograd's vector-Jacobian products;
* on a 2-head toy attention block (``nn.MultiheadAttention`` imported), the rules at the
  context product, the score product and the softmax equal their formulas written out in
  numpy;
* the LayerNorm identity of AttnLRP's docstring: FrozenScale(0) equals the chain identity on
  the division, ε = 0 on the centring, ε = 0 on γ ⊙ · + β, written by hand;
* the identity that defines CP-LRP: with ε = 0 it is gradient × input of a hand-written ViT
  forward whose attention weights, LayerNorm scales and GELU gates are detached.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

import lrp
import neon
from lrp import rules
from neon import ops

F64 = torch.float64


def randn(*shape, seed):
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


def sign(z):
    return np.where(z >= 0, 1.0, -1.0)


# ------------------------------------------------------------------ transposed maps

@pytest.mark.parametrize("op,shapes", [
    (ops.MatMul(), [(2, 3, 4, 5), (2, 3, 5, 6)]),
    (ops.MatMul(), [(2, 3, 4, 5), (2, 1, 5, 6)]),
    (ops.Einsum("B G H I D, B G H J D -> B G H I J"), [(2, 2, 3, 4, 5), (2, 2, 3, 6, 5)]),
    (ops.Einsum("bij,bjk->bk"), [(2, 3, 4), (2, 4, 5)]),   # i summed away: autograd path
], ids=["matmul", "matmul-broadcast", "maxvit-einsum", "einsum-summed-axis"])
def test_transposes_equal_autograd(op, shapes):
    a, b = randn(*shapes[0], seed=1), randn(*shapes[1], seed=2)
    g = randn(*op(a, b).shape, seed=3)
    ga, gb = op.transposes(a, b, g)
    xa, xb = a.clone().requires_grad_(True), b.clone().requires_grad_(True)
    ea, eb = torch.autograd.grad(op(xa, xb), (xa, xb), g)
    torch.testing.assert_close(ga, ea, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gb, eb, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ the toy attention block

class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(4, 2, batch_first=True)
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        return self.head(self.attn(x, x, x, need_weights=False)[0].sum(1))


@pytest.fixture(scope="module")
def toy():
    torch.manual_seed(0)
    model = Toy().double().eval()
    x = randn(2, 3, 4, seed=4)
    graph = neon.from_torch(model, x)
    _, acts = graph.forward(x, keep=True)
    return graph, acts


def _inputs(graph, acts, name):
    node = graph[name]
    return node.op, [acts[i] for i in node.inputs], acts[name]


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_signal_take_all_at_the_context_gives_the_values_everything(toy, eps):
    graph, acts = toy
    op, (A, v), y = _inputs(graph, acts, "attn.context")
    assert op.gate == 0
    R = randn(*y.shape, seed=5)
    r_a, r_v = rules.SignalTakeAll(eps)(op, [A, v], y, R)
    An, vn, yn, Rn = (t.numpy() for t in (A, v, y, R))
    s = Rn / (yn + eps * sign(yn)) if eps else Rn / yn
    expected = vn * np.einsum("nhij,nhik->nhjk", An, s)      # R_v[j,k] = v[j,k] Σ_i A[i,j] s[i,k]
    np.testing.assert_allclose(r_v.numpy(), expected, rtol=1e-10, atol=1e-12)
    assert not r_a.any()
    if eps == 0:
        np.testing.assert_allclose(r_v.sum().item(), Rn.sum(), rtol=1e-10)


@pytest.mark.parametrize("name", ["attn.context", "attn.scores"])
def test_uniform_split_halves_every_elementary_product(toy, name):
    graph, acts = toy
    op, (a, b), y = _inputs(graph, acts, name)
    R = randn(*y.shape, seed=6)
    eps = 0.05
    r_a, r_b = rules.UniformSplit(eps)(op, [a, b], y, R)
    an, bn, yn, Rn = (t.numpy() for t in (a, b, y, R))
    s = Rn / (yn + eps * sign(yn))
    # y[i,k] = Σ_j a[i,j] b[j,k]: the product a[i,j] b[j,k] gets s[i,k] a b, half to each
    np.testing.assert_allclose(r_a.numpy(), an * np.einsum("nhik,nhjk->nhij", s, bn) / 2,
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(r_b.numpy(), bn * np.einsum("nhij,nhik->nhjk", an, s) / 2,
                               rtol=1e-10, atol=1e-12)
    exact = rules.UniformSplit(0.0)(op, [a, b], y, R)
    np.testing.assert_allclose(sum(t.sum().item() for t in exact), Rn.sum(), rtol=1e-10)


def test_softmax_rule_is_the_deep_taylor_formula(toy):
    graph, acts = toy
    op, (x,), s = _inputs(graph, acts, "attn.attention")
    R = randn(*s.shape, seed=7)
    (r,) = rules.SoftmaxRule()(op, [x], s, R)
    xn, sn, Rn = x.numpy(), s.numpy(), R.numpy()
    expected = xn * (Rn - sn * Rn.sum(-1, keepdims=True))
    np.testing.assert_allclose(r.numpy(), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(r.numpy().sum(-1), (xn * Rn).sum(-1) - (xn * sn).sum(-1)
                               * Rn.sum(-1), rtol=1e-9, atol=1e-12)


def test_elementwise_gate_products_keep_their_exact_forms():
    op = ops.Mul(gate=1)
    x, g = randn(2, 3, 4, seed=8), torch.sigmoid(randn(2, 3, 1, seed=9))
    R = randn(2, 3, 4, seed=10)
    r_x, r_g = rules.SignalTakeAll(0.5)(op, [x, g], x * g, R)   # ε is not used: R exactly
    torch.testing.assert_close(r_x, R)
    assert not r_g.any()
    halves = rules.UniformSplit()(ops.Mul(), [x, g], x * g, R)
    torch.testing.assert_close(halves[1], (R / 2).sum(-1, keepdim=True))


# ------------------------------------------------------------------ the LayerNorm identity

def test_frozen_scale_equals_the_identity_rule_chain_of_attnlrp():
    x = randn(3, 5, 6, seed=11)
    gamma, beta = randn(6, seed=12), randn(6, seed=13)
    op = ops.LayerNorm((6,), gamma, beta)
    y = op(x)
    R = randn(3, 5, 6, seed=14)
    (r,) = rules.FrozenScale(0.0)(op, [x], y, R)
    xn, yn, Rn, gn = x.numpy(), y.numpy(), R.numpy(), gamma.numpy()
    c = xn - xn.mean(-1, keepdims=True)                       # the centring, linear
    rstd = 1 / np.sqrt(xn.var(-1, keepdims=True) + 1e-5)
    n = c * rstd
    r_n = gn * n / yn * Rn                                    # ε = 0 on γ ⊙ n + β
    r_c = r_n                                                 # identity on the division
    centring = np.eye(6) - 1 / 6                              # c = W x, W = I − 11ᵀ/6
    expected = xn * ((r_c / c) @ centring)                    # ε = 0 on the centring
    np.testing.assert_allclose(r.numpy(), expected, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ the CP-LRP identity

def _detached_vit(model, x):
    """torchvision's ViT forward written out by hand, with the attention weights, the
    LayerNorm scales and the GELU gates detached."""
    def layer_norm(t, ln):
        mean = t.mean(-1, keepdim=True)
        std = torch.sqrt(((t - mean) ** 2).mean(-1, keepdim=True) + ln.eps)
        return (t - mean) / std.detach() * ln.weight + ln.bias

    def gelu(z):
        return z * (0.5 * (1 + torch.erf(z / 2 ** 0.5))).detach()

    n = x.shape[0]
    t = model.conv_proj(x).flatten(2).transpose(1, 2)
    t = torch.cat([model.class_token.expand(n, -1, -1), t], 1) + model.encoder.pos_embedding
    for block in model.encoder.layers:
        attn = block.self_attention
        e, h = attn.embed_dim, attn.num_heads
        u = layer_norm(t, block.ln_1)
        q, k, v = (u @ attn.in_proj_weight[i * e:(i + 1) * e].T + attn.in_proj_bias[i * e:(i + 1)
                   * e] for i in range(3))
        q, k, v = (z.reshape(n, -1, h, e // h).transpose(1, 2) for z in (q, k, v))
        weights = torch.softmax(q @ k.transpose(-2, -1) / (e // h) ** 0.5, -1).detach()
        context = (weights @ v).transpose(1, 2).reshape(n, -1, e)
        t = t + context @ attn.out_proj.weight.T + attn.out_proj.bias
        u = layer_norm(t, block.ln_2)
        t = t + block.mlp[3](gelu(block.mlp[0](u)))
    return model.heads.head(layer_norm(t, model.encoder.ln)[:, 0])


def test_cp_lrp_with_zero_epsilon_is_gradient_times_input_of_the_detached_model():
    torch.manual_seed(1)
    model = torchvision.models.VisionTransformer(16, 4, 2, 2, 8, 16, num_classes=3).double()
    model.eval()
    nn.init.normal_(model.heads.head.weight)
    x = randn(2, 3, 16, 16, seed=15)
    with torch.no_grad():
        torch.testing.assert_close(_detached_vit(model, x), model(x), rtol=1e-10, atol=1e-12)
    graph = neon.from_torch(model, x)
    target = 1
    relevance = lrp.explain(graph, x, target=target, composite=lrp.CPLRP(epsilon=0.0))
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(_detached_vit(model, xg)[:, target].sum(), xg)
    torch.testing.assert_close(relevance, x * grad, rtol=1e-8, atol=1e-10)
    attn = lrp.explain(graph, x, target=target, composite=lrp.AttnLRP())
    assert torch.isfinite(attn).all() and not torch.allclose(attn, relevance)
