"""Concept activation vectors: the normal of a linear boundary between a concept's
activations and random activations at one node.

A CAV v_C is fitted on a_x = flatten(f_l(x)) for x in the concept set P_C (label 1) and a
random set N (label 0), oriented toward the concept and scaled to unit length. Its held-out
accuracy says whether the node separates the concept at all: a CAV near chance is flagged
(``near_chance``), since its direction is noise.

Learners (``LEARNERS``):

``"sgd"``
    scikit-learn ``SGDClassifier(loss="hinge", alpha=0.01)``, the reference TCAV code's.
``"logistic"``, ``"linear_svm"``
    scikit-learn ``LogisticRegression`` and ``LinearSVC``.
``"mean_difference"``
    the closed form v ∝ mean(P_C) − mean(N) (the "pattern" direction; FastCAV), no fit.
``"torch_logistic"``
    L2-regularized logistic regression (λ = 0.01 on standardized activations) solved exactly
    by batched Newton steps in torch in the span of the examples, for many CAVs at once
    (:func:`fit_many` fits them as one batched problem).

Reference: Kim et al., "Interpretability beyond feature attribution: quantitative testing with
concept activation vectors (TCAV)", ICML 2018.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from lrp.calls import check_graph
from lrp.rules.base import check_number

from .nodes import activations

__all__ = ["CAV", "fit_many", "LEARNERS", "CAVError"]

LEARNERS = ("sgd", "logistic", "linear_svm", "mean_difference", "torch_logistic")
_BATCH_ELEMENTS = 2 ** 25       # values per batched torch fit (~256 MB of float64)


class CAVError(ValueError):
    """Concept or random examples that cannot give a CAV."""


@dataclass
class CAV:
    """A unit direction in a node's (flattened) activation space, toward a concept.

    Attributes
    ----------
    direction : tensor, shape (d,)
        Unit vector; activations of the concept lie on its positive side.
    node : str
        The node it lives at.
    learner : str
    accuracy : float
        Held-out accuracy of the concept-vs-random classifier (``nan`` when no examples
        were held out).
    chance : float
        The accuracy of always guessing the larger class on the held-out set.
    concept, random : str
        Names of the two example sets (for tables).
    """

    direction: torch.Tensor
    node: str
    learner: str
    accuracy: float
    chance: float
    concept: str = "concept"
    random: str = "random"

    #: A CAV whose held-out accuracy exceeds chance by less than this is ``near_chance``.
    CHANCE_MARGIN = 0.1

    @property
    def near_chance(self) -> bool:
        """Whether the node hardly separates the concept (held-out accuracy < chance +
        ``CHANCE_MARGIN``): its direction is not to be trusted."""
        return not math.isnan(self.accuracy) and self.accuracy < self.chance + self.CHANCE_MARGIN

    @classmethod
    def fit(cls, graph, node, concept_examples, random_examples, *, learner="sgd", seed=0,
            held_out=0.33, batch_size=None, cache=True, concept="concept", random="random"):
        """Fit a CAV at ``node`` from example inputs (their activations are computed, batched
        and cached, by :func:`concepts.activations`).

        Parameters
        ----------
        graph : neon.Graph
        node : str
            A node or source-module name.
        concept_examples, random_examples : tensor, array, DataFrame or iterable of batches
            Inputs of the concept and of a random set; at least 2 each (and enough for the
            held-out split).
        learner : str
            One of ``LEARNERS``.
        seed : int
            The held-out split and the learner's randomness.
        held_out : float
            Fraction of each set held out to measure accuracy (0 to skip).
        """
        check_graph(graph, "concepts.CAV.fit")
        _check_learner(learner)                  # before computing any activation
        _check_held_out(held_out)
        name = graph.node_of(node) if isinstance(node, str) else node
        a = activations(graph, concept_examples, name, batch_size=batch_size, cache=cache,
                        numpy=False)
        b = activations(graph, random_examples, name, batch_size=batch_size, cache=cache,
                        numpy=False)
        return cls.from_activations(a, b, node=name, learner=learner, seed=seed,
                                    held_out=held_out, concept=concept, random=random)

    @classmethod
    def from_activations(cls, concept_acts, random_acts, *, node="node", learner="sgd", seed=0,
                         held_out=0.33, concept="concept", random="random"):
        """Fit a CAV on activations already computed, (n, ...) each."""
        _check_learner(learner)
        held_out, seed = _check_held_out(held_out), check_number(seed, "seed", integer=True)
        a, b = _flat(concept_acts, "concept_examples"), _flat(random_acts, "random_examples")
        _check_pair(a, b)
        (train_a, test_a), (train_b, test_b) = _split(a, held_out, seed, 0), \
            _split(b, held_out, seed, 1)
        if learner == "torch_logistic":
            direction = _torch_logistic(train_a[None], train_b[None], seed)[0]
            intercept = None
        else:
            direction, intercept = _fit_one(train_a, train_b, learner, seed)
        accuracy, chance = _held_out_accuracy(direction, intercept, train_a, train_b, test_a,
                                              test_b)
        return cls(direction, node, learner, accuracy, chance, concept, random)

    def sensitivities(self, gradients) -> torch.Tensor:
        """S(x) = ∇h(f_l(x)) · v for node gradients (N, ...) (see
        :func:`concepts.node_gradients`)."""
        g = torch.as_tensor(gradients)
        return g.reshape(g.shape[0], -1).to(self.direction.dtype) @ self.direction

    def __repr__(self):
        flag = ", near chance" if self.near_chance else ""
        return (f"CAV({self.concept!r} vs {self.random!r} at {self.node!r}, {self.learner}, "
                f"held-out accuracy {self.accuracy:.3f}{flag})")


# ---------------------------------------------------------------------------- checks

def _check_learner(learner):
    if learner not in LEARNERS:
        raise ValueError(f"learner must be one of {', '.join(map(repr, LEARNERS))}, got "
                         f"{learner!r}")


def _check_held_out(held_out) -> float:
    held_out = check_number(held_out, "held_out")
    if held_out >= 1:
        raise ValueError(f"held_out must be a fraction in [0, 1), got {held_out:g}")
    return held_out


def _flat(acts, name) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(acts) if not isinstance(acts, torch.Tensor) else acts)
    if t.dim() < 2:
        raise CAVError(f"{name}: expected activations of shape (n, ...), got "
                       f"{tuple(t.shape)}")
    t = t.reshape(t.shape[0], -1)
    if not t.is_floating_point():
        t = t.double()
    if not bool(torch.isfinite(t).all()):
        raise CAVError(f"{name}: the activations contain NaN or infinite values")
    return t


def _check_pair(a, b):
    if a.shape[1] != b.shape[1]:
        raise CAVError(f"the concept and random activations differ in width ({a.shape[1]} vs "
                       f"{b.shape[1]}): give examples of the same shape")
    for t, name in ((a, "concept_examples"), (b, "random_examples")):
        if t.shape[0] < 2:
            raise CAVError(f"{name} has {t.shape[0]} example(s); a CAV needs at least 2 per "
                           "set (tens for a stable direction)")
    if a.shape == b.shape and bool(torch.equal(a, b)):
        raise CAVError("the random examples equal the concept examples: a CAV separates a "
                       "concept from other inputs, so give a different random set")


def _split(t, held_out, seed, salt):
    n = t.shape[0]
    k = int(round(n * held_out))
    if held_out > 0 and (k < 1 or n - k < 2):
        raise CAVError(f"{n} examples cannot be split {1 - held_out:.0%} / {held_out:.0%} into "
                       "at least 2 for training and 1 held out; give more examples or "
                       "held_out=0")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(2 * seed + salt))
    return t[order[k:]], t[order[:k]]


# ---------------------------------------------------------------------------- learners

def _fit_one(a, b, learner, seed):
    """(unit direction toward the concept, intercept in the scaled direction's units)."""
    if learner == "mean_difference":
        d = a.mean(0) - b.mean(0)
        norm = d.norm()
        if norm == 0:
            raise CAVError("the concept and random activations have the same mean: the "
                           "mean-difference direction is undefined")
        d = d / norm
        # the boundary halfway between the projected means
        return d, -float((a @ d).mean() + (b @ d).mean()) / 2
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.svm import LinearSVC

    X = torch.cat([a, b]).double().cpu().numpy()
    y = np.r_[np.ones(len(a)), np.zeros(len(b))]
    # fitted centred: LinearSVC penalizes its intercept (liblinear's constant feature), which
    # tilts the direction on activations far from the origin (ReLU outputs), and lbfgs stops
    # early there; "sgd" stays the reference TCAV code's fit on the raw activations
    shift = np.zeros(X.shape[1]) if learner == "sgd" else X.mean(0)
    model = {"sgd": lambda: SGDClassifier(loss="hinge", alpha=0.01, max_iter=1000, tol=1e-3,
                                          random_state=seed),
             "logistic": lambda: LogisticRegression(max_iter=2000, random_state=seed),
             "linear_svm": lambda: LinearSVC(max_iter=10000, random_state=seed)}[learner]()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        from sklearn.exceptions import ConvergenceWarning
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        model.fit(X - shift, y)
    w = torch.as_tensor(model.coef_[0], dtype=a.dtype, device=a.device)
    norm = w.norm()
    if norm == 0:
        raise CAVError(f"the {learner} learner found no direction (all weights 0): the node "
                       "does not separate these sets")
    intercept = float(model.intercept_[0]) - float(model.coef_[0] @ shift)
    return w / norm, intercept / float(norm)


def _torch_logistic(A, B, seed, *, l2=1e-2, iterations=30):
    """Unit directions of L2-regularized logistic regressions, one per pair (A[i], B[i]),
    fitted together, exactly, by Newton's method in the span of the examples:
    A (m, n_a, d), B (m, n_b, d) → (m, d).

    Features are standardized per problem (the direction is mapped back); a feature constant
    over a problem's examples (a dead unit) carries no information and gets weight 0. The
    problem min_w,b (1/n) Σ_i log(1 + exp(−ỹ_i (w·z_i + b))) + (λ/2)‖w‖² has its minimizer in
    the span of the z_i (representer theorem), so with the Gram matrix K = Z Zᵀ = U S Uᵀ and
    w = Zᵀ U S^{-1/2} u it becomes an n-dimensional logistic regression on the features
    Φ = U S^{1/2} with penalty (λ/2)‖u‖², solved by batched Newton steps: one (n × n × d)
    product per problem, then work independent of d. ``seed`` is unused (the fit is
    deterministic); it is accepted for a uniform learner interface.
    """
    del seed
    X = torch.cat([A, B], 1).double()
    m, n, d = X.shape
    y = torch.cat([torch.ones(m, A.shape[1]), torch.zeros(m, B.shape[1])], 1).to(X)
    mean, std = X.mean(1, keepdim=True), X.std(1, keepdim=True)
    inv = torch.where(std > 1e-12 * (1 + mean.abs()), 1 / std, torch.zeros_like(std))
    Z = (X - mean) * inv
    K = Z @ Z.transpose(1, 2)
    S, U = torch.linalg.eigh(K)
    keep = S > S.amax(1, keepdim=True) * 1e-10
    root = torch.where(keep, S.clamp_min(0).sqrt(), torch.zeros_like(S))
    phi = U * root.unsqueeze(1)                             # (m, n, n): Φ = U S^{1/2}
    design = torch.cat([phi, torch.ones(m, n, 1, dtype=X.dtype, device=X.device)], 2)
    theta = torch.zeros(m, n + 1, 1, dtype=X.dtype, device=X.device)
    penalty = torch.full((n + 1,), l2, dtype=X.dtype, device=X.device)
    penalty[-1] = 0.0                                       # the intercept is not penalized
    eye = torch.diag_embed(penalty).expand(m, n + 1, n + 1)
    def objective(t):                                       # t: (..., m, n + 1, 1)
        logits = (design @ t).squeeze(-1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, y.expand_as(logits), reduction="none").mean(-1)
        return loss + (penalty.view(-1, 1) * t * t).sum((-2, -1)) / 2

    shrink = 0.5 ** torch.arange(30, dtype=X.dtype, device=X.device).view(-1, 1, 1, 1)
    ridge = 1e-9 * torch.eye(n + 1, dtype=X.dtype, device=X.device)
    for _ in range(iterations):
        p = torch.sigmoid(design @ theta).squeeze(2)
        grad = design.transpose(1, 2) @ ((p - y) / n).unsqueeze(2) + \
            penalty.view(1, -1, 1) * theta
        weight = p * (1 - p) / n
        hessian = design.transpose(1, 2) @ (design * weight.unsqueeze(2)) + eye + ridge
        step = torch.cholesky_solve(grad, torch.linalg.cholesky(hessian))   # H is SPD
        # backtracking: per problem, the longest step 2^-k that lowers the objective
        now = objective(theta)
        tried = objective(theta - shrink * step)            # (30, m)
        better = tried < now
        first = torch.where(better.any(0), better.float().argmax(0),
                            torch.full_like(now, 30, dtype=torch.long))
        factor = torch.where(first < 30, 0.5 ** first.to(X.dtype), torch.zeros_like(now))
        theta = theta - factor.view(m, 1, 1) * step
        if float((factor.view(m, 1, 1) * step).abs().max()) < 1e-9:
            break
    u = theta[:, :n, 0]
    coef = U @ (torch.where(keep, u / root.clamp_min(1e-300), torch.zeros_like(u))
                ).unsqueeze(2)                              # α = U S^{-1/2} u
    w = (Z.transpose(1, 2) @ coef).squeeze(2)               # w = Zᵀ α
    direction = w * inv.squeeze(1)                          # back to the raw activations
    norms = direction.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise CAVError("torch_logistic found no direction for some CAV (all weights 0)")
    return (direction / norms).to(A.dtype)


def _held_out_accuracy(direction, intercept, train_a, train_b, test_a, test_b):
    n_test = len(test_a) + len(test_b)
    if n_test == 0:
        return math.nan, math.nan
    if intercept is None:           # torch learner: threshold halfway between the classes
        intercept = -float((train_a @ direction).mean() + (train_b @ direction).mean()) / 2
    right = int(((test_a @ direction + intercept) > 0).sum()) + \
        int(((test_b @ direction + intercept) <= 0).sum())
    chance = max(len(test_a), len(test_b)) / n_test
    return right / n_test, chance


def fit_many(pairs, *, node="node", learner="torch_logistic", seed=0, held_out=0.33):
    """Fit one CAV per (concept activations, random activations, concept name, random name)
    in ``pairs``; ``"torch_logistic"`` and ``"mean_difference"`` fit them all as one batched
    problem when the sets have equal sizes (the usual TCAV design), the scikit-learn
    learners one by one.

    Returns
    -------
    list of CAV
        In the order of ``pairs``.
    """
    _check_learner(learner)
    held_out, seed = _check_held_out(held_out), check_number(seed, "seed", integer=True)
    pairs = list(pairs)
    if not pairs:
        return []
    flat = []
    for p in pairs:
        a, b = _flat(p[0], "concept_examples"), _flat(p[1], "random_examples")
        _check_pair(a, b)
        flat.append((a, b, *p[2:4]))
    sizes = {(a.shape, b.shape) for a, b, *_ in flat}
    if learner not in ("torch_logistic", "mean_difference") or len(sizes) > 1:
        return [CAV.from_activations(a, b, node=node, learner=learner, seed=seed,
                                     held_out=held_out, **_names(rest))
                for a, b, *rest in flat]
    splits = [(_split(a, held_out, seed, 0), _split(b, held_out, seed, 1))
              for a, b, *_ in flat]
    train_a = torch.stack([s[0][0] for s in splits])
    train_b = torch.stack([s[1][0] for s in splits])
    if learner == "torch_logistic":
        per_problem = (train_a.shape[1] + train_b.shape[1]) * train_a.shape[2]
        group = max(1, _BATCH_ELEMENTS // per_problem)     # bound the memory of one fit
        directions = torch.cat([_torch_logistic(train_a[i:i + group], train_b[i:i + group],
                                                seed) for i in range(0, len(flat), group)])
        intercepts = [None] * len(flat)
    else:
        d = train_a.mean(1) - train_b.mean(1)
        norms = d.norm(dim=1, keepdim=True)
        if bool((norms == 0).any()):
            raise CAVError("some concept and random sets have the same mean activation: the "
                           "mean-difference direction is undefined")
        directions = d / norms
        intercepts = [-float((ta @ v).mean() + (tb @ v).mean()) / 2
                      for ta, tb, v in zip(train_a, train_b, directions)]
    cavs = []
    for (_, _, *rest), ((ta, sa), (tb, sb)), v, c in zip(flat, splits, directions,
                                                         intercepts):
        accuracy, chance = _held_out_accuracy(v, c, ta, tb, sa, sb)
        cavs.append(CAV(v, node, learner, accuracy, chance, **_names(rest)))
    return cavs


def _names(rest):
    names = {}
    if len(rest) > 0 and rest[0] is not None:
        names["concept"] = rest[0]
    if len(rest) > 1 and rest[1] is not None:
        names["random"] = rest[1]
    return names
