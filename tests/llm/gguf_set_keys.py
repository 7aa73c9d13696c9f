#!/usr/bin/env python3
"""Copy a GGUF file (v2/v3) with metadata keys added or replaced, for tests
that need a model variant no shipped file has (RoPE scaling, another
pre-tokenizer). Standard library only. Values: KEY=s:TEXT (string),
KEY=f:NUMBER (float32), KEY=u:NUMBER (uint32); +NAME=f32:V1,V2,... appends
a one-dimensional F32 tensor, +NAME=rand:SEED:N:SCALE one of N values
uniform in [-SCALE, SCALE] from random.Random(SEED); @arch=NAME renames
every "<old arch>.*" key to "NAME.*" and sets general.architecture.

    python3 tests/llm/gguf_set_keys.py IN.gguf OUT.gguf KEY=TYPE:VALUE ... [+NAME=f32:...]
"""
import random
import struct
import sys

# byte sizes of the scalar value types (GGUF type ids)
SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def read_str(d, off):
    (n,) = struct.unpack_from("<Q", d, off)
    return d[off + 8 : off + 8 + n], off + 8 + n


def skip_value(d, off, t):
    """Offset just past a value of type t starting at off."""
    if t == 8:
        return read_str(d, off)[1]
    if t == 9:
        at, n = struct.unpack_from("<IQ", d, off)
        off += 12
        for _ in range(n):
            off = skip_value(d, off, at)
        return off
    return off + SIZES[t]


def encode(spec):
    kind, _, text = spec.partition(":")
    if kind == "s":
        b = text.encode()
        return struct.pack("<I", 8) + struct.pack("<Q", len(b)) + b
    if kind == "f":
        return struct.pack("<If", 6, float(text))
    if kind == "u":
        return struct.pack("<II", 4, int(text))
    raise SystemExit("value %r: expected s:, f: or u:" % spec)


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    d = open(sys.argv[1], "rb").read()
    magic, version = struct.unpack_from("<4sI", d, 0)
    if magic != b"GGUF" or version not in (2, 3):
        raise SystemExit("%s: not a GGUF v2/v3 file" % sys.argv[1])
    n_tensors, n_kv = struct.unpack_from("<QQ", d, 8)
    off = 24
    kvs = []  # (key bytes, raw encoded type+value)
    alignment = 32
    for _ in range(n_kv):
        key, off = read_str(d, off)
        (t,) = struct.unpack_from("<I", d, off)
        end = skip_value(d, off + 4, t)
        if key == b"general.alignment":
            (alignment,) = struct.unpack_from("<I", d, off + 4)
        kvs.append((key, d[off:end]))
        off = end
    tinfo_start = off
    for _ in range(n_tensors):
        off = read_str(d, off)[1]
        (nd,) = struct.unpack_from("<I", d, off)
        off += 4 + 8 * nd + 4 + 8
    tinfos = d[tinfo_start:off]
    data_start = (off + alignment - 1) // alignment * alignment
    new = dict(kvs)
    order = [k for k, _ in kvs]
    data = d[data_start:]
    for arg in sys.argv[3:]:
        key, _, spec = arg.partition("=")
        if key == "@arch":
            old = new[b"general.architecture"][12:].decode() + "."
            for i, k in enumerate(order):
                if k.startswith(old.encode()):
                    nk = (spec + ".").encode() + k[len(old) :]
                    new[nk] = new.pop(k)
                    order[i] = nk
            new[b"general.architecture"] = encode("s:" + spec)
            continue
        if key.startswith("+"):  # a new F32 vector after the existing data
            kind, _, text = spec.partition(":")
            if kind == "rand":
                seed, n, scale = text.split(":")
                rng = random.Random(int(seed))
                vals = [rng.uniform(-float(scale), float(scale)) for _ in range(int(n))]
            elif kind == "f32":
                vals = [float(x) for x in text.split(",")]
            else:
                raise SystemExit("tensor %r: f32: or rand: expected" % arg)
            name = key[1:].encode()
            at = (len(data) + alignment - 1) // alignment * alignment
            data += b"\0" * (at - len(data)) + struct.pack("<%df" % len(vals), *vals)
            tinfos += struct.pack("<Q", len(name)) + name
            tinfos += struct.pack("<IQIQ", 1, len(vals), 0, at)
            n_tensors += 1
            continue
        kb = key.encode()
        if kb not in new:
            order.append(kb)
        new[kb] = encode(spec)
    out = bytearray(struct.pack("<4sIQQ", b"GGUF", version, n_tensors, len(order)))
    for k in order:
        out += struct.pack("<Q", len(k)) + k + new[k]
    out += tinfos
    out += b"\0" * ((alignment - len(out) % alignment) % alignment)
    out += data
    open(sys.argv[2], "wb").write(out)


if __name__ == "__main__":
    main()
