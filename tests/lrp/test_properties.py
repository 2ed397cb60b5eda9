"""Property-based tests on random small ReLU nets (dense and convolutional)."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import lrp
import neon
from lrp import rules, select

# the generic composites below have a pooling entry that pool-free nets do not use
pytestmark = pytest.mark.filterwarnings("ignore::lrp.composites.UnmatchedSelectorWarning")

F64 = torch.float64
SETTINGS = settings(deadline=None, max_examples=25, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def nets(draw, bias=None):
    """A random MLP or small CNN (float64), an input batch and its graph."""
    seed = draw(st.integers(0, 2 ** 31 - 1))
    use_bias = draw(st.booleans()) if bias is None else bias
    batch = draw(st.integers(1, 5))
    conv = draw(st.booleans())
    torch.manual_seed(seed)
    layers = []
    if conv:
        channels = draw(st.integers(1, 3))
        size = draw(st.integers(3, 6))
        shape = (channels, size, size)
        for _ in range(draw(st.integers(1, 2))):
            out = draw(st.integers(1, 4))
            k = draw(st.integers(1, min(3, size)))
            pad = draw(st.integers(0, k // 2))
            layers += [nn.Conv2d(channels, out, k, padding=pad, bias=use_bias), nn.ReLU()]
            channels, size = out, size + 2 * pad - k + 1
        pool = draw(st.sampled_from(["max", "avg", None]))
        if pool and size >= 2:
            layers.append(nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2))
            size //= 2
        layers.append(nn.Flatten())
        width = channels * size * size
    else:
        width = draw(st.integers(1, 5))
        shape = (width,)
    for _ in range(draw(st.integers(0, 2))):
        out = draw(st.integers(1, 6))
        layers += [nn.Linear(width, out, bias=use_bias), nn.ReLU()]
        width = out
    classes = draw(st.integers(2, 4))
    layers.append(nn.Linear(width, classes, bias=use_bias))
    model = nn.Sequential(*layers).double().eval()
    x = torch.randn(batch, *shape, dtype=F64) * draw(st.sampled_from([0.1, 1.0, 10.0]))
    return model, x, neon.from_torch(model, x)


POOLS = ("avgpool", "add", "mean", "sum", "adaptive_avgpool")
CONSERVING = {
    "lrp0": lrp.Composite([(select.kind("linear", "conv"), rules.Epsilon(0)),
                           (select.kind(*POOLS), rules.Norm(0))]),
    "zplus": lrp.Composite([(select.kind("linear", "conv"), rules.ZPlus(0)),
                            (select.kind(*POOLS), rules.Norm(0))]),
    "flat+zplus": lrp.Composite([(select.first(), rules.Flat(0)),
                                 (select.kind("linear", "conv"), rules.ZPlus(0)),
                                 (select.kind(*POOLS), rules.Norm(0))]),
}
ALL = {
    "EpsilonOnly": lrp.EpsilonOnly(),
    "EpsilonPlusFlat": lrp.EpsilonPlusFlat(),
    "EpsilonGammaBox": lrp.EpsilonGammaBox(-100.0, 100.0),   # contains every drawn x
    "EpsilonAlpha2Beta1": lrp.EpsilonAlpha2Beta1(),
    "EpsilonAlpha2Beta1Flat": lrp.EpsilonAlpha2Beta1Flat(),
    "gamma": lrp.Composite([(select.kind("linear", "conv"), rules.Gamma(0.5))]),
    "gamma-0": lrp.Composite([(select.kind("linear", "conv"), rules.Gamma(0.5, 0))]),
    "alphabeta": lrp.Composite([(select.kind("linear", "conv"), rules.AlphaBeta(2, 1))]),
    "alphabeta-0": lrp.Composite([(select.kind("linear", "conv"), rules.AlphaBeta(2, 1, 0)),
                                  (select.kind(*POOLS), rules.Norm(0))]),
    "zbox-0": lrp.Composite([(select.first(), rules.ZBox(-100.0, 100.0, 0)),
                             (select.kind("linear", "conv"), rules.Epsilon(0, "rms"))]),
    "wsquare": lrp.Composite([(select.first(), rules.WSquare()),
                              (select.kind("linear", "conv"), rules.Epsilon(0.01, "rms"))]),
    **CONSERVING,
}


@SETTINGS
@given(nets(), st.sampled_from(sorted(ALL)))
def test_relevance_is_finite(net, composite):
    model, x, graph = net
    r = lrp.explain(graph, x, composite=ALL[composite])
    assert r.shape == x.shape and r.dtype == x.dtype
    assert torch.isfinite(r).all()


@SETTINGS
@given(nets(bias=False), st.sampled_from(sorted(CONSERVING)))
def test_conservation_bias_free(net, composite):
    """Σ_i R_i = f(x) for bias-free ReLU nets under LRP-0, z⁺ and flat+z⁺ (where f(x) > 0)."""
    model, x, graph = net
    with torch.no_grad():
        out = model(x)
    target = out.argmax(1)
    f = out[torch.arange(len(x)), target]
    r = lrp.explain(graph, x, target=target, composite=CONSERVING[composite])
    assert torch.isfinite(r).all()
    total = r.flatten(1).sum(1)
    scale = f.abs() + r.flatten(1).abs().sum(1)
    positive = f > 0
    assert ((total - f).abs()[positive] <= 1e-10 * scale[positive]).all(), (total, f)
    # where the explained output is 0 nothing is explained
    assert (total[f == 0] == 0).all()


@SETTINGS
@given(nets(), st.integers(1, 4), st.sampled_from(["none", "int", "list", "mask",
                                                     "callable", "onehot"]))
def test_batch_size_chunks_give_the_same_result(net, batch_size, kind):
    model, x, graph = net
    n, classes = len(x), model(x).shape[1]
    target = {"none": None, "int": classes - 1,
              "list": [i % classes for i in range(n)],
              "mask": torch.rand(n, classes, dtype=F64),
              "callable": lambda out: out.argmin(1),
              "onehot": torch.nn.functional.one_hot(torch.arange(n) % classes,
                                                    classes).double()}[kind]
    composite = lrp.EpsilonAlpha2Beta1Flat()
    whole = lrp.explain(graph, x, target=target, composite=composite)
    chunked = lrp.explain(graph, x, target=target, composite=composite, batch_size=batch_size)
    torch.testing.assert_close(chunked, whole, rtol=1e-10, atol=1e-12)
    one_by_one = torch.cat([lrp.explain(graph, x[i:i + 1], composite=composite,
                                        target=target if kind not in ("list", "mask",
                                                                      "onehot")
                                        else target[i:i + 1]) for i in range(n)])
    torch.testing.assert_close(one_by_one, whole, rtol=1e-10, atol=1e-12)


@SETTINGS
@given(nets())
def test_numpy_in_numpy_out(net):
    model, x, graph = net
    r_t = lrp.explain(graph, x, composite=lrp.EpsilonPlusFlat())
    r_n = lrp.explain(graph, x.numpy(), composite=lrp.EpsilonPlusFlat())
    assert isinstance(r_n, np.ndarray) and r_n.shape == tuple(x.shape)
    assert r_n.dtype == np.float64
    np.testing.assert_allclose(r_n, r_t.numpy(), rtol=1e-13, atol=1e-15)
    e = lrp.explain(graph, x.numpy(), composite=lrp.EpsilonPlusFlat(), return_all=True)
    assert isinstance(e.relevance, np.ndarray)


@SETTINGS
@given(nets(), st.one_of(st.none(), st.integers(1, 3)))
def test_return_all_is_consistent(net, batch_size):
    model, x, graph = net
    composite = lrp.EpsilonGammaBox(-100.0, 100.0)
    plain = lrp.explain(graph, x, composite=composite)
    e = lrp.explain(graph, x, composite=composite, return_all=True, batch_size=batch_size)
    torch.testing.assert_close(e.relevance, plain, rtol=1e-12, atol=1e-14)
    name = graph.input_names[0]
    torch.testing.assert_close(e.nodes[name], e.relevance, rtol=0, atol=0)
    out = model(x).detach()
    f = out[torch.arange(len(x)), out.argmax(1)]
    torch.testing.assert_close(e.output, f, rtol=1e-13, atol=1e-15)
    # the walk starts at f(x) ⊙ one-hot at the output node
    start = e.nodes[graph.output]
    torch.testing.assert_close(start.sum(1), f, rtol=1e-13, atol=1e-15)
    assert int((start != 0).sum()) <= len(x)
    # the table covers every node that received relevance, once, in reverse topological order
    names = [row["node"] for row in e.table]
    assert names == [n.name for n in reversed(graph.nodes) if n.name in names]
    assert set(names) | {name} == set(e.nodes)
    absorbed = sum(row["absorbed"] for row in e.table)
    torch.testing.assert_close(f - e.relevance.flatten(1).sum(1), absorbed, rtol=1e-9,
                               atol=1e-9 * float(f.abs().max() + 1))
    for row in e.table:
        assert row["relevance_in"].shape == (len(x),)
        torch.testing.assert_close(row["relevance_in"], e.nodes[row["node"]].flatten(1).sum(1))
    text = e.conservation()
    assert all(n in text for n in names)


@pytest.mark.parametrize("kind", ["relu", "maxpool", "avgpool"])
def test_properties_cover_their_structures(kind):
    """The strategy really draws CNNs with pooling (otherwise the properties above would test
    only MLPs)."""
    found = []

    @settings(deadline=None, max_examples=25, derandomize=True)
    @given(nets())
    def collect(net):
        found.append({n.kind for n in net[2].nodes})

    collect()
    assert any(kind in kinds for kinds in found)
    assert any("conv" in kinds for kinds in found)
