"""OpenAI-compatible chat-completions servers as rerankers (``api:MODEL``).

Each pair is one request: the question as text and the image as a data URL, asking for a
single answer token with its top 20 log-probabilities; the score is p(Yes) / (p(Yes) + p(No))
summed over the answer's spellings among them. The same code talks to OpenAI, vLLM, SGLang or
Ollama (``api_base``).

Paid requests fail in many transient ways, so requests run concurrently (a semaphore bounds
them) and each is retried with exponential backoff and full jitter on 429 (honouring
Retry-After), 5xx, timeouts, connection errors and malformed replies. A pair that still fails is
reported and left unscored (never stored as 0), so the next run retries exactly those pairs.
A rejected key or an unknown model stops the run at once instead of failing every pair.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import io
import json
import os
import random
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..data.decode import DecodeError, decode_image
from ..errors import InquireError
from .base import CachedScorer, Pair, ScoreResult
from .cache import ScoreCache
from .pricing import estimate_cost
from .prompts import (
    API_STYLE,
    NO,
    YES,
    answer_probabilities,
    check_template,
    is_answer,
    render,
    yes_probability,
)

DEFAULT_API_BASE = "https://api.openai.com/v1"
TOP_LOGPROBS = 20
_SENT_AS_IS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}


class _Retryable(Exception):
    """A transient failure: worth another try after ``delay`` seconds (None: the backoff decides)."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


class _Fatal(Exception):
    """A failure every request would share (rejected key, unknown model): stop the run."""


class RefusedRequest(ValueError):
    """HTTP 400: the server will not answer this request (the same request will be refused again)."""


class ApiScorer(CachedScorer):
    """Yes/no scoring through an OpenAI-compatible ``/chat/completions`` endpoint.

    This is inquire's own protocol (every spelling of each answer; a refused request stays
    unscored); :class:`inquire.rerank.paper.PaperApiScorer` applies the official conversion by
    replacing :meth:`_interpret` and :meth:`_refused`.
    """

    def __init__(
        self, model: str, *, api_base: str = DEFAULT_API_BASE, api_key_env: str = "OPENAI_API_KEY",
        template: str | None = None, concurrency: int = 8, max_retries: int = 6, timeout: float = 60.0,
        retry_base_delay: float = 1.0, cache: ScoreCache | None = None,
    ) -> None:
        super().__init__(cache)
        if concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise InquireError("API options: concurrency must be >= 1, max_retries >= 0 and timeout > 0.")
        self.model, self.api_base, self.api_key_env = model, api_base.rstrip("/"), api_key_env
        self.template = check_template(template) if template is not None else API_STYLE.template
        self.concurrency, self.max_retries, self.timeout = concurrency, max_retries, timeout
        self.retry_base_delay = retry_base_delay
        self.chunk_size = max(256, 16 * concurrency)
        self.spec = f"api:{model}"
        tpl = hashlib.sha256(self.template.encode()).hexdigest()[:12]
        self.identity = f"api:{model}@{self.api_base}|prompt:{tpl}"
        #: requests sent, and retries by reason, over the scorer's lifetime (reported in summary.json)
        self.n_requests = 0
        self.retries: Counter[str] = Counter()

    def estimated_cost(self, queries: Sequence[str]) -> float | None:
        """Estimated USD for one request per query text given (None when the model has no listed price)."""
        return estimate_cost(self.model, [render(self.template, q) for q in queries])

    def report(self) -> dict:
        return {"requests": self.n_requests, "retries": dict(self.retries)}

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env)
        if key:
            return {"Authorization": f"Bearer {key}"}
        if self.api_base == DEFAULT_API_BASE:
            raise InquireError(
                f"api:{self.model} needs an OpenAI API key in ${self.api_key_env}: export it, or name another "
                "variable with --api-key-env. (--dry-run shows the number of requests and their cost without a key.)"
            )
        return {}  # local servers (vLLM, SGLang, Ollama) usually need none

    def _score(self, pairs: Sequence[Pair]) -> ScoreResult:
        headers = self._headers()
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._score_all(pairs, headers))
        with ThreadPoolExecutor(max_workers=1) as pool:  # called from inside an event loop (e.g. a server)
            return pool.submit(asyncio.run, self._score_all(pairs, headers)).result()

    async def _score_all(self, pairs: Sequence[Pair], headers: dict[str, str]) -> ScoreResult:
        import httpx

        scores = np.full(len(pairs), np.nan)
        answers: list[dict[str, float] | None] = [None] * len(pairs)
        errors: dict[int, str] = {}
        gate = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(base_url=self.api_base, headers=headers, timeout=self.timeout, limits=limits) as client:

            async def one(i: int) -> None:
                async with gate:
                    try:
                        body = await asyncio.to_thread(self._request_body, pairs[i])
                        scores[i], answers[i] = await self._ask(client, body)
                    except (DecodeError, _Retryable, ValueError) as exc:
                        errors[i] = f"image {pairs[i].image_key}: {exc}" if isinstance(exc, DecodeError) else str(exc)

            tasks = [asyncio.create_task(one(i)) for i in range(len(pairs))]
            try:
                await asyncio.gather(*tasks)
            except _Fatal as exc:
                for t in tasks:
                    t.cancel()
                raise InquireError(f"api:{self.model} at {self.api_base}: {exc}") from None
        return ScoreResult(scores, errors, answers)

    def _request_body(self, pair: Pair) -> dict:
        return {
            "model": self.model,
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": render(self.template, pair.query)},
                {"type": "image_url", "image_url": {"url": data_url(pair.image)}},
            ]}],
            "max_tokens": 1,
            "temperature": 0,
            "logprobs": True,
            "top_logprobs": TOP_LOGPROBS,
        }

    async def _ask(self, client, body: dict) -> tuple[float, dict[str, float]]:
        """One pair's score, retrying transient failures; raises the last failure when retries run out."""
        import httpx

        for attempt in range(self.max_retries + 1):
            try:
                self.n_requests += 1
                try:
                    response = await client.post("/chat/completions", json=body)
                except httpx.TimeoutException:
                    raise _Retryable("timed out") from None
                except httpx.TransportError as exc:
                    raise _Retryable(f"connection failed ({type(exc).__name__})") from None
                try:
                    return self._interpret(_top_logprobs(response))
                except RefusedRequest as exc:
                    return self._refused(exc)
            except _Retryable as exc:
                if attempt == self.max_retries:
                    raise _Retryable(f"{exc} (gave up after {attempt + 1} attempts)") from None
                self.retries[str(exc).split(" (")[0]] += 1
                delay = exc.delay if exc.delay is not None else random.uniform(0, self.retry_base_delay * 2**attempt)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _interpret(self, top: list[tuple[str, float]]) -> tuple[float, dict[str, float]]:
        """Score and answer probabilities from the first token's top (token, log-probability) list:
        every spelling of each answer counts."""
        log_yes = [lp for t, lp in top if is_answer(t, YES)]
        log_no = [lp for t, lp in top if is_answer(t, NO)]
        score = yes_probability(log_yes, log_no)
        if np.isnan(score):
            raise ValueError(f"neither {YES!r} nor {NO!r} among the answer's top {len(top)} tokens")
        return score, answer_probabilities(dict(top))

    def _refused(self, exc: RefusedRequest) -> tuple[float, dict[str, float]]:
        """A request the server refuses (HTTP 400): left unscored and reported."""
        raise exc


