#!/usr/bin/env bash
# The prompt lens over inference servers (--server, spex/remote.h) against
# real `spex serve` processes on 127.0.0.1 (issue 15):
#   1. truth prompt 1 (7 words, all 128 masks) through the server in both
#      dialects: every mask's value equals the in-process lens to 1e-6 and
#      the independent truth table to 1e-3; auto probes and says so (and
#      that spex serve scores only the target's positions, its extension);
#   2. a pool of two servers: same values, both serve requests; a pool
#      whose servers serve different models is refused;
#   3. faults from a MOCK proxy (tests/serve/fault_proxy.py; 503 with
#      Retry-After, a reply cut short, a dropped connection): retried, same
#      values; token ids echoed differently: an error naming the position;
#   4. the server killed mid-run: a clear error, the answers received kept
#      in the cache; the re-run against a new server pays only the rest;
#   5. spex serve: several prompts per request equal each prompt alone (also
#      with the "spex_logprobs_from" extension); bad requests get 4xx;
#   6. bad options;
#   9. --server --heads (spex serve's "spex_ablate") equals the in-process
#      heads lens to 1e-6 (zero and mean ablation); malformed spex_ablate
#      fields get 400;
#   8. concurrency: a server with --parallel 2 --queue 1 under a burst of
#      concurrent requests answers some 503 with Retry-After, every 200
#      with exactly the numbers of the prompt alone, and keeps serving;
#      with a large queue all are answered, batched (/health's largest
#      batch > 1), with the same numbers; spex explain against the small
#      queue waits out the 503s and equals the in-process lens to 1e-6; a
#      busy 503 is retried past --retries (it is no endpoint failure);
#   7. only when SPEX_LLAMA_SERVER names a llama.cpp llama-server binary
#      (CI has none: skipped with a message): --api llama-server and auto
#      against a real llama-server (-fa off, F32 KV cache) equal the
#      in-process lens to 1e-4; a target of several tokens, without a
#      contrast, to 2e-3 (llama-server's float32 softmax sum).
# Usage: test_server.sh PATH/TO/spex   (run from the project root)
set -u
spex=$(realpath "$1")
. tests/lib.sh
M=../shared/models
MODEL=$M/synth-interact-llama-F32.gguf
truth=$M/truth/sentiment_1.values.json
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT

# serve NAME MODEL [OPTIONS]: starts spex serve on a free port; $port
serve() {
    local name=$1 model=$2
    shift 2
    rm -f "$tmp/$name.port"
    "$spex" serve --model "$model" --port 0 --port-file "$tmp/$name.port" "$@" \
        >"$tmp/$name.log" 2>&1 &
    pids+=($!)
    last_pid=$!
    for _ in $(seq 200); do [ -s "$tmp/$name.port" ] && break; sleep 0.05; done
    port=$(cat "$tmp/$name.port")
}
review=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); print(" ".join(f.split(":",1)[1] for f in t["features"]))' "$truth")
P=(--prompt "$review" --prefix Review: --suffix Sentiment: --target " negative"
   --contrast " positive" --method exact --quiet --format json)
# close A.json B.json TOL: every Fourier coefficient within TOL
close() {
    python3 - "$1" "$2" "$3" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
fa = {tuple(e["s"]): e["v"] for e in a["fourier"]}
fb = {tuple(e["s"]): e["v"] for e in b["fourier"]}
worst = max(abs(fa.get(s, 0) - fb.get(s, 0)) for s in set(fa) | set(fb))
print(f"largest difference {worst:.2e}")
sys.exit(0 if worst <= float(sys.argv[3]) else 1)
PY
}
# the truth table as a result file (its Fourier transform)
python3 - "$truth" "$tmp/truth.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1])); n = t["n"]; f = list(t["values"]); h = 1
while h < len(f):
    for a in range(0, len(f), 2 * h):
        for b in range(a, a + h):
            f[b], f[b + h] = f[b] + f[b + h], f[b] - f[b + h]
    h *= 2
json.dump({"fourier": [{"s": [i for i in range(n) if s >> i & 1], "v": v / len(f)}
                       for s, v in enumerate(f)]}, open(sys.argv[2], "w"))
PY

"$spex" explain --llm "$MODEL" "${P[@]}" --no-cache >"$tmp/local.json" 2>"$tmp/err" ||
    bad "in-process lens: $(cat "$tmp/err")"

# 1. one server, each dialect and auto
serve a "$MODEL"
A=http://127.0.0.1:$port
for api in auto vllm openai; do
    expect 0 "" "$spex" explain --server "$A" --api $api "${P[@]}" --no-cache
    cp "$tmp/out" "$tmp/$api.json"
    if close "$tmp/$api.json" "$tmp/local.json" 1e-6 && close "$tmp/$api.json" "$tmp/truth.json" 1e-3
    then ok; else bad "--api $api: values differ from the in-process lens or the truth"; fi
