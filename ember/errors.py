"""All user-facing error classes, in one place (`ember.errors`)."""

from ember.graphdef.errors import (  # noqa: F401
    CheckpointError,
    DTypeError,
    EmberError,
    GraphParseError,
    ShapeError,
    StateDictError,
    TraceError,
    UnsupportedOpError,
    VerifyError,
)
