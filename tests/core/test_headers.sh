#!/usr/bin/env bash
# STYLE.md rule 1: every public header compiles on its own (C11, pedantic,
# warnings as errors), the generated spex/version.h too (in the build folder
# of $1, the spex binary). Run from the project root.
set -u
gen=$(dirname "$1")/include
pass=0
failn=0
for h in include/spex/*.h "$gen"/spex/version.h; do
    if echo "#include \"spex/$(basename "$h")\"" |
        ${CC:-cc} -std=c11 -Wall -Wextra -Wpedantic -Werror -Iinclude -I"$gen" -x c -fsyntax-only - \
            2>/tmp/spex_hdr_$$.err; then
        pass=$((pass + 1))
    else
        failn=$((failn + 1))
        echo "FAIL: $h does not compile alone:"
        cat /tmp/spex_hdr_$$.err
    fi
done
rm -f /tmp/spex_hdr_$$.err
echo "headers: $pass passed, $failn failed"
[ "$failn" -eq 0 ] && [ "$pass" -gt 0 ]
