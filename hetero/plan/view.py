"""A plan shown to people and tools: the per-node table, JSON, a Chrome trace (Perfetto) and a
matplotlib figure. Every figure says whether it was measured or modeled, and simulated devices
are marked as such."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hetero.cost import energy_parts as device_parts
from hetero.cost import value_bytes
from hetero.device import HOST
from hetero.errors import UnsupportedOp

if TYPE_CHECKING:
    from hetero.plan.objective import PlanEstimate
    from hetero.plan.place import Decision
    from hetero.runtime import Plan


def provenance(estimate: PlanEstimate) -> str:
    """'measured', 'modeled', or how many node times were measured."""
    nodes = [s for s in estimate.spans if s.kind == "node"]
    measured = sum(s.source.startswith("measured") for s in nodes)
    if nodes and measured == len(nodes):
        return "measured node times, modeled transfers and power"
    if measured:
        return f"mixed: {measured} of {len(nodes)} node times measured, the rest modeled"
    return "modeled"


def energy_parts(plan: Plan) -> dict[str, float]:
    """mJ per part of the estimate: each device's active and idle energy, and transfers."""
    estimate = plan.estimate
    seen = plan.planned or plan.devices  # with the busy power the planner used
    parts = device_parts({seen[d]: ms for d, ms in estimate.busy_ms.items()},
                         estimate.latency_ms)
    parts["transfers"] = max(estimate.energy_mj - sum(parts.values()), 0.0)
    return parts


def last_run(plan: Plan, times: dict[str, Any], step: str, device_id: str) -> str:
    """A node's measured time, or its subgraph's (the unit it was compiled into)."""
    if step not in times:
        return "-"
    where = " (whole subgraph)" if step in plan.units else ""
    return f"{times[step].ms:.3f} ms{where}{clock_note(times[step])}{host_clock(plan, device_id)}"


REPLAYED = "(replay)"  # the op type of a replayed run's one time (hetero.replay)
CLOCKS = {"host": "measured: wall clock", "device": "measured: device timer (CUDA events)",
          "submitted": "measured: host time to submit it (the device runs it asynchronously; "
                       "plan.profile = True times it on the device)"}


def clock_note(t: Any) -> str:
    return {"device": " (device timer)", "submitted": " (submit only)"}.get(t.timing, "")


def host_clock(plan: Plan, device_id: str) -> str:
    """The note a measured time of a simulated device carries: the host computed it."""
    return " (host, simulated device)" if plan.devices[device_id].simulated else ""


MOVES = {"host_in_out": "host in/out", "between_devices": "between devices"}


def moves(plan: Plan) -> dict[str, dict[str, int]]:
    """The run's copies, host in/out (inputs onto a device, outputs back) apart from those
    between devices: how many the run makes, how many cross a link in the estimate, and the
    bytes those move. A copy within one memory (the host's CPU) moves no bytes, which is why
    a count of copies and the bytes moved can disagree without this split."""
    def kind(source: str, target: str) -> str:
        return "host_in_out" if HOST in (source, target) else "between_devices"

    out = {k: {"copies": 0, "over_links": 0, "bytes": 0} for k in MOVES}
    for step in plan.steps:
        if step.kind == "transfer":
            out[kind(step.source, step.device)]["copies"] += 1
    for span in plan.estimate.spans:  # the estimate's copies: those that cross a link
        if span.kind == "transfer":
            moved = out[kind(*span.device.split("->"))]
            moved["over_links"] += 1
            moved["bytes"] += value_bytes(plan.graph, span.name)
    return out


def title(plan: Plan) -> str:
    """'hetero plan: 2 nodes, 3 transfers (2 host in/out, 1 between devices)'."""
    counts = moves(plan)
    total = sum(m["copies"] for m in counts.values())
    kinds = ", ".join(f"{m['copies']} {MOVES[k]}" for k, m in counts.items())
    return f"hetero plan: {len(plan.decisions)} nodes, {total} transfers ({kinds})"


