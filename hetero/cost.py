"""The cost model: time and energy of each (node, device) and of each transfer.

Time starts from a roofline of the device's profile (flops over its peak for the dtype, bytes
over its memory bandwidth, plus launch overhead) and is replaced by measured history where the
same (op, shapes, dtype, device) ran often enough before (the median of its runs), or by a
regression over that history for sizes not seen yet (StarPU's approach). Energy of a placement
is active power x busy time per device, idle power of every powered device over the makespan
(without it a scheduler piles everything onto the most frugal unit) and energy per byte of
every transfer. Every estimate says whether it was measured or modeled.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hetero.cache import content_key
from hetero.device import Device
from hetero.graph.ir import TensorInfo, itemsize, numel
from hetero.queue import Work

if TYPE_CHECKING:
    from hetero.history import History

#: com.hetero fused ops cost what the op they extend costs (the fused tail is elementwise)
FUSED_BASE = {"FusedConv": "Conv", "FusedGemm": "Gemm",
              "FusedBatchNormalization": "BatchNormalization", "ChannelShuffle": "Transpose"}
#: quantised ops cost what their float op costs, on the data and weight inputs they share
QUANTISED = {"QLinearConv": ("Conv", (0, 3, 8)), "QLinearMatMul": ("MatMul", (0, 3)),
             "ConvInteger": ("Conv", (0, 1)), "MatMulInteger": ("MatMul", (0, 1))}


@dataclass(frozen=True)
class Estimate:
    """Time of one node or transfer, and where the figure came from."""

    ms: float
    source: str  # "measured: …" or "modeled: …"
    runs: int = 0  # measured runs behind a measured figure (0: modeled)

    @property
    def measured(self) -> bool:
        return self.source.startswith("measured")


def node_work(node: Any, graph: Any) -> Work:
    """Flops and bytes of ``node`` from the op library's cost formula; ops without one are
    costed as memory-bound: every input read once, every output written once."""
    from hetero import kernels

    infos = [tensor_info(graph, name) for name in node.inputs]
    outputs = [tensor_info(graph, name) for name in node.outputs]
    dtype = next((t.dtype for t in infos + outputs if t is not None), "float32")
    base, picked = QUANTISED.get(node.op_type, (FUSED_BASE.get(node.op_type, node.op_type),
                                                 None))
    op = kernels.OPS.get(base)
    named = [n for i, n in enumerate(node.inputs) if picked is None or i in picked]
    known = [tensor_info(graph, n) for n in named if n]
    known = [t for t in known if t is not None]
    if op is not None and known and len(known) == sum(1 for n in named if n):
        try:
            cost = op.cost(known, node.attrs)
            return Work(flops=cost.flops, bytes=cost.bytes, dtype=dtype)
        except Exception:  # noqa: BLE001 - a formula that cannot read these attrs: fall back
            pass
    moved = sum(nbytes(t) for t in infos + outputs if t is not None)
    elements = sum(numel(t.shape) for t in outputs if t is not None)
    return Work(flops=float(elements), bytes=float(moved), dtype=dtype)


def tensor_info(graph: Any, name: str) -> Any:
    """The op library's TensorInfo of a value (symbolic dimensions as 1), None if unknown."""
    if not name:
        return None
    if name in graph.constants:
        value = np.asarray(graph.constants[name])
        return TensorInfo(tuple(value.shape), dtype_name(value.dtype))  # .name is slow
    info = graph.values.get(name)
    if info is None or info.dtype is None or info.shape is None:
        return None
    shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in info.shape)
    return TensorInfo(shape, dtype_name(info.dtype))


def value_bytes(graph: Any, name: str) -> int:
    """Bytes of a value as ``nbytes(tensor_info(graph, name))`` counts them (0 if unknown:
    symbolic dimensions count as 1), without building a TensorInfo: planners size every
    value of graphs of 10,000 nodes."""
    if not name:
        return 0
    if name in graph.constants:
        return int(np.asarray(graph.constants[name]).nbytes)
    info = graph.values.get(name)
    if info is None or info.dtype is None or info.shape is None:
        return 0
    return numel(d if isinstance(d, int) and d > 0 else 1 for d in info.shape) * \
        itemsize(dtype_name(info.dtype))


def nbytes(info: Any) -> int:
    return numel(info.shape) * itemsize(info.dtype)


@functools.cache
def dtype_name(dtype: Any) -> str:
    """numpy's dtype name; cached, as the planners ask it of every value many times."""
    return np.dtype(dtype).name


def history_key(op: str, shapes: list, dtype: str, device: Device) -> str:
    """Measured times are per device model (its profile), not per device index."""
    return content_key(op, shapes, dtype, device.backend, device.profile.name)


def node_key(node: Any, graph: Any, device: Device, work: Work) -> str:
    """A node's history key on a device: its op, its input shapes and dtype, the device."""
    shapes = [list(t.shape) if t else None for t in (tensor_info(graph, n) for n in node.inputs)]
    return history_key(node.op_type, shapes, work.dtype, device)


