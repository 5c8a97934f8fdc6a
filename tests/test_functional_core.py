"""The functional core and the one state model (issue: functional core, one state model).

Each runner (compiled steps, `net(x)`, `em.functionalize`, `em.func.functional_call`)
reads and writes the module's own state; the pure function composes with JAX.
"""

import copy

import jax
import numpy as np
import optax
import pytest
import torch
from models import EmberMLP, mnist_like, torch_mlp

import ember as em
from ember import nn, optim


class BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 4)
        self.bn = nn.BatchNorm1d(4)
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        return self.head(em.relu(self.bn(self.fc(x))))


def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 6)).astype("float32"), rng.integers(0, 3, n).astype("int32")


# -- the reproduced bugs ----------------------------------------------------------------


def test_compiling_a_module_twice_does_not_rebind_its_parameters():
    em.manual_seed(0)
    net = BNNet()
    first = em.compile(net, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(lr=0.5))
    second = em.compile(net, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(lr=0.5))
    x, y = _data()
    before = net.fc.weight.numpy()
    first.train_step(x, y)
    after_first = net.fc.weight.numpy()
    assert not np.allclose(after_first, before), "the module shows the trained values"
    second.train_step(x, y)  # continues from the first model's values, on the same state
    after_second = net.fc.weight.numpy()
    assert not np.allclose(after_second, after_first)
    # the same two steps on a fresh copy of the start state give the same values
    em.manual_seed(0)
    ref = BNNet()
    model = em.compile(ref, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(lr=0.5))
    model.train_step(x, y)
    model.train_step(x, y)
    np.testing.assert_allclose(ref.fc.weight.numpy(), after_second, rtol=1e-6)


def test_plain_training_attribute_assignment_is_noticed_by_the_cached_step():
    net = BNNet()
    model = em.compile(net, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(lr=0.1))
    x, y = _data()
    model.train_step(x, y)
    stats = np.array(net.bn.running_mean)
    net.bn.training = False  # PyTorch code does this; it must freeze the statistics
    model.train_step(x, y)
    np.testing.assert_array_equal(np.array(net.bn.running_mean), stats)
    net.bn.training = True
    model.train_step(x, y)
    assert not np.array_equal(np.array(net.bn.running_mean), stats)
    assert "bn.training changed from True to False" in model.compile_log[1]


def test_grad_of_jit_through_scatter_reduce_prod():
    x = np.random.default_rng(0).random(5).astype("float32") + 0.5
    src = np.random.default_rng(1).random(4).astype("float32") + 0.5
    idx = np.array([0, 1, 1, 3], "int32")

    class Scatter(nn.Module):
        def forward(self, a, i, s):
            return em.scatter_reduce(a, 0, i, s, reduce="prod").sum()

    apply, state = em.functionalize(Scatter())

    def f(a, i, s):
        return apply(state, a, i, s)[0]

    got = jax.grad(jax.jit(f), argnums=(0, 2))(x, idx, src)
    ta, ts = torch.tensor(x, requires_grad=True), torch.tensor(src, requires_grad=True)
    ta.scatter_reduce(0, torch.tensor(idx, dtype=torch.int64), ts, reduce="prod").sum().backward()
    np.testing.assert_allclose(got[0], ta.grad.numpy(), rtol=1e-5)
    np.testing.assert_allclose(got[1], ts.grad.numpy(), rtol=1e-5)


# -- one state for every runner -------------------------------------------------------------


def test_two_compiled_models_over_shared_modules_see_each_others_updates():
    shared = nn.Linear(6, 4)
    a = nn.Sequential(shared, nn.ReLU(), nn.Linear(4, 3))
    b = nn.Sequential(shared, nn.Tanh(), nn.Linear(4, 3))
    ma = em.compile(a, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(a.parameters(), lr=0.5))
    mb = em.compile(b, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(b.parameters(), lr=0.5))
    x, y = _data()
    ma.train_step(x, y)
    w_after_a = shared.weight.numpy()
    mb.train_step(x, y)
    # b's step started from a's update: redo it by hand on a copy
    ref = copy.deepcopy(b)
    ref[0].weight.data = w_after_a
    np.testing.assert_allclose(np.asarray(ref[0].weight.data), w_after_a)
    assert not np.allclose(shared.weight.numpy(), w_after_a)
    np.testing.assert_allclose(np.asarray(a(x)), np.asarray(ma.predict(x)), rtol=1e-5, atol=1e-6)


def test_eager_calls_compiled_steps_and_user_writes_share_one_state():
    net = BNNet()
    model = em.compile(net, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(lr=0.1))
    x, y = _data()
    net.eval()
    before = net(x)
    net.train()
    model.train_step(x, y)
    net.eval()
    after = net(x)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, model.predict(x), rtol=1e-5, atol=1e-6)
    # a user write is seen by the next compiled step and eager call
    net.fc.weight.data = np.zeros((4, 6), "float32")
    net.fc.bias.data = np.zeros(4, "float32")
    np.testing.assert_allclose(net(x), model.predict(x), rtol=1e-6)
    net.load_state_dict(net.state_dict())
    model.train_step(x, y)


def test_requires_grad_and_eval_changes_retrace_and_are_honoured():
    net = BNNet()
    model = em.compile(net, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(lr=0.1))
    x, y = _data()
    model.train_step(x, y)
    net.fc.requires_grad_(False)
    frozen = net.fc.weight.numpy()
    model.train_step(x, y)
    np.testing.assert_array_equal(net.fc.weight.numpy(), frozen)
    assert "fc.weight.requires_grad changed from True to False" in model.compile_log[-1]
    assert model.compile_count == 2
    model.train_step(x, y)
    assert model.compile_count == 2  # no retrace without a change


