"""ember.optim against torch.optim (and numpy references where torch has none).

Each case trains the same small torch MLP for 100 steps twice: with the torch
optimizer, and with ember's transform fed the very same torch gradients. The
worst elementwise relative parameter difference per case is recorded in WORST
and printed as a table by the last test (visible even under `-q`).
float64 cases round every hyperparameter to a float32 value first: ember keeps
hyperparameters as float32 scalars, so this makes both sides use the same numbers.
"""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from ember import optim

STEPS = 100
WORST: dict[str, dict[str, float]] = {}


# -- harness -------------------------------------------------------------------


def _mlp(dtype: torch.dtype) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3)).to(
        dtype
    )


def _data(dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 5, generator=g, dtype=torch.float64).to(dtype)
    y = torch.randn(16, 3, generator=g, dtype=torch.float64).to(dtype)
    return x, y


@contextlib.contextmanager
def _precision(dtype: torch.dtype):
    """float64 on both sides: torch's default dtype (its step/mu_product scalars) and jax x64."""
    if dtype != torch.float64:
        yield
        return
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        with jax.enable_x64(True):
            yield
    finally:
        torch.set_default_dtype(old)


def _f32_exact(value):
    if isinstance(value, float):
        return float(np.float32(value))
    if isinstance(value, tuple):
        return tuple(_f32_exact(v) for v in value)
    return value


def _f32_exact_options(name: str, kwargs: dict) -> dict:
    """kwargs plus torch's numeric defaults, all rounded to float32 values."""
    probe = getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], **kwargs)
    numeric = {
        k: v
        for k, v in probe.defaults.items()
        if isinstance(v, (float, tuple)) and k in getattr(optim, name)(None).defaults
    }
    return {k: _f32_exact(v) for k, v in {**numeric, **kwargs}.items()}


def _to_jax(t: torch.Tensor) -> jax.Array:
    return jnp.asarray(t.detach().numpy())


def _worst_rel(a: list, b: list) -> float:
    """max over tensors of max|a - b| / max|b|: relative error at the tensor's scale.

    (Elementwise ratios are dominated by entries that happen to be near 0: XLA fuses
    `x * y + z` into FMAs where torch's CPU kernels round in between, and those
    1-ulp differences look large next to a tiny entry.)
    """
    worst = 0.0
    for x, y in zip(a, b, strict=True):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        worst = max(worst, float(np.max(np.abs(x - y)) / np.max(np.abs(y))))
    return worst


def _record(label: str, dtype: torch.dtype, worst: float) -> None:
    WORST.setdefault(label, {})[str(dtype).removeprefix("torch.")] = worst


def run_against_torch(torch_opt_fn, ember_opt_fn, dtype, lr_change_at=None, new_lr=None):
    """Train torch and ember side by side; return (torch params, ember params, trace count)."""
    model = _mlp(dtype)
    x, y = _data(dtype)
    params = list(model.parameters())
    named = list(model.named_parameters())
    topt = torch_opt_fn(params)
    eopt = ember_opt_fn(params)  # torch Parameters double as ember's param objects
    tx = eopt.build(named)
    jparams = [_to_jax(p) for p in params]
    state = tx.init(jparams)
    traces = 0

    def step(grads, state, jparams):
        nonlocal traces
        traces += 1
        updates, state = tx.update(grads, state, jparams)
        return optax.apply_updates(jparams, updates), state

    step = jax.jit(step)
    for i in range(STEPS):
        if i == lr_change_at:
            topt.param_groups[0]["lr"] = new_lr
            eopt.param_groups[0]["lr"] = new_lr
            assert eopt.dirty
            state = state._replace(hyperparams=eopt.hyperparams_state())
        topt.zero_grad()
        out = model(x)
        loss = torch.nn.functional.mse_loss(out, y) + 0.1 * out.pow(4).mean()
        loss.backward()
        grads = [_to_jax(p.grad) for p in params]
        topt.step()
        jparams, state = step(grads, state, jparams)
    return [p.detach().numpy() for p in params], [np.asarray(p) for p in jparams], traces


# -- parity with torch ---------------------------------------------------------

