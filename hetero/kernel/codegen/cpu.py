"""IR -> Python for numba's CPU target: work-groups in parallel (``prange``), work-items in loops.

The body is cut into regions, each a loop over the group's work-items (PoCL's "work-item
loops"). Cuts fall at barriers and, in kernels without ``return``, around loops whose bounds
are the same for the whole group: such a loop runs once per group with the work-item loop
inside it, which lets LLVM vectorise across work-items (legal, since work-items between
barriers may run in any interleaving). Control flow around cuts is uniform (the frontend
checks it for barriers). Values a work-item carries from one region to the next live in
per-group context arrays, loaded into locals at a region's start and stored back at its end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hetero.kernel import ir
from hetero.kernel.analysis import (
    children,
    loop_is_uniform,
    names_in,
    own_expressions,
    uniform_variables,
)
from hetero.kernel.codegen.pysource import NP_TYPES, PythonPrinter

GRID = ("_gs{0}", "_ls{0}", "_ng{0}")
WORK_ITEM = {"global_id": "(_gr{0} * _ls{0} + _l{0})", "local_id": "_l{0}",
             "group_id": "_gr{0}", "global_size": "_gs{0}", "local_size": "_ls{0}",
             "num_groups": "_ng{0}"}


def storage(dtype: str) -> str:
    """float16 arrays are handed to numba as float32 (numba's CPU target has no float16)."""
    return NP_TYPES["float32" if dtype == "float16" else dtype]


@dataclass
class Region:
    body: list[ir.Stmt]
    in_loop: bool
    names: set[str] = field(default_factory=set)
    assigned: set[str] = field(default_factory=set)
    bound: frozenset[str] = frozenset()  # variables of the group-level loops around it


def mentioned(stmts: list[ir.Stmt]) -> tuple[set[str], set[str]]:
    """(every name read or written, the scalar variables assigned) in some statements."""
    names: set[str] = set()
    assigned: set[str] = set()
    for s in ir.walk(stmts):
        for e in own_expressions(s):
            names |= names_in(e)
        target = getattr(s, "target", None) or getattr(s, "var", None)
        if target:
            names.add(target)
            assigned.add(target)
    return names, assigned


def defined_first(region: Region, var: str) -> bool:
    """The region's first mention of ``var`` assigns it outright (no value carried in)."""
    for s in region.body:
        names, _ = mentioned([s])
        if var in names:
            return isinstance(s, ir.Assign) and s.target == var and \
                var not in names_in(s.value)
    return False


class CPUPrinter(PythonPrinter):
    minimum = "min"
    group_size = "_nwi"  # work-items in a group: what per-work-item scratch is sized by

    def __init__(self, kernel: ir.KernelIR, entry: str):
        super().__init__(kernel)
        self.entry = entry
        self.uniform = uniform_variables(kernel)
        # A uniform value updated from itself (``left = left // n``) must not be re-run once
        # per work-item, so it is carried per work-item like any other value.
        self.stable = self.uniform - {s.target for s in ir.walk(kernel.body)
                                      if isinstance(s, ir.Assign)
                                      and s.target in names_in(s.value)}
        self.interchange = not kernel.has_return
        self.multi = any(self.cuts(s) for s in ir.walk(kernel.body))
        self.regions: list[Region] = []
        self.promoted: dict[str, str] = {}  # carried variable -> its scalar type name
        self.recomputed: dict[str, ir.Expr] = {}

    def work_item(self, e: ir.WorkItem) -> str:
        return WORK_ITEM[e.what].format(e.dim)

    def index(self, array: str, index: ir.Expr) -> str:
        """Unsigned, so numba skips its negative-index wrap-around: that branch on every
        access kept LLVM from vectorising (a flat kernel index is never negative)."""
        scratch = self.kernel.scratch.get(array)
        text = self.expr(index)
        if self.multi and scratch is not None and scratch.space == "private":
            text = f"_li * {scratch.size} + {text}"
        return self.unsigned(text)

    def unsigned(self, text: str) -> str:
        return f"np.uint64({text})"

    def widened_half(self, array: str) -> bool:
        kind = self.kernel.scratch.get(array) or next(
            p.type for p in self.kernel.arrays if p.name == array)
        return kind.dtype == "float16"

    def round_half(self, value: str) -> str:
        return f"_round_half({value})"

    def atomic(self, e: ir.AtomicAdd) -> str:
        helper = "_plain_add" if e.array in self.kernel.scratch else "_atomic_add"
        return f"{helper}({e.array}, {self.index(e.array, e.index)}, {self.expr(e.value)})"

    def jump(self, s: ir.Jump) -> str:
        """A work-item's ``return`` ends only its own turn of the work-item loop (the frontend
        keeps it out of kernel loops, and a kernel with one has no barriers)."""
        return "continue" if s.kind == "return" else s.kind

    def barrier(self) -> str:  # pragma: no cover - barriers split regions instead
        raise AssertionError("barriers are region boundaries on the CPU")

    def cuts(self, s: ir.Stmt | None) -> bool:
        """Whether a statement ends a work-item region (a barrier, or runs once per group)."""
        if s is None or isinstance(s, ir.Barrier) or ir.contains_barrier(s):
            return True
        return (self.interchange and isinstance(s, ir.For)
                and loop_is_uniform(s, self.uniform))

    # -- layout -------------------------------------------------------------------------------
    def generate(self) -> str:
        self.prologue()
        if self.multi:
            self.plan(self.kernel.body, in_loop=False)
            self.promote()
        self.allocate_scratch()
        if self.multi:
            self.group(self.kernel.body, 2, iter(self.regions))
        else:
            self.region(Region(self.kernel.body, False), 2)
        return "\n".join(self.lines) + "\n"

    def prologue(self) -> None:
        """The function, its parallel loop over work-groups and the group's own values."""
        params = [p.name for p in self.kernel.params]
        grid = [g.format(d) for g in GRID for d in range(3)]
        self.emit(0, f"def {self.entry}({', '.join(params + grid)}):")
        self.emit(1, "for _grp in prange(_ng0 * _ng1 * _ng2):")
        self.group_values()

    def group_values(self) -> None:
        """Group ids from the flat group number, the group's work-item count and extents."""
        self.emit(2, "_gr0 = _grp % _ng0")
        self.emit(2, "_gr1 = (_grp // _ng0) % _ng1")
        self.emit(2, "_gr2 = _grp // (_ng0 * _ng1)")
        self.emit(2, "_nwi = _ls0 * _ls1 * _ls2")
        for d in range(3):
            self.emit(2, f"_e{d} = {self.minimum}(_ls{d}, _gs{d} - _gr{d} * _ls{d})")

    def allocate_scratch(self) -> None:
        for name, kind in self.kernel.scratch.items():
            count = f"{self.group_size} * {kind.size}" \
                if self.multi and kind.space == "private" else str(kind.size)
            self.allocate(name, count, kind.dtype)
        for var, dtype in self.promoted.items():
            self.allocate(f"_c_{var}", self.group_size, dtype)

    def allocate(self, name: str, count: str, dtype: str) -> None:
        self.emit(2, f"{name} = np.empty({count}, {storage(dtype)})")

    def plan(self, body: list[ir.Stmt], in_loop: bool, bound: frozenset[str] = frozenset()
             ) -> None:
        """Cut a body into regions at barriers (same walk as ``group``)."""
        segment: list[ir.Stmt] = []
        for s in [*body, None]:
            if self.cuts(s):
                if segment:
                    names, assigned = mentioned(segment)
                    self.regions.append(Region(segment, in_loop, names, assigned, bound))
                segment = []
                if isinstance(s, ir.If):
                    self.plan(s.body, in_loop, bound)
                    self.plan(s.orelse, in_loop, bound)
                elif isinstance(s, ir.For):
                    self.plan(s.body, True, bound | {s.var})
                elif isinstance(s, ir.While):
                    self.plan(s.body, True, bound)
            else:
                segment.append(s)

    def rematerialisable(self) -> None:
        """Variables set once, up front, from work-item ids and uniform values: recomputed in
        each region rather than stored, so LLVM still sees ``lc = _l0`` (contiguous access)."""
        counts: dict[str, int] = {}
        for s in ir.walk(self.kernel.body):
            if isinstance(s, ir.Assign):
                counts[s.target] = counts.get(s.target, 0) + 1
        for s in self.kernel.body:
            if not isinstance(s, ir.Assign) or counts[s.target] != 1 or not self.pure(s.value):
                continue
            self.recomputed[s.target] = s.value

    def pure(self, e: ir.Expr) -> bool:
        if isinstance(e, ir.Load | ir.AtomicAdd):
            return False
        if isinstance(e, ir.Var) and e.name not in self.uniform and e.name not in self.recomputed:
            return False
        return all(self.pure(c) for c in children(e))

    def promote(self) -> None:
        """Non-uniform variables a work-item carries between regions get context arrays."""
        self.rematerialisable()
        seen: dict[str, list[Region]] = {}
        for r in self.regions:
            for name in r.names:
                seen.setdefault(name, []).append(r)
        for var, kind in self.kernel.variables.items():
            where = seen.get(var, [])
            local = len(where) == 1 and (not where[0].in_loop or defined_first(where[0], var))
            if where and not local and var not in self.stable and var not in self.recomputed:
                self.promoted[var] = kind.name

    def group(self, body: list[ir.Stmt], depth: int, regions) -> None:
        segment: list[ir.Stmt] = []
        for s in [*body, None]:
            if self.cuts(s):
                if segment:
                    self.region(next(regions), depth)
                segment = []
                if isinstance(s, ir.If):
                    self.emit(depth, f"if {self.expr(s.cond)}:")
                    self.group_body(s.body, depth + 1, regions)
                    self.emit(depth, "else:")
                    self.group_body(s.orelse, depth + 1, regions)
                elif isinstance(s, ir.For):
                    self.loop_header(s, depth)
                    self.group_body(s.body, depth + 1, regions)
                elif isinstance(s, ir.While):
                    self.emit(depth, f"while {self.expr(s.cond)}:")
                    self.group_body(s.body, depth + 1, regions)
            else:
                segment.append(s)

    def group_body(self, body: list[ir.Stmt], depth: int, regions) -> None:
        mark = len(self.lines)
        self.group(body, depth, regions)
        if len(self.lines) == mark:
            self.emit(depth, "pass")

    def region(self, region: Region, depth: int) -> None:
        self.emit(depth, "for _l2 in range(_e2):")
        self.emit(depth + 1, "for _l1 in range(_e1):")
        self.emit(depth + 2, "for _l0 in range(_e0):")
        inner = depth + 3
        if self.multi:
            self.emit(inner, "_li = (_l2 * _ls1 + _l1) * _ls0 + _l0")
        for var, value in self.recomputed.items():
            self.stmt(ir.Assign(var, value, 0), inner)
        # A group-level loop's variable is the loop's own, whatever other regions keep.
        carried = [v for v in self.promoted if v in region.names and v not in region.bound]
        for var in carried:
            self.emit(inner, f"{var} = _c_{var}[{self.unsigned('_li')}]")
        self.stmts(region.body, inner)
        for var in carried:
            if var in region.assigned:
                self.emit(inner, f"_c_{var}[{self.unsigned('_li')}] = {var}")


def generate(kernel: ir.KernelIR, entry: str) -> str:
    """The numba-CPU Python source of one kernel specialisation."""
    return CPUPrinter(kernel, entry).generate()
