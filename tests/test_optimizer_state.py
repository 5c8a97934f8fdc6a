"""`optimizer.state[p]` and `optimizer.state_dict()["state"]` in PyTorch's per-parameter
layout, against torch.optim: the same keys and names, the same values after the same
steps, a torch state loaded into ember (numpy-converted) resuming exactly like torch,
writes that the next step sees, and the resume idioms of public training scripts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import mlp_pair, regression_batches

import ember as em
from ember import nn, optim

CASES = [
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    ("Adamax", {"lr": 0.01}),
    ("NAdam", {"lr": 0.01}),
    ("RAdam", {"lr": 0.01}),
    ("Adagrad", {"lr": 0.1}),
    ("Adadelta", {"lr": 0.5}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
    ("RMSprop", {"lr": 0.01}),
    ("Adafactor", {"lr": 0.01}),
    ("Rprop", {"lr": 0.01, "etas": (0.4, 1.3), "step_sizes": (1e-4, 0.05), "maximize": True}),
    ("ASGD", {"lr": 0.1, "lambd": 0.1, "t0": 0.0, "weight_decay": 0.01}),
]
IDS = [f"{n}-{'-'.join(k for k in kw if k != 'lr') or 'plain'}" for n, kw in CASES]


def _nets():
    return mlp_pair()


def _batches(n: int):
    return regression_batches(n, seed=1)


def _step_ember(net, opt, x, y):
    opt.zero_grad()
    nn.MSELoss()(net(em.tensor(x)), em.tensor(y)).backward()
    opt.step()


def _step_torch(ref, opt, x, y):
    opt.zero_grad()
    torch.nn.MSELoss()(ref(torch.tensor(x)), torch.tensor(y)).backward()
    opt.step()


def _numpy_state(sd: dict) -> dict:
    return {k: {n: np.asarray(v) for n, v in entry.items()} for k, entry in sd["state"].items()}


@pytest.mark.parametrize("name, kwargs", CASES, ids=IDS)
def test_state_matches_torch_names_and_values(name, kwargs):
    net, ref = _nets()
    opt = getattr(optim, name)(net.parameters(), **kwargs)
    ref_opt = getattr(torch.optim, name)(ref.parameters(), **kwargs)
    assert opt.state_dict()["state"] == {} and len(opt.state) == 0  # before the first step
    for x, y in _batches(3):
        _step_ember(net, opt, x, y)
        _step_torch(ref, ref_opt, x, y)
    mine, theirs = _numpy_state(opt.state_dict()), _numpy_state(ref_opt.state_dict())
    assert sorted(mine) == sorted(theirs)  # the same parameter indices (ints)
    for k in theirs:
        assert sorted(mine[k]) == sorted(theirs[k]), k
        for n, want in theirs[k].items():
            np.testing.assert_allclose(mine[k][n], want, rtol=2e-5, atol=1e-7, err_msg=f"{k}.{n}")
            assert mine[k][n].shape == want.shape and mine[k][n].dtype == want.dtype
    # the live view keyed by parameter, as `optimizer.state[p]`
    params, ref_params = list(net.parameters()), list(ref.parameters())
    assert len(opt.state) == len(ref_opt.state)
    for p, q in zip(params, ref_params, strict=True):
        assert (p in opt.state) == (q in ref_opt.state)
        if q in ref_opt.state:  # the same names (torch's insertion order is not kept)
            assert sorted(opt.state[p]) == sorted(ref_opt.state[q])
        for n, v in ref_opt.state[q].items():
            np.testing.assert_allclose(np.asarray(opt.state[p][n]), v.numpy(), rtol=2e-5, atol=1e-7)


@pytest.mark.parametrize("name, kwargs", CASES, ids=IDS)
def test_a_torch_state_loads_and_training_resumes_like_torch(name, kwargs):
    """A torch checkpoint's optimizer state (tensors converted to numpy, as a conversion
    script would) loads into ember, and two more steps land where torch's do."""
    batches = _batches(5)
    _, ref = _nets()
    ref_opt = getattr(torch.optim, name)(ref.parameters(), **kwargs)
    for x, y in batches[:3]:
        _step_torch(ref, ref_opt, x, y)
    sd = ref_opt.state_dict()
    converted = {
        "state": {k: {n: v.numpy() for n, v in entry.items()} for k, entry in sd["state"].items()},
        "param_groups": sd["param_groups"],
    }
    net, _ = _nets()
    net.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    opt = getattr(optim, name)(net.parameters(), **kwargs)
    opt.load_state_dict(converted)
    for x, y in batches[3:]:
        _step_ember(net, opt, x, y)
        _step_torch(ref, ref_opt, x, y)
    for k, v in ref.state_dict().items():
        np.testing.assert_allclose(
            np.asarray(net.state_dict()[k]), v.numpy(), rtol=2e-5, atol=1e-6, err_msg=k
        )


