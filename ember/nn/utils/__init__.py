"""`ember.nn.utils`: gradient clipping, parameter/vector conversion, variable-length
sequences (`nn.utils.rnn`), weight and spectral normalization and parametrizations
(`nn.utils.parametrize`, `nn.utils.parametrizations`), with PyTorch's names."""

from ember.nn.utils import parametrizations, parametrize, rnn
from ember.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_, get_total_norm
from ember.nn.utils.convert_parameters import parameters_to_vector, vector_to_parameters
from ember.nn.utils.spectral_norm import remove_spectral_norm, spectral_norm
from ember.nn.utils.weight_norm import remove_weight_norm, weight_norm

__all__ = [
    "clip_grad_norm_",
    "clip_grad_value_",
    "get_total_norm",
    "parameters_to_vector",
    "parametrizations",
    "parametrize",
    "remove_spectral_norm",
    "remove_weight_norm",
    "rnn",
    "spectral_norm",
    "vector_to_parameters",
    "weight_norm",
]
