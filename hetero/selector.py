"""dpctl/SYCL-style device selectors: "cpu", "gpu:1", "opencl:fpga:0", "cuda,cpu", or a callable.

A string is a comma-separated preference list; the first term that matches wins. A term is either
a device id ("sim:a100:0") or colon-separated tokens, each matching a device's backend, kind or
profile name, optionally ending in an ordinal among the matches ("gpu:1" = the second GPU).
A callable maps a Device to a score; the highest non-negative score wins, as in SYCL.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

from hetero.device import Device
from hetero.errors import ArgumentError, DeviceNotFound

Selector = str | Device | Callable[[Device], float]


def token_matches(token: str, device: Device) -> bool:
    return token in (device.backend, device.kind, device.profile.name)


def id_shaped(term: str, devices: Sequence[Device]) -> bool:
    """True when the term has the form of its backend's ids (e.g. "sim:a100:0"), not an ordinal."""
    backend, colons = term.split(":")[0], term.count(":")
    return any(d.backend == backend and d.id.count(":") == colons for d in devices)


def match_term(term: str, devices: Sequence[Device]) -> Device | None:
    """The device one preference term names, or None."""
    for device in devices:
        if device.id == term:
            return device
    tokens = term.split(":")
    ordinal = 0
    if len(tokens) > 1 and tokens[-1].isdigit():
        if id_shaped(term, devices):
            return None  # an id that no longer exists must not pick a sibling
        ordinal = int(tokens.pop())
    matches = [d for d in devices if all(token_matches(t, d) for t in tokens)]
    return matches[ordinal] if ordinal < len(matches) else None


def best_scored(score: Callable[[Device], float], devices: Sequence[Device]) -> Device | None:
    scored = [(score(d), i, d) for i, d in enumerate(devices)]
    kept = [(s, -i, d) for s, i, d in scored if s is not None and s >= 0]
    return max(kept, key=lambda t: (t[0], t[1]))[2] if kept else None


def describe_devices(devices: Sequence[Device]) -> str:
    if not devices:
        return "no devices were discovered"
    return "; ".join(
        f"{d.id} ({d.kind}, backend {d.backend}{', simulated' if d.simulated else ''})"
        for d in devices)


def not_found(selector: Selector, devices: Sequence[Device], hint: str = "") -> DeviceNotFound:
    vocabulary = {v for d in devices for v in (d.id, d.backend, d.kind, d.profile.name)}
    close = []
    if isinstance(selector, str):
        for term in selector.split(","):
            for token in term.split(":"):
                if token not in vocabulary and not token.isdigit():
                    close += difflib.get_close_matches(token, vocabulary, n=2)
    suggestion = f" Did you mean {', '.join(sorted(set(close)))}?" if close else ""
    return DeviceNotFound(
        f"no device matches selector {selector!r}. Devices: {describe_devices(devices)}."
        f"{suggestion}{hint}")


def select(selector: Selector, devices: Sequence[Device], hint: str = "") -> Device:
    """Resolve a selector against ``devices``; raise DeviceNotFound listing what exists."""
    if isinstance(selector, Device):
        selector.check_alive("select it")
        return selector
    if callable(selector):
        found = best_scored(selector, devices)
    elif isinstance(selector, str):
        terms = [t.strip() for t in selector.split(",") if t.strip()]
        found = next((d for t in terms if (d := match_term(t, devices)) is not None), None)
    else:
        raise ArgumentError(
            f"a device selector is a string, a Device or a callable, not {type(selector).__name__}")
    if found is None:
        raise not_found(selector, devices, hint)
    return found
