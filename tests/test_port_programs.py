"""Whole PyTorch programs ported to ember by changing imports, trained on the compiled path.

Each model's code lives once in `port_models.py` and is instantiated twice, with
PyTorch and with ember in the place of `torch`; ember's copy loads the PyTorch
initial weights. For each program: the forward outputs, the loss and every
parameter gradient match PyTorch at rtol 1e-5 (atol 1e-6), then 5 compiled
`train_step`s match the same 5 iterations of PyTorch's own training loop (losses
per step, final parameters and buffers). Then the compiled-path contract: errors,
recompilation rules and exact epoch means.

Bugs these ports found in ember are fixed; their tests stay as regressions.
"""

from __future__ import annotations

import warnings

import jax
import numpy as np
import port_models as pm
import pytest
import torch

import ember as em
from ember import nn, optim
from ember.errors import ShapeError, TraceError
from ember.frontend.python_random import TracedRandomnessWarning

RTOL, ATOL = 1e-5, 1e-6
STEPS = 5
EMBER = (em, em.nn, em.nn.functional)
TORCH = (torch, torch.nn, torch.nn.functional)
TF = torch.nn.functional


# -- helpers ---------------------------------------------------------------------------------


def ported(define, make, seed=0):
    """(torch_net, ember_net): the same class built from both libraries, torch's weights."""
    torch.manual_seed(seed)
    tnet = make(define(*TORCH))
    enet = make(define(*EMBER))
    assert list(enet.state_dict()) == list(tnet.state_dict())
    enet.load_state_dict({k: v.detach().numpy() for k, v in tnet.state_dict().items()})
    return tnet, enet


class GradProbe:
    """`em.compile(..., grad_transform=probe)`: records the gradients each compiled step
    computes (after any clipping), so the first step's gradients, taken at the initial
    weights, can be compared with PyTorch's `.grad` without compiling a second program."""

    def __init__(self):
        self.seen: list[list[np.ndarray]] = []

    def __call__(self, grads):
        jax.debug.callback(lambda g: self.seen.append([np.array(x) for x in g]), grads)
        return grads

    def named(self, net, opt, step=0) -> dict[str, np.ndarray]:
        names = {id(p): n for n, p in net.named_parameters()}
        return {names[id(p)]: g for p, g in zip(opt.params, self.seen[step], strict=True)}


def assert_grads_match(got: dict, tnet, want: dict, rtol=RTOL, atol=ATOL):
    """Every parameter gradient (tied weights once) against PyTorch's."""
    assert len(got) == len(list(tnet.parameters()))
    for name, g in got.items():
        np.testing.assert_allclose(g, want[name], rtol=rtol, atol=atol, err_msg=f"grad {name}")


def assert_state_match(net, tnet, rtol=RTOL, atol=ATOL, only=None):
    """Every parameter and buffer (or those named in `only`), by state-dict name."""
    mine = net.state_dict()
    for name, v in tnet.state_dict().items():
        if only is None or name in only:
            np.testing.assert_allclose(
                np.asarray(mine[name]), v.detach().numpy(), rtol=rtol, atol=atol, err_msg=name
            )


def assert_state_match_after_adam(net, tnet, first_grads, roundoff=1e-5):
    """`assert_state_match`, except elements whose first-step gradient is round-off (|g| at
    most `roundoff` times its tensor's largest): Adam normalizes round-off into lr-sized
    updates, which differ between any two libraries; those are compared at atol 1e-5."""
    mine = net.state_dict()
    for name, v in tnet.state_dict().items():
        got, want = np.asarray(mine[name]), v.detach().numpy()
        g = np.abs(first_grads.get(name, np.ones_like(want)))
        noise = g <= roundoff * g.max()
        for part, atol in ((~noise, ATOL), (noise, 1e-5)):
            np.testing.assert_allclose(got[part], want[part], rtol=RTOL, atol=atol, err_msg=name)


def tt(*arrays):
    """numpy -> torch (int64 for integer arrays, as PyTorch wants indices)."""
    out = tuple(
        torch.from_numpy(a.astype(np.int64) if a.dtype.kind == "i" else np.ascontiguousarray(a))
        for a in arrays
    )
    return out if len(out) > 1 else out[0]


def torch_loop(tnet, topt, batches, loss_fn, before_step=None):
    """PyTorch's loop (zero_grad, forward, loss, backward, [clip], step); returns the losses
    and the first step's gradients as `topt.step()` saw them."""
    losses, first_grads = [], None
    for batch in batches:
        topt.zero_grad()
        loss = loss_fn(tnet, *batch)
        loss.backward()
        if before_step is not None:
            before_step()
        if first_grads is None:
            first_grads = {
                n: p.grad.numpy().copy()
                for n, p in tnet.named_parameters(remove_duplicate=False)
                if p.grad is not None
            }
        topt.step()
        losses.append(loss.item())
    return losses, first_grads


# -- 1. seq2seq with attention and teacher forcing ------------------------------------------

V, H, N_S2S, SRC_LEN, TGT_LEN = 12, 8, 4, 4, 3
SCHEDULE = (False, True)  # fixed teacher forcing for decoder steps 1 and 2


