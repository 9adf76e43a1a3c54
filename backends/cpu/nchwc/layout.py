"""``Blocked``: a float32 NCHW tensor stored as (N, ceil(C/L), H, W, L), L the host's SIMD
lanes, so one vector load reads L channels of one pixel. Channels past C (the last block's
padding) hold unspecified values; no op reads them as channels."""

from __future__ import annotations

import numpy as np


class Blocked:
    """An activation in the blocked layout; ``plain()`` gives (and keeps) its NCHW form."""

    __slots__ = ("data", "channels", "_plain")

    def __init__(self, data: np.ndarray, channels: int):
        self.data = data
        self.channels = channels
        self._plain: np.ndarray | None = None

    @property
    def lanes(self) -> int:
        return self.data.shape[-1]

    @property
    def shape(self) -> tuple[int, ...]:
        """The logical NCHW shape."""
        return (self.data.shape[0], self.channels, *self.data.shape[2:-1])

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim - 1

    def aligned(self) -> bool:
        """Whether the channels fill whole blocks (no padding lanes), so blocks concatenate."""
        return self.channels % self.lanes == 0

    def plain(self) -> np.ndarray:
        if self._plain is None:
            self._plain = to_plain(self.data, self.channels)
        return self._plain

    @classmethod
    def from_plain(cls, x: np.ndarray, lanes: int) -> Blocked:
        return cls(to_blocked(x, lanes), x.shape[1])

    def __repr__(self) -> str:
        return f"Blocked(shape={self.shape}, lanes={self.lanes})"


def permuted(x: Blocked, order: np.ndarray) -> Blocked:
    """``x`` with channel c taken from channel ``order[c]``, still blocked."""
    from hetero.backends.cpu.nchwc import loops

    out = np.empty_like(x.data)
    n, n_blocks, lanes = x.data.shape[0], x.data.shape[1], x.lanes
    size = x.data[0, 0].size // lanes
    source = np.zeros(n_blocks * lanes, np.int64)  # padding lanes copy channel 0
    source[:x.channels] = order
    offsets = source // lanes * size * lanes + source % lanes
    loops.gather_channels(x.data.reshape(n, n_blocks, size, lanes),
                          out.reshape(n, n_blocks, size, lanes), offsets)
    return Blocked(out, x.channels)


def plain(value):
    """An op input as a plain array (Blocked values converted; anything else unchanged)."""
    return value.plain() if isinstance(value, Blocked) else value


def blockable(x) -> bool:
    """Whether ``x`` can live in the blocked layout: a 4-D float32 array (NCHW)."""
    return isinstance(x, np.ndarray) and x.ndim == 4 and x.dtype == np.float32


def as_blocked(x, lanes: int) -> Blocked:
    return x if isinstance(x, Blocked) else Blocked.from_plain(np.asarray(x), lanes)


def channel_vector(value: np.ndarray, like: Blocked, fill: float) -> np.ndarray | None:
    """A per-channel operand of ``like`` (shape (C, 1, 1) or (1, C, 1, 1)) as blocks shaped
    (1, Cb, 1, 1, L) that broadcast against its data, padding lanes ``fill``; else None."""
    if value.ndim > 4:
        return None
    shape = (1,) * (4 - value.ndim) + value.shape
    if shape[0] != 1 or shape[2:] != (1, 1) or shape[1] != like.channels:
        return None
    n_blocks = like.data.shape[1]
    out = np.full(n_blocks * like.lanes, fill, np.float32)
    out[:like.channels] = value.reshape(-1)
    return out.reshape(1, n_blocks, 1, 1, like.lanes)


def blocks(channels: int, lanes: int) -> int:
    return -(-channels // lanes)


def to_blocked(x: np.ndarray, lanes: int) -> np.ndarray:
    n, c = x.shape[:2]
    spatial = x.shape[2:]
    out = np.empty((n, blocks(c, lanes), *spatial, lanes), np.float32)
    size = int(np.prod(spatial, dtype=np.int64))
    from hetero.backends.cpu.nchwc import loops

    loops.to_blocked(np.ascontiguousarray(x, np.float32).reshape(n, c, size),
                     out.reshape(n, out.shape[1], size, lanes))
    return out


def to_plain(data: np.ndarray, channels: int) -> np.ndarray:
    n, spatial, lanes = data.shape[0], data.shape[2:-1], data.shape[-1]
    size = int(np.prod(spatial, dtype=np.int64))
    out = np.empty((n, channels, *spatial), np.float32)
    from hetero.backends.cpu.nchwc import loops

    loops.to_plain(data.reshape(n, data.shape[1], size, lanes),  # -1 fails for 0 elements
                   out.reshape(n, channels, size))
    return out
