"""The CPU backend: host description parsing, the measured profile and its cache, RAPL."""

from __future__ import annotations

import json
import platform

import pytest
from hetero.backends.cpu import hostinfo, microbench, rapl

import hetero
from hetero.cache import cache_dir

X86_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse4_2 avx avx2 fma f16c avx512f avx512bw avx512vl avx512_bf16 amx_tile amx_bf16 amx_int8

processor\t: 1
model name\t: ignored second block
"""

ARM_CPUINFO = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp asimddp sve sve2 i8mm bf16 sme
CPU implementer\t: 0x41
CPU part\t: 0xd4f
"""


def test_x86_features_and_name():
    assert hostinfo.parse_name("x86_64", X86_CPUINFO) == "Intel(R) Xeon(R) Platinum 8480+"
    features = hostinfo.parse_features("x86_64", X86_CPUINFO)
    assert {"avx2", "avx512f", "avx512_bf16", "amx", "amx_bf16", "amx_int8"} <= set(features)
    assert "neon" not in features


def test_arm_features_and_name():
    assert hostinfo.parse_name("aarch64", ARM_CPUINFO) == "ARM Neoverse-V2"
    features = set(hostinfo.parse_features("aarch64", ARM_CPUINFO))
    assert {"neon", "fp16", "dotprod", "sve", "sve2", "sme", "i8mm", "bf16"} <= features
    assert "avx2" not in features


@pytest.mark.parametrize("machine, arch", [
    ("x86_64", "x86_64"), ("AMD64", "x86_64"), ("arm64", "aarch64"), ("aarch64", "aarch64")])
def test_arch_names_are_normalised(machine, arch):
    assert hostinfo.normalise_arch(machine) == arch


def test_meminfo():
    assert hostinfo.parse_meminfo("MemTotal:       16384 kB\nMemFree: 1 kB\n") == 16384 * 1024


def test_the_host_device_is_real_and_measured(registry):
    cpu = hetero.device("cpu")
    assert cpu.id == "cpu:0" and cpu.kind == "cpu" and not cpu.simulated
    assert cpu.arch == hostinfo.normalise_arch(platform.machine())
    cpuinfo = hostinfo.read_text("/proc/cpuinfo")
    flags = set((hostinfo.first_block(cpuinfo).get("flags")
                 or hostinfo.first_block(cpuinfo).get("features") or "").split())
    table = hostinfo.ARM_FEATURES if cpu.arch == "aarch64" else hostinfo.X86_FEATURES
    assert set(cpu.features) == {name for flag, name in table.items() if flag in flags}
    if cpu.arch == "x86_64" and "avx2" in flags:
        assert "avx2" in cpu.features
    assert cpu.memory_bytes > 2**28 and cpu.info["cores"] >= 1
    profile = cpu.profile
    assert profile.peak_gflops["float32"] > 0 and profile.mem_bandwidth_gbs > 0
    assert profile.sources["peak_gflops.float32"].startswith("measured:")
    assert profile.sources["mem_bandwidth_gbs"].startswith("measured:")
    assert profile.sources["active_w"].startswith(("measured:", "modeled:"))


def test_the_profile_is_cached_as_json_and_reused(registry, monkeypatch):
    hetero.devices()
    files = list(cache_dir().glob("cpu-profile-*.json"))
    assert files and "peak_gflops" in json.loads(files[0].read_text())

    def must_not_run(info):
        raise AssertionError("the cached profile should have been used")

    monkeypatch.setattr(microbench, "measure", must_not_run)
    from hetero.backends.cpu import CPUBackend

    assert CPUBackend().discover()[0].profile.peak_gflops["float32"] > 0


def test_a_corrupt_cache_is_measured_again(tmp_path, monkeypatch):
    monkeypatch.setenv("HETERO_CACHE_DIR", str(tmp_path))
    from hetero.cache import cached, content_key

    (tmp_path / f"x-{content_key('x', 1)}.json").write_text("{not json")
    calls = []
    data = cached("x", (1,), lambda: calls.append(1) or {"v": 1})
    again = cached("x", (1,), lambda: calls.append(1) or {"v": 2})
    assert data == again == {"v": 1} and calls == [1]  # measured once, then read back


def test_power_is_modeled_and_labelled_without_rapl(monkeypatch, tmp_path):
    monkeypatch.setattr(rapl, "POWERCAP", tmp_path)
    monkeypatch.setattr(rapl.package_domains, "__defaults__", (tmp_path,))
    info = hostinfo.HostInfo("x86_64", "test", (), 4, 2**30)
    watts, sources = microbench.power(info)
    assert watts["active_w"] == 4 * microbench.MODEL_ACTIVE_W_PER_CORE
    assert sources["active_w"].startswith("modeled: no RAPL")


def fake_rapl(root, energy_uj, max_range=1000):
    domain = root / "intel-rapl:0"
    domain.mkdir(parents=True, exist_ok=True)
    (domain / "energy_uj").write_text(str(energy_uj))
    (domain / "max_energy_range_uj").write_text(str(max_range))
    sub = root / "intel-rapl:0:0"
    sub.mkdir(exist_ok=True)
    (sub / "energy_uj").write_text("5")
    return domain


def test_rapl_reads_package_domains_and_handles_wrap_around(tmp_path):
    fake_rapl(tmp_path, 900, max_range=1000)
    domains = rapl.package_domains(tmp_path)
    assert [d.name for d in domains] == ["intel-rapl:0"]
    before = rapl.read_energy_uj(domains)
    fake_rapl(tmp_path, 100)
    after = rapl.read_energy_uj(domains)
    assert rapl.energy_delta_j(domains, before, after) == pytest.approx(200e-6)
