"""spex.explain: one method (DESIGN.md §3) run against a Python callable or a
C lens (spex.Game, a Model's prompt / heads lens, spex.Data) through
spex_explain, with the query cache (spex/store.h) when asked.
"""
import ctypes
import os

from . import _lib as L
from ._core import (Context, Error, Progress, PyValueFn, ValueFunctionError, index_code,
                    method_code)
from .result import Result


class Lens:
    """A C value function with its context, feature names and cache
    fingerprint (what the CLI calls a target). Subclasses fill them."""

    n = 0
    feature_names = None
    fingerprint = None
    label = None
    html_hints = None

    def __init__(self, ctx=None):
        self.ctx = ctx or Context()
        self.vf = L.ValueFn()

    def explain(self, **kw):
        """spex.explain(self, **kw)."""
        return explain(self, **kw)

    def _release(self):
        if getattr(self, "vf", None) is not None and self.vf.eval:
            L.valuefn_release(ctypes.byref(self.vf))


class Game(Lens):
    """A game file (DESIGN.md §4.1) as a C value function: spex_game_load.
    noise=True adds the file's noise, drawn from `seed` (like the CLI)."""

    def __init__(self, path, noise=True, seed=1):
        super().__init__()
        self.path = str(path)
        self._g = ctypes.c_void_p()
        self.ctx.check(L.game_load(self.ctx.ptr, self.path.encode(), ctypes.byref(self._g)))
        self.n = int(L.game_n(self._g))
        self.ctx.check(L.game_valuefn(self._g, 1 if noise else 0, int(seed),
                                      ctypes.byref(self.vf)))
        hexd = ctypes.create_string_buffer(65)
        self.ctx.check(L.sha256_file(self.ctx.ptr, self.path.encode(), hexd))
        self.fingerprint = f"game sha256={hexd.value.decode()} noise-seed={int(seed)}"
        self.label = self.path

    def close(self):
        self._release()
        if getattr(self, "_g", None):
            L.game_free(self._g)
            self._g = None

    def __del__(self):
        self.close()


def _default_key(fn, n):
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    mod = getattr(fn, "__module__", None) or type(fn).__module__
    return f"python/1 fn={mod}.{name} n={n}"


