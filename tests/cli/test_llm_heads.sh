#!/usr/bin/env bash
# End-to-end tests of `spex explain --llm --heads` (the mechanistic lens) on
# synth-interact-llama. The engine's ablation itself is checked against
# patched model files in tests/llm/test_ablation.c; here: the exact
# transform over layer 3's heads and MLP reproduces the unablated value that
# `spex llm-score` prints, --validate measures what the exact surrogate
# predicts, the layer × head report, mean ablation, proxyspex over all 16
# heads, and bad inputs with their exit statuses.
# Usage: test_llm_heads.sh PATH/TO/spex   (run from the project root)
set -u
spex=$1
MODEL=../shared/models/synth-interact-llama-F32.gguf
. tests/lib.sh # $tmp, the cache in it, ok/bad/expect/finish

H=(--llm "$MODEL" --prompt "the food was not good ." --prefix Review: --suffix Sentiment:
   --target " negative" --contrast " positive" --quiet)
FULL="Review: the food was not good . Sentiment:"

# the unablated value from the engine's own scorer
"$spex" llm-score --model "$MODEL" --prompt "$FULL" --continuation " negative" >"$tmp/neg" &&
    "$spex" llm-score --model "$MODEL" --prompt "$FULL" --continuation " positive" >"$tmp/pos" &&
    ok || bad "llm-score"

# exact transform over L3's heads + MLP: f(all kept) = sum of Fourier coefficients
expect 0 '' "$spex" explain "${H[@]}" --heads --mlp --layers 3 --method exact --format json \
    --no-cache
python3 - "$tmp/out" "$tmp/neg" "$tmp/pos" <<'PY' && ok || bad "exact heads: $(head -c 300 "$tmp/out")"
import json, sys
r = json.load(open(sys.argv[1]))
neg = json.load(open(sys.argv[2]))["logprob"]; pos = json.load(open(sys.argv[3]))["logprob"]
assert r["features"] == ["L3.H0", "L3.H1", "L3.H2", "L3.H3", "L3.MLP"], r["features"]
# Fourier basis (-1)^{<m,k>}: at the all-kept mask m = 1..1 the sign is (-1)^|k|
full = sum(e["v"] * (-1) ** len(e["s"]) for e in r["fourier"])
print("f(all kept) = %.6f, llm-score: %.6f" % (full, neg - pos))
assert abs(full - (neg - pos)) < 1e-4
# ablating components must matter, or nothing is tested
assert max(abs(e["v"]) for e in r["fourier"] if e["s"]) > 1e-3
PY

# the report: a layer x head grid and named interactions; validation exact
expect 0 '' "$spex" explain "${H[@]}" --heads --layers 2-3 --method exact --index fsii \
    --max-order 2 --validate 3 --no-cache
grep -Eq '^ +H0 +H1 +H2 +H3$' "$tmp/out" && grep -Eq '^  L2 ' "$tmp/out" &&
    grep -Eq '^  L3 ' "$tmp/out" && ok || bad "grid: $(cat "$tmp/out")"
grep -Eq 'L[23]\.H[0-3] × L[23]\.H[0-3]: [-+][0-9]' "$tmp/out" && ok || bad "interactions in words"
grep -Eq 'largest \|predicted - measured\|: 0\.0000' "$tmp/out" && ok ||
    bad "validation of the exact surrogate: $(grep -A8 validation "$tmp/out")"

# mean ablation over reference prompts gives other values than zero ablation
printf 'Review: the service was great . Sentiment:\n\nReview: the room was never clean . Sentiment:\n' >"$tmp/refs"
expect 0 '' "$spex" explain "${H[@]}" --heads --layers 3 --method exact --format csv --no-cache
cp "$tmp/out" "$tmp/zero.csv"
expect 0 '' "$spex" explain "${H[@]}" --heads --layers 3 --method exact --format csv --no-cache \
    --ablate mean --reference-prompts "$tmp/refs"
cmp -s "$tmp/out" "$tmp/zero.csv" && bad "mean ablation equals zero ablation" || ok
expect 0 '' "$spex" explain "${H[@]}" --heads --layers 3 --method exact --format csv --no-cache \
    --ablate mean
ok

# proxyspex over all 16 heads within a small budget
expect 0 '' "$spex" explain "${H[@]}" --heads --method proxyspex --budget 300 --no-cache
grep -q 'L0.H3' "$tmp/out" && ok || bad "proxyspex heads: $(head -c 300 "$tmp/out")"

