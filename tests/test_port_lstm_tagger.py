"""Porting a PyTorch bidirectional 2-layer LSTM tagger to ember by changing imports only.

The model source below is executed twice, once under `import torch.nn as nn`
and once under `import ember.nn as nn`; the weights are copied with the
state_dict. Logits, loss and gradients at the initial weights and a few
compiled train steps (SGD with momentum, NLLLoss) are compared with torch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import ember as em
from ember.compiler import lower, run_passes
from ember.frontend.trace import trace_function

MODEL_SOURCE = """
class LSTMTagger(nn.Module):
    def __init__(self, vocab_size, embedding_dim, hidden_dim, tagset_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, num_layers=2, bidirectional=True,
                            batch_first=True)
        self.hidden2tag = nn.Linear(2 * hidden_dim, tagset_size)

    def forward(self, sentence):
        embeds = self.embedding(sentence)
        lstm_out, _ = self.lstm(embeds)
        tag_space = self.hidden2tag(lstm_out)
        return F.log_softmax(tag_space, dim=-1).reshape(-1, tag_space.shape[-1])
"""
TORCH_IMPORTS = "import torch.nn as nn\nimport torch.nn.functional as F\n"
EMBER_IMPORTS = "import ember.nn as nn\nimport ember.nn.functional as F\n"

VOCAB, EMB, HID, TAGS, N, L = 20, 8, 6, 5, 4, 9
LR, MOMENTUM, STEPS = 0.1, 0.9, 5
RTOL, ATOL = 1e-5, 1e-6


def _tagger(imports: str):
    namespace: dict = {}
    exec(compile(imports + MODEL_SOURCE, "lstm_tagger.py", "exec"), namespace)  # noqa: S102
    return namespace["LSTMTagger"](VOCAB, EMB, HID, TAGS)


@pytest.fixture(scope="module")
def models():
    if not hasattr(em.nn, "Embedding"):
        pytest.skip("nn.Embedding is not in ember.nn yet")
    torch.manual_seed(0)
    tnet = _tagger(TORCH_IMPORTS)
    enet = _tagger(EMBER_IMPORTS)
    enet.load_state_dict({k: v.detach().numpy() for k, v in tnet.state_dict().items()})
    return tnet, enet


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.integers(0, VOCAB, size=(N, L)).astype(np.int64)
    y = rng.integers(0, TAGS, size=(N * L,)).astype(np.int64)
    return x, y


def test_state_dict_names_match(models):
    tnet, enet = models
    assert list(enet.state_dict()) == list(tnet.state_dict())


def test_logits_loss_and_gradients_match(models, data):
    tnet, enet = models
    x, y = data
    t_logp = tnet(torch.from_numpy(x))
    t_loss = torch.nn.functional.nll_loss(t_logp, torch.from_numpy(y))
    tnet.zero_grad()
    t_loss.backward()

    np.testing.assert_allclose(enet(x), t_logp.detach().numpy(), rtol=RTOL, atol=ATOL)
    loss_fn = em.nn.NLLLoss()
    graph, _ = trace_function(
        lambda a, b: loss_fn(enet(a), b),
        [x.astype(np.int32), y.astype(np.int32)],
        modules=[("", enet)],
        names=["x", "y"],
    )
    lo = lower(run_passes(graph))
    named = dict(enet.named_parameters())

    def loss(params):
        outs, _ = lo.fn(params, [], [jnp.asarray(x, jnp.int32), jnp.asarray(y, jnp.int32)], None)
        return outs[0]

    value, grads = jax.value_and_grad(loss)(
        [jnp.asarray(np.asarray(named[n].data)) for n in lo.param_names]
    )
    np.testing.assert_allclose(value, t_loss.item(), rtol=RTOL)
    t_grads = dict(tnet.named_parameters())
    for name, g in zip(lo.param_names, grads, strict=True):
        np.testing.assert_allclose(
            g, t_grads[name].grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=name
        )


def test_compiled_train_steps_match(models, data):
    tnet, enet = models
    x, y = data
    t_opt = torch.optim.SGD(tnet.parameters(), lr=LR, momentum=MOMENTUM)
    model = em.compile(
        enet,
        loss=em.nn.NLLLoss(),
        optimizer=em.optim.SGD(enet.parameters(), lr=LR, momentum=MOMENTUM),
    )
    for step in range(STEPS):
        t_opt.zero_grad()
        t_loss = torch.nn.functional.nll_loss(tnet(torch.from_numpy(x)), torch.from_numpy(y))
        t_loss.backward()
        t_opt.step()
        e_loss = float(model.train_step(x, y)["loss"])
        np.testing.assert_allclose(e_loss, t_loss.item(), rtol=RTOL, err_msg=f"step {step}")
    trained = enet.state_dict()
    for name, p in tnet.state_dict().items():
        np.testing.assert_allclose(trained[name], p.numpy(), rtol=RTOL, atol=ATOL, err_msg=name)
    assert float(model.train_step(x, y)["loss"]) < t_loss.item()  # it is learning
