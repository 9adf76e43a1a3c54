"""The TVM backend: Apache TVM's compiled code. It exposes TVM's ``llvm`` target on the host.

The device says what it really is (TVM-compiled code on the host CPU); its figures are the host
CPU's, measured by the cpu backend's micro-benchmark, because that is the silicon it runs on.
It compiles whole subgraphs: the runtime hands it each run of consecutive nodes placed on it,
which becomes one ONNX model (``subgraph.py``) compiled by TVM (``compiler.py``, cached on disk).
"""

from __future__ import annotations

import functools
from typing import Any

from hetero.backends.cpu import host_device
from hetero.backends.cpu.hostinfo import read_host_info
from hetero.backends.cpu.microbench import cache_key, measure
from hetero.backends.tvm.compiler import HOST_TARGET, program
from hetero.backends.tvm.subgraph import submodel

from hetero.backend import HostMemoryBackend
from hetero.cache import cached
from hetero.device import Device
from hetero.graph.reference import unfused
from hetero.hookspecs import hookimpl

HETERO_PLUGIN_API = 1
#: element types TVM's ONNX frontend and its llvm target compute in
DTYPES = ("float32", "float64", "float16", "int64", "int32", "int8", "uint8", "bool")


class TVMBackend(HostMemoryBackend):
    """TVM's llvm target on the host; buffers live in host memory, shared with NumPy."""

    name = "tvm"
    extra = "tvm"
    requires = ("tvm",)
    subgraphs = True  # the runtime hands it runs of nodes to compile as one unit

    def discover(self) -> list[Device]:
        import tvm

        if not tvm.runtime.enabled("llvm"):
            raise RuntimeError("this TVM build has no llvm target; reinstall apache-tvm")
        info = read_host_info()
        host = host_device(info, cached("cpu-profile", cache_key(info), lambda: measure(info)))
        host.id, host.backend, host.impl = "tvm:cpu:0", self.name, self
        host.name = f"TVM {tvm.__version__} llvm target on the host CPU ({info.name})"
        host.info = {**host.info, "tvm_version": tvm.__version__, "target": HOST_TARGET}
        return [host]

    def node_tier(self, device: Device, node: Any, graph: Any) -> str | None:
        return "native" if claims(node, graph) else None

    def prepare_subgraph(self, device: Device, nodes: list[Any], graph: Any,
                         inputs: list[str], outputs: list[str]) -> Any:
        """One TVM program for the run: its boundary values in and out, weights inside."""
        return program(submodel(nodes, graph, inputs, outputs), inputs, outputs,
                       device.info.get("target", HOST_TARGET))

    def prepare_node(self, device: Device, node: Any, graph: Any) -> Any:
        inputs = [v for v in dict.fromkeys((*node.inputs, *node.outer))
                  if v and v not in graph.constants]
        return self.prepare_subgraph(device, [node], graph, inputs,
                                     [o for o in node.outputs if o])

    def run_node(self, device: Device, prepared: Any, inputs: dict[str, Any]) -> list[Any]:
        return prepared(inputs)


def claims(node: Any, graph: Any) -> bool:
    """Whether TVM's ONNX frontend converts the node (hetero's fused ops as their standard
    ONNX form) and every value it touches has a static shape and a type TVM computes in:
    TVM compiles for fixed shapes."""
    if node.domain not in ("", "com.hetero") or node.outer:
        return False
    if any(proto.op_type not in convertible() for proto in unfused(node)):
        return False
    return all(static(graph, v) for v in (*node.inputs, *node.outputs) if v)


def static(graph: Any, name: str) -> bool:
    if name in graph.constants:
        return True
    value = graph.values.get(name)
    return value is not None and value.dtype is not None and value.shape is not None and \
        all(isinstance(d, int) and d >= 0 for d in value.shape) and value.dtype.name in DTYPES


@functools.cache
def convertible() -> frozenset[str]:
    """The ONNX ops TVM's frontend has a converter for (its own table: what it supports)."""
    from tvm.relax.frontend.onnx import onnx_frontend

    return frozenset(onnx_frontend._get_convert_map())


@hookimpl
def hetero_backends() -> list[TVMBackend]:
    return [TVMBackend()]