# (optimizer, options, also in float64). float64 runs cover every option whose
# effect is small enough for float32 rounding to hide a mistake (eps placement,
# bias corrections); the others differ from a float64 case only in a big way.
CASES = [
    ("SGD", {"lr": 0.05}, False),
    ("SGD", {"lr": 0.05, "momentum": 0.9}, False),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}, True),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}, True),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.05}, True),
    ("SGD", {"lr": 0.01, "momentum": 0.9, "maximize": True}, False),
    ("Adam", {"lr": 1e-2}, True),
    ("Adam", {"lr": 1e-2, "weight_decay": 0.1}, False),
    ("Adam", {"lr": 1e-2, "amsgrad": True}, True),
    ("Adam", {"lr": 1e-2, "maximize": True}, False),
    ("Adam", {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True}, True),
    ("AdamW", {"lr": 1e-2}, False),
    ("AdamW", {"lr": 1e-2, "weight_decay": 0.1, "amsgrad": True, "betas": (0.8, 0.99)}, True),
    ("Adamax", {"lr": 1e-2}, False),
    ("Adamax", {"lr": 1e-2, "weight_decay": 0.1, "maximize": True}, True),
    ("NAdam", {"lr": 1e-2}, False),
    ("NAdam", {"lr": 1e-2, "weight_decay": 0.1, "momentum_decay": 1e-2}, True),
    ("NAdam", {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True}, True),
    ("RAdam", {"lr": 1e-2}, False),
    ("RAdam", {"lr": 1e-2, "weight_decay": 0.1}, True),
    ("RAdam", {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True}, True),
    ("RMSprop", {"lr": 1e-2}, False),
    ("RMSprop", {"lr": 1e-2, "centered": True, "momentum": 0.9}, True),
    ("RMSprop", {"lr": 1e-2, "alpha": 0.9, "momentum": 0.5, "weight_decay": 0.05}, True),
    ("Adagrad", {"lr": 5e-2}, False),
    ("Adagrad", {"lr": 5e-2, "lr_decay": 0.01, "initial_accumulator_value": 0.1}, True),
    ("Adagrad", {"lr": 5e-2, "weight_decay": 0.05, "maximize": True}, True),
    ("Adadelta", {}, True),
    ("Adadelta", {"lr": 0.5, "rho": 0.95, "weight_decay": 0.05}, True),
    ("Adafactor", {}, True),
    ("Adafactor", {"lr": 5e-2, "eps": (1e-30, 1e-3), "d": 2.0, "weight_decay": 0.1}, True),
    ("Adafactor", {"lr": 1e-2, "beta2_decay": -0.5, "maximize": True}, False),
    ("Rprop", {"lr": 1e-2}, True),
    ("Rprop", {"lr": 1e-3, "etas": (0.3, 1.5), "step_sizes": (1e-4, 0.02)}, True),
    ("Rprop", {"lr": 1e-2, "maximize": True}, False),
    ("ASGD", {"lr": 1e-2}, False),
    ("ASGD", {"lr": 5e-2, "lambd": 0.05, "alpha": 0.5, "t0": 10.0, "weight_decay": 0.05}, True),
    ("ASGD", {"lr": 1e-2, "lambd": 1e-3, "t0": 0.0, "maximize": True}, True),
]


def _label(name: str, kwargs: dict) -> str:
    return f"{name}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"


TRAJECTORIES = [
    pytest.param(name, kwargs, dtype, id=f"{_label(name, kwargs)}-{tag}")
    for name, kwargs, f64 in CASES
    for dtype, tag in [(torch.float32, "f32"), (torch.float64, "f64")]
    if f64 or dtype == torch.float32
]


@pytest.mark.parametrize("name,kwargs,dtype", TRAJECTORIES)
def test_trajectory_matches_torch(name, kwargs, dtype):
    label = _label(name, kwargs)
    if dtype == torch.float64:
        kwargs = _f32_exact_options(name, kwargs)
    with _precision(dtype):
        t, e, traces = run_against_torch(
            lambda ps: getattr(torch.optim, name)(ps, **kwargs),
            lambda ps: getattr(optim, name)(ps, **kwargs),
            dtype,
        )
    assert traces == 1
    assert all(a.dtype == b.dtype for a, b in zip(t, e, strict=True))
    worst = _worst_rel(e, t)
    _record(label, dtype, worst)
    assert worst < (1e-5 if dtype == torch.float32 else 1e-12), worst


@pytest.mark.parametrize("name", ["SGD", "Adam", "RAdam", "Adafactor"])
def test_lr_change_needs_no_retrace(name):
    kwargs = {"lr": 1e-2, "momentum": 0.9} if name == "SGD" else {"lr": 1e-2}
    t, e, traces = run_against_torch(
        lambda ps: getattr(torch.optim, name)(ps, **kwargs),
        lambda ps: getattr(optim, name)(ps, **kwargs),
        torch.float32,
        lr_change_at=50,
        new_lr=3e-3,
    )
    assert traces == 1
    worst = _worst_rel(e, t)
    _record(f"{name}(lr 1e-2 -> 3e-3 at step 50)", torch.float32, worst)
    assert worst < 1e-5


