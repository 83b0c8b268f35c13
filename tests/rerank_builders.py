"""Tiny randomly initialised vision-language models of real families, saved as hub-style folders.

Each folder holds what ``AutoModelForImageTextToText`` and ``AutoProcessor`` load offline: the
model config and weights, the image processor, a byte-level BPE tokenizer (trained here on the
real INQUIRE query texts, so queries tokenize into real sub-words) with the family's special
tokens and chat template. "Yes", " Yes", "yes", " yes", "No", … are single tokens, as in the
real families' vocabularies.

BLIP-2 and InstructBLIP come with an OPT decoder or (``t5=True``) a Flan-T5-like encoder-decoder
with a SentencePiece-style tokenizer that appends ``</s>``, as T5's does. :func:`build_paper_model`
builds, for each transformers row of the paper (``inquire rerankers``), a tiny model of its family
with the row's yes and no rows calibrated (:func:`calibrate_answers`): BLIP-2 and InstructBLIP with
Flan-T5, PaliGemma, LLaVA-1.5 and LLaVA-1.6-Mistral (tokenizers that prepend ``<s>``), LLaVA-1.6-34B
(Yi's ChatML special tokens).
"""

from __future__ import annotations

import functools
import hashlib
import io
from pathlib import Path

import builders
import numpy as np

ANSWER_WORDS = ["Yes", "yes", "YES", "No", "no", "NO"]

# Templates in the shape the real checkpoints ship (LLaVA-1.5's USER/ASSISTANT, Qwen2-VL's ChatML).
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<image>\n{% elif item['type'] == 'text' %}"
    "{{ item['text'] }}{% endif %}{% endfor %}{% if message['role'] == 'user' %} {% else %}</s>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
QWEN2_VL_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# LLaVA-1.6-34B's (Yi's) ChatML turns.
CHATML_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<image>\n{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}"
    "<|im_end|>{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Idefics3 / SmolVLM's "User:<image>…<end_of_utterance>\nAssistant:" turns.
IDEFICS3_CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize }}:"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<image>{% elif item['type'] == 'text' %}"
    "{{ item['text'] }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)


def _corpus() -> list[str]:
    texts = [row["query_text"].strip() for split in ("validation", "test") for row in builders.read_queries(split)]
    answers = [spelling for w in ANSWER_WORDS for spelling in (w, " " + w)] * 50
    prompt = ["Does this picture show a bird? Answer Yes or No.", "USER: ASSISTANT: Question: Answer: answer en",
              'Answer the question with either "Yes" or "No" and nothing else. Respond with yes or no. Q: A:',
              "[INST] [/INST] system Answer the questions. user answer"] * 20
    return texts + answers + prompt


