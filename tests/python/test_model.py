"""The lenses from Python equal the CLI on the shipped model and data:
Model.prompt = `spex explain --llm`, Model.heads = `--heads`, spex.Data =
`--data`; the prompt lens shares the CLI's cache fingerprint."""
import math
import re
import subprocess

import numpy as np
import pytest
from conftest import CLI, DATA, MODEL, need

import spex

PROMPT = dict(prefix="Review:", suffix="Sentiment:", target=" negative", contrast=" positive")
TEXT = "the food was not very good ."
LLM_ARGS = ["--prompt", TEXT, "--prefix", "Review:", "--suffix", "Sentiment:", "--target",
            " negative", "--contrast", " positive"]


@pytest.fixture(scope="module")
def model():
    return spex.Model(need(MODEL), threads=2)


def cli(tmp_path, *args, cache=None):
    out = tmp_path / "cli.json"
    cache_args = ["--cache", str(cache)] if cache else ["--no-cache"]
    subprocess.run([need(CLI), "explain", *args, "--out", str(out), "--quiet", *cache_args],
                   check=True, stdout=subprocess.DEVNULL)
    return spex.Result.load(out)


def test_info_score_generate(model):
    info = model.info
    assert info["arch"] == "llama" and info["n_layers"] == 4 and info["n_vocab"] > 0
    full = "Review: " + TEXT + " Sentiment:"
    neg, pos = model.score(full, " negative"), model.score(full, " positive")
    assert neg < 0 and pos < 0 and neg > pos
    lp, per_token, ids = model.score(full, " negative", tokens=True)
    assert lp == pytest.approx(sum(per_token)) and len(ids) == len(per_token) >= 1
    assert model.generate(full, 3).strip().startswith("negative")
    assert model.detokenize(model.tokenize("the food", add_bos=False),
                            strip_space_prefix=True) == "the food"


def test_prompt_lens_equals_cli_and_shares_its_cache(tmp_path, model):
    cache = tmp_path / "cache.sqlite"
    ref = cli(tmp_path, "--llm", MODEL, *LLM_ARGS, "--method", "exact", "--index", "fsii",
              "--max-order", "2", "--threads", "2", cache=cache)
    lens = model.prompt(TEXT, **PROMPT)
    assert lens.n == 7 and lens.feature_names == TEXT.split()
    r = spex.explain(lens, method="exact", index="fsii", max_order=2, threads=2, cache=cache)
    assert r.queries_cached == 128 and r.queries_new == 0  # the CLI's answers
    assert r.fourier == ref.fourier and r.interactions == ref.interactions
    assert r.features == ref.features
    r2 = spex.explain(lens, method="exact", index="fsii", max_order=2, threads=2)
    assert r2.queries_new == 128 and r2.fourier == ref.fourier
    # the surrogate is exact: at the full prompt it is the model's value
    full = "Review: " + TEXT + " Sentiment:"
    want = model.score(full, " negative") - model.score(full, " positive")
    assert r.predict(np.ones(7, bool)) == pytest.approx(want, abs=1e-9)
    assert lens.masked_text([1, 1, 1, 0, 1, 1, 1]) == "Review: the food was very good . " \
                                                      "Sentiment:"
    top = r.top(1, names=True)[0]
    assert top[0] == ("not", "good") and top[1] > 10
    assert "not × good" in lens.report(r)
    html = r.html()
    assert "Review:" in html and html.count('class="feat"') >= 7


def test_prompt_lens_spex_equals_cli(tmp_path, model):
    text = "the service was not bad but the food was not very good and the room was cold ."
    ref = cli(tmp_path, "--llm", MODEL, "--prompt", text, "--prefix", "Review:", "--suffix",
              "Sentiment:", "--target", " negative", "--method", "spex", "--budget", "600",
              "--max-order", "2", "--index", "fbii", "--threads", "2")
    lens = model.prompt(text, prefix="Review:", suffix="Sentiment:", target=" negative")
    r = spex.explain(lens, method="spex", budget=600, max_order=2, index="fbii", threads=2)
    assert r.fourier == ref.fourier and r.interactions == ref.interactions
    # repeated words told apart as the CLI does; the lens keeps the words
    assert r.features == ref.features
    assert lens.feature_names == text.split()
    assert r.features[:9] == ["the#1", "service", "was#1", "not#1", "bad", "but", "the#2", "food",
                              "was#2"] and r.features[-2:] == ["cold", "."]
    html = r.html()
    assert 'title="not#2 (x9):' in html and 'title="the#3 (x13):' in html
    assert re.findall(r'<span class="feat"[^>]*>([^<]*)</span>', html) == text.split()
    shown = lens.report(r).split("top interactions (fbii):\n")[1].splitlines()
    assert shown and all(f in r.features for ln in shown for f in
                         ln.strip().rsplit(":", 1)[0].split(" × ")), shown


