"""Short names for the models evaluated in the INQUIRE paper, loaded as the paper loaded them.

The names are the ones the official INQUIRE code uses (``src/eval_rerank_with_clip.py``,
``src/utils.py``), so ``--model vit-h-14-378`` gets the checkpoint behind a published row with the
same weights, image size, resize and crop, normalisation and tokenizer context. The official code
loads most models through all_clip 1.2.0's ``load_clip``: its ``open_clip:`` loader calls
``open_clip.create_model_and_transforms(arch, pretrained=tag)`` with ``open_clip.get_tokenizer(arch)``
(open_clip 2.x, before 2.29), and its ``hf_clip:`` loader takes transformers' ``CLIPModel`` with the
``CLIPProcessor``'s image processor (transformers 4.45.1: the PIL one) and ``clip.tokenize`` (77
tokens). ``source`` says which loader each entry mirrors and what a user must know to compare numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_ALL_CLIP_HF = "all_clip hf_clip: CLIPModel, the processor's PIL image processor, OpenAI tokenizer (77)"
_WILDCLIP = (
    "WildCLIP ViT-B/16 ({run}): the authors' checkpoint, not on a hub: "
    "--model wildclip:PATH/wildclip_vitb16_{run}.pth"
)
_WILDCLIP_SOURCE = (
    "utils.py: clip ViT-B/16 + the authors' state dict ('model.clip_model.' stripped, strict=False); "
    "float16 weights on GPU"
)
#: clip.load on a GPU: float16 weights (WildCLIP's loader, so every ``wildclip:`` checkpoint)
CLIP_LOAD_PRECISION = {"rerank": "fp16-weights", "fullrank": "fp16-weights"}
#: all_clip 1.2.0's wrappers: bfloat16 autocast (float16 on GPUs without it), for both tasks
_ALL_CLIP_PRECISION = {"rerank": "bf16", "fullrank": "bf16"}


@dataclass(frozen=True)
class ModelInfo:
    """One model of the paper: its short name, the spec it stands for, and where that comes from."""

    name: str
    spec: str | None  # None: weights are not on a hub; ``description`` says how to load them
    description: str
    source: str  # the official loader this entry mirrors, and what differs from it, if anything
    #: what the official code ran it at on a GPU, per task (see :mod:`inquire.models.precision`)
    precision: dict[str, str] = field(default_factory=lambda: dict(_ALL_CLIP_PRECISION))


def _open_clip(name: str, arch: str, tag: str, description: str, note: str = "") -> ModelInfo:
    source = f"all_clip open_clip:{arch}/{tag}" + (f"; {note}" if note else "")
    return ModelInfo(name, f"open_clip:{arch}/{tag}", description, source)


def _openai_resnet(name: str, arch: str, description: str) -> ModelInfo:
    """open_clip < 2.29, the paper's, built ``ARCH/openai`` with OpenAI's QuickGELU; later ones need the name."""
    source = f"all_clip open_clip:{arch}/openai, which open_clip < 2.29 built with QuickGELU, as this spec does"
    return ModelInfo(name, f"open_clip:{arch}-quickgelu/openai", description, source)


PAPER_MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in [
        ModelInfo("vit-b-32", "hf_clip:openai/clip-vit-base-patch32", "OpenAI CLIP ViT-B/32", _ALL_CLIP_HF),
        ModelInfo("vit-b-16", "hf_clip:openai/clip-vit-base-patch16", "OpenAI CLIP ViT-B/16", _ALL_CLIP_HF),
        ModelInfo("vit-l-14", "hf_clip:openai/clip-vit-large-patch14", "OpenAI CLIP ViT-L/14", _ALL_CLIP_HF),
        _openai_resnet("rn50", "RN50", "OpenAI CLIP ResNet-50"),
        _openai_resnet("rn50x16", "RN50x16", "OpenAI CLIP ResNet-50x16 at 384 px"),
        _open_clip("vit-b-16-dfn", "ViT-B-16", "dfn2b", "DFN-2B ViT-B/16",
                   "GELU as published, though trained with QuickGELU (open_clip warns; "
                   "ViT-B-16-quickgelu/dfn2b has the trained one)"),
        _open_clip("vit-l-14-dfn", "ViT-L-14-quickgelu", "dfn2b", "DFN-2B ViT-L/14"),
        _open_clip("vit-h-14-378", "ViT-H-14-378-quickgelu", "dfn5b",
                   "DFN-5B ViT-H/14 at 378 px (INQUIRE-Rerank's retriever)", "resized to 378x378 without crop"),
        _open_clip("siglip-vit-l-16-384", "ViT-L-16-SigLIP-384", "webli", "SigLIP ViT-L/16 at 384 px",
                   "384x384 without crop, 64 text tokens"),
        _open_clip("siglip-so400m-14-384", "ViT-SO400M-14-SigLIP-384", "webli", "SigLIP SO400M/14 at 384 px",
                   "384x384 without crop, 64 text tokens"),
        ModelInfo("bioclip", "open_clip:hf-hub:imageomics/bioclip", "BioCLIP (Tree of Life 10M)",
                  "utils.py: open_clip directly, without all_clip; on GPU float16 autocast for Rerank, "
                  "float32 Fullrank query texts", precision={"rerank": "fp16", "fullrank": "fp32"}),
        ModelInfo("wildclip-t1", None, _WILDCLIP.format(run="t1"), _WILDCLIP_SOURCE, CLIP_LOAD_PRECISION),
        ModelInfo("wildclip-t1t7-lwf", None, _WILDCLIP.format(run="t1t7_lwf"), _WILDCLIP_SOURCE, CLIP_LOAD_PRECISION),
    ]
}

#: what every entry shares with the official runs, shown under the ``inquire models`` table
PRECISION_NOTE = (
    "Sources: the official INQUIRE code, src/utils.py load_clip (all_clip 1.2.0 for most). On a GPU inquire runs "
    "each model as it ran there: all_clip's bfloat16 autocast (float16 where the GPU lacks bfloat16) unless noted, "
    "embeddings normalised in that dtype; on the CPU everything is float32. --precision overrides it."
)
