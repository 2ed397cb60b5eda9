"""Bad-input rows of the rules for unfolded BatchNorm, constant arithmetic and normalization
(lrp.rules.ElementwiseEpsilon, lrp.rules.FrozenScale), for tests/test_bad_input_table.py:
``(entry point, what is wrong, zero-argument call, exception class, words the message must
contain)``. SignalTakeAll and UniformSplit: tests/lrp/bad_rows_transformer.py."""

from __future__ import annotations

import math

import torch

from lrp import rules


def epsilon_rows(entry, make):
    """The rows every parameter named ``epsilon`` gets: ``make(value)`` refused."""
    return [
        (entry, "negative epsilon", lambda: make(-1e-6), ValueError, "epsilon must be ≥ 0"),
        (entry, "NaN epsilon", lambda: make(math.nan), ValueError, "epsilon must be a number"),
        (entry, "infinite epsilon", lambda: make(math.inf), ValueError,
         "epsilon must be finite"),
        (entry, "epsilon a string", lambda: make("1e-6"), TypeError,
         "epsilon must be a real number"),
        (entry, "epsilon a bool", lambda: make(True), TypeError, "epsilon must be a real number"),
        (entry, "epsilon None", lambda: make(None), TypeError, "epsilon must be a real number"),
        (entry, "epsilon a tensor of several values", lambda: make(torch.ones(2)), TypeError,
         "epsilon must be a real number"),
    ]


ROWS = [
    *epsilon_rows("lrp.rules.ElementwiseEpsilon", rules.ElementwiseEpsilon),
    *epsilon_rows("lrp.rules.FrozenScale", rules.FrozenScale),
]
