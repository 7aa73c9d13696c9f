"""The context, errors, index and method names, and the Python value function:
a ctypes callback that turns each batch of packed masks into a (batch, n)
numpy bool array, calls the user's function and writes its answers back
(DESIGN.md §1 and spex/value.h's failure contract).
"""
import ctypes
import os
import sys
import tempfile
import traceback

import numpy as np

from . import _lib as L

# C index names (spex_index_parse) <-> shapiq's names (shapiq/game_theory/indices.py)
SHAPIQ_INDEX = {"fourier": "Fourier", "mobius": "Moebius", "sv": "SV", "bv": "BV",
                "sii": "SII", "bii": "BII", "ksii": "k-SII", "stii": "STII",
                "fsii": "FSII", "fbii": "FBII"}
_ALIASES = {v.lower(): k for k, v in SHAPIQ_INDEX.items()}
_ALIASES.update({"moebius": "mobius", "k-sii": "ksii", "k_sii": "ksii", "fsi": "fsii",
                 "sti": "stii", "harsanyi": "mobius", "fbi": "fbii"})
METHODS = ("exact", "spex", "proxyspex", "lasso", "kernelshap")


class Error(RuntimeError):
    """A libspex call failed: `code` is the SPEX_E_* code, the message is
    spex_errmsg's (what failed and where)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class ValueFunctionError(Error):
    """The value function raised or returned something that is not one finite
    number per mask. `masks` (k, n) bool and `values` (k,) hold every answer
    it did give before it failed (also saved to the cache when one was
    set); the original exception, if any, is the __cause__ and its
    traceback is part of the message."""

    def __init__(self, code, message, masks=None, values=None):
        super().__init__(code, message)
        self.masks = masks
        self.values = values


class Context:
    """Owns one spex_ctx (error buffer, thread count, progress callback)."""

    def __init__(self):
        self.ptr = L.ctx_new()
        if not self.ptr:
            raise MemoryError("spex_ctx_new")

    def errmsg(self):
        return (L.errmsg(self.ptr) or b"").decode("utf-8", "replace")

    def check(self, rc, what=""):
        if rc != L.OK:
            msg = self.errmsg() or L.strerror(rc).decode()
            raise Error(rc, f"{what}: {msg}" if what else msg)

    def close(self):
        if self.ptr:
            L.ctx_free(self.ptr)
            self.ptr = None

    def __del__(self):
        self.close()


def index_c_name(name):
    """The C name ('fsii') of an index given in C or shapiq spelling ('FSII',
    'k-SII', 'Moebius')."""
    key = str(name).strip().lower()
    key = _ALIASES.get(key, key)
    if key not in SHAPIQ_INDEX:
        raise ValueError(f"unknown index {name!r}; expected one of "
                         + ", ".join(f"{c} ({s})" for c, s in SHAPIQ_INDEX.items()))
    return key


def index_code(ctx, name):
    out = ctypes.c_int()
    ctx.check(L.index_parse(ctx.ptr, index_c_name(name).encode(), ctypes.byref(out)), "index")
    return out.value


def method_code(ctx, name):
    out = ctypes.c_int()
    rc = L.method_parse(ctx.ptr, str(name).encode(), ctypes.byref(out))
    if rc:
        raise ValueError(f"unknown method {name!r}; expected one of {', '.join(METHODS)} "
                         "or auto")
    return out.value


def write_to_string(fn):
    """Runs fn(FILE *) on a temporary file and returns what it wrote."""
    fd, path = tempfile.mkstemp(prefix="spex-", suffix=".out")
    os.close(fd)
    try:
        f = L.fopen(path.encode(), b"wb")
        if not f:
            raise OSError(f"cannot open {path}")
        try:
            rc = fn(f)
        finally:
            L.fclose(f)
        with open(path, "r", encoding="utf-8") as fh:
            return rc, fh.read()
    finally:
        os.unlink(path)


def unpack_batch(batch_ptr, n):
    """A (count, n) bool array of the batch's packed rows (bit j of word j/64)."""
    count = L.masks_count(batch_ptr)
    words = L.masks_words(batch_ptr)
    if count == 0:
        return np.zeros((0, n), dtype=bool), None
    row0 = L.masks_crow(batch_ptr, 0)  # rows are contiguous (spex/masks.h)
    packed = np.ctypeslib.as_array(row0, shape=(count * words,)).reshape(count, words)
    bits = np.unpackbits(packed.view(np.uint8), axis=1, count=n, bitorder="little")
    return bits.view(bool), packed


