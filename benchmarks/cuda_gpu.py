"""The cuda backend on a real NVIDIA GPU: every figure issue 7 asks for, in one process,
because a lent GPU's time is short. Parts (each reports and carries on if it fails):

- devices: what hetero found, and the cuda backend's state
- conformance: every portable kernel on the GPU against its NumPy reference (numba.cuda)
- suite: ONNX's backend test suite with every node on the GPU (HETERO_DEVICE=cuda)
- light: the nine light models (seeded random weights) against ONNX Runtime's outputs
- resnet: ResNet-50 (torchvision's, random weights) at batch 1 and 64, hetero on cuda vs
  torch eager running the same network, inputs from and outputs to the host in both
- energy: modeled vs measured time and energy per inference, before and after calibration
  (NVML's energy counter read around a block of runs)

Run: python benchmarks/cuda_gpu.py [--parts devices,resnet,...] [--out DIR]
Times are medians of measured wall clock (first runs excluded); ratios from one run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
from onnx_cpu import median_ms  # noqa: E402 - it also puts tests/ on the path

import hetero  # noqa: E402

PARTS = ("devices", "conformance", "suite", "light", "resnet", "energy")


def devices() -> dict:
    status = {s.name: f"{s.state}: {s.detail}" for s in hetero.backend_status()}
    gpu = hetero.device("cuda")
    return {"cuda": status.get("cuda"), "device": gpu.name, "arch": gpu.arch,
            "memory_gib": round(gpu.memory_bytes / 2**30, 1), "info": gpu.info,
            "link": gpu.link.name if gpu.link else None,
            "energy_meter": getattr(gpu.impl.energy_meter(gpu), "source", None)}


def conformance() -> dict:
    from hetero.testing.conformance import run_suite

    results = run_suite(hetero.device("cuda"))
    failed = [f"{r.op} {r.dtype} [{r.case}]: {r.detail}" for r in results if not r.ok]
    return {"passed": len(results) - len(failed), "cases": len(results), "failed": failed}


def suite() -> dict:
    import collections
    import warnings

    from test_onnx_backend import run_backend_suite

    os.environ["HETERO_DEVICE"] = "cuda"
    warnings.filterwarnings("ignore")
    result = run_backend_suite()
    ran = result.testsRun - len(result.skipped)
    broken = result.failures + result.errors
    numeric = [str(case).split()[0] for case, _ in result.failures]
    reasons = collections.Counter(tb.strip().splitlines()[-1][:100] for _, tb in broken)
    return {"passed": ran - len(broken), "cases": ran, "wrong_outputs": numeric,
            "top_reasons": reasons.most_common(8)}


def light() -> dict:
    from test_models import MODELS

    return {name: light_model(name, hetero.device("cuda")) for name in MODELS}


def light_model(name: str, gpu: hetero.Device) -> dict:
    import onnxruntime
    from test_models import LIGHT, randomised

    proto = randomised(LIGHT / f"light_{name}.onnx")
    plan = hetero.compile(hetero.load(proto), devices=[gpu], strict=True)
    (data,) = plan.graph.inputs
    feeds = {data.name: np.random.default_rng(1).standard_normal(data.shape).astype(np.float32)}
    session = onnxruntime.InferenceSession(proto.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    (want,) = session.run(None, feeds)
    (got,) = plan.run(feeds).values()
    return {"max_abs_diff": float(np.abs(got - want).max()),
            "max_abs_ort": float(np.abs(want).max()),
            "hetero_cuda_ms": round(median_ms(lambda: plan.run(feeds), 20), 3),
            "ort_cpu_ms": round(median_ms(lambda: session.run(None, feeds), 5), 3)}


def torchvision_resnet50(batch: int, folder: Path):
    """torchvision's ResNet-50 (seeded random weights), and the same network as ONNX."""
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet50().eval()
    x = torch.randn(batch, 3, 224, 224)
    path = folder / f"resnet50_b{batch}.onnx"
    try:
        torch.onnx.export(model, (x,), str(path), input_names=["x"], output_names=["y"],
                          opset_version=17, dynamo=False)
    except Exception:  # noqa: BLE001 - torch without the TorchScript exporter
        torch.onnx.export(model, (x,), str(path), input_names=["x"], output_names=["y"],
                          dynamo=True)
    return model, x.numpy(), path


