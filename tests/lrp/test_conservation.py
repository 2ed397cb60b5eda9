"""Conservation, the conservation table, and LRP-0 = gradient × input.

Bias-free ReLU nets (Linear/Conv with bias=None) conserve relevance exactly under LRP-0 and
z⁺ (with zero stabilizers): Σ_i R_i = f(x), across residual blocks (own modules with
``out = out + identity``), concatenations, pooling and reused modules. Expected values come
from autograd (gradient × input) and from the numpy reference in conftest.py.
"""

import numpy as np
import pytest
import torch
from torch import nn

import lrp
import neon
from lrp import rules, select

# the generic composites below have a pooling entry that pool-free nets do not use
pytestmark = pytest.mark.filterwarnings("ignore::lrp.composites.UnmatchedSelectorWarning")

F64 = torch.float64


class Block(nn.Module):
    """A residual block written by hand: zennit cannot see its functional add."""

    def __init__(self, c, bias=False):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=bias)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=bias)
        self.relu = nn.ReLU()

    def forward(self, x):
        identity = x
        out = self.relu(self.conv1(x))
        out = self.conv2(out)
        out = out + identity
        return self.relu(out)


class ResCat(nn.Module):
    """Stem, two residual blocks, a two-branch concatenation, max and average pooling."""

    def __init__(self, bias=False, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.stem = nn.Conv2d(3, 6, 3, padding=1, bias=bias)
        self.block1, self.block2 = Block(6, bias), Block(6, bias)
        self.left = nn.Conv2d(6, 4, 1, bias=bias)
        self.right = nn.Conv2d(6, 5, 3, padding=1, bias=bias)
        self.pool = nn.MaxPool2d(2)
        self.avg = nn.AdaptiveAvgPool2d(2)
        self.fc1 = nn.Linear(9 * 2 * 2, 12, bias=bias)
        self.fc2 = nn.Linear(12, 7, bias=bias)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        h = self.block2(self.block1(h))
        h = torch.cat([torch.relu(self.left(h)), torch.relu(self.right(h))], dim=1)
        h = self.avg(self.pool(h))
        h = torch.relu(self.fc1(torch.flatten(h, 1)))
        return self.fc2(h)


class Reused(nn.Module):
    """One Linear and one ReLU module applied twice, and a residual add of the two calls."""

    def __init__(self, bias=False, seed=1):
        super().__init__()
        torch.manual_seed(seed)
        self.inp = nn.Linear(5, 8, bias=bias)
        self.fc = nn.Linear(8, 8, bias=bias)
        self.out = nn.Linear(8, 4, bias=bias)
        self.relu = nn.ReLU()

    def forward(self, x):
        h = self.relu(self.inp(x))
        u = self.relu(self.fc(h))
        v = self.relu(self.fc(u))
        return self.out(u + v)


def lrp0(zero_norm=True):
    """LRP-0 on every affine op, and Norm without stabilizer at adds and averages."""
    entries = [(select.kind("linear", "conv"), rules.Epsilon(0))]
    if zero_norm:
        entries.append((select.kind("add", "avgpool", "adaptive_avgpool", "mean", "sum"),
                        rules.Norm(0)))
    return lrp.Composite(entries)


def zplus():
    return lrp.Composite([(select.kind("linear", "conv"), rules.ZPlus(0)),
                          (select.kind("add", "avgpool", "adaptive_avgpool", "mean", "sum"),
                           rules.Norm(0))])


def grad_x_input(model, x, target):
    xx = x.clone().requires_grad_(True)
    out = model(xx)
    picked = out[torch.arange(len(x)), target]
    (g,) = torch.autograd.grad(picked.sum(), xx)
    return g * x, picked.detach()


def positive_target(out):
    """The largest output per sample; the nets below are seeded so that it is positive."""
    return out.argmax(1)


NETS = {
    "rescat": (lambda bias: ResCat(bias), (4, 3, 8, 8)),
    "reused": (lambda bias: Reused(bias), (5, 5)),
}


def make(name, bias=False, seed=0):
    build, shape = NETS[name]
    model = build(bias).double().eval()
    torch.manual_seed(100 + seed)
    x = torch.randn(*shape, dtype=F64)
    return model, x, neon.from_torch(model, x)


# ------------------------------------------------------------------------ exact conservation

@pytest.mark.parametrize("name", list(NETS))
@pytest.mark.parametrize("composite", [lrp0, zplus], ids=["lrp0", "zplus"])
def test_conservation_bias_free(name, composite):
    model, x, graph = make(name)
    e = lrp.explain(graph, x, composite=composite(), return_all=True)
    with torch.no_grad():
        out = model(x)
    f = out.max(1).values
    assert (f > 0).all()
    total = e.relevance.flatten(1).sum(1)
    torch.testing.assert_close(total, f, rtol=1e-10, atol=0)
    torch.testing.assert_close(e.output, f, rtol=1e-14, atol=0)
    # every node of the walk conserves: nothing is absorbed anywhere
    for row in e.table:
        assert torch.allclose(row["absorbed"], torch.zeros_like(f),
                              atol=1e-10 * float(f.abs().max())), row["node"]


def test_graphs_have_the_structures_under_test():
    _, _, graph = make("rescat")
    kinds = [n.kind for n in graph.nodes]
    assert kinds.count("add") == 2 and "concat" in kinds and "maxpool" in kinds
    _, _, graph = make("reused")
    names = [n.name for n in graph.nodes]
    assert "fc" in names and "fc:1" in names and "relu:1" in names
    assert [n.kind for n in graph.nodes].count("add") == 1


class CopyToAll(rules.Rule):
    """A wrong residual rule: every input of an Add receives the full relevance."""

    kinds = ("add",)

    def __call__(self, op, inputs, output, relevance):
        return [relevance for _ in inputs]


@pytest.mark.parametrize("name", list(NETS))
def test_a_residual_add_that_copies_relevance_is_caught(name):
    model, x, graph = make(name)
    good = lrp.explain(graph, x, composite=lrp0())
    bad = lrp.explain(graph, x, composite=lrp0().override((select.kind("add"), CopyToAll())))
    f = model(x).max(1).values.detach()
    torch.testing.assert_close(good.flatten(1).sum(1), f, rtol=1e-10, atol=0)
    # the same check that passes above fails for the copying rule, on every sample
    err = ((bad.flatten(1).sum(1) - f).abs() / f.abs())
    assert (err > 1e-3).all(), err
    with pytest.raises(AssertionError):
        torch.testing.assert_close(bad.flatten(1).sum(1), f, rtol=1e-10, atol=0)


def test_default_rules_conserve_up_to_the_stabilizers():
    """With the default ε = 1e-6 everywhere the loss is of the order of the stabilizers."""
    model, x, graph = make("rescat")
    r = lrp.explain(graph, x)
    f = model(x).max(1).values.detach()
    rel = ((r.flatten(1).sum(1) - f).abs() / f).max()
    assert rel < 1e-3


# ----------------------------------------------------------------------- conservation table

@pytest.mark.parametrize("composite", [lrp0, zplus, lambda: lrp.EpsilonPlusFlat(),
                                       lambda: lrp.EpsilonGammaBox(-8.0, 8.0)],
                         ids=["lrp0", "zplus", "EpsilonPlusFlat", "EpsilonGammaBox"])
def test_table_with_biases(composite):
    model, x, graph = make("rescat", bias=True)
    e = lrp.explain(graph, x, composite=composite(), return_all=True)
    f = model(x).max(1).values.detach()
    total = e.relevance.flatten(1).sum(1)
    absorbed = sum(row["absorbed"] for row in e.table)
    # f(x) − Σ_i R_i = Σ absorbed, per sample
    torch.testing.assert_close(f - total, absorbed, rtol=1e-9, atol=1e-12)
    # biases absorb something: the identity is not vacuous
    assert float(absorbed.abs().max()) > 1e-3 * float(f.abs().max())
    for row in e.table:
        # relevance_in is the relevance arriving at the node's output
        torch.testing.assert_close(row["relevance_in"], e.nodes[row["node"]].flatten(1).sum(1))
        torch.testing.assert_close(row["absorbed"], row["relevance_in"] - row["relevance_out"])
        node = graph[row["node"]]
        if node.kind in ("relu", "maxpool", "concat", "flatten"):
            scale = float(row["relevance_in"].abs().max())
            assert float(row["absorbed"].abs().max()) <= 1e-13 * scale, row["node"]
        if all(len(graph.consumers(i)) == 1 for i in node.inputs):
            # relevance_out is what reached the inputs
            sent = sum(e.nodes[i].flatten(1).sum(1) for i in node.inputs)
            torch.testing.assert_close(row["relevance_out"], sent)


def test_absorbed_is_the_bias_share_for_lrp0():
    """LRP-0: a layer absorbs Σ_k R_k b_k / z_k; at the top R = z, so the top absorbs b_c."""
    model, x, graph = make("rescat", bias=True)
    e = lrp.explain(graph, x, composite=lrp0(), return_all=True)
    _, acts = graph.forward(x, keep=True)
    target = model(x).argmax(1)
    rows = {row["node"]: row for row in e.table}
    torch.testing.assert_close(rows["fc2"]["absorbed"], model.fc2.bias.detach()[target],
                               rtol=1e-12, atol=1e-14)
    for name in ("fc1", "stem", "block1.conv2", "right"):
        op = graph[name].op
        z, R = acts[name], e.nodes[name]
        b = op.bias.reshape(op.out_channel_shape(z.dim()))
        share = (R * b / z).flatten(1).sum(1)
        torch.testing.assert_close(rows[name]["absorbed"], share, rtol=1e-9, atol=1e-12)


def test_absorbed_is_the_positive_bias_share_for_zplus():
    model, x, graph = make("reused", bias=True)
    e = lrp.explain(graph, x, composite=zplus(), return_all=True)
    _, acts = graph.forward(x, keep=True)
    rows = {row["node"]: row for row in e.table}
    for name in ("fc", "fc:1", "out"):
        op, a = graph[name].op, acts[graph[name].inputs[0]]
        P = a.clamp(min=0) @ op.weight.clamp(min=0).T + op.bias.clamp(min=0)
        share = (e.nodes[name] * op.bias.clamp(min=0) / P).sum(1)
        torch.testing.assert_close(rows[name]["absorbed"], share, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------ LRP-0 = gradient × input

@pytest.mark.parametrize("bias", [False, True], ids=["bias-free", "biases"])
@pytest.mark.parametrize("name", list(NETS))
def test_lrp0_is_gradient_times_input(name, bias):
    """Holds for ReLU nets (with or without biases: Ancona et al. 2018); checked on nets
    with residual adds, concatenation, max/avg pooling and reused modules, where zennit's
    hooks do not apply."""
    model, x, graph = make(name, bias=bias)
    target = model(x).argmax(1)
    r = lrp.explain(graph, x, target=target, composite=lrp0())
    gi, _ = grad_x_input(model, x, target)
    torch.testing.assert_close(r, gi, rtol=1e-10, atol=1e-12 * float(gi.abs().max()))


def test_lrp0_is_not_gradient_times_input_for_relu6():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 6, bias=False), nn.ReLU6(),
                          nn.Linear(6, 3, bias=False)).double().eval()
    x = 8 * torch.randn(6, 4, dtype=F64)
    hidden = model[0](x)
    assert (hidden > 6).any(), "the input must saturate some ReLU6 units"
    graph = neon.from_torch(model, x)
    target = model(x).argmax(1)
    r = lrp.explain(graph, x, target=target, composite=lrp0())
    gi, f = grad_x_input(model, x, target)
    saturated = (hidden > 6).any(1)
    # samples with a saturated unit differ (LRP passes the relevance of the constant 6)
    diff = (r - gi).abs().sum(1)
    assert (diff[saturated] > 1e-6).all()
    # samples without saturation agree
    torch.testing.assert_close(r[~saturated], gi[~saturated], rtol=1e-10, atol=1e-12)
    # and LRP still conserves where gradient × input does not
    torch.testing.assert_close(r.sum(1), f, rtol=1e-10, atol=0)
    assert not torch.allclose(gi.sum(1)[saturated], f[saturated])


