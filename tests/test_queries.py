"""The official query lists load as published and join to Rerank texts despite stray spaces."""

from __future__ import annotations

import pandas as pd
import pytest

from inquire.data.queries import attach_query_ids, canonical_split, load_queries, normalize_text
from inquire.errors import InquireError


def test_normalize_text_strips_and_collapses_space():
    assert normalize_text("  Dried  Cape Weaver\tnest ") == "Dried Cape Weaver nest"


def test_load_official_list_keeps_published_columns(queries_csv):
    df = load_queries(path=queries_csv("test"))
    assert list(df.columns) == ["query_id", "query_text", "supercategory", "category", "iconic_group"]
    assert len(df) == 200
    assert set(df["supercategory"]) == {"Appearance", "Behavior", "Context", "Species"}
    assert not df["query_text"].str.endswith(" ").any()


def test_texts_with_stray_spaces_join_to_their_ids(queries_csv):
    raw = pd.read_csv(queries_csv("val"))
    trailing = raw[raw["query_text"].str.endswith(" ")].iloc[0]
    queries = load_queries(path=queries_csv("val"))
    joined = attach_query_ids(pd.Series([trailing["query_text"], " " + trailing["query_text"].strip()]), queries, source="x")
    assert joined["query_id"].tolist() == [trailing["query_id"]] * 2


def test_unknown_query_text_is_named(queries_csv):
    queries = load_queries(path=queries_csv("val"))
    with pytest.raises(InquireError, match="a purple unicorn"):
        attach_query_ids(pd.Series(["a purple unicorn"]), queries, source="run.csv")


def test_query_file_without_published_columns_is_refused(tmp_path):
    bad = tmp_path / "q.csv"
    bad.write_text("id,text\n1,a fox\n")
    with pytest.raises(InquireError, match="lacks column"):
        load_queries(path=bad)


def test_split_aliases():
    assert canonical_split("validation") == canonical_split("val") == "val"
    with pytest.raises(InquireError, match="Unknown split"):
        canonical_split("train")
