#!/usr/bin/env bash
# Resume after a crash (issue 8): a run of the exec backend is SIGKILLed at a
# random point; the re-run of the same command must reuse every answer
# received before the kill (the program logs each mask it answers) and end
# with exactly the result of an uninterrupted run with the same seed. Then:
# a third run is answered from the cache alone, 'spex cache' inspects and
# clears it, and a corrupt cache gets a warning (default) or a clean stop.
# Usage: test_resume.sh PATH/TO/spex   (run from the project root)
set -u
spex=$1
. tests/lib.sh # $tmp, the cache in it, ok/bad/expect/finish

# a slow program (about 1.5 ms a mask) that logs every mask it has answered
cp tests/store/slow_logged.py "$tmp/f.py"
B=32
args=(--n 16 --method spex --seed 3 --budget 1500 --batch-size $B --top 0 --format json --quiet)
# The command (and so the cache's fingerprint) is the same for every run:
# the program always logs to asked.log, moved to LOG after the run.
run() { # run LOG CACHE-ARGS...
    local log=$1 st
    shift
    rm -f "$tmp/asked.log"
    "$spex" explain --exec "python3 $tmp/f.py $tmp/asked.log" "${args[@]}" "$@"
    st=$?
    touch "$tmp/asked.log"
    mv "$tmp/asked.log" "$log"
    return $st
}
# waits until the killed run's program has exited
wait_prog() { for _ in $(seq 100); do pgrep -f "$tmp/f.py" >/dev/null || return 0; sleep 0.05; done; }

# the uninterrupted reference, no cache
run "$tmp/ref.log" --no-cache >"$tmp/ref.json" 2>"$tmp/err" || bad "reference run: $(cat "$tmp/err")"

