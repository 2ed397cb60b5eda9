"""The base of every IR op, the op categories rules are chosen by, and the kind registry.

Every node of a :class:`neon.Graph` holds one op: a small :class:`torch.nn.Module` with an
exact ``forward``. Tensors are buffers (moved by ``graph.to``, never trained).

Two things identify what an op is:

* its **category**, the base class it derives from (:class:`Op` subclasses such as
  :class:`~neon.ops.Affine`, :class:`Elementwise`, :class:`Summation`, :class:`Routing`,
  :class:`~neon.ops.Pool`). Rules declare the categories they handle and :mod:`lrp` picks an
  op's default rule by walking its class hierarchy, so a subclass of a supported op works
  without registering anything;
* its **kind**, a short unique string (``"conv"``, ``"relu"``) that selectors match on
  (``lrp.select.kind("conv")``). Every concrete op class declares one; :func:`known_kinds`
  lists them, so a misspelt kind can be refused with the list of real ones.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

__all__ = ["Op", "Elementwise", "Summation", "Routing", "known_kinds", "op_class"]

_KINDS: dict[str, type] = {}


def known_kinds(sort: bool = True) -> list[str]:
    """The kinds of every op class defined so far (built-in and user-defined), sorted (or in
    the order the classes were defined, ``sort=False``)."""
    return sorted(_KINDS) if sort else list(_KINDS)


def op_class(kind: str) -> type:
    """The op class that declares ``kind`` (``KeyError`` naming the known kinds if none)."""
    try:
        return _KINDS[kind]
    except KeyError:
        raise KeyError(f"no op has kind {kind!r}; known kinds: {', '.join(known_kinds())}") \
            from None


class Op(nn.Module):
    """Base class of all IR ops.

    Subclasses set ``kind`` (a unique string selectors match on) and ``arity`` and implement
    ``forward``; their docstring states the math. A subclass that does not set ``kind``
    inherits its parent's, so it is selected and explained like its parent.

    Attributes
    ----------
    kind : str
        The op kind selectors match on (``"linear"``, ``"conv"``, ``"relu"``, …).
    arity : int or None
        Number of inputs (``None``: any number ≥ 1).
    rule_inputs : bool
        ``True`` when every input after the first is the network's input x, passed only so
        that rules can expand the op from it (``RBFDuels``, ``DistancePool``); the forward
        does not compute with it, and the op's representation is its first input.
    copies : tuple of str
        Submodules that copy another node's layer for the rules (``"geometry"``: the
        distance layer), left out of :meth:`n_parameters` so a graph counts them once.
    """

    kind = "op"
    arity: int | None = 1
    rule_inputs: bool = False
    copies: tuple = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__:
            owner = _KINDS.get(cls.kind)
            if owner is not None and owner.__qualname__ != cls.__qualname__:
                raise TypeError(f"op kind {cls.kind!r} of {cls.__qualname__} is already "
                                f"declared by {owner.__module__}.{owner.__qualname__}")
            _KINDS[cls.kind] = cls

    def n_parameters(self) -> int:
        """Number of scalars held in the op's buffers, without the copies of other nodes'
        layers that it keeps for its rules (``copies``)."""
        return sum(b.numel() for name, b in self.named_buffers()
                   if name.split(".")[0] not in self.copies)


class Elementwise(Op):
    """Category: shape-preserving activations y_i = g(x_i) (default rule: pass-through)."""

    kind = "elementwise"


class Summation(Op):
    """Category: linear maps with fixed non-negative weights, y_k = Σ_j c_jk x_j, c ≥ 0.

    Sums of branches (``Add``), sums and means over axes, average pooling. Their default
    rule splits relevance in proportion to the contributions c_jk x_j.
    """

    kind = "summation"


class Routing(Op):
    """Category: ops that move values without arithmetic (concatenate, reshape, index).

    Relevance is routed back exactly (the transpose of the index map).
    """

    kind = "routing"


def as_tuple(value, n: int) -> tuple:
    """``value`` repeated ``n`` times, or checked to hold ``n`` values."""
    if isinstance(value, Sequence):
        if len(value) != n:
            raise ValueError(f"expected {n} values, got {tuple(value)}")
        return tuple(value)
    return (value,) * n
