"""Embedding a whole image collection into the published layout, resumably: ``inquire embed``.

The source is cut into fixed blocks of ``shard_size`` items in its own order; block ``i`` becomes
shard ``i`` (see :mod:`inquire.embed.layout`). A run embeds only the blocks that have no
complete shard yet, and forms its model batches inside each block from the block's start, so a
resumed run feeds the model exactly the batches an uninterrupted one would: the files come out
the same however often the job was stopped. ``manifest.json`` names the model, the source and the
shard size; a run that differs in any of them refuses to touch the folder.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..data.sources import ImageSource, open_source
from ..errors import InquireError
from ..models import model_identity, resolve_precision, resolve_spec
from . import manifest as mf
from .layout import (
    Shard,
    existing_shard_files,
    plan_shards,
    prepare_dirs,
    read_shard_record,
    write_json_atomic,
)

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


def embed_collection(
    source: str | Path | ImageSource,
    model: str,
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
    precision: str | None = None,
) -> dict[str, Any]:
    """Embed every image of ``source`` with ``model`` into ``out_dir``; return the manifest.

    Reuses a complete earlier output of the same model, source and shard size without loading
    the model, and resumes an incomplete one. ``shard_size``: items per shard (default: the
    existing output's, else :data:`DEFAULT_SHARD_SIZE`). ``workers``: decoding processes (local
    engine) or model actors (Ray; default one per GPU of the cluster, else one). ``address``: a
    Ray cluster to join (default: a local Ray instance, or the one this process already started).
    ``source_format`` and ``image_column``: see :func:`inquire.data.sources.open_source`.
    ``precision``: see :func:`inquire.models.resolve_precision` (``auto`` is decided for the device
    of the machine running this, also with the Ray engine); the folder is bound to it.
    """
    settings = Settings(batch_size, workers, device, engine, address, progress)
    if engine not in ENGINES:
        raise InquireError(f"Unknown engine {engine!r} (--engine): use local or ray.")
    if batch_size < 1 or (shard_size is not None and shard_size < 1):
        raise InquireError("--batch-size and --shard-size must be at least 1.")
    out = Path(out_dir)
    if shard_size is None:
        shard_size = (mf.read_manifest(out) or {}).get("shard_size", DEFAULT_SHARD_SIZE)
    spec = resolve_spec(model)  # a mistyped model fails before a long listing of the source
    src = open_source(source, source_format, image_column)
    if len(src) == 0:
        raise InquireError(f"The source {src.root} holds no images; nothing to embed.")
    config = mf.job_config(src, spec, model_identity(spec), shard_size, resolve_precision(precision, spec, device))
    out.mkdir(parents=True, exist_ok=True)
    with _locked(out):
        manifest = mf.read_manifest(out)
        if manifest is None and existing_shard_files(out):
            raise InquireError(
                f"{out} already holds embedding shards but no {mf.MANIFEST} from inquire embed; "
                "write to an empty folder (--out) so that none of them is overwritten."
            )
        if manifest is not None:
            mf.check_compatible(manifest, config, out)
        prepare_dirs(out)
        shards = plan_shards(len(src), shard_size)
        dim = manifest["model"].get("dim") if manifest else None
        records = {s.index: r for s in shards if (r := read_shard_record(out, s, dim)) is not None}
        todo = [s for s in shards if s.index not in records]
        if not todo and manifest is not None and manifest.get("complete"):
            return manifest
        run = None
        if todo:
            manifest, run = _embed(src, spec, out, config, manifest, shards, todo, settings)
            for s in todo:
                record = read_shard_record(out, s, manifest["model"]["dim"])
                if record is None:  # a writer bug, never the user's mistake: keep the traceback
                    raise RuntimeError(f"shard {s.index} was not written completely")
                records[s.index] = record
        manifest = mf.finalize(manifest, src, shards, records, run)
        write_json_atomic(out / mf.MANIFEST, manifest)
        return manifest


def _embed(
    src: ImageSource,
    spec: str,
    out: Path,
    config: dict,
    manifest: dict | None,
    shards: list[Shard],
    todo: list[Shard],
    settings: Settings,
) -> tuple[dict, dict]:
    """Load the model, record the job in the manifest, write the ``todo`` shards; the run's record."""
    from tqdm.auto import tqdm

    from ..models import create_embedder
    from .writer import ShardWriter

    started = time.perf_counter()
    # The Ray engine loads the model in its actors; here it only gives the preprocessing and dim.
    precision = config["model"]["precision"]
    embedder = create_embedder(spec, "cpu" if settings.engine == "ray" else settings.device, precision)
    dim = embedder.dim
    if manifest is None:
        manifest = mf.new_manifest(config, src, dim, repr(embedder.image_transform), len(shards))
        write_json_atomic(out / mf.MANIFEST, manifest)
    elif manifest["model"].get("dim") not in (None, dim):
        raise InquireError(
            f"{out} holds {manifest['model']['dim']}-dimensional embeddings; the model gives {dim}."
        )
    writer = ShardWriter(out, src, todo, config["shard_size"], dim)
    chunks = list(chunk_ranges(todo, settings.batch_size))
    n_items = sum(len(s) for s in todo)
    desc = f"embedding ({len(todo)} shards)"
    with tqdm(total=n_items, desc=desc, unit="img", disable=not settings.progress) as bar:
        if settings.engine == "local":
            device, workers = _run_local(src, embedder, chunks, writer.add, settings, bar.update)
        else:
            from .ray_engine import run_ray

            device, workers = run_ray(
                src, spec, embedder.image_transform, dim, chunks, writer.add,
                device=settings.device, precision=precision, actors=settings.workers, address=settings.address,
                on_items=bar.update,
            )  # fmt: skip
    if writer.pending:
        raise RuntimeError(f"the {settings.engine} engine left shards {writer.pending[:10]} undone")
    wall = time.perf_counter() - started
    run = {
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "engine": settings.engine,
        "device": device,
        "batch_size": settings.batch_size,
        "workers": workers,
        "shards_written": writer.shards_written,
        "items": n_items,
        "wall_s": round(wall, 3),
        "images_per_s": round(n_items / wall, 2),
    }
    return manifest, run


def _run_local(
    src: ImageSource,
    embedder,
    chunks: list[tuple[int, int]],
    on_rows: Callable,
    settings: Settings,
    on_items: Callable[[int], None],
) -> tuple[str, int]:
    """The pipeline of this machine: decoding processes overlapping the model."""
    from .pipeline import default_workers, embed_batches

    workers = default_workers() if settings.workers is None else settings.workers
    batches = (
        list(zip(range(start, stop), src.payloads(start, stop), strict=True))
        for start, stop in chunks
    )
    for batch in embed_batches(
        embedder.encode_images,
        embedder.image_transform,
        batches,
        workers=workers,
        pin_memory=embedder.device.type == "cuda",
        on_batch=on_items,
    ):
        on_rows(batch.keys, batch.embeddings, batch.skipped)
    return str(embedder.device), workers


def chunk_ranges(todo: list[Shard], batch_size: int) -> Iterator[tuple[int, int]]:
    """Model batches: ``batch_size`` items from each shard's start (a shard's last one shorter)."""
    for shard in todo:
        for start in range(shard.start, shard.stop, batch_size):
            yield start, min(start + batch_size, shard.stop)


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
