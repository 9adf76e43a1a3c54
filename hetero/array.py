"""``hetero.Array``: data living on one device. Transfers are explicit; nothing copies silently."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from hetero.device import Device
from hetero.errors import DeviceMismatch, UnsupportedOp
from hetero.selector import Selector

DLPACK_CPU = 1
DLPACK_DEVICE_NAMES = {1: "CPU", 2: "CUDA", 3: "CUDAHost", 4: "OpenCL", 7: "Vulkan", 8: "Metal",
                       9: "VPI", 10: "ROCm", 13: "CUDAManaged", 14: "OneAPI"}


def resolve(device: Selector | None) -> Device:
    """A Device from a selector; None means ``$HETERO_DEVICE`` or else the host CPU."""
    from hetero.discovery import default_registry

    return default_registry().device(os.environ.get("HETERO_DEVICE", "cpu")
                                     if device is None else device)


def check_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.kind not in "biuf":
        raise TypeError(f"hetero.Array holds bool, integer or floating data, not {dtype} "
                        "(convert with numpy's .astype first)")
    return dtype


class Array:
    """An n-dimensional array resident on ``device``. Create one with ``hetero.asarray``."""

    __slots__ = ("_buffer", "_device", "_dtype", "_shape")

    def __init__(self, buffer: Any, device: Device, shape: tuple[int, ...], dtype: np.dtype):
        self._buffer, self._device = buffer, device
        self._shape, self._dtype = tuple(shape), np.dtype(dtype)

    shape = property(lambda self: self._shape, doc="The array's shape.")
    dtype = property(lambda self: self._dtype, doc="The array's NumPy dtype.")
    device = property(lambda self: self._device, doc="The Device the data lives on.")
    ndim = property(lambda self: len(self._shape))
    size = property(lambda self: int(np.prod(self._shape, dtype=np.int64)))
    nbytes = property(lambda self: self.size * self._dtype.itemsize)

    @property
    def buffer(self) -> Any:
        """The backend-native buffer (a NumPy array on host-memory devices)."""
        self._device.check_alive("reach an array stored on it")
        return self._buffer

    def __repr__(self) -> str:
        return f"hetero.Array(shape={self._shape}, dtype={self._dtype}, device={self._device.id})"

    def __len__(self) -> int:
        if not self._shape:
            raise TypeError("len() of a 0-d hetero.Array")
        return self._shape[0]

    def reshape(self, *shape: int | Sequence[int]) -> Array:
        """The same data with another shape, without copying (arrays are contiguous)."""
        dims = tuple(shape[0]) if len(shape) == 1 and not isinstance(shape[0], int) \
            else tuple(shape)
        if -1 in dims:
            known = int(np.prod([d for d in dims if d != -1], dtype=np.int64)) or 1
            dims = tuple(self.size // known if d == -1 else d for d in dims)
        if int(np.prod(dims, dtype=np.int64)) != self.size:
            raise ValueError(f"cannot reshape {self._shape} ({self.size} elements) to {dims}")
        buffer = self._device.impl.reshape_buffer(self.buffer, dims)
        return Array(buffer, self._device, dims, self._dtype)

    def to(self, device: Selector) -> Array:
        """This array on ``device``: itself if already there, else an explicit copy."""
        target = resolve(device)
        if target is self._device:
            return self
        return _place(self.numpy(), target)

    def numpy(self) -> np.ndarray:
        """The data as a host NumPy array: a view on host-memory devices, else a copy."""
        impl = self._device.impl
        view = impl.host_view(self.buffer)
        if view is not None:
            return view
        return impl.to_host(self._device, self.buffer, self._shape, self._dtype)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """NumPy's protocol; ``copy=False`` refuses (ValueError) when a copy cannot be avoided."""
        converts = dtype is not None and np.dtype(dtype) != self._dtype
        on_host = self._device.impl.host_view(self.buffer) is not None
        if copy is False and (converts or not on_host):
            raise ValueError(f"hetero.Array on {self._device.id}: a copy is needed "
                             f"({'dtype conversion' if converts else 'device memory'})")
        host = self.numpy()
        if converts:
            return host.astype(dtype)
        return host.copy() if copy else host

    def __dlpack_device__(self) -> tuple[int, int]:
        if self._device.impl.host_view(self.buffer) is not None:
            return (DLPACK_CPU, 0)
        return self._native_dlpack().__dlpack_device__()

    def __dlpack__(self, **kwargs: Any) -> Any:
        """Export without copying (DLPack); keyword arguments pass to the producer as given."""
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        view = self._device.impl.host_view(self.buffer)
        if view is not None:
            return view.__dlpack__(**kwargs)
        return self._device.impl.export_dlpack(self._device, self._native_dlpack(), kwargs)

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        """numba.cuda's (and CuPy's, torch's) protocol for GPU memory, without copying: the
        data as this array's shape, with the stream it is ready on. AttributeError where the
        data is not GPU memory."""
        found = self._device.impl.cuda_array_interface(self._device, self.buffer, self._shape)
        if found is None:
            raise AttributeError(f"hetero.Array on {self._device.id} is not in CUDA memory")
        return found

    def _native_dlpack(self) -> Any:
        if not hasattr(self._buffer, "__dlpack__"):
            raise BufferError(f"backend {self._device.backend} buffers do not support DLPack; "
                              "copy to the host with .numpy() first")
        return self._buffer


