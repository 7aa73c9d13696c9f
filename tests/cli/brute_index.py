#!/usr/bin/env python3
"""Independent oracle for the CLI test: computes an interaction index of a
game file by its textbook definition (DESIGN.md appendix) over all coalitions,
and compares it with a spex result file. Usage:
    brute_index.py GAME.json RESULT.json INDEX MAX_ORDER TOL
Supports sv, bv, sii, bii, mobius (the definitions by discrete derivatives).
Exits 1 and prints the worst difference when they disagree."""
import itertools, json, math, sys

game_path, result_path, index, K, tol = sys.argv[1:6]
K, tol = int(K), float(tol)
g = json.load(open(game_path))
n = g["n"]
basis = g.get("basis", "fourier")
coefs = [(sum(1 << j for j in s), v) for s, v in g["coefs"]]

def value(m):
    if basis == "fourier":
        return sum(v * (-1) ** bin(m & k).count("1") for k, v in coefs)
    return sum(v for k, v in coefs if m & k == k)

N = 1 << n
vals = [value(m) for m in range(N)]

def delta(T, S):  # Δ_T v(S), T and S disjoint bitmasks
    bits = [1 << j for j in range(n) if T >> j & 1]
    t = len(bits)
    total = 0.0
    for r in range(t + 1):
        for L in itertools.combinations(bits, r):
            total += (-1) ** (t - r) * vals[S | sum(L)]
    return total

def index_of(T):
    t = bin(T).count("1")
    rest = [j for j in range(n) if not T >> j & 1]
    if index == "mobius":
        return delta(T, 0)
    acc = 0.0
    for r in range(len(rest) + 1):
        if index in ("sv", "sii"):
            w = math.factorial(n - r - t) * math.factorial(r) / math.factorial(n - t + 1)
        else:  # bv, bii
            w = 2.0 ** -(n - t)
        for S in itertools.combinations(rest, r):
            acc += w * delta(T, sum(1 << j for j in S))
    return acc

res = json.load(open(result_path))
got = {tuple(e["s"]): e["v"] for e in res["interactions"]}
order = 1 if index in ("sv", "bv") else K
worst = 0.0
for t in range(1, order + 1):
    for T in itertools.combinations(range(n), t):
        want = index_of(sum(1 << j for j in T))
        diff = abs(got.get(T, 0.0) - want)
        if diff > worst:
            worst, at = diff, (T, got.get(T, 0.0), want)
if worst > tol:
    print("mismatch %s: subset %s spex %.12g brute force %.12g (tolerance %g)"
          % (index, at[0], at[1], at[2], tol))
    sys.exit(1)
print("%s up to order %d matches brute force (worst diff %.2e)" % (index, order, worst))
