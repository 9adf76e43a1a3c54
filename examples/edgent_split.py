"""The founding paper's first scenario (Edgent / Neurosurgeon): ResNet-50 on a Jetson Xavier NX
with an A100 edge server behind a 5G slice (8 ms one way), and behind a projected 6G link
(0.3 ms). As the uplink rate varies, hetero's scheduler decides which layers stay on the board
and which go to the server, for the least latency or the least energy; each plan is checked
against the best Edgent-style split (the first k nodes on the board, the rest on the server),
found by scoring every k with ``hetero.evaluate``.

Every figure is modeled: both devices are simulated from the catalogue's profiles.

    python examples/edgent_split.py [--rates 1,10,100,1000] [--plot edgent_split.png] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass

import hetero
from hetero import progress
from hetero.catalogue.links import radio

RATES_MBIT_S = (1, 3, 10, 30, 100, 300, 1000, 3000, 10000)
LINKS = {"5G slice": "5g", "6G": "6g"}  # the catalogue's presets: latency and its source


def resnet50() -> hetero.Model:
    """The ResNet-50 that ships with the onnx package (its weights do not change a plan)."""
    import onnx.backend.test

    folder = os.path.join(os.path.dirname(onnx.backend.test.__file__), "data", "light")
    return hetero.load(os.path.join(folder, "light_resnet50.onnx"))


@dataclass
class Point:
    link: str
    rate_mbit_s: float
    objective: str
    on_board: int  # nodes the plan keeps on the Jetson
    nodes: int
    latency_ms: float
    energy_mj: float
    transfer_bytes: int
    best_split_value: float  # the best "first k nodes on the board" split, same objective
    value: float


def uplink(link: str, mbit_s: float) -> hetero.LinkProfile:
    """A radio link of the given one-way latency at another uplink rate (2 W transmit)."""
    preset = hetero.links()[LINKS[link]]
    return radio(f"{link}@{mbit_s:g}Mbit", mbit_s, preset.latency_ms, 2.0,
                 f"{link} uplink at {mbit_s:g} Mbit/s", preset.sources["latency_ms"],
                 "estimate: swept by this example")


def best_split(plan: hetero.Plan, devices: list[hetero.Device], objective: str) -> float:
    """The best plan of Edgent's family: the first k nodes on the board, the rest on the
    server, every k scored under the scheduler's own cost model."""
    board, server = (d.id for d in devices)
    names = [n.name for n in plan.graph.nodes]
    return min(hetero.evaluate(plan.graph, {n: board if i < k else server
                                            for i, n in enumerate(names)},
                               devices, objective, passes=()).value
               for k in range(len(names) + 1))


def point(model: hetero.Model, link: str, mbit_s: float, objective: str) -> Point:
    board = hetero.sim.attach("jetson-xavier-nx-gpu", link="shared")
    server = hetero.sim.attach("a100", link=uplink(link, mbit_s))
    try:
        devices = [board, server]
        plan = hetero.compile(model, devices=devices, objective=objective)
        e = plan.estimate
        kept = sum(device == board.id for device in plan.placement.values())
        return Point(link, mbit_s, objective, kept, len(plan.placement), e.latency_ms, e.energy_mj,
                     e.transfer_bytes, best_split(plan, devices, objective), e.value)
    finally:
        hetero.sim.detach(board)
        hetero.sim.detach(server)


def sweep(rates: tuple[float, ...], objectives: tuple[str, ...] = ("latency", "energy")
          ) -> list[Point]:
    model = resnet50()
    cases = [(link, objective, rate) for link in LINKS for objective in objectives
             for rate in rates]
    points = []
    with progress.step("planning ResNet-50 for each link, objective and uplink rate",
                       total=len(cases)) as advance:
        for link, objective, rate in cases:
            advance(0, f"planning: {link}, least {objective}, {rate:g} Mbit/s")
            points.append(point(model, link, rate, objective))
            advance()
    return points


def plot(points: list[Point], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for (link, objective), style in zip([(k, o) for k in LINKS for o in ("latency", "energy")],
                                        ("o-", "s--", "^-", "v--"), strict=True):
        mine = [p for p in points if p.objective == objective and p.link == link]
        rates, label = [p.rate_mbit_s for p in mine], f"{link}, min {objective}"
        axes[0].plot(rates, [p.latency_ms for p in mine], style, label=label)
        axes[1].plot(rates, [p.energy_mj for p in mine], style, label=label)
        axes[2].plot(rates, [p.on_board for p in mine], style, label=label)
    titles = ("latency (ms, modeled)", "energy per inference (mJ, modeled)",
              "nodes kept on the Jetson")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("uplink rate (Mbit/s)")
        ax.set_title(title)
        ax.legend()
    figure.suptitle("ResNet-50: Jetson Xavier NX GPU + A100 behind a 5G slice or 6G "
                    "(simulated devices, modeled figures)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default=",".join(map(str, RATES_MBIT_S)),
                        help="uplink rates in Mbit/s, comma-separated")
    parser.add_argument("--plot", metavar="PATH.png")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    progress.enable()  # the sweep takes about a minute on a small machine: show it
    points = sweep(tuple(float(r) for r in args.rates.split(",")))
    if args.json:
        print(json.dumps([asdict(p) for p in points], indent=2))
    else:
        print("link      objective  Mbit/s  on board  latency ms  energy mJ  moved bytes  "
              "best split  (all modeled)")
        for p in points:
            print(f"{p.link:9} {p.objective:9} {p.rate_mbit_s:7g} {p.on_board:4}/{p.nodes:<4} "
                  f"{p.latency_ms:10.2f} {p.energy_mj:10.1f} {p.transfer_bytes:12} "
                  f"{p.best_split_value:10.2f}")
    if args.plot:
        plot(points, args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
