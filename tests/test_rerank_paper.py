"""The paper's rerankers by short name: each row asked and scored as the official INQUIRE code did.

The expected scores come from transformers' own ``generate(...).scores[0]`` with the official call's
arguments, pair by pair, converted as ``scores_to_pred`` does; the tiny models' answer rows are
calibrated (tests/rerank_builders.py) so that every case of that procedure occurs on the pairs.
"""

from __future__ import annotations

import hashlib
import json
import math

import builders
import fake_openai
import numpy as np
import pandas as pd
import pytest
import rerank_builders
import torch
from typer.testing import CliRunner

from inquire.cli import app
from inquire.errors import InquireError
from inquire.rerank import PAPER_RERANKERS, Pair, ScoreCache, create_scorer, is_reranker_spec

ROWS = list(rerank_builders.OFFICIAL_ROWS)


def test_rows_are_the_official_ones():
    assert list(PAPER_RERANKERS) == [*ROWS, "vila1.5-13b", "vila1.5-40b", "gpt-4o", "gpt-4-turbo"]
    for name, (prompt, yes, no) in rerank_builders.OFFICIAL_ROWS.items():
        row = PAPER_RERANKERS[name]
        assert (row.prompt, (row.yes.text, row.yes.index), (row.no.text, row.no.index)) == (prompt, yes, no), name
        assert row.supported and row.runner == "transformers"
    assert {n: PAPER_RERANKERS[n].source for n in ROWS} == {
        "blip2-flan-t5-xxl": "Salesforce/blip2-flan-t5-xxl", "instructblip-flan-t5-xxl": "Salesforce/instructblip-flan-t5-xxl",
        "paligemma-3b-mix-448": "google/paligemma-3b-mix-448", "llava-1.5-13b": "llava-hf/llava-1.5-13b-hf",
        "llava-v1.6-mistral-7b": "llava-hf/llava-v1.6-mistral-7b-hf", "llava-v1.6-34b": "llava-hf/llava-v1.6-34b-hf",
    }
    assert {n: PAPER_RERANKERS[n].dtype for n in ROWS} == {
        "blip2-flan-t5-xxl": "float32", "instructblip-flan-t5-xxl": "float32", "paligemma-3b-mix-448": "float16",
        "llava-1.5-13b": "float16", "llava-v1.6-mistral-7b": "float16", "llava-v1.6-34b": "float16"}
    gpt = 'Does this picture show exactly "{query}"?\nAnswer the question with either "Yes" or "No" and nothing else.'
    assert [(PAPER_RERANKERS[n].source, PAPER_RERANKERS[n].official_name, PAPER_RERANKERS[n].prompt)
            for n in ("gpt-4o", "gpt-4-turbo")] == [
        ("gpt-4o-2024-08-06", "openai-gpt4o20240806", gpt), ("gpt-4-turbo-2024-04-09", "openai-gpt4turbo20240409", gpt)]
    assert not PAPER_RERANKERS["vila1.5-40b"].supported
    assert is_reranker_spec("llava-1.5-13b") and is_reranker_spec("gpt-4o=some-model") and not is_reranker_spec("vit-b-32")


@pytest.mark.parametrize("row", ROWS)
def test_rerank_command_gives_the_official_procedures_scores(row, paper_data, paper_pairs, queries_csv, tmp_path_factory, tmp_path):
    folder = rerank_builders.paper_model(row, tmp_path_factory, paper_pairs)
    spec = f"{row}={folder}"
    result = CliRunner().invoke(app, [
        "rerank", "--model", spec, "--data", str(paper_data), "--queries", str(queries_csv("val")), "--split", "val",
        "--out", str(tmp_path / "run"), "--batch-size", "5", "--device", "cpu", "--score-cache", str(tmp_path / "s.sqlite"),
    ], terminal_width=200)
    assert result.exit_code == 0, result.output
    official = rerank_builders.official_procedure(folder, row, paper_pairs)
    ratio, p_yes, p_no = official.T
    cases = {"no_yes_scored_0": int(((p_yes == 0) & (p_no > 0)).sum()), "no_no_scored_1": int(((p_no == 0) & (p_yes > 0)).sum()),
             "neither_scored_0": int(((p_yes == 0) & (p_no == 0)).sum())}
    assert all(cases.values()) and np.isfinite(ratio).sum() > cases["no_yes_scored_0"] + cases["no_no_scored_1"], cases
    assert np.isnan(ratio).sum() == cases["neither_scored_0"]  # the official 0/0

    run = pd.read_parquet(tmp_path / "run" / "run.parquet")
    ours = dict(zip(zip(run["query"], run["inat24_image_id"].astype(str)), run["score"]))
    scores = np.array([ours[(q, i)] for q, i, _ in paper_pairs])
    np.testing.assert_allclose(scores, np.nan_to_num(ratio, nan=0.0), rtol=0, atol=1e-4)
    assert ((scores == 0) == (np.isnan(ratio) | (ratio == 0))).all() and ((scores == 1) == (ratio == 1)).all()
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["model"] == spec
    assert summary["reranker_stats"][spec] == {"protocol": "official", "dtype": "float32", "cases": cases}


