#!/usr/bin/env bash
# Linear RoPE scaling (llama.rope.scaling.type / .factor, as DeepSeek-Coder
# and other long-context llama models carry it) against llama.cpp: the synth
# model with factor 4 added by tests/llm/gguf_set_keys.py. Golden values:
# llama.cpp c392e5094 (libllama, F32 KV cache, log-softmax in double) on the
# same file and tokens; spex without the scaling was 1.36 nats away.
# Also: type "none" never scales, unsupported types are refused.
# Usage: test_rope_scaling.sh PATH/TO/spex   (run from the project root)
set -u
spex=$1
MODEL=../shared/models/synth-interact-llama-F32.gguf
. tests/lib.sh # $tmp, ok/bad/expect/finish

P="Review: the food was not very good but the service was really slow . Sentiment:"
setkeys() { python3 tests/llm/gguf_set_keys.py "$MODEL" "$@"; }
setkeys "$tmp/lin4.gguf" llama.rope.scaling.type=s:linear llama.rope.scaling.factor=f:4 ||
    bad "gguf_set_keys failed"
setkeys "$tmp/none4.gguf" llama.rope.scaling.type=s:none llama.rope.scaling.factor=f:4
setkeys "$tmp/old4.gguf" llama.rope.scale_linear=f:4
setkeys "$tmp/yarn.gguf" llama.rope.scaling.type=s:yarn llama.rope.scaling.factor=f:4

# logprob of CONT under MODEL vs WANT within TOL
check() {
    local model=$1 cont=$2 want=$3 tol=$4
    expect 0 '' "$spex" llm-score --model "$model" --prompt "$P" --continuation "$cont"
    python3 - "$tmp/out" "$want" "$tol" <<'PY' && ok || bad "$model '$cont': $(cat "$tmp/out")"
import json, sys
got = json.load(open(sys.argv[1]))["logprob"]
want, tol = float(sys.argv[2]), float(sys.argv[3])
print("logprob %.7f, llama.cpp %.7f, |diff| %.2g (tolerance %g)" % (got, want, abs(got - want), tol))
assert abs(got - want) <= tol
PY
}
check "$tmp/lin4.gguf" " negative" -1.3651130013 1e-4
check "$tmp/lin4.gguf" " positive" -0.2958247475 1e-4
check "$tmp/old4.gguf" " negative" -1.3651130013 1e-4   # the older key name
check "$tmp/none4.gguf" " negative" -0.0018493606 1e-5  # "none": as the unscaled file
check "$MODEL" " negative" -0.0018493606 1e-5

expect 0 '' "$spex" llm-info --model "$tmp/lin4.gguf"
grep -q 'rope scale *0.25 (linear)' "$tmp/out" && ok || bad "llm-info: $(cat "$tmp/out")"
expect 2 "llama.rope.scaling.type' = 'yarn': only 'none' and 'linear'" \
    "$spex" llm-score --model "$tmp/yarn.gguf" --prompt "$P" --continuation " negative"

finish rope-scaling