@pytest.mark.parametrize("runner", ["loop", "compiled", "scanned"])
def test_a_write_is_what_the_next_step_reads(runner):
    """`opt.state[p][k] = v` (reset a moment, as some schedules do) reaches the next update
    of every runner, stacked storage included: the update after zeroing the first moment
    and setting the second is Adam's formula from those values. (Resume idioms are in
    test_serialization.py.)"""
    em.manual_seed(0)
    net = nn.Sequential(*[nn.Sequential(nn.Linear(4, 4), nn.Tanh()) for _ in range(3)])
    opt = optim.Adam(net.parameters(), lr=0.05)
    rng = np.random.default_rng(0)
    batches = [
        (
            rng.standard_normal((8, 4)).astype(np.float32),
            rng.standard_normal((8, 4)).astype(np.float32),
        )
        for _ in range(2)
    ]
    if runner == "loop":

        def step(x, y):
            opt.zero_grad()
            nn.MSELoss()(net(em.tensor(x)), em.tensor(y)).backward()
            opt.step()

    else:
        model = em.compile(net, loss=nn.MSELoss(), optimizer=opt, scan_layers=runner == "scanned")
        step = model.train_step
    step(*batches[0])
    w = net[1][0].weight
    before = np.asarray(w).copy()
    opt.state[w]["exp_avg"] = em.zeros(4, 4)
    opt.state[w]["exp_avg_sq"] = np.full((4, 4), 1e-2, np.float32)
    np.testing.assert_array_equal(np.asarray(opt.state[w]["exp_avg"]), 0.0)
    step(*batches[1])
    m = np.asarray(opt.state[w]["exp_avg"])
    v = np.asarray(opt.state[w]["exp_avg_sq"])
    g = m / 0.1  # this step's gradient, recovered from the new first moment (from zero)
    np.testing.assert_allclose(v, 0.999 * 1e-2 + 0.001 * g * g, rtol=1e-5)
    bc1, bc2 = 1 - 0.9**2, 1 - 0.999**2
    expected = before - 0.05 / bc1 * m / (np.sqrt(v) / np.sqrt(bc2) + 1e-8)
    np.testing.assert_allclose(np.asarray(w), expected, rtol=1e-5, atol=1e-7)


def test_bad_writes_and_loads_say_what_fits():
    net, _ = _nets()
    opt = optim.Adam(net.parameters())
    _step_ember(net, opt, *_batches(1)[0])
    w = net[0].weight
    with pytest.raises(KeyError, match="keeps \\['step', 'exp_avg', 'exp_avg_sq'\\]"):
        opt.state[w]["momentum_buffer"] = em.zeros(7, 5)
    with pytest.raises(em.ShapeError, match=r"got shape \(5, 7\), the state has \(7, 5\)"):
        opt.state[w]["exp_avg"] = np.zeros((5, 7), np.float32)
    with pytest.raises(KeyError, match="not one of its parameters"):
        opt.state[em.zeros(3)]  # noqa: B018
    sgd_state = {"state": {0: {"momentum_buffer": np.zeros((7, 5), np.float32)}}}
    sgd_state["param_groups"] = opt.state_dict()["param_groups"]
    with pytest.raises(em.ShapeError, match="has 'momentum_buffer'; this optimizer keeps"):
        optim.Adam(net.parameters()).load_state_dict(sgd_state)


