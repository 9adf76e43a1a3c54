"""The cuda backend on a real NVIDIA GPU: every figure issues 7 and 25 ask for, because a lent
GPU's time is short. Parts (each reports and carries on if it fails or runs past its time;
the JSON is rewritten after every part, so a run cut off still returns what it measured):

- env: the GPU, driver, CUDA, cuDNN, torch, numba and ONNX Runtime versions, nvidia-smi
- devices: what hetero found, and the cuda backend's state
- resnet: ResNet-50 (the network of He et al. 2016, written below in torch, seeded random
  weights) at batch 1 and 64, hetero on cuda against torch eager running the same network,
  inputs from and outputs to the host in both, runs interleaved; where hetero's time goes
  (device time per op type, host time to submit)
- energy: modeled against NVML-measured time and energy per inference, before and after
  calibration, with the GPU's idle draw measured
- light: the nine light models (seeded random weights) against ONNX Runtime's outputs
- conformance: every portable kernel on the GPU against its NumPy reference (numba.cuda)
- suite: ONNX's backend test suite with every node on the GPU (HETERO_DEVICE=cuda)

Run: python benchmarks/cuda_gpu.py [--parts resnet,...] [--out DIR] [--name cuda_gpu]
(``benchmarks/cuda_gpu.sh`` runs them all on a bare lent machine in one call). Times are
measured medians of interleaved runs (first runs excluded); ratios come from one run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
import onnx_cpu  # noqa: E402, F401 - it puts tests/ on the path

import hetero  # noqa: E402
from hetero.history import History  # noqa: E402

PARTS = ("env", "devices", "resnet", "energy", "light", "conformance", "suite")
BUDGET_S = {"resnet": 150, "energy": 90, "light": 150, "conformance": 200, "suite": 240}


def torch_device() -> str:
    return "cpu" if hetero.device("cuda").simulated else f"cuda:{hetero.device('cuda').native}"


def synchronize() -> None:
    import torch

    if torch.cuda.is_available() and not hetero.device("cuda").simulated:
        torch.cuda.synchronize()


# -- env, devices ---------------------------------------------------------------------------
def env() -> dict:
    import numba
    import onnx
    import onnxruntime
    import torch

    found = {"python": sys.version.split()[0], "torch": torch.__version__,
             "torch_cuda": torch.version.cuda, "numba": numba.__version__,
             "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
             "ort_providers": onnxruntime.get_available_providers(),
             "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None}
    try:
        from importlib.metadata import version

        found["numba_cuda"] = version("numba-cuda")
    except Exception:  # noqa: BLE001 - not installed
        found["numba_cuda"] = None
    query = "name,driver_version,pci.bus_id,power.draw,power.limit,clocks.sm,clocks.max.sm," \
            "temperature.gpu,pcie.link.gen.max"
    try:
        found["nvidia_smi"] = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv"], capture_output=True,
            text=True, timeout=20).stdout.strip()
    except Exception as error:  # noqa: BLE001 - no nvidia-smi
        found["nvidia_smi"] = repr(error)
    return found


def devices() -> dict:
    status = {s.name: f"{s.state}: {s.detail}" for s in hetero.backend_status()}
    gpu = hetero.device("cuda")
    meter = gpu.impl.energy_meter(gpu)
    found = {"cuda": status.get("cuda"), "device": gpu.name, "arch": gpu.arch,
             "memory_gib": round(gpu.memory_bytes / 2**30, 1), "info": gpu.info,
             "link": gpu.link.name if gpu.link else None,
             "profile": {"peak_gflops": gpu.profile.peak_gflops,
                         "mem_bandwidth_gbs": gpu.profile.mem_bandwidth_gbs,
                         "active_w": gpu.profile.active_w, "idle_w": gpu.profile.idle_w},
             "energy_meter": getattr(meter, "source", None)}
    if meter is not None:  # what reading the counter costs: plan.run reads it twice
        start = time.perf_counter()
        for _ in range(100):
            meter.read_j()
        found["meter_read_us"] = round((time.perf_counter() - start) * 1e4, 1)
    if not gpu.simulated:
        found["measured_ceilings"] = ceilings(f"cuda:{gpu.native}")
    return found


def ceilings(where: str) -> dict:
    """What the profile's modeled figures stand for, measured: device memory bandwidth (a
    1 GiB copy, bytes read plus written), float32 matrix rate (IEEE, TF32 off, 8192^3) and
    host-to-device bandwidth (256 MiB from pageable and from pinned memory)."""
    import torch

    def timed_ms(fn, repeat=5):
        fn()
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(repeat):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / repeat

    a = torch.empty(2**28, device=where)  # 1 GiB of float32
    b = torch.empty_like(a)
    copy_ms = timed_ms(lambda: b.copy_(a))
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    m = torch.randn(8192, 8192, device=where)
    matmul_ms = timed_ms(lambda: m @ m)
    torch.backends.cuda.matmul.allow_tf32 = tf32
    host = torch.randn(2**26)
    pinned = host.pin_memory()
    pageable_ms = timed_ms(lambda: host.to(where))
    pinned_ms = timed_ms(lambda: pinned.to(where, non_blocking=True))
    return {"d2d_copy_gbs": round(2 * 2**30 / copy_ms / 1e6, 1),
            "fp32_matmul_gflops": round(2 * 8192**3 / matmul_ms / 1e6, 1),
            "h2d_pageable_gbs": round(2**28 / pageable_ms / 1e6, 2),
            "h2d_pinned_gbs": round(2**28 / pinned_ms / 1e6, 2)}


# -- ResNet-50 against torch eager ----------------------------------------------------------
def resnet50_torch():
    """ResNet-50 v1.5 (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016;
    the stride on the 3x3 convolution, as torchvision's): written here so the benchmark needs
    no torchvision, the same module runs in torch eager and, exported, in hetero."""
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, cin: int, width: int, stride: int):
            super().__init__()
            cout = width * 4
            self.body = nn.Sequential(
                nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True),
                nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width),
                nn.ReLU(True), nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout))
            self.skip = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            self.relu = nn.ReLU(True)

        def forward(self, x):
            return self.relu(self.body(x) + self.skip(x))

    layers: list = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(True),
                    nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for block in range(blocks):
            layers.append(Bottleneck(cin, width, stride if block == 0 else 1))
            cin = width * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000)]
    return nn.Sequential(*layers)


def resnet50_pair(batch: int, folder: Path):
    """The torch module (seeded random weights, eval mode) and the same network as ONNX."""
    import torch

    torch.manual_seed(0)
    model = resnet50_torch().eval()
    x = torch.randn(batch, 3, 224, 224)
    path = folder / f"resnet50_b{batch}.onnx"
    try:
        torch.onnx.export(model, (x,), str(path), input_names=["x"], output_names=["y"],
                          opset_version=17, dynamo=False)
    except Exception:  # noqa: BLE001 - a torch without the TorchScript exporter
        torch.onnx.export(model, (x,), str(path), input_names=["x"], output_names=["y"],
                          dynamo=True)
    return model, x.numpy(), path


def interleaved_ms(fns: dict, repeat: int) -> dict[str, float]:
    """Median wall ms of each function, run in turn ``repeat`` times after one warm-up."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()} | {
        f"{name}_spread": [round(min(t), 3), round(max(t), 3)] for name, t in times.items()}


