"""Loads libspex through ctypes and declares the C functions and the few
plain structs the package uses (include/spex/*.h).

Where libspex comes from, first found wins:
  1. the SPEX_LIBRARY environment variable (a path to libspex.so);
  2. the package's own copy (spex/libspex.so, put there by `pip install`);
  3. build/libspex.so of the source tree the package sits in (python/..);
  4. the system: pkg-config's libdir for spex, then the loader's paths.

Only option structs and plain result structs that the headers promise are
bound (spex_explain_opts, spex_valuefn, spex_query_store, lens options, the
LLM info); spex_result is never bound: results are read through
spex_result_write_json. tests/python/test_abi.py checks every layout here
against the C compiler's sizeof/offsetof.
"""
import ctypes
import ctypes.util
import os
import subprocess
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_double, c_float, c_int,
                    c_int32, c_int64, c_size_t, c_uint8, c_uint64, c_void_p)

_HERE = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    env = os.environ.get("SPEX_LIBRARY")
    if env:
        yield env
        return
    yield os.path.join(_HERE, "libspex.so")
    yield os.path.join(_HERE, "..", "..", "build", "libspex.so")
    try:
        libdir = subprocess.run(["pkg-config", "--variable=libdir", "spex"],
                                capture_output=True, text=True, timeout=5).stdout.strip()
        if libdir:
            yield os.path.join(libdir, "libspex.so")
    except (OSError, subprocess.SubprocessError):
        pass
    found = ctypes.util.find_library("spex")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            tried.append(path + " (absent)")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append(f"{path} ({e})")
    raise ImportError("spex: cannot find libspex.so; build it (cmake --build build) or set "
                      "SPEX_LIBRARY=/path/to/libspex.so. Tried: " + "; ".join(tried))


lib, path = _load()

# ---- error codes (spex/common.h; append-only) ----
OK = 0
E_NOMEM, E_INVAL, E_IO, E_PARSE, E_RANGE, E_VALUE, E_TIMEOUT = -1, -2, -3, -4, -5, -6, -7
E_BUDGET, E_UNSUPPORTED, E_NUMERIC, E_INTERNAL, E_CHILD = -8, -9, -10, -11, -12

VALUE_FN = CFUNCTYPE(c_int, c_void_p, c_void_p, POINTER(c_double))
DESTROY_FN = CFUNCTYPE(None, c_void_p)
PROGRESS_FN = CFUNCTYPE(None, c_void_p, c_int64, c_int64)


class ValueFn(Structure):  # spex_valuefn (spex/value.h)
    _fields_ = [("eval", c_void_p), ("user", c_void_p), ("destroy", c_void_p),
                ("n", c_int64), ("name", c_char_p), ("eval_stream", c_void_p)]


class QueryStore(Structure):  # spex_query_store (spex/query.h)
    _fields_ = [("lookup", c_void_p), ("save", c_void_p), ("user", c_void_p)]


class ExplainOpts(Structure):  # spex_explain_opts (spex/explain.h)
    _fields_ = [("method", c_int), ("budget", c_int64), ("max_order", c_int),
                ("index", c_int), ("seed", c_uint64), ("batch_size", c_int64),
                ("decoder", c_int), ("store", POINTER(QueryStore)), ("store_policy", c_int),
                ("degree", c_int)]


class StoreOpts(Structure):  # spex_store_opts (spex/store.h)
    _fields_ = [("read_only", c_int), ("max_size", c_int64), ("busy_timeout_ms", c_int)]


class LlmInfo(Structure):  # spex_llm_info (spex/llm.h)
    _fields_ = [("arch", c_char_p), ("name", c_char_p), ("tokenizer", c_char_p),
                ("n_vocab", c_int64), ("dim", c_int64), ("n_layers", c_int64),
                ("n_heads", c_int64), ("n_kv_heads", c_int64), ("ffn_dim", c_int64),
                ("n_ctx_train", c_int64), ("n_ctx", c_int64),
                ("rope_base", c_double), ("rms_eps", c_double), ("rope_freq_scale", c_double),
                ("tied_output", c_int), ("bos", c_int32), ("eos", c_int32), ("add_bos", c_int),
                ("n_params", c_int64)]


