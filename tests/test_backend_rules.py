"""Backend-specific lowering rules equal the default rule in values and gradients."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from opinfo import load_op_db, trace_sample

import ember as em
from ember import nn, optim
from ember.compiler import lower
from ember.compiler.lowering import conv_cpu
from ember.compiler.lowering.backend_rules import ALTERNATIVE_LOWERING, BACKEND_RULES
from ember.compiler.lowering.conv import RULES as CONV_RULES
from ember.compiler.lowering.linalg import RULES as LINALG_RULES
from ember.compiler.lowering.pooling import RULES as POOL_RULES
from ember.compiler.passes.choose_lowering_rules import choose_rules, lowering_rules_for

# float64 tolerance per rule: jax.nn.dot_product_attention takes its softmax in float32
TOLERANCE = {"fused_attention": 2e-6}


def _opinfo_cases() -> list:
    """(rule name, op, applies, sample) for every OpInfo sample an alternative applies to."""
    cases = []
    for info in load_op_db():
        for ops in BACKEND_RULES.values():
            for name, applies in ops.get(info.op, ()):
                for sample in info.samples:
                    graph = trace_sample(sample.fn, sample.args)
                    chosen = choose_rules(graph, {info.op: [(name, applies)]})
                    if any(n.meta.get("rule") == name for n in chosen.nodes):
                        label = f"{name}-{getattr(sample, 'name', '') or 'sample'}"
                        cases.append(pytest.param(name, info.op, applies, sample, id=label))
    return cases


def _values_and_grads(graph, args: tuple) -> list:
    """The graph's outputs and the gradient of a weighted sum of them w.r.t. its float args."""
    lowered = lower(graph)
    key = jax.random.key_data(jax.random.PRNGKey(0)) if lowered.uses_rng else None
    which = [i for i, a in enumerate(args) if jnp.issubdtype(jnp.asarray(a).dtype, jnp.floating)]

    def f(*diff):
        full = list(args)
        for i, d in zip(which, diff, strict=True):
            full[i] = d
        return lowered.fn([], [], full, key)[0]

    outs, vjp = jax.vjp(jax.jit(f), *(args[i] for i in which))
    cotangents = [jnp.cos(jnp.arange(o.size).reshape(o.shape)).astype(o.dtype) for o in outs]
    return [*outs, *vjp(cotangents)]


@pytest.mark.parametrize(("name", "op", "applies", "sample"), _opinfo_cases())
def test_each_alternative_rule_equals_the_default_on_the_opinfo_samples(name, op, applies, sample):
    """Every OpInfo sample of an op with alternatives, lowered by each alternative that
    applies to it: values and gradients equal the default rule's in float64."""
    with jax.enable_x64(True):
        args = tuple(
            a.astype(np.float64) if np.issubdtype(np.asarray(a).dtype, np.floating) else a
            for a in sample.args
        )
        graph = trace_sample(sample.fn, args)
        chosen = choose_rules(graph, {op: [(name, applies)]})
        assert f'rule="{name}"' in str(chosen)
        tol = TOLERANCE.get(name, 1e-10)
        for want, got in zip(
            _values_and_grads(graph, args), _values_and_grads(chosen, args), strict=True
        ):
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=tol, atol=tol)


class _Ctx:
    precision = jax.lax.Precision.HIGHEST


# (input spatial, kernel, stride, padding as (lo, hi) per dim): small maps, where XLA:CPU
# would swap the operands, in 1-3 spatial dims, with strides, uneven and zero padding
CASES = [
    ((2, 2), (3, 3), (1, 1), ((1, 1), (1, 1))),
    ((4, 4), (3, 3), (2, 2), ((1, 1), (1, 1))),  # ResNet's stride-2 conv into a 2x2 map
    ((3, 5), (3, 2), (2, 1), ((0, 2), (1, 0))),
    ((1, 1), (3, 3), (1, 1), ((1, 1), (1, 1))),
    ((5,), (7,), (3,), ((3, 2),)),
    ((2, 2, 2), (3, 3, 3), (1, 2, 1), ((1, 1), (1, 0), (0, 1))),
    # larger maps, one with dilation (2, 3)
    ((9, 8), (3, 3), (2, 3), ((1, 0), (2, 1))),
    ((12,), (3,), (1,), ((0, 0),)),
    ((9, 10), (3, 2), (1, 2), ((2, 2), (1, 1)), (2, 3)),
]


