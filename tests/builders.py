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

Demo: ``python tests/builders.py demo OUT_DIR``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import gzip
import io
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

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
def _seeded_torch(seed: int):
    """Run with torch's CPU RNG seeded; the caller's global RNG state is restored after."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


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


def _write_open_clip_dir(model, model_cfg: dict, out: Path) -> None:
    """Write ``model`` in open_clip's own local-dir / hf-hub layout.

    Mirrors ``open_clip.push_to_hf_hub.save_for_hf``: ``open_clip_config.json`` holding
    ``{"model_cfg": ..., "preprocess_cfg": {...}}`` and ``open_clip_model.safetensors``.
    """
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    preprocess_cfg = {
        "mean": list(OPENAI_CLIP_MEAN),
        "std": list(OPENAI_CLIP_STD),
        "interpolation": "bicubic",
        "resize_mode": "shortest",
    }
    with open(out / "open_clip_config.json", "w", encoding="utf-8") as f:
        json.dump({"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg}, f, indent=2)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    weights = out / "open_clip_model.safetensors"
    save_file(state, str(weights), metadata={"format": "pt"})
    weights.chmod(0o644)  # safetensors creates the file as 0600


# --------------------------------------------------------------------------------------
# open_clip models
# --------------------------------------------------------------------------------------


def tiny_open_clip_config(*, image_size: int = 224, embed_dim: int = 32) -> dict:
    """A tiny ViT CLIP config in open_clip's model-config schema (like ViT-B-32.json)."""
    return {
        "embed_dim": embed_dim,
        "vision_cfg": {
            "image_size": image_size,
            "layers": 2,
            "width": 64,
            "head_width": 16,  # 64 / 16 = 4 heads
            "patch_size": 32,
        },
        "text_cfg": {
            "context_length": CLIP_CONTEXT_LENGTH,
            "vocab_size": CLIP_VOCAB_SIZE,
            "width": 64,
            "heads": 4,
            "layers": 2,
        },
    }


def build_open_clip_model(
    dir: Path, *, image_size: int = 224, embed_dim: int = 32, seed: int = 0
) -> str:
    """Build a tiny random open_clip ViT CLIP in ``local-dir:`` format.

    Returns the spec string ``"open_clip:local-dir:<abs dir>"``. Load with
    ``open_clip.create_model_and_transforms("local-dir:" + dir)`` and
    ``open_clip.get_tokenizer("local-dir:" + dir)`` (standard SimpleTokenizer, 77 tokens).
    """
    from open_clip.model import CLIP

    out = Path(dir).expanduser().resolve()
    cfg = tiny_open_clip_config(image_size=image_size, embed_dim=embed_dim)
    with _seeded_torch(seed):
        model = CLIP(**json.loads(json.dumps(cfg)))
    model.eval()
    _write_open_clip_dir(model, cfg, out)
    return f"open_clip:local-dir:{out}"


def build_open_clip_vit_b32(dir: Path, *, seed: int = 0) -> str:
    """Full-size open_clip ``ViT-B-32`` architecture (built-in config), random weights.

    About 600 MB on disk (fp32). Returns ``"open_clip:local-dir:<abs dir>"``.
    """
    from open_clip.factory import get_model_config
    from open_clip.model import CLIP

    out = Path(dir).expanduser().resolve()
    cfg = get_model_config("ViT-B-32")
    if cfg is None:  # pragma: no cover - every open_clip release ships ViT-B-32
        raise RuntimeError("open_clip has no built-in ViT-B-32 config")
    with _seeded_torch(seed):
        model = CLIP(**json.loads(json.dumps(cfg)))
    model.eval()
    _write_open_clip_dir(model, cfg, out)
    return f"open_clip:local-dir:{out}"


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
    with _seeded_torch(seed):
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

