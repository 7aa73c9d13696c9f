#!/usr/bin/env bash
# run_llama_server.sh: the prompt lens over llama.cpp's llama-server
# (--api llama-server, src/backend/remote.c) next to spex serve and the
# in-process lens (--llm), on truth prompt 1 (7 words, --method exact: all
# 128 masks, target " negative" vs contrast " positive", as
# tests/serve/test_server.sh). Prints, against the in-process lens, the
# largest difference of a Fourier coefficient and of a mask's value for
# llama-server started exact (-fa off -ctk f32 -ctv f32), llama-server with
# its defaults, and spex serve; then throughput (masks/s, median over
# ROUNDS rounds; each round runs the three in a rotated order, no cache):
# "querying" is the time spex reports for its queries (tokenizing and
# scoring; in process also the engine's setup per batch), "wall" the whole
# spex explain process (start, --llm's model load and hash included).
#
#     bench/run_llama_server.sh LLAMA_SERVER [SPEX_BUILD_DIR] [ROUNDS]
#
# LLAMA_SERVER: a llama-server binary (llama.cpp tools/server; NOT part of
# this project, nor built by it; e.g. cmake --build build --target
# llama-server in a llama.cpp checkout). SPEX_BUILD_DIR (default build)
# holds spex. ROUNDS default 3. Environment: MODEL (default
# ../shared/models/synth-interact-llama-F32.gguf), THREADS (threads of
# every engine, default 1). Run from the repository root; servers listen
# on 127.0.0.1 only and are stopped on exit.
set -euo pipefail

if [ $# -lt 1 ]; then
    sed -n '2,21p' "$0" >&2
    exit 2
fi
LS=$1
spex=$(realpath "${2:-build}/spex")
ROUNDS=${3:-3}
MODEL=${MODEL:-../shared/models/synth-interact-llama-F32.gguf}
THREADS=${THREADS:-1}
truth=../shared/models/truth/sentiment_1.values.json
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_health() {
    for _ in $(seq 600); do
        [ "$(curl -s -o /dev/null -w "%{http_code}" "$1/health")" = 200 ] && return 0
        sleep 0.1
    done
    echo "run_llama_server.sh: $1 did not come up" >&2
    exit 1
}
# llama NAME [OPTIONS]: a llama-server on a free port; URL in $url
llama() {
    local name=$1 port
    shift
    port=$(free_port)
    "$LS" -m "$MODEL" --host 127.0.0.1 --port "$port" -t "$THREADS" "$@" >"$tmp/$name.log" 2>&1 &
    pids+=($!)
    url=http://127.0.0.1:$port
    wait_health "$url"
}
llama exact -fa off -ctk f32 -ctv f32
LX=$url
llama default
LD=$url
"$spex" serve --model "$MODEL" --port 0 --port-file "$tmp/serve.port" --threads "$THREADS" \
    >"$tmp/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do [ -s "$tmp/serve.port" ] && break; sleep 0.05; done
SS=http://127.0.0.1:$(cat "$tmp/serve.port")
wait_health "$SS"

review=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); print(" ".join(f.split(":",1)[1] for f in t["features"]))' "$truth")
P=(--prompt "$review" --prefix Review: --suffix Sentiment: --target " negative"
   --contrast " positive" --method exact --quiet --no-cache)
# run NAME [--format json]: one explain; its output in $tmp/NAME.json,
# wall seconds appended to $tmp/NAME.s, querying seconds to $tmp/NAME.q
run() {
    local t0 t1 name=$1
    shift
    t0=$(date +%s.%N)
    case $name in
    llama-server) "$spex" explain --server "$LX" --api llama-server "${P[@]}" "$@" ;;
    llama-default) "$spex" explain --server "$LD" --api llama-server "${P[@]}" "$@" ;;
    spex-serve) "$spex" explain --server "$SS" --api vllm "${P[@]}" "$@" ;;
    in-process) "$spex" explain --llm "$MODEL" --threads "$THREADS" "${P[@]}" "$@" ;;
    esac >"$tmp/$name.json" 2>"$tmp/$name.err" || { cat "$tmp/$name.err" >&2; exit 1; }
    t1=$(date +%s.%N)
    echo "$t0 $t1" | awk '{ printf "%.6f\n", $2 - $1 }' >>"$tmp/$name.s"
    grep -o '[0-9.]* s querying' "$tmp/$name.json" | cut -d' ' -f1 >>"$tmp/$name.q" || true
}
# diff A B: largest |Fourier coefficient| and |mask value| differences
diff_json() {
    python3 - "$1" "$2" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
fa = {tuple(e["s"]): e["v"] for e in a["fourier"]}
fb = {tuple(e["s"]): e["v"] for e in b["fourier"]}
n = 1 + max(i for s in list(fa) + list(fb) for i in s)
d = [0.0] * (1 << n)
for s in set(fa) | set(fb):
    d[sum(1 << i for i in s)] = fa.get(s, 0) - fb.get(s, 0)
worst_c = max(abs(v) for v in d)
h = 1  # the values' difference: the inverse Walsh-Hadamard transform
while h < len(d):
    for x in range(0, len(d), 2 * h):
        for y in range(x, x + h):
            d[y], d[y + h] = d[y] + d[y + h], d[y] - d[y + h]
    h *= 2
print(f"{worst_c:.2e} | {max(abs(v) for v in d):.2e}")
PY
}

for name in in-process llama-server llama-default spex-serve; do run $name --format json; done
echo "## accuracy against the in-process lens (7 words, all 128 masks)"
echo
echo "| backend | largest Fourier coefficient difference | largest mask value difference |"
echo "|---|---|---|"
echo "| llama-server -fa off -ctk f32 -ctv f32 | $(diff_json "$tmp/llama-server.json" "$tmp/in-process.json") |"
echo "| llama-server defaults | $(diff_json "$tmp/llama-default.json" "$tmp/in-process.json") |"
echo "| spex serve | $(diff_json "$tmp/spex-serve.json" "$tmp/in-process.json") |"
echo
grep -h "llama-server dialect" "$tmp/llama-server.err" || true
masks=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["queries"])' "$tmp/in-process.json")
rm -f "$tmp"/*.s "$tmp"/*.q
order=(llama-server spex-serve in-process)
for r in $(seq "$ROUNDS"); do
    for k in 0 1 2; do run "${order[$(((k + r) % 3))]}"; done
done
med() { sort -g "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
bq=$(med "$tmp/in-process.q")
bs=$(med "$tmp/in-process.s")
echo
echo "## throughput ($masks masks, --method exact, no cache, $THREADS thread(s) per engine, median of $ROUNDS)"
echo
echo "| backend | querying (s) | masks/s querying | querying / in-process | wall (s) | masks/s wall | every querying time (s) |"
echo "|---|---|---|---|---|---|---|"
for name in llama-server spex-serve in-process; do
    q=$(med "$tmp/$name.q")
    s=$(med "$tmp/$name.s")
    awk -v n="$name" -v q="$q" -v s="$s" -v m="$masks" -v b="$bq" \
        -v all="$(tr '\n' ' ' <"$tmp/$name.q")" \
        'BEGIN { printf "| %s | %.3f | %.0f | %.2f | %.3f | %.0f | %s|\n", n, q, m / q, q / b, s, m / s, all }'
done
echo
echo "machine: $(nproc) cores, load: $(uptime | sed 's/.*load average/load average/')"
