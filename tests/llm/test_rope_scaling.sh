#!/usr/bin/env bash
# RoPE scaling against llama.cpp: linear (llama.rope.scaling.type / .factor,
# as DeepSeek-Coder and other long-context llama models carry it) and
# per-frequency factors (a rope_freqs tensor, Llama 3.1+), on the synth
# model with the keys or the tensor added by tests/llm/gguf_set_keys.py. Golden values:
# llama.cpp c392e5094 (libllama, F32 KV cache, log-softmax in double) on the
# same file and tokens; spex without the scaling was 1.36 nats away.
# Also: type "none" never scales, unsupported types are refused.
# Usage: test_rope_scaling.sh PATH/TO/spex   (run from the project root)
set -u
spex=$1
MODEL=../shared/models/synth-interact-llama-F32.gguf
. tests/lib.sh # $tmp, ok/bad/expect/finish
. tests/llm/score_check.sh

P="Review: the food was not very good but the service was really slow . Sentiment:"
setkeys() { python3 tests/llm/gguf_set_keys.py "$MODEL" "$@"; }
setkeys "$tmp/lin4.gguf" llama.rope.scaling.type=s:linear llama.rope.scaling.factor=f:4 ||
    bad "gguf_set_keys failed"
setkeys "$tmp/none4.gguf" llama.rope.scaling.type=s:none llama.rope.scaling.factor=f:4
setkeys "$tmp/old4.gguf" llama.rope.scale_linear=f:4
setkeys "$tmp/yarn.gguf" llama.rope.scaling.type=s:yarn llama.rope.scaling.factor=f:4
# per-frequency factors (Llama 3.1+): a rope_freqs tensor of n_rot / 2 = 16
setkeys "$tmp/freqs.gguf" +rope_freqs.weight=f32:1,2,3,4,5,6,7,8,8,8,8,8,8,8,8,8
setkeys "$tmp/freqs0.gguf" +rope_freqs.weight=f32:1,2,3,4,5,6,7,0,8,8,8,8,8,8,8,8
setkeys "$tmp/freqs3.gguf" +rope_freqs.weight=f32:1,2,3

check() { score_check rope "$1" "$P" "${@:2}"; }
check "$tmp/lin4.gguf" " negative" -1.3651130013 1e-4
check "$tmp/lin4.gguf" " positive" -0.2958247475 1e-4
check "$tmp/old4.gguf" " negative" -1.3651130013 1e-4   # the older key name
check "$tmp/none4.gguf" " negative" -0.0018493606 1e-5  # "none": as the unscaled file
check "$MODEL" " negative" -0.0018493606 1e-5
check "$tmp/freqs.gguf" " negative" -1.5645622619 1e-4
check "$tmp/freqs.gguf" " positive" -0.2351726897 1e-4

expect 0 '' "$spex" llm-info --model "$tmp/lin4.gguf"
grep -q 'rope scale *0.25 (linear)' "$tmp/out" && ok || bad "llm-info: $(cat "$tmp/out")"
expect 2 "llama.rope.scaling.type' = 'yarn': only 'none' and 'linear'" \
    "$spex" llm-score --model "$tmp/yarn.gguf" --prompt "$P" --continuation " negative"

expect 2 "rope_freqs.weight': entry 7 is not a positive number" \
    "$spex" llm-score --model "$tmp/freqs0.gguf" --prompt "$P" --continuation " negative"
expect 2 "rope_freqs.weight" \
    "$spex" llm-score --model "$tmp/freqs3.gguf" --prompt "$P" --continuation " negative"

finish rope-scaling