# ----------------------------------------------- hand computation on a residual, reused net

def test_reused_residual_net_by_hand(ref):
    """ε = 0.1 with biases on the Reused net, by hand with the numpy reference:
    out = W_o (u + v) + b_o, v = relu(W_f u + b_f), u = relu(W_f h + b_f), h = relu(W_i x + b_i).
    The add is split in proportion (Norm, ε = 1e-6), u collects from the add and from fc:1."""
    model, x, graph = make("reused", bias=True)
    eps = 0.1
    composite = lrp.Composite([(select.kind("linear"), rules.Epsilon(eps))])
    got = lrp.explain(graph, x, target=2, composite=composite).numpy()
    P = {k: v.detach().numpy() for k, v in model.named_parameters()}
    want = []
    for xn in x.numpy():
        h = np.maximum(P["inp.weight"] @ xn + P["inp.bias"], 0)
        u = np.maximum(P["fc.weight"] @ h + P["fc.bias"], 0)
        v = np.maximum(P["fc.weight"] @ u + P["fc.bias"], 0)
        s = u + v
        z = P["out.weight"] @ s + P["out.bias"]
        R = np.where(np.arange(4) == 2, z, 0.0)
        R_s = ref.epsilon(s, P["out.weight"], P["out.bias"], R, eps=eps)
        d = s + 1e-6 * ref.sign(s)
        R_u, R_v = u / d * R_s, v / d * R_s
        R_u = R_u + ref.epsilon(u, P["fc.weight"], P["fc.bias"], R_v, eps=eps)
        R_h = ref.epsilon(h, P["fc.weight"], P["fc.bias"], R_u, eps=eps)
        want.append(ref.epsilon(xn, P["inp.weight"], P["inp.bias"], R_h, eps=eps))
    np.testing.assert_allclose(got, np.array(want), rtol=1e-11, atol=1e-14)