def resnet(batches=(1, 64)) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        return {f"batch {b}": resnet_batch(b, Path(folder)) for b in batches}


def resnet_batch(batch: int, folder: Path) -> dict:
    import torch

    model, x, path = resnet50_pair(batch, folder)
    gpu = hetero.device("cuda")
    start = time.perf_counter()
    plan = hetero.compile(hetero.load(str(path)), devices=[gpu], strict=True)
    compile_ms = (time.perf_counter() - start) * 1e3
    eager = model.to(torch_device())

    def torch_eager():
        with torch.no_grad():
            return eager(torch.from_numpy(x).to(torch_device())).cpu().numpy()

    plan.history = None  # no recorded runs: every run as a user's would be after them
    node_by_node = hetero.compile(hetero.load(str(path)), devices=[gpu], strict=True)
    node_by_node.history, node_by_node.graphs = None, False
    repeat = 40 if batch == 1 else 15
    plan.run({"x": x})  # run 0 warms up; the next records the CUDA graph: both untimed
    plan.run({"x": x})
    timed = interleaved_ms({"hetero": lambda: plan.run({"x": x}), "torch_eager": torch_eager,
                            "node_by_node": lambda: node_by_node.run({"x": x})}, repeat)
    want, got = torch_eager(), plan.run({"x": x})["y"]
    return {"hetero_ms": round(timed["hetero"], 3),
            "torch_eager_ms": round(timed["torch_eager"], 3),
            "ratio": round(timed["hetero"] / timed["torch_eager"], 3),
            "replayed": bool(plan._replay),
            "node_by_node_ms": round(timed["node_by_node"], 3),
            "spread_ms": {"hetero": timed["hetero_spread"],
                          "torch_eager": timed["torch_eager_spread"],
                          "node_by_node": timed["node_by_node_spread"]},
            "compile_ms": round(compile_ms, 1),
            "max_abs_diff": float(np.abs(got - want).max()),
            "max_abs_torch": float(np.abs(want).max()),
            "nodes": len(plan.decisions), "tiers": sorted({d.tier for d in plan.decisions}),
            "where_time_goes": where_time_goes(node_by_node, {"x": x}, eager, x)}


