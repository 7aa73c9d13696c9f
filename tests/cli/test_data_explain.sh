#!/usr/bin/env bash
# End-to-end tests of `spex explain --data` (the data-attribution lens): CSV
# errors name the file, line and column and exit 2; bad options exit 1; a
# planted pair of identical training points shows up as the top interaction
# with --method exact; results do not depend on --threads; held-out rows,
# groups and the cache fingerprint work; a task (--rows: the mean over many
# test rows) has the mean of the per-row runs' exact Fourier transforms
# (linearity), accuracies in {0, 1/R, ..., 1}, and its own cache keys.
# Usage: test_data_explain.sh PATH/TO/spex   (run from the project root)
set -u
spex=$1
. tests/lib.sh # $tmp, the cache in it, ok/bad/expect/finish

# the planted set of tests/lens/test_data_attr.c: rows 0 and 1 identical
# positives, rows 2-6 negatives, row 7 a negative on its own axis
cat >"$tmp/train.csv" <<'EOF'
x1,x2,y
3,0,1
3,0,1
0,0,0
0,0,0
0,0,0
0,0,0
0,0,0
0,-10000,0
EOF
printf 'x1,x2,y\n3,0,1\n' >"$tmp/test.csv"
run=("$spex" explain --data "$tmp/train.csv" --label y --no-cache --quiet)

# --- usage errors (exit 1)
expect 1 "needs --label" "$spex" explain --data "$tmp/train.csv" --row 0 --no-cache
expect 1 "needs --row" "$spex" explain --data "$tmp/train.csv" --label y --no-cache
expect 1 "unknown learner 'svm'" "${run[@]}" --row 0 --learner svm
expect 1 "unknown value 'auc'" "${run[@]}" --row 0 --value auc
expect 1 "exclude each other" "${run[@]}" --row 0 --groups 2 --group-by x1
expect 1 "--l2" "${run[@]}" --row 0 --l2 0
expect 1 "exactly one target" "$spex" explain --data "$tmp/train.csv" --game x.json --label y --row 0

# --- input errors (exit 2), each naming file, line and column
printf 'a,y\n1,0\n,1\n' >"$tmp/missing.csv"
expect 2 "missing.csv: line 3, column 1 \('a'\): missing value" "$spex" explain --data "$tmp/missing.csv" --label y --row 0 --no-cache
printf 'a,y\n1,0\nabc,1\n' >"$tmp/nonnum.csv"
expect 2 "nonnum.csv: line 3, column 1 \('a'\): not a number: 'abc'" "$spex" explain --data "$tmp/nonnum.csv" --label y --row 0 --no-cache
printf 'a,b,y\n1,2,0\n1,1\n' >"$tmp/ragged.csv"
expect 2 "ragged.csv: line 3: 2 cells, expected 3" "$spex" explain --data "$tmp/ragged.csv" --label y --row 0 --no-cache
: >"$tmp/empty.csv"
expect 2 "empty.csv: empty file" "$spex" explain --data "$tmp/empty.csv" --label y --row 0 --no-cache
expect 2 "train.csv: line 1: no label column named 'class'" "$spex" explain --data "$tmp/train.csv" --label class --row 0 --no-cache
expect 2 "test.csv: --row 5 is out of range: the file has 1 data rows" "${run[@]}" --test "$tmp/test.csv" --row 5
expect 2 "train.csv: --row 8 is out of range" "${run[@]}" --row 8
printf 'x1,x2,y\n3,0,7\n' >"$tmp/test7.csv"
expect 2 "test7.csv: line 2, column 3 \('y'\): label '7' does not occur" "${run[@]}" --test "$tmp/test7.csv" --row 0
expect 2 "no group column named 'site'" "${run[@]}" --row 0 --group-by site
expect 2 "cannot open" "$spex" explain --data "$tmp/nope.csv" --label y --row 0 --no-cache

# --- the planted pair is the top interaction (exact, value prob, Moebius)
"${run[@]}" --test "$tmp/test.csv" --row 0 --method exact --value prob --l2 0.01 --index bii \
    --format csv --top 0 >"$tmp/pair.csv" 2>"$tmp/err" || bad "planted pair run: $(cat "$tmp/err")"
"${run[@]}" --test "$tmp/test.csv" --row 0 --method exact --value prob --l2 0.01 --index bii \
    --format json --top 0 >"$tmp/pair.json" 2>"$tmp/err" || bad "planted pair json: $(cat "$tmp/err")"