def test_deepcopy_gives_independent_state():
    net = BNNet()
    twin = copy.deepcopy(net)
    model = em.compile(net, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(lr=0.5))
    x, y = _data()
    model.train_step(x, y)
    assert not np.allclose(net.fc.weight.numpy(), twin.fc.weight.numpy())
    twin(x)  # the copy runs with its own (untrained) state


# -- the functional core --------------------------------------------------------------------


def _ce(logits, y):
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def test_functionalize_under_jit_grad_plus_optax_equals_compiled_train_step():
    em.manual_seed(3)
    net = BNNet()
    twin = copy.deepcopy(net)
    apply, state = em.functionalize(net)
    assert set(state["params"]) == {n for n, _ in net.named_parameters()}
    assert set(state["buffers"]) == {"bn.running_mean", "bn.running_var", "bn.num_batches_tracked"}
    tx = optax.sgd(0.1, momentum=0.9)
    opt_state = tx.init(state["params"])

    @jax.jit
    def step(params, buffers, opt_state, x, y):
        def loss_fn(p):
            logits, new_buffers = apply({"params": p, "buffers": buffers}, x)
            return _ce(logits, y), new_buffers

        (loss, new_buffers), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), new_buffers, opt_state, loss

    model = em.compile(
        twin,
        loss=nn.CrossEntropyLoss(),
        optimizer=optim.SGD(twin.parameters(), lr=0.1, momentum=0.9),
    )
    params, buffers = state["params"], state["buffers"]
    for seed in range(3):
        x, y = _data(seed=seed)
        params, buffers, opt_state, loss = step(params, buffers, opt_state, x, y)
        logs = model.train_step(x, y)
        np.testing.assert_allclose(float(loss), float(logs["loss"]), rtol=1e-5)
    for name, p in twin.named_parameters():
        np.testing.assert_allclose(np.asarray(params[name]), p.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(buffers["bn.running_var"]), np.asarray(twin.bn.running_var), rtol=1e-5
    )
    # the module itself was not touched by the pure function; update() writes it back
    apply.update({"params": params, "buffers": buffers})
    np.testing.assert_allclose(net.fc.weight.numpy(), twin.fc.weight.numpy(), rtol=1e-5, atol=1e-6)


def test_vmap_per_example_gradients_of_the_seed_mlp_equal_a_loop():
    em.manual_seed(0)
    net = EmberMLP()
    apply, state = em.functionalize(net)
    x, y = mnist_like(6)
    y = y.astype("int32")

    def loss_one(params, xi, yi):
        logits, _ = apply({"params": params, "buffers": {}}, xi[None])
        return _ce(logits, yi[None])

    per_example = jax.jit(jax.vmap(jax.grad(loss_one), in_axes=(None, 0, 0)))(state["params"], x, y)
    for i in range(len(x)):
        one = jax.grad(loss_one)(state["params"], x[i], y[i])
        for name in one:
            np.testing.assert_allclose(per_example[name][i], one[name], rtol=1e-4, atol=1e-6)
    # and the batch gradient is their mean
    batch = jax.grad(lambda p: _ce(apply({"params": p, "buffers": {}}, x)[0], y))(state["params"])
    np.testing.assert_allclose(
        per_example["fc1.weight"].mean(0), batch["fc1.weight"], rtol=1e-4, atol=1e-6
    )


def test_functional_call_matches_torch_func():
    em.manual_seed(0)
    net = EmberMLP()
    tnet = torch_mlp()
    tnet.load_state_dict({k: torch.tensor(v.numpy()) for k, v in net.state_dict().items()})
    x, _ = mnist_like(4)
    w = np.random.default_rng(5).standard_normal((10, 128)).astype("float32")
    got = em.func.functional_call(net, {"fc2.weight": w}, (x,))
    want = torch.func.functional_call(tnet, {"fc2.weight": torch.tensor(w)}, (torch.tensor(x),))
    np.testing.assert_allclose(np.asarray(got), want.detach().numpy(), rtol=1e-5, atol=1e-5)
    # inside jax.jit, as a pure function of the replaced parameter
    jitted = jax.jit(lambda w2: em.func.functional_call(net, {"fc2.weight": w2}, x))
    np.testing.assert_allclose(np.asarray(jitted(w)), want.detach().numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(em.StateDictError, match="unexpected key"):
        em.func.functional_call(net, {"fc3.weight": w}, (x,))
    with pytest.raises(em.StateDictError, match="missing key"):
        em.func.functional_call(net, {"fc2.weight": w}, (x,), strict=True)


def test_functionalize_dropout_needs_an_rng_and_is_reproducible():
    net = nn.Sequential(nn.Linear(6, 6), nn.Dropout(0.5))
    apply, state = em.functionalize(net)
    x, _ = _data()
    with pytest.raises(em.TraceError, match="rng=jax.random.key"):
        apply(state, x)
    a, _ = apply(state, x, rng=jax.random.key(1))
    b, _ = apply(state, x, rng=jax.random.key(1))
    c, _ = apply(state, x, rng=jax.random.key(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    evald, _ = apply(state, x, training=False)
    np.testing.assert_allclose(evald, net.eval()(x).numpy(), rtol=1e-6)
