#!/usr/bin/env bash
# SPEX benchmark: planted sparse games over n, s and noise, and the shipped
# games of ../shared/games at the budgets of games/REFERENCE.md. Prints
# Markdown tables (recorded in bench/RESULTS.md). Usage, from the root:
#   bash bench/run_spex.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build}/bench_spex
[ -x "$bin" ] || { echo "build first: cmake --build ${1:-build}" >&2; exit 1; }
hdr='| game | n | s | noise | budget | queries | R² | precision | recall | solve s | peak MiB | plan |
|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|'
echo "## Planted sparse Fourier games (degree 1–5, max order 5; budget = 3 groups of 2^b bins)"
echo
echo "$hdr"
for n in 32 128 512 1000 10000 100000; do
    for s in 20 100; do
        b=4; [ "$s" -eq 100 ] && b=6
        "$bin" --n "$n" --s "$s" --b "$b"
        "$bin" --n "$n" --s "$s" --b "$b" --snr 10
    done
done
echo
echo "## Shipped games (../shared/games), budgets of games/REFERENCE.md"
echo
echo "$hdr"
for g in ../shared/games/*.json; do
    for budget in 1000 5000 20000; do
        "$bin" --game "$g" --budget "$budget"
    done
done
