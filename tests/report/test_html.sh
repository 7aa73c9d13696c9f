#!/usr/bin/env bash
# End-to-end test of `spex explain --format html` (src/report/html.c): renders
# the report of the movie_review game (chips) and of a small LLM prompt
# (the prompt in place) in headless Chromium, checks the rendered DOM for the
# feature names, the bars, the arcs and the settings, takes a screenshot, and
# checks that the page refers to nothing outside itself.
# Usage: test_html.sh PATH/TO/spex   (run from the project root)
# Needs Debian's chromium (scripts/setup.sh installs it): fails without it.
# SPEX_HTML_KEEP=DIR keeps the pages and screenshots in DIR.
set -u
spex=$1
. tests/lib.sh # $tmp, the cache in it, ok/bad/expect/finish

# check NAME FILE PATTERN...: each fixed-string PATTERN occurs in FILE
check() {
    local name=$1 file=$2
    shift 2
    for pat in "$@"; do
        if grep -qF -- "$pat" "$file"; then ok; else bad "$name: '$pat' not found"; fi
    done
}
# count NAME FILE PATTERN WANT: PATTERN occurs WANT times in FILE
count() {
    local got
    got=$(grep -oF -- "$3" "$2" | wc -l)
    if [ "$got" -eq "$4" ]; then ok; else bad "$1: '$3' occurs $got times, expected $4"; fi
}

browser=$(command -v chromium || true)
if [ -z "$browser" ]; then
    echo "FAIL: chromium is not installed (run 'bash scripts/setup.sh')"
    exit 1
fi
# render NAME: dumps the DOM of $tmp/NAME.html to $tmp/NAME.dom and takes
# $tmp/NAME.png; no network, a throw-away profile
render() {
    local flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
                 --disable-background-networking --disable-component-update --disable-sync)
    timeout 60 "$browser" "${flags[@]}" --user-data-dir="$(mktemp -d -p "$tmp")" \
        --dump-dom "file://$tmp/$1.html" >"$tmp/$1.dom" 2>"$tmp/$1.err" ||
        bad "$1: chromium --dump-dom failed: $(tail -3 "$tmp/$1.err")"
    timeout 60 "$browser" "${flags[@]}" --user-data-dir="$(mktemp -d -p "$tmp")" \
        --screenshot="$tmp/$1.png" --window-size=1200,900 "file://$tmp/$1.html" \
        >/dev/null 2>>"$tmp/$1.err" || bad "$1: chromium --screenshot failed"
    local size
    size=$(stat -c %s "$tmp/$1.png" 2>/dev/null || echo 0)
    if [ "$size" -gt 20000 ]; then ok; else bad "$1: screenshot is $size bytes"; fi
    if [ "$(head -c 8 "$tmp/$1.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; then ok
    else bad "$1: the screenshot is not a PNG"; fi
    if grep -qiE 'https?://' "$tmp/$1.html"; then
        bad "$1: the page refers to the network: $(grep -oiE 'https?://[^" ]*' "$tmp/$1.html" | head -3)"
    else ok; fi
    if grep -qiE '<script|<link|<img|<iframe|src=' "$tmp/$1.html"; then
        bad "$1: the page has a script or an external asset"
    else ok; fi
    # the DOM Chromium built holds the page (the body was parsed, not an error page)
    check "$1 DOM" "$tmp/$1.dom" '<h2>Settings and costs</h2>' '</svg>'
}

# 1. the movie_review game: chips, 10 bars, arcs for the 6 pairs of the top 16
"$spex" explain --game examples/movie_review.json --index fsii --max-order 2 --top 16 \
    --quiet --format html >"$tmp/movie.html" 2>"$tmp/movie.stderr" ||
    bad "movie: spex explain --format html failed: $(cat "$tmp/movie.stderr")"
