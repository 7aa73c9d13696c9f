"""The lenses (DESIGN.md §1) from Python, with the CLI's options:
spex.Model (the GGUF engine, spex/llm.h) with its prompt lens
(Model.prompt: spex/prompt.h, `spex explain --llm`) and heads lens
(Model.heads: spex/heads.h, `--heads/--mlp`), and spex.Data (the
data-attribution lens, spex/data.h, `--data`).

Prompt and heads lenses use the CLI's cache fingerprints, so a cache file
filled by `spex explain --llm ...` answers the same lens in Python.
"""
import ctypes
import os
import tempfile

from . import _lib as L
from ._core import Context
from .explain import Lens


def _b(s):
    return None if s is None else str(s).encode()


def _fp_add(fp, key, text):
    """tools/spex/target_llm.c fp_add: ' key=<bytes>:<text>' or ' key=-'."""
    if text is None:
        return f"{fp} {key}=-"
    return f"{fp} {key}={len(text.encode())}:{text}"


class Model:
    """A llama-architecture GGUF model (spex_llm_load). threads: kernel
    threads; reference=True: the plain scalar kernels (the test oracle)."""

    def __init__(self, path, threads=1, reference=False, n_ctx=0):
        self.path = os.fspath(path)
        self.ctx = Context()
        L.ctx_set_threads(self.ctx.ptr, int(threads))
        opts = L.llm_opts_default()
        opts.reference = 1 if reference else 0
        opts.n_ctx = int(n_ctx)
        self._m = ctypes.c_void_p()
        self.ctx.check(L.llm_load(self.ctx.ptr, self.path.encode(), ctypes.byref(opts),
                                  ctypes.byref(self._m)))
        hexd = ctypes.create_string_buffer(65)
        self.ctx.check(L.sha256_file(self.ctx.ptr, self.path.encode(), hexd))
        self.sha256 = hexd.value.decode()

    @property
    def info(self):
        """Sizes and names: arch, name, tokenizer, n_vocab, dim, n_layers,
        n_heads, n_kv_heads, ffn_dim, n_ctx_train, n_ctx, rope_base, rms_eps,
        rope_freq_scale, tied_output, bos, eos, add_bos, n_params."""
        i = L.LlmInfo()
        L.llm_get_info(self._m, ctypes.byref(i))
        out = {}
        for name, _ in L.LlmInfo._fields_:
            v = getattr(i, name)
            out[name] = v.decode("utf-8", "replace") if isinstance(v, bytes) else v
        return out

    def set_threads(self, threads):
        L.ctx_set_threads(self.ctx.ptr, int(threads))

    def tokenize(self, text, add_bos=True):
        toks, n = ctypes.POINTER(ctypes.c_int32)(), ctypes.c_int64()
        data = text.encode()
        self.ctx.check(L.llm_tokenize(self._m, data, len(data), 1 if add_bos else 0,
                                      ctypes.byref(toks), ctypes.byref(n)), "tokenize")
        try:
            return [toks[i] for i in range(n.value)]
        finally:
            L.spex_free(self.ctx.ptr, toks)

    def detokenize(self, tokens, strip_space_prefix=False):
        arr = (ctypes.c_int32 * max(1, len(tokens)))(*tokens)
        out = ctypes.c_void_p()
        self.ctx.check(L.llm_detokenize(self._m, arr, len(tokens),
                                        1 if strip_space_prefix else 0, ctypes.byref(out)))
        try:
            return ctypes.string_at(out).decode("utf-8", "replace")
        finally:
            L.spex_free(self.ctx.ptr, out)

    def score(self, prompt, continuation, tokens=False):
        """log p(continuation | prompt), teacher-forced, natural log, BOS
        added (llama.cpp's convention). tokens=True: also the per-token
        log-probabilities and the continuation's token ids."""
        r = L.LlmScoreResult()
        self.ctx.check(L.llm_score(self._m, prompt.encode(), continuation.encode(),
                                   ctypes.byref(r)), "score")
        try:
            if not tokens:
                return r.logprob
            ids = [r.continuation_tokens[i] for i in range(r.n_continuation)]
            lps = [r.token_logprobs[i] for i in range(r.n_continuation)]
            return r.logprob, lps, ids
        finally:
            L.llm_score_result_clear(self._m, ctypes.byref(r))

    def generate(self, prompt, max_tokens=16):
        """The greedy continuation of prompt (at most max_tokens tokens,
        stops after EOS) as text."""
        toks = self.tokenize(prompt, add_bos=True)
        arr = (ctypes.c_int32 * len(toks))(*toks)
        out, n = ctypes.POINTER(ctypes.c_int32)(), ctypes.c_int64()
        self.ctx.check(L.llm_generate(self._m, arr, len(toks), int(max_tokens),
                                      ctypes.byref(out), ctypes.byref(n)), "generate")
        try:
            new = [out[i] for i in range(n.value)]
        finally:
            L.spex_free(self.ctx.ptr, out)
        eos = self.info["eos"]
        new = [t for t in new if t != eos]
        return "".join(self._piece(t) for t in new)

    def _piece(self, tok):
        return self.detokenize([tok]) if tok >= 0 else ""

    def prompt(self, text, unit="word", segments_sep=None, mask="remove", prefix=None,
               suffix=None, target=None, contrast=None, max_answer_tokens=8):
        """The feature-attribution lens (`spex explain --llm M --prompt TEXT`):
        unit word | sentence | token | segment; mask 'remove' or
        'replace:TEXT'; the value is log p(target | masked prompt), minus
        log p(contrast | masked) with a contrast; no target: the model's
        greedy answer."""
        return PromptLens(self, text, unit, segments_sep, mask, prefix, suffix, target,
                          contrast, max_answer_tokens)

    def heads(self, text, prefix=None, suffix=None, target=None, contrast=None, heads=True,
              mlp=False, layers=None, ablate="zero", reference_prompts=None,
              max_answer_tokens=8):
        """The mechanistic lens (`--heads` / `--mlp`): attention heads (and/or
        MLP blocks) of `layers` ('A-B' or (A, B) or A) are the features of
        the full prompt's value; ablate 'zero' or 'mean' (over
        reference_prompts, a list of texts, or the prompt itself)."""
        return HeadsLens(self, text, prefix, suffix, target, contrast, heads, mlp, layers,
                         ablate, reference_prompts, max_answer_tokens)

    def close(self):
        if getattr(self, "_m", None):
            L.llm_free(self._m)
            self._m = None

    def __del__(self):
        self.close()


