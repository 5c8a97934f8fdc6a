"""PyTorch training-script idioms outside a model, each run with torch and with ember on
the same weights and data: module zero_grad, generator param groups, an EMA copy updated
from the live weights, a hand-written SGD on a plain leaf, autograd.grad's deprecated
keyword, optimizer.step() without gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ember as em
from ember import nn, optim
from ember.graphdef import dtypes as em_dtypes


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((6, 4)).astype(np.float32), rng.standard_normal((6, 2)).astype(
        np.float32
    )


def _pair():
    em.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    ref = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    ref.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in net.state_dict().items()})
    return net, ref


def _assert_same(net, ref, rtol=1e-5, atol=1e-6):
    for name, value in ref.state_dict().items():
        np.testing.assert_allclose(
            np.asarray(net.state_dict()[name]), value.numpy(), rtol=rtol, atol=atol, err_msg=name
        )


def _run(lib, net, step_idiom, steps=4):
    """`step_idiom(lib, net, x, y)` once per batch; the same batches for both libraries."""
    for k in range(steps):
        x, y = _data(k)
        step_idiom(lib, net, lib.tensor(x) if lib is em else torch.from_numpy(x), y)


def test_module_zero_grad_clears_gradients_like_torch():
    """`model.zero_grad(); loss.backward(); opt.step()` (it did nothing: gradients summed
    over steps), and the set_to_none=False form."""
    net, ref = _pair()
    opts = {}

    def idiom(lib, model, x, y):
        opt = opts.setdefault(
            lib, (optim if lib is em else torch.optim).SGD(model.parameters(), lr=0.1)
        )
        model.zero_grad(set_to_none=len(opts) % 2 == 0)
        target = lib.tensor(y) if lib is em else torch.from_numpy(y)
        ((model(x) - target) ** 2).mean().backward()
        opt.step()

    _run(em, net, idiom)
    _run(torch, ref, idiom)
    _assert_same(net, ref)
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_param_groups_given_as_generators_like_torch():
    net, ref = _pair()
    opt = optim.SGD(
        [{"params": net[0].parameters()}, {"params": net[2].parameters(), "lr": 0.01}],
        lr=0.1,
        momentum=0.9,
    )
    tref = torch.optim.SGD(
        [{"params": ref[0].parameters()}, {"params": ref[2].parameters(), "lr": 0.01}],
        lr=0.1,
        momentum=0.9,
    )
    assert [len(g["params"]) for g in opt.param_groups] == [2, 2]
    for model, o, lib in ((net, opt, em), (ref, tref, torch)):
        for k in range(3):
            x, y = _data(k)
            o.zero_grad()
            wrap = em.tensor if lib is em else torch.from_numpy
            ((model(wrap(x)) - wrap(y)) ** 2).mean().backward()
            o.step()
    _assert_same(net, ref)


@pytest.mark.parametrize("update", ["lerp_", "mul_add_", "copy_lerp", "add_difference"])
def test_an_ema_copy_follows_the_live_weights_like_torch(update):
    """The EMA/target-network update after each optimizer.step(), reading the weights the
    next step donates (a pending EMA value used to read a deleted array)."""
    import copy

    net, ref = _pair()
    ema, tema = copy.deepcopy(net), copy.deepcopy(ref)
    for lib, model, avg in ((em, net, ema), (torch, ref, tema)):
        opt = (optim if lib is em else torch.optim).Adam(model.parameters(), lr=0.05)
        wrap = em.tensor if lib is em else torch.from_numpy
        for k in range(4):
            x, y = _data(k)
            opt.zero_grad()
            ((model(wrap(x)) - wrap(y)) ** 2).mean().backward()
            opt.step()
            with lib.no_grad():
                for pe, p in zip(avg.parameters(), model.parameters(), strict=True):
                    if update == "lerp_":
                        pe.lerp_(p, 0.1)
                    elif update == "mul_add_":
                        pe.mul_(0.9).add_(p, alpha=0.1)
                    elif update == "copy_lerp":
                        pe.copy_(lib.lerp(pe, p, 0.1))
                    else:
                        pe.add_(p - pe, alpha=0.1)
    _assert_same(ema, tema)
    _assert_same(net, ref)


def test_a_plain_leaf_updated_under_no_grad_still_requires_grad():
    """PyTorch's 'learning with examples' loop: `w -= lr * w.grad` on a leaf tensor."""
    x = np.linspace(-1, 1, 16).astype(np.float32)
    features = np.stack([np.ones_like(x), x, x**2], 1)
    losses = {}
    for lib in (em, torch):
        w = lib.ones(3, requires_grad=True)
        a, b = lib.tensor(features), lib.tensor(np.sin(x))
        out = []
        for _ in range(5):
            loss = ((a @ w - b) ** 2).mean()
            loss.backward()
            with lib.no_grad():
                w -= 0.1 * w.grad
                w.grad.zero_()
            out.append(float(loss.item()))
        assert w.requires_grad and w.is_leaf
        losses[lib.__name__] = out
    np.testing.assert_allclose(losses["ember"], losses["torch"], rtol=1e-6)


