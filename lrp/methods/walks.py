"""Backward walks with modified rules: guided backpropagation, DeconvNet and excitation
backprop, each the propagator of :func:`lrp.explain` started at the target mask (not at the
output's value) with a rule of :mod:`lrp.rules.gradient`.
"""

from __future__ import annotations

from neon.ops import Affine

from .. import select
from ..calls import Attribution, Call, explained_node
from ..composites import Composite
from ..propagate import walk
from ..rules import DeconvNet, ExcitationBackprop, GuidedBackprop
from ..rules.base import check_flag

__all__ = ["guided_backprop", "deconvnet", "excitation_backprop"]


def _run(graph, x, target, batch_size, return_all, composite, method):
    check_flag(return_all, "return_all")
    call = Call(graph, x, target, batch_size, method=method)
    results, score, _, _ = walk(call, composite, start_at="mask")
    attribution = call.finish(results)
    return Attribution(attribution, score) if return_all else attribution


def guided_backprop(graph, x, target=None, *, batch_size=None, return_all=False):
    """Guided backpropagation: the gradient with each ReLU passing back only positive signal
    at positive inputs (:class:`lrp.rules.GuidedBackprop` on every node).

    Same call as :func:`lrp.gradient`. Reference: Springenberg et al., ICLR workshop 2015.
    """
    composite = Composite([(select.everything(), GuidedBackprop())])
    return _run(graph, x, target, batch_size, return_all, composite, "lrp.guided_backprop")


def deconvnet(graph, x, target=None, *, batch_size=None, return_all=False):
    """DeconvNet: the gradient with each ReLU passing back the rectified signal whatever its
    input (:class:`lrp.rules.DeconvNet` on every node).

    Same call as :func:`lrp.gradient`. Reference: Zeiler & Fergus, ECCV 2014.
    """
    composite = Composite([(select.everything(), DeconvNet())])
    return _run(graph, x, target, batch_size, return_all, composite, "lrp.deconvnet")


def excitation_backprop(graph, x, target=None, *, contrastive=False, batch_size=None,
                        return_all=False):
    """Excitation backprop: the marginal winning probability of every input unit, P, started
    at 1 on the target (the mask) and split top-down by :class:`lrp.rules.ExcitationBackprop`
    through the affine layers (structural ops keep their LRP defaults).

    With ``contrastive=True``: P(target) − P(dual), where the dual unit has the top layer's
    weights negated, so what excites the target and not its opposite remains (c-MWP).
    Σ P = 1 per sample while every unit on the way has excitatory input.

    Reference: Zhang et al., "Top-down neural attention by excitation backprop", ECCV 2016.
    """
    check_flag(contrastive, "contrastive")
    excite = (select.handles(ExcitationBackprop()), ExcitationBackprop())
    if not contrastive:
        return _run(graph, x, target, batch_size, return_all, Composite([excite]),
                    "lrp.excitation_backprop")
    top = graph[explained_node(graph)]
    if not isinstance(top.op, Affine):
        raise ValueError(f"contrastive excitation backprop negates the top layer's weights, "
                         f"but the explained node {top.name!r} is a {top.kind!r} op, not an "
                         "affine layer; use contrastive=False")
    on_top = select.where(lambda g, node: node.name == top.name, f"the top layer {top.name!r}")
    dual = Composite([(on_top, ExcitationBackprop(dual=True)), excite])
    check_flag(return_all, "return_all")
    call = Call(graph, x, target, batch_size, method="lrp.excitation_backprop")
    plain, score, _, _ = walk(call, Composite([excite]), start_at="mask")
    opposite, _, _, _ = walk(call, dual, start_at="mask")
    attribution = call.finish([p - o for p, o in zip(plain, opposite)])
    return Attribution(attribution, score) if return_all else attribution
