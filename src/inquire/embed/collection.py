"""Embedding a whole image collection into the published layout, resumably and incrementally: ``inquire embed``.

A first run cuts the source into fixed blocks of ``shard_size`` items in its own order; block
``i`` becomes shard ``i`` (see :mod:`inquire.embed.layout`). A later run on the same folder
brings it up to date with the source (:mod:`inquire.embed.plan`): shards that lose images are
rewritten from their stored rows, new and changed images are embedded into appended shards, and
the rest is left as it is. Model batches are formed inside each shard from its start, so a
resumed run feeds the model exactly the batches an uninterrupted one would: the files come out
the same however often the job was stopped. ``manifest.json`` names the model, the source and
the shard size; a run that differs in any of them refuses to touch the folder.

Each image's metadata is merged from up to three tiers, in this order of precedence: the
``metadata`` sidecar table, the source's own (Camtrap DP, COCO Camera Traps, iNat JSON, table
columns), then the photo's EXIF (:mod:`inquire.data.columns`).
"""

from __future__ import annotations

import fcntl
import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from ..data.columns import Tier
from ..data.sidecar import read_sidecar, write_unmatched
from ..data.sources import IMAGE_PATH, ImageSource, open_source
from ..errors import InquireError
from ..models import model_key, resolve_precision
from ..models.spec import not_cached_note
from . import manifest as mf
from .layout import (
    ShardFiles,
    existing_shard_files,
    prepare_dirs,
    read_embeddings,
    read_shard,
    recover,
    shard_numbers,
    write_json_atomic,
    write_shard,
)
from .plan import Plan, make_plan
from .writer import Entry, ShardComposer

DEFAULT_SHARD_SIZE = 10_000
ENGINES = ("local", "ray")


@dataclass(frozen=True)
class Settings:
    """How to run a job; none of it changes the output files."""

    batch_size: int = 64
    workers: int | None = None
    device: str | None = None
    engine: str = "local"
    address: str | None = None
    progress: bool = True


@dataclass
class Job:
    """What one run works on: the source, its metadata tiers, and the output folder."""

    src: ImageSource
    model: str | Any  # a spec, or a named model object
    spec: str
    out: Path
    config: dict
    sidecar: Tier | None
    metadata: dict  # the manifest's metadata section, statistics aside
    stamps: np.ndarray
    unmatched: dict | None  # the sidecar join's complete lists


