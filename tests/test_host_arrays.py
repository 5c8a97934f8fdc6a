"""Host arrays the caller keeps writing: a step must read the values they had when it was
called (PyTorch's semantics), although XLA:CPU takes numpy arguments in place and runs
steps asynchronously. Failed before `host_arrays.owned`: a refilled batch buffer changed
the trained weights by ~1e-2, `em.tensor(buf)` followed later writes to `buf`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember as em
from ember import nn, optim


def _data(n: int):
    rng = np.random.default_rng(0)
    return [
        (
            rng.standard_normal((256, 784)).astype(np.float32),
            rng.integers(0, 10, 256).astype(np.int32),
        )
        for _ in range(n)
    ]


def _train(batches, reuse: bool, use_eval: bool = False):
    return _trainer(batches, reuse, use_eval)()


def _trainer(batches, reuse: bool, use_eval: bool = False):
    """A model built now, and the loop that trains it (run it later, in any thread)."""
    em.manual_seed(0)
    net = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    model = em.compile(
        net, optimizer=optim.SGD(net.parameters(), lr=0.1), loss=nn.CrossEntropyLoss()
    )

    def loop():
        xb, yb = np.empty((256, 784), np.float32), np.empty(256, np.int32)
        losses = []
        for x, y in batches:
            if reuse:  # a loader that refills one buffer
                xb[:], yb[:] = x, y
                x, y = xb, yb
            logs = model.eval_step(x, y) if use_eval else model.train_step(x, y)
            losses.append(logs["loss"])
        return np.asarray(net[0].weight), [float(v) for v in losses]

    return loop


def test_a_refilled_batch_buffer_trains_like_fresh_arrays():
    batches = _data(40)
    want_w, want_losses = _train(batches, reuse=False)
    got_w, got_losses = _train(batches, reuse=True)
    np.testing.assert_array_equal(got_w, want_w)
    assert got_losses == want_losses
    _, want_eval = _train(batches[:20], reuse=False, use_eval=True)
    _, got_eval = _train(batches[:20], reuse=True, use_eval=True)
    assert got_eval == want_eval


def test_tensors_and_loaded_state_do_not_follow_later_writes():
    buf = np.zeros((64, 64), np.float32)
    t = em.tensor(buf)
    buf[:] = 5.0
    assert float(t.sum()) == 0.0  # torch.tensor copies too
    ref = torch.zeros(3, 4)
    net = nn.Linear(4, 3)
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(em.ones(2, 4)).sum().backward()
    opt.step()
    opt.state[net.weight]["momentum_buffer"] = ref.numpy()  # shares torch's memory
    ref += 7.0  # torch keeps training in place
    np.testing.assert_array_equal(np.asarray(opt.state[net.weight]["momentum_buffer"]), 0.0)


def test_fit_and_dataloader_batches_pass_without_a_copy():
    """ember's own batches are marked read-only, so `owned` does not copy them."""
    from ember.frontend.host_arrays import owned
    from ember.runtime.data import array_batches
    from ember.utils.data import DataLoader, TensorDataset

    x = np.arange(40, dtype=np.float32).reshape(10, 4)
    y = np.arange(10, dtype=np.int32)
    for xb, yb, _ in array_batches(x, y, 4, shuffle=True, seed=0):
        assert owned(xb) is xb and owned(yb) is yb
    assert x.flags.writeable  # the caller's arrays are untouched
    for xb, _, _ in array_batches(x, y, 4, shuffle=False, seed=0):
        assert owned(xb) is not xb  # a slice views the caller's array: a callback may write it
    view = np.broadcast_to(x[0], (3, 4))  # read-only, but it changes with x
    assert owned(view) is not view and owned(x[:2].copy()) is not None
    loader = DataLoader(TensorDataset(em.tensor(x), em.tensor(y)), batch_size=4, shuffle=True)
    for xb, _ in loader:
        data = xb._array()
        assert not isinstance(data, np.ndarray) or owned(data) is data


