"""``inquire search`` (one query, a table) and ``inquire serve`` (the search web app)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..data.queries import normalize_text
from ..errors import InquireError
from .app import app, console, err_console

EmbeddingsOpt = Annotated[Path, typer.Option("--embeddings", help="Embedding folder (img_emb/, metadata/) of the collection.")]
IndexOpt = Annotated[Optional[Path], typer.Option("--index", help="FAISS index from `inquire index build` (DIR/index/KIND.faiss, or just KIND; default: exact search).")]
ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help="Model that embedded the collection (default: the one its manifest.json names).")]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", help="cpu, cuda, cuda:N or mps for the text model and search (default: best available).")]


@app.command()
def search(
    text: Annotated[str, typer.Argument(help="What to look for, in words.")],
    embeddings: EmbeddingsOpt,
    model: ModelOpt = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=200, help="Number of results.")] = 20,
    index: IndexOpt = None,
    device: DeviceOpt = None,
    iconic_group: Annotated[Optional[str], typer.Option(help="Only this iconic group (e.g. Birds).")] = None,
    taxon: Annotated[Optional[str], typer.Option(help="Only this taxon, at any level (e.g. Aves, Coenobita).")] = None,
    date_from: Annotated[Optional[dt.datetime], typer.Option(formats=["%Y-%m-%d"], help="Observed on or after (YYYY-MM-DD).")] = None,
    date_to: Annotated[Optional[dt.datetime], typer.Option(formats=["%Y-%m-%d"], help="Observed on or before (YYYY-MM-DD).")] = None,
    bbox: Annotated[Optional[str], typer.Option(help="Latitude/longitude box LAT_MIN,LAT_MAX,LON_MIN,LON_MAX.")] = None,
    csv: Annotated[Optional[Path], typer.Option("--csv", help="Also write the results, with every metadata column, to this CSV file.")] = None,
) -> None:
    """Search a collection by text and print the ranked results (rank, score, image, species, date, place)."""
    from pydantic import ValidationError

    from ..serve import SearchEngine, ServeConfig
    from ..serve.export import results_csv
    from ..serve.filters import Filters
    from ..serve.present import result_items
    from ..serve.schemas import MAX_QUERY_CHARS

    try:
        filters = Filters(
            iconic_group=iconic_group, taxon=taxon, date_from=date_from.date() if date_from else None,
            date_to=date_to.date() if date_to else None, **_bbox(bbox),
        )
    except ValidationError as exc:
        raise InquireError("Invalid filter: " + "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None
    text = normalize_text(text)
    if not text or len(text) > MAX_QUERY_CHARS:
        raise InquireError(f"Give a query of 1 to {MAX_QUERY_CHARS} characters.")
    config = ServeConfig(embeddings=embeddings, model=model, index=index, device=device)
    engine = SearchEngine(config)
    hits = engine.search(text, k, filters)
    items = result_items(engine, None, text, hits)
    table = Table(title=f"“{text}” · {len(items)} of {hits.n_allowed:,} images · {hits.timings_ms['total']:.0f} ms")
    for name in ("rank", "score"):
        table.add_column(name, justify="right", no_wrap=True)
    for name in ("image path", "species", "date", "place"):
        table.add_column(name, overflow="fold")
    for it in items:
        table.add_row(str(it.rank), f"{it.score:.4f}", it.image_path, it.species or "–", it.date or "–", it.place or "–")
    console.print(table)
    if csv is not None:
        csv.parent.mkdir(parents=True, exist_ok=True)
        csv.write_text(results_csv(text, items))
        console.print(f"Results written to {csv}")


@app.command()
def serve(
    embeddings: EmbeddingsOpt,
    model: ModelOpt = None,
    images: Annotated[Optional[Path], typer.Option("--images", help="Root folder of the images (ROOT/<image_path>.jpg) for thumbnails.")] = None,
    index: IndexOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on. Anything but loopback exposes the labels to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    device: DeviceOpt = None,
    labels: Annotated[Optional[Path], typer.Option("--labels", help="SQLite file for relevance labels (default: one per collection in the user data folder).")] = None,
    rerank: Annotated[Optional[list[str]], typer.Option("--rerank", help="A reranker clients may use (repeatable), e.g. clip:open_clip:ViT-L-14/openai.")] = None,
) -> None:
    """Start the search web app: search box, thumbnails with attribution, filters, labels, exports, JSON API."""
    import uvicorn

    from ..serve import ServeConfig, create_app
    from ..serve.config import LOOPBACK_HOSTS

    if images is not None and not images.is_dir():
        raise InquireError(f"--images {images} is not a folder; give the root under which ROOT/<image_path> files lie.")
    loopback = _is_loopback(host)
    config = ServeConfig(
        embeddings=embeddings, model=model, images=images, index=index, device=device, labels=labels,
        rerankers=tuple(rerank or ()), allowed_hosts=LOOPBACK_HOSTS if loopback else None,
    )
    web = create_app(config)
    state = web.state.serve
    if not loopback:
        err_console.print(f"[yellow]warning:[/] listening on {host}: anyone who can reach this address can search and write labels.")
    console.print(f"{state.engine.n_images:,} images · labels in {state.labels.path}")
    console.print(f"Open http://{'[' + host + ']' if ':' in host else host}:{port}/  (API docs at /docs)")
    uvicorn.run(web, host=host, port=port, log_level="warning")


def _bbox(text: str | None) -> dict:
    if text is None:
        return {}
    try:
        lat_min, lat_max, lon_min, lon_max = (float(v) for v in text.split(","))
    except ValueError:
        raise InquireError(f"--bbox {text!r}: give four numbers LAT_MIN,LAT_MAX,LON_MIN,LON_MAX (e.g. 30,50,-125,-100).") from None
    return {"lat_min": lat_min, "lat_max": lat_max, "lon_min": lon_min, "lon_max": lon_max}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
