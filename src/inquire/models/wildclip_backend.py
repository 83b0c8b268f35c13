"""WildCLIP checkpoints (``wildclip:PATH.pth``), loaded the way the official INQUIRE code loads them.

WildCLIP's weights are not on a hub: its authors publish PyTorch Lightning checkpoints of a
CLIP ViT-B/16 fine-tuned on camera-trap images. The official ``load_clip`` (``src/utils.py``)
builds OpenAI's ViT-B/16 with ``clip.load``, strips ``model.clip_model.`` from the checkpoint's
``state_dict`` keys and loads the result with ``strict=False``. Here the same network is open_clip's
``ViT-B-16-quickgelu``: OpenAI's layout, activation and parameter names, and the same 224-px bicubic
resize, centre crop and normalisation as ``clip.load``'s preprocessing. A checkpoint holding every
CLIP weight needs nothing else; one lacking some gets OpenAI's ViT-B/16 weights for those, as
``clip.load`` supplied them in the official code. Entries that are not CLIP weights (the authors'
adapter, which the official code leaves out as well) are counted in a warning.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import warnings
from pathlib import Path

import torch

from ..errors import InquireError
from .open_clip_backend import OpenClipEmbedder, create_open_clip

ARCH = "ViT-B-16-quickgelu"
KEY_PREFIX = "model.clip_model."


class WildClipEmbedder(OpenClipEmbedder):
    """A WildCLIP checkpoint in its authors' format on OpenAI's CLIP ViT-B/16."""

    def __init__(self, path: str, device: torch.device):
        self.spec = f"wildclip:{path}"
        self.device = device
        state = read_clip_state_dict(Path(path), self.spec)
        with _without_random_init_notice():  # the checkpoint's weights replace the random ones below
            model, transform, tokenizer = create_open_clip(self.spec, ARCH, None, device)
        expected = model.state_dict()
        missing = sorted(set(expected) - set(state))
        if len(missing) == len(expected):
            raise InquireError(
                f"{self.spec} holds no CLIP weights: none of its state_dict keys is a CLIP ViT-B/16 weight "
                f"once '{KEY_PREFIX}' is removed (first keys: {_sample(sorted(state))})."
            )
        if missing:
            model, transform, tokenizer = self._openai_base(missing)
        try:
            result = model.load_state_dict(state, strict=False)
        except RuntimeError as exc:
            raise InquireError(
                f"{self.spec} is not a WildCLIP ViT-B/16 checkpoint: its weights do not fit OpenAI's CLIP "
                f"ViT-B/16 ({str(exc).splitlines()[-1].strip()})."
            ) from None
        if result.unexpected_keys:
            warnings.warn(
                f"{self.spec}: {len(result.unexpected_keys)} checkpoint entries are not CLIP weights and were "
                f"left out, as the official INQUIRE loader leaves them out: {_sample(result.unexpected_keys)}",
                stacklevel=2,
            )
        self._adopt(model, transform, tokenizer)

    def _openai_base(self, missing: list[str]):
        try:
            return create_open_clip(f"open_clip:{ARCH}/openai", ARCH, "openai", self.device)
        except InquireError as exc:
            raise InquireError(
                f"{self.spec} lacks {len(missing)} CLIP weights ({_sample(missing)}); the official code keeps "
                f"OpenAI's ViT-B/16 weights (clip.load) for those, which could not be loaded: {exc}"
            ) from None


def read_clip_state_dict(path: Path, spec: str) -> dict[str, torch.Tensor]:
    """The CLIP weights of a WildCLIP checkpoint, keys as the official loader fixes them.

    The file is read with ``weights_only=True``: a checkpoint that also pickles Python objects is
    refused with the command that extracts its weights, rather than run as code.
    """
    if not path.is_file():
        raise InquireError(f"{spec}: no file {path}. Give the WildCLIP authors' .pth checkpoint.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "unsupported global" not in str(exc).lower():  # not a pickle of weights at all
            raise InquireError(f"{spec}: {path} is not a PyTorch checkpoint (it does not unpickle).") from None
        raise InquireError(
            f"{spec}: {path} holds Python objects besides weights, which are not loaded from a file "
            "(they could run code). If you trust it, save its weights alone and use that file: "
            f"python -c \"import torch; c = torch.load('{path}', weights_only=False); "
            f"torch.save({{'state_dict': c['state_dict']}}, '{path.with_suffix('')}-weights.pth')\""
        ) from None
    except (RuntimeError, OSError, EOFError) as exc:
        raise InquireError(f"{spec}: {path} is not a PyTorch checkpoint ({exc}).") from None
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise InquireError(
            f"{spec}: {path} has no 'state_dict' entry; a WildCLIP checkpoint is a PyTorch Lightning "
            "file whose state_dict holds model.clip_model.* weights."
        )
    return {key.split(KEY_PREFIX)[-1]: value for key, value in state.items()}


@contextlib.contextmanager
def _without_random_init_notice():
    """Hide open_clip's "initialized randomly" warning, which would be wrong about the loaded model."""
    root = logging.getLogger()

    def drop(record: logging.LogRecord) -> bool:
        return "initialized randomly" not in record.getMessage()

    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def _sample(keys: list[str], n: int = 3) -> str:
    return ", ".join(keys[:n]) + (f" and {len(keys) - n} more" if len(keys) > n else "")
