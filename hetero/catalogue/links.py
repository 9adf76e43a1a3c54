"""Built-in link presets between memory domains (bandwidth, one-way latency, energy per byte).

Radio energy per byte is the transmit power divided by the uplink rate: that is what makes
offloading cost energy on the device. The cost-model issue refines these figures.
"""

from __future__ import annotations

from hetero.catalogue import LinkProfile

#: the founding paper: a survey in Chinese, cited by its title (with a translation)
PAPER = ('"通信基础设施升级：人工智能与算力协同的边缘计算发展" (Communication infrastructure '
         'upgrades: edge computing through AI and computing-power collaboration), section '
         '2.1.1')
LTE_POWER = ('"A Close Examination of Performance and Power Characteristics of 4G LTE '
             'Networks" (Huang et al., MobiSys 2012)')
USB3 = '"Universal Serial Bus 3.0 Specification"'


def radio(name: str, mbit_s: float, latency_ms: float, tx_w: float, description: str,
          latency_source: str, rate_source: str) -> LinkProfile:
    """A wireless link whose energy per byte is transmit power over the uplink rate."""
    gbs = mbit_s / 8 / 1000
    return LinkProfile(
        name=name, bandwidth_gbs=gbs, latency_ms=latency_ms,
        energy_nj_per_byte=tx_w / (gbs * 1e9) * 1e9, description=description,
        sources={"latency_ms": latency_source, "bandwidth_gbs": rate_source,
                 "energy_nj_per_byte": f"estimate: {tx_w} W drawn by the radio while it "
                                       "sends, over the uplink rate; of the order of the "
                                       f"LTE power model of {LTE_POWER} (about 1.3 W plus "
                                       "0.44 W per Mbit/s of uplink)"})


WIRED_ENERGY = "estimate: ~10 pJ/bit for the PHY and controller, not a measured figure"

BUILTIN_LINKS = [
    LinkProfile("shared", 0.0, 0.0, 0.0, "same physical memory (Jetson CPU<->GPU zero-copy)",
                zero_copy=True,
                sources={"zero_copy": 'datasheet: CPU and GPU share one LPDDR4x memory, '
                                      '"NVIDIA Jetson Xavier NX Series System-on-Module Data '
                                      'Sheet" (NVIDIA); zero-copy access, "CUDA for Tegra" '
                                      "application note (NVIDIA)"}),
    LinkProfile("pcie3", 12.0, 0.001, 0.08, "PCIe 3.0 x16",
                sources={"bandwidth_gbs": "estimate: ~12 GB/s usable of the 15.75 GB/s that "
                                          "16 lanes at 8 GT/s with 128b/130b encoding carry "
                                          '("PCI Express Base Specification Revision 3.0"); '
                                          "packet headers and flow control take the rest",
                         "energy_nj_per_byte": WIRED_ENERGY}),
    LinkProfile("pcie4", 25.0, 0.001, 0.08, "PCIe 4.0 x16",
                sources={"bandwidth_gbs": "estimate: ~25 GB/s usable of the 31.5 GB/s that "
                                          "16 lanes at 16 GT/s with 128b/130b encoding carry "
                                          '("PCI Express Base Specification Revision 4.0"); '
                                          "packet headers and flow control take the rest",
                         "energy_nj_per_byte": WIRED_ENERGY}),
    LinkProfile("usb3", 0.4, 0.125, 1.25, "USB 3.0 (Coral, NCS2)",
                sources={"bandwidth_gbs": "estimate: ~0.4 GB/s usable of the 0.5 GB/s that "
                                          f"5 Gbit/s with 8b/10b encoding carries ({USB3})",
                         "latency_ms": f"estimate: one 125 us bus interval ({USB3})",
                         "energy_nj_per_byte": "estimate: ~0.5 W controller / 0.4 GB/s"}),
    LinkProfile("gbe", 0.117, 0.1, 8.0, "1 Gigabit Ethernet",
                sources={"bandwidth_gbs": "derived: ~940 Mbit/s TCP goodput: 1 Gbit/s less "
                                          "Ethernet, IP and TCP headers on 1500-byte frames "
                                          '("IEEE 802.3" and "RFC 793")',
                         "latency_ms": "estimate: one LAN hop; nothing to cite",
                         "energy_nj_per_byte": "estimate: ~1 W NIC / 0.125 GB/s"}),
    radio("wifi6", 600, 2.0, 1.0, "Wi-Fi 6", "estimate: a typical WLAN round trip / 2",
          "estimate: ~600 Mbit/s real throughput, about half the 1.2 Gbit/s PHY rate of a "
          '2x2 80 MHz client ("IEEE 802.11ax-2021")'),
    radio("4g", 10, 40.0, 2.5, "4G LTE uplink",
          f"derived: 8 ms / (1 - 0.8): the paper puts a 5G slice's 8 ms 80% below 4G, {PAPER}",
          f"estimate: ~10 Mbit/s uplink; {LTE_POWER} measured a median LTE uplink of "
          "6 Mbit/s"),
    radio("5g", 100, 8.0, 2.0, "5G network slice uplink",
          f"paper: 8 ms end to end on a vehicle-networking 5G slice, {PAPER}",
          "estimate: assumed 100 Mbit/s, the upper end of a sub-6 GHz 5G uplink; no primary "
          "document gives a slice's rate"),
    radio("6g", 1000, 0.3, 1.5, "6G (projected)",
          f"paper: a 0.3 ms emergency-brake command in a vehicle-networking trial, {PAPER}",
          "estimate: assumed 1 Gbit/s uplink; no deployed figure exists"),
]
