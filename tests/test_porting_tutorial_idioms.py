"""Idioms of PyTorch's tutorials and of PyTorch-GAN / minGPT, each against torch."""

import numpy as np
import pytest
import torch
from helpers import settle_pending_tensors_of_earlier_tests

import ember as em
from ember import nn
from ember.autograd import Variable


def _copy_weights(ours, theirs) -> None:
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})


def test_two_optimizers_stepped_after_one_backward_match_torch():
    """seq2seq_translation_tutorial: `loss.backward(); encoder_optimizer.step();
    decoder_optimizer.step()` (the second step used to recompute the backward from the
    encoder weights the first step had donated)."""
    em.manual_seed(0)
    enc, dec = nn.Embedding(10, 8), nn.Linear(8, 3)
    enc_t, dec_t = torch.nn.Embedding(10, 8), torch.nn.Linear(8, 3)
    _copy_weights(enc, enc_t)
    _copy_weights(dec, dec_t)
    opts = [em.optim.Adam(enc.parameters(), lr=1e-2), em.optim.SGD(dec.parameters(), lr=0.1)]
    opts_t = [
        torch.optim.Adam(enc_t.parameters(), lr=1e-2),
        torch.optim.SGD(dec_t.parameters(), lr=0.1),
    ]
    tokens = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    for step in range(3):
        for opt in opts + opts_t:
            opt.zero_grad()
        loss = dec(enc(em.tensor([tokens[step]]))).pow(2).mean()
        loss_t = dec_t(enc_t(torch.tensor([tokens[step]]))).pow(2).mean()
        loss.backward()
        loss_t.backward()
        for opt in opts + opts_t:
            opt.step()
        np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-5)
    np.testing.assert_allclose(enc.weight.numpy(), enc_t.weight.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(dec.weight.numpy(), dec_t.weight.detach().numpy(), atol=1e-6)


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.nn.ReLU(inplace=True),
        lambda m: m.nn.LeakyReLU(0.2, inplace=True),
        lambda m: m.nn.ELU(inplace=True),
        lambda m: m.nn.Hardtanh(-0.5, 0.5, inplace=True),
        lambda m: m.nn.Threshold(0.1, 20.0, inplace=True),
    ],
)
def test_inplace_activations_overwrite_their_input_like_torch(make):
    values = [[-1.0, 0.05, 2.0]]
    x, x_t = em.tensor(values), torch.tensor(values)
    with em.no_grad():
        layer = make(em)
    layer_t = make(torch)
    assert layer.inplace and repr(layer) == repr(layer_t)
    # the functional forms overwrite the tensor passed in; an eager module call returns
    # the result (its traced program does not write the caller's tensor)
    out, out_t = layer(x), layer_t(x_t)
    np.testing.assert_allclose(out.numpy(), out_t.numpy(), rtol=1e-6)
    z, z_t = em.tensor(values), torch.tensor(values)
    em.nn.functional.leaky_relu(z, 0.2, inplace=True)
    torch.nn.functional.leaky_relu(z_t, 0.2, inplace=True)
    np.testing.assert_allclose(z.numpy(), z_t.numpy(), rtol=1e-6)


def test_inplace_activation_inside_a_forward_is_seen_by_later_reads():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.act = nn.LeakyReLU(0.2, inplace=True)

        def forward(self, x):
            h = self.fc(x)
            self.act(h)  # return value ignored: h itself is overwritten, as in torch
            return h * 2

    em.manual_seed(0)
    net = Block()
    ref = torch.nn.Linear(3, 3)
    _copy_weights(net.fc, ref)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    h_t = ref(torch.from_numpy(x))
    torch.nn.functional.leaky_relu(h_t, 0.2, inplace=True)
    np.testing.assert_allclose(
        net(em.tensor(x)).detach().numpy(), (h_t * 2).detach().numpy(), rtol=1e-5
    )


def test_variable_is_the_tensor_and_nelement_counts():
    t = em.ones(2, 1).fill_(1.0)
    assert Variable(t, requires_grad=False) is t
    v = Variable(em.FloatTensor(3).fill_(2.0), requires_grad=True)
    assert v.requires_grad and v.is_leaf and isinstance(v, Variable)
    (v * v).sum().backward()
    np.testing.assert_allclose(v.grad.numpy(), [4.0, 4.0, 4.0])
    assert em.zeros(2, 3).nelement() == 6


