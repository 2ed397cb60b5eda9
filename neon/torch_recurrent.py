"""Recurrent layers imported unrolled: ``nn.LSTM``, ``nn.GRU`` and ``nn.RNN`` written out over
the example's sequence length, one gate op per step, before the import.

A recurrent module is one opaque call in a torch.fx trace. It is replaced by its
computation, step by step, in plain torch calls on fx proxies (as :mod:`neon.torch_attention`
does for attention), so that every gate, product and sum is a node the rules see. With
x_t the layer's input at step t and the zero initial state (h₀ = c₀ = 0; the terms with
h₀ are left out, which is exact):

LSTM (gates in torch's order i, f, g, o)::

    [i, f, g, o] = x_t W_ihᵀ + b_ih + b_hh + h_{t−1} W_hhᵀ           (``Linear``, ``Add``)
    c_t = σ(f) ⊙ c_{t−1} + σ(i) ⊙ tanh(g),   h_t = σ(o) ⊙ tanh(c_t)    (``Mul``, ``Add``)

GRU (gates r, z, n)::

    r = σ(x W_irᵀ + b_ir + b_hr + h W_hrᵀ),   z = σ(x W_izᵀ + b_iz + b_hz + h W_hzᵀ)
    n = tanh(x W_inᵀ + b_in + r ⊙ (h W_hnᵀ + b_hn)),   h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}

RNN: h_t = act(x_t W_ihᵀ + b_ih + b_hh + h_{t−1} W_hhᵀ) with act tanh or ReLU.

The input projection x W_ihᵀ of a layer is one ``Linear`` over the whole sequence; several
layers feed each other the sequence of their outputs, a bidirectional layer runs a second
chain from the last step to the first and concatenates the two per step, as torch does.
In every product the sigmoid factor (σ(i), σ(f), σ(o), r, z, 1 − z) is marked as the gate,
so the default rule (:class:`lrp.rules.SignalTakeAll`) gives the signal all of the
relevance: Arras et al.'s LSTM rule (WASSA 2017). Node names:
``<module>.l<layer>[r].t<step>.<what>`` (``r`` for the reverse direction).

The unrolled length is the example's, so the imported graph's input shape is fixed to it;
another length is refused with the advice to import again with an example of that length.
Only the zero initial state is imported; ``proj_size`` and packed sequences are refused.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from .torch_attention import _Builder, _named, _scope, _where, rewrite_calls
from .torch_import import UnsupportedOpError

__all__ = ["unroll", "RECURRENT"]

#: The recurrent modules unrolled at import.
RECURRENT = (nn.LSTM, nn.GRU, nn.RNN)

_TRANSPOSES = {("transpose", (0, 1)), ("transpose", (1, 0)), ("permute", (1, 0, 2))}


def _is_time_swap(node: fx.Node) -> bool:
    """Whether ``node`` swaps the first two axes of a 3-d tensor (x.transpose(0, 1),
    x.permute(1, 0, 2), torch.transpose(x, 0, 1))."""
    if node.op == "call_method" and node.target in ("transpose", "permute"):
        dims = tuple(node.args[1:]) if len(node.args) > 2 or node.target == "transpose" \
            else tuple(node.args[1])
        return (node.target, dims) in _TRANSPOSES
    if node.op == "call_function" and node.target in (torch.transpose, torch.swapaxes):
        return tuple(node.args[1:]) in ((0, 1), (1, 0))
    return False


def _gated(p: fx.Proxy, gate: int) -> fx.Proxy:
    p.node.meta["neon_gate"] = gate
    return p


class _Layer:
    """The parameters of one layer and direction of a recurrent module."""

    def __init__(self, b: _Builder, m: nn.Module, path: str, layer: int, reverse: bool):
        suffix = f"l{layer}" + ("_reverse" if reverse else "")
        self.tag = f"l{layer}" + ("r" if reverse else "")
        self.reverse = reverse
        self.w_ih = b.attribute(f"{path}.weight_ih_{suffix}")
        self.w_hh = b.attribute(f"{path}.weight_hh_{suffix}")
        width = getattr(m, f"weight_hh_{suffix}").shape[1]
        if m.bias:
            b_ih = getattr(m, f"bias_ih_{suffix}").detach()
            b_hh = getattr(m, f"bias_hh_{suffix}").detach()
        else:
            like = getattr(m, f"weight_ih_{suffix}")
            b_ih = b_hh = torch.zeros(like.shape[0], dtype=like.dtype)
        self.width = width
        if isinstance(m, nn.GRU):   # b_hn stays inside r ⊙ (h W_hnᵀ + b_hn)
            outer = torch.cat([b_hh[:2 * width], torch.zeros_like(b_hh[2 * width:])])
            self.b_in = b.constant(b_ih + outer, f"{self.tag}_bias")
            self.b_hn = b_hh[2 * width:]
            self.b_hidden = b.constant(torch.cat([torch.zeros_like(b_hh[:2 * width]),
                                                  self.b_hn]), f"{self.tag}_bias_h")
            self.b_hn = b.constant(self.b_hn, f"{self.tag}_b_hn")
        else:
            self.b_in = b.constant(b_ih + b_hh, f"{self.tag}_bias")


def _lstm_steps(layer: _Layer, inputs, order):
    """h_t and c_t of one LSTM layer and direction, in the order of ``order``."""
    hs, h, c = {}, None, None
    for t in order:
        name = f"{layer.tag}.t{t}"
        gates = inputs[t]
        if h is not None:
            gates = _named(gates + _named(F.linear(h, layer.w_hh), f"{name}.hidden"),
                           f"{name}.gates")
        i, f, g, o = gates.chunk(4, -1)
        i = _named(torch.sigmoid(i), f"{name}.i")
        f = _named(torch.sigmoid(f), f"{name}.f")
        g = _named(torch.tanh(g), f"{name}.g")
        o = _named(torch.sigmoid(o), f"{name}.o")
        new = _named(_gated(i * g, 0), f"{name}.ig")
        c = new if c is None else _named(_named(_gated(f * c, 0), f"{name}.fc") + new,
                                         f"{name}.c")
        h = _named(_gated(o * _named(torch.tanh(c), f"{name}.tanh_c"), 0), f"{name}.h")
        hs[t] = h
    return hs, (h, c)


def _gru_steps(layer: _Layer, inputs, order):
    hs, h = {}, None
    for t in order:
        name = f"{layer.tag}.t{t}"
        xr, xz, xn = inputs[t].chunk(3, -1)
        if h is None:
            r = _named(torch.sigmoid(xr), f"{name}.r")
            z = _named(torch.sigmoid(xz), f"{name}.z")
            n = _named(torch.tanh(xn + _named(r * layer.b_hn, f"{name}.r_bias")), f"{name}.n")
            keep = _named(1 - z, f"{name}.1-z")
            h = _named(_gated(keep * n, 0), f"{name}.h")
        else:
            hidden = _named(F.linear(h, layer.w_hh, layer.b_hidden), f"{name}.hidden")
            hr, hz, hn = hidden.chunk(3, -1)
            r = _named(torch.sigmoid(xr + hr), f"{name}.r")
            z = _named(torch.sigmoid(xz + hz), f"{name}.z")
            n = _named(torch.tanh(xn + _named(_gated(r * hn, 0), f"{name}.rh")), f"{name}.n")
            keep = _named(1 - z, f"{name}.1-z")
            h = _named(_gated(keep * n, 0) + _gated(z * h, 0), f"{name}.h")
        hs[t] = h
    return hs, (h,)


def _rnn_steps(layer: _Layer, inputs, order, act):
    hs, h = {}, None
    for t in order:
        name = f"{layer.tag}.t{t}"
        pre = inputs[t]
        if h is not None:
            pre = _named(pre + _named(F.linear(h, layer.w_hh), f"{name}.hidden"),
                         f"{name}.pre")
        h = _named(act(pre), f"{name}.h")
        hs[t] = h
    return hs, (h,)


def _stack(steps: list) -> fx.Proxy:
    """(N, H) per step → (N, L, H)."""
    return torch.cat([s.unsqueeze(1) for s in steps], 1)


def _unrolled(b: _Builder, where: str, m: nn.Module, x: fx.Proxy, length: int):
    """The module's output sequence (N, L, D·H) and, per layer and direction (torch's
    order of h_n), the final states (h,) or (h, c)."""
    if getattr(m, "proj_size", 0):
        raise UnsupportedOpError(f"{where}: nn.LSTM with proj_size > 0 is not supported")
    path, directions = b.node.target, 2 if m.bidirectional else 1
    finals, sequence = [], x
    for k in range(m.num_layers):
        outputs = []
        for d in range(directions):
            layer = _Layer(b, m, path, k, reverse=d == 1)
            projected = _named(F.linear(sequence, layer.w_ih, layer.b_in), f"{layer.tag}.input")
            inputs = {t: projected[:, t] for t in range(length)}
            order = range(length - 1, -1, -1) if layer.reverse else range(length)
            if isinstance(m, nn.LSTM):
                hs, final = _lstm_steps(layer, inputs, order)
            elif isinstance(m, nn.GRU):
                hs, final = _gru_steps(layer, inputs, order)
            else:
                act = torch.tanh if m.nonlinearity == "tanh" else torch.relu
                hs, final = _rnn_steps(layer, inputs, order, act)
            outputs.append([hs[t] for t in range(length)])
            finals.append(final)
        per_direction = [_stack(o) for o in outputs]
        sequence = per_direction[0] if directions == 1 else torch.cat(per_direction, -1)
        sequence = _named(sequence, f"l{k}.output")
        last = outputs
    return sequence, finals, last


def _replace_uses(gm: fx.GraphModule, node: fx.Node, where: str, sequence, finals, last,
                  batch_first: bool, is_lstm: bool):
    """Reroute the users of the module's (output, h_n[, c_n]) to the unrolled values."""
    def step(t):   # the output at step t (N, D·H)
        parts = [o[t] for o in last]
        return parts[0] if len(parts) == 1 else torch.cat(parts, -1)

    def redirect(user, proxy):
        user.replace_all_uses_with(proxy.node)
        gm.graph.erase_node(user)

    def output_users(out_node):
        for user in list(out_node.users):
            if batch_first:
                user.replace_input_with(out_node, sequence.node)
            elif _is_time_swap(user):
                redirect(user, sequence)
            elif user.op == "call_function" and user.target is operator.getitem and \
                    isinstance(user.args[1], int):
                redirect(user, step(user.args[1]))
            else:
                raise UnsupportedOpError(
                    f"{where}: with batch_first=False its output (L, N, H) is imported when "
                    "it is indexed by step (out[-1]) or transposed back (out.transpose(0, "
                    "1)); construct the module with batch_first=True")

    def state_users(state_node, which):
        states = [f[which] for f in finals]
        for user in list(state_node.users):
            if user.op == "call_function" and user.target is operator.getitem and \
                    isinstance(user.args[1], int):
                redirect(user, states[user.args[1]])
            elif user.op == "call_method" and user.target == "squeeze" and \
                    tuple(user.args[1:]) in ((0,), ()) and len(states) == 1:
                redirect(user, states[0])
            elif _is_time_swap(user):
                redirect(user, _stack(states))
            else:
                raise UnsupportedOpError(
                    f"{where}: its final state h_n has the batch on axis 1; it is imported "
                    "when indexed by layer and direction (h_n[-1]) or transposed "
                    "(h_n.transpose(0, 1))")

    for user in list(node.users):
        if not (user.op == "call_function" and user.target is operator.getitem):
            raise UnsupportedOpError(f"{where}: its result (output, state) is imported when "
                                     "unpacked (out, h = rnn(x))")
        if user.args[1] == 0:
            output_users(user)
        elif not is_lstm:
            state_users(user, 0)
        else:    # (h_n, c_n)
            for inner in list(user.users):
                if not (inner.op == "call_function" and inner.target is operator.getitem):
                    raise UnsupportedOpError(f"{where}: its state (h_n, c_n) is imported "
                                             "when unpacked")
                state_users(inner, inner.args[1])
                gm.graph.erase_node(inner)
        gm.graph.erase_node(user)


