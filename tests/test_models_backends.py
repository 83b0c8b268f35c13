"""Same weights, same numbers, whichever backend (issue 10).

One random open_clip ViT CLIP is saved as an open_clip folder and converted tensor by tensor to a
transformers ``CLIPModel`` folder (tests/builders.py). Texts must embed identically. Images differ
only by the two preprocessing stacks: both resize the short side to 224 with PIL's bicubic filter,
but they place the centre crop differently when the margin left by the resize is odd:
transformers rounds the offset down, torchvision (open_clip) rounds half to even, so a margin of
4k + 3 pixels gives crops one pixel apart. Measured on the 27 sample photos (tiny random model):
5 photos differ, max abs difference 0.014, smallest cosine 0.99936. On the Rerank fixture at most
0.061% of a query's candidate pairs swap order (0.04% over the validation split), moving mAP@50
by 0.00019 and nDCG@50 by 0.00016 (MRR equal; on the test split all three are equal). The bounds
below leave room over those figures.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import builders
from inquire.models import create_embedder
from inquire.tasks.rerank import run_rerank

MAX_IMAGE_DIFF = 0.03  # measured 0.014
MIN_COSINE = 0.999  # measured 0.99936
MAX_SWAPPED_PAIRS = 0.002  # per query; measured at most 0.00061
MAX_METRIC_DIFF = 0.002  # mAP@50, nDCG@50, MRR as fractions; measured at most 0.00019


@pytest.fixture(scope="module")
def specs(open_clip_spec, tmp_path_factory):
    hf = builders.convert_open_clip_to_hf_clip(
        builders.spec_dir(open_clip_spec), tmp_path_factory.mktemp("converted") / "hf"
    )
    return open_clip_spec, hf


@pytest.fixture(scope="module")
def embedders(specs):
    return tuple(create_embedder(spec, "cpu") for spec in specs)


def test_text_embeddings_are_equal(embedders):
    open_clip_embedder, hf_embedder = embedders
    texts = [row["query_text"] for split in ("validation", "test") for row in builders.read_queries(split)]
    texts.append(builders.LONG_QUERY)
    np.testing.assert_allclose(open_clip_embedder.encode_texts(texts), hf_embedder.encode_texts(texts), atol=1e-5)


def _crops_disagree(size: tuple[int, int], target: int = 224) -> bool:
    """Whether the two centre crops start at different offsets: margin // 2 against round(margin / 2)."""
    short, long = min(size), max(size)
    margin = int(target * long / short) - target
    return margin // 2 != round(margin / 2)


def test_image_embeddings_differ_only_by_the_centre_crop_rounding(embedders):
    open_clip_embedder, hf_embedder = embedders
    photos = [Image.open(path) for path in builders.sample_image_files()]
    a = torch.stack([open_clip_embedder.image_transform(photo) for photo in photos])
    b = torch.stack([hf_embedder.image_transform(photo) for photo in photos])
    same_pixels = [bool(torch.equal(x, y)) for x, y in zip(a, b)]
    assert same_pixels == [not _crops_disagree(photo.size) for photo in photos]
    assert same_pixels.count(False) == 5
    np.testing.assert_allclose(open_clip_embedder.encode_images(a), hf_embedder.encode_images(a), atol=1e-5)
    ea, eb = open_clip_embedder.encode_images(a), hf_embedder.encode_images(b)
    assert np.abs(ea - eb).max() <= MAX_IMAGE_DIFF
    assert (ea * eb).sum(axis=1).min() >= MIN_COSINE


def test_rerank_orderings_agree(specs, rerank_dir, tmp_path):
    results = [
        run_rerank(spec, "validation", data_dir=rerank_dir, out_dir=tmp_path / str(i), k=50) for i, spec in enumerate(specs)
    ]
    runs = [result.run for result in results]
    both = runs[0].merge(runs[1], on=["query", "inat24_image_id"], suffixes=("_oc", "_hf"))
    assert len(both) == len(runs[0]) == len(runs[1])
    shares = []
    for _, rows in both.groupby("query"):
        swapped, pairs = builders.swapped_pairs(rows["score_oc"].to_numpy(), rows["score_hf"].to_numpy())
        shares.append(swapped / pairs)
    assert max(shares) <= MAX_SWAPPED_PAIRS
    for metric in ("map", "ndcg", "mrr"):
        assert abs(results[0].summary[metric] - results[1].summary[metric]) <= MAX_METRIC_DIFF, metric
