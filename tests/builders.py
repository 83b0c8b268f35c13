"""Builders for local test fixtures in the exact published formats.

Everything here is built offline, deterministically (given ``seed``), from

* the real shared data folder (``SHARED_DATA``: the official INQUIRE query CSVs and a
  handful of real iNaturalist photos), read at build time and never copied into the repo;
* randomly initialised models of the real architectures (open_clip ``CLIP`` with a
  ``VisionTransformer`` tower, transformers ``CLIPModel``);
* generated images.

Artifacts:

* :func:`build_open_clip_model` / :func:`build_open_clip_vit_b32` -- a folder in open_clip's
  ``local-dir:`` format (``open_clip_config.json`` + ``open_clip_model.safetensors``).
* :func:`build_hf_clip_model` -- a ``save_pretrained`` folder for ``AutoModel`` /
  ``AutoProcessor`` (CLIP tokenizer built from open_clip's bundled BPE merges).
* :func:`build_rerank_dataset` -- an ``evendrow/INQUIRE-Rerank`` style folder
  (``data/<split>-00000-of-00001.parquet``) written with the ``datasets`` library.

The generated images, their metadata, the rows of a Rerank split and the tiny open_clip model
come from the package (:mod:`inquire.data.synthetic`, :mod:`inquire.tasks.demo`, which
``inquire demo`` builds its offline try-out with); this module adds the real photos and
writes through ``datasets``, an independent check of the layout the package writes.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import gzip
import io
import json
import os
import sys
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from inquire.data import synthetic
from inquire.data.synthetic import ImagePool
from inquire.data.synthetic import generated_jpeg  # noqa: F401 - re-exported for the other test builders
from inquire.tasks.demo import build_tiny_open_clip, seeded_torch, tiny_open_clip_config, write_open_clip_folder

REPO_ROOT = Path(__file__).resolve().parent.parent

SHARED_DATA: Path = (
    Path(os.environ["INQUIRE_SHARED_DATA"]).expanduser().resolve()
    if os.environ.get("INQUIRE_SHARED_DATA")
    else (REPO_ROOT.parent / "shared" / "data").resolve()
)

QUERY_CSVS: dict[str, Path] = {
    "validation": SHARED_DATA / "inquire" / "inquire_queries_val.csv",
    "test": SHARED_DATA / "inquire" / "inquire_queries_test.csv",
}
SAMPLE_IMAGES: Path = SHARED_DATA / "sample-images"

# OpenAI CLIP image normalisation (same numbers as open_clip.constants.OPENAI_DATASET_*).
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def spec_dir(spec: str) -> Path:
    """The folder a builder's spec loads from (``open_clip:local-dir:DIR`` or ``hf_clip:DIR``)."""
    for prefix in ("open_clip:local-dir:", "hf_clip:"):
        if spec.startswith(prefix):
            return Path(spec.removeprefix(prefix))
    raise ValueError(f"{spec} names no local folder")


#: a query text longer than CLIP's 77-token context (tokenizers truncate it)
LONG_QUERY = " ".join(["a very long description of an orb weaver spinning its web at dusk"] * 12)


