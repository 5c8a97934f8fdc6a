"""Views write through to the tensor they came from, as in PyTorch: each idiom runs the
same function on ember and torch and compares the results."""

import numpy as np
import pytest
import torch
from helpers import settle_pending_tensors_of_earlier_tests

import ember as em
from ember import nn


def _chained_setitem(m):  # the char-RNN tutorials' lineToTensor
    t = m.zeros(3, 1, 5)
    for i, k in enumerate([2, 0, 4]):
        t[i][0][k] = 1
    return t


def _row_zero(m):
    x = m.arange(12.0).reshape(3, 4)
    row = x[1]
    row.zero_()
    return x


def _base_written_then_view_written(m):
    x = m.arange(12.0).reshape(3, 4)
    row = x[0]
    x[0, 1] = 9
    row[2] = 5
    return x


def _view_read_after_base_changed(m):
    x = m.arange(12.0).reshape(3, 4)
    row = x[0]
    x.add_(1)
    return row * 1


def _transpose_add(m):
    x = m.arange(6.0).reshape(2, 3)
    x.t().add_(10)
    return x


def _flat_view_setitem(m):
    x = m.zeros(2, 3)
    x.view(-1)[4] = 7
    return x


def _narrow_fill(m):
    x = m.zeros(4, 3)
    x.narrow(0, 1, 2).fill_(3)
    return x


def _unbind_mul(m):
    x = m.ones(3, 2)
    _, b, _ = x.unbind(0)
    b.mul_(5)
    return x


def _slice_of_slice(m):
    x = m.zeros(3, 4)
    x[:, 1:3][1] = 2
    return x


def _diagonal_add(m):
    x = m.zeros(3, 3)
    x.diagonal().add_(1)
    return x


def _augmented_assignment(m):
    x = m.zeros(2, 3)
    v = x[0]
    v += 4
    return x


def _split_copy(m):
    x = m.zeros(6)
    _, b = x.split(3)
    b.copy_(m.ones(3))
    return x


def _select_permute_chain(m):
    x = m.zeros(2, 3, 4)
    x.permute(2, 0, 1)[1].select(1, 2).fill_(6)
    return x


def _index_tensor_copies(m):  # advanced indexing returns a copy in PyTorch too
    x = m.zeros(4)
    y = x[m.tensor([0, 2])]
    y.fill_(1)
    return x


def _sibling_views(m):
    x = m.zeros(2, 2)
    a, b = x[0], x[1]
    b.fill_(1)
    a.add_(2)
    return x + 0 * a + 0 * b


IDIOMS = [
    _chained_setitem,
    _row_zero,
    _base_written_then_view_written,
    _view_read_after_base_changed,
    _transpose_add,
    _flat_view_setitem,
    _narrow_fill,
    _unbind_mul,
    _slice_of_slice,
    _diagonal_add,
    _augmented_assignment,
    _split_copy,
    _select_permute_chain,
    _index_tensor_copies,
    _sibling_views,
]


@pytest.mark.parametrize("idiom", IDIOMS, ids=lambda f: f.__name__.strip("_"))
def test_views_write_through_like_torch(idiom):
    np.testing.assert_array_equal(idiom(em).numpy(), idiom(torch).numpy())


def test_gradient_flows_through_a_view_write():
    def run(m):
        w = m.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
        h = w * 2
        h[0].mul_(3)  # scales row 0 in place through a view
        h.sum().backward()
        return h, w.grad

    (h_em, g_em), (h_t, g_t) = run(em), run(torch)
    np.testing.assert_allclose(h_em.detach().numpy(), h_t.detach().numpy())
    np.testing.assert_allclose(g_em.numpy(), g_t.numpy())


def test_a_view_of_a_leaf_that_requires_grad_refuses_in_place_like_torch():
    w = em.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w[0].fill_(2)
    with em.no_grad():
        w[0].fill_(2)  # allowed under no_grad, and it writes the leaf
    np.testing.assert_array_equal(w.detach().numpy(), [2, 1, 1])


class _WritesThroughViews(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 6)

    def forward(self, x):
        h = self.fc(x)
        h[:, :2].mul_(0.5)  # in place through a view, inside the traced forward
        h.view(-1, 3, 2)[:, 0].zero_()
        return h


def _torch_writes_through_views(fc, x):
    h = fc(x)
    h[:, :2].mul_(0.5)
    h.view(-1, 3, 2)[:, 0].zero_()
    return h


def test_view_writes_inside_a_compiled_step_match_torch():
    em.manual_seed(0)
    net = _WritesThroughViews()
    ref = torch.nn.Linear(4, 6)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(net.fc.weight.numpy()))
        ref.bias.copy_(torch.from_numpy(net.fc.bias.numpy()))
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    y = np.random.default_rng(1).standard_normal((5, 6)).astype(np.float32)
    model = em.compile(net, loss=nn.MSELoss(), optimizer=em.optim.SGD(net.parameters(), lr=0.1))
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    for _ in range(3):
        logs = model.train_step(x, y)
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(
            _torch_writes_through_views(ref, torch.from_numpy(x)), torch.from_numpy(y)
        )
        loss.backward()
        opt.step()
        np.testing.assert_allclose(float(logs["loss"]), loss.item(), rtol=1e-5)
    np.testing.assert_allclose(
        net.fc.weight.numpy(), ref.weight.detach().numpy(), rtol=1e-5, atol=1e-6
    )


