"""Parity of `ember.optim.lr_scheduler` with `torch.optim.lr_scheduler`.

Each case builds the same scheduler (same arguments) on a torch optimizer and on an
ember optimizer with the same param groups, steps both, and compares the lrs (and the
cycled momentum / betas) after every step.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Callable
from functools import partial
from types import SimpleNamespace
from typing import Any, NamedTuple

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as tls

from ember.optim import lr_scheduler as els
from ember.optim.base import Optimizer

GROUP_LRS = (0.1, 0.03)


class _EmberSGD(Optimizer):
    """Only the hyperparameters matter here: schedulers never run the update."""

    def __init__(self, params: Any, lr: float = 0.05, momentum: float = 0.9):
        super().__init__(params, {"lr": lr, "momentum": momentum})


class _EmberAdam(Optimizer):
    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple = (0.9, 0.999)):
        super().__init__(params, {"lr": lr, "betas": betas})


def make_pair(kind: str = "sgd") -> tuple[torch.optim.Optimizer, Optimizer]:
    """Equivalent torch and ember optimizers: two groups with different lrs, or
    ("sgd1") one group from a plain parameter list using the default lr."""
    if kind == "sgd1":
        param = torch.nn.Parameter(torch.zeros(2))
        return torch.optim.SGD([param], lr=0.05, momentum=0.9), _EmberSGD([object()])
    tgroups = [{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr} for lr in GROUP_LRS]
    egroups = [{"params": [object()], "lr": lr} for lr in GROUP_LRS]
    if kind == "adam":
        topt = torch.optim.Adam(tgroups, lr=1e-3, betas=(0.9, 0.999))
        return topt, _EmberAdam(egroups)
    return torch.optim.SGD(tgroups, lr=0.05, momentum=0.9), _EmberSGD(egroups)


def observed(opt: Any, sched: Any) -> list[float]:
    """What a scheduler controls: last lrs, group lrs, momentum or betas."""
    out = list(sched.get_last_lr()) + [g["lr"] for g in opt.param_groups]
    for g in opt.param_groups:
        out += list(g["betas"]) if "betas" in g else [g["momentum"]]
    return out


def assert_same(ember: list[float], torch_: list[float], where: str) -> None:
    assert all(isinstance(v, float | int) for v in ember), where
    np.testing.assert_allclose(ember, torch_, rtol=1e-12, atol=1e-15, err_msg=where)


def _plain_step(sched: Any, i: int) -> None:
    sched.step()


class Case(NamedTuple):
    factory: Callable[[Any, Any], Any]  # (scheduler module, optimizer) -> scheduler
    steps: int = 120
    kind: str = "sgd"
    step: Callable[[Any, int], None] = _plain_step


def _cyclic(**kw: Any) -> Callable[[Any, Any], Any]:
    return lambda m, o: m.CyclicLR(o, **kw)


def _onecycle(**kw: Any) -> Callable[[Any, Any], Any]:
    return lambda m, o: m.OneCycleLR(o, **kw)


class Warmup:
    """A callable object: its fields survive state_dict, unlike a lambda."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def __call__(self, epoch: int) -> float:
        return min(1.0, (epoch + 1) / self.epochs)


def _custom_subclass(m: Any, o: Any) -> Any:
    """A user-defined scheduler: the base class's stepping with a custom get_lr."""

    def get_lr(self: Any) -> list[float]:
        return [base / (1 + self.last_epoch) ** 0.5 for base in self.base_lrs]

    return type("InvSqrt", (m.LRScheduler,), {"get_lr": get_lr})(o)