# a run killed at a random point: once the program has answered a random
# number of masks (a point in the run, not in time: a loaded machine or a
# slow interpreter start must not move it past the end or before the start)
cache="$tmp/c/cache.sqlite"
killed=0
for attempt in 1 2 3 4; do
    rm -rf "$tmp/c" "$tmp/asked.log"
    at=$(python3 -c "import random; print(random.randint(40, 900))")
    "$spex" explain --exec "python3 $tmp/f.py $tmp/asked.log" "${args[@]}" --cache "$cache" \
        >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 3000); do
        [ -s "$tmp/asked.log" ] && [ "$(wc -l <"$tmp/asked.log")" -ge "$at" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.01
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    st=$?
    wait_prog
    touch "$tmp/asked.log"
    mv "$tmp/asked.log" "$tmp/run1.log"
    if [ "$st" -eq 137 ] && [ -s "$tmp/run1.log" ]; then killed=1; break; fi
done
if [ $killed -eq 1 ]; then ok; else bad "could not kill a run in the middle"; fi
echo "killed after $(wc -l <"$tmp/run1.log") answers (aimed at $at)"

# the re-run resumes: nothing answered before the kill is asked again,
# except the batch in flight (its answers are saved when the batch returns;
# batches restart at each call of the engine, so it is the last <= B answers)
run "$tmp/run2.log" --cache "$cache" >"$tmp/run2.json" 2>"$tmp/err" || bad "resumed run: $(cat "$tmp/err")"
if python3 - "$tmp/run1.log" "$tmp/run2.log" "$tmp/run2.json" "$tmp/ref.json" $B <<'PY'; then ok; else bad "resume checks"; fi
import json, sys
l1 = open(sys.argv[1]).read().split()
l2 = open(sys.argv[2]).read().split()
r2, ref = json.load(open(sys.argv[3])), json.load(open(sys.argv[4]))
B = int(sys.argv[5])
# the batch in flight at the kill (not yet saved) is at most the last B
# answers; every answer before it was committed and must be reused
done_before = set(l1[: max(0, len(l1) - B)])
again = done_before & set(l2)
errs = []
if again:
    errs.append(f"{len(again)} masks answered before the kill were asked again")
if len(set(l1) & set(l2)) > B:
    errs.append(f"{len(set(l1) & set(l2))} masks asked twice, more than one batch ({B})")
if len(l2) != len(set(l2)):
    errs.append("the resumed run asked a mask twice")
if r2["queries_new"] != len(l2):
    errs.append(f"queries_new {r2['queries_new']} but the program answered {len(l2)}")
if r2["queries_cached"] < len(done_before) or r2["queries_cached"] > len(l1):
    errs.append(f"queries_cached {r2['queries_cached']} not in [{len(done_before)}, {len(l1)}]")
if r2["queries"] != ref["queries"] or r2["queries_cached"] + r2["queries_new"] != r2["queries"]:
    errs.append(f"queries {r2['queries']} vs reference {ref['queries']}")
for key in ("fourier", "interactions"):
    if r2[key] != ref[key]:
        errs.append(f"{key} differs from the uninterrupted run")
print(f"run1 answered {len(l1)}, resumed run: {r2['queries_cached']} cached + {r2['queries_new']} new = {r2['queries']}")
for e in errs:
    print("  " + e)
sys.exit(1 if errs else 0)
PY

# a third run: everything from the cache, the program asked nothing
run "$tmp/run3.log" --cache "$cache" >"$tmp/run3.json" 2>"$tmp/err" || bad "third run: $(cat "$tmp/err")"
if [ ! -s "$tmp/run3.log" ] && python3 -c "
import json, sys
r, ref = json.load(open('$tmp/run3.json')), json.load(open('$tmp/ref.json'))
sys.exit(not (r['queries_new'] == 0 and r['queries_cached'] == ref['queries'] and r['fourier'] == ref['fourier']))"; then
    ok
else
    bad "third run was not answered from the cache alone"
fi
# the table says where answers came from
run "$tmp/run4.log" --cache "$cache" --format table >"$tmp/t.txt" 2>&1
if grep -q "1500 model queries (1500 from the cache, 0 new)" "$tmp/t.txt"; then ok; else bad "table: $(head -2 "$tmp/t.txt")"; fi

# spex cache stats | list | clear
"$spex" cache stats --cache "$cache" >"$tmp/s.txt" 2>&1
if grep -q "1 value functions, 1500 answers" "$tmp/s.txt"; then ok; else bad "stats: $(cat "$tmp/s.txt")"; fi
"$spex" cache list --cache "$cache" >"$tmp/l.txt" 2>&1
if grep -q "exec/1 n=16 cmd=python3" "$tmp/l.txt"; then ok; else bad "list: $(cat "$tmp/l.txt")"; fi
"$spex" cache clear --older-than 1h --cache "$cache" >"$tmp/c.txt" 2>&1
if grep -q "deleted 0 answers" "$tmp/c.txt"; then ok; else bad "clear --older-than: $(cat "$tmp/c.txt")"; fi
"$spex" cache clear --cache "$cache" >"$tmp/c.txt" 2>&1
if grep -q "deleted 1500 answers" "$tmp/c.txt"; then ok; else bad "clear: $(cat "$tmp/c.txt")"; fi
"$spex" cache clear --older-than soon --cache "$cache" >/dev/null 2>"$tmp/err"
if [ $? -eq 1 ] && grep -q "older-than" "$tmp/err"; then ok; else bad "bad --older-than accepted"; fi

# the default location is under XDG_CACHE_HOME
"$spex" explain --game examples/movie_review.json --quiet >/dev/null 2>&1
if [ -f "$XDG_CACHE_HOME/spex/cache.sqlite" ]; then ok; else bad "no cache under XDG_CACHE_HOME"; fi

# a corrupt cache: a warning and a normal run, or a clean stop
head -c 5000 /dev/urandom >"$tmp/garbage.sqlite"
"$spex" explain --game examples/movie_review.json --cache "$tmp/garbage.sqlite" --quiet \
    >/dev/null 2>"$tmp/err"
if [ $? -eq 0 ] && grep -q "warning.*garbage.sqlite.*without the cache" "$tmp/err"; then ok; else bad "corrupt cache, continue: $(cat "$tmp/err")"; fi
"$spex" explain --game examples/movie_review.json --cache "$tmp/garbage.sqlite" --cache-fail stop \
    --quiet >/dev/null 2>"$tmp/err"
if [ $? -eq 2 ] && grep -q "garbage.sqlite.*corrupt" "$tmp/err"; then ok; else bad "corrupt cache, stop: $(cat "$tmp/err")"; fi

finish resume