def _attrs(stride, pads, dilation=None):
    return {
        "stride": list(stride),
        "padding": [p for lo_hi in pads for p in lo_hi],
        "dilation": list(dilation or [1] * len(stride)),
        "groups": 1,
    }


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}k{c[1]}s{c[2]}")
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("chunk_bytes", [1, 2 << 20])  # one sample per chunk; whole batch
@pytest.mark.parametrize("groups", [1, 2])  # 2: groups of three input channels
def test_conv_im2col_equals_the_default_conv_in_values_and_gradients(
    monkeypatch, case, bias, chunk_bytes, groups
):
    monkeypatch.setattr(conv_cpu, "PATCH_CHUNK_BYTES", chunk_bytes)
    spatial, kernel, stride, pads, *dilation = case
    attrs = {**_attrs(stride, pads, *dilation), "groups": groups}
    rng = np.random.default_rng(len(spatial) + sum(kernel))
    with jax.enable_x64(True):  # float64: the two formulations must agree to rounding
        x = jnp.asarray(rng.standard_normal((2, 3 * groups) + spatial))
        w = jnp.asarray(rng.standard_normal((4, 3) + kernel))
        b = jnp.asarray(rng.standard_normal(4)) if bias else None

        def run(rule, x, w, b):
            y = rule(_Ctx(), x, w, b, **attrs)
            return jnp.sum(jnp.sin(y)), y  # a non-trivial cotangent

        outs = []
        for rule in (CONV_RULES["conv"], ALTERNATIVE_LOWERING["conv_im2col"]):
            f = jax.jit(
                jax.value_and_grad(lambda x, w, b, r=rule: run(r, x, w, b), (0, 1, 2), True)
            )
            (_, y), grads = f(x, w, b if bias else jnp.zeros(4))
            outs.append((y, *grads))
        for want, got in zip(*outs, strict=True):
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-10, atol=1e-10)


# (input spatial, kernel, stride, padding as (lo, hi) per dim, dilation): depthwise convs
DEPTHWISE_CASES = [
    ((7, 7), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),  # MobileNet's 3x3
    ((8, 9), (5, 5), (2, 2), ((2, 2), (2, 2)), (1, 1)),  # EfficientNet's strided 5x5
    ((2, 2), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),  # window larger than the map
    ((9, 10), (3, 2), (1, 2), ((2, 2), (1, 0)), (2, 3)),
    ((11,), (4,), (3,), ((0, 2),), (1,)),
    ((4, 5, 3), (3, 3, 2), (1, 2, 1), ((1, 1), (0, 1), (1, 0)), (1, 1, 1)),
]


@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=lambda c: f"{c[0]}k{c[1]}s{c[2]}d{c[4]}")
@pytest.mark.parametrize("multiplier", [1, 2])  # output channels per input channel
def test_conv_depthwise_taps_equals_the_default_conv_in_values_and_gradients(case, multiplier):
    spatial, kernel, stride, pads, dilation = case
    attrs = {**_attrs(stride, pads, dilation), "groups": 3}
    rng = np.random.default_rng(len(spatial) + sum(kernel) + multiplier)
    with jax.enable_x64(True):
        x = jnp.asarray(rng.standard_normal((4, 3) + spatial))
        w = jnp.asarray(rng.standard_normal((3 * multiplier, 1) + kernel))
        b = jnp.asarray(rng.standard_normal(3 * multiplier))

        def run(rule, x, w, b):
            y = rule(_Ctx(), x, w, b, **attrs)
            return jnp.sum(jnp.sin(y)), y

        outs = []
        for rule in (CONV_RULES["conv"], ALTERNATIVE_LOWERING["conv_depthwise_taps"]):
            f = jax.jit(
                jax.value_and_grad(lambda x, w, b, r=rule: run(r, x, w, b), (0, 1, 2), True)
            )
            (_, y), grads = f(x, w, b)
            outs.append((y, *grads))
        for want, got in zip(*outs, strict=True):
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-10, atol=1e-10)
        _forward_mode_and_16_bit("conv_depthwise_taps", x, w, jnp.cos(x), jnp.sin(w), attrs)


