"""clip: rerankers and fusion: the same scores as the embedding path, and fusion equal to its definition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rerank_builders

from inquire.errors import InquireError
from inquire.rerank import create_scorer, is_reranker_spec
from inquire.rerank.fusion import (
    minmax_per_group,
    ranks_per_group,
    reciprocal_rank_fusion,
    weighted_fusion,
)
from inquire.tasks.rerank import run_rerank


@pytest.fixture(scope="module")
def small_rerank_dir(tmp_path_factory):
    return rerank_builders.small_rerank_dataset(tmp_path_factory.getbasetemp() / "small-rerank")


def brute_ranks(scores, groups):
    """Rank within each group, highest first, ties by original order; NaN scores get NaN."""
    out = np.full(len(scores), np.nan)
    for g in set(groups):
        idx = [i for i in range(len(scores)) if groups[i] == g and not np.isnan(scores[i])]
        for r, i in enumerate(sorted(idx, key=lambda i: (-scores[i], i)), start=1):
            out[i] = r
    return out


def brute_minmax(scores, groups):
    out = np.full(len(scores), np.nan)
    for g in set(groups):
        vals = [scores[i] for i in range(len(scores)) if groups[i] == g and not np.isnan(scores[i])]
        for i in range(len(scores)):
            if groups[i] == g and not np.isnan(scores[i]):
                out[i] = 0.5 if max(vals) == min(vals) else (scores[i] - min(vals)) / (max(vals) - min(vals))
    return out


def test_fusion_functions_equal_their_definitions():
    rng = np.random.default_rng(0)
    groups = rng.choice(np.array(["q1", "q2", "q3", "flat"], dtype=object), size=300)
    a = rng.integers(0, 6, size=300).astype(float)  # many ties
    b = rng.random(300)
    a[rng.random(300) < 0.05] = np.nan
    a[groups == "flat"] = 0.7  # a query where one scorer sees no difference
    np.testing.assert_array_equal(ranks_per_group(a, groups), brute_ranks(a, groups))
    np.testing.assert_allclose(minmax_per_group(a, groups), brute_minmax(a, groups), equal_nan=True)
    np.testing.assert_allclose(
        weighted_fusion(a, b, groups, 0.3), 0.3 * brute_minmax(a, groups) + 0.7 * brute_minmax(b, groups), equal_nan=True)
    np.testing.assert_allclose(
        reciprocal_rank_fusion(a, b, groups),
        1 / (60 + brute_ranks(a, groups)) + 1 / (60 + brute_ranks(b, groups)), equal_nan=True)


def test_spec_forms_and_option_checks(open_clip_spec, tmp_path):
    assert is_reranker_spec("vlm:x") and is_reranker_spec("api:gpt-4o") and is_reranker_spec("clip:vit-b-32")
    assert not is_reranker_spec(open_clip_spec) and not is_reranker_spec("vit-b-32")
    assert create_scorer(open_clip_spec, cache=tmp_path / "s.sqlite").spec == f"clip:{open_clip_spec}"
    with pytest.raises(InquireError, match="do not apply"):
        create_scorer(open_clip_spec, cache=tmp_path / "s.sqlite", concurency=4)
    with pytest.raises(InquireError, match="names no model"):
        create_scorer("vlm:", cache=tmp_path / "s.sqlite")
    with pytest.raises(InquireError, match="fusion method"):
        create_scorer(open_clip_spec, fuse=open_clip_spec, fuse_method="max", cache=tmp_path / "s.sqlite")
    with pytest.raises(InquireError, match="Unknown model"):
        create_scorer("clip:vit-b-23", cache=tmp_path / "s.sqlite")


def test_clip_scorer_ranks_like_the_embedding_path(open_clip_spec, small_rerank_dir, queries_csv, tmp_path):
    common = {"data_dir": small_rerank_dir, "queries_path": queries_csv("val"), "workers": 0}
    plain = run_rerank(open_clip_spec, "val", out_dir=tmp_path / "plain", **common)
    scored = run_rerank(f"clip:{open_clip_spec}", "val", out_dir=tmp_path / "clip",
                        score_cache=tmp_path / "s.sqlite", **common)
    np.testing.assert_allclose(scored.run["score"], plain.run["score"], rtol=0, atol=1e-6)
    assert (scored.run["rank"] == plain.run["rank"]).all() and scored.summary["map"] == pytest.approx(plain.summary["map"])


def test_fused_run_equals_rrf_of_the_two_runs(open_clip_spec, hf_clip_spec, small_rerank_dir, queries_csv, tmp_path):
    common = {"data_dir": small_rerank_dir, "queries_path": queries_csv("val"), "workers": 0,
              "score_cache": tmp_path / "s.sqlite"}
    a = run_rerank(f"clip:{open_clip_spec}", "val", out_dir=tmp_path / "a", **common).run
    b = run_rerank(f"clip:{hf_clip_spec}", "val", out_dir=tmp_path / "b", **common).run
    fused = run_rerank(f"clip:{open_clip_spec}", "val", out_dir=tmp_path / "f", fuse=hf_clip_spec,
                       fuse_method="rrf", **common)
    q = a["query"].to_numpy()
    expected = 1 / (60 + brute_ranks(a["score"].to_numpy(), q)) + 1 / (60 + brute_ranks(b["score"].to_numpy(), q))
    np.testing.assert_allclose(fused.run["score"], expected, rtol=1e-12)
    assert fused.summary["model"].startswith("fuse:rrf(k=60)[clip:")
    weighted = run_rerank(f"clip:{open_clip_spec}", "val", out_dir=tmp_path / "w", fuse=hf_clip_spec,
                          fuse_weight=0.25, **common).run
    expected = 0.25 * brute_minmax(a["score"].to_numpy(), q) + 0.75 * brute_minmax(b["score"].to_numpy(), q)
    np.testing.assert_allclose(weighted["score"], expected, rtol=1e-12)
    assert isinstance(weighted, pd.DataFrame)
