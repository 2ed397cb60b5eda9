"""Embeddings of features: the activations of any node, for a whole data set, in two dimensions.

:func:`embed` reads the activation h(x) of a node (a node name, a graph input, or a
source-module name, as :meth:`neon.Graph.node_of` reads it) for every sample, flattens it per
sample, optionally reduces it with principal component analysis, and embeds it in the plane
with scikit-learn's t-SNE (or with a two-component PCA). The same call works for torch imports
(CNNs: a convolutional block's feature maps, the penultimate representation) and for
neuralized scikit-learn models (an MLP's hidden layer, the distances of a k-means to its
centroids). The result carries the model's predictions, so the map can be coloured by label,
by prediction, or by anything else (:func:`concepts.plot.embedding.embedding`).

t-SNE (van der Maaten & Hinton 2008) matches neighbourhoods, not distances: the sizes of the
clusters and the distances between them in the plane mean little, and the picture depends on
the perplexity and the seed (Wattenberg, Viégas & Johnson, "How to use t-SNE effectively",
Distill 2016). Read it as "which samples the node holds close", and check what it suggests
with a number (a classifier on the activations, :func:`concepts.tcav`).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
import torch

from lrp.calls import check_batch_size, check_graph, explained_node
from lrp.rules.base import check_choice, check_number

from .nodes import activations, as_batch

__all__ = ["Embedding", "embed", "METHODS", "default_node"]

#: The embedding methods: t-SNE (after an optional PCA) or a two-component PCA.
METHODS = ("tsne", "pca")

#: The fewest samples an embedding is computed for.
MIN_SAMPLES = 4

_SEED_MAX = 2**32 - 1          # scikit-learn seeds numpy's RandomState: [0, 2³² − 1]


@dataclass(repr=False)
class Embedding:
    """Samples placed in the plane by the activations of one node.

    Attributes
    ----------
    coords : ndarray of shape (N, 2)
        Row i: where sample i lands.
    node : str
        The node embedded (the resolved name, after :meth:`neon.Graph.node_of`).
    predictions : ndarray of shape (N,) or None
        What the graph predicts for each sample: the argmax of its explained output, read as
        the output labels the graph declares (``classes_`` of a neuralized classifier,
        cluster indices of a k-means; column indices for torch graphs). None where argmax is
        not the prediction: one output column (one-class SVM, a single logit), regressors
        (they declare a default target of every output) and multi-label MLPs.
    labels : ndarray of shape (N,) or None
        The labels given to :func:`embed`.
    explained_variance : ndarray or None
        Fraction of the (flattened) activations' total variance each principal component
        kept by the PCA step explains (scikit-learn's ``explained_variance_ratio_``); None
        when no PCA ran.
    method : str
        ``"tsne"`` or ``"pca"``.
    settings : dict
        ``n_samples``, ``width`` (features per sample after flattening), ``shape`` (the node's
        per-sample shape), ``pca_components`` (None when no PCA step ran), ``perplexity``,
        ``random_state``, ``tsne_options``, and for t-SNE ``kl_divergence`` (the final
        KL(P‖Q)) and ``n_iter`` (iterations run).
    """

    coords: np.ndarray
    node: str
    predictions: np.ndarray | None = None
    labels: np.ndarray | None = None
    explained_variance: np.ndarray | None = None
    method: str = "tsne"
    settings: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.coords.shape[0]

    def __repr__(self) -> str:
        s = self.settings
        extra = ""
        if self.method == "tsne":
            extra = f", perplexity={s.get('perplexity')}"
        if s.get("pca_components") is not None and self.explained_variance is not None:
            extra += (f", PCA {s['pca_components']} components "
                      f"({100 * float(self.explained_variance.sum()):.1f} % of the variance)")
        return (f"Embedding({self.method}, node={self.node!r}, {len(self)} samples of width "
                f"{s.get('width')}{extra})")


# ---------------------------------------------------------------------------- checks

def default_node(graph) -> str:
    """The node :func:`embed` reads when none is named: the input of the graph's last layer.

    The last layer is the op that computes the explained output (:func:`lrp.calls.
    explained_node`: the output, or the logits before an output softmax), so this is the
    penultimate representation: the flattened features before a CNN's classifier, an MLP's
    last hidden layer, a k-means' squared distances to its centroids or a one-class model's
    distances to its units, a linear model's (preprocessed) input.
    """
    last = graph[explained_node(graph)]
    if last.op.rule_inputs:             # x rides along for the rules: the distances are it
        return last.inputs[0]
    if len(last.inputs) != 1:
        raise ValueError(f"the graph's last layer {last.name!r} reads {len(last.inputs)} nodes "
                         f"({', '.join(last.inputs)}), so there is no single penultimate "
                         "representation: name the node to embed (node=...)")
    return last.inputs[0]


def _check_pca(pca):
    if pca is None:
        return None
    if isinstance(pca, bool) or not isinstance(pca, numbers.Integral):
        raise TypeError(f"pca must be None (no PCA step) or an integer ≥ 2 (the number of "
                        f"principal components kept before t-SNE), got {pca!r}")
    if pca < 2:
        raise ValueError(f"pca must be ≥ 2 (components kept before t-SNE; None disables the "
                         f"step), got {pca}")
    return int(pca)


def _check_random_state(random_state):
    if random_state is None:
        return None
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise TypeError(f"random_state must be None or an integer seed in [0, 2**32 - 1], got "
                        f"{random_state!r} ({type(random_state).__name__})")
    if not 0 <= random_state <= _SEED_MAX:
        raise ValueError(f"random_state must be an integer seed in [0, 2**32 - 1], got "
                         f"{random_state}")
    return int(random_state)


def _check_tsne_options(method, options):
    if not options:
        return {}
    if method != "tsne":
        raise TypeError(f"t-SNE options ({', '.join(sorted(options))}) only apply to "
                        f"method='tsne'; method={method!r} takes none")
    from sklearn.manifold import TSNE

    if "n_components" in options:
        raise TypeError("n_components is not a t-SNE option here: the embedding is 2-d")
    known = set(TSNE().get_params()) - {"n_components", "perplexity", "random_state",
                                        "method"}
    known.add("tsne_method")
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"unknown t-SNE option(s) {', '.join(unknown)}; sklearn.manifold.TSNE "
                        f"takes {', '.join(sorted(known))} (tsne_method is TSNE's method, "
                        "'barnes_hut' or 'exact')")
    options = dict(options)
    if "tsne_method" in options:
        options["method"] = options.pop("tsne_method")
    return options


def _check_labels(labels, n):
    if labels is None:
        return None
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    elif hasattr(labels, "to_numpy"):                      # pandas
        labels = labels.to_numpy()
    elif isinstance(labels, (str, bytes)) or not hasattr(labels, "__len__"):
        raise TypeError(f"labels must be one label per sample (an array, a list, a Series), "
                        f"got {type(labels).__name__}")
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"labels must be one label per sample, shape ({n},), got shape "
                         f"{arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"labels has {arr.shape[0]} entries for {n} samples: give one label "
                         "per sample, in the order of x")
    return arr


def _predictions(graph, out: torch.Tensor):
    """Declared labels of the argmax of the explained output, or None where argmax is not
    the graph's prediction."""
    if out.dim() != 2 or out.shape[1] < 2:
        return None
    if graph.default_target is not None or graph.meta.get("task") in ("regression",
                                                                      "multilabel"):
        return None
    index = out.argmax(1).cpu().numpy()
    labels = graph.output_labels
    return np.asarray(labels)[index] if labels is not None else index


# ---------------------------------------------------------------------------- embed

def embed(graph, x, node=None, *, method="tsne", pca=50, perplexity=30.0, random_state=None,
          batch_size=None, labels=None, cache=True, **tsne_options) -> Embedding:
    r"""Embed the activations of ``node`` for every sample of ``x`` in two dimensions.

    The activation a_i = h(x_i) of each sample is flattened to a row of width D (a
    (C, H, W) feature map becomes C·H·W numbers), cast to float64, and the rows A (N × D) are
    embedded:

    * ``method="tsne"``: if D > ``pca``, A is first reduced to its ``pca`` leading principal
      components (scikit-learn ``PCA``, seeded with ``random_state``; at most N of them).
      Then scikit-learn's ``TSNE(n_components=2, perplexity=perplexity,
      random_state=random_state, **tsne_options)`` places sample i at y_i minimizing

      .. math::

         \mathrm{KL}(P \,\|\, Q) = \sum_{i \ne j} p_{ij} \log \frac{p_{ij}}{q_{ij}},\quad
         p_{ij} = \frac{p_{j|i} + p_{i|j}}{2N},\quad
         p_{j|i} = \frac{e^{-\|a_i - a_j\|^2 / 2\sigma_i^2}}
                        {\sum_{k \ne i} e^{-\|a_i - a_k\|^2 / 2\sigma_i^2}},\quad
         q_{ij} = \frac{(1 + \|y_i - y_j\|^2)^{-1}}{\sum_{k \ne l} (1 + \|y_k - y_l\|^2)^{-1}},

      with σ_i set so that the perplexity 2^{H(p_{·|i})} of each row equals ``perplexity``
      (the effective number of neighbours).
    * ``method="pca"``: the projections of the centred rows onto the two leading principal
      components (``PCA(2)``): a linear map, whose distances mean distances.

    Parameters
    ----------
    graph : neon.Graph
        A torch import or a neuralized scikit-learn model (one input).
    x : tensor, ndarray, DataFrame, list of rows, or iterable of batches
        The samples (as :func:`concepts.activations` takes them); at least 4.
    node : str, optional
        A node name, a graph input, or a source-module name (``"layer3"``, ``"features"``,
        ``"relu1"``, ``"distance"``). Default: the input of the graph's last layer, the
        penultimate representation (:func:`default_node`). Name the graph's input (``"x"``)
        to embed the data themselves.
    method : {"tsne", "pca"}
    pca : int or None
        With ``method="tsne"``: reduce to this many principal components first when the
        flattened width exceeds it (faster, and the usual denoising step); None: t-SNE on the
        full width. Ignored by ``method="pca"``.
    perplexity : float
        t-SNE's effective neighbourhood size, > 0 and < N (scikit-learn requires
        perplexity < n_samples); 5–50 is usual, about N/3 at most for small N.
    random_state : int, optional
        Seed of the PCA step and of t-SNE (equal seeds, equal maps). t-SNE's default
        ``init="pca"`` starts from the leading principal components, so the map hardly
        depends on the seed; with ``init="random"`` it does, and None then draws a new map
        each call.
    batch_size : int, optional
        Samples per forward pass.
    labels : array-like of shape (N,), optional
        Anything to colour by later (true classes, clusters, a concept); kept as given.
    cache : True, False or concepts.Cache
        Passed to :func:`concepts.activations`.
    **tsne_options
        Further ``sklearn.manifold.TSNE`` parameters (``max_iter``, ``early_exaggeration``,
        ``learning_rate``, ``init``, ``metric``, ``angle``, …); TSNE's own ``method``
        (``"barnes_hut"`` or ``"exact"``) is spelled ``tsne_method``; not ``n_components``.

    Returns
    -------
    Embedding
        ``coords`` (N, 2), ``node``, ``predictions``, ``labels``, ``explained_variance``,
        ``method``, ``settings``.

    Raises
    ------
    ValueError
        Fewer than 4 samples, perplexity ≥ N, labels of the wrong length, activations with
        NaN or infinite values, activations equal for every sample, a node of width 1.

    Notes
    -----
    The activations are computed by :func:`concepts.activations` (cached), and the explained
    output a second time for the predictions (from the cache when that node was read
    before). The PCA and t-SNE run on the CPU (scikit-learn); only the final (N, D) matrix
    is copied off the graph's device.

    References
    ----------
    L. van der Maaten and G. Hinton, "Visualizing data using t-SNE", JMLR 9:2579–2605, 2008.
    K. Pearson, "On lines and planes of closest fit to systems of points in space",
    Philosophical Magazine 2(11):559–572, 1901 (PCA).
    M. Wattenberg, F. Viégas and I. Johnson, "How to use t-SNE effectively", Distill, 2016.

    Examples
    --------
    >>> result = concepts.embed(graph, X, "layer3", labels=y, random_state=0)  # doctest: +SKIP
    >>> concepts.plot.embedding(result, color="predictions")                  # doctest: +SKIP
    """
    check_graph(graph, "concepts.embed")
    method = check_choice(method, "method", METHODS)
    pca = _check_pca(pca)
    perplexity = check_number(perplexity, "perplexity", strict=True)
    random_state = _check_random_state(random_state)
    batch_size = check_batch_size(batch_size)
    options = _check_tsne_options(method, tsne_options)
    if node is None:
        name = default_node(graph)
    elif not isinstance(node, str):
        raise TypeError(f"node must be a node or module name (a string) or None (the input of "
                        f"the last layer), got {node!r}")
    else:
        name = graph.node_of(node)

    batch = as_batch(x, graph)          # once: x may be a generator
    n = batch.shape[0]
    if n < MIN_SAMPLES:
        raise ValueError(f"x has {n} samples; an embedding needs at least {MIN_SAMPLES}")
    labels = _check_labels(labels, n)
    if method == "tsne" and perplexity >= n:
        raise ValueError(f"perplexity must be less than the number of samples (scikit-learn's "
                         f"TSNE requires perplexity < n_samples): got perplexity={perplexity:g} "
                         f"for {n} samples; lower it (e.g. perplexity={max(1, n // 3)}) or give "
                         "more samples")

    values = activations(graph, batch, name, batch_size=batch_size, cache=cache, numpy=False)
    shape = tuple(values.shape[1:])
    flat = values.reshape(n, -1)
    if not bool(torch.isfinite(flat).all()):
        bad = int((~torch.isfinite(flat)).any(1).sum())
        raise ValueError(f"the activations of node {name!r} contain NaN or infinite values "
                         f"(in {bad} of {n} samples): nothing can be embedded; check the data "
                         "and the model's weights, or embed another node")
    width = flat.shape[1]
    if width < 2:
        raise ValueError(f"node {name!r} has {width} value per sample; a 2-d embedding needs "
                         "at least 2: embed another node")
    if not bool((flat != flat[:1]).any()):
        raise ValueError(f"the activations of node {name!r} are the same for every sample "
                         "(zero variance): there is nothing to embed; embed another node or "
                         "check the data")

    out_node = explained_node(graph)
    out = values if out_node == name else activations(
        graph, batch, out_node, batch_size=batch_size, cache=cache, numpy=False)
    predictions = _predictions(graph, out)

    data = flat.detach().to(torch.float64).cpu().numpy()
    coords, variance, components, extra = _embed_rows(data, method, pca, perplexity,
                                                      random_state, options)
    settings = dict(n_samples=n, width=width, shape=shape, pca_components=components,
                    perplexity=perplexity if method == "tsne" else None,
                    random_state=random_state, tsne_options=options, **extra)
    return Embedding(coords=coords, node=name, predictions=predictions, labels=labels,
                     explained_variance=variance, method=method, settings=settings)


def _embed_rows(data, method, pca, perplexity, random_state, options):
    """(coords, explained variance ratio or None, PCA components or None, t-SNE facts)."""
    from sklearn.decomposition import PCA

    n, width = data.shape
    if method == "pca":
        reducer = PCA(n_components=2, random_state=random_state)
        coords = reducer.fit_transform(data)
        return _finite(coords, "PCA"), reducer.explained_variance_ratio_.copy(), 2, {}
    from sklearn.manifold import TSNE

    variance = components = None
    if pca is not None and width > pca:
        components = min(pca, n)
        reducer = PCA(n_components=components, random_state=random_state)
        data = reducer.fit_transform(data)
        variance = reducer.explained_variance_ratio_.copy()
    tsne = TSNE(n_components=2, perplexity=perplexity, random_state=random_state, **options)
    coords = tsne.fit_transform(data)
    extra = dict(kl_divergence=float(tsne.kl_divergence_), n_iter=int(tsne.n_iter_))
    return _finite(np.asarray(coords, dtype=np.float64), "t-SNE"), variance, components, extra


def _finite(coords, what):
    if not np.isfinite(coords).all():
        raise ValueError(f"{what} returned NaN or infinite coordinates; try another "
                         "learning_rate, fewer PCA components, or method='pca'")
    return coords

