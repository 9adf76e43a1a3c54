"""Arrays derived from a model's weights (packed, transposed, scaled), made once per process.

Every host-memory device (the cpu and each simulated device) computes with the same kernels
on the same memory, so a weight packed for one is the one the others read: a re-plan that
moves ResNet-50's convolutions from one such device to another packs nothing again.
Only weights no one can write are keyed (``hetero.backend.frozen``); an entry goes with its
source array.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable

import numpy as np

from hetero.backend import frozen

_made: dict[int, tuple[weakref.ref, dict[Hashable, np.ndarray]]] = {}
_lock = threading.RLock()  # re-entered when collection runs ``forget`` under it


def derived(source: np.ndarray, key: Hashable, make: Callable[[], np.ndarray]) -> np.ndarray:
    """``make()``, read-only, once per read-only ``source`` and ``key`` (what else the
    result depends on); a writable source gets a fresh ``make()`` every time."""
    if not frozen(source):
        return make()
    with _lock:
        found = _made.get(id(source))
        if found is None or found[0]() is not source:
            found = _made[id(source)] = (weakref.ref(source, forget(id(source))), {})
        made = found[1].get(key)
    if made is None:  # outside the lock: packing takes milliseconds; a race packs twice
        made = view = make()
        while isinstance(view, np.ndarray):  # a view of a writable array is not frozen
            view.flags.writeable = False
            view = view.base
        with _lock:
            made = found[1].setdefault(key, made)
    return made


def forget(ident: int) -> Callable[[weakref.ref], None]:
    """The callback that drops a source's entry once the source is collected."""
    def dropped(ref: weakref.ref) -> None:
        with _lock:
            if ident in _made and _made[ident][0] is ref:
                del _made[ident]
    return dropped
