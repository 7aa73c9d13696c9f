"""Faithfulness on real model functions (issue 14, item 3): for functions of
synth-interact-llama whose value under every mask is known, each method at
each budget is scored by

  R²      its surrogate against the function over all 2^n masks;
  top-5   how many of its 5 largest pairwise FSII values (by |value|) are
          among the exact FSII's 5 largest pairs (0..5, shown as a fraction);
  oracle  the R² of the best (budget / 5)-term Fourier approximation of the
          function (its largest coefficients): what a sparse surrogate that
          costs 5 queries per term could reach.

The functions:
  truth  the five prompts of ../shared/models/truth (values computed by an
         independent implementation), word units;
  words  further sentiment reviews of 13 to 16 words, every mask scored by
         spex's engine here (method exact through the query cache, so a
         re-run reads them back);
  heads  the mechanistic lens over the 16 attention heads (all 65,536
         masks) on three prompts.
Value: log p(answer) - log p(other answer), as in the truth files.

Usage (from the project root, after the build):
    /usr/bin/python3 bench/faith.py [--cache FILE] [--threads T] [--only truth,words,heads]
        [--methods "NAME;NAME..."] [--budgets 250,500,1000,2000]
"""
import argparse
import itertools
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
import spex  # noqa: E402

SHARED = os.path.join(ROOT, "..", "shared")
MODEL = os.path.join(SHARED, "models", "synth-interact-llama-F32.gguf")
TRUTH = os.path.join(SHARED, "models", "truth")

# (review, answer, other): the designed label of each review is its answer
WORDS = [
    ("the food was not good but the staff were very friendly and kind .", " positive",
     " negative"),
    ("although the room was never clean , the view was really lovely .", " positive",
     " negative"),
    ("the waiter is never so superb but the waiter felt lovely .", " positive", " negative"),
    ("the music was hardly fresh and the coffee was not very tasty at all .", " negative",
     " positive"),
    ("although the staff were rude , the food was good but the room was dirty .", " negative",
     " positive"),
]
HEADS = [
    ("the food was not very good .", " negative", " positive"),
    ("the food was not good but the staff were very friendly .", " positive", " negative"),
    ("the room was dirty although the view was never boring .", " positive", " negative"),
]

# name, method, degree (None: automatic)
VARIANTS = [
    ("auto (default)", "auto", None),
    ("proxyspex", "proxyspex", None),
    ("spex", "spex", None),
    ("spex, degree 2", "spex", 2),
    ("lasso", "lasso", None),
    ("lasso, degree 2", "lasso", 2),
    ("kernelshap", "kernelshap", None),
]


def all_masks(n):
    idx = np.arange(1 << n, dtype=np.int64)
    return ((idx[:, None] >> np.arange(n)) & 1).astype(bool)


def table_fn(y, n):
    w = 1 << np.arange(n, dtype=np.int64)

    def f(masks):
        return y[masks.astype(np.int64) @ w]
    return f


def fourier_table(y, n):
    """Fourier coefficients f̂(S) = 2^-n Σ_m y(m) (-1)^{|m ∩ S|}, indexed by S."""
    a = y.astype(float).copy()
    h = 1
    while h < a.size:
        a = a.reshape(-1, 2, h)
        a = np.stack([a[:, 0] + a[:, 1], a[:, 0] - a[:, 1]], axis=1).reshape(-1)
        h *= 2
    return a / a.size


def oracle_r2(coef, k):
    e = np.sort(coef[1:] ** 2)[::-1]
    tot = e.sum()
    return float(e[:k].sum() / tot) if tot > 0 else 1.0


def top_pairs(inter, k=5):
    pairs = sorted(((s, v) for s, v in inter.items() if len(s) == 2), key=lambda t: -abs(t[1]))
    return [s for s, _ in pairs[:k]]


