"""Short names for the rerankers of the INQUIRE paper, each with the protocol the official code used.

Every entry is read off the official code (inquire-benchmark/INQUIRE at 7e04857: ``src/lmm_utils.py``
and ``src/eval_rerank_with_llm.py``): the hub id or API model it loaded, the prompt
``get_lmm_prompt`` built (character for character: the missing space after "?" is the paper's),
how ``ModelWrapper.load_model`` picked the one "yes" and one "no" token id, and the dtype it loaded
the weights in. :mod:`inquire.rerank.paper` applies them; ``NAME=SOURCE`` applies a row's protocol
to other weights (a local mirror, or here a tiny random model of the family).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InquireError

_ANSWER = 'Answer the question with either "Yes" or "No" and nothing else.'
_BLIP_PROMPT = "Does this picture show {query}?" + _ANSWER + "\nAnswer: "
_GPT_PROMPT = 'Does this picture show exactly "{query}"?\n' + _ANSWER
#: what every local row shares: transformers' ``generate`` as lmm_utils.py called it
LOCAL_PROTOCOL = (
    "generate(do_sample=True, temperature=0.5, renormalize_logits=True, output_scores=True) with the default "
    "top_k=50: p(yes)/(p(yes)+p(no)) of the first step's processed scores"
)
API_PROTOCOL = (
    "exact-case 'Yes'/'No' among the first token's top logprobs: no 'Yes' → 0, no 'No' → 1, HTTP 400 → 0 "
    "(convert_gpt_response_to_preds)"
)


@dataclass(frozen=True)
class AnswerToken:
    """How the official code picked an answer's token id: ``tokenizer(text).input_ids[index]``."""

    text: str
    index: int

    def __str__(self) -> str:
        return f'tokenizer("{self.text}").input_ids[{self.index}]'


@dataclass(frozen=True)
class PaperReranker:
    """One reranker row of the paper and the protocol that scored it."""

    name: str
    source: str  # the hub id (transformers rows) or the dated API model name
    official_name: str  # the name in the official code's model list (and its cache file names)
    family: str
    runner: str  # "transformers", "api", or the codebase it would need (then ``unsupported`` says why)
    model_type: str | None  # transformers' config.model_type of the family's checkpoints (transformers rows)
    prompt: str  # the official prompt; {query} is the query text as the dataset spells it
    yes: AnswerToken | None = None  # transformers rows only
    no: AnswerToken | None = None
    dtype: str | None = None  # the dtype the official code loaded the weights in (on its GPU)
    #: why inquire cannot run the row ("" when it can): the one place that says so, for ``inquire rerankers``,
    #: the reranker factory and ``inquire reproduce``'s table (leaderboard.csv maps rows to names only)
    unsupported: str = ""

    @property
    def supported(self) -> bool:
        return not self.unsupported


def _local(name: str, source: str, family: str, model_type: str, prompt: str, yes: AnswerToken, no: AnswerToken,
           dtype: str) -> PaperReranker:
    return PaperReranker(name, source, source, family, "transformers", model_type, prompt, yes, no, dtype)


def _words(text_yes: str, text_no: str, index: int) -> tuple[AnswerToken, AnswerToken]:
    return AnswerToken(text_yes, index), AnswerToken(text_no, index)


def _vila(name: str, source: str) -> PaperReranker:
    return PaperReranker(
        name, source, source, "VILA 1.5", "vila", None,
        '<image>\n Does this picture show {query}?\n' + _ANSWER,
        unsupported="VILA1.5 runs only in NVIDIA's VILA codebase (its own LLaVA fork, llava.model.builder), which "
                    "transformers cannot load; the official code has no loader for it either (lmm_utils.py: its "
                    "VILA scores came from a cache that was never published)",
    )


PAPER_RERANKERS: dict[str, PaperReranker] = {
    r.name: r
    for r in [
        _local("blip2-flan-t5-xxl", "Salesforce/blip2-flan-t5-xxl", "BLIP-2 (Flan-T5)", "blip-2", _BLIP_PROMPT,
               *_words("Yes", "No", 0), "float32"),
        _local("instructblip-flan-t5-xxl", "Salesforce/instructblip-flan-t5-xxl", "InstructBLIP (Flan-T5)",
               "instructblip", _BLIP_PROMPT, *_words("Yes", "No", 0), "float32"),
        _local("paligemma-3b-mix-448", "google/paligemma-3b-mix-448", "PaliGemma", "paligemma",
               "Q: Does this picture show {query}? Respond with yes or no.\nA:", *_words("yes", "no", -1), "float16"),
        _local("llava-1.5-13b", "llava-hf/llava-1.5-13b-hf", "LLaVA-1.5", "llava",
               "USER: <image>\nDoes this picture show {query}?" + _ANSWER + "\nASSISTANT:", *_words("Yes", "No", 1),
               "float16"),
        _local("llava-v1.6-mistral-7b", "llava-hf/llava-v1.6-mistral-7b-hf", "LLaVA-1.6 (Mistral)", "llava_next",
               "[INST] <image>\nDoes this picture show {query}?" + _ANSWER + " [/INST]", *_words("Yes", "No", 1),
               "float16"),
        _local("llava-v1.6-34b", "llava-hf/llava-v1.6-34b-hf", "LLaVA-1.6 (Yi-34B)", "llava_next",
               "<|im_start|>system\nAnswer the questions.<|im_end|><|im_start|>user\n<image>\n"
               'Does this picture show "{query}"?Answer the question with either "Yes" or "No".<|im_end|>'
               "<|im_start|>answer\n", *_words(" Yes", " No", 1), "float16"),
        _vila("vila1.5-13b", "Efficient-Large-Model/VILA1.5-13B"),
        _vila("vila1.5-40b", "Efficient-Large-Model/VILA1.5-40b"),
        PaperReranker("gpt-4o", "gpt-4o-2024-08-06", "openai-gpt4o20240806", "GPT-4o (OpenAI API)", "api",
                      None, _GPT_PROMPT),
        PaperReranker("gpt-4-turbo", "gpt-4-turbo-2024-04-09", "openai-gpt4turbo20240409",
                      "GPT-4 Turbo (OpenAI API)", "api", None, _GPT_PROMPT),
    ]
}


def paper_reranker(spec: str) -> tuple[PaperReranker, str | None] | None:
    """The paper row a spec names (``NAME`` or ``NAME=SOURCE``) and the SOURCE given, or None for other specs.

    SOURCE replaces the row's weights (a local folder or another hub id; for the API rows another
    model name) while the row's protocol stays.
    """
    name, sep, source = spec.strip().partition("=")
    entry = PAPER_RERANKERS.get(name.strip())
    if entry is None:
        return None
    if sep and not source.strip():
        raise InquireError(f"Reranker spec {spec!r} names no source after '=': write {entry.name}=DIR (or omit '=').")
    return entry, (source.strip() or None)