def test_states_saved_in_the_earlier_flat_layout_still_load():
    """ember's earlier `state_dict` kept the optax state's arrays keyed "0", "1", ...;
    checkpoints written that way resume unchanged."""
    import jax

    net, _ = _nets()
    opt = optim.Adam(net.parameters(), lr=0.01)
    for x, y in _batches(2):
        _step_ember(net, opt, x, y)
    leaves = jax.tree_util.tree_leaves(opt.opt_state)
    flat = {"state": {str(i): np.asarray(v) for i, v in enumerate(leaves)}}
    flat["param_groups"] = opt.state_dict()["param_groups"]
    fresh = optim.Adam(net.parameters(), lr=0.01)
    fresh.load_state_dict(flat)
    mine, want = _numpy_state(fresh.state_dict()), _numpy_state(opt.state_dict())
    assert sorted(mine) == sorted(want)
    for k in want:
        for n in want[k]:
            np.testing.assert_array_equal(mine[k][n], want[k][n])


def test_views_write_through_and_unbound_optimizers_and_old_torch_states():
    """In-place ops on `opt.state[p][k]` reach the state (torch's tensors are the state);
    an optimizer looked at before `em.compile` binds it still trains; torch <= 2.1's
    `{"momentum_buffer": None}` loads; partial torch states say what ember assumes."""
    net, _ = _nets()
    opt = optim.Adam(net.parameters())
    _step_ember(net, opt, *_batches(1)[0])
    w = net[0].weight
    opt.state[w]["exp_avg"].zero_()
    opt.state[w]["exp_avg_sq"].mul_(2.0)
    np.testing.assert_array_equal(np.asarray(opt.state[w]["exp_avg"]), 0.0)

    unbound = optim.Adam(lr=1e-2)
    assert len(unbound.state) == 0 and unbound.state_dict()["state"] == {}
    model = em.compile(net, loss=nn.MSELoss(), optimizer=unbound)
    model.train_step(*_batches(1)[0])
    assert float(unbound.state[w]["step"]) == 1.0

    groups = optim.SGD(net.parameters(), lr=0.1).state_dict()["param_groups"]
    old = {"state": {i: {"momentum_buffer": None} for i in range(4)}, "param_groups": groups}
    plain = optim.SGD(net.parameters(), lr=0.1)
    plain.load_state_dict(old)
    assert plain.state_dict()["state"] == {}

    ref_net = torch.nn.Linear(5, 7)
    ref_opt = torch.optim.Adam(ref_net.parameters())
    ref_net.bias.requires_grad_(False)  # frozen at save time: torch keeps no state for it
    ref_net(torch.ones(2, 5)).sum().backward()
    ref_opt.step()
    sd = ref_opt.state_dict()
    sd = {
        "state": {k: {n: v.numpy() for n, v in e.items()} for k, e in sd["state"].items()},
        "param_groups": sd["param_groups"],
    }
    mine = optim.Adam(nn.Linear(5, 7).parameters())
    with pytest.warns(UserWarning, match=r"parameters \[1\] have no saved state.*resume at step 1"):
        mine.load_state_dict(sd)


@pytest.mark.parametrize("runner", ["loop", "compiled"])
def test_frozen_parameters_are_not_stepped_and_have_no_state_like_torch(runner):
    """A `requires_grad=False` parameter (a frozen backbone) is not stepped: weight decay
    does not fill its momentum, so after unfreezing it trains like torch's; and it has no
    entry in `optimizer.state` / `state_dict()["state"]` until it steps, as in torch."""
    net, ref = _nets()
    opt = optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    topt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    step = _step_ember
    if runner == "compiled":
        model = em.compile(net, loss=nn.MSELoss(), optimizer=opt)

        def step(net, opt, x, y):
            model.train_step(x, y)

    batches = _batches(5)
    for k, (x, y) in enumerate(batches):
        frozen = k < 2  # the first layer frozen for two steps, then trained
        net[0].weight.requires_grad_(not frozen)
        ref[0].weight.requires_grad_(not frozen)
        step(net, opt, x, y)
        _step_torch(ref, topt, x, y)
        if k == 1:
            assert net[0].weight not in opt.state
            assert sorted(opt.state_dict()["state"]) == sorted(topt.state_dict()["state"])
            assert sorted(opt.state_dict()["state"]) == [1, 2, 3]
    for k, v in ref.state_dict().items():
        np.testing.assert_allclose(
            np.asarray(net.state_dict()[k]), v.numpy(), rtol=2e-5, atol=1e-6, err_msg=k
        )
    assert sorted(opt.state_dict()["state"]) == [0, 1, 2, 3]
