"""Graph passes: each rewrites a Graph into an equivalent, cheaper one, and each can be
switched off (``hetero.compile(..., passes=[...])``; ``passes=()`` runs none).

Order matters: Identity/Dropout removal and constant folding expose the Conv -> BatchNorm
(or per-channel Mul/Add) and Conv -> [Add ->] Relu chains the folding and fusion passes look
for; dead-node elimination last.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from hetero.errors import ArgumentError
from hetero.graph.ir import Graph
from hetero.graph.passes import (
    affine,
    batchnorm,
    dead,
    fold,
    fusion,
    identity,
    residual,
    shuffle,
)

Pass = Callable[[Graph], Graph]
PASSES: dict[str, Pass] = {
    "remove_identity": identity.remove_identity,
    "fold_constants": fold.fold_constants,
    "fold_batchnorm": batchnorm.fold_batchnorm,
    "fold_affine": affine.fold_affine,
    "fuse_residual": residual.fuse_residual,
    "fuse_activation": fusion.fuse_activation,
    "fuse_channel_shuffle": shuffle.fuse_channel_shuffle,
    "eliminate_dead": dead.eliminate_dead,
}


def optimise(graph: Graph, passes: Sequence[str] | None = None) -> Graph:
    """``graph`` after the named passes (default: all, in their order)."""
    if isinstance(passes, str) or not (passes is None or isinstance(passes, Iterable)):
        raise ArgumentError(f"passes={passes!r}: give a list of pass names, e.g. "
                            f"passes=[{next(iter(PASSES))!r}] (or passes=() for none)")
    names = list(PASSES) if passes is None else list(passes)
    unknown = [n for n in names if n not in PASSES]
    if unknown:
        raise ArgumentError(f"unknown graph pass(es) {', '.join(unknown)}; known: "
                          f"{', '.join(PASSES)}")
    for name in [n for n in PASSES if n in names]:
        graph = PASSES[name](graph)
    return graph


__all__ = ["PASSES", "optimise"]
