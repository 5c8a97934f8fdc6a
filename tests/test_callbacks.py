"""ember.callbacks on a tiny classifier: each callback's effect on a real `fit`."""

import csv
import glob
import json
import math
import os
import struct
import sys

import numpy as np
import pytest
import torch

import ember as em
from ember import callbacks as cbs
from ember import nn, optim
from ember.optim import lr_scheduler

N, BATCH = 48, 16  # 3 batches per epoch


def make_net(seed=0):
    em.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def make_model(seed=0, lr=0.1, opt=None, **options):
    net = make_net(seed)
    opt = opt(net) if opt is not None else optim.SGD(net.parameters(), lr=lr)
    model = em.compile(
        net, loss=nn.CrossEntropyLoss(), optimizer=opt, metrics=["accuracy"], **options
    )
    return model, opt


def data(n=N, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = rng.integers(0, 3, n).astype(np.int32)
    return x, y


def weights(model):
    return {k: np.array(v) for k, v in model.module.state_dict().items()}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


class Snapshots(cbs.Callback):
    """Weights at every epoch end (a host copy), to compare restored weights with."""

    def __init__(self):
        self.at = {}

    def on_epoch_end(self, epoch, logs=None):
        self.at[epoch] = weights(self.model)


def inject(name, values):
    """Overwrite `logs[name]` with a scripted value per epoch (put it first in the list)."""
    return cbs.LambdaCallback(on_epoch_end=lambda e, logs: logs.__setitem__(name, values[e]))


def keras_early_stopping(values, patience, min_delta=0.0, mode="min", baseline=None):
    """Keras 3's rule, written out: (stopped epoch or None, best epoch)."""
    better = (lambda a, b: a + min_delta < b) if mode == "min" else (lambda a, b: a - min_delta > b)
    best, best_epoch, wait = None, 0, 0
    for epoch, v in enumerate(values):
        wait += 1
        if best is None or better(v, best):
            best, best_epoch = v, epoch
            if baseline is None or better(v, baseline):
                wait = 0
            continue
        if wait >= patience and epoch > 0:
            return epoch, best_epoch
    return None, best_epoch


# -- EarlyStopping --------------------------------------------------------------------------


def test_early_stopping_stops_at_patience_and_restores_best_weights():
    scores = [1.0, 0.8, 0.9, 0.7, 0.75, 0.72, 0.5, 0.4, 0.3, 0.2]
    stop_at, best = keras_early_stopping(scores, patience=2)
    assert (stop_at, best) == (5, 3)
    model, _ = make_model()
    snaps = Snapshots()
    stop = cbs.EarlyStopping(monitor="score", mode="min", patience=2, restore_best_weights=True)
    x, y = data()
    history = model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=10,
        verbose=0,
        callbacks=[inject("score", scores), snaps, stop],
    )
    assert len(history["loss"]) == stop_at + 1
    assert stop.stopped_epoch == stop_at and stop.best_epoch == best and stop.best == 0.7
    assert model.step == (stop_at + 1) * 3
    assert_same(weights(model), snaps.at[best])  # the best epoch's weights, not the last
    assert not np.array_equal(snaps.at[best]["0.weight"], snaps.at[stop_at]["0.weight"])


def test_early_stopping_on_real_val_loss_matches_the_rule():
    model, _ = make_model(lr=2.0)  # a large lr: val_loss goes up and down
    snaps = Snapshots()
    stop = cbs.EarlyStopping(patience=1, restore_best_weights=True)  # val_loss, mode auto=min
    x, y = data()
    xv, yv = data(32, seed=1)
    history = model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=8,
        validation_data=(xv, yv),
        verbose=0,
        callbacks=[snaps, stop],
    )
    stop_at, best = keras_early_stopping(history["val_loss"], patience=1)
    assert len(history["val_loss"]) == (8 if stop_at is None else stop_at + 1)
    assert stop.best_epoch == best
    assert stop.best == pytest.approx(min(history["val_loss"]))
    assert_same(weights(model), snaps.at[best])


