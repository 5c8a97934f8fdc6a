"""CosineSimilarity and PairwiseDistance modules."""

from __future__ import annotations

from ember.nn.functional import cosine_similarity, pairwise_distance
from ember.nn.module import Module


class CosineSimilarity(Module):
    """Cosine similarity of two inputs along `dim` (after broadcasting).

    >>> cos = CosineSimilarity(dim=1)
    >>> sim = cos(a, b)     # a, b (N, D) -> (N,)
    """

    def __init__(self, dim: int = 1, eps: float = 1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """p-norm of `x1 - x2 + eps` over the last dim.

    >>> dist = PairwiseDistance(p=2.0)
    >>> d = dist(a, b)      # a, b (N, D) -> (N,)
    """

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        return pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)
