"""Composites and selectors: first match wins, positions, globs, predicates, combination,
describe, strict mode, and rules matched to ops they cannot handle."""

import pytest
import torch
from torch import nn

import lrp
import neon
from lrp import rules, select

F64 = torch.float64


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 4 * 4, 10), nn.ReLU(), nn.Linear(10, 5)).double().eval()
    x = torch.randn(2, 3, 8, 8, dtype=F64)
    return model, x, neon.from_torch(model, x)


@pytest.fixture(scope="module")
def resnet():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    return neon.from_torch(model, torch.randn(1, 3, 32, 32))


def picked(graph, selector):
    return {n.name for n in graph.nodes if selector(graph, n)}


def assigned(composite, graph):
    return composite.assign(graph)


# ------------------------------------------------------------------------------ selectors

def test_first_and_last_on_a_sequential_net(cnn):
    _, _, g = cnn
    assert [n.name for n in g.nodes if n.kind == "conv"] == ["0", "2", "5"]
    assert picked(g, select.first()) == {"0"}
    assert picked(g, select.last()) == {"10"}
    assert picked(g, select.first("linear")) == {"8"}
    assert picked(g, select.last("conv")) == {"5"}
    assert picked(g, select.first("relu")) == {"1"}
    assert picked(g, select.last("relu")) == {"9"}


def test_first_and_last_on_a_resnet(resnet):
    g = resnet
    assert picked(g, select.first()) == {"conv1"}
    assert picked(g, select.first("conv")) == {"conv1"}
    assert picked(g, select.last()) == {"fc"}
    # the last convolutions: those that reach the output through no other convolution —
    # the last block's conv2 and, through its identity branch, the previous block's outputs
    assert picked(g, select.last("conv")) == {"layer4.1.conv2", "layer4.0.conv2",
                                              "layer4.0.downsample.0"}
    # the first block reads the input only through the stem convolution: not "first"
    assert "layer1.0.conv1" not in picked(g, select.first())


def test_first_with_several_input_branches():
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = nn.Linear(3, 4), nn.Linear(3, 4), nn.Linear(8, 2)

        def forward(self, x):
            return self.c(torch.cat([torch.relu(self.a(x)), self.b(x)], 1))

    g = neon.from_torch(TwoHeads(), torch.randn(2, 3))
    assert picked(g, select.first()) == {"a", "b"}
    assert picked(g, select.last()) == {"c"}


def test_name_globs_and_kinds(resnet):
    g = resnet
    layer1 = picked(g, select.name("layer1.*"))
    assert layer1 and all(n.startswith("layer1.") for n in layer1)
    assert len(layer1) == 10   # two blocks of conv1, relu, conv2, add, relu:1 (BN folded)
    assert picked(g, select.name("*.downsample.*")) == {"layer2.0.downsample.0",
                                                        "layer3.0.downsample.0",
                                                        "layer4.0.downsample.0"}
    assert picked(g, select.name("layer?.0.conv1", "fc")) == {
        "layer1.0.conv1", "layer2.0.conv1", "layer3.0.conv1", "layer4.0.conv1", "fc"}
    # globs are case sensitive and anchored
    assert picked(g, select.name("FC")) == set() and picked(g, select.name("c")) == set()
    assert picked(g, select.kind("add")) == {f"layer{i}.{j}.add" for i in range(1, 5)
                                             for j in range(2)}
    assert picked(g, select.kind("linear", "adaptive_avgpool")) == {"fc", "avgpool"}


def test_predicates_and_logic(resnet):
    g = resnet
    wide = select.where(lambda graph, n: n.kind == "conv" and n.op.weight.shape[0] == 512,
                        "512 filters")
    assert picked(g, wide) == {"layer4.0.conv1", "layer4.0.conv2", "layer4.0.downsample.0",
                               "layer4.1.conv1", "layer4.1.conv2"}
    convs = picked(g, select.kind("conv"))
    assert picked(g, select.kind("conv") & ~select.first()) == convs - {"conv1"}
    assert picked(g, select.first() | select.last()) == {"conv1", "fc"}
    assert picked(g, ~select.everything()) == set()
    assert picked(g, wide & select.name("*.downsample.*")) == {"layer4.0.downsample.0"}
    assert repr(select.kind("conv") & ~select.first()) == "(kind('conv',) & ~first('linear', " \
                                                          "'conv'))"