def embed_collection(
    source: str | Path | ImageSource,
    model: str | Any,
    out_dir: str | Path,
    *,
    batch_size: int = 64,
    workers: int | None = None,
    device: str | None = None,
    engine: str = "local",
    address: str | None = None,
    shard_size: int | None = None,
    source_format: str = "auto",
    image_column: str | None = None,
    progress: bool = True,
    metadata: str | Path | None = None,
    metadata_key: str | None = None,
    precision: str | None = None,
) -> dict[str, Any]:
    """Embed every image of ``source`` with ``model`` into ``out_dir``, or bring an earlier output
    up to date with it; return the manifest.

    A complete earlier output of the same model and source with nothing new, changed or removed
    is returned without loading the model; an incomplete one is resumed; a grown one is updated
    (``manifest["update"]`` says how many images were new, changed, removed and unchanged).
    ``shard_size``: items per shard (default: the existing output's, else
    :data:`DEFAULT_SHARD_SIZE`). ``workers``: decoding processes (local engine) or model actors
    (Ray; default one per GPU of the cluster, else one). ``address``: a Ray cluster to join
    (default: a local Ray instance, or the one this process already started). ``source_format``
    and ``image_column``: see :func:`inquire.data.sources.open_source`. ``metadata``: a CSV or
    Parquet table of what is known of each photo (:mod:`inquire.data.sidecar`), ``metadata_key``
    its column naming the photos. ``precision``: see :func:`inquire.models.resolve_precision`
    (``auto`` is decided for the device of the machine running this, also with the Ray engine);
    the folder is bound to it (a model object sets its own: recorded as None).
    ``model`` is a spec or a model object with a name (:func:`inquire.models.create_embedder`):
    the manifest records what made the folder, so that a resumed run and a search use that model.
    """
    settings = Settings(batch_size, workers, device, engine, address, progress)
    if engine not in ENGINES:
        raise InquireError(f"Unknown engine {engine!r} (--engine): use local or ray.")
    if batch_size < 1 or (shard_size is not None and shard_size < 1):
        raise InquireError("--batch-size and --shard-size must be at least 1.")
    out = Path(out_dir)
    if shard_size is None:
        shard_size = (mf.read_manifest(out) or {}).get("shard_size", DEFAULT_SHARD_SIZE)
    spec, identity = model_key(model)  # a mistyped model fails before a long listing of the source
    if identity is None:
        raise InquireError(f"An embedding folder records the model that made it: {not_cached_note(spec)}")
    if engine == "ray" and not isinstance(model, str):
        raise InquireError(
            f"engine='ray' loads the model from its spec in every actor; the model object {spec} runs only in this "
            "process: use engine='local'."
        )
    src = open_source(source, source_format, image_column)
    if len(src) == 0:
        raise InquireError(f"The source {src.root} holds no images; nothing to embed.")
    precision = resolve_precision(precision, spec, device) if isinstance(model, str) else None
    job = _job(src, model, spec, identity, precision, out, shard_size, metadata, metadata_key)
    out.mkdir(parents=True, exist_ok=True)
    with _locked(out):
        manifest = mf.read_manifest(out)
        if manifest is None and existing_shard_files(out):
            raise InquireError(
                f"{out} already holds embedding shards but no {mf.MANIFEST} from inquire embed; "
                "write to an empty folder (--out) so that none of them is overwritten."
            )
        if manifest is not None:
            mf.check_compatible(manifest, job.config, out)
        prepare_dirs(out)
        recover(out)
        dim = manifest["model"].get("dim") if manifest else None
        stored = {k: read_shard(ShardFiles(out, k), dim) for k in shard_numbers(out)}
        new_metadata = manifest is not None and (
            manifest.get("metadata", {}).get("fingerprint") != job.metadata["fingerprint"]
        )
        plan = make_plan(src, job.stamps, stored, mf.base_shards(manifest), shard_size, new_metadata)
        if plan.idle and manifest is not None and manifest.get("complete"):
            return manifest
        started = time.perf_counter()
        if manifest is not None:
            manifest = mf.begin_update(manifest, plan.counts)
            write_json_atomic(out / mf.MANIFEST, manifest)
        for k in plan.stale:
            ShardFiles(out, k).delete()
        rewritten = _rewrite(job, plan, stored, manifest) if plan.rewrite or plan.refresh else 0
        embedded = None
        if plan.todo:
            manifest, embedded = _embed(job, manifest, plan, settings)
        records = _records(out, plan, stored, manifest["model"]["dim"])
        write_unmatched(out, job.metadata.get("sidecar"), job.unmatched)
        run = _run_record(plan, rewritten, embedded, time.perf_counter() - started, settings)
        manifest = mf.finalize(manifest, src, records, run, job.metadata)
        write_json_atomic(out / mf.MANIFEST, manifest)
        return manifest


def _job(src: ImageSource, model: str | Any, spec: str, identity: str, precision: str | None, out: Path,
         shard_size: int, metadata: str | Path | None, metadata_key: str | None) -> Job:
    """Open the sidecar table and join it; the facts about the metadata the manifest records."""
    sidecar_tier, unmatched, section = None, None, {"precedence": ["sidecar", src.kind, "exif"]}
    digest = hashlib.sha256(src.metadata_fingerprint.encode())
    if metadata is not None:
        sidecar = read_sidecar(metadata, metadata_key)
        sidecar_tier, report, unmatched = sidecar.align(src.table.column(IMAGE_PATH).to_pylist())
        section["sidecar"] = report
        digest.update(f"{sidecar.sha256}:{sidecar.key_column}".encode())  # the table and how it was joined
    else:
        section["precedence"] = section["precedence"][1:]
    if src.unreadable_examples:
        section["source_unreadable_examples"] = dict(src.unreadable_examples)
    section["fingerprint"] = digest.hexdigest()[:32]
    config = mf.job_config(src, spec, identity, shard_size, precision)
    return Job(src, model, spec, out, config, sidecar_tier, section, src.stamps(), unmatched)


def _rewrite(job: Job, plan: Plan, stored: dict, manifest: dict) -> int:
    """Rewrite the base shards that lose images, and those whose metadata changed; returns how many
    were written. Kept rows are copied from the stored shard: their embeddings stay bit-identical."""
    composer = ShardComposer(job.src, job.sidecar, job.stamps, manifest["model"]["dim"])
    written = 0
    for k, kept in sorted({**plan.rewrite, **plan.refresh}.items()):
        files = ShardFiles(job.out, k)
        shard = stored.get(k)
        entries = []
        if kept:
            emb, items = read_embeddings(files), shard.items.to_pylist()
            entries = [Entry.from_items_row(e.position, np.array(emb[e.row]) if e.row >= 0 else None, items[e.item])
                       for e in kept]
        parts = composer.compose(entries)
        if k in plan.refresh and parts[1].equals(pq.read_table(files.meta)) and parts[2].equals(shard.items):
            continue  # its metadata did not change after all: the files stay as they are
        write_shard(files, *parts)
        written += 1
    return written


