#!/usr/bin/env python3
"""The most that KV-prefix reuse can save on the ablation workload of
bench_llm (issue 5): N masked variants of a W-word prompt, each word kept
with probability p, visited in sorted order so that each variant reuses the
longest prefix it shares with the one before (what the engine does; sorted
order makes the work the number of nodes of the variants' prefix tree).
That is the least any exact evaluation needs, whatever the cache: a
token's keys and values depend on every token before it, so each distinct
prefix costs at least one token's computation. Counts tokens as kept words plus a
fixed prefix/suffix of 3; prints the ratio of tokens processed without and
with reuse — the ceiling of the speed-up, before any overhead.

    python3 bench/prefix_ceiling.py [N=1000] [W=60]
"""
import random
import sys

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
W = int(sys.argv[2]) if len(sys.argv) > 2 else 60
print("| keep probability p | tokens without reuse | with reuse | ceiling |")
print("|---:|---:|---:|---:|")
for p in (0.5, 0.7, 0.8, 0.9, 0.95):
    rng = random.Random(1)
    masks = sorted(tuple(rng.random() < p for _ in range(W)) for _ in range(N))
    plain = reuse = 0
    prev = None
    for m in masks:
        n_tok = sum(m) + 3
        plain += n_tok
        shared = 0
        if prev is not None:
            lcp = 0
            while lcp < W and m[lcp] == prev[lcp]:
                lcp += 1
            shared = 1 + sum(m[:lcp])  # BOS/prefix and the kept words before they differ
        reuse += n_tok - shared
        prev = m
    print("| %.2f | %d | %d | %.2fx |" % (p, plain, reuse, plain / reuse))
