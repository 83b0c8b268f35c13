"""The short text pass (:mod:`.text_fast`) run by ONNX Runtime, for a search server on CPU.

A search server encodes one new query at a time, where PyTorch's per-operator overhead and its
matrix kernels for a dozen rows dominate: ONNX Runtime runs the same graph in about half the time
on two cores (docs/benchmarks.md, "Text encoding"). The graph is exported from the model's own
modules (:meth:`CausalTextTower.forward_short`, sequence length and batch dynamic) once per model
identity, kept in the cache, and checked against PyTorch on probe texts every time it is loaded:
if the two differ by more than :data:`TOLERANCE` (or export is impossible) the server keeps the
PyTorch path and says why.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..paths import cache_root, slug
from .text_fast import CausalTextTower

log = logging.getLogger("inquire.models")

#: largest difference allowed between ONNX Runtime's and PyTorch's unit-norm text embeddings
TOLERANCE = 1e-5
_MAX_BATCH = 1024


class _Short(nn.Module):
    """The exported graph: shortened token ids and end positions → projected text features."""

    def __init__(self, fast: CausalTextTower):
        super().__init__()
        self.fast = fast
        self.tower = fast.tower  # registers the weights with this module

    def forward(self, tokens: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
        return self.fast.forward_short(tokens, ends)


class OnnxTextTower:
    """An ONNX Runtime session computing exactly what :class:`CausalTextTower` computes."""

    def __init__(self, fast: CausalTextTower, session):
        self.fast, self.session = fast, session

    @classmethod
    def load(cls, fast: CausalTextTower, identity: str, probe: torch.Tensor,
             threads: int | None = None) -> tuple[OnnxTextTower | None, str]:
        """The ONNX Runtime tower for a model (exported on first use), or None and the reason.

        ``probe`` holds token ids of texts of different lengths; the session must reproduce
        PyTorch's embeddings of them within :data:`TOLERANCE`.
        """
        try:
            import onnxruntime as ort
        except ImportError:
            return None, "onnxruntime is not installed"
        path = _cache_path(identity)
        try:
            if not path.is_file():
                log.info("exporting the text tower to ONNX once, for fast query texts (about 20 s for a ViT-B-32); kept in %s",
                         path.parent)
                _export(fast, path)
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads or torch.get_num_threads()
            # A server's HTTP threads need the same cores between two queries: do not spin.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - any failure here leaves the exact PyTorch path in place
            return None, f"ONNX export or load failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
        tower = cls(fast, session)
        with torch.inference_mode():
            expected = _unit(fast.encode(probe).float().numpy())
        diff = float(np.abs(_unit(tower.encode(probe).numpy()) - expected).max())
        if not diff <= TOLERANCE:
            return None, f"ONNX Runtime differs from PyTorch by {diff:.2e} (> {TOLERANCE})"
        return tower, f"onnxruntime (max difference to PyTorch on probe texts {diff:.1e})"

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Projected text features, as :meth:`CausalTextTower.encode` gives them."""
        short, ends = self.fast.shorten(tokens)
        out = self.session.run(None, {"tokens": short.numpy().astype(np.int64), "ends": ends.numpy().astype(np.int64)})
        return torch.from_numpy(out[0])


def _cache_path(identity: str) -> Path:
    digest = hashlib.sha256(f"{identity}\n{torch.__version__}".encode()).hexdigest()[:16]
    return cache_root() / "text-onnx" / f"{slug(identity.split('#')[0])[:60]}-{digest}" / "text.onnx"


def _export(fast: CausalTextTower, path: Path) -> None:
    """Write the graph with dynamic batch and length; atomically (a folder renamed into place)."""
    from torch.export import Dim

    context = fast.tower.attn_mask.shape[0]
    tokens = torch.ones((2, min(8, context)), dtype=torch.long)
    ends = torch.tensor([tokens.shape[1] - 1, 1])
    batch, length = Dim("batch", min=1, max=_MAX_BATCH), Dim("length", min=2, max=context)
    tmp = path.parent.with_name(f".{path.parent.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    quiet = io.StringIO()
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings(), \
            contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            _Short(fast).eval(), (tokens, ends), None, input_names=["tokens", "ends"], output_names=["features"],
            dynamic_shapes={"tokens": {0: batch, 1: length}, "ends": {0: batch}}, dynamo=True,
        )
        program.save(str(tmp / path.name))
    try:
        tmp.rename(path.parent)
    except OSError:  # another process exported it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
