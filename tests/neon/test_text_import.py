"""Text models: embeddings read token ids, recurrent layers are unrolled, and every method of
lrp explains token by token.

Each import is checked against the torch module in float64; per-token relevance against
quantities computed from the module with autograd (sharing no code with neon.tokens).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import lrp
import neon
from neon.graph import GraphInputError

torch.set_num_threads(1)
F64 = torch.float64
VOCAB, LENGTH = 30, 9


class TextCNN(nn.Module):
    def __init__(self, bias=True):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, 6, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(6, 4, w, bias=bias) for w in (2, 3))
        self.pool = nn.AdaptiveMaxPool1d(1)
        self.out = nn.Linear(8, 3, bias=bias)

    def forward(self, ids):
        e = self.embedding(ids).transpose(1, 2)
        return self.out(torch.cat([self.pool(torch.relu(c(e))).flatten(1)
                                   for c in self.convs], 1))


def _ids(n=4, seed=0, pad=2):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (n, LENGTH), generator=g)
    ids[:, LENGTH - pad:] = 0
    return ids


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    model = TextCNN().double().eval()
    return model, neon.neuralize(model, _ids()[:1])


def _embedding_grad_x_input(model, ids, target):
    """Gradient × input at the embedding output, from the module itself (a forward hook
    replaces the embedding's output by a leaf tensor), summed over the embedding axis."""
    leaf = {}

    def hook(module, args, out):
        leaf["e"] = out.detach().requires_grad_(True)
        return leaf["e"]

    handle = model.embedding.register_forward_hook(hook)
    try:
        out = model(ids)
        out[torch.arange(len(ids)), target].sum().backward()
    finally:
        handle.remove()
    return (leaf["e"].grad * leaf["e"]).sum(-1).detach(), leaf["e"].grad.detach()


def test_text_cnn_imports_exactly_with_a_token_input(cnn):
    model, graph = cnn
    ids = _ids(6, seed=1)
    spec = graph.input_specs[0]
    assert spec.vocabulary == VOCAB and spec.shape == (LENGTH,)
    assert graph[graph.node_of("embedding")].kind == "embedding"
    assert torch.equal(graph(ids), model(ids).detach())
    # numpy ids and integral floats are accepted and give the same output
    assert (graph(ids.numpy()) == model(ids).detach().numpy()).all()
    assert torch.equal(graph(ids.double()), graph(ids))


@pytest.mark.parametrize("mode,padding", [("sum", None), ("mean", None), ("sum", 0)])
def test_embedding_bag_is_a_lookup_and_a_reduction(mode, padding):
    torch.manual_seed(0)
    model = nn.Sequential(nn.EmbeddingBag(VOCAB, 5, mode=mode, padding_idx=padding),
                          nn.Linear(5, 2)).double()
    with torch.no_grad():
        model[0].weight[0] = 1.0       # padding must be left out of the bag, not summed
    ids = _ids()
    graph = neon.neuralize(model, ids)
    assert torch.allclose(graph(ids), model(ids), rtol=0, atol=1e-12)
    kinds = [n.kind for n in graph.nodes]
    assert kinds[:2] == ["embedding", mode]
    r = lrp.explain(graph, ids, 1)
    assert r.shape == ids.shape
    if padding is not None:
        assert (r[ids == 0] == 0).all()


def test_token_view_reproduces_the_graph_and_relevance_sums_over_dimensions(cnn):
    _, graph = cnn
    ids = _ids(3, seed=2)
    view, vectors = neon.tokens.embedded(graph, ids)
    assert [s.name for s in view.input_specs] == ["embedding"]
    assert vectors.shape == (3, LENGTH, 6)
    assert torch.equal(view(vectors), graph(ids))
    per_dim = lrp.explain(view, vectors, 1)
    per_token = lrp.explain(graph, ids, 1)
    expected = per_dim.sum(-1).masked_fill(ids == 0, 0)
    assert torch.allclose(per_token, expected, rtol=0, atol=1e-14)
    assert (per_token[:, -2:] == 0).all()


def test_gradient_x_input_per_token_matches_autograd_on_the_module(cnn):
    model, graph = cnn
    ids, target = _ids(4, seed=3), torch.tensor([0, 1, 2, 1])
    expected, grad = _embedding_grad_x_input(model, ids, target)
    expected = expected.masked_fill(ids == 0, 0)
    got = lrp.gradient_x_input(graph, ids, target)
    assert torch.allclose(got, expected, rtol=1e-12, atol=1e-14)
    assert torch.allclose(lrp.gradient(graph, ids, target),
                          grad.sum(-1).masked_fill(ids == 0, 0), rtol=1e-12, atol=1e-14)


def test_lrp_epsilon_equals_gradient_x_input_on_a_bias_free_relu_text_cnn():
    """With no biases, ε → 0 and ReLU / max pooling, LRP-ε is gradient × input (Ancona et
    al. 2018), computed here on the module with autograd."""
    torch.manual_seed(1)
    model = TextCNN(bias=False).double().eval()
    graph = neon.neuralize(model, _ids()[:1])
    ids, target = _ids(5, seed=4), torch.tensor([2, 0, 1, 1, 0])
    expected, _ = _embedding_grad_x_input(model, ids, target)
    got = lrp.explain(graph, ids, target, lrp.EpsilonOnly(epsilon=1e-12))
    assert torch.allclose(got, expected.masked_fill(ids == 0, 0), rtol=1e-8, atol=1e-12)
    assert torch.allclose(got.sum(1), model(ids)[torch.arange(5), target].detach(),
                          rtol=1e-8)


@pytest.mark.parametrize("method", ["explain", "gradient", "gradient_x_input",
                                    "integrated_gradients", "smoothgrad", "guided_backprop",
                                    "occlusion", "lime", "rise"])
def test_every_method_explains_token_by_token(cnn, method):
    _, graph = cnn
    ids = _ids(2, seed=5)
    options = {"occlusion": dict(window=(1, 6)), "lime": dict(seed=0),
               "rise": dict(seed=0), "smoothgrad": dict(seed=0)}.get(method, {})
    r = getattr(lrp, method)(graph, ids, 1, **options)
    assert r.shape == ids.shape and r.dtype == F64
    assert torch.isfinite(r).all() and (r[ids == 0] == 0).all()
    out = getattr(lrp, method)(graph, ids.numpy(), 1, **options)
    assert out.shape == ids.shape and not isinstance(out, torch.Tensor)


def test_integrated_gradients_completeness_holds_at_the_embedding(cnn):
    _, graph = cnn
    ids = _ids(3, seed=6, pad=0)
    a = lrp.integrated_gradients(graph, ids, 0, steps=256, return_all=True)
    view, vectors = neon.tokens.embedded(graph, ids)
    gap = a.attribution.sum(1) - (view(vectors)[:, 0] - view(torch.zeros_like(vectors))[:, 0])
    assert gap.abs().max() < 1e-2 * view(vectors)[:, 0].abs().max()   # a Riemann sum


def test_float32_text_graph_keeps_integer_ids_and_float_weights():
    torch.manual_seed(0)
    model = TextCNN().eval()
    graph = neon.neuralize(model, _ids()[:1])
    assert graph.dtype == torch.float32
    r = lrp.explain(graph, _ids(2), 0)
    assert r.dtype == torch.float32 and r.shape == (2, LENGTH)


# ------------------------------------------------------------------------- recurrent layers

class Recurrent(nn.Module):
    """Embedding → LSTM / GRU / RNN → both the final state and the last output, used the
    ways torch code uses them (h_n[-1], out[:, -1], transposes for batch_first=False)."""

    def __init__(self, kind, batch_first=True, bidirectional=False, layers=1, **extra):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, 5)
        self.rnn = getattr(nn, kind)(5, 4, num_layers=layers, batch_first=batch_first,
                                     bidirectional=bidirectional, **extra)
        width = 8 if bidirectional else 4
        self.out = nn.Linear(2 * width, 3)
        self.kind, self.batch_first, self.bidirectional = kind, batch_first, bidirectional

    def forward(self, ids):
        e = self.embedding(ids)
        if not self.batch_first:
            e = e.transpose(0, 1)
        out, state = self.rnn(e)
        h = state[0] if self.kind == "LSTM" else state
        final = torch.cat([h[-2], h[-1]], 1) if self.bidirectional else h[-1]
        last = out[:, -1] if self.batch_first else out[-1]
        return self.out(torch.cat([final, last], 1))