def build_tokenizer(special_tokens: list[str], *, bos: str | None, eos: str, pad: str, chat_template: str | None,
                    vocab_size: int = 1500):
    """A byte-level BPE ``PreTrainedTokenizerFast`` with the given special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=special_tokens, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad)
    fast.chat_template = chat_template
    for word in ANSWER_WORDS:
        for spelling in (word, " " + word):
            if len(fast.encode(spelling, add_special_tokens=False)) != 1:  # pragma: no cover - guards the corpus
                raise RuntimeError(f"{spelling!r} is not one token in the test tokenizer")
    return fast


def build_llava(out: Path, *, seed: int = 0) -> Path:
    """LLaVA-1.5 architecture (CLIP ViT vision tower, MLP projector, Llama decoder), random weights."""
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    tokenizer = build_tokenizer(["<unk>", "<s>", "</s>", "<pad>", "<image>"], bos="<s>", eos="</s>", pad="<pad>",
                                chat_template=LLAVA_CHAT_TEMPLATE)
    tokenizer.add_bos_token = True
    image_token_id = tokenizer.convert_tokens_to_ids("<image>")
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                       image_size=56, patch_size=14, projection_dim=32),
        text_config=LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                                pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                                eos_token_id=tokenizer.eos_token_id),
        image_token_index=image_token_id, vision_feature_select_strategy="default", vision_feature_layer=-2,
        projector_hidden_act="gelu",
    )
    with builders.seeded_torch(seed):
        model = LlavaForConditionalGeneration(config).eval()
    image_processor = CLIPImageProcessor(size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56},
                                         image_mean=list(builders.OPENAI_CLIP_MEAN), image_std=list(builders.OPENAI_CLIP_STD))
    processor = LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=14,
                               vision_feature_select_strategy="default", num_additional_image_tokens=1,
                               chat_template=LLAVA_CHAT_TEMPLATE)
    return _save(out, model, processor)


def _clip_vision(**extra):
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                            image_size=56, patch_size=14, projection_dim=32, **extra)


def _llama_text(tokenizer, **extra):
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                       pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, **extra)


def build_llava_next(out: Path, *, seed: int = 0, yi: bool = False) -> Path:
    """LLaVA-NeXT architecture (LLaVA with any-resolution tiling on a grid of pinpoints), random weights.

    ``yi``: the tokenizer of LLaVA-1.6-34B's Yi decoder instead of Mistral's: ChatML's
    ``<|im_start|>``/``<|im_end|>`` special tokens, ``<|startoftext|>`` prepended.
    """
    from transformers import (
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextImageProcessor,
        LlavaNextProcessor,
    )

    if yi:
        tokenizer = build_tokenizer(["<unk>", "<|startoftext|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"],
                                    bos="<|startoftext|>", eos="<|im_end|>", pad="<unk>", chat_template=CHATML_CHAT_TEMPLATE)
    else:
        tokenizer = build_tokenizer(["<unk>", "<s>", "</s>", "<pad>", "<image>"], bos="<s>", eos="</s>", pad="<pad>",
                                    chat_template=LLAVA_CHAT_TEMPLATE)
    tokenizer.add_bos_token = True
    pinpoints = [[56, 56], [56, 112], [112, 56], [112, 112]]
    config = LlavaNextConfig(
        vision_config=_clip_vision(), text_config=_llama_text(tokenizer), image_grid_pinpoints=pinpoints,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"), vision_feature_select_strategy="default",
        vision_feature_layer=-2, projector_hidden_act="gelu",
    )
    with builders.seeded_torch(seed):
        model = LlavaNextForConditionalGeneration(config).eval()
    image_processor = LlavaNextImageProcessor(
        size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56}, image_grid_pinpoints=pinpoints,
        image_mean=list(builders.OPENAI_CLIP_MEAN), image_std=list(builders.OPENAI_CLIP_STD))
    processor = LlavaNextProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=14,
                                   vision_feature_select_strategy="default", num_additional_image_tokens=1,
                                   chat_template=tokenizer.chat_template)
    return _save(out, model, processor)


def build_paligemma(out: Path, *, seed: int = 0) -> Path:
    """PaliGemma architecture (SigLIP vision tower, linear projector, Gemma decoder with a bidirectional prefix)."""
    from transformers import (
        GemmaConfig,
        PaliGemmaConfig,
        PaliGemmaForConditionalGeneration,
        PaliGemmaProcessor,
        SiglipImageProcessor,
        SiglipVisionConfig,
    )

    tokenizer = build_tokenizer(["<pad>", "<eos>", "<bos>", "<unk>", "<image>"], bos="<bos>", eos="<eos>", pad="<pad>",
                                chat_template=None)
    tokenizer.image_token, tokenizer.image_token_id = "<image>", tokenizer.convert_tokens_to_ids("<image>")
    image_processor = SiglipImageProcessor(size={"height": 56, "width": 56}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    image_processor.image_seq_length = (56 // 14) ** 2
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tokenizer)  # adds <loc…>/<seg…> tokens
    config = PaliGemmaConfig(
        vision_config=SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                         image_size=56, patch_size=14, vision_use_head=False),
        text_config=GemmaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                num_attention_heads=4, num_key_value_heads=1, head_dim=16, max_position_embeddings=512,
                                pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                                eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False),
        image_token_index=tokenizer.image_token_id, vocab_size=len(tokenizer), projection_dim=64, hidden_size=64,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,  # the answer rows are set apart from the prompt's own "yes"/"no" (calibrate_answers)
    )
    with builders.seeded_torch(seed):
        model = PaliGemmaForConditionalGeneration(config).eval()
    return _save(out, model, processor)


def build_idefics3(out: Path, *, seed: int = 0) -> Path:
    """Idefics3 / SmolVLM architecture (SigLIP-like tower on image tiles, pixel shuffle, Llama decoder)."""
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessor,
        Idefics3Processor,
        Idefics3VisionConfig,
    )

    specials = ["<|endoftext|>", "<|im_start|>", "<end_of_utterance>", "<fake_token_around_image>", "<image>",
                "<global-img>"] + [f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]
    tokenizer = build_tokenizer(specials, bos="<|im_start|>", eos="<end_of_utterance>", pad="<|endoftext|>",
                                chat_template=IDEFICS3_CHAT_TEMPLATE)
    config = Idefics3Config(
        vision_config=Idefics3VisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                           num_attention_heads=2, image_size=56, patch_size=14),
        text_config=_llama_text(tokenizer), scale_factor=2, image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=tokenizer.pad_token_id,
    )
    with builders.seeded_torch(seed):
        model = Idefics3ForConditionalGeneration(config).eval()
    # images are split into 56-pixel tiles (at most 2x2) plus the whole image, each tile 4 tokens after pixel shuffle
    image_processor = Idefics3ImageProcessor(size={"longest_edge": 112}, max_image_size={"longest_edge": 56},
                                             do_image_splitting=True, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    processor = Idefics3Processor(image_processor=image_processor, tokenizer=tokenizer, image_seq_len=4,
                                  chat_template=IDEFICS3_CHAT_TEMPLATE)
    return _save(out, model, processor)


def _blip_parts(qformer_vocab: int | None = None) -> tuple[dict, dict]:
    """Vision tower and Q-Former configs shared by BLIP-2 and InstructBLIP."""
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
              "image_size": 56, "patch_size": 14,
              "initializer_range": 0.02}  # the default 1e-10 would leave the tower nearly blind
    qformer = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
               "encoder_hidden_size": 32, "cross_attention_frequency": 1, "max_position_embeddings": 128}
    if qformer_vocab is not None:
        qformer["vocab_size"] = qformer_vocab
    return vision, qformer


def _opt_text(tokenizer) -> dict:
    """A tiny OPT decoder (the language model of the smaller BLIP-2 / InstructBLIP checkpoints)."""
    return {"model_type": "opt", "vocab_size": len(tokenizer), "hidden_size": 64, "ffn_dim": 128,
            "num_hidden_layers": 2, "num_attention_heads": 4, "word_embed_proj_dim": 64, "max_position_embeddings": 512,
            "pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id}


def _opt_tokenizer():
    return build_tokenizer(["<pad>", "</s>", "<unk>", "<image>"], bos="</s>", eos="</s>", pad="<pad>", chat_template=None)


def build_t5_tokenizer():
    """A Flan-T5-like tokenizer: SentencePiece-style pieces (``▁Yes``), whitespace collapsed and trimmed,
    newlines as spaces, ``</s>`` appended and no BOS, ``<pad>`` = 0 (the decoder's start token)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.BpeTrainer(vocab_size=1500, special_tokens=["<pad>", "</s>", "<unk>", "<image>"], show_progress=False)
    tok.train_from_iterator(_corpus(), trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", pad_token="<pad>", unk_token="<unk>")


def _untie_t5_head(model) -> None:
    """Flan-T5's output layer is its own matrix (transformers 5 builds T5 tied, and unties a checkpoint
    whose two matrices differ): draw one, so the saved model loads untied like the real checkpoints."""
    import torch

    lm = model.language_model
    lm.lm_head.weight = torch.nn.Parameter(torch.randn_like(lm.lm_head.weight) * 0.05)


def _t5_text(tokenizer) -> dict:
    """A tiny T5 v1.1 encoder-decoder (Flan-T5's architecture: gated GELU, untied output layer)."""
    return {"model_type": "t5", "vocab_size": len(tokenizer), "d_model": 64, "d_ff": 128, "d_kv": 16, "num_layers": 2,
            "num_decoder_layers": 2, "num_heads": 4, "feed_forward_proj": "gated-gelu", "tie_word_embeddings": False,
            "pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id,
            "decoder_start_token_id": tokenizer.pad_token_id}


def _blip_image_processor():
    from transformers import BlipImageProcessor

    return BlipImageProcessor(size={"height": 56, "width": 56},
                              image_mean=list(builders.OPENAI_CLIP_MEAN), image_std=list(builders.OPENAI_CLIP_STD))


def build_blip2(out: Path, *, seed: int = 0, t5: bool = False) -> Path:
    """BLIP-2 architecture (ViT, Q-Former with learned queries, OPT decoder or with ``t5`` a Flan-T5-like
    encoder-decoder), random weights."""
    from transformers import (
        Blip2Config,
        Blip2ForConditionalGeneration,
        Blip2Processor,
    )

    tokenizer = build_t5_tokenizer() if t5 else _opt_tokenizer()
    vision, qformer = _blip_parts()
    text = _t5_text(tokenizer) if t5 else _opt_text(tokenizer)
    config = Blip2Config(vision_config=vision, qformer_config=qformer, text_config=text,
                         num_query_tokens=4, image_token_index=tokenizer.convert_tokens_to_ids("<image>"))
    with builders.seeded_torch(seed):
        model = Blip2ForConditionalGeneration(config).eval()
        if t5:
            _untie_t5_head(model)
    image_processor = _blip_image_processor()
    processor = Blip2Processor(image_processor=image_processor, tokenizer=tokenizer, num_query_tokens=4)
    return _save(out, model, processor)


def build_instructblip(out: Path, *, seed: int = 0, t5: bool = False) -> Path:
    """InstructBLIP architecture (BLIP-2 whose Q-Former also reads the instruction), OPT decoder or with ``t5``
    a Flan-T5-like encoder-decoder, random weights."""
    from transformers import (
        InstructBlipConfig,
        InstructBlipForConditionalGeneration,
        InstructBlipProcessor,
    )

    tokenizer = build_t5_tokenizer() if t5 else _opt_tokenizer()
    qformer_tokenizer = build_tokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]"], bos="[CLS]", eos="[SEP]", pad="[PAD]",
                                        chat_template=None, vocab_size=800)
    vision, qformer = _blip_parts(qformer_vocab=len(qformer_tokenizer))
    qformer["pad_token_id"] = qformer_tokenizer.pad_token_id
    text = _t5_text(tokenizer) if t5 else _opt_text(tokenizer)
    config = InstructBlipConfig(vision_config=vision, qformer_config=qformer, text_config=text,
                                num_query_tokens=4, image_token_index=tokenizer.convert_tokens_to_ids("<image>"))
    with builders.seeded_torch(seed):
        model = InstructBlipForConditionalGeneration(config).eval()
        if t5:
            _untie_t5_head(model)
    image_processor = _blip_image_processor()
    processor = InstructBlipProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                      qformer_tokenizer=qformer_tokenizer, num_query_tokens=4)
    return _save(out, model, processor)