# bad inputs
expect 1 'layers 0-9 are not a range of the model.s layers 0-3' "$spex" explain "${H[@]}" \
    --heads --layers 0-9 --no-cache
expect 1 'expected A-B' "$spex" explain "${H[@]}" --heads --layers -2 --no-cache
expect 1 'the last layer is before the first' "$spex" explain "${H[@]}" --heads --layers 3-1
expect 1 '--unit is for prompt units' "$spex" explain "${H[@]}" --heads --unit token
expect 1 '--layers goes with --heads or --mlp' "$spex" explain "${H[@]}" --layers 1
expect 1 "unknown --ablate 'half'" "$spex" explain "${H[@]}" --heads --ablate half
expect 1 '--reference-prompts goes with --ablate mean' "$spex" explain "${H[@]}" --heads \
    --reference-prompts "$tmp/refs"
printf '\n\n' >"$tmp/empty"
expect 2 'has no prompt' "$spex" explain "${H[@]}" --heads --ablate mean \
    --reference-prompts "$tmp/empty"
expect 2 'cannot open the reference prompts file' "$spex" explain "${H[@]}" --heads \
    --ablate mean --reference-prompts "$tmp/nope"

# a task (--prompts): exact over layer 0's heads, the task's Fourier
# coefficients are the mean of each prompt's own (the transform is linear)
printf 'the food was not good .\t negative\t positive\n# comment\n\nthe staff were very friendly .\t positive\n' \
    >"$tmp/task.tsv"
T=(--llm "$MODEL" --prefix Review: --suffix Sentiment: --heads --layers 0 --method exact
   --format json --no-cache --quiet)
"$spex" explain "${T[@]}" --prompt "the food was not good ." --target " negative" \
    --contrast " positive" >"$tmp/t1.json" &&
    "$spex" explain "${T[@]}" --prompt "the staff were very friendly ." --target " positive" \
        >"$tmp/t2.json" &&
    "$spex" explain "${T[@]}" --prompts "$tmp/task.tsv" >"$tmp/task.json" ||
    bad "task runs"
python3 - "$tmp/t1.json" "$tmp/t2.json" "$tmp/task.json" <<'PY' && ok || bad "task = mean of the prompts"
import json, sys
a, b, t = (json.load(open(p)) for p in sys.argv[1:4])
fa = {tuple(e["s"]): e["v"] for e in a["fourier"]}
fb = {tuple(e["s"]): e["v"] for e in b["fourier"]}
ft = {tuple(e["s"]): e["v"] for e in t["fourier"]}
keys = set(fa) | set(fb) | set(ft)
worst = max(abs(ft.get(k, 0) - (fa.get(k, 0) + fb.get(k, 0)) / 2) for k in keys)
print("task vs mean of the two prompts: largest difference %.2e over %d coefficients" % (worst, len(keys)))
assert worst < 1e-9 and len(keys) > 4
assert max(abs(fa.get(k, 0) - fb.get(k, 0)) for k in keys) > 1e-2  # the prompts differ
PY
expect 0 '' "$spex" explain --llm "$MODEL" --prefix Review: \
    --suffix Sentiment: --heads --layers 0 --method exact --no-cache --quiet \
    --prompts "$tmp/task.tsv"
grep -q 'value: the mean over 2 prompts' "$tmp/out" && ok || bad "task report: $(head -c 300 "$tmp/out")"
printf 'no tab here\n' >"$tmp/badtask.tsv"
expect 2 'badtask.tsv, line 1: expected PROMPT<TAB>TARGET' "$spex" explain --llm "$MODEL" \
    --heads --prompts "$tmp/badtask.tsv" --quiet --no-cache
expect 1 'each line gives its own target' "$spex" explain --llm "$MODEL" --heads \
    --prompts "$tmp/task.tsv" --target " yes" --quiet --no-cache
expect 1 'exactly one of --prompt' "$spex" explain --llm "$MODEL" --heads \
    --prompts "$tmp/task.tsv" --prompt "x" --quiet --no-cache
expect 1 '--prompts goes with --heads' "$spex" explain --llm "$MODEL" \
    --prompts "$tmp/task.tsv" --quiet --no-cache
printf '# nothing\n' >"$tmp/emptytask.tsv"
expect 2 'has no prompt' "$spex" explain --llm "$MODEL" --heads \
    --prompts "$tmp/emptytask.tsv" --quiet --no-cache

finish
