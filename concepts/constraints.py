"""Input constraints and priors of activation maximization, and the boundedness check.

Hard constraints
    * a **box** low ≤ x ≤ high (per feature or per element; ``box="data"``, the default when
      ``data`` is given: the data's elementwise min and max), enforced by projection after
      every step (plain parameterization) or by the sigmoid squashing (FFT);
    * :class:`OneHot` groups of tabular columns: relaxed to the probability simplex during
      optimization (x_g = softmax(z_g), see :class:`concepts.parameterizations.Plain`),
      projected to the vertex of the largest entry at the end, then each group set to the
      category where the maximized F is largest (the other columns fixed);
    * :class:`Integer` columns: relaxed (continuous) during optimization, rounded to the
      nearest integer inside the box at the end, then moved to a neighbouring integer where
      F is larger, if any.

Priors (soft constraints; terms added to the maximized objective)
    * :class:`DensityPrior` ``(graph or callable, λ)``: + λ log p(x), from a neuralized
      KernelDensity, GaussianMixture or OneClassSVM graph or any callable x → log p(x)
      (Nguyen et al. 2016 use a learned prior; a density of the data is the tabular analogue);
    * :class:`DataDistance` ``(data, λ)``: − λ min_j ‖x − x_j‖², a pull toward the nearest
      data point.

Boundedness (:func:`check_bounded`)
    Without a box, the maximized function F(x) = J(x) + Σ terms(x) may be unbounded above, and
    gradient ascent then diverges. Refused, with a message asking for a box, a prior or an L2
    penalty, when F grows at least linearly along a ray x0 + t·r (t = 10, 100, 1000 times the
    data scale; growth confirmed numerically with the regularizers and priors included). The
    rays probed:

    (a) **affine graphs**: when every node between the input and the objective's nodes is
        affine (linear, conv, batch norm, scalers, PCA, sums, reshapes) and the objective is
        linear in those nodes (unit, channel, direction without cosine, output with a fixed
        target), J(x) = g·x + b, unbounded iff g ≠ 0 on a free coordinate (a neuralized
        linear model's output). Probed along sign(g) on the coordinates where |g| is largest,
        along sign(g) and along per-channel constants (which total variation does not see);
    (b) **k-means cluster logits** (``output(target=c)`` or a unit of the competition node,
        on input → distance → competition graphs): f_c(x) = min_{k≠c} w_ck·x + b_ck with
        w_ck = 2 M (μ_c − μ_k) (M the metric folded from the preprocessing) is concave and
        piecewise affine; it is unbounded above iff some r has w_ck·r > 0 for every k ≠ c,
        i.e. (Gordan's theorem) iff μ_c is not in the convex hull of the other centroids —
        always the case for K ≤ d + 1 centroids in general position. Decided by a linear
        program (scipy ``linprog``: w_ck·r − λ₁‖r‖₁ ≥ 1 for all k ≠ c, with λ₁ the total
        L1 weight), whose solution r is the ray probed;
    (c) the gradient ray ∇F(x0) and 8 random rays, for any other graph.

    Not detected: growth slower than about t^0.7 (√t, log t); growth that starts beyond
    t = 1000 data scales; unbounded directions that (c)'s few rays miss in nonlinear networks
    (e.g. a narrow cone of a ReLU network, a difference of k-means logits); and priors given
    as callables are trusted to decay.

References
----------
Nguyen, Dosovitskiy, Yosinski, Brox, Clune, "Synthesizing the
preferred inputs for neurons in neural networks via deep generator networks", NeurIPS 2016;
Kauffmann et al., "From clustering to cluster explanations via neural networks", IEEE TNNLS
2022 (the k-means network).
"""

from __future__ import annotations

import math
import numbers

import networkx as nx
import numpy as np
import torch

from lrp.rules.base import check_number
from neon.graph import GraphInputError