def _build_qwen_vl(out: Path, seed: int, *, version: str) -> Path:
    """Qwen2-VL ("2") or Qwen2.5-VL ("2.5") architecture, random weights: the same tokenizer, Qwen2
    decoder with M-RoPE and processor; the vision towers differ (2.5 adds windowed attention)."""
    import transformers
    from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    prefix = "Qwen2VL" if version == "2" else "Qwen2_5_VL"
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>"]
    tokenizer = build_tokenizer(specials, bos=None, eos="<|im_end|>", pad="<|endoftext|>", chat_template=QWEN2_VL_CHAT_TEMPLATE)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in specials}
    vision = (
        {"depth": 2, "embed_dim": 32, "hidden_size": 64, "num_heads": 2, "mlp_ratio": 2}
        if version == "2"
        else {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": 64,
              "window_size": 56, "fullatt_block_indexes": [1]}
    )
    config = getattr(transformers, f"{prefix}Config")(
        text_config={
            "vocab_size": len(tokenizer), "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 1024,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            "bos_token_id": None, "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={**vision, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "in_channels": 3},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        pad_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
    )
    with builders.seeded_torch(seed):
        model = getattr(transformers, f"{prefix}ForConditionalGeneration")(config).eval()
    image_processor = Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=112 * 112, patch_size=14, merge_size=2,
                                            temporal_patch_size=2)
    processor = getattr(transformers, f"{prefix}Processor")(
        image_processor=image_processor, tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor(),
        chat_template=QWEN2_VL_CHAT_TEMPLATE,
    )
    return _save(out, model, processor)


