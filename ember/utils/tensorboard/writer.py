"""`SummaryWriter`: PyTorch's `torch.utils.tensorboard.SummaryWriter` API on ember values."""

from __future__ import annotations

import os
import socket
import time
import warnings
from datetime import datetime
from typing import Any

from ember.utils.tensorboard._backend import require_tensorboard
from ember.utils.tensorboard.values import to_float, to_numpy

# PyTorch's SummaryWriter methods ember does not write (yet), and why.
_NOT_PORTED = {
    "add_embedding": "it writes the projector plugin's files (TSV, sprite images, config); "
    "log the vectors with numpy and use TensorBoard's projector directly",
    "add_onnx_graph": "ember has no ONNX export",
    "add_video": "it needs moviepy",
    "add_audio": "not ported yet",
    "add_mesh": "not ported yet",
    "add_pr_curve": "not ported yet",
    "add_pr_curve_raw": "not ported yet",
    "add_custom_scalars": "not ported yet",
    "add_custom_scalars_multilinechart": "not ported yet",
    "add_custom_scalars_marginchart": "not ported yet",
    "add_image_with_boxes": "not ported yet",
    "add_tensor": "not ported yet",
}


class SummaryWriter:
    """Write TensorBoard event files; the API of `torch.utils.tensorboard.SummaryWriter`.

    Values may be ember tensors (lazy ones are computed), numpy or JAX arrays, or Python
    numbers. Events are written by the `tensorboard` package's own `EventFileWriter`
    (`pip install tensorboard`, or `pip install "ember[tensorboard]"`); view them with
    `tensorboard --logdir runs`.

    Args:
        log_dir: where the event file goes; default `runs/<Mon01_12-00-00>_<hostname><comment>`.
        comment: appended to the default `log_dir` (ignored when `log_dir` is given).
        purge_step: after a crash at step T+X and a restart at T, hide the run's events at
            steps >= T (the restarted run must use the same `log_dir`).
        max_queue: events held before an `add_*` call forces a write.
        flush_secs: how often (seconds) pending events are written.
        filename_suffix: appended to every event file name.

    Not written: `add_graph` warns and does nothing (see its docstring); `add_embedding`,
    `add_video`, `add_audio`, `add_mesh`, `add_pr_curve`, `add_custom_scalars*`,
    `add_image_with_boxes`, `add_tensor` and `add_onnx_graph` raise `AttributeError` naming
    the reason. Deliberate difference: a `bool` hparam is logged as a boolean (PyTorch logs
    it as a number).

    Example:
        ```python
        from ember.utils.tensorboard import SummaryWriter

        with SummaryWriter("runs/exp1") as writer:
            for step in range(100):
                loss = train_one_step()  # an ember tensor
                writer.add_scalar("loss/train", loss, step)
            writer.add_histogram("fc1.weight", net.fc1.weight, step)
            writer.add_hparams({"lr": 0.01, "batch_size": 64}, {"hparam/loss": loss.item()})
        ```
    """

    def __init__(
        self,
        log_dir: str | os.PathLike | None = None,
        comment: str = "",
        purge_step: int | None = None,
        max_queue: int = 10,
        flush_secs: int = 120,
        filename_suffix: str = "",
    ) -> None:
        require_tensorboard()
        if not log_dir:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        self.log_dir = os.fspath(log_dir)
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self.file_writer: Any = None
        self.all_writers: dict[str, Any] | None = None
        self._get_file_writer()

    def _new_writer(self, log_dir: str) -> Any:
        from ember.utils.tensorboard.events import EventWriter

        return EventWriter(log_dir, self.max_queue, self.flush_secs, self.filename_suffix)

    def _get_file_writer(self) -> Any:
        """The writer of `log_dir`, opened again after `close()`."""
        if self.file_writer is None or self.all_writers is None:
            self.file_writer = self._new_writer(self.log_dir)
            self.all_writers = {self.file_writer.get_logdir(): self.file_writer}
            if self.purge_step is not None:
                self.file_writer.purge_from(self.purge_step)
                self.purge_step = None
        return self.file_writer

    def get_logdir(self) -> str:
        """The directory event files are written to."""
        return self.log_dir

    def add_scalar(
        self,
        tag: str,
        scalar_value: Any,
        global_step: int | None = None,
        walltime: float | None = None,
        new_style: bool = False,
        double_precision: bool = False,
    ) -> None:
        """Log one number (a one-element tensor or array, or a Python number).

        `new_style=True` stores a tensor (float64 with `double_precision=True`) instead of
        float32 `simple_value`; TensorBoard loads it faster.
        """
        from ember.utils.tensorboard.scalars import scalar_summary

        value = to_float(scalar_value, f"add_scalar({tag!r}) value")
        summary = scalar_summary(tag, value, new_style, double_precision)
        self._get_file_writer().add_summary(summary, _step(global_step), walltime)

    def add_scalars(
        self,
        main_tag: str,
        tag_scalar_dict: dict[str, Any],
        global_step: int | None = None,
        walltime: float | None = None,
    ) -> None:
        """Log several numbers on one chart: each key gets its own run (a writer in
        `<log_dir>/<main_tag>_<key>`, `/` in `main_tag` replaced by `_`), all under `main_tag`.
        """
        from ember.utils.tensorboard.scalars import scalar_summary

        walltime = time.time() if walltime is None else walltime
        root = self._get_file_writer().get_logdir()
        assert self.all_writers is not None
        for tag, value in tag_scalar_dict.items():
            sub_dir = root + "/" + main_tag.replace("/", "_") + "_" + tag
            writer = self.all_writers.get(sub_dir)
            if writer is None:
                writer = self.all_writers[sub_dir] = self._new_writer(sub_dir)
            number = to_float(value, f"add_scalars({main_tag!r})[{tag!r}] value")
            writer.add_summary(scalar_summary(main_tag, number), _step(global_step), walltime)

    def add_histogram(
        self,
        tag: str,
        values: Any,
        global_step: int | None = None,
        bins: Any = "tensorflow",
        walltime: float | None = None,
        max_bins: int | None = None,
    ) -> None:
        """Log the distribution of `values` (any shape).

        `bins`: `"tensorflow"` (TensorFlow's exponential buckets), or anything `np.histogram`
        accepts (`"auto"`, `"fd"`, a bin count, the edges); `max_bins` merges neighbouring bins.
        """
        from ember.utils.tensorboard.histograms import histogram_summary, tensorflow_bins

        if isinstance(bins, str) and bins == "tensorflow":
            bins = tensorflow_bins()
        summary = histogram_summary(tag, to_numpy(values), bins, max_bins)
        self._get_file_writer().add_summary(summary, _step(global_step), walltime)

    def add_histogram_raw(
        self,
        tag: str,
        min: float,
        max: float,
        num: int,
        sum: float,
        sum_squares: float,
        bucket_limits: Any,
        bucket_counts: Any,
        global_step: int | None = None,
        walltime: float | None = None,
    ) -> None:
        """Log a histogram computed elsewhere (`bucket_limits`: each bucket's right edge)."""
        from ember.utils.tensorboard.histograms import histogram_raw_summary

        limits = to_numpy(bucket_limits).reshape(-1).tolist()
        counts = to_numpy(bucket_counts).reshape(-1).tolist()
        if len(limits) != len(counts):
            raise ValueError(
                f"add_histogram_raw: {len(limits)} bucket_limits but {len(counts)} bucket_counts; "
                "they must have the same length"
            )
        summary = histogram_raw_summary(
            tag, float(min), float(max), int(num), float(sum), float(sum_squares), limits, counts
        )
        self._get_file_writer().add_summary(summary, _step(global_step), walltime)

    def add_image(
        self,
        tag: str,
        img_tensor: Any,
        global_step: int | None = None,
        walltime: float | None = None,
        dataformats: str = "CHW",
    ) -> None:
        """Log one image: uint8 in [0, 255] or floats in [0, 1] (clipped), with 1, 3 or 4
        channels; `dataformats` names its layout (`"CHW"`, `"HWC"`, `"HW"`, ...)."""
        from ember.utils.tensorboard.images import image_summary

        summary = image_summary(tag, to_numpy(img_tensor), dataformats)
        self._get_file_writer().add_summary(summary, _step(global_step), walltime)

    def add_images(
        self,
        tag: str,
        img_tensor: Any,
        global_step: int | None = None,
        walltime: float | None = None,
        dataformats: str = "NCHW",
    ) -> None:
        """Log a batch of images as one grid image (8 per row), `dataformats` `"NCHW"` or
        `"NHWC"` (or any layout `add_image` takes)."""
        self.add_image(tag, img_tensor, global_step, walltime, dataformats)

    def add_figure(
        self,
        tag: str,
        figure: Any,
        global_step: int | None = None,
        close: bool = True,
        walltime: float | None = None,
    ) -> None:
        """Log a matplotlib figure (or a list of them, as a grid) rendered to an image;
        `close` closes the figures. Needs matplotlib."""
        import numpy as np

        from ember.utils.tensorboard.images import figure_to_chw

        if isinstance(figure, list):
            images = np.stack([figure_to_chw(f, close) for f in figure])
            self.add_image(tag, images, global_step, walltime, dataformats="NCHW")
        else:
            self.add_image(tag, figure_to_chw(figure, close), global_step, walltime, "CHW")

    def add_text(
        self,
        tag: str,
        text_string: str,
        global_step: int | None = None,
        walltime: float | None = None,
    ) -> None:
        """Log a string (markdown) for TensorBoard's text tab, under `<tag>/text_summary`."""
        from ember.utils.tensorboard.scalars import text_summary

        if not isinstance(text_string, str):
            raise TypeError(f"add_text needs a str, got {type(text_string).__name__}")
        summary = text_summary(tag, text_string)
        self._get_file_writer().add_summary(summary, _step(global_step), walltime)

    def add_hparams(
        self,
        hparam_dict: dict[str, Any],
        metric_dict: dict[str, Any],
        hparam_domain_discrete: dict[str, list[Any]] | None = None,
        run_name: str | None = None,
        global_step: int | None = None,
    ) -> None:
        """Log one set of hyperparameters and its metrics for TensorBoard's HParams tab.

        Written to a run `<log_dir>/<run_name>` (default: the current time): the hparams
        plugin's experiment and session summaries, and each metric as a scalar there. Values
        may be int, float, str, bool, None (skipped) or a tensor.
        """
        from ember.utils.tensorboard.hparams import hparams_summaries

        summaries = hparams_summaries(hparam_dict, metric_dict, hparam_domain_discrete)
        run_dir = os.path.join(self._get_file_writer().get_logdir(), run_name or str(time.time()))
        with SummaryWriter(log_dir=run_dir) as run:
            for summary in summaries:
                run._get_file_writer().add_summary(summary, _step(global_step))
            for tag, value in metric_dict.items():
                run.add_scalar(tag, value, global_step)

    def add_graph(
        self,
        model: Any,
        input_to_model: Any = None,
        verbose: bool = False,
        use_strict_trace: bool = True,
    ) -> None:
        """Not written: warns and does nothing, so ported scripts keep running.

        TensorBoard's graph tab reads TensorFlow `GraphDef`s; ember's graph is its own IR.
        Print it instead: `print(em.trace(model, em.TensorSpec(shape)))`.
        """
        warnings.warn(
            "SummaryWriter.add_graph does nothing in ember (TensorBoard's graph tab reads "
            "TensorFlow GraphDefs); to see the model's graph, print ember's IR: "
            "print(em.trace(model, em.TensorSpec(input_shape)))",
            UserWarning,
            stacklevel=2,
        )

    def flush(self) -> None:
        """Write all pending events of every run this writer opened to disk."""
        for writer in (self.all_writers or {}).values():
            writer.flush()

    def close(self) -> None:
        """Flush and close the event files; a later `add_*` call opens new ones."""
        for writer in (self.all_writers or {}).values():
            writer.flush()
            writer.close()
        self.file_writer = self.all_writers = None

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        if name in _NOT_PORTED:
            raise AttributeError(
                f"SummaryWriter.{name} (PyTorch has it) is not available in ember: "
                f"{_NOT_PORTED[name]}"
            )
        raise AttributeError(f"'SummaryWriter' object has no attribute {name!r}")


def _step(global_step: Any) -> int | None:
    """A step as an int (it may be a tensor or a numpy integer)."""
    return None if global_step is None else int(to_numpy(global_step).reshape(()))
