"""Query texts are encoded only as far as they go, with exactly the full pass's result.

For causal CLIP towers the short pass must equal the 77-token pass on texts of every length
mixed in one batch; for towers where it would not be exact (SigLIP, CoCa-style class tokens)
the full pass is kept. Decided from the model object, never from its name.
"""

from __future__ import annotations

import open_clip
import pytest
import torch
from open_clip.model import CLIP, CustomTextCLIP

import builders
from inquire.models import create_embedder
from inquire.models.text_fast import CausalTextTower

TEXTS = [
    "a",
    "a sick cassava plant",
    "a hermit crab using plastic trash as its shell",
    "tamandua back-brooding its young",
    builders.LONG_QUERY,  # truncated at 77
    "Dried Cape Weaver nest ",
]


def _vision(width: int = 32) -> dict:
    return {"image_size": 32, "layers": 1, "width": width, "head_width": 16, "patch_size": 16}


def _text(**extra) -> dict:
    return {"context_length": 77, "vocab_size": builders.CLIP_VOCAB_SIZE, "width": 32, "heads": 2, "layers": 2, **extra}


def _lengths_seen(tower: CausalTextTower | torch.nn.Module) -> list[int]:
    """Sequence lengths entering the text transformer (a forward hook only observes)."""
    seen: list[int] = []
    module = tower.tower.transformer if isinstance(tower, CausalTextTower) else tower
    def record(mod, args, kwargs, out):
        x = args[0] if args else next(iter(kwargs.values()))
        seen.append(x.shape[1])

    module.register_forward_hook(record, with_kwargs=True)
    return seen


@pytest.mark.parametrize(
    "model",
    [
        pytest.param(lambda: CLIP(16, _vision(), _text()), id="open_clip CLIP (OpenAI layout)"),
        pytest.param(lambda: CustomTextCLIP(16, _vision(), _text()), id="open_clip CustomTextCLIP, argmax pooling"),
        pytest.param(lambda: CustomTextCLIP(16, _vision(), _text(pool_type="eos", eos_id=49407)), id="open_clip CustomTextCLIP, eos pooling"),
        pytest.param(lambda: CLIP(16, {"image_size": 64, "layers": [1, 1, 1, 1], "width": 8, "patch_size": None}, _text()),
                     id="open_clip ResNet CLIP"),
    ],
)
def test_short_pass_equals_full_pass_on_mixed_lengths(model):
    torch.manual_seed(0)
    model = model().eval()
    fast = CausalTextTower.of(model)
    assert fast is not None
    tokens = open_clip.get_tokenizer("ViT-B-32")(TEXTS)
    short_batch = tokens[:4]  # no text reaches the context length here
    seen = _lengths_seen(fast)
    with torch.inference_mode():
        for batch in (tokens, short_batch, tokens[1:2]):
            torch.testing.assert_close(fast.encode(batch), model.encode_text(batch), atol=1e-5, rtol=0)
    fast_lengths, full_lengths = seen[0::2], seen[1::2]  # each batch: the short pass, then open_clip's own
    assert full_lengths == [77, 77, 77]
    assert fast_lengths[0] == 77 and fast_lengths[1] == int(short_batch.argmax(-1).max()) + 1 < 20 and fast_lengths[2] < 10


@pytest.mark.parametrize(
    ("model", "why"),
    [
        (lambda: CustomTextCLIP(16, _vision(), _text(no_causal_mask=True, pool_type="last")), "SigLIP: bidirectional, last token"),
        (lambda: CustomTextCLIP(16, _vision(), _text(pool_type="last")), "pools the last position, padding included"),
        (lambda: CustomTextCLIP(16, _vision(), _text(embed_cls=True)), "CoCa-style appended class token"),
    ],
)
def test_towers_where_the_short_pass_is_not_exact_keep_the_full_pass(model, why):
    assert CausalTextTower.of(model()) is None, why


