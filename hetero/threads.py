"""The process's compute threads: no more than the CPUs it may run on, shared between runs.

``os.cpu_count()`` is the machine's CPUs, not the process's: a CPU affinity mask or a
container's CPU quota (cgroup ``cpu.max``) gives it fewer, and more threads than that only
queue. ``configure()`` runs when ``hetero`` is imported, before numba starts its threads, and
sets ``NUMBA_NUM_THREADS`` to ``allowed_cpus()`` unless the environment already says. While
several threads run plans at once, ``sharing()`` gives each run its share of them.

What this does not settle (issue 21): numba's OpenMP layer (GNU libgomp) spins a waiting
thread before it sleeps. Beside a second hetero process on two cores that spinning took
SqueezeNet from 7 ms to 80-309 ms a run; ``OMP_WAIT_POLICY=PASSIVE`` holds it at 10 ms but costs
about half again on a quiet machine (each of the model's ~50 parallel kernels wakes sleeping
threads), so it is left to the user: docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["allowed_cpus", "cgroup_quota", "configure", "sharing"]

CGROUP = Path("/sys/fs/cgroup")


def allowed_cpus(cgroup: Path = CGROUP) -> int:
    """The CPUs this process may keep busy: its affinity mask, capped by its cgroup's quota
    (rounded up: a quota of 1.5 CPUs keeps two threads busy part of the time)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = cgroup_quota(cgroup)
    return max(1, min(cpus, math.ceil(quota))) if quota else max(1, cpus)


def cgroup_quota(cgroup: Path = CGROUP) -> float | None:
    """CPUs the cgroup's quota allows (cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us`` over
    ``cpu.cfs_period_us``), or None when there is no quota."""
    v2 = read(cgroup / "cpu.max").split()
    if len(v2) == 2 and v2[0] != "max":
        return ratio(v2[0], v2[1])
    quota, period = read(cgroup / "cpu" / "cpu.cfs_quota_us"), read(cgroup / "cpu" /
                                                                     "cpu.cfs_period_us")
    return ratio(quota, period) if quota and not quota.startswith("-") else None


def ratio(quota: str, period: str) -> float | None:
    try:
        value = int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


def read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def configure() -> dict[str, str]:
    """Set the thread defaults (see the module's docstring) where the environment has none;
    returns what it set. Once numba is imported its thread count is fixed at import, so it is
    then lowered with ``numba.set_num_threads`` instead."""
    chosen = {"NUMBA_NUM_THREADS": str(allowed_cpus())}
    set_now = {k: v for k, v in chosen.items() if k not in os.environ}  # set, even empty: kept
    os.environ.update(set_now)
    numba = sys.modules.get("numba")
    if "NUMBA_NUM_THREADS" in set_now and numba is not None:
        wanted = min(int(set_now["NUMBA_NUM_THREADS"]), numba.config.NUMBA_NUM_THREADS)
        numba.set_num_threads(wanted)
    return set_now


_running = 0  # plan runs in progress in this process, on any thread
_running_lock = threading.Lock()
_mine = threading.local()  # the numba thread count this thread last asked for


@contextmanager
def sharing() -> Iterator[int]:
    """Around one plan run: while ``k`` runs go on at once (threads calling plans), each one's
    kernels get ``allowed_cpus() // k`` of numba's threads (numba's count is per calling
    thread), so together they never ask for more CPUs than the process may use and a run
    slows down in proportion. Yields the count this run got."""
    global _running
    with _running_lock:
        _running += 1
        share = max(1, ALLOWED // _running)
    try:
        ask(share)
        yield share
    finally:
        with _running_lock:
            _running -= 1


def ask(threads: int) -> None:
    """Set numba's thread count for this thread's kernels (once numba is in use)."""
    numba = sys.modules.get("numba")
    if numba is None or getattr(_mine, "threads", None) == threads:
        return
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    _mine.threads = threads


# At import, so that ``import hetero`` sets them before any of its modules imports numba.
SET_AT_IMPORT = configure()
ALLOWED = allowed_cpus()
