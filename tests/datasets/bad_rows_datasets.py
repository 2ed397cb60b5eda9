"""Bad-input rows of lrp.explain_dataset and lrp.dask.explain, for
tests/test_bad_input_table.py: ``(entry point, what is wrong, zero-argument call, exception
class, words the message must contain)``."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import lrp
import neon

torch.manual_seed(0)
G = neon.neuralize(nn.Sequential(nn.Linear(3, 2)).double(), torch.ones(1, 3,
                                                                         dtype=torch.float64))
X = np.random.default_rng(0).normal(size=(10, 3))


def _ds(**kw):
    args = dict(batch_size=4, progress=False)
    args.update(kw)
    return lambda: lrp.explain_dataset(kw.pop("graph", G), kw.pop("data", X), **args)


def _stored(fill=None):
    """Relevance of X as a dask array in chunks of 4 (one NaN at row 1 with ``fill``)."""
    import dask.array as da

    r = np.ones_like(X)
    if fill is not None:
        r[1, 0] = fill
    return da.from_array(r, chunks=(4, 3))


def _dask_explain(data, **kw):
    def call():
        import lrp.dask

        return lrp.dask.explain(G, data, **kw)
    return call


ROWS = [
    ("lrp.explain_dataset", "not a graph",
     lambda: lrp.explain_dataset(nn.Linear(3, 2), X), TypeError, "neon.Graph"),
    ("lrp.explain_dataset", "batch size 0", _ds(batch_size=0), ValueError, "positive integer"),
    ("lrp.explain_dataset", "batch size None", _ds(batch_size=None), ValueError,
     "positive integer"),
    ("lrp.explain_dataset", "progress not a flag", _ds(progress=1), TypeError, "progress"),
    ("lrp.explain_dataset", "unknown method", _ds(method="lrpp"), ValueError,
     "not a method"),
    ("lrp.explain_dataset", "composite with another method",
     _ds(method="gradient", composite=lrp.EpsilonOnly()), ValueError, "composite"),
    ("lrp.explain_dataset", "labels from data without labels", _ds(target="labels"),
     ValueError, "has none"),
    ("lrp.explain_dataset", "generator seed", _ds(method="lime", seed=torch.Generator()),
     TypeError, "integer"),
    ("lrp.explain_dataset", "data that is no data",
     lambda: lrp.explain_dataset(G, 3, progress=False), TypeError, "iterable of batches"),
    ("lrp.explain_dataset", "empty data",
     lambda: lrp.explain_dataset(G, X[:0], progress=False), ValueError, "no samples"),
    ("lrp.explain_dataset", "a loader with another batch size",
     lambda: lrp.explain_dataset(G, torch.utils.data.DataLoader(torch.as_tensor(X),
                                                                batch_size=5),
                                 batch_size=4, progress=False), ValueError,
     "batch_size=5"),
    ("lrp.datasets.open_store", "not a store",
     lambda: lrp.datasets.open_store(__import__("tempfile").mkdtemp()), Exception, "store"),
    ("lrp.dask.explain", "numpy instead of dask", _dask_explain(X), TypeError, "dask array"),
    ("lrp.dask.explain", "target of the wrong length",
     lambda: _dask_explain(__import__("dask.array", fromlist=["x"]).from_array(X),
                           target=np.zeros(3))(), ValueError, "one entry per row"),
    ("lrp.dask.explain", "negative retries",
     lambda: _dask_explain(__import__("dask.array", fromlist=["x"]).from_array(X),
                           retries=-1)(), ValueError, "retries"),
    ("lrp.explain_dataset", "NaN in the data",
     lambda: lrp.explain_dataset(G, np.where(np.arange(30).reshape(10, 3) == 7, np.nan, X),
                                 batch_size=4, progress=False), ValueError, "NaN"),
    ("lrp.explain_dataset", "a sample shape the graph does not take",
     lambda: lrp.explain_dataset(G, X[:, :2], batch_size=4, progress=False), ValueError,
     "expected 3 features"),
    ("lrp.metrics.pixel_flipping", "stored relevance with a baseline of the batch",
     lambda: lrp.metrics.pixel_flipping(G, X, _stored(), 0, baseline="mean"), ValueError,
     "give data="),
    ("lrp.metrics.pixel_flipping", "stored relevance with a generator seed",
     lambda: lrp.metrics.pixel_flipping(G, X, _stored(), 0, baseline=0.0,
                                        seed=torch.Generator()), TypeError, "integer"),
    ("lrp.spray.SpRAy.fit", "NaN in a stored chunk",
     lambda: lrp.spray.SpRAy(n_neighbors=2, n_eigenvalues=2).fit(_stored(np.nan)), ValueError,
     "rows 0–3"),
]
