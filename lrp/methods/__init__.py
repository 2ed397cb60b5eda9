"""The methods people compare LRP with, on the same graph and with the same call.

Every method is ``lrp.<method>(graph, x, target=None, *, batch_size=None, **options)``:
``target`` as in :func:`lrp.explain` (labels for neuralized classifiers, column indices for
torch graphs), the result shaped and typed like ``x`` (numpy in, numpy out; tensors in,
tensors out), an :class:`lrp.calls.Attribution` with ``return_all=True``.

=====================  ==========================================================
module                 methods
=====================  ==========================================================
:mod:`.gradients`      :func:`gradient`, :func:`gradient_x_input`,
                       :func:`integrated_gradients`, :func:`smoothgrad`
:mod:`.walks`          :func:`guided_backprop`, :func:`deconvnet`,
                       :func:`excitation_backprop` (rules of :mod:`lrp.rules.gradient`)
:mod:`.cams`           :func:`grad_cam`, :func:`guided_grad_cam`, :func:`cam`
:mod:`.perturbation`   :func:`occlusion`, :func:`rise`, :func:`lime`
:mod:`.masks`          :func:`meaningful_perturbation`, :func:`extremal_perturbation`
:mod:`.reference`      :func:`deeplift` (DeepLIFT Rescale; DeepSHAP with ``background=``),
                       :func:`competitive_gradient_x_input`
=====================  ==========================================================
"""

from ..propagate import explain
from .cams import cam, cam_node, grad_cam, guided_grad_cam
from .gradients import gradient, gradient_x_input, integrated_gradients, smoothgrad
from .masks import extremal_perturbation, meaningful_perturbation
from .perturbation import lime, occlusion, rise
from .reference import competitive_gradient_x_input, deeplift
from .walks import deconvnet, excitation_backprop, guided_backprop

#: Every method by name (``lrp.smoothgrad(method="integrated_gradients")`` looks names up
#: here); ``explain`` is LRP itself.
METHODS = {
    "explain": explain, "gradient": gradient, "gradient_x_input": gradient_x_input,
    "integrated_gradients": integrated_gradients, "smoothgrad": smoothgrad,
    "guided_backprop": guided_backprop, "deconvnet": deconvnet,
    "excitation_backprop": excitation_backprop, "grad_cam": grad_cam,
    "guided_grad_cam": guided_grad_cam, "cam": cam, "occlusion": occlusion, "rise": rise,
    "lime": lime, "meaningful_perturbation": meaningful_perturbation,
    "extremal_perturbation": extremal_perturbation, "deeplift": deeplift,
    "competitive_gradient_x_input": competitive_gradient_x_input,
}

__all__ = [name for name in METHODS if name != "explain"] + ["cam_node", "METHODS"]
