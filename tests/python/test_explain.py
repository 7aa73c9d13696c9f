"""spex.explain from Python: equal to the CLI on planted games, planted
interactions of a Python function recovered, failures of the value function
(exceptions, NaN, wrong shapes, Ctrl-C) reported with every answer kept,
cache reuse, progress, the GIL released while C works, and Result's
conversions (save/load, with_index, table, html, predict)."""
import json
import re
import os
import signal
import subprocess
import threading
import time

import numpy as np
import pytest
from conftest import CLI, GAMES, need

import spex


def cli_explain(tmp_path, *args):
    out = tmp_path / "cli.json"
    subprocess.run([need(CLI), "explain", *args, "--out", str(out), "--quiet", "--no-cache"],
                   check=True, stdout=subprocess.DEVNULL)
    return spex.Result.load(out)


def game_fn(path):
    """The game file as a numpy function of (batch, n) bool masks."""
    g = json.load(open(path))
    n, terms = g["n"], {}
    for s, v in g["coefs"]:
        terms[tuple(sorted(s))] = terms.get(tuple(sorted(s)), 0.0) + v
    assert g.get("basis", "fourier") == "fourier" and not g.get("noise_sd")

    def f(m):
        sign = 1.0 - 2.0 * m
        out = np.zeros(m.shape[0])
        for s, v in terms.items():
            out += v * (sign[:, list(s)].prod(axis=1) if s else 1.0)
        return out
    return f, n


CASES = [("sparse_fourier_n1000_s100.json", "spex", 5000, 5, "fourier"),
         ("sparse_fourier_n128_s20.json", "spex", 3000, 3, "fsii"),
         ("sparse_fourier_n32_s20.json", "proxyspex", 800, 3, "ksii"),
         ("sparse_fourier_n32_s20.json", "lasso", 1500, 2, "stii"),
         ("sparse_fourier_n32_s20.json", "kernelshap", 1500, 2, "fbii")]


@pytest.mark.parametrize("name,method,budget,order,index", CASES)
def test_equals_cli_on_games(tmp_path, name, method, budget, order, index):
    path = need(os.path.join(GAMES, name))
    args = ["--game", path, "--method", method, "--budget", str(budget), "--max-order",
            str(order), "--index", index, "--seed", "3", "--threads", "2"]
    ref = cli_explain(tmp_path, *args)
    # the C value function of the game: the same bits as the CLI
    r = spex.explain(spex.Game(path, seed=3), method=method, budget=budget, max_order=order,
                     index=index, seed=3, threads=2)
    assert (r.queries, r.method, r.index) == (ref.queries, ref.method, ref.index)
    assert (r.degree, r.method_auto) == (ref.degree, ref.method_auto)
    assert r.fourier == ref.fourier
    assert r.interactions == ref.interactions
    # the same game as a Python function: the same support, values to rounding
    f, n = game_fn(path)
    rp = spex.explain(f, n=n, method=method, budget=budget, max_order=order, index=index,
                      seed=3, threads=2)
    assert rp.queries == ref.queries
    assert set(rp.fourier) == set(ref.fourier)
    for s, v in ref.fourier.items():
        assert rp.fourier[s] == pytest.approx(v, rel=1e-7, abs=1e-9), s


def planted(m):
    m = m.astype(float)
    return 3.0 * m[:, 0] * m[:, 5] - 2.0 * m[:, 2] * m[:, 7] * m[:, 9] + 1.5 * m[:, 4] + 0.5


@pytest.mark.parametrize("method,budget", [("exact", None), ("spex", 4000),
                                           ("proxyspex", 1500)])
def test_planted_python_function_recovered(method, budget):
    n = {"exact": 12, "spex": 60, "proxyspex": 24}[method]
    r = spex.explain(planted, n=n, method=method, budget=budget, max_order=3, index="mobius",
                     seed=2)
    mob = {s: v for s, v in r.interactions.items() if abs(v) > 1e-3}
    assert set(mob) == {(), (0, 5), (2, 7, 9), (4,)}, mob
    assert mob[(0, 5)] == pytest.approx(3.0, abs=1e-3)
    assert mob[(2, 7, 9)] == pytest.approx(-2.0, abs=1e-3)
    assert mob[(4,)] == pytest.approx(1.5, abs=1e-3)
    assert mob[()] == pytest.approx(0.5, abs=1e-3)
    masks = np.random.default_rng(0).random((200, n)) < 0.5
    np.testing.assert_allclose(r.predict(masks), planted(masks), atol=1e-3)
    assert r.top(1, names=True)[0][0] == ("x0", "x5")


