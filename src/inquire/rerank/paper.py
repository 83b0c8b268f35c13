"""The paper's rerankers, asked and scored as the official INQUIRE code asked and scored them.

Transformers rows (``ModelWrapper`` in the official ``src/lmm_utils.py``) ran, per image,
``generate(do_sample=True, temperature=0.5, renormalize_logits=True, output_scores=True)`` and read
p(yes) / (p(yes) + p(no)) off the first step's *processed* scores: logits / 0.5, all but the top 50
set to -inf (transformers' default ``top_k``), log-softmax, exp, in float32. Those steps come before
sampling, so the score is deterministic. :class:`PaperVlmScorer` computes exactly them from one
batched forward pass (tests check it against transformers' own ``generate(...).scores[0]``):

* both answers in the top 50: sigmoid(2 · (logit_yes − logit_no)), rounded as float32 rounds it
  (a confident "yes" becomes exactly 1.0, so such images tie, as they did in the paper);
* "yes" outside the top 50: exactly 0; "no" outside: exactly 1 (as the official code);
* neither in the top 50: the official code divides 0 by 0 (NaN). inquire scores it 0, because the
  processed p(yes) is 0, as the official GPT conversion scores a reply without "Yes"; every such
  pair is counted (``cases`` in ``report()``, hence ``reranker_stats`` in ``summary.json``).

API rows (:class:`PaperApiScorer`) apply ``convert_gpt_response_to_preds``: exact-case ``Yes`` and
``No`` among the first token's top log-probabilities, p(Yes) / (p(Yes) + p(No)); no ``Yes`` → 0,
no ``No`` → 1, a request the server refuses (HTTP 400) → 0, stored like any score.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import InquireError
from .api import DEFAULT_API_BASE, ApiScorer, RefusedRequest
from .base import CachedScorer
from .cache import ScoreCache
from .registry import PaperReranker
from .vlm import VlmScorer, generating_model

TEMPERATURE = 0.5
TOP_K = 50  # transformers' default, which generate() applied since the official call set no top_k
#: generation settings that would change generate()'s first step; the official call relied on their defaults
NEUTRAL_GENERATION = {
    "top_k": 50, "top_p": 1.0, "typical_p": 1.0, "min_p": None, "epsilon_cutoff": 0.0, "eta_cutoff": 0.0,
    "repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "min_length": 0, "min_new_tokens": None,
    "bad_words_ids": None, "suppress_tokens": None, "begin_suppress_tokens": None, "forced_bos_token_id": None,
    "sequence_bias": None,
}
#: what inquire scores the official code's 0/0 (neither answer among the top 50), in words
ZERO_OVER_ZERO = (
    "neither answer in the top 50 (the official code divides 0 by 0: NaN) scores 0, as the processed p(yes) is 0, "
    "and is counted (reranker_stats cases in summary.json)"
)


def processed_scores(logits):
    """What generate() records as ``scores[0]`` for the official call: float32 logits (batch x vocabulary)
    → / temperature → top-k filter (ties with the k-th kept) → log-softmax (``renormalize_logits``)."""
    import torch

    scores = logits / TEMPERATURE
    kth = torch.topk(scores, min(TOP_K, scores.shape[-1]), dim=-1).values[..., -1:]
    return scores.masked_fill(scores < kth, -math.inf).log_softmax(dim=-1)


def official_ratio(processed, yes: int, no: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``scores_to_pred``: p(yes) / (p(yes) + p(no)) in float32, and the two probabilities; NaN for 0/0."""
    probs = processed[:, [yes, no]].exp()
    ratio = probs[:, 0] / (probs[:, 0] + probs[:, 1])
    p_yes, p_no = probs[:, 0].double().cpu().numpy(), probs[:, 1].double().cpu().numpy()
    return ratio.double().cpu().numpy(), p_yes, p_no


def official_token_id(tokenizer, entry: PaperReranker, which: str) -> int:
    """The answer token id as ``load_model`` picked it, e.g. ``tokenizer("Yes").input_ids[1]``."""
    answer = entry.yes if which == "yes" else entry.no
    ids = tokenizer(answer.text).input_ids
    if not -len(ids) <= answer.index < len(ids):
        raise InquireError(
            f"{entry.name}: the official code picks {answer}, but this tokenizer encodes {answer.text!r} as "
            f"{len(ids)} token(s) {ids}: these weights are not of the family the row's protocol was written for."
        )
    return int(ids[answer.index])


#: the counted cases of the official protocol (``report()["cases"]``) in words: pairs whose score is saturated or set
CASE_WORDS = {
    "no_yes_scored_0": "no 'yes' among the top tokens → 0",
    "no_no_scored_1": "no 'no' among the top tokens → 1",
    "neither_scored_0": "neither answer among the top tokens → 0 (official: 0/0)",
    "http_400_scored_0": "the request refused (HTTP 400) → 0",
}