def test_the_query_is_asked_as_the_data_spells_it(paper_pairs, tmp_path_factory):
    """The official code asked "... mange ?Answer": a normalised query would get other probabilities."""
    row = "llava-v1.6-mistral-7b"  # its tiny model reads the query enough for a space to matter
    folder = rerank_builders.paper_model(row, tmp_path_factory, paper_pairs)
    spaced = [p for p in paper_pairs if p[0].endswith(" ")]
    result = create_scorer(f"{row}={folder}", device="cpu", batch_size=4).score_pairs(
        [Pair(q, i, image) for q, i, image in spaced])
    ours = np.array([[a["yes"], a["no"]] for a in result.answers])
    asked_raw = rerank_builders.official_procedure(folder, row, spaced)[:, 1:]
    asked_trimmed = rerank_builders.official_procedure(folder, row, [(q.strip(), i, b) for q, i, b in spaced])[:, 1:]
    assert np.abs(asked_raw - asked_trimmed).max() > 1e-3  # the space matters to the model
    np.testing.assert_allclose(ours, asked_raw, rtol=1e-4, atol=1e-7)


def test_cached_scores_keep_their_cases_and_never_load_the_model(paper_pairs, tmp_path_factory, tmp_path):
    folder = rerank_builders.paper_model("llava-v1.6-34b", tmp_path_factory, paper_pairs)
    batch = [Pair(q, i, image) for q, i, image in paper_pairs]
    cache = ScoreCache(tmp_path / "s.sqlite")
    first = create_scorer(f"llava-v1.6-34b={folder}", device="cpu", cache=cache)
    scores = first.score_pairs(batch).scores
    again = create_scorer(f"llava-v1.6-34b={folder}", device="cpu", cache=ScoreCache(tmp_path / "s.sqlite"))
    np.testing.assert_array_equal(again.score_pairs(batch).scores, scores)
    assert "_loaded" not in again.__dict__ and again.report() == first.report()
    assert sum(again.report()["cases"].values()) >= 3
    ours = create_scorer(f"vlm:{folder}", device="cpu", cache=cache)
    assert ours.identity != first.identity and np.isnan(ours.cached([p.query for p in batch], [p.image_key for p in batch])).all()


def test_a_rows_protocol_refuses_other_families_and_other_prompts(paper_pairs, tmp_path_factory):
    folder = rerank_builders.paper_model("paligemma-3b-mix-448", tmp_path_factory, paper_pairs)
    with pytest.raises(InquireError, match="'paligemma' model; the llava-1.5-13b protocol is for LLaVA-1.5"):
        create_scorer(f"llava-1.5-13b={folder}")
    with pytest.raises(InquireError, match="--template does not apply"):
        create_scorer(f"paligemma-3b-mix-448={folder}", template="Is it {query}?")
    with pytest.raises(InquireError, match="VILA codebase"):
        create_scorer("vila1.5-13b")
    with pytest.raises(InquireError, match="no such folder"):
        create_scorer("llava-1.5-13b=./no/such/folder")


def test_paper_is_no_spec_prefix():
    """A paper reranker is named without a prefix: ``paper:NAME`` is an unknown model, said as such (no traceback)."""
    assert not is_reranker_spec("paper:llava-1.5-13b")
    with pytest.raises(InquireError, match="Unknown model 'paper:llava-1.5-13b'"):
        create_scorer("paper:llava-1.5-13b")


def test_half_precision_is_the_official_dtype_on_a_gpu_only(paper_pairs, tmp_path_factory):
    folder = rerank_builders.paper_model("paligemma-3b-mix-448", tmp_path_factory, paper_pairs)
    assert create_scorer(f"paligemma-3b-mix-448={folder}", device="cpu").dtype_name == "float32"
    assert create_scorer(f"paligemma-3b-mix-448={folder}", device="cpu", dtype="float16").identity.endswith("@float16")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (run by benchmarks/gpu_check.py)")
