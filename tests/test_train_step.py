"""One ember train step equals a hand-written value_and_grad + optax step."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from models import EmberMLP, mnist_like

import ember as em
from ember import nn, optim


def test_train_step_equals_handwritten_jax_optax_step():
    em.manual_seed(0)
    net = EmberMLP()
    init = {k: jnp.asarray(v) for k, v in net.state_dict().items()}
    model = em.compile(net, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(lr=0.1, momentum=0.9))
    x, y = mnist_like(32)

    def forward(p, x):
        h = jax.nn.relu(x.reshape(x.shape[0], -1) @ p["fc1.weight"].T + p["fc1.bias"])
        return h @ p["fc2.weight"].T + p["fc2.bias"]

    def loss_fn(p, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(forward(p, x), y).mean()

    tx = optax.sgd(0.1, momentum=0.9)
    params, opt_state = init, tx.init(init)
    for _ in range(3):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        logs = model.train_step(x, y)
        np.testing.assert_allclose(float(logs["loss"]), float(loss), rtol=1e-5)
    for name, value in net.state_dict().items():
        np.testing.assert_allclose(value, params[name], rtol=1e-5, atol=1e-6, err_msg=name)


def test_train_step_is_one_jit_with_donated_state_and_compiles_once():
    em.manual_seed(0)
    net = EmberMLP()
    model = em.compile(
        net, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(lr=0.1), metrics=["accuracy"]
    )
    x, y = mnist_like(16)
    model.train_step(x, y)
    old = net.fc1.weight._data  # the stored array
    model.train_step(x, y)
    assert old.is_deleted()  # the previous params buffer was donated to the step
    assert model.compile_count == 1
    logs = model.train_step(x, y)
    assert set(logs) == {"loss", "accuracy"} and isinstance(float(logs["loss"]), float)


def test_ragged_batch_compiles_once_more_and_is_explained():
    net = EmberMLP()
    model = em.compile(net, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(lr=0.1))
    x, y = mnist_like(100)
    model.fit(x, y, batch_size=32, epochs=3, verbose=0)  # 3 full batches + one of 4, per epoch
    assert model.compile_count == 2
    assert "x changed from f32[32,1,28,28] to f32[4,1,28,28]" in model.compile_log[-1]
