"""Activations and gradients at any node of a graph, batched and cached without staleness.

A node is named as :meth:`neon.Graph.node_of` reads it: a node name, an alias a rewrite
left, a graph input, or the name of a source module, which means that module's output
(``"layer3"`` on a torchvision ResNet, ``"distance"`` or ``"logits"`` of a neuralized
k-means). Data may be a tensor, an array, a DataFrame, a list of rows, or an iterable of
batches (a list of arrays, a generator, a ``DataLoader`` yielding ``x`` or ``(x, y)``).

Activations are cached under a key made of the graph's weights (their bytes), the node and
the data (their bytes), so changing one weight or one input value is a cache miss: the cache
can be stale only if the hash collides (BLAKE2b, 128 bits).
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

from lrp.calls import Call, check_batch_size, check_graph
from lrp.methods.autograd import score_gradient

__all__ = ["activations", "node_gradients", "Cache", "default_cache", "graph_fingerprint",
           "data_fingerprint", "as_batch", "OUTPUTS"]

#: What ``node_gradients`` differentiates: the explained output itself ("logit": the class
#: logit, cluster logit, outlierness, …) or its log-softmax over the classes.
OUTPUTS = ("logit", "log_softmax")


# ---------------------------------------------------------------------------- data

def as_batch(data, graph, name: str = "x") -> torch.Tensor:
    """``data`` as one validated tensor batch of the graph's (single) input.

    Accepts what :meth:`neon.Graph.check_inputs` accepts, and iterables of batches (each
    item an array, a tensor, or an ``(x, y)`` pair whose first entry is used; an item
    without the batch axis is one sample, as a torch ``Dataset`` yields), which are
    concatenated. Refuses empty data, naming ``name``.
    """
    if len(graph.input_specs) != 1:
        raise ValueError(f"concepts work on graphs with one input; this graph takes "
                         f"{len(graph.input_specs)} ({', '.join(graph.input_names)})")
    if _is_batch(data):
        (batch,) = graph.check_inputs(data)
    else:
        try:
            items = list(data)
        except TypeError:
            raise TypeError(f"{name} must be a tensor, an array, a DataFrame, a list of rows or "
                            f"an iterable of batches, got {type(data).__name__}") from None
        if items and all(_is_row(i) for i in items):
            (batch,) = graph.check_inputs(items)      # a list of rows
        else:
            parts, rank = [], len(graph.input_specs[0].shape)
            for i, item in enumerate(items):
                if isinstance(item, (tuple, list)) and item and _is_batch(item[0]):
                    item = item[0]                   # (x, y) from a DataLoader
                if not _is_batch(item):
                    raise TypeError(f"{name}: batch {i} is a {type(item).__name__}; give "
                                    "tensors, arrays or (x, y) pairs")
                if isinstance(item, (torch.Tensor, np.ndarray)) and item.ndim == rank:
                    item = item[None]                # one sample (a list of arrays, a Dataset)
                parts.append(graph.check_inputs(item)[0])
            if not parts:
                raise ValueError(f"{name} holds no samples; give at least one")
            batch = torch.cat(parts)
    if batch.shape[0] == 0:
        raise ValueError(f"{name} holds no samples (shape {tuple(batch.shape)}); give at "
                         "least one")
    return batch


def _is_batch(data) -> bool:
    return isinstance(data, (torch.Tensor, np.ndarray)) or hasattr(data, "columns")


def _is_row(item) -> bool:
    return isinstance(item, (list, tuple)) and all(isinstance(v, (int, float, np.number))
                                                   for v in item)


def _digest(chunks) -> str:
    h = hashlib.blake2b(digest_size=16)
    for c in chunks:
        h.update(c)
    return h.hexdigest()


def _tensor_bytes(t: torch.Tensor):
    t = t.detach()
    yield f"{t.dtype}{tuple(t.shape)}".encode()
    yield t.contiguous().cpu().reshape(-1).view(torch.uint8).numpy().tobytes() \
        if t.numel() else b""


def graph_fingerprint(graph) -> str:
    """A digest of every weight and buffer of the graph (names, dtypes, shapes, values) and
    of its structure (node names, kinds, inputs): equal for equal graphs, different as soon
    as one value changes."""
    def chunks():
        for node in graph.nodes:
            yield f"{node.name}|{node.kind}|{','.join(node.inputs)}|{_op_config(node.op)};" \
                .encode()
        for name, t in sorted(graph.state_dict().items()):
            yield name.encode()
            yield from _tensor_bytes(t)
    return _digest(chunks())


def _op_config(op) -> str:
    """An op's (and its submodules') settings that are not tensors: stride, padding, kernel
    size, beta, … (two graphs with equal weights but a different pool stride differ here)."""
    def settings(m):
        return ", ".join(f"{k}={v!r}" for k, v in sorted(vars(m).items())
                         if not k.startswith("_"))
    return ";".join(f"{type(m).__name__}({settings(m)})" for m in op.modules())


def data_fingerprint(batch: torch.Tensor) -> str:
    """A digest of a batch's dtype, shape and values."""
    return _digest(_tensor_bytes(batch))


# ---------------------------------------------------------------------------- cache

class Cache:
    """Activations by (graph weights, node, data), in memory and optionally on disk.

    Parameters
    ----------
    directory : str or Path, optional
        Also keep every entry as a file there (``torch.save``), so later sessions reuse it;
        the key is in the file name, so stale files are never read.
    max_items : int
        In-memory entries kept (least recently used dropped first).

    Attributes
    ----------
    hits, misses : int
        Counts of lookups served from the cache and computed.
    """

    def __init__(self, directory=None, max_items: int = 64):
        self.directory = None if directory is None else Path(directory)
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        self.max_items = check_batch_size(max_items, "max_items")
        self._memory: OrderedDict = OrderedDict()
        self.hits = self.misses = 0

    def key(self, graph, node: str, batch: torch.Tensor, *, fingerprint: str | None = None) \
            -> str:
        """The entry's key: digests of the graph's weights, the node and the data.
        ``fingerprint``: :func:`graph_fingerprint` of ``graph``, when the caller computed it
        already (a study keying many sets hashes the weights once)."""
        fingerprint = graph_fingerprint(graph) if fingerprint is None else fingerprint
        return _digest([fingerprint.encode(), node.encode(), data_fingerprint(batch).encode()])

    def get(self, key: str):
        if key in self._memory:
            self._memory.move_to_end(key)
            self.hits += 1
            return self._memory[key]
        path = self._path(key)
        if path is not None and path.exists():
            value = torch.load(path, weights_only=True)
            self._remember(key, value)
            self.hits += 1
            return value
        return None

    def put(self, key: str, value: torch.Tensor) -> None:
        self.misses += 1
        self._remember(key, value)
        path = self._path(key)
        if path is not None:        # written whole, then renamed: never a half-written entry
            part = path.with_name(f"{path.name}.{os.getpid()}.part")
            torch.save(value, part)
            os.replace(part, path)

    def clear(self) -> None:
        """Forget the in-memory entries (files on disk stay)."""
        self._memory.clear()

    def _remember(self, key, value):
        self._memory[key] = value
        self._memory.move_to_end(key)
        while len(self._memory) > self.max_items:
            self._memory.popitem(last=False)

    def _path(self, key):
        return None if self.directory is None else self.directory / f"activations-{key}.pt"

    def __len__(self):
        return len(self._memory)

    def __repr__(self):
        where = f", directory={str(self.directory)!r}" if self.directory else ""
        return f"Cache({len(self)} entries, {self.hits} hits, {self.misses} misses{where})"


_DEFAULT = Cache()


def default_cache() -> Cache:
    """The process-wide in-memory cache ``activations`` uses by default."""
    return _DEFAULT


