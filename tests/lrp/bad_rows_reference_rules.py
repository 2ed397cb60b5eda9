"""Bad-input rows of DeepLIFT's rules (lrp.rules.RevealCancel, lrp.rules.Rescale) and of the
reference-based neuralizer options (an MLP's ``root="deeplift"``, k-means' ``root="mean"``),
for tests/test_bad_input_table.py: ``(entry point, what is wrong, zero-argument call,
exception class, words the message must contain)``."""

from __future__ import annotations

import math

from lrp import rules


def _rows(name, make):
    entry = f"lrp.rules.{name}"
    return [
        (entry, "negative stabilizer", lambda: make(-1e-9), ValueError,
         "stabilizer must be ≥ 0"),
        (entry, "NaN stabilizer", lambda: make(math.nan), ValueError, "stabilizer must be a"),
        (entry, "stabilizer a string", lambda: make("0"), TypeError,
         "stabilizer must be a real number"),
    ]


def _deeplift_without_data():
    import numpy as np
    from sklearn.neural_network import MLPRegressor

    import neon

    X = np.random.default_rng(0).normal(size=(30, 3))
    est = MLPRegressor(hidden_layer_sizes=(3,), max_iter=20).fit(X, X[:, 0])
    return neon.neuralize(est, root="deeplift")


def _kmeans_mean_without_data():
    import numpy as np
    from sklearn.cluster import KMeans

    import neon

    X = np.random.default_rng(0).normal(size=(30, 3))
    return neon.neuralize(KMeans(2, n_init=1, random_state=0).fit(X), root="mean")


ROWS = [
    *_rows("RevealCancel", rules.RevealCancel),
    *_rows("Rescale", rules.Rescale),
    ("neon.neuralize", "MLP root='deeplift' without reference data", _deeplift_without_data,
     ValueError, "needs reference data"),
    ("neon.neuralize", "k-means root='mean' without reference data", _kmeans_mean_without_data,
     ValueError, "root='mean' needs reference data"),
]
