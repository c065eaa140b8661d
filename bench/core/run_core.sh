#!/bin/sh
# Runs bench_core with the reporting defaults of docs/performance.md (medians of
# 5 repetitions, real time). Usage: bench/core/run_core.sh [BUILD_DIR] [extra benchmark flags]
# Extra flags override the defaults, e.g. --benchmark_filter=mlp --benchmark_repetitions=3.
set -eu
build=${1:-$(dirname "$0")/../../build-bench}
[ $# -gt 0 ] && shift
exe="$build/bench/core/bench_core"
if [ ! -x "$exe" ]; then
  echo "run_core.sh: $exe not found; build the target bench_core first" >&2
  exit 1
fi
echo "load before: $(cat /proc/loadavg)"
"$exe" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true "$@"
echo "load after: $(cat /proc/loadavg)"