def _forward_mode_and_16_bit(name: str, x, w, dx, dw, attrs: dict, op: str = "conv") -> None:
    """`jax.jvp` through the rule equals the default rule's (no custom VJP to break forward
    mode); bfloat16 in, bfloat16 out (computed in float32 inside)."""
    outs = [
        jax.jvp(lambda x, w, r=rule: r(_Ctx(), x, w, **attrs), (x, w), (dx, dw))
        for rule in (CONV_RULES[op], ALTERNATIVE_LOWERING[name])
    ]
    for want, got in zip(*outs, strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-10, atol=1e-10)
    y = ALTERNATIVE_LOWERING[name](_Ctx(), x.astype(jnp.bfloat16), w.astype(jnp.bfloat16), **attrs)
    assert y.dtype == jnp.bfloat16


def _same_hessian(name: str, x, w, attrs: dict, op: str = "conv") -> None:
    """The Hessian of a scalar of the rule's output in the input and the weight (forward
    over reverse) equals the default rule's, in float64."""
    hessians = [
        jax.hessian(lambda x, w, r=rule: jnp.sum(jnp.sin(r(_Ctx(), x, w, **attrs))), (0, 1))(x, w)
        for rule in (CONV_RULES[op], ALTERNATIVE_LOWERING[name])
    ]
    for want, got in zip(*map(jax.tree.leaves, hessians), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-10, atol=1e-10)


def test_conv_depthwise_taps_has_the_default_hessian():
    """Forward over reverse through the custom JVP: a strided, dilated depthwise conv with
    a channel multiplier."""
    attrs = {**_attrs((2, 1), ((1, 0), (2, 1)), (1, 2)), "groups": 2}
    rng = np.random.default_rng(3)
    with jax.enable_x64(True):
        x = jnp.asarray(rng.standard_normal((2, 2, 5, 6)))
        w = jnp.asarray(rng.standard_normal((4, 1, 2, 3)))
        _same_hessian("conv_depthwise_taps", x, w, attrs)


def _convnet(groups: int = 1):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(4, 8, 3, padding=1)
            self.c2 = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=groups)
            self.c3 = nn.Conv2d(8, 8, 3, padding=1)
            self.fc = nn.Linear(8, 5)

        def forward(self, x):
            h = em.tanh(self.c1(x))  # smooth: no ReLU kink for rounding to cross
            h = em.tanh(self.c2(h))
            h = em.tanh(self.c3(h))
            return self.fc(em.flatten(em.adaptive_avg_pool2d(h, 1), 1))

    return Net()


def _rules(size: int, groups: int = 1) -> list:
    x = np.zeros((4, 4, size, size), "float32")
    em.manual_seed(0)
    model = em.compile(_convnet(groups), loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(lr=0.1))
    graph = model.graph("train", x, np.zeros(4, "int32"))
    for rule in {n.meta.get("rule") for n in graph.nodes} - {None}:
        assert f'meta{{rule="{rule}"}}' in str(graph)  # the choice is visible in the IR
    return [n.meta.get("rule") for n in graph.nodes if n.op == "conv"]


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="a CPU rule")
def test_the_pass_marks_exactly_the_swap_prone_convs():
    m = "conv_im2col"
    assert _rules(32) == [m, m, m]
    assert _rules(2) == [m, m, m]  # small maps too (where XLA would swap the operands)
    assert _rules(2, groups=2) == [m, m, m]  # groups of four channels: a batched matmul
    assert _rules(5, groups=8) == [m, "conv_depthwise_taps", m]