# ----------------------------------------------------------------------------- composites

def test_first_match_wins(cnn):
    model, x, g = cnn
    eps, flat = rules.Epsilon(0.5), rules.Flat()
    a = assigned(lrp.Composite([(select.kind("conv"), eps), (select.first(), flat)]), g)
    assert a["0"] is eps and a["2"] is eps
    b = assigned(lrp.Composite([(select.first(), flat), (select.kind("conv"), eps)]), g)
    assert b["0"] is flat and b["2"] is eps
    # and the explanation is the one of the rule that won
    by_name = lrp.Composite([(select.name("0"), flat), (select.kind("conv"), eps)])
    torch.testing.assert_close(
        lrp.explain(g, x, composite=lrp.Composite([(select.first(), flat),
                                                   (select.kind("conv"), eps)])),
        lrp.explain(g, x, composite=by_name), rtol=0, atol=0)
    assert not torch.allclose(
        lrp.explain(g, x, composite=lrp.Composite([(select.kind("conv"), eps),
                                                   (select.first(), flat)])),
        lrp.explain(g, x, composite=by_name))


def test_unmatched_nodes_get_their_default(cnn):
    _, _, g = cnn
    a = assigned(lrp.Composite([(select.kind("conv"), rules.ZPlus())]), g)
    assert isinstance(a["8"], rules.Epsilon) and isinstance(a["1"], rules.Pass)
    assert isinstance(a["4"], rules.WinnerTakeAll) and isinstance(a["7"], rules.Route)


def test_selector_forms(cnn):
    _, _, g = cnn
    z, e, f = rules.ZPlus(), rules.Epsilon(0.1), rules.Flat()
    c = lrp.Composite([("conv", z), (("linear", "conv"), e),
                       (lambda graph, n: n.kind == "maxpool", rules.ProportionalMax())])
    a = c.assign(g)
    assert a["0"] is z and a["5"] is z and a["8"] is e and isinstance(a["1"], rules.Pass)
    assert isinstance(a["4"], rules.ProportionalMax)
    with pytest.raises(TypeError, match="not a selector"):
        lrp.Composite([(3, f)])
    with pytest.raises(TypeError, match="Rule instances"):
        lrp.Composite([("conv", "zplus")])


def test_add_and_override(cnn):
    _, _, g = cnn
    z, e, f = rules.ZPlus(), rules.Epsilon(0.1), rules.Flat()
    a = lrp.Composite([(select.kind("conv"), z)])
    b = lrp.Composite([(select.first(), f), (select.kind("linear"), e)], strict=True)
    s = (a + b).assign(g)
    assert s["0"] is z and s["2"] is z and s["8"] is e
    assert (a + b).strict and not a.strict
    s = (b + a).assign(g)
    assert s["0"] is f and s["2"] is z
    o = a.override((select.first(), f))
    assert o.assign(g)["0"] is f and o.assign(g)["2"] is z
    assert a.assign(g)["0"] is z   # the original is unchanged
    preset = lrp.EpsilonPlusFlat().override((select.name("5"), rules.Gamma(0.5)))
    s = preset.assign(g)
    assert isinstance(s["0"], rules.Flat) and isinstance(s["2"], rules.ZPlus)
    assert isinstance(s["5"], rules.Gamma) and s["5"].gamma == 0.5


