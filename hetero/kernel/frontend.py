"""Python AST -> typed kernel IR, for one signature (the types of the launch arguments).

Variables are typed like NumPy 2 would type them: a variable's type is the promotion of every
value assigned to it, literals adopting their partner's type, found by iterating to a fixpoint.
Anything outside the language raises KernelCompileError with the file, line and construct.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from hetero.errors import KernelCompileError
from hetero.kernel import ir
from hetero.kernel.language import MATH, WORK_ITEM, intrinsic_name
from hetero.kernel.types import (
    BOOL,
    FLOAT64,
    INT64,
    WEAK_INT,
    ArrayType,
    Scalar,
    compute_type,
    of_value,
    promote,
    unify,
)

ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
         ast.Mod: "%", ast.Pow: "**", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^",
         ast.LShift: "<<", ast.RShift: ">>"}
COMPARE = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
FLOAT_ONLY = {"exp", "log", "sqrt", "tanh", "erf", "sin", "cos", "fabs", "floor", "ceil", "exp2",
              "log2", "rsqrt", "pow", "fma"}
CAST_NAMES = {"float16": "float32", "float32": "float32", "float64": "float64",
              "int32": "int32", "int64": "int64", "bool": "bool"}
MAX_PASSES = 8
MAX_INLINE_DEPTH = 16


class DeviceFunction:
    """A ``@hetero.func`` helper: inlined into the kernels that call it."""

    def __init__(self, fn: Callable[..., Any]):
        self.py_fn = fn
        self.__name__ = fn.__name__
        self.__doc__ = fn.__doc__

    def __call__(self, *args: Any) -> Any:
        raise TypeError(f"{self.__name__} is a @hetero.func device function: call it from a "
                        "@hetero.kernel (it is inlined there)")


class Source:
    """A function's parsed source with the mapping back to file lines."""

    def __init__(self, fn: Callable[..., Any]):
        try:
            lines, self.first_line = inspect.getsourcelines(fn)
            self.file = inspect.getsourcefile(fn) or "<unknown>"
        except (OSError, TypeError) as exc:
            raise KernelCompileError(f"{fn.__qualname__}: the kernel's source is not available "
                                     f"({exc}); define kernels in a file") from exc
        tree = ast.parse(textwrap.dedent("".join(lines)))
        node = tree.body[0]
        if not isinstance(node, ast.FunctionDef):
            raise KernelCompileError(f"{self.file}:{self.first_line}: {fn.__qualname__} is not "
                                     "a plain function (def), so it cannot be a kernel")
        self.tree, self.fn = node, fn
        closure = dict(zip(fn.__code__.co_freevars,
                           (c.cell_contents for c in fn.__closure__ or ()), strict=True))
        self.names = {**fn.__globals__, **closure}

    def where(self, node: ast.AST) -> str:
        return f"{self.file}:{self.first_line + getattr(node, 'lineno', 1) - 1}"

    def line(self, node: ast.AST) -> int:
        return self.first_line + getattr(node, "lineno", 1) - 1


class Scope:
    """One function body being translated: the kernel itself or an inlined device function."""

    def __init__(self, source: Source, prefix: str, arrays: dict[str, str],
                 values: dict[str, ir.Expr], depth: int = 0):
        self.source, self.prefix, self.depth = source, prefix, depth
        self.arrays = arrays  # local name -> kernel-level array name
        self.values = values  # local name -> expression (device-function parameters)


