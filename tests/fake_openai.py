"""A fake OpenAI-compatible chat-completions server for tests and benchmarks, on 127.0.0.1.

It answers like the real service with a one-token answer and ``top_logprobs``, derived
deterministically from the request (prompt text and image bytes), and records what it served
so a test can compute the expected score independently. It can be told to misbehave: the next
requests can get 429 with Retry-After, 500, a reply slower than the client's timeout, or a
truncated JSON body, chosen prompts can be refused for good (400) or get a top list without chosen
tokens (``drop``: a reply with no exact "Yes", say); a fixed latency makes concurrency measurable.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

FAILURES = ("429", "500", "timeout", "truncated")
FILLER = ["I", "The", "This", "A", "Maybe", ".", "It", "Sure", "Not", "Certainly", "There", "Absolutely",
          "In", "Un", "We", "Based", "Looking", "Hmm"]


@dataclass
class FakeState:
    """What the server does and what it saw; tests read and set it from their own thread."""

    api_key: str | None = "test-key"
    latency: float = 0.0
    retry_after: str = "0"
    timeout_sleep: float = 5.0
    failures: deque = field(default_factory=deque)  # failure kinds for the next requests, in arrival order
    refuse: set = field(default_factory=set)  # prompts containing one of these get HTTP 400, always
    drop: dict = field(default_factory=dict)  # prompt substring -> tokens left out of that prompt's top list
    requests: int = 0
    failed: list = field(default_factory=list)
    served: dict = field(default_factory=dict)  # (prompt text, sha256 of image bytes) -> top_logprobs served
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, *kinds: str) -> None:
        with self.lock:
            self.failures.extend(kinds)


def top_logprobs_for(text: str, image: bytes) -> list[dict]:
    """Deterministic answer distribution for a request: Yes/No spellings plus filler tokens."""
    seed = hashlib.sha256(text.encode() + image).digest()
    logits = {tok: (seed[i] / 32.0) - 4.0 for i, tok in enumerate([" Yes", "Yes", "yes", " No", "No", "no"])}
    if seed[6] % 5 == 0:  # sometimes only one answer shows up among the top tokens
        logits.pop(" No"), logits.pop("No"), logits.pop("no")
    logits.update({tok: (seed[7 + i] / 64.0) - 6.0 for i, tok in enumerate(FILLER[: 20 - len(logits)])})
    norm = math.log(sum(math.exp(v) for v in logits.values()) + 1.0)  # leave mass for tokens not shown
    top = sorted(({"token": t, "logprob": v - norm, "bytes": list(t.encode())} for t, v in logits.items()),
                 key=lambda e: -e["logprob"])
    return top


def build_app(state: FakeState) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        with state.lock:
            state.requests += 1
            kind = state.failures.popleft() if state.failures else None
            if kind:
                state.failed.append(kind)
        if state.latency:
            await asyncio.sleep(state.latency)
        if state.api_key and request.headers.get("authorization") != f"Bearer {state.api_key}":
            return JSONResponse({"error": {"message": "Incorrect API key provided"}}, status_code=401)
        if kind == "429":
            return JSONResponse({"error": {"message": "Rate limit reached"}}, status_code=429,
                                headers={"Retry-After": state.retry_after})
        if kind == "500":
            return JSONResponse({"error": {"message": "internal error"}}, status_code=500)
        if kind == "timeout":
            await asyncio.sleep(state.timeout_sleep)
        body = await request.json()
        content = body["messages"][0]["content"]
        text = next(c["text"] for c in content if c["type"] == "text")
        url = next(c["image_url"]["url"] for c in content if c["type"] == "image_url")
        image = base64.b64decode(url.split(",", 1)[1])
        if any(r in text for r in state.refuse):
            return JSONResponse({"error": {"message": "This request was refused"}}, status_code=400)
        if body.get("max_tokens") != 1 or not body.get("logprobs") or body.get("top_logprobs") != 20:
            return JSONResponse({"error": {"message": "expected max_tokens=1, logprobs, top_logprobs=20"}}, status_code=400)
        dropped = {t for key, tokens in state.drop.items() if key in text for t in tokens}
        top = [t for t in top_logprobs_for(text, image) if t["token"] not in dropped]
        with state.lock:
            state.served[(text, hashlib.sha256(image).hexdigest())] = top
        reply = {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "length",
                         "message": {"role": "assistant", "content": top[0]["token"]},
                         "logprobs": {"content": [{**top[0], "top_logprobs": top}]}}],
            "usage": {"prompt_tokens": 300, "completion_tokens": 1, "total_tokens": 301},
        }
        raw = json.dumps(reply).encode()
        if kind == "truncated":
            raw = raw[: len(raw) // 2]
        return Response(raw, media_type="application/json")

    return app


@contextlib.contextmanager
def serve(state: FakeState | None = None):
    """Run the fake server in a background thread; yields (base URL ending in /v1, state)."""
    import uvicorn

    state = state or FakeState()
    config = uvicorn.Config(build_app(state), host="127.0.0.1", port=0, log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("fake OpenAI server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1", state
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def main() -> None:
    """Run the server in its own process (benchmarks measure the client, not a server sharing its GIL)."""
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every reply")
    args = parser.parse_args()
    uvicorn.run(build_app(FakeState(latency=args.latency)), host="127.0.0.1", port=args.port, log_level="error")


if __name__ == "__main__":
    main()