class CostModel:
    """Estimates for one set of devices: per node, per transfer, and a placement's energy."""

    def __init__(self, history: History | None = None):
        self.history = history
        # searches ask the same many times; the node is kept so its id is not reused
        self._known: dict[tuple[int, str], tuple[Any, Estimate]] = {}
        self._work: dict[int, tuple[Any, Work]] = {}

    def work(self, node: Any, graph: Any) -> Work:
        """``node_work``, once per node for every device asked about it."""
        key = id(node)
        if key not in self._work:
            self._work[key] = node, node_work(node, graph)
        return self._work[key][1]

    def node(self, node: Any, graph: Any, device: Device) -> Estimate:
        """Computed once per (node, device) for this model's lifetime: history recorded
        later reaches the next CostModel, as a plan is compiled."""
        key = (id(node), device.id)
        if key not in self._known:
            self._known[key] = node, self.estimate(node, graph, device)
        return self._known[key][1]

    def estimate(self, node: Any, graph: Any, device: Device) -> Estimate:
        work = self.work(node, graph)
        given = plugin_estimate(node, graph, device, work)
        if given is not None:
            return given
        if self.history is None:
            return roofline(device, work)
        key = node_key(node, graph, device, work)
        found = self.history.exact(key) or self.history.fitted(node.op_type, device, work) \
            or roofline(device, work)
        runs = self.history.runs(key)
        if found.measured or not runs:
            return found
        return Estimate(found.ms, f"{found.source} ({runs} measured run{'s' * (runs != 1)} "
                                  "of it so far: too few for a median)")

    def transfer(self, nbytes: float, source: Device | None, target: Device | None
                 ) -> tuple[Estimate, float]:
        """(time, energy in mJ) to move ``nbytes`` between two devices' memories (None: the
        host). Data crosses each device's link to the host; devices on the host's memory,
        or on a zero-copy link, cost nothing to reach."""
        ms = mj = 0.0
        if source is target:
            return Estimate(0.0, "modeled: same memory"), 0.0
        for device in (source, target):
            link = device.link if device is not None else None
            if link is None or link.zero_copy:
                continue
            ms += link.transfer_s(nbytes) * 1e3
            mj += nbytes * link.energy_nj_per_byte * 1e-6
        return Estimate(ms, "modeled: link presets of the catalogue"), mj


def plugin_estimate(node: Any, graph: Any, device: Device, work: Work) -> Estimate | None:
    """The first estimate a plugin's ``hetero_estimate`` gives; a malformed one is a plugin
    error (listed by ``hetero.plugin_errors()``) and skipped."""
    from hetero.discovery import default_registry
    from hetero.errors import PluginError

    plugins = default_registry().plugins
    for name, found in plugins.call_each("hetero_estimate", node=node, graph=graph,
                                         device=device, work=work):
        if isinstance(found, Estimate) and found.ms >= 0 and \
                found.source.startswith(("measured", "modeled")):
            return found
        plugins.errors.append(PluginError(
            name, "hetero_estimate", f"returned {found!r}; expected hetero.cost.Estimate(ms >= "
            "0, source='measured: …' or 'modeled: …')"))
    return None


def can_run(node: Any, graph: Any, device: Device, work: Work | None = None) -> bool:
    """Whether the device can run the node: its backend implements it, and its profile
    computes in the node's dtype (an int8-only accelerator cannot run a float32 conv until
    the model is quantised); dtypes a profile lists no peak for, such as int64 shape
    arithmetic, are costed at its float32 peak."""
    if device.impl.node_tier(device, node, graph) is None:
        return False
    peaks = device.profile.peak_gflops
    return (work or node_work(node, graph)).dtype in peaks or "float32" in peaks


def roofline(device: Device, work: Work) -> Estimate:
    """The profile's roofline: the slower of compute and memory, plus launch overhead."""
    profile = device.profile
    dtype = work.dtype if work.dtype in profile.peak_gflops else "float32"
    ms = profile.roofline_s(work.flops, work.bytes, dtype) * 1e3
    return Estimate(ms, f"modeled: roofline of profile {profile.name!r}")


def idle_w(devices: Any) -> float:
    """What the powered devices draw together doing nothing ({id: Device}): charged over
    the whole makespan, busy or not."""
    return sum(d.profile.idle_w for d in devices.values())


def energy_mj(busy_ms: dict[Device, float], makespan_ms: float, transfer_mj: float = 0.0
              ) -> float:
    """Energy of a schedule: each device's active power while busy, its idle power for the
    rest of the makespan (every device given is powered), and the transfers' energy."""
    return sum(energy_parts(busy_ms, makespan_ms).values()) + transfer_mj


def energy_parts(busy_ms: dict[Device, float], makespan_ms: float) -> dict[str, float]:
    """mJ (W x ms) per "<device id> active" and "<device id> idle": what a plan's energy is
    made of, transfers aside."""
    parts = {}
    for device, busy in busy_ms.items():
        parts[f"{device.id} active"] = device.profile.active_w * busy
        parts[f"{device.id} idle"] = device.profile.idle_w * max(makespan_ms - busy, 0.0)
    return parts