def _resolve_cache(cache):
    if cache is True:
        return _DEFAULT
    if cache is None or cache is False:
        return None
    if isinstance(cache, Cache):
        return cache
    raise TypeError(f"cache must be True (the default in-memory cache), False, or a "
                    f"concepts.Cache, got {cache!r}")


# ---------------------------------------------------------------------------- values

def _node(graph, node) -> str:
    if not isinstance(node, str):
        raise TypeError(f"node must be a node or module name (a string), got {node!r}")
    return graph.node_of(node)


def activations(graph, x, node, *, batch_size=None, cache=True, numpy=None):
    """The activation of ``node`` for every sample of ``x``, shape (N, *node shape).

    Parameters
    ----------
    graph : neon.Graph
    x : tensor, ndarray, DataFrame, list of rows, or iterable of batches
    node : str
        A node name, a graph input, or a source-module name (:meth:`neon.Graph.node_of`).
    batch_size : int, optional
        Samples per forward pass.
    cache : True, False or Cache
        True: the process-wide in-memory cache (:func:`default_cache`); a :class:`Cache`
        (e.g. with a directory); False: always compute.
    numpy : bool, optional
        Return numpy; default: numpy unless ``x`` is a tensor.

    Returns
    -------
    tensor or ndarray of shape (N, *node shape)
    """
    check_graph(graph, "concepts.activations")
    name = _node(graph, node)
    to_numpy = not isinstance(x, torch.Tensor) if numpy is None else numpy
    batch = as_batch(x, graph)
    size = check_batch_size(batch_size) or batch.shape[0]
    store = _resolve_cache(cache)
    key = store.key(graph, name, batch) if store is not None else None
    value = store.get(key) if store is not None else None
    if value is None:
        with torch.no_grad():
            parts = [graph.activations(batch[i:i + size], validated=True, keep=[name])[name]
                     for i in range(0, batch.shape[0], size)]
        value = torch.cat(parts).contiguous()
        if store is not None:
            store.put(key, value)
    if store is not None:
        value = value.clone()      # what the caller modifies must not change the cache
    return value.cpu().numpy() if to_numpy else value


def node_gradients(graph, x, node, target=None, *, output="logit", batch_size=None,
                   numpy=None):
    """∂s/∂h at ``node`` for every sample: the gradient of the explained score with respect
    to the node's activation, shape (N, *node shape).

    s = Σ_c mask_c f_c (``output="logit"``: the class logit, a k-means cluster logit, a
    one-class SVM outlierness — whatever the graph explains) or Σ_c mask_c log softmax(f)_c
    (``output="log_softmax"``), with the mask chosen by ``target`` as in :func:`lrp.explain`
    (labels for neuralized classifiers, column indices for torch graphs; None = the
    predicted class or the graph's declared default). One batched backward pass per chunk.
    """
    check_graph(graph, "concepts.node_gradients")
    name = _node(graph, node)
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {', '.join(map(repr, OUTPUTS))}, got "
                         f"{output!r}")
    to_numpy = not isinstance(x, torch.Tensor) if numpy is None else numpy
    batch = as_batch(x, graph)
    call = Call(graph, batch, target, batch_size, method="concepts.node_gradients")
    transform = None if output == "logit" else _log_softmax
    parts = []
    for _, _, part, t in call.chunks():
        _, _, grads, _, _ = score_gradient(call.graph, part, target=t, nodes=[name],
                                           transform=transform, inputs=False)
        parts.append(grads[0])
    value = torch.cat(parts).contiguous()
    return value.cpu().numpy() if to_numpy else value


def _log_softmax(out):
    if out.dim() != 2 or out.shape[1] < 2:
        raise ValueError(f"output='log_softmax' needs an (N, C) output with C ≥ 2 classes; "
                         f"this graph's explained output has shape {tuple(out.shape)}")
    return torch.log_softmax(out, dim=1)
