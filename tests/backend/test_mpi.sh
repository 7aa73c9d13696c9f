#!/usr/bin/env bash
# MPI workers (issue 16, items 3-4), on one machine with Open MPI:
# `mpirun --oversubscribe -n 4 spex explain` gives the serial run's result
# file and cache rows, asking each mask once, and so do the prompt, heads
# and data lenses with 2 workers; an evaluation error on one
# rank comes back as a clear error naming the rank, with the answers
# received kept; a late chunk (a rank that stalls) is sent to another rank
# and the result is unchanged; a rank killed mid-run fails the job, and the
# re-run pays again at most for what was in flight (64 answers of the last
# commit group plus the chunks the workers held).
# Usage: test_mpi.sh PATH/TO/spex   (run from the project root)
set -u
spex=$(realpath "$1")
. tests/lib.sh

if ! command -v mpirun >/dev/null || ! "$spex" explain --help | grep -q "mpi-deadline"; then
    if [ -n "${CI:-}" ]; then
        bad "no mpirun or a spex without MPI (scripts/setup.sh installs libopenmpi-dev)"
    else
        echo "mpi: no mpirun or a spex built without MPI: skipped"
        ok
    fi
    finish mpi
    exit
fi
# CI runs as root; Open MPI refuses that unless told
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI's components stay loaded until exit, so that LeakSanitizer can
# name (and tests/lsan.supp suppress) what they keep
export OMPI_MCA_mca_base_component_disable_dlclose=1
# Under AddressSanitizer (scripts/test.sh), stacks through Open MPI's
# libraries (built without frame pointers) need the slow unwinder for the
# suppressions of tests/lsan.supp to match them
if ldd "$spex" 2>/dev/null | grep -q libasan; then
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
fi
mpi=(mpirun --oversubscribe -n 4)
cp tests/backend/mpi_ranked.py "$tmp/f.py"
log=$tmp/asked.log
target=(--exec "python3 $tmp/f.py $log" --n 16)
args=(--method spex --seed 7 --budget 2000 --quiet --format json)
same() { # same A.json B.json: identical explanations and query counts
    python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
# (which answers came from the cache differs, by design, after a kill)
keys = [k for k in a if k not in ("seconds", "details", "queries_cached", "queries_new")]
diff = [k for k in keys if a[k] != b.get(k)]
if diff: print("differs in", diff)
sys.exit(1 if diff else 0)
PY
}
rows() { # rows CACHE: every (mask, value) of the cache, sorted
    python3 -c "import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for m, v in sorted(c.execute('select hex(mask), value from answers')): print(m, repr(v))" "$1"
}

# 1. serial and MPI: same result file, same cache rows, every mask asked once
"$spex" explain "${target[@]}" "${args[@]}" --cache "$tmp/serial.sqlite" >"$tmp/serial.json" \
    2>"$tmp/err" || bad "serial run: $(cat "$tmp/err")"
rm -f "$log"
"${mpi[@]}" "$spex" explain "${target[@]}" "${args[@]}" --cache "$tmp/mpi.sqlite" \
    >"$tmp/mpi.json" 2>"$tmp/err" || bad "mpirun: $(cat "$tmp/err")"
if same "$tmp/serial.json" "$tmp/mpi.json"; then ok; else bad "MPI result differs from serial"; fi
if [ "$(rows "$tmp/serial.sqlite" | md5sum)" = "$(rows "$tmp/mpi.sqlite" | md5sum)" ]; then
    ok
else
    bad "MPI cache rows differ from serial"
fi
if python3 - "$log" "$tmp/mpi.json" <<'PY'; then ok; else bad "masks asked twice or by rank 0"; fi
import collections, json, sys
lines = [l.split() for l in open(sys.argv[1])]
q = json.load(open(sys.argv[2]))["queries"]
by_rank = collections.Counter(r for r, _ in lines)
print("answers by rank:", dict(by_rank), "queries:", q)
sys.exit(0 if len(lines) == len({m for _, m in lines}) == q and "0" not in by_rank
         and len(by_rank) == 3 else 1)
PY
# another method, with the HTML report and --validate through the workers
expect 0 "" "${mpi[@]}" "$spex" explain --game examples/movie_review.json --method kernelshap \
    --budget 400 --validate 2 --html "$tmp/r.html" --no-cache --quiet
if grep -q "largest |predicted - measured|" "$tmp/out" && [ -s "$tmp/r.html" ]; then
    ok
else
    bad "kernelshap under MPI: $(head -c 300 "$tmp/out")"
fi

