#!/usr/bin/env bash
# Issue 4's tabular row: one prediction of an XGBoost model trained on the
# breast-cancer data (../shared/data/breast_cancer.csv, 569 rows, 30
# features), row 0 explained, ablated features set to the column mean; the
# value is the model's log-odds of class 1 (benign). ProxySPEX, SPEX, LASSO
# (order 2: all 466 subsets up to order 2) and the marginal baseline
# (kernelshap = Faith-Banzhaf regression at order 1) at budgets 500 to
# 20,000; R² on 5,000 held-out random masks against the model. Prints a
# Markdown table. Usage, from the root:
#     bash bench/run_tabular.sh [build-dir] [row]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build}/bench_tabular
row=${2:-0}
[ -x "$bin" ] || { echo "build first: cmake --build ${1:-build}" >&2; exit 1; }
csv=../shared/data/breast_cancer.csv
echo "| data | row | method | order | budget | queries | R² (held-out) | terms | solve s | details |"
echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"
for budget in 500 1000 2000 5000 10000 20000; do
    for m in "proxyspex 5" "spex 5" "lasso 2" "kernelshap 1"; do
        set -- $m
        "$bin" --csv "$csv" --label target --row "$row" --budget "$budget" --method "$1" \
            --max-order "$2" --threads 2
    done
done
