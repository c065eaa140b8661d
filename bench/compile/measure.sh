#!/usr/bin/env bash
# Times the compilation of one variant (one_variant.cpp) as the library's builds compile it
# (-O3 -march=native, C++20), N times (default 3), and prints each time and the median.
# usage: bench/compile/measure.sh [N]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
n="${1:-3}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
times=()
for ((i = 0; i < n; ++i)); do
  start=$(date +%s.%N)
  ${CXX:-g++} -std=c++20 -O3 -march=native -fopenmp -DNDEBUG -I "$root/include" -I /usr/include/eigen3 \
    -c "$here/one_variant.cpp" -o "$tmp/one_variant.o"
  end=$(date +%s.%N)
  t=$(echo "$end - $start" | bc)
  times+=("$t")
  echo "run $((i + 1)): ${t} s"
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "median of %d: %.2f s\n", NR, a[int((NR+1)/2)]}'
