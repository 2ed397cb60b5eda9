"""Retraining-based evaluations: remove what the map calls relevant and retrain (ROAR), or
retrain on random labels (the data randomization test).

* :func:`roar` — RemOve And Retrain (Hooker et al., 2019). Removing features from a test
  image and watching the model's output (:func:`~lrp.metrics.pixel_flipping`) mixes two
  effects: the features carried information, and the modified images lie off the training
  distribution. ROAR removes the top-ranked features from the training and the test images,
  retrains from scratch on the modified training set and measures test accuracy: a ranking
  that found the features carrying the label makes the accuracy fall faster than a random
  ranking does.
* :func:`roar_remove` — ROAR's removal step on its own (to look at the modified images).
* :func:`data_randomization_check` — Adebayo et al.'s data randomization test: the same
  architecture trained on the true labels and on a permutation of them (which it can only
  memorise); a method that explains the model gives different maps for the two.

Both take the user's training procedure as a function ``train(X, y, seed) -> model``: X and
y the training inputs and integer labels (tensors, or numpy arrays when ``X_train`` is one),
``seed`` a non-negative int that must fix the initialization and the minibatch order. It must
build and train a *new* model on every call and return a classifier of X: a
:class:`neon.Graph`, or a ``torch.nn.Module`` (imported with ``neon.neuralize(model,
X[:1])``, which traces it in eval mode). The predicted class is the argmax of the explained
output (the logits before an output softmax), which must have shape (N, classes).

References
----------
Hooker, Erhan, Kindermans & Kim, "A benchmark for interpretability methods in deep neural
networks", NeurIPS 2019.
Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim, "Sanity checks for saliency maps",
NeurIPS 2018 (Sec. 3, "data randomization test").
"""

from __future__ import annotations

import math
import numbers
import types
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from neon.graph import Graph

from ..calls import Call, check_batch_size, check_seed
from ..rules.base import check_choice, check_flag, check_number
from . import sanity as _sanity
from .conservation import _name
from .inputs import check_finite, floating, relevance_of, resolve_method
from .removal import _ranks
from .scores import Score

__all__ = ["roar", "roar_remove", "RoarResult", "data_randomization_check",
           "DataRandomizationResult"]

#: The name of the random ranking that every ROAR result holds.
RANDOM = "random"
#: Below this training accuracy on the permuted labels the permuted-label model has not
#: memorised them, and :func:`data_randomization_check` warns.
MEMORISED = 0.9
_ROAR = "lrp.metrics.roar"
_DATA = "lrp.metrics.data_randomization_check"


# ---------------------------------------------------------------------------- inputs

