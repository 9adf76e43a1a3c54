"""Built-in device profiles: the hardware of the founding paper, each figure sourced from the
document it comes from, named by its title ("datasheet: ...", "paper: ..."), or marked as
derived from such documents or as an estimate with its reasoning."""

from __future__ import annotations

from hetero.device import DeviceProfile

GB = 10**9
GiB = 2**30

# Most boards publish no idle or launch figures; those are estimates and say so.
LAUNCH_GPU = "estimate: typical CUDA kernel launch latency (a few microseconds); no datasheet " \
    "gives one"
LAUNCH_ACCEL = "estimate: per-invocation driver and host round trip; no datasheet gives one"
IDLE = "estimate: idle draw; the vendor's documents give none"
NX = '"NVIDIA Jetson Xavier NX Series System-on-Module Data Sheet" (NVIDIA)'
NX_POWER = ('"Power Management for Jetson Xavier NX Series and Jetson AGX Xavier Series '
            'Devices" (NVIDIA Jetson Linux Developer Guide)')
A100 = '"NVIDIA A100 Tensor Core GPU" data sheet (NVIDIA, 2020), A100 40GB SXM column'
ARK_6248 = ('"Intel Xeon Gold 6248 Processor (27.5M Cache, 2.50 GHz)" product specifications '
            "(ark.intel.com)")
MLU270 = '"Cambricon MLU270-S4" accelerator card product page (cambricon.com)'
U280 = '"Alveo U280 Data Center Accelerator Card Data Sheet" (Xilinx DS963)'
CORAL = '"USB Accelerator datasheet" (Coral, coral.ai)'
NCS2 = '"Intel Neural Compute Stick 2" product brief (Intel)'
PI4 = '"Raspberry Pi 4 Model B" product brief (Raspberry Pi Trading)'
HOST_CALL = "estimate: a host function call and thread hand-off; nothing to cite"