def test_residual_block_by_hand(ref):
    """One hand-written residual block on a 1-d signal, ZPlus on the convolutions:
    out = fc(flatten(relu(conv2(relu(conv1(x))) + x)))."""

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(5)
            self.conv1 = nn.Conv2d(2, 2, 3, padding=1)
            self.conv2 = nn.Conv2d(2, 2, 3, padding=1)
            self.fc = nn.Linear(2 * 3 * 3, 3)

        def forward(self, x):
            out = torch.relu(self.conv2(torch.relu(self.conv1(x))) + x)
            return self.fc(torch.flatten(out, 1))

    model = Tiny().double().eval()
    torch.manual_seed(6)
    x = torch.rand(2, 2, 3, 3, dtype=F64)
    graph = neon.from_torch(model, x)
    composite = lrp.Composite([(select.kind("conv"), rules.ZPlus()),
                               (select.kind("linear"), rules.Epsilon())])
    got = lrp.explain(graph, x, target=[0, 1], composite=composite).numpy().reshape(2, -1)
    P = {k: v.detach().numpy() for k, v in model.named_parameters()}
    C1, b1, _, _ = ref.conv_dense(P["conv1.weight"], P["conv1.bias"], (2, 3, 3), 1, 1)
    C2, b2, _, _ = ref.conv_dense(P["conv2.weight"], P["conv2.bias"], (2, 3, 3), 1, 1)
    want = []
    for n, xn in enumerate(x.numpy().reshape(2, -1)):
        h = np.maximum(C1 @ xn + b1, 0)
        c = C2 @ h + b2
        s = c + xn
        o = np.maximum(s, 0)
        z = P["fc.weight"] @ o + P["fc.bias"]
        R = np.where(np.arange(3) == n, z, 0.0)
        R_s = ref.epsilon(o, P["fc.weight"], P["fc.bias"], R)
        d = s + 1e-6 * ref.sign(s)
        R_c, R_x = c / d * R_s, xn / d * R_s
        R_h = ref.zplus(h, C2, b2, R_c)
        R_x = R_x + ref.zplus(xn, C1, b1, R_h)
        want.append(R_x)
    np.testing.assert_allclose(got, np.array(want), rtol=1e-11, atol=1e-14)


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(11)
        self.fa, self.fb = nn.Linear(3, 5, bias=False), nn.Linear(2, 5, bias=False)
        self.fc = nn.Linear(10, 3, bias=False)

    def forward(self, a, b):
        return self.fc(torch.cat([torch.relu(self.fa(a)), torch.relu(self.fb(b))], 1))


