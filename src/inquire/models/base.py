"""The interface every image-text embedding model implements.

One small interface lets the embedding pipeline, the rerank task, search and the CLIP scorer
treat open_clip and transformers checkpoints alike. Embeddings leave a model as float32 numpy
arrays with unit L2 norm, so cosine similarity is a plain dot product everywhere downstream.
At a half precision (:mod:`inquire.models.precision`) the model runs under autocast and its
features are normalised in the dtype it returns them in, as the official scripts did.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from .precision import AUTOCAST
from .spec import model_identity

ImageTransform = Callable[[Image.Image], torch.Tensor]


class Embedder(ABC):
    """A text and image encoder into one shared embedding space."""

    #: the canonical spec string (``open_clip:ViT-B-32/openai``); names the model in outputs
    spec: str
    device: torch.device
    #: what runs the text tower: "torch", or "onnxruntime" after :meth:`accelerate_text`
    text_runtime: str = "torch"
    #: the resolved precision (:data:`inquire.models.precision.PRECISIONS` but ``auto``); set by ``create_embedder``
    precision: str = "fp32"

    @property
    @abstractmethod
    def image_transform(self) -> ImageTransform:
        """PIL image → CHW float tensor, exactly the model's evaluation preprocessing.

        Picklable, so decoding and preprocessing can run in worker processes.
        """

    @abstractmethod
    def _encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """Raw image features for a batch already on ``self.device``."""

    @abstractmethod
    def _encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Raw text features for a list of texts."""

    @property
    def identity(self) -> str:
        """The cache key of this model's outputs (see :func:`inquire.models.model_identity`)."""
        return model_identity(self.spec)

    def accelerate_text(self) -> str:
        """Run the text tower on a faster runtime where the result stays the same (a search server
        on CPU asks for this); returns what runs it now, and why."""
        return "torch (no faster runtime gives this model's exact text embeddings)"

    @property
    def dim(self) -> int:
        """Embedding dimension (computed once from a tiny text, which every backend supports)."""
        if not hasattr(self, "_dim"):
            self._dim = int(self.encode_texts(["a"]).shape[1])
        return self._dim

    def set_precision(self, precision: str) -> None:
        """Run at ``precision`` (a resolved name); the open_clip backend also converts weights for ``fp16-weights``."""
        self.precision = precision

    def _autocast(self) -> contextlib.AbstractContextManager:
        dtype = AUTOCAST[self.precision]
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=getattr(torch, dtype))

    def encode_images(self, pixels: torch.Tensor) -> np.ndarray:
        """Unit-norm float32 embeddings of a preprocessed image batch (N, C, H, W)."""
        with torch.inference_mode():
            with self._autocast():
                feats = self._encode_images(pixels.to(self.device, non_blocking=True))
            return self._normalize(feats)

    def encode_pil(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Unit-norm float32 embeddings of a few decoded images, preprocessed in this process (a photo to search with)."""
        return self.encode_images(collate([self.image_transform(image) for image in images]))

    def encode_texts(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Unit-norm float32 embeddings of texts."""
        chunks = []
        for start in range(0, len(texts), batch_size):
            with torch.inference_mode():
                with self._autocast():
                    feats = self._encode_texts(list(texts[start : start + batch_size]))
                chunks.append(self._normalize(feats))
        return np.concatenate(chunks) if chunks else np.zeros((0, self.dim), dtype=np.float32)

    def _normalize(self, feats: torch.Tensor) -> np.ndarray:
        """Unit rows as float32 numpy: in float32 at fp32; else, as the official Rerank scripts did,
        on the CPU in the (half) dtype the model returned, outside autocast (``emb /= emb.norm(dim=-1, keepdim=True)``)."""
        if self.precision == "fp32":
            feats = feats.float()
            return (feats / feats.norm(dim=-1, keepdim=True).clamp_min(1e-12)).cpu().numpy()
        feats = feats.cpu()
        return (feats / feats.norm(dim=-1, keepdim=True)).float().numpy()


def collate(items: list) -> "torch.Tensor | list":
    """A model batch of preprocessed images: tensors stacked; anything else (the PIL images a
    model object takes, :mod:`inquire.models.custom`) as a list."""
    if items and all(isinstance(item, torch.Tensor) for item in items):
        return torch.stack(items)
    return items

