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
import json
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..data.sources import ImageSource, open_source
from ..errors import InquireError
from ..models import model_identity, resolve_spec
from .layout import Shard, existing_shard_files, plan_shards, prepare_dirs, read_shard_record, write_json_atomic

FORMAT = "inquire-embeddings/1"
DEFAULT_SHARD_SIZE = 10_000
ENGINES = ("local", "ray")
MANIFEST = "manifest.json"


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
    shard_size: int = DEFAULT_SHARD_SIZE,
    source_format: str = "auto",
    image_column: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Embed every image of ``source`` with ``model`` into ``out_dir``; return the manifest.

    Reuses a complete earlier output of the same model, source and shard size without loading
    the model, and resumes an incomplete one. ``workers``: decoding processes (local engine) or
    model actors (Ray; default one per GPU of the cluster, else one). ``address``: a Ray cluster
    to join (default: a local Ray instance, or the one this process already started).
    """
    if engine not in ENGINES:
        raise InquireError(f"Unknown engine {engine!r} (--engine): use local or ray.")
    if batch_size < 1 or shard_size < 1:
        raise InquireError("--batch-size and --shard-size must be at least 1.")
    out = Path(out_dir)
    src = open_source(source, source_format, image_column)
    if len(src) == 0:
        raise InquireError(f"The source {src.root} holds no images; nothing to embed.")
    spec = resolve_spec(model)
    config = {
        "format": FORMAT,
        "model": {"spec": spec, "identity": model_identity(spec)},
        "source": {"kind": src.kind, "fingerprint": src.fingerprint},
        "shard_size": shard_size,
    }
    out.mkdir(parents=True, exist_ok=True)
    with _locked(out):
        manifest = _read_manifest(out)
        if manifest is None and existing_shard_files(out):
            raise InquireError(
                f"{out} already holds embedding shards but no {MANIFEST} from inquire embed; "
                "write to an empty folder (--out) so nothing of them is overwritten."
            )
        if manifest is not None:
            _check_compatible(manifest, config, out)
        prepare_dirs(out)
        shards = plan_shards(len(src), shard_size)
        dim = manifest["model"].get("dim") if manifest else None
        done = {s.index: rec for s in shards if (rec := read_shard_record(out, s, dim)) is not None}
        todo = [s for s in shards if s.index not in done]
        if not todo and manifest is not None and manifest.get("complete"):
            return manifest
        run = None
        if todo:
            manifest, run = _embed(src, spec, out, config, manifest, todo, shards, batch_size=batch_size,
                                   workers=workers, device=device, engine=engine, address=address, progress=progress)
            done.update({s.index: read_shard_record(out, s, manifest["model"]["dim"]) for s in todo})
            missing = [i for i, rec in done.items() if rec is None]
            if missing:  # a writer bug, never a user's mistake: keep the traceback
                raise RuntimeError(f"shards {missing[:10]} were not written completely")
        manifest = _finalize(manifest, src, shards, done, run)
        write_json_atomic(out / MANIFEST, manifest)
        return manifest


def _embed(src: ImageSource, spec: str, out: Path, config: dict, manifest: dict | None, todo: list[Shard],
           shards: list[Shard], *, batch_size: int, workers: int | None, device: str | None, engine: str,
           address: str | None, progress: bool) -> tuple[dict, dict]:
    """Load the model, record the job in the manifest, and write the ``todo`` shards."""
    from tqdm.auto import tqdm

    from ..models import create_embedder
    from .writer import ShardWriter

    started = time.perf_counter()
    embedder = create_embedder(spec, "cpu" if engine == "ray" else device)
    dim = embedder.dim
    if manifest is None:
        manifest = {
            **config,
            "complete": False,
            "model": {**config["model"], "dim": dim, "dtype": "float16", "preprocessing": repr(embedder.image_transform)},
            "source": src.describe(),
            "n_shards": len(shards),
            "layout": {
                "embeddings": "img_emb/img_emb_<i>.npy (float16, unit-norm rows)",
                "metadata": "metadata/metadata_<i>.parquet (same rows, same order; image_path first)",
                "shard": f"shard i holds the usable items among source items [i*{config['shard_size']}, (i+1)*{config['shard_size']})",
            },
            "runs": [],
        }
        write_json_atomic(out / MANIFEST, manifest)
    elif manifest["model"].get("dim") not in (None, dim):
        raise InquireError(f"{out} holds {manifest['model']['dim']}-dimensional embeddings but the model gives {dim}.")
    writer = ShardWriter(out, src, todo, config["shard_size"], dim)
    chunks = list(chunk_ranges(todo, batch_size))
    n_items = sum(len(s) for s in todo)
    with tqdm(total=n_items, desc=f"embedding ({len(todo)} shards)", unit="img", disable=not progress, smoothing=0.1) as bar:
        if engine == "local":
            _run_local(src, embedder, chunks, writer, workers, bar.update)
            used_device, used_workers = str(embedder.device), workers
        else:
            from .ray_engine import run_ray

            used_device, used_workers = run_ray(src, spec, embedder.image_transform, dim, chunks, writer.add,
                                                device=device, actors=workers, address=address, on_items=bar.update)
    if writer.pending:
        raise RuntimeError(f"the {engine} engine left shards {writer.pending[:10]} incomplete")
    wall = time.perf_counter() - started
    run = {
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "engine": engine, "device": used_device, "batch_size": batch_size, "workers": used_workers,
        "shards_written": writer.shards_written, "items": n_items, "wall_s": round(wall, 3),
        "images_per_s": round(n_items / wall, 2) if wall > 0 else None,
    }
    return manifest, run


def _run_local(src: ImageSource, embedder, chunks: list[tuple[int, int]], writer, workers: int | None, on_items) -> None:
    from .pipeline import embed_batches

    batches = (list(zip(range(start, stop), src.payloads(start, stop))) for start, stop in chunks)
    for batch in embed_batches(embedder.encode_images, embedder.image_transform, batches, workers=workers,
                               pin_memory=embedder.device.type == "cuda", on_batch=on_items):
        writer.add(batch.keys, batch.embeddings, batch.skipped)


def chunk_ranges(todo: list[Shard], batch_size: int) -> Iterator[tuple[int, int]]:
    """Model batches: ``batch_size`` items from each shard's start (the last one of a shard shorter)."""
    for shard in todo:
        for start in range(shard.start, shard.stop, batch_size):
            yield start, min(start + batch_size, shard.stop)


