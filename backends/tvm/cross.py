"""Cross-compilation: a model (or any ONNX subgraph) built by TVM for another machine, as a
shared library that machine's TVM runtime loads (``tvm.runtime.load_module`` and a Relax VM).

    python -m hetero.backends.tvm.cross model.onnx model-aarch64.so

builds for 64-bit ARM Linux with Debian's ``gcc-aarch64-linux-gnu`` as the linker; the result
is checked to be an AArch64 ELF shared object before it is kept.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from hetero.errors import UnsupportedOp

AARCH64 = {"triple": "aarch64-linux-gnu", "cc": "aarch64-linux-gnu-gcc", "machine": 183}
ELF_MACHINES = {183: "AArch64", 62: "x86-64", 40: "ARM", 243: "RISC-V"}


def export(model: Any, path: str | Path, triple: str = AARCH64["triple"],
           cc: str = AARCH64["cc"]) -> Path:
    """Build ``model`` (a hetero Model or an onnx ModelProto) for ``triple`` and link it with
    the cross compiler ``cc``; the library's ELF header is checked."""
    from hetero.backends.tvm.compiler import build
    from tvm.support import cc as compilers

    if shutil.which(cc) is None:
        raise UnsupportedOp(f"cross-compiling for {triple} needs the linker {cc}: on Debian or "
                            f"Ubuntu `apt-get install gcc-{triple}`")
    proto = model.proto if hasattr(model, "proto") else model
    library = build(proto, {"kind": "llvm", "mtriple": triple})
    path = Path(path)
    library.export_library(str(path), fcompile=compilers.cross_compiler(cc))
    machine = elf_machine(path)
    if triple.startswith("aarch64") and machine != "AArch64":
        raise UnsupportedOp(f"{path} came out as a {machine} ELF, not AArch64")
    return path


def elf_machine(path: str | Path) -> str:
    """The architecture in an ELF shared object's header (e_machine), checked to be one."""
    head = Path(path).read_bytes()[:20]
    if head[:4] != b"\x7fELF" or int.from_bytes(head[16:18], "little") != 3:  # ET_DYN
        raise UnsupportedOp(f"{path} is not an ELF shared object")
    number = int.from_bytes(head[18:20], "little")
    return ELF_MACHINES.get(number, f"machine {number}")


def main() -> None:
    import hetero

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the .onnx file")
    parser.add_argument("output", help="the shared library to write")
    parser.add_argument("--triple", default=AARCH64["triple"])
    parser.add_argument("--cc", default=AARCH64["cc"], help="the cross linker")
    args = parser.parse_args()
    path = export(hetero.load(args.model), args.output, args.triple, args.cc)
    print(f"wrote {path}: {elf_machine(path)} ELF shared object")


if __name__ == "__main__":
    main()
