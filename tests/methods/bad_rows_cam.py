"""Bad-input rows of lrp.grad_cam, lrp.guided_grad_cam, lrp.cam and lrp.cam_node, for
tests/test_bad_input_table.py: ``(entry point, what is wrong, zero-argument call, exception
class, words the message must contain)``. The graphs are tiny: a tabular MLP (4 features),
a CNN ending in global average pooling + linear (GAP), one ending in a 2 × 2 pool (not
global), one ending in flatten + linear, one ending in a softmax, and a 1-d conv net."""

from __future__ import annotations

import torch
from torch import nn

import lrp
import neon
from lrp.methods.cams import cam_node

F64 = torch.float64


def _graph(net, shape):
    torch.manual_seed(0)
    return neon.neuralize(net.double(), torch.randn(1, *shape, dtype=F64))


MLP = _graph(nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3)), (4,))
GAP = _graph(nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                           nn.Flatten(), nn.Linear(3, 3)), (2, 4, 4))
POOL2 = _graph(nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                             nn.Flatten(), nn.Linear(12, 3)), (2, 4, 4))
FLAT = _graph(nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(),
                            nn.Linear(48, 3)), (2, 4, 4))
SOFT = _graph(nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                            nn.Flatten(), nn.Linear(3, 3), nn.Softmax(1)), (2, 4, 4))
ONE_D = _graph(nn.Sequential(nn.Conv1d(2, 3, 3), nn.ReLU(), nn.AdaptiveAvgPool1d(1),
                             nn.Flatten(), nn.Linear(3, 3)), (2, 8))
X = torch.randn(2, 4, dtype=F64)
XC = torch.rand(2, 2, 4, 4, dtype=F64)
X1 = torch.rand(2, 2, 8, dtype=F64)


def gc(**kw):
    return lambda: lrp.grad_cam(kw.pop("graph", GAP), kw.pop("x", XC), **kw)


def ggc(**kw):
    return lambda: lrp.guided_grad_cam(kw.pop("graph", GAP), kw.pop("x", XC), **kw)


def cm(**kw):
    return lambda: lrp.cam(kw.pop("graph", GAP), kw.pop("x", XC), **kw)


ROWS = [
    # ---- lrp.grad_cam
    ("lrp.grad_cam", "a torch module, not a graph",
     lambda: lrp.grad_cam(nn.Linear(4, 3), X), TypeError, "neuralize"),
    ("lrp.grad_cam", "node is not a string", gc(node=0), TypeError, "node must be"),
    ("lrp.grad_cam", "node does not exist", gc(node="relu"), KeyError,
     "no node or source module named"),
    ("lrp.grad_cam", "node after the explained logits (the softmax)",
     gc(graph=SOFT, node="5"), ValueError, "does not feed the explained output"),
    ("lrp.grad_cam", "no node with spatial axes and node=None", gc(graph=MLP, x=X),
     ValueError, "pass node="),
    ("lrp.grad_cam", "upsample is not a bool", gc(upsample="yes"), TypeError,
     "upsample must be True or False"),
    ("lrp.grad_cam", "upsample=True on a node without spatial axes",
     gc(graph=MLP, x=X, node="1", upsample=True), ValueError, "no spatial axes"),
    ("lrp.grad_cam", "interpolation unknown", gc(interpolation="cubic"), ValueError,
     "interpolation must be one of"),
    ("lrp.grad_cam", "bicubic on a 1-d map", gc(graph=ONE_D, x=X1, node="1",
                                                interpolation="bicubic"),
     ValueError, "interpolation='bicubic' cannot resize"),
    ("lrp.grad_cam", "relu is not a bool", gc(relu=1), TypeError, "relu must be True or False"),
    ("lrp.grad_cam", "return_all is not a bool", gc(return_all="no"), TypeError,
     "return_all must be True or False"),
    ("lrp.grad_cam", "batch_size zero", gc(batch_size=0), ValueError, "batch_size"),
    ("lrp.grad_cam", "wrong input shape", gc(x=X), Exception, "expected shape"),
    ("lrp.grad_cam", "target per sample of the wrong length", gc(target=[0, 1, 2]),
     Exception, "one class per sample"),
    # ---- lrp.guided_grad_cam
    ("lrp.guided_grad_cam", "a torch module, not a graph",
     lambda: lrp.guided_grad_cam(nn.Linear(4, 3), X), TypeError, "neuralize"),
    ("lrp.guided_grad_cam", "node is not a string", ggc(node=["1"]), TypeError,
     "node must be"),
    ("lrp.guided_grad_cam", "node does not exist", ggc(node="conv9"), KeyError,
     "no node or source module named"),
    ("lrp.guided_grad_cam", "tabular input", ggc(graph=MLP, x=X, node="1"), ValueError,
     "image- or signal-like input"),
    ("lrp.guided_grad_cam", "node with fewer spatial axes than the input",
     ggc(node="3"), ValueError, "name a node with the input's 2 spatial axes"),
    ("lrp.guided_grad_cam", "interpolation unknown", ggc(interpolation="bilinear2"),
     ValueError, "interpolation must be one of"),
    ("lrp.guided_grad_cam", "return_all is not a bool", ggc(return_all=1), TypeError,
     "return_all must be True or False"),
    ("lrp.guided_grad_cam", "batch_size negative", ggc(batch_size=-1), ValueError,
     "batch_size"),
    # ---- lrp.cam
    ("lrp.cam", "a torch module, not a graph", lambda: lrp.cam(nn.Linear(4, 3), X),
     TypeError, "neuralize"),
    ("lrp.cam", "graph ends in flatten + linear, no global pool", cm(graph=FLAT),
     ValueError, "global average pooling"),
    ("lrp.cam", "graph ends in a 2 × 2 adaptive pool", cm(graph=POOL2), ValueError,
     "not global"),
    ("lrp.cam", "an MLP", cm(graph=MLP, x=X), ValueError, "use lrp.grad_cam"),
    ("lrp.cam", "upsample is not a bool", cm(upsample=2), TypeError,
     "upsample must be True or False"),
    ("lrp.cam", "interpolation unknown", cm(interpolation=None), ValueError,
     "interpolation must be one of"),
    ("lrp.cam", "return_all is not a bool", cm(return_all=None), TypeError,
     "return_all must be True or False"),
    ("lrp.cam", "batch_size a float", cm(batch_size=1.5), ValueError, "batch_size"),
    # ---- lrp.cam_node
    ("lrp.cam_node", "node is not a string", lambda: cam_node(GAP, XC, node=1.0), TypeError,
     "node must be"),
    ("lrp.cam_node", "no node with spatial axes", lambda: cam_node(MLP, X), ValueError,
     "pass node="),
    ("lrp.cam_node", "node does not exist", lambda: cam_node(GAP, XC, node="fc"), KeyError,
     "no node or source module named"),
]
