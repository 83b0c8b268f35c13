"""The embedding job on Ray Data, from one machine to a cluster (``--engine ray``).

Reading and decoding run as Ray tasks on the CPUs of the cluster, one model batch per task; the
model runs in a pool of actors (one per GPU when the cluster has GPUs); this process receives the
embeddings in order and commits shards with the same writer as the local engine. Each actor
encodes exactly the batches the local engine forms, so both engines write the same files.

On a cluster, every machine needs this package installed and the source at the same path (a
shared file system); ``ray start --head`` on one machine, ``ray start --address=HEAD:6379`` on the
others, then ``inquire embed ... --engine ray --address HEAD:6379`` (or ``auto`` on a member).
Ray is an optional dependency (``pip install inquire-toolkit[ray]``), imported only here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from ..data.sources import ImageSource
from ..errors import InquireError
from ..models.base import ImageTransform

#: sources and their chunks unpickled once per worker process, by object reference (a 5-million-item index is big)
_SOURCES: dict[str, tuple[ImageSource, list[np.ndarray]]] = {}


def run_ray(
    source: ImageSource,
    spec: str,
    transform: ImageTransform,
    dim: int,
    chunks: list[np.ndarray],
    on_rows: Callable[[np.ndarray, np.ndarray, list[tuple[int, str]], list[dict]], None],
    *,
    device: str | None,
    precision: str,
    actors: int | None,
    address: str | None,
    on_items: Callable[[int], None],
) -> tuple[str, int]:
    """Embed the items of ``chunks`` (source positions, one model batch each); returns the device
    kind and actor count. ``on_rows`` gets positions, embeddings, skipped items and the decoding
    facts (digest and EXIF, sent as JSON text so that Ray's columnar blocks carry them as they are)."""
    try:
        import ray
    except ImportError:
        raise InquireError(
            "--engine ray needs Ray: pip install 'inquire-toolkit[ray]' (or ray[data])."
        ) from None
    started_here = _connect(ray, address)
    try:
        gpus = int(ray.cluster_resources().get("GPU", 0))
        if device not in (None, "", "auto", "cpu") and not device.startswith("cuda"):
            raise InquireError(
                f"--device {device}: the Ray engine runs models on cuda or cpu only."
            )
        if device is not None and device.startswith("cuda") and gpus == 0:
            raise InquireError(f"--device {device}: the Ray cluster has no GPU; use --device cpu.")
        use_gpu = gpus > 0 and device != "cpu"
        actors = actors or (gpus if use_gpu else 1)
        ctx = ray.data.DataContext.get_current()
        saved = ctx.execution_options.preserve_order, ctx.enable_progress_bars
        ctx.execution_options.preserve_order = True  # shards complete one after another
        ctx.enable_progress_bars = False  # ours counts images; Ray's would count blocks
        pixel_shape = tuple(_pixel_shape(transform))
        ds = ray.data.from_items([{"chunk": c} for c in range(len(chunks))], override_num_blocks=len(chunks))
        # Each decoding task reserves the memory of its batch: full-size photos (up to ~8 MB decoded)
        # and their tensors, twice (NumPy and torch). As the actors reserve none, Ray also keeps the
        # two stages apart instead of fusing decoding into the actors, where it would stop
        # overlapping the model.
        batch_memory = max(len(c) for c in chunks) * (
            2 * 4 * int(np.prod(pixel_shape)) + 8 * 2**20
        )
        ds = ds.map_batches(
            _decode_chunk,
            batch_size=1,
            batch_format="numpy",
            num_cpus=1,
            memory=batch_memory,
            fn_kwargs={
                "source_ref": ray.put(source),
                "chunks_ref": ray.put(chunks),
                "transform": transform,
                "pixel_shape": pixel_shape,
            },
        )
        ds = ds.map_batches(
            _Encoder,
            batch_size=None,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_gpus=1 if use_gpu else 0,
            num_cpus=1,
            fn_constructor_kwargs={
                "spec": spec,
                "device": "cuda" if use_gpu else "cpu",
                "precision": precision,
                "dim": dim,
            },
        )
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            errors = batch["error"]
            ok = errors == ""
            on_rows(
                batch["index"][ok],
                batch["embedding"][ok],
                [(int(i), str(e)) for i, e in zip(batch["index"][~ok], errors[~ok], strict=True)],
                [json.loads(f) for f in batch["facts"][ok]],
            )
            on_items(len(errors))
        ctx.execution_options.preserve_order, ctx.enable_progress_bars = saved
        return ("cuda" if use_gpu else "cpu"), actors
    finally:
        if started_here:
            ray.shutdown()


def _connect(ray, address: str | None) -> bool:
    """Join ``address`` (or start a local instance); True if this call started Ray."""
    if ray.is_initialized():
        return False
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise InquireError(
            f"Could not {'join the Ray cluster at ' + address if address else 'start Ray'} ({exc}). "
            "Start a cluster with `ray start --head` and pass its address (--address HOST:6379)."
        ) from None
    return True


def _pixel_shape(transform: ImageTransform) -> tuple[int, ...]:
    from PIL import Image

    return tuple(transform(Image.new("RGB", (64, 64))).shape)


def _decode_chunk(
    batch: dict[str, np.ndarray], source_ref, chunks_ref, transform: ImageTransform, pixel_shape: tuple
) -> dict[str, Any]:
    """A Ray task: read and decode one model batch; rows in chunk order, errors in place of pixels."""
    import ray

    from .pipeline import prepare_batch

    key = source_ref.hex()
    if key not in _SOURCES:
        _SOURCES.clear()
        _SOURCES[key] = (ray.get(source_ref), ray.get(chunks_ref))
    source, chunks = _SOURCES[key]
    chunk = int(batch["chunk"][0])
    positions = chunks[chunk]
    prepared = prepare_batch(
        transform, list(zip(positions.tolist(), source.payloads_of(positions), strict=True)), facts=True
    )
    n = len(positions)
    slot = {int(p): i for i, p in enumerate(positions)}
    pixels = np.zeros((n, *pixel_shape), dtype=np.float32)
    errors = np.full(n, "", dtype=object)
    facts = np.full(n, "", dtype=object)
    if prepared.pixels is not None:
        where = [slot[k] for k in prepared.keys]
        pixels[where] = prepared.pixels.numpy()
        facts[where] = [json.dumps(f) for f in prepared.facts]
    for i, reason in prepared.skipped:
        errors[slot[i]] = reason
    return {
        "index": np.asarray(positions, dtype=np.int64),
        "chunk": np.full(n, chunk),
        "pixels": pixels,
        "error": errors,
        "facts": facts,
    }


class _Encoder:
    """A Ray actor holding the model; encodes each chunk of a block as its own batch."""

    def __init__(self, spec: str, device: str, precision: str, dim: int):
        from ..models import create_embedder

        self.embedder = create_embedder(spec, device, precision)
        self.dim = dim

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        ok = batch["error"] == ""
        out = np.zeros((len(ok), self.dim), dtype=np.float32)
        for chunk in np.unique(batch["chunk"][ok]):
            sel = ok & (batch["chunk"] == chunk)
            pixels = torch.from_numpy(np.ascontiguousarray(batch["pixels"][sel]))
            if self.embedder.device.type == "cuda":
                pixels = pixels.pin_memory()
            out[sel] = self.embedder.encode_images(pixels)
        return {"index": batch["index"], "embedding": out, "error": batch["error"], "facts": batch["facts"]}
