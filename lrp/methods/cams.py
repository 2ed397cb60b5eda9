"""The CAM family: Grad-CAM, guided Grad-CAM and CAM.

Each weighs the feature maps A_k of one node (by default the last feature map of the
network) with how much the explained score depends on them, and returns a map at that
node's resolution, upsampled to the input's unless ``upsample=False``. All follow the one
call convention, ``method(graph, x, target=None, *, batch_size=None, **options)``, with
``target`` read as in :func:`lrp.explain`; one batched forward and backward pass per chunk.

Unlike the other methods, Grad-CAM and CAM return one map per sample, not one value per
input feature: shape (N, 1, *spatial) for a node with spatial axes (captum's layout), the
node's own shape (N, units) for a node without (the hidden layer of an MLP). Tensors in,
tensors out; numpy in, numpy out; a DataFrame in gives a DataFrame of the node's units
(columns ``"<node>[k]"``, the input's index) where the map is a table, numpy otherwise.
"""

from __future__ import annotations

import networkx as nx
import torch
import torch.nn.functional as F

from neon.ops import AdaptiveAvgPool, Flatten, Linear, Mean, Reshape

from .. import select
from ..calls import Attribution, Call, explained_node, target_mask
from ..composites import Composite
from ..propagate import walk
from ..rules import GuidedBackprop
from ..rules.base import check_choice, check_flag
from .autograd import per_sample, score_gradient

__all__ = ["grad_cam", "guided_grad_cam", "cam", "cam_node", "INTERPOLATIONS"]

#: Accepted ``interpolation=`` values. "bilinear" and "linear" both mean multilinear
#: interpolation in the node's spatial rank (linear for 1-d maps, bilinear for 2-d,
#: trilinear for 3-d); "bicubic" needs 2-d maps. All as torch.nn.functional.interpolate with
#: align_corners=False (captum's LayerAttribution.interpolate).
INTERPOLATIONS = ("bilinear", "linear", "nearest", "nearest-exact", "bicubic", "area")
_MULTILINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


# ------------------------------------------------------------------------------ helpers

def _check_node_name(node):
    if node is not None and not isinstance(node, str):
        raise TypeError(f"node must be a node or source-module name (a string such as "
                        f"'layer4'), or None for the last feature map; got {node!r}")


def _feeds(graph, name, explained) -> bool:
    return name == explained or name in nx.ancestors(graph.structure, explained)


def _spatial_rank(value: torch.Tensor) -> int:
    """Spatial axes of a node value (N, C, *spatial): 0 for (N,) or (N, units)."""
    return max(value.dim() - 2, 0)


def _default_node(graph, xs, method) -> str:
    """The last node (feeding the explained output) whose value has spatial axes with more
    than one position, adaptive average pools left out (they only resample the map for the
    classifier: VGG's 7 × 7 pool copies a 1 × 1 map), probed on the first sample."""
    explained = explained_node(graph)
    feeding = nx.ancestors(graph.structure, explained) | {explained}
    with torch.no_grad():
        values = graph.activations(*[x[:1] for x in xs], validated=True)
    chosen = None
    for node in graph.nodes:
        value = values.get(node.name)
        if node.name not in feeding or value is None or isinstance(node.op, AdaptiveAvgPool):
            continue
        if _spatial_rank(value) >= 1 and value[0, 0].numel() > 1:
            chosen = node.name
    if chosen is None:
        names = ", ".join(n.name for n in graph.nodes[:12])
        raise ValueError(f"{method} found no node with spatial axes (a value shaped (N, C, H, "
                         f"W) or (N, C, L)) feeding the explained output {explained!r}; pass "
                         f"node= with the node or source-module name to explain (e.g. a "
                         f"hidden layer; nodes: {names})")
    return chosen


def cam_node(graph, x, node=None) -> str:
    """The node name :func:`grad_cam` uses for ``node`` on input ``x`` (which node the
    default, ``node=None``, picks: the last node feeding the explained output whose value
    has spatial axes with more than one position, adaptive average pools left out)."""
    _check_node_name(node)
    call = Call(graph, x, None, None, method="lrp.cam_node")
    return _resolve_node(call, node, "lrp.cam_node")


def _resolve_node(call, node, method) -> str:
    graph = call.graph
    if node is None:
        return _default_node(graph, call.xs, method)
    name = graph.node_of(node)
    explained = explained_node(graph)
    if not _feeds(graph, name, explained):
        called = repr(node) if node == name else f"{node!r} ({name!r})"
        raise ValueError(f"node {called} does not feed the explained output "
                         f"{explained!r}, so the score does not depend on it; name a node "
                         "before the output")
    return name