class LlmOpts(Structure):  # spex_llm_opts
    _fields_ = [("reference", c_int), ("n_ctx", c_int), ("kv_f16", c_int),
                ("float_acts", c_int)]


class LlmScoreResult(Structure):  # spex_llm_score_result
    _fields_ = [("prompt_tokens", POINTER(c_int32)), ("n_prompt", c_int64),
                ("continuation_tokens", POINTER(c_int32)), ("n_continuation", c_int64),
                ("token_logprobs", POINTER(c_double)), ("logprob", c_double)]


class PromptOpts(Structure):  # spex_prompt_opts (spex/prompt.h)
    _fields_ = [("unit", c_int), ("segments_sep", c_char_p), ("replace", c_char_p),
                ("prefix", c_char_p), ("suffix", c_char_p), ("target", c_char_p),
                ("contrast", c_char_p), ("max_answer_tokens", c_int64)]


class HeadsOpts(Structure):  # spex_heads_opts (spex/heads.h)
    _fields_ = [("layer_from", c_int64), ("layer_to", c_int64), ("heads", c_int),
                ("mlps", c_int), ("mean", c_int), ("ref_prompts", POINTER(c_char_p)),
                ("n_ref", c_int64)]


class CsvOpts(Structure):  # spex_csv_opts (spex/learn.h)
    _fields_ = [("label", c_char_p), ("group_by", c_char_p), ("max_bytes", c_size_t),
                ("max_rows", c_int64), ("max_cols", c_int64)]


class LearnOpts(Structure):  # spex_learn_opts
    _fields_ = [("learner", c_int), ("l2", c_double), ("max_iter", c_int), ("rounds", c_int),
                ("depth", c_int), ("eta", c_double), ("xgb_lambda", c_double),
                ("seed", c_uint64)]


class DataAttrOpts(Structure):  # spex_data_attr_opts (spex/data.h)
    _fields_ = [("learn", LearnOpts), ("value", c_int), ("n_groups", c_int64),
                ("standardize", c_int)]


class Dataset(Structure):  # spex_dataset: the leading counts only (read, never built)
    _fields_ = [("n_rows", c_int64), ("n_features", c_int64), ("x", POINTER(c_double)),
                ("y", POINTER(c_int)), ("n_classes", c_int), ("class_names", POINTER(c_char_p)),
                ("feature_names", POINTER(c_char_p)), ("group", POINTER(c_int64)),
                ("n_groups", c_int64), ("group_names", POINTER(c_char_p))]


class HtmlOpts(Structure):  # spex_html_opts (spex/report.h)
    _fields_ = [("title", c_char_p), ("prose", c_int), ("prefix", c_char_p),
                ("suffix", c_char_p), ("leads", POINTER(c_char_p)),
                ("texts", POINTER(c_char_p)), ("top", c_int64),
                ("max_bars", c_int64), ("notes", POINTER(c_char_p)), ("n_notes", c_int64),
                ("validation", c_void_p), ("n_validation", c_int64)]


# every struct bound here, by its C name (tests/python/test_abi.py)
STRUCTS = {"spex_valuefn": ValueFn, "spex_query_store": QueryStore,
           "spex_explain_opts": ExplainOpts, "spex_store_opts": StoreOpts,
           "spex_llm_info": LlmInfo, "spex_llm_opts": LlmOpts,
           "spex_llm_score_result": LlmScoreResult, "spex_prompt_opts": PromptOpts,
           "spex_heads_opts": HeadsOpts, "spex_csv_opts": CsvOpts,
           "spex_learn_opts": LearnOpts, "spex_data_attr_opts": DataAttrOpts,
           "spex_dataset": Dataset, "spex_html_opts": HtmlOpts}

P = c_void_p


