"""The TVM backend: Apache TVM's compiled code. It exposes TVM's ``llvm`` target on the host.

The device says what it really is (TVM-compiled code on the host CPU); its figures are the host
CPU's, measured by the cpu backend's micro-benchmark, because that is the silicon it runs on.
It compiles whole subgraphs: the runtime hands it each run of consecutive nodes placed on it,
which becomes one ONNX model (``subgraph.py``) compiled by TVM (``compiler.py``, cached on disk).
Portable kernels become TIR (``kernels.py``) through the same compiler and cache.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
from typing import Any

from hetero.backends.cpu import figures, host_device, rapl
from hetero.backends.cpu.hostinfo import read_host_info
from hetero.backends.tvm.compiler import HOST_TARGET, program
from hetero.backends.tvm.kernels import TIRKernels
from hetero.backends.tvm.subgraph import submodel
from hetero.backends.tvm.targets import TVMTarget, covered

from hetero.backend import HostMemoryBackend, Uevent
from hetero.device import Device
from hetero.discovery import default_registry
from hetero.energy import Meter
from hetero.errors import UnsupportedOp
from hetero.graph.reference import unfused
from hetero.hookspecs import hookimpl

HETERO_PLUGIN_API = 1
#: element types TVM's ONNX frontend and its llvm target compute in
DTYPES = ("float32", "float64", "float16", "int64", "int32", "int8", "uint8", "bool")


class TVMBackend(TIRKernels, HostMemoryBackend):
    """TVM's llvm target on the host; buffers live in host memory, shared with NumPy.
    Portable kernels compile to TIR for the host target; NPU targets run subgraphs only."""

    name = "tvm"
    extra = "tvm"
    requires = ("tvm",)
    subgraphs = True  # the runtime hands it runs of nodes to compile as one unit

    def uevents(self) -> tuple[Uevent, ...]:
        """NPUs its vendor targets drive: USB sticks (Coral: Global Unichip 0x1a6e before its
        firmware loads, Google 0x18d1 after; Intel Movidius 0x03e7) and the kernel's accel
        subsystem (Intel NPU, Habana, AMD XDNA)."""
        return (Uevent("usb", "1a6e"), Uevent("usb", "18d1"), Uevent("usb", "03e7"),
                Uevent("accel"))

    def discover(self) -> list[Device]:
        import tvm

        if not tvm.runtime.enabled("llvm"):
            raise RuntimeError("this TVM build has no llvm target; reinstall apache-tvm")
        info = read_host_info()
        host = host_device(info, figures(info))
        host.id, host.backend, host.impl = "tvm:cpu:0", self.name, self
        host.name = f"TVM {tvm.__version__} llvm target on the host CPU ({info.name})"
        host.info = {**host.info, "tvm_version": tvm.__version__, "target": HOST_TARGET}
        return [host, *(accelerator_device(t, host) for t in accelerators())]

    def energy_meter(self, device: Device) -> Meter | None:
        """The host's package counters, shared with cpu:0 (one key, read once)."""
        return rapl.meter() if device.native is None else None

    def runs_kernels(self, device: Device) -> bool:
        return device.native is None  # the host's llvm target, not a vendor's codegen

    def node_tier(self, device: Device, node: Any, graph: Any) -> str | None:
        if not claims(node, graph):
            return None
        if device.native is None:  # the host's llvm target compiles whatever TVM imports
            return "native"
        return "native" if covered(one_node(node, graph), device.native) else None

    def prepare_subgraph(self, device: Device, nodes: list[Any], graph: Any,
                         inputs: list[str], outputs: list[str]) -> Any:
        """One TVM program for the run: its boundary values in and out, weights inside."""
        try:
            return program(submodel(nodes, graph, inputs, outputs), inputs, outputs,
                           device.info.get("target", HOST_TARGET), device.native)
        except Exception as exc:  # noqa: BLE001 - TVM raises many types; say which nodes
            raise UnsupportedOp(
                f"{device.id}: TVM could not compile the subgraph of {len(nodes)} node(s) "
                f"{nodes[0].name}..{nodes[-1].name} ({type(exc).__name__}: "
                f"{str(exc).strip().splitlines()[-1][:200]}); pin them to another device "
                "with placement=") from exc

    def run_node(self, device: Device, prepared: Any, inputs: dict[str, Any]) -> list[Any]:
        return prepared(inputs)


