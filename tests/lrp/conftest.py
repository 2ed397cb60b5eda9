"""Shared fixtures and an independent numpy reference for the LRP tests.

The reference (``ref`` fixture: this module) writes every rule in its table form from
docs/lrp_rules.md, R_j = Σ_k q_jk / (Σ_j' q_j'k + β_k + ε·sign(·)) · R_k, with explicit
contribution matrices q (rows k = output units, columns j = inputs) and per-sample loops.
It shares no code with :mod:`lrp`: convolutions are unrolled into dense matrices by plain
index loops, so a test comparing against it compares two independent computations.
"""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch

import neon

# ------------------------------------------------------------------------------ helpers


def sign(d):
    """sign with sign(0) = +1 (zennit's stabilizer convention)."""
    return np.where(d >= 0, 1.0, -1.0)


def share(q, beta, R, eps):
    """R_j = Σ_k q[k, j] / (Σ_j' q[k, j'] + β_k + ε·sign) · R_k for one sample.

    With ε = 0 a unit with a zero denominator passes nothing.
    """
    d = q.sum(1) + beta
    if np.all(np.asarray(eps) == 0):
        s = np.where(d == 0, 0.0, R / np.where(d == 0, 1.0, d))
    else:
        s = R / (d + eps * sign(d))
    return (q * s[:, None]).sum(0)


def pos(t):
    return np.maximum(t, 0.0)


def neg(t):
    return np.minimum(t, 0.0)


# --------------------------------------------------------------- one affine layer, one sample


def epsilon(a, W, b, R, eps=1e-6, scale=None, zero_bias=False):
    """LRP-ε: q = a_j w_jk, β = b_k (0 with zero_bias)."""
    beta = np.zeros(W.shape[0]) if zero_bias else b
    q = W * a[None, :]
    if scale == "rms":
        z = q.sum(1) + beta
        eps = eps * np.sqrt(np.mean(z ** 2))
    return share(q, beta, R, eps)


def gamma(a, W, b, R, g=0.25, eps=1e-6, zero_bias=False):
    """Sign-aware LRP-γ, one output unit at a time (branch on the sign of the original z)."""
    b = np.zeros(W.shape[0]) if zero_bias else b
    z = W @ a + b
    out = np.zeros_like(a)
    for k in range(W.shape[0]):
        w = W[k]
        if z[k] > 0:
            q = pos(a) * (w + g * pos(w)) + neg(a) * (w + g * neg(w))
            beta = b[k] + g * pos(b[k])
        elif z[k] < 0:
            q = pos(a) * (w + g * neg(w)) + neg(a) * (w + g * pos(w))
            beta = b[k] + g * neg(b[k])
        else:
            continue
        d = q.sum() + beta
        out += q / (d + eps * sign(d)) * R[k]
    return out


def alphabeta(a, W, b, R, alpha=2.0, beta=1.0, eps=1e-6, zero_bias=False):
    """αβ: P = a⁺w⁺ + a⁻w⁻ (+ b⁺), N = a⁺w⁻ + a⁻w⁺ (+ b⁻), each normalized by its own sum."""
    b = np.zeros(W.shape[0]) if zero_bias else b
    P = pos(a)[None] * pos(W) + neg(a)[None] * neg(W)
    N = pos(a)[None] * neg(W) + neg(a)[None] * pos(W)
    out = alpha * share(P, pos(b), R, eps)
    if beta:
        out = out - beta * share(N, neg(b), R, eps)
    return out


def zplus(a, W, b, R, eps=1e-6, zero_bias=False):
    return alphabeta(a, W, b, R, 1.0, 0.0, eps, zero_bias)


def flat(a, W, b, R, mask, eps=1e-6):
    """q = 1 on every in-bounds connection (``mask``), no bias, no input factor."""
    return share(mask.astype(float), np.zeros(W.shape[0]), R, eps)


def wsquare(a, W, b, R, eps=1e-6, zero_bias=False):
    beta = np.zeros(W.shape[0]) if zero_bias else b ** 2
    return share(W ** 2, beta, R, eps)


def zbox(a, W, b, R, low, high, eps=1e-6):
    """z^B: q = x_j w_jk − l_j w⁺_jk − h_j w⁻_jk, no bias (l, h per input element)."""
    q = a[None] * W - low[None] * pos(W) - high[None] * neg(W)
    return share(q, np.zeros(W.shape[0]), R, eps)


RULES = dict(epsilon=epsilon, gamma=gamma, alphabeta=alphabeta, zplus=zplus, flat=flat,
             wsquare=wsquare, zbox=zbox)


# ------------------------------------------------------------------- convolution as a matrix


