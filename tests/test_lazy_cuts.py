"""Where the lazy graph is cut in the loops PyTorch programs write (an evaluation loop's
running total, a training loop's running totals): values against PyTorch, and the number of
programs compiled."""

import numpy as np
import torch

import ember as em
from ember.runtime.stats import COMPILES, LOG

RNG = np.random.default_rng(0)
X = RNG.standard_normal((12, 8, 6)).astype(np.float32)
Y = RNG.integers(0, 3, (12, 8))


def _net(m):
    m.manual_seed(0)
    net = m.nn.Sequential(m.nn.Linear(6, 16), m.nn.Tanh(), m.nn.Linear(16, 3))
    return net


def _largest_cut(log_start: int) -> int:
    """The most ops in a lazy program compiled since `LOG[log_start]`."""
    sizes = [int(e.rsplit(": ", 1)[1].split()[0]) for e in LOG[log_start:] if e.endswith(" ops")]
    return max(sizes, default=0)


def _same_weights(net, net_t):
    net.load_state_dict({k: v.detach().numpy() for k, v in net_t.state_dict().items()})


def test_an_evaluation_loops_running_total_is_cut_each_pass_and_compiles_a_few_programs():
    def evaluate(m, net):
        crit = m.nn.CrossEntropyLoss()
        total, correct = 0, 0
        for x, y in zip(X, Y, strict=True):
            out = net(m.tensor(x))
            total += crit(out, m.tensor(y)).detach()  # never read inside the loop
            correct += (out.argmax(1) == m.tensor(y)).sum()
        return float(total), int(correct)

    net_t = _net(torch)
    net = _net(em)
    _same_weights(net, net_t)
    before, log_start = COMPILES["lazy"], len(LOG)
    got = evaluate(em, net)
    compiled = COMPILES["lazy"] - before
    want = evaluate(torch, net_t)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    assert got[1] == want[1]
    # one pass per cut: a first pass or two differ (the totals start as Python ints), then
    # every pass runs one program; before, all 12 forwards pended into one 98-op program
    assert compiled <= 4, compiled
    assert _largest_cut(log_start) <= 20, LOG[log_start:]


def test_a_no_grad_recurrence_through_a_module_call_matches_torch():
    def run(m):
        m.manual_seed(0)
        cell = m.nn.GRUCell(6, 5)
        h = m.zeros(8, 5)
        with m.no_grad():
            xs = m.tensor(X)
            for t in range(len(X)):
                h = cell(xs[t], h)
        return cell, h

    cell_t, h_t = run(torch)
    cell, _ = run(em)
    cell.load_state_dict({k: v.numpy() for k, v in cell_t.state_dict().items()})
    h, xs = em.zeros(8, 5), em.tensor(X)
    before, log_start = COMPILES["lazy"], len(LOG)
    with em.no_grad():
        for t in range(len(X)):
            h = cell(xs[t], h)
    np.testing.assert_allclose(h.numpy(), h_t.numpy(), rtol=1e-5, atol=1e-6)
    assert COMPILES["lazy"] - before <= 3
    assert _largest_cut(log_start) <= 6, LOG[log_start:]


def test_a_training_loops_running_totals_leave_the_step_one_program():
    def train(m, net):
        opt = m.optim.Adam(net.parameters(), lr=1e-2)
        crit = m.nn.CrossEntropyLoss()
        total_loss, total_tokens, seen = 0, 0, 0
        for i, (x, y) in enumerate(zip(X, Y, strict=True)):
            xt, yt = m.tensor(x), m.tensor(y)
            ntokens = (yt > 0).sum()
            loss = crit(net(xt), yt)
            loss.backward()
            seen += ntokens  # run_epoch's train_state.tokens
            opt.step()
            opt.zero_grad(set_to_none=True)
            total_loss += loss.data * ntokens
            total_tokens += ntokens
            if i == 1:
                print(f"step {i}: {float(loss.data):.4f}")  # a read, as a progress print
        return float(total_loss / total_tokens), int(seen), net[0].weight.detach().numpy()

    net_t = _net(torch)
    net = _net(em)
    _same_weights(net, net_t)
    before = COMPILES["optimizer.step"]
    got = train(em, net)
    steps_compiled = COMPILES["optimizer.step"] - before
    want = train(torch, net_t)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    assert got[1] == want[1]
    np.testing.assert_allclose(got[2], want[2], rtol=1e-4, atol=1e-6)
    assert steps_compiled <= 2, steps_compiled


