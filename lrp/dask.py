"""Explanations of data sets beyond one process: a dask array explained block by block on a
``distributed`` cluster, or with dask's threads on one machine.

:func:`explain` maps any method of :mod:`lrp` over the blocks of a dask array (samples
along axis 0, each block a batch). The graph travels to the workers once: it is scattered to
every worker (``Client.scatter(..., broadcast=True)``) and the tasks refer to it, instead of
each task carrying a pickled copy. With ``out``, each block's results are written to the zarr
store by the worker that computed them (``dask.array.to_zarr``); a block whose worker dies
is computed again elsewhere (``retries``) and, since a block always writes the same chunk
with the same values, the store ends with every row exactly once.

The store has the arrays of :mod:`lrp.datasets` (``relevance``, ``output``, ``target``,
``relevance_sum``), chunked like the input's blocks, so :class:`lrp.spray.SpRAy` and
:func:`lrp.metrics.pixel_flipping` read it the same way.

Needs the ``dask`` extra (``pip install 'neon-xai[dask]'``: dask, distributed, zarr).
"""

from __future__ import annotations

import math

import numpy as np

from .calls import check_batch_size, check_graph
from .datasets import FORMAT, DatasetExplanation, _Batch, _explain_batch, _method, fingerprint

__all__ = ["explain"]


def _dask():
    try:
        import dask
        import dask.array as da
    except ImportError:
        raise ImportError("lrp.dask needs dask: pip install 'neon-xai[dask]' (dask, "
                          "distributed, zarr)") from None
    return dask, da


def _block(x, graph, *, fn, target, options, composite, sample, block_info=None):
    """One block of flattened samples: [relevance flattened | output | target | ΣR] per
    sample, float64."""
    start = block_info[0]["array-location"][0][0] if block_info else 0
    index = block_info[0]["chunk-location"][0] if block_info else 0
    # a fresh, aligned copy: a block received over the network may sit at any offset of
    # its message, and BLAS kernels chosen by alignment would change the last bits
    x = np.array(x, copy=True, order="C").reshape(len(x), *sample)
    t = target[start:start + len(x)] if isinstance(target, np.ndarray) else target
    from .datasets import _seed_for

    arrays = _explain_batch(graph, fn, _Batch(index, start, x), t,
                            _seed_for(options, index), composite)
    rel = arrays["relevance"].reshape(len(x), -1).astype(np.float64)
    return np.concatenate([rel, arrays["output"][:, None],
                           arrays["target"][:, None].astype(np.float64),
                           arrays["relevance_sum"][:, None]], axis=1)


def _client(client):
    if client is not None:
        return client
    try:
        from distributed import get_client

        return get_client()
    except (ImportError, ValueError):
        return None


def explain(graph, array, *, method="lrp", composite=None, target=None, out=None,
            client=None, scheduler=None, batch_size=None, retries: int = 3, **options):
    """Explain a dask array (or a zarr array of inputs) block by block.

    Parameters
    ----------
    graph : neon.Graph
    array : dask.array.Array, zarr array, or path of a zarr array
        Samples along axis 0; the blocks along axis 0 are the batches (other axes are
        joined into one block). ``batch_size`` rechunks axis 0.
    method, composite, target, **options
        As in :func:`lrp.explain_dataset` (``target``: None, one label or column, or a
        per-sample numpy array, sliced with the blocks).
    out : path, optional
        A zarr store written by the workers; default: the results are returned in memory.
    client : distributed.Client, optional
        The cluster to run on (default: the current client if one exists, else
        ``scheduler``). To use an existing cluster: ``Client("tcp://host:8786")``.
    scheduler : str, optional
        Without a client: dask's scheduler (``"threads"`` by default, ``"synchronous"``).
    batch_size : int, optional
        Rechunk axis 0 to blocks of this many samples.
    retries : int
        How often a block is recomputed when its worker fails.

    Returns
    -------
    DatasetExplanation
        In memory (numpy), or reading the store.
    """
    check_graph(graph, "lrp.dask.explain")
    dask, da = _dask()
    batch_size = check_batch_size(batch_size)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a non-negative integer, got {retries!r}")
    if isinstance(array, (str, bytes)) or hasattr(array, "__fspath__"):
        array = da.from_zarr(str(array))
    elif not isinstance(array, da.Array):
        if hasattr(array, "chunks") and hasattr(array, "shape") and hasattr(array, "dtype"):
            array = da.from_zarr(array)            # a zarr array
        else:
            raise TypeError(f"lrp.dask.explain takes a dask array, a zarr array or its path, "
                            f"got {type(array).__name__}; for in-memory data use "
                            "lrp.explain_dataset")
    if array.ndim < 2:
        raise ValueError(f"the array needs a batch axis and a sample shape, got shape "
                         f"{array.shape}")
    array = array.rechunk({0: batch_size or array.chunks[0][0],
                           **{i: -1 for i in range(1, array.ndim)}})
    if target is not None and not np.isscalar(target):
        target = np.asarray(target)
        if target.ndim != 1 or len(target) != array.shape[0]:
            raise ValueError(f"a per-sample target needs one entry per row: {array.shape[0]}, "
                             f"got shape {target.shape}")
    fn = _method(method)
    sample = tuple(array.shape[1:])
    width = math.prod(sample)
    client = _client(client)
    shared = client.scatter(graph, broadcast=True, hash=False) if client is not None \
        else graph
    flat = array.reshape(array.shape[0], width)
    packed = da.map_blocks(_block, flat, shared, fn=fn, target=target, options=options,
                           composite=composite, sample=sample, dtype=np.float64,
                           chunks=(array.chunks[0], (width + 3,)),
                           meta=np.empty((0, 0), dtype=np.float64))
    parts = {"relevance": packed[:, :width].reshape((array.shape[0], *sample)),
             "output": packed[:, width], "target": packed[:, width + 1].astype(np.int64),
             "relevance_sum": packed[:, width + 2]}
    parts["relevance"] = parts["relevance"].rechunk((array.chunks[0], *sample))
    run = dict(retries=retries) if client is not None else dict(scheduler=scheduler or
                                                                  "threads")
    if out is None:
        computed = client.compute(list(parts.values()), **run) if client is not None else None
        values = client.gather(computed) if client is not None else \
            dask.compute(*parts.values(), **run)
        return DatasetExplanation(*values)
    import zarr

    group = zarr.open_group(str(out), mode="w")
    group.attrs.update({"neon_explanations": FORMAT, "fingerprint": fingerprint(
        graph, method, dict(options, composite=composite), target,
        int(array.chunks[0][0])), "complete": False, "samples": int(array.shape[0])})
    dtype = {"relevance": np.dtype(str(graph.dtype).removeprefix("torch.")),
             "target": np.int64}
    writes = []
    for name, part in parts.items():
        part = part.astype(dtype.get(name, np.float64))
        group.create_array(name, shape=part.shape, chunks=tuple(c[0] for c in part.chunks),
                           dtype=part.dtype, fill_value=0)
        writes.append(da.to_zarr(part, group[name], compute=False))
    if client is not None:
        client.gather(client.compute(writes, **run))
    else:
        dask.compute(*writes, **run)
    group.attrs["complete"] = True
    return DatasetExplanation(*(group[name] for name in parts), store=group)
