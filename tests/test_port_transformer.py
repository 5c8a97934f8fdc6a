"""Porting a PyTorch Transformer-encoder text classifier to ember by changing imports only.

The model source below is executed twice, once under `import torch.nn as nn`
and once under `import ember.nn as nn`; the weights are copied with the
state_dict. The key padding mask is computed inside forward from the padding
token, so the compiled train step needs only (tokens, labels). Logits, loss and
gradients at the initial weights (train and eval mode) and a few compiled
train steps (SGD with momentum, CrossEntropyLoss) are compared with torch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from attention_parity import WORST, compare, report

import ember as em
from ember.compiler import lower, run_passes
from ember.frontend.trace import trace_function

MODEL_SOURCE = """
class TextClassifier(nn.Module):
    def __init__(self, vocab_size, d_model, nhead, num_classes, max_len, pad_idx=0):
        super().__init__()
        self.pad_idx = pad_idx
        self.embed = nn.Embedding(vocab_size, d_model, padding_idx=pad_idx)
        self.pos = nn.Embedding(max_len, d_model)
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=2 * d_model,
                                           dropout=0.0, activation="gelu", batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(d_model))
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, tokens):
        pad = tokens == self.pad_idx
        x = self.embed(tokens) + self.pos.weight[: tokens.shape[1]]
        h = self.encoder(x, src_key_padding_mask=pad)
        keep = (~pad).float().unsqueeze(-1)
        pooled = (h * keep).sum(1) / keep.sum(1)
        return self.head(F.relu(pooled))
"""
TORCH_IMPORTS = "import torch.nn as nn\nimport torch.nn.functional as F\n"
EMBER_IMPORTS = "import ember.nn as nn\nimport ember.nn.functional as F\n"

VOCAB, D, NHEAD, CLASSES, MAX_LEN, N, L = 30, 16, 4, 3, 12, 6, 7
LR, MOMENTUM, STEPS = 0.05, 0.9, 5
RTOL, ATOL = 1e-5, 1e-6
PORT = "port: TextClassifier"


def _classifier(imports: str):
    namespace: dict = {}
    exec(compile(imports + MODEL_SOURCE, "text_classifier.py", "exec"), namespace)  # noqa: S102
    return namespace["TextClassifier"](VOCAB, D, NHEAD, CLASSES, MAX_LEN)


@pytest.fixture(autouse=True)
def _no_torch_fastpath():
    old = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    yield
    torch.backends.mha.set_fastpath_enabled(old)


@pytest.fixture()
def models():
    torch.manual_seed(0)
    tnet = _classifier(TORCH_IMPORTS)
    enet = _classifier(EMBER_IMPORTS)
    enet.load_state_dict({k: v.detach().numpy() for k, v in tnet.state_dict().items()})
    return tnet, enet


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    lengths = np.array([7, 5, 1, 3, 6, 2])
    x = rng.integers(1, VOCAB, size=(N, L)).astype(np.int64)
    x[np.arange(L)[None, :] >= lengths[:, None]] = 0  # padding token
    y = rng.integers(0, CLASSES, size=(N,)).astype(np.int64)
    return x, y


def test_state_dict_names_match(models):
    tnet, enet = models
    assert list(enet.state_dict()) == list(tnet.state_dict())
    assert "encoder.layers.1.self_attn.in_proj_weight" in enet.state_dict()


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_logits_loss_and_gradients_match(models, data, training):
    tnet, enet = models
    tnet.train(training)
    enet.train(training)
    x, y = data
    t_logits = tnet(torch.from_numpy(x))
    t_loss = torch.nn.functional.cross_entropy(t_logits, torch.from_numpy(y))
    tnet.zero_grad()
    t_loss.backward()

    compare(PORT, "logits", enet(x), t_logits.detach().numpy(), RTOL, ATOL)
    loss_fn = em.nn.CrossEntropyLoss()
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

    value, grads = jax.jit(jax.value_and_grad(loss))(
        [jnp.asarray(np.asarray(named[n].data)) for n in lo.param_names]
    )
    compare(PORT, "loss", value, t_loss.item(), RTOL, 0.0)
    t_grads = dict(tnet.named_parameters())
    for name, g in zip(lo.param_names, grads, strict=True):
        compare(PORT, f"grad of {name}", g, t_grads[name].grad.numpy(), RTOL, ATOL)


def test_compiled_train_steps_match(models, data):
    tnet, enet = models
    x, y = data
    t_opt = torch.optim.SGD(tnet.parameters(), lr=LR, momentum=MOMENTUM)
    model = em.compile(
        enet,
        loss=em.nn.CrossEntropyLoss(),
        optimizer=em.optim.SGD(enet.parameters(), lr=LR, momentum=MOMENTUM),
    )
    for step in range(STEPS):
        t_opt.zero_grad()
        t_loss = torch.nn.functional.cross_entropy(tnet(torch.from_numpy(x)), torch.from_numpy(y))
        t_loss.backward()
        t_opt.step()
        e_loss = float(model.train_step(x, y)["loss"])
        compare(PORT, f"loss at step {step}", e_loss, t_loss.item(), RTOL, 0.0)
    trained = enet.state_dict()
    for name, p in tnet.state_dict().items():
        compare(PORT, f"trained {name}", trained[name], p.numpy(), RTOL, ATOL)
    assert float(model.train_step(x, y)["loss"]) < t_loss.item()  # it is learning


def test_report_worst_errors():
    # WORST holds what ran in this process (pytest-xdist splits files); print and bound it
    if not WORST:
        pytest.skip("no parity case ran in this worker")
    print("\n" + report())
    assert max(WORST.values()) < 1e-4, WORST
