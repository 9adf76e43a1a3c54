"""CUDA memory as torch tensors: torch's caching allocator owns it, one stream per device
orders the work, and kernels and other libraries see it without a copy.

On a GPU a buffer is a CUDA tensor; numba.cuda kernels take it through
``__cuda_array_interface__``. In numba's CUDA simulator the "device" is the host, so the same
code runs on torch's CPU tensors, which kernels see as NumPy views: CI exercises every line
but the stream's.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from typing import Any

import numpy as np

DLPACK_CUDA = 2  # DLDeviceType kDLCUDA


def torch_dtype(dtype: np.dtype) -> Any:
    import torch

    return torch.from_numpy(np.empty(0, dtype)).dtype


def numpy_dtype(tensor: Any) -> np.dtype:
    return np.dtype(str(tensor.dtype).removeprefix("torch."))


def exact_float32() -> None:
    """ONNX's float32 is IEEE float32: cuDNN's convolutions would otherwise round their
    inputs to TF32 (10-bit mantissa) on Ampere and later. Process-wide, as torch's setting
    is; ``HETERO_CUDA_TF32=1`` keeps TF32 (faster, ~1e-3 relative error)."""
    import torch

    if os.environ.get("HETERO_CUDA_TF32") == "1":
        return
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):  # torch 2.9 and later
        conv.fp32_precision = "ieee"
    else:
        torch.backends.cudnn.allow_tf32 = False


def host_tensor(host: np.ndarray) -> Any:
    """``host`` as a CPU tensor sharing its memory, to copy from: a read-only array is only
    read, so torch's warning about writing to it does not apply."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(np.ascontiguousarray(host))


class Memory:
    """One device's allocator, copies and stream (``torch_device``: "cuda:N", or "cpu" when
    simulated)."""

    def __init__(self, torch_device: str):
        import torch

        self.torch_device = torch.device(torch_device)
        self.on_gpu = self.torch_device.type == "cuda"
        self.stream = torch.cuda.Stream(self.torch_device) if self.on_gpu else None
        if self.on_gpu:
            exact_float32()


    def ordered(self) -> contextlib.AbstractContextManager:
        """Work submitted inside runs on this device's stream (and device), in order,
        asynchronously. A class-based context: entered once per node."""
        if self.stream is None:
            return contextlib.nullcontext()
        import torch

        return torch.cuda.stream(self.stream)  # switches the current device to the stream's

    def allocate(self, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        import torch

        with self.ordered():
            return torch.empty(shape, dtype=torch_dtype(dtype), device=self.torch_device)

    def from_host(self, host: np.ndarray) -> Any:
        """A device tensor holding a copy of ``host`` (NumPy keeps ownership of ``host``)."""
        source = host_tensor(host)
        with self.ordered():
            return source.to(self.torch_device, copy=True)

    def to_host(self, tensor: Any, shape: tuple[int, ...]) -> np.ndarray:
        """A new host array; waits for the work that writes ``tensor``."""
        with self.ordered():
            host = tensor.detach().to("cpu", copy=True)
        return host.numpy().reshape(shape)

    def write(self, tensor: Any, host: np.ndarray) -> None:
        """``host`` copied into ``tensor``, on the stream."""
        source = host_tensor(host).reshape(tensor.shape)
        with self.ordered():
            tensor.copy_(source)

    def capture(self, work: Any) -> Any:
        """``work`` recorded as a CUDA graph on this device's stream (its buffers from the
        graph's own pool, kept for its replays); a function that replays it on the stream."""
        import torch

        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=self.stream):
            work()

        def launch() -> None:
            with self.ordered():
                graph.replay()

        return launch

    def kernel_view(self, tensor: Any) -> Any:
        """The tensor, flat, as a numba.cuda kernel argument, without copying."""
        flat = tensor.reshape(-1)
        if not self.on_gpu:
            return flat.numpy()
        from numba import cuda

        return cuda.as_cuda_array(flat.detach())

    def interface(self, tensor: Any) -> dict[str, Any] | None:
        """``__cuda_array_interface__`` version 3: torch's description plus the stream the
        data is ready on, so a consumer (numba, CuPy) waits for this device's work."""
        if not self.on_gpu:
            return None
        described = dict(tensor.__cuda_array_interface__)
        described.update(version=3, stream=self.stream.cuda_stream)
        return described

    def adopt(self, obj: Any) -> Any:
        """A tensor sharing ``obj``'s memory, through DLPack (the producer orders its pending
        work before this device's stream) or ``__cuda_array_interface__`` (then the device
        waits for all work first: torch does not read the interface's stream)."""
        import torch

        if not self.on_gpu:  # the simulator: host memory, nothing pending
            tensor = torch.from_dlpack(obj) if hasattr(obj, "__dlpack__") else torch.as_tensor(obj)
        elif hasattr(obj, "__dlpack__"):
            tensor = torch.from_dlpack(obj.__dlpack__(stream=self.stream.cuda_stream))
            tensor.record_stream(self.stream)  # freed by its owner: not reused under our work
        else:
            torch.cuda.synchronize(self.torch_device)
            tensor = torch.as_tensor(obj, device=self.torch_device)
        if tensor.device != self.torch_device:
            raise BufferError(f"the data lives on {tensor.device}, not {self.torch_device}")
        if not tensor.is_contiguous():
            raise BufferError("hetero.Array holds contiguous data; this tensor is strided: "
                              "pass tensor.contiguous() (a copy you choose to make)")
        return tensor

    def export(self, tensor: Any, kwargs: dict[str, Any]) -> Any:
        """``tensor.__dlpack__`` for a consumer on stream ``kwargs["stream"]`` (DLPack: None
        or absent means the legacy default stream, 1): torch orders it after this device's
        stream, and the allocator keeps the memory until the consumer's stream is past it."""
        if not self.on_gpu:
            return tensor.__dlpack__(**kwargs)
        import torch

        consumer = kwargs.get("stream")
        kwargs = {**kwargs, "stream": 1 if consumer is None else consumer}
        with self.ordered():
            capsule = tensor.__dlpack__(**kwargs)
        if kwargs["stream"] > 2:  # 1 and 2 are the default streams, which torch knows
            tensor.record_stream(torch.cuda.ExternalStream(kwargs["stream"],
                                                           device=self.torch_device))
        else:
            tensor.record_stream(torch.cuda.default_stream(self.torch_device))
        return capsule

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