class PromptLens(Lens):
    """Words (sentences, tokens, segments) of a prompt as features; see
    Model.prompt."""

    def __init__(self, model, text, unit, segments_sep, mask, prefix, suffix, target,
                 contrast, max_answer_tokens, _value=True):
        super().__init__(model.ctx)
        self.model = model
        if not text:
            raise ValueError("the prompt is empty")
        if contrast is not None and target is None:
            raise ValueError("a contrast needs a target (value: log p(target) - "
                             "log p(contrast))")
        po = L.prompt_opts_default()
        u = ctypes.c_int()
        self.ctx.check(L.prompt_unit_parse(self.ctx.ptr, str(unit).encode(), ctypes.byref(u)),
                       "unit")
        po.unit = u.value
        if segments_sep is not None and unit != "segment":
            raise ValueError("segments_sep goes with unit='segment'")
        replace = None
        if mask != "remove":
            if not str(mask).startswith("replace:"):
                raise ValueError(f"unknown mask {mask!r} (expected 'remove' or 'replace:TEXT')")
            replace = mask[len("replace:"):]
        self._keep = [_b(segments_sep), _b(replace), _b(prefix), _b(suffix), _b(target),
                      _b(contrast)]
        (po.segments_sep, po.replace, po.prefix, po.suffix, po.target,
         po.contrast) = self._keep
        po.max_answer_tokens = int(max_answer_tokens)
        self._p = ctypes.c_void_p()
        self.ctx.check(L.prompt_new(self.ctx.ptr, model._m, text.encode(), ctypes.byref(po),
                                    ctypes.byref(self._p)), "prompt")
        self.text = text
        self.n = int(L.prompt_n_units(self._p))
        self.units = [L.prompt_unit_text(self._p, i).decode() for i in range(self.n)]
        self.leads = [L.prompt_unit_lead(self._p, i).decode() for i in range(self.n)]
        self.feature_names = list(self.units)
        self.prefix = L.prompt_prefix(self._p).decode()
        self.suffix = L.prompt_suffix(self._p).decode()
        t = L.prompt_target(self._p)
        self.target = t.decode() if t is not None else None
        c = L.prompt_contrast(self._p)
        self.contrast = c.decode() if c is not None else None
        if _value:
            self.ctx.check(L.prompt_valuefn(self._p, ctypes.byref(self.vf)), "prompt")
        unit_name = L.prompt_unit_name(po.unit).decode()
        fp = f"llm-prompt/1 sha256={model.sha256} unit={unit_name}"
        fp = _fp_add(fp, "sep", (segments_sep if segments_sep is not None else "\n")
                     if unit_name == "segment" else None)
        fp = _fp_add(fp, "replace", replace)
        fp = _fp_add(fp, "prefix", self.prefix)
        fp = _fp_add(fp, "suffix", self.suffix)
        fp = _fp_add(fp, "target", self.target)
        fp = _fp_add(fp, "contrast", contrast)
        self.fingerprint = _fp_add(fp, "prompt", text)
        base = os.path.basename(model.path)
        self.label = f"llm {base}: {text[:60]}"
        note = (f'value: log p("{self.target}") - log p("{self.contrast}")' if self.contrast
                else f'value: log p("{self.target}")')
        self.value_note = note
        self.html_hints = {"prose": True, "prefix": self.prefix, "suffix": self.suffix,
                           "leads": self.leads, "texts": self.units, "notes": [note]}

    def masked_text(self, keep):
        """The prompt text for a mask (sequence of n bools, True = kept)."""
        words = (self.n + 63) // 64
        row = (ctypes.c_uint64 * words)()
        for j, k in enumerate(keep):
            if k:
                row[j >> 6] |= 1 << (j & 63)
        out = ctypes.c_void_p()
        self.ctx.check(L.prompt_text(self._p, row, ctypes.byref(out)))
        try:
            return ctypes.string_at(out).decode()
        finally:
            L.spex_free(self.ctx.ptr, out)

    def report(self, result):
        """The CLI's lens report after the table: the prompt with each unit
        marked by its first-order value, then the top interactions by
        feature name (tools/spex/target_llm.c, without terminal colours)."""
        first = {s[0]: v for s, v in result.interactions.items() if len(s) == 1}
        lines = [f"\n{self.value_note}; each unit marked by its {result.index} value "
                 "(order 1):\n"]
        body = "  " + (self.prefix + " " if self.prefix else "")
        for i in range(self.n):
            if i:
                body += self.leads[i]
            body += f"{self.units[i]}[{first.get(i, 0.0):+.2f}]"
        if self.suffix:
            body += " " + self.suffix
        lines.append(body)
        lines.append(f"\ntop interactions ({result.index}):")
        shown = [(s, v) for s, v in result.interactions.items() if len(s) >= 2][:5]
        for s, v in shown:
            lines.append("  " + " × ".join(result.features[j] for j in s) + f": {v:+.3f}")
        if not shown:
            lines.append("  (none of order 2 or more; try --max-order 2)")
        return "\n".join(lines) + "\n"

    def close(self):
        self._release()
        if getattr(self, "_p", None):
            L.prompt_free(self._p)
            self._p = None

    def __del__(self):
        self.close()