def _target_size(call, rank, upsample, method, node):
    """The spatial size to upsample a rank-``rank`` map to, or None to leave it."""
    if upsample is False:
        return None
    if rank == 0:
        if upsample:
            raise ValueError(f"upsample=True, but node {node!r} has no spatial axes (its "
                             "value is (N, units)), so there is nothing to upsample; leave "
                             "upsample=None or False")
        return None
    sizes = {tuple(x.shape[2:]) for x in call.xs if x.dim() - 2 == rank}
    if len(sizes) == 1:
        return sizes.pop()
    if not sizes:
        if upsample:
            shapes = ", ".join(str(tuple(x.shape)) for x in call.xs)
            raise ValueError(f"upsample=True, but node {node!r} has {rank} spatial axes and "
                             f"no graph input has as many (inputs {shapes}); leave "
                             "upsample=None or False")
        return None
    raise ValueError(f"{method}: the graph's inputs have different spatial sizes "
                     f"({sorted(sizes)}), so the input resolution to upsample to is "
                     "ambiguous; pass upsample=False")


def _interpolate(maps, size, interpolation):
    """``maps`` (N, 1, *spatial) resized to ``size`` (align_corners=False, as captum)."""
    if size is None or tuple(maps.shape[2:]) == tuple(size):
        return maps
    rank = maps.dim() - 2
    mode = interpolation
    if mode in ("bilinear", "linear"):
        mode = _MULTILINEAR.get(rank)
    if mode is None or (mode == "bicubic" and rank != 2):
        raise ValueError(f"interpolation={interpolation!r} cannot resize a map with {rank} "
                         "spatial axes; use 'nearest', or 'bilinear' for 1-3 axes")
    corners = False if mode in ("linear", "bilinear", "trilinear", "bicubic") else None
    return F.interpolate(maps, size=tuple(size), mode=mode, align_corners=corners)


def _grad_cam_maps(call, node, relu):
    """(map at the node's resolution, channel weights α, score) over all chunks."""
    maps, alphas, scores = [], [], []
    for _, _, part, t in call.chunks():
        _, (value,), (grad,), score, _ = score_gradient(call.graph, part, target=t,
                                                        nodes=[node], inputs=False)
        if value.dim() > 2:
            alpha = grad.mean(dim=tuple(range(2, grad.dim())))
            shape = alpha.shape + (1,) * (value.dim() - 2)
            m = (alpha.reshape(shape) * value).sum(1, keepdim=True)
        else:           # no spatial axes: one weight per unit, α_k = ∂s/∂A_k
            alpha = grad
            m = grad * value
        maps.append(m.clamp_min(0) if relu else m)
        alphas.append(alpha)
        scores.append(score)
    return torch.cat(maps), torch.cat(alphas), torch.cat(scores)


def _finish_map(call, maps, node):
    """One map per sample, typed like x (a DataFrame of units for a DataFrame input)."""
    out = call.finish([maps] * len(call.xs))
    out = out[0] if call.multi else out
    if call.frame is not None and getattr(out, "ndim", 0) == 2:
        import pandas as pd

        columns = [f"{node}[{k}]" for k in range(out.shape[1])]
        return pd.DataFrame(out, index=call.frame.index, columns=columns)
    return out


def _attribution(attribution, score, node, **info):
    result = Attribution(attribution, score, info)
    result.node = node
    return result


# ----------------------------------------------------------------------------- Grad-CAM