def test_auto_method_and_degree():
    # the default method: exact when all 2^n masks fit the (default) budget
    r = spex.explain(planted, n=10, max_order=3, index="mobius")
    assert (r.method, r.method_auto, r.budget, r.queries) == ("exact", True, 1024, 1024)
    assert r.interactions[(2, 7, 9)] == pytest.approx(-2.0, abs=1e-9)
    # else proxyspex at the automatic degree 5
    r = spex.explain(planted, n=24, budget=1500, max_order=2, index="fsii", seed=2)
    assert (r.method, r.method_auto, r.degree) == ("proxyspex", True, 5)
    # an explicit degree: Faith-Banzhaf regression of degree 3 holds the
    # order-3 term exactly although the reported index is of order 2
    r = spex.explain(planted, n=10, method="kernelshap", budget=1024, max_order=2,
                     degree=3, index="fourier")
    assert (r.method, r.method_auto, r.degree) == ("kernelshap", False, 3)
    assert r.fourier[(2, 7, 9)] == pytest.approx(2.0 / 8, abs=1e-9)
    with pytest.raises(ValueError, match="degree"):
        spex.explain(planted, n=10, degree=0)


def test_exception_keeps_answers_and_cache(tmp_path):
    cache = tmp_path / "cache.sqlite"
    calls = []

    def flaky(m):
        calls.append(len(m))
        if len(calls) == 3:
            raise ZeroDivisionError("planted failure")
        return planted(m)

    with pytest.raises(spex.ValueFunctionError) as ei:
        spex.explain(flaky, n=60, method="spex", budget=4000, max_order=3, cache=cache,
                     cache_key="planted n=60")
    e = ei.value
    assert isinstance(e.__cause__, ZeroDivisionError)
    msg = str(e)
    assert "ZeroDivisionError: planted failure" in msg and "in flaky" in msg
    assert "Traceback" in msg
    assert e.code == -6
    answered = sum(calls[:2])
    assert answered > 0
    assert e.masks.shape == (answered, 60) and e.values.shape == (answered,)
    np.testing.assert_array_equal(e.values, planted(e.masks))
    # the two answered batches are in the cache: a re-run asks only the rest
    r = spex.explain(planted, n=60, method="spex", budget=4000, max_order=3, cache=cache,
                     cache_key="planted n=60")
    assert r.queries_cached == answered
    assert r.queries_new == r.queries - answered
    r2 = spex.explain(planted, n=60, method="spex", budget=4000, max_order=3, cache=cache,
                      cache_key="planted n=60")
    assert r2.queries_cached == r2.queries and r2.queries_new == 0
    assert r2.fourier == r.fourier


def test_nan_is_a_clear_error_and_finite_answers_kept():
    def f(m):
        v = planted(m)
        v[m[:, 0] & m[:, 1] & m[:, 2]] = np.nan
        return v
    with pytest.raises(spex.ValueFunctionError) as ei:
        spex.explain(f, n=12, method="exact")
    msg = str(ei.value)
    assert "nan" in msg and "mask" in msg and "features kept: 111" in msg
    assert ei.value.masks.shape[0] == 224  # 256 masks, 32 with features 0, 1, 2 kept
    assert np.isfinite(ei.value.values).all()


@pytest.mark.parametrize("bad,words", [
    (lambda m: np.zeros(len(m) + 1), "values for a batch"),
    (lambda m: ["a"] * len(m), "not"),
    (lambda m: np.full(len(m), np.inf), "inf"),
])
def test_bad_returns(bad, words):
    with pytest.raises(spex.ValueFunctionError) as ei:
        spex.explain(bad, n=4, method="exact")
    assert words in str(ei.value)


def test_ctrl_c_stops_cleanly():
    calls = []

    def f(m):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)  # as a user's Ctrl-C
            time.sleep(0.01)
        return planted(m)
    with pytest.raises(KeyboardInterrupt):
        spex.explain(f, n=60, method="spex", budget=4000, max_order=3)
    assert len(calls) <= 3
    # the library is usable afterwards
    assert spex.explain(planted, n=12, method="exact", index="mobius").interactions


def test_progress_callback():
    seen = []
    spex.explain(planted, n=60, method="spex", budget=4000, max_order=3,
                 progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1] > 0


