"""The on-disk cache: JSON keyed by a content hash, never pickles (caches are data, not code)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    """``$HETERO_CACHE_DIR``, else ``$XDG_CACHE_HOME/hetero``, else ``~/.cache/hetero``."""
    explicit = os.environ.get("HETERO_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "hetero"


def content_key(*parts: Any) -> str:
    """A short stable hash of JSON-serialisable parts, used as a cache file name."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def read_json(path: Path) -> dict[str, Any] | None:
    """The cached document, or None when it is missing or unreadable (it is then rebuilt)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically, so a concurrent reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def cached(kind: str, key_parts: tuple[Any, ...], compute: Callable[[], dict[str, Any]],
           refresh: bool = False) -> dict[str, Any]:
    """Return the cached result for (kind, key_parts), computing and storing it when absent."""
    path = cache_dir() / f"{kind}-{content_key(kind, *key_parts)}.json"
    found = None if refresh else read_json(path)
    if found is not None:
        return found
    data = compute()
    with contextlib.suppress(OSError):  # a read-only cache only costs a re-measurement
        write_json(path, data)
    return data
