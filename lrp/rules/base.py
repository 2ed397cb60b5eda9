"""The rule protocol, its numeric primitives, parameter validation and the default registry.

A rule maps the relevance ``R`` arriving at an op's output to relevances of its inputs:
``rule(op, inputs, output, R) -> [R_input, ...]``. A rule declares the op categories it
handles (``Rule.ops``, classes of :mod:`neon.ops`); an op's default rule is found by walking
its class hierarchy (:func:`default_rule`), so a subclass of a supported op is handled like
its parent.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import torch

__all__ = ["Rule", "EpsilonRule", "RuleError", "stabilize", "divide", "vjp", "default_rule",
           "register_default", "check_number", "check_callable", "check_flag", "check_choice",
           "format_value"]


class RuleError(TypeError):
    """A rule was matched to an op it cannot handle, or an op has no rule."""


# ---------------------------------------------------------------------------- validation

def check_number(value, name: str, *, minimum: float = 0.0, allow_inf: bool = False,
                 strict: bool = False, integer: bool = False) -> float | int:
    """``value`` as a float, refused unless it is a real number ≥ ``minimum`` (> if ``strict``).

    Booleans and strings are refused (``Epsilon('0.1')`` is a mistake, not a number); NaN
    always; infinity unless ``allow_inf``. ``integer``: the value must be an integer (not a
    float) and is returned as an ``int``. The message names the parameter and the value.
    """
    if integer:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an integer, got {value!r} "
                            f"({type(value).__name__})")
        value = int(value)
        if value < minimum or (strict and value == minimum):
            relation = ">" if strict else "≥"
            raise ValueError(f"{name} must be {relation} {minimum:g}, got {value}")
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if isinstance(value, torch.Tensor) and value.numel() == 1 and \
                value.dtype.is_floating_point:
            value = float(value)
        else:
            raise TypeError(f"{name} must be a real number, got {value!r} "
                            f"({type(value).__name__})")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name} must be a number, got NaN")
    if math.isinf(value) and not allow_inf:
        raise ValueError(f"{name} must be finite, got {value}")
    if value < minimum or (strict and value == minimum):
        relation = ">" if strict else "≥"
        raise ValueError(f"{name} must be {relation} {minimum:g}, got {value:g}")
    return value


def check_callable(value, name: str):
    """``value`` if it is ``None`` or callable; else a TypeError naming the parameter."""
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable (a function of a tensor), got {value!r}")
    return value


def check_flag(value, name: str) -> bool:
    """``value`` if it is ``True`` or ``False``; else a TypeError naming the parameter
    (``zero_bias=1`` or ``strict="yes"`` are refused rather than read as truthy)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def check_choice(value, name: str, choices: tuple):
    """``value`` if it is one of ``choices`` (compared with ``==``, types included); else a
    ValueError naming the parameter, the value and the choices."""
    if not any(value is c or (type(value) is type(c) and value == c) for c in choices):
        options = ", ".join(map(repr, choices))
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def format_value(value) -> str:
    """A parameter value as Python source: ``repr``, except ±infinity as ``math.inf``."""
    if isinstance(value, float) and math.isinf(value):
        return "math.inf" if value > 0 else "-math.inf"
    return repr(value)


# ---------------------------------------------------------------------------- primitives

def stabilize(z: torch.Tensor, epsilon: float | torch.Tensor) -> torch.Tensor:
    """z + ε·sign(z), with sign(0) = +1 (zennit's stabilizer). Returns a new tensor."""
    eps = torch.as_tensor(epsilon, dtype=z.dtype, device=z.device)
    return torch.where(z >= 0, eps, -eps).add_(z)


