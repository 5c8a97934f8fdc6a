"""torch.accelerator queries (pytorch/examples mnist, gcn, mnist_forward_forward,
fast_neural_style)."""

import pytest

import ember as em

torch = pytest.importorskip("torch")


def test_accelerator_queries():
    # mnist, gcn, mnist_forward_forward, fast_neural_style:
    #   use_accel = not args.no_accel and torch.accelerator.is_available()
    #   device = torch.accelerator.current_accelerator() if use_accel else torch.device("cpu")
    assert em.accelerator.is_available() == em.cuda.is_available()
    assert em.accelerator.device_count() == em.cuda.device_count()
    acc = em.accelerator.current_accelerator()
    if em.accelerator.is_available():
        assert acc == em.device("cuda")
    else:
        assert acc is None
    em.accelerator.synchronize()
    # on this torch, the same queries exist and have the same types
    assert isinstance(torch.accelerator.is_available(), bool)