def test_gil_released_while_c_works():
    path = need(os.path.join(GAMES, "sparse_fourier_n32_s20.json"))
    ticks, stop = [], threading.Event()

    def spin():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)
    t = threading.Thread(target=spin)
    t.start()
    try:
        g = spex.Game(path)  # a C value function: the whole run is in C
        t0 = time.perf_counter()
        spex.explain(g, method="lasso", budget=1500, max_order=2)
        t1 = time.perf_counter()
    finally:
        stop.set()
        t.join()
    inside = [x for x in ticks if t0 < x < t1]
    assert t1 - t0 > 0.05, "the run is too short to tell"
    # a thread blocked by a held GIL would not tick at all during the call
    assert len(inside) >= 0.2 * (t1 - t0) / 0.002, (len(inside), t1 - t0)


def test_result_round_trip_and_rendering(tmp_path):
    path = need(os.path.join(GAMES, "sparse_fourier_n32_s20.json"))
    ref = cli_explain(tmp_path, "--game", path, "--method", "spex", "--budget", "2000",
                      "--max-order", "3", "--index", "fsii")
    r = spex.explain(spex.Game(path), method="spex", budget=2000, max_order=3, index="fsii")
    # save/load: the CLI's file format, read back equal
    r.save(tmp_path / "py.json")
    back = spex.Result.load(tmp_path / "py.json")
    assert back.fourier == r.fourier and back.interactions == r.interactions
    doc = json.load(open(tmp_path / "py.json"))
    assert doc["format"] == "spex-result/1"
    assert set(json.load(open(tmp_path / "cli.json"))) == set(doc)
    # another index from the same surrogate = the CLI asked for that index
    for idx, order in (("sv", 1), ("k-SII", 2), ("Moebius", 3)):
        ref2 = cli_explain(tmp_path, "--game", path, "--method", "spex", "--budget", "2000",
                           "--max-order", "3", "--index", spex.index_c_name(idx))
        w = r.with_index(idx, order)
        if order == 3:
            assert w.interactions == ref2.interactions
        assert w.index == spex.index_c_name(idx)
    # the table: the CLI's lines after the summary line (timings differ)
    out = subprocess.run([CLI, "explain", "--game", path, "--method", "spex", "--budget",
                          "2000", "--max-order", "3", "--index", "fsii", "--top", "5",
                          "--no-cache", "--quiet"], capture_output=True, text=True,
                         check=True).stdout
    def untimed(text):
        return [re.sub(r"\d+\.\d+ s\b", "T s", ln) for ln in text.splitlines()]
    mine = untimed(r.table(5))
    assert mine == untimed(out)[:len(mine)]
    html = r.html(top=5, title="n32 game")
    assert html.count('class="feat"') >= 32 and "<title>n32 game</title>" in html
    assert r.csv(3).startswith("rank,order,value,features,indices\n1,")
    # feature names
    named = spex.explain(planted, n=12, method="exact", index="mobius",
                         feature_names=[f"f{i}" for i in range(12)])
    assert named.top(1, names=True)[0][0] == ("f0", "f5")
    assert "f0 × f5" in named.table(3)
    # a name given more than once becomes name#k (k in feature order)
    rep = spex.explain(planted, n=12, method="exact", index="mobius",
                       feature_names=["a", "b"] * 6)
    assert rep.features == [f"{x}#{k}" for k in range(1, 7) for x in "ab"]
    assert rep.top(1, names=True)[0][0] == ("a#1", "b#3")
    assert json.loads(rep.to_json())["features"] == rep.features


def test_argument_errors():
    with pytest.raises(TypeError):
        spex.explain(planted)
    with pytest.raises(ValueError, match="unknown index"):
        spex.explain(planted, n=4, index="shap")
    with pytest.raises(ValueError, match="unknown method"):
        spex.explain(planted, n=4, method="magic")
    with pytest.raises(ValueError, match="feature_names"):
        spex.explain(planted, n=4, feature_names=["a"])
    with pytest.raises(spex.Error, match="exact"):
        spex.explain(planted, n=30, method="exact")


def test_shapiq_game_object_passes_as_it_is():
    class Game:  # the shape of a shapiq.Game: n_players and __call__(coalitions)
        n_players = 6

        def __call__(self, coalitions):
            assert coalitions.dtype == bool and coalitions.shape[1] == 6
            return coalitions[:, 0] * 2.0 + coalitions[:, 1] * coalitions[:, 2]
    r = spex.explain(Game(), index="SII", max_order=2)
    assert r.interactions[(1, 2)] == pytest.approx(1.0)
    assert r.interactions[(0,)] == pytest.approx(2.0)
