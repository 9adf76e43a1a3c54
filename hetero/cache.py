"""The on-disk caches, and what makes an entry safe to use (docs/caches.md).

Caches are data (JSON, never pickles) or native code hetero built (TVM libraries, OpenCL
binaries). Both go through one stage, ``Folder``: a cache folder is private (0700 when hetero
creates it) and used only while it and its files belong to this user and nobody else can
write them (as ssh and pip treat theirs); every entry is written atomically and recorded by
size and sha256 in the folder's index, which is checked *before* an entry is used (before a
library is dlopen'ed). Anything else found there (missing, truncated, foreign, changed, of the
wrong layout) is discarded with a warning and rebuilt: a cache only ever costs a rebuild.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("hetero")
#: An index lists about 150 bytes an entry: this is room for 100,000 entries, and a planted
#: index of gigabytes is refused unread.
MAX_INDEX_BYTES = 16 * 2**20
INDEX, LOCK = ".index", ".index.lock"  # dot names: no cache kind's glob (*.so, *.json) sees them
INDEX_SCHEMA = {"format": int, "entries": {str: {"size": int, "sha256": str}}}
_warned: set[str] = set()  # unusable folders already reported: once per process, not per read

#: A schema is a type (``float`` takes any number, never a bool), ``{str: S}`` (a mapping of
#: names to S), a dict of required keys (``"name?"``: optional; other keys are allowed),
#: ``[S]`` (a list of S) or a tuple of schemas (any of them).
Schema = Any


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


def mismatch(value: Any, schema: Schema, where: str = "the document") -> str | None:
    """Where ``value`` departs from ``schema`` (e.g. "entries.k: expected a mapping"), or None;
    a small declarative check so each cache's owner states its layout beside its data."""
    if isinstance(schema, tuple):
        found = [mismatch(value, s, where) for s in schema]
        return None if None in found else found[0]
    if isinstance(schema, list):
        if not isinstance(value, list):
            return f"{where}: expected a list, found {type(value).__name__}"
        return next(filter(None, (mismatch(v, schema[0], f"{where}[{i}]")
                                  for i, v in enumerate(value))), None)
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            return f"{where}: expected a mapping, found {type(value).__name__}"
        if list(schema) == [str]:
            return next(filter(None, (mismatch(v, schema[str], f"{where}.{k}")
                                      for k, v in value.items())), None)
        for key, sub in schema.items():
            name = key.rstrip("?")
            if name not in value:
                if key.endswith("?"):
                    continue
                return f"{where}: lacks {name!r}"
            found = mismatch(value[name], sub, f"{where}.{name}")
            if found:
                return found
        return None
    kinds = (int, float) if schema is float else schema
    if isinstance(value, bool) and schema is not bool or not isinstance(value, kinds):
        return f"{where}: expected {schema.__name__}, found {type(value).__name__}"
    return None


def unsafe(st: os.stat_result) -> str | None:
    """Why a cache folder or file must not be trusted, or None: another user's, or writable by
    group or others (either could plant code or data hetero would run or believe)."""
    if st.st_uid != os.geteuid():
        return f"it belongs to uid {st.st_uid}, not to you (uid {os.geteuid()})"
    if st.st_mode & 0o022:
        return f"it is writable by group or others (mode {stat.S_IMODE(st.st_mode):o})"
    return None


def warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message)


