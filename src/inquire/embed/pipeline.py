"""Streaming, ordered batch embedding with decoding overlapped with the model.

Items arrive as ``(key, payload)`` pairs (payload: what :func:`~inquire.data.decode.decode_image`
takes: encoded bytes, a file path, a byte range of a file) from any source.
Batches are decoded and preprocessed in a pool of worker processes while the model encodes the
previous batch; at most ``prefetch`` batches are in flight, so memory stays bounded however large
the source. Output order equals input order, which lets writers produce the same files however
often a job is interrupted and resumed.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..models.base import ImageTransform, collate
from ..data.decode import DecodeError, decode_image, decode_photo

Item = tuple[Any, Any]  # (key, payload)


@dataclass
class PreparedBatch:
    keys: list[Any]
    pixels: torch.Tensor | list | None  # a list: PIL images for a model object
    skipped: list[tuple[Any, str]] = field(default_factory=list)
    facts: list[dict] = field(default_factory=list)  # per key, when asked for: see prepare_batch


@dataclass
class EmbeddedBatch:
    """Embeddings of the decodable items of one input batch, in input order, and what was skipped."""

    keys: list[Any]
    embeddings: np.ndarray
    skipped: list[tuple[Any, str]]
    n_input: int
    facts: list[dict] = field(default_factory=list)


def prepare_batch(transform: ImageTransform, items: list[Item], facts: bool = False) -> PreparedBatch:
    """Decode and preprocess one batch; undecodable items are listed with their reason.

    ``facts``: also record, per decoded item, the SHA-256 of its bytes and its EXIF facts
    (``{"sha256", "exif", "exif_unreadable"}``, plain values that travel between processes), read
    from the image object being decoded (:func:`~inquire.data.decode.decode_photo`).
    """
    keys, tensors, skipped, found = [], [], [], []
    for key, payload in items:
        try:
            photo = decode_photo(payload) if facts else None
            image = photo.image if photo is not None else decode_image(payload)
        except DecodeError as exc:
            skipped.append((key, str(exc)))
            continue
        try:
            tensors.append(transform(image))
        except Exception as exc:  # e.g. a 1-pixel-wide image some resize cannot handle
            skipped.append((key, f"preprocessing failed ({type(exc).__name__}: {exc})"))
            continue
        keys.append(key)
        if photo is not None:
            found.append({"sha256": photo.sha256, "exif": photo.exif, "exif_unreadable": photo.exif_unreadable})
    pixels = collate(tensors) if tensors else None
    return PreparedBatch(keys, pixels, skipped, found)


def default_workers() -> int:
    """One decoding worker per core beyond the first (the model keeps one busy), at least one."""
    return max(1, (os.cpu_count() or 2) - 1)


def _init_worker() -> None:
    # Workers preprocess one image at a time: intra-op threads would only fight the model for cores.
    torch.set_num_threads(1)


def embed_stream(
    encode: Callable[[torch.Tensor], np.ndarray],
    transform: ImageTransform,
    items: Iterable[Item],
    *,
    batch_size: int = 64,
    workers: int | None = None,
    prefetch: int = 2,
    pin_memory: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> Iterator[EmbeddedBatch]:
    """Yield embedded batches of ``items`` in order.

    ``encode`` maps a pixel batch to unit-norm embeddings (an embedder's ``encode_images``);
    ``workers=0`` decodes in this process (the plain loop, useful for debugging and as the
    benchmark baseline). ``on_batch`` is called with each batch's input size (progress bars).
    """
    yield from embed_batches(
        encode,
        transform,
        _chunks(items, batch_size),
        workers=workers,
        prefetch=prefetch,
        pin_memory=pin_memory,
        on_batch=on_batch,
    )


def embed_batches(
    encode: Callable[[torch.Tensor], np.ndarray],
    transform: ImageTransform,
    batches: Iterable[list[Item]],
    *,
    workers: int | None = None,
    prefetch: int = 2,
    pin_memory: bool = False,
    on_batch: Callable[[int], None] | None = None,
    facts: bool = False,
) -> Iterator[EmbeddedBatch]:
    """:func:`embed_stream` over batches the caller forms (``facts``: see :func:`prepare_batch`).

    The model sees exactly these batches, so a writer that aligns batches to its own blocks
    (shards of a collection) gets the same floating-point results however a job is resumed.
    """
    workers = default_workers() if workers is None else workers
    batches = iter(batches)
    if workers == 0:
        prepared: Iterator[PreparedBatch] = (prepare_batch(transform, b, facts) for b in batches)
        yield from _encode_all(encode, prepared, pin_memory, on_batch)
        return
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    with ctx.Pool(workers, initializer=_init_worker) as pool:
        yield from _encode_all(
            encode, _prefetched(pool, transform, batches, workers * prefetch, facts), pin_memory, on_batch
        )


def _prefetched(
    pool, transform: ImageTransform, batches: Iterator[list[Item]], depth: int, facts: bool
) -> Iterator[PreparedBatch]:
    pending: deque = deque()
    for batch in batches:
        pending.append(pool.apply_async(prepare_batch, (transform, batch, facts)))
        if len(pending) >= depth:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()


def _encode_all(
    encode: Callable[[torch.Tensor], np.ndarray],
    prepared: Iterator[PreparedBatch],
    pin_memory: bool,
    on_batch: Callable[[int], None] | None,
) -> Iterator[EmbeddedBatch]:
    for batch in _pinned_ahead(prepared) if pin_memory else prepared:
        n_input = len(batch.keys) + len(batch.skipped)
        if batch.pixels is None:
            emb = np.zeros((0, 0), dtype=np.float32)
        else:
            emb = encode(batch.pixels)
        if on_batch is not None:
            on_batch(n_input)
        yield EmbeddedBatch(batch.keys, emb, batch.skipped, n_input, batch.facts)


def _pinned_ahead(prepared: Iterator[PreparedBatch]) -> Iterator[PreparedBatch]:
    """The batches with their pixels in page-locked memory, each pinned while the model runs the one before.

    Pinning is a memory copy: done just before the model, it only adds to the host-to-device copy
    it is meant to speed up. In a helper thread (the copy releases the GIL) it overlaps the model,
    and the transfer then starts from pinned memory at full speed.
    """

    def pin(batch: PreparedBatch) -> PreparedBatch:
        if isinstance(batch.pixels, torch.Tensor):
            batch.pixels = batch.pixels.pin_memory()
        return batch

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for batch in prepared:
            ahead = pool.submit(pin, batch)
            if pending is not None:
                yield pending.result()
            pending = ahead
        if pending is not None:
            yield pending.result()


def _chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk
