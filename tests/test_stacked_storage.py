"""Stacked storage (`scan_layers=True`): a scanned run's parameters and optimizer state
are kept as one array per name, with per-layer torch names as views.

Referee: the same scanned model with per-layer storage (the same optimizer class made
non-stackable), which test_scan_layers.py checks against the unrolled model and
PyTorch. Every path that reads or writes state is exercised: eager reads, writes
(`p.data = x`, `load_state_dict`), the literal `loss.backward(); optimizer.step()`
loop, a second compiled model over the same module, the guard, checkpoints."""

from __future__ import annotations

import jax
import numpy as np
import port_models as pm
import pytest

import ember as em
from ember import nn, optim
from ember.nn.parameter_stack import StackMember
from ember.runtime.program import CallSignature

WIDTH = 8


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(WIDTH, WIDTH)

    def forward(self, x):
        return em.tanh(self.fc(x))


class Net(nn.Module):
    def __init__(self, depth: int = 4):
        super().__init__()
        self.blocks = nn.ModuleList([Block() for _ in range(depth)])
        self.head = nn.Linear(WIDTH, 1)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def per_layer(cls):
    """The same optimizer, keeping its state per parameter (the referee)."""
    return type(f"PerLayer{cls.__name__}", (cls,), {"stackable": False})


def _model(opt_cls=optim.AdamW, depth: int = 4, scan: bool = True, seed: int = 0, **options):
    em.manual_seed(seed)
    net = Net(depth)
    lr = options.pop("lr", 1e-2)
    opt_options = options.pop("opt_options", {})
    opt = opt_cls(net.parameters(), lr=lr, **opt_options)
    model = em.compile(net, loss=nn.MSELoss(), optimizer=opt, scan_layers=scan, **options)
    return net, opt, model