def moved(plan: Plan) -> str:
    """The estimate's bytes over links, split as the title counts copies, and the copies
    that stay within one memory (they move nothing)."""
    counts = moves(plan)
    kinds = ", ".join(f"{m['bytes']} {MOVES[k]}" for k, m in counts.items())
    within = sum(m["copies"] - m["over_links"] for m in counts.values())
    stay = f"; {within} transfer{'s' * (within > 1)} within one memory move none" \
        if within else ""
    return f"{plan.estimate.transfer_bytes} bytes moved over links ({kinds}{stay})"


def kind(decision: Decision) -> str:
    """An estimate's provenance in a few words: 'measured, median of 12' or 'modeled'."""
    if not decision.source.startswith("measured"):
        return "modeled"
    return f"measured, median of {decision.runs}" if decision.runs else "measured"


def summary(plan: Plan) -> list[str]:
    """The lines under the table: the estimate, how it was found, the baselines, the devices."""
    e = plan.estimate
    lines = [f"estimate ({provenance(e)}): latency {e.latency_ms:.4g} ms, energy "
             f"{e.energy_mj:.4g} mJ, {moved(plan)}; objective {e.objective}"
             f" = {e.value:.4g}, found by {plan.chosen.how}"]
    for base in plan.baselines:
        b = base.estimate
        lines.append(f"baseline {base.how}: latency {b.latency_ms:.4g} ms, energy "
                     f"{b.energy_mj:.4g} mJ, {e.objective} = {b.score(e.objective):.4g} "
                     f"({provenance(b)})")
    where = dict(plan.placement)
    for unit, members in plan.units.items():
        lines.append(f"{unit}: {', '.join(members)} on {where[members[0]]}, compiled as one "
                     "unit")
    for t in plan.last_run:
        if t.op_type == REPLAYED:
            lines.append(f"last run replayed its recording on {t.device} as one launch: "
                         f"{t.ms:.3f} ms{clock_note(t)}")
    for energy in plan.last_energy:
        lines.append(f"last run energy on {' + '.join(energy.devices)}: {energy.joules:.4g} J "
                     f"({energy.source})")
    for device in plan.devices.values():
        sim = "SIMULATED (computes on the host; its times are modeled from the profile)" \
            if device.simulated else "real"
        lines.append(f"device {device.id}: {device.name}, {sim}")
    return lines


def report(plan: Plan, width: int = 180) -> str:
    """One line per node: where it runs, on which tier, its estimate, last run and why."""
    from io import StringIO

    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title(plan))
    for column in ("node", "op", "device", "tier", "estimate", "last run (measured)", "why"):
        table.add_column(column, no_wrap=column == "device", overflow="fold")  # ids whole
    times = {t.node: t for t in plan.last_run}
    ops = {n.name: n.op_type for n in plan.graph.nodes}
    unit_of = {member: unit for unit, members in plan.units.items() for member in members}
    for d in plan.decisions:
        ran = last_run(plan, times, unit_of.get(d.node, d.node), d.device)
        why = ("FALLBACK: " if d.fallback else "") + d.reason
        cells = (d.node, ops[d.node], d.device, d.tier, f"{d.ms:.3g} ms {kind(d)}", ran, why)
        table.add_row(*map(Text, cells),  # as written: names may hold [brackets]
                      style="yellow" if d.fallback or d.tier == "reference" else None)
    text = StringIO()
    console = Console(file=text, width=width)
    console.print(table)
    for line in summary(plan):
        console.print(line, highlight=False, markup=False)
    return text.getvalue()


def as_dict(plan: Plan) -> dict[str, Any]:
    e = plan.estimate
    return {
        "placement": plan.placement,
        "objective": e.objective, "found_by": plan.chosen.how,
        "estimate": {"latency_ms": e.latency_ms, "energy_mj": e.energy_mj,
                     "transfer_bytes": e.transfer_bytes, "source": provenance(e),
                     "memory_bytes": e.memory_bytes, "energy_parts_mj": energy_parts(plan)},
        "transfers": moves(plan),
        "baselines": [{"how": b.how, "latency_ms": b.estimate.latency_ms,
                       "energy_mj": b.estimate.energy_mj, "source": provenance(b.estimate)}
                      for b in plan.baselines],
        "devices": [{"id": d.id, "name": d.name, "simulated": d.simulated}
                    for d in plan.devices.values()],
        "decisions": [vars(d) for d in plan.decisions],
        "spans": [vars(s) for s in e.spans],
        "last_run": [{k: v for k, v in vars(t).items() if k != "marks"}
                     for t in plan.last_run],
        "last_energy": [vars(e) for e in plan.last_energy]}