def _parse_layers(layers):
    if layers is None:
        return 0, -1
    if isinstance(layers, int):
        return layers, layers
    if isinstance(layers, (tuple, list)):
        return int(layers[0]), int(layers[1])
    s = str(layers)
    if "-" in s:
        a, b = s.split("-", 1)
        return int(a), int(b)
    return int(s), int(s)


class HeadsLens(Lens):
    """Components of the model (L<l>.H<h>, L<l>.MLP) as features; see
    Model.heads."""

    def __init__(self, model, text, prefix, suffix, target, contrast, heads, mlp, layers,
                 ablate, reference_prompts, max_answer_tokens):
        super().__init__(model.ctx)
        if ablate not in ("zero", "mean"):
            raise ValueError(f"unknown ablate {ablate!r} (expected 'zero' or 'mean')")
        if reference_prompts is not None and ablate != "mean":
            raise ValueError("reference_prompts goes with ablate='mean'")
        self.model = model
        self.prompt = PromptLens(model, text, "word", None, "remove", prefix, suffix, target,
                                 contrast, max_answer_tokens, _value=False)
        ho = L.heads_opts_default()
        ho.layer_from, ho.layer_to = _parse_layers(layers)
        ho.heads = 1 if heads else 0
        ho.mlps = 1 if mlp else 0
        ho.mean = 1 if ablate == "mean" else 0
        refs_hex = "-"
        self._refs = None
        if reference_prompts is not None:
            refs = [r for r in reference_prompts if r]
            if not refs:
                raise ValueError("reference_prompts holds no prompt")
            self._refs = (ctypes.c_char_p * len(refs))(*[r.encode() for r in refs])
            ho.ref_prompts = ctypes.cast(self._refs, ctypes.POINTER(ctypes.c_char_p))
            ho.n_ref = len(refs)
            import hashlib  # noqa: PLC0415
            refs_hex = hashlib.sha256("\n".join(refs).encode()).hexdigest()
        self._h = ctypes.c_void_p()
        self.ctx.check(L.heads_new(self.ctx.ptr, model._m, self.prompt._p, ctypes.byref(ho),
                                   ctypes.byref(self._h)), "heads")
        self.ctx.check(L.heads_valuefn(self._h, ctypes.byref(self.vf)), "heads")
        self.n = int(L.heads_n_features(self._h))
        self.feature_names = [L.heads_feature_name(self._h, i).decode() for i in range(self.n)]
        p = self.prompt
        settings = (f"layers={ho.layer_from}-{ho.layer_to} heads={ho.heads} mlps={ho.mlps} "
                    f"ablate={ablate} refs={refs_hex}")
        fp = f"llm-heads/1 sha256={model.sha256} {settings}"
        for k, v in (("prefix", p.prefix), ("suffix", p.suffix), ("target", p.target),
                     ("contrast", p.contrast), ("prompt", text)):
            fp = _fp_add(fp, k, v)
        # (the CLI hashes the reference file's bytes; ours hashes the lines
        # joined by '\n', equal for a file without trailing newline)
        self.fingerprint = fp
        self.label = f"llm heads {os.path.basename(model.path)}: {text[:60]}"
        self.html_hints = {"notes": [p.value_note]}

    def close(self):
        self._release()
        if getattr(self, "_h", None):
            L.heads_free(self._h)
            self._h = None

    def __del__(self):
        self.close()