def explain(fn, n=None, method="auto", budget=None, index="fourier", max_order=2, degree=None,
            seed=1,
            cache=None, cache_key=None, cache_fail="continue", threads=1, feature_names=None,
            batch_size=256, decoder="soft", progress=False):
    """Explains `fn` and returns a spex.Result.

    fn: a callable taking a (batch, n) numpy bool array (True = feature kept)
        and returning `batch` numbers (a shapiq Game works as it is), or a
        spex lens (spex.Game, Model.prompt(...), Model.heads(...), spex.Data).
    n: number of features (a lens knows its own).
    method: 'auto' (default: exact when every mask fits in the budget, else
        proxyspex; Result.method_auto says it chose), 'exact' (all 2^n
        masks, n <= 20), 'spex', 'proxyspex', 'lasso', 'kernelshap'.
    budget: most model queries (None: the method's default; for auto 2^n
        when n <= 11, else 50 per feature within 2,000..10,000).
    index, max_order: the reported index (C or shapiq name: 'fsii'/'FSII',
        'ksii'/'k-SII', 'mobius'/'Moebius', 'sv', 'bv', 'sii', 'bii', 'stii',
        'fbii', 'fourier') and its highest order.
    degree: the surrogate's highest interaction order (SPEX's decoding,
        LASSO/Faith-Banzhaf columns, a cap on ProxySPEX); None: the highest
        the budget affords, up to 5 (Result.degree says which).
    seed: every random choice derives from it.
    cache: path of a query cache (SQLite, as `spex explain --cache`): answers
        found there are not asked again, new ones are saved as each batch
        returns. cache_key: the fingerprint of fn (default: its module,
        qualified name and n; change it when fn changes). cache_fail:
        'continue' (go on without a failing cache) or 'stop'.
    threads: worker threads of the C solver (and of lenses' kernels).
    feature_names: n names for the report (default x0.. or the lens's); a
        name given more than once becomes name#1, name#2, ... (the result's
        `features`, as in the CLI).
    batch_size: masks per call of fn.
    progress: a callable(done, total), True for tqdm, False for none.

    Raises spex.ValueFunctionError when fn raises (its traceback is in the
    message and it is the __cause__), returns NaN or the wrong number of
    values; KeyboardInterrupt (Ctrl-C) stops the run at the next batch and
    is re-raised. Every answer given before the failure is kept in the
    exception (.masks, .values) and in the cache.
    """
    lens = fn if isinstance(fn, Lens) else None
    if lens is not None:
        if n is not None and int(n) != lens.n:
            raise ValueError(f"n = {n} but the lens has {lens.n} features")
        n = lens.n
        ctx = lens.ctx
    else:
        if not callable(fn):
            raise TypeError("fn must be a callable taking a (batch, n) bool array, or a lens")
        if n is None:
            n = getattr(fn, "n_players", None)  # shapiq Game
        if n is None:
            raise TypeError("explain() needs n, the number of features")
        ctx = Context()
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be at least 1 (got {n})")
    eo = L.explain_opts_default()
    eo.method = method_code(ctx, method)
    if budget is not None:
        eo.budget = int(budget)
    eo.max_order = int(max_order)
    if degree is not None:
        if not 1 <= int(degree) <= 63:
            raise ValueError(f"degree must be in 1..63 (got {degree})")
        eo.degree = int(degree)
    eo.index = index_code(ctx, index)
    eo.seed = int(seed)
    eo.batch_size = int(batch_size)
    if decoder not in ("soft", "hard"):
        raise ValueError(f"decoder must be 'soft' or 'hard' (got {decoder!r})")
    eo.decoder = 0 if decoder == "soft" else 1
    if cache_fail not in ("continue", "stop"):
        raise ValueError(f"cache_fail must be 'continue' or 'stop' (got {cache_fail!r})")
    eo.store_policy = 0 if cache_fail == "continue" else 1
    names = feature_names if feature_names is not None else (
        lens.feature_names if lens is not None else None)
    if names is not None:
        names = [str(x) for x in names]
        if len(names) != n:
            raise ValueError(f"feature_names has {len(names)} names for n = {n}")

    pyvf = None if lens is not None else PyValueFn(ctx, fn, n, name=_default_key(fn, n))
    vf = lens.vf if lens is not None else pyvf.vf
    store, qs = ctypes.c_void_p(), L.QueryStore()
    prog = Progress(progress, pyvf)
    res = ctypes.c_void_p()
    L.ctx_set_threads(ctx.ptr, int(threads))
    try:
        if cache is not None:
            so = L.store_opts_default()
            path = os.fspath(cache)
            ctx.check(L.store_open(ctx.ptr, path.encode(), ctypes.byref(so), ctypes.byref(store)),
                      "cache")
            key = cache_key or (lens.fingerprint if lens is not None else _default_key(fn, n))
            label = (lens.label if lens is not None else None) or key
            ctx.check(L.store_bind(store, key.encode(), label.encode()[:200], n,
                                   ctypes.byref(qs)), "cache")
            eo.store = ctypes.pointer(qs)
        prog.install(ctx)
        blas = None
        if L.blas_set_threads is not None and "OPENBLAS_NUM_THREADS" not in os.environ:
            blas = L.blas_get_threads()
            L.blas_set_threads(1)
        try:
            rc = L.explain(ctx.ptr, ctypes.byref(vf), ctypes.byref(eo), ctypes.byref(res))
        finally:
            if blas is not None:
                L.blas_set_threads(blas)
        if rc != L.OK:
            msg = ctx.errmsg() or L.strerror(rc).decode()
            if pyvf is not None and (pyvf.failure is not None or pyvf.interrupted):
                exc = pyvf.failure[0] if pyvf.failure else KeyboardInterrupt()
                if isinstance(exc, KeyboardInterrupt):
                    raise KeyboardInterrupt(f"spex: {msg}") from None
                m, v = pyvf.answers()
                raise ValueFunctionError(rc, msg, m, v) from exc
            if rc == L.E_VALUE:
                raise ValueFunctionError(rc, msg)
            raise Error(rc, msg)
        if pyvf is not None and pyvf.interrupted:
            raise KeyboardInterrupt("spex: interrupted")
        if names is not None:  # repeats told apart (waiter#1, waiter#2), as the CLI does
            arr = (ctypes.c_char_p * n)(*[s.encode() for s in names])
            ctx.check(L.result_set_features(res, arr), "feature names")
        result = Result._from_c(ctx, res)
    finally:
        prog.close(ctx)
        if res:
            L.result_free(res)
        if store:
            L.store_close(store)
    if lens is not None and lens.html_hints:
        result._html_hints = lens.html_hints
    return result