def test_requires_grad_on_a_tensor_made_by_an_op_makes_a_leaf_like_torch():
    x = em.randn(3)
    x.requires_grad_()
    twin = em.ones(3) + 0  # a computed tensor, flagged through the attribute
    twin.requires_grad = True
    ((x * x).sum() + (twin * 3).sum()).backward()
    assert x.is_leaf and twin.is_leaf
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(twin.grad.numpy(), [3.0, 3.0, 3.0])
    kept = x.detach()
    x.requires_grad_(False)
    assert not x.requires_grad and not kept.requires_grad


def test_a_retained_graph_reused_after_an_optimizer_step_matches_torch():
    """A GAN loop: `backward(retain_graph=True)`, a step, then a second backward through
    the kept graph (it read weights the step donated: "Array has been deleted")."""
    z = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)

    def run(m, G, D):
        opt = m.optim.SGD(G.parameters(), lr=0.1)
        h = G(m.tensor(z))
        D(h).mean().backward(retain_graph=True)
        opt.step()
        (h**2).mean().backward()
        opt.step()
        return G.weight.detach().numpy()

    em.manual_seed(0)
    G, D = nn.Linear(3, 2), nn.Linear(2, 4)
    G_t, D_t = torch.nn.Linear(3, 2), torch.nn.Linear(2, 4)
    _copy_weights(G, G_t)
    _copy_weights(D, D_t)
    np.testing.assert_allclose(run(em, G, D), run(torch, G_t, D_t), rtol=1e-5, atol=1e-6)


def test_a_sampling_loop_that_never_reads_a_value_keeps_its_pending_graph_bounded():
    """minGPT's generate(): `idx = cat((idx, multinomial(probs, 1)), 1)` with no read until
    the end recorded one graph growing every step (generate(500): > 10 minutes)."""
    from ember.frontend.lazy import MAX_PENDING_DEPTH

    em.manual_seed(0)
    net = nn.Sequential(nn.Embedding(11, 8), nn.Linear(8, 11))
    idx = em.zeros(1, 4, dtype=em.long)
    with em.no_grad():
        for _ in range(40):
            probs = em.softmax(net(idx[:, -4:])[:, -1, :], dim=-1)
            idx = em.cat((idx, em.multinomial(probs, num_samples=1)), dim=1)
            assert len(em.graph_of(idx).nodes) <= MAX_PENDING_DEPTH + 16
    assert idx.shape == (1, 44) and 0 <= int(idx.min()) and int(idx.max()) < 11