CASES: dict[str, Case] = {
    "custom_subclass": Case(_custom_subclass, steps=60),
    "step": Case(lambda m, o: m.StepLR(o, step_size=7, gamma=0.5)),
    "step_default_gamma_1group": Case(lambda m, o: m.StepLR(o, 10), kind="sgd1"),
    "multistep": Case(lambda m, o: m.MultiStepLR(o, milestones=[30, 5, 12, 12], gamma=0.3)),
    "multistep_at_0": Case(lambda m, o: m.MultiStepLR(o, milestones=[0, 40])),
    "exponential": Case(lambda m, o: m.ExponentialLR(o, gamma=0.97), steps=200),
    "cosine": Case(lambda m, o: m.CosineAnnealingLR(o, T_max=25, eta_min=1e-3), steps=200),
    "cosine_default": Case(lambda m, o: m.CosineAnnealingLR(o, T_max=10), kind="adam"),
    "warm_restarts": Case(lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=10), steps=200),
    "warm_restarts_mult": Case(
        lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=1e-4),
        steps=200,
    ),
    "warm_restarts_fractional": Case(
        lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=1e-4),
        steps=300,
        step=lambda s, i: s.step(i / 7),
    ),
    "warm_restarts_fractional_mult1": Case(
        lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=4),
        steps=150,
        step=lambda s, i: s.step(i / 5),
    ),
    "onecycle": Case(_onecycle(max_lr=[0.5, 0.1], total_steps=100), steps=100),
    "onecycle_linear_3phase": Case(
        _onecycle(max_lr=0.2, total_steps=90, anneal_strategy="linear", three_phase=True),
        steps=90,
    ),
    "onecycle_cos_3phase_adam": Case(
        _onecycle(max_lr=0.01, epochs=6, steps_per_epoch=15, pct_start=0.25, three_phase=True),
        steps=90,
        kind="adam",
    ),
    "onecycle_no_momentum": Case(
        _onecycle(max_lr=0.3, total_steps=60, cycle_momentum=False, div_factor=10.0),
        steps=60,
    ),
    "onecycle_momentum_lists": Case(
        _onecycle(
            max_lr=[0.3, 0.05],
            total_steps=80,
            base_momentum=[0.8, 0.7],
            max_momentum=[0.9, 0.99],
            final_div_factor=100.0,
        ),
        steps=80,
    ),
    "cyclic_triangular": Case(_cyclic(base_lr=0.01, max_lr=0.1, step_size_up=7), steps=150),
    "cyclic_triangular2": Case(
        _cyclic(
            base_lr=[0.01, 0.001],
            max_lr=[0.1, 0.05],
            step_size_up=5,
            step_size_down=3,
            mode="triangular2",
        ),
        steps=150,
    ),
    "cyclic_exp_range_adam": Case(
        _cyclic(base_lr=1e-4, max_lr=1e-2, step_size_up=6, mode="exp_range", gamma=0.98),
        steps=150,
        kind="adam",
    ),
    "cyclic_scale_fn_iterations": Case(
        _cyclic(
            base_lr=0.01,
            max_lr=0.2,
            step_size_up=4,
            scale_fn=lambda x: 1 / (1 + x),
            scale_mode="iterations",
            base_momentum=0.85,
            max_momentum=0.95,
        ),
        steps=100,
    ),
    "cyclic_no_momentum": Case(
        _cyclic(base_lr=0.02, max_lr=0.2, step_size_up=9, cycle_momentum=False),
        steps=100,
    ),
    "linear": Case(lambda m, o: m.LinearLR(o), steps=60),
    "linear_custom": Case(
        lambda m, o: m.LinearLR(o, start_factor=0.25, end_factor=0.5, total_iters=12),
        steps=60,
    ),
    "constant": Case(lambda m, o: m.ConstantLR(o), steps=60),
    "constant_custom": Case(lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=10), steps=60),
    "polynomial": Case(lambda m, o: m.PolynomialLR(o, total_iters=40, power=2.0), steps=80),
    "polynomial_default": Case(lambda m, o: m.PolynomialLR(o), steps=60),
    "lambda": Case(lambda m, o: m.LambdaLR(o, lambda e: 0.95**e)),
    "lambda_per_group": Case(
        lambda m, o: m.LambdaLR(o, [lambda e: 1 / (1 + e), Warmup(8)]), steps=60
    ),
    "multiplicative": Case(lambda m, o: m.MultiplicativeLR(o, lambda e: 0.97)),
    "multiplicative_per_group": Case(
        lambda m, o: m.MultiplicativeLR(o, [lambda e: 0.9 if e % 5 == 0 else 1.0, Warmup(3)]),
        steps=60,
    ),
    "sequential": Case(
        lambda m, o: m.SequentialLR(
            o,
            [
                m.LinearLR(o, start_factor=0.1, total_iters=5),
                m.CosineAnnealingLR(o, T_max=30),
            ],
            milestones=[5],
        ),
        steps=100,
    ),
    "sequential_three": Case(
        lambda m, o: m.SequentialLR(
            o,
            [
                m.ConstantLR(o, factor=0.2, total_iters=4),
                m.ExponentialLR(o, gamma=0.9),
                m.MultiplicativeLR(o, lambda e: 0.99),
            ],
            milestones=[6, 20],
        ),
        steps=80,
    ),
    "sequential_cyclic_onecycle_adam": Case(
        lambda m, o: m.SequentialLR(
            o,
            [
                m.CyclicLR(o, 0.01, 0.1, step_size_up=3),
                m.OneCycleLR(o, 0.3, total_steps=30),
                m.MultiStepLR(o, [0, 3]),
            ],
            milestones=[10, 40],
        ),
        steps=90,
        kind="adam",
    ),
    "chained": Case(
        lambda m, o: m.ChainedScheduler(
            [m.ConstantLR(o, factor=0.5, total_iters=4), m.ExponentialLR(o, gamma=0.95)]
        ),
        steps=80,
    ),
    "chained_cosine_step": Case(
        lambda m, o: m.ChainedScheduler(
            [m.CosineAnnealingLR(o, T_max=20), m.StepLR(o, step_size=15, gamma=0.5)], o
        ),
        steps=100,
    ),
    "sequential_in_chained": Case(
        lambda m, o: m.ChainedScheduler(
            [
                m.SequentialLR(
                    o,
                    [m.LinearLR(o, total_iters=3), m.StepLR(o, step_size=4)],
                    milestones=[3],
                ),
                m.MultiplicativeLR(o, lambda e: 0.995),
            ]
        ),
        steps=60,
    ),
}


