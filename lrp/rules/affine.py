"""Rules for affine ops (Linear, Conv): LRP-0/ε, γ, αβ, z⁺, flat, w², z^B and the generic rule;
and LRP-ε over the elementwise affine maps (unfolded BatchNorm, constant arithmetic).

The template (docs/lrp_rules.md; Montavon et al., "Layer-wise relevance propagation: an
overview", 2019)

    R_j = Σ_k  m(a)_j ρ(w_jk) / (Σ_j' m(a)_j' ρ(w_j'k) + ρ(b_k) + ε·sign(·)) · R_k,

evaluated in four steps without autograd: z = forward_with(m(a), ρ(W), ρ(b)); s = R / stab(z);
c = transpose(s, ρ(W)); R_in = m(a) ⊙ c. :class:`Generic` takes ρ, m and ε from the user;
every named rule states its :meth:`generic_form` (what it computes, as Generic rules) and
computes it by a faster path. Each keeps zennit 0.5.1's conventions by default
(``zero_bias=False``) and offers the bias-free deep-Taylor form (``zero_bias=True``), which
conserves relevance exactly.

Speed: ``z`` of an unmodified affine op is its cached forward output, so Epsilon needs one
transposed product per layer. Rules with sign-split weights take shortcuts that are exact
algebra, not approximations: for inputs a ≥ 0 the a⁻ terms vanish; z⁻ = z − z⁺ comes free;
relevance that never reaches units with z < 0 (a ReLU follows) skips the γ rule's
negative branch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from neon.ops import Affine, BatchNorm, BroadcastAffine, ElementwiseAffine

from .base import (
    EpsilonRule,
    Rule,
    RuleError,
    check_callable,
    check_choice,
    check_flag,
    check_number,
    divide,
    register_default,
)

__all__ = ["Generic", "Epsilon", "Gamma", "AlphaBeta", "ZPlus", "Flat", "WSquare", "ZBox",
           "ElementwiseEpsilon"]


def _nonnegative(a: torch.Tensor) -> bool:
    return bool(a.min() >= 0) if a.numel() else True


def _channel(op, t: torch.Tensor, ndim: int) -> torch.Tensor:
    return t.reshape(op.out_channel_shape(ndim))


def _ones_like_sample(a: torch.Tensor) -> torch.Tensor:
    """A batch of one: rules whose first step does not depend on the input broadcast it."""
    return a.new_ones((1,) + tuple(a.shape[1:]))


def _check_box(low, high):
    """(low, high) of a ZBox, refused unless both are finite and low ≤ high elementwise."""
    out = []
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or isinstance(value, str):
            raise TypeError(f"ZBox {name} must be a number or a tensor, got {value!r}")
        try:
            t = torch.as_tensor(value, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"ZBox {name} must be a number or a tensor, got {value!r}") \
                from None
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"ZBox {name} must be finite, got {value!r}")
        out.append(t)
    try:
        bad = out[0] > out[1]
    except RuntimeError:
        raise ValueError(f"ZBox low {tuple(out[0].shape)} and high {tuple(out[1].shape)} do not "
                         "broadcast against each other") from None
    if bool(bad.any()):
        raise ValueError(f"ZBox needs low <= high everywhere; got low={low!r}, high={high!r} "
                         f"({int(bad.sum())} element(s) with low > high)")
    return low, high


class _AffineRule(Rule):
    """Common parameters of the rules for Linear and Conv ops."""

    ops = (Affine,)

    def __init__(self, stabilizer: float = 1e-6, zero_bias: bool = False, *,
                 name: str = "stabilizer"):
        self.stabilizer = check_number(stabilizer, name)
        self.zero_bias = check_flag(zero_bias, "zero_bias")

    def generic_form(self):
        """This rule written with :class:`Generic` rules only: a function with the rule's
        signature. It defines what the rule computes; the rule's own ``__call__`` is a faster
        path to the same numbers (tests check that they agree)."""
        raise NotImplementedError

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
    """The generic rule, with user-given modifiers (zennit's modifier style).

    R_j = Σ_t o_t(a)_j · Σ_k ρ_t(w_jk) R_k / (Σ_t Σ_j' m_t(a)_j' ρ_t(w_j'k) + ρ_1(b_k) + ε·sign(·))

    with one term t = (m_t, ρ_t) by default (``input_modifier`` m, ``param_modifier`` ρ) or
    several (``terms``: a list of (input_modifier, param_modifier) pairs, each ``None`` for the
    identity). The bias enters once, modified by the first term's ρ. ``o_t`` is m_t(a)
    (``output_factor="input"``) or 1 (``"ones"``: the w² and flat rules). Every named affine
    rule is one or two of these (see each rule's :meth:`generic_form`).

    Parameters
    ----------
    param_modifier : callable, optional
        ρ, applied to weight and bias (default: identity).
    input_modifier : callable, optional
        m, applied to the input a (default: identity).
    epsilon : float
        Stabilizer ε ≥ 0 (sign(0) = +1).
    output_factor : {"input", "ones"}
        Step 4: R_j = m(a)_j c_j (``"input"``), or R_j = c_j (``"ones"``: w², flat).
    zero_bias : bool
        Drop ρ(b) from the denominator.
    terms : list of (callable or None, callable or None), optional
        Several (input_modifier, param_modifier) terms summed in numerator and denominator
        (instead of ``param_modifier``/``input_modifier``).

    References
    ----------
    Montavon et al., "Layer-wise relevance propagation: an overview", in Explainable AI,
    LNCS 11700, Springer 2019 (the generic rule); Anders et al., "Software for dataset-wide
    XAI: from local explanations to global insights with Zennit, CoRelAy, and ViRelAy",
    arXiv:2106.13200, 2021 (rules as modifiers).
    """

    def __init__(self, param_modifier=None, input_modifier=None, epsilon=1e-6,
                 output_factor="input", zero_bias=False, terms=None):
        super().__init__(epsilon, zero_bias, name="epsilon")
        check_choice(output_factor, "output_factor", ("input", "ones"))
        check_callable(param_modifier, "param_modifier")
        check_callable(input_modifier, "input_modifier")
        if terms is not None:
            if param_modifier is not None or input_modifier is not None:
                raise TypeError("give terms or param_modifier/input_modifier, not both")
            terms = [tuple(t) for t in terms]
            if not terms or any(len(t) != 2 for t in terms):
                raise ValueError("terms must be a non-empty list of (input_modifier, "
                                 "param_modifier) pairs")
            for m, rho in terms:
                check_callable(m, "a term's input_modifier")
                check_callable(rho, "a term's param_modifier")
        self.param_modifier = param_modifier
        self.input_modifier = input_modifier
        self.output_factor = output_factor
        self.terms = terms

    def _params(self):
        params = {"param_modifier": self.param_modifier, "input_modifier": self.input_modifier,
                  "epsilon": self.stabilizer, "output_factor": self.output_factor,
                  "zero_bias": self.zero_bias}
        if self.terms is not None:
            params = {k: v for k, v in params.items() if not k.endswith("_modifier")}
            params["terms"] = self.terms
        return params

    def __call__(self, op, inputs, output, relevance):
        (a,) = inputs
        terms = self.terms or [(self.input_modifier, self.param_modifier)]
        parts = []
        z = None
        for t, (m, rho) in enumerate(terms):
            rho = rho or _identity
            ma = m(a) if m is not None else a
            weight = rho(op.weight)
            zt = op.forward_with(ma, weight, self.bias(op, rho) if t == 0 else None)
            z = zt if z is None else z + zt
            parts.append((ma, weight))
        s = divide(relevance, z, self.stabilizer)
        result = None
        for ma, weight in parts:
            c = op.transpose(s, a.shape, weight)
            c = c * ma if self.output_factor == "input" else c
            result = c if result is None else result + c
        return [result]


def _identity(t):
    return t


def _pos(t):
    return t.clamp(min=0)


def _neg(t):
    return t.clamp(max=0)


class Epsilon(_AffineRule):
    """LRP-ε: R_j = a_j Σ_k w_jk R_k / (z_k + ε·sign(z_k)), z_k = Σ_j a_j w_jk + b_k.

    ``epsilon=0`` gives LRP-0 (units with z = 0 pass nothing). ``scale="rms"`` makes ε
    relative: ε·sqrt(mean_k z_k²) per sample. Uses the cached forward output as z: one
    transposed product per layer. Reference: Bach et al., PLoS ONE 2015.
    """

    def __init__(self, epsilon: float = 1e-6, scale: str | None = None, zero_bias=False):
        super().__init__(epsilon, zero_bias, name="epsilon")
        self.scale = check_choice(scale, "scale", (None, "rms"))

    def _params(self):
        return {"epsilon": self.stabilizer, "scale": self.scale, "zero_bias": self.zero_bias}

    def generic_form(self):
        if self.scale == "rms":
            raise NotImplementedError("the RMS-relative ε depends on z: no fixed generic form")
        return Generic(epsilon=self.stabilizer, zero_bias=self.zero_bias)

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
    z = op.forward_with(a.clamp(min=0) if not nonneg else a, w_a_pos, bias)
    if not nonneg:
        z = z + op.forward_with(a.clamp(max=0), w_a_neg, None)
    return z


def _split_back(op, a, s, w_a_pos, w_a_neg, nonneg):
    """a⁺ ⊙ w_a_posᵀ s + a⁻ ⊙ w_a_negᵀ s."""
    if nonneg:
        return op.transpose(s, a.shape, w_a_pos).mul_(a)
    return (op.transpose(s, a.shape, w_a_pos).mul_(a.clamp(min=0))
            + op.transpose(s, a.shape, w_a_neg).mul_(a.clamp(max=0)))


class Gamma(_AffineRule):
    """LRP-γ, sign-aware (docs/lrp_rules.md; Montavon et al. 2019; Andéol et al. 2021).

    For z_k > 0: q_jk = a⁺_j (w_jk + γw⁺_jk) + a⁻_j (w_jk + γw⁻_jk), bias b_k + γb⁺_k;
    for z_k < 0: q_jk = a⁺_j (w_jk + γw⁻_jk) + a⁻_j (w_jk + γw⁺_jk), bias b_k + γb⁻_k;
    units with z_k = 0 pass nothing. R_j = Σ_k q_jk / (Σ_j' q_j'k + bias) · R_k.
    The branch is chosen by the sign of the original z (bias included unless ``zero_bias``).
    """

    def __init__(self, gamma: float = 0.25, stabilizer: float = 1e-6, zero_bias=False):
        super().__init__(stabilizer, zero_bias)
        self.gamma = check_number(gamma, "gamma")

    def _params(self):
        return {"gamma": self.gamma, "stabilizer": self.stabilizer, "zero_bias": self.zero_bias}

    def generic_form(self):
        g, eps, zb = self.gamma, self.stabilizer, self.zero_bias

        def up(w):
            return w + g * w.clamp(min=0)

        def down(w):
            return w + g * w.clamp(max=0)

        positive = Generic(terms=[(_pos, up), (_neg, down)], epsilon=eps, zero_bias=zb)
        negative = Generic(terms=[(_pos, down), (_neg, up)], epsilon=eps, zero_bias=zb)

        def rule(op, inputs, output, relevance):
            z = self.preactivation(op, output)
            r_pos = torch.where(z > 0, relevance, torch.zeros_like(relevance))
            r_neg = torch.where(z < 0, relevance, torch.zeros_like(relevance))
            return [positive(op, inputs, output, r_pos)[0]
                    + negative(op, inputs, output, r_neg)[0]]
        return rule

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
        t = op.forward_with(a, op.weight.clamp(min=0), self.bias(op, lambda b: b.clamp(min=0)))
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
        d.add_(torch.where(positive, z.new_tensor(eps), z.new_tensor(-eps)))
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
        alpha = check_number(alpha, "alpha", minimum=-float("inf"))
        beta = check_number(beta, "beta", minimum=-float("inf"))
        if alpha < 0 or beta < 0 or abs(alpha - beta - 1) > 1e-12:
            raise ValueError(f"AlphaBeta needs alpha, beta >= 0 and alpha - beta = 1 (relevance "
                             f"is conserved only then), got alpha={alpha:g}, beta={beta:g}")
        self.alpha, self.beta = alpha, beta

    def _params(self):
        return {"alpha": self.alpha, "beta": self.beta, "stabilizer": self.stabilizer,
                "zero_bias": self.zero_bias}

    def generic_form(self):
        eps, zb = self.stabilizer, self.zero_bias
        positive = Generic(terms=[(_pos, _pos), (_neg, _neg)], epsilon=eps, zero_bias=zb)
        negative = Generic(terms=[(_pos, _neg), (_neg, _pos)], epsilon=eps, zero_bias=zb)

        def rule(op, inputs, output, relevance):
            r = self.alpha * positive(op, inputs, output, relevance)[0]
            if self.beta:
                r = r - self.beta * negative(op, inputs, output, relevance)[0]
            return [r]
        return rule

    def __call__(self, op, inputs, output, relevance):
        (a,) = inputs
        w_pos, w_neg = op.weight.clamp(min=0), op.weight.clamp(max=0)
        nonneg = _nonnegative(a)
        if nonneg:
            return [self._nonnegative_input(op, a, output, relevance, w_pos, w_neg)]
        pos, neg = self._signed_terms(op, a, output)
        result = _split_back(op, a, divide(relevance, pos, self.stabilizer), w_pos, w_neg,
                             nonneg)
        if self.alpha != 1:
            result.mul_(self.alpha)
        if self.beta:
            s_neg = divide(relevance, neg, self.stabilizer)
            result -= self.beta * _split_back(op, a, s_neg, w_neg, w_pos, nonneg)
        return [result]

    def _signed_terms(self, op, a, output):
        """P and N for inputs of both signs from one product: with |W| and |a|,

            Σ_j a⁺_j w⁺_jk + a⁻_j w⁻_jk = (Σ_j a_j w_jk + Σ_j |a_j| |w_jk|) / 2,
            Σ_j a⁺_j w⁻_jk + a⁻_j w⁺_jk = (Σ_j a_j w_jk − Σ_j |a_j| |w_jk|) / 2,

        and Σ_j a_j w_jk is the cached output less its bias: one forward product instead of
        four (the two sign-split sums are exact identities, since a⁺ and a⁻ never overlap)."""
        wa = output if op.bias is None else output - _channel(op, op.bias, output.dim())
        magnitude = op.forward_with(a.abs(), op.weight.abs(), None)
        pos = (wa + magnitude).mul_(0.5)
        neg = (wa - magnitude).mul_(0.5) if self.beta else None
        b_pos = self.bias(op, lambda b: b.clamp(min=0))
        if b_pos is not None:
            pos += _channel(op, b_pos, pos.dim())
            if neg is not None:
                neg += _channel(op, op.bias.clamp(max=0), neg.dim())
        return pos, neg

    def _nonnegative_input(self, op, a, output, relevance, w_pos, w_neg):
        """a ≥ 0: P = a W⁺ + b⁺ ≥ 0 and N = z − P ≤ 0, so the stabilizer's sign is known
        (+ε on P, −ε on N; where N = 0 its numerator terms are all zero)."""
        eps = self.stabilizer
        pos = op.forward_with(a, w_pos, self.bias(op, lambda b: b.clamp(min=0)))
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

    def generic_form(self):
        return Generic(torch.ones_like, torch.ones_like, self.stabilizer, "ones", zero_bias=True)

    def __call__(self, op, inputs, output, relevance):
        (a,) = inputs
        ones = torch.ones_like(op.weight)
        n = op.forward_with(_ones_like_sample(a), ones, None)
        return [op.transpose(divide(relevance, n, self.stabilizer), a.shape, ones)]


class WSquare(_AffineRule):
    """w² rule: R_j = Σ_k w_jk² R_k / (Σ_j' w_j'k² + b_k²) (b² dropped with ``zero_bias``).

    Reference: Montavon et al., Pattern Recognition 2017.
    """

    def __init__(self, stabilizer: float = 1e-6, zero_bias=False):
        super().__init__(stabilizer, zero_bias)

    def _params(self):
        return {"stabilizer": self.stabilizer, "zero_bias": self.zero_bias}

    def generic_form(self):
        return Generic(torch.square, torch.ones_like, self.stabilizer, "ones", self.zero_bias)

    def __call__(self, op, inputs, output, relevance):
        (a,) = inputs
        w2 = op.weight.square()
        z = op.forward_with(_ones_like_sample(a), w2, self.bias(op, torch.square))
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
        self.low, self.high = _check_box(low, high)

    def _params(self):
        return {"low": self.low, "high": self.high, "stabilizer": self.stabilizer}

    def _bound(self, value, a):
        t = torch.as_tensor(value, dtype=a.dtype, device=a.device)
        if t.numel() > 1 and 1 <= t.dim() < a.dim() - 1:
            raise RuleError(f"ZBox bound of shape {tuple(t.shape)} for samples of shape "
                            f"{tuple(a.shape[1:])}: a bound is a scalar, per channel "
                            f"(shape {(a.shape[1],) + (1,) * (a.dim() - 2)}) or per element "
                            f"{tuple(a.shape[1:])}; it would broadcast along the last axes")
        try:
            return t.expand(a.shape[1:]).unsqueeze(0)
        except RuntimeError:
            raise RuleError(f"ZBox bound of shape {tuple(t.shape)} does not broadcast to one "
                            f"sample of shape {tuple(a.shape[1:])}; give scalars or per-channel "
                            "tensors of shape (C, 1, 1)") from None

    def check(self, op, inputs, where: str) -> None:
        """The propagator's hook: the input of the node must lie in the box."""
        self.check_input(inputs[0], f"the input of {where}")

    def check_input(self, x: torch.Tensor, name: str = "x") -> None:
        """Refuse an input outside the box, saying how far out it is.

        z^B assumes l ≤ x ≤ h; outside the box its relevance changes sign arbitrarily.
        """
        low, high = self._bound(self.low, x), self._bound(self.high, x)
        below = (low - x).clamp(min=0)
        above = (x - high).clamp(min=0)
        worst = float(torch.maximum(below, above).max()) if x.numel() else 0.0
        if worst > 1e-6 * (1.0 + float((high - low).abs().max())):
            n = int(((below > 0) | (above > 0)).sum())
            raise ValueError(
                f"ZBox(low, high): {n} value(s) of {name} lie outside the box [low, high], "
                f"by up to {worst:.4g} (input range [{float(x.min()):.4g}, "
                f"{float(x.max()):.4g}]). Give the bounds of the data in the units the network "
                "reads (after normalization), e.g. low=x.amin(), high=x.amax().")

    def generic_form(self):
        low, high = self.low, self.high

        def bound(value):
            return lambda a: self._bound(value, a).expand_as(a)

        return Generic(terms=[(None, None), (bound(low), lambda w: -w.clamp(min=0)),
                              (bound(high), lambda w: -w.clamp(max=0))],
                       epsilon=self.stabilizer, zero_bias=True)

    def __call__(self, op, inputs, output, relevance):
        (a,) = inputs
        low, high = self._bound(self.low, a), self._bound(self.high, a)
        w_pos, w_neg = op.weight.clamp(min=0), op.weight.clamp(max=0)
        z = output - op.forward_with(low, w_pos, self.bias(op, lambda b: b.clamp(min=0))) \
            - op.forward_with(high, w_neg, self.bias(op, lambda b: b.clamp(max=0)))
        s = divide(relevance, z, self.stabilizer)
        c = op.transpose(s, a.shape)                    # Wᵀ s
        c_pos = op.transpose(s, a.shape, w_pos)          # W⁺ᵀ s;  W⁻ᵀ s = c − c_pos
        return [(a - high) * c - (low - high) * c_pos]


# ------------------------------------------------------------------ elementwise affine maps

class ElementwiseEpsilon(EpsilonRule):
    """LRP-ε over an elementwise affine map y = s ⊙ x + t (unfolded BatchNorm, constant
    arithmetic such as ``x * layer_scale`` or ``x / 6 + 0.5``).

        R_in_j = s_j x_j / (y_j + ε·sign(y_j)) · R_j

    (summed over the copies of x_j when s or t broadcast x to a larger shape). Each unit is a
    one-input affine neuron, so this is :class:`Epsilon` with one term: the shift t plays the
    bias and absorbs its share t/y·R, and Σ R_in = Σ R·s x / stab(y). With ``epsilon=0``,
    units with y = 0 pass nothing.

    Parameters
    ----------
    epsilon : float
        Stabilizer ε ≥ 0 (sign(0) = +1).

    Notes
    -----
    Why not pass the relevance through, as for activations? Pass hands on relevance sized by
    y = s x + t. When the BatchNorm cannot be folded (it reads a concatenation, a sum or the
    input), the layer below divides that relevance by its own output x: where x ≈ 0 but
    t ≠ 0 the ratio R/x explodes (on DenseNet, Σ R / f reached 5e7 with Pass). The ε rule
    hands on relevance sized by s x, so the layer below divides s x R / y by x and gets
    s R / y, which does not grow as x → 0. It is the default of :class:`~neon.ops.BatchNorm` and
    :class:`~neon.ops.BroadcastAffine`; a plain :class:`~neon.ops.ElementwiseAffine` (a
    scikit-learn scaler, whose relevance is relative to its offset) keeps :class:`Pass`.

    References
    ----------
    Bach et al., "On pixel-wise explanations for non-linear classifier decisions by
    layer-wise relevance propagation", PLoS ONE 2015 (the ε rule); Montavon et al.,
    "Layer-wise relevance propagation: an overview", 2019 (biases absorb their share).
    """

    ops = (ElementwiseAffine,)

    def __call__(self, op, inputs, output, relevance):
        (x,) = inputs
        scale, _ = op.parts(x)
        r = divide(relevance, output, self.epsilon).mul_(x).mul_(scale)
        return [r if r.shape == x.shape else r.sum_to_size(x.shape)]


register_default(Affine, Epsilon)
register_default(BatchNorm, ElementwiseEpsilon)
register_default(BroadcastAffine, ElementwiseEpsilon)
