"""The fixture builders produce artifacts that load the way the product loads them."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from PIL import Image

import builders


SPLITS = {"validation": 3, "test": 5}
N_CAND = 20


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def open_clip_dir(open_clip_spec):
    return builders.spec_dir(open_clip_spec), open_clip_spec


@pytest.fixture(scope="module")
def hf_dir(hf_clip_spec):
    return builders.spec_dir(hf_clip_spec), hf_clip_spec


@pytest.fixture(scope="module")
def rerank_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("rr") / "rerank"
    out = builders.build_rerank_dataset(root, splits=SPLITS, n_candidates=N_CAND)
    assert out == root.resolve()
    return out


# ----------------------------------------------------------------------------- open_clip


def test_open_clip_local_dir_loads(open_clip_dir):
    import open_clip
    from open_clip.model import CLIP
    from open_clip.transformer import VisionTransformer

    d, spec = open_clip_dir
    assert spec == f"open_clip:local-dir:{d.resolve()}"
    assert {p.name for p in d.iterdir()} == {"open_clip_config.json", "open_clip_model.safetensors"}
    assert sum(p.stat().st_size for p in d.iterdir()) < 20e6

    name = spec.removeprefix("open_clip:")
    model, _, preprocess = open_clip.create_model_and_transforms(name)
    tokenizer = open_clip.get_tokenizer(name)
    assert type(model) is CLIP and isinstance(model.visual, VisionTransformer)
    assert model.visual.patch_size == (32, 32) and model.visual.image_size == (224, 224)
    assert tokenizer.context_length == 77 and tokenizer.vocab_size == 49408

    # weights come from the file (strict load), not a fresh random init
    from safetensors.torch import load_file

    saved = load_file(str(d / "open_clip_model.safetensors"))
    assert torch.equal(model.visual.conv1.weight, saved["visual.conv1.weight"])

    model.eval()
    img = preprocess(Image.open(builders.SAMPLE_IMAGES / "tamandua_1.jpeg")).unsqueeze(0)
    assert img.shape == (1, 3, 224, 224)
    tokens = tokenizer(["a sick cassava plant", "Everted osmeterium"])
    assert tokens.shape == (2, 77)
    with torch.no_grad():
        im_f = model.encode_image(img)
        tx_f = model.encode_text(tokens)
    assert im_f.shape == (1, 32) and tx_f.shape == (2, 32)
    assert torch.isfinite(im_f).all() and torch.isfinite(tx_f).all()


def test_open_clip_builder_is_deterministic(tmp_path, open_clip_dir):
    d, _ = open_clip_dir
    builders.build_open_clip_model(tmp_path / "a")
    builders.build_open_clip_model(tmp_path / "b", seed=1)
    ref = d / "open_clip_model.safetensors"
    assert _md5(tmp_path / "a" / "open_clip_model.safetensors") == _md5(ref)
    assert _md5(tmp_path / "b" / "open_clip_model.safetensors") != _md5(ref)


def test_open_clip_builder_leaves_global_rng_alone(tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    builders.build_open_clip_model(tmp_path / "m")
    assert torch.equal(torch.rand(3), expected)


# ----------------------------------------------------------------------------- HF CLIP


def test_hf_clip_loads_and_runs(hf_dir):
    from transformers import AutoModel, AutoProcessor, AutoTokenizer, CLIPModel

    d, spec = hf_dir
    assert spec == f"hf_clip:{d.resolve()}"
    for f in ("config.json", "model.safetensors", "vocab.json", "merges.txt", "tokenizer.json"):
        assert (d / f).is_file(), f

    model = AutoModel.from_pretrained(d)
    processor = AutoProcessor.from_pretrained(d)
    assert isinstance(model, CLIPModel)
    assert model.config.text_config.vocab_size == 49408
    assert len(processor.tokenizer) == 49408
    assert type(AutoTokenizer.from_pretrained(d)).__name__.startswith("CLIPTokenizer")

    ids = processor.tokenizer("a sick cassava plant")["input_ids"]
    # same ids as OpenAI CLIP / open_clip's SimpleTokenizer
    assert ids == [49406, 320, 5359, 1671, 40198, 3912, 49407]

    text = processor(
        text=["a sick cassava plant", "Everted osmeterium"],
        padding="max_length", max_length=77, truncation=True, return_tensors="pt",
    )
    images = [
        Image.open(builders.SAMPLE_IMAGES / "tamandua_1.jpeg"),  # grayscale JPEG
        Image.open(builders.SAMPLE_IMAGES / "hermit_1.png"),
    ]
    pix = processor(images=images, return_tensors="pt")["pixel_values"]
    assert pix.shape == (2, 3, 224, 224)
    model.eval()
    with torch.no_grad():
        t = model.get_text_features(**text)
        i = model.get_image_features(pixel_values=pix)
    # transformers 5 returns a ModelOutput (features in .pooler_output); 4.x a tensor
    t = t if torch.is_tensor(t) else t.pooler_output
    i = i if torch.is_tensor(i) else i.pooler_output
    assert t.shape == (2, 32) and i.shape == (2, 32)


def test_hf_tokenizer_matches_open_clip():
    import open_clip

    vocab, merges = builders.clip_bpe_vocab_and_merges()
    assert len(vocab) == 49408 and len(merges) == 48894
    assert vocab["<|startoftext|>"] == 49406 and vocab["<|endoftext|>"] == 49407
    simple = open_clip.tokenizer.SimpleTokenizer()
    assert all(simple.encoder[k] == v for k, v in vocab.items() if not k.startswith("<|"))


def test_hf_builder_is_deterministic(tmp_path, hf_dir):
    d, _ = hf_dir
    builders.build_hf_clip_model(tmp_path / "a")
    assert _md5(tmp_path / "a" / "model.safetensors") == _md5(d / "model.safetensors")


# ----------------------------------------------------------------------------- Rerank data


def test_rerank_parquet_schema(rerank_root):
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = sorted(p.name for p in (rerank_root / "data").iterdir())
    assert files == ["test-00000-of-00001.parquet", "validation-00000-of-00001.parquet"]
    schema = pq.read_schema(rerank_root / "data" / "test-00000-of-00001.parquet")
    assert tuple(schema.names) == builders.RERANK_COLUMNS and len(schema.names) == 17
    assert schema.field("image").type == pa.struct(
        [pa.field("bytes", pa.binary()), pa.field("path", pa.string())]
    )
    expected = {
        "query": pa.string(), "relevant": pa.int64(), "clip_score": pa.float64(),
        "inat24_image_id": pa.int64(), "inat24_species_id": pa.int64(),
        "latitude": pa.float64(), "location_uncertainty": pa.float64(), "date": pa.string(),
    }
    for name, typ in expected.items():
        assert schema.field(name).type == typ, name
    assert b"huggingface" in schema.metadata


def test_rerank_content(rerank_root):
    import pyarrow.parquet as pq

    seen_ids: dict[int, bytes] = {}
    for split, n_q in SPLITS.items():
        df = pq.read_table(rerank_root / "data" / f"{split}-00000-of-00001.parquet").to_pandas()
        assert len(df) == n_q * N_CAND
        queries = builders.read_queries(split)[:n_q]
        # grouped, in CSV order, verbatim text
        starts = df["query"].ne(df["query"].shift()).cumsum()
        assert starts.max() == n_q
        assert list(dict.fromkeys(df["query"])) == [q["query_text"] for q in queries]
        for q in queries:
            g = df[df["query"] == q["query_text"]]
            assert len(g) == N_CAND
            assert g["clip_score"].is_monotonic_decreasing
            assert 1 <= g["relevant"].sum() <= N_CAND - 1
            assert set(g["relevant"]) <= {0, 1}
            assert g["inat24_image_id"].is_unique
            assert (g["supercategory"] == q["supercategory"]).all()
            assert (g["category"] == q["category"]).all()
        # the same photo can be a candidate for two queries
        per_image = df.groupby("inat24_image_id")["query"].nunique()
        assert (per_image >= 2).any()
        # one id <-> one image (and its metadata)
        for iid, img, fname in zip(df["inat24_image_id"], df["image"], df["inat24_file_name"]):
            key = (img["bytes"], fname)
            assert seen_ids.setdefault(iid, key) == key
            assert fname.startswith("train/") and fname.endswith(".jpg")
        assert df["date"].str.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00$").all()
    # distinct images have distinct ids
    assert len({v for v in seen_ids.values()}) == len(seen_ids)


def test_rerank_loads_with_datasets(rerank_root, tmp_path):
    import datasets

    files = {
        s: str(rerank_root / "data" / f"{s}-00000-of-00001.parquet") for s in SPLITS
    }
    dsd = datasets.load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "cache"))
    assert set(dsd) == set(SPLITS)
    ds = dsd["test"]
    assert isinstance(ds.features["image"], datasets.Image)
    assert list(ds.features) == list(builders.RERANK_COLUMNS)
    modes = set()
    for im in ds["image"]:
        assert isinstance(im, Image.Image) and im.size[0] > 0
        modes.add(im.mode)
    # one real photo (tamandua_1.jpeg) is a grayscale JPEG: consumers must convert("RGB")
    assert modes == {"RGB", "L"}
    assert np.asarray(ds[0]["image"].convert("RGB")).shape[2] == 3


def test_rerank_real_photos_and_generated_mix(rerank_root):
    import io

    import pyarrow.parquet as pq

    df = pq.read_table(rerank_root / "data" / "validation-00000-of-00001.parquet").to_pandas()
    sizes = {Image.open(io.BytesIO(b["bytes"])).size for b in df["image"]}
    assert (160, 120) in sizes or (120, 160) in sizes  # generated
    assert any(max(s) == 500 for s in sizes)  # real iNat-sized photos
    formats = {Image.open(io.BytesIO(b["bytes"])).format for b in df["image"]}
    assert formats == {"JPEG"}


def test_rerank_selected_rows_and_determinism(tmp_path):
    a = builders.build_rerank_dataset(
        tmp_path / "a", splits={"validation": [5], "test": [12, 16]}, n_candidates=5,
        include_real_images=False,
    )
    b = builders.build_rerank_dataset(
        tmp_path / "b", splits={"validation": [5], "test": [12, 16]}, n_candidates=5,
        include_real_images=False,
    )
    for s in ("validation", "test"):
        f = f"data/{s}-00000-of-00001.parquet"
        assert _md5(a / f) == _md5(b / f)
    import pyarrow.parquet as pq

    val = pq.read_table(a / "data/validation-00000-of-00001.parquet").to_pandas()
    assert val["query"].iloc[0] == "red fox showing signs of sarcoptic mange "
    test = pq.read_table(a / "data/test-00000-of-00001.parquet").to_pandas()
    assert test["iconic_group"].isna().sum() == 5
    assert (test["iconic_group"] == "Combo").sum() == 5