done
expect 0 "vllm dialect \(probed: prompt_logprobs\); spex serve: only the target" "$spex" explain \
    --server "$A/v1/" "${P[@]}" --no-cache

# 2. a pool: two servers of the model; requests go to both
serve b "$MODEL"
B=http://127.0.0.1:$port
expect 0 "2 endpoints" "$spex" explain --server "$A,$B" --concurrency 2 --prompts-per-request 4 \
    "${P[@]}" --no-cache
if close "$tmp/out" "$tmp/local.json" 1e-6; then ok; else bad "pool values differ"; fi
# the server target through MPI workers (issue 16): each worker rank has its
# own client; same values
if command -v mpirun >/dev/null && "$spex" explain --help | grep -q mpi-deadline; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    export OMPI_MCA_mca_base_component_disable_dlclose=1
    if ldd "$spex" 2>/dev/null | grep -q libasan; then
        export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
    fi
    expect 0 "" mpirun --oversubscribe -n 3 "$spex" explain --server "$A,$B" "${P[@]}" --no-cache
    if close "$tmp/out" "$tmp/local.json" 1e-6; then ok; else bad "values under MPI differ"; fi
elif [ -n "${CI:-}" ]; then
    bad "no mpirun or a spex without MPI in CI"
fi
serve c "$M/synth-interact-llama-Q8_0.gguf"
C=http://127.0.0.1:$port
expect 3 "different models" "$spex" explain --server "$A,$C" "${P[@]}" --no-cache
expect 3 "does not list the model 'nope'" "$spex" explain --server "$A" --model nope "${P[@]}" \
    --no-cache

# 3. faults through the mock proxy in front of server a
proxy_port() { # proxy_port [BACKEND_URL]: a proxy in front of server a (or that); $X
    rm -f "$tmp/proxy.port"
    local back=${1:-$A}
    python3 tests/serve/fault_proxy.py "${back##*:}" "$tmp/proxy.port" "$tmp/faults" \
        "$tmp/proxy.log" &
    pids+=($!)
    for _ in $(seq 200); do [ -s "$tmp/proxy.port" ] && break; sleep 0.05; done
    X=http://127.0.0.1:$(cat "$tmp/proxy.port")
}
proxy_port
printf '503\ncut\n503\ndrop\n' >"$tmp/faults"
expect 0 "" "$spex" explain --server "$X" --api vllm "${P[@]}" --no-cache
if close "$tmp/out" "$tmp/local.json" 1e-6 && [ "$(grep -c " 503\| cut\| drop" "$tmp/proxy.log")" -eq 4 ]
then ok; else bad "faults were not retried to the same values"; fi
echo ids >"$tmp/faults"
expect 3 "position 1: the server echoes token" "$spex" explain --server "$X" --api vllm "${P[@]}" \
    --no-cache
# a server that never answers: the retries run out with a clear message
expect 2 "after 1 retries" "$spex" explain --server http://127.0.0.1:9 --retries 1 "${P[@]}" \
    --no-cache

# 4. the server killed mid-run: the answers received are kept (its replies
# slowed by the proxy, 0.1 s each, so that the kill falls mid-run)
serve d "$MODEL"
dpid=$last_pid
proxy_port "http://127.0.0.1:$port"
for _ in $(seq 200); do echo slow; done >"$tmp/faults"
"$spex" explain --server "$X" --api vllm "${P[@]}" --prompts-per-request 1 --concurrency 1 \
    --retries 1 --batch-size 32 --cache "$tmp/kill.sqlite" >/dev/null 2>"$tmp/err.kill" &
