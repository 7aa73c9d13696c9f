#!/usr/bin/env bash
# spex cache merge: shard caches filled by separate runs join into one, and
# the same explain over the merged cache pays nothing; the result equals an
# uninterrupted run's. Merging twice adds nothing; an answer already in OUT
# is kept; foreign, corrupt and newer-schema inputs and a fingerprint with
# another n are refused with exit 2 and OUT unchanged.
# Usage: test_merge.sh PATH/TO/spex   (run from the project root)
set -u
spex=$1
. tests/lib.sh # $tmp, the cache in it, ok/bad/expect/finish
py=/usr/bin/python3
[ -x $py ] || py=python3

# an exec program that logs every mask it answers: payments are counted
cat >"$tmp/f.sh" <<'SH'
while read m; do
  echo "$m" >>"$LOG"
  echo "$m" | awk '{ x = split($0, c, ""); print 1.5*c[1] - 2*c[4] + 0.75*c[2]*c[5] + 0.5*c[3]*c[6]*c[8] }'
done
SH
ex=(explain --exec "sh $tmp/f.sh" --n 10 --top 0 --format json --quiet)
run() { # run LOG CACHE [args...]
    local log=$1 cache=$2
    shift 2
    LOG=$log "$spex" "${ex[@]}" --cache "$cache" "$@"
}
# two shards: different methods/budgets on the same target, each its own cache
run "$tmp/a.log" "$tmp/a.sqlite" --method spex --budget 300 --seed 1 >"$tmp/a.json"
run "$tmp/b.log" "$tmp/b.sqlite" --method exact >"$tmp/b.json"
na=$(sort -u "$tmp/a.log" | wc -l)
nb=$(sort -u "$tmp/b.log" | wc -l)
[ "$nb" -eq 1024 ] && ok || bad "the exact run asked $nb distinct masks, not 1024"
both=$(sort -u "$tmp/a.log" "$tmp/b.log" | wc -l)

expect 0 "" "$spex" cache merge "$tmp/m.sqlite" "$tmp/a.sqlite" "$tmp/b.sqlite"
grep -q "merged 2 file(s) into $tmp/m.sqlite: $both new answers" "$tmp/out" && ok ||
    bad "merge report: $(cat "$tmp/out") (want $both new answers: $na + $nb with overlap)"
grep -q "b.sqlite: $((both - na)) new answers, $((na + nb - both)) already in" "$tmp/out" && ok ||
    bad "second input's counts: $(cat "$tmp/out")"
# merging again adds nothing
expect 0 "" "$spex" cache merge "$tmp/m.sqlite" "$tmp/b.sqlite"
grep -q ": 0 new answers, $nb already in" "$tmp/out" && ok || bad "re-merge: $(cat "$tmp/out")"

# the same explains over the merged cache pay for nothing, same results
: >"$tmp/c.log"
run "$tmp/c.log" "$tmp/m.sqlite" --method spex --budget 300 --seed 1 >"$tmp/a2.json"
run "$tmp/c.log" "$tmp/m.sqlite" --method exact >"$tmp/b2.json"
[ ! -s "$tmp/c.log" ] && ok || bad "runs over the merged cache asked $(wc -l <"$tmp/c.log") masks"
strip() { grep -v '"seconds"\|"queries_cached"\|"queries_new"\|"details"' "$1"; }
cmp -s <(strip "$tmp/a.json") <(strip "$tmp/a2.json") && ok || bad "spex result differs over the merged cache"
cmp -s <(strip "$tmp/b.json") <(strip "$tmp/b2.json") && ok || bad "exact result differs over the merged cache"

# an answer OUT already has is kept: rewrite one value in a copy of b, merge it
cp "$tmp/b.sqlite" "$tmp/b_alt.sqlite"
$py - "$tmp/b_alt.sqlite" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1]); db.execute("UPDATE answers SET value = value + 100"); db.commit()
PY
expect 0 "" "$spex" cache merge "$tmp/m.sqlite" "$tmp/b_alt.sqlite"
: >"$tmp/c.log"
run "$tmp/c.log" "$tmp/m.sqlite" --method exact >"$tmp/b3.json"
cmp -s <(strip "$tmp/b.json") <(strip "$tmp/b3.json") && ok || bad "merge overwrote answers OUT had"

# refused inputs: exit 2, OUT unchanged
sum0=$($py -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*), total(value) from answers').fetchone())" "$tmp/m.sqlite")
$py - "$tmp" <<'PY'
import sqlite3, sys, shutil
t = sys.argv[1]
db = sqlite3.connect(t + "/foreign.sqlite"); db.execute("create table t(x)"); db.commit()
shutil.copy(t + "/a.sqlite", t + "/newer.sqlite")
db = sqlite3.connect(t + "/newer.sqlite"); db.execute("update spex_meta set value = 99 where key = 'schema'"); db.commit()
shutil.copy(t + "/a.sqlite", t + "/othern.sqlite")
db = sqlite3.connect(t + "/othern.sqlite"); db.execute("update fingerprints set n = 11"); db.commit()
open(t + "/corrupt.sqlite", "wb").write(b"SQLite format 3\0" + bytes(range(256)) * 40)
PY
expect 2 "another program" "$spex" cache merge "$tmp/m.sqlite" "$tmp/foreign.sqlite"
expect 2 "newer spex" "$spex" cache merge "$tmp/m.sqlite" "$tmp/newer.sqlite"
expect 2 "another n" "$spex" cache merge "$tmp/m.sqlite" "$tmp/othern.sqlite"
expect 2 "corrupt" "$spex" cache merge "$tmp/m.sqlite" "$tmp/corrupt.sqlite"
expect 2 "cannot open" "$spex" cache merge "$tmp/m.sqlite" "$tmp/missing.sqlite"
expect 1 "at least one input" "$spex" cache merge "$tmp/m.sqlite"
expect 1 "unknown option" "$spex" cache merge "$tmp/m.sqlite" --force "$tmp/a.sqlite"
sum1=$($py -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*), total(value) from answers').fetchone())" "$tmp/m.sqlite")
[ "$sum0" = "$sum1" ] && ok || bad "a refused merge changed OUT: $sum0 -> $sum1"
finish merge
