"""The process's compute threads (hetero.threads): as many as the CPUs it may use (affinity and
cgroup quota), shared between runs going on at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hetero.threads import allowed_cpus, cgroup_quota

AFFINITY = len(os.sched_getaffinity(0))


@pytest.mark.parametrize(("files", "quota"), [
    ({"cpu.max": "150000 100000"}, 1.5),                  # cgroup v2: 1.5 CPUs
    ({"cpu.max": "max 100000"}, None),                     # v2, no quota
    ({"cpu/cpu.cfs_quota_us": "50000", "cpu/cpu.cfs_period_us": "100000"}, 0.5),  # v1
    ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),    # v1, none
    ({"cpu.max": "junk"}, None),
    ({}, None),                                            # no cgroup files at all
])
def test_a_cgroup_quota_caps_the_threads(tmp_path: Path, files: dict[str, str], quota):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text + "\n")
    assert cgroup_quota(tmp_path) == quota
    want = AFFINITY if quota is None else max(1, min(AFFINITY, -(-quota // 1)))
    assert allowed_cpus(tmp_path) == want


def imported(env: dict[str, str]) -> dict:
    """What ``import hetero`` leaves in a fresh process's environment and numba."""
    script = ("import json, os, hetero, numba; print(json.dumps({'set': "
              "hetero.threads.SET_AT_IMPORT, 'policy': os.environ.get('OMP_WAIT_POLICY'), "
              "'numba': numba.config.NUMBA_NUM_THREADS}))")
    clean = {k: v for k, v in os.environ.items()
             if k not in ("OMP_WAIT_POLICY", "NUMBA_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, env={**clean, **env})
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_sets_the_allowed_thread_count_and_leaves_openmp_alone():
    got = imported({})
    assert got["numba"] == allowed_cpus() and got["policy"] is None
    assert got["set"] == {"NUMBA_NUM_THREADS": str(allowed_cpus())}


def test_what_the_environment_says_wins():
    got = imported({"OMP_WAIT_POLICY": "ACTIVE", "NUMBA_NUM_THREADS": "1"})
    assert got == {"set": {}, "policy": "ACTIVE", "numba": 1}


def test_a_run_started_beside_another_gets_its_share_of_the_threads():
    """Four threads calling one plan made 4 x 2 OpenMP threads on 2 cores (29 ms a SqueezeNet
    run against 22.7 ms shared); numba's count is per calling thread, so each run asks for
    its share."""
    import threading

    import numba

    from hetero import threads

    inside, leave, got = threading.Event(), threading.Event(), []

    def first() -> None:
        with threads.sharing() as share:
            got.append(("first", share))
            inside.set()
            leave.wait(10)

    runner = threading.Thread(target=first)
    runner.start()
    assert inside.wait(10)
    with threads.sharing() as share:
        got.append(("second", share, numba.get_num_threads()))
    leave.set()
    runner.join()
    half = max(1, threads.ALLOWED // 2)
    numba_half = min(half, numba.config.NUMBA_NUM_THREADS)
    assert got == [("first", threads.ALLOWED), ("second", half, numba_half)]
    with threads.sharing() as alone:
        assert alone == threads.ALLOWED  # the other run ended: the whole process again
