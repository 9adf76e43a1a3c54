"""The TVM backend: Apache TVM's compiled code. Today it exposes TVM's ``llvm`` target on the host.

The device says what it really is (TVM-compiled code on the host CPU); NPU codegens and subgraph
compilation arrive with the NPU-path issue. Its figures are the host CPU's, measured by the cpu
backend's micro-benchmark, because that is the silicon it runs on.
"""

from __future__ import annotations

from hetero.backends.cpu import host_device
from hetero.backends.cpu.hostinfo import read_host_info
from hetero.backends.cpu.microbench import cache_key, measure

from hetero.backend import HostMemoryBackend
from hetero.cache import cached
from hetero.device import Device
from hetero.hookspecs import hookimpl

HETERO_PLUGIN_API = 1


class TVMBackend(HostMemoryBackend):
    """TVM's llvm target on the host; buffers live in host memory, shared with NumPy."""

    name = "tvm"
    extra = "tvm"
    requires = ("tvm",)

    def discover(self) -> list[Device]:
        import tvm

        if not tvm.runtime.enabled("llvm"):
            raise RuntimeError("this TVM build has no llvm target; reinstall apache-tvm")
        info = read_host_info()
        host = host_device(info, cached("cpu-profile", cache_key(info), lambda: measure(info)))
        host.id, host.backend, host.impl = "tvm:cpu:0", self.name, self
        host.name = f"TVM {tvm.__version__} llvm target on the host CPU ({info.name})"
        host.info = {**host.info, "tvm_version": tvm.__version__, "target": "llvm"}
        return [host]


@hookimpl
def hetero_backends() -> list[TVMBackend]:
    return [TVMBackend()]
