#!/usr/bin/env bash
# End-to-end tests of spex llm-info, llm-score and llm-generate: results
# against the golden files of ../shared/models/golden (llama.cpp), every
# option in --help, errors with the exit status of DESIGN.md §4.4.
# Usage: test_llm_cli.sh PATH/TO/spex   (run from the project root)
set -u
spex=$1
M=../shared/models
. tests/lib.sh # $tmp, the cache in it, ok/bad/expect/finish

# llm-info
expect 0 '' "$spex" llm-info --model $M/stories260K.gguf
grep -q 'architecture    llama' "$tmp/out" && grep -q '512 tokens' "$tmp/out" && ok ||
    bad "llm-info output: $(cat "$tmp/out")"
expect 0 '' "$spex" llm-info --model $M/synth-interact-llama-Q4_0.gguf
grep -Eq 'Q4_0 x29' "$tmp/out" && ok || bad "llm-info types: $(cat "$tmp/out")"

# llm-score: one JSON object, the golden log-prob within 1e-3
P='Review: the staff are so perfect and the movie seemed not quite stale but the food is really noisy . Sentiment:'
expect 0 '' "$spex" llm-score --model $M/synth-interact-llama-F32.gguf --prompt "$P" \
    --continuation ' negative' --threads 2
python3 - "$tmp/out" <<'PY' && ok || bad "llm-score JSON: $(cat "$tmp/out")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["prompt_tokens"][:3] == [1, 13957, 29901] and len(r["prompt_tokens"]) == 27
assert r["continuation_tokens"] == [8178]
assert abs(r["logprob"] - (-0.0025567382328297583)) < 1e-3
assert len(r["token_logprobs"]) == 1 and r["token_logprobs"][0] == r["logprob"]
PY

# llm-generate: llama.cpp's greedy continuation of stories260K
expect 0 '' "$spex" llm-generate --model $M/stories260K.gguf --prompt 'Once upon a time' --tokens 32
want=$(python3 -c "import json; print(json.load(open('$M/golden/stories260K-once-upon-a-time.json'))['content'])")
[ "$(cat "$tmp/out")" = "$want" ] && ok || bad "llm-generate: '$(cat "$tmp/out")' vs '$want'"
expect 0 '' "$spex" llm-generate --model $M/stories260K.gguf --prompt 'Once upon a time' --tokens 3 --json
grep -q '"tokens": \[432, 383, 286\]' "$tmp/out" && ok || bad "llm-generate --json: $(cat "$tmp/out")"

# help documents every option
for c in llm-info llm-score llm-generate; do
    expect 0 '' "$spex" $c --help
    for o in model threads ctx reference help; do
        grep -q -- "--$o" "$tmp/out" && ok || bad "$c --help lacks --$o"
    done
done
grep -q -- '--json' "$tmp/out" && grep -q -- '--tokens' "$tmp/out" && ok || bad "llm-generate --help"

# errors
expect 1 'model FILE is required' "$spex" llm-info
expect 1 'unknown option' "$spex" llm-score --model x --bogus 1
expect 1 'continuation TEXT are required' "$spex" llm-score --model $M/stories260K.gguf --prompt a
expect 1 'threads' "$spex" llm-info --model $M/stories260K.gguf --threads 0
expect 2 'GGUF v1 is not supported' "$spex" llm-info --model $M/negative/stories260K-ggufv1.gguf
expect 2 'cannot open' "$spex" llm-info --model "$tmp/none.gguf"
head -c 5000 $M/stories260K.gguf >"$tmp/cut.gguf"
expect 2 'byte [0-9]+' "$spex" llm-info --model "$tmp/cut.gguf"
expect 2 "general.architecture" "$spex" llm-info --model $M/vocab/ggml-vocab-bert-bge.gguf
expect 2 "missing tensor 'token_embd.weight'" "$spex" llm-info --model $M/vocab/ggml-vocab-gpt-2.gguf
expect 1 'adds no token' "$spex" llm-score --model $M/stories260K.gguf --prompt a --continuation ''
expect 2 'exceed the context' "$spex" llm-generate --model $M/stories260K.gguf --prompt a --tokens 5000

finish