def swapped_pairs(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """How many pairs of items scores ``a`` and ``b`` (one query's) put in different orders, of all pairs."""
    i, j = np.triu_indices(len(a), k=1)
    return int(np.sum(np.sign(a[i] - a[j]) != np.sign(b[i] - b[j]))), len(i)


# Column order of the published INQUIRE-Rerank parquet files.
RERANK_COLUMNS = (
    "image",
    "query",
    "relevant",
    "clip_score",
    "inat24_image_id",
    "inat24_file_name",
    "supercategory",
    "category",
    "iconic_group",
    "inat24_species_id",
    "inat24_species_name",
    "latitude",
    "longitude",
    "location_uncertainty",
    "date",
    "license",
    "rights_holder",
)

CLIP_VOCAB_SIZE = 49408
CLIP_CONTEXT_LENGTH = 77
CLIP_BOS = "<|startoftext|>"
CLIP_EOS = "<|endoftext|>"


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _datasets_quiet():
    """Hide ``datasets`` progress bars, restoring the caller's setting after."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


@contextlib.contextmanager
def _transformers_quiet():
    """Hide ``transformers`` progress bars, restoring the caller's setting after."""
    from transformers.utils import logging as tf_logging

    was_enabled = tf_logging.is_progress_bar_enabled()
    tf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            tf_logging.enable_progress_bar()


def _open_clip_package_dir() -> Path:
    import open_clip

    return Path(open_clip.__file__).resolve().parent


# --------------------------------------------------------------------------------------
# open_clip models
# --------------------------------------------------------------------------------------


def build_open_clip_model(
    dir: Path, *, image_size: int = 224, embed_dim: int = 32, seed: int = 0
) -> str:
    """Build a tiny random open_clip ViT CLIP in ``local-dir:`` format (the demo's model).

    Returns the spec string ``"open_clip:local-dir:<abs dir>"``. Load with
    ``open_clip.create_model_and_transforms("local-dir:" + dir)`` and
    ``open_clip.get_tokenizer("local-dir:" + dir)`` (standard SimpleTokenizer, 77 tokens).
    """
    return build_tiny_open_clip(dir, image_size=image_size, embed_dim=embed_dim, seed=seed)


def build_open_clip_vit_b32(dir: Path, *, seed: int = 0, embed_dim: int | None = None) -> str:
    """Full-size open_clip ``ViT-B-32`` architecture (built-in config), random weights.

    About 600 MB on disk (fp32). ``embed_dim`` changes only the output projections (e.g. 768 for a
    ViT-B-32-sized model over 768-d embeddings, as the published iNat24 ones are). Returns
    ``"open_clip:local-dir:<abs dir>"``.
    """
    from open_clip.factory import get_model_config

    cfg = get_model_config("ViT-B-32")
    if cfg is None:  # pragma: no cover - every open_clip release ships ViT-B-32
        raise RuntimeError("open_clip has no built-in ViT-B-32 config")
    if embed_dim is not None:
        cfg = {**cfg, "embed_dim": embed_dim}
    return build_open_clip_from_config(dir, cfg, seed=seed)


def build_open_clip_from_config(out: str | Path, cfg: dict, *, seed: int = 0) -> str:
    """An open_clip ``CLIP`` of model config ``cfg`` with seeded random weights, saved as a
    ``local-dir:`` folder; returns ``"open_clip:local-dir:<abs dir>"``."""
    from open_clip.model import CLIP

    out = Path(out).expanduser().resolve()
    with seeded_torch(seed):
        model = CLIP(**json.loads(json.dumps(cfg))).eval()  # a deep copy: CLIP may alter nested configs
    write_open_clip_folder(model, cfg, out)
    return f"open_clip:local-dir:{out}"


class OpenClipObject:
    """A user's own model object, as ``inquire.evaluate_rerank(model)`` takes one: an open_clip
    ``local-dir:`` folder loaded with open_clip itself (not inquire's backend) behind
    ``encode_images(list of PIL images)`` and ``encode_texts(list of str)``.

    ``scale`` multiplies every output (inquire must normalise), ``as_numpy`` returns numpy instead
    of torch, and ``calls`` counts the model calls (a cached run makes none).
    """

    def __init__(self, spec: str, name: str | None = "tiny-open-clip", *, scale: float = 1.0, as_numpy: bool = False):
        import open_clip

        folder = f"local-dir:{spec_dir(spec)}"
        self.model, _, self.preprocess = open_clip.create_model_and_transforms(folder)
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(folder)
        self.name, self.scale, self.as_numpy = name, scale, as_numpy
        self.calls = 0

    def _out(self, x):
        self.calls += 1
        x = x * self.scale
        return x.numpy() if self.as_numpy else x

    def encode_images(self, images):
        import torch

        return self._out(self.model.encode_image(torch.stack([self.preprocess(im) for im in images])))

    def encode_texts(self, texts):
        return self._out(self.model.encode_text(self.tokenizer(texts)))


class OpenClipReranker:
    """A user's own reranker object: ``score(query, images)`` as the cosine of the same open_clip
    model's embeddings, so its numbers equal the ``clip:`` spec's; ``calls`` counts the calls."""

    def __init__(self, spec: str, name: str | None = "tiny-open-clip-reranker"):
        self.embedder = OpenClipObject(spec, None)
        self.name = name
        self.calls = 0

    def score(self, query, images):
        self.calls += 1
        image = self.embedder.encode_images(images)
        text = self.embedder.encode_texts([query])
        image = image / image.norm(dim=-1, keepdim=True)
        text = text / text.norm(dim=-1, keepdim=True)
        return (image @ text.T)[:, 0].tolist()


# --------------------------------------------------------------------------------------
# Hugging Face CLIP
# --------------------------------------------------------------------------------------


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2 / CLIP reversible byte -> printable unicode character table."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


@functools.lru_cache(maxsize=1)
def clip_bpe_vocab_and_merges() -> tuple[dict[str, int], tuple[str, ...]]:
    """OpenAI CLIP's BPE vocab (49408 tokens) and merges, from open_clip's bundled file.

    Built the way OpenAI CLIP's SimpleTokenizer does it: the 256 byte symbols, the same
    with ``</w>``, one token per merge, then ``<|startoftext|>`` (49406) and
    ``<|endoftext|>`` (49407).
    """
    path = _open_clip_package_dir() / "bpe_simple_vocab_16e6.txt.gz"
    lines = gzip.open(path).read().decode("utf-8").split("\n")
    merges = tuple(lines[1 : 49152 - 256 - 2 + 1])  # line 0 is the '#version' header
    byte_syms = list(_bytes_to_unicode().values())
    tokens = byte_syms + [s + "</w>" for s in byte_syms]
    tokens += ["".join(m.split(" ")) for m in merges]
    tokens += [CLIP_BOS, CLIP_EOS]
    vocab = {t: i for i, t in enumerate(tokens)}
    if len(vocab) != CLIP_VOCAB_SIZE:  # pragma: no cover - guards the bundled file
        raise RuntimeError(f"CLIP BPE vocab has {len(vocab)} entries, expected {CLIP_VOCAB_SIZE}")
    return vocab, merges


def write_clip_tokenizer_files(dir: Path) -> None:
    """Write ``vocab.json`` and ``merges.txt`` (HF CLIP tokenizer files) into ``dir``."""
    vocab, merges = clip_bpe_vocab_and_merges()
    d = Path(dir)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "vocab.json", "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(d / "merges.txt", "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        f.write("\n".join(merges))
        f.write("\n")


def build_hf_clip_model(dir: Path, *, seed: int = 0) -> str:
    """Tiny random transformers ``CLIPModel`` + ``CLIPProcessor`` via ``save_pretrained``.

    Returns ``"hf_clip:<abs dir>"``. Load with ``AutoModel.from_pretrained(dir)`` and
    ``AutoProcessor.from_pretrained(dir)``.
    """
    import tempfile

    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
    )

    out = Path(dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    config = CLIPConfig(
        text_config={
            "vocab_size": CLIP_VOCAB_SIZE,
            "hidden_size": 64,
            "intermediate_size": 256,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": CLIP_CONTEXT_LENGTH,
            "hidden_act": "quick_gelu",
            "pad_token_id": 1,
            "bos_token_id": 49406,
            "eos_token_id": 49407,
        },
        vision_config={
            "image_size": 224,
            "patch_size": 32,
            "hidden_size": 64,
            "intermediate_size": 256,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "hidden_act": "quick_gelu",
        },
        projection_dim=32,
    )
    with seeded_torch(seed):
        model = CLIPModel(config)
    model.eval()
    with _transformers_quiet():
        model.save_pretrained(out)

    with tempfile.TemporaryDirectory() as tmp:
        write_clip_tokenizer_files(Path(tmp))
        tokenizer = CLIPTokenizer.from_pretrained(tmp, model_max_length=CLIP_CONTEXT_LENGTH)
    image_processor = CLIPImageProcessor(
        do_resize=True,
        size={"shortest_edge": 224},
        resample=3,  # PIL bicubic
        do_center_crop=True,
        crop_size={"height": 224, "width": 224},
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=list(OPENAI_CLIP_MEAN),
        image_std=list(OPENAI_CLIP_STD),
        do_convert_rgb=True,
    )
    processor = CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)
    processor.save_pretrained(out)
    # Keep the slow-tokenizer source files next to tokenizer.json, as the hub repos do.
    write_clip_tokenizer_files(out)
    return f"hf_clip:{out}"


