#!/usr/bin/env bash
# Beyond one machine (issue 16, item 5): scaling of MPI workers and of
# plan/shard/merge with a value function that sleeps 50 ms per mask (a
# stand-in for a GPU call), the data lens's re-training on 1 and 2 ranks,
# and the cost of MPI per batch. Prints Markdown (recorded in
# bench/RESULTS.md). Usage, from the root:
#   bash bench/run_mpi.sh [build-dir] [workers...]     (default 1 2 4 8 16)
# Efficiency = serial wall time / (W x wall time with W workers), everything
# included (mpirun's start, every rank opening the target, the solve).
set -euo pipefail
cd "$(dirname "$0")/.."
spex=$(realpath "${1:-build}/spex")
shift || true
workers=("$@")
[ ${#workers[@]} -gt 0 ] || workers=(1 2 4 8 16)
"$spex" explain --help | grep -q mpi-deadline || { echo "spex built without MPI" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# The value function's interpreter: Debian's python3 by default, since a
# version-manager shim (pyenv's python3 is a bash script) costs 0.3 s a
# start, which 17 ranks pay at once and which is not spex's to measure.
py=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/sleep.py" <<'PY'
import sys, time
for line in sys.stdin:
    time.sleep(0.05)
    print(line.count("1") * 0.5 - ("11" in line), flush=True)
PY
parts=${PARTS:-sleep big data batch}
q() { python3 -c "import json,sys; print(json.load(sys.stdin)['seconds']['queries'])"; }
has() { [[ " $parts " == *" $1 "* ]]; }
n=11 # exact: all 2048 masks, a negligible solve
target=(--exec "$py $tmp/sleep.py" --n $n --method exact --no-cache --quiet --format json)
now() { date +%s.%N; }
wall() { # wall CMD...: seconds
    local t0 t1
    t0=$(now)
    "$@" >/dev/null
    t1=$(now)
    echo "$t1 - $t0" | bc -l
}
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at the start; value function under $py"
# scaling W (ideal serial time t1, n): MPI and shards rows
scaling() {
local t1=$1 n=$2
shift 2
local target=(--exec "$py $tmp/sleep.py" --n $n --method exact --no-cache --quiet --format json)
"$spex" explain "${target[@]}" --plan "$tmp/plan" 2>/dev/null
for w in "$@"; do
    tm=$(wall mpirun --oversubscribe -n $((w + 1)) "$spex" explain "${target[@]}")
    # shards: plan (made above), W concurrent shards, merge, final explain
    rm -f "$tmp"/s*.sqlite "$tmp/all.sqlite"
    t0=$(now)
    for i in $(seq 0 $((w - 1))); do
        "$spex" work --plan "$tmp/plan" --shard "$i/$w" --cache "$tmp/s$i.sqlite" \
            --exec "$py $tmp/sleep.py" --n $n --quiet 2>/dev/null &
    done
    wait
    "$spex" cache merge "$tmp/all.sqlite" "$tmp"/s*.sqlite >/dev/null
    "$spex" explain --exec "$py $tmp/sleep.py" --n $n --method exact --quiet \
        --cache "$tmp/all.sqlite" --format json >"$tmp/sh.json"
    ts=$(echo "$(now) - $t0" | bc -l)
    grep -q '"queries_new": 0' "$tmp/sh.json" || { echo "shards left masks unanswered" >&2; exit 1; }
    printf '| %d | %.1f | %.2f | %.1f | %.2f |\n' "$w" "$tm" "$(echo "$t1 / ($w * $tm)" | bc -l)" \
        "$ts" "$(echo "$t1 / ($w * $ts)" | bc -l)"
done
}
if has sleep; then
    echo
    echo "Sleeping value function (50 ms a mask), exact over n = $n (2048 masks, 102.4 s of sleep):"
    echo
    echo "| workers | MPI wall s | MPI efficiency | shards wall s | shards efficiency |"
    echo "|---:|---:|---:|---:|---:|"
    t1=$(wall "$spex" explain "${target[@]}")
    printf '| serial | %.1f | 1.00 | | |\n' "$t1"
    scaling "$t1" $n "${workers[@]}"
fi
if has big; then
    echo
    echo "The same, n = 14 (16,384 masks): efficiency against the work, 819.2 s of sleep:"
    echo
    echo "| workers | MPI wall s | MPI efficiency | shards wall s | shards efficiency |"
    echo "|---:|---:|---:|---:|---:|"
    scaling 819.2 14 8 16
fi

if has data; then
echo
echo "Data lens (re-training a logistic regression per mask), 256 digits, LASSO, 600 masks;"
echo "querying seconds from the result file:"
echo
head -257 ../shared/data/digits.csv >"$tmp/train.csv"
sed -n '1p;1502p' ../shared/data/digits.csv >"$tmp/test.csv"
data=(--data "$tmp/train.csv" --label label --test "$tmp/test.csv" --row 0 --method lasso
      --budget 600 --no-cache --quiet --format json)
echo "| run | querying s | speed-up |"
echo "|---|---:|---:|"
d1=$("$spex" explain "${data[@]}" | q)
printf '| serial, 1 thread | %.2f | 1.00 |\n' "$d1"
d2=$(mpirun --oversubscribe -n 3 "$spex" explain "${data[@]}" | q)
printf '| MPI, 2 worker ranks | %.2f | %.2f |\n' "$d2" "$(echo "$d1 / $d2" | bc -l)"
dt=$("$spex" explain "${data[@]}" --threads 2 | q)
printf '| serial, --threads 2 | %.2f | %.2f |\n' "$dt" "$(echo "$d1 / $dt" | bc -l)"
fi
if has batch; then

echo
echo "MPI cost per batch: a game (microseconds a mask), 20,000 masks in batches of 64,"
echo "1 worker rank, querying seconds from the result file:"
echo
g=(--game ../shared/games/sparse_fourier_n32_s20.json --method kernelshap --degree 1 --budget 20000 --batch-size 64 --no-cache
   --quiet --format json)
gs=$("$spex" explain "${g[@]}" | q)
gm=$(mpirun -n 2 "$spex" explain "${g[@]}" | q)
echo "| serial s | MPI s | batches | MPI cost per batch |"
echo "|---:|---:|---:|---:|"
printf '| %.3f | %.3f | %d | %.0f µs |\n' "$gs" "$gm" 313 "$(echo "($gm - $gs) / 313 * 1000000" | bc -l)"
fi
