"""transformers CLIP and SigLIP checkpoints (``hf_clip:REPO_OR_DIR``).

Images go through the checkpoint's PIL image processor: the one transformers 4.x loads by default
and the INQUIRE paper used (all_clip's ``hf_clip:`` loader, transformers 4.45.1). transformers 5
defaults to a torchvision one whose pixels differ by a grey level or two (measured on the sample
photos: 4.45.1's CLIPImageProcessor and 5.x's PIL one agree exactly).

Texts: transformers' CLIP text model applies a causal mask and pools at the end-of-text token, so
padding to the longest text of a batch gives exactly the 77-token features at a fraction of the
cost. SigLIP was trained on texts padded to the full length with no padding mask and pools the last
position: it gets exactly that (the ids alone, at ``max_position_embeddings``). Other towers get
the full length with their attention mask.
"""

from __future__ import annotations

import torch
from PIL import Image

from ..errors import InquireError
from .base import Embedder, ImageTransform


class HFImageTransform:
    """Picklable wrapper: PIL image → the processor's ``pixel_values`` for one image."""

    def __init__(self, image_processor):
        self.image_processor = image_processor

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.image_processor(images=image, return_tensors="pt")["pixel_values"][0]

    def __repr__(self) -> str:
        return repr(self.image_processor)


class HFClipEmbedder(Embedder):
    """A transformers dual encoder exposing ``get_image_features``/``get_text_features``."""

    def __init__(self, name: str, device: torch.device):
        from transformers import AutoModel, AutoTokenizer

        self.spec = f"hf_clip:{name}"
        self.device = device
        try:
            model = AutoModel.from_pretrained(name)
            tokenizer = AutoTokenizer.from_pretrained(name)
            image_processor = pil_image_processor(name)
        except (OSError, ValueError) as exc:
            raise InquireError(
                f"Could not load {self.spec} ({str(exc).splitlines()[0]}). Give a transformers CLIP or "
                "SigLIP hub id or a folder written by save_pretrained; without network use a local folder."
            ) from None
        if not hasattr(model, "get_image_features") or not hasattr(model, "get_text_features"):
            raise InquireError(
                f"{self.spec} is a {type(model).__name__}, not a dual encoder with image and text features; "
                "hf_clip: takes CLIP- and SigLIP-style checkpoints."
            )
        self._model = model.to(device).eval()
        self._tokenizer = tokenizer
        self._transform = HFImageTransform(image_processor)
        model_type = model.config.model_type
        # causal, pooled at end-of-text: padding past the longest text changes nothing (module docstring)
        self.pads_to_longest = model_type == "clip"
        self._ids_only = "siglip" in model_type  # trained without a padding mask
        self._max_len = getattr(getattr(model.config, "text_config", None), "max_position_embeddings", 77)

    @property
    def image_transform(self) -> ImageTransform:
        return self._transform

    def _encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        return _features(self._model.get_image_features(pixel_values=pixels))

    def _encode_texts(self, texts: list[str]) -> torch.Tensor:
        tokens = self._tokenizer(
            texts,
            padding=True if self.pads_to_longest else "max_length",
            truncation=True,
            max_length=self._max_len,
            return_tensors="pt",
        ).to(self.device)
        if self._ids_only:
            tokens = {"input_ids": tokens["input_ids"]}
        return _features(self._model.get_text_features(**tokens))


def pil_image_processor(name: str):
    """The checkpoint's image processor on PIL, as transformers 4.x (the paper's 4.45.1) loads it."""
    import transformers
    from transformers import AutoImageProcessor

    major = int(transformers.__version__.split(".")[0])
    return AutoImageProcessor.from_pretrained(name, **({"backend": "pil"} if major >= 5 else {"use_fast": False}))


def _features(out) -> torch.Tensor:
    """transformers 4.x returns a tensor, 5.x an output object with the projected ``pooler_output``."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output
