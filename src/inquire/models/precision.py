"""Numeric precision of an embedding model's run: the paper's by default, or what a user asks for.

What the official INQUIRE code ran each model at on a GPU (read in its ``src/``, commit 7e04857,
and all_clip 1.2.0, which its ``utils.py`` pins):

* models loaded through all_clip (``open_clip:`` and ``hf_clip:``: eleven of the thirteen): all_clip's
  wrappers run ``encode_image`` and ``encode_text`` inside ``torch.autocast(dtype=bfloat16 if
  torch.cuda.is_bf16_supported() else float16)``. That inner autocast overrides the scripts' own
  ``torch.autocast("cuda")`` (float16 by default), so these ran in **bfloat16** on any GPU since
  Ampere, float16 on older ones;
* BioCLIP (open_clip directly, no wrapper): the scripts' ``torch.autocast("cuda")``, **float16**,
  for Rerank; no autocast (float32) for the Fullrank query texts (``TopKPredictionStore``);
* WildCLIP (``clip.load`` on a GPU): **float16 weights** (``convert_weights``: linear,
  convolution, attention and projection weights; layer norms and embeddings stay float32),
  under the scripts' float16 autocast.

The Rerank scripts then normalised each embedding in the model's output dtype (``emb /= emb.norm()``
on the bfloat16 or float16 tensor) before the float32 dot product; inquire does the same whenever
a half precision is used, so the scores see the same rounding.

On the CPU the default is float32 (the paper ran on GPUs). ``--precision fp32|fp16|bf16|fp16-weights``
sets it for any model (``fp16``/``bf16``: autocast; ``fp16-weights``: open_clip models only).
Caches key on the precision, so embeddings made at one are never served as another's.
"""

from __future__ import annotations

from ..device import bf16_supported, device_type
from ..errors import InquireError
from .registry import CLIP_LOAD_PRECISION, PAPER_MODELS
from .spec import resolve_spec

#: what ``--precision`` takes; ``auto`` resolves to one of the others
PRECISIONS = ("auto", "fp32", "fp16", "bf16", "fp16-weights")
#: the autocast dtype name of each resolved precision (None: no autocast)
AUTOCAST = {"fp32": None, "fp16": "float16", "bf16": "bfloat16", "fp16-weights": "float16"}
#: what a model not in the paper runs at on a GPU by default: all_clip's choice (bf16, else fp16)
DEFAULT_GPU = "bf16"


def paper_precision(spec: str, task: str = "rerank") -> str:
    """What the official code ran ``spec`` at on a GPU for ``task`` (module docstring)."""
    full = resolve_spec(spec)
    if full.startswith("wildclip:"):
        return CLIP_LOAD_PRECISION[task]
    for info in PAPER_MODELS.values():
        if info.spec == full:
            return info.precision[task]
    return DEFAULT_GPU


def check_precision(requested: str | None) -> str:
    """``requested`` (None: ``auto``) if it is one of :data:`PRECISIONS`, else the user's error."""
    requested = requested or "auto"
    if requested not in PRECISIONS:
        raise InquireError(f"Unknown precision {requested!r} (--precision): use {', '.join(PRECISIONS)}.")
    return requested


def resolve_precision(requested: str | None, spec: str, device: str | None, task: str = "rerank") -> str:
    """The precision a run of ``spec`` on ``device`` uses: ``requested``, or for ``auto`` (None) the
    paper's on a CUDA GPU (bfloat16 falls back to float16 where the GPU lacks it) and float32 elsewhere."""
    requested = check_precision(requested)
    if requested == "fp16-weights" and not resolve_spec(spec).startswith(("open_clip:", "wildclip:")):
        raise InquireError(
            f"--precision fp16-weights is clip.load's float16 weights, for open_clip and wildclip models; "
            f"{spec} is not one. Use fp16 (float16 autocast) instead."
        )
    if requested != "auto":
        return requested
    if device_type(device) != "cuda":
        return "fp32"
    paper = paper_precision(spec, task)
    return "fp16" if paper == "bf16" and not bf16_supported() else paper
