#!/usr/bin/env bash
# The README's first command: installs what is missing, builds spex, and runs
# its main job on the built-in default. Extra arguments go to 'spex explain'.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
if [ $# -eq 0 ]; then
    set -- --game examples/movie_review.json --method exact --index fsii --max-order 2 --top 12
fi
exec build/spex explain "$@"
