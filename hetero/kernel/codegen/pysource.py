"""The Python-source printer shared by the numba targets (CPU and CUDA).

Both targets compile Python; they differ only in how work-item ids, scratch arrays, atomics and
barriers are spelled, which subclasses fill in.
"""

from __future__ import annotations

import linecache
import math
from typing import Any

import numpy as np

from hetero.kernel import ir
from hetero.kernel.types import Scalar

PY_OPS = {"and": "and", "or": "or"}
NP_TYPES = {"bool": "np.bool_", "int32": "np.int32", "int64": "np.int64",
            "float16": "np.float16", "float32": "np.float32", "float64": "np.float64"}
MATH_FN = {"exp": "math.exp", "log": "math.log", "sqrt": "math.sqrt", "tanh": "math.tanh",
           "erf": "math.erf", "sin": "math.sin", "cos": "math.cos", "fabs": "abs",
           "abs": "abs", "min": "min", "max": "max", "pow": "math.pow", "log2": "math.log2"}


def load_python(source: str, entry: str, names: dict[str, Any]) -> Any:
    """The function ``entry`` defined by generated source; the source is registered with
    linecache so tracebacks and numba's errors can show it."""
    filename = f"<hetero kernel {entry}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"np": np, "math": math, **names}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - our generated code
    return namespace[entry]


class PythonPrinter:
    """Prints IR as Python for numba; subclasses name the work-item and memory primitives."""

    indent_unit = "    "

    def __init__(self, kernel: ir.KernelIR):
        self.kernel = kernel
        self.lines: list[str] = []

    # -- target hooks -------------------------------------------------------------------------
    def work_item(self, e: ir.WorkItem) -> str:
        raise NotImplementedError

    def atomic(self, e: ir.AtomicAdd) -> str:
        raise NotImplementedError

    def index(self, array: str, index: ir.Expr) -> str:
        return self.expr(index)

    def load(self, e: ir.Load) -> str:
        return f"{e.array}[{self.index(e.array, e.index)}]"

    def widened_half(self, array: str) -> bool:
        """Whether ``array`` holds float16 values in float32 storage on this target."""
        return False

    def round_half(self, value: str) -> str:
        """``value`` rounded to the nearest float16, kept in float32: what a float16 store
        followed by a load gives on a target with real float16 memory."""
        raise NotImplementedError

    def floor(self, x: str, kind: Scalar) -> str:
        return f"np.floor({x})"

    def ceil(self, x: str, kind: Scalar) -> str:
        return f"np.ceil({x})"

    # -- expressions --------------------------------------------------------------------------
    def expr(self, e: ir.Expr) -> str:
        if isinstance(e, ir.Const):
            return self.const(e)
        if isinstance(e, ir.Var):
            return e.name
        if isinstance(e, ir.Unary):
            return f"({e.op} {self.expr(e.operand)})" if e.op == "not" else \
                f"({e.op}{self.expr(e.operand)})"
        if isinstance(e, ir.Binary):
            return f"({self.expr(e.left)} {PY_OPS.get(e.op, e.op)} {self.expr(e.right)})"
        if isinstance(e, ir.Select):
            return f"({self.expr(e.then)} if {self.expr(e.cond)} else {self.expr(e.other)})"
        if isinstance(e, ir.Call):
            return self.call(e)
        if isinstance(e, ir.Cast):
            return f"{NP_TYPES[e.type.name]}({self.expr(e.operand)})"
        if isinstance(e, ir.Load):
            return self.load(e)
        if isinstance(e, ir.WorkItem):
            return self.work_item(e)
        if isinstance(e, ir.AtomicAdd):
            return self.atomic(e)
        raise TypeError(f"unknown IR expression {e!r}")

    def const(self, e: ir.Const) -> str:
        value = e.value
        if e.type.name == "bool":
            return repr(bool(value))
        if e.type.is_float:
            text = repr(float(value)) if math.isfinite(value) else \
                f"np.{'nan' if math.isnan(value) else 'inf'}"
            if value == -math.inf:
                text = "-np.inf"
            return text if e.type.name == "float64" else f"{NP_TYPES[e.type.name]}({text})"
        return repr(int(value)) if e.type.name == "int64" else f"np.int32({int(value)})"

    def call(self, e: ir.Call) -> str:
        args = [self.expr(a) for a in e.args]
        kind = e.type
        if e.fn == "fma":
            text = f"({args[0]} * {args[1]} + {args[2]})"
        elif e.fn == "round_half":
            return self.round_half(args[0])
        elif e.fn == "floor":
            text = self.floor(args[0], kind)
        elif e.fn == "ceil":
            text = self.ceil(args[0], kind)
        elif e.fn == "exp2":
            text = f"math.pow(2.0, {args[0]})"
        elif e.fn == "rsqrt":
            text = f"(1.0 / math.sqrt({args[0]}))"
        else:
            text = f"{MATH_FN[e.fn]}({', '.join(args)})"
        return f"{NP_TYPES[kind.name]}({text})" if kind.is_float else text

    # -- statements ---------------------------------------------------------------------------
    def emit(self, depth: int, text: str) -> None:
        self.lines.append(self.indent_unit * depth + text)

    def stmts(self, body: list[ir.Stmt], depth: int) -> None:
        if not body:
            self.emit(depth, "pass")
        for s in body:
            self.stmt(s, depth)

    def stmt(self, s: ir.Stmt, depth: int) -> None:
        if isinstance(s, ir.Assign):
            self.emit(depth, f"{s.target} = {self.expr(s.value)}")
        elif isinstance(s, ir.Store):
            value = self.expr(s.value)
            if self.widened_half(s.array):
                value = self.round_half(value)
            self.emit(depth, f"{s.array}[{self.index(s.array, s.index)}] = {value}")
        elif isinstance(s, ir.If):
            self.emit(depth, f"if {self.expr(s.cond)}:")
            self.stmts(s.body, depth + 1)
            if s.orelse:
                self.emit(depth, "else:")
                self.stmts(s.orelse, depth + 1)
        elif isinstance(s, ir.For):
            self.loop_header(s, depth)
            self.stmts(s.body, depth + 1)
        elif isinstance(s, ir.While):
            self.emit(depth, f"while {self.expr(s.cond)}:")
            self.stmts(s.body, depth + 1)
        elif isinstance(s, ir.Jump):
            self.emit(depth, self.jump(s))
        elif isinstance(s, ir.Barrier):
            self.emit(depth, self.barrier())
        elif isinstance(s, ir.Eval):
            self.emit(depth, self.expr(s.value))
        else:
            raise TypeError(f"unknown IR statement {s!r}")

    def loop_header(self, s: ir.For, depth: int) -> None:
        self.emit(depth, f"for {s.var} in range({self.expr(s.start)}, {self.expr(s.stop)}, "
                         f"{self.expr(s.step)}):")

    def jump(self, s: ir.Jump) -> str:
        return s.kind

    def barrier(self) -> str:
        raise NotImplementedError
