"""The paper's models load what the official INQUIRE code evaluated (issue 10).

The official code (src/utils.py ``load_clip``) loads most models through all_clip 1.2.0, whose
``open_clip:`` loader calls ``open_clip.create_model_and_transforms(arch, pretrained=tag)`` and whose
``hf_clip:`` loader pairs transformers' ``CLIPModel`` with the ``CLIPProcessor``'s image processor
(transformers 4.45.1) and ``clip.tokenize``. all_clip 1.2.0 allowed open_clip 2.x; the table below
holds what open_clip 2.24-2.26 (the releases of the paper's time, identical for these entries)
built for each one. Everything runs offline: configs, not downloads.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import builders
from inquire.cli import app
from inquire.errors import InquireError
from inquire.models import PAPER_MODELS, create_embedder, model_identity, resolve_spec

OPENAI_MEAN, OPENAI_STD = builders.OPENAI_CLIP_MEAN, builders.OPENAI_CLIP_STD
INCEPTION = (0.5, 0.5, 0.5)

#: short name -> (spec, image size, text context, QuickGELU, mean, std, resize mode), as the paper ran them.
#: RN50/RN50x16 "openai": open_clip < 2.29 built them with load_openai_model, i.e. QuickGELU;
#: ViT-B-16/dfn2b: the plain config, GELU; DFN-5B and SigLIP: squashed to a square, no crop.
OPEN_CLIP_ROWS = {
    "rn50": ("open_clip:RN50-quickgelu/openai", 224, 77, True, OPENAI_MEAN, OPENAI_STD, "shortest"),
    "rn50x16": ("open_clip:RN50x16-quickgelu/openai", 384, 77, True, OPENAI_MEAN, OPENAI_STD, "shortest"),
    "vit-b-16-dfn": ("open_clip:ViT-B-16/dfn2b", 224, 77, False, OPENAI_MEAN, OPENAI_STD, "shortest"),
    "vit-l-14-dfn": ("open_clip:ViT-L-14-quickgelu/dfn2b", 224, 77, True, OPENAI_MEAN, OPENAI_STD, "shortest"),
    "vit-h-14-378": ("open_clip:ViT-H-14-378-quickgelu/dfn5b", 378, 77, True, OPENAI_MEAN, OPENAI_STD, "squash"),
    "siglip-vit-l-16-384": ("open_clip:ViT-L-16-SigLIP-384/webli", 384, 64, False, INCEPTION, INCEPTION, "squash"),
    "siglip-so400m-14-384": ("open_clip:ViT-SO400M-14-SigLIP-384/webli", 384, 64, False, INCEPTION, INCEPTION, "squash"),
}
HF_ROWS = {
    "vit-b-32": "hf_clip:openai/clip-vit-base-patch32",
    "vit-b-16": "hf_clip:openai/clip-vit-base-patch16",
    "vit-l-14": "hf_clip:openai/clip-vit-large-patch14",
}


def test_every_short_name_resolves_to_the_checkpoint_the_paper_evaluated():
    expected = {name: row[0] for name, row in OPEN_CLIP_ROWS.items()} | HF_ROWS
    expected["bioclip"] = "open_clip:hf-hub:imageomics/bioclip"  # utils.py: open_clip directly
    assert {name: resolve_spec(name) for name in expected} == expected
    assert set(PAPER_MODELS) == set(expected) | {"wildclip-t1", "wildclip-t1t7-lwf"}
    for name in ("wildclip-t1", "wildclip-t1t7-lwf"):
        run = name.removeprefix("wildclip-").replace("-", "_")
        with pytest.raises(InquireError, match=rf"--model wildclip:PATH/wildclip_vitb16_{run}\.pth"):
            resolve_spec(name)


@pytest.mark.parametrize("name", sorted(OPEN_CLIP_ROWS))
def test_open_clip_entries_get_the_papers_weights_size_normalisation_and_context(name):
    spec, size, context, quick_gelu, mean, std, resize_mode = OPEN_CLIP_ROWS[name]
    arch, tag = spec.removeprefix("open_clip:").split("/")
    assert (arch, tag) in open_clip.list_pretrained()
    cfg = open_clip.get_model_config(arch)
    pretrained = open_clip.get_pretrained_cfg(arch, tag)
    assert cfg["vision_cfg"]["image_size"] == size
    assert cfg["text_cfg"]["context_length"] == context
    assert bool(cfg.get("quick_gelu")) is quick_gelu
    assert (tuple(pretrained["mean"]), tuple(pretrained["std"])) == (mean, std)
    assert (pretrained["interpolation"], pretrained["resize_mode"]) == ("bicubic", resize_mode)
    if context == 64:  # SigLIP: the big_vision tokenizer with its text cleaning, as in open_clip 2.24-2.26
        assert cfg["text_cfg"]["hf_tokenizer_name"] == "timm/ViT-B-16-SigLIP"
        assert cfg["text_cfg"]["tokenizer_kwargs"] == {"clean": "canonicalize"}
    else:
        assert open_clip.get_tokenizer(arch).context_length == 77


@pytest.mark.parametrize("resize_mode", ["shortest", "squash"])
def test_open_clip_resize_and_crop_are_the_papers(resize_mode, open_clip_spec, tmp_path):
    """What inquire's open_clip embedder does to a photo, for a model whose config says ``resize_mode``:
    bicubic, then a centre crop ("shortest") or a plain resize to the square ("squash"), on photos
    whose sides differ."""
    folder = tmp_path / "model"
    shutil.copytree(builders.spec_dir(open_clip_spec), folder)
    config = json.loads((folder / "open_clip_config.json").read_text())
    config["preprocess_cfg"] = {**config["preprocess_cfg"], "resize_mode": resize_mode,
                                "mean": list(OPENAI_MEAN), "std": list(OPENAI_STD)}
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    transform = create_embedder(f"open_clip:local-dir:{folder}", "cpu").image_transform
    size = config["model_cfg"]["vision_cfg"]["image_size"]
    for path in builders.sample_image_files()[:6]:
        image = Image.open(path).convert("RGB")
        w, h = image.size
        if resize_mode == "squash":
            ref = image.resize((size, size), Image.BICUBIC)
        else:
            scale = size / min(w, h)
            rw, rh = (size, int(h * scale)) if w <= h else (int(w * scale), size)
            resized = image.resize((rw, rh), Image.BICUBIC)
            left, top = round((rw - size) / 2), round((rh - size) / 2)
            ref = resized.crop((left, top, left + size, top + size))
        expected = (np.asarray(ref, dtype=np.float32) / 255 - OPENAI_MEAN) / OPENAI_STD
        np.testing.assert_allclose(transform(image).numpy(), expected.transpose(2, 0, 1), atol=1e-5)


def _official_hf_pixels(image: Image.Image, size: int = 224) -> np.ndarray:
    """transformers 4.45.1's CLIPImageProcessor (the paper's): shortest side to ``size`` (the long
    side truncated), PIL bicubic, centre crop with the offset rounded down, /255, OpenAI mean/std."""
    image = image.convert("RGB")
    w, h = image.size
    rw, rh = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
    pixels = np.asarray(image.resize((rw, rh), Image.BICUBIC, reducing_gap=None), dtype=np.float64)
    top, left = (rh - size) // 2, (rw - size) // 2
    pixels = pixels[top : top + size, left : left + size] / 255
    return ((pixels - OPENAI_MEAN) / OPENAI_STD).astype(np.float32).transpose(2, 0, 1)


def test_transformers_entries_preprocess_images_as_the_official_processor(hf_clip_spec):
    embedder = create_embedder(hf_clip_spec, "cpu")
    for path in builders.sample_image_files():  # every aspect ratio of the samples, and a greyscale one
        image = Image.open(path)
        np.testing.assert_allclose(embedder.image_transform(image).numpy(), _official_hf_pixels(image), atol=1e-6)


def test_transformers_entries_encode_texts_as_the_official_loader(hf_clip_spec):
    """all_clip feeds ``clip.tokenize`` ids (77, zero-padded, no attention mask) to get_text_features."""
    clip = builders.import_openai_clip()
    embedder = create_embedder(hf_clip_spec, "cpu")
    queries = [row["query_text"] for split in ("validation", "test") for row in builders.read_queries(split)]
    truncated = builders.LONG_QUERY
    official_ids = clip.tokenize(queries + [truncated], truncate=True)
    ours = embedder._tokenizer(queries + [truncated], padding=True, truncation=True, max_length=77)
    ours = [[i for i, keep in zip(ids, mask) if keep] for ids, mask in zip(ours["input_ids"], ours["attention_mask"])]
    assert ours == [row[row != 0].tolist() for row in official_ids]  # all 250 queries

    texts = [queries[0], queries[40], truncated, "Dried Cape Weaver nest "]
    with torch.inference_mode():
        out = embedder._model.get_text_features(clip.tokenize(texts, truncate=True))
        official = torch.nn.functional.normalize(out if isinstance(out, torch.Tensor) else out.pooler_output, dim=-1)
    torch.testing.assert_close(torch.from_numpy(embedder.encode_texts(texts)), official, atol=1e-5, rtol=0)


def test_models_command_shows_each_entrys_official_source():
    result = CliRunner().invoke(app, ["models"], terminal_width=400)
    assert result.exit_code == 0
    rows: dict[str, list[str]] = {}  # name -> its columns, wrapped lines joined, spaces dropped
    name = ""  # a wrapped row's continuation lines have an empty name cell
    for cells in (line.split("│")[1:-1] for line in result.output.splitlines() if line.startswith("│")):
        name = cells[0].strip() or name
        previous = rows.get(name, [""] * len(cells))
        rows[name] = [before + "".join(cell.split()) for before, cell in zip(previous, cells)]
    assert set(rows) == set(PAPER_MODELS)
    assert rows["vit-b-32"][1] == "hf_clip:openai/clip-vit-base-patch32"
    assert rows["vit-b-32"][3].startswith("all_cliphf_clip:CLIPModel")
    assert rows["rn50"][3].startswith("all_clipopen_clip:RN50/openai") and "QuickGELU" in rows["rn50"][3]
    assert rows["bioclip"][3].startswith("utils.py:open_clipdirectly")
    assert "model.clip_model." in rows["wildclip-t1"][3]
    # each model's precision on a GPU, as the official code ran it (inquire.models.precision)
    assert rows["vit-h-14-378"][4] == "bf16/bf16" and rows["bioclip"][4] == "fp16/fp32"
    assert rows["wildclip-t1"][4] == "fp16-weights/fp16-weights"
    assert "all_clip's bfloat16 autocast" in "".join(result.output.split("\n"))


def test_hf_clip_caches_made_with_the_torchvision_processor_are_not_reused():
    """The cache key names the PIL preprocessing, so embeddings cached before it are recomputed."""
    assert model_identity("hf_clip:openai/clip-vit-base-patch32") == "hf_clip:openai/clip-vit-base-patch32#pil"
    assert model_identity("open_clip:ViT-B-32/openai") == "open_clip:ViT-B-32/openai"