def test_early_stopping_min_delta_mode_max_and_baseline():
    x, y = data()
    cases = [
        (dict(patience=1, min_delta=0.05, mode="max"), [0.5, 0.53, 0.56, 0.6, 0.61, 0.9]),
        # below the baseline, improving epochs do not reset the wait (stops at 2, not 3)
        (dict(patience=2, mode="max", baseline=0.9), [0.5, 0.6, 0.55, 0.58, 0.95, 0.99]),
        (dict(patience=0, mode="min"), [3.0, 2.0, 1.0, 1.5, 0.5, 0.1]),
    ]
    for kwargs, scores in cases:
        model, _ = make_model()
        stop = cbs.EarlyStopping(monitor="score", **kwargs)
        history = model.fit(
            x, y, batch_size=BATCH, epochs=6, verbose=0, callbacks=[inject("score", scores), stop]
        )
        stop_at, best = keras_early_stopping(scores, **kwargs)
        assert stop_at == {0.05: 1, 0.9: 2}.get(
            kwargs.get("min_delta") or kwargs.get("baseline"), 3
        )
        assert len(history["loss"]) == stop_at + 1, kwargs
        assert stop.best_epoch == best, kwargs


def test_early_stopping_mode_auto_and_state_dict_round_trip():
    assert cbs.EarlyStopping("val_loss").mode == "min"
    assert cbs.EarlyStopping("val_accuracy").mode == "max"
    assert cbs.EarlyStopping("top_5_accuracy").mode == "max"
    with pytest.raises(ValueError, match="mode='min'"):
        cbs.EarlyStopping("score")
    stop = cbs.EarlyStopping(patience=3)
    stop.wait, stop.best, stop.best_epoch = 2, 0.25, 4
    state = json.loads(json.dumps(stop.state_dict()))
    other = cbs.EarlyStopping(patience=3)
    other.load_state_dict(state)
    other.on_train_begin()  # a resumed fit: the loaded progress is kept
    assert (other.wait, other.best, other.best_epoch) == (2, 0.25, 4)
    other.on_train_begin()  # a new fit re-uses the instance from scratch
    assert (other.wait, other.best) == (0, None)


def test_early_stopping_warns_when_the_metric_is_missing():
    model, _ = make_model()
    x, y = data()
    stop = cbs.EarlyStopping(monitor="val_loss")
    with pytest.warns(UserWarning, match="validation_data"):
        history = model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, callbacks=[stop])
    assert len(history["loss"]) == 2


# -- LRSchedulerCallback --------------------------------------------------------------------


def torch_lrs(make_sched, n_steps, lr=0.1):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = make_sched(opt, torch.optim.lr_scheduler)
    out = []
    for _ in range(n_steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_lr_scheduler_per_epoch_matches_torch():
    def make(opt, lib):
        return lib.StepLR(opt, step_size=2, gamma=0.5)

    model, opt = make_model()
    cb = cbs.LRSchedulerCallback(make(opt, lr_scheduler))
    seen = []
    record = cbs.LambdaCallback(
        on_epoch_begin=lambda e, logs: seen.append(opt.param_groups[0]["lr"])
    )
    x, y = data()
    model.fit(x, y, batch_size=BATCH, epochs=6, verbose=0, callbacks=[record, cb])
    assert seen == pytest.approx(torch_lrs(make, 6), rel=1e-12)
    assert cb.get_last_lr() == pytest.approx([0.1 * 0.5**3])


def test_lr_scheduler_per_step_matches_torch_and_is_what_the_step_uses():
    def make(opt, lib):
        return lib.OneCycleLR(opt, max_lr=0.5, total_steps=12)

    model, opt = make_model()
    cb = cbs.LRSchedulerCallback(make(opt, lr_scheduler), interval="step")
    seen = []
    record = cbs.LambdaCallback(
        on_train_batch_begin=lambda b, logs: seen.append(opt.param_groups[0]["lr"])
    )
    x, y = data()
    model.fit(x, y, batch_size=BATCH, epochs=4, shuffle=False, verbose=0, callbacks=[record, cb])
    assert seen == pytest.approx(torch_lrs(make, 12), rel=1e-9)

    # the same schedule by hand with train_step gives the same weights
    manual, mopt = make_model()
    sched = make(mopt, lr_scheduler)
    for _ in range(4):
        for i in range(0, N, BATCH):
            manual.train_step(x[i : i + BATCH], y[i : i + BATCH])
            sched.step()
    assert_same(weights(model), weights(manual))


def test_lr_scheduler_per_step_counts_steps_within_a_dispatch():
    model, opt = make_model(steps_per_execution=2)
    sched = lr_scheduler.ExponentialLR(opt, gamma=0.9)
    x, y = data(64)  # 4 batches: 2 dispatches per epoch
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=2,
        verbose=0,
        callbacks=[cbs.LRSchedulerCallback(sched, interval="step")],
    )
    assert model.step == 8 and sched.last_epoch == 8
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.9**8)


