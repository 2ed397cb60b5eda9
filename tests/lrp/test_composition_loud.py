"""Composition fails loudly: unknown kinds, empty globs, entries that match nothing, rules
that cannot handle their node (flagged by describe), and what may stand for a composite."""

import warnings
from collections import OrderedDict

import pytest
import torch
from torch import nn

import lrp
import neon
from lrp import composites, rules, select
from lrp.composites import UnmatchedSelectorWarning, resolve

F64 = torch.float64


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 10), nn.ReLU(),
                          nn.Linear(10, 5)).double().eval()
    x = torch.randn(2, 3, 8, 8, dtype=F64)
    return x, neon.from_torch(model, x)


@pytest.fixture(scope="module")
def mlp():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double().eval()
    x = torch.randn(5, 3, dtype=F64)
    return x, neon.from_torch(model, x)


@pytest.fixture(scope="module")
def vgg_like():
    """Named like torchvision's VGG: features.*, classifier.* (with ReLU and Dropout)."""
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict(
        features=nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                               nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()),
        flatten=nn.Flatten(),
        classifier=nn.Sequential(nn.Linear(64, 8), nn.ReLU(), nn.Dropout(),
                                 nn.Linear(8, 3)))).eval()
    x = torch.rand(2, 3, 8, 8)
    return x, neon.from_torch(model, x)


def no_warnings():
    """A context in which any warning is an error."""
    context = warnings.catch_warnings()
    context.__enter__()
    warnings.simplefilter("error")
    return context


# ------------------------------------------------------------------- selectors: kinds

@pytest.mark.parametrize("build, message", [
    (lambda: select.kind("convolution"), r"select\.kind\('convolution'\): unknown op kind "
                                         r"'convolution'; known kinds: .*\bconv\b.*\blinear\b"),
    (lambda: select.first("Conv"), r"select\.first\('Conv'\): unknown op kind 'Conv' \(did you "
                                   r"mean 'conv'\?\); known kinds: adaptive_avgpool, add"),
    (lambda: select.last("linear", "Dense"), r"unknown op kind 'Dense'; known kinds"),
    (lambda: select.kind("ReLU"), r"did you mean 'relu'"),
    (lambda: select.kind(), r"at least one op kind"),
    (lambda: select.name(), r"at least one pattern"),
    (lambda: select.name(""), r"a pattern must be a non-empty string, got ''"),
    (lambda: select.name("fc", ""), r"non-empty string"),
    (lambda: lrp.Composite([("convolution", rules.Epsilon())]), r"unknown op kind 'convolution'"),
    (lambda: lrp.Composite([(("linear", "Conv"), rules.Epsilon())]), r"did you mean 'conv'"),
])
def test_unknown_kinds_and_empty_patterns_are_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("build, message", [
    (lambda: select.kind(3), r"select\.kind\(\.\.\.\) takes op kinds as strings, got 3 \(int\)"),
    (lambda: select.kind(nn.Conv2d), r"takes op kinds as strings, got <class"),
    (lambda: select.first(("linear", "conv")), r"select\.first\(\.\.\.\) takes op kinds as "
                                               r"strings, got \('linear', 'conv'\) \(tuple\)"),
    (lambda: select.last(None), r"takes op kinds as strings, got None"),
    (lambda: select.name(3), r"select\.name\(\.\.\.\) takes name globs as strings, got 3"),
    (lambda: select.name(["fc"]), r"takes name globs as strings"),
    (lambda: select.where("linear"), r"takes a predicate"),
    (lambda: select.kind("conv") & "linear", r"combine with & only with other selectors"),
    (lambda: select.kind("conv") | (lambda g, n: True), r"combine with \| only with other"),
    (lambda: select.handles(rules.Epsilon), r"takes an lrp\.rules\.Rule instance"),
])
def test_selectors_refuse_what_is_not_a_kind_or_pattern(build, message):
    with pytest.raises(TypeError, match=message):
        build()


