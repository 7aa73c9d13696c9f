#!/usr/bin/env python3
"""make_llm_models.py: random-weight GGUF files of real model shapes, for
the engine benchmarks (bench/run_llm_real.sh) against llama.cpp.

    /usr/bin/python3 bench/make_llm_models.py GGUF_PY_DIR OUT_DIR SHAPE

GGUF_PY_DIR: the gguf-py folder of a llama.cpp source tree (outside this
repository; llama.cpp's own writer, so the files are what llama.cpp reads).
SHAPE:
  tinyllama  llama, TinyLlama-1.1B's shape: n_embd 2048, 22 layers, 32 heads,
             4 KV heads, n_ff 5632, separate output matrix, context 2048,
             the Llama-2 SentencePiece vocabulary (32,000 tokens) of
             ../shared/models/vocab/ggml-vocab-llama-spm.gguf.
  qwen2      qwen2, Qwen2.5-0.5B's block shape: n_embd 896, 24 layers, 14
             heads, 2 KV heads, n_ff 4864, q/k/v biases, output tied to the
             token embedding, NeoX RoPE base 1e6; the GPT-2 byte-level BPE
             vocabulary (50,257 tokens) of ggml-vocab-gpt-2.gguf with the
             qwen2 pre-tokenizer (no Qwen vocabulary is shipped, so the
             embedding is 50,257 rows instead of 151,936).
Writes OUT_DIR/SHAPE-F16.gguf: weight matrices N(0, 0.02) in F16 (seeded:
the same file on every run), norm weights 1, biases N(0, 0.02) in F32.
Quantise it with llama.cpp's llama-quantize (run_llm_real.sh does).
"""
import os
import sys

import numpy as np

SHAPES = {
    "tinyllama": dict(arch="llama", dim=2048, n_layers=22, n_heads=32, n_kv=4, ffn=5632,
                      ctx=2048, rope_base=10000.0, vocab="ggml-vocab-llama-spm.gguf",
                      tied=False, qkv_bias=False, eps=1e-5),
    "qwen2": dict(arch="qwen2", dim=896, n_layers=24, n_heads=14, n_kv=2, ffn=4864,
                  ctx=2048, rope_base=1000000.0, vocab="ggml-vocab-gpt-2.gguf",
                  tied=True, qkv_bias=True, eps=1e-6),
}


def copy_tokenizer(gguf, writer, path, pre):
    """Copies every tokenizer.* key of the vocabulary file."""
    r = gguf.GGUFReader(path)
    n_vocab = 0
    for name, f in r.fields.items():
        if not name.startswith("tokenizer."):
            continue
        vt = gguf.GGUFValueType(f.types[0])
        if name == "tokenizer.ggml.pre" and pre:
            writer.add_key_value(name, pre, vt)
            continue
        if vt == gguf.GGUFValueType.ARRAY:
            sub = gguf.GGUFValueType(f.types[-1])
            val = f.contents()
            if name == "tokenizer.ggml.tokens":
                n_vocab = len(val)
            writer.add_key_value(name, val, vt, sub_type=sub)
        else:
            writer.add_key_value(name, f.contents(), vt)
    return n_vocab


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in SHAPES:
        sys.stderr.write(__doc__)
        return 2
    sys.path.insert(0, sys.argv[1])
    import gguf  # llama.cpp's gguf-py

    out_dir, shape = sys.argv[2], sys.argv[3]
    s = SHAPES[shape]
    here = os.path.dirname(os.path.abspath(__file__))
    vocab = os.path.join(here, "..", "..", "shared", "models", "vocab", s["vocab"])
    path = os.path.join(out_dir, f"{shape}-F16.gguf")
    w = gguf.GGUFWriter(path, s["arch"])
    a = s["arch"]
    n_vocab = copy_tokenizer(gguf, w, vocab, "qwen2" if a == "qwen2" else None)
    w.add_name(f"random {shape}")
    w.add_context_length(s["ctx"])
    w.add_embedding_length(s["dim"])
    w.add_block_count(s["n_layers"])
    w.add_feed_forward_length(s["ffn"])
    w.add_head_count(s["n_heads"])
    w.add_head_count_kv(s["n_kv"])
    w.add_rope_freq_base(s["rope_base"])
    w.add_layer_norm_rms_eps(s["eps"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

    dim, hd = s["dim"], s["dim"] // s["n_heads"]
    kv = hd * s["n_kv"]
    mats = [("token_embd.weight", (n_vocab, dim))]
    vecs = [("output_norm.weight", dim, 1.0)]
    if not s["tied"]:
        mats.append(("output.weight", (n_vocab, dim)))
    for l in range(s["n_layers"]):
        b = f"blk.{l}."
        vecs += [(b + "attn_norm.weight", dim, 1.0), (b + "ffn_norm.weight", dim, 1.0)]
        mats += [(b + "attn_q.weight", (dim, dim)), (b + "attn_k.weight", (kv, dim)),
                 (b + "attn_v.weight", (kv, dim)), (b + "attn_output.weight", (dim, dim)),
                 (b + "ffn_gate.weight", (s["ffn"], dim)), (b + "ffn_up.weight", (s["ffn"], dim)),
                 (b + "ffn_down.weight", (dim, s["ffn"]))]
        if s["qkv_bias"]:
            vecs += [(b + "attn_q.bias", dim, None), (b + "attn_k.bias", kv, None),
                     (b + "attn_v.bias", kv, None)]
    # shapes here are numpy's (rows, cols); GGUF's ne is the reverse
    for name, shp in mats:
        w.add_tensor_info(name, shp, np.dtype(np.float16), shp[0] * shp[1] * 2)
    for name, n, _ in vecs:
        w.add_tensor_info(name, (n,), np.dtype(np.float32), n * 4)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    rng = np.random.default_rng(20261207)
    for name, shp in mats:
        w.write_tensor_data(rng.normal(0.0, 0.02, size=shp).astype(np.float16))
    for name, n, val in vecs:
        v = np.full(n, val, np.float32) if val is not None else \
            rng.normal(0.0, 0.02, size=n).astype(np.float32)
        w.write_tensor_data(v)
    w.close()
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