from .nodes import as_batch
from .regularizers import L1, Regularizer, _array, broadcast_to_sample

__all__ = ["OneHot", "Integer", "DensityPrior", "DataDistance", "UnboundedObjectiveError",
           "resolve_box", "check_bounded"]


class UnboundedObjectiveError(ValueError):
    """The maximized objective has no finite maximum on the allowed inputs."""


# ---------------------------------------------------------------------------- box

def resolve_box(box, data, problem):
    """(low, high) tensors of one sample's shape, or None.

    ``box``: None (the data's range when ``data`` is given, else no box), ``"data"``,
    ``False`` (no box even with data), or ``(low, high)`` with each a number or an array
    broadcast to one sample's shape (per feature (d,), per channel (C, 1, 1), per element).
    """
    if box is None:
        box = "data" if data is not None else False
    if box is False:
        return None
    if isinstance(box, str):
        if box != "data":
            raise ValueError(f"box must be None, 'data', False or (low, high), got {box!r}")
        if data is None:
            raise ValueError("box='data' needs data=...: the box is the data's elementwise "
                             "min and max")
        return data.amin(0).to(problem.dtype), data.amax(0).to(problem.dtype)
    if isinstance(box, (torch.Tensor, np.ndarray)) and box.ndim >= 1 and box.shape[0] == 2:
        low, high = box[0], box[1]
    elif isinstance(box, (tuple, list)) and len(box) == 2:
        low, high = box
    else:
        raise TypeError(f"box must be None, 'data', False or a pair (low, high) of numbers or "
                        f"arrays, got {type(box).__name__}"
                        + (f" of length {len(box)}" if hasattr(box, "__len__") else ""))
    low = broadcast_to_sample(_array(low, "box low"), problem.shape, "box low",
                              problem.dtype, problem.device)
    high = broadcast_to_sample(_array(high, "box high"), problem.shape, "box high",
                               problem.dtype, problem.device)
    bad = low > high
    if bool(bad.any()):
        i = tuple(int(v) for v in torch.nonzero(bad)[0])
        raise ValueError(f"box has min > max at {int(bad.sum())} element(s), e.g. at {i}: "
                         f"{float(low[i]):g} > {float(high[i]):g}; give low <= high")
    return low, high


# ---------------------------------------------------------------------------- columns

