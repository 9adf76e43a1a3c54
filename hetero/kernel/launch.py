"""``@hetero.kernel``: a Python function compiled per signature and per device, launched on queues.

``kern[device, global_size]`` or ``kern[device, global_size, local_size]`` returns a launcher;
calling it with the kernel's arguments enqueues the work and returns an ``Event``. Types come
from the arguments; each signature's IR is built once, each (device, signature) compiled once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hetero.array import Array, resolve
from hetero.device import Device
from hetero.errors import KernelCompileError, UnsupportedOp
from hetero.kernel import ir
from hetero.kernel.frontend import translate
from hetero.kernel.types import ArrayType, Scalar, compute_type, dtype_name, of_value
from hetero.queue import Event, Work
from hetero.selector import Selector

Signature = tuple[Scalar | ArrayType, ...]
MAX_DIMS = 3


def signature_of(args: Sequence[Any], where: str) -> Signature:
    """The types of a launch's arguments: hetero.Arrays and scalars only."""
    types: list[Scalar | ArrayType] = []
    for i, value in enumerate(args):
        if isinstance(value, Array):
            types.append(ArrayType(dtype_name(value.dtype), max(value.ndim, 1)))
        elif isinstance(value, np.ndarray):
            raise TypeError(f"{where}: argument {i} is a NumPy array; kernels take "
                            "hetero.Array (hetero.asarray(x, device=...)), so data moves "
                            "explicitly")
        else:
            try:
                types.append(compute_type(of_value(value)))
            except TypeError as exc:
                raise TypeError(f"{where}: argument {i}: {exc}") from None
    return tuple(types)


def grid(value: Any, what: str) -> tuple[int, ...]:
    sizes = (value,) if isinstance(value, int | np.integer) else tuple(value)
    if not 1 <= len(sizes) <= MAX_DIMS or not all(
            isinstance(n, int | np.integer) and n > 0 for n in sizes):
        raise ValueError(f"{what} must be 1 to 3 positive integers, got {value!r}")
    return tuple(int(n) for n in sizes)


@dataclass(frozen=True)
class LaunchSpec:
    """What a backend needs to run a compiled kernel: sizes always padded to three dims."""

    global_size: tuple[int, int, int]
    local_size: tuple[int, int, int] | None

    @classmethod
    def of(cls, global_size: tuple[int, ...], local_size: tuple[int, ...] | None) -> LaunchSpec:
        pad = (1,) * (MAX_DIMS - len(global_size))
        return cls((*global_size, *pad),  # type: ignore[arg-type]
                   None if local_size is None else (*local_size, *pad))


class Kernel:
    """A kernel written once; compiled for each device and argument signature it meets."""

    def __init__(self, fn: Callable[..., Any]):
        self.fn = fn
        self.__name__ = fn.__name__
        self.__qualname__ = fn.__qualname__
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        self._ir: dict[Signature, ir.KernelIR] = {}
        self._programs: dict[tuple[Device, Signature], Any] = {}
        self._lock = threading.Lock()
        self._last: Signature | None = None

    def __repr__(self) -> str:
        return f"<hetero.kernel {self.__qualname__}: {len(self._ir)} signature(s) compiled>"

    def __call__(self, *args: Any) -> None:
        raise TypeError(f"launch kernel {self.__name__} with a device and a size: "
                        f"{self.__name__}[device, global_size](...) or "
                        f"{self.__name__}[device, global_size, local_size](...)")

    def __getitem__(self, config: Any) -> Callable[..., Event]:
        config = config if isinstance(config, tuple) else (config,)
        if len(config) not in (2, 3):
            raise TypeError(f"{self.__name__}[device, global_size] or "
                            f"{self.__name__}[device, global_size, local_size]; got "
                            f"{len(config)} item(s)")
        device, global_size, *local = config
        return lambda *args: self.launch(device, global_size, local[0] if local else None, args)

    # -- specialisation -----------------------------------------------------------------------
    def specialise(self, signature: Signature) -> ir.KernelIR:
        """The typed IR for one signature (built once, then cached)."""
        with self._lock:
            if signature not in self._ir:
                self._ir[signature] = translate(self.fn, list(signature))
            self._last = signature
            return self._ir[signature]

    def entry(self, signature: Signature) -> str:
        """A stable entry-point name for one specialisation."""
        import hashlib

        digest = hashlib.sha256(repr(signature).encode()).hexdigest()[:10]
        return f"hk_{self.__name__}_{digest}"

    def program(self, device: Device, signature: Signature) -> Any:
        key = (device, signature)
        program = self._programs.get(key)
        if program is None:
            kernel = self.specialise(signature)
            program = device.impl.compile_kernel(device, kernel, self.entry(signature))
            self._programs[key] = program
        return program

    def source(self, device: Selector, *example_args: Any) -> str:
        """The code generated for ``device``: for the example arguments, else the last launch."""
        target = device if isinstance(device, Device) else resolve(device)
        if example_args:
            signature = signature_of(example_args, f"{self.__name__}.source")
        elif self._last is not None:
            signature = self._last
        else:
            raise KernelCompileError(
                f"{self.__name__}.source({target.id}): no signature yet; launch the kernel "
                "once or pass example arguments: kern.source(device, *args)")
        return target.impl.kernel_source(target, self.specialise(signature),
                                         self.entry(signature))

    # -- launch -------------------------------------------------------------------------------
    def launch(self, device: Selector, global_size: Any, local_size: Any,
               args: Sequence[Any], work: Work | None = None) -> Event:
        """Enqueue one launch on ``device``'s queue; returns its Event."""
        target = device if isinstance(device, Device) else resolve(device)
        where = f"{self.__name__}[{target.id}, {global_size!r}]"
        gsize = grid(global_size, "global_size")
        lsize = None if local_size is None else grid(local_size, "local_size")
        if lsize is not None:
            check_divides(gsize, lsize, where)
        signature = signature_of(args, where)
        if not target.impl.runs_kernels(target):
            raise UnsupportedOp(f"{where}: {target.id} does not run @hetero.kernel code; "
                                "`hetero devices` lists the devices that do")
        program = self.program(target, signature)
        kernel = self.specialise(signature)
        if lsize is None and needs_groups(kernel):
            raise ValueError(f"{where}: the kernel uses barrier() or local memory, so its "
                             "result depends on the work-group size; give one: "
                             f"{self.__name__}[device, global_size, local_size](...)")
        values = [*args, *(np.int64(a.shape[d] if a.ndim else 1)
                           for a, p in zip(args, signature, strict=True)
                           if isinstance(p, ArrayType) for d in range(p.ndim))]
        spec = LaunchSpec.of(gsize, lsize)
        return target.queue.launch(program, values, spec, work=work)


def needs_groups(kernel: ir.KernelIR) -> bool:
    """Whether the work-group shape matters to the result (barriers or local memory)."""
    return kernel.has_barrier or any(a.space == "local" for a in kernel.scratch.values())


def check_divides(gsize: tuple[int, ...], lsize: tuple[int, ...], where: str) -> None:
    if len(lsize) != len(gsize):
        raise ValueError(f"{where}: local_size {lsize} and global_size {gsize} must have the "
                         "same number of dimensions")
    for d, (g, n) in enumerate(zip(gsize, lsize, strict=True)):
        if g % n:
            raise ValueError(f"{where}: global size {g} is not a multiple of local size {n} "
                             f"in dimension {d}; round the global size up and guard the "
                             "kernel with `if i < n`")