CASES = [(k, bf, bi, n) for k in ("LSTM", "GRU", "RNN") for bf in (True, False)
         for bi in (False, True) for n in (1, 2)]


@pytest.mark.parametrize("kind,batch_first,bidirectional,layers", CASES,
                         ids=[f"{k}-{'bf' if bf else 'tm'}-{'bi' if bi else 'uni'}-{n}"
                              for k, bf, bi, n in CASES])
def test_recurrent_layers_unroll_exactly(kind, batch_first, bidirectional, layers):
    torch.manual_seed(0)
    model = Recurrent(kind, batch_first, bidirectional, layers).double().eval()
    ids = _ids(3, seed=7, pad=0)
    graph = neon.neuralize(model, ids)
    assert torch.allclose(graph(ids), model(ids), rtol=0, atol=1e-13)
    directions = 2 if bidirectional else 1
    steps = [n for n in graph.nodes if n.name.endswith(".h")]
    assert len(steps) == LENGTH * layers * directions
    e = lrp.explain(graph, ids, 1, return_all=True)
    assert e.relevance.shape == ids.shape and torch.isfinite(e.relevance).all()


def test_rnn_with_relu_and_without_bias_unrolls_exactly():
    torch.manual_seed(0)
    model = Recurrent("RNN", nonlinearity="relu", bias=False).double().eval()
    ids = _ids(3, pad=0)
    graph = neon.neuralize(model, ids)
    assert torch.allclose(graph(ids), model(ids), rtol=0, atol=1e-13)


def test_every_product_of_an_unrolled_gru_and_lstm_has_its_gate_marked():
    for kind in ("LSTM", "GRU"):
        torch.manual_seed(0)
        graph = neon.neuralize(Recurrent(kind).double(), _ids(2, pad=0))
        products = [n for n in graph.nodes if n.kind == "mul"]
        assert products and all(n.op.gate is not None for n in products)
        for n in products:
            gate = graph[n.inputs[n.op.gate]]
            assert gate.kind in ("sigmoid", "broadcast_affine"), (kind, n.name, gate.kind)


def test_an_other_sequence_length_is_refused_with_the_advice_to_import_again():
    torch.manual_seed(0)
    graph = neon.neuralize(Recurrent("LSTM").double(), _ids(2, pad=0))
    with pytest.raises(GraphInputError, match="import the model again"):
        graph(torch.ones(2, LENGTH + 3, dtype=torch.int64))
