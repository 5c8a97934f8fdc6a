"""Compile accounting: every trace+compile is counted and explained."""

from __future__ import annotations

from collections import Counter

COMPILES: Counter = Counter()
LOG: list[str] = []


def note_compile(what: str, types, reason: str = "") -> None:
    """Record one compilation of `what` for input `types` (and why, when it is a recompile)."""
    COMPILES[what] += 1
    shown = ", ".join(str(t) for t in types)
    LOG.append(f"compiled {what} for ({shown})" + (f": {reason}" if reason else ""))


def compile_count(what: str | None = None) -> int:
    return sum(COMPILES.values()) if what is None else COMPILES[what]