def run_torch_and_ember(case: Case) -> None:
    topt, eopt = make_pair(case.kind)
    tsched, esched = case.factory(tls, topt), case.factory(els, eopt)
    assert_same(observed(eopt, esched), observed(topt, tsched), "after construction")
    for i in range(case.steps):
        topt.step()  # no grads, so a no-op; keeps torch from warning about the order
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # step(epoch) deprecation
            case.step(tsched, i)
            case.step(esched, i)
        assert_same(observed(eopt, esched), observed(topt, tsched), f"after step {i + 1}")


@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch(name: str) -> None:
    run_torch_and_ember(CASES[name])


@pytest.mark.parametrize("name", list(CASES))
def test_state_dict_round_trip_resumes_identically(name: str) -> None:
    case = CASES[name]
    ref_opt = make_pair(case.kind)[1]
    ref = case.factory(els, ref_opt)
    split = case.steps // 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for i in range(split):
            case.step(ref, i)
        # Checkpoint: plain JSON for the scheduler, the group hyperparameters for the
        # optimizer (which the optimizer's own state_dict would carry).
        saved = json.loads(json.dumps(ref.state_dict()))
        groups = [{k: v for k, v in g.items() if k != "params"} for g in ref_opt.param_groups]

        # Resume the torch way: build the scheduler, then load both states.
        new_opt = make_pair(case.kind)[1]
        new = case.factory(els, new_opt)
        new.load_state_dict(saved)
        for group, values in zip(new_opt.param_groups, groups, strict=True):
            for key, value in values.items():
                group[key] = value
        assert observed(new_opt, new) == observed(ref_opt, ref)
        for i in range(split, case.steps):
            case.step(ref, i)
            case.step(new, i)
            assert observed(new_opt, new) == observed(ref_opt, ref), f"step {i + 1}"


RESUMABLE = [
    *(
        "step",
        "multistep",
        "exponential",
        "cosine",
        "warm_restarts_mult",
        "linear_custom",
    ),
    *(
        "constant_custom",
        "polynomial",
        "lambda_per_group",
        "multiplicative",
        "onecycle",
    ),
    *("cyclic_triangular2", "cyclic_exp_range_adam", "onecycle_cos_3phase_adam"),
]


@pytest.mark.parametrize("name", RESUMABLE)
def test_constructing_with_last_epoch_resumes_like_torch(name: str) -> None:
    case = CASES[name]
    topt, eopt = make_pair(case.kind)
    # A first scheduler fills the groups ("initial_lr", and torch's OneCycleLR /
    # CyclicLR anchors) the way restoring an optimizer checkpoint would.
    case.factory(tls, topt)
    case.factory(els, eopt)

    def resuming(module: Any) -> SimpleNamespace:
        """`module` whose schedulers are built with last_epoch=7."""
        names = [n for n in tls.__all__ if n not in ("SequentialLR", "ChainedScheduler")]
        return SimpleNamespace(**{n: partial(getattr(module, n), last_epoch=7) for n in names})

    tsched, esched = (
        case.factory(resuming(tls), topt),
        case.factory(resuming(els), eopt),
    )
    for i in range(case.steps - 10):
        assert_same(observed(eopt, esched), observed(topt, tsched), f"step {i}")
        topt.step()
        tsched.step()
        esched.step()