def test_every_known_kind_and_category_is_accepted(cnn):
    _, g = cnn
    for k in neon.ops.known_kinds():
        select.kind(k), select.first(k), select.last(k)
    assert {n.name for n in g.nodes if select.kind("affine")(g, n)} == {"0", "2", "6", "8"}
    assert {n.name for n in g.nodes if select.first("affine")(g, n)} == {"0"}


def test_is_kind_takes_one_kind_as_a_string(cnn):
    _, g = cnn
    conv = g["0"].op
    assert select.is_kind(conv, "conv") and select.is_kind(conv, "affine")
    # a string is one kind, not a collection of substrings
    assert not select.is_kind(conv, "convolution")
    assert not select.is_kind(conv, "onv")


# --------------------------------------------------------- entries that match no node

def test_an_unmatched_entry_warns_when_applied(cnn):
    x, g = cnn
    c = lrp.Composite([(select.kind("conv"), rules.ZPlus()),
                       (select.name("classifer.*"), rules.Epsilon(0.25))])
    message = (r"entry 1 \(name\('classifer\.\*',\), Epsilon\(epsilon=0\.25, scale=None, "
               r"zero_bias=False\)\) matches no node of the graph")
    with pytest.warns(UnmatchedSelectorWarning, match=message):
        c.assign(g)
    with pytest.warns(UnmatchedSelectorWarning, match=message):
        lrp.explain(g, x, composite=c)
    with pytest.warns(UnmatchedSelectorWarning, match=message):
        text = c.describe(g)
    assert text.splitlines()[-1].startswith("unmatched: entry 1 (name('classifer.*',)")
    assert issubclass(UnmatchedSelectorWarning, UserWarning)


def test_the_warning_points_at_the_callers_line(cnn):
    _, g = cnn
    c = lrp.Composite([(select.kind("avgpool"), rules.Norm())])
    with pytest.warns(UnmatchedSelectorWarning) as record:
        c.assign(g)
    assert record[0].filename == __file__


def test_strict_makes_an_unmatched_entry_an_error(cnn):
    x, g = cnn
    c = lrp.Composite([(select.kind("conv", "linear"), rules.Epsilon()),
                       (select.kind("avgpool"), rules.Norm())], strict=True)
    with pytest.raises(lrp.RuleError, match=r"strict composite: entry 1 \(kind\('avgpool',\), "
                                            r"Norm\(stabilizer=1e-06\)\) matches no node"):
        c.assign(g)
    with pytest.raises(lrp.RuleError, match=r"strict composite: entry 1"):
        lrp.explain(g, x, composite=c)
    # describe does not raise: it lists the entry and says explain will refuse it
    with pytest.warns(UnmatchedSelectorWarning):
        text = c.describe(g)
    assert text.splitlines()[-1].endswith("lrp.explain will refuse it (strict)")


def test_entries_that_match_are_silent(cnn):
    x, g = cnn
    c = lrp.Composite([(select.first(), rules.Flat()), (select.kind("conv"), rules.ZPlus()),
                       (select.kind("maxpool"), rules.WinnerTakeAll()),
                       (select.kind("linear"), rules.Epsilon())], strict=True)
    context = no_warnings()
    try:
        c.assign(g)
        lrp.explain(g, x, composite=c)
        text = c.describe(g)
    finally:
        context.__exit__(None, None, None)
    assert len(text.splitlines()) == len(g.nodes) + 2


@pytest.mark.parametrize("preset", [
    lrp.EpsilonPlusFlat(), lrp.EpsilonGammaBox(-1, 1), lrp.EpsilonAlpha2Beta1(),
    lrp.EpsilonAlpha2Beta1Flat(), lrp.EpsilonPlus(), lrp.EpsilonOnly(),
    lrp.EpsilonPlus(strict=True), lrp.EpsilonGammaBox(-1, 1, strict=True)], ids=repr)
