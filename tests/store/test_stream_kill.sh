#!/usr/bin/env bash
# Answers saved as they arrive (issue 16, item 1): one run over an exec
# program is SIGKILLed at 10 random points in a row (after 20..519 answers), each re-run resuming
# from the cache of the one before; the program logs every mask it answers,
# so a mask in the logs of two runs was paid for twice. The engine commits
# streamed answers at least every 64 (or every second), so each kill may
# cost at most 64 answers: the up to 63 not yet committed plus the one the
# program wrote into the pipe before it logged it. Batches are 256 masks, so
# saving only whole batches (the behaviour before) would lose up to 255.
# The run finished at the end must equal an uninterrupted one.
# Usage: test_stream_kill.sh PATH/TO/spex   (run from the project root)
set -u
spex=$1
. tests/lib.sh # $tmp, the cache in it, ok/bad/expect/finish

# a slow program (about 1.5 ms a mask) that logs every mask it has answered
cp tests/store/slow_logged.py "$tmp/f.py"
args=(--n 16 --method spex --seed 5 --budget 4000 --batch-size 256 --top 0 --format json --quiet)
cmd="python3 $tmp/f.py $tmp/asked.log"
wait_prog() { for _ in $(seq 100); do pgrep -f "$tmp/f.py" >/dev/null || return 0; sleep 0.05; done; }

"$spex" explain --exec "$cmd" "${args[@]}" --no-cache >"$tmp/ref.json" 2>"$tmp/err" ||
    bad "reference run: $(cat "$tmp/err")"
rm -f "$tmp/asked.log"

cache="$tmp/cache.sqlite"
kills=0
for k in $(seq 10); do
    rm -f "$tmp/asked.log"
    # killed once the program has answered a random number of masks (not
    # after a delay: start-up takes seconds on a loaded machine)
    target=$((RANDOM % 500 + 20))
    "$spex" explain --exec "$cmd" "${args[@]}" --cache "$cache" >/dev/null 2>&1 &
    pid=$!
    touch "$tmp/asked.log"
    while kill -0 "$pid" 2>/dev/null && [ "$(wc -l <"$tmp/asked.log")" -lt "$target" ]; do
        sleep 0.01
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    st=$?
    wait_prog
    touch "$tmp/asked.log"
    mv "$tmp/asked.log" "$tmp/run$k.log"
    [ "$st" -eq 137 ] && kills=$((kills + 1))
done
rm -f "$tmp/asked.log"
"$spex" explain --exec "$cmd" "${args[@]}" --cache "$cache" >"$tmp/final.json" 2>"$tmp/err" ||
    bad "final run: $(cat "$tmp/err")"
touch "$tmp/asked.log"
mv "$tmp/asked.log" "$tmp/run11.log"
if [ "$kills" -ge 5 ]; then ok; else bad "only $kills of 10 runs were killed mid-run"; fi

if python3 - "$tmp" "$tmp/final.json" "$tmp/ref.json" <<'PY'; then ok; else bad "paid-twice checks"; fi
import json, sys
tmp = sys.argv[1]
logs = [open(f"{tmp}/run{k}.log").read().split() for k in range(1, 12)]
final, ref = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
errs, later_all = [], set()
twice = []
# masks a killed run paid for that some later run paid for again
for k in range(10):
    later = set().union(*map(set, logs[k + 1:]))
    twice.append(len(set(logs[k]) & later))
print("answers per run:", [len(l) for l in logs])
print("paid again after each kill:", twice, "- most", max(twice), "(limit 64)")
if max(twice) > 64:
    errs.append(f"a kill cost {max(twice)} answers, more than 64")
allm = [m for l in logs for m in l]
if len(set(allm)) != ref["queries"]:
    errs.append(f"{len(set(allm))} distinct masks paid, reference asked {ref['queries']}")
for key in ("fourier", "interactions"):
    if final[key] != ref[key]:
        errs.append(f"{key} differs from the uninterrupted run")
if final["queries"] != ref["queries"]:
    errs.append(f"queries {final['queries']} vs {ref['queries']}")
for e in errs:
    print("  " + e)
sys.exit(1 if errs else 0)
PY

finish stream_kill
