#!/usr/bin/env bash
# The test command (README.md; .ci/run calls it): installs what is missing,
# builds with warnings as errors, checks the architecture (no include or
# call cycles among src/ parts and CLI files, no target calling another:
# scripts/check_deps.py) and the formatting of changed files
# (scripts/check_format.sh), runs every test, then builds again with
# AddressSanitizer + UndefinedBehaviorSanitizer and runs every test again
# (except those labelled "accuracy": method accuracy on the real model,
# minutes under ASan, through code the other tests cover; "slow":
# test_midsize, 45M-parameter models through the scalar reference path,
# 100 s alone at -O0 under ASan (clean there when it was added), kernels
# that test_matmul and test_llama run under ASan; and "packaging": the
# install and downstream builds, which need no sanitizer),
# then gives each fuzz target a short run.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

bash scripts/setup.sh

echo "== build (warnings as errors)"
cmake -S . -B build -DSPEX_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
echo "== architecture (no include or call cycles) and formatting of changed files"
python3 scripts/check_deps.py build
bash scripts/check_format.sh
echo "== tests"
(cd build && ctest --output-on-failure -j"$jobs")
echo "== Python package tests (Debian's python3, pytest)"
/usr/bin/python3 -m pytest tests/python -q

echo "== build with AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -DSPEX_WERROR=ON -DSPEX_SANITIZE=ON -DSPEX_BENCH=OFF \
      -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs"
echo "== tests under sanitizers"
# (Open MPI's own allocations kept until exit are not reported: tests/lsan.supp)
supp=$(pwd)/tests/lsan.supp
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
   LSAN_OPTIONS=suppressions=$supp \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j"$jobs" \
   -LE 'accuracy|packaging|slow')

if ls tests/fuzz/fuzz_*.c >/dev/null 2>&1 && command -v clang >/dev/null; then
    echo "== fuzz smoke runs (${SPEX_FUZZ_SECONDS:-15} s each)"
    CC=clang cmake -S . -B build-fuzz -DSPEX_FUZZ=ON -DSPEX_TESTS=OFF -DSPEX_BENCH=OFF \
          -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build-fuzz -j"$jobs"
    for f in build-fuzz/fuzz_*; do
        [ -x "$f" ] || continue
        name=$(basename "$f")
        corpus=build-fuzz/corpus-$name
        mkdir -p "$corpus"
        seeds=tests/fuzz/seeds/${name#fuzz_}
        [ -d "$seeds" ] && cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
        "$f" -max_total_time="${SPEX_FUZZ_SECONDS:-15}" -rss_limit_mb=2048 "$corpus" \
            >"build-fuzz/$name.log" 2>&1 || { tail -40 "build-fuzz/$name.log"; exit 1; }
        echo "$name: $(grep -o 'Done [0-9]* runs' "build-fuzz/$name.log" || echo ok)"
    done
fi
echo "== all tests passed"
