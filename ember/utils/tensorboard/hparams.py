"""The three summaries of TensorBoard's HParams plugin: experiment, session start and end."""

from __future__ import annotations

from typing import Any

import numpy as np
from google.protobuf import struct_pb2  # protobuf comes with tensorboard
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

from ember.utils.tensorboard.values import to_numpy


def _kind(value: Any) -> str | None:
    """'bool', 'number' or 'string' (None: skipped), or raise for values TensorBoard cannot show."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, float, np.number)):
        return "number"
    if isinstance(value, str):
        return "string"
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return "array"
    raise ValueError(
        f"an hparam value must be an int, float, str, bool or tensor, got {type(value).__name__} "
        f"({value!r}); fix: convert it (e.g. str(value))"
    )


_DATA_TYPE = {"bool": "DATA_TYPE_BOOL", "number": "DATA_TYPE_FLOAT64", "string": "DATA_TYPE_STRING"}


def _struct_value(kind: str, value: Any) -> struct_pb2.Value:
    if kind == "bool":
        return struct_pb2.Value(bool_value=bool(value))
    if kind == "string":
        return struct_pb2.Value(string_value=value)
    return struct_pb2.Value(number_value=float(value))


def _check_domains(hparam_dict: dict, domains: dict) -> None:
    for name, choices in domains.items():
        value = hparam_dict.get(name)
        if (
            name not in hparam_dict
            or not isinstance(choices, list)
            or not all(isinstance(c, type(value)) for c in choices)
        ):
            raise TypeError(
                f"hparam_domain_discrete[{name!r}] must be a list of values of the same type as "
                f"hparam_dict[{name!r}] ({type(value).__name__})"
            )


def _summary(tag: str, data: plugin_data_pb2.HParamsPluginData) -> summary_pb2.Summary:
    value = summary_pb2.Summary.Value(
        tag=tag, metadata=metadata.create_summary_metadata(data), tensor=metadata.NULL_TENSOR
    )
    return summary_pb2.Summary(value=[value])


def hparams_summaries(
    hparam_dict: dict[str, Any],
    metric_dict: dict[str, Any],
    hparam_domain_discrete: dict[str, list[Any]] | None = None,
) -> tuple[summary_pb2.Summary, summary_pb2.Summary, summary_pb2.Summary]:
    """(experiment, session start, session end): the hparams, their types and domains, the
    metric tags, and a session that ended successfully. `None` values are skipped; a tensor is
    logged as the number it holds (its first element)."""
    if not isinstance(hparam_dict, dict) or not isinstance(metric_dict, dict):
        raise TypeError(
            "add_hparams: hparam_dict and metric_dict must be dicts, got "
            f"{type(hparam_dict).__name__} and {type(metric_dict).__name__}"
        )
    domains = hparam_domain_discrete or {}
    if not isinstance(domains, dict):
        raise TypeError("hparam_domain_discrete must be a dict {name: [values]}")
    _check_domains(hparam_dict, domains)

    start = plugin_data_pb2.SessionStartInfo()
    infos = []
    for name, value in hparam_dict.items():
        kind = _kind(value)
        if kind is None:
            continue
        if kind == "array":
            kind, value = "number", float(to_numpy(value).reshape(-1)[0])
        start.hparams[name].CopyFrom(_struct_value(kind, value))
        info = api_pb2.HParamInfo(name=name, type=api_pb2.DataType.Value(_DATA_TYPE[kind]))
        if name in domains:
            info.domain_discrete.CopyFrom(
                struct_pb2.ListValue(values=[_struct_value(kind, c) for c in domains[name]])
            )
        infos.append(info)

    metrics = [api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag)) for tag in metric_dict]
    experiment = api_pb2.Experiment(hparam_infos=infos, metric_infos=metrics)
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.Status.Value("STATUS_SUCCESS"))
    return (
        _summary(metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=experiment)),
        _summary(
            metadata.SESSION_START_INFO_TAG,
            plugin_data_pb2.HParamsPluginData(session_start_info=start),
        ),
        _summary(
            metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end)
        ),
    )
