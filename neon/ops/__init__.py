"""The op vocabulary of the graph IR, one module per family.

=====================  ==========================================================
module                 ops
=====================  ==========================================================
:mod:`.base`           :class:`Op` and the categories rules are chosen by
                       (:class:`Elementwise`, :class:`Summation`, :class:`Routing`)
:mod:`.affine`         :class:`Affine` (:class:`Linear`, :class:`Conv`),
                       :class:`ReferencedMLP`,
                       :class:`ElementwiseAffine`, :class:`BatchNorm`,
                       :class:`BroadcastAffine`
:mod:`.elementwise`    activations (:class:`ReLU`, …, :class:`SiLU`,
                       :class:`Hardswish`, :class:`Hardsigmoid`, :class:`Power`),
                       :class:`Softmax`, :class:`LogSoftmax`
:mod:`.pooling`        :class:`MaxPool`, :class:`AvgPool`, :class:`AdaptiveAvgPool`,
                       :class:`Sum`, :class:`Mean`, :class:`Interpolate`
:mod:`.structure`      :class:`Add`, :class:`Concat`, :class:`Constant`,
                       :class:`Reshape`, :class:`Flatten`, :class:`Select`,
                       :class:`Permute`, :class:`Expand`, :class:`Pad`, :class:`Roll`
:mod:`.products`       :class:`Product` (:class:`Mul`: gating products; :class:`MatMul`,
                       :class:`Einsum`: attention's bilinear products)
:mod:`.normalization`  :class:`Normalization` (:class:`LayerNorm`, :class:`GroupNorm`,
                       :class:`L2Normalize`)
:mod:`.distance`       :class:`SquaredDistance` (every NEON distance layer)
:mod:`.pools`          :class:`CompetitionMin`, :class:`SoftMin`, :class:`DistancePool`,
                       :class:`RivalMin`
:mod:`.kernels`        :class:`RBFDuels`, :class:`RootedLinear` (kernel SVMs)
:mod:`.embedding`      :class:`Embedding` (token ids to vectors; text models)
=====================  ==========================================================

A new op is one class in the module of its family, deriving from its category; its rule is
one class in the matching module of :mod:`lrp.rules` (docs/architecture.md).
"""

from .affine import (
    Affine,
    BatchNorm,
    BroadcastAffine,
    Conv,
    ElementwiseAffine,
    Linear,
    ReferencedMLP,
)
from .base import Elementwise, Op, Routing, Summation, known_kinds, op_class
from .distance import Distance, SquaredDistance, coincidence_tolerance
from .elementwise import (
    ELU,
    GELU,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    Identity,
    LeakyReLU,
    LogSoftmax,
    Power,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from .embedding import Embedding
from .kernels import RBFDuels, RootedLinear
from .normalization import GroupNorm, L2Normalize, LayerNorm, Normalization
from .pooling import AdaptiveAvgPool, AvgPool, Interpolate, MaxPool, Mean, Sum
from .pools import MAX_PAIRS, CompetitionMin, DistancePool, Pool, RivalMin, SoftMin, check_beta
from .products import Einsum, MatMul, Mul, Product
from .structure import Add, Concat, Constant, Expand, Flatten, Pad, Permute, Reshape, Roll, Select

__all__ = [
    "Op", "Elementwise", "Summation", "Routing", "Distance", "Pool", "known_kinds", "op_class",
    "Affine", "Linear", "ReferencedMLP", "Conv", "ElementwiseAffine",
    "BatchNorm", "BroadcastAffine",
    "ReLU", "Hardtanh", "LeakyReLU", "ELU", "Tanh", "Sigmoid", "Softplus", "GELU", "SiLU",
    "Hardswish", "Hardsigmoid", "Identity", "Power", "Softmax", "LogSoftmax",
    "MaxPool", "AvgPool", "AdaptiveAvgPool", "Sum", "Mean", "Interpolate",
    "Add", "Concat", "Constant", "Reshape", "Flatten", "Select", "Permute", "Expand", "Pad", "Roll",
    "Product", "Mul", "MatMul", "Einsum", "Normalization", "LayerNorm", "GroupNorm",
    "L2Normalize", "Embedding",
    "SquaredDistance", "coincidence_tolerance",
    "CompetitionMin", "SoftMin", "DistancePool", "RivalMin", "check_beta", "MAX_PAIRS",
    "RBFDuels", "RootedLinear",
]
