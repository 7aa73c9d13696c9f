#!/usr/bin/env bash
# The qwen2 architecture (llama + biases on q, k, v and NeoX-order RoPE)
# against llama.cpp. No qwen2 model file is shipped, so the synth model is
# turned into one by tests/llm/gguf_set_keys.py: its llama.* keys renamed
# qwen2.*, and bias vectors (seeded uniform values in [-0.5, 0.5]) added.
# Golden values: llama.cpp c392e5094 through libllama on that file (F32 KV
# cache, log-softmax in double), the same token ids.
# Usage: test_qwen2.sh PATH/TO/spex   (run from the project root)
set -u
spex=$1
MODEL=../shared/models/synth-interact-llama-F32.gguf
. tests/lib.sh # $tmp, ok/bad/expect/finish
. tests/llm/score_check.sh

A=(@arch=qwen2)
for l in 0 1 2 3; do
    A+=(+blk.$l.attn_q.bias=rand:$((10 + l)):128:0.5 +blk.$l.attn_k.bias=rand:$((20 + l)):64:0.5
        +blk.$l.attn_v.bias=rand:$((30 + l)):64:0.5)
done
python3 tests/llm/gguf_set_keys.py "$MODEL" "$tmp/qwen2.gguf" "${A[@]}" || bad "gguf_set_keys"
python3 tests/llm/gguf_set_keys.py "$MODEL" "$tmp/nobias.gguf" @arch=qwen2

P="Review: the food was not very good but the service was really slow . Sentiment:"
check() { score_check qwen2 "$tmp/qwen2.gguf" "$P" "$@"; }
check " negative" -0.9644271002 1e-4
check " positive" -0.4839831458 1e-4
check " negative" -0.9644271002 1e-4 --reference # the scalar oracle too
check " negative" -0.9644271002 1e-4 --threads 1
cp "$tmp/last.json" "$tmp/t1.json"
check " negative" -0.9644271002 1e-4 --threads 2
cmp -s "$tmp/t1.json" "$tmp/last.json" && ok || bad "threads 1 and 2 differ"
# without its biases the file is not a qwen2 model: a clear error
expect 2 "missing tensor 'blk.0.attn_q.bias'" \
    "$spex" llm-score --model "$tmp/nobias.gguf" --prompt "$P" --continuation " negative"
expect 0 '' "$spex" llm-info --model "$tmp/qwen2.gguf"
grep -q '^architecture *qwen2' "$tmp/out" && ok || bad "llm-info: $(cat "$tmp/out")"

# the explain lenses run on this architecture: the exact surrogate, re-asked
# about its top interactions, predicts what the model then says
expect 0 '' "$spex" explain --llm "$tmp/qwen2.gguf" --prompt "the food was not good ." \
    --prefix Review: --suffix Sentiment: --target " negative" --method exact --no-cache \
    --quiet --validate 3
validate_within "$tmp/out" 1e-6 && ok || bad "explain --validate: $(tail -3 "$tmp/out")"

finish qwen2