def _s2s_batches(n=STEPS, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        src = rng.integers(1, V, (N_S2S, SRC_LEN))
        tgt = rng.integers(1, V, (N_S2S, TGT_LEN + 1))
        tgt[:, 0] = 0  # <sos>
        out.append((src, tgt[:, :-1].copy(), tgt[:, 1:].copy()))
    return out


def _s2s_torch_loss(net, src, tgt_in, tgt_out):
    logits, _ = net(src, tgt_in)
    return TF.cross_entropy(logits.reshape(-1, V), tgt_out.reshape(-1))


def _s2s_compile(enet, opt, **options):
    ce = nn.CrossEntropyLoss()
    return em.compile(  # the loss callable sees the whole (logits, attentions) output
        enet, loss=lambda out, y: ce(out[0].reshape(-1, V), y.reshape(-1)), optimizer=opt, **options
    )


def test_seq2seq_gru_attention_teacher_forcing_matches_torch():
    tnet, enet = ported(pm.define_seq2seq, lambda cls: cls[0](V, H, SCHEDULE))
    batches = _s2s_batches()
    src, tgt_in, _ = batches[0]
    t_logits, t_attn = tnet(*tt(src, tgt_in))
    e_logits, e_attn = enet(src, tgt_in)
    assert tuple(e_logits.shape) == (N_S2S, TGT_LEN, V)
    np.testing.assert_allclose(e_logits.numpy(), t_logits.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(e_attn.numpy(), t_attn.detach().numpy(), rtol=RTOL, atol=ATOL)

    probe = GradProbe()
    opt = optim.SGD(enet.parameters(), lr=0.5, momentum=0.9, foreach=False)  # torch kwargs
    model = _s2s_compile(enet, opt, grad_transform=probe)
    topt = torch.optim.SGD(tnet.parameters(), lr=0.5, momentum=0.9)
    want, t_grads = torch_loop(tnet, topt, [tt(*b) for b in batches], _s2s_torch_loss)
    got = [float(model.train_step((s, ti), to)["loss"]) for s, ti, to in batches]
    assert_grads_match(probe.named(enet, opt), tnet, t_grads)
    np.testing.assert_allclose(got, want, rtol=RTOL)
    assert_state_match(enet, tnet)
    assert model.compile_count == 1


def test_seq2seq_em_rand_teacher_forcing_with_where():
    """`em.rand(()) < p` + `em.where` teacher forcing: p=1 and p=0 are the all-forced and
    never-forced schedules; p=0.5 draws per step inside one compiled program."""
    src, tgt_in, tgt_out = _s2s_batches(n=1)[0]
    for p in (1.0, 0.0):
        tnet, enet = ported(pm.define_seq2seq, lambda cls, p=p: cls[0](V, H, p))
        tnet.teacher_forcing = (bool(p),) * (TGT_LEN - 1)
        want = tnet(*tt(src, tgt_in))[0].detach().numpy()
        np.testing.assert_allclose(enet(src, tgt_in)[0].numpy(), want, rtol=RTOL, atol=ATOL)

    _, enet = ported(pm.define_seq2seq, lambda cls: cls[0](V, H, 0.5))
    model = _s2s_compile(enet, optim.SGD(enet.parameters(), lr=0.0), seed=0)  # frozen weights
    losses = {float(model.train_step((src, tgt_in), tgt_out)["loss"]) for _ in range(8)}
    assert len(losses) > 1, "the teacher-forcing draw must change from step to step"
    assert model.compile_count == 1


def test_python_random_in_forward_warns_traced_randomness_in_a_compiled_step():
    _, enet = ported(pm.define_seq2seq, lambda cls: cls[1](V, H))
    src, tgt_in, tgt_out = _s2s_batches(n=1)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enet(src, tgt_in)  # an eager call draws anew each call, as torch runs it: no warning
    model = _s2s_compile(enet, optim.SGD(enet.parameters(), lr=0.0), seed=0)
    with pytest.warns(TracedRandomnessWarning, match=r"random\.random\(\).*em\.rand"):
        model.train_step((src, tgt_in), tgt_out)  # the compiled step freezes the draw


# -- 2. EmbeddingBag text classifier ----------------------------------------------------------

VOCAB, EMB, CLASSES, BAGS, TOKENS = 20, 8, 4, 6, 15


def _bags(rng, tokens=TOKENS, empty_bag=False):
    """One tutorial batch: concatenated token ids, bag offsets, labels."""
    cuts = np.sort(rng.choice(np.arange(1, tokens), BAGS - 1, replace=False))
    if empty_bag:
        cuts[2] = cuts[1]  # bag 2 is empty (PyTorch's mean of nothing is 0)
    offsets = np.concatenate([[0], cuts]).astype(np.int64)
    text = rng.integers(0, VOCAB, tokens)
    return text, offsets, rng.integers(0, CLASSES, BAGS)


def _text_torch_loss(net, text, offsets, label):
    return TF.cross_entropy(net(text, offsets), label)


def test_embedding_bag_text_classifier_matches_torch():
    tnet, enet = ported(pm.define_text_classifier, lambda cls: cls(VOCAB, EMB, CLASSES))
    rng = np.random.default_rng(1)
    batches = [_bags(rng, empty_bag=i == 1) for i in range(STEPS)]
    text, offsets, _ = batches[1]
    np.testing.assert_allclose(
        enet(text, offsets).numpy(),
        tnet(*tt(text, offsets)).detach().numpy(),
        rtol=RTOL,
        atol=ATOL,
    )
    # the tutorial: SGD(lr=5) with clip_grad_norm_(0.1) before each step
    probe = GradProbe()
    opt = optim.SGD(enet.parameters(), lr=5.0)
    model = em.compile(
        enet,
        loss=nn.CrossEntropyLoss(),
        optimizer=opt,
        metrics=["accuracy"],
        clip_grad_norm=0.1,
        grad_transform=probe,
    )
    topt = torch.optim.SGD(tnet.parameters(), lr=5.0)
    want, t_grads = torch_loop(
        tnet,
        topt,
        [tt(*b) for b in batches],
        _text_torch_loss,
        before_step=lambda: torch.nn.utils.clip_grad_norm_(tnet.parameters(), 0.1),
    )
    got = [float(model.train_step((t, o), y)["loss"]) for t, o, y in batches]
    assert_grads_match(probe.named(enet, opt), tnet, t_grads)
    np.testing.assert_allclose(got, want, rtol=RTOL)
    assert_state_match(enet, tnet)
    assert model.compile_count == 1

    # the tutorial's evaluate(): mean loss and accuracy over an iterable of batches
    tests = [_bags(rng) for _ in range(3)]
    result = model.evaluate([((t, o), y) for t, o, y in tests], verbose=0)
    with torch.no_grad():
        logits = torch.cat([tnet(*tt(t, o)) for t, o, _ in tests])
        labels = torch.cat([tt(y) for _, _, y in tests])
        t_loss = TF.cross_entropy(logits, labels).item()
        t_acc = (logits.argmax(1) == labels).float().mean().item()
    np.testing.assert_allclose(result["loss"], t_loss, rtol=RTOL)
    np.testing.assert_allclose(result["accuracy"], t_acc, rtol=RTOL)

    # a batch with another number of tokens is a new program, and the log says why
    text, offsets, label = _bags(rng, tokens=TOKENS + 2)
    model.train_step((text, offsets), label)
    assert model.compile_count == 3  # train, eval (for evaluate), train on 17 tokens
    assert "i32[15] to i32[17]" in model.compile_log[-1], model.compile_log[-1]


# -- 3. char-LSTM carrying its detached hidden state ---------------------------------------

NTOKEN, NINP, NHID, NLAYERS, BSZ, BPTT, LM_LR, CLIP = 10, 8, 8, 2, 3, 4, 2.0, 0.25


def _lm_batches():
    """word_language_model's batchify + get_batch on a random character stream."""
    stream = np.random.default_rng(2).integers(0, NTOKEN, BSZ * (STEPS * BPTT + 1))
    source = stream.reshape(BSZ, -1).T  # (time, batch)
    return [
        (source[i : i + BPTT].copy(), source[i + 1 : i + 1 + BPTT].reshape(-1).copy())
        for i in range(0, STEPS * BPTT, BPTT)
    ]


def _repackage_hidden(h):
    return h.detach() if isinstance(h, torch.Tensor) else tuple(_repackage_hidden(v) for v in h)


def test_char_lstm_carried_hidden_state_matches_torch():
    tnet, enet = ported(pm.define_char_lstm, lambda cls: cls(NTOKEN, NINP, NHID, NLAYERS))
    batches = _lm_batches()
    initial = {k: np.array(v) for k, v in enet.state_dict().items()}
    data, _ = batches[0]
    e_out, (h, c) = enet(data, enet.init_hidden(BSZ))
    t_out, (th, tc) = tnet(tt(data), tnet.init_hidden(BSZ))
    for mine, theirs in ((e_out, t_out), (h, th), (c, tc)):
        np.testing.assert_allclose(mine.numpy(), theirs.detach().numpy(), rtol=RTOL, atol=ATOL)

    # PyTorch's train(): repackage_hidden, backward, clip_grad_norm_, manual SGD
    t_losses, t_grads, hidden = [], None, tnet.init_hidden(BSZ)
    for data, targets in batches:
        data, targets = tt(data, targets)
        hidden = _repackage_hidden(hidden)
        tnet.zero_grad()
        output, hidden = tnet(data, hidden)
        loss = TF.nll_loss(output, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tnet.parameters(), CLIP)
        if t_grads is None:
            t_grads = {n: p.grad.numpy().copy() for n, p in tnet.named_parameters()}
        for p in tnet.parameters():
            p.data.add_(p.grad, alpha=-LM_LR)
        t_losses.append(loss.item())

    probe = GradProbe()
    opt = optim.SGD(enet.parameters(), lr=LM_LR)
    model = em.compile(enet, optimizer=opt, clip_grad_norm=CLIP, grad_transform=probe)
    got = [float(model.train_step(batch)["loss"]) for batch in batches]
    assert_grads_match(probe.named(enet, opt), tnet, t_grads)
    np.testing.assert_allclose(got, t_losses, rtol=RTOL)
    assert_state_match(enet, tnet)
    carry = model.state["run"]["carry"]
    for mine, theirs in zip(carry, hidden, strict=True):
        np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=RTOL, atol=ATOL)
    assert model.compile_count == 2  # the first step (no carry) and the carrying steps

    # fit over the same batches from the same weights: the carry restarts with the epoch,
    # so it replays the 5 steps exactly, on the two programs already compiled
    enet.load_state_dict(initial)
    history = model.fit(batches, epochs=1, verbose=0)
    np.testing.assert_allclose(history["loss"][0], np.mean(t_losses), rtol=RTOL)
    assert_state_match(enet, tnet)
    assert model.compile_count == 2
    model.reset_carry()
    assert model.state["run"]["carry"] is None


# -- 4. nanoGPT ---------------------------------------------------------------------------

GPT_CONFIG = pm.GPTConfig()
GPT_B = 4


def _gpt_batches():
    rng = np.random.default_rng(3)
    cfg = GPT_CONFIG
    out = []
    for _ in range(STEPS):
        data = rng.integers(0, cfg.vocab_size, (GPT_B, cfg.block_size + 1))
        idx, targets = data[:, :-1].copy(), data[:, 1:].copy()
        targets[0, :3] = -1  # nanoGPT's ignore_index=-1
        out.append((idx, targets))
    return out


def test_nanogpt_weight_tying_and_causal_buffer_match_torch():
    tgpt, egpt = ported(pm.define_gpt, lambda cls: cls(GPT_CONFIG))
    assert egpt.transformer.wte.weight is egpt.lm_head.weight
    assert "transformer.h.0.attn.bias" in egpt.state_dict()  # the causal mask buffer
    n = GPT_CONFIG.block_size
    np.testing.assert_array_equal(
        np.asarray(egpt.state_dict()["transformer.h.1.attn.bias"]),
        np.tril(np.ones((n, n), np.float32)).reshape(1, 1, n, n),
    )
    batches = _gpt_batches()
    idx, targets = batches[0]
    e_logits, e_loss = egpt(idx, targets)
    t_logits, t_loss = tgpt(*tt(idx, targets))
    np.testing.assert_allclose(e_logits.numpy(), t_logits.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(e_loss.item(), t_loss.item(), rtol=RTOL)

    probe = GradProbe()
    opt = egpt.configure_optimizers(0.1, 1e-3, (0.9, 0.95), optim)
    topt = tgpt.configure_optimizers(0.1, 1e-3, (0.9, 0.95), torch.optim)
    model = em.compile(egpt, loss=None, output=1, optimizer=opt, grad_transform=probe)
    want, t_grads = torch_loop(tgpt, topt, [tt(*b) for b in batches], lambda m, i, t: m(i, t)[1])
    got = [float(model.train_step((idx, targets))["loss"]) for idx, targets in batches]
    assert_grads_match(probe.named(egpt, opt), tgpt, t_grads)
    np.testing.assert_allclose(got, want, rtol=RTOL)
    # The key third of c_attn.bias has an exactly zero true gradient (softmax ignores a
    # shift of every score by q.b_k), and a few weights get a round-off first gradient;
    # both libraries compute different round-off there, which Adam turns into updates
    assert_state_match_after_adam(egpt, tgpt, t_grads)
    state = egpt.state_dict()
    np.testing.assert_array_equal(state["transformer.wte.weight"], state["lm_head.weight"])
    assert egpt.transformer.wte.weight is egpt.lm_head.weight  # still one parameter

    # fit on whole (idx, targets) arrays: the batches are sliced together; 2 more steps
    idx_all = np.concatenate([b[0] for b in batches[:2]])
    targets_all = np.concatenate([b[1] for b in batches[:2]])
    history = model.fit((idx_all, targets_all), batch_size=GPT_B, shuffle=False, verbose=0)
    more, _ = torch_loop(tgpt, topt, [tt(*b) for b in batches[:2]], lambda m, i, t: m(i, t)[1])
    np.testing.assert_allclose(history["loss"][0], np.mean(more), rtol=RTOL)
    assert model.compile_count == 1

    # generation's forward, compiled: targets=None -> the last position's logits, no loss
    tgpt.eval()
    logits, loss = model.predict(idx_all)
    assert loss is None and logits.shape == (2 * GPT_B, 1, GPT_CONFIG.vocab_size)
    want_logits = tgpt(tt(idx_all))[0].detach().numpy()
    np.testing.assert_allclose(logits, want_logits, rtol=1e-4, atol=1e-5)


# -- 5. VAE -------------------------------------------------------------------------------

VAE_IN, VAE_B = 24, 8


def _vae_data(seed, n=VAE_B):
    rng = np.random.default_rng(seed)
    x = (rng.random((n, VAE_IN)) < 0.3).astype(np.float32)  # binarized "pixels"
    eps = rng.standard_normal((n, 4)).astype(np.float32)
    return x, eps


def test_vae_with_noise_as_input_matches_torch():
    """`em.randn_like` noise is drawn from the compiled step's key and is not exposed, so
    the parity run passes eps in the batch (`reparameterize(mu, logvar, eps)`)."""
    (tvae, evae) = ported(pm.define_vae, lambda cls: cls[0]())
    batches = [_vae_data(seed) for seed in range(STEPS)]
    x, eps = batches[0]
    for mine, theirs in zip(evae(x, eps), tvae(*tt(x, eps)), strict=True):  # recon, mu, logvar
        np.testing.assert_allclose(mine.numpy(), theirs.detach().numpy(), rtol=RTOL, atol=ATOL)

    probe = GradProbe()
    opt = optim.Adam(
        evae.parameters(), lr=1e-3, foreach=None, capturable=False, differentiable=False
    )
    model = em.compile(evae, optimizer=opt, grad_transform=probe)
    topt = torch.optim.Adam(tvae.parameters(), lr=1e-3)
    t_logs = []

    def t_loss(net, x, eps):
        logs = net.training_step((x, eps))
        t_logs.append((logs["bce"].item(), logs["kld"].item()))
        return logs["loss"]

    want, t_grads = torch_loop(tvae, topt, [tt(*b) for b in batches], t_loss)
    logs = [model.train_step(batch) for batch in batches]
    assert_grads_match(probe.named(evae, opt), tvae, t_grads)
    np.testing.assert_allclose([float(lg["loss"]) for lg in logs], want, rtol=RTOL)
    np.testing.assert_allclose(
        [(float(lg["bce"]), float(lg["kld"])) for lg in logs], t_logs, rtol=RTOL, atol=ATOL
    )
    assert_state_match(evae, tvae)


def _vae_run(seed, steps, lr=1e-2):
    em.manual_seed(seed)
    vae = pm.define_vae(*EMBER)[0]()
    model = em.compile(vae, optimizer=optim.Adam(vae.parameters(), lr=lr))
    x, _ = _vae_data(10, n=32)
    losses = [float(model.train_step(x)["loss"]) for _ in range(steps)]
    return losses, {k: np.array(v) for k, v in vae.state_dict().items()}, model


def test_vae_with_em_randn_like_trains_and_is_reproducible():
    losses, params, _ = _vae_run(0, 30)
    assert np.mean(losses[-5:]) < 0.9 * np.mean(losses[:5]), losses
    again, params_again, _ = _vae_run(0, 30)  # the same em.manual_seed: the same run
    assert again == losses
    for name, value in params.items():
        np.testing.assert_array_equal(params_again[name], value, err_msg=name)
    frozen, _, _ = _vae_run(0, 4, lr=0.0)
    assert frozen[0] == losses[0]
    assert len(set(frozen)) == 4, "fresh noise every step (the weights do not move)"


def test_vae_evaluate_and_predict_with_em_randn_like():
    _, _, model = _vae_run(0, 1)
    x, _ = _vae_data(11)
    assert np.isfinite(model.evaluate(x, batch_size=VAE_B, verbose=0)["loss"])
    recon, _, _ = model.predict(x)
    assert recon.shape == x.shape


# -- 6. DCGAN: two compiled models over shared modules ------------------------------------

NZ, GAN_B, IMG = 4, 4, 16
GAN_RTOL, GAN_ATOL = 1e-4, 1e-5  # conv/BN chains over 5 Adam steps; float32 sum orders


def _dcgan_data():
    rng = np.random.default_rng(4)
    real = [np.tanh(rng.standard_normal((GAN_B, 1, IMG, IMG))).astype(np.float32) for _ in range(5)]
    noise = [rng.standard_normal((GAN_B, NZ, 1, 1)).astype(np.float32) for _ in range(5)]
    return list(zip(real, noise, strict=True))


def _dcgan_torch(netG, netD, data, refake_for_g):
    """PyTorch's examples/dcgan loop. `refake_for_g`: the G step runs netG(noise) again
    instead of reusing `fake` (same values and gradients; G's BN statistics update twice)."""
    criterion = torch.nn.BCELoss()
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    hist = []
    for real, noise in data:
        real, noise = tt(real, noise)
        b = real.size(0)
        netD.zero_grad()
        label = torch.full((b,), 1.0)
        errD_real = criterion(netD(real), label)
        errD_real.backward()
        fake = netG(noise)
        label.fill_(0.0)
        errD_fake = criterion(netD(fake.detach()), label)
        errD_fake.backward()
        optD.step()
        netG.zero_grad()
        label.fill_(1.0)
        if refake_for_g:
            fake = netG(noise)
        errG = criterion(netD(fake), label)
        errG.backward()
        optG.step()
        hist.append(((errD_real + errD_fake).item(), errG.item()))
    return hist


def _dcgan_pair():
    def make(lib):
        Generator, Discriminator, weights_init, _, _ = pm.define_dcgan(*lib)
        netG, netD = Generator(), Discriminator()
        netG.apply(weights_init)
        netD.apply(weights_init)
        return netG, netD

    torch.manual_seed(5)
    tG, tD = make(TORCH)
    eG, eD = make(EMBER)
    for e, t in ((eG, tG), (eD, tD)):
        e.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    return tG, tD, eG, eD


def test_dcgan_alternating_compiled_steps_match_torch_loop():
    """rtol 1e-4 (atol 1e-5): BatchNorm and conv-transpose chains over 5 Adam steps."""
    tG, tD, eG, eD = _dcgan_pair()
    data = _dcgan_data()
    _, _, _, DiscriminatorStep, GeneratorStep = pm.define_dcgan(*EMBER)
    betas = (0.5, 0.999)
    d_model = em.compile(
        DiscriminatorStep(eG, eD), optimizer=optim.Adam(eD.parameters(), lr=2e-4, betas=betas)
    )
    g_model = em.compile(
        GeneratorStep(eG, eD), optimizer=optim.Adam(eG.parameters(), lr=2e-4, betas=betas)
    )
    got = []
    for batch in data:
        loss_d = float(d_model.train_step(batch)["loss"])
        loss_g = float(g_model.train_step(batch)["loss"])
        got.append((loss_d, loss_g))
    want = _dcgan_torch(tG, tD, data, refake_for_g=False)
    np.testing.assert_allclose(got, want, rtol=GAN_RTOL, atol=GAN_ATOL)
    assert_state_match(eD, tD, GAN_RTOL, GAN_ATOL)  # D: parameters and BN buffers
    g_params = [n for n, _ in tG.named_parameters()]
    assert_state_match(eG, tG, GAN_RTOL, GAN_ATOL, only=g_params)
    # G's BatchNorm buffers: GeneratorStep re-runs G (a second compiled program cannot
    # reuse the D step's `fake`), so G's running statistics see each batch twice, as in
    # PyTorch's loop with `fake = netG(noise)` repeated in the G step
    tG2, tD2, _, _ = _dcgan_pair()
    again = _dcgan_torch(tG2, tD2, data, refake_for_g=True)
    np.testing.assert_allclose(again, want, rtol=1e-6)
    assert_state_match(eG, tG2, GAN_RTOL, GAN_ATOL)
    assert int(eG.main[1].num_batches_tracked) == 2 * len(data)
    assert int(eD.main[3].num_batches_tracked) == 3 * len(data)


# -- 7. fused two-optimizer step == two separate compiled steps ----------------------------


def _mlp_gan(seed):
    generator, discriminator, *_ = pm.define_mlp_gan(*EMBER)
    em.manual_seed(seed)
    return generator(), discriminator()


def _gan_data(n=STEPS):
    rng = np.random.default_rng(6)
    return [
        (rng.standard_normal((6, 4)).astype(np.float32), rng.standard_normal((6, 3)).astype("f"))
        for _ in range(n)
    ]


def test_fused_two_optimizer_step_equals_two_compiled_steps_bitwise():
    """One program with optimizer={"d": ..., "g": ...} (the g loss evaluated after the d
    update) against two compiled models over the same modules, and against PyTorch.

    No BatchNorm here: the fused step evaluates the whole training_step once per
    optimizer, so buffers would be updated for every loss (see the next test)."""
    *_, GAN, DStep, GStep = pm.define_mlp_gan(*EMBER)
    betas = (0.5, 0.999)
    G1, D1 = _mlp_gan(7)
    G2, D2 = _mlp_gan(7)
    fused = em.compile(
        GAN(G1, D1),
        optimizer={
            "d": optim.Adam(D1.parameters(), lr=2e-3, betas=betas),
            "g": optim.Adam(G1.parameters(), lr=2e-3, betas=betas),
        },
    )
    d_model = em.compile(DStep(G2, D2), optimizer=optim.Adam(D2.parameters(), lr=2e-3, betas=betas))
    g_model = em.compile(GStep(G2, D2), optimizer=optim.Adam(G2.parameters(), lr=2e-3, betas=betas))
    data = _gan_data()
    fused_logs, separate_logs = [], []
    for batch in data:
        logs = fused.train_step(batch)
        fused_logs.append((float(logs["d"]), float(logs["g"])))
        separate_logs.append(
            (float(d_model.train_step(batch)["loss"]), float(g_model.train_step(batch)["loss"]))
        )
    assert fused.compile_count == 1
    assert fused_logs == separate_logs
    for (name, a), b in zip(
        [*G1.state_dict().items(), *D1.state_dict().items()],
        [*G2.state_dict().values(), *D2.state_dict().values()],
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=name)

    # and both are PyTorch's sequential loop
    generator, discriminator, d_loss, g_loss, *_ = pm.define_mlp_gan(*TORCH)
    tG, tD = generator(), discriminator()
    G3, D3 = _mlp_gan(7)
    tG.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in G3.state_dict().items()})
    tD.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in D3.state_dict().items()})
    opt_d = torch.optim.Adam(tD.parameters(), lr=2e-3, betas=betas)
    opt_g = torch.optim.Adam(tG.parameters(), lr=2e-3, betas=betas)
    want = []
    for real, noise in data:
        real, noise = tt(real, noise)
        opt_d.zero_grad()
        ld = d_loss(tG, tD, real, noise)
        ld.backward()
        opt_d.step()
        opt_g.zero_grad()
        lg = g_loss(tG, tD, noise)
        lg.backward()
        opt_g.step()
        want.append((ld.item(), lg.item()))
    np.testing.assert_allclose(fused_logs, want, rtol=RTOL, atol=ATOL)
    assert_state_match(G1, tG)
    assert_state_match(D1, tD)


