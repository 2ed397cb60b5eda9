"""Token embeddings: the lookup that turns integer token ids into vectors.

:class:`Embedding` is the one op of the IR whose input is not real-valued: it reads token ids
(integers in [0, vocabulary)) and returns rows of its weight matrix. Relevance and gradients
cannot reach integers, so explanations stop at its output, the embedding vectors, and are
summed over the embedding axis into one value per token (:mod:`neon.tokens`). It is its own
category: no rule walks through it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Op

__all__ = ["Embedding"]


class Embedding(Op):
    """y[n, t, :] = W[ids[n, t], :] — a row of the weight matrix per token id.

    Parameters
    ----------
    weight : tensor of shape (vocabulary, dim)
    padding_idx : int, optional
        The padding token: it gets no relevance. With ``zero_padding`` its vector is 0 (as
        inside ``nn.EmbeddingBag``, which leaves padding out of its sums); without, the
        weight's row is returned as ``nn.Embedding`` does.
    zero_padding : bool

    Notes
    -----
    ``nn.EmbeddingBag`` (sum or mean over a bag of fixed length) is imported as this lookup
    followed by a :class:`~neon.ops.Sum` or :class:`~neon.ops.Mean` over the token axis, so
    relevance reaches every token of the bag.
    """

    kind = "embedding"

    def __init__(self, weight: torch.Tensor, padding_idx: int | None = None,
                 zero_padding: bool = False):
        super().__init__()
        if weight.dim() != 2:
            raise ValueError(f"an embedding weight is (vocabulary, dim), got shape "
                             f"{tuple(weight.shape)}")
        self.register_buffer("weight", weight.detach().clone())
        if padding_idx is not None and padding_idx < 0:
            padding_idx += weight.shape[0]
        self.padding_idx = None if padding_idx is None else int(padding_idx)
        self.zero_padding = bool(zero_padding)

    @property
    def vocabulary(self) -> int:
        return self.weight.shape[0]

    @property
    def dim(self) -> int:
        return self.weight.shape[1]

    def forward(self, ids):
        y = F.embedding(ids, self.weight)
        if self.zero_padding and self.padding_idx is not None:
            y = y * (ids != self.padding_idx).unsqueeze(-1).to(y.dtype)
        return y

    def extra_repr(self):
        return (f"vocabulary={self.vocabulary}, dim={self.dim}, padding_idx={self.padding_idx}"
                + (", zero_padding=True" if self.zero_padding else ""))