def test_a_refilled_torch_buffer_trains_like_fresh_tensors():
    batches = _data(12)
    want_w, _ = _train(
        [(torch.from_numpy(x.copy()), torch.from_numpy(y.copy())) for x, y in batches], False
    )
    em.manual_seed(0)
    net = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    model = em.compile(
        net, optimizer=optim.SGD(net.parameters(), lr=0.1), loss=nn.CrossEntropyLoss()
    )
    xb, yb = torch.empty(256, 784), torch.empty(256, dtype=torch.int32)
    for x, y in batches:
        xb.copy_(torch.from_numpy(x))
        yb.copy_(torch.from_numpy(y))
        model.train_step(xb, yb)
        xb.fill_(1e3)  # the loader's next refill starts while the step may still run
    np.testing.assert_array_equal(np.asarray(net[0].weight), want_w)


def test_staged_batches_reuse_a_buffer_only_once_nothing_else_holds_it():
    from ember.frontend import host_arrays

    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    first = host_arrays.staged(x)
    assert first.ctypes.data % 64 == 0 and not first.flags.writeable
    held = host_arrays.staged(x)
    assert held is not first  # `first` is still referenced here
    view = first.reshape(12)  # a view keeps the memory in use
    del first
    again = host_arrays.staged(x + 1)
    assert not np.shares_memory(again, view) and not np.shares_memory(again, held)
    np.testing.assert_array_equal(view, np.arange(12))  # values survive
    np.testing.assert_array_equal(again, x + 1)
    address = again.ctypes.data
    del again
    assert host_arrays.staged(x * 3).ctypes.data == address  # now idle: reused


def test_staged_buffers_stay_within_their_byte_budget(monkeypatch):
    from ember.frontend import host_arrays

    pool = host_arrays._StagingPool()
    monkeypatch.setattr(host_arrays, "_POOL_BYTES", 10_000)
    for n in range(1, 40):
        pool.filled((n, 64), np.float32, lambda out: out.fill(0))
    assert 0 < pool.nbytes <= 10_000 + 2_500  # the budget, plus the shape just used
    assert pool.nbytes == sum(e[0].nbytes for v in pool.entries.values() for e in v)
    big = np.zeros(5_000, np.uint8)  # over a quarter of the budget: copied, not kept
    assert pool.filled(big.shape, big.dtype, lambda out: None).ctypes.data % 64 == 0 and (
        big.shape,
        "|u1",
    ) not in [k for k, v in pool.entries.items() if v]


def test_batches_ember_assembles_are_aligned_so_xla_takes_them_in_place():
    from ember.frontend.host_arrays import owned
    from ember.runtime.data import array_batches
    from ember.utils.data import DataLoader, TensorDataset, default_collate

    x = np.random.default_rng(0).standard_normal((50, 3, 5)).astype(np.float64)
    y = np.arange(50)
    seen = []
    for xb, yb, _ in array_batches(x, y, 8, shuffle=True, seed=1):
        assert xb.ctypes.data % 64 == 0 and not xb.flags.writeable and owned(xb) is xb
        seen.append(yb)
        np.testing.assert_array_equal(xb, x[yb])
    assert sorted(np.concatenate(seen).tolist()) == list(range(50))
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)
    for xb, yb in loader:
        data = xb._array()
        assert data.dtype == np.float32 and data.ctypes.data % 64 == 0
        np.testing.assert_array_equal(data, x[np.asarray(yb._array())].astype(np.float32))
    stacked = default_collate([x[0], x[1]])._array()
    assert stacked.dtype == np.float32 and stacked.ctypes.data % 64 == 0
    np.testing.assert_array_equal(stacked, x[:2].astype(np.float32))


def test_a_sampler_index_out_of_range_still_raises_numpys_index_error():
    from ember.utils.data import DataLoader, TensorDataset

    x = np.zeros((4, 2), np.float32)
    loader = DataLoader(TensorDataset(x), batch_size=2, sampler=[0, 7])
    with pytest.raises(IndexError, match="out of bounds"):
        next(iter(loader))
    loader = DataLoader(TensorDataset(x), batch_size=2, sampler=[-4, 3])
    np.testing.assert_array_equal(next(iter(loader))[0]._array(), x[[-4, 3]])


def test_two_threads_stepping_with_refilled_buffers_train_like_fresh_arrays():
    import threading

    batches = _data(16)
    want_w, want_losses = _train(batches, reuse=False)
    results = {}
    loops = [_trainer(batches, reuse=True) for _ in range(2)]  # seeded here, not in threads

    def run(k):
        results[k] = loops[k]()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got_w, got_losses in results.values():
        np.testing.assert_array_equal(got_w, want_w)
        assert got_losses == want_losses
