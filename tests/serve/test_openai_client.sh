#!/usr/bin/env bash
# spex serve with the official OpenAI client (npm package `openai`, installed
# with npm into build/npm the first time; CI reaches the npm registry): the
# model is listed, the echoed log-probs of prompt+continuation equal spex
# llm-score's in-process numbers (1e-6) and sum to the continuation's
# log-probability, greedy text comes back, an id outside the vocabulary is
# a 400 APIError and a wrong key a 401.
# Usage: test_openai_client.sh PATH/TO/spex   (run from the project root)
set -u
spex=$(realpath "$1")
. tests/lib.sh
MODEL=../shared/models/synth-interact-llama-F32.gguf
npmdir=$(dirname "$spex")/npm
if [ ! -d "$npmdir/node_modules/openai" ]; then
    mkdir -p "$npmdir"
    if ! npm install --prefix "$npmdir" --no-audit --no-fund --silent openai@4 >"$tmp/npm.log" 2>&1; then
        if [ -n "${CI:-}" ]; then
            bad "npm install openai failed: $(tail -5 "$tmp/npm.log")"
        else
            echo "openai client: npm install failed (offline?): skipped"
            ok
        fi
        finish openai-client
        exit
    fi
fi
cp tests/serve/openai_client.mjs "$npmdir/"
export SPEX_TEST_KEY=sekret-123
rm -f "$tmp/port"
"$spex" serve --model "$MODEL" --port 0 --port-file "$tmp/port" --model-id synth \
    --api-key-env SPEX_TEST_KEY >"$tmp/serve.log" 2>&1 &
srv=$!
trap 'kill $srv 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 200); do [ -s "$tmp/port" ] && break; sleep 0.05; done
prompt="Review: the food was not very good . Sentiment:"
node "$npmdir/openai_client.mjs" "$(cat "$tmp/port")" synth "$prompt" " negative" \
    >"$tmp/client.json" 2>"$tmp/err" || bad "the client failed: $(head -c 400 "$tmp/err")"
"$spex" llm-score --model "$MODEL" --prompt "$prompt" --continuation " negative" \
    >"$tmp/score.json" || bad "llm-score"
python3 - "$tmp/client.json" "$tmp/score.json" <<'PY' && ok || bad "client results"
import json, sys
c, s = (json.load(open(p)) for p in sys.argv[1:3])
print({k: c[k] for k in ("models", "generated", "bad_status", "wrong_key_status")})
assert c["models"] == ["synth"]
lp = c["token_logprobs"]
n_prompt, n_cont = len(s["prompt_tokens"]), len(s["continuation_tokens"])
assert len(lp) == n_prompt + n_cont and lp[0] is None, len(lp)
tail = lp[n_prompt:]
assert all(abs(a - b) < 1e-6 for a, b in zip(tail, s["token_logprobs"])), (tail, s)
assert abs(sum(tail) - s["logprob"]) < 1e-6
assert c["generated"].startswith(" negative"), c["generated"]
assert c["bad_status"] == 400 and c["wrong_key_status"] == 401
PY
finish openai-client
