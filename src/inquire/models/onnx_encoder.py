"""Running an image tower on ONNX Runtime's CPU kernels.

On CPUs, ONNX Runtime's fused kernels encode images markedly faster than eager PyTorch (see
docs/benchmarks.md), with the same numbers to float tolerance. The tower is exported once per
model identity and cached; before it is trusted, its output on the first batch is checked
against PyTorch, and any failure (export, load, mismatch) falls back to PyTorch with the reason
recorded — never silently.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable

import numpy as np
import torch

from ..errors import InquireError
from ..paths import cache_root, slug
from . import RUNTIMES
from .base import Embedder, _normalize

#: largest absolute difference between unit-norm embeddings of the two runtimes that we accept
TOLERANCE = 1e-4


class OnnxImageEncoder:
    """``pixels → unit-norm embeddings`` like :meth:`Embedder.encode_images`, on ONNX Runtime."""

    def __init__(self, embedder: Embedder, sample: torch.Tensor, threads: int | None = None):
        import onnxruntime as ort

        path = _export(embedder, sample)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or (os.cpu_count() or 1)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle threads sleep instead of spinning: decoding workers need those cores between batches.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def __call__(self, pixels: torch.Tensor) -> np.ndarray:
        (feats,) = self._session.run(None, {self._input: pixels.float().numpy()})
        return _normalize(torch.from_numpy(feats))


def _export(embedder: Embedder, sample: torch.Tensor) -> "os.PathLike[str]":
    digest = hashlib.sha256(f"{embedder.identity}|{tuple(sample.shape[1:])}|{torch.__version__}".encode()).hexdigest()[:16]
    path = cache_root() / "onnx" / f"{slug(embedder.spec)[:60]}-{digest}.onnx"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # Grad mode on: under no_grad, nn.MultiheadAttention takes a fused fast path ONNX cannot export.
    with warnings.catch_warnings(), torch.inference_mode(False), torch.enable_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            embedder.image_tower().eval(), (sample[:2].float(),), str(tmp),
            input_names=["pixels"], output_names=["features"],
            dynamic_axes={"pixels": {0: "batch"}, "features": {0: "batch"}},
            opset_version=17, dynamo=False,
        )
    tmp.replace(path)
    return path


class ImageEncoder:
    """``encode`` for the embedding pipeline that picks its runtime on the first batch.

    ``runtime``: ``torch``; ``onnx`` (an error if unavailable); ``auto`` = ONNX Runtime on CPU
    when installed, else PyTorch. The first batch serves to export and verify the ONNX graph;
    ``runtime_used`` then says which runtime encodes (and why PyTorch, after a fallback).
    """

    def __init__(self, embedder: Embedder, runtime: str = "auto"):
        if runtime not in RUNTIMES:
            raise InquireError(f"Unknown image runtime {runtime!r} (--runtime): use {', '.join(RUNTIMES)}.")
        self.embedder, self.runtime = embedder, runtime
        self.runtime_used: str | None = None
        self._encode: Callable[[torch.Tensor], np.ndarray] | None = None

    def __call__(self, pixels: torch.Tensor) -> np.ndarray:
        if self._encode is None:
            self._encode, self.runtime_used = self._select(pixels)
        return self._encode(pixels)

    def _select(self, sample: torch.Tensor) -> tuple[Callable[[torch.Tensor], np.ndarray], str]:
        embedder = self.embedder
        if self.runtime == "torch" or (self.runtime == "auto" and embedder.device.type != "cpu"):
            return embedder.encode_images, "torch"
        try:
            encoder = OnnxImageEncoder(embedder, sample)
            check = sample[:4]
            diff = float(np.abs(encoder(check) - embedder.encode_images(check)).max())
            if diff > TOLERANCE:
                raise RuntimeError(f"ONNX output differs from PyTorch by {diff:.2e}")
        except Exception as exc:  # any failure of the optional runtime: fall back, loudly
            if self.runtime == "onnx":
                raise
            detail = str(exc).splitlines()[0] if str(exc) else ""
            reason = f"torch (ONNX Runtime not used: {type(exc).__name__}: {detail})"
            warnings.warn(reason, RuntimeWarning, stacklevel=3)
            return embedder.encode_images, reason
        return encoder, "onnxruntime"
