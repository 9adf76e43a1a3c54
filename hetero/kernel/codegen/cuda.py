"""IR -> Python for numba.cuda: one CUDA thread per work-item, a block per work-group.

CUDA grids are whole blocks, so a barrier-free kernel whose global size is not a multiple of
the block size runs padded, with a guard that retires the extra threads first thing.
"""

from __future__ import annotations

from hetero.kernel import ir
from hetero.kernel.codegen.pysource import NP_TYPES, PythonPrinter

AXES = "xyz"
INTEGRAL_LIMIT = 4503599627370496.0  # 2^52: every float at least this large is an integer
WORK_ITEM = {"global_id": "(cuda.blockIdx.{a} * cuda.blockDim.{a} + cuda.threadIdx.{a})",
             "local_id": "cuda.threadIdx.{a}", "group_id": "cuda.blockIdx.{a}",
             "global_size": "_gs{d}", "local_size": "cuda.blockDim.{a}",
             "num_groups": "cuda.gridDim.{a}"}


class CUDAPrinter(PythonPrinter):
    def __init__(self, kernel: ir.KernelIR, entry: str):
        super().__init__(kernel)
        self.entry = entry

    def work_item(self, e: ir.WorkItem) -> str:
        return WORK_ITEM[e.what].format(a=AXES[e.dim], d=e.dim)

    def load(self, e: ir.Load) -> str:
        text = super().load(e)
        param = next((p for p in self.kernel.arrays if p.name == e.array), None)
        return f"np.float32({text})" if param and param.type.dtype == "float16" else text

    def widened_half(self, array: str) -> bool:
        scratch = self.kernel.scratch.get(array)  # global float16 arrays are real float16
        return scratch is not None and scratch.dtype == "float16"

    def round_half(self, value: str) -> str:
        return f"np.float32(np.float16({value}))"

    def atomic(self, e: ir.AtomicAdd) -> str:
        return f"cuda.atomic.add({e.array}, {self.expr(e.index)}, {self.expr(e.value)})"

    def floor(self, x: str, kind) -> str:
        return self.integral("floor", x, kind)

    def ceil(self, x: str, kind) -> str:
        return self.integral("ceil", x, kind)

    @staticmethod
    def integral(fn: str, x: str, kind) -> str:
        """numba.cuda's math.floor/ceil return int64: keep the float type, and pass inf, NaN
        and values past 2^52 (already integers) through untouched."""
        return (f"({NP_TYPES[kind.name]}(math.{fn}({x})) if abs({x}) < {INTEGRAL_LIMIT} "
                f"else {x})")

    def barrier(self) -> str:
        return "cuda.syncthreads()"

    def generate(self) -> str:
        params = [p.name for p in self.kernel.params] + ["_gs0", "_gs1", "_gs2"]
        self.emit(0, f"def {self.entry}({', '.join(params)}):")
        if not self.kernel.has_barrier:
            ids = " or ".join(f"{WORK_ITEM['global_id'].format(a=AXES[d])} >= _gs{d}"
                              for d in range(3))
            self.emit(1, f"if {ids}:")
            self.emit(2, "return")
        for name, kind in self.kernel.scratch.items():
            where = "shared" if kind.space == "local" else "local"
            dtype = NP_TYPES["float32" if kind.dtype == "float16" else kind.dtype]
            self.emit(1, f"{name} = cuda.{where}.array({kind.size}, {dtype})")
        self.stmts(self.kernel.body, 1)
        return "\n".join(self.lines) + "\n"


def generate(kernel: ir.KernelIR, entry: str) -> str:
    """The numba.cuda Python source of one kernel specialisation."""
    return CUDAPrinter(kernel, entry).generate()
