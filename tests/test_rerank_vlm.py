"""vlm: rerankers on tiny random checkpoints of every family the issue names, against a direct computation."""

from __future__ import annotations

import json

import builders
import numpy as np
import pytest
import rerank_builders
import torch
from typer.testing import CliRunner

from inquire.cli import app
from inquire.data.decode import decode_image
from inquire.errors import InquireError
from inquire.rerank import Pair, ScoreCache, create_scorer
from inquire.rerank.prompts import style_for
from inquire.rerank.vlm import answer_token_ids

QUERIES = ["a bird", "a hermit crab using plastic trash as its shell", "Tamandua back-brooding its young"]


def spelled(tokenizer, word: str) -> list[int]:
    """Ids of the vocabulary entries that are ``word`` in any capitalisation, with or without a word-start
    mark (byte-level "Ġ", SentencePiece "▁"): Yes, ĠYes, yes, ... or ▁Yes, Yes, ▁yes, ..."""
    forms = {word, word.lower(), word.upper()}
    return sorted(i for t, i in tokenizer.get_vocab().items() if t in forms or (t[:1] in "Ġ▁" and t[1:] in forms))


# Prompts of the families that ship no chat template, written out here rather than read from the product.
PLAIN_PROMPTS = {
    "paligemma": "answer en Does this picture show {query}? Answer Yes or No.",
    "blip-2": "Question: Does this picture show {query}? Answer:",
    "instructblip": "Does this picture show {query}? Answer Yes or No.",
}


def _built(family, tmp_path_factory):
    """The tiny model folder of ``family``, built once per session."""
    folder = tmp_path_factory.getbasetemp() / f"vlm-{family}" / "model"
    if not folder.is_dir():
        rerank_builders.BUILDERS[family](folder)
    return folder


@pytest.fixture(scope="module", params=["llava", "qwen2_vl"])
def vlm_dir(request, tmp_path_factory):
    return _built(request.param, tmp_path_factory)


@pytest.fixture(scope="module", params=list(rerank_builders.BUILDERS))
def family_dir(request, tmp_path_factory):
    """Every family the issue names: LLaVA-1.5/NeXT, PaliGemma, Idefics3, BLIP-2 and InstructBLIP (with OPT and with
    Flan-T5, an encoder-decoder), Qwen2-VL/2.5-VL."""
    return _built(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def small_rerank_dir(tmp_path_factory):
    return rerank_builders.small_rerank_dataset(tmp_path_factory.getbasetemp() / "small-rerank")


@pytest.fixture(scope="module")
def pairs():
    images = builders.sample_image_files()[:3]
    return [Pair(q, p.name, p) for q in QUERIES for p in images]


def direct_scores(folder, pairs) -> np.ndarray:
    """p(Yes)/(p(Yes)+p(No)) computed pair by pair from the model's logits, without the product's code."""
    from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder).eval()
    config = AutoConfig.from_pretrained(folder)
    model_type, text_config = config.model_type, config.get_text_config()
    yes, no = spelled(processor.tokenizer, "Yes"), spelled(processor.tokenizer, "No")
    out = []
    for p in pairs:
        if model_type in PLAIN_PROMPTS:
            text = PLAIN_PROMPTS[model_type].replace("{query}", p.query)
        else:
            messages = [{"role": "user", "content": [
                {"type": "image"}, {"type": "text", "text": f"Does this picture show {p.query}? Answer Yes or No."}]}]
            text = processor.apply_chat_template(messages, add_generation_prompt=True)
        image = decode_image(p.image)
        images = [[image]] if model_type == "idefics3" else [image]
        inputs = processor(text=[text], images=images, return_tensors="pt")
        inputs.pop("labels", None)  # PaliGemma's processor adds training labels
        if text_config.is_encoder_decoder:  # the decoder reads its start token; the answer is its first output
            inputs["decoder_input_ids"] = torch.tensor([[text_config.decoder_start_token_id]])
        with torch.no_grad():
            probs = model(**inputs).logits[0, -1].double().softmax(-1)
        out.append(float(probs[yes].sum() / (probs[yes].sum() + probs[no].sum())))
    return np.array(out)


def test_batched_scores_equal_direct_computation(family_dir, pairs, tmp_path):
    scorer = create_scorer(f"vlm:{family_dir}", device="cpu", batch_size=4, cache=tmp_path / "s.sqlite")
    result = scorer.score_pairs(pairs)  # batches of 4 mix prompts of different lengths: left padding is exercised
    assert result.errors == {} and np.isfinite(result.scores).all()
    np.testing.assert_allclose(result.scores, direct_scores(family_dir, pairs), rtol=0, atol=1e-6)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(family_dir)
    assert len(result.answers[0]) == len(spelled(tok, "Yes")) + len(spelled(tok, "No")) >= 8  # each spelling recorded


def test_answer_ids_are_every_single_token_spelling(family_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(family_dir)
    assert answer_token_ids(tok, "Yes") == spelled(tok, "Yes") and len(spelled(tok, "Yes")) >= 4
    assert answer_token_ids(tok, "No") == spelled(tok, "No")


def test_cached_scores_never_load_the_model(vlm_dir, pairs, tmp_path):
    cache = ScoreCache(tmp_path / "s.sqlite")
    first = create_scorer(f"vlm:{vlm_dir}", device="cpu", cache=cache).score_pairs(pairs)
    again = create_scorer(f"vlm:{vlm_dir}", device="cpu", cache=cache)
    np.testing.assert_array_equal(again.score_pairs(pairs).scores, first.scores)
    assert "_loaded" not in again.__dict__  # the model was never loaded


def test_undecodable_image_is_missing_not_zero(vlm_dir, pairs, tmp_path):
    cache = ScoreCache(tmp_path / "s.sqlite")
    scorer = create_scorer(f"vlm:{vlm_dir}", device="cpu", cache=cache)
    result = scorer.score_pairs([pairs[0], Pair("a bird", "broken", b"\xff\xd8 not a jpeg")])
    assert np.isnan(result.scores[1]) and "broken" in result.errors[1]
    assert len(cache) == 1  # only the real score is stored


def test_user_template_changes_prompt_and_cache_identity(vlm_dir, tmp_path):
    default = create_scorer(f"vlm:{vlm_dir}", cache=tmp_path / "s.sqlite")
    custom = create_scorer(f"vlm:{vlm_dir}", cache=tmp_path / "s.sqlite", template="Is there {query} here? Yes or No.")
    assert custom.identity != default.identity
    assert "Is there a frog here? Yes or No." in custom.prompt("a frog")
    with pytest.raises(InquireError, match="lacks \\{query\\}"):
        create_scorer(f"vlm:{vlm_dir}", cache=tmp_path / "s.sqlite", template="Is it there?")


def test_families_without_chat_template_get_their_plain_prompt():
    assert style_for("paligemma", False).template.startswith("answer en ")
    assert not style_for("blip-2", False).chat
    assert style_for("some_new_vlm", True).chat
    with pytest.raises(InquireError, match="Known families"):
        style_for("some_new_vlm", False)


def test_rerank_command_with_a_vlm(vlm_dir, small_rerank_dir, queries_csv, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "rerank", "--model", f"vlm:{vlm_dir}", "--data", str(small_rerank_dir), "--queries", str(queries_csv("val")),
        "--split", "val", "--out", str(out), "--batch-size", "8", "--device", "cpu",
        "--score-cache", str(tmp_path / "s.sqlite"),
    ], terminal_width=200)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == f"vlm:{vlm_dir}" and summary["n_scores_missing"] == 0
    assert summary["n_candidates"] == 20 and 0 <= summary["map"] <= 1
