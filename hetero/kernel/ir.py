"""The typed kernel IR every code generator reads: structured statements over typed expressions.

Arrays are flat: the frontend turns ``a[i, j]`` into one linear index from the array's extents,
so a target only ever sees ``Load(a, index)``. Shapes of global arrays arrive as hidden scalar
parameters named ``<array>__s<d>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hetero.kernel.types import ArrayType, Scalar

# -- expressions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Const:
    value: bool | int | float
    type: Scalar


@dataclass(frozen=True)
class Var:
    name: str
    type: Scalar


@dataclass(frozen=True)
class Unary:
    op: str  # "-", "not", "~"
    operand: Expr
    type: Scalar


@dataclass(frozen=True)
class Binary:
    op: str  # + - * / // % ** & | ^ << >> and or, and comparisons < <= > >= == !=
    left: Expr
    right: Expr
    type: Scalar


@dataclass(frozen=True)
class Select:
    cond: Expr
    then: Expr
    other: Expr
    type: Scalar


@dataclass(frozen=True)
class Call:
    """A math intrinsic: exp, log, sqrt, tanh, erf, pow, fabs, floor, ceil, min, max, fma, …"""

    fn: str
    args: tuple[Expr, ...]
    type: Scalar


@dataclass(frozen=True)
class Cast:
    operand: Expr
    type: Scalar


@dataclass(frozen=True)
class Load:
    array: str
    index: Expr
    type: Scalar


@dataclass(frozen=True)
class WorkItem:
    """global_id, local_id, group_id, global_size, local_size or num_groups along ``dim``."""

    what: str
    dim: int
    type: Scalar


@dataclass(frozen=True)
class AtomicAdd:
    """``array[index] += value`` atomically; yields the old value."""

    array: str
    index: Expr
    value: Expr
    type: Scalar


Expr = Const | Var | Unary | Binary | Select | Call | Cast | Load | WorkItem | AtomicAdd

# -- statements -------------------------------------------------------------------------------


@dataclass
class Assign:
    target: str
    value: Expr
    line: int


@dataclass
class Store:
    array: str
    index: Expr
    value: Expr
    line: int


@dataclass
class If:
    cond: Expr
    body: list[Stmt]
    orelse: list[Stmt]
    line: int


@dataclass
class For:
    """``for var in range(start, stop, step)``; ``step`` is a constant when its sign matters."""

    var: str
    start: Expr
    stop: Expr
    step: Expr
    body: list[Stmt]
    line: int


@dataclass
class While:
    cond: Expr
    body: list[Stmt]
    line: int


@dataclass
class Jump:
    """break, continue or return (a work-item's early exit)."""

    kind: str
    line: int


@dataclass
class Barrier:
    line: int


@dataclass
class Eval:
    """An expression kept for its effect (an atomic whose old value is unused)."""

    value: Expr
    line: int


Stmt = Assign | Store | If | For | While | Jump | Barrier | Eval


@dataclass
class Param:
    name: str
    type: Scalar | ArrayType


@dataclass
class KernelIR:
    """One specialisation: the kernel's name, parameters (hidden extents included) and body."""

    name: str
    params: list[Param]
    body: list[Stmt]
    variables: dict[str, Scalar]
    scratch: dict[str, ArrayType]  # local and private arrays, by variable name
    dims: int  # highest work-item dimension used + 1 (at least 1)
    written: set[str] = field(default_factory=set)  # global arrays the kernel stores to
    has_barrier: bool = False
    has_return: bool = False
    source_file: str = ""

    @property
    def arrays(self) -> list[Param]:
        return [p for p in self.params if isinstance(p.type, ArrayType)]


def walk(stmts: list[Stmt]):
    """Every statement, depth first."""
    for s in stmts:
        yield s
        if isinstance(s, If):
            yield from walk(s.body)
            yield from walk(s.orelse)
        elif isinstance(s, For | While):
            yield from walk(s.body)


def contains_barrier(stmt: Stmt) -> bool:
    return any(isinstance(s, Barrier) for s in walk([stmt]))
