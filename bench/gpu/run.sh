#!/usr/bin/env bash
# GPU check of the Thrust backend (docs/thrust.md), for a machine with an
# NVIDIA GPU, nvcc and cuBLAS:
#   1. configures a CUDA build (nvcc, CMAKE_CUDA_ARCHITECTURES, default 90),
#   2. builds test_thrust_cuda and bench_thrust_cuda,
#   3. runs the CUDA parity tests (ctest; skipped if no device is visible),
#   4. runs the CUDA benchmark (a TS-DSAE stage-2 step and the MLP / LSTM
#      modules, thrust-cuda and cpu side by side) and its PyTorch peers: the
#      modules on the GPU (torch_modules.py) and the full TS-DSAE step of the
#      project's reference (bench/reference/bench_torch.py; host CPU unless it
#      gains a --device flag),
#   5. writes results.md (a markdown table) plus the raw logs.
#
# usage: bench/gpu/run.sh [OUT_DIR]    (default: $OUT, else ./gpu-results)
# env:   CUDA_ARCH (default 90), JOBS (default nproc), STEPS (default 20),
#        BUILD_DIR (default <repo>/build-gpu), PYTHON (default /usr/bin/python3)
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=${1:-${OUT:-$PWD/gpu-results}}
build=${BUILD_DIR:-$root/build-gpu}
arch=${CUDA_ARCH:-90}
jobs=${JOBS:-$(nproc)}
steps=${STEPS:-20}
py=${PYTHON:-/usr/bin/python3}
[ -x "$py" ] || py=$(command -v python3 || true)
mkdir -p "$out"
md=$out/results.md
nvcc_bin=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)

{
  echo "# Thrust backend on GPU"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "- GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1 || echo 'nvidia-smi unavailable')"
  echo "- nvcc: $("$nvcc_bin" --version 2>/dev/null | tail -1 || echo missing), arch $arch"
  echo
} > "$md"

step() { echo "== $*" | tee -a "$out/run.log"; }

step "configure ($build)"
if ! cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$nvcc_bin" \
     -DCMAKE_CUDA_ARCHITECTURES="$arch" -DDSAE_BUILD_EXAMPLES=OFF > "$out/configure.log" 2>&1; then
  echo "configure FAILED (see configure.log)" | tee -a "$md"; exit 1
fi
step "build test_thrust_cuda bench_thrust_cuda (-j$jobs)"
if ! cmake --build "$build" --target test_thrust_cuda bench_thrust_cuda -j"$jobs" > "$out/build.log" 2>&1; then
  echo "build FAILED (see build.log)" | tee -a "$md"; tail -40 "$out/build.log"; exit 1
fi

step "CUDA parity tests"
ctest --test-dir "$build" -R '^test_thrust_cuda$' --output-on-failure > "$out/ctest.log" 2>&1
test_rc=$?
"$build/tests/thrust/test_thrust_cuda" --report_level=short > "$out/test_report.log" 2>&1
{
  echo "## CUDA parity tests (test_thrust_cuda)"
  echo
  echo '```'
  grep -E "tests passed|tests failed|Passed|Failed|Skipped|SKIPPED|CUDA device" "$out/ctest.log" "$out/test_report.log" | sed 's|.*/||'
  echo '```'
  echo
} >> "$md"

step "benchmarks"
{
  echo "## Speed (float32, B=128, T=251, F=80; median of $steps steps)"
  echo
  echo "| benchmark | backend | device | median ms | min ms | steps |"
  echo "|---|---|---|---|---|---|"
} >> "$md"
"$build/bench/gpu/bench_thrust_cuda" --steps "$steps" --backends thrust,cpu --markdown "$out/bench_thrust.md" \
  > "$out/bench_thrust.log" 2>&1 && tail -n +3 "$out/bench_thrust.md" >> "$md"
if [ -n "$py" ]; then
  # Module peers on the GPU.
  "$py" "$root/bench/gpu/torch_modules.py" --device cuda --steps "$steps" --markdown "$out/torch_modules.md" \
    > "$out/torch_modules.log" 2>&1
  if [ -s "$out/torch_modules.md" ]; then cat "$out/torch_modules.md" >> "$md"
  else echo "| modules (PyTorch peer) | $(tail -1 "$out/torch_modules.log") | | | | |" >> "$md"; fi
  # The full TS-DSAE stage-2 step of the PyTorch reference. On the GPU only if
  # bench_torch.py has a --device flag; otherwise on the host CPU (its best
  # 2-core-style setting is not tuned here: --threads = all cores).
  ref=$root/bench/reference/bench_torch.py
  dev_flag=()
  dev_name="host CPU (reference has no --device flag)"
  if "$py" "$ref" --help 2>/dev/null | grep -q -- "--device"; then dev_flag=(--device cuda); dev_name="cuda"; fi
  if "$py" "$ref" --method ts-dsae --stage 2 --z 16 --steps 5 --warmup 1 --threads "$jobs" "${dev_flag[@]}" \
       --json "$out/bench_torch.json" > "$out/bench_torch.log" 2>&1; then
    "$py" - "$out/bench_torch.json" "$dev_name" >> "$md" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"| ts-dsae stage 2 step, Z=16 | PyTorch reference | {sys.argv[2]} | {r['median_ms']:.4g} | {r['min_ms']:.4g} | {r.get('steps', 5)} |")
PY
  else
    echo "| ts-dsae stage 2 step, Z=16 | PyTorch reference | failed: $(tail -1 "$out/bench_torch.log") | | | |" >> "$md"
  fi
fi
echo >> "$md"
step "done: $md"
cat "$md"
exit $test_rc
