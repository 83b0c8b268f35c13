"""Encode query texts only as far as they go, for causal CLIP text towers (exact).

OpenAI CLIP and open_clip's CLIP text towers use a causal attention mask and pool at the
end-of-text token: no position attends to a later one, so the pooled feature of a text does not
depend on the padding after its end-of-text token. Running the tower on the first ``L`` tokens,
``L`` = one past the last end-of-text position in the batch, gives the same features as the
77-token pass at a fraction of the cost (an 11-token query costs about a third).

Whether a tower qualifies is read off the model itself: a causal ``attn_mask``, pooling at the
end-of-text token (``argmax`` or ``eos``), no appended class token and no padding mask. Anything
else (SigLIP's bidirectional tower, CoCa, towers pooling the first or last position) returns
None and keeps the full pass.
"""

from __future__ import annotations

import torch
from torch import nn

#: pooling rules that read the end-of-text token's position from the token ids
_EOT_POOLING = ("argmax", "eos")


class CausalTextTower:
    """The parts of an open_clip text tower that the short pass runs, found on the model."""

    def __init__(self, tower: nn.Module, pool: str, eos_id: int | None):
        self.tower, self.pool, self.eos_id = tower, pool, eos_id

    @classmethod
    def of(cls, model: nn.Module) -> CausalTextTower | None:
        """The model's text tower if the short pass is exact for it, else None."""
        tower = getattr(model, "text", model)  # CustomTextCLIP keeps its tower in .text
        pool = getattr(tower, "text_pool_type", None) or getattr(tower, "pool_type", None)
        eos_id = getattr(tower, "text_eos_id", None) or getattr(tower, "eos_id", None)
        mask = getattr(tower, "attn_mask", None)
        if (
            pool not in _EOT_POOLING
            or (pool == "eos" and eos_id is None)
            or getattr(tower, "cls_emb", None) is not None
            or getattr(tower, "use_pad_mask", False)
            or not all(hasattr(tower, n) for n in ("token_embedding", "positional_embedding", "transformer", "ln_final"))
            or not _is_causal(mask)
        ):
            return None
        return cls(tower, pool, eos_id)

    def end_positions(self, tokens: torch.Tensor) -> torch.Tensor:
        """Each text's end-of-text position, exactly where the tower's own pooling reads it."""
        if self.pool == "argmax":
            return tokens.argmax(dim=-1)
        return (tokens == self.eos_id).int().argmax(dim=-1)

    def shorten(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``tokens`` (batch, context) cut after the batch's last end-of-text position, and each text's end position."""
        ends = self.end_positions(tokens)
        return tokens[:, : int(ends.max()) + 1], ends

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Projected text features of ``tokens`` (batch, context), from the first L positions only."""
        return self.forward_short(*self.shorten(tokens))

    def forward_short(self, tokens: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
        """The tower on already shortened ``tokens`` (batch, L), pooled at ``ends``.

        Kept free of Python decisions on tensor values, so it exports to ONNX with L dynamic
        (:mod:`inquire.models.text_onnx`).
        """
        t = self.tower
        length = tokens.shape[1]
        cast = t.transformer.get_cast_dtype() if hasattr(t.transformer, "get_cast_dtype") else t.token_embedding.weight.dtype
        x = t.token_embedding(tokens).to(cast) + t.positional_embedding[:length].to(cast)
        x = t.transformer(x, attn_mask=t.attn_mask[:length, :length].contiguous())
        x = t.ln_final(x)
        pooled = x[torch.arange(x.shape[0], device=x.device), ends]
        projection = getattr(t, "text_projection", None)
        if projection is None:
            return pooled
        return projection(pooled) if isinstance(projection, nn.Module) else pooled @ projection


def _is_causal(mask: torch.Tensor | None) -> bool:
    """True for an additive mask that hides exactly the later positions (-inf above the diagonal, 0 elsewhere)."""
    if mask is None or mask.dim() != 2 or mask.shape[0] != mask.shape[1]:
        return False
    upper = torch.triu(torch.ones_like(mask, dtype=torch.bool), diagonal=1)
    return bool(torch.isneginf(mask[upper]).all() and (mask[~upper] == 0).all())
