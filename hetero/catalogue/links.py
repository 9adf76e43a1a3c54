"""Built-in link presets between memory domains (bandwidth, one-way latency, energy per byte).

Radio energy per byte is the transmit power divided by the uplink rate: that is what makes
offloading cost energy on the device. The cost-model issue refines these figures.
"""

from __future__ import annotations

from hetero.catalogue import LinkProfile


def radio(name: str, mbit_s: float, latency_ms: float, tx_w: float, description: str,
          latency_source: str, rate_source: str) -> LinkProfile:
    """A wireless link whose energy per byte is transmit power over the uplink rate."""
    gbs = mbit_s / 8 / 1000
    return LinkProfile(
        name=name, bandwidth_gbs=gbs, latency_ms=latency_ms,
        energy_nj_per_byte=tx_w / (gbs * 1e9) * 1e9, description=description,
        sources={"latency_ms": latency_source, "bandwidth_gbs": rate_source,
                 "energy_nj_per_byte": f"derived: estimated {tx_w} W transmit power / uplink "
                                       "rate (HARDWARE.md: radio transmit power ~1-2.5 W)"})


WIRED_ENERGY = "estimate: ~10 pJ/bit for the PHY and controller, not a measured figure"

BUILTIN_LINKS = [
    LinkProfile("shared", 0.0, 0.0, 0.0, "same physical memory (Jetson CPU<->GPU zero-copy)",
                zero_copy=True, sources={"zero_copy": "datasheet: Jetson unified LPDDR4x"}),
    LinkProfile("pcie3", 12.0, 0.001, 0.08, "PCIe 3.0 x16",
                sources={"bandwidth_gbs": "estimate: ~12 GB/s usable (HARDWARE.md lead)",
                         "energy_nj_per_byte": WIRED_ENERGY}),
    LinkProfile("pcie4", 25.0, 0.001, 0.08, "PCIe 4.0 x16",
                sources={"bandwidth_gbs": "estimate: ~25 GB/s usable (HARDWARE.md lead)",
                         "energy_nj_per_byte": WIRED_ENERGY}),
    LinkProfile("usb3", 0.4, 0.125, 1.25, "USB 3.0 (Coral, NCS2)",
                sources={"bandwidth_gbs": "estimate: ~0.4 GB/s (HARDWARE.md lead)",
                         "latency_ms": "estimate: one 125 us microframe",
                         "energy_nj_per_byte": "estimate: ~0.5 W controller / 0.4 GB/s"}),
    LinkProfile("gbe", 0.117, 0.1, 8.0, "1 Gigabit Ethernet",
                sources={"bandwidth_gbs": "derived: ~940 Mbit/s TCP goodput",
                         "latency_ms": "estimate: one LAN hop",
                         "energy_nj_per_byte": "estimate: ~1 W NIC / 0.125 GB/s"}),
    radio("wifi6", 600, 2.0, 1.0, "Wi-Fi 6", "estimate: typical WLAN round trip / 2",
          "estimate: ~600 Mbit/s real throughput (HARDWARE.md lead)"),
    radio("4g", 10, 40.0, 2.5, "4G LTE uplink", "estimate: ~40 ms (HARDWARE.md lead)",
          "estimate: ~10 Mbit/s uplink"),
    radio("5g", 100, 8.0, 2.0, "5G network slice uplink",
          "paper: 8 ms end-to-end on a vehicle-networking slice (HARDWARE.md)",
          "estimate: tens to ~100 Mbit/s uplink (HARDWARE.md lead)"),
    radio("6g", 1000, 0.3, 1.5, "6G (projected)",
          "paper: 0.3 ms emergency-brake message (HARDWARE.md)",
          "estimate: assumed 1 Gbit/s uplink; no deployed figure exists"),
]
