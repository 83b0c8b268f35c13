"""api: rerankers against a fake OpenAI-compatible server on 127.0.0.1 that can be told to fail."""

from __future__ import annotations

import hashlib
import json
import math
import re
import time

import builders
import fake_openai
import numpy as np
import pandas as pd
import pytest
import rerank_builders
from typer.testing import CliRunner

from inquire.cli import app
from inquire.errors import InquireError
from inquire.rerank import Pair, ScoreCache, create_scorer
from inquire.rerank.api import retry_after

QUERIES = ["a bird", "a hermit crab using plastic trash as its shell", "mushrooms"]


@pytest.fixture(scope="module")
def server():
    with fake_openai.serve() as (url, state):
        yield url, state


@pytest.fixture
def fake(server, monkeypatch):
    """The server with a clean slate, and the key it expects in OPENAI_API_KEY."""
    url, state = server
    state.failures.clear()
    state.refuse.clear()
    state.requests, state.failed, state.retry_after = 0, [], "0"
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    return url, state


@pytest.fixture(scope="module")
def pairs():
    images = builders.sample_image_files()[:4]
    return [Pair(q, p.name, p) for q in QUERIES for p in images]


def served_score(state, pair: Pair) -> float:
    """The score implied by the logprobs the server sent for this pair, computed independently."""
    text = f"Does this picture show {pair.query}? Answer Yes or No."
    top = state.served[(text, hashlib.sha256(pair.image.read_bytes()).hexdigest())]
    p_yes = sum(math.exp(t["logprob"]) for t in top if t["token"].strip().lower() == "yes")
    p_no = sum(math.exp(t["logprob"]) for t in top if t["token"].strip().lower() == "no")
    return p_yes / (p_yes + p_no)


def scorer(url, cache, **options):
    options = {"concurrency": 4, "timeout": 0.5, "retry_base_delay": 0.01, **options}
    return create_scorer("api:gpt-4o", cache=cache, api_base=url, **options)


def test_transient_failures_are_retried_and_nothing_is_lost(fake, pairs, tmp_path):
    url, state = fake
    state.fail_next("429", "500", "timeout", "truncated", "429", "500")
    state.timeout_sleep = 2.0
    cache = ScoreCache(tmp_path / "scores.sqlite")
    s = scorer(url, cache)
    result = s.score_pairs(pairs)
    assert result.errors == {}
    np.testing.assert_allclose(result.scores, [served_score(state, p) for p in pairs], rtol=1e-12)
    assert state.requests == len(pairs) + 6
    assert s.report() == {"requests": len(pairs) + 6, "retries": {
        "HTTP 429 rate limited": 2, "HTTP 500 server error": 2, "timed out": 1, "malformed reply": 1}}
    assert len(cache) == len(pairs)

    again = scorer(url, ScoreCache(tmp_path / "scores.sqlite"))  # a second run: wholly from the cache
    np.testing.assert_array_equal(again.score_pairs(pairs).scores, result.scores)
    assert state.requests == len(pairs) + 6 and again.report()["requests"] == 0


def test_retry_after_is_honoured(fake, pairs, tmp_path):
    url, state = fake
    state.retry_after = "1"
    state.fail_next("429")
    start = time.perf_counter()
    result = scorer(url, ScoreCache.memory()).score_pairs(pairs[:1])
    assert time.perf_counter() - start >= 1.0 and not result.errors
    assert retry_after("2.5") == 2.5 and retry_after(None) is None and retry_after("soon") is None
    assert 0 <= retry_after("Wed, 21 Oct 2015 07:28:00 GMT") <= 0  # a date in the past: no wait


def test_exhausted_retries_leave_the_pair_missing_and_the_next_run_retries_only_it(fake, pairs, tmp_path):
    url, state = fake
    cache = ScoreCache(tmp_path / "scores.sqlite")
    state.fail_next("500", "500")
    result = scorer(url, cache, concurrency=1, max_retries=1).score_pairs(pairs[:3])
    assert np.isnan(result.scores[0]) and "HTTP 500" in result.errors[0] and "2 attempts" in result.errors[0]
    assert not np.isnan(result.scores[1:]).any() and len(cache) == 2  # the failure is not stored as 0
    before = state.requests
    second = scorer(url, cache).score_pairs(pairs[:3])
    assert state.requests == before + 1 and not second.errors
    np.testing.assert_array_equal(second.scores[1:], result.scores[1:])


def test_rejected_key_stops_the_run(fake, pairs, monkeypatch):
    url, _ = fake
    monkeypatch.setenv("OPENAI_API_KEY", "wrong")
    with pytest.raises(InquireError, match="rejected the API key"):
        scorer(url, ScoreCache.memory()).score_pairs(pairs)


def test_the_openai_api_needs_a_key_before_any_request(pairs, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(InquireError, match="OPENAI_API_KEY"):
        create_scorer("api:gpt-4o", cache=ScoreCache.memory()).score_pairs(pairs[:1])


@pytest.fixture(scope="module")
def small_rerank_dir(tmp_path_factory):
    return rerank_builders.small_rerank_dataset(tmp_path_factory.getbasetemp() / "small-rerank")


def rerank_cli(url, data, queries, out, cache, *extra):
    return CliRunner().invoke(app, [
        "rerank", "--model", "api:gpt-4o", "--api-base", url, "--data", str(data), "--queries", str(queries),
        "--split", "val", "--out", str(out), "--score-cache", str(cache), *extra,
    ], terminal_width=200)


def test_rerank_command_refuses_incomplete_scores_and_resumes(fake, small_rerank_dir, queries_csv, tmp_path):
    url, state = fake
    labels = pd.read_parquet(next((small_rerank_dir / "data").glob("validation-*.parquet")), columns=["query"])
    first_query = labels["query"].iat[0]
    state.refuse.add(first_query)
    cache = tmp_path / "scores.sqlite"

    dry = rerank_cli(url, small_rerank_dir, queries_csv("val"), tmp_path / "run", cache, "--dry-run")
    assert dry.exit_code == 0 and state.requests == 0, dry.output
    assert re.search(r"│\s+20 │\s+0 │\s+20 │\s+\$0\.01\d\d │", dry.output), dry.output  # ~$0.014 at gpt-4o prices

    refused = rerank_cli(url, small_rerank_dir, queries_csv("val"), tmp_path / "run", cache)
    assert refused.exit_code != 0 and isinstance(refused.exception, InquireError)
    assert "10 of 20 candidate scores are missing" in str(refused.exception)
    assert "HTTP 400" in str(refused.exception) and not (tmp_path / "run").exists()

    allowed = rerank_cli(url, small_rerank_dir, queries_csv("val"), tmp_path / "run", cache, "--allow-missing")
    assert allowed.exit_code == 0, allowed.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["n_scores_missing"] == 10 and summary["reranker_stats"]["api:gpt-4o"]["requests"] == 10
    run = pd.read_parquet(tmp_path / "run" / "run.parquet")
    assert np.isneginf(run.loc[run["query"] == first_query, "score"]).all()

    state.refuse.clear()
    requests = state.requests
    dry = rerank_cli(url, small_rerank_dir, queries_csv("val"), tmp_path / "run", cache, "--dry-run")
    assert re.search(r"│\s+20 │\s+10 │\s+10 │", dry.output) and state.requests == requests
    resumed = rerank_cli(url, small_rerank_dir, queries_csv("val"), tmp_path / "run", cache)
    assert resumed.exit_code == 0, resumed.output
    assert state.requests == requests + 10  # only the missing pairs were requested
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["n_scores_missing"] == 0 and summary["reranker"].startswith("api:gpt-4o@")