def divide(r: torch.Tensor, z: torch.Tensor, epsilon) -> torch.Tensor:
    """r / stabilize(z, ε); with ε = 0, units with z = 0 pass nothing (no 0/0 NaN)."""
    if isinstance(epsilon, torch.Tensor) or epsilon > 0:
        d = stabilize(z, epsilon)
        return torch.div(r, d, out=d) if d.shape == r.shape else r / d
    zero = z == 0
    return torch.where(zero, torch.zeros_like(r), r / torch.where(zero, torch.ones_like(z), z))


def vjp(op, inputs, grad_out):
    """Vector-Jacobian product of ``op`` at ``inputs``: [gᵀ ∂op/∂x_i for each input]."""
    with torch.enable_grad():
        xs = [x.detach().requires_grad_(True) for x in inputs]
        out = op(*xs)
        return list(torch.autograd.grad(out, xs, grad_out, allow_unused=True))


# ---------------------------------------------------------------------------- base class

class Rule:
    """Base of all rules.

    Attributes
    ----------
    ops : tuple of op classes, or None
        The op categories (:mod:`neon.ops` classes) the rule can handle; an op is handled when
        it is an instance of one of them. ``None`` means any op.
    """

    ops: tuple | None = None

    def handles(self, op) -> bool:
        """Whether this rule can be applied to ``op``."""
        return self.ops is None or isinstance(op, self.ops)

    def handled(self) -> str:
        """The categories this rule handles, in words (for error messages)."""
        if self.ops is None:
            return "any op"
        from neon.ops import known_kinds, op_class

        categories = {getattr(c, "kind", None) for c in self.ops}
        kinds = [k for k in known_kinds(sort=False) if issubclass(op_class(k), self.ops)
                 and not (k in categories and op_class(k).__subclasses__())]
        names = ", ".join(c.__name__ for c in self.ops)
        return f"{names} ops (kinds {', '.join(map(repr, kinds))})"

    def check(self, op, inputs, where: str) -> None:
        """Refuse inputs the rule's assumptions exclude (called by the propagator before the
        rule runs; ``where`` names the node). The default accepts everything; ZBox refuses
        inputs outside its box."""

    def __call__(self, op, inputs, output, relevance):
        raise NotImplementedError

    def _params(self) -> dict:
        """The constructor's parameters and the values in use (what ``repr`` shows). The
        default: the public attributes; rules that store derived state override it."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self):
        """``Name(param=value, ...)``, valid Python that rebuilds the rule (for parameters that
        are plain numbers, strings or None; infinity is written ``math.inf``)."""
        args = ", ".join(f"{k}={format_value(v)}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"


class EpsilonRule(Rule):
    """Base of the rules whose one parameter is the stabilizer ε ≥ 0 of z + ε·sign(z)
    (validated here; ``repr`` shows it)."""

    def __init__(self, epsilon: float = 1e-6):
        self.epsilon = check_number(epsilon, "epsilon")

    def _params(self):
        return {"epsilon": self.epsilon}


# ----------------------------------------------------------------------- default rules

_DEFAULTS: dict[type, Callable[[], Rule]] = {}


def register_default(op_class: type, factory: Callable[[], Rule]) -> None:
    """Declare the rule ops of ``op_class`` (and its subclasses) get when no composite entry
    matches them. A subclass's own registration takes precedence over its parent's."""
    if not isinstance(op_class, type):
        raise TypeError(f"register_default takes an op class, got {op_class!r}")
    _DEFAULTS[op_class] = factory


def default_rule(op) -> Rule:
    """The default rule of ``op``: the one registered for the nearest class in its hierarchy.

    Raises :class:`RuleError` for an op no registered category covers.
    """
    for cls in type(op).__mro__:
        factory = _DEFAULTS.get(cls)
        if factory is not None:
            return factory()
    known = ", ".join(sorted(c.__name__ for c in _DEFAULTS))
    raise RuleError(f"op kind {getattr(op, 'kind', '?')!r} ({type(op).__name__}) has no "
                    f"default rule; op classes with defaults: {known}. Register one with "
                    "lrp.rules.register_default(OpClass, RuleClass).")