def _columns(cols, problem, what):
    """Column indices from ints or feature names, checked against the tabular width."""
    if len(problem.shape) != 1:
        raise ValueError(f"{what} is for tabular inputs (one sample of shape (d,)); this "
                         f"graph's input has one sample of shape {tuple(problem.shape)}")
    width = problem.shape[0]
    names = problem.feature_names
    out = []
    for c in cols:
        if isinstance(c, str):
            if names is None or c not in names:
                known = f"; the graph's feature names: {names[:8]}" if names else \
                    "; this graph declares no feature names, give column indices"
                raise ValueError(f"{what}: unknown feature name {c!r}{known}")
            out.append(names.index(c))
        elif isinstance(c, (int, np.integer)) and not isinstance(c, bool):
            if not -width <= c < width:
                raise IndexError(f"{what}: column {c} is out of range for {width} features")
            out.append(int(c) % width)
        else:
            raise TypeError(f"{what}: columns are ints or feature names, got {c!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"{what}: a column appears twice in {list(cols)!r}")
    return out


def _as_groups(groups, what):
    if isinstance(groups, (str, bytes)) or not hasattr(groups, "__iter__"):
        raise TypeError(f"{what} takes a list of column groups (lists of ints or feature "
                        f"names), got {groups!r}")
    groups = list(groups)
    if groups and all(isinstance(g, (numbers.Number, str)) for g in groups):
        groups = [groups]                         # one group given flat
    out = []
    for g in groups:
        if isinstance(g, (str, bytes)) or not hasattr(g, "__iter__"):
            raise TypeError(f"{what}: each group is a list of columns, got {g!r}")
        g = list(g)
        if len(g) < 2:
            raise ValueError(f"{what}: a one-hot group needs at least 2 columns, got {g!r}")
        out.append(g)
    if not out:
        raise ValueError(f"{what}: no groups given")
    return out


class OneHot:
    """Groups of tabular columns that encode one category each (exactly one 1, the rest 0).

    Relaxed during optimization to the probability simplex {x_g ≥ 0, Σ x_g = 1} by the
    softmax x_g = softmax(z_g) of the plain parameterization; projected at the end to the
    one-hot vector of the group's largest entry, then each group in turn set to the category
    where the maximized function is largest with the other columns fixed (Adam's sign-like
    steps resolve near-ties between categories slowly; this search settles them). The box
    does not apply to these columns.

    Parameters
    ----------
    groups : list of lists of int or str
        Column indices or feature names, one list per group (a flat list is one group).
    """

    def __init__(self, groups):
        self.groups = _as_groups(groups, "OneHot")
        self._idx = None

    def check(self, problem):
        self._idx = [_columns(g, problem, "OneHot") for g in self.groups]
        flat = [c for g in self._idx for c in g]
        if len(set(flat)) != len(flat):
            raise ValueError("OneHot: groups overlap; a column belongs to one group")

    def columns(self):
        return [c for g in self._idx for c in g]

    def finish(self, x, problem):
        for g in self._idx:
            k = x[:, g].argmax(1)
            block = torch.zeros_like(x[:, g])
            block[torch.arange(x.shape[0], device=x.device), k] = 1
            x[:, g] = block
        return x

    def improve(self, x, evaluate):
        """Each group in turn set to the category of the largest ``evaluate`` (F per
        sample), the other columns fixed; a sample keeps its category unless another is
        strictly better."""
        for g in self._idx:
            best = evaluate(x)
            for k in g:
                y = x.clone()
                y[:, g] = 0
                y[:, k] = 1
                f = evaluate(y)
                better = f > best
                x = torch.where(better[:, None], y, x)
                best = torch.where(better, f, best)
        return x

    def __repr__(self):
        return f"OneHot({self.groups!r})"


class Integer:
    """Tabular columns that take integer values: continuous during optimization, rounded at
    the end to the nearest integer in the box [⌈low⌉, ⌊high⌋], then each column in turn moved
    one up or down where the maximized function is larger.

    Parameters
    ----------
    columns : list of int or str
        Column indices or feature names.
    """

    def __init__(self, columns):
        if isinstance(columns, (int, np.integer, str)) and not isinstance(columns, bool):
            columns = [columns]
        if isinstance(columns, (bytes, bool)) or not hasattr(columns, "__iter__"):
            raise TypeError(f"Integer takes a list of columns (ints or feature names), got "
                            f"{columns!r}")
        self.columns_given = list(columns)
        if not self.columns_given:
            raise ValueError("Integer: no columns given")
        self._idx = self._box = None

    def check(self, problem):
        self._idx = _columns(self.columns_given, problem, "Integer")
        self._box = problem.box
        if problem.box is not None:
            low, high = problem.box
            lo, hi = torch.ceil(low[self._idx]), torch.floor(high[self._idx])
            empty = lo > hi
            if bool(empty.any()):
                j = self._idx[int(torch.nonzero(empty)[0])]
                raise ValueError(f"Integer: no integer lies in the box of column {j} "
                                 f"([{float(low[j]):g}, {float(high[j]):g}])")

    def columns(self):
        return []            # not a bound: integers are unbounded too

    def finish(self, x, problem):
        v = torch.round(x[:, self._idx])
        if problem.box is not None:
            low, high = problem.box
            v = torch.minimum(torch.maximum(v, torch.ceil(low[self._idx])),
                              torch.floor(high[self._idx]))
        x[:, self._idx] = v
        return x

    def improve(self, x, evaluate):
        """Each column in turn moved to the neighbouring integer (one down, one up, inside the
        box) where ``evaluate`` is larger, if strictly larger."""
        for j in self._idx:
            best = evaluate(x)
            for step in (-1.0, 1.0):
                y = x.clone()
                y[:, j] = y[:, j] + step
                if self._box is not None:
                    lo, hi = self._box
                    y[:, j] = torch.minimum(torch.maximum(y[:, j], torch.ceil(lo[j])),
                                            torch.floor(hi[j]))
                f = evaluate(y)
                better = f > best
                x = torch.where(better[:, None], y, x)
                best = torch.where(better, f, best)
        return x

    def __repr__(self):
        return f"Integer({self.columns_given!r})"


# ---------------------------------------------------------------------------- priors

def _log_density_reader(graph):
    """(description, function o → log p) for a neuralized density graph's output o."""
    meta = graph.meta
    if "component_constants" in meta:                       # GaussianMixture: o = −log p
        return "GaussianMixture: log p = −o", lambda o: -o
    if "bandwidth" in meta and "gamma" in meta:             # KernelDensity
        gamma, bias = float(meta["gamma"]), float(meta["bias"])
        return ("KernelDensity: log p = −(γ o + bias)",
                lambda o: -(gamma * o + bias))
    if "rho" in meta and "alpha_sum" in meta:               # OneClassSVM
        gamma = float(meta["gamma"])
        scale = float(meta["alpha_sum"]) if meta.get("normalized", True) else 1.0
        return ("OneClassSVM: log score_samples = log Σα − γ o (unnormalized)",
                lambda o: math.log(scale) - gamma * o)
    return None


class DensityPrior(Regularizer):
    """+ λ log p(x): a density prior keeps prototypes where data are likely.

    Parameters
    ----------
    prior : neon.Graph or callable
        A neuralized ``KernelDensity`` (output: the outlierness o with
        −score_samples = γ o + bias, so log p = −(γ o + bias)), ``GaussianMixture`` (output
        −log p) or ``OneClassSVM`` (log score_samples = log Σα − γ o, a density up to its
        normalization) on the same input; or any callable x (N, *shape) → log p(x) (N,),
        differentiable in x.
    weight : float
        λ ≥ 0.
    """

    def __init__(self, prior, weight):
        from neon.graph import Graph

        self.weight = check_number(weight, "DensityPrior weight")
        if isinstance(prior, Graph):
            reader = _log_density_reader(prior)
            if reader is None:
                what = type(prior.source).__name__ if prior.source is not None else "graph"
                raise TypeError(f"DensityPrior takes a neuralized KernelDensity, "
                                f"GaussianMixture or OneClassSVM graph, or a callable x -> "
                                f"log p(x); got a graph of a {what}, whose output is not a "
                                "log-density")
            self.kind, self._read = reader
        elif callable(prior):
            self.kind, self._read = "callable x -> log p(x)", None
        else:
            raise TypeError(f"DensityPrior takes a neuralized density graph or a callable x -> "
                            f"log p(x), got {type(prior).__name__}")
        self.prior = prior

    def check(self, problem):
        if self._read is not None:
            spec = self.prior.input_specs
            if len(spec) != 1 or len(spec[0].shape) != len(problem.shape) or any(
                    s is not None and s != t for s, t in zip(spec[0].shape, problem.shape)):
                raise ValueError(f"DensityPrior: the prior graph takes {spec[0].describe()}, "
                                 f"but the maximized input has one sample of shape "
                                 f"{tuple(problem.shape)}")

    def log_density(self, x):
        if self._read is None:
            out = self.prior(x)
            if not isinstance(out, torch.Tensor):
                raise TypeError(f"DensityPrior: the callable must return a tensor of "
                                f"log-densities (N,), got {type(out).__name__}")
            out = out.reshape(out.shape[0], -1) if out.dim() > 1 else out
            if out.dim() != 1 and out.shape[1] != 1 or out.shape[0] != x.shape[0]:
                raise ValueError(f"DensityPrior: the callable returned shape "
                                 f"{tuple(out.shape)} for {x.shape[0]} samples; return one "
                                 "log-density per sample (N,)")
            return out.reshape(-1).to(x.dtype)
        g = self.prior
        xi = x.to(device=g.device, dtype=g.dtype)
        o = g.activations(xi, validated=True, keep=[g.output])[g.output]
        return self._read(o.reshape(o.shape[0], -1).sum(1)).to(device=x.device, dtype=x.dtype)

    def term(self, x):
        if self.weight == 0:
            return None
        return self.weight * self.log_density(x)

    def __repr__(self):
        return f"DensityPrior({self.kind}, weight={self.weight:g})"


class DataDistance(Regularizer):
    """− λ min_j ‖x − x_j‖²: the squared distance to the nearest data point, a pull of the
    prototype toward the data.

    Parameters
    ----------
    data : array, tensor or DataFrame (n, *shape)
    weight : float
        λ ≥ 0.
    """

    def __init__(self, data, weight):
        self.weight = check_number(weight, "DataDistance weight")
        if data is None:
            raise TypeError("DataDistance needs data (n, *shape), got None")
        self.data = data
        self._points = None

    def check(self, problem):
        try:
            batch = as_batch(self.data, problem.graph, "DataDistance data")
        except GraphInputError as err:
            raise ValueError(f"DataDistance data: {err}") from None
        if tuple(batch.shape[1:]) != tuple(problem.shape):
            raise ValueError(f"DataDistance: data samples have shape {tuple(batch.shape[1:])}, "
                             f"the maximized input {tuple(problem.shape)}")
        self._points = batch.reshape(batch.shape[0], -1).to(device=problem.device,
                                                             dtype=problem.dtype)

    def squared_distance(self, x):
        pts = self._points.to(x.dtype)
        d = torch.cdist(x.reshape(x.shape[0], -1), pts,
                        compute_mode="donot_use_mm_for_euclid_dist")
        return d.square().min(1).values

    def term(self, x):
        if self.weight == 0:
            return None
        return -self.weight * self.squared_distance(x)

    def __repr__(self):
        n = "" if self._points is None else f"{self._points.shape[0]} points, "
        return f"DataDistance({n}weight={self.weight:g})"


# ---------------------------------------------------------------------------- boundedness

def _affine_classes():
    from neon.ops import Affine, ElementwiseAffine, Identity, Routing, Summation

    return (Affine, ElementwiseAffine, Identity, Routing, Summation)


def _affine_upto(graph, names) -> bool:
    """Whether every op between the input and ``names`` is affine."""
    classes = _affine_classes()
    needed = set(names)
    for n in names:
        needed |= nx.ancestors(graph.structure, n)
    return all(isinstance(graph[n].op, classes) for n in needed if graph.is_op_node(n))


def _kmeans_weights(graph, objective, values):
    """For a single k-means cluster logit objective: [(c, W (K−1, d) of w_ck)] per distinct
    target c, else None."""
    from neon.ops import CompetitionMin, SquaredDistance

    from .objectives import Output, Unit

    terms = objective.terms()
    if len(terms) != 1 or terms[0][0] <= 0:
        return None
    obj = terms[0][1]
    if isinstance(obj, Output):
        from lrp.calls import explained_node, target_mask

        name = explained_node(graph)
        out = values[name]
        mask = target_mask(graph, out, obj._target(torch.arange(out.shape[0])))
        if mask.dim() != 2 or not bool(((mask == 0) | (mask == 1)).all()) or \
                not bool((mask.sum(1) == 1).all()):
            return None
        cols = mask.argmax(1).tolist()
    elif isinstance(obj, Unit):
        name = graph.node_of(obj.node)
        out = values[name]
        if out.dim() != 2:
            return None
        cols = [obj._flat_index(tuple(out.shape[1:]), name)]
    else:
        return None
    if name not in graph or not graph.is_op_node(name) or \
            not isinstance(graph[name].op, CompetitionMin):
        return None
    (dist_name,) = graph[name].inputs
    if not graph.is_op_node(dist_name) or not isinstance(graph[dist_name].op, SquaredDistance):
        return None
    if graph[dist_name].inputs[0] not in graph.input_names:
        return None
    op = graph[dist_name].op
    if op.per_unit_matrix or (op.w2 is not None and op.w2.shape[0] != 1):
        return None
    v = op.centers.detach().double().cpu()
    d = v.shape[1]
    if op.matrix is not None:
        a = op.matrix.detach().double().cpu()
        m = a.T @ a
    elif op.w2 is not None:
        m = torch.diag(op.w2[0].detach().double().cpu())
    else:
        m = torch.eye(d, dtype=torch.float64)
    out = []
    for c in dict.fromkeys(cols):
        others = [k for k in range(v.shape[0]) if k != c]
        w = 2 * (v[c][None, :] - v[others]) @ m          # rows w_ck (M symmetric)
        out.append((c, w.numpy()))
    return out


def _kmeans_ray(w, free, l1):
    """A ray r (zero off ``free``) with w_k·r − l1‖r‖₁ ≥ 1 for every row, or None (then
    f_c is bounded above on the free coordinates)."""
    from scipy.optimize import linprog

    wf = w[:, free]
    k, m = wf.shape
    # variables r⁺, r⁻ ≥ 0:  −(w(r⁺ − r⁻) − l1 Σ(r⁺ + r⁻)) ≤ −1
    a_ub = -np.hstack([wf - l1, -wf - l1])
    res = linprog(np.ones(2 * m), A_ub=a_ub, b_ub=-np.ones(k), bounds=(0, None),
                  method="highs")
    if res.status != 0:
        return None
    r = np.zeros(w.shape[1])
    r[free] = res.x[:m] - res.x[m:]
    return r


def check_bounded(graph, objective, problem, terms, evaluate) -> None:
    """Refuse (:class:`UnboundedObjectiveError`) a maximization without a box whose
    function F = J + Σ terms grows at least linearly along a ray (see the module notes for
    the rays probed and what is not detected).

    ``evaluate(x, rows)``: F at inputs x (B, *shape), rows the start each belongs to.
    """
    if problem.box is not None:
        return
    shape = tuple(problem.shape)
    size = int(np.prod(shape))
    bounded = np.zeros(size, dtype=bool)
    x0 = problem.center.detach().clone().reshape(-1)
    for c in problem.constraints:
        cols = c.columns()
        bounded[cols] = True
        if isinstance(c, OneHot):
            for g in c._idx:
                x0[g] = 1.0 / len(g)
    free = ~bounded
    if not free.any():
        return
    free_t = torch.as_tensor(free, device=problem.device)
    scale = problem.scale
    rays, reasons = [], []

    def add(r, reason):
        r = torch.as_tensor(r, dtype=problem.dtype, device=problem.device).reshape(-1)
        r = torch.where(free_t, r, torch.zeros_like(r))
        m = float(r.abs().max())
        if m > 0 and math.isfinite(m):
            rays.append(r / m)
            reasons.append(reason)

    l1 = sum(t.weight for t in terms if isinstance(t, L1))
    # (b) k-means cluster logits: a linear program
    kmeans = _kmeans_weights(graph, objective, problem.start_values)
    if kmeans is not None:
        for c, w in kmeans:
            r = _kmeans_ray(w, free, l1)
            if r is not None:
                k = w.shape[0] + 1
                general = f"; with K = {k} ≤ d + 1 = {size + 1} centroids this holds in " \
                          "general position" if k <= size + 1 else ""
                add(r, f"the centroid μ_{c} is not in the convex hull of the other "
                       f"centroids{general}, so the cluster logit f_{c} = min_(k≠{c}) "
                       "(w_ck·x + b_ck) grows along a direction r with w_ck·r > 0 for every "
                       "k (found by a linear program)")
    # gradient at x0 (and (a): affine graphs)
    xg = x0.reshape(1, *shape).clone().requires_grad_(True)
    with torch.enable_grad():
        f = evaluate(xg, torch.zeros(1, dtype=torch.long, device=problem.device))
        g = torch.autograd.grad(f.sum(), xg, allow_unused=True)[0]
    g = torch.zeros_like(xg) if g is None else g
    g = g.reshape(-1).detach()
    if not bool(torch.isfinite(g).all()):
        g = torch.zeros_like(g)
    affine = objective.is_linear(graph) and _affine_upto(graph, objective.nodes(graph))
    gf = torch.where(free_t, g, torch.zeros_like(g))
    if affine:
        reason = ("the graph is affine in x up to the objective's nodes and the objective is "
                  f"linear in them, so J(x) = g·x + b with max |g_i| = "
                  f"{float(gf.abs().max()):.3g} on the free inputs")
        top = gf.abs() >= gf.abs().max() * (1 - 1e-9)
        add(torch.where(top, torch.sign(gf), torch.zeros_like(gf)), reason)
        add(torch.sign(gf), reason)
        if len(shape) >= 2:
            gc = gf.reshape(shape[0], -1).sum(1)
            r = torch.sign(gc)[:, None].expand(shape[0], size // shape[0])
            add(r, reason)
    add(gf, "it grows at least linearly along its gradient direction r at x0 (the data "
            "mean, or 0)")
    generator = torch.Generator().manual_seed(12345)
    for _ in range(8):
        add(torch.randn(size, generator=generator, dtype=torch.float64),
            "it grows at least linearly along a random direction r from x0 (the data mean, "
            "or 0)")
    if not rays:
        return
    ts = (0.0, 10.0, 100.0, 1000.0)
    r = torch.stack(rays)                                       # (R, size)
    pts = torch.cat([x0[None] + t * scale * r for t in ts])      # (4R, size)
    rows = torch.arange(pts.shape[0], device=problem.device) % problem.starts
    with torch.no_grad():
        vals = []
        for i in range(0, pts.shape[0], 64):
            vals.append(evaluate(pts[i:i + 64].reshape(-1, *shape), rows[i:i + 64]))
        v = torch.cat(vals).double().reshape(len(ts), len(rays)).cpu()
    f0, f1, f2, f3 = v
    for j in range(len(rays)):
        a, b, c, d = (float(f0[j]), float(f1[j]), float(f2[j]), float(f3[j]))
        if math.isnan(d) or math.isnan(c) or math.isnan(b):
            continue
        if d == math.inf:
            grows = True
        else:
            s12 = (c - b) / (ts[2] - ts[1])
            s23 = (d - c) / (ts[3] - ts[2])
            tol = 1e-6 * max(abs(a), abs(b), abs(c), abs(d), 1e-300)
            grows = s23 > 0 and s23 >= 0.5 * s12 and d - c > tol and d > a + tol
        if grows:
            raise UnboundedObjectiveError(
                f"{problem.describe(objective)} has no maximum on unconstrained inputs: "
                f"{reasons[j]}. Along x0 + t·r it goes from {b:.4g} (t = {ts[1]:g}) to "
                f"{c:.4g} (t = {ts[2]:g}) and {d:.4g} (t = {ts[3]:g}, in units of the data "
                "scale "
                f"{scale:.3g}), so gradient ascent would diverge. Give a box (box=(low, "
                "high), or data=... for the data's range), a prior "
                "(concepts.DataDistance(data, weight), concepts.DensityPrior(kde_graph, "
                "weight)) or a penalty that grows faster, such as concepts.L2(weight)")