class _BNGan(nn.Module):
    def __init__(self):
        super().__init__()
        self.G = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4))
        self.D = nn.Sequential(nn.Linear(4, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))

    def d_loss(self, real, noise):
        fake = self.G(noise).detach()
        ones, zeros = em.ones(real.shape[0], 1), em.zeros(real.shape[0], 1)
        bce = nn.functional.binary_cross_entropy_with_logits
        return bce(self.D(real), ones) + bce(self.D(fake), zeros)

    def g_loss(self, noise):
        ones = em.ones(noise.shape[0], 1)
        return nn.functional.binary_cross_entropy_with_logits(self.D(self.G(noise)), ones)

    def training_step(self, batch):
        return {"d": self.d_loss(*batch), "g": self.g_loss(batch[1])}


class _BNGanPart(nn.Module):
    def __init__(self, gan, part):
        super().__init__()
        self.gan, self.part = gan, part

    def training_step(self, batch):
        return self.gan.d_loss(*batch) if self.part == "d" else self.gan.g_loss(batch[1])


def test_fused_step_with_batchnorm_updates_buffers_like_separate_steps():
    em.manual_seed(8)
    fused_gan = _BNGan()
    separate_gan = _BNGan()
    separate_gan.load_state_dict(fused_gan.state_dict())
    fused = em.compile(
        fused_gan,
        optimizer={
            "d": optim.SGD(fused_gan.D.parameters(), lr=0.1),
            "g": optim.SGD(fused_gan.G.parameters(), lr=0.1),
        },
    )
    d_model = em.compile(
        _BNGanPart(separate_gan, "d"), optimizer=optim.SGD(separate_gan.D.parameters(), lr=0.1)
    )
    g_model = em.compile(
        _BNGanPart(separate_gan, "g"), optimizer=optim.SGD(separate_gan.G.parameters(), lr=0.1)
    )
    batch = _gan_data(1)[0]
    fused.train_step(batch)
    d_model.train_step(batch)
    g_model.train_step(batch)
    bn_fused, bn_separate = fused_gan.G[1], separate_gan.G[1]
    assert int(bn_separate.num_batches_tracked) == 2  # one G forward in each loss
    assert int(bn_fused.num_batches_tracked) == int(bn_separate.num_batches_tracked)
    np.testing.assert_allclose(
        np.asarray(bn_fused.running_mean), np.asarray(bn_separate.running_mean), rtol=1e-6
    )


