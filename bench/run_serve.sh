#!/usr/bin/env bash
# The prompt lens through `spex serve` on loopback against the same lens in
# process (issue 15, targets: >= 0.8x the in-process rate; the client's CPU
# < 5% of the server's). The workload: every mask of a 12-word review
# (4,096 ablated prompts, --method exact) on the shipped model, engine at 1
# thread on both sides, runs alternated. Prints Markdown (recorded in
# bench/RESULTS.md). Usage, from the root:
#   bash bench/run_serve.sh [build-dir] [repeats]        (default build 3)
set -euo pipefail
cd "$(dirname "$0")/.."
spex=$(realpath "${1:-build}/spex")
reps=${2:-3}
model=../shared/models/synth-interact-llama-F32.gguf
tmp=$(mktemp -d)
srv=
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$tmp"' EXIT
P=(--prompt "the waiter is never so superb but the waiter felt lovely ." --prefix Review:
   --suffix Sentiment: --target " negative" --contrast " positive" --method exact --no-cache
   --quiet --format json)
# cpu PID: user+system seconds of a process so far
cpu() { awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15) / t }' "/proc/$1/stat"; }
"$spex" serve --model "$model" --port 0 --port-file "$tmp/port" --threads 1 >"$tmp/serve.log" 2>&1 &
srv=$!
for _ in $(seq 200); do [ -s "$tmp/port" ] && break; sleep 0.05; done
url=http://127.0.0.1:$(cat "$tmp/port")
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at the start"
echo
echo "| run | in process s | through spex serve s | rate ratio | client CPU s | server CPU s | client / server CPU |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for r in $(seq "$reps"); do
    /usr/bin/time -f "%e" -o "$tmp/t.local" "$spex" explain --llm "$model" --threads 1 "${P[@]}" \
        >"$tmp/local.json"
    s0=$(cpu "$srv")
    /usr/bin/time -f "%e %U %S" -o "$tmp/t.remote" "$spex" explain --server "$url" "${P[@]}" \
        >"$tmp/remote.json"
    s1=$(cpu "$srv")
    read -r tl <"$tmp/t.local"
    read -r tr cu cs <"$tmp/t.remote"
    python3 - "$tmp/local.json" "$tmp/remote.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
fa = {tuple(e["s"]): e["v"] for e in a["fourier"]}
fb = {tuple(e["s"]): e["v"] for e in b["fourier"]}
worst = max(abs(fa.get(s, 0) - fb.get(s, 0)) for s in set(fa) | set(fb))
sys.exit(0 if worst <= 1e-6 and a["queries"] == b["queries"] == 4096 else 1)
PY
    printf '| %d | %.2f | %.2f | %.2fx | %.2f | %.2f | %.1f%% |\n' "$r" "$tl" "$tr" \
        "$(echo "$tl / $tr" | bc -l)" "$(echo "$cu + $cs" | bc -l)" "$(echo "$s1 - $s0" | bc -l)" \
        "$(echo "100 * ($cu + $cs) / ($s1 - $s0)" | bc -l)"
done
echo
echo "(values through the server equal the in-process ones to 1e-6 in every run; rate"
echo "ratio = in-process time / time through spex serve, 4,096 masks each)"
