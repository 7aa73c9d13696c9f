"""spex.Result: one explanation (DESIGN.md §4.3) as Python data.

A Result holds the result file's JSON document; everything the C library
computes from it (another index, the table, the HTML page, the file itself)
goes back through spex_result_parse, so Python and the CLI read and write
the same bytes.
"""
import ctypes
import json
import math

import numpy as np

from . import _lib as L
from ._core import SHAPIQ_INDEX, Context, index_c_name, index_code, write_to_string

# indices whose empty-set value shapiq does not take as the baseline
# (shapiq.game_theory.indices.is_empty_value_the_baseline)
_SHAPIQ_EMPTY_NOT_BASELINE = ("SII", "FBII", "BII", "BV")


def _coefs_dict(entries):
    return {tuple(int(j) for j in e["s"]): float(e["v"]) for e in entries}


class Result:
    """An explanation: `fourier` (the surrogate, {subset tuple: coefficient},
    empty set included) and `interactions` (the requested index up to
    `max_order`, {subset tuple: value}, largest |value| first); `n`,
    `features` (names), `method`, `index`, `budget`, `queries` (distinct masks
    used), `queries_cached`, `queries_new`, `seed`, `seconds` ({'queries',
    'solve'}), `details` (the method's own account), `degree` (the
    surrogate's highest order) and `method_auto` (method 'auto' chose it)."""

    def __init__(self, doc):
        self._doc = doc
        self.n = int(doc["n"])
        self.features = list(doc.get("features") or [f"x{i}" for i in range(self.n)])
        self.method = doc.get("method")
        self.index = doc.get("index")
        self.max_order = int(doc.get("max_order", 0))
        self.degree = int(doc.get("degree", 0))  # 0: unknown (an older file)
        self.method_auto = bool(doc.get("method_auto", False))
        self.budget = int(doc.get("budget", 0))
        self.queries = int(doc.get("queries", 0))
        self.queries_cached = int(doc.get("queries_cached", 0))
        self.queries_new = int(doc.get("queries_new", self.queries))
        self.seed = int(doc.get("seed", 0))
        self.seconds = dict(doc.get("seconds") or {})
        self.details = doc.get("details", "")
        self.fourier = _coefs_dict(doc.get("fourier", []))
        self.interactions = _coefs_dict(doc.get("interactions", []))

    # ---- through the C library ----
    @classmethod
    def _from_c(cls, ctx, res_ptr):
        rc, text = write_to_string(lambda f: L.result_write_json(ctx.ptr, res_ptr, f))
        ctx.check(rc, "writing the result")
        return cls(json.loads(text))

    def _with_c(self, fn):
        """Calls fn(ctx, result pointer) on a C copy of this result."""
        ctx = Context()
        data = json.dumps(self._doc).encode()
        out = ctypes.c_void_p()
        ctx.check(L.result_parse(ctx.ptr, data, len(data), b"<spex.Result>", ctypes.byref(out)),
                  "reading the result")
        try:
            return fn(ctx, out)
        finally:
            L.result_free(out)
            ctx.close()

    @classmethod
    def load(cls, path):
        """Reads a result file (spex explain --out, Result.save); errors name
        the file, line and column or the key at fault."""
        with open(path, "rb") as fh:
            data = fh.read()
        ctx = Context()
        out = ctypes.c_void_p()
        try:
            ctx.check(L.result_parse(ctx.ptr, data, len(data), str(path).encode(),
                                     ctypes.byref(out)))
            try:
                return cls._from_c(ctx, out)
            finally:
                L.result_free(out)
        finally:
            ctx.close()

    def to_json(self):
        """The result file's text (spex-result/1), as the CLI writes it."""
        return self._with_c(lambda ctx, r: write_to_string(
            lambda f: L.result_write_json(ctx.ptr, r, f))[1])

    def save(self, path):
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(self.to_json())

    def with_index(self, name, order=None):
        """The same surrogate reported as another index (C or shapiq name:
        'sv', 'FSII', 'k-SII', ...) up to `order` (default: this max_order)."""
        order = self.max_order if order is None else int(order)

        def run(ctx, r):
            ctx.check(L.result_set_index(r, index_code(ctx, name), order), "with_index")
            out = Result._from_c(ctx, r)
            out._html_hints = getattr(self, "_html_hints", None)
            return out
        return self._with_c(run)

    def table(self, top=20):
        """The CLI's terminal report: the summary line and the top
        interactions (top <= 0: all)."""
        return self._with_c(lambda ctx, r: write_to_string(
            lambda f: L.result_write_table(ctx.ptr, r, int(top), f))[1])

    def csv(self, top=0):
        return self._with_c(lambda ctx, r: write_to_string(
            lambda f: L.result_write_csv(ctx.ptr, r, int(top), f))[1])

    def html(self, top=20, title=None, path=None):
        """The CLI's HTML report (spex explain --format html): one
        self-contained page; a prompt lens's result shows the prompt in
        place. Written to `path` when given; returned always."""
        hints = getattr(self, "_html_hints", None) or {}
        keep = []

        def cstr(s):
            if s is None:
                return None
            b = ctypes.c_char_p(str(s).encode())
            keep.append(b)
            return b

        ho = L.html_opts_default()
        ho.title = cstr(title)
        ho.top = int(top)
        if hints.get("prose"):
            ho.prose = 1
            ho.prefix = cstr(hints.get("prefix"))
            ho.suffix = cstr(hints.get("suffix"))
            leads = hints.get("leads")
            if leads is not None:
                arr = (ctypes.c_char_p * len(leads))(*[str(x).encode() for x in leads])
                keep.append(arr)
                ho.leads = ctypes.cast(arr, ctypes.POINTER(ctypes.c_char_p))
            texts = hints.get("texts")
            if texts is not None:
                arr = (ctypes.c_char_p * len(texts))(*[str(x).encode() for x in texts])
                keep.append(arr)
                ho.texts = ctypes.cast(arr, ctypes.POINTER(ctypes.c_char_p))
        notes = hints.get("notes") or []
        if notes:
            arr = (ctypes.c_char_p * len(notes))(*[str(x).encode() for x in notes])
            keep.append(arr)
            ho.notes = ctypes.cast(arr, ctypes.POINTER(ctypes.c_char_p))
            ho.n_notes = len(notes)

        def run(ctx, r):
            rc, text = write_to_string(
                lambda f: L.result_write_html(ctx.ptr, r, ctypes.byref(ho), f))
            ctx.check(rc, "html")
            return text
        text = self._with_c(run)
        if path:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    def __str__(self):
        return self.table()

    def __repr__(self):
        return (f"<spex.Result method={self.method} index={self.index} n={self.n} "
                f"queries={self.queries} fourier={len(self.fourier)} terms "
                f"interactions={len(self.interactions)}>")

    def _repr_html_(self):
        return self.html()

    # ---- pure Python ----
    def top(self, k=10, names=False, min_order=0):
        """The k largest interactions by |value| (those of order >= min_order)
        as (subset, value) pairs; with names=True subsets are feature names."""
        items = [(s, v) for s, v in self.interactions.items() if len(s) >= min_order]
        items.sort(key=lambda sv: (-abs(sv[1]), len(sv[0]), sv[0]))
        items = items[:k]
        if names:
            return [(tuple(self.features[j] for j in s), v) for s, v in items]
        return items

    def predict(self, masks):
        """The surrogate Σ_k F(k)(-1)^{<m,k>} at masks ((batch, n) or (n,)
        bool/0-1 array, True = kept)."""
        m = np.asarray(masks)
        single = m.ndim == 1
        m = np.atleast_2d(m).astype(bool)
        if m.shape[1] != self.n:
            raise ValueError(f"masks have {m.shape[1]} columns, the result has n = {self.n}")
        signs = 1.0 - 2.0 * m  # (batch, n): +1 kept... (-1)^{m_j}
        out = np.zeros(m.shape[0])
        by_order = {}
        for s, v in self.fourier.items():
            by_order.setdefault(len(s), []).append((s, v))
        for d, terms in by_order.items():
            vals = np.array([v for _, v in terms])
            if d == 0:
                out += vals.sum()
                continue
            idx = np.array([s for s, _ in terms], dtype=np.int64)  # (terms, d)
            step = max(1, 2_000_000 // max(1, len(terms) * d))
            for a in range(0, m.shape[0], step):
                prod = signs[a:a + step][:, idx].prod(axis=2)  # (rows, terms)
                out[a:a + step] += prod @ vals
        return out[0] if single else out

    def baseline(self):
        """v(∅) of the surrogate: the sum of its Fourier coefficients."""
        return float(math.fsum(self.fourier.values()))

    def _empty_value_shapiq(self, shapiq_index):
        """The value shapiq stores at () for indices whose empty value is not
        v(∅): SII(∅) = Σ_S a(S)/(|S|+1); BII(∅) = BV(∅) = F(∅) (the mean)."""
        if shapiq_index in ("BII", "BV"):
            return self.fourier.get((), 0.0)
        # SII: through the Möbius form
        ctx = Context()
        c, mob = ctypes.c_void_p(), ctypes.c_void_p()
        try:
            ctx.check(L.coefs_new(ctx.ptr, self.n, ctypes.byref(c)))
            for s, v in self.fourier.items():
                arr = (ctypes.c_int32 * max(1, len(s)))(*s)
                ctx.check(L.coefs_add(c, arr, len(s), v))
            ctx.check(L.fourier_to_mobius(c, ctypes.byref(mob)))
            total = []
            idx, ln, val = ctypes.POINTER(ctypes.c_int32)(), ctypes.c_int(), ctypes.c_double()
            for i in range(L.coefs_count(mob)):
                L.coefs_entry(mob, i, ctypes.byref(idx), ctypes.byref(ln), ctypes.byref(val))
                total.append(val.value / (ln.value + 1))
            return math.fsum(total)
        finally:
            L.coefs_free(mob)
            L.coefs_free(c)
            ctx.close()

    def to_shapiq(self):
        """The interactions in shapiq's InteractionValues layout: a
        shapiq.InteractionValues when shapiq is importable, else a dict with
        exactly its fields (values, index, max_order, min_order, n_players,
        interaction_lookup, estimated, estimation_budget, baseline_value).
        Index names are shapiq's ('FSII', 'k-SII', 'Moebius', ...; 'Fourier'
        has no shapiq counterpart and keeps that name). The empty set follows
        shapiq's convention: baseline_value = v(∅), except for SII (whose ()
        value is SII(∅)) and the Banzhaf indices BII, BV, FBII, whose
        baseline is their () value."""
        name = SHAPIQ_INDEX[index_c_name(self.index)]
        inter = dict(self.interactions)
        v_empty = self.baseline()
        # the () value by shapiq's convention (values exactly 0 are omitted by
        # spex, so () may be absent: it is always present here, min_order 0)
        if name == "SII":
            empty, baseline = self._empty_value_shapiq(name), v_empty
        elif name in ("BII", "BV"):
            empty = baseline = self._empty_value_shapiq(name)
        elif name == "FBII":
            empty = baseline = inter.get((), 0.0)
        elif name == "Fourier":
            empty, baseline = inter.get((), self.fourier.get((), 0.0)), v_empty
        else:  # SV, k-SII, STII, FSII, Moebius: () carries v(∅)
            empty = baseline = inter.get((), v_empty)
        inter[()] = empty
        keys = sorted(inter, key=lambda s: (len(s), s))
        values = np.array([inter[s] for s in keys], dtype=float)
        lookup = {s: i for i, s in enumerate(keys)}
        fields = dict(values=values, index=name, max_order=self.max_order,
                      min_order=0, n_players=self.n,
                      interaction_lookup=lookup, estimated=self.method != "exact",
                      estimation_budget=self.queries, baseline_value=float(baseline))
        try:
            import shapiq  # noqa: PLC0415 - optional
        except ImportError:
            return fields
        return shapiq.InteractionValues(**fields)