def _top_logprobs(response) -> list[tuple[str, float]]:
    """(token, logprob) of a chat-completions response's first token's top list, or the failure it represents."""
    status = response.status_code
    if status == 429:
        raise _Retryable("HTTP 429 rate limited", retry_after(response.headers.get("retry-after")))
    if status >= 500:
        raise _Retryable(f"HTTP {status} server error")
    if status in (401, 403):
        raise _Fatal(f"the server rejected the API key (HTTP {status}): check the key's variable (--api-key-env).")
    if status == 404:
        raise _Fatal(f"HTTP 404 ({_detail(response)}): check the model name and --api-base.")
    if status == 400:
        raise RefusedRequest(f"HTTP 400: {_detail(response)}")
    if status >= 400:
        raise ValueError(f"HTTP {status}: {_detail(response)}")
    try:
        reply = json.loads(response.content)
    except ValueError:
        raise _Retryable("malformed reply (invalid JSON)") from None
    try:
        top = reply["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        return [(str(t["token"]), float(t["logprob"])) for t in top]
    except (KeyError, IndexError, TypeError, ValueError):
        finish = (reply.get("choices") or [{}])[0].get("finish_reason") if isinstance(reply, dict) else None
        raise ValueError(
            f"reply without top_logprobs of a first token (finish_reason={finish!r}): "
            "does the server and model support logprobs?"
        ) from None


def _detail(response) -> str:
    try:
        return str(json.loads(response.content)["error"]["message"])[:300]
    except (ValueError, KeyError, TypeError):
        return response.text[:300] or "no detail"


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def data_url(image: bytes | Path) -> str:
    """The image as a ``data:`` URL: sent as it is when JPEG, PNG, WebP or GIF, else re-encoded as JPEG.

    Decoding it first means an unreadable image fails here, free, instead of as a paid request.
    """
    from PIL import Image

    rgb = decode_image(image)
    raw = bytes(image) if isinstance(image, (bytes, bytearray, memoryview)) else Path(image).read_bytes()
    with Image.open(io.BytesIO(raw)) as probe:
        mime = _SENT_AS_IS.get(probe.format or "")
    if mime is None:
        buffer = io.BytesIO()
        rgb.save(buffer, format="JPEG", quality=95)
        raw, mime = buffer.getvalue(), "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"