python3 - "$tmp/pair.json" <<'PY' && ok || bad "planted pair not the top pair interaction"
import json, sys
r = json.load(open(sys.argv[1]))
pairs = [i for i in r["interactions"] if len(i["s"]) == 2]
top = pairs[0]
assert top["s"] == [0, 1] and top["v"] < -0.2, top
assert abs(top["v"]) > 5 * abs(pairs[1]["v"]), pairs[:2]
# (the irrelevant row 7 is checked in test_data_attr.c, without standardisation)
assert r["features"][7] == "row 7 (label 0)"
PY

# --- threads do not change the answers (xgboost, proxyspex, small budget)
for t in 1 2; do
    "${run[@]}" --test "$tmp/test.csv" --row 0 --learner xgboost --rounds 10 --method exact \
        --threads $t --format json >"$tmp/t$t.json" 2>"$tmp/err" || bad "threads $t: $(cat "$tmp/err")"
done
if cmp -s <(grep -v seconds "$tmp/t1.json" | sed 's/"seconds".*//') \
          <(grep -v seconds "$tmp/t2.json" | sed 's/"seconds".*//'); then ok; else bad "threads 1 and 2 differ"; fi

# --- held-out row, groups, group-by: names and n
"${run[@]}" --row 2 --method exact --format json >"$tmp/held.json" 2>"$tmp/err" || bad "held-out: $(cat "$tmp/err")"
python3 - "$tmp/held.json" <<'PY' && ok || bad "held-out row names"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["n"] == 7 and r["features"][2] == "row 3 (label 0)", r["features"]
PY
"${run[@]}" --test "$tmp/test.csv" --row 0 --groups 3 --method exact --format json >"$tmp/g.json" 2>"$tmp/err" || bad "groups: $(cat "$tmp/err")"
python3 - "$tmp/g.json" <<'PY' && ok || bad "group names"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["features"] == ["rows 0-1", "rows 2-4", "rows 5-7"], r["features"]
PY
printf 'x1,src,y\n3,a,1\n3,b,1\n0,a,0\n0,b,0\n0,c,0\n' >"$tmp/gb.csv"
"$spex" explain --data "$tmp/gb.csv" --label y --group-by src --row 0 --method exact --no-cache \
    --quiet --format json >"$tmp/gb.json" 2>"$tmp/err" || bad "group-by: $(cat "$tmp/err")"
python3 - "$tmp/gb.json" <<'PY' && ok || bad "group-by names"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["features"] == ["src=a", "src=b", "src=c"], r["features"]
PY

# --- the cache: a second run is answered from it; a new setting is a new key
c=("$spex" explain --data "$tmp/train.csv" --label y --test "$tmp/test.csv" --row 0 --method exact
   --cache "$tmp/c.sqlite" --quiet)
"${c[@]}" >/dev/null 2>&1
"${c[@]}" >"$tmp/out" 2>&1
if grep -q "256 from the cache" "$tmp/out"; then ok; else bad "second run not cached: $(head -2 "$tmp/out")"; fi
"${c[@]}" --l2 2 >"$tmp/out" 2>&1
if grep -q "0 from the cache" "$tmp/out"; then ok; else bad "--l2 2 reused the cache: $(head -2 "$tmp/out")"; fi

# --- a task (--rows): 40 training rows of breast_cancer.csv in 5 groups,
# 5 test rows of both classes; the task's exact Fourier transform is the mean
# of the 5 single-row runs' transforms, for every value
bc=../shared/data/breast_cancer.csv
if [ -f "$bc" ]; then
    head -41 "$bc" >"$tmp/bc_train.csv"
    sed -n '1p;300,304p' "$bc" >"$tmp/bc_test.csv"
    bcrun=("$spex" explain --data "$tmp/bc_train.csv" --label target --test "$tmp/bc_test.csv"
           --groups 5 --method exact --no-cache --quiet --format json --top 0)
    for v in margin prob logloss accuracy; do
        "${bcrun[@]}" --value $v --rows all >"$tmp/task_$v.json" 2>"$tmp/err" ||
            bad "--rows all --value $v: $(cat "$tmp/err")"
        "${bcrun[@]}" --value $v --rows 1,3-4 >"$tmp/part_$v.json" 2>"$tmp/err" ||
            bad "--rows 1,3-4 --value $v: $(cat "$tmp/err")"
        for r in 0 1 2 3 4; do
            "${bcrun[@]}" --value $v --row $r >"$tmp/one_${v}_$r.json" 2>"$tmp/err" ||
                bad "--row $r --value $v: $(cat "$tmp/err")"
        done
        python3 - "$tmp" $v <<'PY' && ok || bad "--rows --value $v: not the mean of the per-row runs"