def _features(value, name: str, minimum: int = 2) -> tuple[torch.Tensor, bool]:
    """(the samples as a real floating tensor (N, …), N ≥ ``minimum``, whether they were
    numpy)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "iuf":
            raise TypeError(f"{name} must hold real numbers, got an array of dtype "
                            f"{value.dtype}")
        t, numpy_in = torch.from_numpy(np.array(value)), True
    elif isinstance(value, torch.Tensor):
        if value.dtype == torch.bool or value.is_complex():
            raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
        t, numpy_in = value.detach(), False
    else:
        kind = type(value).__name__
        hint = " (pass X.to_numpy())" if hasattr(value, "to_numpy") else ""
        raise TypeError(f"{name} must be a tensor or a numpy array, batch first (N, …), got "
                        f"{kind}{hint}")
    t = floating(t)
    if t.dim() < 2:
        raise ValueError(f"{name} has shape {tuple(t.shape)}: give samples batch first, "
                         "(N, features) or (N, channels, …)")
    if t.shape[0] < minimum:
        raise ValueError(f"{name} holds {t.shape[0]} sample(s); give at least {minimum}")
    return check_finite(t, name), numpy_in


def _labels(value, n: int, name: str, of: str) -> torch.Tensor:
    """Integer class labels (n,), non-negative, as int64."""
    if isinstance(value, (list, tuple)):
        value = np.asarray(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "iu":
            raise TypeError(f"{name} must hold integer class labels, got an array of dtype "
                            f"{value.dtype} (pass y.astype(int) for whole-number floats)")
        t = torch.from_numpy(value.astype(np.int64))
    elif isinstance(value, torch.Tensor):
        if value.dtype == torch.bool or value.is_floating_point() or value.is_complex():
            raise TypeError(f"{name} must hold integer class labels, got dtype {value.dtype} "
                            "(pass y.long() for whole-number floats)")
        t = value.detach().to(torch.int64)
    else:
        raise TypeError(f"{name} must be a tensor or an array of integer class labels, got "
                        f"{type(value).__name__}")
    if t.dim() != 1 or t.shape[0] != n:
        raise ValueError(f"{name} has shape {tuple(t.shape)}: give one integer label per "
                         f"sample of {of} ({n})")
    if bool((t < 0).any()):
        raise ValueError(f"{name} holds negative labels ({int(t.min())}); class labels are "
                         "0 … classes − 1")
    return t


def _check_train(train):
    if not callable(train) or isinstance(train, (Graph, torch.nn.Module)):
        raise TypeError("train must be a function train(X, y, seed) -> model that builds and "
                        f"trains a new classifier, got {type(train).__name__}")
    return train


def _same_samples(a: torch.Tensor, b: torch.Tensor, name: str, of: str):
    if tuple(a.shape[1:]) != tuple(b.shape[1:]):
        raise ValueError(f"{name} has samples of shape {tuple(a.shape[1:])}, {of} of "
                         f"{tuple(b.shape[1:])}: give samples of the same shape")


def _seeds(seed, count: int, what: str) -> tuple[list, object]:
    """(the ``count`` training seeds, the generator of the other random draws)."""
    if isinstance(seed, torch.Generator):
        raise TypeError(f"seed must be None or a non-negative integer: train(X, y, seed) "
                        f"takes an integer seed ({what}), so a torch.Generator cannot be used")
    generator = check_seed(seed)
    if seed is None:
        return [int(s) for s in torch.randint(0, 2 ** 31 - 1, (count,))], None
    return [int(seed) + r for r in range(count)], generator


def _units(x: torch.Tensor) -> int:
    """Features of a tabular sample (F,), pixels of an image-like one (C, …)."""
    return x.shape[1] if x.dim() == 2 else math.prod(x.shape[2:])


def _unit_relevance(r: torch.Tensor) -> torch.Tensor:
    """(N, units): R itself for tabular samples, Σ_c R_c per position for (N, C, …)."""
    return r if r.dim() == 2 else r.sum(1).reshape(r.shape[0], -1)


def _check_fraction(value, name: str) -> float:
    f = check_number(value, name, strict=True)
    if f > 1:
        raise ValueError(f"{name} must lie in (0, 1] (a fraction of the features), got {f:g}")
    return f


def _count(fraction: float, units: int, name: str) -> int:
    """m = ⌊f U + ½⌋ features removed, at least 1."""
    m = int(math.floor(fraction * units + 0.5))
    if m < 1:
        raise ValueError(f"{name} {fraction:g} of the {units} features of a sample removes "
                         f"none (⌊f·U + ½⌋ = 0); give fractions ≥ {0.5 / units:.3g}")
    return min(m, units)


def _check_fractions(fractions, units: int) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(fractions, (str, bytes)) or not hasattr(fractions, "__iter__"):
        raise TypeError(f"fractions must be a sequence of fractions in (0, 1), got "
                        f"{fractions!r}")
    values = [check_number(f, "fractions", strict=True) for f in fractions]
    if not values:
        raise ValueError("fractions is empty; give at least one fraction in (0, 1)")
    if any(f >= 1 for f in values):
        raise ValueError(f"fractions must lie in (0, 1) (removing every feature leaves "
                         f"nothing to learn), got {values}")
    if any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(f"fractions must be sorted and unique (increasing), got {values}")
    counts = [_count(f, units, "fraction") for f in values]
    for i in range(1, len(counts)):
        if counts[i] == counts[i - 1]:
            raise ValueError(f"fractions {values[i - 1]:g} and {values[i]:g} both remove "
                             f"{counts[i]} of the {units} features of a sample; give "
                             "fractions further apart")
    return np.asarray(values, dtype=np.float64), np.asarray(counts, dtype=np.int64)


def _fill(baseline, x: torch.Tensor, allow_mean: bool, name: str = "baseline"):
    """(the value of a removed feature, broadcastable to x, description)."""
    if isinstance(baseline, str):
        if not allow_mean:
            raise ValueError(f"{name} must be a number or a tensor shaped like one sample "
                             f"{tuple(x.shape[1:])} (e.g. X_train.mean(0)), got {baseline!r}")
        check_choice(baseline, name, ("mean",))
        return x.mean(0), "the per-feature mean of X_train"
    if isinstance(baseline, bool) or baseline is None:
        raise TypeError(f"{name} must be 'mean', a number or a tensor shaped like one sample, "
                        f"got {baseline!r}")
    if isinstance(baseline, numbers.Real):
        b = check_number(baseline, name, minimum=-math.inf)
        return torch.full(tuple(x.shape[1:]), b, dtype=x.dtype, device=x.device), \
            f"the constant {b:g}"
    if isinstance(baseline, (torch.Tensor, np.ndarray)):
        t = torch.as_tensor(np.array(baseline) if isinstance(baseline, np.ndarray)
                            else baseline.detach())
        if t.dtype == torch.bool or t.is_complex():
            raise TypeError(f"{name} must hold real numbers, got dtype {t.dtype}")
        if tuple(t.shape) != tuple(x.shape[1:]):
            raise ValueError(f"{name} has shape {tuple(t.shape)}; give one value per feature "
                             f"of a sample, shape {tuple(x.shape[1:])}")
        t = check_finite(t.to(device=x.device, dtype=x.dtype)[None], name)[0]
        return t, "a given tensor"
    raise TypeError(f"{name} must be 'mean', a number or a tensor shaped like one sample, got "
                    f"{type(baseline).__name__}")


def _check_methods(methods) -> dict:
    if not isinstance(methods, dict):
        raise TypeError("methods must be a dict name → method (a method of lrp, its name, or "
                        f"a callable method(graph, x, target, *, batch_size=None)), got "
                        f"{type(methods).__name__}")
    if not methods:
        raise ValueError("methods is empty; give at least one method to evaluate (the random "
                         "ranking is always added)")
    out = {}
    for key, method in methods.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"methods: every name must be a non-empty string, got {key!r}")
        if key == RANDOM:
            raise ValueError(f"methods: the name {RANDOM!r} is reserved for the random ranking "
                             "every result holds; rename that method")
        if isinstance(method, (torch.Tensor, np.ndarray)):
            raise TypeError(f"methods[{key!r}] is precomputed relevance: ROAR explains the "
                            "training and test sets itself; give a method")
        out[key] = resolve_method(method, f"methods[{key!r}]")
    return out


# ---------------------------------------------------------------------------- removal

def _apply(x: torch.Tensor, removed: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """x with the units marked in ``removed`` (N, units) replaced by ``fill`` (one sample's
    shape); for (N, C, …) a unit is a position and all its channels are replaced."""
    if x.dim() == 2:
        where = removed
    else:
        where = removed.reshape(x.shape[0], 1, *x.shape[2:])
    return torch.where(where, fill.to(x.dtype), x)


def _rank_of(unit_rel: torch.Tensor) -> torch.Tensor:
    """Rank of every unit per sample, 0 for the largest R (ties in index order)."""
    return _ranks(unit_rel, "morf")


def roar_remove(x, relevance, fraction, *, baseline):
    """ROAR's removal step: in every sample, the fraction of features with the largest
    relevance replaced by a baseline.

    Per sample n, the U units are ranked by their relevance *value*, descending (a stable
    sort: ties in index order) — the ranking of Hooker et al., who remove the features
    estimated most important, so positive evidence first; rank |R| by giving a map of |R|
    (e.g. ``lrp.gradient(..., abs=True)``). A unit is a feature of a tabular sample (N, F),
    or a position of an image-like sample (N, C, …) with relevance Σ_c R_c, all of whose
    channels are replaced. The m = ⌊f U + ½⌋ top units are replaced:

        x'_ni = b_i if rank_n(i) < m else x_ni.

    Batched: one sort of the (N, U) relevance, no loop over samples.

    Parameters
    ----------
    x : tensor or ndarray, shape (N, F) or (N, C, …)
    relevance : tensor or ndarray, shaped like x
    fraction : float in (0, 1]
        f; it must remove at least one unit (m ≥ 1).
    baseline : number, tensor or ndarray
        b: a constant, or one value per feature shaped like one sample (``X_train.mean(0)``,
        the baseline of :func:`roar`).

    Returns
    -------
    tensor or ndarray
        Typed like x (a tensor on x's device; an ndarray for ndarray x), floating point.

    References
    ----------
    Hooker, Erhan, Kindermans & Kim, NeurIPS 2019.
    """
    t, numpy_in = _features(x, "x", minimum=1)
    if isinstance(relevance, (torch.Tensor, np.ndarray)):
        r, _ = _features(relevance, "relevance", minimum=1)
    else:
        raise TypeError(f"relevance must be a tensor or an array shaped like x, got "
                        f"{type(relevance).__name__}")
    if tuple(r.shape) != tuple(t.shape):
        raise ValueError(f"relevance has shape {tuple(r.shape)}, x {tuple(t.shape)}: give one "
                         "relevance per element of x")
    fraction = _check_fraction(fraction, "fraction")
    m = _count(fraction, _units(t), "fraction")
    fill, _ = _fill(baseline, t, allow_mean=False)
    ranks = _rank_of(_unit_relevance(r.to(t.device)))
    out = _apply(t, ranks < m, fill)
    return out.cpu().numpy() if numpy_in else out


# ---------------------------------------------------------------------------- training

class _Trainer:
    """Calls ``train`` and checks what it returns: a new classifier of the samples."""

    def __init__(self, train, numpy_in: bool, batch_size, method: str):
        self.train, self.numpy_in, self.batch_size, self.method = \
            train, numpy_in, batch_size, method
        self.last = None

    def __call__(self, x: torch.Tensor, y: torch.Tensor, seed: int, what: str) -> Graph:
        args = (x.cpu().numpy(), y.cpu().numpy()) if self.numpy_in else (x, y.to(x.device))
        model = self.train(*args, seed)
        if not isinstance(model, (Graph, torch.nn.Module)):
            raise TypeError(f"train returned {type(model).__name__} ({what}); it must return "
                            "a neon.Graph or a torch.nn.Module classifying X")
        if model is self.last:
            raise ValueError(f"train returned the same model object twice ({what}): it must "
                             "build a new model and train it from scratch on every call")
        self.last = model
        if isinstance(model, Graph):
            return model
        import neon

        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), x.dtype)
        if torch.finfo(dtype).bits < torch.finfo(x.dtype).bits:
            raise TypeError(f"train returned a {dtype} model ({what}) but the samples are "
                            f"{x.dtype}: give X as {dtype} (X.float() / X.astype(np.float32)), "
                            "the dtype the model computes in, or train a model of the samples' "
                            "dtype")
        return neon.neuralize(model, x[:1].to(dtype))

    def accuracy(self, graph: Graph, x: torch.Tensor, y: torch.Tensor, what: str) -> float:
        """Fraction of x whose argmax output is y (the output checked: (N, classes))."""
        call = Call(graph, x, None, self.batch_size, method=self.method)
        out = torch.cat([call.output_at(part) for _, _, part, _ in call.chunks()])
        if out.dim() != 2 or out.shape[1] < 2:
            raise ValueError(f"the model train returned ({what}) has output shape "
                             f"{tuple(out.shape)}; a classifier's output must be (N, classes) "
                             "with at least 2 classes")
        top = int(y.max())
        if top >= out.shape[1]:
            raise ValueError(f"the labels go up to {top} but the model train returned ({what}) "
                             f"has {out.shape[1]} outputs: give a model with one output per "
                             "class")
        if not bool(torch.isfinite(out).all()):
            raise ValueError(f"the model train returned ({what}) gives NaN or infinite "
                             "outputs; check the training")
        return float((out.argmax(1) == y.to(out.device)).double().mean())


def _explain_labels(method, graph, x, y, batch_size, key: str) -> torch.Tensor:
    """R of ``method`` on graph at x for the classes y, on x's device."""
    call = Call(graph, x, y.to(graph.device), batch_size, method=_ROAR)
    try:
        r = relevance_of(call, method, call.target, name=f"the relevance of {key!r}")[0]
    except (ValueError, TypeError) as err:
        raise type(err)(f"methods[{key!r}]: {err}") from err
    return r.to(x.device)


# ---------------------------------------------------------------------------- ROAR

@dataclass(eq=False)
class RoarResult:
    """What :func:`roar` measured.

    Attributes
    ----------
    fractions : ndarray, shape (K,)
        The fractions f_k of features removed.
    removed : ndarray of int, shape (K,)
        m_k = ⌊f_k U + ½⌋, the features (positions, for images) removed per sample.
    units : int
        U, the features (positions) of a sample.
    accuracy : dict
        Method name → test accuracy after removal and retraining, ndarray (repeats, K);
        the methods in the order given, then ``"random"``.
    original : ndarray, shape (repeats,)
        Test accuracy of the model trained on the unmodified data (f = 0), per repeat.
    seeds : list of int
        The training seed of each repeat.
    baseline : str
        What removed features were replaced by.
    n_train, n_test : int
    """

    fractions: np.ndarray
    removed: np.ndarray
    units: int
    accuracy: dict
    original: np.ndarray
    seeds: list
    baseline: str
    n_train: int
    n_test: int

    @property
    def methods(self) -> list:
        return list(self.accuracy)

    @property
    def repeats(self) -> int:
        return len(self.original)

    def mean(self, method: str) -> np.ndarray:
        """Mean test accuracy over the repeats per fraction, shape (K,)."""
        check_choice(method, "method", tuple(self.accuracy))
        return self.accuracy[method].mean(0)

    def curve(self, method: str) -> tuple[np.ndarray, np.ndarray]:
        """(fractions with 0 prepended, mean accuracy with the unmodified one prepended)."""
        return (np.concatenate([[0.0], self.fractions]),
                np.concatenate([[self.original.mean()], self.mean(method)]))

    def area(self) -> dict:
        """Method → :class:`Score` of the normalized area under the accuracy curve, one
        value per repeat:

            A = (1 / f_K) ∫_0^{f_K} a(f) df,

        trapezoid through (0, a_0) and (f_k, a_k), a_0 the unmodified accuracy of the same
        repeat: the mean accuracy along the curve. Lower is better (the ranking removes
        what the label needs); compare with ``"random"``.
        """
        xs = np.concatenate([[0.0], self.fractions])
        out = {}
        for name, acc in self.accuracy.items():
            ys = np.concatenate([self.original[:, None], acc], axis=1)
            value = np.trapezoid(ys, xs, axis=1) / xs[-1]
            out[name] = Score("roar_area", value, False,
                              f"ROAR: mean test accuracy over the removed fraction 0 … "
                              f"{xs[-1]:g} (trapezoid, / {xs[-1]:g}), features ranked by "
                              f"{name}, removed features set to {self.baseline}, retrained "
                              "from scratch")
        return out

    def table(self) -> str:
        """The accuracies as a text table (mean ± std over repeats when repeats > 1)."""
        def cell(values):
            values = np.asarray(values)
            if values.size > 1:
                return f"{values.mean():.3f}±{values.std(ddof=1):.3f}"
            return f"{float(values.mean()):.3f}"

        area = self.area()
        head = ["method", "0", *(f"{f:g}" for f in self.fractions), "area"]
        rows = [head]
        for name, acc in self.accuracy.items():
            rows.append([name, cell(self.original), *(cell(acc[:, k])
                                                       for k in range(acc.shape[1])),
                         cell(area[name].values)])
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
        return (f"ROAR: test accuracy ({self.n_test} samples) after removing the top fraction "
                f"of the {self.units} features per sample (ranked by R, set to "
                f"{self.baseline}) and retraining on {self.n_train} samples; "
                f"{self.repeats} repeat(s); lower means the ranking found what the label "
                "needs\n" + "\n".join(lines))

    def __repr__(self) -> str:
        area = {k: round(v.mean(), 4) for k, v in self.area().items()}
        return (f"RoarResult({len(self.fractions)} fractions, {self.repeats} repeat(s), "
                f"unmodified accuracy {self.original.mean():.4g}; area {area})")


def roar(train, X_train, y_train, X_test, y_test, methods, *,
         fractions=(0.1, 0.3, 0.5, 0.7, 0.9), baseline="mean", repeats: int = 1, seed=None,
         batch_size=None) -> RoarResult:
    """RemOve And Retrain (Hooker et al., 2019): test accuracy of models retrained after the
    top-ranked features were removed from the training and test samples.

    1. ``train(X_train, y_train, s_r)`` for every repeat r: the unmodified test accuracy
       a_0; the model of repeat 0 is the one explained.
    2. Every method explains every training and test sample for its true label (``target =
       y``), on that one model: R = method(graph, X, y).
    3. For every method and fraction f_k: in every sample the m_k = ⌊f_k U + ½⌋ units with the
       largest R are replaced by the baseline (:func:`roar_remove`; units are features, or
       positions of image-like samples with R summed over channels, all channels replaced;
       ranked by the value of R, descending, ties in index order — Hooker et al. remove the
       features estimated most important), in the training and in the test set; a new model
       is trained from scratch on the modified training set with the same seed s_r, and its
       accuracy on the modified test set is a_k.
    4. The same for a random ranking (``"random"``, always included): i.i.d. uniform scores
       per sample and unit, drawn anew for every repeat (for train and test) from ``seed``.

    A ranking that found what the label depends on makes the accuracy fall faster than the
    random ranking; retraining separates that from the distribution shift that removal
    without retraining (:func:`~lrp.metrics.pixel_flipping`) also measures. But the mask —
    which features were replaced — is a function of the explained class (the true label, on
    the test set too), and a retrained model can read it: removal can add information about
    the class as well as take it away (accuracy can even rise above the unmodified one).
    Read the curves against the random one, not as a faithfulness score on their own.

    Parameters
    ----------
    train : callable
        ``train(X, y, seed) -> neon.Graph or torch.nn.Module`` (see the module docstring):
        called repeats × (1 + (M + 1) K) times, for M methods and K fractions.
    X_train, X_test : tensor or ndarray, shape (N, F) or (N, C, …)
        Samples of the same shape, at least 2 each; ``train`` gets tensors on X_train's
        device, or numpy arrays when X_train is one.
    y_train, y_test : tensor, ndarray or list of int
        Class labels 0 … classes − 1, one per sample.
    methods : dict
        Name → a method of :mod:`lrp` (``lrp.gradient``, ``functools.partial(lrp.explain,
        composite=lrp.EpsilonPlusFlat())``), its name, or any callable ``method(graph, x,
        target, *, batch_size=None)`` returning relevance shaped like x. Not empty; the name
        ``"random"`` is reserved.
    fractions : sequence of float
        The f_k, in (0, 1), increasing, each removing at least one unit and a different number
        of units.
    baseline : "mean", number or tensor
        What a removed feature becomes: ``"mean"`` (Hooker et al.'s choice), the per-feature
        mean of the unmodified X_train (per channel and position for images); a constant; or
        a tensor shaped like one sample.
    repeats : int
        Models trained per fraction (seeds s_r); the paper trains 5.
    seed : int or None
        s_r = seed + r, and the random ranking's generator is seeded with ``seed``. None:
        seeds and ranking drawn from torch's global generator (not reproducible).
    batch_size : int, optional
        Samples per pass of the methods and of the accuracy forward passes.

    Returns
    -------
    RoarResult
        ``accuracy[name]`` of shape (repeats, K), ``original``, ``area()``, ``table()``.

    References
    ----------
    Hooker, Erhan, Kindermans & Kim, "A benchmark for interpretability methods in deep
    neural networks", NeurIPS 2019.
    """
    train = _check_train(train)
    xtr, numpy_in = _features(X_train, "X_train")
    xte, _ = _features(X_test, "X_test")
    _same_samples(xte, xtr, "X_test", "X_train")
    if xte.dtype != xtr.dtype:
        raise TypeError(f"X_test is {xte.dtype}, X_train {xtr.dtype}: give both in the dtype "
                        "the model computes in")
    xte = xte.to(xtr.device)
    ytr = _labels(y_train, xtr.shape[0], "y_train", "X_train").to(xtr.device)
    yte = _labels(y_test, xte.shape[0], "y_test", "X_test").to(xtr.device)
    if int(torch.unique(ytr).numel()) < 2:
        raise ValueError("y_train holds a single class; a classifier needs at least 2")
    methods = _check_methods(methods)
    units = _units(xtr)
    fractions, counts = _check_fractions(fractions, units)
    repeats = check_number(repeats, "repeats", minimum=1, integer=True)
    seeds, generator = _seeds(seed, repeats, "one per repeat")
    batch_size = check_batch_size(batch_size)
    fill, fill_text = _fill(baseline, xtr, allow_mean=True)

    trainer = _Trainer(train, numpy_in, batch_size, _ROAR)
    original = np.empty(repeats)
    base = None
    for r, s in enumerate(seeds):
        graph = trainer(xtr, ytr, s, f"unmodified data, seed {s}")
        original[r] = trainer.accuracy(graph, xte, yte, f"unmodified data, seed {s}")
        if r == 0:
            base = graph
    ranks = {}
    for key, method in methods.items():
        rtr = _explain_labels(method, base, xtr, ytr, batch_size, key)
        rte = _explain_labels(method, base, xte, yte, batch_size, key)
        ranks[key] = (_rank_of(_unit_relevance(rtr)), _rank_of(_unit_relevance(rte)))

    def random_ranks():
        draws = [torch.rand((len(x), units), generator=generator, dtype=torch.float64)
                 for x in (xtr, xte)]
        return tuple(_rank_of(d.to(xtr.device)) for d in draws)

    accuracy = {}
    for key in [*methods, RANDOM]:
        acc = np.empty((repeats, len(counts)))
        for r, s in enumerate(seeds):
            rank_tr, rank_te = random_ranks() if key == RANDOM else ranks[key]
            for k, m in enumerate(counts.tolist()):
                what = f"{key!r}, fraction {fractions[k]:g}, seed {s}"
                graph = trainer(_apply(xtr, rank_tr < m, fill), ytr, s, what)
                acc[r, k] = trainer.accuracy(graph, _apply(xte, rank_te < m, fill), yte, what)
        accuracy[key] = acc
    return RoarResult(fractions=fractions, removed=counts, units=units, accuracy=accuracy,
                      original=original, seeds=seeds, baseline=fill_text,
                      n_train=xtr.shape[0], n_test=xte.shape[0])


# ---------------------------------------------------------------------------- data randomization

@dataclass(eq=False)
class DataRandomizationResult:
    """What :func:`data_randomization_check` measured.

    Attributes
    ----------
    scores : dict
        Similarity name → :class:`Score`: per sample of x, the similarity of the explanation
        on the true-label model with that on the permuted-label model
        (``higher_is_better=False``: low similarity means the method explains what the model
        learned).
    accuracy_true : float
        Training accuracy of the model trained on the true labels.
    accuracy_permuted : float
        Training accuracy of the permuted-label model on the labels it was trained on: near
        1 when it memorised them (Adebayo et al.'s setting; a warning below 0.9).
    accuracy_permuted_on_true : float
        The permuted-label model's training accuracy on the true labels (chance level).
    changed : float
        The share of training labels the permutation changed.
    permutation : ndarray of int, shape (N_train,)
        The permuted labels are ``y_train[permutation]``.
    target_true, target_permuted : ndarray
        The explained output masks (N, classes) on each model.
    method, absolute, seed : as given (``seed``: the training seed used for both models)
    """

    scores: dict
    accuracy_true: float
    accuracy_permuted: float
    accuracy_permuted_on_true: float
    changed: float
    permutation: np.ndarray = field(repr=False)
    target_true: np.ndarray = field(repr=False)
    target_permuted: np.ndarray = field(repr=False)
    method: str = ""
    absolute: bool = True
    seed: object = None

    def mean(self, similarity: str = "spearman") -> float:
        """Mean similarity over the samples (NaN values left out)."""
        check_choice(similarity, "similarity", tuple(self.scores))
        return self.scores[similarity].mean()

    def summary(self) -> str:
        parts = [f"{n}: mean {s.mean():.4g}, median {s.median():.4g}"
                 for n, s in self.scores.items()]
        n = len(next(iter(self.scores.values())))
        return (f"data randomization check of {self.method} on {n} samples "
                f"({'|R|' if self.absolute else 'signed R'}; training seed {self.seed}): "
                f"similarity of the explanation on the true-label model with that on a model "
                f"trained on permuted labels ({self.changed:.0%} of them changed) — "
                f"{'; '.join(parts)} (lower: the explanation depends on what the model "
                f"learned). Training accuracy: true labels {self.accuracy_true:.3f}; permuted "
                f"model on its labels {self.accuracy_permuted:.3f}, on the true labels "
                f"{self.accuracy_permuted_on_true:.3f}")


def data_randomization_check(train, X_train, y_train, x, method, *, target=None, seed=None,
                             similarity="spearman", absolute: bool = True,
                             batch_size=None) -> DataRandomizationResult:
    """Data randomization test (Adebayo et al., 2018): the explanation of a model trained on
    the true labels against that of the same architecture trained on permuted labels.

    The training labels are permuted (y' = y[π], π a uniformly random permutation drawn with
    ``seed``), which keeps the class frequencies and destroys the relation of X to y; the
    model trained on y' can only memorise it. Both models are trained with
    ``train(X_train, ·, s)`` and the same training seed s, so only the labels differ. Then
    ``method`` explains the same samples x on both, and the maps are compared per sample
    with the similarity measures of :func:`~lrp.metrics.randomization_check`: Spearman's ρ of
    the flattened maps (of |R| when ``absolute``, Adebayo's absolute rank correlation;
    :func:`~lrp.metrics.spearman`), and for images optionally SSIM of the normalized channel
    sums.

    A map that depends on what the model learned differs between the two models: low
    similarity (``higher_is_better=False``). A map that stays similar shows structure of the
    input (edges, the digit's strokes) more than the model's reasoning. Read the permuted
    model's training accuracy beside it: Adebayo et al.'s test assumes it fits the permuted
    labels (a warning is raised below 0.9).

    Parameters
    ----------
    train : callable
        ``train(X, y, seed) -> neon.Graph or torch.nn.Module`` (see the module docstring);
        called twice.
    X_train : tensor or ndarray, shape (N, …)
    y_train : tensor, ndarray or list of int
    x : tensor or ndarray
        The samples explained on both models (samples shaped like X_train's).
    method : callable or str
        A method of :mod:`lrp` or its name, called as ``method(graph, x, target_mask,
        batch_size=batch_size)`` on each model.
    target : as in :func:`lrp.explain`, keyword-only
        Read on each model at x. Default None: each model explains its own predicted class
        (so each map explains that model's decision). Give the true classes of x to explain
        the same class on both.
    seed : int or None
        The training seed of both models and the seed of the permutation's generator. None:
        both drawn from torch's global generator (not reproducible).
    similarity : "spearman", "ssim", a tuple of them, or None
        As in :func:`~lrp.metrics.randomization_check` (None: both for images of at least
        7 × 7, Spearman otherwise).
    absolute : bool
        Compare |R| (default, as Adebayo et al.'s figures) or signed R.
    batch_size : int, optional
        Samples per pass of the method and of the accuracy forward passes.

    Returns
    -------
    DataRandomizationResult

    References
    ----------
    Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim, "Sanity checks for saliency maps",
    NeurIPS 2018 (Sec. 3, "data randomization test").
    """
    train = _check_train(train)
    xtr, numpy_in = _features(X_train, "X_train")
    ytr = _labels(y_train, xtr.shape[0], "y_train", "X_train").to(xtr.device)
    if int(torch.unique(ytr).numel()) < 2:
        raise ValueError("y_train holds a single class: permuting it changes nothing; give "
                         "labels of at least 2 classes")
    xs, _ = _features(x, "x", minimum=1)
    _same_samples(xs, xtr, "x", "X_train")
    method = _sanity._check_method(method)
    names = _sanity._check_similarity(similarity, types.SimpleNamespace(xs=[xs]))
    check_flag(absolute, "absolute")
    batch_size = check_batch_size(batch_size)
    (train_seed,), generator = _seeds(seed, 1, "the same for both models")

    perm = torch.randperm(len(ytr), generator=generator).to(ytr.device)
    permuted = ytr[perm]
    trainer = _Trainer(train, numpy_in, batch_size, _DATA)
    g_true = trainer(xtr, ytr, train_seed, "true labels")
    acc_true = trainer.accuracy(g_true, xtr, ytr, "true labels")
    g_perm = trainer(xtr, permuted, train_seed, "permuted labels")
    acc_perm = trainer.accuracy(g_perm, xtr, permuted, "permuted labels")
    acc_perm_true = trainer.accuracy(g_perm, xtr, ytr, "permuted labels")

    call_t = Call(g_true, x, target, batch_size, method=_DATA)
    call_p = Call(g_perm, x, target, batch_size, method=_DATA)
    _, mask_t = call_t.outputs_and_masks()
    _, mask_p = call_p.outputs_and_masks()
    r_true = _sanity._explain(method, g_true, call_t, mask_t,
                              "the model trained on the true labels")
    r_perm = _sanity._explain(method, g_perm, call_p, mask_p,
                              "the model trained on permuted labels")
    values = _sanity._similarities(r_true, r_perm, names, absolute)
    _sanity._warn_undefined(values, _DATA)
    if acc_perm < MEMORISED:
        warnings.warn(f"{_DATA}: the model trained on permuted labels fits only "
                      f"{acc_perm:.1%} of them (below {MEMORISED:.0%}): it has not memorised "
                      "them, and the test assumes it has; train it longer (more epochs) or on "
                      "fewer samples", RuntimeWarning, stacklevel=2)
    what = "the true-label model's explanation"
    scores = {n: Score(n, values[n], False, _sanity._describe(n, absolute, what) +
                       " on the model trained on permuted labels") for n in names}
    return DataRandomizationResult(
        scores=scores, accuracy_true=acc_true, accuracy_permuted=acc_perm,
        accuracy_permuted_on_true=acc_perm_true,
        changed=float((permuted != ytr).double().mean()),
        permutation=perm.cpu().numpy(), target_true=mask_t.detach().cpu().numpy(),
        target_permuted=mask_p.detach().cpu().numpy(), method=_name(method),
        absolute=absolute, seed=train_seed)

