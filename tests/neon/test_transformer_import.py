"""Import of transformers: attention decomposed into the ops the rules understand.

* torchvision's ViT, Swin (v1 and v2) and MaxViT at 224² with random weights reproduce their
  modules in float32 (≤ 1e-4 relative) and, imported from the float64 module, in float64
  (≤ 1e-10); the default run samples one builder per family, ``NEON_HEAVY=1`` runs all;
* ``nn.MultiheadAttention`` in its variants (cross-attention, separate key/value widths,
  no bias, float, boolean and causal masks) and ``F.scaled_dot_product_attention`` reproduce
  the module in float64, with the steps named and the attention weights recorded as the gate
  of the context product;
* class tokens become Constant nodes; products with a constant matrix become Linear layers;
  einsum becomes an Einsum op; the decomposition fixes the input's shape.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import lrp
import neon
from neon import ops

F64 = torch.float64
HEAVY = os.environ.get("NEON_HEAVY", "") not in ("", "0")
TRANSFORMERS = [name for name in torchvision.models.list_models(module=torchvision.models)
                if name.startswith(("vit_", "swin_", "maxvit_"))]
SAMPLED = {"vit_b_16", "swin_t", "swin_v2_t", "maxvit_t"}


def _param(name):
    marks = [] if name in SAMPLED else [
        pytest.mark.heavy, pytest.mark.skipif(not HEAVY, reason="NEON_HEAVY=1 runs all")]
    return pytest.param(name, marks=marks, id=name)


def _random_model(name: str) -> nn.Module:
    torch.manual_seed(0)
    model = torchvision.models.get_model(name).eval()
    with torch.no_grad():
        for p in model.parameters():   # ViT's head is zero-initialized: the output would be 0
            if p.dim() > 1 and not p.abs().sum():
                p.normal_(0, 0.02)
    return model


def _relative(a, b) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


def test_every_transformer_builder_is_listed():
    assert len(TRANSFORMERS) == 12 and SAMPLED <= set(TRANSFORMERS)


@pytest.mark.parametrize("name", [_param(n) for n in TRANSFORMERS])
def test_torchvision_transformer_reproduces_its_module(name):
    model = _random_model(name)
    size = 518 if name == "vit_h_14" else 224
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    graph = neon.from_torch(model, x)
    kinds = {type(node.op) for node in graph.nodes}
    assert {ops.MatMul, ops.Softmax, ops.LayerNorm} <= kinds or \
        {ops.Einsum, ops.Softmax, ops.LayerNorm} <= kinds
    with torch.no_grad():
        assert _relative(graph(x), model(x)) <= 1e-4
    model64, x64 = model.double(), x.double()
    graph64 = neon.from_torch(model64, x64)
    with torch.no_grad():
        assert _relative(graph64(x64), model64(x64)) <= 1e-10
    relevance = lrp.explain(graph64, x64[:1], composite=lrp.AttnLRP())
    assert relevance.shape == x64[:1].shape and torch.isfinite(relevance).all()


# ------------------------------------------------------------------ nn.MultiheadAttention

class SelfAttention(nn.Module):
    def __init__(self, mask=None, is_causal=False, **kw):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True, **kw)
        self.mask, self.is_causal = mask, is_causal
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        out = self.attn(x, x, x, attn_mask=self.mask, need_weights=False,
                        is_causal=self.is_causal)[0]
        return self.head(out.mean(1))


class CrossAttention(nn.Module):
    """Queries from one projection of the input, keys and values of other widths."""

    def __init__(self):
        super().__init__()
        self.to_q, self.to_kv = nn.Linear(8, 8), nn.Linear(8, 6)
        self.attn = nn.MultiheadAttention(8, 4, kdim=6, vdim=6, batch_first=True)

    def forward(self, x):
        kv = self.to_kv(x)
        return self.attn(self.to_q(x), kv, kv)[0].flatten(1)


CAUSAL = torch.ones(5, 5, dtype=torch.bool).triu(1)   # True: not allowed (torch's convention)
MHA_CASES = {
    "self": lambda: SelfAttention(),
    "no-bias": lambda: SelfAttention(bias=False),
    "float-mask": lambda: SelfAttention(mask=torch.randn(5, 5, generator=torch.Generator()
                                                         .manual_seed(3))),
    "bool-mask": lambda: SelfAttention(mask=CAUSAL),
    "causal": lambda: SelfAttention(mask=CAUSAL, is_causal=True),
    "-inf-mask": lambda: SelfAttention(mask=torch.zeros(5, 5).masked_fill(CAUSAL, -torch.inf)),
    "cross": lambda: CrossAttention(),
}


@pytest.mark.parametrize("case", list(MHA_CASES))
def test_multihead_attention_variants_reproduce_the_module(case):
    torch.manual_seed(2)
    model = MHA_CASES[case]().double().eval()
    x = torch.randn(3, 5, 8, dtype=F64, generator=torch.Generator().manual_seed(4))
    graph = neon.from_torch(model, x)
    with torch.no_grad():
        torch.testing.assert_close(graph(x), model(x), rtol=1e-12, atol=1e-12)
    names = {node.name for node in graph.nodes}
    for step in ("q", "k", "v", "scores", "attention", "context", "out_proj"):
        assert f"attn.{step}" in names, step
    assert graph["attn.context"].op.gate == 0          # the attention weights
    assert graph["attn.scores"].op.gate is None
    assert isinstance(graph["attn.attention"].op, ops.Softmax)
    relevance = lrp.explain(graph, x, composite=lrp.CPLRP())
    assert torch.isfinite(relevance).all()


def test_masked_scores_are_finite_so_the_rules_stay_finite():
    """Masked scores are a finite −1e9, so the rules multiplying by the scores stay finite."""
    model = SelfAttention(mask=CAUSAL).double().eval()
    x = torch.randn(2, 5, 8, dtype=F64, generator=torch.Generator().manual_seed(5))
    graph = neon.from_torch(model, x)
    masked = graph["attn.scores_biased"].op.shift
    assert torch.isfinite(masked).all() and masked.min() == -1e9
    for composite in (lrp.AttnLRP(), lrp.CPLRP()):
        assert torch.isfinite(lrp.explain(graph, x, composite=composite)).all()


class Heads(nn.Module):
    """q, k, v split into heads by hand and F.scaled_dot_product_attention."""

    def __init__(self, is_causal=False, scale=None):
        super().__init__()
        self.qkv = nn.Linear(8, 24)
        self.out = nn.Linear(8, 2)
        self.is_causal, self.scale = is_causal, scale

    def forward(self, x):
        n, length, _ = x.shape
        qkv = self.qkv(x).reshape(n, length, 3, 2, 4).permute(0, 2, 3, 1, 4)  # (N, 3, h, L, d)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]
        ctx = F.scaled_dot_product_attention(q, k, v, is_causal=self.is_causal,
                                             scale=self.scale)
        return self.out(ctx.transpose(1, 2).reshape(n, length, 8)).sum(1)


@pytest.mark.parametrize("kw", [{}, {"is_causal": True}, {"scale": 0.3}],
                         ids=["plain", "causal", "scale"])
def test_scaled_dot_product_attention_reproduces_the_module(kw):
    torch.manual_seed(6)
    model = Heads(**kw).double().eval()
    x = torch.randn(3, 5, 8, dtype=F64, generator=torch.Generator().manual_seed(7))
    graph = neon.from_torch(model, x)
    with torch.no_grad():
        torch.testing.assert_close(graph(x), model(x), rtol=1e-12, atol=1e-12)
    context = [n for n in graph.nodes if n.name.endswith("context")]
    assert len(context) == 1 and context[0].op.gate == 0


# ------------------------------------------------------------------ the smaller pieces

def test_class_token_is_a_constant_node_and_absorbs_its_share():
    model = torchvision.models.VisionTransformer(16, 4, 1, 2, 8, 16, num_classes=3).double()
    torch.nn.init.normal_(model.heads.head.weight)
    x = torch.randn(2, 3, 16, 16, dtype=F64, generator=torch.Generator().manual_seed(8))
    graph = neon.from_torch(model.eval(), x)
    token = graph["class_token"]
    assert isinstance(token.op, ops.Constant) and token.op.value.shape == (1, 8)
    torch.testing.assert_close(token.op.value, model.class_token[0].detach())
    e = lrp.explain(graph, x, composite=lrp.CPLRP(), return_all=True)
    assert torch.isfinite(e.relevance).all()


def test_decomposed_attention_fixes_the_input_shape():
    model = SelfAttention().double().eval()
    graph = neon.from_torch(model, torch.randn(2, 5, 8, dtype=F64))
    assert graph.input_specs[0].shape == (5, 8)
    with pytest.raises(ValueError, match="5, 8"):
        graph(torch.randn(2, 6, 8, dtype=F64))


def test_product_with_a_constant_matrix_is_a_linear_layer():
    class Project(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(4, 3))

        def forward(self, x):
            return torch.relu(x) @ self.w

    model = Project().double()
    x = torch.randn(3, 2, 4, dtype=F64)
    graph = neon.from_torch(model, x)
    assert [type(n.op) for n in graph.nodes] == [ops.ReLU, ops.Linear]
    torch.testing.assert_close(graph(x), model(x))


def test_einsum_of_two_computed_tensors_is_an_einsum_op_gated_by_the_softmax():
    class Mix(nn.Module):
        def forward(self, x):
            a = torch.softmax(torch.einsum("b i d, b j d -> b i j", x, x), -1)
            return torch.einsum("bij,bjd->bid", a, x)

    x = torch.randn(2, 4, 3, dtype=F64)
    graph = neon.from_torch(Mix(), x)
    einsums = [n.op for n in graph.nodes if isinstance(n.op, ops.Einsum)]
    assert [op.gate for op in einsums] == [None, 0]
    torch.testing.assert_close(graph(x), Mix()(x))


@pytest.mark.parametrize("fn,words", [
    (lambda x: torch.einsum("bik,bjk->ij", x, x), "keep the batch axis first"),
    (lambda x: torch.einsum("b...,b...->b", x, x), "ellipses are not supported"),
    (lambda x: torch.matmul(x[:, 0], x), "batch of vectors"),
], ids=["batch-contracted", "ellipsis", "matrix-vector"])
def test_unsupported_products_are_named(fn, words):
    class Wrapped(nn.Module):
        def forward(self, x):
            return fn(torch.relu(x))

    with pytest.raises(neon.UnsupportedOpError, match=words):
        neon.from_torch(Wrapped(), torch.randn(2, 3, 3))
