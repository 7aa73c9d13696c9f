#!/usr/bin/env bash
# Plan, shard, merge (issue 16, item 2): `spex explain --plan` writes the
# masks a run will ask; 4 `spex work` shards (shard index from a faked
# SLURM_ARRAY_TASK_ID) answer them into their own caches, one of them
# SIGKILLed mid-run and re-run (it pays only for what its cache lacks);
# `spex cache merge` joins them and the same explain over the merged cache
# asks nothing new and gives exactly the serial run's result. Every method
# plans exactly the masks it asks; the GNU parallel recipe of the README
# runs too (when GNU parallel is installed; scripts/setup.sh installs it).
# Usage: test_shards.sh PATH/TO/spex   (run from the project root)
set -u
spex=$(realpath "$1")
. tests/lib.sh # $tmp, the cache in it, ok/bad/expect/finish

# about 1.5 ms a mask, logging every mask it answers
cp tests/store/slow_logged.py "$tmp/f.py"
cmd="python3 $tmp/f.py $tmp/asked.log"
target=(--exec "$cmd" --n 16)
args=(--method spex --seed 7 --budget 2000 --batch-size 64 --quiet)
same() { # same A.json B.json: identical explanations and query counts
    python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
sys.exit(0 if all(a[k] == b[k] for k in ("fourier", "interactions", "queries")) else 1)
PY
}

"$spex" explain "${target[@]}" "${args[@]}" --no-cache --format json >"$tmp/serial.json" \
    2>"$tmp/err" || bad "serial run: $(cat "$tmp/err")"
expect 0 "plan of 2000 masks" "$spex" explain "${target[@]}" "${args[@]}" --plan "$tmp/plan"
expect 1 "exclude each other" "$spex" explain "${target[@]}" "${args[@]}" --plan "$tmp/p2" --validate 2

# 4 shards as a Slurm array would start them (--array=1-4: IDs 1..4, MIN 1)
export SLURM_ARRAY_TASK_COUNT=4 SLURM_ARRAY_TASK_MIN=1
rm -f "$tmp/asked.log"
for id in 1 2 3 4; do
    if [ $id -eq 3 ]; then # killed after about 200 answers, then re-run
        rm -f "$tmp/asked.log"
        SLURM_ARRAY_TASK_ID=$id "$spex" work --plan "$tmp/plan" --cache "$tmp/s$id.sqlite" \
            "${target[@]}" --quiet --batch-size 64 2>/dev/null &
        pid=$!
        touch "$tmp/asked.log"
        while kill -0 $pid 2>/dev/null && [ "$(wc -l <"$tmp/asked.log")" -lt 200 ]; do sleep 0.01; done
        kill -9 $pid 2>/dev/null
        wait $pid 2>/dev/null
        if [ $? -eq 137 ]; then ok; else bad "shard 3 was not killed mid-run"; fi
        for _ in $(seq 100); do pgrep -f "$tmp/f.py" >/dev/null || break; sleep 0.05; done
        mv "$tmp/asked.log" "$tmp/killed.log"
        SLURM_ARRAY_TASK_ID=$id "$spex" work --plan "$tmp/plan" --cache "$tmp/s$id.sqlite" \
            "${target[@]}" --quiet --batch-size 64 2>"$tmp/err3" || bad "shard 3 re-run: $(cat "$tmp/err3")"
        mv "$tmp/asked.log" "$tmp/rerun.log"
    else
        SLURM_ARRAY_TASK_ID=$id "$spex" work --plan "$tmp/plan" --cache "$tmp/s$id.sqlite" \
            "${target[@]}" --quiet 2>"$tmp/err" || bad "shard $id: $(cat "$tmp/err")"
    fi
done
unset SLURM_ARRAY_TASK_COUNT SLURM_ARRAY_TASK_MIN
# the re-run paid again for at most the last commit group (64) of the killed one
if python3 - "$tmp/killed.log" "$tmp/rerun.log" "$tmp/err3" <<'PY'; then ok; else bad "shard re-run paid twice"; fi
import re, sys
k, r = (set(open(p).read().split()) for p in sys.argv[1:3])
err = open(sys.argv[3]).read()
print(f"killed shard answered {len(k)}, re-run {len(r)}, paid twice {len(k & r)}; {err.strip()}")
m = re.search(r"(\d+) from the cache", err)
sys.exit(0 if len(k & r) <= 64 and m and int(m.group(1)) >= len(k) - 64 else 1)
PY
expect 0 "" "$spex" cache merge "$tmp/merged.sqlite" "$tmp"/s[1-4].sqlite
if grep -q "2000 new answers" "$tmp/out"; then ok; else bad "merge: $(cat "$tmp/out")"; fi
rm -f "$tmp/asked.log"
"$spex" explain "${target[@]}" "${args[@]}" --cache "$tmp/merged.sqlite" --format json \
    >"$tmp/merged.json" 2>"$tmp/err" || bad "explain over the merged cache: $(cat "$tmp/err")"
