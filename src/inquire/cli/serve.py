"""``inquire search`` (one query, a table) and ``inquire serve`` (the search web app)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import sys
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
    embeddings: EmbeddingsOpt,
    text: Annotated[Optional[str], typer.Argument(help="What to look for, in words (may be left out with --like or --image).")] = None,
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
    like: Annotated[Optional[str], typer.Option("--like", help="More like this image of the collection: its row number or image_path.")] = None,
    image: Annotated[Optional[Path], typer.Option("--image", help="Search with this photo (JPEG, PNG, WebP, ...), embedded by the model's image tower.")] = None,
    feedback: Annotated[Optional[Path], typer.Option("--feedback", help="Refine with the labels in this CSV (the app's labels.csv: relevant + image_id, image_path or row; query_text picks this query's rows).")] = None,
    feedback_method: Annotated[str, typer.Option("--feedback-method", help="auto, rocchio or logistic.")] = "auto",
    text_weight: Annotated[float, typer.Option(min=0, help="Weight of the words when mixed with --like or --image.")] = 1.0,
    like_weight: Annotated[float, typer.Option(min=0, help="Weight of the --like image in the mix.")] = 1.0,
    image_weight: Annotated[float, typer.Option(min=0, help="Weight of the --image photo in the mix.")] = 1.0,
) -> None:
    """Search a collection by text, by one of its images or by a photo, optionally refined by labels, and print the ranked results."""
    from pydantic import ValidationError

    from ..index.feedback import METHODS
    from ..serve import SearchEngine, ServeConfig
    from ..serve.engine import Query
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
    if text is not None:
        text = normalize_text(text)
        if not text or len(text) > MAX_QUERY_CHARS:
            raise InquireError(f"Give a query of 1 to {MAX_QUERY_CHARS} characters.")
    if text is None and like is None and image is None:
        raise InquireError("Give something to search for: words (TEXT), --like ROW|IMAGE_PATH or --image FILE.")
    if feedback_method not in METHODS:
        raise InquireError(f"--feedback-method {feedback_method!r}: use one of {', '.join(METHODS)}.")
    # one query: exporting a faster text runtime would cost more than it saves
    config = ServeConfig(embeddings=embeddings, model=model, index=index, device=device, text_runtime="torch")
    engine = SearchEngine(config)
    relevant, not_relevant = (), ()
    if feedback is not None:
        from ..serve.feedback import read_labels_csv

        labelled = read_labels_csv(feedback, engine.meta, text)
        relevant, not_relevant = labelled.split()
    query = Query(text=text, like=_like_row(engine, like) if like is not None else None,
                  photo=_photo(engine, image) if image is not None else None,
                  text_weight=text_weight, like_weight=like_weight, photo_weight=image_weight,
                  feedback=feedback_method if feedback is not None else None, relevant=relevant, not_relevant=not_relevant)
    hits = engine.search(query, k, filters)
    if feedback is not None:
        fb = hits.feedback
        console.print(f"Refined ({fb['method']}) with {fb['n_relevant']} relevant and {fb['n_not_relevant']} not relevant labels from {feedback}.")
        if labelled.not_in_collection:
            err_console.print(f"[yellow]warning:[/] {labelled.not_in_collection} labels in {feedback} name images that are not in this collection; not used.")
        if labelled.other_queries:
            console.print(f"{labelled.other_queries} labels in {feedback} belong to other queries; not used.")
    items = result_items(engine, None, text or "", hits)
    what = " + ".join(filter(None, [f"“{text}”" if text else None, f"more like {like}" if like is not None else None,
                                    f"photo {image.name}" if image is not None else None]))
    table = Table(title=f"{what} · {len(items)} of {hits.n_allowed:,} images · {hits.timings_ms['total']:.0f} ms")
    for name in ("rank", "score"):
        table.add_column(name, justify="right", no_wrap=True)
    for name in ("image path", "species", "date", "place"):
        table.add_column(name, overflow="fold")
    for it in items:
        table.add_row(str(it.rank), f"{it.score:.4f}", it.image_path, it.species or "–", it.date or "–", it.place or "–")
    console.print(table)
    if csv is not None:
        csv.parent.mkdir(parents=True, exist_ok=True)
        csv.write_text(results_csv(text or "", items))
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
    rerank: Annotated[Optional[list[str]], typer.Option("--rerank", help="A reranker clients may use (repeatable), e.g. clip:open_clip:ViT-L-14/openai or llava-1.5-13b=DIR (see `inquire rerankers`).")] = None,
    text_runtime: Annotated[str, typer.Option("--text-runtime", help="auto: encode query texts with ONNX Runtime on CPU when it gives PyTorch's embeddings (checked at start); torch: always PyTorch.")] = "auto",
) -> None:
    """Start the search web app: search box, thumbnails with attribution, filters, labels, exports, JSON API."""
    # OpenMP threads that sleep between parallel regions instead of spinning: a query's text
    # encoding runs hundreds of short regions while HTTP threads need the same cores; spinning
    # made one encoding 4x slower on two busy cores (docs/benchmarks.md). Read once, when torch
    # and FAISS load their OpenMP runtime, hence before either is imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import uvicorn

    _show_library_notes()

    from ..serve import ServeConfig, create_app
    from ..serve.config import LOOPBACK_HOSTS

    if images is not None and not images.is_dir():
        raise InquireError(f"--images {images} is not a folder; give the root under which ROOT/<image_path> files lie.")
    if text_runtime not in ("auto", "torch"):
        raise InquireError(f"--text-runtime {text_runtime!r}: use auto or torch.")
    loopback = _is_loopback(host)
    config = ServeConfig(
        embeddings=embeddings, model=model, images=images, index=index, device=device, labels=labels,
        rerankers=tuple(rerank or ()), allowed_hosts=LOOPBACK_HOSTS if loopback else None, text_runtime=text_runtime,
    )
    web = create_app(config)
    state = web.state.serve
    if not loopback:
        err_console.print(f"[yellow]warning:[/] listening on {host}: anyone who can reach this address can search and write labels.")
    console.print(f"{state.engine.n_images:,} images · labels in {state.labels.path} · query texts: {state.engine.text_runtime}")
    console.print(f"Open http://{'[' + host + ']' if ':' in host else host}:{port}/  (API docs at /docs)")
    uvicorn.run(web, host=host, port=port, log_level="warning")


def _like_row(engine, like: str) -> int:
    """A row number, or the row of an image_path (with or without ``.jpg``) of the collection."""
    from ..data.image_files import image_path_of

    if like.strip().isdigit():
        try:
            return engine.check_row(int(like))
        except InquireError as exc:
            raise InquireError(f"--like {like}: {exc}") from None
    wanted = [like, image_path_of(like)]
    found = engine.meta.rows_of(wanted, "image_path")
    if not found:
        raise InquireError(f"--like {like!r}: no image of this collection has that image_path (or row number).")
    return next(found[w] for w in wanted if w in found)


def _photo(engine, path: Path):
    """The unit embedding of a photo file, or a clear error."""
    from ..data.decode import DecodeError, decode_image

    if not path.is_file():
        raise InquireError(f"--image {path}: no such file.")
    try:
        return engine.embed_photo(decode_image(path))
    except DecodeError as exc:
        raise InquireError(f"--image {path} cannot be decoded ({exc}); give a JPEG, PNG or WebP photo.") from None


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


def _show_library_notes() -> None:
    """Show what the library logs (a first start's one-time work: the metadata copy, the ONNX
    export; a damaged cache ignored), so a long first start says why it is long."""
    logger = logging.getLogger("inquire")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
