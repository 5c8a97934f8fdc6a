"""Idioms of harvardnlp's Annotated Transformer, ported by changing imports, against PyTorch:
a buffer slice marked `requires_grad_(False)` in forward, and a label-smoothing criterion
module whose forward uses `nonzero` + `index_fill_` (a data-dependent size)."""

import numpy as np
import pytest
import torch

import ember as em
from ember.errors import TraceError


def _define(m):
    nn = m.nn

    class PositionalEncoding(nn.Module):
        def __init__(self, d_model: int, max_len: int = 50):
            super().__init__()
            position = m.arange(0, max_len).unsqueeze(1)
            div_term = m.exp(m.arange(0, d_model, 2) * -(np.log(10000.0) / d_model))
            pe = m.zeros(max_len, d_model)
            pe[:, 0::2] = m.sin(position * div_term)
            pe[:, 1::2] = m.cos(position * div_term)
            self.register_buffer("pe", pe.unsqueeze(0))

        def forward(self, x):
            return x + self.pe[:, : x.size(1)].requires_grad_(False)

    class LabelSmoothing(nn.Module):
        def __init__(self, size: int, padding_idx: int, smoothing: float):
            super().__init__()
            self.criterion = nn.KLDivLoss(reduction="sum")
            self.padding_idx, self.size = padding_idx, size
            self.confidence, self.smoothing = 1.0 - smoothing, smoothing

        def forward(self, x, target):
            true_dist = x.data.clone()
            true_dist.fill_(self.smoothing / (self.size - 2))
            true_dist.scatter_(1, target.data.unsqueeze(1), self.confidence)
            true_dist[:, self.padding_idx] = 0
            mask = m.nonzero(target.data == self.padding_idx)
            if mask.dim() > 0:
                true_dist.index_fill_(0, mask.squeeze(), 0.0)
            return self.criterion(x, true_dist.clone().detach())

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(7, 8)
            self.pos = PositionalEncoding(8)
            self.proj = nn.Linear(8, 7)

        def forward(self, ids):
            return self.proj(self.pos(self.embed(ids))).log_softmax(dim=-1)

    return Model, LabelSmoothing


def _train(m, state, ids, targets):
    model_cls, smoothing_cls = _define(m)
    model = model_cls()
    model.load_state_dict({k: m.tensor(v) for k, v in state.items()})
    criterion = smoothing_cls(7, padding_idx=0, smoothing=0.1)
    opt = m.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    for x, y in zip(ids, targets, strict=True):
        out = model(m.tensor(x))
        loss = criterion(out.contiguous().view(-1, 7), m.tensor(y).contiguous().view(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, model.proj.weight.detach().numpy()


def test_the_positional_encoding_and_label_smoothing_train_like_torch():
    torch.manual_seed(0)
    model_cls, _ = _define(torch)
    state = {k: v.numpy().copy() for k, v in model_cls().state_dict().items()}
    rng = np.random.default_rng(0)
    ids = [rng.integers(1, 7, (2, 5)) for _ in range(3)]
    targets = [rng.integers(0, 7, (2, 5)) for _ in range(3)]  # with padding (0) targets
    targets[1][:] = rng.integers(1, 7, (2, 5))  # and a batch without padding
    got, want = _train(em, state, ids, targets), _train(torch, state, ids, targets)
    np.testing.assert_allclose(got[0], want[0], rtol=2e-5)
    np.testing.assert_allclose(got[1], want[1], rtol=2e-5, atol=1e-6)


def test_a_boolean_mask_in_a_criterion_module_called_on_tensors_works_like_torch():
    def run(m):
        class MaskedMSE(m.nn.Module):
            def forward(self, pred, target):
                keep = target != -1
                return ((pred[keep] - target[keep]) ** 2).mean()

        m.manual_seed(0)
        lin = m.nn.Linear(3, 2)
        w = np.array([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]], np.float32)
        lin.load_state_dict({"weight": m.tensor(w), "bias": m.tensor(np.zeros(2, np.float32))})
        x = m.tensor(np.arange(12, dtype=np.float32).reshape(4, 3) / 10)
        ys = [[[1, -1], [0.5, 2], [-1, -1], [3, 1]], [[-1, 2], [1, 1], [0, -1], [-1, -1]]]
        opt = m.optim.SGD(lin.parameters(), lr=0.1)
        losses = []
        for y in ys:
            loss = MaskedMSE()(lin(x), m.tensor(np.array(y, np.float32)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses, lin.weight.detach().numpy()

    got, want = run(em), run(torch)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-6)


def test_data_dependent_sizes_in_a_compiled_step_and_a_parameters_flag_in_forward_still_raise():
    class Picky(em.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = em.nn.Linear(3, 3)

        def forward(self, x):
            return self.fc(x)[em.nonzero(x[:, 0] > 0).squeeze(1)]

    model = em.compile(Picky(), loss=None)
    with pytest.raises(TraceError, match="nonzero: the result's size depends on the values"):
        model.predict(np.ones((2, 3), np.float32))

    class Freezes(em.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = em.nn.Linear(3, 3)

        def forward(self, x):
            self.fc.weight.requires_grad_(False)
            return self.fc(x)

    with pytest.raises(TraceError, match="a parameter's flag is set outside forward"):
        Freezes()(em.ones(2, 3))
