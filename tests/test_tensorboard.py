"""ember.utils.tensorboard.SummaryWriter: events read back with TensorBoard's own readers,
and compared with what torch.utils.tensorboard writes for the same calls."""

import importlib
import io
import os
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("tensorboard")

import jax.numpy as jnp  # noqa: E402
from tensorboard.backend.event_processing import event_file_loader  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.compat.proto import event_pb2  # noqa: E402
from tensorboard.plugins.hparams import metadata as hp_metadata  # noqa: E402
from tensorboard.plugins.hparams import plugin_data_pb2  # noqa: E402

import ember as em  # noqa: E402
from ember.utils.tensorboard import SummaryWriter  # noqa: E402


def accumulate(directory) -> EventAccumulator:
    """Everything TensorBoard would load from the run in `directory` (no sampling)."""
    acc = EventAccumulator(
        str(directory), size_guidance={"scalars": 0, "histograms": 0, "images": 0, "tensors": 0}
    )
    acc.Reload()
    return acc


def events(directory) -> list:
    """The `Event` protos of the one event file in `directory`, as written (not migrated)."""
    (name,) = [n for n in os.listdir(directory) if n.startswith("events.out.tfevents.")]
    loader = event_file_loader.RawEventFileLoader(os.path.join(directory, name))
    return [event_pb2.Event.FromString(record) for record in loader.Load()]


def summary_values(directory) -> list:
    """(step, Summary.Value) of every summary in the run, in order."""
    return [(e.step, v) for e in events(directory) for v in e.summary.value]


def test_scalars_from_ember_numpy_jax_and_python_values(tmp_path):
    lazy = em.tensor([1.0, 2.0]) * 0.25  # a pending value: computed when logged
    with SummaryWriter(tmp_path) as w:
        w.add_scalar("loss", em.tensor(2.5), 0)
        w.add_scalar("loss", lazy.sum(), 1)
        w.add_scalar("loss", np.float64(0.125), np.int64(2))
        w.add_scalar("loss", jnp.asarray(-4.0), 3)
        w.add_scalar("loss", 7, em.tensor(4))
        w.add_scalar("new", 0.1, 5, new_style=True)
        w.add_scalar("double", 0.1, 6, new_style=True, double_precision=True)
        w.add_scalar("timed", 1.0, 7, walltime=123.5)
    acc = accumulate(tmp_path)
    assert [(s.step, s.value) for s in acc.Scalars("loss")] == [
        (0, 2.5),
        (1, 0.75),
        (2, 0.125),
        (3, -4.0),
        (4, 7.0),
    ]
    (new,) = acc.Tensors("new")
    assert (
        new.step == 5
        and new.tensor_proto.dtype == 1
        and new.tensor_proto.float_val[0] == (np.float32(0.1))
    )
    (double,) = acc.Tensors("double")
    assert double.tensor_proto.double_val[0] == 0.1  # float64 kept exactly
    assert acc.SummaryMetadata("new").plugin_data.plugin_name == "scalars"
    assert acc.Scalars("timed")[0].wall_time == 123.5
    with SummaryWriter(tmp_path / "bad") as w, pytest.raises(ValueError, match="one element"):
        w.add_scalar("x", np.ones(3), 0)


def test_add_scalars_writes_one_run_per_key_under_the_main_tag(tmp_path):
    with SummaryWriter(tmp_path) as w:
        for step in range(3):
            w.add_scalars("run/loss", {"train": step, "val": em.tensor(10.0 * step)}, step)
    assert sorted(os.listdir(tmp_path))[-2:] == ["run_loss_train", "run_loss_val"]
    train = accumulate(tmp_path / "run_loss_train").Scalars("run/loss")
    val = accumulate(tmp_path / "run_loss_val").Scalars("run/loss")
    assert [(s.step, s.value) for s in train] == [(0, 0.0), (1, 1.0), (2, 2.0)]
    assert [s.value for s in val] == [0.0, 10.0, 20.0]