class Translator:
    """Builds the IR of one kernel for one signature. ``types`` is the current type guess."""

    def __init__(self, kernel: Source, params: list[ir.Param], types: dict[str, Scalar],
                 final: bool):
        self.kernel, self.types, self.final = kernel, types, final
        self.assigned: dict[str, Scalar] = {}
        self.arrays: dict[str, ArrayType] = {p.name: p.type for p in params
                                             if isinstance(p.type, ArrayType)}
        self.scalars = {p.name: p.type for p in params if isinstance(p.type, Scalar)}
        self.scratch: dict[str, ArrayType] = {}
        self.written: set[str] = set()
        self.pre: list[ir.Stmt] = []
        self.dims = 1
        self.inlined = 0
        self.loop_depth = 0
        self.scope = Scope(kernel, "", {n: n for n in self.arrays}, {})

    # -- errors ---------------------------------------------------------------------------------
    def fail(self, node: ast.AST, what: str, hint: str = "") -> NoReturn:
        src = self.scope.source
        text = f"{src.where(node)}: in kernel {self.kernel.fn.__name__!r}: {what}"
        raise KernelCompileError(text + (f" ({hint})" if hint else ""))

    def unsupported(self, node: ast.AST, hint: str = "") -> NoReturn:
        code = ast.unparse(node).splitlines()[0] if isinstance(node, ast.expr | ast.stmt) else ""
        self.fail(node, f"{type(node).__name__} `{code}` is outside the kernel language", hint)

    # -- statements -----------------------------------------------------------------------------
    def body(self, nodes: list[ast.stmt]) -> list[ir.Stmt]:
        out: list[ir.Stmt] = []
        for node in nodes:
            made = self.stmt(node)
            out.extend(self.pre)
            self.pre = []
            out.extend(made)
        return out

    def stmt(self, node: ast.stmt) -> list[ir.Stmt]:
        line = self.scope.source.line(node)
        if isinstance(node, ast.Assign):
            if len(node.targets) != 1 or isinstance(node.targets[0], ast.Tuple | ast.List):
                self.unsupported(node, "assign one target at a time")
            return self.assign(node.targets[0], node.value, line)
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            return self.annotated(node, line)
        if isinstance(node, ast.AugAssign):
            if type(node.op) not in ARITH:
                self.unsupported(node)
            target = node.target
            current = ast.copy_location(ast.Subscript(target.value, target.slice, ast.Load())
                                        if isinstance(target, ast.Subscript)
                                        else ast.Name(getattr(target, "id", "?"), ast.Load()),
                                        node)
            value = ast.copy_location(ast.BinOp(current, node.op, node.value), node)
            return self.assign(target, value, line)
        if isinstance(node, ast.If):
            cond = self.truth(node.test)
            return [ir.If(cond, self.nested(node.body), self.nested(node.orelse), line)]
        if isinstance(node, ast.For):
            return [self.for_range(node, line)]
        if isinstance(node, ast.While):
            if node.orelse:
                self.unsupported(node, "while ... else is not supported")
            cond = self.truth(node.test)
            if self.pre:
                self.fail(node, "a device-function call in a while condition",
                          "assign its result to a variable inside the loop")
            self.loop_depth += 1
            loop = ir.While(cond, self.nested(node.body), line)
            self.loop_depth -= 1
            return [loop]
        if isinstance(node, ast.Break | ast.Continue):
            if not self.loop_depth:
                self.unsupported(node)
            return [ir.Jump("break" if isinstance(node, ast.Break) else "continue", line)]
        if isinstance(node, ast.Return):
            if not self.kernel_level:
                self.fail(node, f"return before the end of device function "
                                f"{self.scope.source.fn.__name__}",
                          "a @hetero.func ends with its only `return value`; compute the value "
                          "with if/else into a variable first")
            if node.value is not None:
                self.fail(node, "a kernel returns nothing",
                          "write results into an output array argument")
            if self.loop_depth:
                self.fail(node, "return inside a loop",
                          "use break, then return after the loop")
            return [ir.Jump("return", line)]
        if isinstance(node, ast.Pass):
            return []
        if isinstance(node, ast.Expr):
            return self.expression_statement(node, line)
        self.unsupported(node)

    def nested(self, nodes: list[ast.stmt]) -> list[ir.Stmt]:
        saved, self.pre = self.pre, []
        try:
            return self.body(nodes)
        finally:
            self.pre = saved

    def expression_statement(self, node: ast.Expr, line: int) -> list[ir.Stmt]:
        value = node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return []  # a docstring
        if isinstance(value, ast.Call) and self.resolve(value.func) == "barrier":
            if value.args or value.keywords:
                self.fail(node, "barrier() takes no arguments")
            return [ir.Barrier(line)]
        if isinstance(value, ast.Call) and self.resolve(value.func) == "atomic_add":
            return [ir.Eval(self.expr(value), line)]
        self.unsupported(node, "only barrier() and atomic_add() stand alone as statements")

    def assign(self, target: ast.expr, value: ast.expr, line: int) -> list[ir.Stmt]:
        if isinstance(target, ast.Subscript):
            array, index = self.element(target)
            self.written.add(array)
            element = self.arrays[array].element
            rhs = self.expr(value)
            return [ir.Store(array, index, self.cast(rhs, element), line)]
        if not isinstance(target, ast.Name):
            self.unsupported(target)
        name = target.id
        if isinstance(value, ast.Call) and self.resolve(value.func) in ("local_array",
                                                                        "private_array"):
            return self.declare_scratch(name, value)
        if self.local(name) in self.arrays or name in self.scope.arrays:
            self.fail(target, f"{name!r} is an array; it cannot be reassigned")
        if name in self.scope.values:
            self.fail(target, f"parameter {name!r} of a device function cannot be reassigned")
        rhs = self.expr(value)
        var = self.local(name)
        if var in self.scalars:
            self.fail(target, f"scalar argument {name!r} cannot be reassigned",
                      "copy it into a new variable first")
        self.assigned[var] = unify(self.assigned.get(var), rhs.type)
        declared = self.var_type(var)
        return [ir.Assign(var, self.cast(rhs, declared) if self.final else rhs, line)]

    def annotated(self, node: ast.AnnAssign, line: int) -> list[ir.Stmt]:
        kind = self.resolve(node.annotation)
        if kind not in CAST_NAMES or not isinstance(node.target, ast.Name):
            self.fail(node, "annotate a variable with a scalar type such as hetero.float32")
        var = self.local(node.target.id)
        forced = Scalar(CAST_NAMES[kind])
        self.assigned[var] = forced
        self.types[var] = forced
        return [ir.Assign(var, self.cast(self.expr(node.value), forced), line)]

    def declare_scratch(self, name: str, call: ast.Call) -> list[ir.Stmt]:
        space = "local" if self.resolve(call.func) == "local_array" else "private"
        if len(call.args) != 2 or call.keywords:
            self.fail(call, f"{space}_array(shape, dtype) takes a constant shape and a dtype")
        shape = self.constant(call.args[0])
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        if not all(isinstance(n, int) and n > 0 for n in shape):
            self.fail(call, f"{space}_array shape {shape} must be positive integer constants")
        dtype = self.dtype_of(call.args[1])
        if dtype is None:
            self.fail(call, f"{space}_array dtype must be a type such as hetero.float32, or "
                            "an array argument's .dtype")
        var = self.local(name)
        if var in self.scratch or var in self.assigned:
            self.fail(call, f"{name!r} is declared twice")
        self.scratch[var] = self.arrays[var] = ArrayType(dtype, len(shape), space, shape)
        self.scope.arrays[name] = var
        return []

    def dtype_of(self, node: ast.expr) -> str | None:
        """A scratch array's element type: a type name, or ``arg.dtype`` of an array."""
        if isinstance(node, ast.Attribute) and node.attr == "dtype":
            array = self.array_name(node.value)
            return self.arrays[array].dtype if array else None
        name = self.resolve(node)
        return name if name in CAST_NAMES else None

    def for_range(self, node: ast.For, line: int) -> ir.For:
        call = node.iter
        if (not isinstance(call, ast.Call) or self.resolve(call.func) != "range"
                or not 1 <= len(call.args) <= 3 or node.orelse):
            self.unsupported(node, "loops are `for i in range(start, stop, step)`")
        if not isinstance(node.target, ast.Name):
            self.unsupported(node.target)
        bounds = [self.integer(a) for a in call.args]
        start, stop, step = ((ir.Const(0, WEAK_INT), bounds[0], ir.Const(1, WEAK_INT))
                             if len(bounds) == 1 else (*bounds, ir.Const(1, WEAK_INT))[:3])
        if isinstance(step, ir.Const) and step.value == 0:
            self.fail(node, "range() step must not be zero")
        var = self.local(node.target.id)
        kind = promote(promote(start.type, stop.type), step.type).strong()
        self.assigned[var] = unify(self.assigned.get(var), kind)
        declared = self.var_type(var)
        self.loop_depth += 1
        body = self.nested(node.body)
        self.loop_depth -= 1
        return ir.For(var, self.cast(start, declared), self.cast(stop, declared),
                      self.cast(step, declared), body, line)

    # -- expressions ----------------------------------------------------------------------------
    def expr(self, node: ast.expr) -> ir.Expr:
        method = getattr(self, f"expr_{type(node).__name__}", None)
        if method is None:
            self.unsupported(node)
        return method(node)

    def expr_Constant(self, node: ast.Constant) -> ir.Expr:
        if isinstance(node.value, bool | int | float):
            return ir.Const(node.value, BOOL if isinstance(node.value, bool)
                            else of_value(node.value))
        self.unsupported(node, "only numbers and booleans are kernel constants")

    def expr_Name(self, node: ast.Name) -> ir.Expr:
        name = node.id
        if name in self.scope.values:
            return self.scope.values[name]
        var = self.local(name)
        if var in self.assigned or (self.final and var in self.types):
            return ir.Var(var, self.var_type(var))
        if var in self.scalars:
            return ir.Var(var, compute_type(self.scalars[var]))
        if name in self.scope.arrays:
            self.fail(node, f"array {name!r} used as a value", "index it: a[i]")
        if self.kernel_level and var in self.types:  # assigned later in a loop, seen last pass
            return ir.Var(var, self.var_type(var))
        return self.global_constant(node)

    @property
    def kernel_level(self) -> bool:
        return not self.scope.prefix

    def expr_Attribute(self, node: ast.Attribute) -> ir.Expr:
        if isinstance(node.value, ast.Name) and node.value.id in self.scope.arrays:
            array = self.scope.arrays[node.value.id]
            if node.attr == "size":
                return self.size_of(array, node)
            if node.attr == "ndim":
                return ir.Const(self.arrays[array].ndim, WEAK_INT)
            self.fail(node, f"array attribute .{node.attr}", "use .shape[d], .size or .ndim")
        return self.global_constant(node)

    def expr_Subscript(self, node: ast.Subscript) -> ir.Expr:
        base = node.value
        if (isinstance(base, ast.Attribute) and base.attr == "shape"
                and isinstance(base.value, ast.Name) and base.value.id in self.scope.arrays):
            dim = self.constant(node.slice)
            return self.extent(self.scope.arrays[base.value.id], dim, node)
        array, index = self.element(node)
        return ir.Load(array, index, self.arrays[array].element)

    def expr_BinOp(self, node: ast.BinOp) -> ir.Expr:
        op = ARITH.get(type(node.op)) or self.unsupported(node)
        left, right = self.expr(node.left), self.expr(node.right)
        kind = promote(left.type, right.type)
        if op in ("&", "|", "^", "<<", ">>"):
            if kind.is_float or (op in ("<<", ">>") and kind.name == "bool"):
                self.fail(node, f"operator {op} needs integer operands, got {kind}")
        elif op == "/":
            kind = promote(kind, Scalar("float64", weak=True)) if not kind.is_float else kind
        elif op == "**":
            if not kind.is_float:
                self.fail(node, "integer ** is not supported", "use float operands or multiply")
            return ir.Call("pow", (self.cast(left, kind), self.cast(right, kind)), kind)
        elif kind.name == "bool":
            kind = promote(kind, WEAK_INT)
        return ir.Binary(op, self.cast(left, kind), self.cast(right, kind), kind)

    def expr_UnaryOp(self, node: ast.UnaryOp) -> ir.Expr:
        operand = self.expr(node.operand)
        if isinstance(node.op, ast.UAdd):
            return operand
        if isinstance(node.op, ast.Not):
            return ir.Unary("not", self.to_bool(operand), BOOL)
        if isinstance(node.op, ast.Invert):
            if operand.type.is_float:
                self.fail(node, "~ needs an integer or bool operand")
            return ir.Unary("~" if operand.type.name != "bool" else "not", operand,
                            operand.type)
        if isinstance(operand, ir.Const):
            return ir.Const(-operand.value, operand.type)
        kind = promote(operand.type, WEAK_INT) if operand.type.name == "bool" else operand.type
        return ir.Unary("-", self.cast(operand, kind), kind)

    def expr_BoolOp(self, node: ast.BoolOp) -> ir.Expr:
        op = "and" if isinstance(node.op, ast.And) else "or"
        values = [self.truth(v) for v in node.values]
        out = values[0]
        for v in values[1:]:
            out = ir.Binary(op, out, v, BOOL)
        return out

    def expr_Compare(self, node: ast.Compare) -> ir.Expr:
        terms = [self.expr(node.left), *(self.expr(c) for c in node.comparators)]
        out: ir.Expr | None = None
        for op, left, right in zip(node.ops, terms, terms[1:], strict=False):
            symbol = COMPARE.get(type(op)) or self.unsupported(node, "compare with < <= > >= == !=")
            kind = promote(left.type, right.type)
            test = ir.Binary(symbol, self.cast(left, kind), self.cast(right, kind), BOOL)
            out = test if out is None else ir.Binary("and", out, test, BOOL)
        assert out is not None
        return out

    def expr_IfExp(self, node: ast.IfExp) -> ir.Expr:
        cond, then, other = self.truth(node.test), self.expr(node.body), self.expr(node.orelse)
        kind = promote(then.type, other.type)
        return ir.Select(cond, self.cast(then, kind), self.cast(other, kind), kind)

    def expr_Call(self, node: ast.Call) -> ir.Expr:
        if node.keywords:
            self.fail(node, "keyword arguments in kernel calls", "pass arguments by position")
        target = self.resolve_object(node.func)
        if isinstance(target, DeviceFunction):
            return self.inline(target, node)
        name = self.resolve(node.func)
        if name in WORK_ITEM:
            return self.work_item(name, node)
        if name in CAST_NAMES:
            if len(node.args) != 1:
                self.fail(node, f"{name}() takes one value")
            value = self.cast(self.expr(node.args[0]), Scalar(CAST_NAMES[name]), force=True)
            # float16 values compute in float32; the cast still rounds to float16.
            return ir.Call("round_half", (value,), value.type) if name == "float16" else value
        if name == "len":
            array = self.array_name(node.args[0]) if len(node.args) == 1 else None
            return self.extent(array or self.unsupported(node), 0, node)
        if name == "atomic_add":
            return self.atomic(node)
        if name in MATH:
            return self.math(name, node)
        if name in ("barrier", "local_array", "private_array"):
            self.fail(node, f"{name}() cannot be used inside an expression",
                      "barrier() is a statement; scratch arrays are declared as `a = "
                      "hetero.local_array(shape, dtype)`")
        what = ast.unparse(node.func)
        self.fail(node, f"call to {what!r}, which is not a kernel intrinsic or @hetero.func",
                  "kernels call hetero.* intrinsics, math functions and @hetero.func helpers")

    def math(self, name: str, node: ast.Call) -> ir.Expr:
        arity = MATH[name]
        if len(node.args) != arity:
            self.fail(node, f"{name}() takes {arity} argument{'s' * (arity > 1)}")
        args = [self.expr(a) for a in node.args]
        kind = args[0].type
        for a in args[1:]:
            kind = promote(kind, a.type)
        if name in FLOAT_ONLY and not kind.is_float:
            kind = FLOAT64
        if kind.name == "bool":
            kind = INT64
        if name == "abs":
            name = "fabs" if kind.is_float else "abs"
        return ir.Call(name, tuple(self.cast(a, kind) for a in args), kind.strong()
                       if not all(a.type.weak for a in args) else kind)

    def work_item(self, name: str, node: ast.Call) -> ir.Expr:
        dim = self.constant(node.args[0]) if len(node.args) == 1 else None
        if dim not in (0, 1, 2):
            self.fail(node, f"{name}(d) needs a constant dimension 0, 1 or 2")
        self.dims = max(self.dims, dim + 1)
        return ir.WorkItem(name, dim, INT64)

    def atomic(self, node: ast.Call) -> ir.Expr:
        if len(node.args) != 3:
            self.fail(node, "atomic_add(array, index, value) takes three arguments")
        array = self.array_name(node.args[0]) or self.fail(node, "atomic_add needs an array")
        kind = self.arrays[array]
        if kind.dtype not in ("int32", "int64", "float32", "float64"):
            self.fail(node, f"atomic_add on {kind.dtype} arrays is not supported",
                      "use int32, int64, float32 or float64")
        index = self.flat_index(array, node.args[1], node)
        self.written.add(array)
        value = self.cast(self.expr(node.args[2]), kind.element)
        return ir.AtomicAdd(array, index, value, kind.element)

    def inline(self, fn: DeviceFunction, node: ast.Call) -> ir.Expr:
        source = Source(fn.py_fn)
        params = [a.arg for a in source.tree.args.args]
        if len(params) != len(node.args):
            self.fail(node, f"{fn.__name__}() takes {len(params)} arguments, "
                            f"got {len(node.args)}")
        self.inlined += 1
        if self.scope.depth >= MAX_INLINE_DEPTH:
            self.fail(node, f"device function {fn.__name__} nests {MAX_INLINE_DEPTH} calls "
                            "deep (recursion?)", "device functions are inlined; they cannot "
                            "call themselves")
        prefix = f"{self.scope.prefix}{fn.__name__}{self.inlined}_"
        arrays, values = {}, {}
        for param, arg in zip(params, node.args, strict=True):
            array = self.array_name(arg)
            if array is not None:
                arrays[param] = array
                continue
            value = self.expr(arg)
            temp = f"{prefix}{param}"
            self.assigned[temp] = unify(self.assigned.get(temp), value.type)
            self.pre.append(ir.Assign(temp, self.cast(value, self.var_type(temp))
                                      if self.final else value, source.line(node)))
            values[param] = ir.Var(temp, self.var_type(temp))
        *statements, last = source.tree.body
        if not isinstance(last, ast.Return) or last.value is None:
            self.fail(node, f"device function {fn.__name__} must end with `return value`")
        outer, self.scope = self.scope, Scope(source, prefix, arrays, values,
                                                    self.scope.depth + 1)
        try:
            self.pre.extend(self.nested(statements))
            return self.expr(last.value)
        finally:
            self.scope = outer

    # -- helpers --------------------------------------------------------------------------------
    def local(self, name: str) -> str:
        return self.scope.prefix + name

    def var_type(self, var: str) -> Scalar:
        if self.final:
            return self.types[var].strong()
        guess = self.types.get(var) or self.assigned[var]
        return guess

    def truth(self, node: ast.expr) -> ir.Expr:
        return self.to_bool(self.expr(node))

    @staticmethod
    def to_bool(value: ir.Expr) -> ir.Expr:
        if value.type.name == "bool":
            return value
        return ir.Binary("!=", value, ir.Const(0, value.type), BOOL)

    @staticmethod
    def cast(value: ir.Expr, kind: Scalar, force: bool = False) -> ir.Expr:
        """``value`` as ``kind``; ``force`` makes even a same-named weak literal strong."""
        if value.type == kind or (value.type.name == kind.name and not force):
            return value
        if isinstance(value, ir.Const):
            return ir.Const(np.dtype(kind.name).type(value.value).item(), kind)
        return ir.Cast(value, kind)

    def integer(self, node: ast.expr) -> ir.Expr:
        value = self.expr(node)
        if value.type.is_float:
            self.fail(node, f"an integer is needed here, got {value.type}")
        return value if value.type.name != "bool" else self.cast(value, INT64)

    def resolve_object(self, node: ast.expr) -> Any:
        """The Python object a name or dotted name refers to in the function's scope."""
        if isinstance(node, ast.Name):
            if node.id in self.scope.values or self.local(node.id) in self.assigned:
                return None
            return self.scope.source.names.get(node.id, __builtins__.get(node.id)
                                               if isinstance(__builtins__, dict)
                                               else getattr(__builtins__, node.id, None))
        if isinstance(node, ast.Attribute):
            base = self.resolve_object(node.value)
            return getattr(base, node.attr, None) if base is not None else None
        return None

    def resolve(self, node: ast.expr) -> str | None:
        return intrinsic_name(self.resolve_object(node))

    def global_constant(self, node: ast.expr) -> ir.Expr:
        value = self.resolve_object(node)
        if isinstance(value, bool | int | float | np.generic) and not isinstance(value, str):
            try:
                kind = of_value(value)
            except TypeError:
                pass
            else:
                return ir.Const(value.item() if isinstance(value, np.generic) else value, kind)
        name = ast.unparse(node)
        if value is None:
            self.fail(node, f"name {name!r} is not defined before this use")
        self.fail(node, f"{name!r} is a Python {type(value).__name__}, not a kernel value",
                  "kernels read numbers, booleans and their own arguments")

    def constant(self, node: ast.expr) -> Any:
        """A compile-time constant: a literal, a captured number, or a tuple of them."""
        if isinstance(node, ast.Tuple):
            return tuple(self.constant(e) for e in node.elts)
        value = self.expr(node)
        if not isinstance(value, ir.Const):
            self.fail(node, f"`{ast.unparse(node)}` must be a compile-time constant")
        return value.value

    def array_name(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name) and node.id in self.scope.arrays:
            return self.scope.arrays[node.id]
        return None

    def element(self, node: ast.Subscript) -> tuple[str, ir.Expr]:
        array = self.array_name(node.value)
        if array is None:
            self.fail(node, f"`{ast.unparse(node.value)}` is not an array", "index arrays only")
        return array, self.flat_index(array, node.slice, node)

    def flat_index(self, array: str, index: ast.expr, node: ast.AST) -> ir.Expr:
        parts = index.elts if isinstance(index, ast.Tuple) else [index]
        if any(isinstance(p, ast.Slice) for p in parts):
            self.fail(node, "slices are not supported in kernels", "index one element: a[i, j]")
        kind = self.arrays[array]
        if len(parts) != kind.ndim:
            self.fail(node, f"{array} has {kind.ndim} dimension(s) but is indexed with "
                            f"{len(parts)}")
        flat: ir.Expr | None = None
        for dim, part in enumerate(parts):
            value = self.cast(self.integer(part), INT64)
            if flat is None:
                flat = value
            else:
                scaled = ir.Binary("*", flat, self.extent(array, dim, node), INT64)
                flat = ir.Binary("+", scaled, value, INT64)
        assert flat is not None
        return flat

    def extent(self, array: str, dim: Any, node: ast.AST) -> ir.Expr:
        kind = self.arrays[array]
        if not isinstance(dim, int) or not 0 <= dim < kind.ndim:
            self.fail(node, f"{array}.shape[{dim}] is out of range for a {kind.ndim}-d array")
        if kind.shape is not None:
            return ir.Const(kind.shape[dim], INT64)
        return ir.Var(f"{array}__s{dim}", INT64)

    def size_of(self, array: str, node: ast.AST) -> ir.Expr:
        out = self.extent(array, 0, node)
        for dim in range(1, self.arrays[array].ndim):
            out = ir.Binary("*", out, self.extent(array, dim, node), INT64)
        return out