def grad_cam(graph, x, target=None, *, node=None, upsample=None, interpolation="bilinear",
             relu=True, batch_size=None, return_all=False):
    """Grad-CAM: the feature maps A_k of a node weighed by their mean gradient,

        α_k = (1/|Ω|) Σ_{u∈Ω} ∂s/∂A_k(u),     L = ReLU(Σ_k α_k A_k),

    with s = Σ_c mask_c f_c(x) the explained score and Ω the node's spatial positions. For
    a node without spatial axes (the hidden layer of an MLP) nothing is pooled: the map is
    per unit, L_k = ReLU(∂s/∂A_k · A_k) (captum's ``attr_dim_summation=False``).

    Parameters
    ----------
    graph : neon.Graph
    x : tensor, ndarray, DataFrame or list of rows (a tuple for several graph inputs)
    target : as in :func:`lrp.explain`
    node : str, optional
        The node whose feature maps are weighed: a node name (``"layer4.1.relu:1"``) or a
        source module's name, meaning its output (``"layer4"`` on a torchvision ResNet,
        ``"features.19"`` on VGG-11), see :meth:`neon.Graph.node_of`. Default: the last node
        feeding the explained output whose value has spatial axes with more than one
        position, adaptive average pools left out (:func:`cam_node` says which).
    upsample : bool, optional
        None (default): resize the map to the input's spatial size when the node has as many
        spatial axes as the input; False: keep the node's resolution; True: resize, and
        refuse a node without spatial axes.
    interpolation : str
        How to resize (:data:`INTERPOLATIONS`): ``"bilinear"`` (default; linear for 1-d
        maps), ``"nearest"``, … as torch.nn.functional.interpolate with align_corners=False.
    relu : bool
        Rectify the map (default, as the paper); False keeps it signed (captum's
        ``relu_attributions=False``).
    batch_size : int, optional
        Samples per forward/backward pass.
    return_all : bool
        Return an :class:`lrp.calls.Attribution`: ``output`` the score per sample, ``info``
        ``alpha`` (the weights α, (N, C), or (N, units) for a node without spatial axes)
        and ``map`` (the map at the node's resolution, before upsampling); the resolved
        node name is the attribute ``node``.

    Returns
    -------
    tensor or ndarray
        The map, shape (N, 1, *spatial) (the input's spatial size when upsampled), or the
        node's shape for a node without spatial axes; typed like ``x``.

    References
    ----------
    Selvaraju et al., "Grad-CAM: visual explanations from deep networks via gradient-based
    localization", ICCV 2017.
    """
    _check_node_name(node)
    if upsample is not None:
        check_flag(upsample, "upsample")
    check_choice(interpolation, "interpolation", INTERPOLATIONS)
    check_flag(relu, "relu")
    check_flag(return_all, "return_all")
    call = Call(graph, x, target, batch_size, method="lrp.grad_cam", as_frame=False)
    name = _resolve_node(call, node, "lrp.grad_cam")
    maps, alpha, score = _grad_cam_maps(call, name, relu)
    rank = _spatial_rank(maps)
    size = _target_size(call, rank, upsample, "lrp.grad_cam", name)
    shown = _interpolate(maps, size, interpolation) if rank else maps
    attribution = _finish_map(call, shown, name)
    if not return_all:
        return attribution
    return _attribution(attribution, score, name, alpha=alpha, map=maps)


def guided_grad_cam(graph, x, target=None, *, node=None, interpolation="bilinear",
                    batch_size=None, return_all=False):
    """Guided Grad-CAM: guided backpropagation times the Grad-CAM map upsampled to the input,

        R = G ⊙ up(L),

    with G = :func:`lrp.guided_backprop` and L = :func:`grad_cam` (rectified) at ``node``,
    resized to the input's spatial size and broadcast over the input's channels; shaped
    like ``x``. The node must have as many spatial axes as every graph input.

    Parameters
    ----------
    node, interpolation, batch_size : as in :func:`grad_cam`
        Captum's GuidedGradCam resizes with ``interpolate_mode="nearest"`` by default; the
        default here is ``"bilinear"`` (pass ``interpolation="nearest"`` to match captum).
    return_all : bool
        Return an :class:`lrp.calls.Attribution` with the score per sample and ``info``
        ``alpha`` and ``map`` as in :func:`grad_cam`; the node name is the attribute ``node``.

    References
    ----------
    Selvaraju et al., ICCV 2017 (as :func:`grad_cam`); Springenberg et al., "Striving for
    simplicity: the all convolutional net", ICLR workshop 2015.
    """
    _check_node_name(node)
    check_choice(interpolation, "interpolation", INTERPOLATIONS)
    check_flag(return_all, "return_all")
    call = Call(graph, x, target, batch_size, method="lrp.guided_grad_cam")
    name = _resolve_node(call, node, "lrp.guided_grad_cam")
    maps, alpha, score = _grad_cam_maps(call, name, True)
    rank = _spatial_rank(maps)
    for x_, spec in zip(call.xs, call.graph.input_specs):
        if x_.dim() < 3:
            raise ValueError(f"guided_grad_cam needs image- or signal-like input (N, C, ...); "
                             f"input {spec.name!r} has shape {tuple(x_.shape)} (tabular): use "
                             "lrp.grad_cam (one value per unit of a hidden layer) or "
                             "lrp.guided_backprop")
        if x_.dim() - 2 != rank:
            raise ValueError(f"guided_grad_cam multiplies guided backpropagation on input "
                             f"{spec.name!r} (shape {tuple(x_.shape)}) by the Grad-CAM map "
                             f"of node {name!r}, which has {rank} spatial axes; name a node "
                             f"with the input's {max(x_.dim() - 2, 0)} spatial axes")
    composite = Composite([(select.everything(), GuidedBackprop())])
    guided, _, _, _ = walk(call, composite, start_at="mask")
    results = [g * _interpolate(maps, x_.shape[2:], interpolation)
               for g, x_ in zip(guided, call.xs)]
    attribution = call.finish(results)
    if not return_all:
        return attribution
    return _attribution(attribution, score, name, alpha=alpha, map=maps)


# ---------------------------------------------------------------------------------- CAM