def test_presets_do_not_warn_on_graphs_without_convolutions(mlp, preset):
    x, g = mlp
    context = no_warnings()
    try:
        preset.assign(g)
        lrp.explain(g, x, composite=preset)
        text = preset.describe(g)
        # the flags survive + and override
        (preset + lrp.EpsilonPlus()).assign(g)
        (lrp.EpsilonOnly() + preset).assign(g)
        preset.override((select.last(), rules.Epsilon(0.0))).assign(g)
    finally:
        context.__exit__(None, None, None)
    assert "unmatched" not in text and len(text.splitlines()) == len(g.nodes) + 2


def test_user_entries_keep_warning_after_add_and_override(mlp):
    _, g = mlp
    user = lrp.Composite([(select.kind("conv"), rules.Gamma())])
    for combined, index in [(lrp.EpsilonPlusFlat().override((select.kind("conv"),
                                                             rules.Gamma())), 0),
                            (user + lrp.EpsilonPlusFlat(), 0),
                            (lrp.EpsilonPlusFlat() + user, 3)]:
        with pytest.warns(UnmatchedSelectorWarning) as record:
            combined.assign(g)
        assert len(record) == 1
        assert str(record[0].message).startswith(f"composite entry {index} (kind('conv',), "
                                                 "Gamma(")
        assert [i for i, _, _ in combined.unmatched(g)] == [index]
    strict = lrp.EpsilonPlus(strict=True).override((select.kind("maxpool"), rules.Norm()))
    assert strict.strict
    with pytest.raises(lrp.RuleError, match=r"strict composite: entry 0 \(kind\('maxpool',\)"):
        strict.assign(g)


# ----------------------------------------------------- describe flags what explain refuses

def test_describe_flags_rules_that_cannot_handle_their_node(cnn):
    x, g = cnn
    c = lrp.Composite([(select.kind("relu"), rules.Epsilon()),
                       (select.kind("maxpool"), rules.Norm())])
    context = no_warnings()
    try:
        text = c.describe(g)           # does not raise
    finally:
        context.__exit__(None, None, None)
    lines = text.splitlines()
    assert lines[0].split() == ["node", "op", "rule", "from", "problem"]
    rows = {line.split()[0]: line for line in lines[2:2 + len(g.nodes)]}
    flagged = {name for name, line in rows.items() if "cannot handle" in line}
    # exactly the nodes assign refuses
    expected = {n.name for n in g.nodes if not c.match(g, n)[0].handles(n.op)}
    assert flagged == expected == {"1", "3", "4", "7"}
    assert rows["1"].rstrip().endswith(
        "cannot handle: Epsilon handles Affine ops (kinds 'linear', 'conv', 'rooted_linear')")
    assert "cannot handle: Norm handles Summation ops" in rows["4"]
    assert "cannot handle" not in rows["0"] and rows["0"].rstrip().endswith("default")
    assert lines[-1] == ("4 node(s) flagged (a rule that cannot handle its node, or no rule): "
                         "lrp.explain will refuse this composite (RuleError)")
    assert len(lines) == len(g.nodes) + 3
    with pytest.raises(lrp.RuleError, match=r"node '1' \(ReLU, kind 'relu'\) was matched to "
                                            r"Epsilon"):
        c.assign(g)
    with pytest.raises(lrp.RuleError, match=r"node '1'"):
        lrp.explain(g, x, composite=c)


def test_describe_flags_strict_nodes_without_an_entry(cnn):
    _, g = cnn
    c = lrp.Composite([(select.kind("conv"), rules.ZPlus())], strict=True)
    text = c.describe(g)
    rows = {line.split()[0]: line for line in text.splitlines()[2:2 + len(g.nodes)]}
    assert "strict composite: parametrized node '6' (Linear) matches no entry" in rows["6"]
    assert "strict composite" in rows["8"] and "strict composite" not in rows["0"]
    assert text.splitlines()[-1].startswith("2 node(s) flagged")
    with pytest.raises(lrp.RuleError, match="parametrized node '6'"):
        c.assign(g)