# --------------------------------------------------------------------------------------
# INQUIRE-Rerank dataset
# --------------------------------------------------------------------------------------

# Taxa for the real sample photos, keyed by file-name prefix.
_SAMPLE_TAXA: dict[str, tuple[int, str]] = {
    "bower": (
        3521, "Animalia_Chordata_Aves_Passeriformes_Ptilonorhynchidae_Ptilonorhynchus_violaceus"
    ),
    "cassava": (
        7230, "Plantae_Tracheophyta_Magnoliopsida_Malpighiales_Euphorbiaceae_Manihot_esculenta"
    ),
    "condor": (3177, "Animalia_Chordata_Aves_Accipitriformes_Cathartidae_Gymnogyps_californianus"),
    "distal": (3298, "Animalia_Chordata_Aves_Charadriiformes_Scolopacidae_Limnodromus_griseus"),
    "hermit": (905, "Animalia_Arthropoda_Malacostraca_Decapoda_Coenobitidae_Coenobita_clypeatus"),
    "nest": (3105, "Animalia_Chordata_Aves_Passeriformes_Icteridae_Molothrus_ater"),
    "swallowtail": (2089, "Animalia_Arthropoda_Insecta_Lepidoptera_Papilionidae_Papilio_glaucus"),
    "tamandua": (4390, "Animalia_Chordata_Mammalia_Pilosa_Myrmecophagidae_Tamandua_tetradactyla"),
}