def translate(fn: Callable[..., Any], signature: list[Scalar | ArrayType]) -> ir.KernelIR:
    """The IR of ``fn`` specialised to ``signature`` (one type per positional parameter)."""
    source = Source(fn)
    args = source.tree.args
    if args.vararg or args.kwarg or args.kwonlyargs or args.defaults or args.posonlyargs:
        raise KernelCompileError(f"{source.where(source.tree)}: kernel {fn.__name__!r} takes "
                                 "plain positional parameters only (no defaults, *args, **kw)")
    names = [a.arg for a in args.args]
    if len(names) != len(signature):
        raise KernelCompileError(f"{source.where(source.tree)}: kernel {fn.__name__!r} takes "
                                 f"{len(names)} arguments ({', '.join(names)}), "
                                 f"{len(signature)} given")
    params = [ir.Param(n, t) for n, t in zip(names, signature, strict=True)]
    hidden = [ir.Param(f"{p.name}__s{d}", INT64) for p in params
              if isinstance(p.type, ArrayType) for d in range(p.type.ndim)]
    types: dict[str, Scalar] = {}
    for _ in range(MAX_PASSES):
        trial = Translator(source, params + hidden, dict(types), final=False)
        trial.body(source.tree.body)
        if trial.assigned == types:
            break
        types = trial.assigned
    final = Translator(source, params + hidden, types, final=True)
    body = final.body(source.tree.body)
    kernel = ir.KernelIR(
        name=fn.__name__, params=params + hidden, body=body,
        variables={v: t.strong() for v, t in types.items()}, scratch=final.scratch,
        dims=final.dims, written=final.written,
        has_barrier=any(isinstance(s, ir.Barrier) for s in ir.walk(body)),
        has_return=any(isinstance(s, ir.Jump) and s.kind == "return" for s in ir.walk(body)),
        source_file=source.file)
    from hetero.kernel.analysis import check_barriers
    from hetero.kernel.names import with_safe_names

    check_barriers(kernel, fn.__name__)
    return with_safe_names(kernel)


__all__ = ["DeviceFunction", "translate"]
