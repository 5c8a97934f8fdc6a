"""BatchNorm, InstanceNorm, GroupNorm, LocalResponseNorm: parity with PyTorch.

Outputs, parameter and input gradients in train and eval mode, running
statistics after eager calls and after compiled train steps, state_dict keys,
and the errors for bad inputs.
"""

import numpy as np
import pytest
import torch
from norm_parity import (
    assert_close,
    ember_run,
    load_torch_state,
    randomize,
    report_worst,
    torch_run,
)

import ember as em
from ember import nn, optim
from ember.errors import ShapeError

tnn = torch.nn


def r(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# (id, ember factory, torch factory, input shape)
CASES = [
    ("bn1d-2d", lambda m: m.BatchNorm1d(3), (6, 3)),
    ("bn1d-3d", lambda m: m.BatchNorm1d(3), (4, 3, 5)),
    ("bn2d", lambda m: m.BatchNorm2d(3), (2, 3, 4, 5)),
    ("bn3d", lambda m: m.BatchNorm3d(2), (2, 2, 3, 2, 4)),
    ("bn2d-no-affine", lambda m: m.BatchNorm2d(3, affine=False), (2, 3, 4, 4)),
    ("bn2d-no-bias", lambda m: m.BatchNorm2d(3, bias=False), (2, 3, 4, 4)),
    ("bn2d-untracked", lambda m: m.BatchNorm2d(3, track_running_stats=False), (2, 3, 4, 4)),
    ("bn1d-cma", lambda m: m.BatchNorm1d(4, momentum=None, eps=1e-3), (5, 4)),
    ("bn2d-batch1", lambda m: m.BatchNorm2d(2), (1, 2, 3, 3)),
    ("in1d", lambda m: m.InstanceNorm1d(3), (2, 3, 7)),
    ("in1d-unbatched", lambda m: m.InstanceNorm1d(3, affine=True), (3, 7)),
    ("in2d-affine", lambda m: m.InstanceNorm2d(3, affine=True), (2, 3, 4, 5)),
    ("in2d-tracked", lambda m: m.InstanceNorm2d(3, track_running_stats=True), (2, 3, 4, 5)),
    (
        "in2d-tracked-unbatched",
        lambda m: m.InstanceNorm2d(3, affine=True, track_running_stats=True),
        (3, 4, 5),
    ),
    (
        "in3d",
        lambda m: m.InstanceNorm3d(2, affine=True, momentum=0.3, track_running_stats=True),
        (2, 2, 3, 2, 2),
    ),
    ("gn", lambda m: m.GroupNorm(2, 6), (3, 6, 4, 4)),
    ("gn-one-group", lambda m: m.GroupNorm(1, 4, eps=1e-3), (2, 4, 5)),
    ("gn-per-channel", lambda m: m.GroupNorm(4, 4), (2, 4, 3, 3)),
    ("gn-no-affine-2d", lambda m: m.GroupNorm(3, 6, affine=False), (4, 6)),
    ("gn-no-bias", lambda m: m.GroupNorm(2, 4, bias=False), (2, 4, 3)),
    ("lrn-3d", lambda m: m.LocalResponseNorm(2), (2, 5, 6)),
    ("lrn-4d", lambda m: m.LocalResponseNorm(5, alpha=1e-2, beta=0.75, k=2.0), (2, 7, 3, 3)),
    ("lrn-5d", lambda m: m.LocalResponseNorm(3, alpha=0.5, beta=0.5), (1, 4, 2, 3, 2)),
]


def _family(case_id: str) -> str:
    return case_id.split("-")[0].rstrip("123d")


def _pair(make, seed=0):
    theirs = make(tnn)
    randomize(theirs, seed)
    ours = make(nn)
    load_torch_state(ours, theirs)
    return ours, theirs


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_forward_and_gradients_match_torch(case, mode):
    case_id, make, shape = case
    if case_id == "bn2d-batch1" and mode == "train":
        pytest.skip("a batch of one value per channel is an error in train mode (tested below)")
    ours, theirs = _pair(make)
    ours.train(mode == "train")
    theirs.train(mode == "train")
    x = r(*shape, seed=1) * 2.0 + 0.5
    out, grads, (gx,), buffers = ember_run(ours, x)
    t_out, t_grads, (t_gx,), t_buffers = torch_run(theirs, x)
    fam = _family(case_id)
    assert_close(out, t_out, fam, "output")
    # gradients through batch statistics sum many terms: float32 rounding reaches ~1e-6
    # absolute on O(1) values, so atol is 1e-5 here
    assert_close(gx, t_gx, fam, "input grad", atol=1e-5)
    assert set(grads) == set(t_grads)
    for name in grads:
        assert_close(grads[name], t_grads[name], fam, f"grad of {name}", atol=1e-5)
    assert set(buffers) == set(t_buffers)
    for name in buffers:
        assert_close(buffers[name], t_buffers[name], fam, f"buffer {name}")


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_state_dict_keys_and_shapes_match_torch(case):
    _, make, _ = case
    ours, theirs = make(nn), make(tnn)
    want = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert {k: tuple(np.shape(v)) for k, v in ours.state_dict().items()} == want
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for k, v in theirs.state_dict().items():  # default init: ones, zeros, running stats
        got = ours.state_dict()[k]
        np.testing.assert_array_equal(got, v.numpy().astype(got.dtype))


def test_eager_train_calls_update_running_stats_like_torch():
    ours, theirs = _pair(lambda m: m.BatchNorm2d(3, momentum=0.2))
    for step in range(3):
        x = r(4, 3, 2, 2, seed=step) + step
        out = ours(x)
        assert_close(out, theirs(torch.from_numpy(x)).detach().numpy(), "bn", "output")
    for k, v in theirs.state_dict().items():
        assert_close(ours.state_dict()[k], v.numpy(), "bn", k)
    assert ours.state_dict()["num_batches_tracked"] == 6  # 3 loaded + 3 calls


def _compiled_parity(make, feature_shape, steps=4, seed=0):
    """Train steps (lr=0) in ember vs the same number of train-mode forwards in torch."""
    em.manual_seed(seed)
    ours_norm, theirs_norm = make(nn), make(tnn)
    width = int(np.prod(feature_shape))
    ours = nn.Sequential(nn.Linear(width, width), nn.Unflatten(1, feature_shape), ours_norm)
    theirs = tnn.Sequential(tnn.Linear(width, width), tnn.Unflatten(1, feature_shape), theirs_norm)
    load_torch_state(ours, theirs)
    model = em.compile(ours, loss=nn.MSELoss(), optimizer=optim.SGD(ours.parameters(), lr=0.0))
    for step in range(steps):
        x = r(6, width, seed=10 + step) * (1 + step) + step
        y = np.zeros((6, *feature_shape), np.float32)
        model.train_step(x, y)
        theirs.train()(torch.from_numpy(x))
    return ours, theirs


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda m: m.BatchNorm1d(5), (5,)),
        (lambda m: m.BatchNorm1d(4, momentum=None), (4,)),
        (lambda m: m.BatchNorm2d(2, momentum=0.5), (2, 2, 3)),
        (lambda m: m.BatchNorm2d(2, momentum=None, affine=False), (2, 3, 2)),
        (lambda m: m.InstanceNorm1d(3, track_running_stats=True), (3, 4)),
        (
            lambda m: m.InstanceNorm2d(2, affine=True, track_running_stats=True, momentum=None),
            (2, 2, 2),
        ),
    ],
    ids=["bn1d", "bn1d-cma", "bn2d-m0.5", "bn2d-cma-no-affine", "in1d", "in2d-momentum-none"],
)
def test_running_stats_after_compiled_train_steps(make, shape):
    ours, theirs = _compiled_parity(make, shape)
    t_state = theirs.state_dict()
    state = ours.state_dict()
    assert list(state) == list(t_state)
    for k, v in t_state.items():
        assert_close(state[k], v.numpy(), "bn" if "BatchNorm" in str(ours) else "in", k)
    # eval mode now normalizes with the accumulated running statistics
    ours.eval()
    theirs.eval()
    x = r(3, int(np.prod(shape)), seed=99)
    assert_close(ours(x), theirs(torch.from_numpy(x)).detach().numpy(), "bn", "eval output")


