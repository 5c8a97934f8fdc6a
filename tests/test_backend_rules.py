"""Backend-specific lowering rules equal the default rule in values and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ember as em
from ember import nn, optim
from ember.compiler.lowering.backend_rules import ALTERNATIVE_LOWERING, BACKEND_RULES
from ember.compiler.lowering.conv import RULES as CONV_RULES
from ember.compiler.passes.choose_lowering_rules import lowering_rules_for


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
]


def _attrs(stride, pads):
    return {
        "stride": list(stride),
        "padding": [p for lo_hi in pads for p in lo_hi],
        "dilation": [1] * len(stride),
        "groups": 1,
    }


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}k{c[1]}s{c[2]}")
@pytest.mark.parametrize("bias", [False, True])
def test_conv_unswapped_equals_the_default_conv_in_values_and_gradients(case, bias):
    spatial, kernel, stride, pads = case
    attrs = _attrs(stride, pads)
    rng = np.random.default_rng(len(spatial) + sum(kernel))
    with jax.enable_x64(True):  # float64: the two formulations must agree to rounding
        x = jnp.asarray(rng.standard_normal((2, 3) + spatial))
        w = jnp.asarray(rng.standard_normal((4, 3) + kernel))
        b = jnp.asarray(rng.standard_normal(4)) if bias else None

        def run(rule, x, w, b):
            y = rule(_Ctx(), x, w, b, **attrs)
            return jnp.sum(jnp.sin(y)), y  # a non-trivial cotangent

        outs = []
        for rule in (CONV_RULES["conv"], ALTERNATIVE_LOWERING["conv_unswapped"]):
            f = jax.jit(
                jax.value_and_grad(lambda x, w, b, r=rule: run(r, x, w, b), (0, 1, 2), True)
            )
            (_, y), grads = f(x, w, b if bias else jnp.zeros(4))
            outs.append((y, *grads))
        for want, got in zip(*outs, strict=True):
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-10, atol=1e-10)


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
    if any(n.meta.get("rule") for n in graph.nodes):
        assert 'meta{rule="conv_unswapped"}' in str(graph)  # the choice is visible in the IR
    return [n.meta.get("rule") for n in graph.nodes if n.op == "conv"]


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="a CPU rule")
def test_the_pass_marks_exactly_the_swap_prone_convs():
    u = "conv_unswapped"
    assert _rules(32) == [None, None, None]  # 32x32 and 16x16 maps: the default conv
    assert _rules(4) == [None, u, u]  # c2: 4x4 -> 2x2 output; c3: 2x2 maps
    assert _rules(2) == [u, u, u]
    assert _rules(2, groups=2) == [u, None, u]  # grouped convs keep the default


def test_a_backend_without_alternatives_keeps_the_graph():
    em.manual_seed(0)
    model = em.compile(_convnet(), loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(lr=0.1))
    graph = model.graph("train", np.zeros((4, 4, 2, 2), "float32"), np.zeros(4, "int32"))
    assert lowering_rules_for("tpu")(graph) is graph


def test_a_compiled_step_with_the_rule_trains_like_the_default(monkeypatch):
    """Three jitted SGD steps of a small-map conv net, with and without the CPU rule."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 4, 2, 2)).astype("float32")
    y = np.array([0, 1, 2, 3], "int32")

    def trained() -> dict:
        em.manual_seed(0)
        net = _convnet()
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