def _replace(gm: fx.GraphModule, node: fx.Node, values: dict) -> bool:
    module = gm.get_submodule(node.target) if node.op == "call_module" else None
    if not isinstance(module, RECURRENT):
        return False
    where = _where(node)
    args = list(node.args) + list(node.kwargs.values())
    if len(args) > 1 and args[1] is not None:
        raise UnsupportedOpError(f"{where}: an initial state passed to the "
                                 f"{type(module).__name__} is not supported; only the zero "
                                 "initial state is imported (call it on the input alone)")
    source = args[0]
    if not isinstance(source, fx.Node) or not isinstance(values.get(source), torch.Tensor):
        raise UnsupportedOpError(f"{where}: the input is not a tensor (packed sequences are "
                                 "not supported)")
    if values[source].dim() != 3:
        raise UnsupportedOpError(f"{where}: the input must be a batch of sequences (3-d), got "
                                 f"shape {tuple(values[source].shape)}")
    swap = None
    if not module.batch_first:
        if not _is_time_swap(source):
            raise UnsupportedOpError(
                f"{where}: with batch_first=False the input (L, N, F) must be the transpose "
                "of a batch-first tensor (x.transpose(0, 1)); construct the module with "
                "batch_first=True")
        swap, source = source, source.args[0]
    length = values[source].shape[1]
    scope, stack = _scope(node, node.target)
    first = set(gm.graph.nodes)
    with gm.graph.inserting_before(node):
        b = _Builder(gm, node, values, scope)
        sequence, finals, last = _unrolled(b, where, module, b.proxy(source), length)
        _replace_uses(gm, node, where, sequence, finals, last, module.batch_first,
                      isinstance(module, nn.LSTM))
    for new in set(gm.graph.nodes) - first:
        new.meta["nn_module_stack"] = stack
    gm.graph.erase_node(node)
    if swap is not None and not swap.users:
        gm.graph.erase_node(swap)
    return True


def unroll(gm: fx.GraphModule, values: dict) -> list[str]:
    """Replace every LSTM, GRU and RNN call of ``gm`` by its steps (sizes from the example
    ``values``); returns the calls replaced, which fix the input's length
    (:func:`neon.torch_attention.rewrite_calls`)."""
    return rewrite_calls(gm, values, _replace)
