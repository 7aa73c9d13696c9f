#!/usr/bin/env bash
# End-to-end tests of `spex explain --llm` (the prompt lens) on
# synth-interact-llama: exact Fourier values against every mask of
# ../shared/models/truth/sentiment_1 (the F32 engine agrees with the float64
# reference to ~3e-6 nats; tolerance 1e-3), the designed (not, good) pair among
# the top three pairwise FSII values, the terminal report, --validate (also on
# a game), other methods, and bad inputs with exit statuses 1/2.
# Usage: test_llm_explain.sh PATH/TO/spex   (run from the project root)
set -u
spex=$1
M=../shared/models
MODEL=$M/synth-interact-llama-F32.gguf
TRUTH=$M/truth/sentiment_1.values.json
. tests/lib.sh # $tmp, the cache in it, ok/bad/expect/finish

S1=(--llm "$MODEL" --prompt "the food was not very good ." --prefix Review: --suffix Sentiment:
    --target " negative" --contrast " positive" --quiet)

# exact Fourier transform of the truth values (all 2^n masks) vs spex's
expect 0 '' "$spex" explain "${S1[@]}" --method exact --format json --no-cache
python3 - "$tmp/out" "$TRUTH" <<'PY' && ok || bad "exact fourier vs truth"
import json, sys
r = json.load(open(sys.argv[1])); t = json.load(open(sys.argv[2]))
n = t["n"]; vals = t["values"]
assert r["n"] == n and r["features"] == [f.split(":", 1)[1] for f in t["features"]], r["features"]
# F(k) = 2^-n sum_m f(m) (-1)^{<m,k>}, bit i of m = word i kept
F = {}
for k in range(1 << n):
    F[k] = sum(v * (-1) ** bin(m & k).count("1") for m, v in enumerate(vals)) / (1 << n)
got = {sum(1 << i for i in e["s"]): e["v"] for e in r["fourier"]}
worst = max(abs(got.get(k, 0.0) - F[k]) for k in F)
print("largest |F_spex - F_truth| = %.3g (tolerance 1e-3)" % worst)
assert worst < 1e-3
PY

# the designed negator x adjective pair among the top three pairwise FSII values
expect 0 '' "$spex" explain "${S1[@]}" --method exact --index fsii --max-order 2 --format json
python3 - "$tmp/out" <<'PY' && ok || bad "fsii top-3 pairs: $(head -c 400 "$tmp/out")"
import json, sys
r = json.load(open(sys.argv[1]))
pairs = sorted((e for e in r["interactions"] if len(e["s"]) == 2), key=lambda e: -abs(e["v"]))
assert [3, 5] in [e["s"] for e in pairs[:3]], pairs[:3]
PY

# the terminal report (the cache from the run above answers every mask) and --validate
expect 0 '' "$spex" explain "${S1[@]}" --method exact --index fsii --max-order 2 --validate 3
grep -q '(128 from the cache, 0 new)' "$tmp/out" && ok || bad "cache not used: $(head -2 "$tmp/out")"
grep -Fq 'Review: the[' "$tmp/out" && grep -Fq 'not[' "$tmp/out" && grep -Fq ' Sentiment:' "$tmp/out" &&
    ok || bad "marked prompt: $(cat "$tmp/out")"
grep -Eq '^  not × good: \+[0-9]' "$tmp/out" && ok || bad "interactions in words: $(cat "$tmp/out")"
grep -q '^validation: top 3 interactions re-queried (6 distinct masks, 6 from the cache)' "$tmp/out" && ok ||
    bad "validate header: $(cat "$tmp/out")"
# exact surrogate = the model on every mask: predicted and measured agree
validate_within "$tmp/out" 1e-6 && ok ||
    bad "validate error: $(grep largest "$tmp/out")"
grep -Eq '^ +1 .* not × good$' "$tmp/out" && ok || bad "validate rows: $(cat "$tmp/out")"
# json stays machine-readable with --validate: the table goes to stderr
expect 0 'validation: top 2' "$spex" explain "${S1[@]}" --index fsii --format json --validate 2
python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$tmp/out" && ok || bad "json + validate"
# --validate on a game (any target): measured = predicted for the exact method
expect 0 '' "$spex" explain --game examples/movie_review.json --index fsii --validate 2 --no-cache
validate_within "$tmp/out" 1e-9 && ok ||
    bad "game validate: $(cat "$tmp/out")"

# the default target: the model's greedy answer; other methods and indices run
expect 0 '' "$spex" explain --llm "$MODEL" --prompt "the food was not very good ." \
    --prefix Review: --suffix Sentiment: --no-cache --quiet --method kernelshap --budget 300
grep -Fq 'value: log p(" negative")' "$tmp/out" && ok || bad "greedy target: $(cat "$tmp/out")"
expect 0 '' "$spex" explain "${S1[@]}" --method lasso --budget 200 --index sv --max-order 2
expect 0 '' "$spex" explain "${S1[@]}" --method spex --budget 300 --index stii --max-order 2
printf 'the food was good\nbut the staff were rude .\n' >"$tmp/p.txt"
expect 0 '' "$spex" explain --llm "$MODEL" --prompt-file "$tmp/p.txt" --unit segment \
    --prefix Review: --suffix Sentiment: --mask replace:... --no-cache --index bv
grep -Fq 'but the staff were rude .[' "$tmp/out" && ok || bad "segments: $(cat "$tmp/out")"
expect 0 '' "$spex" explain --llm "$MODEL" --prompt "the food was not good" --unit token \
    --prefix Review: --suffix Sentiment: --no-cache --format csv