# Made-up iNat24-style taxa (species id, directory taxonomy) per iconic group.
_TAXA: dict[str, list[tuple[int, str]]] = {
    "Birds": [
        (3112, "Animalia_Chordata_Aves_Passeriformes_Icteridae_Sturnella_magna"),
        (3374, "Animalia_Chordata_Aves_Galliformes_Phasianidae_Lyrurus_tetrix"),
        (3650, "Animalia_Chordata_Aves_Sphenisciformes_Spheniscidae_Spheniscus_demersus"),
    ],
    "Insects": [
        (1588, "Animalia_Arthropoda_Insecta_Odonata_Aeshnidae_Anax_junius"),
        (2011, "Animalia_Arthropoda_Insecta_Lepidoptera_Nymphalidae_Danaus_plexippus"),
    ],
    "Reptiles": [
        (4710, "Animalia_Chordata_Reptilia_Testudines_Testudinidae_Gopherus_agassizii"),
        (4822, "Animalia_Chordata_Reptilia_Squamata_Iguanidae_Iguana_iguana"),
    ],
    "Mammals": [
        (4402, "Animalia_Chordata_Mammalia_Carnivora_Herpestidae_Suricata_suricatta"),
        (4455, "Animalia_Chordata_Mammalia_Rodentia_Sciuridae_Sciurus_carolinensis"),
    ],
    "Fungi": [
        (5120, "Fungi_Basidiomycota_Agaricomycetes_Agaricales_Amanitaceae_Amanita_muscaria"),
    ],
    "Plants": [
        (6801, "Plantae_Tracheophyta_Magnoliopsida_Asterales_Asteraceae_Helianthus_annuus"),
        (7912, "Plantae_Tracheophyta_Liliopsida_Asparagales_Orchidaceae_Ophrys_apifera"),
    ],
    "Arachnids": [
        (703, "Animalia_Arthropoda_Arachnida_Araneae_Araneidae_Argiope_aurantia"),
    ],
    "Mollusks": [
        (1002, "Animalia_Mollusca_Gastropoda_Stylommatophora_Helicidae_Cornu_aspersum"),
    ],
    "Fish": [
        (2960, "Animalia_Chordata_Actinopterygii_Perciformes_Pomacentridae_Amphiprion_ocellaris"),
    ],
    "Amphibians": [
        (2540, "Animalia_Chordata_Amphibia_Anura_Ranidae_Lithobates_catesbeianus"),
    ],
    "Animalia": [
        (655, "Animalia_Cnidaria_Anthozoa_Actiniaria_Actiniidae_Anthopleura_elegantissima"),
    ],
}
_ALL_TAXA = [t for group in _TAXA.values() for t in group]

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

_LICENSES = ["CC BY-NC 4.0"] * 6 + ["CC BY 4.0", "CC0 1.0", "CC BY-SA 4.0", "CC BY-NC-SA 4.0"]
_RIGHTS_HOLDERS = [
    "Alex Rivera", "Mina Okafor", "J. Lindqvist", "Priya Natarajan", "tomas_birds",
    "Chen Wei", "naturewalker42", "Sofia Marquez", "K. O'Donnell", "Ana Lúcia Souza",
]


def read_queries(split: str) -> list[dict]:
    """Rows of the real query CSV for ``split`` ('validation' / 'test'), values verbatim.

    ``query_text`` keeps its published stray spaces; an empty ``iconic_group`` cell is
    returned as ``None``.
    """
    try:
        path = QUERY_CSVS[split]
    except KeyError:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(QUERY_CSVS)}")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r.pop("", None)  # unnamed pandas index column
        r["query_id"] = int(r["query_id"])
        if r["iconic_group"] == "":
            r["iconic_group"] = None
    return rows


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


