"""OpenCL programs: compiled from source through an on-disk binary cache, or loaded prebuilt.

The cache keys a device binary by device identity, source hash and build options and stores it
as raw bytes beside a JSON note; pyopencl's own cache is bypassed because it pickles. Both are
recorded in the cache folder's index (``hetero.cache.Folder``) and checked against it before a
binary reaches the driver: a sha256 in the note alone proves nothing, whoever can write the
binary can write the note beside it.

FPGAs cannot compile at run time: their binaries (aocx, xclbin) are built offline from
``kern.source(device, ...)`` and listed in a manifest (``HETERO_OPENCL_BINARIES``) that maps
kernel entry points to binary files; they are loaded with clCreateProgramWithBinary.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from hetero.cache import Folder, cache_dir, content_key, write_json
from hetero.errors import KernelCompileError

MANIFEST_FORMAT = "hetero-opencl-binaries/1"
MANIFEST_ENV = "HETERO_OPENCL_BINARIES"
MANIFEST_KEYS = ("entry", "device", "file", "sha256", "source_sha256")
log = logging.getLogger("hetero.backends.opencl")
#: a cached binary's note (``hetero.cache.mismatch``)
NOTE = {"entry": str, "options": str, "sha256": str}


def identity(dev: Any) -> dict[str, str]:
    """What makes a device binary reusable: platform, device, driver and OpenCL versions."""
    return {"platform": dev.platform.name.strip(), "device": dev.name.strip(),
            "driver": dev.driver_version, "version": dev.version}


def program_from_source(cl: Any, context: Any, dev: Any, source: str, options: str) -> Any:
    prg = cl._cl._Program(context, source)  # the uncached constructor: no pickle on disk
    try:
        prg.build(options.encode(), [dev])
    except cl.Error as exc:
        raise KernelCompileError(f"OpenCL build failed on {dev.name.strip()}:\n{exc}\n"
                                 f"--- source ---\n{source}") from exc
    return prg


def program_from_binary(cl: Any, context: Any, dev: Any, binary: bytes, options: str) -> Any:
    prg = cl._cl._Program(context, [dev], [binary])
    prg.build(options.encode(), [dev])
    return prg


def binary_of(cl: Any, prg: Any) -> bytes:
    return bytes(prg.get_info(cl.program_info.BINARIES)[0])


class ProgramCache:
    """Device binaries on disk: ``<key>.bin`` plus a ``<key>.json`` saying what they are."""

    def __init__(self, root: Path | None = None):
        self.folder = Folder((root or cache_dir()) / "opencl-programs")

    def key(self, dev: Any, source: str, options: str) -> str:
        digest = hashlib.sha256(source.encode()).hexdigest()
        return content_key("opencl-program", identity(dev), digest, options)

    def load(self, cl: Any, context: Any, dev: Any, key: str, options: str) -> Any | None:
        """The cached program, or None (rebuild) where binary or note is missing or fails
        the index's checks."""
        note = self.folder.read_json(f"{key}.json", NOTE)
        binary = self.folder.read(f"{key}.bin") if note is not None else None
        if binary is None or note["sha256"] != hashlib.sha256(binary).hexdigest():
            return None
        try:
            return program_from_binary(cl, context, dev, binary, options)
        except cl.Error:
            self.folder.discard(f"{key}.bin", "the OpenCL driver no longer loads it")
            return None

    def store(self, cl: Any, prg: Any, dev: Any, key: str, entry: str, options: str) -> None:
        binary = binary_of(cl, prg)
        self.folder.write_bytes(f"{key}.bin", binary)
        self.folder.write_json(f"{key}.json", {"entry": entry, "options": options,
                                               **identity(dev),
                                               "sha256": hashlib.sha256(binary).hexdigest()})


def load_manifest(path: str | Path) -> dict[str, Any]:
    """A prebuilt-binary manifest, checked: its format, its entries' keys, and that files stay
    inside its folder."""
    path = Path(path)
    where = f"OpenCL binary manifest {path}"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KernelCompileError(f"{where}: cannot read it ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise KernelCompileError(f"{where}: format must be {MANIFEST_FORMAT!r}")
    binaries = data.get("binaries", [])
    if not isinstance(binaries, list):
        raise KernelCompileError(f"{where}: 'binaries' must be a list of entries")
    folder = path.parent.resolve()
    for i, entry in enumerate(binaries):
        missing = [k for k in MANIFEST_KEYS if not isinstance(entry, dict) or k not in entry]
        if missing:
            raise KernelCompileError(f"{where}: binaries[{i}] lacks {', '.join(missing)}; "
                                     "write manifests with programs.write_manifest")
        file = (folder / entry["file"]).resolve()
        if Path(entry["file"]).is_absolute() or folder not in file.parents:
            raise KernelCompileError(f"{where}: {entry['file']!r} leaves the manifest's "
                                     "folder; list files beside it")
        entry["path"] = file
    return data


def prebuilt(dev: Any, entry: str, source: str, manifest_path: str | None) -> bytes | None:
    """The manifest's binary for ``entry`` on this device, verified against its own sha256 and
    against the kernel source it was built from; None if unlisted."""
    if not manifest_path:
        return None
    me = identity(dev)
    for item in load_manifest(manifest_path)["binaries"]:
        if item["entry"] != entry or item["device"] != me["device"]:
            continue
        try:
            binary = Path(item["path"]).read_bytes()
        except OSError as exc:
            raise KernelCompileError(f"OpenCL binary for {entry}: cannot read {item['path']} "
                                     f"({exc})") from exc
        if hashlib.sha256(binary).hexdigest() != item["sha256"]:
            raise KernelCompileError(f"OpenCL binary {item['path']} does not match the "
                                     "sha256 in its manifest; rebuild it")
        if sha256_text(source) != item["source_sha256"]:
            raise KernelCompileError(f"OpenCL binary {item['path']} was built from another "
                                     f"version of kernel {entry}; rebuild it from "
                                     "kern.source(device, ...)")
        return binary
    return None


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def write_manifest(folder: str | Path, binaries: list[dict[str, Any]]) -> Path:
    """Write ``manifest.json`` for binaries in ``folder``. Each item names the kernel's
    ``entry``, the ``device`` name, the binary ``file`` and the OpenCL C ``source`` it was
    built from (``kern.source(device, ...)``); sha256 digests of file and source are stored."""
    folder = Path(folder)
    items = []
    for item in binaries:
        data = (folder / item["file"]).read_bytes()
        items.append({"entry": item["entry"], "device": item["device"], "file": item["file"],
                      "sha256": hashlib.sha256(data).hexdigest(),
                      "source_sha256": sha256_text(item["source"])})
    path = folder / "manifest.json"
    write_json(path, {"format": MANIFEST_FORMAT, "binaries": items})
    return path


def manifest_path() -> str | None:
    return os.environ.get(MANIFEST_ENV) or None
