"""What to explain: targets as users mean them.

A target picks the output that relevance starts from. It is read in two steps:

1. :func:`resolve_target` (once per call, on the whole batch) turns what the user wrote into
   column indices or a mask. Graphs that declare output labels (every scikit-learn
   classifier, clusterer and pipeline: ``graph.output_labels``) read a scalar or a sequence
   as **labels** of the estimator's own type (ints, strings, whatever ``classes_`` holds),
   so ``target=model.predict(X)`` explains exactly the predicted classes. Column indices
   stay available through :class:`Column`. Graphs without labels (torch imports,
   regressors) read integers as column indices.
2. :func:`select_target` (per chunk) turns that into a mask shaped like the output.

Refused, with a message that says what to pass: booleans (unless they are the labels),
floats that are not integers, integer arrays shaped like the output (a mask must be
floating point: ``mask.float()``), strings on a graph without labels, labels the graph does
not have, out-of-range columns.

:class:`Versus` explains a class against the others (a contrastive float mask, such as
e_c − mean_{k≠c} e_k), its classes read like any other target.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

__all__ = ["Column", "Versus", "TargetError", "resolve_target", "select_target"]


class TargetError(ValueError):
    """The requested target does not fit the graph's output."""


class Column:
    """Explain output column(s) by position, whatever labels the graph declares.

    ``lrp.explain(graph, X, target=lrp.Column(0))`` explains the first output column;
    ``lrp.Column([0, 2, 1])`` one column per sample.

    Parameters
    ----------
    index : int or sequence of int
    """

    def __init__(self, index):
        if isinstance(index, Column):
            index = index.index
        arr = np.asarray(index.detach().cpu() if isinstance(index, torch.Tensor) else index)
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer) or arr.ndim > 1:
            raise TargetError(f"lrp.Column takes an int or a 1-d sequence of ints, got {index!r}")
        self.index = arr

    def __repr__(self):
        return f"Column({self.index.tolist()!r})"


