"""A WildCLIP checkpoint in its authors' format loads exactly as the official INQUIRE code loads it.

The reference is the official ``load_clip`` (src/utils.py) with OpenAI's ``clip`` package:
``clip.model.CLIP`` ViT-B/16, the checkpoint's ``state_dict`` with ``model.clip_model.`` stripped
loaded with ``strict=False``, ``clip``'s own preprocessing and ``clip.tokenize``. The checkpoint is a
random-weight one saved as the authors save theirs (float16, plus adapter entries).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import builders
from inquire.errors import InquireError
from inquire.models import create_embedder, model_identity

TEXTS = ["a sick cassava plant", "camera trap photo of a leopard at night", "Dried Cape Weaver nest "]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("wildclip") / "wildclip_vitb16_t1.pth"
    clip_state = builders.build_wildclip_checkpoint(path)
    return path, clip_state


@pytest.fixture(scope="module")
def official(checkpoint):
    """The official loader's model, preprocessing and tokenizer (clip.load's ViT-B/16, on CPU: float32)."""
    clip = builders.import_openai_clip()
    path, _ = checkpoint
    model = clip.model.CLIP(**builders.OPENAI_VIT_B16)
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    model.load_state_dict({k.split(builders.WILDCLIP_PREFIX)[-1]: v for k, v in state.items()}, strict=False)
    return model.float().eval(), clip.clip._transform(224), clip.tokenize


def test_wildclip_spec_gives_the_official_embeddings(checkpoint, official):
    path, _ = checkpoint
    with pytest.warns(UserWarning, match="2 checkpoint entries are not CLIP weights and were left out"):
        embedder = create_embedder(f"wildclip:{path}", "cpu")
    model, preprocess, tokenize = official
    photos = [Image.open(p) for p in builders.sample_image_files()]
    for photo in photos:  # every aspect ratio of the samples, and a greyscale one
        torch.testing.assert_close(embedder.image_transform(photo), preprocess(photo), atol=0, rtol=0)
    pixels = torch.stack([preprocess(photo) for photo in photos[:2]])
    with torch.inference_mode():
        images = torch.nn.functional.normalize(model.encode_image(pixels), dim=-1).numpy()
        texts = torch.nn.functional.normalize(model.encode_text(tokenize(TEXTS)), dim=-1).numpy()
    np.testing.assert_allclose(embedder.encode_images(pixels), images, atol=1e-5)
    np.testing.assert_allclose(embedder.encode_texts(TEXTS), texts, atol=1e-5)
    assert embedder.text_fast_path is not None  # OpenAI's causal tower: the exact short pass


def test_float16_weights_are_those_clip_load_gives_on_a_gpu(checkpoint, official):
    """WildCLIP's paper precision: clip.load's convert_weights makes linear, convolution, attention and projection
    weights float16 and keeps the rest float32; the fp16-weights model holds exactly those dtypes, name by name."""
    clip = builders.import_openai_clip()
    path, _ = checkpoint
    reference = clip.model.CLIP(**builders.OPENAI_VIT_B16)
    clip.model.convert_weights(reference)
    want = {k: v.dtype for k, v in reference.state_dict().items()}
    assert set(want.values()) == {torch.float16, torch.float32}
    with pytest.warns(UserWarning, match="not CLIP weights"):
        embedder = create_embedder(f"wildclip:{path}", "cpu", "fp16-weights")
    ours = embedder._model.state_dict()
    assert {k: ours[k].dtype for k in want} == want and embedder.precision == "fp16-weights"
    model, preprocess, _ = official  # float32: the half-precision embeddings stay close to it
    pixels = torch.stack([preprocess(Image.open(p)) for p in builders.sample_image_files()[:2]])
    with torch.inference_mode():
        full = torch.nn.functional.normalize(model.encode_image(pixels), dim=-1).numpy()
    half = embedder.encode_images(pixels)
    assert (half * full).sum(axis=1).min() > 0.999 and not np.array_equal(half, full)


def test_replacing_the_checkpoint_changes_the_model_identity(tmp_path):
    path = tmp_path / "wildclip.pth"
    torch.save({"state_dict": {}}, path)
    before = model_identity(f"wildclip:{path}")
    torch.save({"state_dict": {"model.clip_model.logit_scale": torch.ones(())}}, path)
    assert model_identity(f"wildclip:{path}") != before


class _Hyperparameters:
    """Stands for the Python objects a Lightning checkpoint may pickle besides weights."""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no file .*Give the WildCLIP authors' .pth checkpoint"),
        (b"not a checkpoint", "is not a PyTorch checkpoint"),
        ({"epoch": 3}, "has no 'state_dict' entry"),
        ({"state_dict": {"model.adapter.alpha": torch.zeros(1)}}, "holds no CLIP weights.*model.adapter.alpha"),
        ({"state_dict": {}, "hyper_parameters": _Hyperparameters()}, "holds Python objects besides weights.*torch.save"),
        ("tiny", "is not a WildCLIP ViT-B/16 checkpoint: its weights do not fit"),
    ],
    ids=["missing", "not torch", "no state_dict", "no CLIP keys", "pickled objects", "wrong shapes"],
)
def test_bad_checkpoints_are_explained(tmp_path, checkpoint, content, message):
    path = tmp_path / "wildclip.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "tiny":  # every CLIP key, none of the right shape
        torch.save({"state_dict": {builders.WILDCLIP_PREFIX + k: torch.zeros(1) for k in checkpoint[1]}}, path)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(InquireError, match=message):
        create_embedder(f"wildclip:{path}", "cpu")


def test_a_partial_checkpoint_needs_openais_weights_and_says_so_offline(tmp_path, checkpoint):
    """The official code fills missing weights from clip.load's OpenAI ViT-B/16; offline that is explained."""
    path = tmp_path / "partial.pth"
    clip_state = checkpoint[1]
    kept = {k: v for i, (k, v) in enumerate(clip_state.items()) if i % 2 == 0}
    torch.save({"state_dict": {builders.WILDCLIP_PREFIX + k: v for k, v in kept.items()}}, path)
    missing = len(clip_state) - len(kept)
    with pytest.raises(InquireError, match=rf"lacks {missing} CLIP weights .*Could not download the weights of "
                                           r"open_clip:ViT-B-16-quickgelu/openai .*Run once with network access"):
        create_embedder(f"wildclip:{path}", "cpu")
