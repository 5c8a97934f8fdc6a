"""Every activation module in ember.nn vs torch.nn: outputs and gradients, default and other args.

Gradients are taken through ember's compiler (trace -> passes -> lower ->
jax.grad) with respect to the input and, for PReLU, the weight. float32,
rtol 1e-5 / atol 1e-6 unless a case documents otherwise.
"""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from ember import nn
from ember.compiler import lower, run_passes
from ember.frontend.trace import trace_function
from ember.nn.modules import activation as activation_layers

rng = np.random.default_rng(0)
X = (rng.standard_normal((4, 6, 8)) * 2).astype(np.float32)  # even dims for GLU
X3 = (rng.standard_normal((4, 3, 5)) * 2).astype(np.float32)  # 3 channels for PReLU(3)

# class name -> list of (args, kwargs, input); the first entry uses the defaults
CASES = {
    "ReLU": [((), {}, X), ((), {"inplace": True}, X)],
    "ReLU6": [((), {}, X * 4), ((True,), {}, X * 4)],
    "LeakyReLU": [((), {}, X), ((0.2,), {}, X), ((), {"negative_slope": 0.05, "inplace": True}, X)],
    "ELU": [((), {}, X), ((), {"alpha": 0.5}, X)],
    "CELU": [((), {}, X), ((2.0,), {}, X)],
    "SELU": [((), {}, X), ((), {"inplace": True}, X)],
    "GELU": [((), {}, X), ((), {"approximate": "tanh"}, X)],
    "SiLU": [((), {}, X)],
    "Mish": [((), {}, X)],
    "Softplus": [((), {}, X * 8), ((2.0, 5.0), {}, X * 4), ((), {"beta": 0.5}, X)],
    "Softsign": [((), {}, X)],
    "Hardtanh": [((), {}, X), ((-2.0, 3.0), {}, X), ((), {"min_val": -0.5, "max_val": 0.5}, X)],
    "Hardswish": [((), {}, X * 2)],
    "Hardsigmoid": [((), {}, X * 2)],
    "LogSigmoid": [((), {}, X * 4)],
    "Sigmoid": [((), {}, X)],
    "Tanh": [((), {}, X)],
    "GLU": [((), {}, X), ((1,), {}, X), ((), {"dim": 0}, X)],
    "Softmax": [((), {"dim": -1}, X), ((1,), {}, X), ((), {}, X)],  # last: the implicit dim
    "LogSoftmax": [((), {"dim": 1}, X), ((0,), {}, X)],
    "Softmin": [((), {"dim": 2}, X), ((), {"dim": 0}, X)],
    "Threshold": [((0.5, -1.0), {}, X), ((), {"threshold": 0.1, "value": 20.0}, X)],
    "PReLU": [((), {}, X), ((3,), {"init": 0.1}, X3)],
    "Softmax2d": [((), {}, X), ((), {}, X[None])],
}


def _activation_classes():
    return sorted(
        n
        for n, v in vars(activation_layers).items()
        if inspect.isclass(v)
        and issubclass(v, nn.Module)
        and v is not nn.Module
        and getattr(nn, n, None) is v
    )


def test_every_activation_module_is_covered():
    assert set(_activation_classes()) == set(CASES)


def _ember_grads(net, x, cotangent):
    graph, _ = trace_function(lambda a: net(a), [x], modules=[("", net)], names=["x"])
    lowered = lower(run_passes(graph))
    named = dict(net.named_parameters())
    params = [jnp.asarray(np.asarray(named[n].data)) for n in lowered.param_names]

    def f(ps, a):
        outs, _ = lowered.fn(ps, [], [a], None)
        return jnp.sum(outs[0] * cotangent)

    grad_params, grad_x = jax.grad(f, argnums=(0, 1))(params, jnp.asarray(x))
    return np.asarray(grad_x), dict(
        zip(lowered.param_names, map(np.asarray, grad_params), strict=True)
    )


CASE_LIST = [(name, k, *case) for name, cases in CASES.items() for k, case in enumerate(cases)]


@pytest.mark.filterwarnings("ignore:Implicit dimension choice")
@pytest.mark.parametrize(
    "name, k, args, kwargs, x",
    CASE_LIST,
    ids=[f"{c[0]}-{'default' if c[1] == 0 else c[1]}" for c in CASE_LIST],
)
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_matches_torch(name, k, args, kwargs, x, train):
    ours = getattr(nn, name)(*args, **kwargs)
    ref = getattr(torch.nn, name)(*args, **kwargs)
    ours.load_state_dict({key: v.detach().numpy() for key, v in ref.state_dict().items()})
    ours.train(train)
    ref.train(train)

    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    want = ref(tx * 1.0)  # not a leaf: inplace=True modules may write into it
    got = ours(x)
    assert got.shape == tuple(want.shape) and got.dtype == np.float32
    np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-5, atol=1e-6)

    cotangent = np.random.default_rng(k).standard_normal(want.shape).astype(np.float32)
    (want * torch.from_numpy(cotangent)).sum().backward()
    grad_x, grad_params = _ember_grads(ours, x, cotangent)
    np.testing.assert_allclose(grad_x, tx.grad.numpy(), rtol=1e-5, atol=1e-6)
    for pname, p in ref.named_parameters():
        np.testing.assert_allclose(grad_params[pname], p.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_prelu_default_init_and_state_dict_layout():
    ours, ref = nn.PReLU(3, init=0.3), torch.nn.PReLU(3, init=0.3)
    assert list(ours.state_dict()) == list(ref.state_dict())
    np.testing.assert_array_equal(np.asarray(ours.weight.data), ref.weight.detach().numpy())


def test_unknown_argument_is_rejected():
    with pytest.raises(TypeError, match="unexpected arguments"):
        nn.ELU(alpah=1.0)
