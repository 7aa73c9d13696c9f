"""`pip install ./python` works offline (Debian's pip and setuptools, no
build isolation) into a venv that sees Debian's numpy; the installed package
carries its own libspex.so and works from any directory."""
import importlib.util
import os
import shutil
import subprocess
import sys

import pytest
from conftest import BUILD, ROOT


def test_pip_install_offline(tmp_path):
    if not os.path.exists(os.path.join(BUILD, "libspex.so")):
        pytest.skip("no build/libspex.so")
    if not (importlib.util.find_spec("pip") and importlib.util.find_spec("setuptools")):
        pytest.skip("python3-pip / python3-setuptools not installed")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True)
    py = str(venv / "bin" / "python")
    src = tmp_path / "src"  # a copy, so the checkout gets no build/ or egg-info
    shutil.copytree(os.path.join(ROOT, "python"), src,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    env = dict(os.environ, SPEX_LIBRARY=os.path.join(BUILD, "libspex.so"),
               PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-build-isolation", str(src)],
                   check=True, env=env)
    env.pop("SPEX_LIBRARY")
    code = ("import spex; f = lambda m: 2.0*m[:,0] - m[:,1] + 3.0*(m[:,0] & m[:,2]); "
            "r = spex.explain(f, n=3, index='fsii', max_order=2); "
            "print(spex.library_path); print(r.top(1))")
    out = subprocess.run([py, "-c", code], check=True, capture_output=True, text=True,
                         cwd=tmp_path, env=env).stdout.splitlines()
    assert out[0].startswith(str(venv)) and out[0].endswith("spex/libspex.so")
    assert out[1] == "[((0, 2), 3.0)]"