def test_writing_a_view_of_a_parameters_data_updates_the_parameter():
    fc = nn.Linear(3, 2)
    fc.weight.data[0].fill_(1.5)
    fc.bias.data.view(-1)[1] = -2
    np.testing.assert_array_equal(fc.weight.numpy()[0], [1.5, 1.5, 1.5])
    assert fc.bias.numpy()[1] == -2


def test_host_writes_leave_what_others_hold_unchanged():
    x = em.zeros(4)
    x[0] = 1.0  # first write: x gets its own host array
    kept_value = x.clone()  # shares x's value
    detached = x.detach()  # shares x's array
    pending = x + 1  # a recorded op that reads x
    row = x[1:3]  # a view: sees later writes
    as_numpy = x.numpy()  # a copy
    x[1] = 2.0
    x[2] = 3.0
    np.testing.assert_array_equal(x.numpy(), [1, 2, 3, 0])
    np.testing.assert_array_equal(kept_value.numpy(), [1, 0, 0, 0])
    np.testing.assert_array_equal(detached.numpy(), [1, 0, 0, 0])
    np.testing.assert_array_equal(pending.numpy(), [2, 1, 1, 1])
    np.testing.assert_array_equal(row.numpy(), [2, 3])
    np.testing.assert_array_equal(as_numpy, [1, 0, 0, 0])


def test_a_data_building_loop_matches_torch_and_stays_linear():
    """A corpus's `ids[token] = word_id` loop (yunjey/pytorch-tutorial's language model):
    each write is a host assignment, not a recorded scatter that a chain of thousands
    would compile as one program."""
    words = [f"w{i % 37}" for i in range(5000)]
    vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}

    def build(m):
        ids = m.LongTensor(len(words))
        for k, w in enumerate(words):
            ids[k] = vocab[w]
        onehot = m.zeros(40, 1, len(vocab))
        for li in range(40):
            onehot[li][0][vocab[words[li]]] = 1
        return ids, onehot

    settle_pending_tensors_of_earlier_tests()
    before = em.compile_count()
    ids, onehot = build(em)
    ids_t, onehot_t = build(torch)
    np.testing.assert_array_equal(ids.numpy(), ids_t.numpy())
    np.testing.assert_array_equal(onehot.numpy(), onehot_t.numpy())
    assert em.compile_count() - before <= 2  # the two zero-filled tensors, no chain of writes


def test_host_writes_raise_embers_errors_and_cast_like_torch():
    x = em.zeros(3, dtype=em.int32)
    x[0] = 2.7  # truncated, as torch does
    assert x.numpy()[0] == 2
    with pytest.raises(em.ShapeError, match="out of bounds"):
        x[5] = 1
    with pytest.raises(em.ShapeError):
        x[0:2] = em.ones(3)
    np.testing.assert_array_equal(x.numpy(), [2, 0, 0])


def _random_program(seed: int) -> None:
    """Writes, views (rows, columns, flat), clones, in-place ops and iteration in a random
    order on ember and torch; every tensor held must agree after every op."""
    import random

    rnd = random.Random(seed)
    shape = (rnd.randint(1, 4), rnd.randint(1, 4))
    base = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    ours, theirs = {"x": em.tensor(base.copy())}, {"x": torch.tensor(base.copy())}
    done = []
    for step in range(16):
        name = rnd.choice(list(ours))
        e, t = ours[name], theirs[name]
        op = rnd.choice(["set", "row", "column", "clone", "add_", "flat", "iterate"])
        done.append((op, name))
        if op == "set":
            i, v = rnd.randrange(e.shape[0]), float(rnd.randint(-9, 9))
            e[i], t[i] = v, v
        elif op == "row" and e.ndim == 2:
            i = rnd.randrange(e.shape[0])
            ours[f"r{step}"], theirs[f"r{step}"] = e[i], t[i]
        elif op == "column" and e.ndim == 2:
            j = rnd.randrange(e.shape[1])
            ours[f"c{step}"], theirs[f"c{step}"] = e[:, j], t[:, j]
        elif op == "clone":
            ours[f"k{step}"], theirs[f"k{step}"] = e.clone(), t.clone()
        elif op == "add_":
            e.add_(1.5)
            t.add_(1.5)
        elif op == "flat":
            ours[f"f{step}"], theirs[f"f{step}"] = e.reshape(-1), t.reshape(-1)
        elif op == "iterate" and e.ndim >= 1:
            for a, b in zip(e, t, strict=True):
                a.mul_(2)
                b.mul_(2)
        for key, tensor in ours.items():
            np.testing.assert_array_equal(
                tensor.numpy(), theirs[key].numpy(), err_msg=f"seed {seed}, {key} after {done}"
            )


@pytest.mark.parametrize("seeds", [range(10), range(10, 40)], ids=["first-10", "next-30"])
def test_random_programs_of_views_and_writes_match_torch(seeds):
    for seed in seeds:
        _random_program(seed)
