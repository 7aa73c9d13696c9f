#!/usr/bin/env bash
# End-to-end tests of the spex CLI: every bad input gets a clear message and
# the exit status of DESIGN.md §4.4; exact results match an independent
# brute-force oracle; the exec protocol works with sh/awk and python3.
# Usage: test_cli.sh PATH/TO/spex   (run from the project root)
set -u
spex=$1
. tests/lib.sh # $tmp, the cache in it, ok/bad/expect/finish

game() { printf '%s' "$1" >"$tmp/$2"; }

# --- usage errors (exit 1)
expect 1 "unknown command" "$spex" frobnicate
expect 1 "unknown option '--bogus'" "$spex" explain --bogus 3
expect 1 "exactly one target" "$spex" explain
expect 1 "unknown method 'magic'" "$spex" explain --game examples/movie_review.json --method magic
expect 1 "unknown interaction index 'shapley'" "$spex" explain --game examples/movie_review.json --index shapley
expect 1 "--max-order expects an integer" "$spex" explain --game examples/movie_review.json --max-order two
expect 1 "needs --n" "$spex" explain --exec cat
expect 1 "needs a value" "$spex" explain --game
expect 1 "budget" "$spex" explain --game examples/movie_review.json --method exact --budget 100
expect 1 "--degree expects an integer" "$spex" explain --game examples/movie_review.json --degree x
expect 1 "degree" "$spex" explain --game examples/movie_review.json --degree 0

# --- input errors (exit 2)
game '{"n": 4, "coefs": [[[0], 1.0], [[1, 2], 0.5' bad_syntax.json
expect 2 "bad_syntax.json.*line 1" "$spex" explain --game "$tmp/bad_syntax.json"
game '{"n": 4, "coefs": [[[0], 1.0], [[1, 7], 0.5]]}' out_of_range.json
expect 2 "out_of_range.json.*coefs\[1\].*7" "$spex" explain --game "$tmp/out_of_range.json"
game '{"n": 4, "coefs": [[[2, 2], 1.0]]}' repeated.json
expect 2 "repeated.json.*2.*repeated" "$spex" explain --game "$tmp/repeated.json"
game '{"n": 0, "coefs": []}' n0.json
expect 2 "n0.json.*n" "$spex" explain --game "$tmp/n0.json"
game '{"n": 21, "coefs": [[[0], 1.0]]}' n21.json
expect 2 "n <= 20" "$spex" explain --game "$tmp/n21.json" --method exact
expect 2 "cannot open|No such file" "$spex" explain --game "$tmp/missing.json"

# --- value-function failures (exit 3)
expect 3 "hello" "$spex" explain --exec "while read m; do echo hello; done" --n 3 --quiet
expect 3 "exit|died|closed" "$spex" explain --exec "read a; echo 1; read b; echo 2" --n 4 --quiet
expect 3 "timed out|timeout" "$spex" explain --exec "sleep 30" --n 3 --timeout 0.5 --quiet
# a program that reads its input in blocks never answers: after 10 s one
# notice names the usual causes (with --quiet too), then --timeout ends it
expect 3 "has not answered for 10 s.*mawk needs -W interactive" "$spex" explain \
    --exec "/usr/bin/python3 -c 'import sys; sys.stdin.read()'" --n 3 --timeout 11.5 --quiet
[ "$(grep -c "has not answered" "$tmp/err")" = 1 ] && ok || bad "stall notice not given once"

# --- exact results against an independent oracle (python3, definitions)
python3 - "$tmp/g16.json" <<'PY'
import json, random, sys
random.seed(16)
coefs = [[[], 0.4]]
for _ in range(24):
    d = random.randint(1, 4)
    coefs.append([sorted(random.sample(range(16), d)), round(random.uniform(-1, 1), 6)])
json.dump({"n": 16, "basis": "mobius", "coefs": coefs}, open(sys.argv[1], "w"))
PY
for idx in sv bv sii bii mobius; do
    if "$spex" explain --game "$tmp/g16.json" --method exact --index $idx --max-order 2 \
        --top 0 --format json --quiet >"$tmp/r16_$idx.json" 2>"$tmp/err"; then
        if python3 tests/cli/brute_index.py "$tmp/g16.json" "$tmp/r16_$idx.json" $idx 2 1e-9 \
            >"$tmp/oracle" 2>&1; then ok; else bad "$(cat "$tmp/oracle")"; fi
    else
        bad "exact --index $idx failed: $(cat "$tmp/err")"
    fi
done

# --- eval: the exact surrogate of a game is the game itself
"$spex" explain --game "$tmp/g16.json" --method exact --out "$tmp/r.json" --quiet >/dev/null 2>&1
r2=$("$spex" eval --result "$tmp/r.json" --game "$tmp/g16.json" --masks all)
case "$r2" in "r2 1.000000 on all 65536 masks"*) ok ;; *) bad "eval printed '$r2'" ;; esac

# --- exec protocol: awk and python3 programs equal the game they implement
# f(m) = 2*m0 - m1 + 3*m0*m2  (Möbius), n = 3
cat >"$tmp/f.py" <<'PY'
import sys
for line in sys.stdin:
    m = [int(c) for c in line.strip()]
    print(2 * m[0] - m[1] + 3 * m[0] * m[2], flush=True)
PY
game '{"n": 3, "basis": "mobius", "coefs": [[[0], 2], [[1], -1], [[0, 2], 3]]}' f.json
"$spex" explain --game "$tmp/f.json" --index mobius --top 0 --format csv >"$tmp/want.csv" 2>/dev/null
for workers in 1 3; do
    "$spex" explain --exec "python3 $tmp/f.py" --n 3 --exec-workers $workers --batch-size 3 \
        --index mobius --top 0 --format csv --quiet >"$tmp/got.csv" 2>"$tmp/err"
    if cmp -s "$tmp/want.csv" "$tmp/got.csv"; then ok; else bad "python3 exec ($workers workers) differs: $(cat "$tmp/err")"; fi
done
# mawk reads its input in blocks unless told to be interactive
"$spex" explain --exec "awk -W interactive '{print 2*substr(\$0,1,1) - substr(\$0,2,1) + 3*substr(\$0,1,1)*substr(\$0,3,1); fflush()}'" \
    --n 3 --index mobius --top 0 --format csv --quiet >"$tmp/got.csv" 2>"$tmp/err"
if cmp -s "$tmp/want.csv" "$tmp/got.csv"; then ok; else bad "awk exec differs: $(cat "$tmp/err")"; fi

# --- formats and help
"$spex" explain --game examples/movie_review.json --format table --top 3 >"$tmp/t.txt" 2>/dev/null
if grep -q "not × bad" "$tmp/t.txt"; then ok; else bad "table lacks 'not × bad': $(cat "$tmp/t.txt")"; fi
"$spex" explain --help >"$tmp/h.txt"
for o in game exec n exec-workers timeout method budget max-order index top seed threads out format quiet; do
    if grep -q -- "--$o" "$tmp/h.txt"; then ok; else bad "explain --help lacks --$o"; fi
done

finish cli