def test_the_readme_composite_bug_and_its_fix(vgg_like):
    x, g = vgg_like
    names = {n.name: n.kind for n in g.nodes}
    assert names["classifier.1"] == "relu"
    # a glob alone also picks the classifier's ReLU: explain refuses, describe says why
    glob = lrp.Composite([(select.first(), rules.ZBox(low=0.0, high=1.0)),
                          (select.name("classifier.*"), rules.Epsilon(0.25)),
                          (select.kind("conv"), rules.Gamma(0.25))], strict=True)
    with pytest.raises(lrp.RuleError, match=r"node 'classifier\.1' \(ReLU"):
        lrp.explain(g, x, composite=glob)
    assert "cannot handle: Epsilon" in glob.describe(g)
    fixed = lrp.Composite([(select.first(), rules.ZBox(low=0.0, high=1.0)),
                           (select.name("classifier.*") & select.kind("linear"),
                            rules.Epsilon(0.25)),
                           (select.kind("conv"), rules.Gamma(0.25))], strict=True)
    context = no_warnings()
    try:
        text = fixed.describe(g)
        R = lrp.explain(g, x, composite=fixed)
    finally:
        context.__exit__(None, None, None)
    assert "problem" not in text and "unmatched" not in text
    assert len(text.splitlines()) == len(g.nodes) + 2
    assert torch.isfinite(R).all()


# ------------------------------------------------------------------ resolve(composite)

def test_resolve_none_and_composites(cnn):
    _, g = cnn
    default = resolve(None)
    assert type(default) is lrp.Composite and default.rules == []
    c = lrp.Composite([(select.kind("conv"), rules.ZPlus())])
    assert resolve(c) is c
    preset = lrp.EpsilonGammaBox(-1, 1)
    assert resolve(preset) is preset


@pytest.mark.parametrize("name", ["EpsilonPlusFlat", "epsilon_plus_flat", "EPSILON_PLUS_FLAT",
                                  "epsilonplusflat", "Epsilon-Plus-Flat"])
def test_resolve_preset_names(name, cnn):
    _, g = cnn
    c = resolve(name)
    assert type(c) is lrp.EpsilonPlusFlat
    assert repr(c) == repr(lrp.EpsilonPlusFlat())
    assert {k: repr(r) for k, r in c.assign(g).items()} == \
        {k: repr(r) for k, r in lrp.EpsilonPlusFlat().assign(g).items()}


def test_resolve_every_preset_by_name_and_class():
    for name, cls in composites.PRESETS.items():
        snake = "".join("_" + ch.lower() if ch.isupper() else ch for ch in name).lstrip("_")
        if cls is lrp.EpsilonGammaBox:
            for form in (name, snake, cls):
                with pytest.raises(TypeError, match=r"EpsilonGammaBox has required parameters "
                                                    r"\(low, high\).*composite=lrp\."
                                                    r"EpsilonGammaBox\(low=\.\.\., high=\.\.\.\)"):
                    resolve(form)
            continue
        assert type(resolve(name)) is cls, name
        assert type(resolve(snake)) is cls, snake
        assert type(resolve(cls)) is cls and repr(resolve(cls)) == repr(cls())
    assert set(composites.PRESETS) == {"EpsilonPlusFlat", "EpsilonGammaBox",
                                       "EpsilonAlpha2Beta1", "EpsilonAlpha2Beta1Flat",
                                       "EpsilonPlus", "EpsilonOnly", "CPLRP", "AttnLRP"}


def test_resolve_unknown_names_list_the_presets():
    with pytest.raises(ValueError, match=r"unknown composite 'epsilon_plus_flatt'; the presets "
                                         r"are 'EpsilonPlusFlat', 'EpsilonGammaBox'.*"
                                         r"'EpsilonOnly'"):
        resolve("epsilon_plus_flatt")
    with pytest.raises(ValueError, match="unknown composite ''"):
        resolve("")