def test_callable_object_fields_are_saved() -> None:
    opt = make_pair()[1]
    warmup = Warmup(8)
    sched = els.LambdaLR(opt, [lambda e: 1.0, warmup])
    state = sched.state_dict()
    assert state["lr_lambdas"] == [None, {"epochs": 8}]
    warmup.epochs = 2
    sched.load_state_dict(json.loads(json.dumps(state)))
    assert warmup.epochs == 8 and sched.lr_lambdas[1] is warmup


def _metrics(n: int = 160, seed: int = 0, noise: float = 0.002, width: int = 6) -> list[float]:
    """A loss-like curve: a staircase (plateaus of `width`) plus optional noise."""
    rng = np.random.default_rng(seed)
    stairs = np.repeat(np.linspace(1.0, 0.2, n // width + 1), width)[:n]
    return [float(v) for v in stairs + rng.normal(0.0, noise, n)]


PLATEAU_CASES = {
    "defaults": ({}, _metrics(noise=0.0, width=15)),
    "noisy_patience2_cooldown": (
        dict(factor=0.5, patience=2, cooldown=3, min_lr=1e-3),
        _metrics(seed=1),
    ),
    "abs_threshold": (
        dict(factor=0.5, patience=1, threshold=0.01, threshold_mode="abs"),
        _metrics(seed=2),
    ),
    "max_mode_min_lr_list_eps": (
        dict(mode="max", factor=0.3, patience=0, min_lr=[0.01, 0.002], eps=1e-3),
        [-v for v in _metrics(seed=3)],
    ),
    "max_abs_zero_patience": (
        dict(mode="max", threshold_mode="abs", threshold=0.0, patience=0, cooldown=1),
        [-v for v in _metrics(seed=4, noise=0.01)],
    ),
}


@pytest.mark.parametrize("name", list(PLATEAU_CASES))
@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_reduce_on_plateau_matches_torch(name: str, kind: str) -> None:
    kwargs, metrics = PLATEAU_CASES[name]
    topt, eopt = make_pair(kind)
    tsched = tls.ReduceLROnPlateau(topt, **kwargs)
    esched = els.ReduceLROnPlateau(eopt, **kwargs)
    reductions = 0
    for i, value in enumerate(metrics):
        before = esched.get_last_lr()
        topt.step()
        tsched.step(value)
        esched.step(value)
        assert_same(observed(eopt, esched), observed(topt, tsched), f"after step {i + 1}")
        assert (esched.num_bad_epochs, esched.best) == (
            tsched.num_bad_epochs,
            tsched.best,
        )
        reductions += esched.get_last_lr() != before
    assert reductions >= 2  # the metric sequences really plateau


def test_reduce_on_plateau_state_dict_round_trip() -> None:
    kwargs, metrics = PLATEAU_CASES["noisy_patience2_cooldown"]
    ref_opt, new_opt = make_pair()[1], make_pair()[1]
    ref = els.ReduceLROnPlateau(ref_opt, **kwargs)
    for value in metrics[:50]:
        ref.step(value)
    new = els.ReduceLROnPlateau(new_opt, **kwargs)
    new.load_state_dict(json.loads(json.dumps(ref.state_dict())))
    for group, ref_group in zip(new_opt.param_groups, ref_opt.param_groups, strict=True):
        group["lr"] = ref_group["lr"]
    for value in metrics[50:]:
        ref.step(value)
        new.step(value)
        assert new.get_last_lr() == ref.get_last_lr()


def test_step_with_epoch_uses_closed_form_like_torch() -> None:
    epochs = [3, 4, 10, 2, 25, 26, 0, 1, 7, 40, 13]
    for factory in [
        lambda m, o: m.StepLR(o, step_size=4, gamma=0.5),
        lambda m, o: m.MultiStepLR(o, milestones=[2, 9, 9]),
        lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=5),
        lambda m, o: m.LinearLR(o, start_factor=0.2, total_iters=8),
        lambda m, o: m.ExponentialLR(o, gamma=0.9),
        lambda m, o: m.PolynomialLR(o, total_iters=30, power=1.5),
        lambda m, o: m.CosineAnnealingLR(o, T_max=12, eta_min=0.001),
        lambda m, o: m.LambdaLR(o, lambda e: 1 / (1 + e)),  # no closed form: get_lr
        lambda m, o: m.MultiplicativeLR(o, lambda e: 0.9),
    ]:
        run_torch_and_ember(Case(factory, len(epochs), step=lambda s, i: s.step(epochs[i])))


def test_step_epoch_warns() -> None:
    sched = els.StepLR(make_pair()[1], step_size=2)
    with pytest.warns(UserWarning, match="deprecated"):
        sched.step(3)


def test_per_batch_stepping_matches_per_epoch() -> None:
    """A schedule stepped every batch with its periods scaled by the batches per epoch
    gives the per-epoch schedule at each epoch start."""
    batches, epochs = 8, 30
    pairs = [
        (
            lambda o: els.StepLR(o, step_size=3, gamma=0.5),
            lambda o: els.StepLR(o, step_size=3 * batches, gamma=0.5),
            lambda s, e, b: s.step(),
        ),
        (
            lambda o: els.MultiStepLR(o, milestones=[4, 9, 20]),
            lambda o: els.MultiStepLR(o, milestones=[4 * batches, 9 * batches, 20 * batches]),
            lambda s, e, b: s.step(),
        ),
        (  # fractional epochs: the documented per-batch use of warm restarts
            lambda o: els.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2),
            lambda o: els.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2),
            lambda s, e, b: s.step(e + b / batches),
        ),
    ]
    for per_epoch_factory, per_batch_factory, batch_step in pairs:
        per_epoch = per_epoch_factory(make_pair()[1])
        per_batch = per_batch_factory(make_pair()[1])
        for epoch in range(epochs):
            for b in range(batches):
                if b == 0:
                    np.testing.assert_allclose(
                        per_batch.get_last_lr(), per_epoch.get_last_lr(), rtol=1e-12
                    )
                batch_step(per_batch, epoch, b + 1)
            per_epoch.step()