def claims(node: Any, graph: Any) -> bool:
    """Whether TVM's ONNX frontend converts the node (hetero's fused ops as their standard
    ONNX form), its inputs have static shapes and every value it touches a type TVM computes
    in: TVM compiles for fixed input shapes and infers the outputs' (a Dropout's unread mask
    may have none)."""
    if node.domain not in ("", "com.hetero") or node.outer:
        return False
    if any(proto.op_type not in convertible() for proto in unfused(node)):
        return False
    return all(static(graph, v) for v in node.inputs if v) and \
        all(typed(graph, v) for v in node.outputs if v) and imports(node, graph)


def static(graph: Any, name: str) -> bool:
    value = graph.values.get(name)
    return name in graph.constants or typed(graph, name) and value.shape is not None and \
        all(isinstance(d, int) and d >= 0 for d in value.shape)


def typed(graph: Any, name: str) -> bool:
    value = graph.values.get(name)
    return value is not None and value.dtype is not None and value.dtype.name in DTYPES


def one_node(node: Any, graph: Any) -> Any:
    """The node alone as an ONNX model (its weights inside)."""
    inputs = [v for v in dict.fromkeys(node.inputs) if v and v not in graph.constants]
    return submodel([node], graph, inputs, [o for o in node.outputs if o])


def imports(node: Any, graph: Any) -> bool:
    """Whether TVM's frontend imports the node alone: its table lists ops whose converters
    still refuse some inputs or opsets (Attention, CumSum with a fed axis, …)."""
    proto = one_node(node, graph)
    blob = proto.SerializeToString(deterministic=True)
    key = hashlib.sha256(blob).hexdigest()
    if key not in IMPORTED:
        IMPORTED[key] = imported(proto)
    return IMPORTED[key]


IMPORTED: dict[str, bool] = {}  # by the node's one-node model: conversions are deterministic


def imported(proto: Any) -> bool:
    from tvm.relax.frontend.onnx import from_onnx

    try:  # the frontend prints each refusal to stdout before raising
        with contextlib.redirect_stdout(io.StringIO()):
            from_onnx(proto, keep_params_in_input=False)
    except Exception:  # noqa: BLE001 - any refusal means "not on tvm"
        return False
    return True


@functools.cache
def convertible() -> frozenset[str]:
    """The ONNX ops TVM's frontend has a converter for (its own table: what it supports)."""
    from tvm.relax.frontend.onnx import onnx_frontend

    return frozenset(onnx_frontend._get_convert_map())


def accelerators() -> list[TVMTarget]:
    """The targets plugins declare that this TVM can compile for; the others become plugin
    errors that say what is missing."""
    from hetero.discovery import default_registry
    from hetero.errors import PluginError
    from hetero.plugins import contain, describe_exception

    plugins, found = default_registry().plugins, []
    for name, targets in plugins.call_each("hetero_tvm_targets", expect=TVMTarget):
        for target in targets:
            reason, exc = contain(target.unavailable)  # a plugin's fields, a plugin's error
            if exc is not None:
                plugins.errors.append(PluginError(name, "hetero_tvm_targets",
                                                  describe_exception(exc)))
            elif reason is None:
                found.append(target)
            else:
                plugins.errors.append(PluginError(name, "unavailable",
                                                  f"tvm target {target.name}: {reason}"))
    return found


def accelerator_device(target: TVMTarget, host: Device) -> Device:
    """A device for the target; its profile is the one the plugin names (for planning) or,
    without one, the host's: a target built by the host's llvm says so."""
    profiles = default_registry().catalogue()[0]
    profile = profiles[target.profile] if isinstance(target.profile, str) else \
        target.profile or host.profile
    return Device(
        id=f"tvm:{target.name}:0", name=target.description or f"TVM target {target.name}",
        backend="tvm", kind=target.kind, arch=target.target.get("kind", ""),
        memory_bytes=profile.memory_bytes, profile=profile, impl=host.impl,
        info={"target": target.target, "patterns": target.patterns, "codegen": target.codegen,
              **({"silicon": host.info["silicon"]} if profile is host.profile else {})},
        native=target)


@hookimpl
def hetero_backends() -> list[TVMBackend]:
    return [TVMBackend()]
