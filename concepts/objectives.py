"""What activation maximization maximizes: objectives on any node of a :class:`neon.Graph`.

An objective maps the values of a few nodes to one number per sample, J(x) ∈ ℝ for every
sample of a batch, with autograd on:

=========================================  ===============================================
:func:`unit` ``(node, index)``             J = a[index], one element of the node's value
:func:`channel` ``(node, c)``              J = mean_p a[c, p], channel c averaged over the
                                           positions p (a unit for a node without positions)
:func:`direction` ``(node, v)``            J = mean_p a_p·v (channel vectors v), or the
                                           flattened a·v (a CAV); with ``cosine_power`` q,
                                           (a·v) · max(0.1, cos(a, v))^q
:func:`output` ``(target)``                J = Σ_c mask_c f_c: the explained output (class
                                           logit, k-means cluster logit, outlierness, …),
                                           the target read as in :func:`lrp.explain`
=========================================  ===============================================

Objectives combine linearly, ``unit(...) + 2 * channel(...) - output(0)``, into a new
objective J = Σ_i w_i J_i (also ``-J``, ``J / 2`` and ``sum([...])``).

Every objective knows the nodes it needs (:meth:`Objective.nodes`), so one
``graph.activations(x, keep=objective.nodes(graph))`` pass feeds :meth:`Objective.evaluate`;
``objective(graph, x)`` does both.

References
----------
Erhan, Bengio, Courville, Vincent, "Visualizing higher-layer features of a deep network",
Univ. Montréal TR 1341, 2009 (units); Simonyan, Vedaldi, Zisserman, "Deep inside
convolutional networks", ICLR workshop 2014 (class scores); Olah, Mordvintsev, Schubert,
"Feature visualization", Distill 2017 (channels, directions, the cosine-weighted direction
objective); Kim et al., "Interpretability beyond feature attribution: TCAV", ICML 2018 (CAVs).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from lrp.calls import explained_node, target_mask
from lrp.rules.base import check_number
from lrp.targets import Column

__all__ = ["Objective", "unit", "channel", "direction", "output", "COSINE_FLOOR"]

#: The floor of the cosine factor of :func:`direction`: (a·v) · max(COSINE_FLOOR, cos)^q.
COSINE_FLOOR = 0.1


def _node_name(node, what: str) -> str:
    if not isinstance(node, str):
        raise TypeError(f"{what}: node must be a node or module name (a string), got "
                        f"{node!r}")
    return node


def _finite_coefficient(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.number)):
        if isinstance(value, torch.Tensor) and value.numel() == 1 and \
                value.dtype.is_floating_point:
            value = float(value)
        else:
            raise TypeError(f"{what}: an objective can be scaled by a real number, got "
                            f"{value!r} ({type(value).__name__})")
    return check_number(value, what, minimum=-math.inf)


def _is_callable_target(t) -> bool:
    return callable(t) and not isinstance(t, (torch.Tensor, np.ndarray, Column))


class Objective:
    """Base of all objectives: J(x), one value per sample.

    Subclasses implement :meth:`nodes`, :meth:`evaluate` and ``__repr__``; the arithmetic
    (``+``, ``-``, unary ``-``, scalar ``*`` and ``/``) builds a linear combination.
    """

    __array_ufunc__ = None          # numpy scalars defer to our arithmetic

    def nodes(self, graph) -> list:
        """The resolved names of the nodes :meth:`evaluate` reads (``graph.node_of``
        resolves each; a KeyError lists close names for an unknown one)."""
        raise NotImplementedError

    def evaluate(self, graph, values: dict, rows=None) -> torch.Tensor:
        """J per sample, shape (N,), from ``values`` = ``graph.activations(..., keep=
        self.nodes(graph))``.

        ``rows`` (N,) long: which of the targets given per start each sample belongs to
        (only :func:`output` with one target per start reads it; default: sample i is
        start i).
        """
        raise NotImplementedError

    def check(self, graph, values: dict, n: int) -> None:
        """Refuse an objective that does not fit the node values (an index out of range, a
        direction of the wrong length, a target the output does not have); ``n`` is the
        number of starts. Called once before optimizing."""
        self.evaluate(graph, values)

    def is_linear(self, graph) -> bool:
        """Whether J is a linear function of the node values it reads (so an objective on
        affine nodes is affine in x); used by the boundedness checks."""
        return False

    def __call__(self, graph, x) -> torch.Tensor:
        """J at inputs ``x`` (validated by ``graph.check_inputs``), shape (N,); autograd
        flows to ``x`` when it requires grad."""
        (batch,) = graph.check_inputs(x)
        values = graph.activations(batch, validated=True, keep=self.nodes(graph))
        return self.evaluate(graph, values)

    # ------------------------------------------------------------------ arithmetic
    def terms(self) -> list:
        """(weight, objective) pairs of J = Σ w_i J_i (one pair for a simple objective)."""
        return [(1.0, self)]

    def __add__(self, other):
        if isinstance(other, numbers.Number) and not isinstance(other, bool) and other == 0:
            return self                       # sum([...]) starts from 0
        if not isinstance(other, Objective):
            raise TypeError(f"an objective can be added to another objective, got "
                            f"{other!r} ({type(other).__name__}); constants do not change "
                            "the maximizer")
        return Combination(self.terms() + other.terms())

    def __radd__(self, other):
        return self.__add__(other)

    def __sub__(self, other):
        if not isinstance(other, Objective):
            raise TypeError(f"an objective can be subtracted from another objective, got "
                            f"{other!r} ({type(other).__name__})")
        return self + (-other)

    def __rsub__(self, other):
        return (-self).__add__(other)

    def __neg__(self):
        return Combination([(-w, o) for w, o in self.terms()])

    def __mul__(self, scale):
        s = _finite_coefficient(scale, "objective scale")
        return Combination([(s * w, o) for w, o in self.terms()])

    def __rmul__(self, scale):
        return self.__mul__(scale)

    def __truediv__(self, scale):
        s = _finite_coefficient(scale, "objective divisor")
        if s == 0:
            raise ZeroDivisionError("an objective cannot be divided by 0")
        return self.__mul__(1.0 / s)


class Combination(Objective):
    """J = Σ_i w_i J_i, built by the arithmetic of :class:`Objective`."""

    def __init__(self, terms):
        merged: list = []
        for w, o in terms:
            merged.append((float(w), o))
        self._terms = merged

    def terms(self):
        return list(self._terms)

    def nodes(self, graph):
        names = []
        for _, o in self._terms:
            names += o.nodes(graph)
        return list(dict.fromkeys(names))

    def evaluate(self, graph, values, rows=None):
        total = None
        for w, o in self._terms:
            v = o.evaluate(graph, values, rows) * w
            total = v if total is None else total + v
        return total

    def check(self, graph, values, n):
        for _, o in self._terms:
            o.check(graph, values, n)

    def is_linear(self, graph):
        return all(o.is_linear(graph) for _, o in self._terms)

    def __repr__(self):
        out = ""
        for i, (w, o) in enumerate(self._terms):
            sign = "-" if w < 0 else "+"
            mag = abs(w)
            body = repr(o) if mag == 1 else f"{mag:g} * {o!r}"
            if i == 0:
                out = ("-" if w < 0 else "") + body
            else:
                out += f" {sign} {body}"
        return out


# ---------------------------------------------------------------------------- unit

def _per_sample(values, name, what):
    a = values[name]
    if a.dim() < 1:
        raise ValueError(f"{what}: node {name!r} has a value of shape {tuple(a.shape)} "
                         "without a batch axis")
    return a


class Unit(Objective):
    """J = a[index]: one element of node ``node``'s value for each sample."""

    def __init__(self, node, index):
        self.node = _node_name(node, "unit")
        if isinstance(index, (tuple, list)):
            if not index or not all(isinstance(i, (int, np.integer)) and not isinstance(
                    i, bool) for i in index):
                raise TypeError(f"unit: index must be an int (into the flattened activation) "
                                f"or a non-empty tuple of ints (into one sample's shape), got "
                                f"{index!r}")
            self.index = tuple(int(i) for i in index)
        elif isinstance(index, (int, np.integer)) and not isinstance(index, bool):
            self.index = int(index)
        else:
            raise TypeError(f"unit: index must be an int (into the flattened activation) or a "
                            f"tuple of ints (into one sample's shape), got {index!r}")

    def nodes(self, graph):
        return [graph.node_of(self.node)]

    def _flat_index(self, shape, name):
        size = int(np.prod(shape)) if shape else 1
        if isinstance(self.index, int):
            if not -size <= self.index < size:
                raise IndexError(f"unit index {self.index} is out of range for node {name!r}, "
                                 f"whose value has {size} elements per sample (shape "
                                 f"{tuple(shape)})")
            return self.index % size
        if len(self.index) != len(shape):
            raise IndexError(f"unit index {self.index} has {len(self.index)} entries, but "
                             f"node {name!r} has per-sample shape {tuple(shape)}")
        for i, s in zip(self.index, shape):
            if not -s <= i < s:
                raise IndexError(f"unit index {self.index} is out of range for node "
                                 f"{name!r} of per-sample shape {tuple(shape)}")
        return int(np.ravel_multi_index(tuple(i % s for i, s in zip(self.index, shape)),
                                        shape))

    def evaluate(self, graph, values, rows=None):
        name = graph.node_of(self.node)
        a = _per_sample(values, name, "unit")
        k = self._flat_index(tuple(a.shape[1:]), name)
        return a.reshape(a.shape[0], -1)[:, k]

    def is_linear(self, graph):
        return True

    def __repr__(self):
        return f"unit({self.node!r}, {self.index!r})"


