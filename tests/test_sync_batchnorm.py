"""SyncBatchNorm and convert_sync_batchnorm against torch (on one process SyncBatchNorm
is BatchNorm): module tree, state-dict keys, outputs and running statistics."""

from __future__ import annotations

import numpy as np
import torch

import ember as em
from ember import nn


def _define(lib):
    return lib.nn.Sequential(
        lib.nn.Conv2d(3, 4, 3),
        lib.nn.BatchNorm2d(4),
        lib.nn.ReLU(),
        lib.nn.Sequential(lib.nn.Flatten(), lib.nn.Linear(64, 5), lib.nn.BatchNorm1d(5)),
    )


def test_converted_model_keeps_its_state_and_matches_torch():
    em.manual_seed(0)
    net, ref = _define(em), _define(torch)
    ref.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in net.state_dict().items()})
    weight = net[1].weight
    net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    ref = torch.nn.SyncBatchNorm.convert_sync_batchnorm(ref)
    assert [type(m).__name__ for m in net.modules()] == [type(m).__name__ for m in ref.modules()]
    assert net[1].weight is weight  # the same parameter, as in PyTorch
    assert list(net.state_dict()) == list(ref.state_dict())
    x = np.random.default_rng(0).standard_normal((6, 3, 6, 6)).astype(np.float32)
    for _ in range(2):
        out = net(em.tensor(x)).detach().numpy()
        want = ref(torch.from_numpy(x)).detach().numpy()
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
    for key, value in ref.state_dict().items():
        np.testing.assert_allclose(
            np.asarray(net.state_dict()[key]), value.numpy(), rtol=1e-5, atol=1e-6, err_msg=key
        )
