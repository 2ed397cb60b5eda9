"""Whole data sets explained with bounded memory, streamed to a store, resumable.

:func:`explain_dataset` runs any method of :mod:`lrp` over a data set batch by batch — an
array, a DataFrame, a torch ``Dataset`` or ``DataLoader``, or any iterable of batches — and
writes every batch's results to a zarr store as soon as they are computed (or keeps them in
memory when no store is given). Memory is bounded by ``batch_size``, not by the data set.

The store (a zarr v3 group; the ``dask`` extra installs zarr) holds, chunked along samples
with one chunk per batch:

==================  ==================  ================================================
array               shape               what
==================  ==================  ================================================
``relevance``       (N, *sample)        the method's result per sample
``output``          (N,)                the explained output f(x) (Σ_c mask_c f_c)
``target``          (N,)                the explained column (−1 for a weighted mask)
``relevance_sum``   (N,)                ΣR per sample (conservation: ΣR / f)
``checksum``        (batches,)          CRC-32 of each batch's stored bytes
``done``            (batches,)          1 once a batch is completely written
==================  ==================  ================================================

and in its attributes the **fingerprint** of the run: a SHA-256 of the graph's structure and
weights, the method, its options, the target and the batch size.

Nothing is lost when a run dies. A batch is written array by array, then its checksum, then
its completion marker, so a batch that a killed process (SIGKILL, out of memory, machine
gone) left half-written has no marker and is computed again. Restarted with the same
arguments, :func:`explain_dataset` verifies every marked batch (shape and checksum) and
skips it, so the finished store is bit for bit that of an uninterrupted run. Resuming with
another model, method, option, target or batch size is refused: the fingerprint differs.

Seeded methods (``lime``, ``smoothgrad``, ``rise``, …) draw with a generator per batch,
seeded with ``seed`` and the batch's index, so a resumed batch draws what it drew the first
time.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .calls import Call, check_batch_size, check_graph, target_mask
from .rules.base import check_flag

__all__ = ["explain_dataset", "DatasetExplanation", "StoreMismatchError", "fingerprint",
           "open_store", "is_stored", "row_blocks"]

FORMAT = 1
"""Version of the store layout (``attrs["neon_explanations"]``)."""

_ARRAYS = ("relevance", "output", "target", "relevance_sum")


class StoreMismatchError(ValueError):
    """A store written by another run (model, method, options, target or batch size)."""


# ------------------------------------------------------------------------------ fingerprints

def _graph_hash(graph) -> str:
    """SHA-256 of the graph's structure (nodes, ops, inputs) and of every tensor it holds."""
    h = hashlib.sha256()
    for spec in graph.input_specs:
        h.update(repr((spec.name, spec.shape, spec.vocabulary)).encode())
    for node in graph.nodes:
        h.update(repr((node.name, type(node.op).__name__, node.inputs,
                       node.op.extra_repr())).encode())
    for key, tensor in sorted(graph.state_dict().items()):
        h.update(key.encode())
        t = tensor.detach().cpu().contiguous()
        h.update(str(t.dtype).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _describe(value) -> str:
    """A stable text for an option value (tensors and arrays by content hash)."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        a = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
        digest = hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]
        return f"array{tuple(a.shape)}:{a.dtype}:{digest}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_describe(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_describe(v)}" for k, v in sorted(value.items())) + "}"
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}"
    return repr(value)


def fingerprint(graph, method, options: dict, target, batch_size: int) -> dict:
    """What identifies a run: the graph's hash, the method, its options, the target and the
    batch size (each as text)."""
    return {"graph": _graph_hash(graph), "method": _describe(method),
            "options": _describe(options), "target": _describe(target),
            "batch_size": int(batch_size)}


# ------------------------------------------------------------------------------ batches

@dataclass
class _Batch:
    index: int
    start: int
    x: object
    labels: object = None


def _is_frame(data) -> bool:
    return hasattr(data, "iloc") and hasattr(data, "columns")


def _length(data):
    """The number of samples when known without iterating (arrays, frames, Datasets)."""
    if isinstance(data, (torch.Tensor, np.ndarray)) or _is_frame(data):
        return len(data)
    if is_stored(data):
        return int(_stored_array(data).shape[0])
    if isinstance(data, torch.utils.data.DataLoader):
        try:
            return len(data.dataset)
        except TypeError:
            return None
    if isinstance(data, torch.utils.data.Dataset) and hasattr(data, "__len__"):
        return len(data)
    return None


def _split(item):
    """(x, labels) of one batch: a pair (x, y) or x alone."""
    if isinstance(item, (tuple, list)) and len(item) == 2 and \
            not isinstance(item[0], numbers.Number):
        return item[0], item[1]
    return item, None


def _batches(data, batch_size: int):
    """The batches of ``data``, in order, each with its index and first sample's position."""
    if isinstance(data, (torch.Tensor, np.ndarray)) or _is_frame(data):
        for k, start in enumerate(range(0, len(data), batch_size)):
            part = data.iloc[start:start + batch_size] if _is_frame(data) else \
                data[start:start + batch_size]
            yield _Batch(k, start, part)
        return
    if is_stored(data):          # a zarr or dask array of inputs, larger than memory
        for k, (start, _, block) in enumerate(row_blocks(data, batch_size)):
            yield _Batch(k, start, block)
        return
    if isinstance(data, torch.utils.data.Dataset) and not isinstance(
            data, torch.utils.data.IterableDataset):
        data = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
    if isinstance(data, torch.utils.data.DataLoader) and data.batch_size is not None and \
            data.batch_size != batch_size:
        raise ValueError(f"the DataLoader makes batches of {data.batch_size} but "
                         f"batch_size={batch_size}; give batch_size={data.batch_size} (the "
                         "store's chunks are the loader's batches)")
    if isinstance(data, (str, bytes, dict)) or not hasattr(data, "__iter__"):
        raise TypeError(f"data must be an array, a DataFrame, a torch Dataset or DataLoader, "
                        f"or an iterable of batches, got {type(data).__name__}")
    start = 0
    for k, item in enumerate(data):
        x, labels = _split(item)
        n = len(x)
        if n == 0:
            raise ValueError(f"batch {k} of the data is empty")
        yield _Batch(k, start, x, labels)
        start += n


# ------------------------------------------------------------------------------ store

def _zarr():
    try:
        import zarr
    except ImportError:
        raise ImportError("writing explanations to a store needs zarr: pip install "
                          "'neon-xai[dask]' (or pip install zarr)") from None
    return zarr


def open_store(path, mode: str = "r"):
    """The zarr group of an explanation store (``mode="r"`` read-only)."""
    zarr = _zarr()
    group = zarr.open_group(str(path), mode=mode)
    if group.attrs.get("neon_explanations") != FORMAT:
        raise StoreMismatchError(f"{path} is not an explanation store written by "
                                 "lrp.explain_dataset")
    return group


def _checksum(arrays) -> int:
    crc = 0
    for a in arrays:
        crc = zlib.crc32(np.ascontiguousarray(a).tobytes(), crc)
    return crc


class _Store:
    """A zarr group being written batch by batch (see the module notes)."""

    def __init__(self, path, print_: dict, n, batch_size: int):
        zarr = _zarr()
        self.path, self.batch_size = Path(path), batch_size
        exists = (self.path / "zarr.json").exists()
        if exists:
            group = zarr.open_group(str(self.path), mode="r+")
            known = group.attrs.get("fingerprint")
            if group.attrs.get("neon_explanations") != FORMAT or known is None:
                raise StoreMismatchError(f"{self.path} exists and is not an explanation store; "
                                         "give a new path")
            differ = [k for k in print_ if known.get(k) != print_[k]]
            if differ:
                raise StoreMismatchError(
                    f"{self.path} holds explanations of another run ({', '.join(differ)} "
                    "differ): resuming would mix two runs. Give a new path, or the same "
                    "model, method, options, target and batch size")
            self.group = group
        else:
            self.group = zarr.open_group(str(self.path), mode="w")
            self.group.attrs.update({"neon_explanations": FORMAT, "fingerprint": print_})
        self.n = n

    def _create(self, sample_shape, dtype):
        g, b = self.group, self.batch_size
        n = self.n or 0
        batches = -(-n // b) if self.n else 0
        specs = {"relevance": ((n, *sample_shape), (b, *sample_shape), dtype),
                 "output": ((n,), (b,), "float64"), "target": ((n,), (b,), "int64"),
                 "relevance_sum": ((n,), (b,), "float64"),
                 "checksum": ((batches,), (1024,), "uint32"),
                 "done": ((batches,), (1024,), "uint8")}
        for name, (shape, chunks, kind) in specs.items():
            if name not in g:
                g.create_array(name, shape=shape, chunks=chunks, dtype=kind,
                               fill_value=0)
        if tuple(g["relevance"].shape[1:]) != tuple(sample_shape) or \
                str(g["relevance"].dtype) != str(np.dtype(dtype)):
            raise StoreMismatchError(
                f"{self.path}: the stored relevance is {g['relevance'].dtype} of sample shape "
                f"{tuple(g['relevance'].shape[1:])}, this run gives {np.dtype(dtype)} of "
                f"{tuple(sample_shape)}")

    def ready(self) -> bool:
        return "relevance" in self.group

    def _grow(self, stop: int, index: int):
        g = self.group
        for name in _ARRAYS:
            if g[name].shape[0] < stop:
                g[name].resize((stop, *g[name].shape[1:]))
        for name in ("checksum", "done"):
            if g[name].shape[0] <= index:
                g[name].resize((index + 1,))

    def is_done(self, batch: _Batch, n: int) -> bool:
        """Whether ``batch`` (of ``n`` samples) is completely and correctly stored."""
        g = self.group
        if not self.ready() or g["done"].shape[0] <= batch.index or not g["done"][batch.index]:
            return False
        stop = batch.start + n
        if g["relevance"].shape[0] < stop:
            return False
        stored = [g[name][batch.start:stop] for name in _ARRAYS]
        return _checksum(stored) == int(g["checksum"][batch.index])

    def write(self, batch: _Batch, arrays: dict):
        if not self.ready():
            self._create(arrays["relevance"].shape[1:], arrays["relevance"].dtype)
        n = len(arrays["output"])
        stop = batch.start + n
        self._grow(stop, batch.index)
        g = self.group
        g["done"][batch.index] = 0               # rewriting: not complete until marked
        for name in _ARRAYS:
            g[name][batch.start:stop] = arrays[name]
        g["checksum"][batch.index] = _checksum([arrays[name] for name in _ARRAYS])
        g["done"][batch.index] = 1

    def finish(self, total: int, batches: int):
        g = self.group
        for name in _ARRAYS:
            if g[name].shape[0] != total:
                g[name].resize((total, *g[name].shape[1:]))
        for name in ("checksum", "done"):
            g[name].resize((batches,))
        g.attrs["complete"] = True
        g.attrs["samples"] = total


# ------------------------------------------------------------------------------ results

@dataclass
class DatasetExplanation:
    """Every sample's explanation: in memory (numpy arrays, or tensors for tensor data) or
    the arrays of a zarr store (``store`` set), read lazily.

    Attributes
    ----------
    relevance : (N, *sample) array
    output : (N,) array
        The explained output f(x).
    target : (N,) array
        The explained column, −1 where the target was a weighted mask.
    relevance_sum : (N,) array
        ΣR per sample.
    store : zarr.Group or None
    """

    relevance: object
    output: object
    target: object
    relevance_sum: object
    store: object = None

    def __len__(self) -> int:
        return len(self.output)

    @property
    def conservation(self) -> np.ndarray:
        """ΣR / f per sample (NaN where f = 0)."""
        f = np.asarray(self.output[:], dtype=np.float64)
        s = np.asarray(self.relevance_sum[:], dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(f != 0, s / np.where(f != 0, f, 1), np.nan)

    def to_dask(self):
        """The relevance as a dask array, chunked like the store."""
        import dask.array as da

        return da.from_zarr(self.relevance) if self.store is not None else \
            da.from_array(np.asarray(self.relevance))


# ------------------------------------------------------------------------------ reading

def is_stored(a) -> bool:
    """Whether ``a`` is relevance read in chunks: a zarr array, a dask array, or a
    :class:`DatasetExplanation` (its relevance)."""
    if isinstance(a, DatasetExplanation):
        return True
    return type(a).__module__.split(".")[0] in ("zarr", "dask")


def _stored_array(a):
    return a.relevance if isinstance(a, DatasetExplanation) else a


def row_blocks(a, rows: int | None = None):
    """``(start, stop, block)`` over the rows of a stored array, each block a numpy array of
    at most ``rows`` rows (default: the store's chunk along axis 0)."""
    a = _stored_array(a)
    if rows is None:
        chunks = a.chunks
        rows = int(chunks[0][0] if isinstance(chunks[0], tuple) else chunks[0])
    n = a.shape[0]
    for start in range(0, n, max(1, rows)):
        stop = min(start + rows, n)
        block = a[start:stop]
        if hasattr(block, "compute"):
            block = block.compute()
        yield start, stop, np.asarray(block)


# ------------------------------------------------------------------------------ the loop

def _method(method):
    from .metrics.inputs import resolve_method

    if isinstance(method, str) and method == "lrp":
        method = "explain"
    return resolve_method(method)


def _seed_for(options: dict, index: int) -> dict:
    """Options with a per-batch seed (the same batch draws the same numbers on resume)."""
    seed = options.get("seed")
    if seed is None or isinstance(seed, torch.Generator):
        if isinstance(seed, torch.Generator):
            raise TypeError("explain_dataset takes seed as an integer (a generator's state "
                            "cannot be restored when a run resumes)")
        return options
    return dict(options, seed=int(np.random.SeedSequence([int(seed), index])
                                  .generate_state(1)[0]))


def _targets(target, labels, batch: _Batch, n: int):
    if isinstance(target, str) and target == "labels":
        if labels is None:
            raise ValueError("target='labels' reads the targets from the data, but its "
                             f"batch {batch.index} has none: give (x, y) batches or a "
                             "Dataset of (x, y) pairs")
        return labels
    if isinstance(target, (torch.Tensor, np.ndarray, list)) and np.ndim(target) >= 1:
        return target[batch.start:batch.start + n]
    if hasattr(target, "iloc"):
        return target.iloc[batch.start:batch.start + n]
    return target


def _to_numpy(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().numpy()
    if hasattr(t, "to_numpy"):
        return t.to_numpy()
    return np.asarray(t)


def _explain_batch(graph, method, batch: _Batch, target, options, composite):
    """(relevance, output, target column, ΣR) of one batch, as numpy arrays."""
    call = Call(graph, batch.x, None, None, method="lrp.explain_dataset")
    out = call.output_at(call.xs)
    mask = target_mask(call.graph, out, _targets(target, batch.labels, batch, call.n))
    one_hot = bool(((mask == 0) | (mask == 1)).all()) and bool((mask.sum(1) == 1).all())
    column = mask.argmax(1) if one_hot else torch.full((call.n,), -1, device=mask.device)
    kwargs = dict(options)
    if composite is not None:
        kwargs["composite"] = composite
    result = method(graph, batch.x, mask, **kwargs)
    if isinstance(result, tuple):
        raise ValueError("explain_dataset stores the relevance of one input; this graph has "
                         f"{len(result)}")
    relevance = _to_numpy(result)
    if relevance.shape[0] != call.n:
        raise ValueError(f"the method returned {relevance.shape[0]} rows for a batch of "
                         f"{call.n}")
    explained = (out * mask.to(out.dtype)).reshape(call.n, -1).sum(1)
    total = relevance.reshape(call.n, -1).sum(1, dtype=np.float64)
    return {"relevance": relevance, "output": _to_numpy(explained).astype(np.float64),
            "target": _to_numpy(column).astype(np.int64), "relevance_sum": total}


def explain_dataset(graph, data, *, method="lrp", composite=None, target=None,
                    batch_size: int = 256, out=None, progress: bool = True,
                    **options) -> DatasetExplanation:
    """Explain every sample of a data set, batch by batch, streaming the results to ``out``.

    Parameters
    ----------
    graph : neon.Graph
    data : array, tensor, DataFrame, zarr or dask array, torch Dataset or DataLoader, or
        iterable of batches
        Samples batch axis first (a zarr or dask array is read one batch at a time: data
        larger than memory). A Dataset (or DataLoader) may give ``(x, y)`` pairs, an
        iterable may give ``x`` or ``(x, y)`` batches; ``y`` is used with
        ``target="labels"``. A DataLoader must make batches of ``batch_size`` and must not
        shuffle (a resumed run must see the same batches).
    method : str or callable
        ``"lrp"`` (:func:`lrp.explain`) or any method of :mod:`lrp` by name or as a
        callable ``method(graph, x, target, **options)``.
    composite : optional
        For LRP: the composite (as in :func:`lrp.explain`).
    target : None, label, per-sample array, "labels", lrp.Column, or callable
        What to explain, as in :func:`lrp.explain` (a per-sample array is sliced with the
        batches); ``"labels"``: the data's own targets. Each batch's target is read once,
        on the graph's output, and handed to the method as a mask.
    batch_size : int
        Samples per batch: bounds memory, and is the store's chunk along samples.
    out : path, optional
        A directory for the zarr store (created, or resumed when it holds this run's
        fingerprint). Default: results kept in memory.
    progress : bool
        A tqdm progress bar (samples, and samples per second).
    **options
        Passed to the method (``steps=``, ``seed=`` (an integer; per batch it becomes a seed
        derived from it and the batch index), ``window=``, …).

    Returns
    -------
    DatasetExplanation
        In memory, or reading the store.

    Raises
    ------
    StoreMismatchError
        When ``out`` holds the results of another run.
    """
    check_graph(graph, "lrp.explain_dataset")
    batch_size = check_batch_size(batch_size)
    if batch_size is None:
        raise ValueError("batch_size must be a positive integer, got None")
    check_flag(progress, "progress")
    if composite is not None and method not in ("lrp", "explain"):
        raise ValueError(f"composite= is for LRP (method='lrp'); method={method!r} takes no "
                         "composite")
    fn = _method(method)
    n = _length(data)
    store = None
    if out is not None:
        print_ = fingerprint(graph, method, dict(options, composite=composite), target,
                             batch_size)
        store = _Store(out, json.loads(json.dumps(print_)), n, batch_size)
    from tqdm.auto import tqdm

    bar = tqdm(total=n, unit="sample", unit_scale=True, disable=not progress,
               desc="explaining")
    kept, total, batches = [], 0, 0
    tensors = isinstance(data, torch.Tensor)
    try:
        for batch in _batches(data, batch_size):
            rows = len(batch.x)
            batches, total = batch.index + 1, batch.start + rows
            if store is not None and store.is_done(batch, rows):
                bar.update(rows)
                continue
            arrays = _explain_batch(graph, fn, batch, target, _seed_for(options, batch.index),
                                    composite)
            if store is not None:
                store.write(batch, arrays)
            else:
                kept.append(arrays)
            bar.update(rows)
    finally:
        bar.close()
    if batches == 0:
        raise ValueError("data holds no samples")
    if store is not None:
        store.finish(total, batches)
        g = store.group
        return DatasetExplanation(*(g[name] for name in _ARRAYS), store=g)
    merged = {name: np.concatenate([k[name] for k in kept]) for name in _ARRAYS}
    if tensors:
        merged = {k: torch.from_numpy(v) for k, v in merged.items()}
    return DatasetExplanation(**merged)