def test_a_forward_that_draws_from_pythons_random_runs_anew_each_eager_call_like_torch():
    """PyTorch's "Learning PyTorch with Examples" dynamic_net: forward picks its depth with
    `random.randint` at every call (ember's eager call used to freeze the first draw)."""
    import math
    import random
    import warnings

    def run(m):
        class DynamicNet(m.nn.Module):
            def __init__(self):
                super().__init__()
                self.a, self.b, self.c, self.d, self.e = (
                    m.nn.Parameter(m.tensor(0.1 * k)) for k in range(1, 6)
                )

            def forward(self, x):
                y = self.a + self.b * x + self.c * x**2 + self.d * x**3
                for exp in range(4, random.randint(4, 6)):
                    y = y + self.e * x**exp
                return y

        x = m.tensor(np.linspace(-math.pi, math.pi, 200, dtype=np.float32))
        y = m.sin(x)
        net = DynamicNet()
        opt = m.optim.SGD(net.parameters(), lr=1e-8, momentum=0.9)
        random.seed(0)
        losses = []
        for _ in range(12):
            loss = (net(x) - y).pow(2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no TracedRandomnessWarning: nothing is frozen
        ours = run(em)
    np.testing.assert_allclose(ours, run(torch), rtol=1e-5)


def test_pre_0_4_sgd_through_data_keeps_the_leaf_and_matches_torch():
    """Older examples_autograd: `w1.data -= lr * w1.grad.data; w1.grad.data.zero_()`."""

    def run(m):
        w = m.tensor([1.0, 2.0], requires_grad=True)
        x = m.tensor([0.5, -1.5])
        for _ in range(3):
            ((w * x).sum() ** 2).backward()
            w.data -= 0.1 * w.grad.data
            w.grad.data.zero_()
        assert w.requires_grad and w.is_leaf
        return w.detach().numpy()

    np.testing.assert_allclose(run(em), run(torch), rtol=1e-6)


def test_causal_mask_is_a_tensor_and_default_device_is_accepted():
    mask = nn.Transformer.generate_square_subsequent_mask(4).to("cpu")
    np.testing.assert_array_equal(
        mask.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(4).numpy()
    )
    em.set_default_device("cpu")
    assert em.get_default_device() == em.device("cpu")


def test_out_argument_writes_the_result_like_torch():
    """The 60-minute blitz: `torch.add(x, y, out=result)`, `torch.matmul(a, b, out=c)`."""
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    result, result_t = em.empty(2, 3), torch.empty(2, 3)
    em.add(em.tensor(x), em.tensor(x), out=result)
    torch.add(torch.tensor(x), torch.tensor(x), out=result_t)
    np.testing.assert_array_equal(result.numpy(), result_t.numpy())
    product = em.zeros(1)  # resized to the result, as torch does
    em.matmul(em.tensor(x), em.tensor(x).T, out=product)
    np.testing.assert_array_equal(product.numpy(), x @ x.T)
    values, indices = em.zeros(2), em.zeros(2, dtype=em.int32)
    em.max(em.tensor(x), 1, out=(values, indices))
    np.testing.assert_array_equal(values.numpy(), [2, 5])
    np.testing.assert_array_equal(indices.numpy(), [2, 2])


def test_grad_fn_is_walkable_and_size_has_numel_like_torch():
    """The blitz's neural-network page follows `loss.grad_fn.next_functions`."""

    def walk(m):
        x = m.ones(2, requires_grad=True)
        y = (x * 2).sum()
        first = y.grad_fn.next_functions[0][0]
        leaf = first.next_functions[0][0]
        return y.grad_fn.name(), first.name(), type(leaf).__name__, leaf.variable is x

    assert walk(em) == walk(torch)
    assert em.ones(2).grad_fn is None
    size = em.zeros(2, 3).size()
    assert size == torch.zeros(2, 3).size() and size.numel() == 6 and size[1:] == (3,)


def test_a_gan_loop_compiles_its_steps_once_and_matches_torch():
    """PyTorch-GAN's loop: the G step's backward also fills D's `.grad`, which from the
    second iteration on accumulates into D's last gradient; that must not make the G
    step a second program (a dcgan recompiled for 17 s on a 2-core CPU)."""

    def build(m):
        m.manual_seed(0)
        G = m.nn.Sequential(m.nn.Linear(4, 8), m.nn.LeakyReLU(0.2, inplace=True), m.nn.Linear(8, 6))
        D = m.nn.Sequential(m.nn.Linear(6, 8), m.nn.LeakyReLU(0.2, inplace=True), m.nn.Linear(8, 1))
        return G, D

    def run(m, G, D, batches, counts=None):
        adv = m.nn.BCEWithLogitsLoss()
        opt_g = m.optim.Adam(G.parameters(), lr=1e-2, betas=(0.5, 0.999))
        opt_d = m.optim.Adam(D.parameters(), lr=1e-2, betas=(0.5, 0.999))
        losses = []
        for real, z in batches:
            real, z = m.tensor(real), m.tensor(z)
            valid, fake = m.ones(len(real), 1), m.zeros(len(real), 1)
            opt_g.zero_grad()
            gen = G(z)
            g_loss = adv(D(gen), valid)
            g_loss.backward()
            opt_g.step()
            opt_d.zero_grad()
            d_loss = (adv(D(real), valid) + adv(D(gen.detach()), fake)) / 2
            d_loss.backward()
            opt_d.step()
            losses.append((g_loss.item(), d_loss.item()))
            if counts is not None:
                counts.append(em.compile_count())
        return np.array(losses)

    rng = np.random.default_rng(0)
    batches = [
        (
            rng.standard_normal((8, 6)).astype(np.float32),
            rng.standard_normal((8, 4)).astype(np.float32),
        )
        for _ in range(4)
    ]
    G, D = build(em)
    G_t, D_t = build(torch)
    _copy_weights(G, G_t)
    _copy_weights(D, D_t)
    settle_pending_tensors_of_earlier_tests()
    counts = []
    ours = run(em, G, D, batches, counts)
    np.testing.assert_allclose(ours, run(torch, G_t, D_t, batches), rtol=1e-5)
    assert counts[-1] == counts[0], f"compiles after each iteration: {counts}"


def test_a_loss_module_made_anew_every_iteration_compiles_the_step_once():
    """`criterion = nn.BCELoss()` inside the loop (or `nn.CrossEntropyLoss()(out, y)`): a
    new module of a class and settings already traced reuses that trace, and the step
    keeps its program (a DCGAN loop written so recompiled two steps per iteration, 7 s
    each, and traced every loss anew)."""

    def build(m):
        m.manual_seed(0)
        return m.nn.Sequential(m.nn.Linear(6, 8), m.nn.Tanh(), m.nn.Linear(8, 3))

    def run(m, net, batches, counts=None):
        opt = m.optim.Adam(net.parameters(), lr=1e-2)
        losses = []
        for x, y in batches:
            x, y = m.tensor(x), m.tensor(y)
            opt.zero_grad()
            out = net(x)
            # equal classes with other settings must not share a program
            loss = m.nn.CrossEntropyLoss()(out, y) + m.nn.MSELoss()(out, m.zeros_like(out))
            loss = loss + m.nn.CrossEntropyLoss(label_smoothing=0.2)(out, y)
            loss = loss + m.nn.MSELoss(reduction="sum")(out, m.ones_like(out)) / 8
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if counts is not None:
                counts.append(em.compile_count())
        return np.array(losses)

    rng = np.random.default_rng(0)
    batches = [
        (rng.standard_normal((5, 6)).astype(np.float32), rng.integers(0, 3, 5)) for _ in range(4)
    ]
    net, net_t = build(em), build(torch)
    _copy_weights(net, net_t)
    settle_pending_tensors_of_earlier_tests()
    counts = []
    ours = run(em, net, batches, counts)
    np.testing.assert_allclose(ours, run(torch, net_t, batches), rtol=1e-5)
    assert counts[-1] == counts[1], f"compiles and traces after each iteration: {counts}"


def test_autograd_grad_with_respect_to_a_value_and_one_computed_from_it_matches_torch():
    def run(m):
        x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        h = x * 2
        y = h * 3
        loss = (y**2).sum()
        return [g.numpy() for g in m.autograd.grad(loss, [x, h, y])]

    for ours, theirs in zip(run(em), run(torch), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_manual_in_place_updates_read_only_through_the_loss_compile_once():
    """jcjohnson's two_layer_net_tensor: `w -= lr * grad` each iteration while only the
    loss is read; the update used to be replayed from the start at every read."""

    def run(m):
        rng = np.random.default_rng(0)
        x = m.tensor(rng.standard_normal((16, 10)).astype(np.float32))
        y = m.tensor(rng.standard_normal((16, 2)).astype(np.float32))
        w = m.tensor(rng.standard_normal((10, 2)).astype(np.float32))
        losses, counts = [], []
        for _ in range(8):
            pred = x.mm(w)
            losses.append((pred - y).pow(2).sum().item())
            w -= 1e-3 * x.t().mm(2.0 * (pred - y))
            counts.append(em.compile_count())
        return losses, counts

    settle_pending_tensors_of_earlier_tests()
    (ours, counts), (theirs, _) = run(em), run(torch)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    assert counts[-1] == counts[2], f"compiles after each iteration: {counts}"


def test_indexing_past_the_end_raises_index_error_like_torch():
    """Old programs' `loss.data[0]` on a 0-d tensor (PyTorch-GAN's began): IndexError."""
    for make in (lambda m: m.tensor(3.0)[0], lambda m: m.zeros(3)[5]):
        with pytest.raises(IndexError):
            make(torch)
        with pytest.raises(IndexError):
            make(em)


def test_get_batch_over_random_offsets_matches_torch_and_iteration_yields_views():
    """ng-video-lecture's get_batch: `torch.stack([data[i:i+8] for i in ix])`; iterating a
    tensor computes it once and hands out rows that are views, as in torch."""
    tokens = np.random.default_rng(0).integers(0, 65, 500).tolist()
    offsets = [3, 100, 41, 250]

    def get_batch(m):
        data = m.tensor(tokens, dtype=m.long)
        ix = m.tensor(offsets)
        x = m.stack([data[i : i + 8] for i in ix])
        y = m.stack([data[i + 1 : i + 9] for i in ix])
        return x.numpy(), y.numpy()

    for ours, theirs in zip(get_batch(em), get_batch(torch), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    x = em.arange(6.0).reshape(3, 2)
    for row in x:
        row.mul_(2)
    np.testing.assert_array_equal(x.numpy(), np.arange(6.0).reshape(3, 2) * 2)