class Channel(Objective):
    """J = mean over positions p of a[c, p] (node values of shape (N, C, *positions))."""

    def __init__(self, node, c):
        self.node = _node_name(node, "channel")
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)):
            raise TypeError(f"channel: c must be a channel index (an int), got {c!r}")
        self.c = int(c)

    def nodes(self, graph):
        return [graph.node_of(self.node)]

    def evaluate(self, graph, values, rows=None):
        name = graph.node_of(self.node)
        a = _per_sample(values, name, "channel")
        if a.dim() < 2:
            raise ValueError(f"channel: node {name!r} has one value per sample (shape "
                             f"{tuple(a.shape)}), no channel axis; use output() or unit()")
        channels = a.shape[1]
        if not -channels <= self.c < channels:
            raise IndexError(f"channel {self.c} is out of range for node {name!r}, which has "
                             f"{channels} channels (axis 1 of shape {tuple(a.shape)})")
        return a[:, self.c].reshape(a.shape[0], -1).mean(1)

    def is_linear(self, graph):
        return True

    def __repr__(self):
        return f"channel({self.node!r}, {self.c})"


class Direction(Objective):
    """J = mean_p s_p · g_p with s_p = a_p·v and g_p = max(0.1, cos(a_p, v))^q (g = 1
    without ``cosine_power``). a_p is the channel vector at position p when ``v`` has one
    entry per channel of a node with positions, else the flattened per-sample activation
    (one "position": a CAV lives there)."""

    def __init__(self, node, v, cosine_power=None):
        from .cav import CAV

        self.cav = v if isinstance(v, CAV) else None
        if self.cav is not None:
            if node is None:
                node = v.node
            vector = v.direction
        else:
            if node is None:
                raise TypeError("direction: node is None; it may be omitted only for a CAV, "
                                "which knows its node")
            vector = v
        self.node = _node_name(node, "direction")
        if hasattr(vector, "to_numpy") and not isinstance(vector, np.ndarray):
            vector = vector.to_numpy()
        if not isinstance(vector, (torch.Tensor, np.ndarray, list, tuple)):
            raise TypeError(f"direction: v must be a tensor, an array or a concepts.CAV, got "
                            f"{type(vector).__name__}")
        t = torch.as_tensor(np.asarray(vector) if not isinstance(vector, torch.Tensor)
                            else vector.detach())
        if t.dtype == torch.bool or not (t.is_floating_point() or t.dtype in (
                torch.int32, torch.int64)):
            raise TypeError(f"direction: v must hold real numbers, got dtype {t.dtype}")
        t = t.reshape(-1).double() if not t.is_floating_point() else t.reshape(-1)
        if t.numel() == 0:
            raise ValueError("direction: v is empty")
        if not bool(torch.isfinite(t).all()):
            raise ValueError("direction: v contains NaN or infinite values")
        if float(t.abs().max()) == 0:
            raise ValueError("direction: v is the zero vector; it has no direction")
        self.v = t.clone()
        self.cosine_power = None if cosine_power is None else check_number(
            cosine_power, "cosine_power")

    def nodes(self, graph):
        name = graph.node_of(self.node)
        if self.cav is not None and graph.node_of(self.cav.node) != name:
            raise ValueError(f"direction: the CAV was fitted at node {self.cav.node!r}, not "
                             f"at {name!r}; its direction means nothing elsewhere")
        return [name]

    def _positions(self, a, name):
        """(N, P, D) vectors a_p."""
        n = a.shape[0]
        size = a[0].numel()
        d = self.v.numel()
        if d == size:
            return a.reshape(n, 1, size)
        if a.dim() >= 3 and d == a.shape[1]:
            return a.reshape(n, d, -1).transpose(1, 2)
        channels = f" or its {a.shape[1]} channels" if a.dim() >= 3 else ""
        raise ValueError(f"direction: v has {d} entries, but node {name!r} has "
                         f"{size} values per sample (shape {tuple(a.shape[1:])}){channels}; "
                         "give one entry per value (a CAV) or per channel")

    def evaluate(self, graph, values, rows=None):
        name = graph.node_of(self.node)
        a = _per_sample(values, name, "direction")
        vectors = self._positions(a, name)
        v = self.v.to(device=a.device, dtype=a.dtype)
        s = vectors @ v                                           # (N, P)
        if self.cosine_power is not None:
            norm = vectors.norm(dim=2) * v.norm()
            tiny = torch.finfo(a.dtype).tiny
            cos = s / norm.clamp_min(tiny)
            s = s * cos.clamp_min(COSINE_FLOOR) ** self.cosine_power
        return s.mean(1)

    def is_linear(self, graph):
        return self.cosine_power is None

    def __repr__(self):
        v = repr(self.cav) if self.cav is not None else f"<vector of {self.v.numel()}>"
        power = "" if self.cosine_power is None else f", cosine_power={self.cosine_power:g}"
        return f"direction({self.node!r}, {v}{power})"


