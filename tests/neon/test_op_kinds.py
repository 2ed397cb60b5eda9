"""The op kind registry: every op class declares a unique kind, listed by known_kinds()."""

import pytest
import torch

import lrp
from neon import ops
from neon.ops.base import _KINDS


def test_known_kinds_cover_the_built_in_ops_and_categories():
    kinds = ops.known_kinds()
    for kind in ("linear", "conv", "relu", "add", "maxpool", "squared_distance", "svc_duels",
                 "affine", "elementwise", "summation", "routing", "distance", "pool"):
        assert kind in kinds
    assert ops.op_class("conv") is ops.Conv and ops.op_class("pool") is ops.Pool
    with pytest.raises(KeyError, match="no op has kind 'convolution'; known kinds: .*conv"):
        ops.op_class("convolution")


def test_a_user_op_joins_the_kinds_and_a_clash_is_refused():
    class Cube(ops.Elementwise):
        """y = x³."""

        kind = "test_cube"

        def forward(self, x):
            return x ** 3

    try:
        assert "test_cube" in ops.known_kinds()
        assert lrp.select.kind("test_cube")                    # selectable by its kind
        assert isinstance(lrp.rules.default_rule(Cube()), lrp.rules.Pass)   # its category's
        assert lrp.select.is_kind(Cube(), ("elementwise",))
        with pytest.raises(TypeError, match="op kind 'conv' of .*Other is already declared"):
            type("Other", (ops.Op,), {"kind": "conv", "forward": lambda self, x: x})
        torch.testing.assert_close(Cube()(torch.tensor([2.0])), torch.tensor([8.0]))
    finally:
        _KINDS.pop("test_cube", None)


def test_a_subclass_without_its_own_kind_is_its_parent_kind():
    class MyLinear(ops.Linear):
        pass

    op = MyLinear(torch.ones(2, 3), None)
    assert op.kind == "linear" and lrp.select.is_kind(op, ("linear",))
    assert isinstance(lrp.rules.default_rule(op), lrp.rules.Epsilon)
