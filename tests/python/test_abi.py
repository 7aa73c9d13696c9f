"""The structs bound in spex/_lib.py have the C layout: sizeof and every
offsetof from a helper compiled against include/spex (the public headers)."""
import ctypes
import os
import shutil
import subprocess

import pytest
from conftest import BUILD, ROOT

from spex import _lib as L


def test_struct_layouts(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler")
    lines = ["#include <stddef.h>", "#include <stdio.h>", "#include \"spex/spex.h\"",
             "int main(void) {"]
    for cname, st in L.STRUCTS.items():
        lines.append(f'printf("{cname} size %zu\\n", sizeof({cname}));')
        for field, _ in st._fields_:
            lines.append(f'printf("{cname} {field} %zu\\n", offsetof({cname}, {field}));')
    lines.append("return 0; }")
    src = tmp_path / "abi.c"
    src.write_text("\n".join(lines))
    exe = tmp_path / "abi"
    subprocess.run([cc, "-std=c11", "-I", os.path.join(ROOT, "include"), "-I",
                    os.path.join(BUILD, "include"), str(src), "-o", str(exe)], check=True)
    got = {}
    for line in subprocess.run([str(exe)], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        cname, key, value = line.split()
        got[(cname, key)] = int(value)
    for cname, st in L.STRUCTS.items():
        assert got[(cname, "size")] == ctypes.sizeof(st), f"sizeof({cname})"
        for field, _ in st._fields_:
            assert got[(cname, field)] == getattr(st, field).offset, f"{cname}.{field}"


def test_defaults_read_back():
    eo = L.explain_opts_default()
    assert (eo.method, eo.max_order, eo.index, eo.seed, eo.batch_size) == (5, 2, 0, 1, 256)
    assert eo.degree == 0  # automatic
    assert L.method_name(5) == b"auto"
    assert not eo.store