def _fn(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


# common.h
ctx_new = _fn("spex_ctx_new", P)
ctx_free = _fn("spex_ctx_free", None, P)
errmsg = _fn("spex_errmsg", c_char_p, P)
strerror = _fn("spex_strerror", c_char_p, c_int)
seterr = lib.spex_seterr  # variadic: called as seterr(ctx, code, b"%s", msg)
seterr.restype = c_int
ctx_set_threads = _fn("spex_ctx_set_threads", None, P, c_int)
ctx_set_progress = _fn("spex_ctx_set_progress", None, P, P, P)
spex_free = _fn("spex_free", None, P, P)
# masks.h
masks_count = _fn("spex_masks_count", c_int64, P)
masks_words = _fn("spex_masks_words", c_size_t, P)
masks_crow = _fn("spex_masks_crow", POINTER(c_uint64), P, c_int64)
# value.h
valuefn_release = _fn("spex_valuefn_release", None, POINTER(ValueFn))
# explain.h
explain_opts_default = _fn("spex_explain_opts_default", ExplainOpts)
method_parse = _fn("spex_method_parse", c_int, P, c_char_p, POINTER(c_int))
method_name = _fn("spex_method_name", c_char_p, c_int)
index_parse = _fn("spex_index_parse", c_int, P, c_char_p, POINTER(c_int))
index_name = _fn("spex_index_name", c_char_p, c_int)
explain = _fn("spex_explain", c_int, P, POINTER(ValueFn), POINTER(ExplainOpts), POINTER(P))
result_free = _fn("spex_result_free", None, P)
result_set_index = _fn("spex_result_set_index", c_int, P, c_int, c_int)
result_set_features = _fn("spex_result_set_features", c_int, P, POINTER(c_char_p))
faithfulness = _fn("spex_faithfulness", c_int, P, POINTER(ValueFn), P, c_int64, c_uint64,
                   POINTER(c_double))
# coefs.h (spex_result_* hand out no coefs pointer; these serve Result.predict)
coefs_new = _fn("spex_coefs_new", c_int, P, c_int64, POINTER(P))
coefs_free = _fn("spex_coefs_free", None, P)
coefs_add = _fn("spex_coefs_add", c_int, P, POINTER(c_int32), c_int, c_double)
coefs_count = _fn("spex_coefs_count", c_int64, P)
coefs_entry = _fn("spex_coefs_entry", None, P, c_int64, POINTER(POINTER(c_int32)),
                  POINTER(c_int), POINTER(c_double))
fourier_to_mobius = _fn("spex_fourier_to_mobius", c_int, P, POINTER(P))
interactions = _fn("spex_interactions", c_int, P, c_int, c_int, POINTER(P))
# report.h (FILE * from libc)
result_write_json = _fn("spex_result_write_json", c_int, P, P, P)
result_write_table = _fn("spex_result_write_table", c_int, P, P, c_int64, P)
result_write_csv = _fn("spex_result_write_csv", c_int, P, P, c_int64, P)
result_write_html = _fn("spex_result_write_html", c_int, P, P, POINTER(HtmlOpts), P)
html_opts_default = _fn("spex_html_opts_default", HtmlOpts)
result_parse = _fn("spex_result_parse", c_int, P, c_char_p, c_size_t, c_char_p, POINTER(P))
# backend.h
game_load = _fn("spex_game_load", c_int, P, c_char_p, POINTER(P))
game_free = _fn("spex_game_free", None, P)
game_n = _fn("spex_game_n", c_int64, P)
game_valuefn = _fn("spex_game_valuefn", c_int, P, c_int, c_uint64, POINTER(ValueFn))
# store.h
store_opts_default = _fn("spex_store_opts_default", StoreOpts)
store_open = _fn("spex_store_open", c_int, P, c_char_p, POINTER(StoreOpts), POINTER(P))
store_close = _fn("spex_store_close", None, P)
store_bind = _fn("spex_store_bind", c_int, P, c_char_p, c_char_p, c_int64, POINTER(QueryStore))
sha256_file = _fn("spex_sha256_file", c_int, P, c_char_p, ctypes.c_char * 65)
# llm.h
llm_opts_default = _fn("spex_llm_opts_default", LlmOpts)
llm_load = _fn("spex_llm_load", c_int, P, c_char_p, POINTER(LlmOpts), POINTER(P))
llm_free = _fn("spex_llm_free", None, P)
llm_get_info = _fn("spex_llm_get_info", None, P, POINTER(LlmInfo))
llm_tokenize = _fn("spex_llm_tokenize", c_int, P, c_char_p, c_size_t, c_int,
                   POINTER(POINTER(c_int32)), POINTER(c_int64))
llm_detokenize = _fn("spex_llm_detokenize", c_int, P, POINTER(c_int32), c_int64, c_int,
                     POINTER(c_void_p))
llm_score = _fn("spex_llm_score", c_int, P, c_char_p, c_char_p, POINTER(LlmScoreResult))
llm_score_result_clear = _fn("spex_llm_score_result_clear", None, P, POINTER(LlmScoreResult))
llm_generate = _fn("spex_llm_generate", c_int, P, POINTER(c_int32), c_int64, c_int64,
                   POINTER(POINTER(c_int32)), POINTER(c_int64))
# prompt.h
prompt_opts_default = _fn("spex_prompt_opts_default", PromptOpts)
prompt_unit_parse = _fn("spex_prompt_unit_parse", c_int, P, c_char_p, POINTER(c_int))
prompt_unit_name = _fn("spex_prompt_unit_name", c_char_p, c_int)
prompt_new = _fn("spex_prompt_new", c_int, P, P, c_char_p, POINTER(PromptOpts), POINTER(P))
prompt_free = _fn("spex_prompt_free", None, P)
prompt_n_units = _fn("spex_prompt_n_units", c_int64, P)
prompt_unit_text = _fn("spex_prompt_unit_text", c_char_p, P, c_int64)
prompt_unit_lead = _fn("spex_prompt_unit_lead", c_char_p, P, c_int64)
prompt_target = _fn("spex_prompt_target", c_char_p, P)
prompt_contrast = _fn("spex_prompt_contrast", c_char_p, P)
prompt_prefix = _fn("spex_prompt_prefix", c_char_p, P)
prompt_suffix = _fn("spex_prompt_suffix", c_char_p, P)
prompt_text = _fn("spex_prompt_text", c_int, P, POINTER(c_uint64), POINTER(c_void_p))
prompt_valuefn = _fn("spex_prompt_valuefn", c_int, P, POINTER(ValueFn))
# heads.h
heads_opts_default = _fn("spex_heads_opts_default", HeadsOpts)
heads_new = _fn("spex_heads_new", c_int, P, P, P, POINTER(HeadsOpts), POINTER(P))
heads_free = _fn("spex_heads_free", None, P)
heads_n_features = _fn("spex_heads_n_features", c_int64, P)
heads_feature_name = _fn("spex_heads_feature_name", c_char_p, P, c_int64)
heads_valuefn = _fn("spex_heads_valuefn", c_int, P, POINTER(ValueFn))
# learn.h / data.h
csv_opts_default = _fn("spex_csv_opts_default", CsvOpts)
data_read_csv = _fn("spex_data_read_csv", c_int, P, c_char_p, POINTER(CsvOpts), P,
                    POINTER(POINTER(Dataset)))
dataset_free = _fn("spex_dataset_free", None, POINTER(Dataset))
learner_parse = _fn("spex_learner_parse", c_int, P, c_char_p, POINTER(c_int))
data_value_parse = _fn("spex_data_value_parse", c_int, P, c_char_p, POINTER(c_int))
data_attr_opts_default = _fn("spex_data_attr_opts_default", DataAttrOpts)
data_attr_open = _fn("spex_data_attr_open", c_int, P, POINTER(Dataset), POINTER(Dataset),
                     c_int64, POINTER(DataAttrOpts), POINTER(ValueFn))
data_attr_open_task = _fn("spex_data_attr_open_task", c_int, P, POINTER(Dataset),
                          POINTER(Dataset), POINTER(c_int64), c_int64, POINTER(DataAttrOpts),
                          POINTER(ValueFn))
version = _fn("spex_version", c_char_p)

# OpenBLAS (linked by libspex): the CLI runs it on one thread unless
# OPENBLAS_NUM_THREADS says otherwise (tools/spex/main.c); explain() does the
# same for the duration of a run, so results are the CLI's to the bit.
try:
    blas_get_threads = _fn("openblas_get_num_threads", c_int)
    blas_set_threads = _fn("openblas_set_num_threads", None, c_int)
except AttributeError:
    blas_get_threads = blas_set_threads = None

# libc: FILE * for the writers
libc = ctypes.CDLL(None)
fopen = libc.fopen
fopen.restype = P
fopen.argtypes = [c_char_p, c_char_p]
fclose = libc.fclose
fclose.restype = c_int
fclose.argtypes = [P]

_ = (c_float, c_uint8)  # kept for lenses that bind ablation arrays later
