"""Layer-wise relevance rules.

A rule maps the relevance ``R`` arriving at an op's output to relevances of its inputs:
``rule(op, inputs, output, R) -> [R_input, ...]``. Rules for affine ops follow the template
(LRP_RULES.md; Montavon et al., "Layer-wise relevance propagation: an overview", 2019)

    R_j = Σ_k  m(a)_j ρ(w_jk) / (Σ_j' m(a)_j' ρ(w_j'k) + ρ(b_k) + ε·sign(·)) · R_k,

evaluated in four steps without autograd: z = apply(m(a), ρ(W), ρ(b)); s = R / stab(z);
c = transpose(s, ρ(W)); R_in = m(a) ⊙ c. Named rules are choices of ρ, m and ε; each keeps
zennit 0.5.1's conventions by default (``zero_bias=False``) and offers the bias-free
deep-Taylor form (``zero_bias=True``), which conserves relevance exactly.

Speed: ``z`` of an unmodified affine op is its cached forward output, so Epsilon needs one
transposed product per layer. Rules with sign-split weights take shortcuts that are exact
algebra, not approximations: for inputs a ≥ 0 the a⁻ terms vanish; z⁻ = z − z⁺ comes free;
relevance that never reaches units with z < 0 (a ReLU follows) skips the γ rule's
negative branch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = [
    "Rule", "RuleError", "stabilize", "divide", "vjp",
    "Generic", "Epsilon", "Gamma", "AlphaBeta", "ZPlus", "Flat", "WSquare", "ZBox",
    "Pass", "Norm", "WinnerTakeAll", "ProportionalMax", "Route", "Gradient", "SoftmaxRule",
    "default_rule", "register_default",
]

AFFINE = ("linear", "conv")


class RuleError(TypeError):
    """A rule was matched to an op it cannot handle."""


# ---------------------------------------------------------------------------- primitives

def stabilize(z: torch.Tensor, epsilon: float | torch.Tensor) -> torch.Tensor:
    """z + ε·sign(z), with sign(0) = +1 (zennit's stabilizer). Returns a new tensor."""
    eps = torch.as_tensor(epsilon, dtype=z.dtype, device=z.device)
    return torch.where(z >= 0, eps, -eps).add_(z)


def divide(r: torch.Tensor, z: torch.Tensor, epsilon) -> torch.Tensor:
    """r / stabilize(z, ε); with ε = 0, units with z = 0 pass nothing (no 0/0 NaN)."""
    if isinstance(epsilon, torch.Tensor) or epsilon > 0:
        d = stabilize(z, epsilon)
        return torch.div(r, d, out=d) if d.shape == r.shape else r / d
    zero = z == 0
    return torch.where(zero, torch.zeros_like(r), r / torch.where(zero, torch.ones_like(z), z))


def vjp(op, inputs, grad_out):
    """Vector-Jacobian product of ``op`` at ``inputs``: [gᵀ ∂op/∂x_i for each input]."""
    with torch.enable_grad():
        xs = [x.detach().requires_grad_(True) for x in inputs]
        out = op(*xs)
        return list(torch.autograd.grad(out, xs, grad_out, allow_unused=True))


def _nonnegative(a: torch.Tensor) -> bool:
    return bool(a.min() >= 0) if a.numel() else True


def _channel(op, t: torch.Tensor, ndim: int) -> torch.Tensor:
    return t.reshape(op.out_channel_shape(ndim))


def _ones_like_sample(a: torch.Tensor) -> torch.Tensor:
    """A batch of one: rules whose first step does not depend on the input broadcast it."""
    return a.new_ones((1,) + tuple(a.shape[1:]))


# ---------------------------------------------------------------------------- base class

class Rule:
    """Base of all rules.

    Attributes
    ----------
    kinds : tuple of str or None
        Op kinds the rule can handle; ``None`` means any op.
    """

    kinds: tuple | None = None

    def handles(self, op) -> bool:
        """Whether this rule can be applied to ``op``."""
        return self.kinds is None or op.kind in self.kinds

    def __call__(self, op, inputs, output, relevance):
        raise NotImplementedError

    def _params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"


class _AffineRule(Rule):
    """Common parameters of the rules for Linear and Conv ops."""

    kinds = AFFINE

    def __init__(self, stabilizer: float = 1e-6, zero_bias: bool = False):
        self.stabilizer = stabilizer
        self.zero_bias = zero_bias

    def bias(self, op, modify: Callable | None = None):
        """ρ(b), or None in the bias-free form (or for ops without a bias)."""
        if self.zero_bias or op.bias is None:
            return None
        return op.bias if modify is None else modify(op.bias)

    def preactivation(self, op, output):
        """z = Σ a w + b with the bias this rule uses (the cached output, or output − b)."""
        if self.zero_bias and op.bias is not None:
            return output - _channel(op, op.bias, output.dim())
        return output


# ---------------------------------------------------------------------------- affine rules

class Generic(_AffineRule):
    """The generic rule, with user-given modifiers.

    R_j = m(a)_j · Σ_k ρ(w_jk) R_k / (Σ_j' m(a)_j' ρ(w_j'k) + ρ(b_k) + ε·sign(·))

    Parameters
    ----------
    param_modifier : callable, optional
        ρ, applied to weight and bias (default: identity).
    input_modifier : callable, optional
        m, applied to the input a (default: identity).
    epsilon : float
        Stabilizer ε (sign(0) = +1).
    output_factor : {"input", "ones"}
        Step 4: R_j = m(a)_j c_j (``"input"``), or R_j = c_j (``"ones"``: w², flat).
    zero_bias : bool
        Drop ρ(b) from the denominator.
    """

    def __init__(self, param_modifier=None, input_modifier=None, epsilon=1e-6,
                 output_factor="input", zero_bias=False):
        super().__init__(epsilon, zero_bias)
        if output_factor not in ("input", "ones"):
            raise ValueError("output_factor must be 'input' or 'ones'")
        self.param_modifier = param_modifier
        self.input_modifier = input_modifier
        self.output_factor = output_factor

    def __call__(self, op, inputs, output, relevance):
        (a,) = inputs
        rho = self.param_modifier or (lambda t: t)
        m = self.input_modifier(a) if self.input_modifier else a
        weight = rho(op.weight)
        z = op.apply(m, weight, self.bias(op, rho))
        c = op.transpose(divide(relevance, z, self.stabilizer), a.shape, weight)
        return [c * m if self.output_factor == "input" else c]


class Epsilon(_AffineRule):
    """LRP-ε: R_j = a_j Σ_k w_jk R_k / (z_k + ε·sign(z_k)), z_k = Σ_j a_j w_jk + b_k.

    ``epsilon=0`` gives LRP-0 (units with z = 0 pass nothing). ``scale="rms"`` makes ε
    relative: ε·sqrt(mean_k z_k²) per sample. Uses the cached forward output as z: one
    transposed product per layer. Reference: Bach et al., PLoS ONE 2015.
    """

    def __init__(self, epsilon: float = 1e-6, scale: str | None = None, zero_bias=False):
        super().__init__(epsilon, zero_bias)
        if scale not in (None, "rms"):
            raise ValueError("scale must be None or 'rms'")
        self.scale = scale

    def _params(self):
        return {"epsilon": self.stabilizer, "scale": self.scale, "zero_bias": self.zero_bias}

    def __call__(self, op, inputs, output, relevance):
        (a,) = inputs
        z = self.preactivation(op, output)
        eps = self.stabilizer
        if self.scale == "rms" and eps:
            dims = tuple(range(1, z.dim()))
            rms = z.square().mean(dims, keepdim=True).sqrt()
            relevance = torch.where(rms > 0, relevance, 0.0)  # z ≡ 0 in a sample: pass nothing
            eps = eps * torch.where(rms > 0, rms, 1.0)
        c = op.transpose(divide(relevance, z, eps), a.shape)
        return [c.mul_(a)]


def _split_terms(op, a, w_a_pos, w_a_neg, bias, nonneg):
    """Σ_j a⁺_j w_a_pos + a⁻_j w_a_neg + bias (the a⁻ term vanishes when a ≥ 0)."""
    z = op.apply(a.clamp(min=0) if not nonneg else a, w_a_pos, bias)
    if not nonneg:
        z = z + op.apply(a.clamp(max=0), w_a_neg, None)
    return z


def _split_back(op, a, s, w_a_pos, w_a_neg, nonneg):
    """a⁺ ⊙ w_a_posᵀ s + a⁻ ⊙ w_a_negᵀ s."""
    if nonneg:
        return op.transpose(s, a.shape, w_a_pos).mul_(a)
    return (op.transpose(s, a.shape, w_a_pos).mul_(a.clamp(min=0))
            + op.transpose(s, a.shape, w_a_neg).mul_(a.clamp(max=0)))


class Gamma(_AffineRule):
    """LRP-γ, sign-aware (LRP_RULES.md; Montavon et al. 2019; Andéol et al. 2021).

    For z_k > 0: q_jk = a⁺_j (w_jk + γw⁺_jk) + a⁻_j (w_jk + γw⁻_jk), bias b_k + γb⁺_k;
    for z_k < 0: q_jk = a⁺_j (w_jk + γw⁻_jk) + a⁻_j (w_jk + γw⁺_jk), bias b_k + γb⁻_k;
    units with z_k = 0 pass nothing. R_j = Σ_k q_jk / (Σ_j' q_j'k + bias) · R_k.
    The branch is chosen by the sign of the original z (bias included unless ``zero_bias``).
    """

    def __init__(self, gamma: float = 0.25, stabilizer: float = 1e-6, zero_bias=False):
        super().__init__(stabilizer, zero_bias)
        self.gamma = gamma

    def __call__(self, op, inputs, output, relevance):
        (a,) = inputs
        g, w = self.gamma, op.weight
        z = self.preactivation(op, output)
        nonneg = _nonnegative(a)
        w_up = w + g * w.clamp(min=0)     # w + γw⁺
        if nonneg:
            return [self._nonnegative_input(op, a, z, relevance, w_up)]
        w_down = w + g * w.clamp(max=0)   # w + γw⁻
        r_pos = torch.where(z > 0, relevance, torch.zeros_like(relevance))
        z_pos = _split_terms(op, a, w_up, w_down,
                             self.bias(op, lambda b: b + g * b.clamp(min=0)), nonneg)
        result = _split_back(op, a, divide(r_pos, z_pos, self.stabilizer), w_up, w_down, nonneg)
        r_neg = torch.where(z < 0, relevance, torch.zeros_like(relevance))
        if bool(r_neg.any()):  # skipped when a ReLU follows: no relevance reaches z < 0
            z_neg = _split_terms(op, a, w_down, w_up,
                                 self.bias(op, lambda b: b + g * b.clamp(max=0)), nonneg)
            result += _split_back(op, a, divide(r_neg, z_neg, self.stabilizer), w_down, w_up,
                                  nonneg)
        return [result]

    def _nonnegative_input(self, op, a, z, relevance, w_up):
        """a ≥ 0, one extra forward: with t = a W⁺ + b⁺ ≥ 0 (b⁺ dropped with ``zero_bias``),
        z_pos = z + γt ≥ z and z_neg = z + γ(z − t) = (1 + γ)z − γt ≤ (1 + γ)z, so on the
        branch a unit uses, its denominator has the sign of z and the stabilizer is known."""
        g, eps = self.gamma, self.stabilizer
        t = op.apply(a, op.weight.clamp(min=0), self.bias(op, lambda b: b.clamp(min=0)))
        if not bool(torch.logical_and(z <= 0, relevance != 0).any()):
            # e.g. a ReLU follows: only units with z > 0 carry relevance, and elsewhere the
            # denominator relu(z) + γt + ε ≥ ε divides a zero
            d = torch.relu(z).add_(t, alpha=g).add_(eps)  # z_pos + ε where z > 0
            s = torch.div(relevance, d, out=d)
            if not eps:  # with ε = 0, a unit with z ≤ 0 and t = 0 divides 0 by 0
                s.masked_fill_(z <= 0, 0)
            return op.transpose(s, a.shape, w_up).mul_(a)
        w_down = op.weight + g * op.weight.clamp(max=0)
        positive = z > 0
        d = torch.where(positive, t, z - t).mul_(g).add_(z)       # z_pos | z_neg
        d.add_(torch.where(positive, eps, -eps).to(z.dtype))
        s = torch.div(relevance, d, out=d)
        s_pos = torch.where(positive, s, 0.0)
        s_neg = s.masked_fill_(z >= 0, 0)
        c = op.transpose(s_pos, a.shape, w_up)
        c += op.transpose(s_neg, a.shape, w_down)
        return c.mul_(a)


class AlphaBeta(_AffineRule):
    """LRP-αβ (Bach et al. 2015), α − β = 1.

    P_k = Σ_j a⁺_j w⁺_jk + a⁻_j w⁻_jk + b⁺_k and N_k = Σ_j a⁺_j w⁻_jk + a⁻_j w⁺_jk + b⁻_k;
    R_j = α Σ_k (a⁺_j w⁺_jk + a⁻_j w⁻_jk) R_k / P_k − β Σ_k (a⁺_j w⁻_jk + a⁻_j w⁺_jk) R_k / N_k.
    For a ≥ 0, N = z − P comes from the cached output at no cost.
    """

    def __init__(self, alpha: float = 2.0, beta: float = 1.0, stabilizer: float = 1e-6,
                 zero_bias=False):
        super().__init__(stabilizer, zero_bias)
        if alpha < 0 or beta < 0 or abs(alpha - beta - 1) > 1e-12:
            raise ValueError(f"AlphaBeta needs alpha, beta >= 0 and alpha - beta = 1, "
                             f"got alpha={alpha}, beta={beta}")
        self.alpha, self.beta = alpha, beta

    def __call__(self, op, inputs, output, relevance):
        (a,) = inputs
        w_pos, w_neg = op.weight.clamp(min=0), op.weight.clamp(max=0)
        nonneg = _nonnegative(a)
        if nonneg:
            return [self._nonnegative_input(op, a, output, relevance, w_pos, w_neg)]
        pos = _split_terms(op, a, w_pos, w_neg, self.bias(op, lambda b: b.clamp(min=0)), nonneg)
        result = _split_back(op, a, divide(relevance, pos, self.stabilizer), w_pos, w_neg,
                             nonneg)
        if self.alpha != 1:
            result.mul_(self.alpha)
        if self.beta:
            if nonneg:  # N = z − P: a W⁻ + b⁻ = (a W + b) − (a W⁺ + b⁺)
                neg = self.preactivation(op, output) - pos
            else:
                neg = _split_terms(op, a, w_neg, w_pos, self.bias(op, lambda b: b.clamp(max=0)),
                                   nonneg)
            s_neg = divide(relevance, neg, self.stabilizer)
            result -= self.beta * _split_back(op, a, s_neg, w_neg, w_pos, nonneg)
        return [result]

    def _nonnegative_input(self, op, a, output, relevance, w_pos, w_neg):
        """a ≥ 0: P = a W⁺ + b⁺ ≥ 0 and N = z − P ≤ 0, so the stabilizer's sign is known
        (+ε on P, −ε on N; where N = 0 its numerator terms are all zero)."""
        eps = self.stabilizer
        pos = op.apply(a, w_pos, self.bias(op, lambda b: b.clamp(min=0)))
        neg = self.preactivation(op, output) - pos if self.beta else None
        s_pos = torch.div(relevance, pos.add_(eps), out=pos) if eps else divide(relevance, pos, 0)
        if not self.beta:
            c = op.transpose(s_pos, a.shape, w_pos)
            return c.mul_(a) if self.alpha == 1 else c.mul_(a).mul_(self.alpha)
        s_neg = torch.div(relevance, neg.sub_(eps), out=neg) if eps else divide(relevance, neg, 0)
        c = op.transpose(s_pos, a.shape, w_pos).mul_(self.alpha)
        c -= op.transpose(s_neg, a.shape, w_neg).mul_(self.beta)
        return c.mul_(a)


class ZPlus(AlphaBeta):
    """z⁺ rule: AlphaBeta(1, 0), q_jk = a⁺_j w⁺_jk + a⁻_j w⁻_jk with bias b⁺_k (zennit) or none.

    Reference: Montavon et al., "Explaining nonlinear classification decisions with deep
    Taylor decomposition", Pattern Recognition 2017.
    """

    def __init__(self, stabilizer: float = 1e-6, zero_bias=False):
        super().__init__(1.0, 0.0, stabilizer, zero_bias)

    def _params(self):
        return {"stabilizer": self.stabilizer, "zero_bias": self.zero_bias}


class Flat(_AffineRule):
    """Flat rule: q_jk = 1 over the receptive field (padding excluded), no bias.

    R_j = Σ_k R_k / n_k with n_k the number of in-bounds inputs of unit k.
    Reference: Lapuschkin et al., Nat. Commun. 2019.
    """

    def __init__(self, stabilizer: float = 1e-6):
        super().__init__(stabilizer, zero_bias=True)

    def _params(self):
        return {"stabilizer": self.stabilizer}

    def __call__(self, op, inputs, output, relevance):
        (a,) = inputs
        ones = torch.ones_like(op.weight)
        n = op.apply(_ones_like_sample(a), ones, None)
        return [op.transpose(divide(relevance, n, self.stabilizer), a.shape, ones)]


class WSquare(_AffineRule):
    """w² rule: R_j = Σ_k w_jk² R_k / (Σ_j' w_j'k² + b_k²) (b² dropped with ``zero_bias``).

    Reference: Montavon et al., Pattern Recognition 2017.
    """

    def __call__(self, op, inputs, output, relevance):
        (a,) = inputs
        w2 = op.weight.square()
        z = op.apply(_ones_like_sample(a), w2, self.bias(op, torch.square))
        return [op.transpose(divide(relevance, z, self.stabilizer), a.shape, w2)]


class ZBox(_AffineRule):
    """z^B rule for inputs in a box l ≤ x ≤ h (per channel or per element).

    R_j = Σ_k (x_j w_jk − l_j w⁺_jk − h_j w⁻_jk) R_k / z^B_k,
    z^B_k = Σ_j' (x_j' w_j'k − l_j' w⁺_j'k − h_j' w⁻_j'k);
    the bias cancels (zennit). ``low``/``high``: scalars or tensors broadcasting to one sample
    (e.g. shape (C, 1, 1) for per-channel bounds of normalized images).
    Reference: Montavon et al., Pattern Recognition 2017.
    """

    def __init__(self, low, high, stabilizer: float = 1e-6):
        super().__init__(stabilizer, zero_bias=False)
        self.low, self.high = low, high

    def _params(self):
        return {"low": self.low, "high": self.high, "stabilizer": self.stabilizer}

    def _bound(self, value, a):
        t = torch.as_tensor(value, dtype=a.dtype, device=a.device)
        return t.expand(a.shape[1:]).unsqueeze(0)

    def __call__(self, op, inputs, output, relevance):
        (a,) = inputs
        low, high = self._bound(self.low, a), self._bound(self.high, a)
        w_pos, w_neg = op.weight.clamp(min=0), op.weight.clamp(max=0)
        z = output - op.apply(low, w_pos, self.bias(op, lambda b: b.clamp(min=0))) \
            - op.apply(high, w_neg, self.bias(op, lambda b: b.clamp(max=0)))
        s = divide(relevance, z, self.stabilizer)
        c = op.transpose(s, a.shape)                    # Wᵀ s
        c_pos = op.transpose(s, a.shape, w_pos)          # W⁺ᵀ s;  W⁻ᵀ s = c − c_pos
        return [(a - high) * c - (low - high) * c_pos]


# ---------------------------------------------------------------------- non-affine rules

class Pass(Rule):
    """R_in = R_out: elementwise activations, BatchNorm left unfolded, identities."""

    kinds = ("relu", "hardtanh", "leaky_relu", "elu", "tanh", "sigmoid", "softplus", "gelu",
             "identity", "power", "batchnorm", "elementwise_affine", "log_softmax")

    def __call__(self, op, inputs, output, relevance):
        return [relevance]


class Norm(Rule):
    """Proportional split for sums and averages: R_i = a_i (Jᵀ (R / stab(z)))_i.

    Add: R_a = a / (a + b + ε·sign) · R; Sum, Mean, AvgPool and adaptive average pooling:
    each input gets its share a_j / Σ a of every window it belongs to (the Norm rule of zennit).
    """

    kinds = ("add", "sum", "mean", "avgpool", "adaptive_avgpool")

    def __init__(self, stabilizer: float = 1e-6):
        self.stabilizer = stabilizer

    def __call__(self, op, inputs, output, relevance):
        s = divide(relevance, output, self.stabilizer)
        if op.kind == "add":
            return [_unbroadcast(a * s, a.shape) for a in inputs]
        return [g * a for g, a in zip(vjp(op, inputs, s), inputs)]


def _unbroadcast(t, shape):
    while t.dim() > len(shape):
        t = t.sum(0)
    for i, n in enumerate(shape):
        if n == 1 and t.shape[i] != 1:
            t = t.sum(i, keepdim=True)
    return t


class WinnerTakeAll(Rule):
    """Max pooling: all relevance of a window to its maximum (the gradient)."""

    kinds = ("maxpool",)

    def __call__(self, op, inputs, output, relevance):
        return vjp(op, inputs, relevance)


class ProportionalMax(Rule):
    """Max pooling treated as average pooling: R_j = a_j / Σ_window a · R (Norm rule)."""

    kinds = ("maxpool",)

    def __init__(self, stabilizer: float = 1e-6):
        self.stabilizer = stabilizer

    def handles(self, op) -> bool:
        """Max pooling without dilation (average pooling has no dilated windows)."""
        return super().handles(op) and all(d == 1 for d in getattr(op, "dilation", (1,)))

    def __call__(self, op, inputs, output, relevance):
        from neon.ops import AvgPool

        avg = AvgPool(op.dim, op.kernel_size, op.stride, op.padding, op.ceil_mode)
        (a,) = inputs
        return Norm(self.stabilizer)(avg, inputs, avg(a), relevance)


class Route(Rule):
    """Exact routing by index for Concat, Reshape, Flatten and Select (R_in = Jᵀ R)."""

    kinds = ("concat", "reshape", "flatten", "select")

    def __call__(self, op, inputs, output, relevance):
        if op.kind == "concat":
            return list(torch.split(relevance, [a.shape[op.dim] for a in inputs], op.dim))
        if op.kind in ("reshape", "flatten"):
            return [relevance.reshape(inputs[0].shape)]
        return vjp(op, inputs, relevance)


class Gradient(Rule):
    """The plain vector-Jacobian product of any op (gradient-family methods)."""

    def __call__(self, op, inputs, output, relevance):
        if op.kind in AFFINE:
            return [op.transpose(relevance, inputs[0].shape)]
        if op.kind == "relu":
            return [torch.where(inputs[0] > 0, relevance, torch.zeros_like(relevance))]
        if op.kind in ("reshape", "flatten", "concat"):
            return Route()(op, inputs, output, relevance)
        return vjp(op, inputs, relevance)


class SoftmaxRule(Rule):
    """Relevance through a softmax s = softmax(x): R_i = x_i (R_i − s_i Σ_k R_k).

    For attention-style use inside a network; at the output, :func:`lrp.explain` explains
    the logits before the softmax instead.
    """

    kinds = ("softmax",)

    def __call__(self, op, inputs, output, relevance):
        (x,) = inputs
        total = relevance.sum(op.dim, keepdim=True)
        return [x * (relevance - output * total)]


# ----------------------------------------------------------------------- default rules

_DEFAULTS: dict[str, Callable[[], Rule]] = {}


def register_default(kind: str, factory: Callable[[], Rule]) -> None:
    """Declare the rule an op kind gets when no composite entry matches it."""
    _DEFAULTS[kind] = factory


def default_rule(op) -> Rule:
    """The default rule of ``op``'s kind (raises :class:`RuleError` for an unknown kind)."""
    try:
        factory = _DEFAULTS[op.kind]
    except KeyError:
        raise RuleError(f"op kind {op.kind!r} ({type(op).__name__}) has no default rule; "
                        f"kinds with defaults: {', '.join(sorted(_DEFAULTS))}") from None
    return factory()


for _kind in AFFINE:
    register_default(_kind, Epsilon)
for _kind in Pass.kinds:
    register_default(_kind, Pass)
for _kind in Norm.kinds:
    register_default(_kind, Norm)
for _kind in Route.kinds:
    register_default(_kind, Route)
register_default("maxpool", WinnerTakeAll)
register_default("softmax", SoftmaxRule)