def test_a_backend_without_alternatives_keeps_the_graph():
    em.manual_seed(0)
    model = em.compile(_convnet(), loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(lr=0.1))
    graph = model.graph("train", np.zeros((4, 4, 2, 2), "float32"), np.zeros(4, "int32"))
    assert lowering_rules_for("tpu")(graph) is graph


@pytest.mark.parametrize(("size", "groups"), [(2, 1), (9, 1), (9, 2), (9, 8)])
def test_a_compiled_step_with_the_rules_trains_like_the_default(monkeypatch, size, groups):
    """Three jitted SGD steps of a conv net, with and without the CPU rule: 2x2 maps (where
    XLA would swap the conv's operands) and 9x9 ones (odd size into a stride-2 conv)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 4, size, size)).astype("float32")
    y = np.array([0, 1, 2, 3], "int32")

    def trained() -> dict:
        em.manual_seed(0)
        net = _convnet(groups)
        model = em.compile(net, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(lr=0.5))
        for _ in range(3):
            model.train_step(x, y)
        return {k: np.asarray(v) for k, v in net.state_dict().items()}

    with_rule = trained()
    monkeypatch.setitem(BACKEND_RULES, jax.default_backend(), {})
    without = trained()
    assert with_rule.keys() == without.keys()
    for k in with_rule:
        np.testing.assert_allclose(with_rule[k], without[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_backends_are_known_and_each_alternative_has_a_rule():
    assert set(BACKEND_RULES) <= {"cpu", "gpu", "tpu"}
    names = [name for ops in BACKEND_RULES.values() for alts in ops.values() for name, _ in alts]
    assert names and all(name in ALTERNATIVE_LOWERING for name in names)


@pytest.mark.parametrize(
    ("shape", "kernel"), [((2, 3, 7, 9), (2, 3)), ((2, 3, 10), (3,)), ((1, 2, 5, 4, 6), (2, 2, 3))]
)
def test_max_pool_slices_sends_gradients_where_the_default_does_ties_included(shape, kernel):
    """Half the inputs are 0 (ReLU'd), so most windows have ties: the gradient must go to
    the first maximum, as XLA's select_and_scatter and PyTorch send it."""
    attrs = {
        "kernel_size": list(kernel),
        "stride": list(kernel),
        "padding": [0] * len(kernel),
        "dilation": [1] * len(kernel),
        "ceil_mode": False,
        "return_indices": False,
    }
    x = jnp.asarray(np.maximum(np.random.default_rng(0).standard_normal(shape), 0), jnp.float32)
    outs = []
    for rule in (POOL_RULES["max_pool"], ALTERNATIVE_LOWERING["max_pool_slices"]):
        y, vjp = jax.vjp(lambda x, r=rule: r(None, x, **attrs), x)
        outs.append((y, *vjp(jnp.cos(jnp.arange(y.size, dtype=y.dtype).reshape(y.shape)))))
    for want, got in zip(*outs, strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.parametrize(
    ("shape", "kernel", "stride", "padding", "ceil_mode"),
    [
        ((2, 3, 9, 9), (3, 3), (2, 2), (1, 1), False),  # ResNet's stem pool
        ((2, 3, 10, 7), (3, 2), (2, 1), (1, 0), False),
        ((2, 3, 10, 7), (3, 3), (2, 2), (1, 1), True),
        ((2, 3, 8, 8), (2, 2), (1, 1), (0, 0), False),
        ((2, 3, 11), (3,), (2,), (1,), True),
        ((1, 2, 5, 6, 7), (3, 2, 3), (2, 2, 2), (1, 0, 1), False),
    ],
)
def test_max_pool_strided_sends_gradients_where_the_default_does_ties_included(
    shape, kernel, stride, padding, ceil_mode
):
    """Overlapping windows: an input that is the maximum of several windows gets the sum
    of their gradients, in another order than select_and_scatter adds them (float64)."""
    attrs = {
        "kernel_size": list(kernel),
        "stride": list(stride),
        "padding": list(padding),
        "dilation": [1] * len(kernel),
        "ceil_mode": ceil_mode,
        "return_indices": False,
    }
    with jax.enable_x64(True):
        x = jnp.asarray(np.maximum(np.random.default_rng(1).standard_normal(shape), 0))
        outs = []
        for rule in (POOL_RULES["max_pool"], ALTERNATIVE_LOWERING["max_pool_strided"]):
            y, vjp = jax.vjp(lambda x, r=rule: r(None, x, **attrs), x)
            outs.append((y, *vjp(jnp.cos(jnp.arange(y.size, dtype=y.dtype).reshape(y.shape)))))
    (want_y, want_dx), (got_y, got_dx) = outs
    np.testing.assert_array_equal(np.asarray(got_y), np.asarray(want_y))
    np.testing.assert_allclose(np.asarray(got_dx), np.asarray(want_dx), rtol=1e-12, atol=1e-12)
    assert np.count_nonzero(np.asarray(got_dx)) == np.count_nonzero(np.asarray(want_dx))


@pytest.mark.parametrize(
    ("rule", "kernel", "stride", "padding", "shape"),
    [
        ("max_pool_strided", [3, 3], [2, 2], [1, 1], (1, 2, 7, 7)),  # ResNet's stem pool
        ("max_pool_slices", [2, 2], [2, 2], [0, 0], (1, 2, 7, 6)),  # max_pool2d(x, 2)
    ],
)
def test_cpu_max_pool_rules_support_forward_mode(rule, kernel, stride, padding, shape):
    """`jacfwd` and `hessian` through the CPU pool rules: their derivatives are custom
    JVPs, equal to the default rule's in both modes."""
    attrs = {
        "kernel_size": kernel,
        "stride": stride,
        "padding": padding,
        "dilation": [1, 1],
        "ceil_mode": False,
        "return_indices": False,
    }
    x = jnp.asarray(np.random.default_rng(2).standard_normal(shape), jnp.float32)
    rules = (POOL_RULES["max_pool"], ALTERNATIVE_LOWERING[rule])
    want, got = (jax.jacfwd(lambda x, r=r: r(None, x, **attrs))(x) for r in rules)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    rev = jax.jacrev(lambda x: rules[1](None, x, **attrs))(x)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(rev))
    hess = jax.hessian(lambda x: jnp.sum(jnp.sin(rules[1](None, x, **attrs))))(x)
    want_hess = jax.hessian(lambda x: jnp.sum(jnp.sin(rules[0](None, x, **attrs))))(x)
    np.testing.assert_allclose(np.asarray(hess), np.asarray(want_hess), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("x_shape", "w_shape"), [((0, 3, 5, 5), (4, 3, 3, 3)), ((2, 0, 5, 5), (4, 0, 3, 3))]
)
def test_conv_im2col_handles_empty_batches_and_channels(x_shape, w_shape):
    """Found by the model fuzzer: zero input channels left no patch matrix to build."""
    x, w, b = jnp.zeros(x_shape), jnp.zeros(w_shape), jnp.arange(4.0)
    attrs = _attrs((1, 1), ((1, 1), (1, 1)))
    want = CONV_RULES["conv"](_Ctx(), x, w, b, **attrs)
    got = ALTERNATIVE_LOWERING["conv_im2col"](_Ctx(), x, w, b, **attrs)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_conv_im2col_supports_forward_mode_and_keeps_16_bit_dtypes():
    """Plain JAX autodiff (no custom VJP): jax.jvp works, as with XLA's conv; bfloat16 in,
    bfloat16 out (computed in float32 inside)."""
    attrs = _attrs((2, 1), ((1, 0), (1, 1)))
    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        x, dx = (jnp.asarray(rng.standard_normal((3, 2, 7, 6))) for _ in range(2))
        w, dw = (jnp.asarray(rng.standard_normal((4, 2, 3, 3))) for _ in range(2))
        _forward_mode_and_16_bit("conv_im2col", x, w, dx, dw, attrs)


def test_conv_im2col_has_the_default_hessian():
    """Forward over reverse through the chunked, checkpointed im2col matmul."""
    attrs = _attrs((2, 1), ((1, 0), (1, 1)))
    rng = np.random.default_rng(4)
    with jax.enable_x64(True):
        x = jnp.asarray(rng.standard_normal((2, 2, 5, 4)))
        w = jnp.asarray(rng.standard_normal((3, 2, 3, 3)))
        _same_hessian("conv_im2col", x, w, attrs)


# (input shape, weight shape): out_features <= in_features, batches of 0-2 dims
LINEAR_CASES = [((6,), (3, 6)), ((5, 8), (8, 8)), ((2, 3, 7), (4, 7)), ((0, 4), (2, 4))]


@pytest.mark.parametrize(("x_shape", "w_shape"), LINEAR_CASES)
@pytest.mark.parametrize("bias", [False, True])
def test_linear_transposed_cotangent_equals_the_default(x_shape, w_shape, bias):
    """Values, gradients, forward mode and the Hessian equal the default `linear` rule in
    float64; bfloat16 stays bfloat16."""
    rule = ALTERNATIVE_LOWERING["linear_transposed_cotangent"]
    default = LINALG_RULES["linear"]
    rng = np.random.default_rng(sum(x_shape))
    with jax.enable_x64(True):
        x, dx = (jnp.asarray(rng.standard_normal(x_shape)) for _ in range(2))
        w, dw = (jnp.asarray(rng.standard_normal(w_shape)) for _ in range(2))
        b = jnp.asarray(rng.standard_normal(w_shape[0])) if bias else None

        def scalar(r, x, w):
            return jnp.sum(jnp.sin(r(_Ctx(), x, w, b)))

        results = []
        for r in (default, rule):
            value, grads = jax.jit(jax.value_and_grad(partial(scalar, r), (0, 1)))(x, w)
            tangent = jax.jvp(lambda x, w, r=r: r(_Ctx(), x, w, b), (x, w), (dx, dw))[1]
            hessian = jax.hessian(partial(scalar, r), (0, 1))(x, w)
            results.append([value, *grads, tangent, *jax.tree.leaves(hessian)])
        for want, got in zip(*results, strict=True):
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-10, atol=1e-10)
    y = rule(_Ctx(), x.astype(jnp.bfloat16), w.astype(jnp.bfloat16))
    assert y.dtype == jnp.bfloat16


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU's dot forms")
def test_linear_weight_gradient_runs_as_a_dot_whose_left_operand_contracts_its_last_dim():
    """What the rule is for: in the optimized program of a linear layer's weight gradient,
    no dot contracts its left operand's leading dim (Eigen's slow path on XLA:CPU)."""
    x, w = jnp.ones((64, 784)), jnp.ones((128, 784))

    def hlo(r):
        grad = jax.jit(jax.grad(lambda w, x: jnp.sum(jnp.sin(r(_Ctx(), x, w))), 0))
        return grad.lower(w, x).compile().as_text()

    assert "lhs_contracting_dims={0}" in hlo(LINALG_RULES["linear"])  # XLA's own form
    assert "lhs_contracting_dims={0}" not in hlo(
        ALTERNATIVE_LOWERING["linear_transposed_cotangent"]
    )