def test_describe_lists_every_node(cnn):
    _, _, g = cnn
    c = lrp.EpsilonPlusFlat()
    text = c.describe(g)
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["node", "op", "rule", "from"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert set(rows) == {n.name for n in g.nodes}
    assert len(lines) == len(g.nodes) + 2
    assert "Flat" in rows["0"] and "first" in rows["0"]
    assert "ZPlus" in rows["2"] and "ZPlus" in rows["5"]
    assert "Epsilon" in rows["8"] and "Epsilon" in rows["10"]
    assert "Pass" in rows["1"] and rows["1"].rstrip().endswith("default")
    assert "WinnerTakeAll" in rows["4"]


def test_presets_assign_zennits_rules(cnn, resnet):
    _, _, g = cnn
    low, high = torch.full((3, 1, 1), -2.0), torch.full((3, 1, 1), 2.0)
    kinds = {
        "EpsilonPlusFlat": (lrp.EpsilonPlusFlat(), rules.Flat, rules.ZPlus),
        "EpsilonGammaBox": (lrp.EpsilonGammaBox(low, high), rules.ZBox, rules.Gamma),
        "EpsilonAlpha2Beta1": (lrp.EpsilonAlpha2Beta1(), rules.AlphaBeta, rules.AlphaBeta),
        "EpsilonAlpha2Beta1Flat": (lrp.EpsilonAlpha2Beta1Flat(), rules.Flat, rules.AlphaBeta),
        "EpsilonPlus": (lrp.EpsilonPlus(), rules.ZPlus, rules.ZPlus),
        "EpsilonOnly": (lrp.EpsilonOnly(), rules.Epsilon, rules.Epsilon),
    }
    for name, (composite, first, other) in kinds.items():
        a = composite.assign(g)
        assert type(a["0"]) is first, name
        assert type(a["2"]) is other and type(a["5"]) is other, name
        assert type(a["8"]) is rules.Epsilon and type(a["10"]) is rules.Epsilon, name
    a = lrp.EpsilonAlpha2Beta1().assign(g)["2"]
    assert (a.alpha, a.beta) == (2.0, 1.0)
    # zennit's defaults
    assert lrp.EpsilonGammaBox(-1, 1).assign(g)["2"].gamma == 0.25
    assert lrp.EpsilonOnly().assign(g)["0"].stabilizer == 1e-6
    # EpsilonGammaBox: ZBox on the first convolution only, so an MLP gets ε everywhere
    mlp = neon.from_torch(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)),
                          torch.randn(2, 3))
    assert all(type(r) is not rules.ZBox
               for r in lrp.EpsilonGammaBox(-1, 1).assign(mlp).values())
    assert type(lrp.EpsilonPlusFlat().assign(mlp)["0"]) is rules.Flat
    a = lrp.EpsilonGammaBox(-1, 1).assign(resnet)
    assert [n for n, r in a.items() if type(r) is rules.ZBox] == ["conv1"]


# ------------------------------------------------------------------------------- errors

def test_strict_names_the_unmatched_parametrized_node(cnn):
    _, x, g = cnn
    c = lrp.Composite([(select.kind("conv"), rules.ZPlus())], strict=True)
    with pytest.raises(lrp.RuleError, match=r"strict composite: parametrized node '8' \(Linear\)"):
        lrp.explain(g, x, composite=c)
    # non-parametrized nodes may fall back to their defaults
    c = lrp.Composite([(select.kind("conv", "linear"), rules.Epsilon())], strict=True)
    lrp.explain(g, x, composite=c)
    strict_preset = lrp.EpsilonPlus(strict=True)
    lrp.explain(g, x, composite=strict_preset)
    with pytest.raises(lrp.RuleError, match="'0'"):
        lrp.explain(g, x, composite=lrp.Composite([(select.kind("linear"), rules.Epsilon())],
                                                  strict=True))


def test_rule_matched_to_an_op_it_cannot_handle(cnn):
    _, x, g = cnn
    c = lrp.Composite([(select.kind("relu"), rules.ZPlus())])
    with pytest.raises(lrp.RuleError) as info:
        lrp.explain(g, x, composite=c)
    message = str(info.value)
    assert "'1'" in message and "ReLU" in message and "ZPlus" in message
    assert "'linear', 'conv'" in message
    with pytest.raises(lrp.RuleError, match=r"node '4' \(MaxPool.*Norm"):
        lrp.explain(g, x, composite=lrp.Composite([(select.kind("maxpool"), rules.Norm())]))
    with pytest.raises(lrp.RuleError, match=r"node '1' .*Epsilon"):
        lrp.explain(g, x, composite=lrp.Composite([(select.everything(), rules.Epsilon())]))
    # the error comes before any propagation, also for return_all and chunked calls
    with pytest.raises(lrp.RuleError):
        lrp.explain(g, x, composite=c, return_all=True, batch_size=1)
