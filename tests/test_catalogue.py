"""The hardware catalogue: the paper's devices are there, and every figure names its source."""

from __future__ import annotations

import re

import pytest

import hetero

LABELS = ("datasheet:", "derived:", "estimate:", "measured:", "modeled:", "paper:")
PAPER_DEVICES = ["jetson-xavier-nx-gpu", "jetson-xavier-nx-cpu", "a100", "xeon-gold-6248",
                 "mlu270-s4", "alveo-u280", "coral-usb-edgetpu", "ncs2-myriad-x",
                 "raspberry-pi-4"]
PRESETS = ["shared", "pcie3", "pcie4", "usb3", "gbe", "wifi6", "4g", "5g", "6g"]


@pytest.fixture
def catalogue(registry):
    return hetero.profiles(), hetero.links()


def figure_source(profile, field):
    return profile.sources.get(field) or profile.sources.get(field.split(".")[0])


@pytest.mark.parametrize("name", PAPER_DEVICES)
def test_every_figure_of_a_paper_device_has_a_source(catalogue, name):
    profile = catalogue[0][name]
    fields = [f"peak_gflops.{d}" for d in profile.peak_gflops] + [
        "mem_bandwidth_gbs", "active_w", "idle_w", "launch_overhead_us", "memory_bytes"]
    for field in fields:
        source = figure_source(profile, field)
        assert source and source.startswith(LABELS), f"{name}.{field}: {source!r}"
    assert profile.peak_gflops and all(v > 0 for v in profile.peak_gflops.values())
    assert profile.active_w > profile.idle_w > 0
    assert profile.default_link in catalogue[1], f"{name}: link {profile.default_link}"


def test_jetson_shares_memory_and_a100_does_not(catalogue):
    profiles = catalogue[0]
    assert profiles["jetson-xavier-nx-gpu"].unified_memory
    assert not profiles["a100"].unified_memory


@pytest.mark.parametrize("name", PRESETS)
def test_link_presets(catalogue, name):
    link = catalogue[1][name]
    assert link.zero_copy or (link.bandwidth_gbs > 0 and link.energy_nj_per_byte > 0)
    for field, source in link.sources.items():
        assert source.startswith(LABELS), f"{name}.{field}: {source!r}"


def test_link_figures_from_the_paper(catalogue):
    links = catalogue[1]
    assert links["5g"].latency_ms == 8.0 and links["6g"].latency_ms == 0.3
    assert links["shared"].transfer_s(10**9) == 0.0
    assert links["usb3"].transfer_s(4 * 10**8) == pytest.approx(1.0 + 0.000125)


def test_roofline_takes_the_slower_roof(catalogue):
    a100 = catalogue[0]["a100"]
    compute_bound = a100.roofline_s(19.5e12, 0)
    assert compute_bound == pytest.approx(1.0 + 5e-6)
    memory_bound = a100.roofline_s(0, 1555e9)
    assert memory_bound == pytest.approx(1.0 + 5e-6)
    with pytest.raises(hetero.UnsupportedOp, match="lists no peak for float32"):
        catalogue[0]["coral-usb-edgetpu"].roofline_s(1, 1, "float32")


def every_source(catalogue):
    """(where, source) for each profile's and link's source, built-in ones."""
    profiles, links = catalogue
    for name in PAPER_DEVICES:
        profile = profiles[name]
        yield f"{name}.source", profile.source
        yield from ((f"{name}.{field}", s) for field, s in profile.sources.items())
    for name in PRESETS:
        yield from ((f"{name}.{field}", s) for field, s in links[name].sources.items())


#: a file the reader of `hetero profiles` cannot open: a name with an extension, or a path
FILE = re.compile(r"HARDWARE|\b[\w-]+\.(md|txt|py|pdf|json|rst|csv)\b|(^|\s)\.{0,2}/\w")
#: a document named by its title, in quotes: words, or a title in Chinese
TITLE = re.compile(r'"(?:[A-Za-z][^"\s]*\s+[^"\s]+[^"]*|[\u4e00-\u9fff][^"]{7,})"')


def test_sources_cite_documents_not_files(catalogue):
    for where, source in every_source(catalogue):
        assert not FILE.search(source), f"{where} cites a file: {source!r}"


def test_datasheet_and_paper_sources_name_the_document(catalogue):
    cited = [(w, s) for w, s in every_source(catalogue)
             if s.startswith(("datasheet:", "paper:"))]
    assert len(cited) > 30  # most figures have a primary document
    for where, source in cited:
        assert TITLE.search(source), f"{where} names no document title: {source!r}"