def read_queries(split: str) -> list[dict]:
    """Rows of the real query CSV for ``split`` ('validation' / 'test'), values verbatim.

    ``query_text`` keeps its published stray spaces; an empty ``iconic_group`` cell is
    returned as ``None``.
    """
    try:
        path = QUERY_CSVS[split]
    except KeyError:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(QUERY_CSVS)}")
    return synthetic.query_rows(path)


def sample_image_files() -> list[Path]:
    """The real iNaturalist photos in ``SHARED_DATA/sample-images`` (manifest order)."""
    with open(SAMPLE_IMAGES / "manifest.csv", newline="", encoding="utf-8") as f:
        return [SAMPLE_IMAGES / r["file_name"] for r in csv.DictReader(f)]


@functools.lru_cache(maxsize=None)
def _real_image_bytes(path: str) -> bytes:
    """JPEG bytes of a real photo: JPEGs verbatim (keeps e.g. a grayscale one), PNGs
    re-encoded to JPEG (the published set only holds iNat24 ``.jpg`` files)."""
    p = Path(path)
    data = p.read_bytes()
    if data[:3] == b"\xff\xd8\xff":
        return data
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        buf = io.BytesIO()
        im.convert("RGB").save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _add_real(pool: ImagePool, path: Path) -> int:
    """Add a real sample photo to ``pool`` under the taxon its file name names."""
    taxon = _SAMPLE_TAXA.get(path.stem.rsplit("_", 1)[0], synthetic.ALL_TAXA[0])
    return pool.add(_real_image_bytes(str(path)), taxon)


def rerank_features():
    """``datasets.Features`` of the published INQUIRE-Rerank set (column order included)."""
    from datasets import Features, Image, Value

    return Features(
        {
            "image": Image(),
            "query": Value("string"),
            "relevant": Value("int64"),
            "clip_score": Value("float64"),
            "inat24_image_id": Value("int64"),
            "inat24_file_name": Value("string"),
            "supercategory": Value("string"),
            "category": Value("string"),
            "iconic_group": Value("string"),
            "inat24_species_id": Value("int64"),
            "inat24_species_name": Value("string"),
            "latitude": Value("float64"),
            "longitude": Value("float64"),
            "location_uncertainty": Value("float64"),
            "date": Value("string"),
            "license": Value("string"),
            "rights_holder": Value("string"),
        }
    )


