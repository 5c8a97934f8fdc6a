"""Embedding, EmbeddingBag, CosineSimilarity, PairwiseDistance: parity with PyTorch.

Forward values and gradients (weights, per_sample_weights, float inputs),
initialization, padding rows, max_norm, scale_grad_by_freq, from_pretrained.
"""

import numpy as np
import pytest
import torch
from norm_parity import assert_close, ember_run, load_torch_state, report_worst, torch_run

import ember as em
from ember import nn, optim

tnn = torch.nn


def r(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


IDX = np.array([[1, 3, 0, 3], [2, 2, 5, 1], [0, 4, 4, 4]], np.int64)

EMBEDDINGS = [
    ("plain", dict()),
    ("padding", dict(padding_idx=3)),
    ("padding-negative", dict(padding_idx=-2)),
    ("max-norm", dict(max_norm=1.0)),
    ("max-norm-l1", dict(max_norm=1.5, norm_type=1.0)),
    ("freq", dict(scale_grad_by_freq=True)),
    ("freq-padding-max-norm", dict(scale_grad_by_freq=True, padding_idx=0, max_norm=0.8)),
]


@pytest.mark.parametrize("idx", [IDX, IDX[0], IDX[:, :1], IDX[:0]], ids=["2d", "1d", "L1", "empty"])
@pytest.mark.parametrize("kwargs", [k for _, k in EMBEDDINGS], ids=[n for n, _ in EMBEDDINGS])
def test_embedding_matches_torch(kwargs, idx):
    theirs = tnn.Embedding(6, 4, **kwargs)
    ours = nn.Embedding(6, 4, **kwargs)
    load_torch_state(ours, theirs)
    out, grads, _, _ = ember_run(ours, idx)
    t_out, t_grads, _, _ = torch_run(theirs, idx)  # (max_norm also renorms torch's weight)
    assert_close(out, t_out, "embedding", "output")
    assert_close(grads["weight"], t_grads["weight"], "embedding", "weight grad")
    if ours.padding_idx is not None:
        assert not grads["weight"][ours.padding_idx].any()


def test_embedding_init_is_standard_normal_with_zero_padding_row():
    em.manual_seed(0)
    emb = nn.Embedding(2000, 16, padding_idx=7)
    w = emb.weight.numpy()
    assert w.shape == (2000, 16) and w.dtype == np.float32
    assert not w[7].any()
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1.0) < 0.02
    assert repr(emb) == repr(tnn.Embedding(2000, 16, padding_idx=7))


def test_embedding_from_pretrained_is_frozen_by_default():
    table = r(5, 3)
    frozen = nn.Embedding.from_pretrained(table)
    assert not frozen.weight.requires_grad
    np.testing.assert_array_equal(frozen(np.array([4, 0])), table[[4, 0]])
    trainable = nn.Embedding.from_pretrained(table, freeze=False, padding_idx=1)
    assert trainable.weight.requires_grad and trainable.padding_idx == 1
    np.testing.assert_array_equal(trainable.weight.numpy()[1], table[1])  # kept as given

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding.from_pretrained(table)
            self.fc = nn.Linear(3, 1)

        def forward(self, idx):
            return self.fc(self.emb(idx)).squeeze(-1)

    net = Net()
    trainable = [p for p in net.parameters() if p.requires_grad]  # as in PyTorch code
    model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.SGD(trainable, lr=0.5))
    model.train_step(np.array([[0, 1], [2, 3]]), np.ones((2, 2), np.float32))
    np.testing.assert_array_equal(net.emb.weight.numpy(), table)


def test_embedding_trains_without_touching_the_padding_row():
    em.manual_seed(1)
    emb = nn.Embedding(4, 2, padding_idx=0)
    model = em.compile(emb, loss=nn.MSELoss(), optimizer=optim.SGD(emb.parameters(), lr=0.5))
    before = emb.weight.numpy().copy()
    model.train_step(np.array([[0, 1, 0]]), np.ones((1, 3, 2), np.float32))
    after = emb.weight.numpy()
    np.testing.assert_array_equal(after[0], before[0])
    assert not np.allclose(after[1], before[1])


BAGS_2D = np.array([[1, 2, 4], [3, 3, 0], [2, 2, 2], [5, 0, 1]], np.int64)
BAGS_1D = np.array([1, 2, 4, 5, 4, 3, 2, 0, 5], np.int64)
OFFSETS = {
    "offsets": np.array([0, 2, 2, 5], np.int64),  # an empty bag in the middle
    "offsets-trailing-empty": np.array([0, 4, 9], np.int64),
    "single-bag": np.array([0], np.int64),
}
LAST_OFFSETS = {"last-offset": np.array([0, 3, 3, 9], np.int64)}