def build_qwen2_vl(out: Path, *, seed: int = 0) -> Path:
    return _build_qwen_vl(out, seed, version="2")


def build_qwen2_5_vl(out: Path, *, seed: int = 0) -> Path:
    return _build_qwen_vl(out, seed, version="2.5")


BUILDERS = {
    "llava": build_llava, "llava_next": build_llava_next, "paligemma": build_paligemma, "idefics3": build_idefics3,
    "blip2": build_blip2, "instructblip": build_instructblip, "qwen2_vl": build_qwen2_vl, "qwen2_5_vl": build_qwen2_5_vl,
    "blip2_t5": functools.partial(build_blip2, t5=True), "instructblip_t5": functools.partial(build_instructblip, t5=True),
}
def _save(out: Path, model, processor) -> Path:
    out = Path(out).expanduser().resolve()
    with builders._transformers_quiet():
        model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


# The paper's transformers rows, written out from the official src/lmm_utils.py (get_lmm_prompt and
# load_model) rather than read from the product: prompt, and how the yes and no token ids are picked
# (tokenizer(text).input_ids[index]).
_ANSWER = 'Answer the question with either "Yes" or "No" and nothing else.'
OFFICIAL_ROWS: dict[str, tuple[str, tuple[str, int], tuple[str, int]]] = {
    "blip2-flan-t5-xxl": ("Does this picture show {query}?" + _ANSWER + "\nAnswer: ", ("Yes", 0), ("No", 0)),
    "instructblip-flan-t5-xxl": ("Does this picture show {query}?" + _ANSWER + "\nAnswer: ", ("Yes", 0), ("No", 0)),
    "paligemma-3b-mix-448": ("Q: Does this picture show {query}? Respond with yes or no.\nA:", ("yes", -1), ("no", -1)),
    "llava-1.5-13b": ("USER: <image>\nDoes this picture show {query}?" + _ANSWER + "\nASSISTANT:", ("Yes", 1), ("No", 1)),
    "llava-v1.6-mistral-7b": ("[INST] <image>\nDoes this picture show {query}?" + _ANSWER + " [/INST]", ("Yes", 1), ("No", 1)),
    "llava-v1.6-34b": ('<|im_start|>system\nAnswer the questions.<|im_end|><|im_start|>user\n<image>\nDoes this picture '
                       'show "{query}"?Answer the question with either "Yes" or "No".<|im_end|><|im_start|>answer\n',
                       (" Yes", 1), (" No", 1)),
}
#: the GPT rows' prompt, as lmm_utils.py's get_lmm_prompt wrote it for them
OFFICIAL_GPT_PROMPT = 'Does this picture show exactly "{query}"?\n' + _ANSWER
#: logit units per standard deviation of the calibration pairs' hidden states along an answer's direction
_SPREAD = 2.0
#: the least distance (logits) of a calibration pair's answer from the 50th largest logit
_MARGIN = 0.3


