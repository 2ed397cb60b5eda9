"""LRP through an unrolled LSTM against a hand computation of Arras et al.'s rules.

The reference below is written in numpy from the module's weights and shares no code with
neon: the LSTM is run forward step by step, and relevance is sent back with the rules of
Arras, Montavon, Müller & Samek, "Explaining recurrent neural network predictions in
sentiment analysis" (WASSA 2017):

* linear maps (and the sum W_ih x_t + b + W_hh h_{t−1} feeding a gate): the ε rule with the
  bias absorbed, R_j = a_j w_jk / z_k · R_k;
* gating products σ ⊙ s: all of the relevance to the signal s, none to the gate;
* the cell sum c_t = f ⊙ c_{t−1} + i ⊙ g: split in proportion to the two terms.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import lrp
import neon

torch.set_num_threads(1)
F64 = torch.float64


class LastState(nn.Module):
    def __init__(self, n_in=2, hidden=3, n_out=2):
        super().__init__()
        self.lstm = nn.LSTM(n_in, hidden, batch_first=True)
        self.out = nn.Linear(hidden, n_out)

    def forward(self, x):
        _, (h, _) = self.lstm(x)
        return self.out(h[-1])


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def arras_lrp(model: LastState, x: np.ndarray, target: int) -> np.ndarray:
    """Relevance of every input x[t, j] of one sequence (L, F) for output ``target``."""
    w_ih = model.lstm.weight_ih_l0.detach().numpy()
    w_hh = model.lstm.weight_hh_l0.detach().numpy()
    b = (model.lstm.bias_ih_l0 + model.lstm.bias_hh_l0).detach().numpy()
    w_out, b_out = model.out.weight.detach().numpy(), model.out.bias.detach().numpy()
    H, L = w_hh.shape[1], len(x)
    gs = slice(2 * H, 3 * H)                          # the cell candidate g
    h, c = np.zeros(H), np.zeros(H)
    saved = []
    for t in range(L):
        pre = w_ih @ x[t] + b + w_hh @ h
        i, f = _sigmoid(pre[:H]), _sigmoid(pre[H:2 * H])
        g, o = np.tanh(pre[gs]), _sigmoid(pre[3 * H:])
        c_prev, h_prev = c, h
        c = f * c_prev + i * g
        h = o * np.tanh(c)
        saved.append(dict(pre=pre, f=f, i=i, g=g, c_prev=c_prev, c=c, h_prev=h_prev))
    z = w_out @ h + b_out
    r_h = h * w_out[target] / z[target] * z[target]     # R_out = z_target
    r_c = np.zeros(H)
    r_x = np.zeros_like(x)
    for t in reversed(range(L)):
        s = saved[t]
        r_c = r_c + r_h                               # h = o ⊙ tanh(c): all to tanh(c) → c
        r_fc = s["f"] * s["c_prev"] / s["c"] * r_c    # proportional split of the cell sum
        r_g = s["i"] * s["g"] / s["c"] * r_c          # i ⊙ g: all to g → its pre-activation
        pre_g = s["pre"][gs]
        r_x[t] = (x[t][None, :] * w_ih[gs] / pre_g[:, None] * r_g[:, None]).sum(0)
        r_h = (s["h_prev"][None, :] * w_hh[gs] / pre_g[:, None] * r_g[:, None]).sum(0)
        r_c = r_fc
    return r_x


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lstm_lrp_equals_the_hand_computation_of_arras_rules(seed):
    torch.manual_seed(seed)
    model = LastState().double().eval()
    x = torch.randn(3, 4, 2, dtype=F64)
    graph = neon.neuralize(model, x)
    assert torch.allclose(graph(x), model(x), rtol=0, atol=1e-14)
    composite = lrp.Composite([(lrp.select.kind("linear"), lrp.rules.Epsilon(1e-12)),
                               (lrp.select.kind("add"), lrp.rules.Norm(1e-12))])
    ours = lrp.explain(graph, x, 1, composite)
    expected = np.stack([arras_lrp(model, s.numpy(), 1) for s in x])
    assert np.allclose(ours.numpy(), expected, rtol=1e-9, atol=1e-12)


def test_lstm_lrp_gates_receive_nothing_and_conservation_is_reported():
    torch.manual_seed(0)
    model = LastState().double().eval()
    x = torch.randn(2, 5, 2, dtype=F64)
    graph = neon.neuralize(model, x)
    e = lrp.explain(graph, x, 0, return_all=True)
    for name, r in e.nodes.items():
        if graph.is_op_node(name) and graph[name].kind == "sigmoid":
            assert (r == 0).all(), name
    # conservation: the input relevance is f minus what biases and stabilizers absorbed
    absorbed = sum(row["absorbed"] for row in e.table)
    assert torch.allclose(e.relevance.sum((1, 2)) + absorbed, e.output, rtol=1e-10)


def test_the_gradient_rule_through_an_unrolled_lstm_is_the_gradient():
    torch.manual_seed(0)
    model = LastState().double().eval()
    x = torch.randn(2, 4, 2, dtype=F64, requires_grad=True)
    graph = neon.neuralize(model, x.detach())
    model(x)[:, 1].sum().backward()
    walked = lrp.explain(graph, x.detach(), 1, lrp.rules.Gradient())
    assert torch.allclose(lrp.gradient(graph, x.detach(), 1), x.grad, rtol=1e-12)
    assert torch.allclose(walked, x.grad * graph(x.detach())[:, 1:2, None], rtol=1e-10)
