"""CUDA memory as torch tensors: torch's caching allocator owns it, one stream per device
orders the work, and kernels and other libraries see it without a copy.

On a GPU a buffer is a CUDA tensor; numba.cuda kernels take it through
``__cuda_array_interface__``. In numba's CUDA simulator the "device" is the host, so the same
code runs on torch's CPU tensors, which kernels see as NumPy views: CI exercises every line
but the stream's.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

DLPACK_CUDA = 2  # DLDeviceType kDLCUDA


def torch_dtype(dtype: np.dtype) -> Any:
    import torch

    return torch.from_numpy(np.empty(0, dtype)).dtype


def numpy_dtype(tensor: Any) -> np.dtype:
    return np.dtype(str(tensor.dtype).removeprefix("torch."))


class Memory:
    """One device's allocator, copies and stream (``torch_device``: "cuda:N", or "cpu" when
    simulated)."""

    def __init__(self, torch_device: str):
        import torch

        self.torch_device = torch.device(torch_device)
        self.on_gpu = self.torch_device.type == "cuda"
        self.stream = torch.cuda.Stream(self.torch_device) if self.on_gpu else None

    @contextlib.contextmanager
    def ordered(self) -> Iterator[None]:
        """Work submitted inside runs on this device's stream, in order, asynchronously."""
        if self.stream is None:
            yield
            return
        import torch

        with torch.cuda.device(self.torch_device), torch.cuda.stream(self.stream):
            yield

    def allocate(self, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        import torch

        with self.ordered():
            return torch.empty(shape, dtype=torch_dtype(dtype), device=self.torch_device)

    def from_host(self, host: np.ndarray) -> Any:
        """A device tensor holding a copy of ``host`` (NumPy keeps ownership of ``host``)."""
        import torch

        with warnings.catch_warnings():  # a read-only array: only read, into the copy
            warnings.simplefilter("ignore", UserWarning)
            source = torch.from_numpy(np.ascontiguousarray(host))
        with self.ordered():
            return source.to(self.torch_device, copy=True)

    def to_host(self, tensor: Any, shape: tuple[int, ...]) -> np.ndarray:
        """A new host array; waits for the work that writes ``tensor``."""
        with self.ordered():
            host = tensor.detach().to("cpu", copy=True)
        return host.numpy().reshape(shape)

    def kernel_view(self, tensor: Any) -> Any:
        """The tensor, flat, as a numba.cuda kernel argument, without copying."""
        flat = tensor.reshape(-1)
        if not self.on_gpu:
            return flat.numpy()
        from numba import cuda

        return cuda.as_cuda_array(flat.detach())

    def adopt(self, obj: Any) -> Any:
        """A tensor sharing ``obj``'s memory (DLPack or ``__cuda_array_interface__``); the
        producer's pending work is ordered before this device's stream by the protocol."""
        import torch

        with self.ordered():
            tensor = torch.from_dlpack(obj) if hasattr(obj, "__dlpack__") \
                else torch.as_tensor(obj, device=self.torch_device)
        if tensor.device != self.torch_device:
            raise BufferError(f"the data lives on {tensor.device}, not {self.torch_device}")
        if not tensor.is_contiguous():
            raise BufferError("hetero.Array holds contiguous data; this tensor is strided: "
                              "pass tensor.contiguous() (a copy you choose to make)")
        return tensor

    # -- events: a node's own time on the stream -------------------------------------------
    def mark(self) -> Any:
        """A CUDA event recorded on the stream now: it completes when the work before it has."""
        import torch

        event = torch.cuda.Event(enable_timing=True)
        event.record(self.stream)
        return event

    def elapsed_ms(self, start: Any, end: Any) -> float:
        end.synchronize()
        return float(start.elapsed_time(end))
