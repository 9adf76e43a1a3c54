"""Placement: which device runs each node, and why.

Pins win; every other node goes where the whole job costs least under the objective (energy,
latency or energy-delay product) within the latency, energy and memory caps, as
``hetero.plan.timeline`` plays the placement out under the cost model. Exact where the problem
is small (the chain programme, the segment programme, a MILP through scipy's HiGHS,
exhaustive search), a heuristic for the rest; the two baselines, best single device and
priority order, are always scored beside it for the report. When no
placement meets the caps, ``PlanInfeasible`` says which one binds and what is reachable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hetero.errors import ArgumentError, PlanInfeasible, UnsupportedOp
from hetero.plan.bounds import useful
from hetero.plan.capability import Capability
from hetero.plan.chain import best_chain, chain_order
from hetero.plan.costs import CostTable
from hetero.plan.heuristics import Start, best_placement, scored_baselines
from hetero.plan.objective import Goal
from hetero.plan.score import Found, Scorer
from hetero.plan.segments import best_segments

#: "search": exact where it can be proved (chain and segment programmes, MILP, exhaustive),
#: heuristics beyond; "heuristic": the heuristics only (what ``plan.replan`` uses:
#: milliseconds, not a proof); the two baselines
STRATEGIES = ("search", "heuristic", "single-device", "priority")
MILP_NODE_LIMIT = 64  # exact searches: ResNet-50 (58 nodes) in 0.15 s by MILP; 40-node DAGs: 30 s
MILP_TIME_LIMIT_S = 2.0  # a MILP not proved optimal by then is dropped for the heuristic


@dataclass
class Decision:
    """Where one node runs and why: what the report prints and the JSON carries."""

    node: str
    device: str
    tier: str  # "native" or "reference"
    reason: str
    fallback: bool = False  # the node did not run where it was asked to
    ms: float = 0.0  # its time on the chosen device under the cost model
    source: str = ""  # where that figure came from: "measured: …" / "modeled: …"
    options: dict[str, float] = field(default_factory=dict)  # ms on every device that runs it
    runs: int = 0  # measured runs whose median ``ms`` is (0: modeled)


@dataclass
class Placed:
    """A placement with its estimate, how it was found, and the baselines scored beside it."""

    decisions: list[Decision]
    chosen: Found
    baselines: list[Found]


def place(graph: Any, capability: Capability, costs: CostTable, pins: dict[str, str] | None,
          strict: bool, goal: Goal | None = None, strategy: str = "search",
          start: Start | None = None) -> Placed:
    """Stage 4 of the pipeline: every node placed (UnsupportedOp where no device can run
    one, PlanInfeasible where no placement meets the caps); ``start``: a placement the
    heuristics start from (a re-plan's previous one)."""
    if strategy not in STRATEGIES:
        raise ArgumentError(f"strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    goal = goal or Goal()
    score = Scorer(graph, costs.devices, goal, costs)
    candidates, notes = allowed(graph, capability, checked_pins(graph, pins), strict)
    chosen, baselines = choose(score, candidates, strategy, start)
    if goal.excess(chosen.estimate) > 0:
        rescued = rescue(score, candidates) if strategy in ("search", "heuristic") else None
        if rescued is None:
            raise infeasible(score, candidates, chosen, strategy)
        chosen = rescued
    return Placed(explain(score, chosen, capability, candidates, notes), chosen, baselines)


def checked_pins(graph: Any, pins: dict[str, str] | None) -> dict[str, str]:
    """The pins, once every pinned name is known to be a node of the graph."""
    pins = dict(pins or {})
    names = {n.name for n in graph.nodes}
    unknown = sorted(set(pins) - names)
    if unknown:
        raise UnsupportedOp(f"placement pins unknown node(s) {', '.join(unknown)}; the graph's "
                            f"nodes include {', '.join(sorted(names)[:8])}")
    return pins


def allowed(graph: Any, capability: Capability, pins: dict[str, str], strict: bool
            ) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The devices each node may go to, and a note per node a pin decided or failed to."""
    candidates, notes = {}, {}
    for node in graph.nodes:
        able = capability.able(node.name)
        pin = pins.get(node.name)
        if pin is not None and pin in able:
            candidates[node.name], notes[node.name] = [pin], "pinned by the caller"
            continue
        if pin is not None:
            why = "is not among the devices given" if pin not in capability.rows else \
                f"cannot run {node.op_type}"
            detail = f": {capability.rows[pin][node.name].reason}" if pin in capability.rows \
                else ""
            if strict:
                raise UnsupportedOp(f"{node.label} is pinned to {pin}, which {why} "
                                    f"(strict=True){detail}")
            notes[node.name] = f"FALLBACK: pinned to {pin}, which {why}"
        if not able:
            raise UnsupportedOp(capability.refusal(node.name))
        candidates[node.name] = able
    return candidates, notes


def choose(score: Scorer, candidates: dict[str, list[str]], strategy: str,
           start: Start | None = None) -> tuple[Found, list[Found]]:
    """The placement the strategy picks, and the baselines it is compared with."""
    baselines = scored_baselines(score, candidates)
    if strategy == "priority":
        return baselines[-1], baselines
    if strategy == "single-device":
        if len(baselines) < 2:
            raise UnsupportedOp("strategy 'single-device': no one device given runs every "
                                "node (pins included); `hetero ops` lists op support")
        return baselines[0], baselines
    exact = chain_search(score, candidates)
    if exact is not None:
        return exact, baselines
    if strategy == "search" and len(score.names) <= MILP_NODE_LIMIT:
        narrowed = useful(score, candidates, baselines)
        solved = segment_search(score, narrowed) or milp_search(score, narrowed)
        if solved is not None:
            return solved, baselines
    return best_placement(score, candidates, start, baselines)[0], baselines


def segment_search(score: Scorer, candidates: dict[str, list[str]]) -> Found | None:
    """The segment programme's optimum where the graph is a chain of small blocks and the
    optimum fits in memory; None sends the search to the MILP."""
    found = best_segments(score, candidates)
    if found is None:
        return None
    result = score.found(found[0], "segment programme (optimal)")
    return result if result.estimate.memory_over == 0 else None


def milp_search(score: Scorer, candidates: dict[str, list[str]]) -> Found | None:
    """The MILP's optimum on DAGs of up to ``MILP_NODE_LIMIT`` nodes, for energy or latency
    (EDP is not linear); None where it does not apply, scipy is missing, no placement meets
    the caps (the heuristic then finds the closest for PlanInfeasible), or optimality is not
    proved within ``MILP_TIME_LIMIT_S`` (a best-so-far would make plans depend on the
    machine's speed; the heuristic's do not)."""
    from hetero.plan.milp import solve

    goal = score.goal
    if goal.objective == "edp":
        return None
    try:
        result = solve(score.graph, candidates, score.devices, goal.objective,
                       goal.max_latency_ms, goal.max_energy_mj, score.model,
                       time_limit_s=MILP_TIME_LIMIT_S)
    except UnsupportedOp:  # scipy is not installed: the other searches still run
        return None
    if result is None or result.status != "optimal":
        return None
    return score.found(result.placement, "MILP (optimal)")


def chain_search(score: Scorer, candidates: dict[str, list[str]]) -> Found | None:
    """The chain programme's optimum where the graph is a chain and the optimum fits in
    memory; None sends the search to the general methods."""
    goal = score.goal
    if len(score.names) < 2 or chain_order(score.graph) is None:
        return None
    found = best_chain(score.graph, candidates, score.devices, goal.objective,
                       goal.max_latency_ms, goal.max_energy_mj, score.model)
    if found is None:
        return None
    result = score.found(found[0], "chain programme (optimal)")
    return result if result.estimate.memory_over == 0 else None


CAPS = (("max_latency_ms", "latency", "ms"), ("max_energy_mj", "energy", "mJ"))


def rescue(score: Scorer, candidates: dict[str, list[str]]) -> Found | None:
    """A heuristic can stop short of the caps where a placement meets them: the best
    placement for each capped figure alone, if it keeps every cap."""
    for cap, metric, _ in CAPS:
        if getattr(score.goal, cap) is not None:
            alone = reachable(score, candidates, metric)
            if score.goal.excess(alone.estimate) == 0:
                return alone
    return None


def infeasible(score: Scorer, candidates: dict[str, list[str]], closest: Found,
               strategy: str) -> PlanInfeasible:
    """Which constraint binds (memory, or a cap), and the best figure reachable on it."""
    goal, estimate = score.goal, closest.estimate
    broken = [(cap, getattr(goal, cap), metric, unit) for cap, metric, unit in CAPS
              if getattr(goal, cap) is not None and estimate.score(metric) > getattr(goal, cap)]
    if strategy in ("single-device", "priority"):
        figures = "; ".join(f"{m} {estimate.score(m):.4g} {u} > {c}={limit:g}"
                            for c, limit, m, u in broken) or "it overflows a device's memory"
        return PlanInfeasible(
            f"strategy {strategy!r} ({closest.how}) breaks the constraints: {figures}. The "
            "baselines ignore caps; strategy='search' meets them where any placement can",
            constraint=broken[0][0] if broken else "memory", limit=broken[0][1] if broken
            else None, closest=closest)
    roomy = reachable(score, candidates, goal.objective)
    if roomy.estimate.memory_over > 0:
        return PlanInfeasible(
            f"unreachable: memory binds, no placement fits in the devices' memory: the "
            f"closest found "
            f"({roomy.how.replace(' (optimal)', '')}) still has "
            f"{memory_overflow(score, roomy.estimate)}. Add a device with more memory",
            constraint="memory", closest=roomy)
    if not broken:  # it fits in memory only by breaking a cap: the first cap set binds
        broken = [(c, getattr(goal, c), m, u) for c, m, u in CAPS if getattr(goal, c)]
    cap, limit, metric, unit = broken[0]
    alone = reachable(score, candidates, metric).estimate.score(metric)
    if alone > limit:
        better, best = ("faster", "fastest") if metric == "latency" else \
            ("more frugal", "most frugal")
        detail = (f"is below the {best} placement's {alone:.4g} {unit} (the best reachable "
                  f"{metric} within the devices' memory). Raise the cap, or add a {better} "
                  "device")
    else:
        others = [f"{c}={getattr(goal, c):g}" for c, _, _ in CAPS
                  if c != cap and getattr(goal, c) is not None]
        found_by = closest.how.replace(" (optimal)", "")  # optimal without the caps only
        detail = (f"together with {' and '.join(others) or 'the memory capacities'}: "
                  f"{metric} alone can reach {alone:.4g} {unit} within memory, but the "
                  f"closest placement found ({found_by}) takes {estimate.latency_ms:.4g} ms "
                  f"and {estimate.energy_mj:.4g} mJ. Relax a cap")
    return PlanInfeasible(f"unreachable: {cap}={limit:g} {detail}", constraint=cap,
                          limit=limit, best=alone, closest=closest)


def memory_overflow(score: Scorer, estimate: Any) -> str:
    """'dev needs N of its M bytes' for each device whose capacity the estimate exceeds."""
    return "; ".join(f"{d} needing {need:,} of its {score.devices[d].memory_bytes:,} bytes"
                     for d, need in estimate.memory_bytes.items()
                     if 0 < score.devices[d].memory_bytes < need)


def reachable(score: Scorer, candidates: dict[str, list[str]], metric: str) -> Found:
    """The best placement for one metric with no caps (memory still holds)."""
    alone = Scorer(score.graph, score.devices, Goal(metric), score.model)
    return choose(alone, candidates, "search")[0]


def explain(score: Scorer, chosen: Found, capability: Capability,
            candidates: dict[str, list[str]], notes: dict[str, str]) -> list[Decision]:
    """A decision per node with its reason: a pin, the only capable device, or the search
    that chose it, with the node's time on each device it could have gone to."""
    decisions = []
    for node in score.graph.nodes:
        device = chosen.placement[node.name]
        options = {d: score.model.node(node, score.graph, score.devices[d]).ms
                   for d in candidates[node.name]}
        took = score.model.node(node, score.graph, score.devices[device])
        note = notes.get(node.name, "")
        if note == "pinned by the caller":
            reason = note
        elif len(options) == 1:
            reason = f"the only device given that runs {node.op_type}"
        else:
            others = ", ".join(f"{d} {ms:.3g} ms" for d, ms in options.items() if d != device)
            reason = f"{chosen.how}, {score.goal.objective}: here {took.ms:.3g} ms vs {others}"
        if note.startswith("FALLBACK"):
            reason = f"{note[len('FALLBACK: '):]}; {reason}"
        decisions.append(Decision(node.name, device, capability.tier(node.name, device), reason,
                                  note.startswith("FALLBACK"), took.ms, took.source, options,
                                  took.runs))
    return decisions
