"""Placement searches over general graphs, every candidate scored by ``hetero.plan.timeline``:
the two baselines hetero is measured against, exhaustive search where the problem is small
enough to enumerate, and a deterministic local search for the rest.

A placement that breaks a cap (latency, energy) always ranks after every one that keeps it,
and among those by how far it breaks it: a search that cannot meet the caps still ends on
the closest placement, whose figures ``PlanInfeasible`` can then report.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hetero.cost import idle_w
from hetero.plan.objective import Goal, PlanEstimate, figure
from hetero.plan.score import Found, Scorer
from hetero.plan.timeline import Replay, Timeline

ENUMERATION_LIMIT = 20_000  # placements exhaustive search may score
LOCAL_SEARCH_LIMIT = 300  # nodes up to which local search refines (its sweeps are quadratic)
#: the longest run of consecutive nodes a re-plan's local search moves together (a compile's
#: moves up to 8): on ResNet-50 and DenseNet-121 with four devices, each removed and added
#: back, runs of 4 and 8 found nothing runs of 1 and 2 and the neighbourhoods did not, and
#: took 40% of a re-plan's time (benchmarks/scheduler.py, 2026-12-07)
REPLAN_RUN = 2
#: what list scheduling minimises per node, from (energy so far, makespan so far, node's end)
GREEDY_KEYS: dict[str, Callable[[float, float, float], tuple[float, float]]] = {
    "energy": lambda energy, grown, end: (energy, grown),
    "latency": lambda energy, grown, end: (end, energy),
    "edp": lambda energy, grown, end: (energy * grown, grown)}


def best_single_device(score: Scorer, candidates: dict[str, list[str]]) -> Found | None:
    """Baseline: the best device that can run every node alone (None if none can)."""
    best = None
    for device in score.devices:
        if all(device in candidates[n] for n in score.names):
            best = score.better(best, score.found(dict.fromkeys(score.names, device),
                                                  f"best single device ({device})"))
    return best


def priority_greedy(score: Scorer, candidates: dict[str, list[str]]) -> Found:
    """Baseline: each node on the first device, in the caller's order, that supports it (what
    ONNX Runtime's and OpenVINO HETERO's device priorities do)."""
    order = list(score.devices)
    placement = {n: min(candidates[n], key=order.index) for n in score.names}
    return score.found(placement, "priority order")


def exhaustive(score: Scorer, candidates: dict[str, list[str]]) -> Found | None:
    """Every placement, if there are at most ``ENUMERATION_LIMIT``; else None."""
    if math.prod(len(candidates[n]) for n in score.names) > ENUMERATION_LIMIT:
        return None
    best = None
    for combo in itertools.product(*(candidates[n] for n in score.names)):
        best = score.better(best, score.found(dict(zip(score.names, combo, strict=True)),
                                              "exhaustive search (optimal)"))
    return best


def list_schedule(score: Scorer, candidates: dict[str, list[str]]) -> Found:
    """HEFT-style list scheduling refined for energy: nodes in graph order, each on the
    device where the objective grows least given the nodes already placed (a device's
    idle power is charged for every ms the makespan grows)."""
    timeline = Timeline(score.graph, score.devices, score.model, score.layout)
    idle = idle_w(score.devices)
    spent = 0.0  # mJ so far, without the idle term of the makespan
    placement = {}
    key = GREEDY_KEYS[score.goal.objective]
    for node in score.graph.nodes:
        makespan = max(timeline.free.values())
        options = []
        for device_id in candidates[node.name]:
            step = timeline.trial(node, device_id)
            p = score.devices[device_id].profile
            radio = sum(mj for _, _, mj, _, _ in step.arrivals)
            cost = spent + step.took.ms * (p.active_w - p.idle_w) + radio
            grown = max(makespan, step.end_ms)
            energy = cost + idle * grown
            options.append((key(energy, grown, step.end_ms), device_id, step, cost))
        _, device_id, step, spent = min(options, key=lambda o: o[0])
        timeline.place(node, device_id, step)
        placement[node.name] = device_id
    score.seen.setdefault(tuple(placement[n] for n in score.names), timeline.finished())
    return score.found(placement, "list scheduling")


@dataclass(frozen=True)
class Start:
    """Where a re-plan starts: the previous placement and the devices it was planned on."""

    placement: dict[str, str]
    devices: frozenset[str]


def scored_baselines(score: Scorer, candidates: dict[str, list[str]]) -> list[Found]:
    """The best single device (where one runs every node) and the priority order."""
    return [f for f in (best_single_device(score, candidates),
                        priority_greedy(score, candidates)) if f is not None]


def best_placement(score: Scorer, candidates: dict[str, list[str]],
                   start: Start | None = None, baselines: list[Found] | None = None
                   ) -> tuple[Found, list[Found]]:
    """The placement to run and the baselines it was compared with: exhaustive search where
    the problem is small enough, else the best of the baselines and list scheduling, refined
    by local search on graphs of up to ``LOCAL_SEARCH_LIMIT`` nodes; from ``start``, a
    re-plan (``replanned``). ``baselines``: where the caller has scored them already."""
    if baselines is None:
        baselines = scored_baselines(score, candidates)
    exact = exhaustive(score, candidates)
    if exact is not None:
        return exact, baselines
    listed = list_schedule(score, candidates)
    best = listed
    for baseline in baselines:
        best = score.better(best, baseline)
    if start is not None:
        return replanned(score, candidates, start, listed, best), baselines
    if len(score.names) <= LOCAL_SEARCH_LIMIT:
        best = local_search(score, candidates, best)
    return best, baselines


def replanned(score: Scorer, candidates: dict[str, list[str]], start: Start,
              listed: Found, best: Found) -> Found:
    """A re-plan: the previous placement, its nodes whose device left placed as list
    scheduling places them, or ``best`` (list scheduling, the baselines) where that is
    better; then local search over the moves that touch what changed (runs of up to
    ``REPLAN_RUN`` nodes and neighbourhoods holding such a node, to any device; any of
    them, to a device that came)."""
    before = start.placement
    displaced = {i for i, n in enumerate(score.names) if before.get(n) not in candidates[n]}
    kept = {n: listed.placement[n] if i in displaced else before[n]
            for i, n in enumerate(score.names)}
    tries = [(group, device) for group in moves(score, REPLAN_RUN) for device in score.devices
             if device not in start.devices or displaced.intersection(group)]
    found = score.better(score.found(kept, "re-plan of the previous placement"), best)
    if len(score.names) <= LOCAL_SEARCH_LIMIT:
        found = local_search(score, candidates, found, tries=tries)
    return found


def local_search(score: Scorer, candidates: dict[str, list[str]], start: Found,
                 max_sweeps: int = 20, tries: list[tuple[list[int], str]] | None = None
                 ) -> Found:
    """From ``start``, move one node, or a run of consecutive nodes, to another device while
    that improves the rank; sweeps in graph order until one changes nothing. ``tries``: the
    (group, device) moves to try, default every group to every device."""
    climb = Climb(score, candidates, start)
    if tries is None:
        tries = [(group, device) for group in moves(score) for device in score.devices]
    for _ in range(max_sweeps):
        taken = [climb.attempt(group, device) for group, device in tries]
        if not any(taken):
            break
    return climb.best


class Climb:
    """Local search's state: the best placement so far and its replay. A move is timed from
    the first node it moves and dropped once bounds show it cannot beat the best; a move
    already tried against the same best is not tried again."""

    def __init__(self, score: Scorer, candidates: dict[str, list[str]], start: Found):
        self.score, self.best = score, start
        self.allowed = [set(candidates[n]) for n in score.names]
        self.replay = Replay(score.layout, [start.placement[n] for n in score.names])
        self.tried: set[tuple[str, tuple[int, ...]]] = set()
        self.beaten = hopeless(score.goal, start.estimate)

    def attempt(self, group: list[int], device: str) -> bool:
        """Moves the nodes ``group`` to ``device`` if that ranks better; whether it did."""
        changes = {i: device for i in group if self.replay.place[i] != device}
        key = (device, tuple(sorted(changes)))
        if not changes or key in self.tried or \
                any(device not in self.allowed[i] for i in group):
            return False
        self.tried.add(key)
        goal, trial = self.score.goal, self.replay.trial(changes, self.beaten)
        if trial is None or goal.rank(trial) >= goal.rank(self.best.estimate):
            return False
        self.replay = self.replay.moved(changes)
        self.best = self.score.found(dict(zip(self.score.names, self.replay.place,
                                              strict=True)), "local search")
        self.tried, self.beaten = set(), hopeless(goal, self.best.estimate)
        return True


def moves(score: Scorer, longest: int = 8) -> list[list[int]]:
    """The groups of nodes (indices) local search moves together: runs of up to ``longest``
    consecutive nodes, and each node's neighbourhoods."""
    index = score.layout.index
    return [list(range(i, j)) for i, j in segments(len(score.names), longest)] + \
        [[index[n] for n in group] for group in neighbourhoods(score.graph)]