def test_reduce_lr_on_plateau_reacts_to_val_loss_like_torch():
    val = [1.0, 0.9, 0.95, 0.96, 0.97, 0.8, 0.85, 0.86, 0.87, 0.88]

    def make(opt, lib):
        return lib.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=1)

    p = torch.nn.Parameter(torch.zeros(1))
    topt = torch.optim.SGD([p], lr=0.1)
    tsched = make(topt, torch.optim.lr_scheduler)
    want = []
    for v in val:
        tsched.step(v)
        want.append(topt.param_groups[0]["lr"])

    model, opt = make_model()
    cb = cbs.LRSchedulerCallback(make(opt, lr_scheduler))  # monitor defaults to val_loss
    assert cb.monitor == "val_loss"
    got = []
    record = cbs.LambdaCallback(on_epoch_end=lambda e, logs: got.append(opt.param_groups[0]["lr"]))
    x, y = data()
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=len(val),
        validation_data=data(16, seed=1),
        verbose=0,
        callbacks=[inject("val_loss", val), cb, record],
    )
    assert got == pytest.approx(want, rel=1e-12)
    assert got[-1] < got[0]


def test_lr_scheduler_callback_resumes_with_fit_checkpoint(tmp_path):
    def run(epochs, directory=None, resume=False):
        model, opt = make_model()
        sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
        stop = cbs.EarlyStopping(monitor="loss", patience=100)
        lrs = []
        record = cbs.LambdaCallback(
            on_epoch_begin=lambda e, logs: lrs.append(opt.param_groups[0]["lr"])
        )
        mgr = (
            em.CheckpointManager(directory, async_save=False, save_interval_steps=3)
            if directory
            else None
        )
        callbacks = [record, cbs.LRSchedulerCallback(sched), stop]
        x, y = data()
        history = model.fit(
            x,
            y,
            batch_size=BATCH,
            epochs=epochs,
            verbose=0,
            callbacks=callbacks,
            checkpoint=mgr,
            resume=resume,
        )
        if mgr is not None:
            mgr.close()
        return model, sched, lrs, stop, history

    full, full_sched, full_lrs, full_stop, _ = run(5)
    run(2, tmp_path / "ckpt")
    resumed, sched, lrs, stop, history = run(5, tmp_path / "ckpt", resume=True)
    # continued, not restarted (the resumed run may re-enter epoch 1, whose batches were
    # all done when the last step checkpoint was written, just before its epoch end)
    assert len(lrs) in (3, 4) and lrs == pytest.approx(full_lrs[-len(lrs) :], rel=1e-12)
    assert sched.last_epoch == full_sched.last_epoch == 5
    assert sched.get_last_lr() == pytest.approx(full_sched.get_last_lr(), rel=1e-12)
    assert stop.best == pytest.approx(full_stop.best)
    assert len(history["loss"]) == 5
    assert_same(weights(resumed), weights(full))


# -- CSVLogger ------------------------------------------------------------------------------


def test_csv_logger_writes_a_row_per_epoch_and_appends(tmp_path):
    path = tmp_path / "log.csv"
    model, _ = make_model()
    x, y = data()
    flushed = []

    def check_flushed(epoch, logs):
        with open(path) as f:
            flushed.append(len(f.read().splitlines()))

    history = model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=3,
        validation_data=data(16, seed=1),
        verbose=0,
        callbacks=[cbs.CSVLogger(path), cbs.LambdaCallback(on_epoch_end=check_flushed)],
    )
    assert flushed == [2, 3, 4]  # header + one row per epoch, on disk at each epoch end
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    for j, key in enumerate(rows[0][1:], start=1):
        assert [float(r[j]) for r in rows[1:]] == history[key]  # exact: floats round-trip

    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=2,
        validation_data=data(16, seed=1),
        verbose=0,
        callbacks=[cbs.CSVLogger(path, append=True)],
    )
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 1 + 3 + 2 and rows.count(rows[0]) == 1

    tsv = tmp_path / "log.tsv"
    model.fit(
        x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[cbs.CSVLogger(tsv, separator="\t")]
    )
    assert tsv.read_text().splitlines()[0] == "epoch\tloss\taccuracy"


