"""Dropout is random: check its statistics, scaling, channel structure and key handling.

Masks cannot match PyTorch bit for bit (different generators), so the tests
check what PyTorch documents: elements are zeroed with probability p and the
rest scaled by 1/(1-p); channel dropout zeroes whole channels; alpha dropout
keeps zero mean and unit variance; eval mode is the identity. Keys: the same
key reproduces a mask, two layers and two steps draw different masks.
"""

import jax
import numpy as np
import pytest
import torch

import ember as em
from ember import nn
from ember.compiler import lower, run_passes
from ember.frontend.trace import trace_function
from ember.training.steps import step_key

F = nn.functional


def _lowered(module, x):
    graph, _ = trace_function(lambda a: module(a), [x], modules=[("", module)], names=["x"])
    return graph, lower(run_passes(graph))


def _key(seed: int) -> np.ndarray:
    return np.asarray(jax.random.key_data(jax.random.PRNGKey(seed)))


def _run(lowered, x, key):
    outs, _ = lowered.fn([], [], [x], key)
    return np.asarray(outs[0])


def _sigmas(n: int, p: float) -> float:
    return 5 * np.sqrt(p * (1 - p) / n)  # 5 standard deviations of a Bernoulli mean


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_element_dropout_keeps_1_minus_p_and_scales_kept_values(p):
    x = np.ones((200, 500), np.float32)
    _, lowered = _lowered(nn.Dropout(p), x)
    y = _run(lowered, x, _key(0))
    kept = y != 0
    assert abs(kept.mean() - (1 - p)) < _sigmas(x.size, p)
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)


def test_kept_values_are_scaled_inputs():
    x = np.random.default_rng(0).standard_normal((50, 40)).astype(np.float32)
    _, lowered = _lowered(nn.Dropout(0.25), x)
    y = _run(lowered, x, _key(1))
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / 0.75, rtol=1e-6)


@pytest.mark.parametrize(
    "layer, shape, channel_axes",
    [
        (nn.Dropout1d, (64, 16, 7), (0, 1)),
        (nn.Dropout1d, (16, 7), (0,)),  # unbatched (C, L)
        (nn.Dropout2d, (32, 16, 4, 5), (0, 1)),
        (nn.Dropout2d, (32, 16, 5), (0, 1)),  # 3-D read as (N, C, L), as PyTorch does
        (nn.Dropout3d, (8, 16, 2, 3, 2), (0, 1)),
        (nn.Dropout3d, (16, 2, 3, 2), (0,)),  # unbatched (C, D, H, W)
    ],
)
def test_channel_dropout_zeroes_whole_channels(layer, shape, channel_axes):
    p = 0.5
    x = np.ones(shape, np.float32)
    _, lowered = _lowered(layer(p), x)
    y = _run(lowered, x, _key(2))
    per_channel = y.reshape(int(np.prod([shape[a] for a in channel_axes])), -1)
    first = per_channel[:, :1]
    assert np.all(per_channel == first), "a channel is partly dropped"
    assert set(np.unique(first)) <= {0.0, 2.0}
    assert abs((first != 0).mean() - (1 - p)) < _sigmas(len(first), p)


def test_alpha_dropout_keeps_mean_and_variance_like_torch():
    x = np.random.default_rng(3).standard_normal((400, 500)).astype(np.float32)
    p = 0.3
    _, lowered = _lowered(nn.AlphaDropout(p), x)
    y = _run(lowered, x, _key(3))
    ref = torch.nn.AlphaDropout(p).train()(torch.from_numpy(x)).numpy()
    assert abs(y.mean()) < 0.01 and abs(y.var() - 1) < 0.02
    assert abs(y.mean() - ref.mean()) < 0.01 and abs(y.var() - ref.var()) < 0.02
    # dropped entries take one constant value, PyTorch's a * alpha' * (1 - p)
    alpha = -1.7580993408473766
    a = 1 / np.sqrt((1 - p) * (1 + p * alpha**2))
    dropped = np.isclose(y, a * alpha * (1 - p), atol=1e-6)
    assert abs(dropped.mean() - p) < _sigmas(x.size, p)
    assert np.isclose(ref, a * alpha * (1 - p), atol=1e-6).mean() == pytest.approx(p, abs=0.01)


