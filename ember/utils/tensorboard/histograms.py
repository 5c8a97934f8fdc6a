"""Histogram summaries (`HistogramProto`, TensorBoard's histogram and distribution tabs)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
from tensorboard.compat.proto import summary_pb2
from tensorboard.compat.proto.summary_pb2 import HistogramProto


@functools.lru_cache(maxsize=1)
def tensorflow_bins() -> tuple[float, ...]:
    """TensorFlow's default bucket edges: ±1e-12 growing by 10 % up to 1e20, and 0."""
    positive = []
    edge = 1e-12
    while edge < 1e20:
        positive.append(edge)
        edge *= 1.1
    return tuple([-e for e in reversed(positive)] + [0.0] + positive)


def _merge_bins(
    counts: np.ndarray, edges: np.ndarray, max_bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sum runs of `len(counts) // max_bins` neighbouring bins (the last run may be short)."""
    group = len(counts) // max_bins
    padded = np.zeros(-(-len(counts) // group) * group, dtype=counts.dtype)
    padded[: len(counts)] = counts
    merged = padded.reshape(-1, group).sum(axis=1)
    merged_edges = np.append(edges[:-1][::group], edges[-1])
    return merged, merged_edges


def histogram_proto(values: np.ndarray, bins: Any, max_bins: int | None = None) -> HistogramProto:
    """Counts of `values` in `bins` (anything `np.histogram` takes), as TensorBoard wants them.

    TensorBoard stores each bucket's right edge only, so the buckets kept are the span from
    the first to the last non-empty bin, preceded by one empty bucket whose right edge is the
    span's left edge.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("add_histogram got no values (an empty array); fix: log a non-empty one")
    counts, edges = np.histogram(values, bins=bins)
    if max_bins is not None and len(counts) > max_bins:
        counts, edges = _merge_bins(counts, edges, max_bins)
    nonzero = np.flatnonzero(counts)
    if nonzero.size == 0:
        raise ValueError(
            f"add_histogram: none of the {values.size} values falls inside the bins "
            f"[{edges[0]}, {edges[-1]}] (non-finite values?); fix: check the values or the bins"
        )
    first, last = int(nonzero[0]), int(nonzero[-1])
    return HistogramProto(
        min=float(values.min()),
        max=float(values.max()),
        num=int(values.size),
        sum=float(values.sum()),
        sum_squares=float(values.dot(values)),
        bucket_limit=edges[first : last + 2].tolist(),
        bucket=[0.0, *counts[first : last + 1].tolist()],
    )


def histogram_summary(
    tag: str, values: np.ndarray, bins: Any, max_bins: int | None = None
) -> summary_pb2.Summary:
    proto = histogram_proto(values, bins, max_bins)
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, histo=proto)])


def histogram_raw_summary(
    tag: str,
    min: float,
    max: float,
    num: int,
    sum: float,
    sum_squares: float,
    bucket_limits: Sequence[float],
    bucket_counts: Sequence[float],
) -> summary_pb2.Summary:
    proto = HistogramProto(
        min=min,
        max=max,
        num=num,
        sum=sum,
        sum_squares=sum_squares,
        bucket_limit=list(bucket_limits),
        bucket=list(bucket_counts),
    )
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, histo=proto)])
