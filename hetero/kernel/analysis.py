"""Which values are the same for every work-item of a group, and where barriers may stand.

Every target needs the rule that all work-items of a group reach the same barriers (OpenCL and
CUDA leave the rest undefined); the CPU generator also uses the uniform values to run control
flow around barriers once per group.
"""

from __future__ import annotations

from hetero.errors import KernelCompileError
from hetero.kernel import ir

GROUP_WIDE = ("group_id", "global_size", "local_size", "num_groups")


def children(expr: ir.Expr) -> tuple[ir.Expr, ...]:
    if isinstance(expr, ir.Unary | ir.Cast):
        return (expr.operand,)
    if isinstance(expr, ir.Binary):
        return (expr.left, expr.right)
    if isinstance(expr, ir.Select):
        return (expr.cond, expr.then, expr.other)
    if isinstance(expr, ir.Call):
        return expr.args
    if isinstance(expr, ir.Load):
        return (expr.index,)
    if isinstance(expr, ir.AtomicAdd):
        return (expr.index, expr.value)
    return ()


def own_expressions(stmt: ir.Stmt) -> list[ir.Expr]:
    """The expressions a statement holds itself (not those of statements nested in it)."""
    return [getattr(stmt, a) for a in ("value", "index", "cond", "start", "stop", "step")
            if hasattr(stmt, a)]


def subexpressions(expr: ir.Expr):
    """``expr`` and every expression inside it, depth first."""
    yield expr
    for child in children(expr):
        yield from subexpressions(child)


def statement_subexpressions(stmt: ir.Stmt) -> list[ir.Expr]:
    """Every expression a statement holds itself, and everything inside them."""
    return [x for e in own_expressions(stmt) for x in subexpressions(e)]


def names_in(expr: ir.Expr) -> set[str]:
    """Variables and arrays an expression reads."""
    found = {expr.name} if isinstance(expr, ir.Var) else set()
    if isinstance(expr, ir.Load | ir.AtomicAdd):
        found.add(expr.array)
    for child in children(expr):
        found |= names_in(child)
    return found


def is_uniform(expr: ir.Expr, uniform: set[str]) -> bool:
    if isinstance(expr, ir.AtomicAdd):
        return False
    if isinstance(expr, ir.WorkItem):
        return expr.what in GROUP_WIDE
    if isinstance(expr, ir.Var) and expr.name not in uniform:
        return False
    if isinstance(expr, ir.Load) and expr.array not in uniform:  # a private array
        return False
    return all(is_uniform(c, uniform) for c in children(expr))


def headers(stmt: ir.Stmt) -> list[ir.Expr]:
    """The expressions that steer a compound statement."""
    if isinstance(stmt, ir.If | ir.While):
        return [stmt.cond]
    if isinstance(stmt, ir.For):
        return [stmt.start, stmt.stop, stmt.step]
    return []


def has_divergent_jump(body: list[ir.Stmt], uniform: set[str]) -> bool:
    """A break/continue under a condition that differs between work-items."""
    for s in body:
        if isinstance(s, ir.If):
            steer = is_uniform(s.cond, uniform)
            inner = s.body + s.orelse
            if (not steer and any(isinstance(j, ir.Jump) for j in ir.walk(inner))) or \
                    has_divergent_jump(inner, uniform):
                return True
    return False


def uniform_variables(kernel: ir.KernelIR) -> set[str]:
    """Variables whose value is the same for every work-item of a group (a fixpoint), and
    the arrays a load at a uniform index reads uniformly: global and local, never private."""
    shared = {n for n, kind in kernel.scratch.items() if kind.space == "local"}
    uniform = {p.name for p in kernel.params} | set(kernel.variables) | shared
    while True:
        varying: set[str] = set()
        _collect(kernel.body, True, uniform, varying)
        if not varying & uniform:
            return uniform
        uniform -= varying


def _collect(body: list[ir.Stmt], steady: bool, uniform: set[str], varying: set[str]) -> None:
    """Add to ``varying`` every variable given a per-work-item value somewhere in ``body``."""
    for s in body:
        if isinstance(s, ir.Assign):
            if not (steady and is_uniform(s.value, uniform)):
                varying.add(s.target)
        elif isinstance(s, ir.If):
            inner = steady and is_uniform(s.cond, uniform)
            _collect(s.body, inner, uniform, varying)
            _collect(s.orelse, inner, uniform, varying)
        elif isinstance(s, ir.For | ir.While):
            inner = steady and loop_is_uniform(s, uniform)
            if isinstance(s, ir.For) and not inner:
                varying.add(s.var)
            _collect(s.body, inner, uniform, varying)


def loop_is_uniform(loop: ir.For | ir.While, uniform: set[str]) -> bool:
    return (all(is_uniform(h, uniform) for h in headers(loop))
            and not has_divergent_jump(loop.body, uniform))


def check_barriers(kernel: ir.KernelIR, name: str) -> None:
    """Refuse barriers a work-item could skip: under divergent control flow, or after return."""
    if not kernel.has_barrier:
        return
    where = kernel.source_file
    for s in ir.walk(kernel.body):
        if isinstance(s, ir.Jump) and s.kind == "return":
            raise KernelCompileError(
                f"{where}:{s.line}: in kernel {name!r}: return in a kernel that uses barrier() "
                "(a work-item that returns early skips the barrier); guard the work with an if")
    uniform = uniform_variables(kernel)
    _check(kernel.body, uniform, where, name)


def _check(body: list[ir.Stmt], uniform: set[str], where: str, name: str) -> None:
    for s in body:
        if not isinstance(s, ir.If | ir.For | ir.While) or not ir.contains_barrier(s):
            continue
        steady = (is_uniform(s.cond, uniform) if isinstance(s, ir.If)
                  else loop_is_uniform(s, uniform))
        if not steady:
            raise KernelCompileError(
                f"{where}:{s.line}: in kernel {name!r}: barrier() inside control flow that "
                "differs between work-items of a group (its condition or bounds depend on the "
                "work-item's id or on such values); every work-item must reach the same "
                "barriers: compute the condition from group ids, sizes and arguments")
        inner = [*s.body, *(s.orelse if isinstance(s, ir.If) else [])]
        _check(inner, uniform, where, name)
