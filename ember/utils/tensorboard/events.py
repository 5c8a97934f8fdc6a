"""One event file in one directory: tensorboard's `EventFileWriter` plus step and walltime."""

from __future__ import annotations

import time

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter


class EventWriter:
    """Wraps `Summary` protos into `Event`s stamped with a step and a walltime."""

    def __init__(self, log_dir: str, max_queue: int, flush_secs: float, filename_suffix: str):
        self._writer = EventFileWriter(log_dir, max_queue, flush_secs, filename_suffix)

    def get_logdir(self) -> str:
        return self._writer.get_logdir()

    def add_event(
        self, event: event_pb2.Event, step: int | None = None, walltime: float | None = None
    ) -> None:
        event.wall_time = time.time() if walltime is None else float(walltime)
        if step is not None:
            event.step = int(step)
        self._writer.add_event(event)

    def add_summary(
        self,
        summary: summary_pb2.Summary,
        step: int | None = None,
        walltime: float | None = None,
    ) -> None:
        self.add_event(event_pb2.Event(summary=summary), step, walltime)

    def purge_from(self, step: int) -> None:
        """Mark a restart at `step`: TensorBoard hides this run's older events at >= step."""
        self._writer.add_event(event_pb2.Event(step=int(step), file_version="brain.Event:2"))
        start = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
        self._writer.add_event(event_pb2.Event(step=int(step), session_log=start))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
