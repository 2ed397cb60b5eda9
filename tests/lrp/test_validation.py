"""Every public parameter of the rules and composites is checked when it is built, in one idiom
(:func:`lrp.rules.base.check_number` and friends), and every ``repr`` is code that rebuilds
the object with the values in use."""

import math

import numpy as np
import pytest
import torch
from torch import nn

import lrp
import neon
from lrp import composites, rules, select
from lrp.rules import base

NAN, INF = float("nan"), float("inf")


# ------------------------------------------------------------- the cases users ran into

@pytest.mark.parametrize("build, error, message", [
    (lambda: rules.Gamma(-0.5), ValueError, r"gamma must be ≥ 0, got -0\.5"),
    (lambda: rules.Gamma(NAN), ValueError, r"gamma must be a number, got NaN"),
    (lambda: rules.Epsilon(-1), ValueError, r"epsilon must be ≥ 0, got -1"),
    (lambda: rules.Epsilon(NAN), ValueError, r"epsilon must be a number, got NaN"),
    (lambda: rules.Epsilon(INF), ValueError, r"epsilon must be finite, got inf"),
    (lambda: rules.ZBox(low=1, high=0), ValueError, r"low <= high.*low=1, high=0"),
    (lambda: lrp.EpsilonGammaBox(1, 0), ValueError, r"low <= high.*low=1, high=0"),
    (lambda: rules.Flat(stabilizer=-1), ValueError, r"stabilizer must be ≥ 0, got -1"),
    (lambda: rules.Epsilon("0.1"), TypeError, r"epsilon must be a real number, got '0\.1'"),
    (lambda: rules.Epsilon(True), TypeError, r"epsilon must be a real number, got True"),
], ids=["gamma<0", "gamma-nan", "eps<0", "eps-nan", "eps-inf", "zbox-low>high",
        "EpsilonGammaBox(1,0)", "flat-stab<0", "eps-str", "eps-bool"])
def test_reported_cases_are_refused_at_construction(build, error, message):
    with pytest.raises(error, match=message):
        build()


# ----------------------------------------------------------------------- every rule

