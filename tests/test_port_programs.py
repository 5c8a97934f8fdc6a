"""Whole PyTorch programs ported to ember by changing imports, trained on the compiled path.

Each model's code lives once in `port_models.py` and is instantiated twice, with
PyTorch and with ember in the place of `torch`; ember's copy loads the PyTorch
initial weights. For each program: the forward outputs, the loss and every
parameter gradient match PyTorch at rtol 1e-5 (atol 1e-6), then 5 compiled
`train_step`s match the same 5 iterations of PyTorch's own training loop (losses
per step, final parameters and buffers). Then the compiled-path contract: errors,
recompilation rules and exact epoch means.
"""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pytest
import torch

import ember as em
import port_models as pm
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

V, H, N_S2S, SRC_LEN, TGT_LEN = 12, 8, 4, 6, 5
SCHEDULE = (True, False, True, True)  # fixed teacher forcing for decoder steps 1..4


def _s2s_batches(n=STEPS, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        src = rng.integers(1, V, (N_S2S, SRC_LEN))
        tgt = rng.integers(1, V, (N_S2S, TGT_LEN + 1))
        tgt[:, 0] = 0  # <sos>
        out.append((src, tgt[:, :-1].copy(), tgt[:, 1:].copy()))
    return out


def _s2s_loss(F):
    def loss(net, src, tgt_in, tgt_out):
        logits, _ = net(src, tgt_in)
        return F.cross_entropy(logits.reshape(-1, V), tgt_out.reshape(-1))

    return loss


def test_seq2seq_gru_attention_teacher_forcing_matches_torch():
    tnet, enet = ported(pm.define_seq2seq, lambda cls: cls[0](V, H, SCHEDULE))
    batches = _s2s_batches()
    src, tgt_in, tgt_out = batches[0]
    t_logits, t_attn = tnet(*tt(src, tgt_in))
    e_logits, e_attn = enet(src, tgt_in)
    assert tuple(e_logits.shape) == (N_S2S, TGT_LEN, V)
    np.testing.assert_allclose(e_logits.numpy(), t_logits.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(e_attn.numpy(), t_attn.detach().numpy(), rtol=RTOL, atol=ATOL)
    assert_grads_match(enet, tnet, _s2s_loss, batches[0], tt(*batches[0]))

    ce = nn.CrossEntropyLoss()
    model = em.compile(
        enet,
        loss=lambda out, y: ce(out[0].reshape(-1, V), y.reshape(-1)),  # the whole (logits, attn)
        optimizer=optim.SGD(enet.parameters(), lr=0.5, momentum=0.9),
    )
    topt = torch.optim.SGD(tnet.parameters(), lr=0.5, momentum=0.9)
    want = torch_loop(tnet, topt, [tt(*b) for b in batches], _s2s_loss(TF))
    got = [float(model.train_step((s, ti), to)["loss"]) for s, ti, to in batches]
    np.testing.assert_allclose(got, want, rtol=RTOL)
    assert_state_match(enet, tnet)
    assert model.compile_count == 1


def test_seq2seq_em_rand_teacher_forcing_with_where():
    """`em.rand(()) < p` + `em.where` teacher forcing: p=1 and p=0 are the fixed schedules,
    p=0.5 draws per step inside the compiled program (one program, no recompiles)."""
    batches = _s2s_batches(n=1)
    src, tgt_in, tgt_out = batches[0]
    for p in (1.0, 0.0):
        tnet, enet = ported(pm.define_seq2seq, lambda cls, p=p: cls[0](V, H, p))
        tnet.teacher_forcing = (bool(p),) * (TGT_LEN - 1)
        want = tnet(*tt(src, tgt_in))[0].detach().numpy()
        np.testing.assert_allclose(enet(src, tgt_in)[0].numpy(), want, rtol=RTOL, atol=ATOL)
        model = em.compile(enet, loss=nn.CrossEntropyLoss(), output=0)
        # a stock loss with output=0: CrossEntropyLoss on (N, T, V) needs (N, V, T) logits
        with pytest.raises(ShapeError):
            model.eval_step((src, tgt_in), tgt_out)

    _, enet = ported(pm.define_seq2seq, lambda cls: cls[0](V, H, 0.5))
    ce = nn.CrossEntropyLoss()
    model = em.compile(
        enet,
        loss=lambda out, y: ce(out[0].reshape(-1, V), y.reshape(-1)),
        optimizer=optim.SGD(enet.parameters(), lr=0.0),  # frozen: only the draws change
    )
    losses = {float(model.train_step((src, tgt_in), tgt_out)["loss"]) for _ in range(8)}
    assert len(losses) > 1, "the teacher-forcing draw must change from step to step"
    assert model.compile_count == 1


def test_python_random_in_forward_warns_traced_randomness():
    _, enet = ported(pm.define_seq2seq, lambda cls: cls[1](V, H))
    src, tgt_in, tgt_out = _s2s_batches(n=1)[0]
    ce = nn.CrossEntropyLoss()
    model = em.compile(
        enet,
        loss=lambda out, y: ce(out[0].reshape(-1, V), y.reshape(-1)),
        optimizer=optim.SGD(enet.parameters(), lr=0.1),
    )
    with pytest.warns(TracedRandomnessWarning, match=r"random\.random\(\).*em\.rand"):
        model.train_step((src, tgt_in), tgt_out)