def test_histograms_match_numpy(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.normal(size=(40, 25)).astype(np.float32)
    edges = np.linspace(-5, 5, 21)
    with SummaryWriter(tmp_path) as w:
        w.add_histogram("explicit", values, 0, bins=edges)
        w.add_histogram("tf", em.tensor(values), 1)
        w.add_histogram("merged", values, 2, bins=edges, max_bins=6)
        w.add_histogram("jax", jnp.asarray(values), 3, bins="auto")
        w.add_histogram_raw("raw", 0, 3, 6, 9, 19, [1, 2, 3], [1, 2, 3], 4)
        with pytest.raises(ValueError, match="no values"):
            w.add_histogram("empty", np.zeros(0), 0)
    acc = accumulate(tmp_path)
    flat = values.reshape(-1).astype(np.float64)

    h = acc.Histograms("explicit")[0].histogram_value
    counts, _ = np.histogram(flat, bins=edges)
    first, last = np.flatnonzero(counts)[[0, -1]]
    assert h.bucket == [0, *counts[first : last + 1]]  # the span of non-empty bins, one 0 before
    np.testing.assert_array_equal(h.bucket_limit, edges[first : last + 2])
    assert (h.min, h.max, h.num) == (flat.min(), flat.max(), flat.size)
    np.testing.assert_allclose([h.sum, h.sum_squares], [flat.sum(), flat @ flat], rtol=1e-12)

    tf = acc.Histograms("tf")[0].histogram_value
    assert sum(tf.bucket) == flat.size and tf.bucket[0] == 0
    limits = np.asarray(tf.bucket_limit)
    assert np.all(np.diff(limits) > 0) and limits[0] <= flat.min() and limits[-1] >= flat.max()
    # each bucket counts the values in (previous limit, limit]
    np.testing.assert_array_equal(tf.bucket[1:], np.histogram(flat, bins=limits)[0])

    merged = acc.Histograms("merged")[0].histogram_value
    grouped = np.add.reduceat(counts, np.arange(0, 20, 3))  # 20 bins // 6 = 3 per group
    first, last = np.flatnonzero(grouped)[[0, -1]]
    assert merged.bucket == [0, *grouped[first : last + 1]]
    assert sum(acc.Histograms("jax")[0].histogram_value.bucket) == flat.size

    raw = acc.Histograms("raw")[0]
    assert raw.step == 4 and raw.histogram_value.bucket == [1, 2, 3]
    assert raw.histogram_value.sum_squares == 19


def decode_png(encoded: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(encoded)))


def test_images_in_every_layout_decode_to_the_pixels_given(tmp_path):
    rng = np.random.default_rng(1)
    hwc = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    gray = rng.random((5, 7))
    batch = rng.random((10, 1, 4, 6)).astype(np.float32)
    with SummaryWriter(tmp_path) as w:
        w.add_image("chw", em.tensor(hwc.transpose(2, 0, 1).astype(np.float32) / 255), 0)
        w.add_image("hwc", hwc, 1, dataformats="HWC")
        w.add_image("hw", gray, 2, dataformats="HW")
        w.add_images("batch", batch, 3)
        w.add_images("nhwc", jnp.asarray(hwc[None].repeat(2, 0)), 4, dataformats="NHWC")
        with pytest.raises(ValueError, match="dataformats"):
            w.add_image("bad", hwc, 0)  # (5, 7, 3) read as CHW: 5 channels
    acc = accumulate(tmp_path)

    def image(tag):
        (event,) = acc.Images(tag)
        pixels = decode_png(event.encoded_image_string)
        assert pixels.shape == (event.height, event.width, 3)
        return event.step, pixels

    assert image("hwc")[1].tolist() == hwc.tolist()
    step, chw = image("chw")
    assert step == 0 and np.abs(chw.astype(int) - hwc).max() <= 1  # float [0, 1] -> uint8
    _, hw = image("hw")
    np.testing.assert_array_equal(hw[..., 0], (gray * 255).astype(np.uint8))
    step, grid = image("batch")  # 10 images, 8 per row: a 2 x 8 grid, gray -> RGB
    assert step == 3 and grid.shape == (8, 48, 3)
    np.testing.assert_array_equal(grid[4:, 6:12, 1], (batch[9, 0] * 255).astype(np.uint8))
    assert grid[4:, 12:].max() == 0  # empty cells
    _, pair = image("nhwc")
    assert pair.shape == (5, 14, 3) and pair[:, 7:].tolist() == hwc.tolist()


