"""Rerankers: anything that scores (query, image) pairs, behind one interface and one factory.

``create_scorer(spec)`` accepts

* ``clip:MODEL`` or a bare embedding spec / short name (``open_clip:ViT-B-32/openai``,
  ``hf_clip:DIR``, ``vit-h-14-378``): cosine of CLIP-style text and image embeddings;
* ``vlm:REPO_OR_DIR``: a transformers vision-language model asked "Does this picture show
  {query}?", scored p(Yes) / (p(Yes) + p(No)) from one forward pass;
* ``api:MODEL``: the same question to an OpenAI-compatible chat-completions server, scored from
  the first token's top log-probabilities;
* a paper reranker's short name (``llava-1.5-13b``, ``gpt-4o``, ...; :mod:`inquire.rerank.registry`),
  or ``NAME=SOURCE`` for that row's protocol on other weights: asked and scored exactly as the
  official INQUIRE code did (:mod:`inquire.rerank.paper`);

and ``fuse=SPEC`` combines two of them per query (weighted min-max or reciprocal rank fusion).
``vlm:`` and ``api:`` apply inquire's own protocol (see :mod:`inquire.rerank.prompts`).
Every leaf scorer stores its scores in the SQLite score cache (:mod:`inquire.rerank.cache`).

From Python, an object works wherever a spec does: a :class:`Scorer` is used as it is, an object
with ``score(query, images)`` becomes a scorer (:mod:`inquire.rerank.custom`), and an embedding
model object (``encode_images``, ``encode_texts``) scores like ``clip:``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InquireError
from .base import CachedScorer, Pair, Scorer, ScoreResult
from .cache import ScoreCache
from .fusion import METHODS as FUSION_METHODS
from .registry import PAPER_RERANKERS, paper_reranker

__all__ = [
    "FUSION_METHODS", "KINDS", "PAPER_RERANKERS", "CachedScorer", "Pair", "ScoreCache", "ScoreResult", "Scorer",
    "accepted_options", "create_scorer", "is_reranker_spec", "leaf_scorers", "paper_reranker",
]

_API_OPTIONS = ("api_base", "api_key_env", "concurrency", "max_retries", "timeout", "retry_base_delay")
#: the prefixes of reranker specs (``PREFIX:MODEL``); a paper reranker is named without one
_PREFIXES = ("clip", "vlm", "api")
#: kind of scorer (a spec prefix, or ``paper``: a paper reranker's name) → options it accepts (besides
#: the run settings ``device``, ``batch_size``, ``workers``)
KINDS: dict[str, tuple[str, ...]] = {
    "clip": ("embedding_cache_dir", "precision"),
    "vlm": ("template", "dtype"),
    "api": (*_API_OPTIONS, "template"),
    "paper": ("dtype", *_API_OPTIONS),  # dtype for the transformers rows, the rest for the API rows
}
#: run settings, and the kinds they apply to (others ignore them, as an API ignores ``device``)
_SETTINGS = {"device": ("clip", "vlm", "paper"), "batch_size": ("clip", "vlm", "paper"), "workers": ("clip",)}
#: a paper reranker's options, by how its row runs
_PAPER_OPTIONS = {"transformers": ("dtype",), "api": _API_OPTIONS}


def is_reranker_spec(spec: str | Any) -> bool:
    """Whether ``spec`` names a reranker (``clip:``, ``vlm:``, ``api:``, a paper reranker's ``NAME`` or
    ``NAME=SOURCE``) or is a reranker object (a :class:`Scorer`, or anything with ``score``) rather
    than a plain embedding model."""
    if not isinstance(spec, str):
        return isinstance(spec, Scorer) or callable(getattr(spec, "score", None))
    return spec.strip().partition(":")[0] in _PREFIXES or paper_reranker(spec) is not None


def accepted_options(spec: str) -> tuple[str, ...]:
    """The options (besides the run settings) that the scorer of one ``spec`` takes: its kind's
    (``KINDS``), and for a paper reranker those of how its row runs (``dtype``, or the API's).

    For whoever runs several rerankers with one set of options (``inquire reproduce``): each gets its own.
    """
    kind, model = _kind(spec)
    if kind == "paper":
        return _PAPER_OPTIONS.get(paper_reranker(model)[0].runner, ())
    return KINDS.get(kind, ())


def _kind(spec: str | Any) -> tuple[str, Any]:
    if not isinstance(spec, str):  # a Scorer, a reranker object, or an embedding model object (scored like clip:)
        return ("scorer" if isinstance(spec, Scorer) else "object" if is_reranker_spec(spec) else "clip"), spec
    prefix, sep, name = spec.strip().partition(":")
    if sep and prefix in _PREFIXES:
        if not name:
            raise InquireError(f"Reranker spec {spec!r} names no model: write {prefix}:MODEL (see `inquire rerankers`).")
        return prefix, name
    if paper_reranker(spec) is not None:
        return "paper", spec.strip()
    return "clip", spec.strip()  # an embedding spec or short name; resolve_spec reports unknown ones


def create_scorer(
    spec: str | Any,
    *,
    name: str | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    workers: int | None = None,
    cache: ScoreCache | str | Path | None = None,
    fuse: str | None = None,
    fuse_method: str = "weighted",
    fuse_weight: float = 0.5,
    **options: Any,
) -> Scorer:
    """The scorer named by ``spec`` (see the module docstring), optionally fused with ``fuse``.

    ``spec`` may be an object: a :class:`Scorer` (used as it is), anything with ``score(query,
    images: list of PIL images)`` returning one number per image, or an embedding model object;
    ``name`` (else the object's ``name`` attribute) keys its scores in the cache, and without one
    nothing is cached. Example::

        scorer = inquire.create_scorer("vlm:Qwen/Qwen2-VL-2B-Instruct")
        scorer = inquire.create_scorer(MyReranker(), name="my-reranker-v1")

    ``device``, ``batch_size`` and ``workers`` apply to the scorers that run a local model (None:
    the scorer's default). ``cache`` is a :class:`ScoreCache`, a path to one, or None for the
    default file (``$INQUIRE_SCORE_CACHE`` or ``scores.sqlite`` in the user's cache). ``options``
    go to the scorers that accept them (``KINDS``); an option no requested scorer accepts is an
    error, so a typo never passes silently.
    """
    if name is not None and isinstance(spec, str):
        raise InquireError(f"name= names a model object; the spec {spec!r} names its scorer itself.")
    if not isinstance(cache, ScoreCache):
        cache = ScoreCache.open(cache)
    specs = [spec] if fuse is None else [spec, fuse]
    kinds = [_kind(s) for s in specs]
    if "template" in options and any(kind == "paper" for kind, _ in kinds):
        raise InquireError(
            "A paper reranker asks the official prompt, which is part of its protocol (--template does not apply); "
            "for another prompt use vlm:DIR_OR_REPO or api:MODEL with --template."
        )
    accepted = {o for kind, _ in kinds for o in KINDS.get(kind, ())}
    unknown = sorted(set(options) - accepted)
    if unknown:
        labels = [s if isinstance(s, str) else f"the {type(s).__name__} object" for s in specs]
        raise InquireError(
            f"Option(s) {', '.join(unknown)} do not apply to {' and '.join(labels)}; "
            + "; ".join(f"{'paper rerankers' if k == 'paper' else k}: {', '.join(KINDS[k])}" for k in KINDS) + "."
        )
    if fuse is not None:
        if fuse_method not in FUSION_METHODS:
            raise InquireError(f"Unknown fusion method {fuse_method!r}: use {' or '.join(FUSION_METHODS)}.")
        if not 0.0 <= fuse_weight <= 1.0:
            raise InquireError(f"Fusion weight {fuse_weight} is outside [0, 1]: it is the first scorer's share.")
    settings = {"device": device, "batch_size": batch_size, "workers": workers}
    scorers = [
        _create_one(kind, model, name if i == 0 else None, cache, {
            **{k: v for k, v in settings.items() if v is not None and kind in _SETTINGS[k]},
            **{k: v for k, v in options.items() if k in KINDS.get(kind, ())},
        })
        for i, (kind, model) in enumerate(kinds)
    ]
    if fuse is None:
        return scorers[0]
    from .fused import FusedScorer

    return FusedScorer(scorers[0], scorers[1], fuse_method, fuse_weight)


def _create_one(kind: str, model: str | Any, name: str | None, cache: ScoreCache, options: dict) -> Scorer:
    """One leaf scorer; ``name`` names a model object (create_scorer refused it for a spec)."""
    if kind == "scorer":
        if name is not None:
            raise InquireError(f"name= names a model object; the scorer {model.spec} is named already.")
        return model
    if kind == "object":
        from .custom import CustomScorer

        return CustomScorer(model, name, cache)
    if kind == "clip":
        from ..models import create_embedder
        from .clip import ClipScorer

        return ClipScorer(model if name is None else create_embedder(model, name=name), cache=cache, **options)
    if kind == "vlm":
        from .vlm import VlmScorer

        return VlmScorer(model, cache=cache, **options)
    if kind == "paper":
        return _create_paper(model, cache, options)
    from .api import ApiScorer

    return ApiScorer(model, cache=cache, **options)


def _create_paper(spec: str, cache: ScoreCache, options: dict) -> Scorer:
    """A paper reranker, with the options its runner takes (the device settings mean nothing to an API)."""
    from .paper import PaperApiScorer, PaperVlmScorer

    entry, source = paper_reranker(spec)
    if not entry.supported:
        raise InquireError(f"{entry.name} ({entry.source}) is not supported: {entry.unsupported}.")
    takes = accepted_options(spec)
    wrong = sorted(set(options) - set(takes) - set(_SETTINGS))
    if wrong:
        raise InquireError(f"Option(s) {', '.join(wrong)} do not apply to {spec} (it takes {', '.join(takes)}).")
    if entry.runner == "transformers":
        return PaperVlmScorer(entry, source, cache=cache, **options)
    return PaperApiScorer(entry, source, cache=cache, **{k: v for k, v in options.items() if k not in _SETTINGS})


def leaf_scorers(scorer: Scorer) -> list[Scorer]:
    """The scorers that compute (and cache) scores: the scorer itself, or a fusion's two parts."""
    from .fused import FusedScorer

    if isinstance(scorer, FusedScorer):
        return [*leaf_scorers(scorer.first), *leaf_scorers(scorer.second)]
    return [scorer]