# -- TensorBoard ----------------------------------------------------------------------------


def read_events(directory):
    """{tag: [(step, value)]} from event files (TFRecord framing, read by hand)."""
    from tensorboard.compat.proto import event_pb2

    out = {}
    for path in sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*"))):
        blob = open(path, "rb").read()
        i = 0
        while i < len(blob):
            (n,) = struct.unpack("<Q", blob[i : i + 8])
            event = event_pb2.Event.FromString(blob[i + 12 : i + 12 + n])
            i += 12 + n + 4
            for v in event.summary.value:
                out.setdefault(v.tag, []).append((event.step, v.simple_value))
    return out


def test_tensorboard_writes_epoch_and_batch_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    model, opt = make_model()
    x, y = data()
    sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    history = model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=2,
        validation_data=data(16, seed=1),
        verbose=0,
        callbacks=[cbs.LRSchedulerCallback(sched), cbs.TensorBoard(tmp_path, update_freq=2)],
    )
    train, val = read_events(tmp_path / "train"), read_events(tmp_path / "validation")
    for key in ("loss", "accuracy"):
        assert [s for s, _ in train[f"epoch_{key}"]] == [0, 1]
        np.testing.assert_allclose([v for _, v in train[f"epoch_{key}"]], history[key], rtol=1e-6)
        np.testing.assert_allclose(
            [v for _, v in val[f"epoch_{key}"]], history[f"val_{key}"], rtol=1e-6
        )
    np.testing.assert_allclose([v for _, v in train["epoch_learning_rate"]], [0.05, 0.025])
    assert [s for s, _ in train["batch_loss"]] == [2, 4, 6]  # every 2 of the 6 steps


def test_tensorboard_and_plot_without_their_extras_say_which_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    model, _ = make_model()
    x, y = data()
    with pytest.raises(ImportError, match=r"ember\[tensorboard\]"):
        model.fit(x, y, verbose=0, callbacks=[cbs.TensorBoard(tmp_path)])
    history = model.fit(x, y, verbose=0)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"ember\[plot\]"):
        history.plot(tmp_path / "h.png")


# -- TerminateOnNaN -------------------------------------------------------------------------


def test_terminate_on_nan_stops_at_the_first_nan_batch():
    model, _ = make_model()
    x, y = data()
    x[2 * BATCH + 1, 0] = np.nan  # the third batch
    stop = cbs.TerminateOnNaN()
    with pytest.warns(UserWarning, match="TerminateOnNaN"):
        history = model.fit(
            x, y, batch_size=BATCH, epochs=5, shuffle=False, verbose=0, callbacks=[stop]
        )
    assert stop.terminated_at == 2 and model.step == 3
    # the guard skipped the NaN batch: the epoch's loss and the weights stay finite
    assert len(history["loss"]) == 1 and math.isfinite(history["loss"][0])
    assert all(np.isfinite(np.asarray(p)).all() for p in model.module.parameters())


def test_terminate_on_nan_without_the_guard_sees_the_nan_loss():
    model, _ = make_model(guard="off")
    x, y = data()
    x[2 * BATCH + 1, 0] = np.nan
    stop = cbs.TerminateOnNaN()
    with pytest.warns(UserWarning, match="TerminateOnNaN: loss is nan"):
        history = model.fit(
            x, y, batch_size=BATCH, epochs=5, shuffle=False, verbose=0, callbacks=[stop]
        )
    assert stop.terminated_at == 2 and math.isnan(history["loss"][0])


def test_terminate_on_nan_with_a_diverging_learning_rate():
    model, _ = make_model(lr=1e30)
    x, y = data()
    x *= 1e6
    stop = cbs.TerminateOnNaN()
    with pytest.warns(UserWarning, match="TerminateOnNaN"):
        history = model.fit(x, y, batch_size=BATCH, epochs=20, verbose=0, callbacks=[stop])
    assert stop.terminated_at is not None and len(history["loss"]) < 20


# -- ModelCheckpoint ------------------------------------------------------------------------