def _case(p_yes: float, p_no: float) -> str | None:
    """The counted case (``report()["cases"]``) of a pair: which answer had no probability, and its score."""
    if p_yes == 0:
        return "neither_scored_0" if p_no == 0 else "no_yes_scored_0"
    return "no_no_scored_1" if p_no == 0 else None


class PaperVlmScorer(VlmScorer):
    """A transformers row of the paper: its prompt, its answer token ids, generate()'s processed scores.

    Weights load in the row's official dtype on a GPU; on a CPU in float32 (half precision there is
    slow, and was not what the paper ran either); ``dtype`` overrides both and is recorded.
    """

    asks_raw_query = True
    counts_cases = True

    def __init__(
        self, entry: PaperReranker, source: str | None = None, *, device: str | None = None, batch_size: int = 8,
        dtype: str = "auto", cache: ScoreCache | None = None,
    ) -> None:
        CachedScorer.__init__(self, cache)
        label = entry.name if source is None else f"{entry.name}={source}"
        self.entry = entry
        self._open(source or entry.source, label, device, batch_size, dtype)
        if self.model_type != entry.model_type:
            raise InquireError(
                f"{label}: these weights are a {self.model_type!r} model; the {entry.name} protocol is for "
                f"{entry.family} ({entry.model_type}) checkpoints. Score other models with vlm:{source or entry.source}."
            )
        import torch

        if dtype != "auto":
            self.dtype = getattr(torch, dtype)
        else:
            self.dtype = torch.float32 if self.device.type == "cpu" else getattr(torch, entry.dtype)
        self.template, self.chat = entry.prompt, False  # the official prompt is the whole text: no chat template
        self.spec = label
        self.identity = f"paper:{entry.name}:{self.name}{self.weights}@{self.dtype_name}"

    def _answer_ids(self, model) -> tuple[list[int], list[int]]:
        generation = generating_model(model).generation_config
        changed = {k: v for k, neutral in NEUTRAL_GENERATION.items()
                   if (v := getattr(generation, k, None)) is not None and v != neutral}
        if changed:
            raise InquireError(
                f"{self.label}: the checkpoint's generation config sets {changed}, which the official generate() "
                "call would have applied at its first step; inquire computes that step for the defaults only."
            )
        tokenizer = self.processor.tokenizer
        yes, no = official_token_id(tokenizer, self.entry, "yes"), official_token_id(tokenizer, self.entry, "no")
        if yes == no:
            raise InquireError(f"{self.label}: the official rule picks the same token ({yes}) for yes and no.")
        return [yes], [no]

    def _read(self, logits) -> tuple[np.ndarray, list[dict[str, float]]]:
        """Scores, and the processed probabilities of the row's yes and no tokens (``{"yes": p, "no": p}``)."""
        m = self._loaded
        ratio, p_yes, p_no = official_ratio(processed_scores(logits), m.yes[0], m.no[0])
        answers = [{"yes": float(y), "no": float(n)} for y, n in zip(p_yes, p_no)]
        return np.where(np.isnan(ratio), 0.0, ratio), answers

    def _case(self, answer: dict[str, float] | None) -> str | None:
        return None if answer is None else _case(answer["yes"], answer["no"])

    def report(self) -> dict:
        return {"protocol": "official", "dtype": self.dtype_name, "cases": self.case_counts()}


class PaperApiScorer(ApiScorer):
    """An API row of the paper: the official prompt, ``convert_gpt_response_to_preds``'s conversion."""

    asks_raw_query = True
    counts_cases = True

    def __init__(self, entry: PaperReranker, model: str | None = None, *, api_base: str = DEFAULT_API_BASE,
                 cache: ScoreCache | None = None, **options) -> None:
        super().__init__(model or entry.source, api_base=api_base, template=entry.prompt, cache=cache, **options)
        self.spec = entry.name if model is None else f"{entry.name}={model}"
        self.identity = f"paper:{entry.name}:{self.model}@{self.api_base}"

    def _interpret(self, top: list[tuple[str, float]]) -> tuple[float, dict[str, float]]:
        answers = {word: sum(math.exp(lp) for t, lp in top if t == word) for word in ("Yes", "No")
                   if any(t == word for t, _ in top)}
        if "Yes" not in answers:
            return 0.0, answers
        if "No" not in answers:
            return 1.0, answers
        return answers["Yes"] / (answers["Yes"] + answers["No"]), answers

    def _refused(self, exc: RefusedRequest) -> tuple[float, dict[str, float]]:
        return 0.0, {"http_400": 1.0}

    def _case(self, answer: dict[str, float] | None) -> str | None:
        if answer is None:
            return None
        if "http_400" in answer:
            return "http_400_scored_0"
        return _case(answer.get("Yes", 0.0), answer.get("No", 0.0))

    def report(self) -> dict:
        return {**super().report(), "protocol": "official", "cases": self.case_counts()}