def test_resolve_a_user_composite_class():
    class Mine(lrp.Composite):
        def __init__(self, epsilon=0.1):
            super().__init__([(select.kind("linear"), rules.Epsilon(epsilon))])

    class Needs(lrp.Composite):
        def __init__(self, box):
            super().__init__([(select.first(), rules.ZBox(*box))])

    assert type(resolve(Mine)) is Mine
    with pytest.raises(TypeError, match=r"Needs has required parameters \(box\): construct it"):
        resolve(Needs)
    assert type(resolve(lrp.Composite)) is lrp.Composite


def test_resolve_a_bare_rule_applies_it_to_every_node_it_handles(cnn):
    x, g = cnn
    eps = rules.Epsilon(0.1)
    c = resolve(eps)
    a = c.assign(g)
    assert {n for n, r in a.items() if r is eps} == {"0", "2", "6", "8"}
    assert isinstance(a["1"], rules.Pass) and isinstance(a["4"], rules.WinnerTakeAll)
    text = c.describe(g)
    assert "entry 0: handles(Epsilon(epsilon=0.1, scale=None, zero_bias=False))" in text
    expected = lrp.explain(g, x, composite=lrp.Composite([(select.kind("affine"), eps)]))
    torch.testing.assert_close(lrp.explain(g, x, composite=c), expected, rtol=0, atol=0)
    # a rule for any op (Gradient) gets every node; a rule for max pooling only those
    assert all(type(r) is rules.Gradient for r in resolve(rules.Gradient()).assign(g).values())
    pm = resolve(rules.ProportionalMax()).assign(g)
    assert [n for n, r in pm.items() if isinstance(r, rules.ProportionalMax)] == ["4"]
    # a bare rule with nothing to handle on this graph is an unmatched entry
    with pytest.warns(UnmatchedSelectorWarning, match=r"entry 0 \(handles\(Midpoint"):
        resolve(rules.Midpoint()).assign(g)


@pytest.mark.parametrize("value, message", [
    (rules.Epsilon, r"composite=Epsilon is a rule class: give an instance, e\.g\. "
                    r"composite=lrp\.rules\.Epsilon\(\.\.\.\)"),
    (3, r"composite must be None, an lrp\.Composite, a preset name \(one of EpsilonPlusFlat, "
        r".*\), a Composite class, or an lrp\.rules\.Rule instance; got 3 \(int\)"),
    ([(select.kind("conv"), rules.ZPlus())], r"composite must be None.*got \[\(kind"),
    (lambda graph, node: True, r"composite must be None"),
    (int, r"composite must be None"),
])
def test_resolve_refuses_anything_else(value, message):
    with pytest.raises(TypeError, match=message):
        resolve(value)


# ----------------------------------------------------------------- composite entries

@pytest.mark.parametrize("build, message", [
    (lambda: lrp.Composite(rules.Epsilon()), r"Composite takes a list of \(selector, rule\) "
                                             r"pairs.*lrp\.composites\.resolve"),
    (lambda: lrp.Composite((select.kind("conv"), rules.ZPlus())), r"Composite takes a list"),
    (lambda: lrp.Composite("EpsilonPlusFlat"), r"Composite takes a list"),
    (lambda: lrp.Composite([(select.kind("conv"), rules.ZPlus)]),
     r"got the class ZPlus: write ZPlus\(\.\.\.\)"),
    (lambda: lrp.Composite([(select.kind("conv"), rules.ZPlus(), "extra")]),
     r"composite entries are \(selector, rule\) pairs"),
    (lambda: lrp.Composite([rules.ZPlus()]), r"composite entries are \(selector, rule\) pairs"),
    (lambda: lrp.Composite([((), rules.ZPlus())]), r"not a selector: \(\)"),
])
def test_composite_entries_are_checked(build, message):
    with pytest.raises(TypeError, match=message):
        build()
