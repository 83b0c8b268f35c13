"""open_clip checkpoints: built-in architectures with pretrained tags, ``hf-hub:`` and ``local-dir:``."""

from __future__ import annotations

import difflib

import torch

from ..errors import InquireError
from .base import Embedder, ImageTransform
from .text_fast import CausalTextTower
from .text_onnx import OnnxTextTower

#: texts of different lengths on which a faster text runtime must agree with PyTorch
PROBE_TEXTS = ["a", "a sick cassava plant", "a hermit crab using plastic trash as its shell on a sandy beach at low tide",
               " ".join(["an orb weaver spinning its web at dusk"] * 12)]  # the last fills the context


class OpenClipEmbedder(Embedder):
    """An open_clip model. ``name`` is ``ARCH/TAG``, ``hf-hub:ORG/REPO`` or ``local-dir:PATH``."""

    def __init__(self, name: str, device: torch.device):
        import open_clip

        self.spec = f"open_clip:{name}"
        self.device = device
        arch, pretrained = _split_name(name)
        if pretrained is None and arch in open_clip.list_models():  # not hf-hub:/local-dir:, which carry weights
            raise InquireError(
                f"{self.spec} names no pretrained weights: use open_clip:{arch}/TAG "
                f"(tags: {', '.join(open_clip.list_pretrained_tags_by_model(arch)) or 'none'})."
            )
        self._adopt(*create_open_clip(self.spec, arch, pretrained, device))

    def _adopt(self, model: torch.nn.Module, transform: ImageTransform, tokenizer) -> None:
        """Serve ``model`` with its evaluation transform and tokenizer."""
        self._model = model.eval()
        self._transform = transform
        self._tokenizer = tokenizer
        # None for towers where only the full pass is exact (SigLIP, CoCa, …): see text_fast
        self.text_fast_path = CausalTextTower.of(self._model)
        self._onnx_text: OnnxTextTower | None = None

    @property
    def image_transform(self) -> ImageTransform:
        return self._transform

    def set_precision(self, precision: str) -> None:
        """``fp16-weights``: float16 weights where ``clip.load`` has them on a GPU (linear, convolution,
        attention and projection weights; layer norms and embeddings stay float32), via open_clip's own
        conversion, which mirrors clip's ``convert_weights``; the model then runs under float16 autocast."""
        super().set_precision(precision)
        if precision == "fp16-weights":
            from open_clip.model import convert_weights_to_lp

            convert_weights_to_lp(self._model, torch.float16)

    def _encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        return self._model.encode_image(pixels)

    def accelerate_text(self) -> str:
        if self.device.type != "cpu" or self.text_fast_path is None:
            return super().accelerate_text()
        probe = self._tokenizer(PROBE_TEXTS)
        self._onnx_text, why = OnnxTextTower.load(self.text_fast_path, self.identity, probe)
        return why if self._onnx_text is not None else f"torch ({why})"

    @property
    def text_runtime(self) -> str:
        return "torch" if self._onnx_text is None else "onnxruntime"

    def _encode_texts(self, texts: list[str]) -> torch.Tensor:
        tokens = self._tokenizer(texts).to(self.device)
        if self._onnx_text is not None:
            return self._onnx_text.encode(tokens)
        if self.text_fast_path is not None:
            return self.text_fast_path.encode(tokens)
        return self._model.encode_text(tokens)


def create_open_clip(spec: str, arch: str, pretrained: str | None, device: torch.device):
    """open_clip's model, evaluation transform and tokenizer for ``arch`` (random weights if no
    ``pretrained`` and no ``hf-hub:``/``local-dir:`` source); loading errors become InquireErrors naming ``spec``."""
    import open_clip

    try:
        model, _, transform = open_clip.create_model_and_transforms(arch, pretrained=pretrained, device=device)
        return model, transform, open_clip.get_tokenizer(arch)
    except FileNotFoundError as exc:
        raise InquireError(f"Model {spec}: {exc}") from None
    except RuntimeError as exc:
        raise InquireError(_explain_runtime_error(spec, arch, exc)) from None
    except (OSError, ValueError) as exc:
        raise InquireError(
            f"Could not load {spec} ({exc}). If this machine has no network, save the model "
            "as an open_clip folder elsewhere and use open_clip:local-dir:PATH."
        ) from None


def _split_name(name: str) -> tuple[str, str | None]:
    if name.startswith(("hf-hub:", "local-dir:")):
        return name, None
    arch, _, tag = name.partition("/")
    return arch, (tag or None)


def _explain_runtime_error(spec: str, arch: str, exc: RuntimeError) -> str:
    import open_clip

    text = str(exc)
    if "not found" in text.lower() and "config" in text.lower():
        close = difflib.get_close_matches(arch, open_clip.list_models(), n=5, cutoff=0.5)
        hint = f" Close matches: {', '.join(close)}." if close else ""
        return f"Unknown open_clip architecture {arch!r} in {spec}.{hint} `python -c 'import open_clip; print(open_clip.list_models())'` lists all."
    if "failed to download" in text.lower():  # a known tag whose weights could not be fetched
        return (
            f"Could not download the weights of {spec} ({text.splitlines()[0]}). Run once with network access "
            "so open_clip caches them, or save the model as an open_clip folder and use open_clip:local-dir:PATH."
        )
    if "pretrained" in text.lower() or "tag" in text.lower():
        tags = open_clip.list_pretrained_tags_by_model(arch)
        return f"Unknown pretrained tag in {spec}. Tags for {arch}: {', '.join(tags) or 'none'}."
    return f"Could not load {spec}: {text}"
