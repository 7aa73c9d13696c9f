#!/usr/bin/env python3
"""Copy a GGUF file (v2/v3) with metadata keys added or replaced, for tests
that need a model variant no shipped file has (RoPE scaling, another
pre-tokenizer). Standard library only. Values: KEY=s:TEXT (string),
KEY=f:NUMBER (float32), KEY=u:NUMBER (uint32); +NAME=f32:V1,V2,... appends
a one-dimensional F32 tensor, +NAME=rand:SEED:N:SCALE one of N values
uniform in [-SCALE, SCALE] from random.Random(SEED), +NAME=rand2:SEED:ROWS:
COLS:SCALE a matrix of ROWS rows; -NAME drops a tensor; @arch=NAME renames
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
    tinfos = []  # (name bytes, raw info bytes)
    for _ in range(n_tensors):
        start = off
        name, off = read_str(d, off)
        (nd,) = struct.unpack_from("<I", d, off)
        off += 4 + 8 * nd + 4 + 8
        tinfos.append((name, d[start:off]))
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
        if key.startswith("-"):  # drop a tensor (its bytes stay, unreferenced)
            tinfos = [t for t in tinfos if t[0] != key[1:].encode()]
            continue
        if key.startswith("+"):  # a new F32 tensor after the existing data
            kind, _, text = spec.partition(":")
            dims = None
            if kind in ("rand", "rand2"):
                f = text.split(":")
                seed, scale = int(f[0]), float(f[-1])
                dims = [int(x) for x in f[1:-1]]  # rand: N; rand2: ROWS:COLS
                count = 1
                for x in dims:
                    count *= x
                rng = random.Random(seed)
                vals = [rng.uniform(-scale, scale) for _ in range(count)]
            elif kind == "f32":
                vals = [float(x) for x in text.split(",")]
                dims = [len(vals)]
            else:
                raise SystemExit("tensor %r: f32:, rand: or rand2: expected" % arg)
            ne = dims[::-1]  # GGUF lists the fastest dimension first
            name = key[1:].encode()
            at = (len(data) + alignment - 1) // alignment * alignment
            data += b"\0" * (at - len(data)) + struct.pack("<%df" % len(vals), *vals)
            info = struct.pack("<Q", len(name)) + name + struct.pack("<I", len(ne))
            info += struct.pack("<%dQ" % len(ne), *ne) + struct.pack("<IQ", 0, at)
            tinfos.append((name, info))
            continue
        kb = key.encode()
        if kb not in new:
            order.append(kb)
        new[kb] = encode(spec)
    out = bytearray(struct.pack("<4sIQQ", b"GGUF", version, len(tinfos), len(order)))
    for k in order:
        out += struct.pack("<Q", len(k)) + k + new[k]
    # the data section rebuilt in tensor order, each tensor aligned, the
    # offsets rewritten (readers such as llama.cpp want them contiguous)
    blob = bytearray()
    infos = []
    for name, info in tinfos:
        (nd,) = struct.unpack_from("<I", info, 8 + len(name))
        ne = struct.unpack_from("<%dQ" % nd, info, 12 + len(name))
        ttype, toff = struct.unpack_from("<IQ", info, 12 + len(name) + 8 * nd)
        if ttype not in (0, 1):
            raise SystemExit("tensor %s: only F32 and F16 tensors can be copied" % name.decode())
        size = (4 if ttype == 0 else 2)
        for x in ne:
            size *= x
        blob += b"\0" * ((alignment - len(blob) % alignment) % alignment)
        at = len(blob)
        blob += data[toff : toff + size]
        infos.append(info[: len(info) - 8] + struct.pack("<Q", at))
    out += b"".join(infos)
    out += b"\0" * ((alignment - len(out) % alignment) % alignment)
    out += blob
    open(sys.argv[2], "wb").write(out)


if __name__ == "__main__":
    main()
