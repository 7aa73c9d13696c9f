"""Two questions about the Python package, answered in one process with
reference and candidate interleaved (STYLE.md rule 14):

1. What does the Python value-function callback cost per batch, against a C
   value function? Method exact on n = 16 (65,536 masks), batches of 256
   and 4,096: a C game (spex.Game) vs a Python function returning zeros;
   the difference per batch is the callback's overhead (ctypes call, mask
   unpacking into a numpy bool array, writing the answers back). Then a
   Python function that spends 1 ms per batch: the overhead's share of its
   total run time (target: <= 5% at batch 256).
2. SPEX and ProxySPEX solve time from Python vs the CLI on the same game
   (outputs checked equal first; the CLI's time includes its process start).

    /usr/bin/python3 bench/python/bench_python.py [--repeat 5]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
import spex  # noqa: E402

CLI = os.path.join(ROOT, "build", "spex")
GAMES = os.path.join(ROOT, "..", "shared", "games")


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def callback_overhead(repeat):
    n = 16
    tmp = tempfile.mkdtemp()
    game_path = os.path.join(tmp, "cheap.json")
    with open(game_path, "w") as fh:  # a cheap game: 3 coefficients
        json.dump({"n": n, "coefs": [[[], 0.5], [[1], 1.0], [[2, 3], -0.5]]}, fh)
    game = spex.Game(game_path)

    def py_game(m):
        s = 1.0 - 2.0 * m
        return 0.5 + s[:, 1] - 0.5 * s[:, 2] * s[:, 3]

    # verify: the Python function and the C game give the same explanation
    a = spex.explain(game, method="exact", index="fourier")
    b = spex.explain(py_game, n=n, method="exact", index="fourier")
    assert a.fourier.keys() == b.fourier.keys()
    assert all(abs(a.fourier[k] - b.fourier[k]) < 1e-12 for k in a.fourier)

    def zeros(m):
        return np.zeros(len(m))

    def one_ms(m):
        t = time.perf_counter() + 1e-3
        while time.perf_counter() < t:
            pass
        return np.zeros(len(m))

    rows = []
    for batch in (256, 4096):
        n_batches = 2 ** n // batch
        tc, tz, t1 = [], [], []
        for _ in range(repeat):  # interleaved
            tc.append(timed(lambda: spex.explain(game, method="exact", batch_size=batch))[0])
            tz.append(timed(lambda: spex.explain(zeros, n=n, method="exact",
                                                 batch_size=batch))[0])
            t1.append(timed(lambda: spex.explain(one_ms, n=n, method="exact",
                                                 batch_size=batch))[0])
        c, z, one = statistics.median(tc), statistics.median(tz), statistics.median(t1)
        per_batch = (z - c) / n_batches
        share = per_batch * n_batches / one
        rows.append((batch, n_batches, c, z, per_batch, one, share))
    print("1. Python callback vs C value function (method exact, n = 16, 65,536 masks; "
          f"median of {repeat})")
    print(f"{'batch':>6} {'batches':>8} {'C game s':>9} {'py zeros s':>11} "
          f"{'overhead/batch':>15} {'py 1ms/batch s':>15} {'overhead share':>15}")
    for batch, nb, c, z, pb, one, share in rows:
        print(f"{batch:>6} {nb:>8} {c:>9.4f} {z:>11.4f} {pb * 1e6:>12.1f} us "
              f"{one:>15.4f} {share * 100:>14.2f}%")
    return rows


def solve_times(repeat):
    cases = [("sparse_fourier_n1000_s100.json", "spex", 5000, 5),
             ("hierarchical_n128.json", "proxyspex", 2000, 3)]
    print(f"\n2. solve time from Python vs the CLI (median of {repeat}; seconds)")
    print(f"{'game':<32} {'method':<10} {'py solve':>9} {'cli solve':>10} {'ratio':>6} "
          f"{'py wall':>8} {'cli wall':>9}")
    out = []
    for name, method, budget, order in cases:
        path = os.path.join(GAMES, name)
        res = os.path.join(tempfile.mkdtemp(), "r.json")
        args = [CLI, "explain", "--game", path, "--method", method, "--budget", str(budget),
                "--max-order", str(order), "--out", res, "--quiet", "--no-cache"]
        ps, cs, pw, cw = [], [], [], []
        for i in range(repeat):
            w, _ = timed(lambda: subprocess.run(args, check=True, stdout=subprocess.DEVNULL))
            ref = spex.Result.load(res)
            cs.append(ref.seconds["solve"])
            cw.append(w)
            g = spex.Game(path)
            w, r = timed(lambda: spex.explain(g, method=method, budget=budget,
                                              max_order=order))
            if i == 0:
                assert r.fourier == ref.fourier, "Python and CLI results differ"
            ps.append(r.seconds["solve"])
            pw.append(w)
        row = (name, method, statistics.median(ps), statistics.median(cs),
               statistics.median(pw), statistics.median(cw))
        out.append(row)
        print(f"{name:<32} {method:<10} {row[2]:>9.4f} {row[3]:>10.4f} "
              f"{row[2] / row[3]:>6.2f} {row[4]:>8.3f} {row[5]:>9.3f}")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    callback_overhead(a.repeat)
    solve_times(max(1, a.repeat // 2 + 1))
