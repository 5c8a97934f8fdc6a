"""Losses vs PyTorch: classification, regression, likelihood and binary losses.

Every module runs for every reduction and option against `torch.nn` (same
state_dict), comparing values and input gradients through ember's lowered
graph. Also: strict-shape errors, bad reductions, and a compiled training run.
Margin, triplet and CTC losses are in test_losses_margin.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from loss_parity import check_module_parity, check_parity, print_worst

import ember as em
import ember.nn.functional as F
from ember import nn, optim
from ember.errors import DTypeError, ShapeError

REDUCTIONS = ("mean", "sum", "none")
pytestmark = pytest.mark.filterwarnings(
    "ignore:size_average and reduce args will be deprecated:UserWarning",
    "ignore:reduction. 'mean' divides the total loss:UserWarning",
)
rng = np.random.default_rng(0)


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print_worst()


def r(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def u(*shape, lo=0.0, hi=1.0):
    return rng.uniform(lo, hi, shape).astype(np.float32)


def ints(hi, *shape, lo=0):
    return rng.integers(lo, hi, shape).astype(np.int32)


def binary(*shape):
    return rng.integers(0, 2, shape).astype(np.float32)


def counts(*shape):
    return rng.integers(0, 6, shape).astype(np.float32)


def probs(*shape, dim=1):
    p = np.exp(r(*shape))
    return (p / p.sum(dim, keepdims=True)).astype(np.float32)


W3, W5 = u(3, lo=0.2, hi=2.0), u(5, lo=0.2, hi=2.0)
TARGET_IGNORED = np.array([0, 4, -100, 2, 1, -100], np.int32)

# (loss class, constructor kwargs with numpy arrays, inputs factory, args to differentiate)
MODULE_CASES = [
    ("CrossEntropyLoss", {}, lambda: [r(6, 5), ints(5, 6)], (0,)),
    ("CrossEntropyLoss", {"weight": W5}, lambda: [r(6, 5), ints(5, 6)], (0,)),
    ("CrossEntropyLoss", {"ignore_index": -100}, lambda: [r(6, 5), TARGET_IGNORED], (0,)),
    ("CrossEntropyLoss", {"weight": W5, "ignore_index": 4}, lambda: [r(6, 5), ints(5, 6)], (0,)),
    ("CrossEntropyLoss", {"label_smoothing": 0.1}, lambda: [r(6, 5), ints(5, 6)], (0,)),
    (
        "CrossEntropyLoss",
        {"label_smoothing": 0.2, "weight": W5},
        lambda: [r(6, 5), TARGET_IGNORED],
        (0,),
    ),
    ("CrossEntropyLoss", {"weight": W3}, lambda: [r(2, 3, 4, 5), ints(3, 2, 4, 5)], (0,)),
    ("CrossEntropyLoss", {"label_smoothing": 0.3}, lambda: [r(2, 3, 4), ints(3, 2, 4)], (0,)),
    ("CrossEntropyLoss", {}, lambda: [r(5), np.array(3, np.int32)], (0,)),
    ("CrossEntropyLoss", {}, lambda: [r(6, 5), probs(6, 5)], (0, 1)),
    (
        "CrossEntropyLoss",
        {"weight": W5, "label_smoothing": 0.1},
        lambda: [r(6, 5), probs(6, 5)],
        (0, 1),
    ),
    ("CrossEntropyLoss", {}, lambda: [r(2, 3, 4), probs(2, 3, 4)], (0, 1)),
    ("NLLLoss", {}, lambda: [r(6, 5), ints(5, 6)], (0,)),
    ("NLLLoss", {"weight": W5, "ignore_index": -100}, lambda: [r(6, 5), TARGET_IGNORED], (0,)),
    ("NLLLoss", {"weight": W3}, lambda: [r(2, 3, 4, 2), ints(3, 2, 4, 2)], (0,)),
    ("MSELoss", {}, lambda: [r(4, 3), r(4, 3)], (0, 1)),
    ("MSELoss", {}, lambda: [r(2, 0, 3), r(2, 0, 3)], (0, 1)),
    ("L1Loss", {}, lambda: [r(4, 3), r(4, 3)], (0, 1)),
    ("L1Loss", {}, lambda: [r(1), r(1)], (0, 1)),
    ("SmoothL1Loss", {}, lambda: [r(4, 3), r(4, 3)], (0, 1)),
    ("SmoothL1Loss", {"beta": 0.5}, lambda: [r(5, 3), r(5, 3)], (0, 1)),
    ("SmoothL1Loss", {"beta": 0.0}, lambda: [r(5, 3), r(5, 3)], (0, 1)),
    ("HuberLoss", {}, lambda: [r(4, 3, scale=2), r(4, 3)], (0, 1)),
    ("HuberLoss", {"delta": 0.3}, lambda: [r(4, 3), r(4, 3)], (0, 1)),
    ("BCELoss", {}, lambda: [u(6, 3, lo=0.02, hi=0.98), u(6, 3)], (0,)),
    ("BCELoss", {"weight": W3}, lambda: [u(6, 3, lo=0.02, hi=0.98), binary(6, 3)], (0,)),
    ("BCELoss", {"weight": u(6, 3)}, lambda: [u(6, 3, lo=0.02, hi=0.98), u(6, 3)], (0,)),
    ("BCEWithLogitsLoss", {}, lambda: [r(6, 3, scale=3), u(6, 3)], (0,)),
    ("BCEWithLogitsLoss", {"weight": W3}, lambda: [r(6, 3), u(6, 3)], (0,)),
    ("BCEWithLogitsLoss", {"pos_weight": W3}, lambda: [r(6, 3, scale=30), u(6, 3)], (0,)),
    (
        "BCEWithLogitsLoss",
        {"weight": u(6, 3), "pos_weight": W3},
        lambda: [r(6, 3, scale=5), binary(6, 3)],
        (0,),
    ),
    ("KLDivLoss", {}, lambda: [np.log(probs(4, 5)), probs(4, 5)], (0,)),
    ("KLDivLoss", {}, lambda: [np.log(probs(4, 5)), probs(4, 5) * binary(4, 5)], (0,)),
    ("KLDivLoss", {"log_target": True}, lambda: [np.log(probs(4, 5)), np.log(probs(4, 5))], (0, 1)),
    ("PoissonNLLLoss", {}, lambda: [r(5, 3), counts(5, 3)], (0,)),
    ("PoissonNLLLoss", {"full": True}, lambda: [r(5, 3), counts(5, 3)], (0,)),
    ("PoissonNLLLoss", {"log_input": False}, lambda: [u(5, 3, lo=0.1, hi=4), u(5, 3, hi=5)], (0,)),
    (
        "PoissonNLLLoss",
        {"log_input": False, "full": True, "eps": 1e-3},
        lambda: [u(5, 3, lo=0.1, hi=4), counts(5, 3)],
        (0,),
    ),
    ("GaussianNLLLoss", {}, lambda: [r(4, 3), r(4, 3), u(4, 3, lo=0.1, hi=2)], (0, 1, 2)),
    ("GaussianNLLLoss", {"full": True}, lambda: [r(4, 3), r(4, 3), u(4, lo=0.1, hi=2)], (0, 2)),
    ("GaussianNLLLoss", {"eps": 0.05}, lambda: [r(4, 3), r(4, 3), u(4, 1, hi=0.2)], (0, 2)),
    ("GaussianNLLLoss", {}, lambda: [r(2, 3, 4), r(2, 3, 4), u(2, 1, 4, lo=0.1)], (0, 2)),
    ("SoftMarginLoss", {}, lambda: [r(4, 3, scale=10), np.sign(r(4, 3))], (0,)),
    ("MultiLabelSoftMarginLoss", {}, lambda: [r(4, 5), binary(4, 5)], (0,)),
    ("MultiLabelSoftMarginLoss", {"weight": W5}, lambda: [r(4, 5), binary(4, 5)], (0,)),
]


def _case_id(case):
    name, opts, _, _ = case
    return name + "".join(f"-{k}" for k in opts)


MODULE_RUNS = [
    (case, red)
    for case in MODULE_CASES
    for red in REDUCTIONS + (("batchmean",) if case[0] == "KLDivLoss" else ())
]


@pytest.mark.parametrize(
    "case, reduction", MODULE_RUNS, ids=[f"{_case_id(c)}-{red}" for c, red in MODULE_RUNS]
)
def test_module_matches_torch(case, reduction):
    name, opts, make_inputs, grad_args = case

    def make(nnm, tensor):
        kwargs = {k: tensor(v) if isinstance(v, np.ndarray) else v for k, v in opts.items()}
        return getattr(nnm, name)(reduction=reduction, **kwargs)

    check_module_parity(name, make, make_inputs(), grad_args)


# functional-only options: torch.nn.functional and ember.nn.functional share the code;
# the legacy size_average / reduce flags override `reduction`, as in PyTorch
FUNCTIONAL_CASES = [
    (
        "mse_loss(weight)",
        lambda f, red: lambda x, t, w: f.mse_loss(x, t, reduction=red, weight=w),
        lambda: [r(4, 3), r(4, 3), u(4, 3)],
    ),
    (
        "l1_loss(weight)",
        lambda f, red: lambda x, t, w: f.l1_loss(x, t, reduction=red, weight=w),
        lambda: [r(4, 3), r(4, 3), u(4, 3)],
    ),
    (
        "huber_loss(weight)",
        lambda f, red: lambda x, t, w: f.huber_loss(x, t, reduction=red, delta=0.5, weight=w),
        lambda: [r(4, 3), r(4, 3), u(4, 3)],
    ),
    (
        "gaussian_nll_loss(float var)",
        lambda f, red: lambda x, t: f.gaussian_nll_loss(x, t, 0.7, full=True, reduction=red),
        lambda: [r(4, 3), r(4, 3)],
    ),
    (
        "mse_loss(size_average=False)",
        lambda f, red: lambda x, t: f.mse_loss(x, t, size_average=False, reduction=red),
        lambda: [r(4, 3), r(4, 3)],
    ),
    (
        "nll_loss(reduce=False)",
        lambda f, red: lambda x, t: f.nll_loss(x, t, reduce=False, reduction=red),
        lambda: [r(4, 3), ints(3, 4)],
    ),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", FUNCTIONAL_CASES, ids=[c[0] for c in FUNCTIONAL_CASES])
def test_functional_matches_torch(case, reduction):
    name, make, make_inputs = case
    check_parity(name, make(F, reduction), make(torch.nn.functional, reduction), make_inputs())


def test_bce_extreme_probabilities_match_torch_clamp():
    # log clamped at -100: p = 0 or 1 against the wrong label gives 100, not inf
    x = np.array([0.0, 1.0, 1.0, 0.0, 0.5], np.float32)
    t = np.array([1.0, 0.0, 1.0, 0.0, 1.0], np.float32)
    check_parity(
        "BCELoss",
        lambda a, b: F.binary_cross_entropy(a, b, reduction="none"),
        lambda a, b: torch.nn.functional.binary_cross_entropy(a, b, reduction="none"),
        [x, t],
        grad_args=(),
    )


ELEMENTWISE = {
    "MSELoss": "mse_loss",
    "L1Loss": "l1_loss",
    "SmoothL1Loss": "smooth_l1_loss",
    "HuberLoss": "huber_loss",
    "BCELoss": "binary_cross_entropy",
    "BCEWithLogitsLoss": "binary_cross_entropy_with_logits",
    "KLDivLoss": "kl_div",
    "PoissonNLLLoss": "poisson_nll_loss",
    "SoftMarginLoss": "soft_margin_loss",
    "MultiLabelSoftMarginLoss": "multilabel_soft_margin_loss",
    "HingeEmbeddingLoss": "hinge_embedding_loss",
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_n1_vs_n_target_is_a_shape_error(name):
    loss = getattr(nn, name)()
    x, t = u(4, 1, lo=0.1, hi=0.9), u(4)
    msg = rf"{ELEMENTWISE[name]}: input shape \(4, 1\) and target shape \(4,\) differ"
    with pytest.raises(ShapeError, match=msg):
        loss(x, t)
    with pytest.raises(ShapeError, match=msg):
        loss(t[:, None], x[:, 0])  # and the other way round


@pytest.mark.parametrize(
    "case",
    [
        (nn.GaussianNLLLoss(), [r(4, 1), r(4), u(4)], r"gaussian_nll_loss: input shape \(4, 1\)"),
        (
            nn.MarginRankingLoss(),
            [r(4, 1), r(4, 1), r(4)],
            r"margin_ranking_loss: input1 shape \(4, 1\) and target shape \(4,\)",
        ),
        (
            nn.CosineEmbeddingLoss(),
            [r(4, 3), r(4, 3), r(4, 1)],
            r"cosine_embedding_loss: inputs of shape \(4, 3\) need a target of shape \(4,\)",
        ),
        (
            nn.CrossEntropyLoss(),
            [r(4, 3), probs(4, 1)],
            r"cross_entropy \(class-probability targets\): input shape \(4, 3\)",
        ),
        (nn.CrossEntropyLoss(), [r(4, 3), ints(3, 4, 1)], r"needs class targets of shape \(4,\)"),
        (nn.MultiMarginLoss(), [r(4, 3), ints(3, 4, 1)], r"need a target of shape \(4,\)"),
        (nn.GaussianNLLLoss(), [r(4, 3), r(4, 3), u(3)], r"var of shape \(3,\) does not fit"),
        (nn.GaussianNLLLoss(), [r(4, 3), r(4, 3), u(1, 1)], r"var of shape \(1, 1\) does not fit"),
        (
            nn.BCELoss(weight=np.ones(4, np.float32)),
            [u(2, 3), u(2, 3)],
            r"weight of shape \(4,\) does not broadcast to the input shape \(2, 3\)",
        ),
        (
            nn.BCEWithLogitsLoss(pos_weight=np.ones((2, 2, 3), np.float32)),
            [u(2, 3), u(2, 3)],
            r"pos_weight of shape \(2, 2, 3\) does not broadcast",
        ),
    ],
    ids=lambda c: type(c[0]).__name__,
)
def test_other_shape_errors(case):
    loss, args, match = case
    with pytest.raises(ShapeError, match=match):
        loss(*args)


def test_option_errors():
    x, t = r(4, 3), r(4, 3)
    with pytest.raises(DTypeError, match="cross_entropy: bool targets"):
        nn.CrossEntropyLoss()(x, np.zeros(4, bool))
    with pytest.raises(ShapeError, match="smooth_l1_loss: beta must be >= 0"):
        nn.SmoothL1Loss(beta=-1.0)(x, t)
    with pytest.raises(ShapeError, match="huber_loss: delta must be > 0"):
        nn.HuberLoss(delta=0.0)(x, t)
    with pytest.raises(ShapeError, match="gaussian_nll_loss: var has a negative value"):
        _traced(lambda a, b: F.gaussian_nll_loss(a, b, -1.0), x, t)
    with pytest.raises(ShapeError, match=r"mse_loss: input shape \(4, 3\) and weight shape"):
        _traced(lambda a, b, w: F.mse_loss(a, b, weight=w), x, t, u(3))


def _traced(fn, *arrays):
    from ember.frontend.trace import trace_function

    return trace_function(fn, arrays, names=[f"a{i}" for i in range(len(arrays))])


ALL_LOSSES = sorted(n for n in dir(nn) if n.endswith("Loss"))


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_bad_reduction_strings(name):
    with pytest.raises(ValueError, match="reduction must be one of"):
        getattr(nn, name)(reduction="avg")


@pytest.mark.parametrize(
    "fn, args",
    [
        (F.mse_loss, [r(3), r(3)]),
        (F.cross_entropy, [r(3, 2), ints(2, 3)]),
        (F.binary_cross_entropy_with_logits, [r(3), r(3)]),
        (F.kl_div, [r(3), r(3)]),
        (F.margin_ranking_loss, [r(3), r(3), r(3)]),
        (F.multi_margin_loss, [r(3, 2), ints(2, 3)]),
        (F.triplet_margin_loss, [r(3, 2), r(3, 2), r(3, 2)]),
        (F.gaussian_nll_loss, [r(3), r(3), u(3)]),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_bad_reduction_strings_functional(fn, args):
    with pytest.raises(ShapeError, match=rf"{fn.__name__}: reduction must be one of .* 'avg'"):
        _traced(lambda *xs: fn(*xs, reduction="avg"), *args)


def test_kl_div_batchmean_only_for_kl():
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.MSELoss(reduction="batchmean")
    assert nn.KLDivLoss(reduction="batchmean").reduction == "batchmean"


def test_legacy_size_average_and_reduce_flags():
    assert nn.MSELoss(size_average=False).reduction == "sum"
    assert nn.L1Loss(reduce=False).reduction == "none"
    assert nn.BCELoss(size_average=True, reduce=True).reduction == "mean"


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(6, 16), nn.Linear(16, 3)

    def forward(self, x):
        return self.fc2(self.fc1(x).relu())


def test_compiled_training_with_weighted_bce_with_logits_decreases_loss():
    em.manual_seed(0)
    net = _Net()
    start = {k: torch.from_numpy(np.array(v)) for k, v in net.state_dict().items()}
    weight = np.array([1.0, 2.0, 0.5], np.float32)
    pos_weight = np.array([1.0, 3.0, 1.0], np.float32)
    loss = nn.BCEWithLogitsLoss(weight=weight, pos_weight=pos_weight)
    model = em.compile(net, loss=loss, optimizer=optim.SGD(net.parameters(), lr=0.1))
    x = np.random.default_rng(7).standard_normal((64, 6)).astype(np.float32)  # order-independent
    y = (x[:, :3] + 0.5 * x[:, 3:] > 0).astype(np.float32)
    losses = [float(model.train_step(x, y)["loss"]) for _ in range(60)]
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.65 * losses[0], losses[::10]
    # the loss module's buffers travel into the step: the first loss is torch's weighted one
    tnet = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    tnet.load_state_dict({k.replace("fc1", "0").replace("fc2", "2"): v for k, v in start.items()})
    tloss = torch.nn.BCEWithLogitsLoss(
        weight=torch.from_numpy(weight), pos_weight=torch.from_numpy(pos_weight)
    )
    want = tloss(tnet(torch.from_numpy(x)), torch.from_numpy(y)).item()
    np.testing.assert_allclose(losses[0], want, rtol=1e-5)
    np.testing.assert_allclose(loss.state_dict()["weight"], weight)
