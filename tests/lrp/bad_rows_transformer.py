"""Bad-input rows of the transformer presets, the product rules, the bilinear ops and the
attention import, for tests/test_bad_input_table.py: ``(entry point, what is wrong,
zero-argument call, exception class, words the message must contain)``."""

from __future__ import annotations

import torch
from torch import nn

import lrp
import neon
from lrp import rules
from neon import ops
from tests.lrp.bad_rows_modern_rules import epsilon_rows


def _preset_rows(name, cls):
    entry = f"lrp.{name}"
    return [
        *epsilon_rows(entry, cls),
        (entry, "negative gamma", lambda: cls(gamma=-0.25), ValueError, "gamma must be ≥ 0"),
        (entry, "gamma a string", lambda: cls(gamma="0.25"), TypeError,
         "gamma must be a real number"),
        (entry, "negative stabilizer", lambda: cls(stabilizer=-1.0), ValueError,
         "stabilizer must be ≥ 0"),
    ]


class _Attention(nn.Module):
    def __init__(self, call, **kw):
        super().__init__()
        self.attn = nn.MultiheadAttention(4, 2, **kw)
        self.call = call

    def forward(self, x):
        return self.call(self.attn, x)


def _import(call, **kw):
    return lambda: neon.from_torch(_Attention(call, **kw).eval(), torch.randn(2, 3, 4))


_PLAIN = lambda attn, x: attn(x, x, x)[0]   # noqa: E731
ROWS = [
    *_preset_rows("CPLRP", lrp.CPLRP),
    *_preset_rows("AttnLRP", lrp.AttnLRP),
    *epsilon_rows("lrp.rules.SignalTakeAll", rules.SignalTakeAll),
    *epsilon_rows("lrp.rules.UniformSplit", rules.UniformSplit),
    ("neon.ops.Einsum", "an ellipsis", lambda: ops.Einsum("b...,b...->b"), ValueError,
     "ellipses are not supported"),
    ("neon.ops.Einsum", "three operands", lambda: ops.Einsum("bi,bi,bi->b"), ValueError,
     "give two operands"),
    ("neon.ops.Einsum", "no output", lambda: ops.Einsum("bij,bjk"), ValueError,
     "explicitly"),
    ("neon.ops.MatMul", "gate 2", lambda: ops.MatMul(gate=2), ValueError,
     "gate must be 0, 1 or None"),
    ("neon.from_torch", "MultiheadAttention with batch_first=False", _import(_PLAIN),
     neon.UnsupportedOpError, "batch_first=True"),
    ("neon.from_torch", "MultiheadAttention with add_bias_kv", _import(
        _PLAIN, batch_first=True, add_bias_kv=True), neon.UnsupportedOpError, "add_bias_kv"),
    ("neon.from_torch", "a key_padding_mask", _import(
        lambda attn, x: attn(x, x, x, key_padding_mask=torch.zeros(2, 3, dtype=torch.bool))[0],
        batch_first=True), neon.UnsupportedOpError, "key_padding_mask"),
    ("neon.from_torch", "the attention weights used", _import(
        lambda attn, x: attn(x, x, x)[1].sum(-1), batch_first=True), neon.UnsupportedOpError,
     "attention weights"),
]