def trace_events(plan: Plan) -> list[dict[str, Any]]:
    """Chrome trace events: the estimate's timeline (one row per device and link) and, if the
    plan has run, the last run's measured node times."""
    events: list[dict[str, Any]] = [
        {"ph": "M", "pid": 1, "name": "process_name",
         "args": {"name": f"estimate ({provenance(plan.estimate)})"}},
        {"ph": "M", "pid": 2, "name": "process_name", "args": {"name": "last run (measured)"}}]
    rows: dict[tuple[int, str], int] = {}

    def row(pid: int, name: str) -> int:
        if (pid, name) not in rows:
            rows[pid, name] = len(rows) + 1
            events.append({"ph": "M", "pid": pid, "tid": rows[pid, name],
                           "name": "thread_name", "args": {"name": name}})
        return rows[pid, name]

    for s in plan.estimate.spans:
        events.append({"ph": "X", "pid": 1, "tid": row(1, s.device), "name": s.name,
                       "cat": s.kind, "ts": s.start_ms * 1e3,
                       "dur": (s.end_ms - s.start_ms) * 1e3, "args": {"source": s.source}})
    for t in plan.last_run:
        events.append({"ph": "X", "pid": 2, "tid": row(2, t.device), "name": t.node,
                       "cat": t.op_type, "ts": t.start_ms * 1e3, "dur": t.ms * 1e3,
                       "args": {"tier": t.tier, "source": CLOCKS[t.timing]
                                + host_clock(plan, t.device)}})
    return events


def save_trace(plan: Plan, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps({"traceEvents": trace_events(plan), "displayTimeUnit": "ms"}))
    return path


def figure(what: str, **options: Any) -> Any:
    """A matplotlib Figure made without pyplot (no backend switched, no global state kept in
    the caller's process); ``what`` names the caller in the error when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401 - refused first when it is not installed
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise UnsupportedOp(f"{what} needs matplotlib: pip install 'hetero[plan]'") from exc
    return Figure(**options)


def plot(plan: Plan, path: str | Path) -> Path:
    """A timeline per device (and link) and the energy breakdown, as one image."""
    drawing = figure("plan.plot", figsize=(13, 4.5))
    gantt, energy = drawing.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1]})
    draw_timeline(gantt, plan)
    draw_energy(energy, plan)
    drawing.tight_layout()
    drawing.savefig(path, dpi=120)
    return Path(path)


def draw_timeline(axes: Any, plan: Plan) -> None:
    spans = plan.estimate.spans
    rows = list(dict.fromkeys(s.device for s in spans))
    for s in spans:
        colour = "tab:orange" if s.kind == "transfer" else "tab:blue"
        axes.barh(rows.index(s.device), s.end_ms - s.start_ms, left=s.start_ms,
                  color=colour, edgecolor="white", linewidth=0.3)
    labels = [f"{r} (sim)" if r in plan.devices and plan.devices[r].simulated else r
              for r in rows]
    axes.set_yticks(range(len(rows)), labels)
    axes.invert_yaxis()
    axes.set_xlabel("ms")
    axes.set_title(f"timeline, {provenance(plan.estimate)} (nodes blue, transfers orange)")


def draw_energy(axes: Any, plan: Plan) -> None:
    parts = energy_parts(plan)
    axes.barh(list(parts), list(parts.values()), color="tab:green")
    axes.invert_yaxis()
    axes.set_xlabel("mJ (modeled)")
    axes.set_title(f"energy {plan.estimate.energy_mj:.4g} mJ")