def test_per_group_options_match_torch():
    def groups(ps):
        weights, biases = [ps[0], ps[2]], [ps[1], ps[3]]
        return [
            {"params": weights, "lr": 1e-2, "weight_decay": 0.1},
            {"params": biases, "lr": 3e-3, "amsgrad": True},
        ]

    t, e, _ = run_against_torch(
        lambda ps: torch.optim.AdamW(groups(ps)),
        lambda ps: optim.AdamW(groups(ps)),
        torch.float32,
    )
    worst = _worst_rel(e, t)
    _record("AdamW(2 groups: lr, weight_decay, amsgrad)", torch.float32, worst)
    assert worst < 1e-5


# -- param groups: exact properties on a fixed gradient stream -------------------


def _grad_stream(shapes, steps=20, seed=0):
    rng = np.random.default_rng(seed)
    return [[jnp.asarray(rng.normal(size=s), jnp.float32) for s in shapes] for _ in range(steps)]


def _run_stream(opt, named, params, stream):
    tx = opt.build(named)
    state = tx.init(params)
    update = jax.jit(tx.update)
    for grads in stream:
        updates, state = update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return params, state


def _setup():
    objs = [object() for _ in range(4)]
    named = [(f"p{i}", o) for i, o in enumerate(objs)]
    shapes = [(7, 5), (7,), (3, 7), (3,)]
    rng = np.random.default_rng(1)
    params = [jnp.asarray(rng.normal(size=s), jnp.float32) for s in shapes]
    return objs, named, params, _grad_stream(shapes)


@pytest.mark.parametrize("cls", [optim.AdamW, optim.SGD, optim.Lion])
def test_zero_weight_decay_group_is_exactly_undecayed(cls):
    objs, named, params, stream = _setup()
    grouped = cls(
        [{"params": objs[:2], "weight_decay": 0.1}, {"params": objs[2:], "weight_decay": 0}]
    )
    plain = cls(objs, weight_decay=0)
    a, _ = _run_stream(grouped, named, params, stream)
    b, _ = _run_stream(plain, named, params, stream)
    for i in (2, 3):
        np.testing.assert_array_equal(a[i], b[i])
    assert not np.array_equal(a[0], b[0])  # the decayed group did change


@pytest.mark.parametrize("cls", [optim.Adam, optim.Lion])
def test_parameter_in_no_group_is_unchanged(cls):
    objs, named, params, stream = _setup()
    out, state = _run_stream(cls(objs[:3], lr=0.1), named, params, stream)
    np.testing.assert_array_equal(out[3], params[3])
    assert not np.array_equal(out[2], params[2])
    if isinstance(state.inner, optim.RuleState):
        assert state.inner.slots[3] == ()  # and it costs no optimizer memory


def test_tuple_in_tuple_out():
    objs, named, params, stream = _setup()
    tx = optim.SGD(objs, lr=0.1).build(named)
    updates, _ = jax.eval_shape(tx.update, tuple(stream[0]), tx.init(params), tuple(params))
    assert isinstance(updates, tuple)


def test_static_option_change_requires_rebuild():
    objs, named, params, _ = _setup()
    opt = optim.SGD(objs, lr=0.1, momentum=0.9)
    opt.build(named)
    opt.param_groups[0]["lr"] = 0.2
    opt.hyperparams_state()  # numbers are fine
    opt.param_groups[0]["nesterov"] = True
    with pytest.raises(ValueError, match="Rebuild"):
        opt.hyperparams_state()
    opt.build(named)  # a rebuild accepts the new option
    opt.hyperparams_state()


def test_hyperparams_layout():
    objs, *_ = _setup()
    opt = optim.Adafactor(objs)
    (hp,) = opt.hyperparams()
    assert hp == {"lr": 1e-2, "beta2_decay": -0.8, "eps1": 1e-3, "d": 1.0, "weight_decay": 0.0}
    (hp,) = optim.Adam(objs, betas=(0.8, 0.999)).hyperparams_state()
    assert hp["betas0"].dtype == jnp.float32 and float(hp["betas1"]) == np.float32(0.999)
    # 1 - beta comes from double precision, as torch's `value=1 - beta2` does.
    assert float(hp["one_minus_betas1"]) == np.float32(1 - 0.999) != 1 - np.float32(0.999)


# -- optax-native optimizers against numpy references ---------------------------


def _mlp_grad_fn():
    x, y = (np.asarray(a) for a in _data(torch.float32))

    def loss(ps):
        w1, b1, w2, b2 = ps
        out = jnp.tanh(x @ w1.T + b1) @ w2.T + b2
        return jnp.mean((out - y) ** 2) + 0.1 * jnp.mean(out**4)

    return jax.jit(jax.grad(loss))


def _ref_lion(p, g, s, lr, b1, b2, wd):
    s.setdefault("m", np.zeros_like(p))
    u = np.sign(b1 * s["m"] + (1 - b1) * g)
    s["m"] = b2 * s["m"] + (1 - b2) * g
    return p - lr * (u + wd * p)


