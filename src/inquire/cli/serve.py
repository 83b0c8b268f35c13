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
DatasetOpt = Annotated[Optional[str], typer.Option("--dataset", help="The collection's name in Darwin Core exports (datasetName; occurrence ids derive from it). Default: the embedding folder's name.")]
LabelsOpt = Annotated[Optional[Path], typer.Option("--labels", help="SQLite file for relevance labels (default: one per collection in the user data folder).")]
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
    months: Annotated[Optional[str], typer.Option(help="Captured in these months of any year: 6,7,8 or 6-8 (11-2 crosses the new year).")] = None,
    hour_from: Annotated[Optional[int], typer.Option(min=0, max=23, help="Captured at or after this hour (0-23) of the clock time written in the date.")] = None,
    hour_to: Annotated[Optional[int], typer.Option(min=0, max=23, help="Captured at or before this hour, inclusive; below --hour-from crosses midnight.")] = None,
    site: Annotated[Optional[str], typer.Option(help="Only this site (its location_id or location_name).")] = None,
    where: Annotated[Optional[list[str]], typer.Option("--where", help="COLUMN=VALUE on any metadata column (also !=, and <, <=, >, >= for numbers); repeatable, all must hold.")] = None,
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
    from ..index.feedback import METHODS
    from ..serve import SearchEngine, ServeConfig
    from ..serve.engine import Query
    from ..serve.export import results_csv
    from ..serve.filters import parse_filters
    from ..serve.present import result_items
    from ..serve.schemas import MAX_QUERY_CHARS

    filters = parse_filters(dict(
        iconic_group=iconic_group, taxon=taxon, date_from=date_from.date() if date_from else None,
        date_to=date_to.date() if date_to else None, **_bbox(bbox), months=months, hour_from=hour_from,
        hour_to=hour_to, site=site, where=where,
    ), name_of=_option)
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
        if labelled.tied:
            console.print(f"{labelled.tied} images in {feedback} have tied judgements (no consensus); not used.")
    items = result_items(engine, None, text or "", hits)
    what = " + ".join(filter(None, [f"“{text}”" if text else None, f"more like {like}" if like is not None else None,
                                    f"photo {image.name}" if image is not None else None]))
    table = Table(title=f"{what} · {len(items)} of {hits.n_allowed:,} images · {hits.timings_ms['total']:.0f} ms")
    for name in ("rank", "score"):
        table.add_column(name, justify="right", no_wrap=True)
    for name in ("image path", "species", "date", "place", "site"):
        table.add_column(name, overflow="fold")
    for it in items:
        when = " ".join(filter(None, [it.date, it.time])) or "–"
        table.add_row(str(it.rank), f"{it.score:.4f}", it.image_path, it.species or "–", when, it.place or "–", it.site or "–")
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
    host: Annotated[str, typer.Option(help="Address to listen on. Anything but loopback is reachable by others: it needs accounts (`inquire users add`).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    device: DeviceOpt = None,
    labels: LabelsOpt = None,
    rerank: Annotated[Optional[list[str]], typer.Option("--rerank", help="A reranker clients may use (repeatable), e.g. clip:open_clip:ViT-L-14/openai or llava-1.5-13b=DIR (see `inquire rerankers`).")] = None,
    text_runtime: Annotated[str, typer.Option("--text-runtime", help="auto: encode query texts with ONNX Runtime on CPU when it gives PyTorch's embeddings (checked at start); torch: always PyTorch.")] = "auto",
    allow_host: Annotated[Optional[list[str]], typer.Option("--allow-host", help="A public host name a reverse proxy serves this loopback server under (repeatable); like a non-loopback --host, it needs accounts.")] = None,
    ssl_certfile: Annotated[Optional[Path], typer.Option("--ssl-certfile", help="Serve HTTPS with this certificate (PEM; with --ssl-keyfile).")] = None,
    ssl_keyfile: Annotated[Optional[Path], typer.Option("--ssl-keyfile", help="The certificate's private key (PEM).")] = None,
    forwarded_allow_ips: Annotated[Optional[str], typer.Option("--forwarded-allow-ips", help="Proxies whose X-Forwarded-Proto/-For are trusted, comma-separated (default 127.0.0.1: a proxy on this machine).")] = None,
    label_rate: Annotated[int, typer.Option("--label-rate", min=0, help="Label writes per minute per account, in bursts of a sixth of it (0: no limit; single-user mode has none).")] = 240,
    tiles: Annotated[Optional[str], typer.Option("--tiles", help="A map tile server for online use, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png (default: the bundled world outline, offline).")] = None,
    tiles_attribution: Annotated[Optional[str], typer.Option("--tiles-attribution", help="The credit line the tile server asks for, shown on the map (e.g. © OpenStreetMap contributors).")] = None,
    dataset: DatasetOpt = None,
) -> None:
    """Start the search web app: search box, thumbnails with attribution, filters, map and timeline, labels, exports, JSON API.

    On loopback without accounts it is yours alone (single-user mode); reachable by others it
    needs accounts (`inquire users add NAME --role ROLE`), and refuses to start without one.
    """
    # OpenMP threads that sleep between parallel regions instead of spinning: a query's text
    # encoding runs hundreds of short regions while HTTP threads need the same cores; spinning
    # made one encoding 4x slower on two busy cores (docs/benchmarks.md). Read once, when torch
    # and FAISS load their OpenMP runtime, hence before either is imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import uvicorn

    _show_library_notes()

    from ..serve import ServeConfig, create_app
    from ..serve.accounts import AccountStore
    from ..serve.config import LOOPBACK_HOSTS

    if images is not None and not images.is_dir():
        raise InquireError(f"--images {images} is not a folder; give the root under which ROOT/<image_path> files lie.")
    if text_runtime not in ("auto", "torch"):
        raise InquireError(f"--text-runtime {text_runtime!r}: use auto or torch.")
    _check_tls(ssl_certfile, ssl_keyfile)
    loopback = _is_loopback(host)
    config = ServeConfig(
        embeddings=embeddings, model=model, images=images, index=index, device=device, labels=labels,
        rerankers=tuple(rerank or ()), allowed_hosts=LOOPBACK_HOSTS + tuple(allow_host or ()) if loopback else None,
        text_runtime=text_runtime, public=not loopback or bool(allow_host), label_rate=label_rate,
        tiles=tiles, tiles_attribution=tiles_attribution, dataset=dataset,
    )
    store = AccountStore(config.labels_path())  # before the model loads: fail fast
    made = store.accounts()
    accounts = [a for a in made if a.active]
    if not accounts and (config.public or made):
        make = f"`inquire users add NAME --role admin {'--labels ' + str(labels) if labels else '--embeddings ' + str(embeddings)}`"
        if made:
            raise InquireError(f"Every account of the labels database {store.path} is revoked, so nobody could sign in: "
                               f"{make} makes a new one (it prints the token), then start the server again.")
        raise InquireError(
            f"{'--host ' + host if not loopback else '--allow-host'} makes this server reachable by others, and its labels database "
            f"{store.path} has no account yet. Make one first: {make} (it prints the token to sign in with), then start "
            "the server again. Or serve on 127.0.0.1 for single-user mode."
        )
    web = create_app(config)
    state = web.state.serve
    scheme = "https" if ssl_certfile else "http"
    if accounts:
        roles = ", ".join(f"{sum(a.role == r for a in accounts)} {r}" for r in ("admin", "labeler", "viewer"))
        console.print(f"Sign-in required: {len(accounts)} active accounts ({roles}); `inquire users list` shows them.")
    else:
        console.print("Single-user mode (loopback, no accounts): your labels are kept as 'local'.")
    if not loopback and not ssl_certfile:
        err_console.print(f"[yellow]warning:[/] listening on {host} without HTTPS: tokens and sign-in cookies cross the network "
                          "in clear. Use --ssl-certfile/--ssl-keyfile or a reverse proxy with HTTPS (docs/team.md).")
    console.print(f"{state.engine.n_images:,} images · labels in {state.labels.path} · query texts: {state.engine.text_runtime}")
    console.print(f"Open {scheme}://{'[' + host + ']' if ':' in host else host}:{port}/  (API docs at /docs)")
    uvicorn.run(web, host=host, port=port, log_level="warning", ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile,
                forwarded_allow_ips=forwarded_allow_ips)


@app.command()
def occurrences(
    query: Annotated[str, typer.Argument(help="The query whose labelled-relevant images to export, as labelled in `inquire serve`.")],
    embeddings: EmbeddingsOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file: .csv for Darwin Core occurrences, .geojson (or .json) for GeoJSON.")],
    labels: LabelsOpt = None,
    dataset: DatasetOpt = None,
) -> None:
    """Write a query's labelled-relevant images as Darwin Core occurrences (CSV) or GeoJSON, as the app's exports do."""
    from ..data.embedding_folder import EmbeddingFolder
    from ..serve import ServeConfig
    from ..serve.labels import LabelStore
    from ..serve.metadata import Metadata, load_table
    from ..serve.occurrences import dwc_csv, geojson_text
    from ..serve.occurrences import occurrences as find_occurrences
    from ..serve.occurrences import relevant_judges

    kind = {".csv": "csv", ".geojson": "geojson", ".json": "geojson"}.get(out.suffix.lower())
    if kind is None:
        raise InquireError(f"--out {out}: name a .csv file (Darwin Core occurrences) or a .geojson file (GeoJSON).")
    config = ServeConfig(embeddings=embeddings, model=None, labels=labels, dataset=dataset)
    db = config.labels_path()
    if not db.is_file():
        raise InquireError(f"No labels database at {db}: label images with `inquire serve` first, or give its file with --labels.")
    store = LabelStore(db)
    text = normalize_text(query)
    relevant = relevant_judges(store, text)
    if not relevant:
        known = [q.query_text for q in store.queries() if q.n_relevant]
        hint = f" Queries with relevant images: {'; '.join(known[:10])}." if known else " No query has a relevant image yet."
        raise InquireError(f"No image is labelled relevant to {text!r} in {db}.{hint}")
    meta = Metadata(load_table(EmbeddingFolder(embeddings)))
    occ = find_occurrences(meta, relevant, text, config.dataset_name())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dwc_csv(occ) if kind == "csv" else geojson_text(occ), encoding="utf-8")
    unplaced = sum(rec["decimalLatitude"] is None for rec in occ.records)
    console.print(f"{len(occ.records)} occurrences of “{text}” ({unplaced} without coordinates) written to {out}")
    if occ.not_in_collection:
        err_console.print(f"[yellow]warning:[/] {len(occ.not_in_collection)} images labelled relevant are not in this collection "
                          f"(not written): {', '.join(occ.not_in_collection[:10])}")


def _option(field: str) -> str:
    """The ``inquire search`` option that sets a filter field."""
    return "--bbox" if field in ("lat_min", "lat_max", "lon_min", "lon_max") else "--" + field.replace("_", "-")


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


def _check_tls(certfile: Path | None, keyfile: Path | None) -> None:
    if (certfile is None) != (keyfile is None):
        raise InquireError("HTTPS needs both --ssl-certfile CERT.pem and --ssl-keyfile KEY.pem.")
    for flag, path in (("--ssl-certfile", certfile), ("--ssl-keyfile", keyfile)):
        if path is not None and not path.is_file():
            raise InquireError(f"{flag} {path}: no such file.")


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
