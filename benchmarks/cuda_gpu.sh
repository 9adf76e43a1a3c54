#!/usr/bin/env bash
# Every GPU figure of the cuda backend in one call on a lent, bare GPU machine (issue 25):
# hetero installed from this checkout (no index needed: the machine's python3 has torch,
# numba-cuda, onnx, onnxruntime, nvidia-ml-py, pluggy and rich), the timed parts alone on the
# GPU first, then the correctness parts side by side. Everything lands in $OUT as it is made.
#   bash benchmarks/cuda_gpu.sh            (OUT defaults to ./gpu-out)
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
if ! python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . \
        >"$OUT/install.log" 2>&1; then
    # no setuptools to build with: lay the packages out as the wheel would, by links, with
    # the entry points the backends register through
    site=/tmp/hetero-site && mkdir -p "$site/hetero" "$site/hetero-0.1.0.dist-info"
    ln -sfn "$PWD"/hetero/* "$site/hetero/" && ln -sfn "$PWD/backends" "$site/hetero/backends"
    ln -sfn "$PWD/kernels" "$site/hetero/kernels"
    printf 'Metadata-Version: 2.1\nName: hetero\nVersion: 0.1.0\n' \
        >"$site/hetero-0.1.0.dist-info/METADATA"
    python3 - "$site" <<'PY'
import sys, tomllib
points = tomllib.load(open("pyproject.toml", "rb"))["project"]["entry-points"]
with open(f"{sys.argv[1]}/hetero-0.1.0.dist-info/entry_points.txt", "w") as out:
    for group, entries in points.items():
        out.write(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items()))
PY
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    echo "pip could not install hetero (see install.log): linked into $site instead"
fi
export NUMBA_ENABLE_CUDASIM=${NUMBA_ENABLE_CUDASIM:-0} PYTHONUNBUFFERED=1 HETERO_CACHE_DIR=/tmp/hetero-cache
TIMED=${TIMED:-env,devices,resnet,energy,light}
timeout "${TIMED_S:-170}" python3 benchmarks/cuda_gpu.py --parts "$TIMED" --out "$OUT" \
    --name timed >"$OUT/timed.log" 2>&1
tail -c 3000 "$OUT/timed.log"
CHECK_S=${CHECK_S:-150}
[ "$CHECK_S" = 0 ] && exit 0  # the timed parts only
timeout "$CHECK_S" python3 benchmarks/cuda_gpu.py --parts conformance --out "$OUT" \
    --name conformance >"$OUT/conformance.log" 2>&1 &
timeout "$CHECK_S" python3 benchmarks/cuda_gpu.py --parts suite --out "$OUT" \
    --name suite >"$OUT/suite.log" 2>&1 &
timeout "$CHECK_S" python3 -m pytest -q -rfE -p no:cacheprovider -n 4 --dist loadfile \
    tests/test_cuda_gpu.py tests/test_cuda_backend.py tests/test_kernel_language.py \
    -k "cuda or gpu" >"$OUT/pytest.log" 2>&1 &
wait
tail -n 25 "$OUT/pytest.log"
python3 - "$OUT" <<'PY'
import json, sys, pathlib
for name in ("conformance", "suite"):
    path = pathlib.Path(sys.argv[1]) / f"{name}.json"
    found = json.loads(path.read_text()).get(name, {}) if path.exists() else "no result"
    print(name, json.dumps(found)[:1500])
PY