def test_schedulers_only_touch_lr_and_momentum_hyperparameters() -> None:
    """Anchors (max_lr, min_lr, ...) stay out of the groups, so the compiled step's
    hyperparameter state keeps its structure; a change marks the optimizer dirty."""
    for kind, factory in [
        ("sgd", _onecycle(max_lr=0.5, total_steps=10)),
        ("adam", _cyclic(base_lr=0.01, max_lr=0.1, step_size_up=3)),
        ("sgd", lambda m, o: m.CosineAnnealingLR(o, T_max=5)),
    ]:
        opt = make_pair(kind)[1]
        keys = [set(hp) for hp in opt.hyperparams()]
        sched = factory(els, opt)
        assert [set(hp) for hp in opt.hyperparams()] == keys
        assert not opt.dirty
        sched.step()
        assert opt.dirty
        hp = opt.hyperparams()
        assert [set(h) for h in hp] == keys
        assert [h["lr"] for h in hp] == sched.get_last_lr()


def test_errors_match_torch() -> None:
    topt, eopt = make_pair()
    with pytest.raises(TypeError):
        els.StepLR(object(), step_size=3)
    for m, o in [(tls, topt), (els, eopt)]:
        with pytest.raises(KeyError):  # resuming needs "initial_lr" in the groups
            m.StepLR(o, step_size=3, last_epoch=5)
        with pytest.raises(ValueError):
            m.SequentialLR(o, [m.StepLR(o, 3), m.StepLR(o, 4)], milestones=[])
        with pytest.raises(ValueError):
            m.ChainedScheduler([m.ReduceLROnPlateau(o)])
        sched = m.OneCycleLR(o, max_lr=0.1, total_steps=4)
        for _ in range(4):
            o.step() if m is tls else None
            sched.step()
        with pytest.raises(ValueError, match="total steps"):
            sched.step()
    no_momentum = Optimizer([object()], {"lr": 0.1})
    with pytest.raises(ValueError, match="momentum"):
        els.OneCycleLR(no_momentum, max_lr=0.1, total_steps=10)
    with pytest.raises(ValueError):
        els.CyclicLR(no_momentum, 0.01, 0.1, mode="sawtooth")


def test_compound_module_imports_standalone() -> None:
    """The compound module can be imported first (no import cycle in the package)."""
    code = (
        "from ember.optim.lr_scheduler.compound import OneCycleLR\n"
        "from ember.optim.lr_scheduler import OneCycleLR as O, LRScheduler\n"
        "assert O is OneCycleLR and issubclass(O, LRScheduler)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