def build_rerank_dataset(
    root: Path,
    *,
    splits: Mapping[str, int | Sequence[int]] = {"validation": 4, "test": 6},
    n_candidates: int = 100,
    image_size: tuple[int, int] = (160, 120),
    include_real_images: bool = True,
    seed: int = 0,
) -> Path:
    """Build an ``evendrow/INQUIRE-Rerank`` style folder at ``root`` and return ``root``.

    ``root/data/<split>-00000-of-00001.parquet`` per split, written with ``datasets`` (same
    features, column order and parquet schema as the hub files). Each split holds the first
    ``splits[split]`` queries of the real query CSV (``validation`` <- ``inquire_queries_val.csv``,
    ``test`` <- ``inquire_queries_test.csv``), or, if ``splits[split]`` is a sequence, the CSV
    rows at those 0-based positions (e.g. validation row 5 has a trailing space, test rows 12
    and 18 an empty ``iconic_group``, test row 16 the group ``Combo``); each query with
    exactly ``n_candidates`` contiguous rows
    sorted by ``clip_score`` descending, and between 1 and ``n_candidates - 1`` relevant.

    Images: the real sample photos (raw JPEG bytes; PNGs re-encoded to JPEG) spread over the
    queries, plus generated JPEGs of ``image_size`` (W, H; some rotated to portrait). In each
    split, query pairs (0, 1) and (2, 3) share two candidate images (same image id), and
    the real photos recur across splits. ``inat24_image_id`` is unique per distinct image.
    """
    from datasets import Dataset

    if n_candidates < 2:
        raise ValueError("n_candidates must be >= 2 (a query needs relevant and non-relevant rows)")
    root = Path(root).expanduser().resolve()
    data_dir = root / "data"
    data_dir.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(seed)
    pool = ImagePool(rng, tuple(image_size))
    real_ids = [_add_real(pool, p) for p in sample_image_files()] if include_real_images else []
    features = rerank_features()

    for split, which in splits.items():
        all_queries = read_queries(split)
        if isinstance(which, int):
            if not 1 <= which <= len(all_queries):
                raise ValueError(
                    f"split {split!r}: asked {which} queries, CSV has {len(all_queries)}"
                )
            queries = all_queries[:which]
        else:
            queries = [all_queries[i] for i in which]
            if not queries or len({q["query_text"] for q in queries}) != len(queries):
                raise ValueError(f"split {split!r}: need distinct query rows, got {list(which)}")
        cands = synthetic.candidate_lists(queries, pool, n_candidates, spread=real_ids)
        cols = synthetic.split_columns(queries, cands, pool)
        ds = Dataset.from_dict(cols, features=features)
        with _datasets_quiet():
            ds.to_parquet(str(data_dir / f"{split}-00000-of-00001.parquet"))
    return root


# --------------------------------------------------------------------------------------
# Paper-model references: OpenAI's clip package, WildCLIP checkpoints, SigLIP, conversion
# --------------------------------------------------------------------------------------

#: OpenAI CLIP ViT-B/16 in ``clip.model.CLIP``'s arguments (what ``clip.load("ViT-B/16")`` builds)
OPENAI_VIT_B16 = {
    "embed_dim": 512, "image_resolution": 224, "vision_layers": 12, "vision_width": 768,
    "vision_patch_size": 16, "context_length": 77, "vocab_size": CLIP_VOCAB_SIZE,
    "transformer_width": 512, "transformer_heads": 8, "transformer_layers": 12,
}
WILDCLIP_PREFIX = "model.clip_model."


