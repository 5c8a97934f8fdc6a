"""nn.LayerNorm and nn.RMSNorm vs PyTorch: state_dict names, init, outputs and gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from attention_parity import WORST, copy_weights, report, run_both, set_mode

from ember import nn

rng = np.random.default_rng(0)


def r(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def _pair(name: str, *args, **kwargs):
    t = getattr(torch.nn, name)(*args, **kwargs)
    with torch.no_grad():  # non-trivial affine parameters
        for p in t.parameters():
            p.normal_()
    e = getattr(nn, name)(*args, **kwargs)
    assert list(e.state_dict()) == list(t.state_dict())
    copy_weights(e, t)
    return e, t


CASES = {
    "layer_norm-last-dim": ("LayerNorm", (8,), {}, (4, 5, 8)),
    "layer_norm-two-dims-eps": ("LayerNorm", ([5, 8],), {"eps": 1e-3}, (4, 5, 8)),
    "layer_norm-no-affine": ("LayerNorm", (8,), {"elementwise_affine": False}, (3, 8)),
    "layer_norm-no-bias": ("LayerNorm", (8,), {"bias": False}, (3, 8)),
    "rms_norm-default-eps": ("RMSNorm", (8,), {}, (4, 5, 8)),
    "rms_norm-two-dims-eps": ("RMSNorm", ((5, 8),), {"eps": 1e-6}, (4, 5, 8)),
    "rms_norm-no-affine": ("RMSNorm", (8,), {"elementwise_affine": False}, (3, 8)),
}


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("case", list(CASES))
def test_norm_layers_match_torch(case, training):
    name, args, kwargs, shape = CASES[case]
    e, t = _pair(name, *args, **kwargs)
    set_mode(training, e, t)
    run_both(name, lambda m, x: m(x), e, t, [r(*shape)])


def test_default_init_and_repr():
    ln, rms = nn.LayerNorm(6), nn.RMSNorm([2, 3])
    np.testing.assert_array_equal(ln.state_dict()["weight"], np.ones(6, np.float32))
    np.testing.assert_array_equal(ln.state_dict()["bias"], np.zeros(6, np.float32))
    np.testing.assert_array_equal(rms.state_dict()["weight"], np.ones((2, 3), np.float32))
    assert repr(ln) == repr(torch.nn.LayerNorm(6))
    assert repr(rms) == repr(torch.nn.RMSNorm([2, 3]))
    assert list(nn.LayerNorm(4, elementwise_affine=False).state_dict()) == []


def test_report_worst_errors():
    # WORST holds what ran in this process (pytest-xdist splits files); print and bound it
    if not WORST:
        pytest.skip("no parity case ran in this worker")
    print("\n" + report())
    assert max(WORST.values()) < 1e-4, WORST