def _describe_end(graph, explained, depth=3):
    chain, name = [], explained
    for _ in range(depth):
        if not graph.is_op_node(name):
            chain.append(f"the input {name!r}")
            break
        node = graph[name]
        chain.append(f"{node.kind} ({node.name})")
        if len(node.inputs) != 1:
            break
        name = node.inputs[0]
    return " → ".join(reversed(chain))


def _global_pool_input(graph):
    """(pool input node, linear node) for a graph whose explained output is a linear layer
    over global average pooling (+ flatten/reshape); a ValueError naming the end otherwise."""
    explained = explained_node(graph)
    problem = ("CAM needs a graph whose explained output is a linear layer over global "
               "average pooling (+ flatten), as ResNets; this graph ends in "
               f"{_describe_end(graph, explained)}. Use lrp.grad_cam, which works on any "
               "feature map")
    top = graph[explained] if graph.is_op_node(explained) else None
    if top is None or not isinstance(top.op, Linear):
        raise ValueError(problem)
    name = top.inputs[0]
    while graph.is_op_node(name) and isinstance(graph[name].op, (Flatten, Reshape)):
        name = graph[name].inputs[0]
    pool = graph[name] if graph.is_op_node(name) else None
    if pool is None or not isinstance(pool.op, (AdaptiveAvgPool, Mean)):
        raise ValueError(problem)
    if isinstance(pool.op, AdaptiveAvgPool):
        size = pool.op.output_size
        sizes = size if isinstance(size, (tuple, list)) else (size,)
        if any(s != 1 for s in sizes):
            raise ValueError(f"{problem} (the pool {pool.name!r} has output size {size}, "
                             "not 1: it is not global)")
    return pool, top, problem


def cam(graph, x, target=None, *, upsample=None, interpolation="bilinear", batch_size=None,
        return_all=False):
    """Class activation mapping, for graphs whose explained output is a linear layer over
    global average pooling of feature maps A_k (ResNets, the 1-d net of the tests):

        M = Σ_k v_k A_k,     v_k = Σ_c mask_c w_ck,

    with w the linear layer's weight (the bias adds nothing to the map). M is signed (the
    paper has no rectification). On such graphs Grad-CAM's weights are α_k = v_k / |Ω|, so
    M = |Ω| · grad_cam(relu=False) at the pool's input, Ω its spatial positions.

    Parameters
    ----------
    upsample, interpolation, batch_size : as in :func:`grad_cam`
    return_all : bool
        Return an :class:`lrp.calls.Attribution`: ``output`` the score per sample,
        ``info`` ``weights`` (v, (N, K)) and ``map`` (before upsampling); the attribute
        ``node`` names the pool's input.

    Returns
    -------
    tensor or ndarray
        The map, shape (N, 1, *spatial), typed like ``x``. A ValueError naming what the graph
        ends in when it is not global average pooling + linear (use :func:`grad_cam`).

    References
    ----------
    Zhou et al., "Learning deep features for discriminative localization", CVPR 2016.
    """
    if upsample is not None:
        check_flag(upsample, "upsample")
    check_choice(interpolation, "interpolation", INTERPOLATIONS)
    check_flag(return_all, "return_all")
    call = Call(graph, x, target, batch_size, method="lrp.cam", as_frame=False)
    pool, top, problem = _global_pool_input(call.graph)
    features, explained = pool.inputs[0], explained_node(call.graph)
    weight = top.op.weight
    maps, weights, scores = [], [], []
    for _, _, part, t in call.chunks():
        with torch.no_grad():
            values = call.graph.activations(*part, validated=True, keep=[features, explained])
        a, out = values[features], values[explained]
        if a.dim() < 3 or (isinstance(pool.op, Mean) and {d % a.dim() for d in pool.op.dims}
                           != set(range(2, a.dim()))):
            raise ValueError(f"{problem} (the pool {pool.name!r} does not average every "
                             f"spatial axis of its input, shape {tuple(a.shape)})")
        if a.shape[1] != weight.shape[1]:
            raise ValueError(f"{problem} (the linear layer {top.name!r} reads "
                             f"{weight.shape[1]} features, the pool gives {a.shape[1]} "
                             "channels)")
        mask = target_mask(call.graph, out, t).to(out.dtype)
        v = mask @ weight.to(out.dtype)
        maps.append(torch.einsum("nk,nk...->n...", v, a).unsqueeze(1))
        weights.append(v)
        scores.append(per_sample(out * mask))
    maps = torch.cat(maps)
    size = _target_size(call, maps.dim() - 2, upsample, "lrp.cam", features)
    attribution = _finish_map(call, _interpolate(maps, size, interpolation), features)
    if not return_all:
        return attribution
    return _attribution(attribution, torch.cat(scores), features, weights=torch.cat(weights),
                        map=maps)
