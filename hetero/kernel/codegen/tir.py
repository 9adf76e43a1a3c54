"""IR -> TVMScript (TVM's TIR in Python syntax), for the tvm backend's llvm target.

The layout is the numba CPU target's, whose region planning it inherits: a parallel loop over
work-groups, work-item loops cut at barriers, carried values in per-group context arrays. TIR
differs in the spelling and in three rules. Its values are immutable, so every kernel variable
is declared once per group as a mutable local (TVMScript's ``x: T.int64 = …``, a
one-element local buffer underneath) that LLVM keeps in a register. Its loops
count from zero, so ``range(start, stop, step)`` becomes a trip count and ``start + k * step``.
And the llvm target has no atomic read-modify-write, so a kernel with a global ``atomic_add``
runs its groups one after another (work-items of a group already run in turn), and each
atomic becomes statements run before the one that uses it (refused where that would change
the result: under a condition inside an expression, or beside a read of the same array).
"""

from __future__ import annotations

import math

import numpy as np

from hetero.errors import KernelCompileError
from hetero.kernel import ir
from hetero.kernel.analysis import headers, statement_subexpressions, subexpressions
from hetero.kernel.codegen.cpu import GRID, CPUPrinter
from hetero.kernel.types import BOOL, ArrayType, Scalar, promote

COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
MATH = {"exp": "T.exp", "log": "T.log", "sqrt": "T.sqrt", "tanh": "T.tanh", "erf": "T.erf",
        "sin": "T.sin", "cos": "T.cos", "fabs": "T.abs", "abs": "T.abs", "floor": "T.floor",
        "ceil": "T.ceil", "exp2": "T.exp2", "log2": "T.log2", "rsqrt": "T.rsqrt",
        "pow": "T.pow", "min": "T.min", "max": "T.max"}
BITWISE = {"&": "T.bitwise_and", "|": "T.bitwise_or", "^": "T.bitwise_xor",
           "<<": "T.shift_left", ">>": "T.shift_right"}


def contains_atomic(e: ir.Expr) -> bool:
    return any(isinstance(x, ir.AtomicAdd) for x in subexpressions(e))


def atomic_hazard(s: ir.Stmt) -> str | None:
    """Why running a statement's atomics before the rest of it would change its result:
    one under a condition inside the expression, or the statement reading an array that an
    atomic in it updates (Python would read it first). None when it is safe."""
    exprs = statement_subexpressions(s)
    for x in exprs:
        lazy = (x.then, x.other) if isinstance(x, ir.Select) else (x.right,) \
            if isinstance(x, ir.Binary) and x.op in ("and", "or") else ()
        if any(contains_atomic(branch) for branch in lazy):
            return "runs it only under a condition inside the expression"
    updated = {x.array for x in exprs if isinstance(x, ir.AtomicAdd)}
    read = {x.array for x in exprs if isinstance(x, ir.Load)}
    if updated & read:
        return f"also reads {sorted(updated & read)[0]}, which it updates"
    return None


