"""transformers CLIP and SigLIP checkpoints (``hf_clip:REPO_OR_DIR``)."""

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
        from transformers import AutoModel, AutoProcessor

        self.spec = f"hf_clip:{name}"
        self.device = device
        try:
            model = AutoModel.from_pretrained(name)
            processor = AutoProcessor.from_pretrained(name)
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
        self._tokenizer = processor.tokenizer
        self._transform = HFImageTransform(processor.image_processor)
        # SigLIP was trained on texts padded to the full length; CLIP pads to the longest.
        self._pad_to_max = "siglip" in model.config.model_type
        self._max_len = getattr(getattr(model.config, "text_config", None), "max_position_embeddings", 77)

    @property
    def image_transform(self) -> ImageTransform:
        return self._transform

    def _encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        return _features(self._model.get_image_features(pixel_values=pixels))

    def _encode_texts(self, texts: list[str]) -> torch.Tensor:
        tokens = self._tokenizer(
            texts,
            padding="max_length" if self._pad_to_max else True,
            truncation=True,
            max_length=self._max_len,
            return_tensors="pt",
        ).to(self.device)
        return _features(self._model.get_text_features(**tokens))


def _features(out) -> torch.Tensor:
    """transformers 4.x returns a tensor, 5.x an output object with the projected ``pooler_output``."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output