def make_private(path: Path) -> None:
    """Create ``path`` and any missing parent as 0700 folders (umask aside)."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
            os.chmod(folder, 0o700)


class Folder:
    """One cache folder: entries named by the caller, each recorded in the folder's index
    (``.index``: name -> size, sha256) and checked against it before use.

    One index per folder, updated under an exclusive ``flock`` of ``.index.lock``: writers
    (threads or processes) replace an entry and record it in one step, so none loses
    another's record and no reader sees an entry its record does not match. Readers hash
    under the same lock: a verdict of "bad" is then never a writer's entry in mid-replace.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.usable = self._private()

    def _private(self) -> bool:
        """Whether the folder can be trusted (created 0700 where missing); warns once if not."""
        try:
            make_private(self.path)
            st = os.stat(self.path)
        except OSError as exc:
            warn_once(str(self.path), f"hetero cannot create its cache folder {self.path} "
                                      f"({exc}); nothing is cached there. Set HETERO_CACHE_DIR "
                                      "to a folder you can write")
            return False
        why = "it is not a folder" if not stat.S_ISDIR(st.st_mode) else unsafe(st)
        if why:
            warn_once(str(self.path), f"hetero does not use the cache folder {self.path}: {why}. "
                                      f"Fix it with `chown $USER {self.path} && chmod 700 "
                                      f"{self.path}`, or set HETERO_CACHE_DIR to a private folder")
        return why is None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600)
        except OSError:  # a read-only cache: nobody writes it, nothing to exclude
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _index(self) -> dict[str, dict[str, Any]]:
        """The recorded entries; an unreadable, unsafe or malformed index records none."""
        data, why = self._open(INDEX, largest=MAX_INDEX_BYTES)
        if data is None:
            if why:
                log.warning("hetero ignores the cache index %s: %s; its entries are rebuilt",
                            self.path / INDEX, why)
            return {}
        try:
            index = json.loads(data)
        except (ValueError, RecursionError):  # RecursionError: "[" nested 200,000 deep
            index = None
        if index is None or mismatch(index, INDEX_SCHEMA) or index["format"] != 1:
            log.warning("hetero ignores the malformed cache index %s; its entries are rebuilt",
                        self.path / INDEX)
            return {}
        return index["entries"]

    def _write_index(self, entries: dict[str, dict[str, Any]]) -> None:
        live = {k: v for k, v in entries.items() if (self.path / k).exists()}
        blob = json.dumps({"format": 1, "entries": live}, indent=1, sort_keys=True).encode()
        self._replace(INDEX, lambda tmp: tmp.write_bytes(blob))

    def _open(self, name: str, size: int | None = None, largest: int | None = None
              ) -> tuple[bytes | None, str | None]:
        """The file's bytes if it is a safe regular file (of ``size`` bytes, or at most
        ``largest``, where given; judged before a byte is read): (None, None) if missing;
        else (None, why not). Read through one descriptor, never
        through a symlink nor blocking on a planted FIFO, so what is checked is what is read."""
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(self.path / name, flags)
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            return None, f"it cannot be opened ({exc.strerror}; a symlink is refused)"
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(fd)
            why = "it is not a regular file" if not stat.S_ISREG(st.st_mode) else unsafe(st)
            if why is None and size is not None and st.st_size != size:
                why = f"it has {st.st_size} bytes where {size} were written (truncated or changed)"
            if why is None and largest is not None and st.st_size > largest:
                why = f"it has {st.st_size:,} bytes, more than the {largest:,} it may have"
            return (None, why) if why else (f.read(), None)

    def _verify(self, name: str) -> tuple[bytes | None, str | None]:
        record = self._index().get(name)
        if record is None:  # judged without reading it: a planted file may be any size
            planted = os.path.lexists(self.path / name)
            return None, "it is not in the cache's index (hetero did not write it)" \
                if planted else None
        data, why = self._open(name, record["size"])
        if data is None:
            return None, why
        if hashlib.sha256(data).hexdigest() != record["sha256"]:
            return None, "its sha256 differs from the one recorded when it was written"
        return data, None

    def read(self, name: str) -> bytes | None:
        """The entry's bytes once checked against the index; None when absent or not to be
        trusted (then discarded with a warning: the caller rebuilds it)."""
        if not self.usable:
            return None
        with self._locked():
            data, why = self._verify(name)
            if why:  # under the same lock: never a writer's entry in mid-replace
                self._drop(name, why)
        return data

    @contextlib.contextmanager
    def checked_path(self, name: str) -> Iterator[Path | None]:
        """A path to the entry once checked, for what is loaded by path (dlopen); None when
        absent or not to be trusted (discarded). It is a fresh hard link to the checked file:
        a writer replacing the entry meanwhile does not change what is loaded, and the new
        name makes the loader map a rebuilt entry anew (it reuses what it loaded under a
        name it has seen). The link goes when the block ends."""
        link = found = None
        if self.usable:
            with self._locked():
                data, why = self._verify(name)
                if why:
                    self._drop(name, why)
                elif data is not None:
                    found = link = self.path / f".load-{secrets.token_hex(8)}{Path(name).suffix}"
                    try:
                        os.link(self.path / name, link)
                    except OSError:  # no hard links here: the entry itself
                        found, link = self.path / name, None
        try:
            yield found
        finally:
            if link is not None:
                with contextlib.suppress(OSError):
                    link.unlink()

    def read_json(self, name: str, schema: Schema = dict) -> dict[str, Any] | None:
        """The entry as a JSON document of ``schema``'s layout; else None (discarded)."""
        data = self.read(name)
        if data is None:
            return None
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            doc, why = None, "it is not JSON (or nested too deep)"
        else:
            why = mismatch(doc, schema) or mismatch(doc, dict)
        if why:
            self.discard(name, f"its layout is not what hetero expects ({why})")
            return None
        return doc

    def discard(self, name: str, why: str) -> None:
        """Remove a bad entry and its record, saying which and why (the caller rebuilds it)."""
        if not self.usable:
            return
        with self._locked():
            self._drop(name, why)

    def _drop(self, name: str, why: str) -> None:
        log.warning("hetero discards the cache entry %s: %s; it is rebuilt", self.path / name, why)
        with contextlib.suppress(OSError):
            (self.path / name).unlink()
        entries = self._index()
        if entries.pop(name, None) is not None:
            with contextlib.suppress(OSError):  # a read-only folder: it stays unrecorded
                self._write_index(entries)

    def write(self, name: str, produce: Callable[[Path], Any]) -> None:
        """Store an entry: ``produce(tmp)`` writes it to a temporary file in the folder, which
        then replaces the entry and is recorded in the index, under the lock. Not in an
        unusable folder, and a write that fails only costs a rebuild next time (warned once)."""
        if not self.usable:
            return
        try:
            self._replace(name, produce, record=True)
        except OSError as exc:
            warn_once(f"write:{self.path}", f"hetero cannot write to its cache folder "
                                            f"{self.path} ({exc}); results are not cached")

    def write_bytes(self, name: str, data: bytes) -> None:
        self.write(name, lambda tmp: tmp.write_bytes(data))

    def write_json(self, name: str, doc: dict[str, Any]) -> None:
        self.write_bytes(name, json.dumps(doc, indent=1, sort_keys=True).encode())

    def _replace(self, name: str, produce: Callable[[Path], Any], record: bool = False) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".tmp-", suffix=Path(name).suffix)
        os.close(fd)
        try:
            produce(Path(tmp))
            os.chmod(tmp, 0o600)  # whatever wrote it (a linker) and the umask
            if not record:
                os.replace(tmp, self.path / name)
                return
            data = Path(tmp).read_bytes()
            entry = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            with self._locked():
                os.replace(tmp, self.path / name)
                entries = self._index()
                entries[name] = entry
                self._write_index(entries)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def load_json(path: Path, schema: Schema = dict) -> dict[str, Any] | None:
    """The cached document at ``path`` if it passes ``Folder``'s checks and ``schema``."""
    return Folder(path.parent).read_json(path.name, schema)


def save_json(path: Path, doc: dict[str, Any]) -> None:
    """Store a document in its cache folder (atomically, recorded in the index)."""
    Folder(path.parent).write_json(path.name, doc)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write a document outside the caches (a manifest) atomically: no reader sees half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def cached(kind: str, key_parts: tuple[Any, ...], compute: Callable[[], dict[str, Any]],
           refresh: bool = False, schema: Schema = dict) -> dict[str, Any]:
    """Return the cached result for (kind, key_parts), computing and storing it when absent
    or not to be trusted; ``schema`` (the data's owner states it) is the layout it must have."""
    path = cache_dir() / f"{kind}-{content_key(kind, *key_parts)}.json"
    found = None if refresh else load_json(path, schema)
    if found is not None:
        return found
    data = compute()
    save_json(path, data)
    return data