def hopeless(goal: Goal, best: PlanEstimate) -> Callable[[float, float, float], bool]:
    """A test of whether a placement whose memory overflow is ``over`` and whose latency and
    energy are at least ``ms`` and ``mj`` cannot rank before ``best``."""
    excess, value = goal.rank(best)
    slack = 1 + 1e-9  # bounds are summed in another order than the figures they bound
    objective = goal.objective

    def test(over: float, ms: float, mj: float) -> bool:
        return goal.excess_of(ms, mj, over) > excess + 1e-9 or \
            (excess == 0.0 and figure(objective, ms, mj) > value * slack)
    return test


def neighbourhoods(graph: Any) -> list[list[str]]:
    """Each node with the nodes that produce its inputs, and with the nodes that read its
    outputs: on a graph with branches these are the moves consecutive runs miss."""
    producer = {out: node.name for node in graph.nodes for out in node.outputs if out}
    readers: dict[str, list[str]] = {}
    for node in graph.nodes:
        for name in node.inputs:
            if name in producer:
                readers.setdefault(producer[name], []).append(node.name)
    groups = []
    for node in graph.nodes:
        before = [producer[n] for n in node.inputs if n in producer]
        for group in ([*before, node.name], [node.name, *readers.get(node.name, [])]):
            unique = list(dict.fromkeys(group))
            if len(unique) > 1:
                groups.append(unique)
    return groups


def segments(count: int, longest: int = 8) -> list[tuple[int, int]]:
    """Runs of 1, 2, 4, … up to ``longest`` consecutive nodes: single moves, then the splits
    that only pay off when neighbours move together (a transfer saved at each end)."""
    lengths = [n for n in (1, 2, 4, 8) if n <= min(longest, count)]
    return [(i, i + n) for n in lengths for i in range(count - n + 1)]


__all__ = ["best_placement", "best_single_device", "exhaustive",
           "list_schedule", "local_search", "priority_greedy"]