# -- 8. clear errors ------------------------------------------------------------------------


class _TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.aux = nn.Linear(3, 1)

    def forward(self, x, mask=None):
        out = self.fc(x)
        if mask is not None:
            out = out * mask
        return out, self.aux(x)


class _VectorStep(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def training_step(self, batch):
        x, y = batch
        return (self.fc(x) - y) ** 2  # forgot the reduction


def _xy(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3)).astype(np.float32), rng.integers(0, 2, n)


def test_stock_loss_on_structured_output_needs_output():
    net = _TwoHeads()
    model = em.compile(net, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(net.parameters()))
    x, y = _xy()
    with pytest.raises(
        TraceError, match=r"_TwoHeads returns .* but CrossEntropyLoss takes one prediction.*output="
    ):
        model.train_step(x, y)
    chosen = em.compile(
        net, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(net.parameters()), output=0
    )
    assert np.isfinite(float(chosen.train_step(x, y)["loss"]))
    with pytest.raises(TraceError, match=r"output=5 does not select anything"):
        em.compile(net, loss=nn.CrossEntropyLoss(), output=5).eval_step(x, y)


def test_training_step_returning_a_non_scalar_is_a_shape_error():
    net = _VectorStep()
    model = em.compile(net, optimizer=optim.SGD(net.parameters(), lr=0.1))
    x = _xy()[0]
    with pytest.raises(
        ShapeError, match=r"_VectorStep\.training_step's result must be a scalar.*\(4, 2\)"
    ):
        model.train_step((x, np.zeros((4, 2), np.float32)))


