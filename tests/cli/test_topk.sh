#!/usr/bin/env bash
# End-to-end tests of 'spex topk' and the regression methods of 'spex
# explain': on a small Möbius game explained exactly, the predicted and the
# measured change of each reported set equal the brute-force optimum over all
# k-subsets (python3 oracle); usage errors exit 1 with a message.
# Usage: test_topk.sh PATH/TO/spex   (run from the project root)
set -u
spex=$1
. tests/lib.sh # $tmp, the cache in it, ok/bad/expect/finish

cat >"$tmp/g.json" <<'JSON'
{"n": 8, "basis": "mobius",
 "coefs": [[[], 0.5], [[0], 1.0], [[1], -0.7], [[2], 0.4], [[0, 3], 2.0], [[3, 5], -1.5],
           [[1, 2, 6], 1.2], [[4], 0.3], [[6, 7], -0.9], [[5], 0.6]]}
JSON
python3 - "$tmp/g.json" >"$tmp/want" <<'PY'
import itertools, json, sys
g = json.load(open(sys.argv[1])); n = g["n"]
def f(m): return sum(v for s, v in g["coefs"] if all(m[i] for i in s))
full = [1] * n
for direction in ("remove", "keep"):
    for k in (1, 2, 3):
        best = None
        for R in itertools.combinations(range(n), k):
            if direction == "remove":
                m = [0 if i in R else 1 for i in range(n)]; ch = f(m) - f(full)
            else:
                m = [1 if i in R else 0 for i in range(n)]; ch = f(m) - f([0] * n)
            if best is None or abs(ch) > abs(best): best = ch
        print(direction, k, "%.6f" % best)
PY
if ! "$spex" explain --game "$tmp/g.json" --method exact --out "$tmp/r.json" --quiet >/dev/null; then
    bad "explain --method exact failed"
fi
for direction in remove keep; do
    "$spex" topk --result "$tmp/r.json" --k 3 --direction "$direction" --game "$tmp/g.json" \
        >"$tmp/out" 2>"$tmp/err" || bad "topk --direction $direction exited $?: $(cat "$tmp/err")"
    for k in 1 2 3; do
        want=$(awk -v d=$direction -v k=$k '$1 == d && $2 == k {print $3}' "$tmp/want")
        line=$(awk -v k=$k '$1 == k && NF >= 4' "$tmp/out")
        pred=$(echo "$line" | awk '{print $2}')
        meas=$(echo "$line" | awk '{print $3}')
        if awk -v a="$pred" -v b="$meas" -v w="$want" 'BEGIN {
                d1 = a - w; d2 = b - w; if (d1 < 0) d1 = -d1; if (d2 < 0) d2 = -d2;
                if (w < 0) w = -w; exit !(d1 < 1e-5 && d2 < 1e-5) }'; then ok
        else bad "topk $direction k=$k: predicted $pred, measured $meas, brute force $want"; fi
    done
done

# the regression methods run end to end and spend the budget
for m in proxyspex lasso kernelshap; do
    if "$spex" explain --game "$tmp/g.json" --method $m --budget 200 --max-order 3 \
        --out "$tmp/$m.json" --quiet >"$tmp/out" 2>"$tmp/err" &&
        grep -q '"method": *"'$m'"' "$tmp/$m.json"; then ok
    else bad "explain --method $m: $(head -c 300 "$tmp/err")"; fi
done
r2=$("$spex" eval --result "$tmp/kernelshap.json" --game "$tmp/g.json" --masks all | awk '{print $2}')
# order-3 Faith-Banzhaf on all 256 masks of an order-3 game is exact
if awk -v r="$r2" 'BEGIN { exit !(r > 0.999999) }'; then ok; else bad "kernelshap r2 $r2"; fi

# an external program as the target: f = m0 + 2 m1 + 3 m2 m3 (mawk needs -W interactive)
cat >"$tmp/e.json" <<'JSON'
{"n": 8, "basis": "mobius", "coefs": [[[0], 1.0], [[1], 2.0], [[2, 3], 3.0]]}
JSON
"$spex" explain --game "$tmp/e.json" --method exact --out "$tmp/re.json" --quiet >/dev/null
"$spex" topk --result "$tmp/re.json" --k 3 --n 8 \
    --exec "awk -W interactive '{print substr(\$0,1,1) + 2*substr(\$0,2,1) + 3*substr(\$0,3,1)*substr(\$0,4,1); fflush()}'" \
    >"$tmp/out" 2>"$tmp/err"
if awk '$1 == 1 && $2 == -3 && $3 == -3 {a++} $1 == 2 && $2 == -5 && $3 == -5 {a++}
        $1 == 3 && $2 == -6 && $3 == -6 {a++} END {exit a != 3}' "$tmp/out"; then ok
else bad "topk --exec: $(cat "$tmp/out" "$tmp/err")"; fi

# usage errors
expect_usage() {
    "$@" >/dev/null 2>"$tmp/err"
    local got=$?
    if [ "$got" -eq 1 ] && [ -s "$tmp/err" ]; then ok; else bad "'$*' exited $got"; fi
}
expect_usage "$spex" topk --k 3
expect_usage "$spex" topk --result "$tmp/r.json" --k 9
expect_usage "$spex" topk --result "$tmp/r.json" --direction sideways
expect_usage "$spex" topk --result "$tmp/r.json" --game "$tmp/g.json" --exec cat --n 8
"$spex" topk --result "$tmp/nope.json" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] && grep -q nope "$tmp/err" && ok || bad "missing result file: $(cat "$tmp/err")"

finish