def test_untracked_batchnorm_uses_batch_stats_in_eval_and_has_no_buffers():
    ours, theirs = _pair(lambda m: m.BatchNorm1d(3, track_running_stats=False))
    assert list(ours.state_dict()) == ["weight", "bias"]
    ours.eval()
    theirs.eval()
    x = r(5, 3) * 3 + 1
    out = ours(x)
    np.testing.assert_allclose(out.mean(0), ours.bias.numpy(), atol=1e-5)
    assert_close(out, theirs(torch.from_numpy(x)).detach().numpy(), "bn", "output")


def test_eval_graph_has_no_buffer_updates():
    net = nn.BatchNorm2d(3)
    net.eval()
    graph = em.trace(net, em.TensorSpec((2, 3, 4, 4)))
    assert not any(n.op == "buffer_write" for n in graph.nodes)
    assert not any(n.op in ("mean", "var") for n in graph.nodes)


def test_num_batches_tracked_is_int32_and_loads_torch_int64():
    ours, theirs = nn.BatchNorm1d(2), tnn.BatchNorm1d(2)
    assert ours.state_dict()["num_batches_tracked"].dtype == np.int32
    theirs.num_batches_tracked.fill_(7)
    load_torch_state(ours, theirs)
    assert ours.state_dict()["num_batches_tracked"] == 7
    ours(r(3, 2))
    assert ours.state_dict()["num_batches_tracked"] == 8


