"""Local vision-language models as rerankers (``vlm:REPO_OR_DIR``), through transformers.

Any checkpoint that ``AutoModelForImageTextToText`` and ``AutoProcessor`` load works; the
prompt is worded per family (:mod:`inquire.rerank.prompts`). A batch of (image, question)
pairs is left-padded and run through ONE forward pass that returns only the last position's
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
    yes: list[int]  # token ids of the answer's spellings
    no: list[int]
    names: list[str]  # those tokens as text, for the cached answer probabilities
    keep_last: bool  # forward() can return the last position's logits only
    positions: bool  # forward() takes position_ids (decoder-only models)


@dataclass
class _Batch:
    inputs: dict | None
    rows: list[int]  # indices (within the chunk) of the pairs in ``inputs``
    failed: dict[int, str]


class VlmScorer(CachedScorer):
    """p(Yes) / (p(Yes) + p(No)) from a transformers image-text-to-text model's first answer token."""

    def __init__(
        self, name: str, *, device: str | None = None, batch_size: int = 8, template: str | None = None,
        dtype: str = "auto", cache: ScoreCache | None = None,
    ) -> None:
        import torch
        from transformers import AutoConfig, AutoProcessor

        from ..device import pick_device

        super().__init__(cache)
        if dtype not in DTYPES:
            raise InquireError(f"Unknown dtype {dtype!r}: use one of {', '.join(DTYPES)}.")
        self.device = pick_device(device)
        self.dtype = _compute_dtype(self.device, dtype)
        if name.startswith(("/", ".", "~")) and not Path(name).expanduser().is_dir():
            raise InquireError(f"vlm:{name}: no such folder. Give a folder saved with save_pretrained, or a hub id.")
        name = str(Path(name).expanduser()) if name.startswith("~") else name
        self.name, self.batch_size = name, batch_size
        self.chunk_size = max(64, 4 * batch_size)
        try:  # config and processor only: the weights are loaded when something needs scoring
            self.model_type = AutoConfig.from_pretrained(name).model_type
            self.processor = AutoProcessor.from_pretrained(name)
        except (OSError, ValueError) as exc:
            raise InquireError(
                f"Cannot load vlm:{name} ({str(exc).splitlines()[0]}). Give a folder saved with save_pretrained, "
                "or a hub id of an image-text-to-text model (downloaded once, then read from the hub cache)."
            ) from None
        self.processor.tokenizer.padding_side = "left"  # the answer position is then the last one of every row
        has_chat_template = bool(getattr(self.processor, "chat_template", None))
        self.style: PromptStyle = style_for(self.model_type, has_chat_template)
        if template is not None:
            self.template, self.chat = check_template(template), has_chat_template
        else:
            self.template, self.chat = self.style.template, self.style.chat
        folder = Path(name)
        weights = f"#{folder_fingerprint(folder)}" if folder.is_dir() else ""
        self.spec = f"vlm:{name}"
        tpl = hashlib.sha256(f"{self.chat}:{self.template}".encode()).hexdigest()[:12]
        self.identity = f"vlm:{name}{weights}@{str(self.dtype).removeprefix('torch.')}|prompt:{tpl}"
        self._torch = torch

    @cached_property
    def _loaded(self):
        """Model, answer token ids and forward-pass options, loaded on first need (never on a fully cached run)."""
        from transformers import AutoModelForImageTextToText

        try:
            model = AutoModelForImageTextToText.from_pretrained(self.name, dtype=self.dtype)
        except (OSError, ValueError) as exc:
            raise InquireError(
                f"Cannot load vlm:{self.name} as an image-text-to-text model ({str(exc).splitlines()[0]})."
            ) from None
        model = model.to(self.device).eval()
        tokenizer = self.processor.tokenizer
        yes, no = answer_token_ids(tokenizer, YES), answer_token_ids(tokenizer, NO)
        if not yes or not no:
            raise InquireError(f"vlm:{self.name}: its tokenizer has no single token for {YES!r} or {NO!r}.")
        params = inspect.signature(model.forward).parameters
        names = [tokenizer.decode([t]) for t in (*yes, *no)]
        return _Model(model, yes, no, names, "logits_to_keep" in params,
                      "position_ids" in params and not model.config.is_encoder_decoder)

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

    def _forward(self, inputs: dict) -> tuple[np.ndarray, np.ndarray]:
        """Log-probabilities (float64) of the yes and no tokens at the first answer position."""
        torch, m = self._torch, self._loaded
        inputs = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in inputs.items()}
        for k, v in inputs.items():
            if torch.is_tensor(v) and v.is_floating_point():
                inputs[k] = v.to(self.dtype)
        if m.positions:  # what generate() would pass: positions that skip the left padding
            inputs["position_ids"] = m.model._prepare_position_ids_for_generation(inputs["input_ids"], dict(inputs))
        with torch.inference_mode():
            logits = m.model(**inputs, **({"logits_to_keep": 1} if m.keep_last else {}), use_cache=False).logits[:, -1, :]
            logp = torch.log_softmax(logits.float(), dim=-1)
        return logp[:, m.yes].double().cpu().numpy(), logp[:, m.no].double().cpu().numpy()

    def _score(self, pairs: Sequence[Pair]) -> ScoreResult:
        names = self._loaded.names
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
                log_yes, log_no = self._forward(batch.inputs)
                for j, i in enumerate(batch.rows):
                    scores[i] = yes_probability(log_yes[j], log_no[j])
                    answers[i] = dict(zip(names, map(math.exp, [*log_yes[j], *log_no[j]])))
        return ScoreResult(scores, errors, answers)


def _compute_dtype(device, dtype: str):
    import torch

    if dtype != "auto":
        return getattr(torch, dtype)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32  # half precision on CPUs is slow and changes scores