def test_batch_structure_change_compiles_a_new_program_and_says_why():
    net = _TwoHeads()
    model = em.compile(
        net, loss=nn.CrossEntropyLoss(), output=0, optimizer=optim.SGD(net.parameters(), lr=0.1)
    )
    x, y = _xy()
    model.train_step(x, y)
    assert model.compile_count == 1
    mask = np.ones((4, 2), np.float32)
    model.train_step((x, mask), y)  # now forward(x, mask): not an error, a second program
    assert model.compile_count == 2
    assert "input structure changed" in model.compile_log[-1], model.compile_log
    model.train_step(x, y)  # the first structure again: cached
    model.train_step((x, mask), y)
    assert model.compile_count == 2


def test_optimizer_over_parameters_outside_the_module_is_an_error():
    net, other = _TwoHeads(), nn.Linear(5, 7)
    model = em.compile(
        net,
        loss=nn.CrossEntropyLoss(),
        output=0,
        optimizer=optim.SGD([*net.parameters(), *other.parameters()], lr=0.1),
    )
    with pytest.raises(TraceError, match=r"not in the compiled module _TwoHeads.*\(7, 5\)"):
        model.train_step(*_xy())


# -- 9. compile counts ------------------------------------------------------------------------


class _Flagged(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x, double):
        out = self.fc(x)
        return out * 2 if double else out


