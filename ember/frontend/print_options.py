"""How tensors print: `em.set_printoptions`, with PyTorch's options and defaults.

>>> em.set_printoptions(precision=2, sci_mode=False)
>>> em.set_printoptions(profile="default")
"""

from __future__ import annotations

_DEFAULTS = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80, "sci_mode": None}
_PROFILES = {
    "default": _DEFAULTS,
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": float("inf"), "edgeitems": 3, "linewidth": 80},
}
PRINT_OPTIONS = dict(_DEFAULTS)


def set_printoptions(
    precision: int | None = None,
    threshold: float | None = None,
    edgeitems: int | None = None,
    linewidth: int | None = None,
    profile: str | None = None,
    sci_mode: bool | None = None,
) -> None:
    """`torch.set_printoptions`: digits, summarization threshold and edge items, line
    width, a profile ("default", "short", "full") and scientific notation
    (`sci_mode=None`: numpy's choice)."""
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {sorted(_PROFILES)}")
        PRINT_OPTIONS.update(_PROFILES[profile])
    given = {
        "precision": precision,
        "threshold": threshold,
        "edgeitems": edgeitems,
        "linewidth": linewidth,
    }
    PRINT_OPTIONS.update({k: v for k, v in given.items() if v is not None})
    PRINT_OPTIONS["sci_mode"] = sci_mode


def array2string_options() -> dict:
    """`np.array2string` keyword arguments for the current options."""
    opts = PRINT_OPTIONS
    threshold = opts["threshold"]
    kwargs = {
        "precision": opts["precision"],
        "threshold": 2**62 if threshold == float("inf") else int(threshold),
        "edgeitems": opts["edgeitems"],
        "max_line_width": opts["linewidth"],
    }
    if opts["sci_mode"] is not None:
        kwargs["suppress_small"] = not opts["sci_mode"]
        if opts["sci_mode"]:
            p = opts["precision"]
            kwargs["formatter"] = {"float_kind": lambda v: f"{v:.{p}e}"}
    return kwargs
