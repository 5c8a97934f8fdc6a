"""Idioms of milesial/Pytorch-UNet's train.py, ported by changing imports: memory formats,
`except torch.cuda.OutOfMemoryError`, thread counts, and float64 interpolation (the
float64 check of a port) against PyTorch."""

import jax
import numpy as np
import pytest
import torch

import ember as em


def test_channels_last_is_accepted_wherever_pytorch_takes_a_memory_format():
    def run(m):
        m.manual_seed(0)
        conv = m.nn.Conv2d(3, 4, 3).to(memory_format=m.channels_last)
        x = m.ones(2, 3, 6, 6).to(memory_format=m.channels_last)
        y = conv(x.contiguous(memory_format=m.contiguous_format))
        return y.shape, y.is_contiguous(memory_format=m.channels_last) in (True, False)

    assert run(em) == (tuple(run(torch)[0]), True)
    assert repr(em.preserve_format) == "ember.preserve_format"
    assert em.channels_last_3d is not em.channels_last


def test_an_error_leaving_a_loop_guarded_for_cuda_oom_propagates_unchanged():
    def train(m):
        try:
            raise ValueError("bad batch")
        except m.cuda.OutOfMemoryError:
            m.cuda.empty_cache()
            raise AssertionError("not an out-of-memory error") from None

    for m in (em, torch):
        with pytest.raises(ValueError, match="bad batch"):
            train(m)
    assert issubclass(em.cuda.OutOfMemoryError, RuntimeError)
    assert em.cuda.max_memory_allocated() >= em.cuda.memory_allocated() >= 0


def test_thread_counts_are_remembered_and_checked_like_torch():
    before = torch.get_num_threads()
    try:
        for m in (em, torch):
            m.set_num_threads(1)
            assert m.get_num_threads() == 1
            with pytest.raises((ValueError, RuntimeError)):
                m.set_num_threads(0)
    finally:
        torch.set_num_threads(before)
    assert em.get_num_interop_threads() >= 1


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("align_corners", [True, False])
def test_float64_interpolation_is_float64_accurate_like_torch(mode, align_corners):
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 7))
    want = torch.nn.functional.interpolate(
        torch.tensor(x), size=(13, 11), mode=mode, align_corners=align_corners
    ).numpy()
    with jax.enable_x64(True):
        got = em.nn.functional.interpolate(
            em.tensor(x, dtype=em.float64), size=(13, 11), mode=mode, align_corners=align_corners
        )
        assert got.dtype == em.float64
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-13)