def test_one_program_per_structure_types_and_static_values():
    net = _Flagged()
    model = em.compile(net, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(net.parameters()))
    x, y = _xy()
    model.train_step((x, False), y)
    model.train_step((x.astype(np.float64), False), y.astype(np.int32))  # same canonical types
    model.train_step((x + 1, False), y)
    assert model.compile_count == 1
    model.train_step((x, True), y)  # a Python bool in the batch is static
    assert model.compile_count == 2
    assert "static argument" in model.compile_log[-1] and "False to True" in model.compile_log[-1]
    model.train_step((x, False), y)
    model.train_step((x, True), y)
    assert model.compile_count == 2
    x6, y6 = _xy(6)
    model.train_step((x6, True), y6)  # another batch size
    assert model.compile_count == 3
    assert "f32[4,3] to f32[6,3]" in model.compile_log[-1], model.compile_log[-1]
    model.eval_step((x, True), y)  # eval programs are separate, counted too
    assert model.compile_count == 4


class _LongPositions(nn.Module):
    def __init__(self):
        super().__init__()
        self.pos = nn.Embedding(8, 2)

    def forward(self, idx):  # nanoGPT: torch.arange(0, t, dtype=torch.long)
        return self.pos(em.arange(0, idx.shape[1], dtype=em.long)) + idx.long().float()[..., None]