class Versus:
    """Explain a class against the others: a contrastive target mask.

    The mask of sample n, with c = c_n the explained class and e_k the k-th unit vector, is

    * ``others="mean"``: e_c − (1/(C−1)) Σ_{k≠c} e_k, so the explained score is
      f_c − mean_{k≠c} f_k;
    * ``others="max"``: e_c − e_{k*}, k* = argmax_{k≠c} f_k(x) the strongest rival of that
      sample (read on the output the method reads the target on; methods that evaluate the
      graph away from x fix the mask at x), so the score is f_c − max_{k≠c} f_k;
    * ``others=[k₁, …]`` (labels or columns, a set): e_c − (1/|K|) Σ_{k∈K} e_k with
      K = {k₁, …} minus {c}, the mean of the listed classes other than the sample's own.

    Every method reads it through ``target=`` (:func:`lrp.calls.target_mask`): the gradient
    of the contrast is ∂f_c/∂x − mean_{k≠c} ∂f_k/∂x, LRP starts at R = f ⊙ mask (Σ R_start =
    f_c − mean_{k≠c} f_k), and every walk or mask-linear method explains the difference of
    the class scores. Zhang et al.'s contrastive excitation backprop
    (``lrp.excitation_backprop(..., contrastive=True)``) contrasts a class with its dual unit
    (negated top-layer weights) instead; both are linear in the mask, so they combine (the
    dual then contrasts the whole class difference).

    Parameters
    ----------
    target : label, column index, sequence of them (one per sample), lrp.Column, or None
        The explained class, read exactly as ``target=`` is (labels for graphs that declare
        output labels, such as neuralized classifiers; column indices for torch graphs;
        :class:`Column` for positions). ``None``: the predicted class of each sample.
    others : {"mean", "max"} or sequence of classes
        The rivals: the mean of all other classes, the strongest other class per sample,
        or the mean of the listed classes (labels or columns like ``target``; a list even
        for one rival).

    Notes
    -----
    The explained output must be (N, C) with C ≥ 2. A per-sample ``target`` is sliced with
    the batch (``len``, ``ndim`` and ``versus[start:stop]``, the protocol of per-sample
    targets in :mod:`lrp.calls`), so ``batch_size=`` chunks read the right classes.

    References
    ----------
    Gu, Yang & Tresp, "Understanding individual decisions of CNNs via contrastive
    backpropagation", ACCV 2018; Zhang et al., "Top-down neural attention by excitation
    backprop", ECCV 2016.
    """

    MODES = ("mean", "max")

    def __init__(self, target=None, others="mean"):
        if isinstance(target, Versus):
            raise TargetError("lrp.Versus takes a class (a label, a column index, one per "
                              "sample, or lrp.Column), not another Versus")
        if callable(target) and not isinstance(target, (torch.Tensor, np.ndarray, Column)):
            raise TargetError("lrp.Versus takes a class (a label, a column index, one per "
                              "sample, or lrp.Column), not a callable")
        index = getattr(target, "index", None)
        if hasattr(target, "to_numpy") and index is not None and not (
                list(index) == list(range(len(index)))):
            raise TargetError("lrp.Versus reads one class per sample by position, and this "
                              "pandas Series has its own index: align it to the rows of x "
                              "first (series.loc[X.index].to_numpy())")
        if target is not None and not isinstance(target, Column) and not (
                isinstance(target, (str, bytes)) or np.ndim(_as_array(target)) == 0):
            target = _as_array(target)
            if target.ndim != 1:
                raise TargetError(f"lrp.Versus takes one class per sample (a 1-d sequence), "
                                  f"got an array of shape {target.shape}; a float mask is "
                                  "given as target= itself")
        self.target = target
        self.others = self._check_others(others)

    @staticmethod
    def _check_others(others):
        if isinstance(others, str):
            if others not in Versus.MODES:
                raise TargetError(f"others must be 'mean', 'max' or a sequence of classes, got "
                                  f"{others!r} (to name one rival label, pass a list: "
                                  f"others=[{others!r}])")
            return others
        if isinstance(others, Column):
            rivals = others.index.reshape(-1)
            if not len(rivals):
                raise TargetError("others is an empty lrp.Column: list at least one rival")
            return Column(rivals)
        if isinstance(others, (bytes, bool, numbers.Number)) or others is None or \
                not hasattr(others, "__iter__"):
            raise TargetError(f"others must be 'mean', 'max' or a sequence of classes, got "
                              f"{others!r}; for one rival pass a list: others=[k]")
        rivals = _as_array(list(others) if isinstance(others, (set, frozenset)) else others)
        if rivals.ndim != 1 or not len(rivals):
            raise TargetError(f"others must be a non-empty 1-d sequence of classes, got shape "
                              f"{rivals.shape}")
        return rivals

    @property
    def ndim(self) -> int:
        """1 for one class per sample, 0 for one class for all (or the predicted class)."""
        if isinstance(self.target, Column):
            return int(self.target.index.ndim)
        return int(isinstance(self.target, np.ndarray))

    def __len__(self):
        if not self.ndim:
            raise TypeError("this lrp.Versus names one class for every sample (no length)")
        return len(self.target.index if isinstance(self.target, Column) else self.target)

    def __getitem__(self, key):
        """The Versus of samples ``key`` (a slice) of a per-sample target."""
        if not self.ndim:
            return self
        picked = Column(self.target.index[key]) if isinstance(self.target, Column) \
            else self.target[key]
        return Versus(picked, self.others)

    @property
    def iloc(self):
        """Positional slicing, ``versus.iloc[start:stop]`` (as the per-sample targets)."""
        return self

    def resolve(self, graph, n: int, out_shape: tuple | None = None):
        """``out -> mask`` for ``n`` samples of ``graph``, the classes read as
        :func:`resolve_target` reads them (labels on labelled graphs)."""
        chosen = None if self.target is None else _classes(graph, self.target, n, "target",
                                                           out_shape)
        rivals = None if isinstance(self.others, str) else \
            _classes(graph, self.others, len(self.others.index) if isinstance(
                self.others, Column) else len(self.others), "others").reshape(-1)

        def mask(out):
            return self._mask(out, chosen, rivals)

        return mask

    def _mask(self, out, chosen, rivals):
        if out.dim() != 2 or out.shape[1] < 2:
            raise TargetError(f"lrp.Versus contrasts the classes of an (N, C) output with C ≥ 2; "
                              f"this graph's explained output has shape {tuple(out.shape)}")
        own = select_target(out, chosen)               # e_c (range and shape checked)
        if isinstance(self.others, str) and self.others == "max":
            rival = out.detach().masked_fill(own > 0, -torch.inf).argmax(1)
            return own - select_target(out, rival)
        if rivals is None:
            weights = 1 - own
        else:
            classes = out.shape[1]
            bad = rivals[(rivals < 0) | (rivals >= classes)]
            if len(bad):
                raise TargetError(f"others lists class {int(bad[0])}, which is out of range: "
                                  f"the output has {classes} classes (0 … {classes - 1})")
            weights = torch.zeros_like(out)
            weights[:, rivals.to(out.device)] = 1
            weights = weights * (1 - own)
            lonely = weights.sum(1) == 0
            if bool(lonely.any()):
                first = int(lonely.nonzero()[0, 0])
                raise TargetError(f"sample {first} has no rival: others lists only its own "
                                  "class; list at least one other class")
        return own - weights / weights.sum(1, keepdim=True)

    def __repr__(self):
        target = self.target.tolist() if isinstance(self.target, np.ndarray) else self.target
        others = self.others.tolist() if isinstance(self.others, np.ndarray) else self.others
        return f"Versus({target!r}, others={others!r})"


