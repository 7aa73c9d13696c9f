#!/usr/bin/env bash
# Query cache overhead (issue 8): µs per saved / looked-up answer and a fully
# cached re-run. Prints Markdown (recorded in bench/RESULTS.md). Usage, from
# the root:  bash bench/run_cache.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build}/bench_cache
[ -x "$bin" ] || { echo "build first: cmake --build ${1:-build}" >&2; exit 1; }
"$bin" --n 128 --masks 100000
"$bin" --n 1000 --masks 20000 | tail -n +3
