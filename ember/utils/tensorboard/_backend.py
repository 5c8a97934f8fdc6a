"""The one place that checks for the optional `tensorboard` package."""

from __future__ import annotations

INSTALL_HINT = 'pip install tensorboard (or pip install "ember[tensorboard]")'


def require_tensorboard() -> None:
    """Raise an ImportError naming the fix when the `tensorboard` package is missing."""
    try:
        import tensorboard  # noqa: F401
        from tensorboard.compat.proto import event_pb2  # noqa: F401
    except ImportError as e:
        raise ImportError(
            "ember.utils.tensorboard.SummaryWriter writes event files with the `tensorboard` "
            f"package, which is not installed; fix: {INSTALL_HINT}"
        ) from e