def _classes(graph, value, n, name, out_shape=None):
    """Column indices (LongTensor) of the classes ``value`` names, read as targets are."""
    try:
        cols = resolve_target(graph, value, n, out_shape)
    except TargetError as err:
        raise TargetError(f"lrp.Versus {name}: {err}") from None
    if not isinstance(cols, torch.Tensor) or cols.dtype != torch.long or cols.dim() > 1:
        raise TargetError(f"lrp.Versus {name} must name classes (labels or column indices), "
                          f"got {_describe(value)}")
    return cols


def _describe(target) -> str:
    if isinstance(target, (torch.Tensor, np.ndarray)):
        return f"{type(target).__name__} of dtype {target.dtype} and shape {tuple(target.shape)}"
    return repr(target)


def _labels_to_columns(labels: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Column index of each wanted label (a TargetError naming the unknown ones); one sorted
    search for the whole batch."""
    try:
        order = np.argsort(labels, kind="stable")
        ranked = labels[order]
        pos = np.clip(np.searchsorted(ranked, wanted), 0, len(labels) - 1)
        found = ranked[pos] == wanted
    except TypeError:    # labels and targets that do not compare (mixed types)
        found = np.zeros(np.shape(wanted), dtype=bool)
        pos = order = None
    if not bool(np.all(found)):
        missing = list(dict.fromkeys(np.asarray(wanted)[~np.asarray(found, dtype=bool)]
                                     .ravel().tolist()))
        shown = ", ".join(map(repr, missing[:5]))
        raise TargetError(
            f"target label(s) {shown} are not among this graph's output labels "
            f"{labels.tolist()!r}. Targets are read as labels (as the estimator's predict "
            "returns them); to pick output columns by position use lrp.Column(i).")
    return order[pos].astype(np.int64)


def _as_array(target):
    if isinstance(target, torch.Tensor):
        return target.detach().cpu().numpy()
    if hasattr(target, "to_numpy") and not isinstance(target, np.ndarray):   # pandas
        return target.to_numpy()
    return np.asarray(target)


def resolve_target(graph, target, n: int, out_shape: tuple | None = None):
    """The target as the propagator needs it: ``None``, a callable, a LongTensor of column
    indices (scalar or (N,)), or a floating mask tensor (shaped like the output).

    Parameters
    ----------
    graph : neon.Graph
        Its ``output_labels`` (if declared) give the meaning of labels.
    target
        None, a label / column index, one per sample, a float mask shaped like the output, a
        :class:`Column`. (A callable ``out -> target`` is called by the propagator per chunk
        and its result read like a target given directly: labels on labelled graphs; return
        ``lrp.Column(...)`` for positions.) A :class:`Versus` becomes a callable
        ``out -> mask`` (its classes read here, its mask built on the output).
    n : int
        The number of samples.
    out_shape : tuple, optional
        The explained output's shape (with batch axis), to recognize masks.
    """
    if target is None or (callable(target) and not isinstance(
            target, (torch.Tensor, np.ndarray, Column))):
        return target
    if isinstance(target, Versus):
        return target.resolve(graph, n, out_shape)
    if isinstance(target, Column):
        return torch.as_tensor(target.index, dtype=torch.long)
    labels = graph.output_labels
    arr = _as_array(target)
    if arr.dtype == object and arr.ndim == 0:
        arr = np.asarray([target]).reshape(())
    like_output = out_shape is not None and tuple(arr.shape) == tuple(out_shape)
    if arr.dtype == bool and (labels is None or labels.dtype != bool or arr.ndim > 1):
        what = "a boolean mask" if arr.ndim else "boolean"
        raise TargetError(f"target {_describe(target)} is {what}: a mask must be floating "
                          "point (mask.float() / mask.astype(float)); a class is an index or "
                          "a label")
    floating = np.issubdtype(arr.dtype, np.floating)
    if floating and arr.ndim >= 1 and (labels is None or like_output or arr.ndim > 1):
        return torch.as_tensor(arr)               # a mask; select_target checks its shape
    if arr.ndim > 1 or (like_output and arr.ndim > 0 and len(out_shape) > 1):
        if like_output:
            raise TargetError(
                f"target is an array of dtype {arr.dtype} shaped like the output {out_shape}: "
                "a mask must be floating point (pass mask.float() / mask.astype(float)); for "
                f"one class per sample pass shape ({n},)")
        return torch.as_tensor(arr)               # select_target: one class per sample
    if labels is not None:
        if np.issubdtype(labels.dtype, np.number) and np.issubdtype(arr.dtype, np.number):
            cast = arr.astype(labels.dtype)
            arr = cast if np.all(cast == arr) else arr
        return torch.as_tensor(_labels_to_columns(labels, arr))
    # no labels: integers are column indices
    if arr.dtype.kind in "USO":
        raise TargetError(f"target {_describe(target)} names a label, but this graph declares "
                          "no output labels (torch graphs and regressors have none): pass "
                          "column indices")
    if floating:   # a scalar
        if not np.isfinite(arr) or arr != np.round(arr):
            raise TargetError(f"target {_describe(target)} holds floats that are not integers: "
                              "pass class indices (ints), or a float mask shaped like the "
                              f"output {out_shape}")
        arr = arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TargetError(f"target {_describe(target)} is not a class index, a label or a mask")
    return torch.as_tensor(arr.astype(np.int64))


def select_target(out: torch.Tensor, target) -> torch.Tensor:
    """Turn a resolved ``target`` into a mask/weight tensor shaped like ``out``.

    ``target``: None (the predicted class, argmax over axis 1; all of a (N,) or (N, 1)
    output), a column index, one column per sample, a floating mask shaped like the output,
    or a callable ``out -> any of these``.
    """
    n = out.shape[0]
    if callable(target) and not isinstance(target, (torch.Tensor, np.ndarray)):
        result = target(out)
        if callable(result) and not isinstance(result, (torch.Tensor, np.ndarray)):
            raise TargetError("a target callable must return column indices or a mask")
        return select_target(out, result)
    if target is None:
        if out.dim() == 1 or (out.dim() == 2 and out.shape[1] == 1):
            return torch.ones_like(out)
        if out.dim() != 2:
            raise TargetError(f"output of shape {tuple(out.shape)}: give a target mask shaped "
                              "like it (the predicted class is defined for (N, C) outputs)")
        target = out.argmax(1)
    if isinstance(target, bool) or isinstance(target, np.bool_):
        raise TargetError(f"target {target!r} is boolean; pass a class index or a float mask")
    if isinstance(target, numbers.Integral):
        target = torch.full((n,), int(target), dtype=torch.long, device=out.device)
    target = torch.as_tensor(np.asarray(target) if not isinstance(target, torch.Tensor)
                             else target, device=out.device)
    if target.dtype == torch.bool:
        raise TargetError("a boolean target is ambiguous: pass class indices or a float mask "
                          "(mask.float())")
    is_mask = target.dtype.is_floating_point
    if target.dim() == 0 and not is_mask:  # a class as a 0-d tensor or array
        target = target.reshape(1).expand(n)
    if is_mask or (target.dim() >= 2 and tuple(target.shape) == tuple(out.shape)):
        if not is_mask:
            raise TargetError(f"an integer target shaped like the output {tuple(out.shape)} is "
                              "ambiguous: a mask must be floating point (mask.float())")
        if tuple(target.shape) != tuple(out.shape):
            hint = ""
            if target.dim() == 1 and target.shape[0] == n and out.dim() == 2:
                integral = bool(torch.isfinite(target).all() and (target == target.round()).all())
                hint = ("; this graph has one output column: target=None explains it"
                        if out.shape[1] == 1 else
                        ": class indices must be integers (target.long())" if integral else "")
            raise TargetError(f"a target mask must be shaped like the output "
                              f"{tuple(out.shape)}, got {tuple(target.shape)}{hint}")
        if not bool(torch.isfinite(target.to(out.dtype)).all()):
            raise TargetError("the target mask contains NaN or infinite values")
        return target.to(out.dtype)
    if out.dim() < 2:
        raise TargetError(f"class targets need an (N, C) output; this graph's output has shape "
                          f"{tuple(out.shape)}: use target=None or a mask")
    if target.dim() != 1 or target.shape[0] != n:
        raise TargetError(f"give one class per sample: expected shape ({n},), got "
                          f"{tuple(target.shape)}")
    classes = out.shape[1]
    if classes == 1 and bool((target != 0).any()):
        raise TargetError("this graph has one output column (a regressor, a density, an "
                          "outlier score): target=None explains it; there are no classes "
                          "to pick")
    if bool(((target < 0) | (target >= classes)).any()):
        bad = target[(target < 0) | (target >= classes)][0].item()
        raise TargetError(f"target class {bad} is out of range: the output has {classes} "
                          f"classes (0 … {classes - 1})")
    mask = torch.zeros_like(out)
    mask.reshape(n, classes, -1)[torch.arange(n, device=out.device), target.long()] = 1
    return mask