def paper_rerank_dataset(root: Path) -> Path:
    """An INQUIRE-Rerank-layout folder with 2 validation queries x 8 candidates, built once per ``root``:
    rows 0 and 5, whose text ends in a space (the official code asked it so: "... mange ?Answer")."""
    if not (root / "data").is_dir():
        builders.build_rerank_dataset(root, splits={"validation": [0, 5]}, n_candidates=8)
    return root


def rerank_pairs(root: Path) -> list[tuple[str, str, bytes]]:
    """(query as spelled in the data, inat24_image_id, image bytes) of every row of a Rerank-layout folder."""
    import pandas as pd

    rows = pd.concat(pd.read_parquet(f) for f in sorted((root / "data").glob("*.parquet")))
    return [(r.query, str(r.inat24_image_id), r.image["bytes"]) for r in rows.itertuples()]


def answer_ids(tokenizer, row: str) -> tuple[int, int]:
    """The yes and no token ids as the official code picks them for ``row``."""
    _, (yes, i), (no, j) = OFFICIAL_ROWS[row]
    return tokenizer(yes).input_ids[i], tokenizer(no).input_ids[j]


def calibrate_answers(folder: Path, row: str, pairs: list[tuple[str, bytes | Path]], margin: float = _MARGIN) -> Path:
    """Set the output rows of ``row``'s yes and no tokens so that, over the (query, image) ``pairs``, each
    answer's logit lies sometimes above and sometimes below the 50th largest other logit: every case of
    the official protocol occurs (both answers in the top 50 at many ratios, one of them outside, neither).

    Each row reads the pairs' last hidden state along a (seeded) mix of its three principal directions,
    cut at a wide gap between pairs, so no pair's logit lies within ``margin`` of the 50th; the rows
    stay small, so a forward pass's numerical noise stays far below the tests' 1e-4.
    """
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from inquire.data.decode import decode_image

    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder).eval()
    head = model.get_output_embeddings()
    seen = []
    hook = head.register_forward_hook(lambda module, args, out: seen.append(args[0][:, -1].double()))
    prompt = OFFICIAL_ROWS[row][0]
    text_config = model.config.get_text_config()
    with torch.no_grad():
        for query, image in pairs:
            inputs = dict(processor(images=decode_image(image), text=prompt.replace("{query}", query), return_tensors="pt"))
            inputs.pop("labels", None)
            if text_config.is_encoder_decoder:
                inputs["decoder_input_ids"] = torch.full((1, 1), text_config.decoder_start_token_id)
            model(**inputs)
    hook.remove()
    hidden = torch.cat(seen)
    yes, no = answer_ids(processor.tokenizer, row)
    others = hidden @ head.weight.double().T
    others[:, [yes, no]] = -torch.inf
    kth = torch.topk(others, 50, dim=-1).values[:, -1]  # per pair
    mean = hidden.mean(0)
    _, sv, directions = torch.linalg.svd(hidden - mean, full_matrices=False)
    rank = int((sv > 1e-6 * sv[0]).sum())
    basis, sd = directions[:3], sv[:3] / (len(hidden) - 1) ** 0.5
    coords = (hidden - mean) @ basis.T / sd  # unit variance along each direction
    offset_dir = mean - directions[:rank].T @ (directions[:rank] @ mean)  # orthogonal to every pair's deviation
    generator = torch.Generator().manual_seed(0)
    for _ in range(500):
        mix = torch.nn.functional.normalize(torch.randn(2, 3, generator=generator, dtype=torch.float64), dim=1)
        proj = coords @ mix.T
        cuts = [_middle_gap(proj[:, k]) for k in range(2)]
        logits = kth.median() + _SPREAD * (proj - torch.tensor(cuts, dtype=torch.float64))
        inside = logits > kth[:, None]
        combos = {(bool(a), bool(b)) for a, b in inside}
        if len(combos) == 4 and (logits - kth[:, None]).abs().min() >= margin:
            break
    else:  # pragma: no cover - guards the fixture
        raise RuntimeError(f"cannot calibrate the answer rows of the tiny {row} model")
    with torch.no_grad():
        for token, k in ((yes, 0), (no, 1)):
            vector = _SPREAD * (mix[k] / sd) @ basis
            target = kth.median() - _SPREAD * cuts[k]  # the logit of a pair at the mean
            vector += (target - vector @ mean) * offset_dir / (offset_dir @ mean)
            head.weight[token] = vector.to(head.weight.dtype)
    with builders._transformers_quiet():
        model.save_pretrained(folder)
    return folder


