"""Bad-input rows of the text import (embeddings, unrolled recurrent layers), token-id inputs,
neon.tokens and lrp.plot.tokens, for tests/test_bad_input_table.py: ``(entry point, what is
wrong, zero-argument call, exception class, words the message must contain)``."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import lrp
import neon
from neon import UnsupportedOpError
from neon.graph import GraphInputError

IDS = torch.tensor([[1, 2, 3, 0], [4, 5, 6, 7]])


class _Rnn(nn.Module):
    def __init__(self, make, use="last"):
        super().__init__()
        self.embedding = nn.Embedding(10, 3)
        self.rnn = make()
        self.use = use

    def forward(self, ids):
        e = self.embedding(ids)
        if self.use == "h0":
            out, _ = self.rnn(e, (torch.zeros(1, 2, 2), torch.zeros(1, 2, 2)))
        elif self.use == "time-major":
            out, _ = self.rnn(e)
            return out.sum(1)
        else:
            out, _ = self.rnn(e)
        return out[:, -1]


class _IdsMath(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(10, 3)

    def forward(self, ids):
        return self.embedding(ids).sum(1) * (ids > 0).sum(1, keepdim=True)


def _import(module):
    return lambda: neon.neuralize(module, IDS)


def _graph():
    torch.manual_seed(0)
    net = nn.Sequential(nn.EmbeddingBag(10, 3, mode="sum"), nn.Linear(3, 2))
    return neon.neuralize(net, IDS)


G = _graph()
LSTM = lambda **kw: nn.LSTM(3, 2, batch_first=True, **kw)  # noqa: E731

ROWS = [
    ("neon.neuralize", "LSTM with an initial state",
     _import(_Rnn(LSTM, use="h0")), UnsupportedOpError, "zero initial state"),
    ("neon.neuralize", "LSTM with proj_size",
     _import(_Rnn(lambda: nn.LSTM(3, 4, batch_first=True, proj_size=2))), UnsupportedOpError,
     "proj_size"),
    ("neon.neuralize", "time-major LSTM whose input is no transpose",
     _import(_Rnn(lambda: nn.LSTM(3, 2), use="time-major")), UnsupportedOpError,
     "batch_first=True"),
    ("neon.neuralize", "EmbeddingBag in max mode",
     _import(nn.Sequential(nn.EmbeddingBag(10, 3, mode="max"))), UnsupportedOpError,
     "mode='sum'"),
    ("neon.neuralize", "EmbeddingBag mean with padding",
     _import(nn.Sequential(nn.EmbeddingBag(10, 3, mode="mean", padding_idx=0))),
     UnsupportedOpError, "non-padding"),
    ("neon.neuralize", "Embedding with max_norm",
     _import(nn.Sequential(nn.Embedding(10, 3, max_norm=1.0), nn.Flatten())),
     UnsupportedOpError, "max_norm"),
    ("neon.neuralize", "token ids read by arithmetic",
     _import(_IdsMath()), UnsupportedOpError, "only an nn.Embedding"),
    ("neon.neuralize", "integer input without embedding",
     lambda: neon.neuralize(nn.Flatten(), IDS), TypeError, "no nn.Embedding"),
    ("neon.Graph", "non-integer token ids",
     lambda: G(IDS + 0.5), GraphInputError, "must be integers"),
    ("neon.Graph", "token id beyond the vocabulary",
     lambda: G(IDS + 5), GraphInputError, "outside the vocabulary"),
    ("neon.Graph", "negative token id",
     lambda: G(IDS - 1), GraphInputError, "token id -1"),
    ("lrp.explain", "token ids beyond the vocabulary",
     lambda: lrp.explain(G, IDS * 3, 0), GraphInputError, "<unk>"),
    ("neon.tokens.embedded", "not a graph",
     lambda: neon.tokens.embedded(nn.Linear(2, 2)), TypeError, "neon.Graph"),
    ("neon.tokens.embedded", "graph without token input",
     lambda: neon.tokens.embedded(neon.neuralize(nn.Linear(2, 2), torch.ones(1, 2))),
     ValueError, "no token-id input"),
    ("lrp.plot.tokens", "batch of relevance with one text's words",
     lambda: lrp.plot.tokens(["a", "b"], np.ones((2, 2))), ValueError, "list of lists"),
    ("lrp.plot.tokens", "words and relevance of different lengths",
     lambda: lrp.plot.tokens(["a", "b", "c"], np.ones(2)), ValueError, "one word per token"),
    ("lrp.plot.tokens", "non-finite relevance",
     lambda: lrp.plot.tokens(["a", "b"], np.array([1.0, np.nan])), ValueError, "NaN"),
    ("lrp.plot.tokens", "outputs of the wrong count",
     lambda: lrp.plot.tokens([["a"], ["b"]], np.ones((2, 1)), outputs=[1.0]), ValueError,
     "outputs for 2 texts"),
]