def _place(host: np.ndarray, device: Device) -> Array:
    device.check_alive("copy data onto it")
    buffer = device.impl.from_host(device, np.ascontiguousarray(host))
    return Array(buffer, device, host.shape, host.dtype)


def asarray(obj: Any, device: Selector | None = None, dtype: Any = None) -> Array:
    """Copy ``obj`` (anything NumPy accepts, or an Array) onto ``device``."""
    target = resolve(device)
    if isinstance(obj, Array) and obj.device is target and dtype in (None, obj.dtype):
        return obj
    host = np.asarray(obj.numpy() if isinstance(obj, Array) else obj, dtype=dtype)
    check_dtype(host.dtype)
    return _place(host, target)


def empty(shape: int | Sequence[int], dtype: Any = "float32",
          device: Selector | None = None) -> Array:
    """Uninitialised device memory."""
    target = resolve(device)
    target.check_alive("allocate on it")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    dt = check_dtype(np.dtype(dtype))
    return Array(target.impl.allocate(target, shape, dt), target, shape, dt)


def zeros(shape: int | Sequence[int], dtype: Any = "float32",
          device: Selector | None = None) -> Array:
    """Device memory filled with zeros."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _place(np.zeros(shape, dtype=check_dtype(np.dtype(dtype))), resolve(device))


def from_dlpack(obj: Any, device: Selector | None = None) -> Array:
    """Wrap a DLPack producer without copying; with ``device`` on another domain, copy there."""
    kind, index = obj.__dlpack_device__()
    if kind != DLPACK_CPU:
        return _adopted(obj, (int(kind), int(index)), device)
    host = np.from_dlpack(obj)
    check_dtype(host.dtype)
    target = resolve(device)
    if target.impl.host_view(host) is None:
        return _place(host, target)
    return Array(host, target, host.shape, host.dtype)


def _adopted(obj: Any, where: tuple[int, int], device: Selector | None) -> Array:
    """Device memory (a CUDA tensor, say) wrapped by the backend that owns that device."""
    from hetero.discovery import default_registry

    owner = next((d for d in default_registry().devices()
                  if d.impl.dlpack_device(d) == where), None)
    if owner is None:
        name = DLPACK_DEVICE_NAMES.get(where[0], f"type {where[0]}")
        raise UnsupportedOp(f"hetero.from_dlpack: the data lives in {name} memory (device "
                            f"{where[1]}), which no device hetero found owns; "
                            "hetero.devices() lists what it found")
    owner.check_alive("import data stored on it")
    buffer, shape, dtype = owner.impl.adopt(owner, obj)
    array = Array(buffer, owner, shape, check_dtype(dtype))
    return array if device is None else array.to(device)


def common_device(arrays: Iterable[tuple[str, Array]], device: Device) -> None:
    """Refuse a launch whose arrays live on another device than the one it runs on."""
    for where, array in arrays:
        if array.device is not device:
            raise DeviceMismatch(
                f"{where} lives on {array.device.id} but the launch runs on {device.id}; "
                f"move it explicitly with .to({device.id!r}) (hetero never copies silently)")