BAG_CASES = (
    [(f"2d-{m}", m, BAGS_2D, None, False) for m in ("sum", "mean", "max")]
    + [
        (f"{k}-{m}", m, BAGS_1D, v, False)
        for k, v in OFFSETS.items()
        for m in ("sum", "mean", "max")
    ]
    + [
        (f"{k}-{m}", m, BAGS_1D, v, True)
        for k, v in LAST_OFFSETS.items()
        for m in ("sum", "mean", "max")
    ]
)


@pytest.mark.parametrize("padding_idx", [None, 2], ids=["nopad", "pad2"])
@pytest.mark.parametrize("case", BAG_CASES, ids=[c[0] for c in BAG_CASES])
def test_embedding_bag_matches_torch(case, padding_idx):
    _, mode, idx, offsets, last = case
    kwargs = dict(mode=mode, include_last_offset=last, padding_idx=padding_idx)
    theirs = tnn.EmbeddingBag(6, 3, **kwargs)
    ours = nn.EmbeddingBag(6, 3, **kwargs)
    load_torch_state(ours, theirs)
    args = (idx,) if offsets is None else (idx, offsets)
    out, grads, _, _ = ember_run(ours, *args)
    t_out, t_grads, _, _ = torch_run(theirs, *args)
    assert_close(out, t_out, "embedding_bag", "output")
    assert_close(grads["weight"], t_grads["weight"], "embedding_bag", "weight grad")


def _with_weights(base, bag, has_offsets):
    """Wrap a bag so that every forward argument is a tensor (2-D input: offsets=None)."""

    class WithWeights(base):
        def __init__(self):
            super().__init__()
            self.bag = bag

        def forward(self, idx, *rest):
            offsets, psw = rest if has_offsets else (None, rest[0])
            return self.bag(idx, offsets, psw)

    return WithWeights()


@pytest.mark.parametrize(
    "idx, offsets", [(BAGS_2D, None), (BAGS_1D, OFFSETS["offsets"])], ids=["2d", "1d"]
)
def test_embedding_bag_per_sample_weights_match_torch(idx, offsets):
    theirs = tnn.EmbeddingBag(6, 3, mode="sum", padding_idx=4, max_norm=1.2)
    ours = nn.EmbeddingBag(6, 3, mode="sum", padding_idx=4, max_norm=1.2)
    load_torch_state(ours, theirs)
    psw = r(*idx.shape, seed=3)
    args = (idx, psw) if offsets is None else (idx, offsets, psw)
    has_offsets = offsets is not None
    out, grads, (g_psw,), _ = ember_run(_with_weights(nn.Module, ours, has_offsets), *args)
    t_out, t_grads, (t_g_psw,), _ = torch_run(_with_weights(tnn.Module, theirs, has_offsets), *args)
    assert_close(out, t_out, "embedding_bag", "output")
    assert_close(grads["bag.weight"], t_grads["bag.weight"], "embedding_bag", "weight grad")
    assert_close(g_psw, t_g_psw, "embedding_bag", "per_sample_weights grad")


