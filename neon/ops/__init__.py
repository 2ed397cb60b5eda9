"""The op vocabulary of the graph IR, one module per family.

=====================  ==========================================================
module                 ops
=====================  ==========================================================
:mod:`.base`           :class:`Op` and the categories rules are chosen by
                       (:class:`Elementwise`, :class:`Summation`, :class:`Routing`)
:mod:`.affine`         :class:`Affine` (:class:`Linear`, :class:`Conv`),
                       :class:`ElementwiseAffine`, :class:`BatchNorm`
:mod:`.elementwise`    activations (:class:`ReLU`, …, :class:`Power`),
                       :class:`Softmax`, :class:`LogSoftmax`
:mod:`.pooling`        :class:`MaxPool`, :class:`AvgPool`, :class:`AdaptiveAvgPool`,
                       :class:`Sum`, :class:`Mean`
:mod:`.structure`      :class:`Add`, :class:`Concat`, :class:`Reshape`,
                       :class:`Flatten`, :class:`Select`
:mod:`.distance`       :class:`SquaredDistance` (every NEON distance layer)
:mod:`.pools`          :class:`CompetitionMin`, :class:`SoftMin`, :class:`RivalMin`
:mod:`.kernels`        :class:`RBFDuels`, :class:`RootedLinear` (kernel SVMs)
=====================  ==========================================================

A new op is one class in the module of its family, deriving from its category; its rule is
one class in the matching module of :mod:`lrp.rules` (docs/architecture.md).
"""

from .affine import Affine, BatchNorm, Conv, ElementwiseAffine, Linear
from .base import Elementwise, Op, Routing, Summation, known_kinds, op_class
from .distance import Distance, SquaredDistance, coincidence_tolerance
from .elementwise import (
    ELU,
    GELU,
    Hardtanh,
    Identity,
    LeakyReLU,
    LogSoftmax,
    Power,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from .kernels import RBFDuels, RootedLinear
from .pooling import AdaptiveAvgPool, AvgPool, MaxPool, Mean, Sum
from .pools import CompetitionMin, Pool, RivalMin, SoftMin, check_beta
from .structure import Add, Concat, Flatten, Reshape, Select

__all__ = [
    "Op", "Elementwise", "Summation", "Routing", "Distance", "Pool", "known_kinds", "op_class",
    "Affine", "Linear", "Conv", "ElementwiseAffine", "BatchNorm",
    "ReLU", "Hardtanh", "LeakyReLU", "ELU", "Tanh", "Sigmoid", "Softplus", "GELU", "Identity",
    "Power", "Softmax", "LogSoftmax",
    "MaxPool", "AvgPool", "AdaptiveAvgPool", "Sum", "Mean",
    "Add", "Concat", "Reshape", "Flatten", "Select",
    "SquaredDistance", "coincidence_tolerance",
    "CompetitionMin", "SoftMin", "RivalMin", "check_beta",
    "RBFDuels", "RootedLinear",
]