class Output(Objective):
    """J = Σ_c mask_c f_c: the explained output (logits before an output softmax) with the
    mask :func:`lrp.calls.target_mask` reads from ``target``."""

    def __init__(self, target=None):
        self.target = target
        if isinstance(target, Objective):
            raise TypeError("output: target is an objective; pass a label or column index")

    def nodes(self, graph):
        return [explained_node(graph)]

    def _target(self, rows):
        t = self.target
        if t is None or _is_callable_target(t) or rows is None:
            return t
        if isinstance(t, Column):
            return t if t.index.ndim == 0 else Column(t.index[rows.cpu().numpy()])
        if isinstance(t, torch.Tensor):
            return t if t.dim() == 0 else t[rows.to(t.device)]
        arr = np.asarray(t.to_numpy() if hasattr(t, "to_numpy") else t)
        return arr if arr.ndim == 0 else arr[rows.cpu().numpy()]

    def evaluate(self, graph, values, rows=None):
        out = values[explained_node(graph)]
        target = self._target(rows)
        if target is None and graph.default_target is None and out.dim() == 2 and \
                out.shape[1] > 1:
            raise ValueError(
                f"output(): this graph has {out.shape[1]} outputs and declares no default "
                "target; name the class or cluster to maximize, output(target=...) (the "
                "predicted class would change as the input moves)")
        mask = target_mask(graph, out, target)
        return (out * mask).reshape(out.shape[0], -1).sum(1)

    def check(self, graph, values, n):
        t = self.target
        if t is not None and not _is_callable_target(t):
            if isinstance(t, Column):
                shape = t.index.shape
            elif isinstance(t, torch.Tensor):
                shape = tuple(t.shape)
            else:
                shape = np.shape(t.to_numpy() if hasattr(t, "to_numpy") else t)
            if len(shape) >= 1 and shape[0] != n:
                raise ValueError(f"output: give one target for all starts or one per start; "
                                 f"got {shape[0]} targets for {n} starts")
        self.evaluate(graph, values)

    def is_linear(self, graph):
        t = self.target
        if _is_callable_target(t):
            return False
        return not (t is None and graph.default_target is not None)

    def __repr__(self):
        return "output()" if self.target is None else f"output(target={self.target!r})"