def where_time_goes(plan, feeds: dict, eager, x: np.ndarray) -> dict:
    """Device ms per op type (CUDA events on every node), the host's ms to submit the whole
    run node by node, and torch eager's device ms for the same forward pass (events)."""
    import torch

    if hetero.device("cuda").simulated:
        return {"skipped": "simulated: no device clock"}
    plan.profile = True
    plan.run(feeds)
    per_op: dict[str, float] = defaultdict(float)
    for t in plan.last_run:
        per_op[t.op_type] += t.ms
    plan.profile = False
    submits = []
    for _ in range(5):
        plan.run(feeds)
        submits.append(sum(t.ms for t in plan.last_run))  # timing "submitted"
    inputs = torch.from_numpy(x).to(torch_device())
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    with torch.no_grad():
        eager(inputs)
        start.record()
        eager(inputs)
        end.record()
    end.synchronize()
    return {"hetero_device_ms": round(sum(per_op.values()), 3),
            "hetero_device_ms_by_op": {k: round(v, 3) for k, v in
                                       sorted(per_op.items(), key=lambda kv: -kv[1])},
            "hetero_submit_ms": round(statistics.median(submits), 3),
            "torch_eager_device_ms": round(start.elapsed_time(end), 3)}


# -- energy ----------------------------------------------------------------------------------
def energy(seconds: float = 4.0) -> dict:
    """Compile (uncalibrated estimate), run until the plan has learned the GPU's busy power
    (node times from the recorded runs, power from a window of runs), then measure runs for
    ``seconds`` with the NVML counter; compile again from the history. The GPU's idle draw
    and how often the counter moves are measured beforehand."""
    gpu = hetero.device("cuda")
    meter = gpu.impl.energy_meter(gpu)
    if meter is None:
        return {"skipped": "no energy counter on this GPU (NVML total energy)"}
    synchronize()
    steps = counter_steps(meter)
    idle_start, idle_t = meter.read_j(), time.perf_counter()
    time.sleep(2.0)
    idle_w = (meter.read_j() - idle_start) / (time.perf_counter() - idle_t)
    with tempfile.TemporaryDirectory() as folder:
        _, x, path = resnet50_pair(1, Path(folder))
        model = hetero.load(str(path))
        history = History(Path(folder) / "history.json")
        plan = hetero.compile(model, devices=[gpu], strict=True, history=history)
        before = plan.estimate
        learning_runs = 0
        while history.power(gpu) is None and learning_runs < 3000:
            plan.run({"x": x})
            learning_runs += 1
        runs, start_j, start = 0, meter.read_j(), time.perf_counter()
        while time.perf_counter() - start < seconds:
            plan.run({"x": x})
            runs += 1
        joules, took = meter.read_j() - start_j, time.perf_counter() - start
        after = hetero.compile(model, devices=[gpu], strict=True, history=history).estimate
    measured_ms, measured_mj = took * 1e3 / runs, joules * 1e3 / runs
    return {"runs": runs, "learning_runs": learning_runs, "replayed": bool(plan._replay),
            "measured_ms": round(measured_ms, 3), "measured_mj": round(measured_mj, 2),
            "measured_w": round(joules / took, 1), "measured_idle_w": round(idle_w, 1),
            "meter": meter.source, "counter_steps": steps,
            "modeled_before": {"ms": round(before.latency_ms, 3),
                               "mj": round(before.energy_mj, 2)},
            "modeled_after": {"ms": round(after.latency_ms, 3), "mj": round(after.energy_mj, 2),
                              "busy_ms": after.busy_ms},
            "energy_ratio_before": round(before.energy_mj / measured_mj, 3),
            "energy_ratio_after": round(after.energy_mj / measured_mj, 3),
            "time_ratio_after": round(after.latency_ms / measured_ms, 3),
            "learned_power_w": history.power(gpu),
            "profile_idle_w": gpu.profile.idle_w}