run=$!
# kill the server once the cache holds a first batch's answers
rows() { python3 -c "import sqlite3, sys
try: print(sqlite3.connect(sys.argv[1]).execute('select count(*) from answers').fetchone()[0])
except Exception: print(0)" "$1"; }
for _ in $(seq 400); do [ "$(rows "$tmp/kill.sqlite")" -ge 32 ] && break; sleep 0.02; done
kill -9 "$dpid"
wait $run
status=$?
if [ $status -ge 2 ] && grep -q "after 1 retries\|every endpoint failed" "$tmp/err.kill"
then ok; else bad "killed server: exit $status, $(head -c 300 "$tmp/err.kill")"; fi
serve e "$MODEL"
expect 0 "" "$spex" explain --server "http://127.0.0.1:$port" --api vllm "${P[@]}" \
    --cache "$tmp/kill.sqlite"
python3 - "$tmp/out" <<'PY' && ok || bad "re-run after the kill paid again"
import json, sys
r = json.load(open(sys.argv[1]))
print(f"re-run: {r['queries'] - r['queries_new']} from the cache, {r['queries_new']} new")
sys.exit(0 if 0 < r["queries"] - r["queries_new"] < r["queries"] else 1)
PY
if close "$tmp/out" "$tmp/local.json" 1e-6; then ok; else bad "re-run values differ"; fi

# 5. spex serve's own replies to bad requests: JSON errors, 4xx, still serving
code() { curl -s -o "$tmp/body" -w "%{http_code}" "$@"; }
[ "$(code "$A/health")" = 200 ] && grep -q '"ok"' "$tmp/body" && ok || bad "/health"
[ "$(code -X POST "$A/v1/completions" -d '{"prompt": [1, 2')" = 400 ] &&
    grep -q '"error"' "$tmp/body" && ok || bad "malformed JSON: $(cat "$tmp/body")"
[ "$(code -X POST "$A/v1/completions" -d '{"prompt": [[1, -5]]}')" = 400 ] && ok ||
    bad "negative token id: $(cat "$tmp/body")"
[ "$(code "$A/v1/nothing")" = 404 ] && ok || bad "unknown endpoint: $(cat "$tmp/body")"
[ "$(code -X POST "$A/v1/completions" -d '{"model": "other", "prompt": "x"}')" = 404 ] && ok ||
    bad "wrong model: $(cat "$tmp/body")"
head -c 9000000 /dev/zero | tr '\0' ' ' >"$tmp/big"
[ "$(code -X POST "$A/tokenize" --data-binary @"$tmp/big")" = 413 ] && ok || bad "oversized body"
[ "$(code -X POST "$A/tokenize" -d '{"content": "hi"}')" = 200 ] && ok || bad "not serving after errors"

# 5b. one request of several prompts: each prompt's log-probs equal those of
# the prompt alone (the shared prefix copied, the KV cache reused), in full
# and from the positions "spex_logprobs_from" asks for (null before)
python3 - "$A" <<'PY' && ok || bad "prompt lists or spex_logprobs_from differ from single prompts"
import json, sys, urllib.request, urllib.error
base = sys.argv[1]
def post(path, body):
    req = urllib.request.Request(base + path, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)
texts = ["Review: the food was good . Sentiment: negative",
         "Review: the food was bad . Sentiment: negative",
         "Review: the food was good .", "Review: the service was good . Sentiment:"]
ids = [post("/tokenize", {"content": t, "add_special": True})[1]["tokens"] for t in texts]
def lps(body):
    st, r = post("/v1/completions", dict(body, max_tokens=0, prompt_logprobs=0))
    assert st == 200, r
    return [[None if e is None else next(iter(e.values()))["logprob"] for e in c["prompt_logprobs"]]
            for c in r["choices"]]
alone = [lps({"prompt": [t]})[0] for t in ids]
together = lps({"prompt": ids})
frm = [3, len(ids[1]) - 1, 1, 2]
part = lps({"prompt": ids, "spex_logprobs_from": frm})
worst = 0.0
for a, b, c, f in zip(alone, together, part, frm):
    assert len(a) == len(b) == len(c) and a[0] is None
    for j in range(1, len(a)):
        worst = max(worst, abs(a[j] - b[j]))
        if j < f:
            assert c[j] is None, (j, f, c[j])
        else:
            worst = max(worst, abs(a[j] - c[j]))
print(f"{len(ids)} prompts in one request vs alone: largest difference {worst:.1e}")
assert worst <= 1e-9
for bad in ([0, 1, 1, 1], [1, 1], [1, 1, 1, 999]):
    st, r = post("/v1/completions", {"prompt": ids, "max_tokens": 0, "prompt_logprobs": 0,
                                     "spex_logprobs_from": bad})
    assert st == 400 and "spex_logprobs_from" in r["error"]["message"], (bad, st, r)
PY

# 8. concurrency, the bounded queue, batching across requests
serve q "$MODEL" --parallel 2 --queue 1
Q=http://127.0.0.1:$port
python3 tests/serve/burst.py "$Q" refused && ok || bad "burst against --queue 1"
serve r "$MODEL" --parallel 4 --queue 64
python3 tests/serve/burst.py "http://127.0.0.1:$port" all && ok || bad "burst against --queue 64"
health() { # health URL FIELD: a counter of /health
    curl -s "$1/health" | python3 -c "import json, sys; print(json.load(sys.stdin)['$2'])"
}
big=$(health "http://127.0.0.1:$port" spex_largest_batch)
[ "$big" -gt 1 ] && ok || bad "no batch of several requests (largest $big)"
before=$(health "$Q" spex_refused)
expect 0 "" "$spex" explain --server "$Q" --concurrency 4 --prompts-per-request 4 --retries 0 \
    "${P[@]}" --no-cache
if close "$tmp/out" "$tmp/local.json" 1e-6; then ok; else bad "values through a small queue differ"; fi
after=$(health "$Q" spex_refused)
echo "spex explain against --queue 1: $((after - before)) requests refused 503 and retried"
[ "$after" -gt "$before" ] && ok || bad "the small queue refused nothing: the 503 path went untested"
proxy_port
printf '503\n503\n503\n503\n503\n' >"$tmp/faults"
: >"$tmp/proxy.log"
expect 0 "" "$spex" explain --server "$X" --api vllm --retries 1 "${P[@]}" --no-cache
if close "$tmp/out" "$tmp/local.json" 1e-6 && [ "$(grep -c " 503" "$tmp/proxy.log")" -eq 5 ]
then ok; else bad "five busy 503s with --retries 1 were not waited out"; fi

# 6. options
expect 1 "not spoken yet" "$spex" explain --server "$A" --api tgi "${P[@]}" --no-cache
expect 1 "unknown --api 'llama'" "$spex" explain --server "$A" --api llama "${P[@]}" --no-cache
expect 1 "goes with --server" "$spex" explain --llm "$MODEL" --concurrency 3 "${P[@]}" --no-cache
# 9. the mechanistic lens over spex serve ("spex_ablate"): equal to the
# in-process lens, zero and mean ablation; malformed fields get 400
H=(--layers 3 --mlp --heads --method exact --quiet --format json --no-cache --prompt "$review"
   --prefix Review: --suffix Sentiment: --target " negative" --contrast " positive")
for how in zero mean; do
    "$spex" explain --llm "$MODEL" "${H[@]}" --ablate $how >"$tmp/hl.json" 2>"$tmp/err" ||
        bad "in-process heads lens: $(cat "$tmp/err")"
    expect 0 "" "$spex" explain --server "$A" "${H[@]}" --ablate $how
    if close "$tmp/out" "$tmp/hl.json" 1e-6; then ok; else bad "--heads --ablate $how over spex serve differs"; fi
done
for f in '{"heads": [[4, 0]]}' '{"heads": [[0, 9]]}' '{"heads": [0]}' '{"mlps": ["a"]}' \
    '{"mode": "mean"}' '{"heads": [], "x": 1}' '"zero"'; do
    [ "$(code -X POST "$A/v1/completions" -d "{\"prompt\": [[1, 2]], \"max_tokens\": 0, \"spex_ablate\": $f}")" = 400 ] &&
        grep -q spex_ablate "$tmp/body" && ok || bad "spex_ablate $f: $(cat "$tmp/body")"
done
[ "$(code "$A/health")" = 200 ] && ok || bad "not serving after bad spex_ablate"
expect 1 "not set" "$spex" explain --server "$A" --api-key-env SPEX_NO_SUCH_VAR "${P[@]}" --no-cache
expect 1 "is not http" "$spex" explain --server "ftp://x" "${P[@]}" --no-cache
# 7. a real llama-server (llama.cpp tools/server), never a mock of one
if [ -n "${SPEX_LLAMA_SERVER:-}" ]; then
    lport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$SPEX_LLAMA_SERVER" -m "$MODEL" --host 127.0.0.1 --port "$lport" -t 1 -fa off -ctk f32 \
        -ctv f32 >"$tmp/llama.log" 2>&1 &
    pids+=($!)
    L=http://127.0.0.1:$lport
    for _ in $(seq 300); do
        [ "$(curl -s -o /dev/null -w "%{http_code}" "$L/health")" = 200 ] && break
        sleep 0.1
    done
    expect 0 "llama-server dialect \(found: /v1/models owned_by llamacpp" "$spex" explain \
        --server "$L" "${P[@]}" --no-cache
    if close "$tmp/out" "$tmp/local.json" 1e-4 && close "$tmp/out" "$tmp/truth.json" 1e-3
    then ok; else bad "llama-server (auto): values differ from the in-process lens or the truth"; fi
    # a target of several tokens: one forced token per prompt, prefix-extended
    P3=(--prompt "$review" --prefix Review: --suffix Sentiment: --target " negative, not positive"
        --method exact --quiet --format json)
    "$spex" explain --llm "$MODEL" "${P3[@]}" --no-cache >"$tmp/local3.json" 2>"$tmp/err" ||
        bad "in-process lens, long target: $(cat "$tmp/err")"
    expect 0 "llama-server dialect \(as given" "$spex" explain --server "$L" --api llama-server \
        --prompts-per-request 8 "${P3[@]}" --no-cache
    # llama-server's float32 softmax sum loses tail mass (src/backend/remote.c,
    # PRECISION): without a contrast to cancel it, about 5e-4 here
    if close "$tmp/out" "$tmp/local3.json" 2e-3; then ok; else bad "llama-server: long target differs"; fi
else
    echo "section 7 skipped: set SPEX_LLAMA_SERVER to a llama.cpp llama-server binary to run it"
fi

finish server