@pytest.mark.parametrize("build, error, message", [
    # affine rules: stabilizers, ε, γ finite and ≥ 0; α − β = 1; flags are booleans
    (lambda: rules.Epsilon(1e-6, scale="RMS"), ValueError, r"scale must be one of None, 'rms'"),
    (lambda: rules.Epsilon(1e-6, scale=1), ValueError, r"scale must be one of .*got 1"),
    (lambda: rules.Epsilon(zero_bias=1), TypeError, r"zero_bias must be True or False, got 1"),
    (lambda: rules.Gamma(0.25, stabilizer=-1e-3), ValueError, r"stabilizer must be ≥ 0"),
    (lambda: rules.Gamma(INF), ValueError, r"gamma must be finite, got inf"),
    (lambda: rules.Gamma("0.25"), TypeError, r"gamma must be a real number, got '0\.25'"),
    (lambda: rules.AlphaBeta(3, 1), ValueError, r"alpha - beta = 1.*alpha=3, beta=1"),
    (lambda: rules.AlphaBeta(NAN, 1), ValueError, r"alpha must be a number, got NaN"),
    (lambda: rules.AlphaBeta(2, 1, stabilizer=NAN), ValueError, r"stabilizer must be a number"),
    (lambda: rules.ZPlus(-1), ValueError, r"stabilizer must be ≥ 0, got -1"),
    (lambda: rules.ZPlus(zero_bias="no"), TypeError, r"zero_bias must be True or False"),
    (lambda: rules.WSquare(INF), ValueError, r"stabilizer must be finite"),
    (lambda: rules.WSquare(zero_bias=None), TypeError, r"zero_bias must be True or False"),
    (lambda: rules.Flat(NAN), ValueError, r"stabilizer must be a number, got NaN"),
    (lambda: rules.ZBox(NAN, 1), ValueError, r"ZBox low must be finite"),
    (lambda: rules.ZBox(0, "1"), TypeError, r"ZBox high must be a number or a tensor"),
    (lambda: rules.ZBox(torch.zeros(3, 1, 1), torch.tensor([1.0, -1.0, 1.0]).reshape(3, 1, 1)),
     ValueError, r"1 element\(s\) with low > high"),
    (lambda: rules.ZBox(0, 1, stabilizer=-1), ValueError, r"stabilizer must be ≥ 0"),
    (lambda: rules.Generic(epsilon=-1), ValueError, r"epsilon must be ≥ 0, got -1"),
    (lambda: rules.Generic(output_factor="input "), ValueError,
     r"output_factor must be one of 'input', 'ones', got 'input '"),
    (lambda: rules.Generic(param_modifier=2.0), TypeError, r"param_modifier must be callable"),
    (lambda: rules.Generic(input_modifier="abs"), TypeError, r"input_modifier must be callable"),
    # structural rules
    (lambda: rules.Norm(-1), ValueError, r"stabilizer must be ≥ 0, got -1"),
    (lambda: rules.Norm("1e-6"), TypeError, r"stabilizer must be a real number"),
    (lambda: rules.ProportionalMax(NAN), ValueError, r"stabilizer must be a number, got NaN"),
    # NEON rules
    (lambda: rules.SoftMinRedistribution(0), ValueError, r"beta must be > 0, got 0"),
    (lambda: rules.SoftMinRedistribution("2"), TypeError, r"beta must be a real number, got '2'"),
    (lambda: rules.Midpoint(-1), ValueError, r"beta must be > 0, got -1"),
    (lambda: rules.Midpoint(NAN), ValueError, r"beta must be a number, got NaN"),
    (lambda: rules.RivalSoftMin(True), TypeError, r"beta must be a real number, got True"),
    (lambda: rules.DuelMidpoint(stabilizer=-0.01), ValueError, r"stabilizer must be ≥ 0"),
    (lambda: rules.DuelMidpoint(chunk=0), ValueError, r"chunk must be ≥ 1, got 0"),
    (lambda: rules.DuelMidpoint(chunk=1.5), TypeError, r"chunk must be an integer, got 1\.5"),
    (lambda: rules.DuelMidpoint(chunk=True), TypeError, r"chunk must be an integer, got True"),
    (lambda: rules.RootRule(INF), ValueError, r"stabilizer must be finite"),
])
def test_every_rule_parameter_is_checked(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_valid_edge_values_are_accepted():
    assert rules.Epsilon(0).stabilizer == 0.0           # LRP-0
    assert rules.Gamma(0).gamma == 0.0
    assert rules.Epsilon(np.float32(0.5)).stabilizer == 0.5
    assert rules.Epsilon(torch.tensor(0.25)).stabilizer == 0.25
    assert rules.AlphaBeta(1, 0).beta == 0.0
    assert rules.ZBox(0, 0).low == 0                     # a degenerate box is a box
    assert rules.Midpoint(math.inf).beta == math.inf     # the hard minimum
    assert rules.SoftMinRedistribution(None).beta is None
    assert rules.DuelMidpoint(chunk=np.int64(8)).chunk == 8
    assert isinstance(rules.Epsilon(1).stabilizer, float)


@pytest.mark.parametrize("build, error, message", [
    (lambda: lrp.EpsilonOnly(epsilon=-1), ValueError, r"epsilon must be ≥ 0, got -1"),
    (lambda: lrp.EpsilonOnly(strict=1), TypeError, r"strict must be True or False, got 1"),
    (lambda: lrp.EpsilonPlus(epsilon=NAN), ValueError, r"epsilon must be a number"),
    (lambda: lrp.EpsilonPlus(stabilizer=-1), ValueError, r"stabilizer must be ≥ 0"),
    (lambda: lrp.EpsilonPlusFlat(epsilon="1e-6"), TypeError, r"epsilon must be a real number"),
    (lambda: lrp.EpsilonPlusFlat(stabilizer=INF), ValueError, r"stabilizer must be finite"),
    (lambda: lrp.EpsilonGammaBox(0, 1, gamma=-0.25), ValueError, r"gamma must be ≥ 0"),
    (lambda: lrp.EpsilonGammaBox(0, 1, epsilon=-1), ValueError, r"epsilon must be ≥ 0"),
    (lambda: lrp.EpsilonGammaBox(0, 1, stabilizer=NAN), ValueError, r"stabilizer must be a"),
    (lambda: lrp.EpsilonGammaBox(0, NAN), ValueError, r"ZBox high must be finite"),
    (lambda: lrp.EpsilonAlpha2Beta1(epsilon=-1), ValueError, r"epsilon must be ≥ 0"),
    (lambda: lrp.EpsilonAlpha2Beta1(stabilizer=-1), ValueError, r"stabilizer must be ≥ 0"),
    (lambda: lrp.EpsilonAlpha2Beta1Flat(epsilon=INF), ValueError, r"epsilon must be finite"),
    (lambda: lrp.EpsilonAlpha2Beta1Flat(strict="yes"), TypeError, r"strict must be True or"),
    (lambda: lrp.Composite(strict=None), TypeError, r"strict must be True or False, got None"),
])
def test_every_preset_parameter_is_checked(build, error, message):
    with pytest.raises(error, match=message):
        build()


def test_check_helpers():
    assert base.check_number(2, "x") == 2.0
    assert base.check_number(math.inf, "beta", allow_inf=True, strict=True) == math.inf
    with pytest.raises(ValueError, match=r"x must be > 0, got 0"):
        base.check_number(0, "x", strict=True)
    with pytest.raises(TypeError, match=r"x must be a real number, got \[1\.0\]"):
        base.check_number([1.0], "x")
    with pytest.raises(TypeError, match=r"x must be a real number"):
        base.check_number(torch.tensor([1.0, 2.0]), "x")
    assert base.check_number(3, "n", minimum=1, integer=True) == 3
    with pytest.raises(TypeError, match=r"n must be an integer, got 3\.0"):
        base.check_number(3.0, "n", integer=True)
    assert base.check_flag(False, "f") is False
    with pytest.raises(TypeError, match="f must be True or False, got 0"):
        base.check_flag(0, "f")
    assert base.check_choice(None, "c", (None, "a")) is None
    with pytest.raises(ValueError, match=r"c must be one of None, 'a', got 'b'"):
        base.check_choice("b", "c", (None, "a"))
    with pytest.raises(ValueError, match=r"c must be one of"):
        base.check_choice(torch.tensor(1.0), "c", (None, "a"))
    assert base.format_value(math.inf) == "math.inf" and base.format_value(-math.inf) == \
        "-math.inf"


# ----------------------------------------------------------------------------- repr

NAMESPACE = {**{k: getattr(rules, k) for k in rules.__all__}, "math": math,
             **{k: getattr(select, k) for k in select.__all__},
             **{k: getattr(lrp, k) for k in lrp.__all__ if hasattr(lrp, k)},
             **{k: getattr(composites, k) for k in composites.__all__}}

# every rule class, built with defaults and with other plain-number parameters
PLAIN = [
    rules.Epsilon(), rules.Epsilon(0.25, scale="rms", zero_bias=True), rules.Epsilon(0),
    rules.Gamma(), rules.Gamma(gamma=1.5, stabilizer=0.0, zero_bias=True),
    rules.AlphaBeta(), rules.AlphaBeta(1, 0, 1e-3, True), rules.ZPlus(), rules.ZPlus(0, True),
    rules.Flat(), rules.Flat(1e-3), rules.WSquare(), rules.WSquare(1e-9, zero_bias=True),
    rules.ZBox(-1.0, 2.0), rules.ZBox(low=0, high=1, stabilizer=0),
    rules.Generic(), rules.Generic(epsilon=0.5, output_factor="ones", zero_bias=True),
    rules.Pass(), rules.Norm(), rules.Norm(0.0), rules.WinnerTakeAll(),
    rules.ElementwiseEpsilon(), rules.ElementwiseEpsilon(0.5), rules.SignalTakeAll(),
    rules.UniformSplit(), rules.FrozenScale(), rules.FrozenScale(0.0), rules.RevealCancel(),
    rules.RevealCancel(0.0), rules.Rescale(), rules.Rescale(1e-9),
    rules.ProportionalMax(), rules.ProportionalMax(1e-3), rules.Route(), rules.SoftmaxRule(),
    rules.TokenSum(),
    rules.Gradient(), rules.GuidedBackprop(), rules.DeconvNet(), rules.ExcitationBackprop(),
    rules.ExcitationBackprop(dual=True), rules.DistanceSplit(), rules.SoftMinRedistribution(),
    rules.SoftMinRedistribution(math.inf), rules.SoftMinRedistribution(2.5), rules.Midpoint(),
    rules.Midpoint(math.inf), rules.RivalSoftMin(), rules.RivalSoftMin(0.01),
    rules.DuelMidpoint(), rules.DuelMidpoint(0.1, chunk=1024), rules.RootRule(),
    rules.RootRule(0.0), rules.DuelTaylor(), rules.DuelTaylor(at="input", stabilizer=1e-9),
    rules.DuelTaylor("path", points=3), rules.DuelTaylor("midpoint"), rules.PoolShapley(),
    rules.PoolShapley(4, seed=3),
]


def test_every_rule_class_is_covered():
    classes = {getattr(rules, k) for k in rules.__all__}
    classes = {c for c in classes if isinstance(c, type) and issubclass(c, rules.Rule)
               and c is not rules.Rule and c is not rules.RuleError}
    assert classes == {type(r) for r in PLAIN}


@pytest.mark.parametrize("rule", PLAIN, ids=repr)
def test_repr_round_trips(rule):
    text = repr(rule)
    again = eval(text, dict(NAMESPACE))
    assert type(again) is type(rule)
    assert repr(again) == text
    assert again._params() == rule._params()


def test_repr_shows_the_values_in_use():
    assert repr(rules.Epsilon()) == "Epsilon(epsilon=1e-06, scale=None, zero_bias=False)"
    assert repr(rules.Gamma()) == "Gamma(gamma=0.25, stabilizer=1e-06, zero_bias=False)"
    assert repr(rules.Epsilon(1)) == "Epsilon(epsilon=1.0, scale=None, zero_bias=False)"
    assert repr(rules.Midpoint(math.inf)) == "Midpoint(beta=math.inf)"
    assert repr(rules.WSquare()) == "WSquare(stabilizer=1e-06, zero_bias=False)"
    assert repr(rules.DuelMidpoint()) == "DuelMidpoint(stabilizer=0.01, chunk=4194304)"
    assert repr(rules.ZPlus()) == "ZPlus(stabilizer=1e-06, zero_bias=False)"
    assert repr(rules.Pass()) == "Pass()"


PRESETS = [lrp.EpsilonOnly(), lrp.EpsilonOnly(0.1, strict=True), lrp.EpsilonPlus(),
           lrp.EpsilonPlus(0.25, 1e-3), lrp.EpsilonPlusFlat(), lrp.EpsilonPlusFlat(epsilon=0.5),
           lrp.EpsilonGammaBox(-1.0, 1.0), lrp.EpsilonGammaBox(0, 1, 0.1, 0.5, 1e-9, True),
           lrp.EpsilonAlpha2Beta1(), lrp.EpsilonAlpha2Beta1Flat(stabilizer=0.0),
           lrp.CPLRP(), lrp.CPLRP(0.0, gamma=0.25), lrp.AttnLRP(), lrp.AttnLRP(1e-3, 0.5, 1e-9)]


@pytest.mark.parametrize("composite", PRESETS, ids=repr)
def test_preset_repr_round_trips(composite):
    text = repr(composite)
    assert text.startswith(type(composite).__name__ + "(")
    again = eval(text, dict(NAMESPACE))
    assert type(again) is type(composite) and repr(again) == text
    assert [(repr(s), repr(r)) for s, r in again.rules] == \
        [(repr(s), repr(r)) for s, r in composite.rules]


def test_preset_repr_names_its_parameters():
    assert repr(lrp.EpsilonPlusFlat()) == \
        "EpsilonPlusFlat(epsilon=1e-06, stabilizer=1e-06, strict=False)"
    assert repr(lrp.EpsilonGammaBox(low=0.0, high=1.0)) == (
        "EpsilonGammaBox(low=0.0, high=1.0, epsilon=1e-06, gamma=0.25, stabilizer=1e-06, "
        "strict=False)")


def test_composite_repr_round_trips():
    c = lrp.Composite([(select.first(), rules.Flat()),
                       (select.kind("conv") & ~select.first("conv"), rules.Gamma(0.5)),
                       (select.name("classifier.*") & select.kind("linear"), rules.Epsilon(0.25)),
                       (select.last() | select.kind("relu"), rules.Pass()),
                       (select.everything(), rules.Gradient())], strict=True)
    text = repr(c)
    assert text.endswith("strict=True)")
    again = eval(text, dict(NAMESPACE))
    assert repr(again) == text and again.strict
    combined = lrp.EpsilonPlusFlat().override((select.last(), rules.Epsilon(0.0)))
    assert repr(eval(repr(combined), dict(NAMESPACE))) == repr(combined)


def test_describe_shows_the_values_in_use():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    g = neon.from_torch(model, torch.randn(2, 3))
    text = lrp.EpsilonPlusFlat(epsilon=0.25, stabilizer=0.0).describe(g)
    assert "Epsilon(epsilon=0.25, scale=None, zero_bias=False)" in text
    assert "Flat(stabilizer=0.0)" in text
    assert "-1" not in text