def counter_steps(meter, seconds: float = 0.6) -> dict:
    """How often the counter moves and by how much, read back to back for ``seconds``."""
    changes, last, start = [], meter.read_j(), time.perf_counter()
    reads = 0
    while time.perf_counter() - start < seconds:
        value = meter.read_j()
        reads += 1
        if value != last:
            changes.append((time.perf_counter(), value - last))
            last = value
    gaps = [(b[0] - a[0]) * 1e3 for a, b in zip(changes, changes[1:], strict=False)]
    return {"reads": reads, "changes": len(changes),
            "median_ms_between_changes": round(statistics.median(gaps), 2) if gaps else None,
            "median_step_mj": round(statistics.median(c[1] for c in changes) * 1e3, 1)
            if changes else None}


# -- light models, conformance, the backend suite -------------------------------------------
def light() -> dict:
    from test_models import MODELS

    return {name: light_model(name, hetero.device("cuda")) for name in MODELS}


def light_model(name: str, gpu: hetero.Device) -> dict:
    import onnxruntime
    from test_models import LIGHT, randomised

    proto = randomised(LIGHT / f"light_{name}.onnx")
    plan = hetero.compile(hetero.load(proto), devices=[gpu], strict=True)
    plan.history = None  # every run as after the recorded ones
    (data,) = plan.graph.inputs
    feeds = {data.name: np.random.default_rng(1).standard_normal(data.shape).astype(np.float32)}
    providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                 if p in onnxruntime.get_available_providers()]
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=providers[:1])
    (want,) = session.run(None, feeds)
    (got,) = plan.run(feeds).values()
    timed = interleaved_ms({"hetero": lambda: plan.run(feeds),
                            "ort": lambda: session.run(None, feeds)}, 10)
    return {"max_abs_diff": float(np.abs(got - want).max()),
            "max_abs_ort": float(np.abs(want).max()),
            "hetero_cuda_ms": round(timed["hetero"], 3), "ort_ms": round(timed["ort"], 3),
            "ort_provider": providers[0], "replayed": bool(plan._replay),
            "tiers": sorted({d.tier for d in plan.decisions})}


