"""How the command line shows things: tables at the terminal's width, sizes, a figure's
source."""

from __future__ import annotations

from collections.abc import Sequence

from hetero.device import DeviceProfile


def human_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def provenance(profile: DeviceProfile, field: str) -> str:
    """The first word of a figure's source: measured, modeled, datasheet, derived or estimate."""
    note = profile.sources.get(field) or profile.sources.get(field.split(".")[0]) or profile.source
    return note.split(":")[0].split(" ")[0]


def peak_text(profile: DeviceProfile) -> str:
    dtype = "float32" if "float32" in profile.peak_gflops else next(iter(profile.peak_gflops))
    value = profile.peak_gflops[dtype]
    return f"{value:,.0f} GFLOP/s {dtype} ({provenance(profile, f'peak_gflops.{dtype}')})"


def power_text(profile: DeviceProfile) -> str:
    return (f"{profile.active_w:g} W busy / {profile.idle_w:g} W idle "
            f"({provenance(profile, 'active_w')})")


def print_table(title: str, columns: Sequence[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        problem = row[-1].startswith(("error", "unavail", "timed out"))
        table.add_row(*(Text(cell) for cell in row), style="red" if problem else None)
    Console(width=max(160, Console().width)).print(table)
