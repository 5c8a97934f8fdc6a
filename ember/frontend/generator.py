"""`em.Generator`: PyTorch's `torch.Generator`, a seeded random stream the user owns.

ember's random numbers normally come from the streams of `em.manual_seed`. A
`Generator` is a separate stream: given as `generator=g`, the data utilities
(`random_split`, `DataLoader(shuffle=True)`, the random samplers) and the random
tensor functions outside a compiled step (`em.rand`, `em.randn`, `em.randint`,
`em.randperm`, ...) draw from it and leave the global stream untouched. The contract
is determinism, not PyTorch's numbers (ember uses another RNG): the same seed gives
the same draws, different seeds different ones, and `get_state()` / `set_state()`
replay.

Inside a traced forward (a compiled step) random ops draw from the step's key: a
compiled program cannot consume a Python-side stream at every step, so `generator=`
is accepted there and not consumed (see `ember.nn.functional.random`).
"""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np

from ember.frontend.device import device as Device

# What `torch.Generator().initial_seed()` returns, so a fresh generator reports the same.
DEFAULT_SEED = 67280421310721
_UINT64 = 2**64
# get_state() layout: seed (8 bytes), PCG64 state and increment (16 each), then numpy's
# cached half of a 64-bit draw (a flag byte and 4 bytes), all little-endian.
_STATE_FIELDS = (("seed", 8), ("state", 16), ("inc", 16), ("has_uint32", 1), ("uinteger", 4))
STATE_SIZE = sum(size for _, size in _STATE_FIELDS)


class Generator:
    """An independent random stream for host-side draws (`torch.Generator`).

    >>> g = em.Generator().manual_seed(42)
    >>> train, val = random_split(dataset, [0.8, 0.2], generator=g)
    >>> loader = DataLoader(train, batch_size=64, shuffle=True, generator=g)
    >>> noise = em.randn(3, 4, generator=g)      # outside a compiled step
    """

    def __init__(self, device: str | Device = "cpu") -> None:
        self.device = Device(device)
        self.manual_seed(DEFAULT_SEED)

    def manual_seed(self, seed: int) -> Generator:
        """Restart the stream from `seed` (negative seeds wrap to 64 bits, as in PyTorch);
        returns the generator, so `em.Generator().manual_seed(0)` works."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(
                f"Generator.manual_seed expects an int, got {type(seed).__name__}; "
                "fix: g.manual_seed(42)"
            )
        seed = int(seed)
        if not -(2**63) <= seed < _UINT64:
            raise ValueError(
                f"Generator.manual_seed: {seed} is outside [-2**63, 2**64 - 1]; fix: pass a "
                "seed in that range"
            )
        self._seed = seed % _UINT64
        self._bits = np.random.PCG64(self._seed)
        self._rng = np.random.Generator(self._bits)
        return self

    def seed(self) -> int:
        """Reseed from the operating system's entropy; returns the new seed."""
        seed = secrets.randbits(64)
        self.manual_seed(seed)
        return seed

    def initial_seed(self) -> int:
        """The seed the stream was last started from."""
        return self._seed

    def get_state(self) -> Any:
        """The stream's position as a uint8 tensor; `set_state` with it replays from here."""
        from ember.frontend.lazy import leaf

        state = self._bits.state
        values = {
            "seed": self._seed,
            "state": state["state"]["state"],
            "inc": state["state"]["inc"],
            "has_uint32": state["has_uint32"],
            "uinteger": state["uinteger"],
        }
        raw = b"".join(int(values[name]).to_bytes(size, "little") for name, size in _STATE_FIELDS)
        return leaf(np.frombuffer(raw, dtype=np.uint8).copy())

    def set_state(self, new_state: Any) -> Generator:
        """Continue from a state `get_state()` returned (a tensor, array or list of bytes)."""
        arr = np.asarray(new_state)
        in_range = arr.dtype.kind in "iu" and arr.min(initial=0) >= 0 and arr.max(initial=0) < 256
        if arr.shape != (STATE_SIZE,) or not in_range:
            raise ValueError(
                f"Generator.set_state expects what em.Generator.get_state() returns ("
                f"{STATE_SIZE} uint8 values), got shape {arr.shape} of {arr.dtype}; fix: pass "
                "a state saved from an ember Generator"
            )
        raw = arr.astype(np.uint8).tobytes()
        values, start = {}, 0
        for name, size in _STATE_FIELDS:
            values[name] = int.from_bytes(raw[start : start + size], "little")
            start += size
        self.manual_seed(values["seed"])
        self._bits.state = {
            "bit_generator": "PCG64",
            "state": {"state": values["state"], "inc": values["inc"]},
            "has_uint32": values["has_uint32"],
            "uinteger": values["uinteger"],
        }
        return self

    def __repr__(self) -> str:
        return f"<ember.Generator device={self.device} initial_seed={self._seed}>"


def stream_of(generator: Any, where: str) -> np.random.Generator:
    """The numpy stream behind `generator` (draws advance it); `where` names the caller
    in the error for anything that is not an `em.Generator`."""
    if not isinstance(generator, Generator):
        kind = f"{type(generator).__module__}.{type(generator).__qualname__}"
        raise TypeError(
            f"{where}: generator must be an em.Generator, got {kind}; "
            "fix: g = em.Generator().manual_seed(seed), then pass generator=g"
        )
    return generator._rng


def key_data(generator: Any, where: str) -> np.ndarray:
    """A fresh random-op key (two uint32 words, the layout of ember's keys) from `generator`."""
    return stream_of(generator, where).integers(0, 2**32, size=2, dtype=np.uint32)


__all__ = ["Generator"]