def r2(pred, y):
    return 1.0 - float(((pred - y) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def truth_functions():
    out = []
    for i in range(1, 6):
        d = json.load(open(os.path.join(TRUTH, f"sentiment_{i}.values.json")))
        out.append((f"truth {i} (n={d['n']})", d["n"], np.array(d["values"], float),
                    " ".join(w for ws in d["feature_words"] for w in ws)))
    return out


def model_functions(kind, model, cache, threads):
    out = []
    for i, (review, ans, other) in enumerate(WORDS if kind == "words" else HEADS, 1):
        if kind == "words":
            lens = model.prompt(review, prefix="Review:", suffix="Sentiment:", target=ans,
                                contrast=other)
        else:
            lens = model.heads(review, prefix="Review:", suffix="Sentiment:", target=ans,
                               contrast=other)
        n = lens.n
        t0 = time.time()
        r = spex.explain(lens, method="exact", cache=cache, threads=threads, index="fourier")
        y = r.predict(all_masks(n))
        print(f"  {kind} {i}: n = {n}, {1 << n} masks ({r.queries_new} new, "
              f"{time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
        out.append((f"{kind} {i} (n={n})", n, y, review))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", default=os.path.join(ROOT, "build", "bench-faith.sqlite"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="truth,words,heads")
    ap.add_argument("--methods", default=";".join(v[0] for v in VARIANTS),
                    help="variants, separated by ';'")
    ap.add_argument("--budgets", default="250,500,1000,2000")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    kinds = a.only.split(",")
    budgets = [int(b) for b in a.budgets.split(",")]
    variants = [v for v in VARIANTS if v[0] in a.methods.split(";")]
    fns = {}
    if "truth" in kinds:
        fns["truth"] = truth_functions()
    model = None
    for kind in ("words", "heads"):
        if kind in kinds:
            model = model or spex.Model(MODEL, threads=a.threads)
            fns[kind] = model_functions(kind, model, a.cache, a.threads)

    rows = {}  # (kind, variant, budget) -> list of (r2, top5, oracle)
    print(f"# faithfulness on real model functions; {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}; spex {spex.__version__}")
    print("\n## every function, method and budget\n")
    print("| function | method | budget | queries | R² | top-5 | oracle R² | solve s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for kind, lst in fns.items():
        for name, n, y, _ in lst:
            coef = fourier_table(y, n)
            ex = spex.explain(table_fn(y, n), n=n, method="exact", index="fsii", max_order=2)
            truth5 = set(top_pairs(ex.interactions))
            X = all_masks(n)
            for (vname, method, degree), B in itertools.product(variants, budgets):
                t0 = time.time()
                try:
                    r = spex.explain(table_fn(y, n), n=n, method=method, budget=B,
                                     degree=degree, index="fsii", max_order=2, seed=a.seed,
                                     threads=a.threads)
                except spex.Error as e:
                    print(f"| {name} | {vname} | {B} | - | - | - | - | - | ({e})")
                    continue
                q = r2(r.predict(X), y)
                t5 = len(truth5 & set(top_pairs(r.interactions))) / 5.0
                orc = oracle_r2(coef, B // 5)
                rows.setdefault((kind, vname, B), []).append((q, t5, orc))
                print(f"| {name} | {vname} | {B} | {r.queries} | {q:.4f} | {t5:.1f} | "
                      f"{orc:.4f} | {time.time() - t0:.1f} |", flush=True)

    print("\n## means over the functions of each kind\n")
    print("| functions | method | " + " | ".join(f"R² at {B}" for B in budgets)
          + " | top-5 at " + "/".join(str(B) for B in budgets) + " |")
    print("|---|---|" + "---:|" * len(budgets) + "---|")
    for kind in fns:
        for vname, _, _ in variants:
            cells, tops = [], []
            for B in budgets:
                v = rows.get((kind, vname, B))
                cells.append(f"{np.mean([x[0] for x in v]):.3f}" if v else "-")
                tops.append(f"{np.mean([x[1] for x in v]):.2f}" if v else "-")
            print(f"| {kind} ({len(fns[kind])}) | {vname} | " + " | ".join(cells) + " | "
                  + " / ".join(tops) + " |")
        cells = []
        for B in budgets:
            v = rows.get((kind, variants[0][0], B))
            cells.append(f"{np.mean([x[2] for x in v]):.3f}" if v else "-")
        print(f"| {kind} ({len(fns[kind])}) | oracle: best budget/5 terms | "
              + " | ".join(cells) + " | |")


if __name__ == "__main__":
    main()