def test_model_checkpoint_keeps_the_best_by_val_loss_and_restores_it(tmp_path):
    val = [0.9, 0.5, 0.7, 0.6, 0.8]  # best: epoch 1
    model, _ = make_model()
    snaps = Snapshots()
    ckpt = cbs.ModelCheckpoint(tmp_path, monitor="val_loss", save_best_only=True)
    x, y = data()
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=5,
        validation_data=data(16, seed=1),
        verbose=0,
        callbacks=[inject("val_loss", val), snaps, ckpt],
    )
    assert ckpt.best_step == 6 and ckpt.best_score == 0.5  # 3 steps per epoch
    mgr = em.CheckpointManager(tmp_path)
    assert mgr.all_steps() == [3, 6, 15]  # the improvements (epochs 0 and 1) and the last
    mgr.close()

    fresh, _ = make_model(seed=1)
    fresh.restore_checkpoint(tmp_path, ckpt.best_step)
    assert_same(weights(fresh), snaps.at[1])
    assert fresh.step == 6
    again, _ = make_model(seed=2)
    em.CheckpointManager(tmp_path).restore(15, again)  # the last one
    assert_same(weights(again), snaps.at[4])


def test_model_checkpoint_top_k_every_n_steps_and_last(tmp_path):
    val = [0.9, 0.5, 0.7, 0.6, 0.8]
    model, _ = make_model()
    ckpt = cbs.ModelCheckpoint(
        tmp_path, monitor="val_loss", mode="min", every_n_steps=4, max_to_keep=2
    )
    x, y = data()
    model.fit(
        x, y, batch_size=BATCH, epochs=5, verbose=0, callbacks=[inject("val_loss", val), ckpt]
    )
    # epoch ends at steps 3..15: the best two (6: 0.5, 12: 0.6) and the last (15);
    # every 4 steps: 4, 8, 12 -> the newest two (8, 12)
    assert ckpt.best_step == 6
    mgr = em.CheckpointManager(tmp_path)
    assert mgr.all_steps() == [6, 8, 12, 15]
    meta = mgr.restore(8, make_model(seed=3)[0])
    assert meta["data"] == {"epoch": 2, "batches_done": 2}
    mgr.close()
    json.dumps(ckpt.state_dict())


def test_model_checkpoint_last_resumes_with_fit(tmp_path):
    model, _ = make_model()
    x, y = data()
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=2,
        shuffle=False,
        verbose=0,
        callbacks=[cbs.ModelCheckpoint(tmp_path, monitor=None)],
    )
    mgr = em.CheckpointManager(tmp_path)
    cont, _ = make_model(seed=6)
    history = cont.fit(
        x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0, checkpoint=mgr, resume=True
    )
    assert len(history["loss"]) == 1 and cont.step == 9  # only the third epoch ran
    full, _ = make_model()
    full.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0)
    assert_same(weights(cont), weights(full))


# -- LambdaCallback and History.plot --------------------------------------------------------


def test_lambda_callback_calls_each_hook():
    calls = []
    cb = cbs.LambdaCallback(
        on_train_begin=lambda logs: calls.append("train_begin"),
        on_epoch_begin=lambda e, logs: calls.append(f"epoch_begin {e}"),
        on_train_batch_begin=lambda b, logs: calls.append(f"batch_begin {b}"),
        on_train_batch_end=lambda b, logs: calls.append(f"batch_end {b} {sorted(logs)}"),
        on_epoch_end=lambda e, logs: calls.append(f"epoch_end {e} {sorted(logs)}"),
        on_train_end=lambda logs: calls.append("train_end"),
    )
    model, _ = make_model()
    x, y = data(32)
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[cb])
    assert calls == [
        "train_begin",
        "epoch_begin 0",
        "batch_begin 0",
        "batch_end 0 ['accuracy', 'loss']",
        "batch_begin 1",
        "batch_end 1 ['accuracy', 'loss']",
        "epoch_end 0 ['accuracy', 'loss']",
        "train_end",
    ]
    with pytest.raises(TypeError, match="unknown hook"):
        cbs.LambdaCallback(on_batch_end=print)


def test_history_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    model, _ = make_model()
    x, y = data()
    history = model.fit(
        x, y, batch_size=BATCH, epochs=3, validation_data=data(16, seed=1), verbose=0
    )
    path = tmp_path / "curves.png"
    assert history.plot(path) == path
    png = path.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    width, height = struct.unpack(">II", png[16:24])  # two stacked subplots: loss, accuracy
    one = tmp_path / "loss.png"
    history.plot(str(one), keys=["val_loss"])
    w1, h1 = struct.unpack(">II", one.read_bytes()[16:24])
    assert w1 == width and h1 < height
    with pytest.raises(KeyError, match="precision"):
        history.plot(tmp_path / "x.png", keys=["precision"])