def conv_dense(weight, bias, in_shape, stride=1, padding=0):
    """Unroll a 2-d convolution into (W, b, mask, out_shape) by explicit index loops.

    W[(co, oy, ox), (ci, iy, ix)] = weight[co, ci, ky, kx] for every in-bounds tap;
    mask marks the in-bounds taps (padding excluded). Flattening order is torch's (C, H, W).
    """
    weight = np.asarray(weight, dtype=float)
    cout, cin, kh, kw = weight.shape
    c, h, w = in_shape
    assert c == cin
    ho = (h + 2 * padding - kh) // stride + 1
    wo = (w + 2 * padding - kw) // stride + 1
    W = np.zeros((cout * ho * wo, c * h * w))
    mask = np.zeros_like(W, dtype=bool)
    for co in range(cout):
        for oy in range(ho):
            for ox in range(wo):
                k = (co * ho + oy) * wo + ox
                for ci in range(cin):
                    for ky in range(kh):
                        for kx in range(kw):
                            iy, ix = oy * stride - padding + ky, ox * stride - padding + kx
                            if 0 <= iy < h and 0 <= ix < w:
                                j = (ci * h + iy) * w + ix
                                W[k, j] += weight[co, ci, ky, kx]
                                mask[k, j] = True
    b = np.zeros(cout) if bias is None else np.asarray(bias, dtype=float)
    return W, np.repeat(b, ho * wo), mask, (cout, ho, wo)


# -------------------------------------------------------------- a reference for Sequential nets


def layers_of(module, x_shape):
    """Describe an nn.Sequential of Linear/Conv2d/ReLU/LeakyReLU/Flatten as dense layers.

    Returns a list of ("affine", W, b, mask) / ("relu",) / ("leaky", slope) / ("flatten",)
    with dense numpy matrices, built from the module's parameters by :func:`conv_dense`.
    """
    from torch import nn

    out, shape = [], tuple(x_shape)
    for m in module:
        if isinstance(m, nn.Linear):
            W = m.weight.detach().double().numpy()
            b = np.zeros(W.shape[0]) if m.bias is None else m.bias.detach().double().numpy()
            out.append(("affine", W, b, np.ones_like(W, dtype=bool)))
            shape = (W.shape[0],)
        elif isinstance(m, nn.Conv2d):
            bias = None if m.bias is None else m.bias.detach().double().numpy()
            W, b, mask, shape = conv_dense(m.weight.detach().double().numpy(), bias, shape,
                                           m.stride[0], m.padding[0])
            out.append(("affine", W, b, mask))
        elif isinstance(m, nn.ReLU):
            out.append(("relu",))
        elif isinstance(m, nn.LeakyReLU):
            out.append(("leaky", m.negative_slope))
        elif isinstance(m, nn.Flatten):
            shape = (int(np.prod(shape)),)
        else:
            raise TypeError(type(m))
    return out


def reference_lrp(layers, x, target, rules):
    """LRP on a dense layer list for a batch x (N, ...): relevance of x, shaped like x.

    ``target``: an int class, a list of classes, or a mask (N, C); the relevance starts at
    f(x) ⊙ mask. ``rules``: one (name, kwargs) per affine layer, bottom to top.
    """
    x = np.asarray(x, dtype=float)
    result = []
    for n in range(x.shape[0]):
        acts, a = [], x[n].reshape(-1)
        for layer in layers:
            acts.append(a)
            if layer[0] == "affine":
                a = layer[1] @ a + layer[2]
            elif layer[0] == "relu":
                a = np.maximum(a, 0)
            elif layer[0] == "leaky":
                a = np.where(a >= 0, a, layer[1] * a)
        if np.ndim(target) == 2:
            mask = np.asarray(target, dtype=float)[n]
        else:
            mask = np.zeros_like(a)
            mask[target if np.ndim(target) == 0 else target[n]] = 1
        R = a * mask
        affine = [i for i, lay in enumerate(layers) if lay[0] == "affine"]
        for i in reversed(range(len(layers))):
            layer = layers[i]
            if layer[0] != "affine":
                continue  # Pass: activations keep the relevance
            name, kw = rules[affine.index(i)]
            kw = dict(kw)
            if name == "flat":
                kw["mask"] = layer[3]
            R = RULES[name](acts[i], layer[1], layer[2], R, **kw)
        result.append(R.reshape(x.shape[1:]))
    return np.stack(result)


def graph_of(module, x):
    """neon graph of ``module`` in float64 for the example ``x``."""
    module = module.double().eval()
    return neon.from_torch(module, torch.as_tensor(x, dtype=torch.float64))


def rel_err(a, b):
    """Per-sample relative L2 error ‖a − b‖ / ‖b‖ (as a numpy vector)."""
    a = torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a).double()
    b = torch.as_tensor(np.asarray(b) if not isinstance(b, torch.Tensor) else b).double()
    num = (a - b).flatten(1).norm(dim=1)
    den = b.flatten(1).norm(dim=1).clamp_min(1e-300)
    return (num / den).numpy()


@pytest.fixture(scope="session")
def ref():
    """The numpy reference and small helpers of this module, as a namespace."""
    return types.SimpleNamespace(**{k: v for k, v in globals().items() if not k.startswith("_")})