[ "$(wc -l <"$tmp/out")" -gt 3 ] && ok || bad "token units csv: $(cat "$tmp/out")"

# repeated words get told-apart names (waiter#1, waiter#2) in every output;
# the marked prompt and the HTML page show the words themselves in place
W=(--llm "$MODEL" --prompt "the waiter is never so superb but the waiter felt lovely ." --quiet
   --method exact --index fsii --max-order 2 --top 0)
expect 0 '' "$spex" explain "${W[@]}" --out "$tmp/w.json" --html "$tmp/w.html"
cp "$tmp/out" "$tmp/w.table"
expect 0 '' "$spex" explain "${W[@]}" --format csv
cp "$tmp/out" "$tmp/w.csv"
python3 - "$tmp/w.json" "$tmp/w.table" "$tmp/w.csv" "$tmp/w.html" <<'PY' && ok || bad "repeated names"
import csv, html, json, re, sys
r = json.load(open(sys.argv[1]))
table, page = open(sys.argv[2]).read(), open(sys.argv[4]).read()
names = ["the#1", "waiter#1", "is", "never", "so", "superb", "but", "the#2", "waiter#2", "felt",
         "lovely", "."]
assert r["features"] == names, r["features"]
# every interaction, by name through its indices, as the table, the CSV and
# the HTML table show it
want = {" × ".join(names[j] for j in e["s"]) or "(baseline)" for e in r["interactions"]}
rows = re.findall(r"^ +\d+ +\d+ +\S+  (.+)$", table.split("\n\n")[1], re.M)
assert len(rows) == len(r["interactions"]) == 79 and set(rows) == want, (rows, want)
assert "waiter#1" in rows and "waiter#2" in rows and "the#1 × waiter#2" in rows, rows
cs = list(csv.DictReader(open(sys.argv[3])))
assert len(cs) == 79, len(cs)
for c in cs:
    idx = [int(j) for j in c["indices"].split()]
    assert c["features"] == (" x ".join(names[j] for j in idx) or "(baseline)"), c
# the terminal report: words in place, names in the top interactions
words = "the waiter is never so superb but the waiter felt lovely .".split()
assert re.findall(r"(\S+)\[[+-][0-9.]+\]", table) == words, table
top = table.split("top interactions (fsii):\n")[1].strip().splitlines()
assert len(top) == 5 and all(f in names for t in top for f in t.strip().rsplit(":", 1)[0].split(" × ")), top
# the HTML page: names in the tooltips and tables, the words in the prompt view
feats = re.findall(r'<span class="feat"[^>]* title="([^"]*) \(x(\d+)\)[^"]*">([^<]*)</span>', page)
assert [(html.unescape(t), int(i), html.unescape(w)) for t, i, w in feats] == \
    [(n, i, w) for i, (n, w) in enumerate(zip(names, words))], feats
assert page.count("waiter#2") >= 3 and ">waiter#1<" in page, page
PY
# without repeats the names are the words
expect 0 '' "$spex" explain "${S1[@]}" --method exact --max-order 2 --top 0 --format csv
python3 - "$tmp/out" <<'PY' && ok || bad "names without repeats: $(head -5 "$tmp/out")"
import csv, sys
words = "the food was not very good .".split()
for c in csv.DictReader(open(sys.argv[1])):
    names = [words[int(j)] for j in c["indices"].split()]
    assert c["features"] == (" x ".join(names) or "(baseline)"), c
PY

# help and bad inputs
expect 0 '' "$spex" explain --help
for o in llm prompt prompt-file unit segments-sep mask prefix suffix target contrast validate; do
    grep -q -- "--$o" "$tmp/out" && ok || bad "explain --help lacks --$o"
done
expect 2 "cannot open" "$spex" explain --llm "$tmp/none.gguf" --prompt "a b" --no-cache
expect 1 "prompt is empty" "$spex" explain --llm "$MODEL" --prompt "" --no-cache
: >"$tmp/empty.txt"
expect 2 "prompt file .*empty.txt.* is empty" "$spex" explain --llm "$MODEL" --prompt-file "$tmp/empty.txt"
expect 2 "cannot open the prompt file" "$spex" explain --llm "$MODEL" --prompt-file "$tmp/no.txt"
expect 1 "no word units" "$spex" explain --llm "$MODEL" --prompt "   " --no-cache
expect 1 "unknown unit 'paragraph'" "$spex" explain --llm "$MODEL" --prompt "a b" --unit paragraph
expect 1 "exactly one of --prompt" "$spex" explain --llm "$MODEL"
expect 1 "exactly one of --prompt" "$spex" explain --llm "$MODEL" --prompt a --prompt-file "$tmp/p.txt"
expect 1 "needs --target" "$spex" explain --llm "$MODEL" --prompt a --contrast " b"
expect 1 "unknown --mask 'blank'" "$spex" explain --llm "$MODEL" --prompt a --mask blank
expect 1 "--segments-sep goes with --unit segment" "$spex" explain --llm "$MODEL" --prompt a --segments-sep "|"
expect 1 "exactly one target" "$spex" explain --llm "$MODEL" --game examples/movie_review.json --prompt a
expect 1 "--validate expects" "$spex" explain --game examples/movie_review.json --validate x
expect 2 "GGUF v1 is not supported" "$spex" explain --llm $M/negative/stories260K-ggufv1.gguf --prompt a

finish
