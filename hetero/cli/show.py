"""How the command line shows things: tables at the terminal's width, sizes, a figure's
source."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
    name = "" if dtype == "float32" else f" {dtype}"
    return f"{value:,.0f} GFLOP/s{name} ({provenance(profile, f'peak_gflops.{dtype}')})"


def power_text(profile: DeviceProfile) -> str:
    """Busy/idle watts, each figure's source named ("datasheet/estimate" when they differ)."""
    busy, idle = provenance(profile, "active_w"), provenance(profile, "idle_w")
    source = busy if busy == idle else f"{busy}/{idle}"
    return f"{profile.active_w:g}/{profile.idle_w:g} W ({source})"


def console(stderr: bool = False) -> Any:
    """A rich console at the terminal's width (``COLUMNS`` when output is not a terminal)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def print_table(title: str, columns: Sequence[str], rows: list[list[str]],
                keep: Sequence[str] = (), marked: Sequence[bool] = ()) -> None:
    """A table that fits the terminal: the ``keep`` columns (ids) are never cut or wrapped;
    where room is short the widest other column wraps first, between words. A ``marked`` row
    (a simulated device) is yellow."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    out = console()
    table = Table(title=title, header_style="bold", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False, padding=(0, 2, 0, 0))
    widths = {c: column_widths(c, [row[k] for row in rows]) for k, c in enumerate(columns)}
    fixed = fit({c: w for c, w in widths.items() if c not in keep},
                out.width - 2 - 2 * len(columns) - sum(widths[c][0] for c in keep))
    fixed.update({c: widths[c][0] for c in keep})
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column in keep,
                         width=fixed[column])
    for k, row in enumerate(rows):
        mark = k < len(marked) and marked[k]
        table.add_row(*(Text(cell) for cell in row), style="yellow" if mark else None)
    out.print(table)


def fit(widths: dict[str, tuple[int, int]], room: int) -> dict[str, int]:
    """Column widths that fit ``room``: the widest column gives way first, never below its
    longest word."""
    fixed = {c: whole for c, (whole, _) in widths.items()}
    while sum(fixed.values()) > room:
        shrinkable = [c for c in fixed if fixed[c] > widths[c][1]]
        if not shrinkable:
            break
        fixed[max(shrinkable, key=fixed.__getitem__)] -= 1
    return fixed


def column_widths(column: str, cells: Sequence[str]) -> tuple[int, int]:
    """(widest line, widest word) of a column, header included."""
    lines = [line for cell in cells for line in cell.splitlines()] + [column]
    return (max(len(line) for line in lines),
            max(len(w) for line in lines for w in line.split() or [""]))


def show_lines(lines: Sequence[str], style: str | None = None) -> None:
    """Lines under a table, wrapped at the terminal's width, in ``style``."""
    out = console()
    for line in filter(None, lines):
        out.print(line, style=style, markup=False)
