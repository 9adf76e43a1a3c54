"""IR -> OpenCL C. float16 arrays are read and written with vload_half/vstore_half (core
OpenCL, no cl_khr_fp16 needed); bool arrays travel as uchar. Integer ``//`` and ``%`` keep
Python's floor semantics through small helpers, as on the other targets.
"""

from __future__ import annotations

import math

from hetero.kernel import ir
from hetero.kernel.types import ArrayType, Scalar

C_TYPES = {"bool": "bool", "int32": "int", "int64": "long", "float32": "float",
           "float64": "double", "float16": "half"}
C_OPS = {"and": "&&", "or": "||"}
C_MATH = {"exp": "exp", "log": "log", "sqrt": "sqrt", "tanh": "tanh", "erf": "erf", "sin": "sin",
          "cos": "cos", "fabs": "fabs", "floor": "floor", "ceil": "ceil", "exp2": "exp2",
          "log2": "log2", "rsqrt": "rsqrt", "pow": "pow", "fma": "fma"}
WORK_ITEM = {"global_id": "get_global_id", "local_id": "get_local_id",
             "group_id": "get_group_id", "global_size": "get_global_size",
             "local_size": "get_local_size", "num_groups": "get_num_groups"}
HELPERS = "".join(
    f"inline {t} hk_floordiv_{s}({t} a, {t} b) {{ {t} q = a / b;\n"
    f"  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q; }}\n"
    f"inline {t} hk_mod_{s}({t} a, {t} b) {{ {t} r = a % b;\n"
    f"  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r; }}\n"
    for t, s in (("long", "l"), ("int", "i")))


def float_helpers(t: str, s: str) -> str:
    """Python's float // and % for C type ``t`` (CPython's float_floor_div: from fmod, so
    ``1 // 0.1`` is 9.0 and ``1 % 0.1`` is 0.0999…, as in NumPy)."""
    return (f"inline {t} hk_fmod_{s}({t} a, {t} b) {{ {t} m = fmod(a, b);\n"
            f"  return (m != 0 && ((m < 0) != (b < 0))) ? m + b : m; }}\n"
            f"inline {t} hk_ffloordiv_{s}({t} a, {t} b) {{ {t} m = fmod(a, b);\n"
            f"  {t} d = (a - m) / b - ((m != 0 && ((m < 0) != (b < 0))) ? 1 : 0);\n"
            f"  {t} f = floor(d); return d - f > 0.5 ? f + 1 : f; }}\n")
ATOMIC_FLOAT = """\
inline float hk_atomic_add_f_{space}(volatile __{space} float *p, float v) {{
  union {{ unsigned int i; float f; }} old, new_;
  do {{ old.f = *p; new_.f = old.f + v; }}
  while (atomic_cmpxchg((volatile __{space} unsigned int *)p, old.i, new_.i) != old.i);
  return old.f;
}}
"""
ATOMIC_DOUBLE = """\
inline double hk_atomic_add_d_{space}(volatile __{space} double *p, double v) {{
  union {{ unsigned long i; double f; }} old, new_;
  do {{ old.f = *p; new_.f = old.f + v; }}
  while (atom_cmpxchg((volatile __{space} unsigned long *)p, old.i, new_.i) != old.i);
  return old.f;
}}
"""
ROUND_HALF = """\
inline float hk_round_half(float v) { ushort h; vstore_half_rte(v, 0, (half *)&h);
  return vload_half(0, (half *)&h); }
"""
PRIVATE_ADD = """\
inline {t} hk_private_add_{name}({t} *p, {t} v) {{ {t} old = *p; *p = old + v; return old; }}
"""
FP64 = "#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n"
INT64_ATOMICS = ("#pragma OPENCL EXTENSION cl_khr_int64_base_atomics : enable\n"
                 "#pragma OPENCL EXTENSION cl_khr_local_int32_base_atomics : enable\n"
                 "#pragma OPENCL EXTENSION cl_khr_global_int32_base_atomics : enable\n")


def c_type(kind: Scalar) -> str:
    return C_TYPES[kind.name]