def test_figures_render_and_say_so_without_matplotlib(tmp_path, monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(1, 0.5), dpi=40)
    with SummaryWriter(tmp_path) as w:
        w.add_figure("fig", fig, 0)
        assert not plt.fignum_exists(fig.number)  # close=True
        w.add_figure("figs", [plt.figure(figsize=(1, 0.5), dpi=40) for _ in range(2)], 1)
        monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
        with pytest.raises(ImportError, match="pip install matplotlib"):
            w.add_figure("none", fig, 2)
    acc = accumulate(tmp_path)
    assert (acc.Images("fig")[0].width, acc.Images("fig")[0].height) == (40, 20)
    assert acc.Images("figs")[0].width == 80


def test_text_hparams_and_purge_step(tmp_path):
    with SummaryWriter(tmp_path, purge_step=5) as w:
        w.add_text("notes", "**bold** ünïcode", 3)
        w.add_hparams(
            {"lr": 0.1, "layers": 4, "opt": "sgd", "bn": True, "seed": None, "wd": em.tensor(0.5)},
            {"hparam/loss": em.tensor(0.25)},
            hparam_domain_discrete={"opt": ["sgd", "adam"]},
            run_name="trial0",
            global_step=9,
        )
        with pytest.raises(TypeError, match="same type"):
            w.add_hparams({"opt": "sgd"}, {}, hparam_domain_discrete={"opt": [1]})
    raw = events(tmp_path)
    assert raw[1].step == 5 and raw[1].file_version == "brain.Event:2"
    assert raw[2].step == 5 and raw[2].session_log.status == raw[2].session_log.START
    (text,) = accumulate(tmp_path).Tensors("notes/text_summary")
    assert text.step == 3 and text.tensor_proto.string_val == ["**bold** ünïcode".encode()]

    run = accumulate(tmp_path / "trial0")
    content = run.PluginTagToContent("hparams")
    experiment = hp_metadata.parse_experiment_plugin_data(content[hp_metadata.EXPERIMENT_TAG])
    start = hp_metadata.parse_session_start_info_plugin_data(
        content[hp_metadata.SESSION_START_INFO_TAG]
    )
    end = hp_metadata.parse_session_end_info_plugin_data(content[hp_metadata.SESSION_END_INFO_TAG])
    assert [m.name.tag for m in experiment.metric_infos] == ["hparam/loss"]
    infos = {i.name: i for i in experiment.hparam_infos}
    assert list(infos) == ["lr", "layers", "opt", "bn", "wd"]  # None skipped
    assert [v.string_value for v in infos["opt"].domain_discrete.values] == ["sgd", "adam"]
    values = {k: v.WhichOneof("kind") for k, v in start.hparams.items()}
    assert values == {
        "lr": "number_value",
        "layers": "number_value",
        "opt": "string_value",
        "bn": "bool_value",
        "wd": "number_value",
    }
    assert start.hparams["wd"].number_value == 0.5 and start.hparams["opt"].string_value == "sgd"
    assert end.status == 1  # STATUS_SUCCESS
    assert [(s.step, s.value) for s in run.Scalars("hparam/loss")] == [(9, 0.25)]


