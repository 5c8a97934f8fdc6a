"""Layer constructors reject impossible arguments with a ValueError naming layer and argument.

One table, compared against PyTorch: each row is (ember constructor call, torch constructor
call or None, the expected ember message or None for accepted). Where torch is given, ember
raises exactly when torch raises (SAME: the same call text). None marks ember-only checks:
arguments PyTorch accepts at construction but rejects at the first forward call (a zero
stride, negative padding, ...) or never uses (a negative num_features without affine
parameters); ember reports them where they are written.
"""

from __future__ import annotations

import re
import warnings

import pytest

import ember as em
from ember import nn
from ember.errors import ShapeError

torch = pytest.importorskip("torch")

SAME = "same call as ember"

ROWS = [
    # -- sizes: negative sizes are errors in both, zero sizes are valid edge cases
    ("nn.Linear(-1, 3)", SAME, "Linear: in_features must be a non-negative integer, got -1"),
    ("nn.Linear(3, -2)", SAME, "Linear: out_features must be a non-negative integer, got -2"),
    ("nn.Linear(0, 3)", SAME, None),
    ("nn.Linear(3, 0)", SAME, None),
    ("nn.Bilinear(0, 2, 3)", SAME, "Bilinear: in1_features must be a positive integer, got 0"),
    ("nn.Bilinear(2, -1, 3)", SAME, "Bilinear: in2_features must be a non-negative"),
    ("nn.Bilinear(2, 0, 3)", SAME, None),
    ("nn.Embedding(-1, 3)", SAME, "Embedding: num_embeddings must be a non-negative integer"),
    ("nn.Embedding(3, -1)", SAME, "Embedding: embedding_dim must be a non-negative integer"),
    ("nn.Embedding(0, 3)", SAME, None),
    ("nn.Embedding(3, 0)", SAME, None),
    ("nn.Embedding(3, 2, padding_idx=3)", SAME, "padding_idx=3 must be within num_embeddings=3"),
    ("nn.Embedding(3, 2, padding_idx=-3)", SAME, None),
    ("nn.EmbeddingBag(-1, 3)", SAME, "EmbeddingBag: num_embeddings must be a non-negative"),
    ("nn.EmbeddingBag(0, 3)", SAME, None),
    ("nn.PReLU(-1)", SAME, "PReLU: num_parameters must be a non-negative integer, got -1"),
    ("nn.PReLU(0)", SAME, None),
    # -- convolutions
    ("nn.Conv2d(-1, 4, 3)", SAME, "Conv2d: in_channels must be a non-negative integer, got -1"),
    ("nn.Conv2d(3, -4, 3)", SAME, "Conv2d: out_channels must be a non-negative integer, got -4"),
    ("nn.Conv2d(3, 4, -1)", SAME, "Conv2d: kernel_size must be positive, got -1"),
    ("nn.Conv2d(3, 0, 3)", SAME, None),
    ("nn.Conv2d(0, 4, 3)", SAME, None),
    ("nn.Conv2d(3, 4, 3, groups=0)", SAME, "Conv2d: groups must be a positive integer, got 0"),
    ("nn.Conv2d(3, 4, 3, groups=-1)", SAME, "Conv2d: groups must be a positive integer, got -1"),
    ("nn.Conv2d(3, 4, 3, groups=2)", SAME, "Conv2d: in_channels (3) and out_channels (4) must"),
    ("nn.Conv2d(4, 3, 3, groups=2)", SAME, "must be divisible by groups (2)"),
    ("nn.Conv2d(4, 4, 3, groups=2)", SAME, None),
    ("nn.Conv2d(0, 0, 3, groups=2)", SAME, None),
    ("nn.ConvTranspose2d(3, 4, 3, groups=2)", SAME, "ConvTranspose2d: in_channels (3) and"),
    ("nn.Conv2d(3, 4, 3, padding='same', stride=2)", SAME, "padding='same' is not supported"),
    ("nn.Conv2d(3, 4, 3, padding='bogus')", SAME, "Conv2d: invalid padding string 'bogus'"),
    ("nn.Conv2d(3, 4, 3, padding='same')", SAME, None),
    ("nn.Conv1d(3, 4, 3, padding='valid', dilation=2)", SAME, None),
    ("nn.Conv2d(3, 4, 3, padding_mode='bogus')", SAME, "Conv2d: padding_mode must be one of"),
    ("nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=1)", SAME, None),
    ("nn.ConvTranspose1d(3, 4, 3, dilation=3, output_padding=2)", SAME, None),
    ("nn.Conv2d(3, 4, 0)", None, "Conv2d: kernel_size must be positive, got 0"),
    ("nn.Conv2d(3, 4, (3, 0))", None, "Conv2d: kernel_size must be positive, got (3, 0)"),
    ("nn.Conv2d(3, 4, 3, stride=0)", None, "Conv2d: stride must be positive, got 0"),
    ("nn.Conv3d(3, 4, 3, stride=(1, 0, 1))", None, "Conv3d: stride must be positive"),
    ("nn.Conv2d(3, 4, 3, dilation=0)", None, "Conv2d: dilation must be positive, got 0"),
    ("nn.Conv1d(3, 4, 3, padding=-2)", None, "Conv1d: padding must be non-negative, got -2"),
    ("nn.Conv2d(3, 4, (3, 3, 3))", None, "Conv2d: kernel_size must be an int or a tuple of 2"),
    ("nn.ConvTranspose2d(3, 4, 3, output_padding=-1)", None, "output_padding must be non-neg"),
    ("nn.ConvTranspose2d(3, 4, 3, output_padding=1)", None, "ConvTranspose2d: output_padding 1"),
    # -- pooling: PyTorch checks windows at the first forward call
    ("nn.MaxPool2d(3, stride=2, padding=1, dilation=2)", SAME, None),
    ("nn.AvgPool2d(2, divisor_override=3)", SAME, None),
    ("nn.AdaptiveAvgPool2d(0)", SAME, None),
    ("nn.AdaptiveMaxPool2d((2, None))", SAME, None),
    ("nn.MaxPool2d(0)", None, "MaxPool2d: kernel_size must be positive, got 0"),
    ("nn.MaxPool1d(-1)", None, "MaxPool1d: kernel_size must be positive, got -1"),
    ("nn.MaxPool2d(2, stride=0)", None, "MaxPool2d: stride must be positive, got 0"),
    ("nn.MaxPool2d(2, padding=-1)", None, "MaxPool2d: padding must be non-negative, got -1"),
    ("nn.MaxPool3d(2, dilation=(1, 0, 1))", None, "MaxPool3d: dilation must be positive"),
    ("nn.AvgPool2d(0)", None, "AvgPool2d: kernel_size must be positive, got 0"),
    ("nn.AvgPool1d(2, padding=-1)", None, "AvgPool1d: padding must be non-negative, got (-1,)"),
    ("nn.AvgPool2d(2, divisor_override=0)", None, "AvgPool2d: divisor_override must be non-zero"),
    ("nn.AdaptiveAvgPool2d(-1)", None, "AdaptiveAvgPool2d: output_size must be non-negative"),
    ("nn.AdaptiveMaxPool1d((-2,))", None, "AdaptiveMaxPool1d: output_size must be non-negative"),
    # -- dropout probabilities
    ("nn.Dropout(-0.1)", SAME, "Dropout: dropout probability has to be between 0 and 1, but got"),
    ("nn.Dropout(1.1)", SAME, "Dropout: dropout probability has to be between 0 and 1"),
    ("nn.Dropout2d(2.0)", SAME, "Dropout2d: dropout probability has to be between 0 and 1"),
    ("nn.AlphaDropout(-1.0)", SAME, "AlphaDropout: dropout probability has to be between"),
    ("nn.Dropout(0.0)", SAME, None),
    ("nn.Dropout(1.0)", SAME, None),
    ("nn.MultiheadAttention(8, 2, dropout=1.5)", None, "MultiheadAttention: dropout probab"),
    ("nn.MultiheadAttention(8, 2, dropout=1.0)", SAME, None),
    # -- normalization: PyTorch accepts any eps (0 and negative too), and so does ember
    ("nn.BatchNorm1d(-1)", SAME, "BatchNorm1d: num_features must be a non-negative integer"),
    ("nn.BatchNorm1d(0)", SAME, None),
    ("nn.BatchNorm2d(4, eps=0)", SAME, None),
    ("nn.BatchNorm2d(4, eps=-1)", SAME, None),
    ("nn.BatchNorm2d(4, momentum=None)", SAME, None),
    ("nn.InstanceNorm2d(0)", SAME, None),
    ("nn.InstanceNorm2d(4, affine=True, eps=0)", SAME, None),
    ("nn.LayerNorm(-1)", SAME, "LayerNorm: normalized_shape must be non-negative, got (-1,)"),
    ("nn.LayerNorm([2, -1])", SAME, "LayerNorm: normalized_shape must be non-negative"),
    ("nn.LayerNorm(0)", SAME, None),
    ("nn.LayerNorm([])", SAME, None),
    ("nn.LayerNorm(4, eps=0)", SAME, None),
    ("nn.RMSNorm(-1)", SAME, "RMSNorm: normalized_shape must be non-negative"),
    ("nn.RMSNorm(0)", SAME, None),
    ("nn.GroupNorm(0, 4)", SAME, "GroupNorm: num_groups must be a positive integer, got 0"),
    ("nn.GroupNorm(3, 4)", SAME, "GroupNorm: num_channels (4) must be divisible by num_groups"),
    ("nn.GroupNorm(2, -2)", SAME, "GroupNorm: num_channels must be a non-negative integer"),
    ("nn.GroupNorm(2, 4, eps=0)", SAME, None),
    ("nn.GroupNorm(2, 0)", SAME, None),
    ("nn.GroupNorm(-2, 4)", None, "GroupNorm: num_groups must be a positive integer, got -2"),
    ("nn.InstanceNorm2d(-1)", None, "InstanceNorm2d: num_features must be a non-negative"),
    ("nn.BatchNorm2d(-1, affine=False, track_running_stats=False)", None, "BatchNorm2d: num_f"),
    ("nn.LayerNorm(-1, elementwise_affine=False)", None, "LayerNorm: normalized_shape must"),
    # -- attention and transformers
    ("nn.MultiheadAttention(10, 3)", SAME, "MultiheadAttention: embed_dim (10) must be divisible"),
    ("nn.MultiheadAttention(10, 0)", SAME, "MultiheadAttention: embed_dim and num_heads must be"),
    ("nn.MultiheadAttention(0, 1)", SAME, "embed_dim and num_heads must be greater than 0"),
    ("nn.MultiheadAttention(-4, 2)", SAME, "got embed_dim=-4 and num_heads=2"),
    ("nn.MultiheadAttention(8, 2, kdim=-1)", SAME, "MultiheadAttention: kdim must be a non-neg"),
    ("nn.MultiheadAttention(8, 2, kdim=0, vdim=3)", SAME, None),
    ("nn.TransformerEncoderLayer(8, 3)", SAME, "embed_dim (8) must be divisible by num_heads (3)"),
    ("nn.TransformerEncoderLayer(8, 0)", SAME, "embed_dim and num_heads must be greater than 0"),
    ("nn.TransformerEncoderLayer(8, 2, dim_feedforward=-1)", SAME, "TransformerEncoderLayer: dim_"),
    ("nn.TransformerEncoderLayer(8, 2, dropout=2.0)", SAME, "TransformerEncoderLayer: dropout"),
    ("nn.TransformerEncoderLayer(8, 2, dim_feedforward=0)", SAME, None),
    ("nn.TransformerDecoderLayer(8, 3)", SAME, "embed_dim (8) must be divisible by num_heads"),
    ("nn.TransformerDecoderLayer(8, 2, dropout=-0.5)", SAME, "TransformerDecoderLayer: dropout"),
    ("nn.Transformer(d_model=8, nhead=3)", SAME, "must be divisible by num_heads (3)"),
    ("nn.Transformer(8, 2, 0, 0, 16)", SAME, None),
    ("nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2), 0)", SAME, None),
    ("nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2), -1)", None, "TransformerEncoder: "),
    ("nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2), -2)", None, "TransformerDecoder: "),
    # -- recurrent layers and cells
    ("nn.RNN(4, 8, num_layers=0)", SAME, "RNN: num_layers must be a positive integer, got 0"),
    ("nn.RNN(4, 8, num_layers=-1)", SAME, "RNN: num_layers must be a positive integer, got -1"),
    ("nn.LSTM(4, 0)", SAME, "LSTM: hidden_size must be a positive integer, got 0"),
    ("nn.GRU(4, -1)", SAME, "GRU: hidden_size must be a positive integer, got -1"),
    ("nn.RNN(0, 8)", SAME, "RNN: input_size must be a positive integer, got 0"),
    ("nn.GRU(-1, 8)", SAME, "GRU: input_size must be a positive integer, got -1"),
    ("nn.RNN(4, 8, dropout=1.5)", SAME, "RNN: dropout should be a number in range [0, 1]"),
    ("nn.GRU(4, 8, dropout=-0.1)", SAME, "GRU: dropout should be a number in range [0, 1]"),
    ("nn.LSTM(4, 8, num_layers=2, dropout=0.5)", SAME, None),
    ("nn.LSTM(4, 8, proj_size=-1)", SAME, "LSTM: proj_size should be a positive integer or zero"),
    ("nn.LSTM(4, 8, proj_size=8)", SAME, "LSTM: proj_size has to be smaller than hidden_size"),
    ("nn.LSTM(4, 8, proj_size=7)", SAME, None),
    ("nn.RNN(4, 8, nonlinearity='gelu')", SAME, "Unknown nonlinearity 'gelu'"),
    ("nn.RNNCell(4, -1)", SAME, "RNNCell: hidden_size must be a non-negative integer, got -1"),
    ("nn.LSTMCell(-1, 4)", SAME, "LSTMCell: input_size must be a non-negative integer, got -1"),
    ("nn.GRUCell(4, -2)", SAME, "GRUCell: hidden_size must be a non-negative integer, got -2"),
    ("nn.RNNCell(0, 4)", SAME, None),
    ("nn.LSTMCell(4, 0)", SAME, None),
    # -- activations
    ("nn.Hardtanh(2, 1)", SAME, "Hardtanh: max_val (1) must be greater than min_val (2)"),
    ("nn.Hardtanh(1.0, 1.0)", SAME, "Hardtanh: max_val (1.0) must be greater than min_val"),
    ("nn.Hardtanh(-2.0, 2.0)", SAME, None),
    # -- resampling: PyTorch checks factors and windows at the first forward call
    ("nn.Upsample(scale_factor=0.5)", SAME, None),
    ("nn.Upsample(size=(4, 5))", SAME, None),
    ("nn.Unfold((2, 3), dilation=2, padding=1)", SAME, None),
    ("nn.Fold((4, 5), 2)", SAME, None),
    ("nn.PixelShuffle(2)", SAME, None),
    ("nn.Upsample(scale_factor=0)", None, "Upsample: scale_factor must be positive, got 0"),
    ("nn.Upsample(scale_factor=(2, -1))", None, "Upsample: scale_factor must be positive"),
    ("nn.Upsample(size=0)", None, "Upsample: size must be positive, got 0"),
    ("nn.Unfold(0)", None, "Unfold: kernel_size must be positive, got 0"),
    ("nn.Unfold(2, stride=0)", None, "Unfold: stride must be positive, got 0"),
    ("nn.Unfold(2, padding=-1)", None, "Unfold: padding must be non-negative, got -1"),
    ("nn.Fold(4, 2, dilation=0)", None, "Fold: dilation must be positive, got 0"),
    ("nn.Fold(-4, 2)", None, "Fold: output_size must be non-negative, got -4"),
    ("nn.PixelShuffle(0)", None, "PixelShuffle: upscale_factor must be a positive integer"),
    ("nn.PixelUnshuffle(-1)", None, "PixelUnshuffle: downscale_factor must be a positive"),
    # -- losses (options PyTorch checks in the forward call are checked by ember's functional
    # ops at trace time, as ShapeErrors: see tests/test_losses.py)
    ("nn.TripletMarginLoss(margin=-1)", SAME, "TripletMarginLoss: margin must be > 0, got -1"),
    ("nn.SmoothL1Loss(beta=0)", SAME, None),
    ("nn.CrossEntropyLoss(label_smoothing=1.0)", SAME, None),
]