# every other kind of target through the workers gives the serial result:
# the prompt lens (all 128 masks of 7 words), the heads lens (layer 3's
# heads), the data lens (re-training on 8 groups of rows)
M=../shared/models/synth-interact-llama-F32.gguf
printf 'x1,x2,y\n' >"$tmp/train.csv"
for i in $(seq 0 31); do echo "$((i % 5)),$((i % 3)),$((i % 2))"; done >>"$tmp/train.csv"
same_as_serial() { # same_as_serial NAME ARGS...: explain serially and on 2 workers
    local name=$1
    shift
    "$spex" explain "$@" --no-cache --quiet --format json >"$tmp/$name.serial.json" \
        2>"$tmp/err" || bad "$name serial: $(cat "$tmp/err")"
    mpirun --oversubscribe -n 3 "$spex" explain "$@" --no-cache --quiet --format json \
        >"$tmp/$name.mpi.json" 2>"$tmp/err" || bad "$name under MPI: $(cat "$tmp/err")"
    if same "$tmp/$name.serial.json" "$tmp/$name.mpi.json"; then
        ok
    else
        bad "$name: MPI result differs from serial"
    fi
}
P=(--llm "$M" --prompt "the food was not good ." --target " negative" --method exact)
same_as_serial llm "${P[@]}"
same_as_serial heads "${P[@]}" --heads --layers 3
same_as_serial data --data "$tmp/train.csv" --label y --row 0 --groups 8 --method exact

# 2. an evaluation error on rank 2: exit status 3, the rank named, answers kept
rm -f "$log"
echo 2 >"$log.fail"
expect 3 "rank 2: .*oops" "${mpi[@]}" "$spex" explain "${target[@]}" "${args[@]}" \
    --cache "$tmp/fail.sqlite"
rm -f "$log.fail"
answered=$(wc -l <"$log")
expect 0 "" "$spex" explain "${target[@]}" "${args[@]}" --cache "$tmp/fail.sqlite"
if python3 - "$tmp/out" "$answered" <<'PY'; then ok; else bad "answers before the error lost"; fi
import json, sys
r = json.load(open(sys.argv[1]))
cached, answered = r["queries"] - r["queries_new"], int(sys.argv[2])
print(f"answered before the error {answered}, from the cache on the re-run {cached}")
sys.exit(0 if answered > 0 and cached == answered else 1)
PY

# 3. rank 1 stalls (3 s on each of its first masks): its late chunk goes to
# another rank after --mpi-deadline, the first answer wins, same result
rm -f "$log"
echo 1 >"$log.slow"
"${mpi[@]}" "$spex" explain "${target[@]}" "${args[@]}" --no-cache --mpi-deadline 0.5 \
    >"$tmp/slow.json" 2>"$tmp/err" || bad "stalled rank: $(cat "$tmp/err")"
rm -f "$log.slow"
if same "$tmp/serial.json" "$tmp/slow.json"; then ok; else bad "result changed by a resent chunk"; fi
if python3 - "$log" <<'PY'; then ok; else bad "no chunk was sent again"; fi
import collections, sys
ranks = collections.defaultdict(set)
for r, m in (l.split() for l in open(sys.argv[1])):
    ranks[m].add(r)
twice = [m for m, rs in ranks.items() if len(rs) > 1]
print(f"masks answered by two ranks: {len(twice)}")
sys.exit(0 if twice and all("1" in ranks[m] for m in twice) else 1)
PY

# 4. rank 2 killed mid-run: the job fails; the re-run (serial) succeeds and
# pays again only for answers in flight
rm -f "$log"
"${mpi[@]}" "$spex" explain "${target[@]}" "${args[@]}" --cache "$tmp/kill.sqlite" \
    --mpi-chunk 0.02 >/dev/null 2>"$tmp/err.kill" &
job=$!
victim=
for _ in $(seq 600); do
    [ -s "$log" ] && [ "$(wc -l <"$log")" -ge 400 ] && break
    sleep 0.02
done
for p in $(pgrep -x spex); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=2"; then
        victim=$p
    fi
done
if [ -n "$victim" ]; then kill -9 "$victim"; else bad "no rank 2 to kill"; fi
wait $job
if [ $? -ne 0 ]; then ok; else bad "the job did not fail when rank 2 died"; fi
for _ in $(seq 100); do pgrep -f "$tmp/f.py" >/dev/null || break; sleep 0.05; done
mv "$log" "$tmp/killed.log"
"$spex" explain "${target[@]}" "${args[@]}" --cache "$tmp/kill.sqlite" >"$tmp/rerun.json" \
    2>"$tmp/err" || bad "re-run after the kill: $(cat "$tmp/err")"
if same "$tmp/serial.json" "$tmp/rerun.json"; then ok; else bad "re-run differs from serial"; fi
if python3 - "$tmp/killed.log" "$log" <<'PY'; then ok; else bad "re-run paid twice too much"; fi
import sys
k = {l.split()[1] for l in open(sys.argv[1])}
r = {l.split()[1] for l in open(sys.argv[2])}
# in flight: the last commit group (64) and one chunk per worker (3 ranks,
# chunks of ~0.02 s: at most 32 masks each)
print(f"answered before the kill {len(k)}, re-run {len(r)}, paid twice {len(k & r)}")
sys.exit(0 if len(k) >= 400 and len(k & r) <= 64 + 3 * 32 else 1)
PY

# 5. bad options
expect 1 "mpi-deadline" "${mpi[@]}" "$spex" explain --game examples/movie_review.json \
    --mpi-deadline 0 --no-cache --quiet
finish mpi