def _embed(job: Job, manifest: dict | None, plan: Plan, settings: Settings) -> tuple[dict, dict]:
    """Load the model, record the job in the manifest, write the shards to embed; what it did."""
    from tqdm.auto import tqdm

    from ..models import create_embedder
    from .writer import ShardWriter

    started = time.perf_counter()
    # The Ray engine loads the model in its actors; here it only gives the preprocessing and dim.
    precision = job.config["model"]["precision"]
    embedder = create_embedder(job.model, "cpu" if settings.engine == "ray" else settings.device, precision)
    dim = embedder.dim
    if manifest is None:
        manifest = mf.new_manifest(job.config, job.src, dim, repr(embedder.image_transform), plan.counts)
        write_json_atomic(job.out / mf.MANIFEST, manifest)
    elif manifest["model"].get("dim") not in (None, dim):
        raise InquireError(
            f"{job.out} holds {manifest['model']['dim']}-dimensional embeddings; the model gives {dim}."
        )
    composer = ShardComposer(job.src, job.sidecar, job.stamps, dim)
    writer = ShardWriter(composer, {k: ShardFiles(job.out, k) for k in plan.todo}, plan.todo)
    chunks = list(chunk_positions(plan.todo, settings.batch_size))
    n_items = sum(len(c) for c in chunks)
    desc = f"embedding ({len(plan.todo)} shards)"
    with tqdm(total=n_items, desc=desc, unit="img", disable=not settings.progress) as bar:
        if settings.engine == "local":
            device, workers = _run_local(job.src, embedder, chunks, writer.add, settings, bar.update)
        else:
            from .ray_engine import run_ray

            device, workers = run_ray(
                job.src, job.spec, embedder.image_transform, dim, chunks, writer.add,
                device=settings.device, precision=precision, actors=settings.workers, address=settings.address,
                on_items=bar.update,
            )  # fmt: skip
    if writer.pending:
        raise RuntimeError(f"the {settings.engine} engine left shards {writer.pending[:10]} undone")
    wall = time.perf_counter() - started
    return manifest, {
        "device": device,
        "workers": workers,
        "shards_written": writer.shards_written,
        "items": n_items,
        "images_per_s": round(n_items / wall, 2),
    }


def _records(out: Path, plan: Plan, stored: dict, dim: int) -> list[dict]:
    """Every shard's record: as found for shards this run left alone, read back for the others."""
    written = plan.todo.keys() | plan.rewrite.keys() | plan.refresh.keys()
    records = []
    for k in range(plan.n_shards):
        shard = stored.get(k) if k not in written else read_shard(ShardFiles(out, k), dim)
        if shard is None:  # a writer bug, never the user's mistake: keep the traceback
            raise RuntimeError(f"shard {k} was not written completely")
        records.append(shard.record)
    return records


def _run_record(plan: Plan, rewritten: int, embedded: dict | None, wall: float, settings: Settings) -> dict:
    return {
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "engine": settings.engine,
        "batch_size": settings.batch_size,
        "update": plan.counts,
        "shards_rewritten": rewritten,
        "shards_deleted": len(plan.stale),
        **(embedded or {"shards_written": 0, "items": 0}),
        "wall_s": round(wall, 3),
    }


def _run_local(
    src: ImageSource,
    embedder,
    chunks: list[np.ndarray],
    on_rows: Callable,
    settings: Settings,
    on_items: Callable[[int], None],
) -> tuple[str, int]:
    """The pipeline of this machine: decoding processes overlapping the model."""
    from .pipeline import default_workers, embed_batches

    workers = default_workers() if settings.workers is None else settings.workers
    batches = (list(zip(chunk.tolist(), src.payloads_of(chunk), strict=True)) for chunk in chunks)
    for batch in embed_batches(
        embedder.encode_images,
        embedder.image_transform,
        batches,
        workers=workers,
        pin_memory=embedder.device.type == "cuda",
        on_batch=on_items,
        facts=True,
    ):
        on_rows(batch.keys, batch.embeddings, batch.skipped, batch.facts)
    return str(embedder.device), workers


def chunk_positions(todo: dict[int, np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    """Model batches: ``batch_size`` items from each shard's start (a shard's last one shorter)."""
    for k in sorted(todo):
        for start in range(0, len(todo[k]), batch_size):
            yield todo[k][start : start + batch_size]


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    """One writer per output folder.

    A POSIX record lock belongs to this process alone (decoding workers forked later do not
    inherit it), so it dies with the process: a kill -9 never leaves the folder locked.
    """
    with open(out / ".lock", "a") as handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise InquireError(
                f"Another inquire embed is writing to {out}; wait for it or use another --out."
            ) from None
        yield