if [ ! -s "$tmp/asked.log" ] && grep -q '"queries_new": 0' "$tmp/merged.json" &&
    same "$tmp/serial.json" "$tmp/merged.json"; then ok; else bad "merged run asked again or differs"; fi

# every method plans exactly the masks a real run asks (a fast game: no log)
game=examples/movie_review.json
for m in exact spex proxyspex lasso kernelshap; do
    margs=(--game "$game" --method $m --seed 2 --quiet)
    [ $m = exact ] || margs+=(--budget 300)
    "$spex" explain "${margs[@]}" --plan "$tmp/p.$m" 2>/dev/null
    "$spex" work --plan "$tmp/p.$m" --shard 0/1 --game "$game" --seed 2 --cache "$tmp/g.$m.sqlite" \
        --quiet 2>/dev/null
    "$spex" explain "${margs[@]}" --cache "$tmp/g.$m.sqlite" --format json >"$tmp/g.json" 2>/dev/null
    if grep -q '"queries_new": 0' "$tmp/g.json"; then ok; else bad "method $m: the plan missed masks"; fi
done

# refusals with clear messages
expect 1 "another target" "$spex" work --plan "$tmp/plan" --shard 0/2 --exec "$cmd" --n 17 \
    --cache "$tmp/x.sqlite" --quiet
expect 1 "I/N" "$spex" work --plan "$tmp/plan" --shard 2 "${target[@]}" --cache "$tmp/x.sqlite"
expect 1 "below N" "$spex" work --plan "$tmp/plan" --shard 4/4 "${target[@]}" --cache "$tmp/x.sqlite"
expect 1 "which shard" "$spex" work --plan "$tmp/plan" "${target[@]}" --cache "$tmp/x.sqlite"
expect 1 "plan fixes the masks" "$spex" work --plan "$tmp/plan" --shard 0/2 --method exact \
    "${target[@]}" --cache "$tmp/x.sqlite"
printf 'spex-plan 1\nfingerprint 00\n' >"$tmp/badplan"
expect 2 "line 2" "$spex" work --plan "$tmp/badplan" --shard 0/2 "${target[@]}" --cache "$tmp/x.sqlite"
# Kubernetes Indexed Jobs: the index from JOB_COMPLETION_INDEX, the count from --shards
expect 0 "shard 1/2" env JOB_COMPLETION_INDEX=1 "$spex" work --plan "$tmp/p.spex" --shards 2 \
    --game "$game" --seed 2 --cache "$tmp/k.sqlite" --quiet

# the README's GNU parallel recipe (--joblog, then --resume-failed)
if command -v parallel >/dev/null; then
    (cd "$tmp" && parallel --joblog jobs.log -j 2 \
        "$spex" work --plan p.proxyspex --shard {}/3 --game "$OLDPWD/$game" --seed 2 \
        --cache shard{}.sqlite --quiet ::: 0 1 2 2>/dev/null &&
        parallel --joblog jobs.log --resume-failed -j 2 \
            "$spex" work --plan p.proxyspex --shard {}/3 --game "$OLDPWD/$game" --seed 2 \
            --cache shard{}.sqlite --quiet ::: 0 1 2 2>/dev/null &&
        "$spex" cache merge all.sqlite shard0.sqlite shard1.sqlite shard2.sqlite >/dev/null)
    if [ $? -eq 0 ] && "$spex" explain --game "$game" --method proxyspex --seed 2 --budget 300 --quiet \
        --cache "$tmp/all.sqlite" --format json 2>/dev/null | grep -q '"queries_new": 0'; then
        ok
    else
        bad "GNU parallel recipe"
    fi
elif [ -n "${CI:-}" ]; then
    bad "GNU parallel is not installed (scripts/setup.sh installs it): its recipe cannot run"
else
    echo "GNU parallel not installed: its recipe was not run"
fi
finish shards