# (input spatial, kernel, stride, padding, output padding, dilation): transposed convs in
# 1-3 spatial dims; DCGAN's 4x4 stride 2 and its first layer (1x1 in, stride 1),
# UNet's 2x2 stride 2, output padding, padding that crops, dilation
TRANSPOSE_CASES = [
    ((5, 5), (4, 4), (2, 2), (1, 1), (0, 0), (1, 1)),
    ((1, 1), (4, 4), (1, 1), (0, 0), (0, 0), (1, 1)),
    ((3, 4), (2, 2), (2, 2), (0, 0), (0, 0), (1, 1)),
    ((4, 3), (3, 3), (2, 3), (1, 2), (1, 2), (1, 1)),
    ((6,), (5,), (3,), (4,), (2,), (2,)),
    ((2, 3, 2), (3, 2, 3), (2, 1, 2), (1, 0, 1), (1, 0, 0), (1, 2, 1)),
]


@pytest.mark.parametrize("case", TRANSPOSE_CASES, ids=lambda c: f"{c[0]}k{c[1]}s{c[2]}")
@pytest.mark.parametrize("chunk_bytes", [1, 2 << 20])  # one sample per chunk; whole batch
@pytest.mark.parametrize("groups", [1, 2])
def test_conv_transpose_im2col_equals_the_default_in_values_and_gradients(
    monkeypatch, case, chunk_bytes, groups
):
    monkeypatch.setattr(conv_cpu, "PATCH_CHUNK_BYTES", chunk_bytes)
    spatial, kernel, stride, padding, output_padding, dilation = case
    attrs = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation)
    attrs["groups"] = groups
    rng = np.random.default_rng(len(spatial) + sum(kernel) + groups)
    with jax.enable_x64(True):
        x = jnp.asarray(rng.standard_normal((3, 2 * groups) + spatial))
        w = jnp.asarray(rng.standard_normal((2 * groups, 3) + kernel))
        b = jnp.asarray(rng.standard_normal(3 * groups))
        outs = []
        for rule in (CONV_RULES["conv_transpose"], ALTERNATIVE_LOWERING["conv_transpose_im2col"]):

            def loss(x, w, b, r=rule):
                y = r(_Ctx(), x, w, b, **attrs)
                return jnp.sum(jnp.sin(y)), y

            (_, y), grads = jax.jit(jax.value_and_grad(loss, (0, 1, 2), True))(x, w, b)
            outs.append((y, *grads))
        for want, got in zip(*outs, strict=True):
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-10, atol=1e-10)
        dx, dw = jnp.cos(x), jnp.sin(w)
        _forward_mode_and_16_bit("conv_transpose_im2col", x, w, dx, dw, attrs, "conv_transpose")