class OpenCLPrinter:
    def __init__(self, kernel: ir.KernelIR, entry: str):
        self.kernel, self.entry = kernel, entry
        self.lines: list[str] = []
        self.helpers: set[str] = set()
        self.arrays: dict[str, ArrayType] = {p.name: p.type for p in kernel.arrays}
        self.arrays.update(kernel.scratch)

    # -- expressions --------------------------------------------------------------------------
    def expr(self, e: ir.Expr) -> str:
        if isinstance(e, ir.Const):
            return self.const(e)
        if isinstance(e, ir.Var):
            return e.name
        if isinstance(e, ir.Unary):
            return f"({'!' if e.op == 'not' else e.op}{self.expr(e.operand)})"
        if isinstance(e, ir.Binary):
            return self.binary(e)
        if isinstance(e, ir.Select):
            return f"({self.expr(e.cond)} ? {self.expr(e.then)} : {self.expr(e.other)})"
        if isinstance(e, ir.Call):
            return self.call(e)
        if isinstance(e, ir.Cast):
            inner = self.expr(e.operand)
            return f"({inner} != 0)" if e.type.name == "bool" else f"(({c_type(e.type)}){inner})"
        if isinstance(e, ir.Load):
            return self.load(e)
        if isinstance(e, ir.WorkItem):
            return f"((long){WORK_ITEM[e.what]}({e.dim}))"
        if isinstance(e, ir.AtomicAdd):
            return self.atomic(e)
        raise TypeError(f"unknown IR expression {e!r}")

    def const(self, e: ir.Const) -> str:
        kind, value = e.type.strong().name, e.value
        if kind == "bool":
            return "true" if value else "false"
        if kind in ("int32", "int64"):
            return f"{int(value)}{'L' if kind == 'int64' else ''}"
        if math.isnan(value):
            text = "NAN"
        elif math.isinf(value):
            text = "INFINITY" if value > 0 else "(-INFINITY)"
        else:
            text = repr(float(value))
            if "e" not in text and "." not in text:
                text += ".0"
            return text if kind == "float64" else f"{text}f"
        return text if kind == "float32" else f"((double){text})"

    def binary(self, e: ir.Binary) -> str:
        left, right = self.expr(e.left), self.expr(e.right)
        kind = e.left.type
        if e.op in ("//", "%") and not kind.is_float:
            suffix = "l" if kind.name == "int64" else "i"
            name = "floordiv" if e.op == "//" else "mod"
            return f"hk_{name}_{suffix}({left}, {right})"
        if e.op in ("//", "%"):
            t, suffix = ("double", "d") if e.type.name == "float64" else ("float", "f")
            self.helpers.add(float_helpers(t, suffix))
            name = "ffloordiv" if e.op == "//" else "fmod"
            return f"hk_{name}_{suffix}({left}, {right})"
        return f"({left} {C_OPS.get(e.op, e.op)} {right})"

    def call(self, e: ir.Call) -> str:
        args = [self.expr(a) for a in e.args]
        if e.fn == "round_half":
            self.helpers.add(ROUND_HALF)
            return f"hk_round_half({args[0]})"
        if e.fn in ("min", "max"):
            name = ("f" + e.fn) if e.type.is_float else e.fn
            return f"{name}({args[0]}, {args[1]})"
        if e.fn == "abs":
            return f"({args[0]} < 0 ? -{args[0]} : {args[0]})"
        return f"{C_MATH[e.fn]}({', '.join(args)})"

    def load(self, e: ir.Load) -> str:
        kind = self.arrays[e.array]
        index = self.expr(e.index)
        if kind.dtype == "float16":
            return f"vload_half({index}, {self.halves(e.array)})"
        if kind.dtype == "bool" and kind.space == "global":
            return f"({e.array}[{index}] != 0)"
        return f"{e.array}[{index}]"

    def atomic(self, e: ir.AtomicAdd) -> str:
        kind = self.arrays[e.array]
        space = "global" if kind.space == "global" else "local"
        pointer, value = f"&{e.array}[{self.expr(e.index)}]", self.expr(e.value)
        if kind.space == "private":
            self.helpers.add(PRIVATE_ADD.format(t=C_TYPES[kind.dtype], name=kind.dtype))
            return f"hk_private_add_{kind.dtype}({pointer}, {value})"
        if kind.dtype == "float32":
            self.helpers.add(ATOMIC_FLOAT.format(space=space))
            return f"hk_atomic_add_f_{space}({pointer}, {value})"
        if kind.dtype == "float64":
            self.helpers.add(ATOMIC_DOUBLE.format(space=space))
            return f"hk_atomic_add_d_{space}({pointer}, {value})"
        return f"{'atom_add' if kind.dtype == 'int64' else 'atomic_add'}({pointer}, {value})"

    # -- statements ---------------------------------------------------------------------------
    def emit(self, depth: int, text: str) -> None:
        self.lines.append("  " * depth + text)

    def stmts(self, body: list[ir.Stmt], depth: int) -> None:
        for s in body:
            self.stmt(s, depth)

    def stmt(self, s: ir.Stmt, depth: int) -> None:
        if isinstance(s, ir.Assign):
            self.emit(depth, f"{s.target} = {self.expr(s.value)};")
        elif isinstance(s, ir.Store):
            self.emit(depth, self.store(s))
        elif isinstance(s, ir.If):
            self.emit(depth, f"if ({self.expr(s.cond)}) {{")
            self.stmts(s.body, depth + 1)
            if s.orelse:
                self.emit(depth, "} else {")
                self.stmts(s.orelse, depth + 1)
            self.emit(depth, "}")
        elif isinstance(s, ir.For):
            self.emit(depth, f"for ({s.var} = {self.expr(s.start)}; {self.loop_test(s)}; "
                             f"{s.var} += {self.expr(s.step)}) {{")
            self.stmts(s.body, depth + 1)
            self.emit(depth, "}")
        elif isinstance(s, ir.While):
            self.emit(depth, f"while ({self.expr(s.cond)}) {{")
            self.stmts(s.body, depth + 1)
            self.emit(depth, "}")
        elif isinstance(s, ir.Jump):
            self.emit(depth, f"{s.kind};")
        elif isinstance(s, ir.Barrier):
            self.emit(depth, "barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE);")
        elif isinstance(s, ir.Eval):
            self.emit(depth, f"{self.expr(s.value)};")
        else:
            raise TypeError(f"unknown IR statement {s!r}")

    def halves(self, array: str) -> str:
        """A ``half *`` to a float16 array: scratch arrays are ushort storage, since OpenCL C
        without cl_khr_fp16 declares no half variables, only pointers to them."""
        space = self.arrays[array].space
        return array if space == "global" else f"(__{space} half *){array}"

    def store(self, s: ir.Store) -> str:
        kind = self.arrays[s.array]
        index, value = self.expr(s.index), self.expr(s.value)
        if kind.dtype == "float16":
            return f"vstore_half_rte({value}, {index}, {self.halves(s.array)});"
        if kind.dtype == "bool" and kind.space == "global":
            return f"{s.array}[{index}] = (uchar)({value});"
        return f"{s.array}[{index}] = {value};"

    def loop_test(self, s: ir.For) -> str:
        stop = self.expr(s.stop)
        if isinstance(s.step, ir.Const):
            return f"{s.var} {'<' if s.step.value > 0 else '>'} {stop}"
        step = self.expr(s.step)
        return f"({step} > 0 ? {s.var} < {stop} : {s.var} > {stop})"

    # -- layout -------------------------------------------------------------------------------
    def param(self, p: ir.Param) -> str:
        kind = p.type
        if isinstance(kind, ArrayType):
            element = "uchar" if kind.dtype == "bool" else C_TYPES[kind.dtype]
            return f"__global {element} *restrict {p.name}"
        return f"{'int' if kind.name == 'bool' else c_type(kind)} {p.name}"

    def generate(self) -> str:
        params = [self.param(p) for p in self.kernel.params]
        self.emit(0, f"__kernel void {self.entry}({', '.join(params)}) {{")
        for name, kind in self.kernel.scratch.items():
            where = "__local " if kind.space == "local" else ""
            element = "ushort" if kind.dtype == "float16" else C_TYPES[kind.dtype]
            self.emit(1, f"{where}{element} {name}[{kind.size}];")
        for name, kind in self.kernel.variables.items():
            self.emit(1, f"{c_type(kind)} {name};")
        self.stmts(self.kernel.body, 1)
        self.emit(0, "}")
        body = "\n".join(self.lines) + "\n"
        uses_double = "double" in body or any(
            isinstance(p.type, ArrayType) and p.type.dtype == "float64"
            for p in self.kernel.params)
        head = (FP64 if uses_double else "") + INT64_ATOMICS + HELPERS
        return head + "".join(sorted(self.helpers)) + body


def generate(kernel: ir.KernelIR, entry: str) -> str:
    """The OpenCL C source of one kernel specialisation."""
    return OpenCLPrinter(kernel, entry).generate()