import json, sys
tmp, v = sys.argv[1], sys.argv[2]
def F(path):
    return {tuple(c["s"]): c["v"] for c in json.load(open(path))["fourier"]}
task, part = F(f"{tmp}/task_{v}.json"), F(f"{tmp}/part_{v}.json")
one = [F(f"{tmp}/one_{v}_{r}.json") for r in range(5)]
keys = set(task) | set(part) | set().union(*one)
for k in keys:
    mean = sum(o.get(k, 0.0) for o in one) / 5
    mean3 = sum(one[r].get(k, 0.0) for r in (1, 3, 4)) / 3
    assert abs(task.get(k, 0.0) - mean) < 1e-9, (k, task.get(k), mean)
    assert abs(part.get(k, 0.0) - mean3) < 1e-9, (k, part.get(k), mean3)
# the values themselves, back from the transform of every mask of 5 groups
vals = [sum(c * (-1) ** len(set(k) & {j for j in range(5) if m >> j & 1})
            for k, c in task.items()) for m in range(32)]
if v == "accuracy":  # a fraction of the 5 rows
    assert all(abs(x * 5 - round(x * 5)) < 1e-9 and -1e-9 <= x <= 1 + 1e-9 for x in vals), vals
    assert abs(vals[0]) < 1e-9, vals[0]  # nothing to learn from: every class ties
    assert len({round(x * 5) for x in vals}) > 1, vals
if v == "prob":
    assert all(0 < x < 1 for x in vals), vals
PY
    done
    # a single row's accuracy is 0 or 1
    python3 - "$tmp" <<'PY' && ok || bad "--row --value accuracy not in {0, 1}"
import json, sys
F = {tuple(c["s"]): c["v"] for c in json.load(open(f"{sys.argv[1]}/one_accuracy_2.json"))["fourier"]}
vals = [sum(c * (-1) ** len(set(k) & {j for j in range(5) if m >> j & 1}) for k, c in F.items())
        for m in range(32)]
assert all(min(abs(x), abs(x - 1)) < 1e-9 for x in vals), vals
PY
    "${bcrun[@]}" --rows all --format table >"$tmp/out" 2>&1
    if grep -q "mean margin of the true class over 5 rows of .*bc_test.csv (rows 0-4)" "$tmp/out"; then
        ok; else bad "task report line: $(tail -2 "$tmp/out")"; fi
    # the cache: a task never answers a single-row run, nor another row set or
    # value; the same rows however spelt share their answers
    bc=("$spex" explain --data "$tmp/bc_train.csv" --label target --test "$tmp/bc_test.csv"
        --groups 5 --method exact --cache "$tmp/task.sqlite" --quiet)
    "${bc[@]}" --row 0 >/dev/null 2>&1
    for args in "--rows 0:0 from the cache" "--rows 0-4:0 from the cache" \
                "--rows all:32 from the cache" "--rows 0,1,2-4:32 from the cache" \
                "--rows 0-3:0 from the cache" "--rows 0-4 --value accuracy:0 from the cache" \
                "--row 0:32 from the cache"; do
        # shellcheck disable=SC2086
        "${bc[@]}" ${args%%:*} >"$tmp/out" 2>&1
        if grep -q "${args#*:}" "$tmp/out"; then ok; else bad "cache, ${args%%:*}: $(head -1 "$tmp/out")"; fi
    done
    # errors
    expect 1 "--rows needs --test" "$spex" explain --data "$tmp/bc_train.csv" --label target --rows all --no-cache
    expect 1 "--row and --rows exclude each other" "${bcrun[@]}" --rows all --row 0
    expect 1 "unknown value 'mse' \(expected margin, prob, logloss or accuracy\)" "${bcrun[@]}" --rows all --value mse
    expect 1 "--rows '3-1': expected all, or rows and ranges" "${bcrun[@]}" --rows 3-1
    expect 1 "--rows '0,,2'" "${bcrun[@]}" --rows 0,,2
    expect 1 "--rows 'x'" "${bcrun[@]}" --rows x
    expect 2 "bc_test.csv: --rows: row 5 is out of range: the file has 5 data rows" "${bcrun[@]}" --rows 0-5
else
    bad "$bc is missing (the task tests need it)"
fi

# --- help documents the options
"$spex" explain --help >"$tmp/help"
for opt in data label test row rows learner value groups group-by l2 rounds depth eta; do
    if grep -q -- "--$opt " "$tmp/help"; then ok; else bad "--help lacks --$opt"; fi
done

finish
