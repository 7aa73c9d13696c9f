"""Index names and conventions are shapiq's: every index that spex reports
from an exact run equals its definition (DESIGN.md appendix, which follows
shapiq's ExactComputer) computed by brute force here, and to_shapiq() gives
shapiq's names, fields and empty-set convention
(shapiq/game_theory/indices.py, interaction_values.finalize_computed_interactions)."""
import itertools
from math import comb, factorial

import numpy as np
import pytest

import spex

N = 5
RNG = np.random.default_rng(7)
TABLE = RNG.normal(size=2 ** N)  # v(S) for S as the bit pattern of its members


def v(S):
    return TABLE[sum(1 << j for j in S)]


def game(m):
    idx = (m.astype(np.int64) << np.arange(m.shape[1])).sum(axis=1)
    return TABLE[idx]


PLAYERS = range(N)


def subsets(items, max_size=None):
    items = list(items)
    top = len(items) if max_size is None else max_size
    for k in range(top + 1):
        yield from itertools.combinations(items, k)


def delta(T, S):
    return sum((-1) ** (len(T) - len(L)) * v(tuple(sorted(set(S) | set(L))))
               for L in subsets(T))


def rest(T):
    return [j for j in PLAYERS if j not in T]


def moebius(T):
    return delta(T, ())


def sii(T):
    t = len(T)
    return sum(factorial(N - len(S) - t) * factorial(len(S)) / factorial(N - t + 1) * delta(T, S)
               for S in subsets(rest(T)))


def bii(T):
    return sum(delta(T, S) for S in subsets(rest(T))) / 2 ** (N - len(T))


BERNOULLI = [1.0, -0.5, 1 / 6, 0.0, -1 / 30, 0.0]


def ksii(T, K):
    return sum(BERNOULLI[len(S) - len(T)] * sii(S) for S in subsets(PLAYERS, K)
               if set(T) <= set(S))


def stii(T, K):
    if len(T) < K:
        return moebius(T)
    return K / N * sum(delta(T, S) / comb(N - 1, len(S)) for S in subsets(rest(T)))


def faithful(K, shapley):
    cols = list(subsets(PLAYERS, K))
    rows = list(subsets(PLAYERS))
    X = np.array([[1.0 if set(T) <= set(S) else 0.0 for T in cols] for S in rows])
    y = np.array([v(S) for S in rows])
    w = np.ones(len(rows))
    if shapley:
        for i, S in enumerate(rows):
            s = len(S)
            w[i] = 1e9 if s in (0, N) else (N - 1) / (comb(N, s) * s * (N - s))
    sw = np.sqrt(w)
    coef = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]
    return dict(zip(cols, coef))


def brute(index, K):
    if index in ("sv", "bv"):
        f = sii if index == "sv" else bii
        out = {(i,): f((i,)) for i in PLAYERS}
        out[()] = v(())
        return out
    if index in ("fsii", "fbii"):
        return faithful(K, index == "fsii")
    f = {"mobius": moebius, "sii": sii, "bii": bii}.get(index)
    out = {}
    for T in subsets(PLAYERS, K):
        if not T:
            continue
        out[T] = f(T) if f else (ksii(T, K) if index == "ksii" else stii(T, K))
    out[()] = v(())
    return out


@pytest.mark.parametrize("index", ["mobius", "sv", "bv", "sii", "bii", "ksii", "stii", "fsii",
                                   "fbii"])
@pytest.mark.parametrize("K", [1, 2, 3])
def test_index_equals_definition(index, K):
    if index in ("sv", "bv") and K != 1:
        pytest.skip("order 1 only")
    r = spex.explain(game, n=N, method="exact", index=index, max_order=K)
    want = brute(index, K)
    for T, value in want.items():
        got = r.interactions.get(T, 0.0)
        assert got == pytest.approx(value, abs=1e-6), (index, K, T, got, value)
    assert set(r.interactions) <= set(want)


def test_names_map_to_shapiq():
    want = {"fourier": "Fourier", "mobius": "Moebius", "sv": "SV", "bv": "BV", "sii": "SII",
            "bii": "BII", "ksii": "k-SII", "stii": "STII", "fsii": "FSII", "fbii": "FBII"}
    assert spex.SHAPIQ_INDEX == want
    for c, s in want.items():
        assert spex.index_c_name(s) == c and spex.index_c_name(c) == c
        r = spex.explain(game, n=N, method="exact", index=s, max_order=1 if c in ("sv", "bv")
                         else 2)
        assert r.index == c
        assert r.to_shapiq()["index"] == s


FIELDS = {"values", "index", "max_order", "min_order", "n_players", "interaction_lookup",
          "estimated", "estimation_budget", "baseline_value"}


@pytest.mark.parametrize("index", ["SV", "BV", "SII", "BII", "k-SII", "STII", "FSII", "FBII",
                                   "Moebius"])
def test_to_shapiq_conventions(index):
    K = 1 if index in ("SV", "BV") else 2
    r = spex.explain(game, n=N, method="exact", index=index, max_order=K)
    iv = r.to_shapiq()
    if not isinstance(iv, dict):  # shapiq installed: read its fields
        iv = {f: getattr(iv, f) for f in FIELDS}
    assert set(iv) == FIELDS
    assert iv["n_players"] == N and iv["max_order"] == K and iv["min_order"] == 0
    assert iv["estimated"] is False and iv["estimation_budget"] == 2 ** N
    lookup, values = iv["interaction_lookup"], iv["values"]
    assert len(values) == len(lookup) and sorted(lookup.values()) == list(range(len(values)))
    empty = values[lookup[()]]
    # shapiq: () is the baseline v(∅) except for SII (SII(∅)) and the
    # Banzhaf indices, whose baseline is their () value
    if index == "SII":
        assert iv["baseline_value"] == pytest.approx(v(()))
        assert empty == pytest.approx(sii(()))
    elif index in ("BII", "BV"):
        assert empty == pytest.approx(bii(())) and iv["baseline_value"] == pytest.approx(empty)
        assert empty == pytest.approx(TABLE.mean())
    elif index == "FBII":
        assert iv["baseline_value"] == pytest.approx(empty)
        assert empty == pytest.approx(faithful(K, False)[()], abs=1e-6)
    else:
        assert empty == pytest.approx(v(())) and iv["baseline_value"] == pytest.approx(v(()))
    for T, i in lookup.items():
        if T:
            assert values[i] == pytest.approx(r.interactions[T])
