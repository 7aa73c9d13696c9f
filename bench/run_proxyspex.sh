#!/usr/bin/env bash
# ProxySPEX against SPEX, LASSO and a marginal baseline (Faith-Banzhaf
# regression at order 1 = Banzhaf values) on the shipped games, at the
# budgets of games/REFERENCE.md. Prints Markdown tables (the lead records
# them in bench/RESULTS.md). About 10-15 minutes on 2 cores. Usage, from the
# root:   bash bench/run_proxyspex.sh [build-dir]
# Orders: spex 5 (as the reference's degree 5); lasso 2 on n = 128 (all
# 8,256 subsets up to order 2; order 3 would need 350,000 columns) and 1 on
# n = 512; kernelshap 1. proxyspex is skipped at n = 512, 20,000 (several
# minutes of XGBoost alone).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build}/bench_proxyspex
[ -x "$bin" ] || { echo "build first: cmake --build ${1:-build}" >&2; exit 1; }
g=../shared/games
echo "| game | method | order | budget | queries | R² | precision | recall | solve s | xgboost s (share) | details |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
row() { "$bin" --game "$g/$1.json" --budget "$2" --method "$3" --max-order "$4" --threads 2; }
for game in hierarchical_n128 hierarchical_n128_snr10db hierarchical_n512; do
    lo=2; [ "$game" = hierarchical_n512 ] && lo=1
    for budget in 500 1000 5000 20000; do
        if [ "$game" != hierarchical_n512 ] || [ "$budget" -lt 20000 ]; then
            [ "$game" = hierarchical_n128_snr10db ] && [ "$budget" -eq 20000 ] || row "$game" "$budget" proxyspex 5
        fi
        row "$game" "$budget" spex 5
        if [ "$budget" -lt 20000 ]; then row "$game" "$budget" lasso "$lo"; fi
        row "$game" "$budget" kernelshap 1
    done
done
# The solve-time target: n = 1000 features, 5,000 masks, the full default grid.
row sparse_fourier_n1000_s20 5000 proxyspex 5
