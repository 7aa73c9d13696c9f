#!/usr/bin/env bash
# run_llm_compare.sh: prompt-processing speed of spex's GGUF engine (src/llm)
# next to llama.cpp's CPU backend, on the same GGUF files, in one interleaved
# run (rounds alternate which engine goes first; each figure is the median
# over all timed passes, ROUNDS x REPS per engine, so that passes preempted by
# other load do not move it). Prints a Markdown table.
#
#     bench/run_llm_compare.sh LLAMA_CPP_BUILD_DIR [SPEX_BUILD_DIR] [ROUNDS]
#
# LLAMA_CPP_BUILD_DIR: a llama.cpp CMake build directory holding
# bin/llama-bench. llama.cpp is NOT part of this project and is not built by
# it; to get one (outside this repository):
#
#     git clone https://github.com/ggml-org/llama.cpp /somewhere/llama.cpp
#     cd /somewhere/llama.cpp
#     cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
#           -DGGML_OPENMP=ON -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF
#     cmake --build build -j --target llama-bench
#
# SPEX_BUILD_DIR (default build): a spex build with bench_llm_pp
# (bench/bench_llm_pp.c; built with SPEX_BENCH=ON, the default).
# ROUNDS (default 5). Environment: MODELS (space-separated GGUF paths;
# default the synth-interact-llama F32/Q8_0/Q4_0 files and stories260K from
# ../shared/models), LENGTHS (default 64,128,256), THREADS (default "1 2"),
# REPS (passes per engine per round, default 10), RSS (default 1: also a
# table of peak resident memory per engine and file).
#
# What is measured is the same for both: N prompt tokens in one forward pass,
# logits of the last position only, after one warm-up pass, model load not
# timed (llama-bench's "pp N" with -n 0; bench_llm_pp). llama-bench runs with
# its defaults otherwise (n_batch 2048, n_ubatch 512, F16 KV cache, no flash
# attention). Run from the repository root. On a shared machine the absolute
# figures move; the ratio column is the one to read.
set -euo pipefail

if [ $# -lt 1 ]; then
    sed -n '2,30p' "$0" >&2
    exit 2
fi
LB="$1/bin/llama-bench"
SB="${2:-build}/bench_llm_pp"
ROUNDS="${3:-5}"
LENGTHS="${LENGTHS:-64,128,256}"
THREADS="${THREADS:-1 2}"
REPS="${REPS:-10}"
D=../shared/models
MODELS="${MODELS:-$D/synth-interact-llama-F32.gguf $D/synth-interact-llama-Q8_0.gguf $D/synth-interact-llama-Q4_0.gguf $D/stories260K.gguf}"
for f in "$LB" "$SB"; do
    [ -x "$f" ] || { echo "run_llm_compare: $f not found or not executable" >&2; exit 1; }
done

raw=$(mktemp)
trap 'rm -f "$raw" "$raw.rss"' EXIT

run_llama() { # model threads -> "llama.cpp model t n ts" lines, one per pass
    "$LB" -m "$1" -p "$LENGTHS" -n 0 -t "$2" -r "$REPS" -o jsonl 2>/dev/null |
        awk -v m="$1" -v t="$2" '{
            match($0, /"n_prompt": *[0-9]+/); n = substr($0, RSTART, RLENGTH); sub(/.*: */, "", n)
            match($0, /"samples_ts": *\[[^]]*\]/); s = substr($0, RSTART, RLENGTH)
            sub(/.*\[ */, "", s); sub(/ *\]/, "", s)
            k = split(s, x, / *, */)
            for (i = 1; i <= k; i++) printf "llama.cpp %s %s %s %s\n", m, t, n, x[i] }'
}
run_spex() {
    "$SB" "$1" "$2" "$LENGTHS" "$REPS" |
        awk -v m="$1" -v t="$2" '$1 == "pp" { for (i = 10; i <= NF; i++) printf "spex %s %s %s %s\n", m, t, $2, $i }'
}

for r in $(seq 1 "$ROUNDS"); do
    for m in $MODELS; do
        for t in $THREADS; do
            if [ $((r % 2)) -eq 1 ]; then
                run_llama "$m" "$t" >>"$raw"
                run_spex "$m" "$t" >>"$raw"
            else
                run_spex "$m" "$t" >>"$raw"
                run_llama "$m" "$t" >>"$raw"
            fi
        done
    done
    echo "run_llm_compare: round $r/$ROUNDS done" >&2
done

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
commit=$("$LB" -m "${MODELS%% *}" -p 8 -n 0 -r 1 -o csv 2>/dev/null |
    awk -F'","' 'NR == 2 { gsub(/"/, "", $1); print $1 "-b" $2 }')
echo "prompt processing, tokens/s (median over all passes: $ROUNDS interleaved rounds x $REPS passes per engine); CPU: $cpu; llama.cpp $commit"
echo
echo "| model | threads | prompt tokens | llama.cpp tok/s | spex tok/s | spex / llama.cpp |"
echo "|---|---:|---:|---:|---:|---:|"
sort -k2,2 -k3,3n -k4,4n -k1,1 -k5,5g "$raw" | awk '
    function med(a, n) { return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    { key = $2 SUBSEP $3 SUBSEP $4
      if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
      v[key, $1, ++cnt[key, $1]] = $5 }
    END {
      for (i = 1; i <= nk; i++) {
        k = order[i]; split(k, p, SUBSEP)
        nl = cnt[k, "llama.cpp"]; ns = cnt[k, "spex"]
        for (j = 1; j <= nl; j++) a[j] = v[k, "llama.cpp", j]
        L = med(a, nl)
        for (j = 1; j <= ns; j++) b[j] = v[k, "spex", j]
        S = med(b, ns)
        name = p[1]; sub(/.*\//, "", name); sub(/\.gguf$/, "", name)
        printf "| %s | %s | %s | %.0f | %.0f | %.2fx |\n", name, p[2], p[3], L, S, S / L
      }
    }'

# Peak resident memory of each engine on each file (one pass of the first
# length at 1 thread; GNU time's maximum RSS), beside the file's size.
if [ "${RSS:-1}" = 1 ]; then
    echo
    echo "| model | file MiB | llama.cpp peak RSS MiB | spex peak RSS MiB |"
    echo "|---|---:|---:|---:|"
    first=${LENGTHS%%,*}
    for m in $MODELS; do
        /usr/bin/time -f "%M" -o "$raw.rss" "$LB" -m "$m" -p "$first" -n 0 -t 1 -r 1 >/dev/null 2>&1
        rl=$(tail -1 "$raw.rss")
        /usr/bin/time -f "%M" -o "$raw.rss" "$SB" "$m" 1 "$first" 1 >/dev/null 2>&1
        rs=$(tail -1 "$raw.rss")
        name=${m##*/}
        printf '| %s | %.0f | %.0f | %.0f |\n' "${name%.gguf}" "$(($(stat -c %s "$m") / 1048576))" \
            "$((rl / 1024))" "$((rs / 1024))"
    done
fi
