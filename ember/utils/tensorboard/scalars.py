"""Scalar and text summaries."""

from __future__ import annotations

from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.plugins.text import metadata as text_metadata


def scalar_summary(
    tag: str, value: float, new_style: bool = False, double_precision: bool = False
) -> summary_pb2.Summary:
    """`simple_value` (float32) by default; `new_style` stores a tensor (float64 with
    `double_precision`) with the scalars plugin's metadata, which TensorBoard loads faster."""
    if not new_style:
        return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
    if double_precision:
        tensor = tensor_pb2.TensorProto(dtype="DT_DOUBLE", double_val=[value])
    else:
        tensor = tensor_pb2.TensorProto(dtype="DT_FLOAT", float_val=[value])
    meta = scalar_metadata.create_summary_metadata(display_name=None, description=None)
    return summary_pb2.Summary(
        value=[summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=meta)]
    )


def text_summary(tag: str, text: str) -> summary_pb2.Summary:
    """A one-element string tensor for the text plugin, under `<tag>/text_summary`."""
    tensor = tensor_pb2.TensorProto(
        dtype="DT_STRING",
        string_val=[text.encode("utf-8")],
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=1)]
        ),
    )
    meta = text_metadata.create_summary_metadata(display_name=None, description=None)
    return summary_pb2.Summary(
        value=[summary_pb2.Summary.Value(tag=tag + "/text_summary", tensor=tensor, metadata=meta)]
    )