def test_several_graph_inputs():
    """A graph with two inputs: one relevance per input (tuple in, tuple out, numpy kept),
    together conserving f(x) and each equal to its gradient × input under LRP-0."""
    model = TwoInputs().double().eval()
    torch.manual_seed(12)
    a, b = torch.randn(4, 3, dtype=F64), torch.randn(4, 2, dtype=F64)
    graph = neon.from_torch(model, (a, b))
    target = model(a, b).argmax(1)
    ra, rb = lrp.explain(graph, (a, b), target=target, composite=lrp0())
    aa, bb = a.clone().requires_grad_(True), b.clone().requires_grad_(True)
    picked = model(aa, bb)[torch.arange(4), target]
    ga, gb = torch.autograd.grad(picked.sum(), (aa, bb))
    torch.testing.assert_close(ra, ga * a, rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(rb, gb * b, rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(ra.sum(1) + rb.sum(1), picked.detach(), rtol=1e-10, atol=1e-13)
    na, nb = lrp.explain(graph, (a.numpy(), b.numpy()), target=target, composite=lrp0(),
                         batch_size=3)
    assert isinstance(na, np.ndarray) and isinstance(nb, np.ndarray)
    np.testing.assert_allclose(na, ra.numpy(), rtol=1e-12)
    np.testing.assert_allclose(nb, rb.numpy(), rtol=1e-12)
