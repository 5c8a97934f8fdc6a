"""User mistakes raise ember errors naming module path, shapes, file:line and the fix."""

import numpy as np
import pytest
from models import EmberMLP, mnist_like

import ember as em
from ember import nn, optim
from ember.errors import ShapeError, StateDictError, TraceError
from ember.frontend.trace import trace_function


def _forward_line() -> int:
    import inspect

    import models

    src, start = inspect.getsourcelines(models.EmberMLP.forward)
    return start + next(i for i, line in enumerate(src) if "self.fc1(x)" in line)


def test_wrong_feature_count_names_module_shapes_and_line():
    net = EmberMLP()
    x = np.zeros((8, 783), np.float32)
    with pytest.raises(ShapeError) as info:
        net(x)
    msg = str(info.value)
    assert "module 'fc1'" in msg
    assert "(8, 783)" in msg and "(128, 784)" in msg
    assert f"models.py:{_forward_line()}" in msg
    assert "fix:" in msg
    assert "Traceback" not in msg and "XlaRuntimeError" not in msg


def test_wrong_shape_in_compiled_train_step_is_a_shape_error():
    net = EmberMLP()
    model = em.compile(net, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(lr=0.1))
    with pytest.raises(ShapeError, match="module 'fc1'"):
        model.train_step(np.zeros((4, 783), np.float32), np.zeros((4,), np.int32))
    x, y = mnist_like(4)
    model.train_step(x, y)  # nothing was lost: the model still trains


def test_loss_target_shape_mismatch_is_rejected_not_broadcast():
    class Regressor(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 1)

        def forward(self, x):
            return self.fc(x)

    model = em.compile(Regressor(), loss=nn.MSELoss(), optimizer=optim.SGD(lr=0.1))
    with pytest.raises(
        ShapeError, match=r"mse_loss: input shape \(5, 1\) and target shape \(5,\) differ"
    ):
        model.train_step(np.zeros((5, 3), np.float32), np.zeros((5,), np.float32))


def test_python_control_flow_on_traced_values_raises_trace_error():
    class Branchy(nn.Module):
        def forward(self, x):
            if x.sum() > 0:
                return x
            return -x

    with pytest.raises(TraceError, match=r"(?s)em.where.*em.cond.*test_errors.py:\d+"):
        Branchy()(np.ones((2,), np.float32))


def test_load_state_dict_reports_missing_unexpected_and_mismatched_keys():
    net = EmberMLP()
    before = net.state_dict()
    sd = dict(before)
    del sd["fc2.bias"]
    sd["fc3.weight"] = np.zeros((3, 3), np.float32)
    sd["fc1.weight"] = np.zeros((128, 783), np.float32)
    with pytest.raises(StateDictError) as info:
        net.load_state_dict(sd)
    msg = str(info.value)
    assert 'Missing key(s) in state_dict: "fc2.bias"' in msg
    assert 'Unexpected key(s) in state_dict: "fc3.weight"' in msg
    assert "fc1.weight: checkpoint has shape (128, 783), model expects (128, 784)" in msg
    for k, v in net.state_dict().items():  # nothing was loaded
        np.testing.assert_array_equal(v, before[k])


def test_load_state_dict_non_strict_returns_the_lists():
    net = EmberMLP()
    sd = net.state_dict()
    del sd["fc2.bias"]
    sd["extra"] = np.zeros(1)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["fc2.bias"] and result.unexpected_keys == ["extra"]


# Found by the model fuzzer (test_fuzz_models.py): argument checks that run before any op.


def test_argument_errors_raised_outside_emit_name_the_module():
    """Functional code rejects a dim out of range before emitting any op; the module boundary
    still says where (the message used to name neither module nor line)."""
    net = nn.Sequential(nn.Linear(4, 4), nn.Flatten(0, 5))
    where = r"dim=5 is out of range[^\n]*\n  where: module '1', \S*test_errors\.py:\d+$"
    with pytest.raises(ShapeError, match=where):
        em.trace(net, em.TensorSpec((2, 4)))


def test_argument_errors_in_a_traced_function_name_the_users_line():
    def fn(a):
        return a.transpose(0, 3)

    line = fn.__code__.co_firstlineno + 1
    with pytest.raises(ShapeError, match=rf"where: the top-level module, \S*errors\.py:{line}$"):
        trace_function(fn, [em.TensorSpec((2, 3))])
