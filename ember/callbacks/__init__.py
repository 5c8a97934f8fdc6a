"""Ready-made callbacks for `CompiledModel.fit` (Keras's set, on ember's protocol).

Every class here subclasses `ember.runtime.callbacks.Callback`: `fit` calls
`set_model(model)`, then the hooks; a callback stops training with
`model.stop_training = True`. Callbacks with progress to keep define
`state_dict()` / `load_state_dict()` (JSON-able), so `fit(..., checkpoint=mgr,
resume=True)` continues them.

Batch hooks run once per dispatch and get the batch logs as device arrays: a
callback that reads them (`TerminateOnNaN`, `TensorBoard(update_freq=N)`) pays a
host read for each one it reads. Epoch logs are Python floats.

>>> from ember import callbacks as cbs
>>> model.fit(x, y, epochs=50, validation_data=(xv, yv), callbacks=[
...     cbs.EarlyStopping(patience=3, restore_best_weights=True),
...     cbs.ModelCheckpoint("ckpts", monitor="val_loss", save_best_only=True),
...     cbs.LRSchedulerCallback(optim.lr_scheduler.ReduceLROnPlateau(opt), monitor="val_loss"),
...     cbs.CSVLogger("log.csv"),
... ])
"""

from __future__ import annotations

from ember.callbacks.checkpointing import EarlyStopping, ModelCheckpoint
from ember.callbacks.control import LambdaCallback, TerminateOnNaN
from ember.callbacks.loggers import CSVLogger, TensorBoard
from ember.callbacks.schedule import LRSchedulerCallback
from ember.runtime.callbacks import Callback, CallbackList

__all__ = [
    "Callback",
    "CallbackList",
    "ModelCheckpoint",
    "EarlyStopping",
    "LRSchedulerCallback",
    "CSVLogger",
    "TensorBoard",
    "TerminateOnNaN",
    "LambdaCallback",
]