def test_autograd_grad_accepts_only_inputs_and_step_without_gradients_is_a_no_op():
    x = em.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    (g,) = em.autograd.grad((x**2).sum(), [x], only_inputs=True)
    np.testing.assert_allclose(np.asarray(g), [2.0, 4.0])
    net, _ = _pair()
    before = {k: np.array(v) for k, v in net.state_dict().items()}
    opt = optim.Adam(net.parameters(), lr=0.1)
    opt.step()  # nothing has a .grad: nothing changes (PyTorch skips such parameters)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(np.asarray(v), before[k])


def test_boolean_mask_assignment_of_one_value_per_selected_position():
    """DQN's `next_values[non_final_mask] = target(s).max(1).values`."""
    mask = np.array([[1, 0, 1], [0, 1, 0]], bool)
    values = np.array([7.0, 8.0, 9.0], np.float32)
    out = []
    for lib in (em, torch):
        x = lib.zeros(2, 3)
        x[lib.tensor(mask)] = lib.tensor(values)
        y = lib.zeros(2, 3)
        y[lib.tensor(mask)] = 5.0
        out.append((np.asarray(x.numpy()), np.asarray(y.numpy())))
    for a, b in zip(*out, strict=True):
        np.testing.assert_array_equal(a, b)


def test_nanogpt_precision_switches_and_grad_scaler_loop_like_torch():
    """nanoGPT's train.py: backend switches, `GradScaler(enabled=...)`, autocast context;
    on float32 the scaled loop is PyTorch's plain loop, step for step."""
    em.backends.cuda.matmul.allow_tf32 = True
    em.backends.cudnn.allow_tf32 = True
    em.set_float32_matmul_precision("high")
    net, ref = _pair()
    for lib, model in ((em, net), (torch, ref)):
        scaler = (em.cuda.amp if lib is em else torch.amp).GradScaler(enabled=False)
        opt = (optim if lib is em else torch.optim).AdamW(model.parameters(), lr=0.05)
        wrap = em.tensor if lib is em else torch.from_numpy
        for k in range(3):
            x, y = _data(k)
            with lib.autocast("cpu", dtype=lib.bfloat16, enabled=False):
                loss = ((model(wrap(x)) - wrap(y)) ** 2).mean()
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)
    _assert_same(net, ref)


def test_numeric_queries_match_torch():
    for ours, theirs in (
        (em.float32, torch.float32),
        (em.bfloat16, torch.bfloat16),
        (em.half, torch.half),
    ):
        a, b = em.finfo(ours), torch.finfo(theirs)
        assert a.bits == b.bits
        for key in ("eps", "max", "min", "tiny"):
            assert float(getattr(a, key)) == getattr(b, key), (ours, key)
    assert (em.iinfo(em.int32).min, em.iinfo(em.int32).max) == (
        torch.iinfo(torch.int32).min,
        torch.iinfo(torch.int32).max,
    )
    assert em.is_tensor(em.ones(2)) and not em.is_tensor(np.ones(2))
    assert em.numel(em.ones(2, 3)) == 6 and em.get_default_dtype() == em.float32
    with pytest.raises(TypeError, match="iinfo"):
        em.finfo(em.int32)
    em.use_deterministic_algorithms(True)
    with em.autograd.detect_anomaly():
        em.autograd.set_detect_anomaly(True)