def _generated_jpeg(rng: np.random.Generator, size: tuple[int, int]) -> bytes:
    """A random colour field with a few shapes, as JPEG bytes; ``size`` is (W, H)."""
    from PIL import Image, ImageDraw

    w, h = size
    c0, c1 = rng.integers(0, 256, size=(2, 3))
    t = np.linspace(0.0, 1.0, w if rng.random() < 0.5 else h)
    grad = (c0[None, :] * (1 - t[:, None]) + c1[None, :] * t[:, None]).astype(np.uint8)
    arr = np.empty((h, w, 3), dtype=np.uint8)
    if len(t) == w:
        arr[:] = grad[None, :, :]
    else:
        arr[:] = grad[:, None, :]
    arr = np.clip(arr.astype(np.int16) + rng.integers(-12, 13, size=arr.shape), 0, 255)
    im = Image.fromarray(arr.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(1, 5))):
        x0, x1 = sorted(rng.integers(0, w, size=2).tolist())
        y0, y1 = sorted(rng.integers(0, h, size=2).tolist())
        fill = tuple(int(v) for v in rng.integers(0, 256, size=3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(
            [x0, y0, x1 + 4, y1 + 4], fill=fill
        )
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


class _ImagePool:
    """Distinct images with their fixed iNat24 metadata; each gets a unique image id."""

    def __init__(self, rng: np.random.Generator, gen_size: tuple[int, int]):
        self.rng = rng
        self.gen_size = gen_size
        self.records: list[dict] = []
        self._used_ids: set[int] = set()

    def _new_id(self) -> int:
        while True:
            i = int(self.rng.integers(100_000, 5_000_000))
            if i not in self._used_ids:
                self._used_ids.add(i)
                return i

    def _meta(self, taxon: tuple[int, str]) -> dict:
        rng = self.rng
        species_id, taxonomy = taxon
        parts = taxonomy.split("_")
        ts = np.datetime64("2010-01-01T00:00:00") + np.timedelta64(
            int(rng.integers(0, 14 * 365 * 24 * 3600)), "s"
        )
        date = str(ts).replace("T", " ") + "+00:00"
        unc = float(rng.choice([3.0, 5.0, 10.0, 15.0, 31.0, 65.0, 250.0, 1873.0]))
        return {
            "inat24_image_id": self._new_id(),
            "inat24_file_name": (
                f"train/{species_id:05d}_{taxonomy}/{uuid.UUID(bytes=rng.bytes(16), version=4)}.jpg"
            ),
            "inat24_species_id": species_id,
            "inat24_species_name": f"{parts[-2]} {parts[-1]}",
            "latitude": float(np.round(rng.uniform(-45.0, 65.0), 6)),
            "longitude": float(np.round(rng.uniform(-160.0, 170.0), 6)),
            "location_uncertainty": float("nan") if rng.random() < 0.15 else unc,
            "date": date,
            "license": str(rng.choice(_LICENSES)),
            "rights_holder": str(rng.choice(_RIGHTS_HOLDERS)),
        }

    def add_real(self, path: Path) -> int:
        prefix = path.stem.rsplit("_", 1)[0]
        taxon = _SAMPLE_TAXA.get(prefix, _ALL_TAXA[0])
        rec = {"bytes": _real_image_bytes(str(path)), **self._meta(taxon)}
        self.records.append(rec)
        return len(self.records) - 1

    def add_generated(self, iconic_group: str | None) -> int:
        taxa = _TAXA.get(iconic_group or "", _ALL_TAXA)
        taxon = taxa[int(self.rng.integers(0, len(taxa)))]
        w, h = self.gen_size
        size = (w, h) if self.rng.random() < 0.75 else (h, w)  # some portrait images
        rec = {"bytes": _generated_jpeg(self.rng, size), **self._meta(taxon)}
        self.records.append(rec)
        return len(self.records) - 1


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
    pool = _ImagePool(rng, tuple(image_size))
    real_ids = (
        [pool.add_real(p) for p in sample_image_files()] if include_real_images else []
    )
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
        n_queries = len(queries)

        # Candidate image indices per query.
        cands: list[list[int]] = [[] for _ in queries]
        for j, img in enumerate(real_ids):  # real photos: round-robin, once per split
            q = j % n_queries
            if len(cands[q]) < n_candidates // 2:
                cands[q].append(img)
        for a in range(0, n_queries - 1, 2):  # shared candidates for pairs (0,1), (2,3)
            if a >= 4:
                break
            for _ in range(min(2, n_candidates // 2)):
                img = pool.add_generated(queries[a]["iconic_group"])
                cands[a].append(img)
                cands[a + 1].append(img)
        for q, query in enumerate(queries):
            while len(cands[q]) < n_candidates:
                cands[q].append(pool.add_generated(query["iconic_group"]))
            order = rng.permutation(len(cands[q]))
            cands[q] = [cands[q][i] for i in order]

        cols: dict[str, list] = {c: [] for c in RERANK_COLUMNS}
        for q, query in enumerate(queries):
            scores = np.sort(rng.uniform(0.12, 0.36, size=n_candidates))[::-1]
            # relevant count in [1, n-1]; relevant items skew towards high CLIP scores
            hi = max(1, min(n_candidates - 1, n_candidates // 2))
            n_rel = int(rng.integers(1, hi + 1))
            w = np.linspace(2.0, 0.5, n_candidates)
            rel_pos = rng.choice(n_candidates, size=n_rel, replace=False, p=w / w.sum())
            relevant = np.zeros(n_candidates, dtype=np.int64)
            relevant[rel_pos] = 1
            for pos, img in enumerate(cands[q]):
                rec = pool.records[img]
                cols["image"].append({"bytes": rec["bytes"], "path": None})
                cols["query"].append(query["query_text"])
                cols["relevant"].append(int(relevant[pos]))
                cols["clip_score"].append(float(scores[pos]))
                cols["supercategory"].append(query["supercategory"])
                cols["category"].append(query["category"])
                cols["iconic_group"].append(query["iconic_group"])
                for key in (
                    "inat24_image_id", "inat24_file_name", "inat24_species_id",
                    "inat24_species_name", "latitude", "longitude", "location_uncertainty",
                    "date", "license", "rights_holder",
                ):
                    cols[key].append(rec[key])

        ds = Dataset.from_dict(cols, features=features)
        with _datasets_quiet():
            ds.to_parquet(str(data_dir / f"{split}-00000-of-00001.parquet"))
    return root


# --------------------------------------------------------------------------------------
# demo
# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tests/builders.py", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    demo = sub.add_parser("demo", help="build a tiny model, an HF model and a Rerank dataset")
    demo.add_argument("out_dir", type=Path)
    demo.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.cmd == "demo":
        out = args.out_dir.expanduser().resolve()
        t0 = time.perf_counter()
        spec = build_open_clip_model(out / "model", seed=args.seed)
        hf_spec = build_hf_clip_model(out / "hf_model", seed=args.seed)
        data = build_rerank_dataset(
            out / "rerank", splits={"validation": 10, "test": 40}, n_candidates=100, seed=args.seed
        )
        print(f"built in {time.perf_counter() - t0:.1f}s:")
        print(f"  open_clip model: {spec}")
        print(f"  HF CLIP model:   {hf_spec}")
        print(f"  rerank dataset:  {data}")
        print("try:")
        print(
            f"  inquire rerank --model {spec} --data {data} "
            f"--queries {QUERY_CSVS['test']} --split test"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