def _task_rows(rows, n_file, path):
    """The rows of a task: "all", a text of rows and ranges A-B separated by
    commas (the CLI's --rows), or row numbers; each within the file."""
    if isinstance(rows, str):
        if rows == "all":
            out = list(range(n_file))
        else:
            out = []
            for part in rows.split(","):
                a, _, b = part.partition("-")
                if not a.isdigit() or (b and not b.isdigit()) or int(b or a) < int(a):
                    raise ValueError(f"rows '{rows}': expected all, or rows and ranges A-B "
                                     f"(A <= B) separated by commas, such as 0-99,120")
                out.extend(range(int(a), int(b or a) + 1))
    else:
        out = [int(r) for r in rows]
    if not out:
        raise ValueError("rows: a task needs at least one test row")
    for r in out:
        if not 0 <= r < n_file:
            raise ValueError(f"rows: row {r} is outside the {n_file} data rows of {path}")
    return out


def _runs(rows):
    """Rows as runs of consecutive numbers, "0-99,120" (the CLI's cache key)."""
    out, i = [], 0
    while i < len(rows):
        j = i
        while j + 1 < len(rows) and rows[j + 1] == rows[j] + 1:
            j += 1
        out.append(f"{rows[i]}-{rows[j]}" if j > i else f"{rows[i]}")
        i = j + 1
    return ",".join(out)