def test_on_cuda_a_row_runs_in_its_official_dtype_as_generate_does(paper_pairs, tmp_path_factory):
    """LLaVA in float16 (as the official code loaded it): batched scores against generate() in float16."""
    row = "llava-1.5-13b"
    folder = rerank_builders.paper_model(row, tmp_path_factory, paper_pairs)
    scorer = create_scorer(f"{row}={folder}", device="cuda", batch_size=5, cache=ScoreCache.memory())
    assert scorer.dtype == torch.float16
    scores = scorer.score_pairs([Pair(q, i, image) for q, i, image in paper_pairs]).scores
    official = rerank_builders.official_procedure(folder, row, paper_pairs, device="cuda", dtype=torch.float16)
    np.testing.assert_allclose(scores, np.nan_to_num(official[:, 0], nan=0.0), rtol=0, atol=0.02)
    assert ((scores == 0) == (np.nan_to_num(official[:, 0]) == 0)).all()  # the same pairs outside the top 50


def test_rerankers_command_lists_the_paper_rows():
    result = CliRunner().invoke(app, ["rerankers"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for name, row in PAPER_RERANKERS.items():
        assert name in result.output and row.source in result.output
    assert "not supported" in result.output and "gpt-4o-2024-08-06 (official: openai-gpt4o20240806)" in result.output
    assert "inquire's own protocol" in result.output
    # each row's protocol: the answer tokens in its row, the procedures of the local and the API rows below the table
    assert 'tokenizer(" Yes").input_ids[1]' in result.output and "VILA codebase" in result.output
    text = " ".join(result.output.split())
    assert "temperature=0.5" in text and "no 'No' → 1, HTTP 400 → 0" in text


GPT_PROMPT = rerank_builders.OFFICIAL_GPT_PROMPT


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    with fake_openai.serve() as (url, state):
        yield url, state


def served_cases(state, batch) -> dict[str, int]:
    """How many pairs were refused, or got a top list without an exact "Yes", without "No", without both."""
    cases = {}
    for p in batch:
        top = state.served.get((GPT_PROMPT.replace("{query}", p.query), hashlib.sha256(p.image).hexdigest()))
        tokens = set() if top is None else {t["token"] for t in top}
        case = ("http_400_scored_0" if top is None else "neither_scored_0" if not {"Yes", "No"} & tokens
                else "no_yes_scored_0" if "Yes" not in tokens else "no_no_scored_1" if "No" not in tokens else None)
        if case:
            cases[case] = cases.get(case, 0) + 1
    return dict(sorted(cases.items()))


def test_gpt_row_follows_the_official_conversion(fake, tmp_path):
    url, state = fake
    images = [p.read_bytes() for p in builders.sample_image_files()[:3]]
    queries = ["refused here", "mushrooms without an exact Yes", "mushrooms without any No", "a bird"]
    state.refuse.add("refused here")
    state.drop.update({"without an exact Yes": ("Yes",), "without any No": (" No", "No", "no")})
    batch = [Pair(q, f"{q}|{i}", image) for q in queries for i, image in enumerate(images)]
    scorer = create_scorer("gpt-4o", api_base=url, cache=tmp_path / "s.sqlite", concurrency=4)
    result = scorer.score_pairs(batch)
    assert result.errors == {}  # a refusal is the official 0, not a missing score
    expected = [rerank_builders.official_gpt(state, p.query, p.image) for p in batch]
    assert expected[:3] == [None] * 3 and expected[3:6] == [0.0] * 3 and expected[6:9] == [1.0] * 3
    np.testing.assert_array_equal(result.scores[:3], 0.0)
    np.testing.assert_allclose(result.scores[3:], expected[3:], rtol=0, atol=1e-12)
    ours = create_scorer("api:gpt-4o-2024-08-06", api_base=url, cache=tmp_path / "s.sqlite").score_pairs(batch[3:6])
    assert (ours.scores > 0).all()  # inquire's own protocol counts " Yes" and "yes": the official one does not
    report = scorer.report()
    assert report["cases"] == served_cases(state, batch) and report["cases"]["http_400_scored_0"] == 3
    assert report["protocol"] == "official" and report["requests"] == 12
    assert {body for body, _ in state.served} >= {GPT_PROMPT.replace("{query}", "a bird")}


def test_gpt_row_through_the_rerank_command(fake, paper_data, paper_pairs, queries_csv, tmp_path):
    url, state = fake
    spaced = next(q for q, _, _ in paper_pairs if q.endswith(" "))
    state.refuse.add(spaced)  # the official prompt keeps the query's trailing space: '"... mange "?'
    result = CliRunner().invoke(app, [
        "rerank", "--model", "gpt-4o", "--api-base", url, "--data", str(paper_data), "--queries", str(queries_csv("val")),
        "--split", "val", "--out", str(tmp_path / "run"), "--score-cache", str(tmp_path / "s.sqlite"),
    ], terminal_width=200)
    assert result.exit_code == 0, result.output
    run = pd.read_parquet(tmp_path / "run" / "run.parquet")
    scores = dict(zip(zip(run["query"], run["inat24_image_id"].astype(str)), run["score"]))
    for query, image_id, image in paper_pairs:
        expected = rerank_builders.official_gpt(state, query, image)
        assert scores[(query, image_id)] == pytest.approx(0.0 if expected is None else expected, abs=1e-12)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["model"] == "gpt-4o" and summary["n_scores_missing"] == 0
    assert summary["reranker_stats"]["gpt-4o"]["cases"]["http_400_scored_0"] == 8


def test_gpt_row_as_the_second_stage_of_fullrank(fake, tmp_path, open_clip_spec, queries_csv):
    """Fullrank's two-stage rows: the first stage's top --from-k rescored by a paper row (here GPT-4o)."""
    from PIL import Image
    from test_fullrank import build_fixture, write_annotations

    from inquire.data.queries import load_queries

    url, state = fake
    queries = load_queries(path=queries_csv("test")).iloc[[5, 16]]
    queries.to_csv(tmp_path / "queries.csv", index=False)
    fx = build_fixture(tmp_path, open_clip_spec, queries, n_random=30, shards=1, seed=3)
    write_annotations(tmp_path / "ann.csv", fx["annotations"])
    rng = np.random.default_rng(0)
    for path in fx["paths"]:
        (tmp_path / "photos" / path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (32, 40, 3), dtype=np.uint8)).save(tmp_path / "photos" / f"{path}.jpg")
    result = CliRunner().invoke(app, [
        "fullrank", "--model", open_clip_spec, "--embeddings", str(fx["folder"]), "--queries", str(tmp_path / "queries.csv"),
        "--annotations", str(tmp_path / "ann.csv"), "--device", "cpu", "--k", "4", "--from-k", "6", "--rerank", "gpt-4o",
        "--api-base", url, "--images", str(tmp_path / "photos"), "--score-cache", str(tmp_path / "s.sqlite"),
        "--out", str(tmp_path / "run"),
    ])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["model"].endswith(" >> gpt-4o") and summary["reranker_stats"]["gpt-4o"]["requests"] == 12
    run = pd.read_parquet(tmp_path / "run" / "run.parquet")
    for r in run.itertuples():
        image = (tmp_path / "photos" / f"{r.image_path}.jpg").read_bytes()
        assert r.score == pytest.approx(rerank_builders.official_gpt(state, r.query, image), abs=1e-12)


def test_official_gpt_conversion_from_a_top_list():
    from inquire.rerank.paper import PaperApiScorer

    scorer = PaperApiScorer(PAPER_RERANKERS["gpt-4o"], api_base="http://127.0.0.1:9/v1")
    assert scorer._interpret([(" Yes", -0.1), ("No", -2.0)]) == (0.0, {"No": math.exp(-2.0)})  # " Yes" is not "Yes"
    assert scorer._interpret([("Yes", -0.5), ("no", -1.0)]) == (1.0, {"Yes": math.exp(-0.5)})
    score, _ = scorer._interpret([("Yes", -0.5), ("No", -1.5), ("Yes", -3.0)])  # repeated tokens are summed
    p_yes = math.exp(-0.5) + math.exp(-3.0)
    assert score == pytest.approx(p_yes / (p_yes + math.exp(-1.5)), abs=1e-15)
    turbo = PaperApiScorer(PAPER_RERANKERS["gpt-4-turbo"], api_base="http://127.0.0.1:9/v1")
    assert turbo.estimated_cost(["a bird"]) > scorer.estimated_cost(["a bird"]) > 0  # dry runs price both rows
