"""examples/python/explain_torch_mlp.py runs: it trains its PyTorch MLP and
explains one prediction with a faithful surrogate."""
import importlib.util
import os

import pytest
from conftest import DATA, ROOT, need

torch = pytest.importorskip("torch")


def test_torch_example(tmp_path, capsys):
    path = os.path.join(ROOT, "examples", "python", "explain_torch_mlp.py")
    spec = importlib.util.spec_from_file_location("explain_torch_mlp", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    html = tmp_path / "mlp.html"
    out = mod.main(["--data", need(DATA), "--budget", "2000", "--html", str(html)])
    assert out["accuracy"] > 0.9
    assert out["r2"] > 0.9, out["r2"]
    r = out["result"]
    assert r.n == 30 and r.queries <= 2000 and r.features[0] == "mean_radius"
    assert "faithfulness R²" in capsys.readouterr().out
    assert html.read_text().startswith("<!DOCTYPE html>")
