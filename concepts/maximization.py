"""Activation maximization: the input a graph's unit, channel, direction or output likes
most, for any node of any :class:`neon.Graph` — CNN features, class logits, the cluster of a
neuralized k-means, the inliers of a one-class SVM.

    x* = argmax_{x ∈ C}  J(t(x)) − Σ_r λ_r R_r(x) + Σ_p λ_p log p(x)

with J an objective (:mod:`concepts.objectives`), t a random transform each step
(:mod:`concepts.transforms`), R_r regularizers (:mod:`concepts.regularizers`), p priors and C
the input constraints (:mod:`concepts.constraints`), x = x(z) a parameterization of the
optimized tensor z (:mod:`concepts.parameterizations`). Gradient ascent with Adam (or plain
gradient steps) from several seeded starts; the box is kept by projection (plain) or by
squashing (FFT); objectives that have no maximum on unconstrained inputs are refused
(:func:`concepts.constraints.check_bounded`) instead of diverging.

References
----------
Erhan, Bengio, Courville, Vincent, "Visualizing higher-layer features of a deep network",
2009; Simonyan, Vedaldi, Zisserman, "Deep inside convolutional networks", ICLR workshop
2014; Olah, Mordvintsev, Schubert, "Feature visualization", Distill 2017; Mordvintsev,
Pezzotti, Schubert, Olah, "Differentiable image parameterizations", Distill 2018; Nguyen,
Dosovitskiy, Yosinski, Brox, Clune, "Synthesizing the preferred inputs for neurons in neural
networks via deep generator networks", NeurIPS 2016.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import numpy as np
import torch

from lrp.calls import check_graph, check_seed
from lrp.rules.base import check_choice, check_flag, check_number
from neon.graph import GraphInputError

from . import parameterizations as _params
from .constraints import DataDistance, DensityPrior, Integer, OneHot, check_bounded, resolve_box
from .nodes import as_batch
from .objectives import Objective
from .regularizers import Regularizer
from .transforms import Transform, compose

__all__ = ["maximize", "MaximizationResult", "OPTIMIZERS", "SCHEDULES"]

#: The optimizers: Adam (Kingma & Ba 2015) and plain gradient steps x ← x + lr ∇F.
OPTIMIZERS = ("adam", "sgd")

#: Step-size schedules: cosine decay from lr to 0 over the steps, or constant.
SCHEDULES = ("cosine", "constant")

#: Scale of the drawn start without data or a box: x ~ N(0, START_SD²) per element.
START_SD = 0.1


@dataclass
class Problem:
    """What the pieces of one maximization share (internal)."""

    graph: object
    shape: tuple
    dtype: torch.dtype
    device: torch.device
    starts: int
    parameterization: object = None
    box: tuple | None = None
    constraints: list = field(default_factory=list)
    feature_names: list | None = None
    center: torch.Tensor | None = None
    scale: float = 1.0
    offset: torch.Tensor | float = 0.0
    units: torch.Tensor | float = 1.0
    upper: torch.Tensor | float = 1.0
    groups: list = field(default_factory=list)
    start_values: dict | None = None

    def describe(self, objective) -> str:
        return f"the objective {objective!r}"


@dataclass
class MaximizationResult:
    """The prototypes of one :func:`maximize` call.

    Attributes
    ----------
    inputs : ndarray or tensor, shape (starts, *shape)
        The maximizers found, one per start, after the final projections (one-hot groups,
        integers, box). numpy when the start or the data were numpy (or pandas), else tensors.
    trajectory : ndarray or tensor, shape (steps, starts)
        J at each step's (transformed, relaxed) input, before the step.
    regularized : ndarray or tensor, shape (steps, starts)
        The maximized F = J + Σ terms (regularizers and priors) at each step.
    objective : ndarray or tensor, shape (starts,)
        J at ``inputs`` (no transform).
    activations : dict
        The objective's node values at ``inputs``, by resolved node name, (starts, ...).
    order : ndarray, shape (starts,)
        Start indices by decreasing final objective.
    spec : Objective
        What was maximized.
    box : tuple of (low, high) or None
        The box used, each of one sample's shape.
    feature_names : list of str or None
        The graph's feature names (tabular graphs).
    """

    inputs: object
    trajectory: object
    regularized: object
    objective: object
    activations: dict
    order: np.ndarray
    spec: Objective
    box: tuple | None = None
    feature_names: list | None = None

    def best(self, k: int = 1):
        """The inputs of the ``k`` starts with the largest final objective, best first,
        shape (k, *shape)."""
        k = check_number(k, "k", minimum=1, integer=True)
        n = len(self.order)
        if k > n:
            raise ValueError(f"k = {k} exceeds the number of starts ({n})")
        return self.inputs[self.order[:k].tolist()] if isinstance(self.inputs, torch.Tensor) \
            else self.inputs[self.order[:k]]

    def __repr__(self):
        obj = self.objective
        values = obj.tolist() if hasattr(obj, "tolist") else list(obj)
        shown = ", ".join(f"{v:.4g}" for v in values[:4]) + (", …" if len(values) > 4 else "")
        shape = tuple(self.inputs.shape)
        return (f"MaximizationResult({self.spec!r}: {shape[0]} start(s) of shape {shape[1:]}, "
                f"{len(self.trajectory)} steps, objective [{shown}])")


# ---------------------------------------------------------------------------- checks

def _check_objective(objective):
    if not isinstance(objective, Objective):
        raise TypeError("objective must be a concepts objective (concepts.unit, channel, "
                        "direction, output, or sums and scalings of them), got "
                        f"{type(objective).__name__}")


def _as_list(value, name, kinds, what):
    if value is None:
        return []
    items = [value] if isinstance(value, kinds) else value
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
        raise TypeError(f"{name} must be a {what} or a list of them, got {value!r}")
    items = list(items)
    for item in items:
        if not isinstance(item, kinds):
            raise TypeError(f"{name} must hold {what}, got {item!r} "
                            f"({type(item).__name__})")
    return items


def _batch(value, graph, name, rank):
    """A validated (n, *shape) tensor of ``value``; one sample gets a batch axis."""
    if not (isinstance(value, (torch.Tensor, np.ndarray)) or hasattr(value, "columns")):
        if name == "start":
            raise TypeError(f"start must be a tensor, an array or a DataFrame, got "
                            f"{type(value).__name__}")
    try:
        if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim == rank:
            value = value[None]
        if name == "start":
            (batch,) = graph.check_inputs(value)
        else:
            batch = as_batch(value, graph, name)
    except GraphInputError as err:
        raise ValueError(f"{name}: {err}") from None
    if batch.shape[0] == 0:
        raise ValueError(f"{name} holds no samples; give at least one")
    return batch


def _sample_shape(graph, shape, start, data):
    spec = graph.input_specs[0]
    rank = len(spec.shape)
    given = None
    if shape is not None:
        if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
            shape = (shape,)
        if not isinstance(shape, (tuple, list, torch.Size)) or not all(
                isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0
                for s in shape):
            raise TypeError(f"shape must be one sample's shape, a tuple of positive ints, got "
                            f"{shape!r}")
        given = tuple(int(s) for s in shape)
        if len(given) != rank or any(w is not None and w != g for w, g in zip(spec.shape,
                                                                                given)):
            raise ValueError(f"shape {given} does not fit the graph's input "
                             f"{spec.describe()} (one sample's shape, without the batch axis)")
    for what, batch in (("start", start), ("data", data)):
        if batch is None:
            continue
        s = tuple(batch.shape[1:])
        if given is not None and s != given:
            raise ValueError(f"{what} has samples of shape {s}, but the maximized input has "
                             f"shape {given}; give a {what} of shape (n, *{given})")
        given = s
    if given is None:
        if any(s is None for s in spec.shape):
            raise ValueError(f"the graph's input {spec.describe()} has free axes: give "
                             "shape=(one sample's shape), a start or data")
        given = tuple(spec.shape)
    return given


def _default_start(problem, data, generator):
    n, shape = problem.starts, problem.shape
    if data is not None:
        if n <= data.shape[0]:
            idx = torch.randperm(data.shape[0], generator=generator)[:n]
        else:
            idx = torch.randint(data.shape[0], (n,), generator=generator)
        return data[idx.to(data.device)].to(problem.dtype).clone()
    if problem.box is not None:
        low, high = problem.box
        u = torch.rand((n, *shape), generator=generator, dtype=problem.dtype)
        return low + (high - low) * u.to(problem.device)
    x = torch.randn((n, *shape), generator=generator, dtype=problem.dtype) * START_SD
    return x.to(problem.device)


def _plain_units(problem, data, onehot):
    """(a, s, a + s) of the plain parameterization x = a + s ⊙ z: the box's low, width and
    high, else 0 and the data's spread per element (1 where there is none); one-hot columns
    a = 0, s = 1."""
    zeros = torch.zeros(problem.shape, dtype=problem.dtype, device=problem.device)
    b = None
    if problem.box is not None:
        low, high = problem.box
        a, s, b = low.clone(), high - low, high.clone()
    elif data is not None and data.shape[0] > 1:
        std = data.to(problem.dtype).std(0)
        a, s = zeros, torch.where(std > 0, std, torch.ones_like(std))
    else:
        a, s = zeros, torch.ones_like(zeros)
    a = torch.where(onehot, zeros, a)
    s = torch.where(onehot, torch.ones_like(s), s)
    b = a + s if b is None else torch.where(onehot, torch.ones_like(b), b)
    return a, s, b


def _scale(values) -> float:
    if values is None:
        return 1.0
    s = float(values.double().std()) if values.numel() > 1 else 0.0
    r = float(values.double().abs().mean())
    s = s if s > 0 else r
    return s if s > 0 and np.isfinite(s) else 1.0


# ---------------------------------------------------------------------------- maximize

def maximize(graph, objective, *, start=None, shape=None, starts=1, steps=256, lr=0.05,
             optimizer="adam", regularizers=(), parameterization="plain", transforms=(),
             constraints=None, box=None, seed=0, data=None, progress=False,
             schedule="cosine"):
    """Find inputs that maximize ``objective`` on ``graph``.

    Maximizes F(x) = J(t(x)) − Σ_r λ_r R_r(x) + Σ_p λ_p log p(x) by ``steps`` steps of
    gradient ascent on the parameterization z of x = x(z), from ``starts`` starts at once
    (one batch):

        z ← z + step(∇_z F),  then x ← Π_C(x)  (clip to the box; one-hot groups: softmax),

    with t a random transform per step and the blur steps of :class:`concepts.Blur`. At the
    end one-hot groups and integer columns are projected and J is evaluated at the result.

    Parameters
    ----------
    graph : neon.Graph
        One input.
    objective : concepts objective
        :func:`concepts.unit`, :func:`concepts.channel`, :func:`concepts.direction`,
        :func:`concepts.output`, or a linear combination of them.
    start : tensor, array or DataFrame, optional
        (starts, *shape) starting inputs, or one sample's shape for one start (repeated when
        ``starts`` > 1). Must lie in the box. Default: random rows of ``data``; else uniform
        in the box; else N(0, 0.1²); for ``"fft"`` a random spectrum (sd 0.01).
    shape : tuple of int, optional
        One sample's shape, needed when the graph's input has free axes (a CNN's H, W) and
        neither a start nor data give it.
    starts : int
        The number of starts (≥ 1).
    steps : int
        Optimizer steps (≥ 1).
    lr : float
        Step size (> 0).
    optimizer : {"adam", "sgd"}
        Adam, or plain gradient steps z ← z + lr ∇F.
    regularizers : Regularizer or sequence
        :class:`concepts.L2`, :class:`concepts.L1`, :class:`concepts.TotalVariation`,
        :class:`concepts.Blur`, :class:`concepts.AlphaNorm` (and priors, as for
        ``constraints``).
    parameterization : {"plain", "fft"} or concepts.FFT
        Plain inputs, or (images) a 1/f-scaled spectrum with colour decorrelation, squashed
        into the box by a sigmoid when there is one.
    transforms : sequence of Transform
        (Images) :class:`concepts.Pad`, :class:`concepts.Jitter`, :class:`concepts.Scale`,
        :class:`concepts.Rotate`, applied in order each step with seeded random draws.
    constraints : constraint or sequence
        :class:`concepts.OneHot`, :class:`concepts.Integer` (tabular),
        :class:`concepts.DensityPrior`, :class:`concepts.DataDistance`.
    box : None, "data", False or (low, high)
        Bounds per element (numbers or arrays broadcast to one sample's shape). None: the
        data's elementwise range when ``data`` is given, else none; False: none.
    seed : int, torch.Generator or None
        Every random draw (starts, transforms) comes from it: the same call gives the same
        result.
    data : tensor, array, DataFrame or iterable of batches, optional
        Examples in input space: the default box, the default starts, the scale of the
        boundedness probe.
    progress : bool
        Print the objective every tenth of the steps (to stderr).
    schedule : {"cosine", "constant"}
        The step size at step k: lr · ½(1 + cos(π k / steps)) (cosine decay, so the last
        steps settle on a maximizer at a kink, such as a k-means logit's ridge), or lr.

    Returns
    -------
    MaximizationResult
        ``inputs`` (starts, *shape), ``trajectory`` (steps, starts), ``regularized``,
        ``objective`` (starts,), ``activations`` (the objective's nodes at the inputs),
        ``order`` (best first).

    Raises
    ------
    UnboundedObjectiveError
        Without a box, when the maximized function grows at least linearly along a ray (a
        linear model's output, a k-means cluster logit whose centroid is not in the hull of
        the others, a ReLU network's unit, an outlierness); give a box, a prior or L2.
    FloatingPointError
        When the objective or its gradient becomes non-finite during the ascent.

    References
    ----------
    Erhan et al. 2009; Simonyan et al. 2014; Olah et al., Distill 2017; Mordvintsev et al.,
    Distill 2018; Nguyen et al., NeurIPS 2016.
    """
    check_graph(graph, "concepts.maximize")
    if len(graph.input_specs) != 1:
        raise ValueError(f"concepts.maximize works on graphs with one input; this graph takes "
                         f"{len(graph.input_specs)} ({', '.join(graph.input_names)})")
    _check_objective(objective)
    starts = check_number(starts, "starts", minimum=1, integer=True)
    steps = check_number(steps, "steps", minimum=1, integer=True)
    lr = check_number(lr, "lr", strict=True)
    optimizer = check_choice(optimizer, "optimizer", OPTIMIZERS)
    schedule = check_choice(schedule, "schedule", SCHEDULES)
    progress = check_flag(progress, "progress")
    generator = check_seed(seed)
    param = _params.resolve(parameterization)
    regs = _as_list(regularizers, "regularizers", Regularizer,
                    "concepts regularizers (L2, L1, TotalVariation, Blur, AlphaNorm, "
                    "DensityPrior, DataDistance)")
    cons = _as_list(constraints, "constraints", (OneHot, Integer, DensityPrior, DataDistance),
                    "concepts constraints (OneHot, Integer, DensityPrior, DataDistance)")
    trans = _as_list(transforms, "transforms", Transform,
                     "concepts transforms (Pad, Jitter, Scale, Rotate)")
    rank = len(graph.input_specs[0].shape)
    to_numpy = any(v is not None and not isinstance(v, torch.Tensor) for v in (start, data))
    data_t = None if data is None else _batch(data, graph, "data", rank)
    start_t = None if start is None else _batch(start, graph, "start", rank)
    sample = _sample_shape(graph, shape, start_t, data_t)
    if start_t is not None:
        n = start_t.shape[0]
        if n == 1 and starts > 1:
            start_t = start_t.expand(starts, *sample).clone()
        elif starts not in (1, n):
            raise ValueError(f"start has {n} samples but starts={starts}; give one start per "
                             "start, or one to repeat")
        else:
            starts = n
    problem = Problem(graph=graph, shape=sample, dtype=graph.dtype, device=graph.device,
                      starts=starts, parameterization=param,
                      feature_names=graph.feature_names)
    param.check(problem)
    problem.box = resolve_box(box, data_t, problem)
    if trans and len(sample) != 3:
        raise ValueError(f"transforms are for images, one sample of shape (C, H, W); this "
                         f"input has one sample of shape {sample}")
    columns = [c for c in cons if isinstance(c, (OneHot, Integer))]
    terms = regs + [c for c in cons if isinstance(c, (DensityPrior, DataDistance))]
    problem.constraints = columns
    for part in terms + columns:
        part.check(problem)
    onehot = [c for g in columns if isinstance(g, OneHot) for c in g.columns()]
    if len(set(onehot)) != len(onehot):
        raise ValueError("OneHot: groups of different OneHot constraints overlap; a column "
                         "belongs to one group")
    if start_t is not None:
        start_t = start_t.to(problem.dtype)
        if problem.box is not None:
            low, high = problem.box
            out = (start_t < low) | (start_t > high)
            if bool(out.any()):
                raise ValueError(f"start lies outside the box at {int(out.sum())} element(s); "
                                 "clip it into the box, or widen the box")
    keep_onehot = torch.zeros(sample, dtype=torch.bool, device=problem.device)
    if onehot:
        keep_onehot[onehot] = True
    problem.center = (data_t.to(problem.dtype).mean(0) if data_t is not None else
                      torch.zeros(sample, dtype=problem.dtype, device=problem.device))
    problem.scale = _scale(data_t if data_t is not None else start_t)
    problem.offset, problem.units, problem.upper = _plain_units(problem, data_t, keep_onehot)
    problem.groups = [torch.as_tensor(g, device=problem.device) for c in columns
                      if isinstance(c, OneHot) for g in c._idx]
    x_start = start_t
    if x_start is None and param.name == "plain":
        x_start = _default_start(problem, data_t, generator)
    run = _Run(graph, objective, problem, param, terms, regs, columns, trans, keep_onehot,
               generator)
    p = run.start(x_start)
    check_bounded(graph, objective, problem, terms, run.evaluate)
    trajectory, regularized = run.ascend(p, steps, lr, optimizer, schedule, progress)
    x, final, acts = run.finish(p)
    order = torch.argsort(final.cpu(), descending=True, stable=True).numpy()
    box_out = problem.box
    if to_numpy:
        x, trajectory, regularized, final = (t.cpu().numpy() for t in (
            x, trajectory, regularized, final))
        acts = {k: v.cpu().numpy() for k, v in acts.items()}
        if box_out is not None:
            box_out = tuple(b.cpu().numpy() for b in box_out)
    return MaximizationResult(inputs=x, trajectory=trajectory, regularized=regularized,
                              objective=final, activations=acts, order=order, spec=objective,
                              box=box_out, feature_names=graph.feature_names)


class _Run:
    """One maximization's loop: F(x) = J(t(x)) + Σ terms(x) on the parameterization."""

    def __init__(self, graph, objective, problem, param, terms, regs, columns, trans,
                 keep_onehot, generator):
        self.graph, self.objective, self.problem, self.param = graph, objective, problem, param
        self.terms, self.regs, self.columns, self.trans = terms, regs, columns, trans
        self.keep_onehot, self.generator = keep_onehot, generator
        self.nodes = objective.nodes(graph)
        self.rows = torch.arange(problem.starts, device=problem.device)

    def total(self, j, x):
        """J plus the regularizer and prior terms at x."""
        for t in self.terms:
            v = t.term(x)
            if v is not None:
                j = j + v
        return j

    def objective_at(self, x, rows):
        values = self.graph.activations(x, validated=True, keep=self.nodes)
        return self.objective.evaluate(self.graph, values, rows), values

    def evaluate(self, x, rows):
        """F at inputs x (no transform), ``rows`` the start each sample belongs to."""
        return self.total(self.objective_at(x, rows)[0], x)

    def project(self, p):
        """Clip the plain parameterization's input into the box (one-hot columns aside)."""
        problem = self.problem
        if self.param.name != "plain" or problem.box is None:
            return
        with torch.no_grad():
            x = self.param.image(p, problem)
            x = torch.minimum(torch.maximum(x, problem.box[0]), problem.box[1])
            p.copy_(torch.where(self.keep_onehot, p, self.param.encode(x, problem)))

    def start(self, x_start):
        p = self.param.init(self.problem, x_start, self.generator)
        self.project(p)
        with torch.no_grad():
            x0 = self.param.image(p, self.problem)
            values = self.graph.activations(x0, validated=True, keep=self.nodes)
            self.objective.check(self.graph, values, self.problem.starts)
            self.problem.start_values = values
        return p

    def ascend(self, p, steps, lr, optimizer, schedule, progress):
        problem, param = self.problem, self.param
        p.requires_grad_(True)
        opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)([p], lr=lr)
        trajectory, regularized = [], []
        report = max(1, steps // 10)
        for step in range(steps):
            if schedule == "cosine":
                for group in opt.param_groups:
                    group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
            opt.zero_grad(set_to_none=True)
            with torch.enable_grad():
                x = param.image(p, problem)
                j, _ = self.objective_at(compose(self.trans, x, self.generator), self.rows)
                f = self.total(j, x)
                _check_finite(f, step, "objective")
                (-f.sum()).backward()
            _check_finite(p.grad, step, "gradient")
            opt.step()
            with torch.no_grad():
                for r in self.regs:
                    x = r.after_step(param.image(p, problem), step)
                    if x is not None:
                        p.copy_(param.encode(x, problem))
            self.project(p.data)
            trajectory.append(j.detach())
            regularized.append(f.detach())
            if progress and ((step + 1) % report == 0 or step == steps - 1):
                print(f"concepts.maximize: step {step + 1}/{steps}: objective max "
                      f"{float(j.detach().max()):.5g}, mean {float(j.detach().mean()):.5g}",
                      file=sys.stderr)
        return torch.stack(trajectory), torch.stack(regularized)

    def finish(self, p):
        """The result: the box clip, the one-hot and integer projections, J and the nodes."""
        problem = self.problem
        with torch.no_grad():
            x = self.param.image(p.detach(), problem).clone()
            if problem.box is not None:
                low, high = problem.box
                x = torch.where(self.keep_onehot, x, torch.minimum(torch.maximum(x, low), high))
            for c in self.columns:
                x = c.finish(x, problem)
            for c in self.columns:
                x = c.improve(x, lambda y: self.evaluate(y, self.rows))
            final, values = self.objective_at(x, self.rows)
            _check_finite(final, "the end", "objective at the result")
            if not bool(torch.isfinite(x).all()):
                raise FloatingPointError("the maximizer contains non-finite values; lower lr "
                                         "or bound the problem with a box or a prior")
            return x, final.detach(), {n: values[n].detach() for n in self.nodes}


def _check_finite(t, step, what):
    if t is None:
        raise FloatingPointError(f"the {what} has no gradient with respect to the input at "
                                 f"step {step}: the objective does not depend on the input")
    ok = torch.isfinite(t)
    if not bool(ok.all()):
        bad = (~ok).reshape(t.shape[0], -1).any(1).nonzero().flatten().tolist() \
            if t.dim() else []
        raise FloatingPointError(
            f"the {what} became non-finite (NaN or inf) at step {step}"
            + (f" for start(s) {bad[:8]}" if bad else "")
            + ": lower lr, or bound the problem with a box, a prior or an L2 penalty")