@pytest.mark.parametrize("layer", [nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout])
def test_eval_mode_and_p0_are_identity(layer):
    x = np.random.default_rng(4).standard_normal((4, 3, 5)).astype(np.float32)
    net = layer(0.5).eval()
    graph, _ = _lowered(net, x)
    assert not any(n.op == "dropout" for n in graph.nodes)
    np.testing.assert_array_equal(net(x), x)
    np.testing.assert_array_equal(layer(0.0)(x), x)


def test_p1_zeroes_everything():
    x = np.ones((3, 4), np.float32)
    np.testing.assert_array_equal(nn.Dropout(1.0)(x), np.zeros_like(x))


def test_same_key_reproduces_and_other_keys_differ():
    x = np.ones((64, 64), np.float32)
    _, lowered = _lowered(nn.Dropout(0.5), x)
    a, b = _run(lowered, x, _key(5)), _run(lowered, x, _key(5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, _run(lowered, x, _key(6)))


def test_two_layers_draw_different_masks():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.d1, self.d2 = nn.Dropout(0.5), nn.Dropout(0.5)

        def forward(self, x):
            return self.d1(x), self.d2(x), F.dropout(x, 0.5), F.dropout(x, 0.5)

    x = np.ones((64, 64), np.float32)
    net = Two()
    graph, _ = trace_function(net, [x], modules=[("", net)], names=["x"])
    salts = [n.attrs["salt"] for n in graph.nodes if n.op == "dropout"]
    assert len(set(salts)) == 4, "every dropout call needs its own salt"
    lowered = lower(run_passes(graph))
    outs, _ = lowered.fn([], [], [x], _key(7))
    masks = [np.asarray(o) != 0 for o in outs]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not np.array_equal(masks[i], masks[j])


def test_masks_differ_between_steps_and_repeat_for_a_step():
    x = np.ones((64, 64), np.float32)
    _, lowered = _lowered(nn.Dropout(0.5), x)
    base = _key(8)
    step0, step1 = (_run(lowered, x, step_key(base, s)) for s in (0, 1))
    assert not np.array_equal(step0, step1)
    np.testing.assert_array_equal(step0, _run(lowered, x, step_key(base, 0)))
    net = nn.Dropout(0.5)  # eager calls advance the step
    assert not np.array_equal(net(x), net(x))


def test_gradient_is_the_scaled_mask():
    x = np.random.default_rng(9).standard_normal((20, 30)).astype(np.float32)
    _, lowered = _lowered(nn.Dropout(0.4), x)
    key = _key(10)
    grad = jax.grad(lambda a: lowered.fn([], [], [a], key)[0][0].sum())(x)
    mask = _run(lowered, x, key) != 0
    np.testing.assert_allclose(grad, mask / 0.6, rtol=1e-6)


def test_train_mode_uses_dropout_and_eval_does_not():
    net = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5))
    x = np.ones((16, 8), np.float32)
    train_out = net(x)
    net.eval()
    eval_out = net(x)
    assert (train_out == 0).mean() > 0.3
    assert (eval_out == 0).mean() < 0.05


def test_bad_p_and_ranks_raise():
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(-0.1)
    with pytest.raises(em.ShapeError, match="dropout1d: expects a 2-D"):
        nn.Dropout1d(0.5)(np.ones((2, 3, 4, 5), np.float32))


def test_dropout2d_on_a_2d_input_drops_elements_like_torch():
    # pytorch/examples mnist_rnn applies nn.Dropout2d to an (N, 64) tensor: PyTorch warns
    # and drops single elements; eval mode is the identity. It used to raise ShapeError.
    x = np.ones((200, 64), np.float32)
    with pytest.warns(UserWarning, match="2-D input to dropout2d"):
        ref = torch.nn.Dropout2d(0.5).train()(torch.from_numpy(x)).numpy()
    with pytest.warns(UserWarning, match="2-D input to dropout2d"):
        _, lowered = _lowered(nn.Dropout2d(0.5), x)
    y = _run(lowered, x, _key(5))
    assert set(np.unique(y)) <= {0.0, 2.0} and set(np.unique(ref)) <= {0.0, 2.0}
    assert abs((y != 0).mean() - 0.5) < _sigmas(x.size, 0.5)
    # elements, not rows: rows are partly dropped, as in PyTorch
    assert ((y != 0).mean(axis=1) % 1 != 0).mean() > 0.9
    assert ((ref != 0).mean(axis=1) % 1 != 0).mean() > 0.9
    with pytest.warns(UserWarning):
        np.testing.assert_array_equal(nn.Dropout2d(0.5).eval()(x), x)