# ---------------------------------------------------------------------------- builders

def unit(node: str, index) -> Objective:
    """One element of a node's value: J(x) = a_node(x)[index].

    Parameters
    ----------
    node : str
        A node, input or source-module name (:meth:`neon.Graph.node_of`).
    index : int or tuple of int
        An int indexes the flattened per-sample value (negative from the end); a tuple
        indexes one sample's shape, e.g. ``(channel, row, column)``.

    Returns
    -------
    Objective

    References
    ----------
    Erhan et al., "Visualizing higher-layer features of a deep network", 2009.
    """
    return Unit(node, index)


def channel(node: str, c: int) -> Objective:
    """Channel ``c`` of a node averaged over its positions: J(x) = (1/P) Σ_p a[c, p].

    For a node of shape (N, C) without positions this is the unit ``c``.

    Parameters
    ----------
    node : str
    c : int
        The channel (axis 1 of the node's value).

    References
    ----------
    Olah, Mordvintsev, Schubert, "Feature visualization", Distill 2017.
    """
    return Channel(node, c)


def direction(node, v, cosine_power=None) -> Objective:
    """A direction in a node's activation space.

    Without ``cosine_power``: J(x) = (1/P) Σ_p a_p·v, with a_p the channel vector at position
    p when ``v`` has one entry per channel of a node with positions (N, C, *positions), and
    the whole flattened per-sample activation (P = 1) when ``v`` has one entry per value —
    what a :class:`concepts.CAV` is; for nodes without positions the plain dot product.
    With ``cosine_power`` q ≥ 0:

        J(x) = (1/P) Σ_p (a_p·v) · max(0.1, cos(a_p, v))^q,

    which rewards pointing along v, not only a large projection (Olah et al. 2017).

    Parameters
    ----------
    node : str or None
        The node (None: a CAV's own node).
    v : tensor, array or concepts.CAV
        The direction, used as given (a CAV's is a unit vector); not all zeros.
    cosine_power : float, optional
        q ≥ 0.

    References
    ----------
    Olah, Mordvintsev, Schubert, "Feature visualization", Distill 2017; Kim et al., "TCAV",
    ICML 2018.
    """
    return Direction(node, v, cosine_power)


def output(target=None) -> Objective:
    """The graph's explained output for ``target``: J(x) = Σ_c mask_c f_c(x).

    f is the explained node (the logits before an output softmax; a neuralized k-means'
    cluster logits f_c = min_{k≠c} ‖x − μ_k‖² − ‖x − μ_c‖²; a one-class SVM's or KDE's
    outlierness; a GMM's −log p); the mask is read from ``target`` as in :func:`lrp.explain`
    (:func:`lrp.calls.target_mask`): labels on labelled graphs (``output(target=2)`` is
    cluster 2 of a k-means), column indices on torch graphs, ``lrp.Column(k)`` for positions,
    a float mask, or one target per start. ``None``: the graph's declared default target, or
    its single output; a graph with several outputs and no default needs a target (the
    predicted class moves with x).

    References
    ----------
    Simonyan, Vedaldi, Zisserman, "Deep inside convolutional networks: visualising image
    classification models and saliency maps", ICLR workshop 2014.
    """
    return Output(target)
