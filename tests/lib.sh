# Shared by the end-to-end test scripts (tests/*/test_*.sh); source it from
# the project root. Gives a temporary folder $tmp (removed on exit) with the
# query cache inside it (never the real home directory), pass/fail counters
# with ok / bad MESSAGE, `expect STATUS STDERR_REGEX CMD...` (runs CMD with
# stdout in $tmp/out and stderr in $tmp/err, checks the exit status and,
# when the regex is not empty, stderr) and `finish [LABEL]`, which prints
# the counts and fails when anything failed or nothing passed.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_CACHE_HOME="$tmp/xdg-cache"
pass=0
failn=0
ok() { pass=$((pass + 1)); }
bad() { failn=$((failn + 1)); echo "FAIL: $*"; }

expect() {
    local want=$1 pat=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local got=$?
    if [ "$got" -ne "$want" ]; then
        bad "'$*' exited $got, expected $want; stderr: $(head -c 300 "$tmp/err")"
    elif [ -n "$pat" ] && ! grep -Eq -- "$pat" "$tmp/err"; then
        bad "'$*' stderr does not match /$pat/: $(head -c 300 "$tmp/err")"
    else
        ok
    fi
}

finish() {
    echo "${1:+$1: }$pass passed, $failn failed"
    [ "$failn" -eq 0 ] && [ "$pass" -gt 0 ]
}

# validate_within FILE TOL: the "largest |predicted - measured|: X" line of a
# --validate report in FILE exists and X < TOL.
validate_within() {
    awk -v tol="$2" '/^largest \|predicted - measured\|: / { found = 1; v = $5 + 0 }
        END { exit !(found && v < tol) }' "$1"
}
