"""Attention imported as the ops the rules understand: decompositions rewritten into the
traced program before it is imported.

A transformer's attention arrives in a torch.fx trace as one opaque call:
``nn.MultiheadAttention`` (a leaf module), ``F.scaled_dot_product_attention``, or
torchvision's ``shifted_window_attention`` (wrapped by torchvision so fx does not trace it).
Each is replaced, before the import, by its computation written out in plain torch calls on
fx proxies, with the example's sizes filled in:

    q = x W_qᵀ + b_q,  k = …,  v = …             (``Linear``; one node each)
    split into heads: (N, …, L, E) → (N, …, h, L, E/h)          (``Reshape``, ``Permute``)
    scores = (q · s) kᵀ  [+ bias + mask]       (``BroadcastAffine``, ``MatMul``)
    A = softmax(scores)                         (``Softmax``)
    context = A v, heads merged, out = context W_oᵀ + b_o         (``MatMul``, ``Linear``)

The importer then converts every call as usual, so each step is a node a composite can
select (``<module>.q``, ``.scores``, ``.attention``, ``.context``, ``.out_proj``), and the
attention weights are the gate of the context product (:class:`neon.ops.MatMul`,
``gate=0``). Every axis stays behind the batch axis (Swin's windows are an axis of their own,
not folded into the batch as torchvision does).

The sizes written in are the example's, so the imported graph's input shape is fixed to it
(the importer's ``pinned`` record says which call fixed it).
"""

from __future__ import annotations

import math
import operator

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from . import ops
from .torch_import import UnsupportedOpError, _bind
from .torch_modern import source_kind

__all__ = ["decompose"]

MASKED = -1e9
"""The score given to masked positions (boolean masks, ``is_causal``, −∞ in float masks): a
finite number, so that relevance rules multiplying by the scores stay finite; its softmax
weight is exactly 0 in float32 and float64 unless a whole row is masked."""


class _Builder:
    """Writes a decomposition into the traced graph in front of the call it replaces."""

    def __init__(self, gm: fx.GraphModule, node: fx.Node, values: dict, scope: str):
        self.gm, self.node, self.values, self.scope = gm, node, values, scope
        self.tracer = fx.proxy.GraphAppendingTracer(gm.graph)
        self.count = 0

    def proxy(self, arg) -> fx.Proxy | None:
        return None if arg is None else fx.Proxy(arg, self.tracer)

    def constant(self, tensor: torch.Tensor | None, label: str) -> fx.Proxy | None:
        """A new constant of the program (a buffer read by ``get_attr``)."""
        if tensor is None:
            return None
        self.count += 1
        name = f"_neon_{self.scope.replace('.', '_')}_{label}_{self.count}"
        self.gm.register_buffer(name, tensor.detach().clone())
        return self.proxy(self.gm.graph.get_attr(name))

    def attribute(self, path: str) -> fx.Proxy:
        return self.proxy(self.gm.graph.get_attr(path))

    def shape(self, arg) -> tuple:
        return tuple(self.values[arg].shape)


def _named(p: fx.Proxy, name: str) -> fx.Proxy:
    p.node.meta["neon_name"] = name
    return p


def _heads(t: fx.Proxy, lead: tuple, length: int, heads: int, width: int) -> fx.Proxy:
    """(N, *lead, L, E) → (N, *lead, h, L, E/h)."""
    t = t.reshape(-1, *lead, length, heads, width // heads)
    k = len(lead)
    return t.permute(0, *range(1, k + 1), k + 2, k + 1, k + 3)


def _linear(x: fx.Proxy, weight, bias, name: str) -> fx.Proxy:
    return _named(F.linear(x, weight, bias), name)


def attention_core(q, k, v, *, lead: tuple, lq: int, lk: int, heads: int, width_qk: int,
                   width_v: int, scale: float, bias=None, cosine_scale=None) -> fx.Proxy:
    """Heads split, scaled dot product (plus a constant ``bias``: relative positions and
    masks), softmax, context, heads merged: returns (N, *lead, Lq, E_v)."""
    qh, kh = _heads(q, lead, lq, heads, width_qk), _heads(k, lead, lk, heads, width_qk)
    vh = _heads(v, lead, lk, heads, width_v)
    if cosine_scale is not None:       # Swin v2: cosine similarity times a learned scale
        qh, kh = F.normalize(qh, dim=-1), F.normalize(kh, dim=-1)
    else:
        qh = _named(qh * scale, "q_scaled")
    scores = _named(torch.matmul(qh, kh.transpose(-2, -1)), "scores")
    if cosine_scale is not None:
        scores = scores * cosine_scale
    if bias is not None:
        scores = _named(scores + bias, "scores_biased")
    weights = _named(torch.softmax(scores, -1), "attention")
    context = _named(torch.matmul(weights, vh), "context")
    n = len(lead)
    merged = context.permute(0, *range(1, n + 1), n + 2, n + 1, n + 3)
    return merged.reshape(-1, *lead, lq, width_v)


def _finite(mask: torch.Tensor | None, dtype, true_masks: bool) -> torch.Tensor | None:
    """An attention mask as an additive float mask with finite entries (see :data:`MASKED`).
    A boolean mask's True means "masked" for nn.MultiheadAttention (``true_masks``) and
    "takes part" for F.scaled_dot_product_attention."""
    if mask is None:
        return None
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype).masked_fill(mask if true_masks else ~mask,
                                                                MASKED)
    return mask.to(dtype).clamp(min=MASKED)


