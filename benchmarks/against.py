"""Run a benchmark script against another checkout of hetero, for A/B runs in one session.

    git worktree add /tmp/old REV
    ln -s ../backends /tmp/old/hetero/backends; ln -s ../kernels /tmp/old/hetero/kernels
    python benchmarks/against.py /tmp/old benchmarks/scheduler.py --objective energy

The installed (editable) hetero is set aside and the other checkout's is imported instead;
the script itself, and the tests' helpers it imports, are this checkout's. The links stand in
for the ``package-dir`` mapping of pyproject.toml that only an install applies.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    root, script = Path(sys.argv[1]).resolve(), sys.argv[2]
    missing = [p for p in ("backends", "kernels") if not (root / "hetero" / p).exists()]
    if missing:
        raise SystemExit(f"{root}/hetero lacks {', '.join(missing)}: link them as the usage "
                         f"above shows\n{__doc__}")
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path.insert(0, str(root))
    for name in [n for n in sys.modules if n == "hetero" or n.startswith("hetero.")]:
        del sys.modules[name]
    sys.argv = sys.argv[2:]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