def test_subset_and_weighted_samplers():
    from ember.utils.data import (
        DataLoader,
        SubsetRandomSampler,
        TensorDataset,
        WeightedRandomSampler,
    )

    em.manual_seed(0)
    counts = np.bincount(list(WeightedRandomSampler([0.1, 0.0, 0.9], 20000)), minlength=3)
    assert counts[1] == 0 and abs(counts[0] / 20000 - 0.1) < 0.01
    once = list(WeightedRandomSampler([1.0, 2.0, 3.0, 4.0], 4, replacement=False))
    assert sorted(once) == [0, 1, 2, 3]
    with pytest.raises(RuntimeError, match="without replacement"):
        WeightedRandomSampler([1.0, 0.0], 2, replacement=False)
    sampler = SubsetRandomSampler([1, 3, 5, 7], seed=3)
    passes = [list(sampler) for _ in range(4)]
    assert all(sorted(p) == [1, 3, 5, 7] for p in passes) and len({tuple(p) for p in passes}) > 1
    sampler.set_epoch(1)
    assert list(sampler) == passes[1]  # a pass replays from its epoch
    loader = DataLoader(TensorDataset(em.tensor(np.arange(10.0))), batch_size=2, sampler=sampler)
    assert sorted(float(v) for b in loader for v in b[0].numpy()) == [1.0, 3.0, 5.0, 7.0]


