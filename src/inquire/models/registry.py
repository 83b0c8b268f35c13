"""Short names for the models evaluated in the INQUIRE paper.

The names are the ones the INQUIRE code and paper use, so a user can type ``--model vit-h-14-378``
and get the exact checkpoint behind a published row.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelInfo:
    name: str
    spec: str | None  # None: weights are not published on a hub this tool can load
    description: str


PAPER_MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in [
        ModelInfo("vit-b-32", "hf_clip:openai/clip-vit-base-patch32", "OpenAI CLIP ViT-B/32"),
        ModelInfo("vit-b-16", "hf_clip:openai/clip-vit-base-patch16", "OpenAI CLIP ViT-B/16"),
        ModelInfo("vit-l-14", "hf_clip:openai/clip-vit-large-patch14", "OpenAI CLIP ViT-L/14"),
        ModelInfo("rn50", "open_clip:RN50/openai", "OpenAI CLIP ResNet-50"),
        ModelInfo("rn50x16", "open_clip:RN50x16/openai", "OpenAI CLIP ResNet-50x16"),
        ModelInfo("vit-b-16-dfn", "open_clip:ViT-B-16/dfn2b", "DFN-2B ViT-B/16"),
        ModelInfo("vit-l-14-dfn", "open_clip:ViT-L-14-quickgelu/dfn2b", "DFN-2B ViT-L/14"),
        ModelInfo("vit-h-14-378", "open_clip:ViT-H-14-378-quickgelu/dfn5b", "DFN-5B ViT-H/14 at 378 px (INQUIRE-Rerank's retriever)"),
        ModelInfo("siglip-vit-l-16-384", "open_clip:ViT-L-16-SigLIP-384/webli", "SigLIP ViT-L/16 at 384 px"),
        ModelInfo("siglip-so400m-14-384", "open_clip:ViT-SO400M-14-SigLIP-384/webli", "SigLIP SO400M/14 at 384 px"),
        ModelInfo("bioclip", "open_clip:hf-hub:imageomics/bioclip", "BioCLIP (Tree of Life 10M)"),
        ModelInfo(
            "wildclip-t1",
            None,
            "WildCLIP ViT-B/16 (t1): weights come from the WildCLIP authors, not a hub; "
            "convert them to an open_clip folder and use open_clip:local-dir:PATH",
        ),
        ModelInfo(
            "wildclip-t1t7-lwf",
            None,
            "WildCLIP ViT-B/16 (t1t7-lwf): weights come from the WildCLIP authors, not a hub; "
            "convert them to an open_clip folder and use open_clip:local-dir:PATH",
        ),
    ]
}
