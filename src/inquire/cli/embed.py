"""``inquire embed``: an image collection → embeddings in the published layout, resumably and
incrementally, with what the collection knows of each image's place and time."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import app, console, err_console
from .options import ModelOpt, PrecisionOpt


@app.command()
def embed(
    source: Annotated[
        str,
        typer.Argument(
            help="Image folder, Camtrap DP package folder, iNat folder with train.json, COCO Camera Traps "
            ".json, tar shard(s) (dir, file or name-{0000..0099}.tar), parquet file/folder or datasets "
            "save_to_disk folder."
        ),
    ],
    model: ModelOpt,
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Output folder (img_emb/, metadata/, items/, manifest.json); rerun to resume, "
            "or to bring it up to date with a grown or changed collection."
        ),
    ],
    batch_size: Annotated[int, typer.Option(min=1, help="Images per model batch.")] = 64,
    workers: Annotated[
        Optional[int],
        typer.Option(
            min=0,
            help="Local: decoding processes (0: in the main process). "
            "Ray: model actors (default: one per GPU, else one).",
        ),
    ] = None,
    device: Annotated[
        Optional[str], typer.Option(help="cpu, cuda, cuda:N or mps (default: best available).")
    ] = None,
    engine: Annotated[
        str,
        typer.Option(help="local (this machine) or ray (Ray Data, local instance or --address)."),
    ] = "local",
    address: Annotated[
        Optional[str],
        typer.Option(help="Ray cluster to join (HOST:6379, or auto); with --engine ray."),
    ] = None,
    shard_size: Annotated[
        Optional[int],
        typer.Option(
            min=1,
            help="Source items per output shard, the unit of resumption "
            "(default: the existing output's, else 10000).",
        ),
    ] = None,
    format: Annotated[
        str,
        typer.Option(
            "--format",
            help="Source format: auto, folder, inat, coco-ct, camtrap-dp, webdataset, table.",
        ),
    ] = "auto",
    image_column: Annotated[
        Optional[str], typer.Option(help="Table sources: the column holding image bytes.")
    ] = None,
    metadata: Annotated[
        Optional[Path],
        typer.Option(
            "--metadata",
            help="CSV or Parquet table of what is known of each photo, one row per photo (Darwin Core "
            "names recognised: eventDate, decimalLatitude, scientificName, ...); it wins over the "
            "source and the EXIF.",
        ),
    ] = None,
    metadata_key: Annotated[
        Optional[str],
        typer.Option(
            "--metadata-key",
            help="The --metadata column naming each photo (default: image_path, file_path, filePath, "
            "file_name, fileName, filename, file or path).",
        ),
    ] = None,
    precision: PrecisionOpt = None,
) -> None:
    """Embed every image of a collection with a model, recording each image's place and time.

    Run again on the same --out to embed only new and changed images and drop removed ones;
    skipped files and unreadable metadata values are listed in manifest.json."""
    from ..embed.collection import embed_collection
    from ..embed.manifest import read_manifest
    from ..errors import InquireError

    if address is not None and engine != "ray":
        raise InquireError("--address joins a Ray cluster: use it with --engine ray.")
    runs_before = len((read_manifest(out) or {}).get("runs", []))
    manifest = embed_collection(
        source,
        model,
        out,
        batch_size=batch_size,
        workers=workers,
        device=device,
        engine=engine,
        address=address,
        shard_size=shard_size,
        source_format=format,
        image_column=image_column,
        metadata=metadata,
        metadata_key=metadata_key,
        precision=precision,
    )
    runs = manifest.get("runs") or []
    last = runs[-1] if runs else None
    console.print(
        f"{manifest['n_rows']:,} embeddings ({manifest['model']['dim']}-d float16, made at "
        f"{manifest['model']['precision']} precision) of {manifest['n_items']:,} items "
        f"in {manifest['n_shards']} shard(s) at {out}/"
    )
    if len(runs) == runs_before:
        console.print("already up to date: nothing new, changed or removed")
    else:
        console.print(_update_line(last))
    _print_metadata(manifest["metadata"])
    if manifest["n_skipped"]:
        reasons = ", ".join(f"{n} {r}" for r, n in manifest["skipped_by_reason"].items())
        err_console.print(
            f"[yellow]warning:[/] {manifest['n_skipped']} item(s) skipped ({reasons}); "
            f"each is listed with its reason under 'skipped' in {out / 'manifest.json'}.",
            highlight=False,
        )


def _update_line(run: dict) -> str:
    u = run["update"]
    parts = [f"{u['new']:,} new", f"{u['changed']:,} changed", f"{u['removed']:,} removed",
             f"{u['unchanged']:,} unchanged"]
    if u.get("touched"):
        parts.append(f"{u['touched']:,} touched (same bytes, kept)")
    line = "this run: " + ", ".join(parts)
    if run.get("items"):
        line += f"; embedded {run['items']:,} ({run['images_per_s']:.1f} images/s)"
    if run.get("shards_rewritten") or run.get("shards_deleted"):
        line += f"; {run['shards_rewritten']} shard(s) rewritten, {run['shards_deleted']} deleted"
    return line + f"; {run['wall_s']:.1f} s in all"


def _print_metadata(meta: dict) -> None:
    """What the collection knows, per place-and-time column, and what went unmatched or unreadable."""
    from ..data.columns import COLUMNS

    sidecar = meta.get("sidecar")
    if sidecar:
        name = Path(sidecar["file"]).name
        console.print(
            f"metadata: {sidecar['matched']:,} of {sidecar['rows']:,} rows of {name} matched "
            f"({sidecar['matched_by_path']:,} by path, {sidecar['matched_by_file_name']:,} by file name)"
        )
        if sidecar["n_unmatched_rows"] or sidecar["n_images_without_row"]:
            where = sidecar.get("complete_lists") or "manifest.json (metadata.sidecar)"
            err_console.print(
                f"[yellow]warning:[/] {sidecar['n_unmatched_rows']:,} row(s) matched no image and "
                f"{sidecar['n_images_without_row']:,} images have no row; both are listed in {where}.",
                highlight=False,
            )
    columns = meta.get("columns", {})
    known = [f"{c} {columns[c]['values']:,}" for c in COLUMNS if columns.get(c, {}).get("values")]
    if known:
        console.print("place and time known: " + ", ".join(known) + " (rows with a value)")
    bad = {c: sum(s.get("unreadable", {}).values()) for c, s in columns.items() if s.get("unreadable")}
    if bad:
        err_console.print(
            "[yellow]warning:[/] unreadable values left empty: "
            + ", ".join(f"{n:,} {c}" for c, n in bad.items())
            + "; examples under metadata in manifest.json.",
            highlight=False,
        )