def test_heads_lens_equals_cli(tmp_path, model):
    ref = cli(tmp_path, "--llm", MODEL, *LLM_ARGS, "--heads", "--layers", "2-3", "--method",
              "exact", "--index", "sv", "--max-order", "1", "--threads", "2")
    lens = model.heads(TEXT, layers="2-3", **PROMPT)
    assert lens.n == 8 and lens.feature_names[0] == "L2.H0"
    r = spex.explain(lens, method="exact", index="sv", max_order=1, threads=2)
    assert r.fourier == ref.fourier and r.interactions == ref.interactions
    assert r.features == ref.features


def test_data_lens_equals_cli(tmp_path):
    ref = cli(tmp_path, "--data", need(DATA), "--label", "target", "--row", "5", "--groups",
              "8", "--method", "exact", "--index", "sv", "--max-order", "1")
    lens = spex.Data(DATA, label="target", row=5, groups=8)
    r = spex.explain(lens, method="exact", index="sv", max_order=1)
    assert r.features == ref.features
    assert r.fourier == ref.fourier and r.interactions == ref.interactions
    assert math.isfinite(sum(r.interactions.values()))


def test_data_task_equals_cli_and_the_mean(tmp_path):
    src = open(need(DATA), encoding="utf-8").read().split("\n")
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text("\n".join(src[:41]) + "\n")
    test.write_text("\n".join([src[0]] + src[300:305]) + "\n")
    args = dict(label="target", test=test, groups=5, value="accuracy")
    ref = cli(tmp_path, "--data", str(train), "--label", "target", "--test", str(test),
              "--rows", "all", "--groups", "5", "--value", "accuracy", "--method", "exact")
    lens = spex.Data(train, rows="all", **args)
    r = spex.explain(lens, method="exact")
    assert r.features == ref.features and r.fourier == ref.fourier
    assert lens.rows == [0, 1, 2, 3, 4] and "rows=0-4" in lens.fingerprint
    # the task's values are the mean of the single rows' (and fractions of 5)
    masks = np.array([[m >> j & 1 for j in range(5)] for m in range(32)], bool)
    task = np.array([r.predict(m) for m in masks])
    singles = [spex.Data(train, row=k, **args) for k in range(5)]
    rows = [spex.explain(one, method="exact") for one in singles]
    mean = np.mean([[q.predict(m) for m in masks] for q in rows], axis=0)
    assert np.allclose(task, mean, atol=1e-9) and np.allclose(task * 5, np.round(task * 5))
    part = spex.Data(train, rows=[1, 3, 4], **args)
    assert part.rows == [1, 3, 4] and spex.Data(train, rows="1,3-4", **args).rows == part.rows
    keys = {part.fingerprint, lens.fingerprint, singles[0].fingerprint,
            spex.Data(train, rows=[0], **args).fingerprint}
    assert len(keys) == 4  # no task shares answers with a single row or another task
    with pytest.raises(ValueError, match="rows needs test"):
        spex.Data(train, label="target", rows="all")
    with pytest.raises(ValueError, match="one of row"):
        spex.Data(train, row=0, rows="all", **args)
    with pytest.raises(ValueError, match="outside the 5 data rows"):
        spex.Data(train, rows="0-5", **args)


def test_lens_errors(model):
    with pytest.raises(spex.Error, match="unit"):
        model.prompt(TEXT, unit="paragraph")
    with pytest.raises(ValueError, match="contrast"):
        model.prompt(TEXT, contrast=" positive")
    with pytest.raises(spex.Error):
        model.heads(TEXT, layers="7-9", **PROMPT)
    with pytest.raises(spex.Error, match="no-such"):
        spex.Model("/no-such/model.gguf")
