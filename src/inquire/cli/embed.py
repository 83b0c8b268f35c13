"""``inquire embed``: an image collection → embeddings in the published layout, resumably."""

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
            help="Image folder, iNat folder with train.json, tar shard(s) (dir, file or "
            "name-{0000..0099}.tar), parquet file/folder or datasets save_to_disk folder."
        ),
    ],
    model: ModelOpt,
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Output folder (img_emb/, metadata/, manifest.json); rerun to resume."
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
        str, typer.Option("--format", help="Source format: auto, folder, inat, webdataset, table.")
    ] = "auto",
    image_column: Annotated[
        Optional[str], typer.Option(help="Table sources: the column holding image bytes.")
    ] = None,
    precision: PrecisionOpt = None,
) -> None:
    """Embed every image of a collection with a model; skipped files are listed in manifest.json."""
    from ..embed.collection import embed_collection
    from ..errors import InquireError

    if address is not None and engine != "ray":
        raise InquireError("--address joins a Ray cluster: use it with --engine ray.")
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
        precision=precision,
    )
    runs = manifest.get("runs") or []
    last = runs[-1] if runs else None
    console.print(
        f"{manifest['n_rows']:,} embeddings ({manifest['model']['dim']}-d float16, made at "
        f"{manifest['model'].get('precision', 'an unrecorded')} precision) of {manifest['n_items']:,} items "
        f"in {manifest['n_shards']} shard(s) at {out}/"
    )
    if last is not None and last.get("items"):
        console.print(
            f"this run: {last['items']:,} items in {last['wall_s']:.1f} s ({last['images_per_s']:.1f} images/s)"
        )
    else:
        console.print("already complete: nothing to embed")
    if manifest["n_skipped"]:
        reasons = ", ".join(f"{n} {r}" for r, n in manifest["skipped_by_reason"].items())
        err_console.print(
            f"[yellow]warning:[/] {manifest['n_skipped']} item(s) skipped ({reasons}); "
            f"each is listed with its reason under 'skipped' in {out / 'manifest.json'}.",
            highlight=False,
        )