BUILTIN_PROFILES = [
    DeviceProfile(
        name="jetson-xavier-nx-gpu", arch="sm_72", kind="gpu",
        description="NVIDIA Jetson Xavier NX: 384-core Volta GPU, 48 tensor cores",
        peak_gflops={"float32": 845.0, "float16": 1690.0, "int8": 21000.0},
        mem_bandwidth_gbs=59.7, active_w=15.0, idle_w=2.5, launch_overhead_us=10.0,
        unified_memory=True, memory_bytes=8 * GiB, default_link="shared",
        source=f"datasheet: {NX}",
        sources={
            "peak_gflops.float32": f"derived: 384 CUDA cores x 2 FLOP (one FMA) x 1.1 GHz, the "
                                   f"GPU's maximum operating frequency in {NX}",
            "peak_gflops.float16": "derived: twice FP32 (Volta's packed FP16 arithmetic, "
                                   '"NVIDIA Tesla V100 GPU Architecture" white paper), tensor '
                                   "cores not counted",
            "peak_gflops.int8": f"datasheet: up to 21 TOPS INT8 for the whole module (GPU and "
                                f"two NVDLA engines), {NX}",
            "mem_bandwidth_gbs": f"datasheet: 128-bit LPDDR4x, 59.7 GB/s, {NX}",
            "active_w": f"datasheet: the 15 W power mode (10 W and 20 W modes also exist), "
                        f"{NX_POWER}",
            "idle_w": IDLE,
            "launch_overhead_us": LAUNCH_GPU,
            "memory_bytes": f"datasheet: 8 GB LPDDR4x shared with the CPU, {NX}",
        }),
    DeviceProfile(
        name="jetson-xavier-nx-cpu", arch="armv8.2-a", kind="cpu",
        description="NVIDIA Jetson Xavier NX: 6-core Carmel ARMv8.2 CPU",
        peak_gflops={"float32": 134.4, "float64": 67.2},
        mem_bandwidth_gbs=59.7, active_w=8.0, idle_w=2.5, launch_overhead_us=1.0,
        unified_memory=True, memory_bytes=8 * GiB, default_link="shared",
        source=f"datasheet: {NX}",
        sources={
            "peak_gflops.float32": f"derived: 6 Carmel cores x 16 FLOP/cycle (two 128-bit NEON "
                                   f"FMA pipes) x 1.4 GHz, the CPU clock of the 15 W 6-core "
                                   f"mode in {NX_POWER}",
            "peak_gflops.float64": "derived: half the FP32 rate (2 lanes per 128-bit vector, "
                                   "not 4)",
            "mem_bandwidth_gbs": f"datasheet: 128-bit LPDDR4x, 59.7 GB/s shared with the GPU, "
                                 f"{NX}",
            "active_w": f"estimate: the CPU's share of the 15 W module budget of {NX_POWER}; "
                        "NVIDIA gives no per-engine figure",
            "idle_w": IDLE,
            "launch_overhead_us": HOST_CALL,
            "memory_bytes": f"datasheet: 8 GB LPDDR4x shared with the GPU, {NX}",
        }),
    DeviceProfile(
        name="a100", arch="sm_80", kind="gpu",
        description="NVIDIA A100 SXM4 40 GB",
        peak_gflops={"float64": 9700.0, "float32": 19500.0, "tfloat32": 156000.0,
                     "float16": 312000.0, "bfloat16": 312000.0, "int8": 624000.0},
        mem_bandwidth_gbs=1555.0, active_w=400.0, idle_w=50.0, launch_overhead_us=5.0,
        unified_memory=False, memory_bytes=40 * GiB, default_link="pcie4",
        source=f"datasheet: {A100}",
        sources={
            "peak_gflops": f"datasheet: FP64 9.7, FP32 19.5, TF32 156, FP16/BF16 312 TFLOPS and "
                           f"INT8 624 TOPS (dense; tensor cores for TF32/FP16/INT8), {A100}",
            "mem_bandwidth_gbs": f"datasheet: HBM2 1,555 GB/s, {A100}",
            "active_w": f"datasheet: 400 W maximum TDP (SXM4; the PCIe card is 250 W), {A100}",
            "idle_w": "estimate: the order of idle draw nvidia-smi reports for an SXM4 A100; "
                      "NVIDIA's documents give none",
            "launch_overhead_us": LAUNCH_GPU,
            "memory_bytes": f"datasheet: 40 GB HBM2, {A100}",
        }),
    DeviceProfile(
        name="xeon-gold-6248", arch="x86_64", kind="cpu",
        description="Intel Xeon Gold 6248: 20 cores, AVX-512, 2 FMA units",
        peak_gflops={"float32": 2000.0, "float64": 1000.0},
        mem_bandwidth_gbs=140.8, active_w=150.0, idle_w=45.0, launch_overhead_us=1.0,
        unified_memory=True, memory_bytes=192 * GiB, default_link="gbe",
        source=f"datasheet: {ARK_6248}",
        sources={
            "peak_gflops.float32": f"estimate: 20 cores ({ARK_6248}) x 64 FLOP/cycle (two "
                                   "AVX-512 FMA units) x an assumed ~1.6 GHz all-core AVX-512 "
                                   "clock (Intel lists each model's in the \"Second Generation "
                                   "Intel Xeon Scalable Processors Specification Update\"), "
                                   "rounded to 2 TFLOPS",
            "peak_gflops.float64": "derived: half the FP32 rate (8 lanes per 512-bit vector, "
                                   "not 16)",
            "mem_bandwidth_gbs": f"derived: 6 channels x DDR4-2933 x 8 bytes, from {ARK_6248}",
            "active_w": f"datasheet: 150 W TDP, {ARK_6248}",
            "idle_w": IDLE,
            "launch_overhead_us": HOST_CALL,
            "memory_bytes": f"estimate: 6 x 32 GB, one DIMM on each of the 6 channels of "
                            f"{ARK_6248}",
        }),
    DeviceProfile(
        name="mlu270-s4", arch="mlu270", kind="npu",
        description="Cambricon MLU270-S4 inference card",
        peak_gflops={"int8": 128000.0, "int16": 64000.0, "float16": 64000.0},
        mem_bandwidth_gbs=102.0, active_w=70.0, idle_w=15.0, launch_overhead_us=20.0,
        unified_memory=False, memory_bytes=16 * GiB, default_link="pcie3",
        source=f"datasheet: {MLU270}",
        sources={
            "peak_gflops.int8": f"datasheet: 128 TOPS INT8, {MLU270}",
            "peak_gflops.int16": f"datasheet: 64 TOPS INT16, {MLU270}",
            "peak_gflops.float16": f"estimate: assumed equal to the INT16 rate of {MLU270} "
                                   "(16-bit multipliers); Cambricon gives no FP16 figure",
            "mem_bandwidth_gbs": f"datasheet: 16 GB DDR4, 102 GB/s, {MLU270}",
            "active_w": f"datasheet: 70 W, {MLU270}",
            "idle_w": IDLE,
            "launch_overhead_us": LAUNCH_ACCEL,
            "memory_bytes": f"datasheet: 16 GB DDR4, {MLU270}",
        }),
    DeviceProfile(
        name="alveo-u280", arch="xcu280", kind="fpga",
        description="AMD/Xilinx Alveo U280 data-centre FPGA card",
        peak_gflops={"int8": 24500.0},
        mem_bandwidth_gbs=460.0, active_w=225.0, idle_w=30.0, launch_overhead_us=20.0,
        unified_memory=False, memory_bytes=40 * GiB, default_link="pcie4",
        source=f"datasheet: {U280}",
        sources={
            "peak_gflops.int8": f"datasheet: up to 24.5 INT8 TOPS, {U280}",
            "mem_bandwidth_gbs": f"datasheet: 8 GB HBM2 at 460 GB/s (plus 32 GB DDR4 at "
                                 f"38 GB/s), {U280}",
            "active_w": f"datasheet: 225 W maximum total power, {U280}",
            "idle_w": IDLE,
            "launch_overhead_us": LAUNCH_ACCEL,
            "memory_bytes": f"datasheet: 8 GB HBM2 + 32 GB DDR4, {U280}",
        }),
    DeviceProfile(
        name="coral-usb-edgetpu", arch="edgetpu", kind="npu",
        description="Google Coral USB Accelerator (Edge TPU), USB 3 hot-plug",
        peak_gflops={"int8": 4000.0},
        mem_bandwidth_gbs=0.4, active_w=2.0, idle_w=0.5, launch_overhead_us=100.0,
        unified_memory=False, memory_bytes=8 * 2**20, default_link="usb3",
        source=f"datasheet: {CORAL}",
        sources={
            "peak_gflops.int8": f"datasheet: 4 TOPS INT8, {CORAL}",
            "mem_bandwidth_gbs": "estimate: weights beyond the 8 MB on-chip cache stream over "
                                 "USB 3, at the usb3 link's ~0.4 GB/s",
            "active_w": f"derived: 4 TOPS at 2 TOPS per watt, {CORAL}",
            "idle_w": IDLE,
            "launch_overhead_us": "estimate: a USB round trip per invocation; nothing to cite",
            "memory_bytes": 'datasheet: roughly 8 MB of on-chip SRAM caches the parameters, '
                            '"Edge TPU Compiler" documentation (Coral, coral.ai)',
        }),
    DeviceProfile(
        name="ncs2-myriad-x", arch="myriadx", kind="npu",
        description="Intel Neural Compute Stick 2 (Movidius Myriad X VPU), USB 3 hot-plug",
        peak_gflops={"float16": 1000.0},
        mem_bandwidth_gbs=0.4, active_w=1.5, idle_w=0.5, launch_overhead_us=100.0,
        unified_memory=False, memory_bytes=512 * 2**20, default_link="usb3",
        source=f"datasheet: {NCS2}",
        sources={
            "peak_gflops.float16": f"datasheet: about 1 TOPS of DNN compute (native FP16), "
                                   f"{NCS2}",
            "mem_bandwidth_gbs": "estimate: bound by USB 3, at the usb3 link's ~0.4 GB/s",
            "active_w": "estimate: 1.5 W; Intel gives no power figure, and a USB 3 device may "
                        "draw at most 4.5 W (900 mA at 5 V, \"Universal Serial Bus 3.0 "
                        "Specification\")",
            "idle_w": IDLE,
            "launch_overhead_us": "estimate: a USB round trip per invocation; nothing to cite",
            "memory_bytes": 'datasheet: 4 Gbit LPDDR4 in the VPU package, "Intel Movidius '
                            'Myriad X Vision Processing Unit" product brief (Intel)',
        }),
    DeviceProfile(
        name="raspberry-pi-4", arch="armv8-a", kind="cpu",
        description="Raspberry Pi 4 Model B: 4x Cortex-A72 at 1.5 GHz, NEON",
        peak_gflops={"float32": 48.0, "float64": 24.0},
        mem_bandwidth_gbs=12.8, active_w=6.0, idle_w=3.0, launch_overhead_us=2.0,
        unified_memory=True, memory_bytes=4 * GiB, default_link="gbe",
        source=f"datasheet: {PI4}",
        sources={
            "peak_gflops.float32": f"derived: 4 Cortex-A72 cores x 1.5 GHz ({PI4}) x 8 "
                                   "FLOP/cycle (one 128-bit NEON FMA, \"ARM Cortex-A72 MPCore "
                                   "Processor Technical Reference Manual\")",
            "peak_gflops.float64": "derived: half the FP32 rate (2 lanes per 128-bit vector, "
                                   "not 4)",
            "mem_bandwidth_gbs": f"derived: 32-bit LPDDR4-3200 x 4 bytes, from {PI4}",
            "active_w": f"estimate: ~6 W under load, of the order independent measurements "
                        f"report; {PI4} gives only the 5 V 3 A supply",
            "idle_w": f"estimate: ~3 W idle, of the order independent measurements report; "
                      f"{PI4} gives none",
            "launch_overhead_us": HOST_CALL,
            "memory_bytes": f"datasheet: the 4 GB model, {PI4}",
        }),
]
