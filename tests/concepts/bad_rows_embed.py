"""Bad-input rows of concepts.embed and concepts.plot.embedding, for
tests/test_bad_input_table.py: ``(entry point, what is wrong, zero-argument call, exception
class, words the message must contain)``. Graphs are tiny torch MLPs built once here."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

import neon
from concepts.embed import embed
from concepts.plot.embedding import embedding
from neon.graph import GraphInputError

F64 = torch.float64


def _mlp(bias=0.0, scale=1.0):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)).double()
    with torch.no_grad():
        net[0].weight.mul_(scale)
        net[0].bias.add_(bias)
    return net


class _TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 3), nn.Linear(4, 3)

    def forward(self, x):
        return self.a(x) + self.b(x)


_EX = torch.randn(1, 4, dtype=F64)
NET = _mlp()
MLP = neon.neuralize(NET, _EX)
HUGE = neon.neuralize(_mlp(scale=1e308), _EX)            # layer 0 overflows to ±inf
DEAD = neon.neuralize(_mlp(bias=-1e3), _EX)              # ReLU 1 is 0 for every sample
ONE = neon.neuralize(nn.Sequential(nn.Linear(4, 1)).double(), _EX)
HEADS = neon.neuralize(_TwoHeads().double(), _EX)
X = np.random.default_rng(0).normal(size=(6, 4)) * 3
Y = np.array(list("aabbcc"))
RESULT = embed(MLP, X, method="pca", labels=Y)
NO_PRED = embed(ONE, X, method="pca")                    # one output: no predictions


def emb(**kw):
    return lambda: embed(kw.pop("graph", MLP), kw.pop("x", X), kw.pop("node", None), **kw)


def plot(result=RESULT, **kw):
    return lambda: embedding(result, **kw)


ROWS = [
    # ---- concepts.embed
    ("concepts.embed", "a torch module instead of a graph", emb(graph=NET), TypeError,
     "neuralize"),
    ("concepts.embed", "unknown method", emb(method="umap"), ValueError, "'tsne', 'pca'"),
    ("concepts.embed", "pca = 1", emb(pca=1), ValueError, "pca must be ≥ 2"),
    ("concepts.embed", "pca a float", emb(pca=2.5), TypeError, "pca must be None"),
    ("concepts.embed", "pca True", emb(pca=True), TypeError, "pca must be None"),
    ("concepts.embed", "perplexity 0", emb(perplexity=0), ValueError, "perplexity must be >"),
    ("concepts.embed", "NaN perplexity", emb(perplexity=math.nan), ValueError, "NaN"),
    ("concepts.embed", "perplexity a string", emb(perplexity="5"), TypeError,
     "perplexity must be a real number"),
    ("concepts.embed", "perplexity ≥ the sample count (default 30 for 6 samples)", emb(),
     ValueError, "perplexity < n_samples"),
    ("concepts.embed", "perplexity equal to the sample count", emb(perplexity=6), ValueError,
     "for 6 samples"),
    ("concepts.embed", "negative random_state", emb(random_state=-1), ValueError,
     "random_state must be an integer seed"),
    ("concepts.embed", "random_state above 2**32 - 1", emb(random_state=2**32), ValueError,
     "[0, 2**32 - 1]"),
    ("concepts.embed", "random_state a float", emb(random_state=1.5), TypeError,
     "random_state must be None or an integer"),
    ("concepts.embed", "batch_size 0", emb(batch_size=0, method="pca"), ValueError,
     "positive integer"),
    ("concepts.embed", "labels of the wrong length", emb(labels=Y[:3], method="pca"),
     ValueError, "labels has 3 entries for 6 samples"),
    ("concepts.embed", "labels 2-d", emb(labels=np.zeros((6, 2)), method="pca"), ValueError,
     "one label per sample"),
    ("concepts.embed", "labels a string", emb(labels="abcdef", method="pca"), TypeError,
     "one label per sample"),
    ("concepts.embed", "unknown node", emb(node="9"), KeyError,
     "no node or source module named '9'"),
    ("concepts.embed", "node an index", emb(node=1), TypeError, "string"),
    ("concepts.embed", "fewer than 4 samples", emb(x=X[:3], method="pca"), ValueError,
     "at least 4"),
    ("concepts.embed", "empty batch", emb(x=X[:0]), ValueError, "no samples"),
    ("concepts.embed", "input of the wrong width", emb(x=X[:, :3]), GraphInputError,
     "expected 4 features, got 3"),
    ("concepts.embed", "NaN input", emb(x=np.full((6, 4), np.nan)), GraphInputError, "NaN"),
    ("concepts.embed", "activations overflow to inf (the node is named)",
     emb(graph=HUGE, node="0", method="pca"), ValueError,
     "activations of node '0' contain NaN or infinite values"),
    ("concepts.embed", "activations equal for every sample",
     emb(graph=DEAD, node="1", method="pca"), ValueError, "same for every sample"),
    ("concepts.embed", "a node of width 1", emb(graph=ONE, node="0", method="pca"),
     ValueError, "at least 2"),
    ("concepts.embed", "no single penultimate node (last layer reads two)",
     emb(graph=HEADS, method="pca"), ValueError, "name the node to embed"),
    ("concepts.embed", "unknown t-SNE option", emb(perplexity=2, n_iterations=300), TypeError,
     "unknown t-SNE option(s) n_iterations"),
    ("concepts.embed", "n_components", emb(perplexity=2, n_components=3), TypeError, "2-d"),
    ("concepts.embed", "t-SNE options with method='pca'", emb(method="pca", max_iter=300),
     TypeError, "only apply to method='tsne'"),
    ("concepts.embed", "max_iter below scikit-learn's minimum", emb(perplexity=2, max_iter=10),
     ValueError, "max_iter"),
    # ---- concepts.plot.embedding
    ("concepts.plot.embedding", "not an Embedding", lambda: embedding(X), TypeError,
     "concepts.Embedding"),
    ("concepts.plot.embedding", "colour array of the wrong length",
     plot(color=np.zeros(5)), ValueError, "one value per sample, shape (6,)"),
    ("concepts.plot.embedding", "colour array 2-d", plot(color=np.zeros((6, 2))), ValueError,
     "one value per sample"),
    ("concepts.plot.embedding", "colour a number", plot(color=3), TypeError,
     "one value per sample"),
    ("concepts.plot.embedding", "colour 'label' (a typo)", plot(color="label"), ValueError,
     "'labels', 'predictions'"),
    ("concepts.plot.embedding", "colour 'labels' without labels",
     plot(NO_PRED, color="labels"), ValueError, "pass labels="),
    ("concepts.plot.embedding", "colour 'predictions' where there are none",
     plot(NO_PRED, color="predictions"), ValueError, "no predictions"),
    ("concepts.plot.embedding", "NaN in continuous colours",
     plot(color=np.array([0.1, np.nan, 0.3, 0.4, 0.5, 0.6])), ValueError, "NaN"),
    ("concepts.plot.embedding", "categorical=False on strings",
     plot(color=Y, categorical=False), ValueError, "real numbers"),
    ("concepts.plot.embedding", "categorical 'yes'", plot(categorical="yes"), TypeError,
     "categorical must be None, True or False"),
    ("concepts.plot.embedding", "alpha 0", plot(alpha=0), ValueError, "alpha must be >"),
    ("concepts.plot.embedding", "alpha 1.5", plot(alpha=1.5), ValueError, "(0, 1]"),
    ("concepts.plot.embedding", "negative size", plot(size=-1), ValueError, "size must be >"),
    ("concepts.plot.embedding", "legend 'yes'", plot(legend="yes"), TypeError,
     "legend must be True or False"),
    ("concepts.plot.embedding", "title a number", plot(title=3), TypeError,
     "title must be a string"),
    ("concepts.plot.embedding", "ax not an Axes", plot(ax="left"), TypeError,
     "matplotlib Axes"),
]