def test_torch_long_in_forward_compiles_without_jax_int64_warnings():
    net = _LongPositions()
    model = em.compile(net, loss=nn.MSELoss(), optimizer=optim.SGD(net.parameters(), lr=0.1))
    idx = np.zeros((2, 4), np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.train_step(idx, np.zeros((2, 4, 2), np.float32))
    assert "i64" not in str(model.graph("train", idx, np.zeros((2, 4, 2), np.float32)))


# -- 10. exact epoch means: sample weights, ignored targets, ragged last batch ---------------


def _frozen_classifier():
    em.manual_seed(9)
    net = nn.Linear(3, 4)
    return net, optim.SGD(net.parameters(), lr=0.0)  # lr 0: fit's epoch mean is checkable


def _per_sample_ce(net, x, y, ignore_index=-100):
    tnet = torch.nn.Linear(3, 4)
    tnet.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in net.state_dict().items()})
    with torch.no_grad():
        return TF.cross_entropy(
            tnet(torch.tensor(x)), torch.tensor(y), reduction="none", ignore_index=ignore_index
        ).numpy()


def test_fit_and_evaluate_with_sample_weight_are_exact_weighted_means():
    net, opt = _frozen_classifier()
    model = em.compile(net, loss=nn.CrossEntropyLoss(), optimizer=opt)
    rng = np.random.default_rng(10)
    x, y = _xy(10, seed=10)
    w = rng.random(10).astype(np.float32) * 3
    per = _per_sample_ce(net, x, y.astype(np.int64))
    want = float((per * w).sum() / w.sum())
    history = model.fit(x, y, batch_size=4, shuffle=False, verbose=0, sample_weight=w)  # 4,4,2
    np.testing.assert_allclose(history["loss"][0], want, rtol=RTOL)
    np.testing.assert_allclose(
        model.evaluate(x, y, batch_size=4, verbose=0, sample_weight=w)["loss"], want, rtol=RTOL
    )
    # unweighted: the mean over samples, not the mean of batch means
    np.testing.assert_allclose(
        model.evaluate(x, y, batch_size=4, verbose=0)["loss"], per.mean(), rtol=RTOL
    )
    assert per.mean() != pytest.approx(np.mean([per[:4].mean(), per[4:8].mean(), per[8:].mean()]))


