# Sourced by the llm test scripts after tests/lib.sh: score_check LABEL
# MODEL PROMPT CONT WANT TOL [llm-score options...] runs `spex llm-score`
# ($spex) and checks its logprob against WANT within TOL; the JSON it
# printed stays in $tmp/last.json.
score_check() {
    local label=$1 model=$2 prompt=$3 cont=$4 want=$5 tol=$6
    shift 6
    expect 0 '' "$spex" llm-score --model "$model" --prompt "$prompt" --continuation "$cont" "$@"
    cp "$tmp/out" "$tmp/last.json"
    python3 - "$tmp/out" "$want" "$tol" "$label" <<'PY' && ok || bad "$label '$cont' $*: $(cat "$tmp/out")"
import json, sys
got = json.load(open(sys.argv[1]))["logprob"]
want, tol = float(sys.argv[2]), float(sys.argv[3])
print("%s logprob %.7f, llama.cpp %.7f, |diff| %.2g (tolerance %g)"
      % (sys.argv[4], got, want, abs(got - want), tol))
assert abs(got - want) <= tol
PY
}