def test_num_batches_tracked_is_int64_under_x64():
    import jax

    with jax.enable_x64(True):
        bn = nn.BatchNorm1d(2)
        assert bn.state_dict()["num_batches_tracked"].dtype == np.int64
        bn(r(4, 2).astype(np.float64))
        assert bn.state_dict()["num_batches_tracked"] == 1


def test_reset_running_stats_after_compiled_training():
    ours, _ = _compiled_parity(lambda m: m.BatchNorm1d(3), (3,), steps=2)
    norm = ours[2]
    assert norm.state_dict()["num_batches_tracked"] == 2
    norm.reset_running_stats()
    np.testing.assert_array_equal(norm.state_dict()["running_mean"], np.zeros(3))
    np.testing.assert_array_equal(norm.state_dict()["running_var"], np.ones(3))
    assert norm.state_dict()["num_batches_tracked"] == 0


def test_functional_batch_norm_updates_buffers_in_place_like_torch():
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("rm", np.zeros(3, np.float32))
            self.register_buffer("rv", np.ones(3, np.float32))

        def forward(self, x):
            return nn.functional.batch_norm(x, self.rm, self.rv, training=True, momentum=0.3)

    ours = Custom()
    rm, rv = torch.zeros(3), torch.ones(3)
    for step in range(2):
        x = r(4, 3, 2, seed=step) + 1
        out = ours(x)
        want = torch.nn.functional.batch_norm(
            torch.from_numpy(x), rm, rv, training=True, momentum=0.3
        )
        assert_close(out, want.numpy(), "bn", "output")
    assert_close(ours.state_dict()["rm"], rm.numpy(), "bn", "rm")
    assert_close(ours.state_dict()["rv"], rv.numpy(), "bn", "rv")


def test_layer_reprs_match_torch():
    for make in (
        lambda m: m.BatchNorm2d(3, momentum=None),
        lambda m: m.InstanceNorm1d(4),
        lambda m: m.GroupNorm(2, 4),
        lambda m: m.GroupNorm(2, 4, bias=False),
        lambda m: m.LocalResponseNorm(3, k=2.0),
    ):
        assert repr(make(nn)) == repr(make(tnn))


@pytest.mark.parametrize(
    "make, shape, training, match",
    [
        (lambda: nn.BatchNorm2d(3), (2, 3, 4), True, r"BatchNorm2d: expected 4D input \(got 3D"),
        (lambda: nn.BatchNorm1d(3), (2, 4), True, r"num_features=4"),
        (lambda: nn.BatchNorm1d(3), (1, 3), True, r"more than 1 value per channel"),
        (lambda: nn.InstanceNorm1d(3), (3,), True, r"expected 2D or 3D input"),
        (lambda: nn.InstanceNorm2d(3, affine=True), (2, 4, 5, 5), True, r"num_features=4"),
        (lambda: nn.InstanceNorm1d(3), (2, 3, 1), True, r"more than 1 spatial element"),
        (lambda: nn.GroupNorm(2, 4), (2, 5, 3), True, r"num_groups=2 equal groups"),
        (lambda: nn.GroupNorm(2, 4), (2, 6, 3), True, r"num_channels=6"),
        (lambda: nn.LocalResponseNorm(2), (4, 3), True, r"3 or more dims"),
    ],
)
def test_bad_inputs_raise_shape_errors(make, shape, training, match):
    net = make().train(training)
    with pytest.raises(ShapeError, match=match):
        em.trace(net, em.TensorSpec(shape))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="divisible by num_groups"):
        nn.GroupNorm(4, 6)


def test_instance_norm_channel_mismatch_warns_without_affine():
    with pytest.warns(UserWarning, match="num_features"):
        nn.InstanceNorm1d(3)(r(2, 5, 4))


def teardown_module():
    print("\nworst normwise relative error vs torch:", report_worst())