def import_openai_clip():
    """OpenAI's ``clip`` package (PyPI ``clip-anytorch``), the reference the official INQUIRE code uses.

    Its ``clip.py`` imports ``pkg_resources`` only for ``packaging.version``, and setuptools >= 81
    no longer ships ``pkg_resources``: that one name is lent from ``packaging`` for the import and
    taken back after, so no other code sees a stand-in.
    """
    import importlib.util
    import types

    if "clip" in sys.modules or importlib.util.find_spec("pkg_resources") is not None:
        import clip

        return clip
    import packaging.version

    sys.modules["pkg_resources"] = types.SimpleNamespace(packaging=packaging)
    try:
        import clip
    finally:
        del sys.modules["pkg_resources"]
    return clip


def build_wildclip_checkpoint(path: Path, *, seed: int = 0) -> dict:
    """A checkpoint in the WildCLIP authors' format around a random OpenAI CLIP ViT-B/16.

    Like their PyTorch Lightning files: ``{"state_dict": {"model.clip_model.<CLIP key>": ...,
    "model.adapter.*": ...}, "epoch": ..., "global_step": ...}``, float16 to halve the file
    (about 300 MB). Returns the CLIP state dict saved.
    """
    import torch

    clip = import_openai_clip()
    with seeded_torch(seed):
        model = clip.model.CLIP(**OPENAI_VIT_B16)
    clip_state = {k: v.detach().half() for k, v in model.state_dict().items()}
    del model
    adapter = {"model.adapter.alpha": torch.tensor([0.0]), "model.adapter.adapter.0.weight": torch.zeros(128, 512)}
    state = {WILDCLIP_PREFIX + k: v for k, v in clip_state.items()} | adapter
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "epoch": 12, "global_step": 1200}, path)
    return clip_state


def build_open_clip_siglip_model(dir: Path, *, seed: int = 0) -> str:
    """A tiny random open_clip model with SigLIP's text tower (bidirectional, last-token pooling, 64
    tokens, logit bias) in ``local-dir:`` format; the vision tower is open_clip's own tiny ViT."""
    from open_clip.model import CustomTextCLIP

    out = Path(dir).expanduser().resolve()
    cfg = tiny_open_clip_config()
    cfg = {
        **cfg, "custom_text": True, "init_logit_bias": -10,
        "text_cfg": {**cfg["text_cfg"], "context_length": 64, "no_causal_mask": True, "pool_type": "last", "proj_bias": True},
    }
    model_cfg = {k: v for k, v in cfg.items() if k != "custom_text"}
    with seeded_torch(seed):
        model = CustomTextCLIP(**json.loads(json.dumps(model_cfg)))
    model.eval()
    write_open_clip_folder(model, cfg, out)
    return f"open_clip:local-dir:{out}"


