"""Embedding and EmbeddingBag: lookup tables with PyTorch's init (N(0, 1), zero padding row).

With `max_norm`, PyTorch also rescales the stored weight rows in place; ember
rescales the looked-up rows in the forward computation and leaves the weight
as the optimizer left it (outputs and gradients agree, see `F.embedding`).
"""

from __future__ import annotations

import numpy as np

from ember.nn.functional import embedding, embedding_bag
from ember.nn.module import Module
from ember.nn.modules._checks import check_size
from ember.nn.parameter import Parameter, to_numpy


def _normal_init(padding_idx: int | None):
    def init(rng, shape, dtype):
        w = rng.standard_normal(shape).astype(dtype)
        if padding_idx is not None:
            w[padding_idx] = 0
        return w

    return init


def _padding_index(padding_idx: int | None, num_embeddings: int) -> int | None:
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(
            f"padding_idx={padding_idx} must be within num_embeddings={num_embeddings}"
        )
    return padding_idx % num_embeddings


def _table(num_embeddings: int, embedding_dim: int, padding_idx, weight, freeze: bool, dtype):
    if weight is None:
        return Parameter(
            shape=(num_embeddings, embedding_dim),
            dtype=dtype,
            init=_normal_init(padding_idx),
            requires_grad=not freeze,
        )
    arr = to_numpy(weight)
    if arr.shape != (num_embeddings, embedding_dim):
        raise ValueError(
            f"_weight of shape {arr.shape} does not match num_embeddings="
            f"{num_embeddings}, embedding_dim={embedding_dim}"
        )
    return Parameter(arr, requires_grad=not freeze, dtype=dtype)


def _pretrained_shape(embeddings) -> tuple[int, int]:
    shape = tuple(np.shape(to_numpy(embeddings)))
    if len(shape) != 2:
        raise ValueError(f"Embeddings parameter is expected to be 2-dimensional, got {shape}")
    return shape


class Embedding(Module):
    """A (num_embeddings, embedding_dim) lookup table indexed by integer tensors.

    >>> emb = Embedding(1000, 64, padding_idx=0)   # row 0 is zero and gets no gradient
    >>> vectors = emb(np.array([[1, 5, 0]]))       # (1, 3, 64)
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight=None,
        _freeze: bool = False,
        device=None,
        dtype=None,
    ):
        super().__init__()
        check_size("Embedding", "num_embeddings", num_embeddings)
        check_size("Embedding", "embedding_dim", embedding_dim)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = _padding_index(padding_idx, num_embeddings)
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        self.weight = _table(
            num_embeddings, embedding_dim, self.padding_idx, _weight, _freeze, dtype
        )

    def reset_parameters(self) -> None:
        self.weight.set_initializer(_normal_init(self.padding_idx))

    def forward(self, input):
        return embedding(
            input,
            self.weight,
            self.padding_idx,
            self.max_norm,
            self.norm_type,
            self.scale_grad_by_freq,
            self.sparse,
        )

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        for name, default in (
            ("padding_idx", None),
            ("max_norm", None),
            ("norm_type", 2.0),
            ("scale_grad_by_freq", False),
            ("sparse", False),
        ):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s

    @classmethod
    def from_pretrained(
        cls,
        embeddings,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An Embedding whose weight is `embeddings` (frozen unless `freeze=False`)."""
        rows, cols = _pretrained_shape(embeddings)
        return cls(
            rows,
            cols,
            padding_idx,
            max_norm,
            norm_type,
            scale_grad_by_freq,
            sparse,
            _weight=embeddings,
            _freeze=freeze,
        )


class EmbeddingBag(Module):
    """Sums, means or maxima of embedding rows per bag, without materializing the rows.

    >>> bag = EmbeddingBag(1000, 64, mode="sum")
    >>> pooled = bag(np.array([3, 7, 7, 1]), np.array([0, 2]))   # two bags -> (2, 64)
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        _weight=None,
        include_last_offset: bool = False,
        padding_idx: int | None = None,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"mode has to be one of sum, mean or max, got {mode!r}")
        check_size("EmbeddingBag", "num_embeddings", num_embeddings)
        check_size("EmbeddingBag", "embedding_dim", embedding_dim)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.mode, self.sparse = scale_grad_by_freq, mode, sparse
        self.include_last_offset = include_last_offset
        self.padding_idx = _padding_index(padding_idx, num_embeddings)
        self.weight = _table(num_embeddings, embedding_dim, self.padding_idx, _weight, False, dtype)

    def reset_parameters(self) -> None:
        self.weight.set_initializer(_normal_init(self.padding_idx))

    def forward(self, input, offsets=None, per_sample_weights=None):
        return embedding_bag(
            input,
            self.weight,
            offsets,
            self.max_norm,
            self.norm_type,
            self.scale_grad_by_freq,
            self.mode,
            self.sparse,
            per_sample_weights,
            self.include_last_offset,
            self.padding_idx,
        )

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}, mode={self.mode!r}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s

    @classmethod
    def from_pretrained(
        cls,
        embeddings,
        freeze: bool = True,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        include_last_offset: bool = False,
        padding_idx: int | None = None,
    ) -> EmbeddingBag:
        """An EmbeddingBag whose weight is `embeddings` (frozen unless `freeze=False`)."""
        rows, cols = _pretrained_shape(embeddings)
        bag = cls(
            rows,
            cols,
            max_norm,
            norm_type,
            scale_grad_by_freq,
            mode,
            sparse,
            _weight=embeddings,
            include_last_offset=include_last_offset,
            padding_idx=padding_idx,
        )
        bag.weight.requires_grad = not freeze
        return bag