def _middle_gap(values) -> float:
    """The midpoint of the widest gap between consecutive values of the middle half."""
    ordered = values.sort().values
    low, high = len(ordered) // 4, len(ordered) - len(ordered) // 4
    i = low + int((ordered[low + 1 : high] - ordered[low : high - 1]).argmax())
    return float((ordered[i] + ordered[i + 1]) / 2)


_PAPER_FAMILIES = {
    "blip2-flan-t5-xxl": BUILDERS["blip2_t5"], "instructblip-flan-t5-xxl": BUILDERS["instructblip_t5"],
    "paligemma-3b-mix-448": build_paligemma, "llava-1.5-13b": build_llava, "llava-v1.6-mistral-7b": build_llava_next,
    "llava-v1.6-34b": functools.partial(build_llava_next, yi=True),
}


def build_paper_model(row: str, out: Path, pairs: list[tuple[str, bytes | Path]], margin: float = _MARGIN) -> Path:
    """A tiny random model of the family of the paper's ``row`` (``inquire rerankers``), its answer rows
    calibrated on the (query, image) ``pairs`` a test will score (``calibrate_answers``)."""
    return calibrate_answers(_PAPER_FAMILIES[row](out), row, pairs, margin)


def small_rerank_dataset(root: Path) -> Path:
    """An INQUIRE-Rerank-layout folder with 2 validation queries x 10 candidates, built once per ``root``."""
    if not (root / "data").is_dir():
        builders.build_rerank_dataset(root, splits={"validation": 2}, n_candidates=10)
    return root


