"""Builds the spex wheel with its own copy of libspex.so (spex/libspex.so),
so the installed package needs no build tree. The library is taken from
SPEX_LIBRARY, else ../build/libspex.so; when neither exists and cmake is
available, ../build is configured and built first (`cmake --build build`).

Offline install with Debian's packages (python3-pip, python3-setuptools):
    python3 -m pip install --no-build-isolation --break-system-packages ./python
or, without touching the system Python, in a venv that sees Debian's numpy:
    python3 -m venv --system-site-packages .venv && .venv/bin/pip install --no-build-isolation ./python
"""
import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def find_library():
    env = os.environ.get("SPEX_LIBRARY")
    if env:
        return env
    lib = os.path.join(ROOT, "build", "libspex.so")
    if not os.path.exists(lib) and shutil.which("cmake") and os.path.exists(
            os.path.join(ROOT, "CMakeLists.txt")):
        build = os.path.join(ROOT, "build")
        subprocess.check_call(["cmake", "-S", ROOT, "-B", build,
                               "-DCMAKE_BUILD_TYPE=RelWithDebInfo"])
        subprocess.check_call(["cmake", "--build", build, "-j2", "--target", "spex_shared"])
    if not os.path.exists(lib):
        raise SystemExit("spex: no libspex.so: build it (cmake -S . -B build && cmake --build "
                         "build) or set SPEX_LIBRARY=/path/to/libspex.so")
    return lib


class BuildPyWithLib(build_py):
    def run(self):
        super().run()
        dest = os.path.join(self.build_lib, "spex", "libspex.so")
        shutil.copyfile(os.path.realpath(find_library()), dest)


setup(cmdclass={"build_py": BuildPyWithLib}, package_data={"spex": ["libspex.so"]},
      has_ext_modules=lambda: True)