class PyValueFn:
    """A spex_valuefn over a Python callable. Keeps the ctypes callback alive,
    records every answer (for ValueFunctionError) and the first failure."""

    def __init__(self, ctx, fn, n, name="python"):
        self.ctx, self.fn, self.n = ctx, fn, int(n)
        self.failure = None      # (exception or None, message)
        self.interrupted = False  # a KeyboardInterrupt seen in a progress callback
        self.answered_masks, self.answered_values = [], []
        self.seconds = 0.0
        self._cb = L.VALUE_FN(self._eval)
        self._name = name.encode()[:200]
        self.vf = L.ValueFn(ctypes.cast(self._cb, ctypes.c_void_p), None, None, self.n,
                            self._name)

    def _fail(self, exc, message):
        self.failure = (exc, message)
        L.seterr(self.ctx.ptr, L.E_VALUE, b"%s", message.encode("utf-8", "replace")[:4000])
        return L.E_VALUE

    def _eval(self, user, batch, out):
        try:
            if self.interrupted:
                return self._fail(KeyboardInterrupt(), "interrupted (Ctrl-C)")
            masks, packed = unpack_batch(batch, self.n)
            count = masks.shape[0]
            res = np.ctypeslib.as_array(out, shape=(count,))
            res[:] = np.nan
            if count == 0:
                return L.OK
            try:
                vals = self.fn(masks)
            except KeyboardInterrupt as e:
                return self._fail(e, "interrupted (Ctrl-C) in the value function")
            except BaseException as e:  # noqa: BLE001 - re-raised after spex_explain
                tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
                return self._fail(e, f"the Python value function raised "
                                     f"{type(e).__name__}: {e} (batch of {count} masks)\n{tb}")
            try:
                vals = np.asarray(vals, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError) as e:
                return self._fail(e, f"the Python value function returned {type(vals).__name__}"
                                     f", not {count} numbers: {e}")
            if vals.shape[0] != count:
                return self._fail(None, f"the Python value function returned {vals.shape[0]} "
                                        f"values for a batch of {count} masks")
            finite = np.isfinite(vals)
            res[finite] = vals[finite]
            self.answered_masks.append(packed[finite].copy())
            self.answered_values.append(vals[finite].copy())
            if not finite.all():
                i = int(np.argmin(finite))
                row = "".join("1" if b else "0" for b in masks[i][:200])
                return self._fail(None, f"the Python value function returned {vals[i]!r} for "
                                        f"mask {i} of a batch of {count} (features kept: "
                                        f"{row}{'...' if self.n > 200 else ''}); "
                                        f"{int(finite.sum())} finite answers of this batch "
                                        "kept")
            return L.OK
        except BaseException as e:  # noqa: BLE001 - never let an exception cross into C
            return self._fail(e, f"internal error in the Python callback: {e!r}")

    def answers(self):
        """(masks (k, n) bool, values (k,)) of every finite answer given."""
        if not self.answered_masks:
            return np.zeros((0, self.n), dtype=bool), np.zeros(0)
        packed = np.concatenate(self.answered_masks)
        bits = np.unpackbits(packed.view(np.uint8), axis=1, count=self.n, bitorder="little")
        return bits.view(bool), np.concatenate(self.answered_values)


class Progress:
    """The progress callback: a user callable(done, total), tqdm when
    importable (progress=None or True), or nothing (progress=False)."""

    def __init__(self, progress, pyvf=None):
        self.user, self.bar, self.pyvf = None, None, pyvf
        if callable(progress):
            self.user = progress
        elif progress is None or progress is True:
            try:
                from tqdm import tqdm  # noqa: PLC0415 - optional
                self.bar = tqdm(total=0, unit="mask", disable=progress is None and
                                not sys.stderr.isatty())
            except ImportError:
                pass
        self._cb = L.PROGRESS_FN(self._call) if (self.user or self.bar) else None

    def _call(self, user, done, total):
        try:
            if self.user:
                self.user(int(done), int(total))
            elif self.bar is not None:
                if self.bar.total != total:
                    self.bar.total = total
                self.bar.n = done
                self.bar.refresh()
        except KeyboardInterrupt:
            if self.pyvf is not None:
                self.pyvf.interrupted = True
        except BaseException:  # noqa: BLE001 - progress must never break a run
            pass

    def install(self, ctx):
        if self._cb is not None:
            L.ctx_set_progress(ctx.ptr, ctypes.cast(self._cb, ctypes.c_void_p), None)

    def close(self, ctx):
        if self._cb is not None:
            L.ctx_set_progress(ctx.ptr, None, None)
        if self.bar is not None:
            self.bar.close()
