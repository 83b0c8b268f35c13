"""The official query lists load as published and join to Rerank texts despite stray spaces."""

from __future__ import annotations

import pandas as pd
import pytest

from inquire.data.queries import OFFICIAL_DIR, attach_query_ids, canonical_split, load_queries, normalize_text, queries_file
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


@pytest.mark.parametrize("split", ["val", "test"])
def test_packaged_lists_are_the_published_ones_byte_for_byte(split, queries_csv):
    packaged = queries_file(split)
    assert packaged.parent == OFFICIAL_DIR
    assert packaged.read_bytes() == queries_csv(split).read_bytes()


def test_no_path_means_the_packaged_list_with_no_network():
    val, test = load_queries("validation"), load_queries("test")
    assert (len(val), len(test)) == (50, 200)
    assert not set(val["query_id"]) & set(test["query_id"])


def test_a_given_query_file_replaces_the_packaged_list(tmp_path):
    custom = tmp_path / "mine.csv"
    custom.write_text("query_id,query_text,supercategory,category,iconic_group\n900,a fox at dusk,Context,Light,Mammals\n")
    assert queries_file("test", custom) == custom
    assert load_queries("test", custom)["query_text"].tolist() == ["a fox at dusk"]
