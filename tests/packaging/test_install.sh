#!/usr/bin/env bash
# The installed library as a downstream project sees it: `cmake --install`
# into a temporary prefix, then examples/c/explain_fn.c built against it
# twice — through pkg-config (spex.pc) and through find_package(spex) — and
# run; it must find the planted interactions. Also: `spex --version` prints
# project(VERSION), and the exported symbols of libspex.so are exactly the
# functions declared SPEX_API in the installed public headers.
# Usage: test_install.sh PATH/TO/build/spex   (run from the project root)
# spex-test-label: packaging
set -u
spex=$1
build=$(cd "$(dirname "$spex")" && pwd)
. tests/lib.sh
prefix=$tmp/prefix

version=$(sed -n 's/^project(spex VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
[ "$("$spex" --version)" = "spex $version" ] && ok || bad "spex --version: '$("$spex" --version)', want 'spex $version'"

if cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1; then ok; else
    bad "cmake --install failed: $(tail -5 "$tmp/install.log")"; finish install; exit; fi
for f in include/spex/spex.h include/spex/version.h bin/spex lib/pkgconfig/spex.pc \
         lib/cmake/spex/spexConfig.cmake lib/libspex.a "lib/libspex.so.$version"; do
    [ -e "$prefix/$f" ] && ok || bad "not installed: $f"
done
[ "$("$prefix/bin/spex" --version)" = "spex $version" ] && ok || bad "installed spex --version"

check_run() { # $1 label, $2 program
    local out
    out=$(LD_LIBRARY_PATH="$prefix/lib" "$2" 2>&1)
    if echo "$out" | grep -q "^libspex $version (built against $version)" &&
       echo "$out" | grep -Eq '^x3 x x17: \+1\.5000$' &&
       echo "$out" | grep -Eq '^x40: -0\.8000$' &&
       echo "$out" | grep -Eq '^x5 x x9 x x60: \+0\.5000$'; then ok
    else bad "$1: downstream program output: $out"; fi
}

# pkg-config
if PKG_CONFIG_PATH="$prefix/lib/pkgconfig" cc -std=c11 -Wall -Werror examples/c/explain_fn.c \
       $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs spex) \
       -o "$tmp/explain_pc" 2>"$tmp/cc.log"; then
    ok; check_run pkg-config "$tmp/explain_pc"
else bad "pkg-config build failed: $(head -c 600 "$tmp/cc.log")"; fi
# the static library through pkg-config --static
if cc -std=c11 -Wall -Werror examples/c/explain_fn.c -static-libgcc \
       $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags spex) \
       "$prefix/lib/libspex.a" $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --static --libs-only-other --libs-only-l spex | sed 's/-lspex//') \
       -o "$tmp/explain_static" 2>"$tmp/cc2.log"; then
    ok; check_run static "$tmp/explain_static"
else bad "static build failed: $(head -c 600 "$tmp/cc2.log")"; fi

# find_package
if cmake -S examples/c -B "$tmp/downstream" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cm.log" 2>&1 &&
   cmake --build "$tmp/downstream" >>"$tmp/cm.log" 2>&1; then
    ok; check_run find_package "$tmp/downstream/explain_fn"
else bad "find_package build failed: $(tail -20 "$tmp/cm.log")"; fi

# exported symbols = SPEX_API declarations of the public headers
nm -D --defined-only "$prefix/lib/libspex.so" | awk '$2 == "T" || $2 == "D" || $2 == "B" { print $3 }' |
    sort -u >"$tmp/exported"
cat "$prefix"/include/spex/*.h | tr '\n' ' ' | grep -oE 'SPEX_API [^(;{]*\(' |
    grep -oE 'spex_[a-z0-9_]+ *\($' | tr -d ' (' | sort -u >"$tmp/declared"
extra=$(comm -23 "$tmp/exported" "$tmp/declared")
missing=$(comm -13 "$tmp/exported" "$tmp/declared")
[ -z "$extra" ] && ok || bad "exported but not declared in a public header: $extra"
[ -z "$missing" ] && ok || bad "declared SPEX_API but not exported: $missing"
[ "$(wc -l <"$tmp/exported")" -gt 100 ] && ok || bad "suspiciously few exported symbols"
finish install
