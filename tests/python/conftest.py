"""pytest setup for the Python package: imports spex from python/ (or the
installed package when SPEX_TEST_INSTALLED=1) and names the shared paths."""
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if os.environ.get("SPEX_TEST_INSTALLED") != "1":
    sys.path.insert(0, os.path.join(ROOT, "python"))

import pytest  # noqa: E402

BUILD = os.environ.get("SPEX_BUILD_DIR", os.path.join(ROOT, "build"))
CLI = os.path.join(BUILD, "spex")
SHARED = os.path.join(ROOT, "..", "shared")
GAMES = os.path.join(SHARED, "games")
MODEL = os.path.join(SHARED, "models", "synth-interact-llama-F32.gguf")
DATA = os.path.join(SHARED, "data", "breast_cancer.csv")


def need(path):
    if not os.path.exists(path):
        pytest.skip(f"{path} is absent")
    return path