def test_a_tagger_with_packed_sequences_trains_compiled_like_torch():
    """Embedding -> pack_padded_sequence (unsorted) -> bidirectional LSTM ->
    pad_packed_sequence -> Linear, CE(ignore_index), compiled (the lengths are data inside
    the step) against PyTorch's eager loop."""
    from torch.nn.utils import rnn as trnn

    from ember.nn.utils import rnn as ernn

    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 20, (4, 6)).astype(np.int32)
    lengths = np.array([6, 2, 4, 3], np.int32)
    for b in range(4):
        tokens[b, lengths[b] :] = 0
    tags = rng.integers(0, 5, (4, 6)).astype(np.int32)
    tags[tokens == 0] = -100

    def make(lib, rnnmod):
        class Tagger(lib.Module):
            def __init__(self):
                super().__init__()
                self.emb = lib.Embedding(20, 8, padding_idx=0)
                self.lstm = lib.LSTM(8, 6, batch_first=True, bidirectional=True)
                self.out = lib.Linear(12, 5)

            def forward(self, x, lengths):
                packed = rnnmod.pack_padded_sequence(
                    self.emb(x), lengths, batch_first=True, enforce_sorted=False
                )
                h, _ = self.lstm(packed)
                h, _ = rnnmod.pad_packed_sequence(h, batch_first=True, total_length=x.shape[1])
                return self.out(h)

        return Tagger()

    em.manual_seed(0)
    e = make(nn, ernn)
    t = make(torch.nn, trnn)
    t.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in e.state_dict().items()})

    class Wrap(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def training_step(self, batch):
            x, lengths, y = batch
            logits = self.m(x, lengths)
            return nn.functional.cross_entropy(
                logits.reshape(-1, 5), y.reshape(-1), ignore_index=-100
            )

        def forward(self, x, lengths):
            return self.m(x, lengths)

    model = em.compile(Wrap(e), optimizer=optim.SGD(e.parameters(), lr=0.5))
    topt = torch.optim.SGD(t.parameters(), lr=0.5)
    losses = []
    for _ in range(3):
        le = float(model.train_step((tokens, lengths, tags))["loss"])
        topt.zero_grad()
        lt = torch.nn.functional.cross_entropy(
            t(torch.from_numpy(tokens).long(), torch.from_numpy(lengths).long()).reshape(-1, 5),
            torch.from_numpy(tags).long().reshape(-1),
            ignore_index=-100,
        )
        lt.backward()
        topt.step()
        losses.append((le, float(lt.detach())))
    np.testing.assert_allclose(*zip(*losses, strict=True), rtol=1e-5)


def test_a_model_wrapped_in_data_parallel_trains_and_saves_like_torch(tmp_path):
    """`model = nn.DataParallel(model)`: calls reach `.module`, the state_dict carries the
    `module.` prefix torch gives it, and training matches torch's wrapped model."""
    net, ref = _pair()
    model, ref_model = nn.DataParallel(net), torch.nn.DataParallel(ref)
    assert model.module is net
    assert list(model.state_dict()) == list(ref_model.state_dict())
    opt = optim.SGD(model.parameters(), lr=0.1)
    ref_opt = torch.optim.SGD(ref_model.parameters(), lr=0.1)
    for k in range(3):
        x, y = _data(k)
        opt.zero_grad()
        nn.MSELoss()(model(em.tensor(x)), em.tensor(y)).backward()
        opt.step()
        ref_opt.zero_grad()
        torch.nn.MSELoss()(ref_model(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        ref_opt.step()
    for name, value in ref_model.state_dict().items():
        np.testing.assert_allclose(
            np.asarray(model.state_dict()[name]), value.numpy(), rtol=1e-5, err_msg=name
        )
    em.save(model.state_dict(), tmp_path / "wrapped.safetensors")
    fresh = nn.DataParallel(_pair()[0])
    fresh.load_state_dict(em.load(tmp_path / "wrapped.safetensors"))
    x, _ = _data(5)
    np.testing.assert_array_equal(fresh(em.tensor(x)).numpy(), model(em.tensor(x)).numpy())
    compiled = em.compile(model, loss=nn.MSELoss(), optimizer=optim.SGD(model.parameters(), lr=0.1))
    loss = float(compiled.train_step(*_data(6))["loss"])
    want = torch.nn.MSELoss()(
        ref_model(torch.from_numpy(_data(6)[0])), torch.from_numpy(_data(6)[1])
    )
    np.testing.assert_allclose(loss, want.item(), rtol=1e-5)
    with pytest.raises(TypeError, match="wraps an nn.Module"):
        nn.DataParallel(lambda x: x)


def test_batches_sliced_at_moving_offsets_compile_one_step_and_match_torch():
    """word_language_model's `get_batch`: `data = source[i : i + bptt]` of one long tensor
    at a new offset every step (and a parameter row picked by `x[t]`): one step program
    for every offset past 0, and the same training as torch."""
    net, ref = _pair()
    emb = nn.Parameter(em.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)))
    temb = torch.nn.Parameter(torch.tensor(np.asarray(emb)))
    opt = optim.SGD([*net.parameters(), emb], lr=0.1)
    topt = torch.optim.SGD([*ref.parameters(), temb], lr=0.1)
    rng = np.random.default_rng(3)
    source = rng.standard_normal((40, 4)).astype(np.float32)
    targets = rng.standard_normal((40, 2)).astype(np.float32)
    src, tsrc = em.tensor(source), torch.tensor(source)
    programs = []
    for step, i in enumerate(range(0, 30, 5)):
        for lib, model, o, s, e in ((em, net, opt, src, emb), (torch, ref, topt, tsrc, temb)):
            o.zero_grad()
            x = s[i : i + 5] + e[1 + step % 2]
            loss = ((model(x) - lib.tensor(targets[i : i + 5])) ** 2).mean()
            loss.backward()
            o.step()
        programs.append(em.compile_count())
    assert programs[-1] == programs[1], programs  # offsets past 0: no new programs
    for k, v in ref.state_dict().items():
        np.testing.assert_allclose(
            np.asarray(net.state_dict()[k]), v.detach().numpy(), rtol=1e-5, atol=1e-6
        )
    np.testing.assert_allclose(np.asarray(emb), temb.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_float64_requests_without_x64_warn_once_naming_the_fix_and_compute_in_float32():
    assert not em_dtypes.x64_enabled()  # the suite runs without JAX's x64 mode
    em_dtypes._WARNED_FLOAT64[0] = False
    with pytest.warns(UserWarning, match="jax_enable_x64") as caught:
        x = em.tensor([1.0, 2.0]).double()
        net = nn.Linear(2, 2).double()
        y = em.zeros(2, dtype=em.float64)
    assert len(caught) == 1 and caught[0].filename == __file__  # the user's line
    assert x.dtype == y.dtype == em.float32
    assert net(x).numpy().dtype == np.float32
