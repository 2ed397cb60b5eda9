"""Bad-input rows of lrp.spray.SpRAy and the SpRAy plots, for tests/test_bad_input_table.py:
``(entry point, what is wrong, zero-argument call, exception class, words the message must
contain)``. The data are 24 tiny maps (6 × 6) in three planted groups, fitted once here."""

from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.exceptions import NotFittedError

from lrp.plot import spray_clusters, spray_eigenvalues, spray_embedding
from lrp.spray import SpRAy


def _maps():
    rng = np.random.default_rng(0)
    maps = rng.normal(scale=0.3, size=(24, 6, 6))
    for g, (y, x) in enumerate([(1, 1), (1, 4), (4, 1)]):
        maps[8 * g:8 * (g + 1), y, x] += 3.0
    return maps


M = _maps()
SMALL = dict(n_neighbors=3, n_eigenvalues=5, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    FITTED = SpRAy(**SMALL).fit(M)


def fit(data=None, **kw):
    params = {**SMALL, **kw}
    return lambda: SpRAy(**params).fit(M if data is None else data)


def _with(index, value, data=M):
    out = data.copy()
    out[index] = value
    return out


ZERO = _with((2, slice(None), slice(None)), 0.0)

ROWS = [
    # ---- SpRAy parameters (validated in fit)
    ("lrp.spray.SpRAy", "n_clusters 0", fit(n_clusters=0), ValueError, "n_clusters must be ≥ 1"),
    ("lrp.spray.SpRAy", "n_clusters a float", fit(n_clusters=2.5), TypeError,
     "n_clusters must be an integer"),
    ("lrp.spray.SpRAy", "n_clusters above n_eigenvalues", fit(n_clusters=6), ValueError,
     "raise n_eigenvalues"),
    ("lrp.spray.SpRAy", "n_neighbors 0", fit(n_neighbors=0), ValueError,
     "n_neighbors must be ≥ 1"),
    ("lrp.spray.SpRAy", "n_neighbors a string", fit(n_neighbors="10"), TypeError,
     "n_neighbors must be an integer"),
    ("lrp.spray.SpRAy", "n_neighbors ≥ N", fit(n_neighbors=24), ValueError,
     "n_neighbors must be smaller than the number of maps"),
    ("lrp.spray.SpRAy", "n_eigenvalues 1", fit(n_eigenvalues=1), ValueError,
     "n_eigenvalues must be ≥ 2"),
    ("lrp.spray.SpRAy", "n_eigenvalues ≥ N", fit(n_eigenvalues=24), ValueError,
     "pass at most 23"),
    ("lrp.spray.SpRAy", "pool 0", fit(pool=0), ValueError, "pool must be positive"),
    ("lrp.spray.SpRAy", "pool a float", fit(pool=1.5), TypeError, "pool must be None"),
    ("lrp.spray.SpRAy", "pool of three sizes", fit(pool=(2, 2, 2)), TypeError,
     "pair of them"),
    ("lrp.spray.SpRAy", "pool larger than the maps", fit(pool=8), ValueError,
     "pooling only shrinks"),
    ("lrp.spray.SpRAy", "pool (h, w) for vectors", fit(M.reshape(24, -1), pool=(2, 2)),
     ValueError, "integer pool"),
    ("lrp.spray.SpRAy", "unknown normalize", fit(normalize="sum"), ValueError,
     "normalize must be one of 'mass', 'max', None"),
    ("lrp.spray.SpRAy", "unknown cluster", fit(cluster="dbscan"), ValueError,
     "cluster must be one of 'kmeans', 'agglomerative'"),
    ("lrp.spray.SpRAy", "absolute not a bool", fit(absolute="yes"), TypeError,
     "absolute must be True or False"),
    ("lrp.spray.SpRAy", "progress not a bool", fit(progress=1), TypeError,
     "progress must be True or False"),
    ("lrp.spray.SpRAy", "random_state a string", fit(random_state="seed"), ValueError,
     "random_state must be None, an integer"),
    # ---- SpRAy data
    ("lrp.spray.SpRAy", "NaN in a map", fit(_with((5, 0, 0), math.nan)), ValueError,
     "non-finite values (NaN or inf) in 1 maps, at indices 5"),
    ("lrp.spray.SpRAy", "inf in a tensor map", fit(torch.from_numpy(_with((7, 1, 1), np.inf))),
     ValueError, "at indices 7"),
    ("lrp.spray.SpRAy", "an all-zero map (mass)", fit(ZERO), ValueError,
     "all zero (Σ|R| = 0)"),
    ("lrp.spray.SpRAy", "an all-zero map (max)", fit(ZERO, normalize="max"), ValueError,
     "indices 2"),
    ("lrp.spray.SpRAy", "one sample", fit(M[:1]), ValueError, "needs at least 3 maps"),
    ("lrp.spray.SpRAy", "empty batch", fit(M[:0]), ValueError, "no maps"),
    ("lrp.spray.SpRAy", "one map without batch axis", fit(M[0, 0]), ValueError,
     "add the batch axis"),
    ("lrp.spray.SpRAy", "5-d array", fit(M[:, None, None]), ValueError, "(N, C, H, W)"),
    ("lrp.spray.SpRAy", "complex maps", fit(M.astype(complex)), ValueError,
     "Complex data not supported"),
    ("lrp.spray.SpRAy", "strings", fit(np.full((4, 3), "a")), TypeError, "numeric"),
    ("lrp.spray.SpRAy", "boolean masks", fit(M > 0), TypeError, "real numbers"),
    ("lrp.spray.SpRAy", "sparse matrix", fit(sp.csr_matrix(M.reshape(24, -1))), TypeError,
     "toarray"),
    ("lrp.spray.SpRAy", "preprocess with a bad pool",
     lambda: SpRAy(pool=-2).preprocess(M), ValueError, "pool must be positive"),
    # ---- SpRAy.tsne, SpRAy.members
    ("lrp.spray.SpRAy.tsne", "unfitted", lambda: SpRAy().tsne(), NotFittedError, "not fitted"),
    ("lrp.spray.SpRAy.tsne", "perplexity ≥ N", lambda: FITTED.tsne(perplexity=24), ValueError,
     "perplexity must be smaller"),
    ("lrp.spray.SpRAy.tsne", "perplexity 0", lambda: FITTED.tsne(perplexity=0), ValueError,
     "perplexity must be > 0"),
    ("lrp.spray.SpRAy.tsne", "n_components", lambda: FITTED.tsne(n_components=3), TypeError,
     "2 dimensions"),
    ("lrp.spray.SpRAy.members", "unfitted", lambda: SpRAy().members(0), NotFittedError,
     "not fitted"),
    ("lrp.spray.SpRAy.members", "cluster out of range", lambda: FITTED.members(9), ValueError,
     "cluster must be < n_clusters_"),
    ("lrp.spray.SpRAy.members", "negative count", lambda: FITTED.members(0, -1), ValueError,
     "count must be ≥ 0"),
    # ---- plots
    ("lrp.plot.spray_eigenvalues", "unfitted", lambda: spray_eigenvalues(SpRAy()),
     NotFittedError, "not fitted"),
    ("lrp.plot.spray_eigenvalues", "not a SpRAy", lambda: spray_eigenvalues(M), TypeError,
     "fitted lrp.spray.SpRAy"),
    ("lrp.plot.spray_embedding", "unfitted", lambda: spray_embedding(SpRAy()), NotFittedError,
     "not fitted"),
    ("lrp.plot.spray_embedding", "color of the wrong length",
     lambda: spray_embedding(FITTED, color=np.zeros(5)), ValueError, "one value per map"),
    ("lrp.plot.spray_embedding", "NaN colour",
     lambda: spray_embedding(FITTED, color=np.full(24, np.nan)), ValueError, "non-finite"),
    ("lrp.plot.spray_clusters", "unfitted", lambda: spray_clusters(SpRAy()), NotFittedError,
     "not fitted"),
    ("lrp.plot.spray_clusters", "negative members",
     lambda: spray_clusters(FITTED, M, members=-1), ValueError, "members must be an integer"),
    ("lrp.plot.spray_clusters", "relevance of another batch",
     lambda: spray_clusters(FITTED, M[:5]), ValueError, "the 24 samples SpRAy was fitted on"),
    ("lrp.plot.spray_clusters", "NaN relevance",
     lambda: spray_clusters(FITTED, _with((0, 0, 0), math.nan)), ValueError, "NaN"),
    ("lrp.plot.spray_clusters", "images with two channels",
     lambda: spray_clusters(FITTED, images=np.zeros((24, 2, 6, 6))), ValueError,
     "images must be"),
]
