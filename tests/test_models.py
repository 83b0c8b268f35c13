"""One factory resolves every model spec; embeddings equal the libraries' own computation."""

from __future__ import annotations

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

TEXTS = ["a sick cassava plant", "tamandua back-brooding its young"]


def _image(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))


def test_open_clip_local_dir_matches_open_clip(open_clip_spec):
    emb = create_embedder(open_clip_spec, "cpu")
    path = open_clip_spec.removeprefix("open_clip:")
    model, _, preprocess = open_clip.create_model_and_transforms(path)
    tokenizer = open_clip.get_tokenizer(path)
    images = [_image(i) for i in range(3)]
    with torch.no_grad():
        ref_img = model.eval().encode_image(torch.stack([preprocess(im) for im in images]))
        ref_txt = model.encode_text(tokenizer(TEXTS))
    ref_img = (ref_img / ref_img.norm(dim=-1, keepdim=True)).numpy()
    ref_txt = (ref_txt / ref_txt.norm(dim=-1, keepdim=True)).numpy()
    pixels = torch.stack([emb.image_transform(im) for im in images])
    np.testing.assert_allclose(emb.encode_images(pixels), ref_img, atol=1e-5)
    np.testing.assert_allclose(emb.encode_texts(TEXTS), ref_txt, atol=1e-5)
    assert emb.dim == ref_txt.shape[1]


def test_hf_clip_folder_matches_transformers(hf_clip_spec):
    import transformers
    from transformers import AutoModel, AutoProcessor

    emb = create_embedder(hf_clip_spec, "cpu")
    path = str(builders.spec_dir(hf_clip_spec))
    # the PIL image processor, transformers 4.x's default (see hf_backend); transformers 5 loads it on request
    option = {"backend": "pil"} if int(transformers.__version__.split(".")[0]) >= 5 else {}
    model, processor = AutoModel.from_pretrained(path).eval(), AutoProcessor.from_pretrained(path, **option)
    images = [_image(i) for i in range(2)]
    with torch.no_grad():
        inputs = processor(text=TEXTS, images=images, return_tensors="pt", padding=True)
        out = model(**inputs)
    ref_img = torch.nn.functional.normalize(out.image_embeds, dim=-1).numpy()
    ref_txt = torch.nn.functional.normalize(out.text_embeds, dim=-1).numpy()
    pixels = torch.stack([emb.image_transform(im) for im in images])
    np.testing.assert_allclose(emb.encode_images(pixels), ref_img, atol=1e-5)
    np.testing.assert_allclose(emb.encode_texts(TEXTS), ref_txt, atol=1e-5)


def test_short_names_resolve_to_paper_checkpoints():
    assert resolve_spec("vit-h-14-378") == "open_clip:ViT-H-14-378-quickgelu/dfn5b"
    assert resolve_spec("bioclip") == "open_clip:hf-hub:imageomics/bioclip"
    assert len(PAPER_MODELS) == 13


def test_unknown_model_lists_close_matches():
    with pytest.raises(InquireError, match="Did you mean vit-b-32"):
        resolve_spec("vit-b-23")


def test_unknown_open_clip_architecture_is_explained():
    with pytest.raises(InquireError, match="Close matches: ViT-B-32"):
        create_embedder("open_clip:ViT-B-33/openai", "cpu")


def test_identity_changes_when_local_weights_change(open_clip_spec, tmp_path):
    import shutil

    src = str(builders.spec_dir(open_clip_spec))
    copy = tmp_path / "copy"
    shutil.copytree(src, copy)
    spec = f"open_clip:local-dir:{copy}"
    before = model_identity(spec)
    weights = next(copy.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes() + b"\0")
    assert model_identity(spec) != before


def test_models_command_lists_all_short_names():
    result = CliRunner().invoke(app, ["models"], terminal_width=200)
    assert result.exit_code == 0
    for name in PAPER_MODELS:
        assert name in result.output