def test_fit_and_evaluate_with_ignore_index_average_over_valid_targets():
    net, opt = _frozen_classifier()
    model = em.compile(net, loss=nn.CrossEntropyLoss(ignore_index=-1), optimizer=opt)
    x, y = _xy(10, seed=11)
    y[[0, 1, 2, 5, 9]] = -1  # batches of 4, 4, 2 with 1, 3, 1 valid targets
    per = _per_sample_ce(net, x, y.astype(np.int64), ignore_index=-1)
    want = float(per[y != -1].mean())
    history = model.fit(x, y, batch_size=4, shuffle=False, verbose=0)
    np.testing.assert_allclose(history["loss"][0], want, rtol=RTOL)
    np.testing.assert_allclose(
        model.evaluate(x, y, batch_size=4, verbose=0)["loss"], want, rtol=RTOL
    )


def test_epoch_mean_skips_a_batch_with_only_ignored_targets():
    net, opt = _frozen_classifier()
    model = em.compile(net, loss=nn.CrossEntropyLoss(ignore_index=-1), optimizer=opt)
    x, y = _xy(10, seed=12)
    y[8:] = -1  # the ragged last batch has no valid target
    per = _per_sample_ce(net, x, y.astype(np.int64), ignore_index=-1)
    want = float(per[y != -1].mean())
    np.testing.assert_allclose(
        model.evaluate(x, y, batch_size=4, verbose=0)["loss"], want, rtol=RTOL
    )