def _batches(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [
        (
            rng.standard_normal((5, WIDTH)).astype(np.float32),
            rng.standard_normal((5, 1)).astype(np.float32),
        )
        for _ in range(n)
    ]


def _assert_same_state(net_a, opt_a, net_b, opt_b, rtol=1e-6, atol=1e-7):
    sa, sb = net_a.state_dict(), net_b.state_dict()
    assert list(sa) == list(sb)
    for name in sa:
        np.testing.assert_allclose(
            np.asarray(sa[name]), np.asarray(sb[name]), rtol=rtol, atol=atol, err_msg=name
        )
    # the optimizer state in per-parameter form (a stacked state is converted on read)
    oa, ob = jax.tree_util.tree_leaves(opt_a.opt_state), jax.tree_util.tree_leaves(opt_b.opt_state)
    assert len(oa) == len(ob)
    for k, (a, b) in enumerate(zip(oa, ob, strict=True)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol, err_msg=k)


def test_scanned_layers_are_stored_stacked_and_read_per_layer():
    net, opt, model = _model()
    for x, y in _batches(3):
        model.train_step(x, y)
    assert model.storage is not None and len(model.storage.units) == 2  # fc.weight, fc.bias
    members = [b.fc.weight._data for b in net.blocks]
    assert all(type(m) is StackMember for m in members)
    stack = members[0].stack
    assert all(m.stack is stack for m in members) and stack.array.shape == (4, WIDTH, WIDTH)
    for k, block in enumerate(net.blocks):  # an eager read is the layer's slice
        np.testing.assert_array_equal(np.asarray(block.fc.weight), np.asarray(stack.array[k]))
    assert type(net.head.weight._data) is not StackMember  # not scanned: its own array


@pytest.mark.parametrize(
    "opt_cls, opt_options",
    [
        (optim.AdamW, {}),
        (optim.Adam, {"amsgrad": True, "weight_decay": 0.1}),
        (optim.SGD, {"momentum": 0.9, "nesterov": True}),
        (optim.RMSprop, {"centered": True, "momentum": 0.5}),
        (optim.Adagrad, {}),
        (optim.Adadelta, {}),
        (optim.Adamax, {}),
        (optim.RAdam, {}),
        (optim.NAdam, {}),  # a scalar per parameter: the rule is vmapped over the stack
        (optim.Adafactor, {}),  # factored moments and per-parameter norms: vmapped
        (optim.Rprop, {}),
        (optim.ASGD, {"t0": 1.0, "lambd": 0.1}),  # scalar eta/mu per parameter, averaging on
    ],
    ids=lambda v: getattr(v, "__name__", "") or ",".join(v) or "defaults",
)
def test_stacked_updates_match_per_layer_storage(opt_cls, opt_options):
    runs = []
    for cls in (opt_cls, per_layer(opt_cls)):
        net, opt, model = _model(cls, opt_options=dict(opt_options))
        losses = [float(model.train_step(x, y)["loss"]) for x, y in _batches(4)]
        runs.append((net, opt, model, losses))
    (net_a, opt_a, model_a, la), (net_b, opt_b, model_b, lb) = runs
    assert model_a.storage is not None and model_b.storage is None
    np.testing.assert_allclose(la, lb, rtol=1e-6)
    _assert_same_state(net_a, opt_a, net_b, opt_b)


def test_an_optax_transform_keeps_per_layer_storage():
    _, _, model = _model(optim.LAMB)
    model.train_step(*_batches(1)[0])
    assert model.storage is None


def _sequence(opt_cls, actions):
    """Run `actions` (callables of net, opt, model, batch) over one model; return it."""
    net, opt, model = _model(opt_cls)
    for action, batch in zip(actions, _batches(len(actions)), strict=True):
        action(net, opt, model, batch)
    return net, opt


def _compiled(net, opt, model, batch):
    model.train_step(*batch)


def _literal(net, opt, model, batch):
    x, y = batch
    opt.zero_grad()
    loss = nn.MSELoss()(net(em.tensor(x)), em.tensor(y))
    loss.backward()
    opt.step()


def _write_layer(net, opt, model, batch):
    net.blocks[2].fc.weight.data = np.full((WIDTH, WIDTH), 0.05, np.float32)
    model.train_step(*batch)


def _load_state(net, opt, model, batch):
    state = {k: np.asarray(v) * 0.5 for k, v in net.state_dict().items()}
    net.load_state_dict(state)
    model.train_step(*batch)


def _freeze_layer(net, opt, model, batch):
    net.blocks[1].fc.weight.requires_grad_(False)  # its stack is split up; the others stay
    model.train_step(*batch)


def _evaluate(net, opt, model, batch):
    model.eval_step(*batch)
    model.train_step(*batch)


@pytest.mark.parametrize(
    "actions",
    [
        [_compiled, _literal, _compiled, _literal, _compiled],
        [_compiled, _write_layer, _compiled],
        [_compiled, _load_state, _compiled],
        [_compiled, _freeze_layer, _compiled],
        [_evaluate, _compiled, _evaluate],
    ],
    ids=["literal-loop", "write-a-layer", "load-state-dict", "freeze-a-layer", "eval-first"],
)
def test_every_runner_sees_one_state(actions):
    net_a, opt_a = _sequence(optim.AdamW, actions)
    net_b, opt_b = _sequence(per_layer(optim.AdamW), actions)
    _assert_same_state(net_a, opt_a, net_b, opt_b, rtol=2e-5, atol=2e-6)


def test_a_write_dissolves_the_stack_and_the_next_step_restacks():
    net, opt, model = _model()
    (x, y), batch = _batches(2)
    model.train_step(x, y)
    old = net.blocks[0].fc.weight._data.stack
    net.blocks[1].fc.weight.data = np.zeros((WIDTH, WIDTH), np.float32)
    assert not old.alive
    assert all(type(b.fc.weight._data) is not StackMember for b in net.blocks)
    np.testing.assert_array_equal(np.asarray(net.blocks[1].fc.weight), 0)
    before = np.asarray(net.blocks[3].fc.weight)  # kept through the dissolution
    model.train_step(*batch)
    new = net.blocks[0].fc.weight._data.stack
    assert new is not old and new.alive
    assert not np.allclose(np.asarray(net.blocks[3].fc.weight), before)  # trained on


def _surgery(net, kind: str) -> None:
    em.manual_seed(5)  # the same new block in both runs
    if kind == "append":
        net.blocks.append(Block())
    elif kind == "replace":
        net.blocks[1] = Block()
    else:
        del net.blocks[0]


@pytest.mark.parametrize("kind", ["append", "replace", "delete"])
def test_a_changed_module_tree_re_indexes_the_stored_layout(kind):
    """Eval and predict right after a block is added, replaced or removed (the stored
    layout's positions moved) give the referee's values; training goes on after an
    append, and both raise the same clear error when the optimizer holds removed blocks."""
    batches, (xe, ye) = _batches(3), _batches(1, seed=1)[0]
    runs = []
    for cls in (optim.AdamW, per_layer(optim.AdamW)):
        net, opt, model = _model(cls)
        for x, y in batches[:2]:
            model.train_step(x, y)
        _surgery(net, kind)
        out = [np.asarray(model.predict(xe)), float(model.eval_step(xe, ye)["loss"])]
        if kind == "append":
            out.append(float(model.train_step(*batches[2])["loss"]))
        else:
            with pytest.raises(em.TraceError, match="not in the compiled module"):
                model.train_step(*batches[2])
        runs.append((net, opt, out))
    (net_a, opt_a, a), (net_b, opt_b, b) = runs
    np.testing.assert_allclose(a[0], b[0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(a[1:], b[1:], rtol=1e-6)
    if kind == "append":
        _assert_same_state(net_a, opt_a, net_b, opt_b)


def test_a_user_gradient_transform_sees_one_gradient_per_parameter():
    import jax.numpy as jnp

    seen, runs = [], []

    def clip_each(grads):  # a per-parameter rule: the grouping matters
        seen.append([tuple(g.shape) for g in grads])
        return [g * jnp.minimum(1.0, 0.05 / (jnp.sqrt(jnp.sum(g * g)) + 1e-6)) for g in grads]

    for cls in (optim.AdamW, per_layer(optim.AdamW)):
        net, opt, model = _model(cls, grad_transform=clip_each, clip_grad_norm=1.0)
        for x, y in _batches(3):
            model.train_step(x, y)
        assert model.storage is not None or cls is not optim.AdamW
        runs.append((net, opt))
    assert seen[0] == seen[-1] and (WIDTH, WIDTH) in seen[0] and len(seen[0]) == 10
    _assert_same_state(*runs[0], *runs[1])


def test_several_steps_per_call_follow_freezing_and_unfreezing():
    """`train_steps` (fit's steps_per_execution) keys its program after the layout is
    chosen: freezing a block and unfreezing it again trains like the referee."""
    runs = []
    for cls in (optim.AdamW, per_layer(optim.AdamW)):
        net, opt, model = _model(cls)
        batches = [(x, y, None) for x, y in _batches(12)]
        losses = []
        for k in range(4):
            if k in (2, 3):
                for p in net.blocks[1].parameters():
                    p.requires_grad = k == 3
            losses.append(float(model.train_steps(batches[3 * k : 3 * k + 3])["loss"]))
        runs.append((net, opt, losses))
    np.testing.assert_allclose(runs[0][2], runs[1][2], rtol=1e-6)
    _assert_same_state(*runs[0][:2], *runs[1][:2])


def test_two_compiled_models_over_one_module_share_state():
    batches = _batches(4)
    em.manual_seed(0)
    net = Net()
    opt = optim.AdamW(net.parameters(), lr=1e-2)
    scanned = em.compile(net, loss=nn.MSELoss(), optimizer=opt, scan_layers=True)
    unrolled = em.compile(net, loss=nn.MSELoss(), optimizer=opt)
    for k, (x, y) in enumerate(batches):
        (scanned if k % 2 == 0 else unrolled).train_step(x, y)
    ref_net, ref_opt, ref = _model(per_layer(optim.AdamW))
    for x, y in batches:
        ref.train_step(x, y)
    _assert_same_state(net, opt, ref_net, ref_opt, rtol=2e-5, atol=2e-6)


def test_a_skipped_step_keeps_stacks_and_optimizer_state_bit_for_bit():
    net, opt, model = _model(guard="skip")
    (x, y), _ = _batches(2)
    model.train_step(x, y)
    stack = net.blocks[0].fc.weight._data.stack
    weights = np.array(stack.array)
    slots = [np.array(s) for s in jax.tree_util.tree_leaves(opt.state_for(model._opt_entries[0]))]
    bad = x.copy()
    bad[0, 0] = np.nan
    model.train_step(bad, y)
    np.testing.assert_array_equal(np.asarray(stack.array), weights)
    after = [np.array(s) for s in jax.tree_util.tree_leaves(opt.state_for(model._opt_entries[0]))]
    for a, b in zip(slots, after, strict=True):
        np.testing.assert_array_equal(a, b)


def test_accumulated_gradients_and_eval_use_the_stored_form():
    runs = []
    for cls in (optim.AdamW, per_layer(optim.AdamW)):
        net, opt, model = _model(cls, accumulate_steps=2)
        for x, y in _batches(4):
            model.train_step(x, y)
        runs.append((net, opt, model.eval_step(*_batches(1, seed=1)[0])["loss"]))
    (net_a, opt_a, ea), (net_b, opt_b, eb) = runs
    np.testing.assert_allclose(float(ea), float(eb), rtol=1e-6)
    _assert_same_state(net_a, opt_a, net_b, opt_b)


@pytest.mark.parametrize("accumulate", [1, 2])
def test_checkpoint_round_trip_keeps_training_identical(tmp_path, accumulate):
    batches = _batches(6)
    net, opt, model = _model(accumulate_steps=accumulate)
    for x, y in batches[:3]:  # odd: a half-accumulated gradient is in the checkpoint
        model.train_step(x, y)
    model.save_checkpoint(tmp_path / "ckpt")
    net2, opt2, model2 = _model(seed=1, accumulate_steps=accumulate)
    model2.restore_checkpoint(tmp_path / "ckpt")
    for m in (model, model2):
        for x, y in batches[3:]:
            m.train_step(x, y)
    _assert_same_state(net, opt, net2, opt2, rtol=0, atol=0)


def _update_kernels(depth: int, opt_cls) -> int:
    _, _, model = _model(opt_cls, depth=depth)
    x, y = _batches(1)[0]
    model.train_step(x, y)
    (step,) = [s for k, (s, _) in model.programs.programs.items() if k[0] == "train"]
    _, arrays = CallSignature.of(model._tree("train", x, y))
    text = step.lower(*model._step_args(arrays)).compile().as_text()
    return text.count(" fusion(")


def test_the_compiled_step_does_not_grow_with_depth():
    # compile time follows the number of kernels XLA emits: with stacked storage the
    # update is one kernel per stacked name whatever the depth
    assert _update_kernels(3, optim.AdamW) == _update_kernels(9, optim.AdamW)
    assert _update_kernels(9, per_layer(optim.AdamW)) > _update_kernels(3, per_layer(optim.AdamW))


def test_gpt_blocks_are_stored_stacked():
    cfg = pm.GPTConfig(block_size=8, vocab_size=32, n_layer=3, n_head=2, n_embd=16)
    em.manual_seed(0)
    net = pm.define_gpt(em, em.nn, em.nn.functional)(cfg)
    model = em.compile(
        net, loss=None, output=1, optimizer=optim.AdamW(net.parameters()), scan_layers=True
    )
    idx = np.random.default_rng(0).integers(0, 32, (2, 9)).astype(np.int32)
    model.train_step(idx[:, :-1], idx[:, 1:])
    stacked = {n for n, p in net.named_parameters() if type(p._data) is StackMember}
    assert len(stacked) == 12 * 3  # every parameter of the three blocks
    assert all(n.startswith("transformer.h.") for n in stacked)
