"""inquire's own protocol for generative rerankers (``vlm:``, ``api:``): the question per model family.

Like the INQUIRE paper, it asks a vision-language model whether the image shows the query and
reads p(Yes) / (p(Yes) + p(No)) off the first answer token; unlike the paper's rows (whose exact
prompts, answer tokens and sampling-processed scores are in :mod:`inquire.rerank.registry` and
:mod:`inquire.rerank.paper`), it sums every single-token spelling of each answer over the full
softmax of one forward pass. Models were trained on different prompt formats, so the question is
worded per family: chat models get it inside the chat template the checkpoint ships; PaliGemma,
BLIP-2 and InstructBLIP, which have none, get the plain-text formats they were trained on.
``inquire rerankers`` prints this table; a user may pass any template containing ``{query}``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..errors import InquireError

QUESTION = "Does this picture show {query}? Answer Yes or No."


@dataclass(frozen=True)
class PromptStyle:
    family: str
    model_types: tuple[str, ...]  # transformers ``config.model_type`` values of the family
    template: str
    chat: bool  # wrapped in the model's own chat template (with the image) or sent as plain text


PROMPT_STYLES: tuple[PromptStyle, ...] = (
    PromptStyle("LLaVA-1.5", ("llava",), QUESTION, chat=True),
    PromptStyle("LLaVA-NeXT", ("llava_next",), QUESTION, chat=True),
    PromptStyle("Qwen2-VL / Qwen2.5-VL", ("qwen2_vl", "qwen2_5_vl"), QUESTION, chat=True),
    PromptStyle("Idefics3 / SmolVLM", ("idefics3", "smolvlm"), QUESTION, chat=True),
    PromptStyle("PaliGemma", ("paligemma",), "answer en " + QUESTION, chat=False),
    PromptStyle("BLIP-2", ("blip-2",), "Question: Does this picture show {query}? Answer:", chat=False),
    PromptStyle("InstructBLIP", ("instructblip",), QUESTION, chat=False),
)
#: any other model that ships a chat template
GENERIC_CHAT = PromptStyle("other (chat template)", (), QUESTION, chat=True)
#: the API scorer's question (sent as the user message's text beside the image)
API_STYLE = PromptStyle("OpenAI-compatible API", (), QUESTION, chat=True)

#: the answer words whose token probabilities are summed (in every capitalisation and with a leading space)
YES, NO = "Yes", "No"


def style_for(model_type: str, has_chat_template: bool) -> PromptStyle:
    """The prompt style of a transformers model type."""
    for style in PROMPT_STYLES:
        if model_type in style.model_types:
            return style
    if has_chat_template:
        return GENERIC_CHAT
    families = ", ".join(s.family for s in PROMPT_STYLES)
    raise InquireError(
        f"No prompt format is known for model type {model_type!r}, and the model ships no chat template. "
        f"Known families: {families}; for another model pass a plain-text template with {{query}} (--template)."
    )


def check_template(template: str) -> str:
    if "{query}" not in template:
        raise InquireError(f"Prompt template {template!r} lacks {{query}}, where the query text goes.")
    return template


def render(template: str, query: str) -> str:
    """The template with the query in place (plain replacement: other braces in a template stay as they are)."""
    return template.replace("{query}", query)


def spellings(word: str) -> list[str]:
    """The spellings of an answer word whose probabilities are summed: Yes, yes, YES, each with and without a leading space."""
    forms = dict.fromkeys([word, word.lower(), word.upper()])
    return [s for f in forms for s in (f, " " + f)]


def is_answer(token: str, word: str) -> bool:
    """Whether a generated token (as text) spells ``word``, ignoring case and surrounding whitespace."""
    return token.strip().lower() == word.lower()


def yes_probability(log_yes: Iterable[float], log_no: Iterable[float]) -> float:
    """p(Yes) / (p(Yes) + p(No)) from the log-probabilities of each answer's spellings.

    Computed as a logistic of the log-sum-exp difference, so it stays exact when both
    probabilities underflow; NaN when neither answer has any probability mass at all.
    """
    a, b = _logsumexp(log_yes), _logsumexp(log_no)
    if a == -math.inf and b == -math.inf:
        return math.nan
    if a >= b:
        return 1.0 / (1.0 + math.exp(b - a))
    e = math.exp(a - b)
    return e / (1.0 + e)


def _logsumexp(values: Iterable[float]) -> float:
    values = [v for v in values if v != -math.inf]
    if not values:
        return -math.inf
    m = max(values)
    return m + math.log(sum(math.exp(v - m) for v in values))


def answer_probabilities(logprobs: Mapping[str, float]) -> dict[str, float]:
    """The probabilities of the answer spellings among ``{token: logprob}`` (for the score cache)."""
    return {t: math.exp(lp) for t, lp in logprobs.items() if is_answer(t, YES) or is_answer(t, NO)}