def resnet(batches=(1, 64)) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        return {f"batch {b}": resnet_batch(b, Path(folder)) for b in batches}


def resnet_batch(batch: int, folder: Path) -> dict:
    import torch

    model, x, path = torchvision_resnet50(batch, folder)
    plan = hetero.compile(hetero.load(str(path)), devices=[hetero.device("cuda")], strict=True)
    eager = model.cuda()

    def torch_eager():
        with torch.no_grad():
            return eager(torch.from_numpy(x).cuda()).cpu().numpy()

    repeat = 50 if batch == 1 else 20
    ours = median_ms(lambda: plan.run({"x": x}), repeat)
    theirs = median_ms(torch_eager, repeat)
    ours_again = median_ms(lambda: plan.run({"x": x}), repeat)  # drift check
    return {"hetero_ms": round(ours, 3), "hetero_ms_again": round(ours_again, 3),
            "torch_eager_ms": round(theirs, 3), "ratio": round(ours / theirs, 3),
            "max_abs_diff": float(np.abs(plan.run({"x": x})["y"] - torch_eager()).max()),
            "nodes": len(plan.decisions), "tiers": sorted({d.tier for d in plan.decisions})}


def energy(runs: int = 200) -> dict:
    """Compile (uncalibrated estimate), run so the history records node times and power,
    then measure a block of runs with the NVML counter; compile again from the history."""
    gpu = hetero.device("cuda")
    meter = gpu.impl.energy_meter(gpu)
    if meter is None:
        return {"skipped": "no energy counter on this GPU (NVML total energy)"}
    with tempfile.TemporaryDirectory() as folder:
        _, x, path = torchvision_resnet50(1, Path(folder))
        model = hetero.load(str(path))
        history = hetero.cost.History(Path(folder) / "history.json")
        plan = hetero.compile(model, devices=[gpu], strict=True, history=history)
        before = plan.estimate
        for _ in range(20):  # the history records runs 2..17
            plan.run({"x": x})
        start_j, start = meter.read_j(), time.perf_counter()
        for _ in range(runs):
            plan.run({"x": x})
        joules, seconds = meter.read_j() - start_j, time.perf_counter() - start
        after = hetero.compile(model, devices=[gpu], strict=True, history=history).estimate
    measured_ms, measured_mj = seconds * 1e3 / runs, joules * 1e3 / runs
    return {"measured_ms": round(measured_ms, 3), "measured_mj": round(measured_mj, 2),
            "meter": meter.source,
            "modeled_before": {"ms": round(before.latency_ms, 3),
                               "mj": round(before.energy_mj, 2)},
            "modeled_after": {"ms": round(after.latency_ms, 3), "mj": round(after.energy_mj, 2)},
            "energy_ratio_after": round(after.energy_mj / measured_mj, 3),
            "time_ratio_after": round(after.latency_ms / measured_ms, 3),
            "learned_power_w": history.power(gpu)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--out", default=os.environ.get("OUT", "."))
    args = parser.parse_args()
    report = {"date": time.strftime("%Y-%m-%d"), "hetero": hetero.__version__}
    for part in args.parts.split(","):
        start = time.perf_counter()
        try:
            report[part] = globals()[part]()
        except Exception:  # noqa: BLE001 - one part failing must not lose the others
            report[part] = {"error": traceback.format_exc(limit=6)}
        report[part + "_s"] = round(time.perf_counter() - start, 1)
        print(f"== {part} ({report[part + '_s']} s)\n{json.dumps(report[part], indent=1)}",
              flush=True)
    out = Path(args.out) / "cuda_gpu.json"
    out.write_text(json.dumps(report, indent=1, default=str))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.stdout = io.TextIOWrapper(sys.stdout.buffer, line_buffering=True)
    raise SystemExit(main())
