#!/usr/bin/env bash
# The designed interactions of synth-interact-llama's five truth prompts
# (../shared/models/truth/sentiment_*.values.json: the value of every mask,
# computed by an independent implementation). For each prompt:
#   1. the truth itself: its exact FSII (spex's index code, checked against
#      brute force elsewhere, on a game holding the truth's Fourier
#      transform) puts the (negator, adjective) pair in the top three pairs —
#      so a failure below points at the method, not the model;
#   2. the exact method on the model reproduces the truth's Fourier
#      coefficients (1e-3) and puts the pair in its top three pairs;
#   3. spex (budget 1000) and proxyspex (budget 800) put the pair in their
#      top three pairwise FSII values. Their masks are answered from the
#      query cache filled by step 2 (the same model answers; each run's
#      queries are counted as usual).
# Usage: test_llm_truth.sh PATH/TO/spex   (run from the project root)
# spex-test-label: accuracy
set -u
spex=$1
M=../shared/models
MODEL=$M/synth-interact-llama-F32.gguf
. tests/lib.sh # $tmp, the cache in it, ok/bad/expect/finish

# prompt number, then the 0-based word positions of the negator and adjective
cases="1 3 5
2 3 4
3 8 9
4 4 5
5 8 9"

# top3 RESULT.json I J: [I, J] among the three largest pairwise values
top3() {
    python3 - "$1" "$2" "$3" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); want = [int(sys.argv[2]), int(sys.argv[3])]
pairs = sorted((e for e in r["interactions"] if len(e["s"]) == 2), key=lambda e: -abs(e["v"]))
top = [e["s"] for e in pairs[:3]]
if want not in top:
    sys.exit("pair %s not in the top three %s" % (want, top))
PY
}

while read -r k i j; do
    truth=$M/truth/sentiment_$k.values.json
    # the review between "Review: " and " Sentiment:" (features are its words)
    review=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); print(" ".join(f.split(":",1)[1] for f in t["features"]))' "$truth")
    P=(--llm "$MODEL" --prompt "$review" --prefix Review: --suffix Sentiment: --quiet
       --index fsii --max-order 2 --format json)
    # target and contrast: the truth's answer and the other one (with their space)
    tgt=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); print(t["answer"])' "$truth")
    oth=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); print(t["other"])' "$truth")
    P+=(--target "$tgt" --contrast "$oth")

    # 1. the truth as a game: its Fourier transform, then spex's exact FSII
    python3 - "$truth" "$tmp/truth$k.json" <<'PY' && ok || bad "truth game $k"
import json, sys
t = json.load(open(sys.argv[1])); n = t["n"]; f = list(t["values"])
h = 1  # in-place Walsh-Hadamard transform, F(k) = 2^-n sum_m f(m) (-1)^{<m,k>}
while h < len(f):
    for a in range(0, len(f), 2 * h):
        for b in range(a, a + h):
            f[b], f[b + h] = f[b] + f[b + h], f[b] - f[b + h]
    h *= 2
coefs = [[[i for i in range(n) if s >> i & 1], v / len(f)] for s, v in enumerate(f)]
json.dump({"n": n, "basis": "fourier", "coefs": coefs}, open(sys.argv[2], "w"))
PY
    expect 0 '' "$spex" explain --game "$tmp/truth$k.json" --method exact --index fsii \
        --max-order 2 --format json --no-cache --quiet
    top3 "$tmp/out" "$i" "$j" && ok || bad "truth $k: designed pair not in the top three"
    cp "$tmp/out" "$tmp/truthfsii$k.json"

    # 2. exact on the model: the truth's coefficients and the pair
    expect 0 '' "$spex" explain "${P[@]}" --method exact
    python3 - "$tmp/out" "$tmp/truth$k.json" <<'PY' && ok || bad "exact vs truth, prompt $k"
import json, sys
r = json.load(open(sys.argv[1])); t = json.load(open(sys.argv[2]))
want = {tuple(s): v for s, v in t["coefs"]}
got = {tuple(e["s"]): e["v"] for e in r["fourier"]}
worst = max(abs(got.get(s, 0.0) - v) for s, v in want.items())
assert worst < 1e-3, worst
PY
    top3 "$tmp/out" "$i" "$j" && ok || bad "exact $k: designed pair not in the top three"

    # 3. spex and proxyspex, answered from the cache step 2 filled
    for mb in "spex 1000" "proxyspex 800"; do
        set -- $mb
        expect 0 '' "$spex" explain "${P[@]}" --method "$1" --budget "$2"
        top3 "$tmp/out" "$i" "$j" && ok || bad "$1 at budget $2, prompt $k: $(python3 -c '
import json,sys; r=json.load(open(sys.argv[1]))
print(sorted(((e["s"], round(e["v"],3)) for e in r["interactions"] if len(e["s"])==2), key=lambda x:-abs(x[1]))[:4], r["queries"])' "$tmp/out")"
    done
done <<<"$cases"

finish truth
