#!/usr/bin/env bash
# Every C file added or changed since the commit in scripts/format_base is
# formatted as .clang-format says (STYLE.md rule 15); older untouched files
# are left as they are until someone changes them. Prints each file that
# differs with the first lines of the difference; exit 1 if any.
# Usage: bash scripts/check_format.sh   (from the project root; needs the git
# history back to the base commit, which a normal clone has)
set -euo pipefail
cd "$(dirname "$0")/.."
base=$(cat scripts/format_base)
if ! git cat-file -e "$base^{commit}" 2>/dev/null; then
    echo "check_format: base commit $base is not in this clone (shallow?); run git fetch --unshallow" >&2
    exit 1
fi
command -v clang-format >/dev/null || { echo "check_format: clang-format not installed" >&2; exit 1; }
bad=0 n=0
while IFS= read -r f; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    if ! diff -u "$f" <(clang-format --style=file "$f") >/tmp/spex_fmt_$$.diff; then
        bad=$((bad + 1))
        echo "not formatted: $f (clang-format -i $f)"
        head -12 /tmp/spex_fmt_$$.diff | sed 's/^/    /'
    fi
done < <({ git diff --name-only --diff-filter=AMR "$base" -- '*.c' '*.h'
           git ls-files --others --exclude-standard -- '*.c' '*.h'; } | sort -u)
rm -f /tmp/spex_fmt_$$.diff
echo "check_format: $n changed C files since ${base:0:7}, $bad not formatted"
[ "$bad" -eq 0 ]