def test_writer_lifecycle_default_logdir_and_unported_methods(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    w = SummaryWriter(comment="_lr0.1", filename_suffix=".ember")
    assert w.get_logdir().startswith("runs" + os.sep) and w.get_logdir().endswith("_lr0.1")
    w.add_scalar("a", 1.0, 0)
    w.flush()
    assert accumulate(w.get_logdir()).Scalars("a")[0].value == 1.0
    w.close()
    w.add_scalar("a", 2.0, 1)  # reopens a new event file, like torch
    w.close()
    names = os.listdir(w.get_logdir())
    assert len(names) == 2 and all(n.endswith(".ember") for n in names)
    assert [s.value for s in accumulate(w.get_logdir()).Scalars("a")] == [1.0, 2.0]
    with pytest.warns(UserWarning, match="add_graph does nothing"):
        w.add_graph(em.nn.Linear(2, 2), np.zeros((1, 2), np.float32))
    with pytest.raises(AttributeError, match="add_embedding .*not available in ember"):
        w.add_embedding(np.zeros((3, 2)))


def test_the_package_imports_without_tensorboard_and_the_writer_names_the_fix(
    monkeypatch, tmp_path
):
    import ember.utils

    monkeypatch.setitem(sys.modules, "tensorboard", None)
    for name in [n for n in sys.modules if n.startswith("ember.utils.tensorboard")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delattr(ember.utils, "tensorboard", raising=False)
    fresh = importlib.import_module("ember.utils.tensorboard")  # no tensorboard needed
    with pytest.raises(ImportError, match=r'pip install tensorboard .*"ember\[tensorboard\]"'):
        fresh.SummaryWriter(tmp_path / "x")
    assert not (tmp_path / "x").exists()


def _torch_writer():
    try:
        from torch.utils.tensorboard import SummaryWriter as TorchWriter
    except Exception as e:  # torch missing, or its tensorboard glue failing to import
        pytest.skip(f"torch.utils.tensorboard does not import: {e}")
    return TorchWriter


def _same_calls(writer, rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    values = rng.normal(size=500).astype(np.float32)
    image = rng.random((3, 6, 5)).astype(np.float32)
    batch = rng.integers(0, 256, size=(3, 4, 5, 3), dtype=np.uint8)
    for step in range(3):
        writer.add_scalar("loss", 0.5 * step, step)
        writer.add_scalar("loss64", 0.1 * step, step, new_style=True, double_precision=True)
    writer.add_histogram("w", values, 0)
    writer.add_histogram("w_auto", values, 1, bins="auto", max_bins=7)
    writer.add_image("img", image, 2)
    writer.add_images("batch", batch, 3, dataformats="NHWC")
    writer.add_image("gray", image[0], 4, dataformats="HW")
    writer.add_text("note", "hello", 5)
    writer.add_hparams(
        {"lr": 0.01, "opt": "adam", "depth": 3},
        {"hp/acc": 0.75},
        hparam_domain_discrete={"opt": ["adam", "sgd"]},
        run_name="hp",
    )


def _comparable(value):
    """A Summary.Value as plain data (PNG bytes decoded; walltimes are not part of it)."""
    kind = value.WhichOneof("value")
    if kind == "image":
        pixels = decode_png(value.image.encoded_image_string).tolist()
        return (value.tag, kind, value.image.colorspace, pixels)
    if kind == "histo":
        h = value.histo
        stats = [h.min, h.max, h.num, h.sum, h.sum_squares]
        return (value.tag, kind, stats, list(h.bucket_limit), list(h.bucket))
    plugin = value.metadata.plugin_data
    if plugin.plugin_name == "hparams":
        content = plugin_data_pb2.HParamsPluginData.FromString(plugin.content)
        which = content.WhichOneof("data")
        message = getattr(content, which)
        for field in ("time_created_secs", "start_time_secs", "end_time_secs"):
            if field in message.DESCRIPTOR.fields_by_name:
                message.ClearField(field)
        return (value.tag, "hparams", which, message)
    if kind == "tensor":
        return (value.tag, kind, plugin.plugin_name, value.tensor.SerializeToString())
    return (value.tag, kind, getattr(value, kind))


def test_same_events_as_torch_summary_writer(tmp_path):
    TorchWriter = _torch_writer()
    with SummaryWriter(tmp_path / "ember") as w:
        _same_calls(w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with TorchWriter(str(tmp_path / "torch")) as w:
            _same_calls(w)
    for run in ("", "hp"):
        ours = [(s, _comparable(v)) for s, v in summary_values(tmp_path / "ember" / run)]
        theirs = [(s, _comparable(v)) for s, v in summary_values(tmp_path / "torch" / run)]
        assert [(s, v[:2]) for s, v in ours] == [(s, v[:2]) for s, v in theirs]
        for (_, a), (_, b) in zip(ours, theirs, strict=True):
            assert a == b, a[0]
