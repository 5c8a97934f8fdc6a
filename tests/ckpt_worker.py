"""Subprocess worker for the checkpoint reliability tests (run as a script).

    python ckpt_worker.py train OUT.npz STEPS [--checkpoint DIR --stop-after K --resume]
    python ckpt_worker.py loop DIR          # saves every step until killed

The model has dropout, the data comes from a shuffled ember DataLoader, and a
MultiStepLR scheduler is stepped per batch by a resumable callback, so a resumed
run is only identical if parameters, optimizer state, RNG, scheduler and data
position are all restored.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import ember as em
from ember import nn, optim
from ember.utils.data import DataLoader, TensorDataset


class SchedulerCallback:
    def __init__(self, scheduler):
        self.scheduler = scheduler

    def on_train_batch_end(self, batch, logs):
        self.scheduler.step()

    def state_dict(self):
        return self.scheduler.state_dict()

    def load_state_dict(self, state):
        self.scheduler.load_state_dict(state)


class StopAfter:
    def __init__(self, steps):
        self.steps = steps

    def on_train_batch_end(self, batch, logs):
        if self.steps is not None and self.model.step >= self.steps:
            self.model.stop_training = True


def build(seed: int = 0):
    em.manual_seed(seed)
    net = nn.Sequential(
        nn.Linear(6, 16),
        nn.ReLU(),
        nn.Dropout(0.25),
        nn.Linear(16, 16),
        nn.Tanh(),
        nn.Linear(16, 3),
    )
    opt = optim.Adam(net.parameters(), lr=0.01)
    sched = optim.lr_scheduler.MultiStepLR(opt, milestones=[7, 15], gamma=0.5)
    model = em.compile(net, loss=nn.CrossEntropyLoss(), optimizer=opt, metrics=["accuracy"])
    rng = np.random.default_rng(1)
    x = rng.standard_normal((80, 6)).astype("float32")
    y = rng.integers(0, 3, 80).astype("int32")
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, seed=123)
    return net, opt, model, loader, SchedulerCallback(sched)


def state_arrays(net, opt, model) -> dict:
    import jax

    out = {f"p/{k}": np.asarray(v) for k, v in net.state_dict().items()}
    for i, leaf in enumerate(jax.tree_util.tree_leaves(opt.opt_state)):
        out[f"o/{i}"] = np.asarray(leaf)
    out["step"] = np.asarray(model.step)
    out["lr"] = np.asarray(opt.param_groups[0]["lr"])
    return out


def train(args) -> None:
    net, opt, model, loader, sched_cb = build(args.seed)
    mgr = em.CheckpointManager(args.checkpoint, async_save=False) if args.checkpoint else None
    model.fit(
        loader,
        epochs=args.epochs,
        verbose=0,
        callbacks=[sched_cb, StopAfter(args.stop_after)],
        checkpoint=mgr,
        resume=args.resume,
    )
    np.savez(args.out, **state_arrays(net, opt, model))


def loop(directory: str) -> None:
    """Continue from the latest checkpoint, then save after every step until killed."""
    net, opt, model, loader, sched_cb = build()
    mgr = em.CheckpointManager(directory, async_save=False, max_to_keep=3)
    if mgr.latest_step() is not None:
        mgr.restore(None, model)
    announced = False
    while True:
        for xb, yb in loader:
            model.train_step(xb, yb)
            mgr.save(model.step, model, force=True)
            if not announced:  # from here on, a kill can land anywhere in a step or write
                print("ready", flush=True)
                announced = True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode")
    parser.add_argument("target")
    parser.add_argument("--out", default=None)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--stop-after", type=int, default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.mode == "train":
        args.out = args.target
        train(args)
    else:
        loop(args.target)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