def paper_model(row: str, tmp_path_factory, pairs: list[tuple[str, str, bytes]]) -> Path:
    """The tiny calibrated model of ``row``'s family for the (query, image id, image) ``pairs`` of
    :func:`paper_rerank_dataset`, built once per test session (every module that asks shares it)."""
    folder = tmp_path_factory.getbasetemp() / f"paper-{row}" / "model"
    if not folder.is_dir():
        build_paper_model(row, folder, [(q, image) for q, _, image in pairs])
    return folder


def official_procedure(folder: Path, row: str, pairs, device: str = "cpu", dtype=None) -> np.ndarray:
    """The reference: per (query, image id, image bytes) pair, p(yes)/(p(yes)+p(no)) of transformers' own
    ``generate(...).scores[0]`` with the official call's arguments (NaN for 0/0), p(yes), p(no); one pair
    at a time, as lmm_utils.py asked. ``dtype`` defaults to float32."""
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    dtype = dtype or torch.float32
    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder, dtype=dtype).to(device).eval()
    yes, no = answer_ids(processor.tokenizer, row)
    prompt = OFFICIAL_ROWS[row][0]
    out = []
    for query, _, image in pairs:
        raw_image = Image.open(io.BytesIO(image))
        if row.startswith(("blip2", "instructblip")):
            raw_image = raw_image.convert("RGB")
        inputs = processor(images=raw_image, text=prompt.replace("{query}", query), return_tensors="pt").to(device)
        inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
        generated = model.generate(**inputs, do_sample=True, temperature=0.5, max_new_tokens=1, use_cache=True,
                                   return_dict_in_generate=True, output_scores=True, renormalize_logits=True,
                                   pad_token_id=processor.tokenizer.eos_token_id)
        probs = generated.scores[0][0].exp()  # max_new_tokens=5 in the official call: the first step is the same
        out.append((float(probs[yes] / (probs[yes] + probs[no])), float(probs[yes]), float(probs[no])))
    return np.array(out)


def official_gpt(state, query: str, image: bytes) -> float | None:
    """convert_gpt_response_to_preds on what the fake server (tests/fake_openai.py) sent for this pair,
    written out here; None if the server refused it (the official code then scores 0)."""
    text = OFFICIAL_GPT_PROMPT.replace("{query}", query)
    top = state.served.get((text, hashlib.sha256(image).hexdigest()))
    if top is None:
        return None
    yes = [t["logprob"] for t in top if t["token"] == "Yes"]
    no = [t["logprob"] for t in top if t["token"] == "No"]
    if not yes:
        return 0.0
    if not no:
        return 1.0
    return float(np.exp(yes).sum() / (np.exp(yes).sum() + np.exp(no).sum()))
