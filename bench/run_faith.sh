#!/usr/bin/env bash
# The headline benchmark (bench/RESULTS.md, issue 14): faithfulness of every
# method on real model functions of synth-interact-llama whose value under
# every mask is known. Needs the build (build/libspex.so) and Debian's
# python3-numpy. Usage: bash bench/run_faith.sh [bench/faith.py options]
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/faith.py "$@"
