"""Local vision-language models as rerankers (``vlm:REPO_OR_DIR``), through transformers.

Any checkpoint that ``AutoModelForImageTextToText`` and ``AutoProcessor`` load works, decoder-only
or encoder-decoder (BLIP-2 / InstructBLIP with Flan-T5, whose decoder starts from its start token);
the prompt is worded per family (:mod:`inquire.rerank.prompts`). A batch of (image, question)
pairs is padded and run through ONE forward pass that returns only the first answer position's
logits: no generation and no sampling, so a score is a deterministic function of the weights.
Positions of left-padded rows are computed by transformers' own generation helper, so a batched
score equals the score of the pair alone. Decoding and preprocessing of the next batch run in a
background thread while the model works on the current one.
"""

from __future__ import annotations

import hashlib
import inspect
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ..data.decode import DecodeError, decode_image
from ..errors import InquireError
from .base import CachedScorer, Pair, ScoreResult
from .cache import ScoreCache
from .prompts import (
    NO,
    YES,
    PromptStyle,
    check_template,
    render,
    spellings,
    style_for,
    yes_probability,
)

DTYPES = ("auto", "bfloat16", "float16", "float32")


def folder_fingerprint(folder: Path) -> str:
    """A hash of a local folder's file names, sizes and times: replaced weights never hit stale scores."""
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        st = f.stat()
        h.update(f"{f.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def answer_token_ids(tokenizer, word: str) -> list[int]:
    """Ids of the single tokens that spell ``word`` (any capitalisation, with or without a leading space).

    Both how the tokenizer encodes each spelling and the vocabulary's own word-initial forms
    (SentencePiece ``▁Yes``, byte-level ``ĠYes``) count, so no spelling a model may emit is missed.
    """
    vocab = tokenizer.get_vocab()
    ids = set()
    for s in spellings(word):
        encoded = tokenizer.encode(s, add_special_tokens=False)
        if len(encoded) == 1:
            ids.add(encoded[0])
        for token in (s, "▁" + s.lstrip(), "Ġ" + s.lstrip()):
            if token in vocab:
                ids.add(vocab[token])
    return sorted(ids)


@dataclass
class _Model:
    model: object
    yes: list[int]  # token ids of the "yes" answer (all its spellings for our protocol, one for a paper row's)
    no: list[int]
    names: list[str]  # those tokens as text, for the cached answer probabilities
    keep_last: bool  # forward() can return the last position's logits only
    positions: bool  # forward() takes position_ids (decoder-only models)
    decoder_start: int | None  # encoder-decoder models: the token their decoder starts from


@dataclass
class _Batch:
    inputs: dict | None
    rows: list[int]  # indices (within the chunk) of the pairs in ``inputs``
    failed: dict[int, str]


class VlmScorer(CachedScorer):
    """p(Yes) / (p(Yes) + p(No)) from a transformers image-text-to-text model's first answer token.

    This is inquire's own protocol: the family's prompt (:mod:`inquire.rerank.prompts`), every
    single-token spelling of each answer, the full softmax of one forward pass.
    :class:`inquire.rerank.paper.PaperVlmScorer` keeps the batching and replaces the protocol
    (``template`` without the chat template, ``_answer_ids``, ``_read``) with the official one.
    """

    def __init__(
        self, name: str, *, device: str | None = None, batch_size: int = 8, template: str | None = None,
        dtype: str = "auto", cache: ScoreCache | None = None,
    ) -> None:
        super().__init__(cache)
        self._open(name, f"vlm:{name}", device, batch_size, dtype)
        self.dtype = _compute_dtype(self.device, dtype)
        has_chat_template = bool(getattr(self.processor, "chat_template", None))
        self.style: PromptStyle = style_for(self.model_type, has_chat_template)
        if template is not None:
            self.template, self.chat = check_template(template), has_chat_template
        elif self.style.chat and not has_chat_template:
            raise InquireError(
                f"vlm:{name}: a {self.style.family} model is asked inside its chat template, and this one ships none; "
                "pass a plain-text prompt with {query} (--template), written as the model was trained to read it."
            )
        else:
            self.template, self.chat = self.style.template, self.style.chat
        self.spec = f"vlm:{self.name}"
        tpl = hashlib.sha256(f"{self.chat}:{self.template}".encode()).hexdigest()[:12]
        self.identity = f"vlm:{self.name}{self.weights}@{self.dtype_name}|prompt:{tpl}"

    def _open(self, name: str, label: str, device: str | None, batch_size: int, dtype: str) -> None:
        """Device, config and processor of ``name`` (the weights are loaded when something needs scoring).

        ``label`` is the spec as the user wrote it, for messages.
        """
        import torch
        from transformers import AutoConfig, AutoProcessor

        from ..device import pick_device

        if dtype not in DTYPES:
            raise InquireError(f"Unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}.")
        self.device = pick_device(device)
        if name.startswith(("/", ".", "~")) and not Path(name).expanduser().is_dir():
            raise InquireError(f"{label}: no such folder. Give a folder saved with save_pretrained, or a hub id.")
        name = str(Path(name).expanduser()) if name.startswith("~") else name
        self.name, self.label, self.batch_size = name, label, batch_size
        self.chunk_size = max(64, 4 * batch_size)
        try:
            config = AutoConfig.from_pretrained(name)
            self.processor = AutoProcessor.from_pretrained(name)
        except (OSError, ValueError) as exc:
            where = ("a folder saved with save_pretrained" if label.startswith("vlm:")
                     else f"{label.partition('=')[0]}=DIR (a local copy of the weights)")
            raise InquireError(
                f"Cannot load {label} ({str(exc).splitlines()[0]}). Give {where}, or a hub id of an "
                "image-text-to-text model (downloaded once, then read from the hub cache)."
            ) from None
        self.model_type = config.model_type
        self.encoder_decoder = bool(config.get_text_config().is_encoder_decoder)
        # Decoder-only: left padding puts every row's answer position last. Encoder-decoder (BLIP-2 and
        # InstructBLIP with Flan-T5): the encoder reads the prompt, so right padding keeps the image and
        # text tokens together (T5's relative positions would otherwise see the padding between them).
        self.processor.tokenizer.padding_side = "right" if self.encoder_decoder else "left"
        folder = Path(name)
        self.weights = f"#{folder_fingerprint(folder)}" if folder.is_dir() else ""
        self._torch = torch

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    @cached_property
    def _loaded(self) -> _Model:
        """Model, answer token ids and forward-pass options, loaded on first need (never on a fully cached run)."""
        from transformers import AutoModelForImageTextToText

        try:
            model = AutoModelForImageTextToText.from_pretrained(self.name, dtype=self.dtype)
        except (OSError, ValueError) as exc:
            raise InquireError(
                f"Cannot load {self.label} as an image-text-to-text model ({str(exc).splitlines()[0]})."
            ) from None
        model = model.to(self.device).eval()
        yes, no = self._answer_ids(model)
        params = inspect.signature(model.forward).parameters
        names = [self.processor.tokenizer.decode([t]) for t in (*yes, *no)]
        if len(set(names)) < len(names):  # SentencePiece "▁Yes" and "Yes" both read "Yes": keep both apart
            names = self.processor.tokenizer.convert_ids_to_tokens([*yes, *no])
        start = None
        if self.encoder_decoder:  # what generate() starts the decoder with
            start = generating_model(model).generation_config.decoder_start_token_id
            if start is None:
                raise InquireError(
                    f"{self.label}: an encoder-decoder model whose generation config names no decoder_start_token_id."
                )
        return _Model(model, yes, no, names, "logits_to_keep" in params,
                      "position_ids" in params and not self.encoder_decoder, start)

    def _answer_ids(self, model) -> tuple[list[int], list[int]]:
        """Token ids whose probabilities make the yes and the no answer: here every single-token spelling."""
        tokenizer = self.processor.tokenizer
        yes, no = answer_token_ids(tokenizer, YES), answer_token_ids(tokenizer, NO)
        if not yes or not no:
            raise InquireError(f"{self.label}: its tokenizer has no single token for {YES!r} or {NO!r}.")
        return yes, no

    def prompt(self, query: str) -> str:
        """The full text given to the processor for ``query`` (the image goes where the model expects it)."""
        question = render(self.template, query)
        if not self.chat:
            return question
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def _prepare(self, pairs: Sequence[Pair], rows: list[int]) -> _Batch:
        images, texts, ok, failed = [], [], [], {}
        for i in rows:
            try:
                images.append(decode_image(pairs[i].image))
            except DecodeError as exc:
                failed[i] = f"image {pairs[i].image_key}: {exc}"
                continue
            texts.append(self.prompt(pairs[i].query))
            ok.append(i)
        if not ok:
            return _Batch(None, [], failed)
        if self.model_type in ("idefics3", "smolvlm"):
            images = [[img] for img in images]  # these processors take a list of images per text
        inputs = dict(self.processor(text=texts, images=images, padding=True, return_tensors="pt"))
        inputs.pop("labels", None)  # PaliGemma's processor adds training labels: the model would compute a loss
        return _Batch(inputs, ok, failed)

    def _forward(self, inputs: dict):
        """The float32 logits (batch x vocabulary) of the first answer token, as generate() reads them."""
        torch, m = self._torch, self._loaded
        inputs = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in inputs.items()}
        for k, v in inputs.items():
            if torch.is_tensor(v) and v.is_floating_point():
                inputs[k] = v.to(self.dtype)
        if m.positions:  # what generate() would pass: positions that skip the left padding
            inputs["position_ids"] = m.model._prepare_position_ids_for_generation(inputs["input_ids"], dict(inputs))
        if m.decoder_start is not None:
            rows = inputs["input_ids"].shape[0]
            inputs["decoder_input_ids"] = torch.full((rows, 1), m.decoder_start, dtype=torch.long, device=self.device)
        with torch.inference_mode():
            logits = m.model(**inputs, **({"logits_to_keep": 1} if m.keep_last else {}), use_cache=False).logits
            return logits[:, -1, :].float()

    def _read(self, logits) -> tuple[np.ndarray, list[dict[str, float]]]:
        """Scores and answer probabilities of a batch: the spellings' full-softmax probabilities, summed."""
        m = self._loaded
        logp = self._torch.log_softmax(logits, dim=-1)
        log_yes, log_no = logp[:, m.yes].double().cpu().numpy(), logp[:, m.no].double().cpu().numpy()
        scores = np.array([yes_probability(y, n) for y, n in zip(log_yes, log_no)])
        answers = [dict(zip(m.names, map(math.exp, [*y, *n]))) for y, n in zip(log_yes, log_no)]
        return scores, answers

    def _score(self, pairs: Sequence[Pair]) -> ScoreResult:
        scores = np.full(len(pairs), np.nan)
        answers: list[dict[str, float] | None] = [None] * len(pairs)
        errors: dict[int, str] = {}
        batches = [list(range(s, min(s + self.batch_size, len(pairs)))) for s in range(0, len(pairs), self.batch_size)]
        with ThreadPoolExecutor(max_workers=1) as pool:  # prepares batch n+1 while the model runs batch n
            pending = pool.submit(self._prepare, pairs, batches[0]) if batches else None
            for n in range(len(batches)):
                batch = pending.result()
                pending = pool.submit(self._prepare, pairs, batches[n + 1]) if n + 1 < len(batches) else None
                errors.update(batch.failed)
                if batch.inputs is None:
                    continue
                batch_scores, batch_answers = self._read(self._forward(batch.inputs))
                for j, i in enumerate(batch.rows):
                    scores[i], answers[i] = batch_scores[j], batch_answers[j]
        return ScoreResult(scores, errors, answers)


def generating_model(model):
    """The part of ``model`` whose generate() produces the answer (BLIP-2 and InstructBLIP hand over to theirs)."""
    return model.language_model if model.config.model_type in ("blip-2", "instructblip") else model


def _compute_dtype(device, dtype: str):
    import torch

    if dtype != "auto":
        return getattr(torch, dtype)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32  # half precision on CPUs is slow and changes scores