def test_the_open_clip_embedder_uses_it_and_matches_open_clip(open_clip_spec):
    embedder = create_embedder(open_clip_spec, "cpu")
    assert embedder.text_fast_path is not None
    model = embedder._model
    tokenizer = open_clip.get_tokenizer(open_clip_spec.removeprefix("open_clip:"))
    with torch.inference_mode():
        full = torch.nn.functional.normalize(model.encode_text(tokenizer(TEXTS)).float(), dim=-1).numpy()
    torch.testing.assert_close(torch.from_numpy(embedder.encode_texts(TEXTS)), torch.from_numpy(full), atol=1e-5, rtol=0)


def _hf_full_pass(model, tokens: dict) -> torch.Tensor:
    with torch.inference_mode():
        out = model.get_text_features(**tokens)
    return torch.nn.functional.normalize(getattr(out, "pooler_output", out).float(), dim=-1)


def test_the_transformers_clip_embedder_pads_only_to_the_longest_text(hf_clip_spec):
    """transformers' CLIP text model is causal and pools at end-of-text: padding to the longest text
    of the batch (the tokenizer's padding=True) is the short pass, and equals the 77-token pass."""
    embedder = create_embedder(hf_clip_spec, "cpu")
    assert embedder.pads_to_longest
    model, tokenizer = embedder._model, embedder._tokenizer
    seen = _lengths_seen(model.text_model.encoder)
    for batch in (TEXTS, TEXTS[:4], TEXTS[1:2]):  # the first holds a text truncated at 77 tokens
        fast = embedder.encode_texts(batch)
        tokens = tokenizer(batch, padding="max_length", max_length=77, truncation=True, return_tensors="pt")
        torch.testing.assert_close(torch.from_numpy(fast), _hf_full_pass(model, dict(tokens)), atol=1e-5, rtol=0)
    longest = [len(tokenizer(batch, padding=True)["input_ids"][0]) for batch in (TEXTS[:4], TEXTS[1:2])]
    assert seen[0::2] == [77, *longest] and longest[0] < 20 and seen[1::2] == [77, 77, 77]


def test_transformers_siglip_keeps_the_full_padded_pass(tmp_path):
    """SigLIP pools the last position and was trained on texts padded to 64 without a padding mask:
    the embedder pads every text to 64 and passes the ids alone, exactly the plain full pass."""
    embedder = create_embedder(builders.build_hf_siglip_model(tmp_path / "siglip"), "cpu")
    assert not embedder.pads_to_longest
    model, tokenizer = embedder._model, embedder._tokenizer
    seen = _lengths_seen(model.text_model.encoder)
    fast = embedder.encode_texts(TEXTS[1:3])
    ids = tokenizer(TEXTS[1:3], padding="max_length", max_length=64, truncation=True, return_tensors="pt")["input_ids"]
    torch.testing.assert_close(torch.from_numpy(fast), _hf_full_pass(model, {"input_ids": ids}), atol=1e-5, rtol=0)
    assert seen[0] == 64
    masked = tokenizer(TEXTS[1:3], padding="max_length", max_length=64, truncation=True, return_tensors="pt")
    assert not torch.allclose(_hf_full_pass(model, dict(masked)), torch.from_numpy(fast), atol=1e-3)  # a mask would change it


def test_open_clip_siglip_keeps_the_full_pass(tmp_path):
    spec = builders.build_open_clip_siglip_model(tmp_path / "siglip")
    embedder = create_embedder(spec, "cpu")
    assert embedder.text_fast_path is None
    model = embedder._model
    tokens = open_clip.get_tokenizer(spec.removeprefix("open_clip:"))(TEXTS)
    seen = _lengths_seen(model.text.transformer)
    fast = embedder.encode_texts(TEXTS)
    with torch.inference_mode():
        full = torch.nn.functional.normalize(model.encode_text(tokens).float(), dim=-1)
    torch.testing.assert_close(torch.from_numpy(fast), full, atol=1e-5, rtol=0)
    assert tokens.shape[1] == 64 and seen == [64, 64]