def test_a_loss_read_after_the_step_comes_from_the_gradients_forward():
    """`loss.item()` after `optimizer.step()`: the step's program returns the loss that
    `value_and_grad` computes with the gradients, not a second forward (which XLA:CPU
    fused into a slow kernel chain on VGG's classifier: 7.4 s per step, not 0.6 s)."""

    def train(m, net, read: bool):
        opt = m.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        crit = m.nn.CrossEntropyLoss()
        losses = []
        for x, y in zip(X[:4], Y[:4], strict=True):
            opt.zero_grad()
            if read:
                loss = crit(net(m.tensor(x)), m.tensor(y))
                loss.backward()
                opt.step()
                losses.append(loss.item())
            else:  # nothing holds the loss at the step
                crit(net(m.tensor(x)), m.tensor(y)).backward()
                opt.step()
        return losses, net[0].weight.detach().numpy()

    def step_ops(read: bool) -> tuple:
        net = _net(em)
        _same_weights(net, net_t)
        log_start = len(LOG)
        got = train(em, net, read)
        ops = [e.rsplit(": ", 1)[1] for e in LOG[log_start:] if "optimizer.step" in e]
        return got, ops

    net_t = _net(torch)
    (losses, w), read_ops = step_ops(read=True)
    (_, w_unread), unread_ops = step_ops(read=False)
    want_losses, want_w = train(torch, net_t, read=True)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5)
    np.testing.assert_allclose(w, want_w, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(w, w_unread)
    assert read_ops == unread_ops, (read_ops, unread_ops)


def _denoiser(m):
    """A small eps-model taking the image and its timestep, as DDPM samplers call it."""

    class Eps(m.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = m.nn.Conv2d(1, 4, 3, padding=1)
            self.norm = m.nn.GroupNorm(2, 4)
            self.out = m.nn.Conv2d(4, 1, 3, padding=1)
            self.time = m.nn.Linear(1, 1)

        def forward(self, x, t):
            h = self.out(self.norm(self.conv(x)).relu())
            return h + self.time(t).view(-1, 1, 1, 1)

    m.manual_seed(0)
    return Eps().eval()


def _sample(m, eps_model, noise):
    """minDiffusion's sampler: the timestep as `torch.tensor(i / n_T)` every pass, nothing
    read until the end."""
    n_T = len(noise) - 1
    with m.no_grad():
        x = m.tensor(noise[0])
        for i in range(n_T, 0, -1):
            z = m.tensor(noise[i]) if i > 1 else 0
            t = m.tensor(i / n_T).repeat(x.shape[0], 1)
            x = 0.99 * (x - 0.01 * eps_model(x, t)) + 0.1 * z
        return x.numpy()


def test_a_diffusion_sampler_runs_one_forward_per_cut_and_compiles_independently_of_n_t():
    """Each pass is one cut with one forward (`_compute_earlier_calls`), and the Python
    float made into a tensor every pass is data, not a constant (`em.tensor(i / n_T)`):
    a longer sampler compiles nothing new. Before, the depth limit cut every ~11 passes,
    each cut with new constants, so the programs grew with n_T."""
    net_t = _denoiser(torch)
    net = _denoiser(em)
    _same_weights(net, net_t)
    noise = RNG.standard_normal((41, 2, 1, 8, 8)).astype(np.float32)
    got = _sample(em, net, noise)
    np.testing.assert_allclose(got, _sample(torch, net_t, noise), rtol=1e-4, atol=1e-5)
    longer = RNG.standard_normal((121, 2, 1, 8, 8)).astype(np.float32)
    before, log_start = COMPILES["lazy"], len(LOG)
    got = _sample(em, net, longer)
    np.testing.assert_allclose(got, _sample(torch, net_t, longer), rtol=1e-4, atol=1e-5)
    assert COMPILES["lazy"] - before <= 1, LOG[log_start:]
    assert _largest_cut(log_start) <= 12, LOG[log_start:]


def test_a_python_number_made_a_tensor_outside_a_trace_is_data_with_torchs_dtype():
    for value, dtype in ((0.25, "float32"), (3, "int32"), (True, "bool")):
        for made in (em.tensor(value), em.full((2, 3), value)):
            assert made.dtype == dtype
            assert "constant" not in str(em.graph_of(made))  # an input of the program
            np.testing.assert_array_equal(made.numpy(), np.full(made.shape, value))
    w = em.tensor(2.0, requires_grad=True)
    (w * 3).backward()
    assert w.grad.item() == 3.0


def test_a_buffer_registered_from_pending_work_is_computed_once():
    """DDPM registers its schedules (`cumprod` of a `linspace`) as buffers in `__init__`;
    the sampler reads them outside `forward`. The first cut computes them into the slots,
    so later cuts read arrays instead of recomputing the schedule."""

    class Schedules(em.nn.Module):
        def __init__(self):
            super().__init__()
            betas = em.linspace(1e-4, 0.02, 10)
            self.register_buffer("alphabar", em.cumprod(1 - betas, dim=0))

    s = Schedules()
    x, graphs = em.ones(2), []
    for i in range(3):
        x = x * s.alphabar[i]
        graphs.append(str(em.graph_of(x)))
        x.numpy()
    assert "cumprod" in graphs[0] and "cumprod" not in graphs[2]
    want = np.cumprod(1 - np.linspace(1e-4, 0.02, 10, dtype=np.float32))[:3].prod()
    np.testing.assert_allclose(x.numpy(), np.full(2, want), rtol=1e-6)


def _faded(m):
    """A progressive GAN's fade-in: `forward(x, alpha)` blends two paths by a Python float
    that changes every training step."""

    class Faded(m.nn.Module):
        def __init__(self):
            super().__init__()
            self.old, self.new = m.nn.Linear(4, 4), m.nn.Linear(4, 4)

        def forward(self, x, alpha):
            return (1 - alpha) * self.old(x) + alpha * self.new(x)

    m.manual_seed(0)
    return Faded()


def test_a_python_float_that_changes_every_call_is_data_after_its_second_value():
    """`g(x, i / 30)` in a training loop: the float was a static value of the trace, so
    every step traced and compiled anew; from its second value on it is a 0-d tensor."""
    net_t, net = _faded(torch), _faded(em)
    _same_weights(net, net_t)
    x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
    losses = {}
    before = em.compile_count()
    for name, m, n in (("torch", torch, net_t), ("ember", em, net)):
        opt = m.optim.SGD(n.parameters(), lr=0.1)
        out = []
        for i in range(30):
            opt.zero_grad()
            loss = n(m.tensor(x), i / 30).pow(2).mean()
            loss.backward()
            opt.step()
            out.append(loss.item())
        losses[name] = out
    np.testing.assert_allclose(losses["ember"], losses["torch"], rtol=1e-5)
    assert em.compile_count() - before <= 6


def test_a_diffusion_sampler_passing_the_timestep_as_a_python_float_compiles_once():
    """superminddpm's `eps_model(x_i, i / n_T)` under no_grad."""
    net_t, net = _faded(torch), _faded(em)
    _same_weights(net, net_t)

    def sample(m, n, n_T):
        with m.no_grad():
            x = m.tensor(np.ones((2, 4), np.float32))
            for i in range(n_T, 0, -1):
                x = x - 0.1 * n(x, i / n_T)
            return x.numpy()

    sample(em, net, 20)
    before = em.compile_count()
    got = sample(em, net, 60)
    np.testing.assert_allclose(got, sample(torch, net_t, 60), rtol=1e-5, atol=1e-6)
    assert em.compile_count() - before <= 2


def test_a_forward_that_branches_on_the_float_keeps_it_static():
    class Branchy(em.nn.Module):
        def forward(self, x, t):
            return x * 2 if t > 0.5 else x * 3

    net = Branchy()
    got = [net(em.ones(1), t).item() for t in (0.1, 0.9, 0.2, 0.7, 0.3)]
    assert got == [3.0, 2.0, 3.0, 2.0, 3.0]


def test_a_target_made_by_a_frozen_module_before_the_loop_leaves_the_step_one_program():
    """fast_neural_style computes `gram_style` with the frozen VGG once, before the loop,
    and never reads it: it used to be computed inside the first step's program, so the
    second step compiled a whole new program without it."""

    def run(m):
        m.manual_seed(0)
        feat = m.nn.Sequential(m.nn.Conv2d(3, 4, 3, padding=1), m.nn.Tanh())
        net = m.nn.Conv2d(3, 3, 3, padding=1)
        for mod in (feat, net):
            mod.load_state_dict(
                {
                    k: m.tensor(np.sin(np.arange(v.numel())).reshape(tuple(v.shape)).astype("f"))
                    for k, v in mod.state_dict().items()
                }
            )
        for p in feat.parameters():
            p.requires_grad = False
        opt = m.optim.Adam(net.parameters(), 1e-2)
        x = m.tensor(RNG_STYLE)
        target = feat(x * 2).mean(0)
        losses, compiles = [], []
        for _ in range(4):
            before = em.compile_count()
            opt.zero_grad()
            loss = ((feat(net(x)).mean(0) - target) ** 2).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            compiles.append(em.compile_count() - before)
        return losses, compiles

    want, _ = run(torch)
    got, compiles = run(em)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert compiles[1:] == [0, 0, 0], compiles


RNG_STYLE = np.random.default_rng(3).standard_normal((2, 3, 8, 8)).astype(np.float32)