def _finalize(manifest: dict, src: ImageSource, shards: list[Shard], done: dict[int, dict], run: dict | None) -> dict:
    """The manifest of a complete output: counts and every skipped item, gathered from the shards."""
    from ..tasks.results import library_versions

    skipped = [{**s, "shard": i} for i in sorted(done) for s in done[i]["skipped"]]
    n_rows = sum(rec["rows"] for rec in done.values())
    manifest = {
        **manifest,
        "complete": True,
        "source": src.describe(),
        "n_items": len(src),
        "n_rows": n_rows,
        "n_skipped": len(skipped),
        "skipped_by_reason": dict(Counter(_reason_class(s["reason"]) for s in skipped).most_common()),
        "skipped": skipped,
        "runs": manifest.get("runs", []) + ([run] if run else []),
        "versions": {**library_versions(), **_extra_versions()},
    }
    manifest["embed_wall_s_total"] = round(sum(r["wall_s"] for r in manifest["runs"]), 3)
    return manifest


def _reason_class(reason: str) -> str:
    """``corrupt or truncated image: image file is truncated …`` → ``corrupt or truncated image``."""
    return reason.split(":")[0].split(" (")[0]


def _extra_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("pillow", "ray"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def _read_manifest(out: Path) -> dict | None:
    path = out / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InquireError(f"{path} is unreadable ({exc}); delete the folder to start over.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InquireError(f"{path} was not written by this version of inquire embed ({FORMAT}); use another --out.")
    return manifest


def _check_compatible(manifest: dict, config: dict, out: Path) -> None:
    """Refuse to resume into a folder of another model, source or shard size, saying which differs."""
    theirs = (manifest.get("model", {}).get("identity"), manifest.get("source", {}).get("fingerprint"), manifest.get("shard_size"))
    ours = (config["model"]["identity"], config["source"]["fingerprint"], config["shard_size"])
    what = ""
    if theirs[0] != ours[0]:
        what = f"the model {manifest['model'].get('spec')} (identity {theirs[0]}), not {config['model']['spec']} (identity {ours[0]})"
    elif theirs[1] != ours[1]:
        src = manifest.get("source", {})
        what = (f"another source: {src.get('kind')} at {src.get('root')} with {src.get('n_items')} items "
                f"(fingerprint {theirs[1]}, this one {ours[1]})")
    elif theirs[2] != ours[2]:
        what = f"shard size {theirs[2]}, not {ours[2]} (--shard-size)"
    if what:
        raise InquireError(
            f"{out} holds embeddings of {what}. Mixing them would corrupt the output: "
            "use another --out, or delete the folder to start over."
        )


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    """One writer per output folder.

    A POSIX record lock belongs to this process alone (decoding workers forked later do not
    inherit it), so it dies with the process: a kill -9 never leaves the folder locked.
    """
    with open(out / ".lock", "w") as handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise InquireError(f"Another inquire embed is writing to {out}; wait for it to finish or use another --out.") from None
        yield