# ---------------------------------------------------------------------- nn.MultiheadAttention

_MHA_ARGS = (("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask",
              "average_attn_weights", "is_causal"),
             dict(key_padding_mask=None, need_weights=True, attn_mask=None,
                  average_attn_weights=True, is_causal=False))


def _causal(lq: int, lk: int, dtype) -> torch.Tensor:
    keep = torch.ones(lq, lk, dtype=torch.bool).tril()
    return _finite(keep, dtype, true_masks=False)


def _multihead_attention(b: _Builder, where: str, m: nn.MultiheadAttention, args, kwargs):
    a = _bind(where, *_MHA_ARGS, args, kwargs)
    if not m.batch_first:
        raise UnsupportedOpError(f"{where}: nn.MultiheadAttention with batch_first=False reads "
                                 "the batch on axis 1; construct it with batch_first=True")
    if m.bias_k is not None or m.add_zero_attn:
        raise UnsupportedOpError(f"{where}: nn.MultiheadAttention with add_bias_kv or "
                                 "add_zero_attn is not supported")
    if a["key_padding_mask"] is not None:
        raise UnsupportedOpError(f"{where}: a key_padding_mask differs per sample; pass a "
                                 "constant attn_mask, or mask the padded tokens' inputs")
    for name in ("query", "key", "value"):
        if not isinstance(a[name], fx.Node):
            raise UnsupportedOpError(f"{where}: the {name} is not a tensor")
    (_, lq, e), (_, lk, _) = b.shape(a["query"]), b.shape(a["key"])
    heads = m.num_heads
    path = b.node.target
    if m._qkv_same_embed_dim:
        w = m.in_proj_weight.detach()
        wq, wk, wv = (b.constant(w[i * e:(i + 1) * e], n) for i, n in enumerate("qkv"))
    else:
        wq, wk, wv = (b.attribute(f"{path}.{n}_proj_weight") for n in "qkv")
    if m.in_proj_bias is not None:
        bias = m.in_proj_bias.detach()
        bq, bk, bv = (b.constant(bias[i * e:(i + 1) * e], f"b{n}") for i, n in enumerate("qkv"))
    else:
        bq = bk = bv = None
    q = _linear(b.proxy(a["query"]), wq, bq, "q")
    k = _linear(b.proxy(a["key"]), wk, bk, "k")
    v = _linear(b.proxy(a["value"]), wv, bv, "v")
    mask = a["attn_mask"]
    dtype = m.out_proj.weight.dtype
    if isinstance(mask, fx.Node):
        mask = b.values[mask]
    if mask is not None and mask.dim() == 3:
        raise UnsupportedOpError(f"{where}: a 3-d attn_mask (one per sample and head) is not "
                                 "supported; give a (L, S) mask")
    mask = _finite(mask, dtype, true_masks=True)
    if a["is_causal"] and mask is None:
        mask = _causal(lq, lk, dtype)
    context = attention_core(q, k, v, lead=(), lq=lq, lk=lk, heads=heads, width_qk=e, width_v=e,
                             scale=1.0 / math.sqrt(e // heads),
                             bias=b.constant(mask, "mask") if mask is not None else None)
    out = _linear(context, b.attribute(f"{path}.out_proj.weight"),
                  None if m.out_proj.bias is None else b.attribute(f"{path}.out_proj.bias"),
                  "out_proj")
    return out, a["need_weights"]


# ------------------------------------------------------------ F.scaled_dot_product_attention

_SDPA_ARGS = (("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale",
               "enable_gqa"),
              dict(attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                   enable_gqa=False))


def _sdpa(b: _Builder, where: str, args, kwargs):
    a = _bind(where, *_SDPA_ARGS, args, kwargs)
    if a["dropout_p"]:
        raise UnsupportedOpError(f"{where}: scaled_dot_product_attention with dropout_p="
                                 f"{a['dropout_p']} is random; pass dropout_p=0 in eval mode")
    if a["enable_gqa"]:
        raise UnsupportedOpError(f"{where}: grouped-query attention (enable_gqa) is not "
                                 "supported")
    q, k, v = (b.proxy(a[n]) for n in ("query", "key", "value"))
    sq, sk = b.shape(a["query"]), b.shape(a["key"])
    lq, lk, d = sq[-2], sk[-2], sq[-1]
    scale = a["scale"] if a["scale"] is not None else 1.0 / math.sqrt(d)
    mask = a["attn_mask"]
    if isinstance(mask, fx.Node):
        mask = b.values[mask]
    mask = _finite(mask, b.values[a["query"]].dtype, true_masks=False)
    if a["is_causal"]:
        mask = _causal(lq, lk, b.values[a["query"]].dtype)
    scores = _named(torch.matmul(_named(q * scale, "q_scaled"), k.transpose(-2, -1)),
                    "scores")
    if mask is not None:
        scores = _named(scores + b.constant(mask, "mask"), "scores_biased")
    weights = _named(torch.softmax(scores, -1), "attention")
    return _named(torch.matmul(weights, v), "context")


# ------------------------------------------------------------- Swin's shifted-window attention

_SWIN_ARGS = (("input", "qkv_weight", "proj_weight", "relative_position_bias", "window_size",
               "num_heads", "shift_size", "attention_dropout", "dropout", "qkv_bias",
               "proj_bias", "logit_scale", "training"),
              dict(attention_dropout=0.0, dropout=0.0, qkv_bias=None, proj_bias=None,
                   logit_scale=None, training=False))


def _swin_mask(pad_h, pad_w, window, shift, dtype) -> torch.Tensor:
    """Swin's attention mask for the shifted windows: tokens from different regions of the
    rolled map do not attend to each other (−100, Swin's value), shape (nW, 1, T, T)."""
    region = torch.zeros(pad_h, pad_w)
    bands = [[(0, -window[i]), (-window[i], -shift[i]), (-shift[i], None)] for i in range(2)]
    label = 0
    for h in bands[0]:
        for w in bands[1]:
            region[h[0]:h[1], w[0]:w[1]] = label
            label += 1
    region = region.reshape(pad_h // window[0], window[0], pad_w // window[1], window[1])
    region = region.permute(0, 2, 1, 3).reshape(-1, window[0] * window[1])
    differs = region[:, None, :] != region[:, :, None]
    return torch.zeros(differs.shape, dtype=dtype).masked_fill(differs, -100.0)[:, None]


def _swin_attention(b: _Builder, where: str, args, kwargs):
    kwargs = dict(kwargs)
    if "v2_logit_scale" in kwargs:       # the name in torchvision < 0.16
        kwargs["logit_scale"] = kwargs.pop("v2_logit_scale")
    a = _bind(where, *_SWIN_ARGS, args, kwargs)
    value = lambda key: b.values[a[key]] if isinstance(a[key], fx.Node) else a[key]  # noqa: E731
    if value("training") and (value("attention_dropout") or value("dropout")):
        raise UnsupportedOpError(f"{where}: shifted-window attention with dropout in training "
                                 "mode is random; import the model in eval mode")
    window, heads = list(value("window_size")), int(value("num_heads"))
    shift = list(value("shift_size"))
    _, h, w, c = b.shape(a["input"])
    pad_r, pad_b = (window[1] - w % window[1]) % window[1], (window[0] - h % window[0]) % window[0]
    pad_h, pad_w = h + pad_b, w + pad_r
    shift = [0 if window[i] >= (pad_h, pad_w)[i] else shift[i] for i in range(2)]
    x = b.proxy(a["input"])
    if pad_r or pad_b:
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
    if any(shift):
        x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
    nh, nw = pad_h // window[0], pad_w // window[1]
    tokens = window[0] * window[1]
    x = x.reshape(-1, nh, window[0], nw, window[1], c).permute(0, 1, 3, 2, 4, 5)
    x = x.reshape(-1, nh * nw, tokens, c)                       # (N, nW, T, C)
    qkv_w = value("qkv_weight").detach()
    qkv_b = value("qkv_bias")
    logit_scale = value("logit_scale")
    if qkv_b is not None:
        qkv_b = qkv_b.detach().clone()
        if logit_scale is not None:          # Swin v2 has no key bias
            qkv_b[c:2 * c] = 0
    projections = [_linear(x, b.constant(qkv_w[i * c:(i + 1) * c], n),
                           b.constant(None if qkv_b is None else qkv_b[i * c:(i + 1) * c],
                                      f"b{n}"), n) for i, n in enumerate("qkv")]
    dtype = qkv_w.dtype
    bias = value("relative_position_bias").detach().to(dtype)[0]  # (h, T, T)
    if any(shift):
        bias = bias[None] + _swin_mask(pad_h, pad_w, window, shift, dtype)  # (nW, h, T, T)
    cosine = None
    if logit_scale is not None:
        cosine = b.constant(torch.clamp(logit_scale.detach(), max=math.log(100.0)).exp(),
                            "logit_scale")
    context = attention_core(*projections, lead=(nh * nw,), lq=tokens, lk=tokens,
                             heads=heads, width_qk=c, width_v=c, scale=(c // heads) ** -0.5,
                             bias=b.constant(bias, "bias"), cosine_scale=cosine)
    proj_w, proj_b = value("proj_weight"), value("proj_bias")
    out = _named(F.linear(context, b.constant(proj_w, "proj"), b.constant(proj_b, "proj_b")),
                 "proj")
    out = out.reshape(-1, nh, nw, window[0], window[1], c).permute(0, 1, 3, 2, 4, 5)
    out = out.reshape(-1, pad_h, pad_w, c)
    if any(shift):
        out = torch.roll(out, shifts=(shift[0], shift[1]), dims=(1, 2))
    if pad_r or pad_b:
        out = out[:, :h, :w, :]
    return out


def _patch_merging_pad(b: _Builder, where: str, args, kwargs):
    """Swin's patch merging: pad H and W to even sizes and (in torchvision ≥ 0.16, where the
    function also does it) gather the four 2 × 2 neighbours into the channels."""
    (x,) = args
    *_, h, w, c = b.shape(x)
    p = b.proxy(x)
    if h % 2 or w % 2:
        p = F.pad(p, (0, 0, 0, w % 2, 0, h % 2))
    if b.shape(b.node)[-1] == c:     # the older function only pads
        return p
    quads = [p[:, i::2, j::2, :] for i, j in ((0, 0), (1, 0), (0, 1), (1, 1))]
    return torch.cat(quads, -1)


def _torchvision_functions() -> dict:
    try:
        from torchvision.models import swin_transformer
    except ImportError:  # torchvision is optional
        return {}
    return {swin_transformer.shifted_window_attention: _swin_attention,
            swin_transformer._patch_merging_pad: _patch_merging_pad}


FUNCTIONS = {F.scaled_dot_product_attention: _sdpa, **_torchvision_functions()}


# ------------------------------------------------------------------------------- the pass

def _scope(node: fx.Node, extra: str | None = None) -> tuple[str, dict]:
    stack = dict(node.meta.get("nn_module_stack") or {})
    if extra is not None:
        stack[extra] = (extra, None)
    scope = list(stack.values())[-1][0] if stack else ""
    return scope, stack


def _where(node: fx.Node) -> str:
    scope, _ = _scope(node)
    target = node.target if isinstance(node.target, str) else getattr(node.target, "__name__",
                                                                       repr(node.target))
    return f"{node.op} {target!r} (fx node {node.name!r}, in module {scope or '<top level>'!r})"


def _replace(gm: fx.GraphModule, node: fx.Node, values: dict) -> bool:
    """Write the decomposition of ``node`` in front of it and reroute its users; whether it
    was one."""
    module = gm.get_submodule(node.target) if node.op == "call_module" else None
    if isinstance(module, nn.MultiheadAttention):
        scope, stack = _scope(node, node.target)
    elif node.op == "call_function" and node.target in FUNCTIONS:
        scope, stack = _scope(node)
    else:
        return False
    first = list(gm.graph.nodes)
    with gm.graph.inserting_before(node):
        b = _Builder(gm, node, values, scope)
        if module is not None:
            out, need_weights = _multihead_attention(b, _where(node), module, node.args,
                                                     node.kwargs)
        else:
            out, need_weights = FUNCTIONS[node.target](b, _where(node), node.args,
                                                       node.kwargs), None
    for new in set(gm.graph.nodes) - set(first):
        new.meta["nn_module_stack"] = stack
    if need_weights is None:
        node.replace_all_uses_with(out.node)
    else:   # (output, weights): the getitem users read the output
        for user in list(node.users):
            if user.op == "call_function" and user.args[1:] == (0,):
                user.replace_all_uses_with(out.node)
            elif user.users:
                raise UnsupportedOpError(f"{_where(node)}: the attention weights it returns "
                                         "are used; only its output can be imported")
            gm.graph.erase_node(user)
    gm.graph.erase_node(node)
    return True


def rewrite_calls(gm: fx.GraphModule, values: dict, replace) -> list[str]:
    """Offer every node of ``gm`` to ``replace(gm, node, values) -> bool`` (which writes a
    decomposition in front of the node and reroutes its users); returns the call sites
    replaced, which fix the input's shape. The caller re-runs the example to learn the new
    nodes' values."""
    replaced = []
    for node in list(gm.graph.nodes):
        where = _where(node)
        if replace(gm, node, values):
            replaced.append(where)
    if replaced:
        gm.graph.lint()
        gm.recompile()
    return replaced


def decompose(gm: fx.GraphModule, values: dict) -> list[str]:
    """Replace every attention call of ``gm`` by its decomposition (sizes from the example
    ``values``); see :func:`rewrite_calls`."""
    return rewrite_calls(gm, values, _replace)


# ------------------------------------------------------------------ converters of the steps

_GATES = ("softmax",)


def _product_gate(imp, a, b) -> int | None:
    """Which factor of a contraction is the gate: the attention weights (a softmax's output)."""
    gated = [source_kind(imp, t) in _GATES for t in (a, b)]
    return (0 if gated[0] else 1) if gated[0] != gated[1] else None


def _matmul(imp, node):
    a, b = node.args[:2] if len(node.args) >= 2 else (node.args[0], node.kwargs["other"])
    if imp.is_tensor(a) and imp.is_tensor(b):
        if imp.rank(a) < 3 or imp.rank(b) < 3:
            raise UnsupportedOpError(f"{imp.where(node)}: a matrix product of a 1-d sample or "
                                     "with a batch of vectors is not supported")
        return ops.MatMul(gate=_product_gate(imp, a, b)), [a, b]
    if imp.is_tensor(a) and imp.is_constant(b) and imp.values[b].dim() == 2:
        return ops.Linear(imp.value(b).t(), None), [a]     # x @ W: a dense layer
    raise UnsupportedOpError(f"{imp.where(node)}: only products of two computed tensors, or "
                             "of a computed tensor and a constant matrix on its right, are "
                             "supported")


def _einsum(imp, node):
    equation, *operands = node.args
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = list(operands[0])
    equation = imp.value(equation)
    if len(operands) != 2 or not all(imp.is_tensor(t) for t in operands):
        raise UnsupportedOpError(f"{imp.where(node)}: einsum {equation!r} is imported for two "
                                 "computed operands only")
    try:
        op = ops.Einsum(equation, gate=_product_gate(imp, *operands))
    except ValueError as err:
        raise UnsupportedOpError(f"{imp.where(node)}: {err}") from None
    batch = [term.replace(" ", "")[:1] for term in equation.split("->")[0].split(",")]
    if batch[0] != batch[1] or op.out[:1] != batch[0]:
        raise UnsupportedOpError(f"{imp.where(node)}: einsum {equation!r} must keep the batch "
                                 "axis first in both operands and the output, under one name")
    return op, operands


def _linear_fn(imp, node):
    bound = _bind(imp.where(node), ("input", "weight", "bias"), {"bias": None}, node.args,
                  node.kwargs)
    if not all(v is None or imp.is_constant(v) for v in (bound["weight"], bound["bias"])):
        raise UnsupportedOpError(f"{imp.where(node)}: F.linear with a computed weight or bias")
    bias = bound["bias"]
    return ops.Linear(imp.value(bound["weight"]),
                      None if bias is None else imp.value(bias)), [bound["input"]]


def _normalize_fn(imp, node):
    bound = _bind(imp.where(node), ("input", "p", "dim", "eps", "out"),
                  {"p": 2.0, "dim": 1, "eps": 1e-12, "out": None}, node.args, node.kwargs)
    x, dim = bound["input"], imp.value(bound["dim"])
    if imp.value(bound["p"]) != 2 or int(dim) not in (-1, imp.rank(x) - 1):
        raise UnsupportedOpError(f"{imp.where(node)}: F.normalize is imported for p=2 over the "
                                 "last axis only")
    return ops.L2Normalize(imp.value(bound["eps"])), [x]


CONVERTERS = {
    torch.matmul: ("matmul", _matmul), operator.matmul: ("matmul", _matmul),
    torch.bmm: ("matmul", _matmul), torch.einsum: ("einsum", _einsum),
    F.linear: ("linear", _linear_fn), F.normalize: ("normalize", _normalize_fn),
}
METHOD_CONVERTERS = {"matmul": ("matmul", _matmul), "bmm": ("matmul", _matmul),
                     "__matmul__": ("matmul", _matmul)}
