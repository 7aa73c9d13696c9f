#!/usr/bin/env bash
# The README's first command: installs what is missing, builds spex, and runs
# its main job on the built-in default. Extra arguments go to 'spex explain'.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
if [ $# -eq 0 ]; then
    # the main job: explain a language model's answer by its prompt's words
    # (synth-interact-llama, trained with known negator x adjective
    # interactions; ../shared/models/README.md)
    set -- --llm ../shared/models/synth-interact-llama-F32.gguf \
        --prompt "the food was not very good ." --prefix "Review:" --suffix "Sentiment:" \
        --target " negative" --contrast " positive" \
        --method exact --index fsii --max-order 2 --top 8 --validate 3 --threads 2
fi
exec build/spex explain "$@"