def test_conv_transpose_im2col_has_the_default_hessian():
    attrs = dict(stride=(2, 1), padding=(1, 0), output_padding=(1, 0), dilation=(1, 2), groups=1)
    rng = np.random.default_rng(5)
    with jax.enable_x64(True):
        x = jnp.asarray(rng.standard_normal((2, 2, 3, 3)))
        w = jnp.asarray(rng.standard_normal((2, 3, 3, 2)))
        _same_hessian("conv_transpose_im2col", x, w, attrs, "conv_transpose")


def _generator():
    """A DCGAN-style generator: a 1x1 latent up to 11x11, and a transposed conv whose output
    padding is not below its stride (the default rule keeps it)."""
    return nn.Sequential(
        nn.ConvTranspose2d(6, 8, 4, 1, 0, bias=False),  # as DCGAN: BatchNorm follows
        nn.BatchNorm2d(8),
        nn.Tanh(),
        nn.ConvTranspose2d(8, 4, 4, 2, 1),
        nn.Tanh(),
        nn.ConvTranspose2d(4, 3, 3, 1, 1, output_padding=1, dilation=2),
        nn.Flatten(),
    )


def test_a_generator_trains_like_the_default_and_shows_its_rules(monkeypatch):
    """Three jitted Adam steps of the generator, with and without the CPU rules."""
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4, 6, 1, 1)).astype("float32")
    target = rng.standard_normal((4, 3 * 11 * 11)).astype("float32")

    def trained() -> tuple:
        em.manual_seed(0)
        net = _generator()
        model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.Adam(lr=0.01))
        for _ in range(3):
            model.train_step(z, target)
        rules = [n.meta.get("rule") for n in model.graph("train", z, target).nodes]
        return {k: np.asarray(v) for k, v in net.state_dict().items()}, rules

    with_rule, rules = trained()
    if jax.default_backend() == "cpu":
        assert rules.count("conv_transpose_im2col") == 2 and "conv_transpose" not in rules
    monkeypatch.setitem(BACKEND_RULES, jax.default_backend(), {})
    without, _ = trained()
    for k in with_rule:
        np.testing.assert_allclose(with_rule[k], without[k], rtol=1e-5, atol=1e-6, err_msg=k)
