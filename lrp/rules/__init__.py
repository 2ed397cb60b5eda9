"""Layer-wise relevance rules, one module per op family (mirroring :mod:`neon.ops`).

=====================  ==========================================================
module                 rules
=====================  ==========================================================
:mod:`.base`           :class:`Rule`, :func:`default_rule`, :func:`register_default`,
                       the primitives :func:`stabilize`, :func:`divide`, :func:`vjp`
:mod:`.affine`         :class:`Generic`, :class:`Epsilon`, :class:`Gamma`,
                       :class:`AlphaBeta`, :class:`ZPlus`, :class:`Flat`,
                       :class:`WSquare`, :class:`ZBox`; :class:`ElementwiseEpsilon`
                       (unfolded BatchNorm, constant arithmetic)
:mod:`.structural`     :class:`Pass`, :class:`Norm`, :class:`WinnerTakeAll`,
                       :class:`ProportionalMax`, :class:`Route`, :class:`SoftmaxRule`,
                       :class:`TokenSum`
:mod:`.products`       :class:`SignalTakeAll`, :class:`UniformSplit` (gated products)
:mod:`.normalization`  :class:`FrozenScale` (LayerNorm, GroupNorm)
:mod:`.reference`      :class:`RevealCancel`, :class:`Rescale` (DeepLIFT on a dense network
                       with a reference, :class:`~neon.ops.ReferencedMLP`)
:mod:`.gradient`       :class:`Gradient`, :class:`GuidedBackprop`, :class:`DeconvNet`,
                       :class:`ExcitationBackprop` (the gradient family)
:mod:`.neon`           :class:`DistanceSplit`, :class:`SoftMinRedistribution`,
                       :class:`Midpoint`, :class:`RivalSoftMin`, :class:`DuelTaylor`,
                       :class:`DuelMidpoint`, :class:`RootRule`, :class:`PoolShapley`
=====================  ==========================================================

A rule is called ``rule(op, inputs, output, R_out) -> [R_in, ...]`` and declares the op
categories it handles (``Rule.ops``). Default rules by op category: ε on affine ops,
pass-through on elementwise ops, proportional split on summations, winner-take-all on max
pooling, exact routing on structure ops, and the NEON rules on distance models.
"""

from .affine import (
    AlphaBeta,
    ElementwiseEpsilon,
    Epsilon,
    Flat,
    Gamma,
    Generic,
    WSquare,
    ZBox,
    ZPlus,
)
from .base import Rule, RuleError, default_rule, divide, register_default, stabilize, vjp
from .gradient import DeconvNet, ExcitationBackprop, Gradient, GuidedBackprop
from .neon import (
    DistanceSplit,
    DuelMidpoint,
    DuelTaylor,
    Midpoint,
    PoolShapley,
    RivalSoftMin,
    RootRule,
    SoftMinRedistribution,
    absorbed_share,
    pool_weights,
    root_split,
)
from .normalization import FrozenScale
from .products import SignalTakeAll, UniformSplit
from .reference import Rescale, RevealCancel
from .structural import (
    Norm,
    Pass,
    ProportionalMax,
    Route,
    SoftmaxRule,
    TokenSum,
    WinnerTakeAll,
)

__all__ = [
    "Rule", "RuleError", "stabilize", "divide", "vjp", "default_rule", "register_default",
    "Generic", "Epsilon", "Gamma", "AlphaBeta", "ZPlus", "Flat", "WSquare", "ZBox",
    "Pass", "Norm", "WinnerTakeAll", "ProportionalMax", "Route", "SoftmaxRule", "TokenSum",
    "Gradient",
    "GuidedBackprop", "DeconvNet", "ExcitationBackprop",
    "DistanceSplit", "SoftMinRedistribution", "Midpoint", "RivalSoftMin", "DuelMidpoint",
    "DuelTaylor", "RootRule", "PoolShapley", "pool_weights", "absorbed_share", "root_split",
    "ElementwiseEpsilon", "SignalTakeAll", "UniformSplit", "FrozenScale", "Rescale",
    "RevealCancel",
]
