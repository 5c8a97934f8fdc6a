"""torch.randint(high, size=...) (pytorch/examples mnist_forward_forward)."""

import numpy as np
import pytest

import ember as em

torch = pytest.importorskip("torch")


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((10,), {"size": (1000,)}),
        ((3, 10), {"size": (1000,)}),
        ((10, (1000,)), {}),
        ((3, 10, (1000,)), {}),
    ],
)
def test_randint_size_keyword(args, kwargs):
    # mnist_forward_forward: torch.randint(len(allowed_indices), size=(1,))
    ref = torch.randint(*args, **kwargs)
    out = em.randint(*args, **kwargs).numpy()
    assert out.shape == tuple(ref.shape)
    low = args[0] if len(args) > 1 and not isinstance(args[1], tuple) else 0
    high = args[1] if len(args) > 1 and not isinstance(args[1], tuple) else args[0]
    assert out.min() >= low and out.max() < high
    assert len(np.unique(out)) == high - low
