"""DistributedSampler against torch's (same index arithmetic without shuffling; with it,
a partition of each padded pass that depends on seed + epoch only), get_worker_info."""

from __future__ import annotations

import pytest
import torch

from ember.utils.data import DistributedSampler, get_worker_info


@pytest.mark.parametrize("n", [10, 11, 12, 3])
@pytest.mark.parametrize("replicas", [1, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_unshuffled_shares_match_torch(n, replicas, drop_last):
    data = list(range(n))
    for rank in range(replicas):
        ours = DistributedSampler(data, replicas, rank, shuffle=False, drop_last=drop_last)
        ref = torch.utils.data.DistributedSampler(
            data, replicas, rank, shuffle=False, drop_last=drop_last
        )
        assert list(ours) == list(ref)
        assert len(ours) == len(ref)


def test_shuffled_shares_partition_each_pass_and_follow_the_epoch():
    data = list(range(23))
    samplers = [DistributedSampler(data, 4, r, seed=7) for r in range(4)]
    first = [list(s) for s in samplers]
    union = sorted(i for share in first for i in share)
    assert len(union) == 24 and set(union) == set(data)  # padded by one repeated index
    assert first == [list(s) for s in samplers]  # deterministic
    for s in samplers:
        s.set_epoch(1)
    assert [list(s) for s in samplers] != first


def test_bad_rank_and_worker_info():
    with pytest.raises(ValueError, match="invalid rank 4 for 4 replicas"):
        DistributedSampler(list(range(8)), 4, 4)
    assert get_worker_info() is None and torch.utils.data.get_worker_info() is None