class Data(Lens):
    """The data-attribution lens (`spex explain --data TRAIN.csv`): training
    rows (or groups: group_by=column, groups=G contiguous groups) are the
    features; a mask keeps some, the learner is re-trained on them, and the
    value is its output on one test row (`row` of `test`, or without a test
    file row `row` of the training file, held out of it as the CLI does), or
    with `rows` instead of `row` (`--rows`: "all", a text such as "0-99,120",
    or a list of row numbers; needs `test`) its mean over those rows of
    `test`, each mask still training one model. learner 'logistic' (l2,
    max_iter) or 'xgboost' (rounds, depth, eta); value 'margin', 'prob',
    'logloss' or 'accuracy' (1 when the true class scores strictly highest;
    with rows, the fraction right). threads: re-training threads."""

    def __init__(self, train, label, row=None, test=None, group_by=None, groups=0,
                 learner="logistic", value="margin", l2=1.0, max_iter=None, rounds=None,
                 depth=None, eta=None, standardize=True, threads=1, rows=None):
        super().__init__()
        L.ctx_set_threads(self.ctx.ptr, int(threads))
        self._tmp = []
        if (row is None) == (rows is None):
            raise ValueError("give one of row (one explained row) and rows (a task: the mean "
                             "over test rows)")
        if rows is not None and test is None:
            raise ValueError("rows needs test, the file of the rows it averages over")
        train, test = os.fspath(train), (os.fspath(test) if test else None)
        row = int(row) if row is not None else None
        held_out = test is None
        if test is None:  # hold the row out of the training file
            with open(train, encoding="utf-8") as fh:
                lines = [ln for ln in fh.read().split("\n") if ln.strip()]
            if not 0 <= row < len(lines) - 1:
                raise ValueError(f"row {row} is outside the {len(lines) - 1} data rows of "
                                 f"{train}")
            tr = [lines[0]] + [ln for i, ln in enumerate(lines[1:]) if i != row]
            te = [lines[0], lines[1 + row]]
            train, test = self._write(tr), self._write(te)
            self._test_row = 0
        else:
            self._test_row = row
        co = L.csv_opts_default()
        self._keep = [label.encode(), _b(group_by)]
        co.label, co.group_by = self._keep
        self._train, self._test = ctypes.POINTER(L.Dataset)(), ctypes.POINTER(L.Dataset)()
        self.ctx.check(L.data_read_csv(self.ctx.ptr, train.encode(), ctypes.byref(co), None,
                                       ctypes.byref(self._train)), "data")
        self.ctx.check(L.data_read_csv(self.ctx.ptr, test.encode(), ctypes.byref(co),
                                       self._train, ctypes.byref(self._test)), "test data")
        ao = L.data_attr_opts_default()
        lrn, val = ctypes.c_int(), ctypes.c_int()
        self.ctx.check(L.learner_parse(self.ctx.ptr, learner.encode(), ctypes.byref(lrn)))
        self.ctx.check(L.data_value_parse(self.ctx.ptr, value.encode(), ctypes.byref(val)))
        ao.learn.learner, ao.value = lrn.value, val.value
        ao.learn.l2 = float(l2)
        for k, v in (("max_iter", max_iter), ("rounds", rounds), ("depth", depth),
                     ("eta", eta)):
            if v is not None:
                setattr(ao.learn, k, v)
        if groups and group_by:
            raise ValueError("groups and group_by exclude each other")
        ao.n_groups = int(groups)
        ao.standardize = 1 if standardize else 0
        if rows is None:
            self.ctx.check(L.data_attr_open(self.ctx.ptr, self._train, self._test,
                                            self._test_row, ctypes.byref(ao),
                                            ctypes.byref(self.vf)), "data")
            which = f"row={self._test_row}"
        else:
            self.rows = _task_rows(rows, self._test.contents.n_rows, test)
            arr = (ctypes.c_int64 * len(self.rows))(*self.rows)
            self.ctx.check(L.data_attr_open_task(self.ctx.ptr, self._train, self._test, arr,
                                                 len(self.rows), ctypes.byref(ao),
                                                 ctypes.byref(self.vf)), "data")
            which = f"rows={_runs(self.rows)}"
        self.n = int(self.vf.n)
        ds = self._train.contents
        if ds.group:
            self.feature_names = [f"{group_by}={ds.group_names[g].decode()}"
                                  for g in range(ds.n_groups)]
        elif groups:  # row numbers of the training file, the held-out row skipped
            held = row if held_out else None
            names = []
            for g in range(self.n):
                b, e = (g * ds.n_rows) // self.n, ((g + 1) * ds.n_rows) // self.n
                fb = b + 1 if held is not None and b >= held else b
                fe = e if held is not None and e - 1 >= held else e - 1
                names.append(f"rows {fb}-{fe}")
            self.feature_names = names
        else:
            self.feature_names = [
                f"row {j + 1 if held_out and j >= row else j} "
                f"(label {ds.class_names[ds.y[j]].decode()})" for j in range(self.n)]
        hexes = []
        for p in (train, test):
            h = ctypes.create_string_buffer(65)
            self.ctx.check(L.sha256_file(self.ctx.ptr, p.encode(), h))
            hexes.append(h.value.decode())
        self.fingerprint = (f"python-data/1 train={hexes[0]} test={hexes[1]} label={label} "
                            f"group_by={group_by or '-'} groups={ao.n_groups} "
                            f"{which} learner={learner} value={value} "
                            f"l2={ao.learn.l2!r} max_iter={ao.learn.max_iter} "
                            f"rounds={ao.learn.rounds} depth={ao.learn.depth} "
                            f"eta={ao.learn.eta!r} lambda={ao.learn.xgb_lambda!r} "
                            f"seed={ao.learn.seed} standardize={ao.standardize}")
        self.label = (f"data {os.path.basename(str(train))} row {row}" if rows is None else
                      f"data {os.path.basename(str(test))} rows {_runs(self.rows)}")

    def _write(self, lines):
        fd, path = tempfile.mkstemp(prefix="spex-data-", suffix=".csv")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        self._tmp.append(path)
        return path

    def close(self):
        self._release()
        for attr in ("_test", "_train"):
            p = getattr(self, attr, None)
            if p:
                L.dataset_free(p)
                setattr(self, attr, None)
        for path in getattr(self, "_tmp", []):
            try:
                os.unlink(path)
            except OSError:
                pass
        self._tmp = []

    def __del__(self):
        self.close()