def diverge(name: str = "squeezenet") -> dict:
    """Where a light model (its own weights, as ONNX's backend suite runs it) first differs
    between cuda:0 and cpu:0: every node's outputs made graph outputs, compared in order."""
    import onnx
    from test_models import LIGHT

    proto = onnx.shape_inference.infer_shapes(onnx.load(str(LIGHT / f"light_{name}.onnx")))
    known = {v.name: v for v in proto.graph.value_info}
    wanted = [o for node in proto.graph.node for o in node.output if o in known]
    proto.graph.output.extend(known[o] for o in wanted)
    model = hetero.load(proto)
    gpu = hetero.compile(model, devices=[hetero.device("cuda")], strict=True)
    cpu = hetero.compile(model, devices=[hetero.device("cpu")], strict=True)
    (data,) = gpu.graph.inputs
    x = {data.name: np.random.default_rng(1).standard_normal(data.shape).astype(np.float32)}
    got, want = gpu.run(x), cpu.run(x)
    ops = {o: node.op_type for node in proto.graph.node for o in node.output}
    for value in [*wanted, *(o.name for o in proto.graph.output)]:
        a, b = np.asarray(got[value], np.float64), np.asarray(want[value], np.float64)
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-4, atol=1e-6, equal_nan=True):
            return {"first_differs": value, "op": ops.get(value), "shapes": [a.shape, b.shape],
                    "cuda_sample": a.ravel()[:6].tolist(), "cpu_sample": b.ravel()[:6].tolist(),
                    "tiers": {d.node: d.tier for d in gpu.decisions if d.node in ops.values()}}
    return {"all_equal": len(wanted)}


def conformance() -> dict:
    from hetero.testing.conformance import run_suite

    results = run_suite(hetero.device("cuda"))
    failed = [f"{r.op} {r.dtype} [{r.case}]: {r.detail}" for r in results if not r.ok]
    return {"passed": len(results) - len(failed), "cases": len(results), "failed": failed}


def suite() -> dict:
    """ONNX's CPU cases (the ``_cpu`` variants, as the simulator's floor counts them) and,
    where the backend says it supports CUDA, the ``_cuda`` variants too."""
    import collections
    import warnings

    from test_onnx_backend import run_backend_suite

    os.environ["HETERO_DEVICE"] = "cuda"
    warnings.filterwarnings("ignore")
    result = run_backend_suite()
    skipped = {str(case).split()[0] for case, _ in result.skipped}
    broken = {str(case).split()[0]: tb for case, tb in result.failures + result.errors}
    ran = [name for name in result.ran if name not in skipped]
    by_variant = {variant: {"passed": sum(1 for n in ran if n.endswith(variant)
                                          and n not in broken),
                            "cases": sum(1 for n in ran if n.endswith(variant))}
                  for variant in ("_cpu", "_cuda")}
    reasons = collections.Counter(tb.strip().splitlines()[-1][:100] for tb in broken.values())
    return {"passed": len(ran) - len(broken), "cases": len(ran), "by_variant": by_variant,
            "wrong_outputs": {str(case).split()[0]: mismatch(tb)
                              for case, tb in result.failures},
            "top_reasons": reasons.most_common(10)}


def mismatch(traceback_text: str) -> str:
    """The lines of an assertion that say how far off the output was."""
    lines = [line.strip() for line in traceback_text.splitlines()]
    return " | ".join(line for line in lines
                      if line.startswith(("Mismatched", "Max absolute", "Max relative",
                                          "AssertionError", "Not equal")))[:600]


# -- driver -----------------------------------------------------------------------------------
class PartTimeout(Exception):
    pass


def on_alarm(signum, frame):
    raise PartTimeout("ran past its time budget")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--out", default=os.environ.get("OUT", "."))
    parser.add_argument("--name", default="cuda_gpu", help="writes NAME.json in --out")
    args = parser.parse_args()
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "hetero": hetero.__version__,
              "simulated": hetero.device("cuda").simulated}
    out = Path(args.out) / f"{args.name}.json"
    signal.signal(signal.SIGALRM, on_alarm)
    for part in args.parts.split(","):
        start = time.perf_counter()
        signal.alarm(BUDGET_S.get(part, 60))
        try:
            report[part] = globals()[part]()
        except BaseException:  # noqa: BLE001 - one part failing must not lose the others
            report[part] = {"error": traceback.format_exc(limit=8)}
        finally:
            signal.alarm(0)
        report[part + "_s"] = round(time.perf_counter() - start, 1)
        shown = json.dumps(report[part], indent=1, default=str)
        print(f"== {part} ({report[part + '_s']} s)\n{shown}", flush=True)
        out.write_text(json.dumps(report, indent=1, default=str))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.stdout = io.TextIOWrapper(sys.stdout.buffer, line_buffering=True)
    raise SystemExit(main())