render movie
check movie "$tmp/movie.dom" '<div class="chips">' '<svg class="bars"' '<svg class="arcs"' \
    '>not<' '>bad<' '>loved<' '>really<' 'not × bad' \
    '<th>method</th><td>exact (chosen by auto: all 2^10 masks fit the budget)</td>' \
    '<th>queries</th><td>1024 (0 cached, 1024 new)</td>' \
    '<th>index</th><td>fsii</td>' '<th>max order</th><td>2 (of the index)</td>' '<th>seconds</th>' \
    'class="legend-scale"'
count movie "$tmp/movie.dom" 'class="feat"' 10
count movie "$tmp/movie.dom" 'class="bar"' 10
# pairwise entries among the top 16 of the result, from its own JSON
"$spex" explain --game examples/movie_review.json --index fsii --max-order 2 --quiet \
    --format csv --top 16 >"$tmp/movie.csv"
pairs=$(awk -F, 'NR > 1 && $2 == 2' "$tmp/movie.csv" | wc -l)
if [ "$pairs" -ge 2 ]; then ok; else bad "movie: only $pairs pairs in the top 16"; fi
count movie "$tmp/movie.dom" 'class="arc"' "$pairs"
# the same run through --html FILE beside the table, from the cache this time
"$spex" explain --game examples/movie_review.json --index fsii --max-order 2 --top 16 \
    --quiet --html "$tmp/movie2.html" >"$tmp/movie2.table" 2>&1 ||
    bad "movie: --html FILE failed: $(cat "$tmp/movie2.table")"
check "movie --html" "$tmp/movie2.table" 'rank'
check "movie --html" "$tmp/movie2.html" '(1024 cached, 0 new)' '<svg class="arcs"'

# 2. a small LLM prompt: the prompt in place between its fixed prefix and suffix
model=../shared/models/synth-interact-llama-F32.gguf
if [ ! -f "$model" ]; then
    bad "llm: the model $model is missing"
else
    "$spex" explain --llm "$model" --prompt "the food was not very good ." \
        --prefix "Review:" --suffix "Sentiment:" --target " negative" --contrast " positive" \
        --method exact --index fsii --max-order 2 --top 8 --threads 2 --no-cache --quiet \
        --validate 3 --format html >"$tmp/llm.html" 2>"$tmp/llm.stderr" ||
        bad "llm: spex explain --format html failed: $(cat "$tmp/llm.stderr")"
    render llm
    check llm "$tmp/llm.dom" '<div class="prompt">' '<span class="fixed">Review:</span>' \
        '<span class="fixed">Sentiment:</span>' '<svg class="bars"' '<svg class="arcs"' \
        '<th>method</th><td>exact</td>' '<th>queries</th><td>128 (0 cached, 128 new)</td>' \
        'value: log p(" negative") - log p(" positive")' 'not × good'
    for w in the food was not very good .; do check llm "$tmp/llm.dom" ">$w</span>"; done
    count llm "$tmp/llm.dom" 'class="feat"' 7
    count llm "$tmp/llm.dom" 'class="bar"' 7
    if grep -qF 'class="arc"' "$tmp/llm.dom"; then ok; else bad "llm: no arc"; fi
    # --validate: three re-queried interactions; the exact surrogate is the model
    check llm "$tmp/llm.dom" '<h2>Validation</h2>' 'largest |predicted − measured|: 0.0000'
    count llm "$tmp/llm.dom" 'class="vrow"' 3
    check "llm validate on stderr" "$tmp/llm.stderr" 'validation: top 3'
fi

# 3. bad input: an unknown format names html among the choices
"$spex" explain --game examples/movie_review.json --format htm >/dev/null 2>"$tmp/err"
if [ $? -eq 1 ] && grep -q 'html' "$tmp/err"; then ok; else bad "--format htm: $(cat "$tmp/err")"; fi

# keep the screenshots for a person to look at
if [ -n "${SPEX_HTML_KEEP:-}" ]; then
    mkdir -p "$SPEX_HTML_KEEP" && cp "$tmp"/*.png "$tmp"/*.html "$SPEX_HTML_KEEP"/
fi
finish
