"""Shared fixtures: everything is built locally in the published formats; nothing touches the network."""

from __future__ import annotations

import os

# No test may reach a hub: the product's download paths must fail fast and clearly instead.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from pathlib import Path

import pytest

import builders
import rerank_builders

if not (builders.SHARED_DATA / "inquire" / "inquire_queries_test.csv").is_file():
    raise RuntimeError(
        f"The shared INQUIRE data was not found at {builders.SHARED_DATA}: the tests read real query lists "
        "and photos from ../shared/data beside the repository (or set INQUIRE_SHARED_DATA)."
    )

# Query rows chosen to carry the published quirks: a trailing space (validation row 5),
# empty iconic_group (test rows 12 and 18) and the group Combo (test row 16).
RERANK_SPLITS = {"validation": [0, 1, 2, 5], "test": [0, 1, 2, 3, 12, 16, 18]}


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Every cache inquire writes goes to a fresh folder for the test session."""
    os.environ["INQUIRE_CACHE_DIR"] = str(tmp_path_factory.mktemp("inquire-cache"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return builders.SHARED_DATA


@pytest.fixture(scope="session")
def queries_csv(shared_data):
    """Path of the official query list of a split ('val' or 'test')."""
    return lambda split: shared_data / "inquire" / f"inquire_queries_{'val' if split.startswith('val') else 'test'}.csv"


@pytest.fixture(scope="session")
def rerank_dir(tmp_path_factory) -> Path:
    """An INQUIRE-Rerank-layout folder (hub parquet format) with real query texts and photos."""
    return builders.build_rerank_dataset(tmp_path_factory.mktemp("rerank"), splits=RERANK_SPLITS)


@pytest.fixture(scope="session")
def open_clip_spec(tmp_path_factory) -> str:
    """A small randomly initialised open_clip ViT CLIP saved as a local-dir: folder."""
    return builders.build_open_clip_model(tmp_path_factory.mktemp("oc") / "model")


@pytest.fixture(scope="session")
def hf_clip_spec(tmp_path_factory) -> str:
    """A small randomly initialised transformers CLIPModel saved with save_pretrained."""
    return builders.build_hf_clip_model(tmp_path_factory.mktemp("hf") / "model")


@pytest.fixture(scope="session")
def paper_data(tmp_path_factory) -> Path:
    """An INQUIRE-Rerank-layout folder of 2 validation queries x 8 candidates, on which the tiny paper
    rerankers are calibrated (``rerank_builders.paper_model``)."""
    return rerank_builders.paper_rerank_dataset(tmp_path_factory.getbasetemp() / "paper-rerank")


@pytest.fixture(scope="session")
def paper_pairs(paper_data) -> list[tuple[str, str, bytes]]:
    """(query as the data spells it, inat24_image_id, image bytes) of every row of ``paper_data``."""
    return rerank_builders.rerank_pairs(paper_data)
