"""Built-in device profiles: the hardware of the founding paper (shared/HARDWARE.md), sourced."""

from __future__ import annotations

from hetero.device import DeviceProfile

GB = 10**9
GiB = 2**30

# Most boards publish no idle or launch figures; those are estimates and say so.
LAUNCH_GPU = "estimate: typical CUDA kernel launch latency"
LAUNCH_ACCEL = "estimate: per-invocation driver and host round trip"

BUILTIN_PROFILES = [
    DeviceProfile(
        name="jetson-xavier-nx-gpu", arch="sm_72", kind="gpu",
        description="NVIDIA Jetson Xavier NX: 384-core Volta GPU, 48 tensor cores",
        peak_gflops={"float32": 845.0, "float16": 1690.0, "int8": 21000.0},
        mem_bandwidth_gbs=59.7, active_w=15.0, idle_w=2.5, launch_overhead_us=10.0,
        unified_memory=True, memory_bytes=8 * GiB, default_link="shared",
        source="datasheet: NVIDIA Jetson Xavier NX Data Sheet (DS-09693-001)",
        sources={
            "peak_gflops.float32": "derived: 384 CUDA cores x 2 FLOP x 1.1 GHz (datasheet clock)",
            "peak_gflops.float16": "derived: twice FP32 (packed FP16), no tensor cores",
            "peak_gflops.int8": "datasheet: 21 TOPS INT8 for the whole module (GPU + 2 NVDLA)",
            "mem_bandwidth_gbs": "datasheet: 128-bit LPDDR4x, 59.7 GB/s",
            "active_w": "datasheet: 15 W power mode (10 W and 20 W modes also exist)",
            "idle_w": "estimate: module idle draw, not a datasheet figure",
            "launch_overhead_us": LAUNCH_GPU,
            "memory_bytes": "datasheet: 8 GB LPDDR4x shared with the CPU",
        }),
    DeviceProfile(
        name="jetson-xavier-nx-cpu", arch="armv8.2-a", kind="cpu",
        description="NVIDIA Jetson Xavier NX: 6-core Carmel ARMv8.2 CPU",
        peak_gflops={"float32": 134.4, "float64": 67.2},
        mem_bandwidth_gbs=59.7, active_w=8.0, idle_w=2.5, launch_overhead_us=1.0,
        unified_memory=True, memory_bytes=8 * GiB, default_link="shared",
        source="datasheet: NVIDIA Jetson Xavier NX Data Sheet (DS-09693-001)",
        sources={
            "peak_gflops.float32": "derived: 6 cores x 1.4 GHz x 16 FLOP/cycle (2 NEON FMA)",
            "peak_gflops.float64": "derived: half the FP32 rate",
            "mem_bandwidth_gbs": "datasheet: 128-bit LPDDR4x, 59.7 GB/s (shared with the GPU)",
            "active_w": "estimate: CPU share of the 15 W module budget",
            "idle_w": "estimate: module idle draw, not a datasheet figure",
            "launch_overhead_us": "estimate: host function call and thread hand-off",
            "memory_bytes": "datasheet: 8 GB LPDDR4x shared with the GPU",
        }),
    DeviceProfile(
        name="a100", arch="sm_80", kind="gpu",
        description="NVIDIA A100 SXM4 40 GB",
        peak_gflops={"float64": 9700.0, "float32": 19500.0, "tfloat32": 156000.0,
                     "float16": 312000.0, "bfloat16": 312000.0, "int8": 624000.0},
        mem_bandwidth_gbs=1555.0, active_w=400.0, idle_w=50.0, launch_overhead_us=5.0,
        unified_memory=False, memory_bytes=40 * GiB, default_link="pcie4",
        source="datasheet: NVIDIA A100 Tensor Core GPU Datasheet",
        sources={
            "peak_gflops": "datasheet: FP64 9.7, FP32 19.5, TF32 156, FP16/BF16 312 TFLOPS "
                           "and INT8 624 TOPS (dense, tensor cores for TF32/FP16/INT8)",
            "mem_bandwidth_gbs": "datasheet: HBM2 1,555 GB/s",
            "active_w": "datasheet: 400 W TDP (SXM4; the PCIe card is 250 W)",
            "idle_w": "estimate: typical idle draw reported by nvidia-smi, not a datasheet figure",
            "launch_overhead_us": LAUNCH_GPU,
            "memory_bytes": "datasheet: 40 GB HBM2",
        }),
    DeviceProfile(
        name="xeon-gold-6248", arch="x86_64", kind="cpu",
        description="Intel Xeon Gold 6248: 20 cores, AVX-512, 2 FMA units",
        peak_gflops={"float32": 2000.0, "float64": 1000.0},
        mem_bandwidth_gbs=140.8, active_w=150.0, idle_w=45.0, launch_overhead_us=1.0,
        unified_memory=True, memory_bytes=192 * GiB, default_link="gbe",
        source="datasheet: Intel ARK, Xeon Gold 6248",
        sources={
            "peak_gflops.float32": "derived: 20 cores x 64 FLOP/cycle (2 AVX-512 FMA) at the "
                                   "~1.6 GHz AVX-512 all-core clock, rounded (HARDWARE.md lead)",
            "peak_gflops.float64": "derived: half the FP32 rate",
            "mem_bandwidth_gbs": "derived: 6 channels DDR4-2933 x 8 bytes",
            "active_w": "datasheet: 150 W TDP",
            "idle_w": "estimate: package idle draw, not a datasheet figure",
            "launch_overhead_us": "estimate: host function call and thread hand-off",
            "memory_bytes": "estimate: a 6 x 32 GB configuration",
        }),
    DeviceProfile(
        name="mlu270-s4", arch="mlu270", kind="npu",
        description="Cambricon MLU270-S4 inference card",
        peak_gflops={"int8": 128000.0, "int16": 64000.0, "float16": 64000.0},
        mem_bandwidth_gbs=102.0, active_w=70.0, idle_w=15.0, launch_overhead_us=20.0,
        unified_memory=False, memory_bytes=16 * GiB, default_link="pcie3",
        source="datasheet: Cambricon MLU270-S4 product brief",
        sources={
            "peak_gflops.int8": "datasheet: 128 TOPS INT8",
            "peak_gflops.int16": "datasheet: 64 TOPS INT16",
            "peak_gflops.float16": "estimate: assumed equal to the INT16 rate (16-bit MACs)",
            "mem_bandwidth_gbs": "datasheet: 16 GB DDR4, 102 GB/s",
            "active_w": "datasheet: 70 W",
            "idle_w": "estimate: not a datasheet figure",
            "launch_overhead_us": LAUNCH_ACCEL,
            "memory_bytes": "datasheet: 16 GB DDR4",
        }),
    DeviceProfile(
        name="alveo-u280", arch="xcu280", kind="fpga",
        description="AMD/Xilinx Alveo U280 data-centre FPGA card",
        peak_gflops={"int8": 24500.0},
        mem_bandwidth_gbs=460.0, active_w=225.0, idle_w=30.0, launch_overhead_us=20.0,
        unified_memory=False, memory_bytes=40 * GiB, default_link="pcie4",
        source="datasheet: Xilinx Alveo U280 Data Center Accelerator Card (DS963)",
        sources={
            "peak_gflops.int8": "datasheet: up to 24.5 INT8 TOPS",
            "mem_bandwidth_gbs": "datasheet: 8 GB HBM2 at 460 GB/s (plus 32 GB DDR4 at 38 GB/s)",
            "active_w": "datasheet: 225 W maximum total power",
            "idle_w": "estimate: not a datasheet figure",
            "launch_overhead_us": LAUNCH_ACCEL,
            "memory_bytes": "datasheet: 8 GB HBM2 + 32 GB DDR4",
        }),
    DeviceProfile(
        name="coral-usb-edgetpu", arch="edgetpu", kind="npu",
        description="Google Coral USB Accelerator (Edge TPU), USB 3 hot-plug",
        peak_gflops={"int8": 4000.0},
        mem_bandwidth_gbs=0.4, active_w=2.0, idle_w=0.5, launch_overhead_us=100.0,
        unified_memory=False, memory_bytes=8 * 2**20, default_link="usb3",
        source="datasheet: Coral USB Accelerator datasheet",
        sources={
            "peak_gflops.int8": "datasheet: 4 TOPS INT8",
            "mem_bandwidth_gbs": "estimate: weights beyond the 8 MB on-chip cache stream over "
                                 "USB 3 (~0.4 GB/s)",
            "active_w": "datasheet: 2 TOPS per watt at 4 TOPS",
            "idle_w": "estimate: not a datasheet figure",
            "launch_overhead_us": "estimate: USB round trip per invocation",
            "memory_bytes": "datasheet: 8 MB on-chip SRAM for parameters",
        }),
    DeviceProfile(
        name="ncs2-myriad-x", arch="myriadx", kind="npu",
        description="Intel Neural Compute Stick 2 (Movidius Myriad X VPU), USB 3 hot-plug",
        peak_gflops={"float16": 1000.0},
        mem_bandwidth_gbs=0.4, active_w=1.5, idle_w=0.5, launch_overhead_us=100.0,
        unified_memory=False, memory_bytes=512 * 2**20, default_link="usb3",
        source="datasheet: Intel Neural Compute Stick 2 product brief",
        sources={
            "peak_gflops.float16": "datasheet: ~1 TOPS of DNN compute (native FP16)",
            "mem_bandwidth_gbs": "estimate: bound by USB 3 (~0.4 GB/s)",
            "active_w": "estimate: 1-2 W (HARDWARE.md lead)",
            "idle_w": "estimate: not a datasheet figure",
            "launch_overhead_us": "estimate: USB round trip per invocation",
            "memory_bytes": "datasheet: 4 Gbit LPDDR4 in package",
        }),
    DeviceProfile(
        name="raspberry-pi-4", arch="armv8-a", kind="cpu",
        description="Raspberry Pi 4 Model B: 4x Cortex-A72 at 1.5 GHz, NEON",
        peak_gflops={"float32": 48.0, "float64": 24.0},
        mem_bandwidth_gbs=12.8, active_w=6.0, idle_w=3.0, launch_overhead_us=2.0,
        unified_memory=True, memory_bytes=4 * GiB, default_link="gbe",
        source="datasheet: Raspberry Pi 4 Model B product brief",
        sources={
            "peak_gflops.float32": "derived: 4 cores x 1.5 GHz x 8 FLOP/cycle (HARDWARE.md lead)",
            "peak_gflops.float64": "derived: half the FP32 rate",
            "mem_bandwidth_gbs": "derived: 32-bit LPDDR4-3200 x 4 bytes",
            "active_w": "estimate: ~6 W under load (HARDWARE.md lead)",
            "idle_w": "estimate: ~3 W idle (HARDWARE.md lead)",
            "launch_overhead_us": "estimate: host function call and thread hand-off",
            "memory_bytes": "datasheet: the 4 GB model",
        }),
]
