"""Estimated cost of scoring with a paid API, for ``--dry-run``: an estimate, never a quote.

Prices are USD per million tokens as listed on OpenAI's pricing page in 2025 (check the
provider's current page before a large run; unknown models get no estimate). Image tokens
assume INQUIRE's iNat24 images, at most 500 pixels a side: one 512-pixel tile (85 + 170 tokens)
for GPT-4o and GPT-4 Turbo, and 16 x 12 patches of 32 pixels times the model's multiplier for the
GPT-4.1 mini/nano family. The text is about a token per four characters plus chat overhead; the
answer is one token.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    input_per_m: float  # USD per million input tokens
    output_per_m: float  # USD per million output tokens
    image_tokens: int  # input tokens one iNat24 image costs


PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.50, 10.00, 85 + 170),
    "gpt-4o-mini": Price(0.15, 0.60, 2833 + 5667),
    "gpt-4-turbo": Price(10.00, 30.00, 85 + 170),  # the paper's GPT-4 Turbo row (gpt-4-turbo-2024-04-09)
    "gpt-4.1": Price(2.00, 8.00, 85 + 170),
    "gpt-4.1-mini": Price(0.40, 1.60, round(16 * 12 * 1.62)),
    "gpt-4.1-nano": Price(0.10, 0.40, round(16 * 12 * 2.46)),
}
CHAT_OVERHEAD_TOKENS = 10


def price_for(model: str) -> Price | None:
    """The price of ``model`` or of the longest listed name it starts with (``gpt-4o-2024-08-06`` → ``gpt-4o``)."""
    matches = [name for name in PRICES if model == name or model.startswith(name + "-")]
    return PRICES[max(matches, key=len)] if matches else None


def estimate_cost(model: str, prompts: list[str]) -> float | None:
    """Estimated USD for one request per prompt (each with one image and a one-token answer)."""
    price = price_for(model)
    if price is None:
        return None
    text_tokens = sum(len(p) / 4 + CHAT_OVERHEAD_TOKENS for p in prompts)
    input_tokens = text_tokens + price.image_tokens * len(prompts)
    return (input_tokens * price.input_per_m + len(prompts) * price.output_per_m) / 1e6