class TIRPrinter(CPUPrinter):
    minimum = "T.min"
    group_size = "(_ls0 * _ls1 * _ls2)"  # TVM sizes buffers by parameters, not by bound names

    def __init__(self, kernel: ir.KernelIR, entry: str):
        super().__init__(kernel, entry)
        self.arrays = {p.name: p.type for p in kernel.arrays} | kernel.scratch
        self.serial = any(isinstance(e, ir.AtomicAdd) and e.array not in kernel.scratch
                          for s in ir.walk(kernel.body) for e in statement_subexpressions(s))
        self.fresh = 0
        self.depth = 0

    # -- layout -------------------------------------------------------------------------------
    def prologue(self) -> None:
        params = [f"_h_{p.name}: T.handle" if isinstance(p.type, ArrayType)
                  else f"{p.name}: T.{p.type.name}" for p in self.kernel.params]
        grid = [f"{g.format(d)}: T.int64" for g in GRID for d in range(3)]
        self.emit(0, "@T.prim_func")
        self.emit(0, f"def {self.entry}({', '.join(params + grid)}):")
        for p in self.kernel.arrays:
            self.emit(1, f"{p.name} = T.match_buffer(_h_{p.name}, (T.int64(),), "
                         f"{p.type.dtype!r}, align={np.dtype(p.type.dtype).itemsize})")
        loop = "T.serial" if self.serial else "T.parallel"
        self.emit(1, f"for _grp in {loop}(_ng0 * _ng1 * _ng2):")
        self.group_values()

    def allocate_scratch(self) -> None:
        super().allocate_scratch()
        for name, kind in self.kernel.variables.items():
            self.emit(2, f"{name}: T.{kind.name} = {self.const(ir.Const(0, kind))}")

    def allocate(self, name: str, count: str, dtype: str) -> None:
        self.emit(2, f"{name} = T.alloc_buffer(({count},), {dtype!r})")

    def unsigned(self, text: str) -> str:
        return text

    def loop_header(self, s: ir.For, depth: int) -> None:
        """``range(start, stop, step)`` as a zero-based count: start and step bound once."""
        n = self.fresh = self.fresh + 1
        kind = self.kernel.variables[s.var]
        self.emit(depth, f"_s{n} = {self.typed(s.start, kind)}")
        self.emit(depth, f"_t{n} = {self.typed(s.step, kind)}")
        stop = self.typed(s.stop, kind)
        up = f"T.max((({stop}) - _s{n} + _t{n} - 1) // _t{n}, 0)"
        down = f"T.max((_s{n} - ({stop}) - _t{n} - 1) // (-_t{n}), 0)"
        if isinstance(s.step, ir.Const):
            count = up if s.step.value > 0 else down
        else:
            count = f"T.if_then_else(_t{n} > 0, {up}, {down})"
        self.emit(depth, f"for _i{n} in T.serial(T.Cast('int64', {count})):")
        self.emit(depth + 1, f"{s.var} = _s{n} + T.Cast({kind.name!r}, _i{n}) * _t{n}")

    # -- statements ---------------------------------------------------------------------------
    def stmt(self, s: ir.Stmt, depth: int) -> None:
        self.depth = depth  # where atomics met in this statement's expressions are emitted
        if isinstance(s, ir.For | ir.While) and any(contains_atomic(h) for h in headers(s)):
            self.refuse(s, "atomic_add in a loop header",
                        "compute it into a variable inside the loop")
        hazard = atomic_hazard(s)
        if hazard:
            self.refuse(s, f"this statement's atomic_add would run before the rest of it "
                           f"(TIR has no atomic expression), and the statement {hazard}",
                        "put the atomic_add in a statement of its own, under an if if needed")
        if isinstance(s, ir.Eval) and isinstance(s.value, ir.AtomicAdd):
            self.expr(s.value)  # its read-modify-write is the whole statement
        elif isinstance(s, ir.Assign):
            self.emit(depth, f"{s.target} = "
                             f"{self.typed(s.value, self.kernel.variables[s.target])}")
        elif isinstance(s, ir.Store):
            value = self.stored(s.array, s.value)  # Python's order: the value, then the index
            self.emit(depth, f"{s.array}[{self.index(s.array, s.index)}] = {value}")
        else:
            super().stmt(s, depth)

    def refuse(self, s: ir.Stmt, what: str, fix: str) -> None:
        raise KernelCompileError(f"{self.kernel.source_file}:{s.line}: in kernel "
                                 f"{self.kernel.name!r} on tvm: {what}; {fix}")

    def jump(self, s: ir.Jump) -> str:
        return "T.break_loop()" if s.kind == "break" else "T.continue_loop()"

    def stored(self, array: str, value: ir.Expr) -> str:
        """A value as the array's element: float16 arrays round it (LLVM's fptrunc: to
        nearest, ties to even, like NumPy)."""
        kind = self.arrays[array]
        text = self.typed(value, kind.element)
        return f"T.Cast('float16', {text})" if kind.dtype == "float16" else text

    def atomic(self, e: ir.AtomicAdd) -> str:
        """The read-modify-write as statements before the one that uses the old value;
        plain, since work-items of a group take turns and groups run serially here."""
        n = self.fresh = self.fresh + 1
        index = self.index(e.array, e.index)
        self.emit(self.depth, f"_v{n} = {self.typed(e.value, e.type)}")
        self.emit(self.depth, f"_a{n} = {e.array}[{index}]")
        self.emit(self.depth, f"{e.array}[{index}] = _a{n} + _v{n}")
        return f"_a{n}"

    # -- expressions --------------------------------------------------------------------------
    def typed(self, e: ir.Expr, kind: Scalar) -> str:
        """``e`` as a value of ``kind``: literals are printed in it, other values cast, so TIR's
        strictly typed operators see matching operands (NumPy's weak-literal rule)."""
        if isinstance(e, ir.Const):
            return self.const(ir.Const(e.value, kind.strong()))
        text = self.expr(e)
        return text if e.type.strong().name == kind.name else self.cast(text, kind)

    def cast(self, text: str, kind: Scalar) -> str:
        return f"({text} != 0)" if kind.name == "bool" else f"T.Cast({kind.name!r}, {text})"

    def const(self, e: ir.Const) -> str:
        kind = e.type.strong().name
        if kind == "bool":
            return f"T.bool({bool(e.value)})"
        if kind in ("int32", "int64"):
            return f"T.{kind}({int(e.value)})"
        value = float(e.value)
        text = repr(value) if math.isfinite(value) else repr(str(value))
        return f"T.{kind}({text})"

    def expr(self, e: ir.Expr) -> str:
        if isinstance(e, ir.Unary):
            return self.unary(e)
        if isinstance(e, ir.Binary):
            return self.binary(e)
        if isinstance(e, ir.Select):
            return (f"T.if_then_else({self.typed(e.cond, BOOL)}, {self.typed(e.then, e.type)}, "
                    f"{self.typed(e.other, e.type)})")
        if isinstance(e, ir.Cast):
            return self.typed(e.operand, e.type)
        if isinstance(e, ir.Load):
            text = f"{e.array}[{self.index(e.array, e.index)}]"
            return f"T.Cast('float32', {text})" if self.arrays[e.array].dtype == "float16" \
                else text
        return super().expr(e)

    def unary(self, e: ir.Unary) -> str:
        if e.op == "not":
            return self.logical("==", self.typed(e.operand, BOOL), "T.bool(False)")
        operand = self.typed(e.operand, e.type)
        return f"T.bitwise_not({operand})" if e.op == "~" else f"(-{operand})"

    def binary(self, e: ir.Binary) -> str:
        if e.op in ("and", "or"):
            left, right = self.typed(e.left, BOOL), self.typed(e.right, BOOL)
            # lazy, as Python's: the right side may load what the left side guards
            return (f"T.if_then_else({left}, {right}, T.bool(False))" if e.op == "and"
                    else f"T.if_then_else({left}, T.bool(True), {right})")
        kind = promote(e.left.type, e.right.type) if e.op in COMPARISONS else e.type
        left, right = self.typed(e.left, kind), self.typed(e.right, kind)
        if kind.name == "bool":
            return self.logical(e.op, left, right)
        if e.op in BITWISE:
            return f"{BITWISE[e.op]}({left}, {right})"
        if e.op == "**":  # the frontend allows it on floats only
            return f"T.pow({left}, {right})"
        if kind.is_float and e.op in ("//", "%"):
            return self.floor_division(e.op, left, right, kind)
        return f"({left} {e.op} {right})"

    def logical(self, op: str, left: str, right: str) -> str:
        """An operator on two bools, both evaluated. They are compared as int32: TVM 0.27's
        llvm codegen turned ``==`` on two bools into a float compare LLVM rejects."""
        if op in ("&", "|"):
            return f"({left} {'and' if op == '&' else 'or'} {right})"
        op = "!=" if op == "^" else op
        return f"(T.Cast('int32', {left}) {op} T.Cast('int32', {right}))"

    def floor_division(self, op: str, left: str, right: str, kind: Scalar) -> str:
        """Python's float ``//`` and ``%`` (CPython's float_floor_div), from C's exact
        ``fmod``, so ``1 // 0.1`` is 9.0 and ``1 % 0.1`` is 0.0999…, as in NumPy and on the
        cpu target: ``(a - fmod(a, b)) / b`` is an integer up to rounding, so it is rounded to
        the nearest. (TVM's llvm target has no ``fmod`` intrinsic; libm's is called.)"""
        name = "fmod" if kind.name == "float64" else "fmodf"
        mod = f"T.call_pure_extern({kind.name!r}, {name!r}, {left}, {right})"
        zero, one = self.const(ir.Const(0, kind)), self.const(ir.Const(1, kind))
        wrong_sign = (f"T.if_then_else({mod} != {zero}, "
                      f"{self.logical('!=', f'({mod} < {zero})', f'({right} < {zero})')}, "
                      "T.bool(False))")
        if op == "%":
            return f"T.if_then_else({wrong_sign}, {mod} + {right}, {mod})"
        return (f"(T.nearbyint(({left} - {mod}) / {right}) - "
                f"T.if_then_else({wrong_sign}, {one}, {zero}))")

    def call(self, e: ir.Call) -> str:
        args = [self.typed(a, e.type) for a in e.args]
        if e.fn == "fma":
            return f"({args[0]} * {args[1]} + {args[2]})"
        if e.fn == "round_half":
            return f"T.Cast('float32', T.Cast('float16', {args[0]}))"
        return f"{MATH[e.fn]}({', '.join(args)})"


def generate(kernel: ir.KernelIR, entry: str) -> str:
    """The TVMScript of one kernel specialisation."""
    return TIRPrinter(kernel, entry).generate()