def build_hf_siglip_model(dir: Path, *, seed: int = 0) -> str:
    """A tiny random transformers ``SiglipModel`` folder (64 text positions).

    SigLIP's own tokenizer needs sentencepiece, which the tests do without: the folder carries the
    CLIP BPE tokenizer instead (the padding decision under test does not depend on the vocabulary).
    """
    import tempfile

    from transformers import CLIPTokenizer, SiglipConfig, SiglipImageProcessor, SiglipModel

    out = Path(dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    config = SiglipConfig(
        text_config={"vocab_size": CLIP_VOCAB_SIZE, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "max_position_embeddings": 64},
        vision_config={"image_size": 224, "patch_size": 32, "hidden_size": 32, "intermediate_size": 64,
                       "num_hidden_layers": 2, "num_attention_heads": 2},
    )
    with seeded_torch(seed):
        model = SiglipModel(config)
    with _transformers_quiet():
        model.eval().save_pretrained(out)
    with tempfile.TemporaryDirectory() as tmp:
        write_clip_tokenizer_files(Path(tmp))
        CLIPTokenizer.from_pretrained(tmp, model_max_length=64).save_pretrained(out)
    SiglipImageProcessor(size={"height": 224, "width": 224}).save_pretrained(out)
    return f"hf_clip:{out}"


def convert_open_clip_to_hf_clip(open_clip_dir: Path, out: Path) -> str:
    """The same weights as a transformers ``CLIPModel`` folder: an open_clip ``local-dir:`` ViT CLIP
    (as :func:`build_open_clip_model` writes it) converted tensor by tensor.

    open_clip's fused attention input projection is split into transformers' q, k and v; the
    projections are transposed (open_clip multiplies ``x @ proj``, transformers applies a Linear).
    The tokenizer and image processor are those of :func:`build_hf_clip_model` (OpenAI CLIP's).
    """
    from safetensors.torch import load_file
    from transformers import CLIPConfig, CLIPModel

    src = Path(open_clip_dir)
    cfg = json.loads((src / "open_clip_config.json").read_text())["model_cfg"]
    oc = load_file(str(src / "open_clip_model.safetensors"))
    vision, text = cfg["vision_cfg"], cfg["text_cfg"]
    act = "quick_gelu" if cfg.get("quick_gelu") else "gelu"
    config = CLIPConfig(
        text_config={
            "vocab_size": text["vocab_size"], "hidden_size": text["width"], "intermediate_size": 4 * text["width"],
            "num_hidden_layers": text["layers"], "num_attention_heads": text["heads"],
            "max_position_embeddings": text["context_length"], "hidden_act": act,
            "pad_token_id": 1, "bos_token_id": 49406, "eos_token_id": 49407,
        },
        vision_config={
            "image_size": vision["image_size"], "patch_size": vision["patch_size"], "hidden_size": vision["width"],
            "intermediate_size": 4 * vision["width"], "num_hidden_layers": vision["layers"],
            "num_attention_heads": vision["width"] // vision.get("head_width", 64), "hidden_act": act,
        },
        projection_dim=cfg["embed_dim"],
    )

    def layers(src_prefix: str, dst_prefix: str, n: int) -> dict:
        out_: dict = {}
        for i in range(n):
            s, d = f"{src_prefix}.resblocks.{i}", f"{dst_prefix}.layers.{i}"
            for name, w in zip("qkv", oc[f"{s}.attn.in_proj_weight"].chunk(3)):
                out_[f"{d}.self_attn.{name}_proj.weight"] = w
            for name, b in zip("qkv", oc[f"{s}.attn.in_proj_bias"].chunk(3)):
                out_[f"{d}.self_attn.{name}_proj.bias"] = b
            for a, b in [("attn.out_proj", "self_attn.out_proj"), ("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"),
                         ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")]:
                for p in ("weight", "bias"):
                    out_[f"{d}.{b}.{p}"] = oc[f"{s}.{a}.{p}"]
        return out_

    state = {
        "logit_scale": oc["logit_scale"],
        "text_model.embeddings.token_embedding.weight": oc["token_embedding.weight"],
        "text_model.embeddings.position_embedding.weight": oc["positional_embedding"],
        "text_model.final_layer_norm.weight": oc["ln_final.weight"],
        "text_model.final_layer_norm.bias": oc["ln_final.bias"],
        "text_projection.weight": oc["text_projection"].T.contiguous(),
        "vision_model.embeddings.class_embedding": oc["visual.class_embedding"],
        "vision_model.embeddings.patch_embedding.weight": oc["visual.conv1.weight"],
        "vision_model.embeddings.position_embedding.weight": oc["visual.positional_embedding"],
        "vision_model.pre_layrnorm.weight": oc["visual.ln_pre.weight"],
        "vision_model.pre_layrnorm.bias": oc["visual.ln_pre.bias"],
        "vision_model.post_layernorm.weight": oc["visual.ln_post.weight"],
        "vision_model.post_layernorm.bias": oc["visual.ln_post.bias"],
        "visual_projection.weight": oc["visual.proj"].T.contiguous(),
        **layers("transformer", "text_model.encoder", text["layers"]),
        **layers("visual.transformer", "vision_model.encoder", vision["layers"]),
    }
    dst = Path(out).expanduser().resolve()
    build_hf_clip_model(dst)  # the tokenizer and image processor files; the model is replaced below
    model = CLIPModel(config)
    model.load_state_dict(state, strict=True)
    with _transformers_quiet():
        model.eval().save_pretrained(dst)
    return f"hf_clip:{dst}"