def _construct(call: str, namespace) -> BaseException | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about zero-element initialization
        try:
            eval(call, {"nn": namespace})
        except Exception as e:  # torch raises ValueError, RuntimeError, AssertionError, ...
            return e
    return None


@pytest.mark.parametrize("call, torch_call, message", ROWS, ids=[r[0][3:] for r in ROWS])
def test_layer_constructor_arguments(call, torch_call, message):
    if torch_call is not None:
        torch_error = _construct(call if torch_call is SAME else torch_call, torch.nn)
        expected = "accepts" if message is None else "rejects"
        assert (torch_error is None) == (message is None), (
            f"torch does not agree that it {expected} {call}: {torch_error!r}"
        )
    error = _construct(call, nn)
    if message is None:
        assert error is None, f"ember rejects {call}, which PyTorch accepts: {error!r}"
    else:
        assert isinstance(error, ValueError), f"{call}: expected a ValueError, got {error!r}"
        assert re.search(re.escape(message), str(error)), str(error)


def test_pooling_window_larger_than_the_padded_input_is_a_trace_time_shape_error():
    spec = em.TensorSpec((1, 2, 4, 4))
    with pytest.raises(ShapeError, match=r"max_pool2d: input \(1, 2, 4, 4\) gives output size"):
        em.trace(nn.MaxPool2d(5), spec)
    with pytest.raises(ShapeError, match="avg_pool2d: input .* gives output size .* too small"):
        em.trace(nn.AvgPool2d(3), em.TensorSpec((1, 2, 2, 2)))
    with pytest.raises(ShapeError, match="pad should be at most half of kernel size"):
        em.trace(nn.MaxPool2d(2, padding=2), spec)
    with pytest.raises(ShapeError, match="smaller than the dilated kernel"):
        em.trace(nn.Conv2d(2, 3, 5), spec)
    em.trace(nn.MaxPool2d(5, padding=2), spec)  # the padded input fits the window