def test_elements_after_the_last_offset_belong_to_no_bag():
    # PyTorch documents the last offset as len(input); for a shorter one its CPU kernel agrees
    # in sum mode (mean and max fold the trailing elements in inconsistently)
    offsets = np.array([0, 2, 6], np.int64)
    theirs = tnn.EmbeddingBag(6, 3, mode="sum", include_last_offset=True)
    ours = nn.EmbeddingBag(6, 3, mode="sum", include_last_offset=True)
    load_torch_state(ours, theirs)
    out, grads, _, _ = ember_run(ours, BAGS_1D, offsets)
    t_out, _, _, _ = torch_run(theirs, BAGS_1D, offsets)
    assert_close(out, t_out, "embedding_bag", "output")
    # torch's weight gradient for this input reads uninitialized memory (values like 1e-43
    # that change between runs), so it is no reference; the trailing elements must get none
    trailing = set(BAGS_1D[offsets[-1] :].tolist()) - set(BAGS_1D[: offsets[-1]].tolist())
    for row in trailing:
        np.testing.assert_array_equal(grads["weight"][row], 0.0)
    mean = nn.EmbeddingBag(6, 3, mode="mean", include_last_offset=True, _weight=ours.weight.data)
    np.testing.assert_allclose(mean(BAGS_1D, offsets)[1], out[1] / 4, rtol=1e-6)


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_embedding_bag_freq_scaling_follows_the_documented_rule(mode):
    # Reference: F.embedding's scale_grad_by_freq, then the bag reduction. PyTorch 2.13's CPU
    # embedding_bag backward divides some rows by another index's count (pytorch#190063).
    ours = nn.EmbeddingBag(6, 3, mode=mode, scale_grad_by_freq=True)
    weight = torch.tensor(ours.weight.numpy(), requires_grad=True)

    class Reference(tnn.Module):
        def __init__(self):
            super().__init__()
            self.weight = tnn.Parameter(weight.detach().clone())

        def forward(self, idx):
            rows = tnn.functional.embedding(idx, self.weight, scale_grad_by_freq=True)
            return rows.sum(1) if mode == "sum" else rows.mean(1)

    out, grads, _, _ = ember_run(ours, BAGS_2D)
    t_out, t_grads, _, _ = torch_run(Reference(), BAGS_2D)
    assert_close(out, t_out, "embedding_bag", "output")
    assert_close(grads["weight"], t_grads["weight"], "embedding_bag", "weight grad")


def test_embedding_bag_from_pretrained_and_repr():
    table = r(6, 3)
    bag = nn.EmbeddingBag.from_pretrained(table, mode="max")
    assert not bag.weight.requires_grad
    want = tnn.EmbeddingBag.from_pretrained(torch.from_numpy(table), mode="max")(
        torch.from_numpy(BAGS_2D)
    )
    assert_close(bag(BAGS_2D), want.detach().numpy(), "embedding_bag", "from_pretrained")
    assert repr(nn.EmbeddingBag(6, 3, padding_idx=1)) == repr(tnn.EmbeddingBag(6, 3, padding_idx=1))


DISTANCES = [
    ("cos", lambda m: m.CosineSimilarity(), (5, 4), (5, 4)),
    ("cos-dim0-broadcast", lambda m: m.CosineSimilarity(dim=0, eps=1e-6), (4, 1), (4, 3)),
    ("cos-last-broadcast", lambda m: m.CosineSimilarity(dim=-1), (3, 1, 4), (5, 4)),
    ("cos-broadcast-along-dim", lambda m: m.CosineSimilarity(dim=1), (2, 1), (2, 5)),
    ("pdist", lambda m: m.PairwiseDistance(), (5, 4), (5, 4)),
    ("pdist-l1-keepdim", lambda m: m.PairwiseDistance(p=1.0, keepdim=True), (3, 4), (3, 4)),
    ("pdist-inf", lambda m: m.PairwiseDistance(p=float("inf")), (3, 4), (3, 4)),
    ("pdist-p3-broadcast", lambda m: m.PairwiseDistance(p=3.0, eps=1e-3), (3, 1, 4), (5, 4)),
    ("pdist-1d", lambda m: m.PairwiseDistance(), (4,), (4,)),
]


@pytest.mark.parametrize("case", DISTANCES, ids=[c[0] for c in DISTANCES])
def test_distance_layers_match_torch(case):
    _, make, s1, s2 = case
    a, b = r(*s1, seed=1), r(*s2, seed=2)
    out, _, grads, _ = ember_run(make(nn), a, b)
    t_out, _, t_grads, _ = torch_run(make(tnn), a, b)
    assert_close(out, t_out, "distance", "output")
    for g, t_g in zip(grads, t_grads, strict=True):
        assert_close(g, t_g, "distance", "input grad", atol=1e-5)


def test_cosine_similarity_of_zero_vectors_has_finite_gradient():
    a = np.zeros((2, 3), np.float32)
    b = r(2, 3)
    out, _, grads, _ = ember_run(nn.CosineSimilarity(), a, b)
    t_out, _, t_grads, _ = torch_run(tnn.CosineSimilarity(), a, b)
    assert_close(out, t_out, "distance", "output")
    assert np.isfinite(grads[0]).all()
    assert_close(grads[0], t_grads[0], "distance", "grad at zero", rtol=1e-4)


def test_distance_reprs_match_torch():
    assert repr(nn.CosineSimilarity()) == repr(tnn.CosineSimilarity())
    assert repr(nn.PairwiseDistance()) == repr(tnn.PairwiseDistance())


def teardown_module():
    print("\nworst normwise relative error vs torch:", report_worst())
