"""OpenCL programs: compiled from source through an on-disk binary cache, or loaded prebuilt.

The cache keys a device binary by device identity, source hash and build options and stores it
as raw bytes beside a JSON note; pyopencl's own cache is bypassed because it pickles.

FPGAs cannot compile at run time: their binaries (aocx, xclbin) are built offline from
``kern.source(device, ...)`` and listed in a manifest (``HETERO_OPENCL_BINARIES``) that maps
kernel entry points to binary files; they are loaded with clCreateProgramWithBinary.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from hetero.cache import cache_dir, content_key, read_json, write_json
from hetero.errors import KernelCompileError

MANIFEST_FORMAT = "hetero-opencl-binaries/1"
MANIFEST_ENV = "HETERO_OPENCL_BINARIES"
log = logging.getLogger("hetero.backends.opencl")


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
        self.root = (root or cache_dir()) / "opencl-programs"

    def key(self, dev: Any, source: str, options: str) -> str:
        digest = hashlib.sha256(source.encode()).hexdigest()
        return content_key("opencl-program", identity(dev), digest, options)

    def load(self, cl: Any, context: Any, dev: Any, key: str, options: str) -> Any | None:
        note = read_json(self.root / f"{key}.json")
        try:
            binary = (self.root / f"{key}.bin").read_bytes()
        except OSError:
            return None
        if note is None or note.get("sha256") != hashlib.sha256(binary).hexdigest():
            return None
        try:
            return program_from_binary(cl, context, dev, binary, options)
        except cl.Error:
            log.info("cached OpenCL binary %s no longer loads; rebuilding", key)
            return None

    def store(self, cl: Any, prg: Any, dev: Any, key: str, entry: str, options: str) -> None:
        binary = binary_of(cl, prg)
        with contextlib.suppress(OSError):  # a read-only cache only costs a rebuild
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / f"{key}.bin").write_bytes(binary)
            write_json(self.root / f"{key}.json",
                       {"entry": entry, "options": options, **identity(dev),
                        "sha256": hashlib.sha256(binary).hexdigest()})


def load_manifest(path: str | Path) -> dict[str, Any]:
    """A prebuilt-binary manifest, checked: its format and that files stay inside its folder."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KernelCompileError(f"OpenCL binary manifest {path}: cannot read it ({exc})") \
            from exc
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise KernelCompileError(f"OpenCL binary manifest {path}: format must be "
                                 f"{MANIFEST_FORMAT!r}")
    folder = path.parent.resolve()
    for entry in data.get("binaries", []):
        file = (folder / entry["file"]).resolve()
        if Path(entry["file"]).is_absolute() or folder not in file.parents:
            raise KernelCompileError(f"OpenCL binary manifest {path}: {entry['file']!r} "
                                     "leaves the manifest's folder; list files beside it")
        entry["path"] = file
    return data


def prebuilt(dev: Any, entry: str, manifest_path: str | None) -> bytes | None:
    """The manifest's binary for ``entry`` on this device, verified, or None if unlisted."""
    if not manifest_path:
        return None
    manifest = load_manifest(manifest_path)
    me = identity(dev)
    for item in manifest.get("binaries", []):
        if item.get("entry") == entry and item.get("device") == me["device"]:
            binary = Path(item["path"]).read_bytes()
            if hashlib.sha256(binary).hexdigest() != item.get("sha256"):
                raise KernelCompileError(f"OpenCL binary {item['path']} does not match the "
                                         "sha256 in its manifest; rebuild it")
            return binary
    return None


def write_manifest(folder: str | Path, binaries: list[dict[str, Any]]) -> Path:
    """Write ``manifest.json`` for binaries in ``folder`` (each: entry, device, file)."""
    folder = Path(folder)
    items = []
    for item in binaries:
        data = (folder / item["file"]).read_bytes()
        items.append({**item, "sha256": hashlib.sha256(data).hexdigest()})
    path = folder / "manifest.json"
    write_json(path, {"format": MANIFEST_FORMAT, "binaries": items})
    return path


def manifest_path() -> str | None:
    return os.environ.get(MANIFEST_ENV) or None