def _ref_lamb(p, g, s, lr, b1, b2, eps, wd):
    s.setdefault("m", np.zeros_like(p))
    s.setdefault("v", np.zeros_like(p))
    s["t"] = s.get("t", 0) + 1
    s["m"] = b1 * s["m"] + (1 - b1) * g
    s["v"] = b2 * s["v"] + (1 - b2) * g * g
    m_hat, v_hat = s["m"] / (1 - b1 ** s["t"]), s["v"] / (1 - b2 ** s["t"])
    u = m_hat / (np.sqrt(v_hat) + eps) + wd * p
    pn, un = np.linalg.norm(p), np.linalg.norm(u)
    ratio = 1.0 if pn == 0 or un == 0 else pn / un
    return p - lr * ratio * u


REFS = [
    ("Lion", optim.Lion, {"lr": 1e-3, "betas": (0.9, 0.99), "weight_decay": 0.1}, _ref_lion),
    (
        "LAMB",
        optim.LAMB,
        {"lr": 1e-2, "betas": (0.9, 0.999), "eps": 1e-6, "weight_decay": 0.1},
        _ref_lamb,
    ),
]


@pytest.mark.parametrize("name,cls,kwargs,ref", REFS, ids=[r[0] for r in REFS])
def test_optax_native_matches_numpy_reference(name, cls, kwargs, ref):
    grad_fn = _mlp_grad_fn()
    model = _mlp(torch.float32)
    named = list(model.named_parameters())
    opt = cls([p for _, p in named], **kwargs)
    tx = opt.build(named)
    jparams = [_to_jax(p) for _, p in named]
    ref_params = [np.asarray(p, np.float64) for p in jparams]
    ref_state = [{} for _ in jparams]
    state = tx.init(jparams)
    traces = 0

    def step(grads, state, ps):
        nonlocal traces
        traces += 1
        updates, state = tx.update(grads, state, ps)
        return optax.apply_updates(ps, updates), state

    step = jax.jit(step)
    hp = {
        "lr": kwargs["lr"],
        "b1": kwargs["betas"][0],
        "b2": kwargs["betas"][1],
        "wd": kwargs["weight_decay"],
        **({"eps": kwargs["eps"]} if "eps" in kwargs else {}),
    }
    for i in range(STEPS):
        if i == 50:  # a mid-run lr change must reach optax through the state
            hp["lr"] = kwargs["lr"] / 3
            opt.param_groups[0]["lr"] = hp["lr"]
            state = state._replace(hyperparams=opt.hyperparams_state())
        jparams, state = step(grad_fn(jparams), state, jparams)
        ref_grads = grad_fn([jnp.asarray(p, jnp.float32) for p in ref_params])
        ref_params = [
            ref(p, np.asarray(g, np.float64), s, **hp)
            for p, g, s in zip(ref_params, ref_grads, ref_state, strict=True)
        ]
    assert traces == 1
    worst = _worst_rel([np.asarray(p) for p in jparams], ref_params)
    _record(f"{_label(name, kwargs)} vs numpy, lr/3 at step 50", torch.float32, worst)
    assert worst < 1e-4, worst


def test_optax_adafactor_is_optax_adafactor():
    objs, named, params, stream = _setup()
    ours, _ = _run_stream(
        optim.OptaxAdafactor(objs, lr=1e-2, momentum=0.9, min_dim_size_to_factor=4),
        named,
        params,
        stream,
    )
    tx = optax.adafactor(1e-2, momentum=0.9, min_dim_size_to_factor=4)
    state, theirs = tx.init(params), params
    update = jax.jit(tx.update)
    for grads in stream:
        updates, state = update(grads, state, theirs)
        theirs = optax.apply_updates(theirs, updates)
    worst = _worst_rel(ours, theirs)
    _record("OptaxAdafactor vs optax.adafactor", torch.float32, worst)
    assert worst < 1e-6


# -- summary (keep last) --------------------------------------------------------


def test_print_worst_relative_differences(capsys):
    if not WORST:
        pytest.skip("no parity case ran")
    width = max(len(k) for k in WORST)
    lines = [f"\nworst relative parameter difference after {STEPS} steps", ""]
    lines.append(f"{'case':<{width}}  {'float32':>9}  {'float64':>9}")
    for label, by_dtype in WORST.items():
        cells = [
            f"{by_dtype[d]:9.2e}" if d in by_dtype else f"{'-':>9}" for d in ("float32", "float64")
        ]
        lines.append(f"{label:<{width}}  {cells[0]}  {cells[1]}")
    with capsys.disabled():
        print("\n".join(lines))
    assert all(v < 1e-5 for by_dtype in WORST.values() for v in by_dtype.values()), WORST
