"""The public Python API: inquire as a library, in one place.

Every function here runs what the matching command runs (``inquire rerank``, ``fullrank``,
``evaluate``, ``embed``, ``search``) and writes the same files, so numbers from Python and from the
shell are one and the same. Wherever a model is asked for, a spec string or an object works:
anything with ``encode_images(images)`` and ``encode_texts(texts)`` (an embedding model), or with
``score(query, images)`` (a reranker). An object's ``name`` (attribute, or ``name=``) keys the
caches and names the run; an object without one is never cached, and the run says so.

This module sits on top of the package (it reaches the tasks and the search engine) and imports
them only when called, so ``import inquire`` stays cheap; ``inquire.<function>`` resolves here
lazily (``inquire/__init__.py``).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InquireError
from .models import create_embedder
from .rerank import create_scorer, is_reranker_spec

if TYPE_CHECKING:
    import pandas as pd
    from PIL import Image

    from .data.embedding_folder import EmbeddingFolder
    from .tasks.results import RunResult

__all__ = ["create_embedder", "create_scorer", "embed", "evaluate_fullrank", "evaluate_rerank", "evaluate_run", "search"]


def evaluate_rerank(
    model: str | Any,
    split: str = "test",
    *,
    data_dir: str | Path | None = None,
    queries_path: str | Path | None = None,
    k: int | None = None,
    out_dir: str | Path | None = None,
    name: str | None = None,
    **options: Any,
) -> RunResult:
    """Evaluate ``model`` on INQUIRE-Rerank, as ``inquire rerank`` does; returns the run's result.

    ``model``: a spec (``open_clip:ViT-B-32/openai``, ``vlm:…``, a short name), an embedding
    model object or a reranker object; ``name``: a model object's name (keys its caches, names the
    run; default its ``name`` attribute). ``data_dir``: a local copy of the Rerank set (default: the
    hub's, cached). ``k``: the metrics' cut-off (None: the task's official default). ``out_dir``:
    where run.parquet, per_query.csv and summary.json go (default ``runs/rerank-SPLIT-NAME``).
    ``options``: any other setting of :func:`inquire.tasks.rerank.run_rerank` (``device``,
    ``batch_size``, ``fuse``, ``score_cache``, ``allow_missing`` …) or of the reranker
    (``template``, ``api_base`` …). The result has ``.summary`` (summary.json's dict),
    ``.per_query`` (a DataFrame), ``.run`` and ``.out_dir``. Example::

        result = inquire.evaluate_rerank(MyModel(), name="my-model-v1")
        print(result.summary["map"], result.per_query[["query", "ap"]].head())
    """
    from .tasks.rerank import run_rerank

    model = _named(model, name, options.get("score_cache"))
    settings = _task_settings(run_rerank, options)
    return _said(run_rerank(model, split, data_dir=data_dir, queries_path=queries_path, k=k, out_dir=out_dir, **settings))


def evaluate_fullrank(
    model: str | Any,
    split: str = "test",
    *,
    embeddings: str | Path | None = None,
    annotations_path: str | Path | None = None,
    k: int = 50,
    rerank: str | Any | None = None,
    from_k: int | None = None,
    out_dir: str | Path | None = None,
    name: str | None = None,
    **options: Any,
) -> RunResult:
    """Evaluate ``model`` on INQUIRE-Fullrank over a whole collection, as ``inquire fullrank`` does.

    ``embeddings``: the collection's embedding folder (the published one, or ``inquire.embed``'s),
    made by ``model``; or pass ``images=SOURCE`` to embed it first. ``name``: the name of a model
    object ``model``. ``rerank``: a reranker spec or
    object that rescores each query's top ``from_k`` (None: the task's default, 100). ``options``:
    any other setting of :func:`inquire.tasks.fullrank.run_fullrank` (``images``, ``index``,
    ``queries_path``, ``device``, ``trec`` …) or of the reranker. Example::

        result = inquire.evaluate_fullrank(MyModel(), embeddings="my-embeddings", name="my-model-v1")
        result.summary["map"]
    """
    from .tasks.fullrank import run_fullrank

    model = _named(model, name, options.get("score_cache"))
    settings = _task_settings(run_fullrank, options)
    if from_k is not None:
        settings["from_k"] = from_k
    return _said(run_fullrank(
        model, split, embeddings=embeddings, annotations_path=annotations_path, k=k, rerank=rerank,
        out_dir=out_dir, **settings,
    ))


def evaluate_run(
    run: str | Path | pd.DataFrame,
    task: str = "rerank",
    split: str = "test",
    *,
    data_dir: str | Path | None = None,
    queries_path: str | Path | None = None,
    annotations_path: str | Path | None = None,
    k: int | None = None,
    out_dir: str | Path | None = None,
    name: str | None = None,
) -> RunResult:
    """Score the scores of any system, as ``inquire evaluate`` does: a CSV or parquet file, or a DataFrame.

    Rerank: columns ``query``, ``inat24_image_id``, ``score``, every candidate of every query.
    Fullrank: ``query_id`` or ``query``, ``image_path`` or ``inat24_image_id``, ``score``.
    ``k``: the cut-off (None: the task's official default). ``name`` names the run (default: the
    file's name, or "dataframe"). ``.run`` of the result is None: the run is the caller's. Example::

        scores = pd.DataFrame({"query": ..., "inat24_image_id": ..., "score": ...})
        inquire.evaluate_run(scores, "rerank", "test").summary["map"]
    """
    from .tasks.evaluate import evaluate_run as run_evaluate
    from .tasks.results import RunResult

    out, summary, per_query = run_evaluate(
        run, task=task, split=split, data_dir=data_dir, queries_path=queries_path, k=k, out_dir=out_dir,
        annotations_path=annotations_path, name=name,
    )
    return RunResult(out, summary, per_query, None)


def embed(
    source: str | Path,
    model: str | Any,
    out_dir: str | Path,
    *,
    name: str | None = None,
    **options: Any,
) -> EmbeddingFolder:
    """Embed every image of ``source`` into ``out_dir`` in the published layout, as ``inquire embed`` does.

    ``source``: a folder of images, an iNat24 ``train.json``, webdataset tars or a parquet / HF
    dataset. A model object needs a name: the folder's manifest records what made it, so that a
    resumed run, ``evaluate_fullrank`` and ``search`` use that model. ``options``: any setting of
    :func:`inquire.embed.collection.embed_collection` (``batch_size``, ``workers``, ``device``,
    ``shard_size`` …). Resumes an unfinished folder; reuses a finished one. Returns the folder,
    opened (``.embeddings(rows)``, ``.metadata``, ``.manifest``). Example::

        folder = inquire.embed("photos/", MyModel(), "my-embeddings", name="my-model-v1")
    """
    from .data.embedding_folder import EmbeddingFolder
    from .embed.collection import embed_collection

    embed_collection(source, _named(model, name, None), out_dir, **options)
    return EmbeddingFolder(out_dir)


def search(
    query: str | Path | Image.Image | Sequence[str | Path | Image.Image],
    embeddings: str | Path,
    model: str | Any | None = None,
    k: int = 20,
    *,
    filters: dict | None = None,
    index: str | Path | None = None,
    device: str | None = None,
    name: str | None = None,
) -> pd.DataFrame:
    """The top ``k`` images of a collection for words, a photo, or several of them, as ``inquire search`` does.

    ``query``: a text (str), a photo (a file ``Path`` or a PIL image), or a list of them (the model
    is loaded once). ``model``: the model that made ``embeddings`` (None: the one its manifest
    names; a model object, with ``name`` if it has none, must be the one that made it). ``filters``: metadata filters, e.g. ``{"iconic_group": "Birds", "date_from":
    "2020-01-01", "lat_min": 30, "lat_max": 50}`` (the fields of :class:`inquire.serve.filters.Filters`).
    ``index``: a FAISS index of the folder (default: exact search). Returns one row per result:
    ``query``, ``rank``, ``score``, ``row``, ``image_id``, ``image_path``, display fields and every
    metadata column. Example::

        hits = inquire.search("a hermit crab using plastic trash as its shell", "my-embeddings", MyModel())
    """
    import pandas as pd
    from PIL import Image

    from .data.decode import DecodeError, decode_image
    from .data.queries import normalize_text
    from .serve import SearchEngine, ServeConfig
    from .serve.engine import Query
    from .serve.export import results_table
    from .serve.filters import parse_filters
    from .serve.present import result_items

    wanted = parse_filters(filters or {})
    queries = [query] if isinstance(query, (str, Path, Image.Image)) else list(query)
    model = _named(model, name, None)  # name= without a model object is refused, never dropped
    engine = SearchEngine(ServeConfig(embeddings=Path(embeddings), model=model, index=Path(index) if index else None,
                                      device=device, text_runtime="torch"))
    tables = []
    try:
        for q in queries:
            if isinstance(q, str):
                text = normalize_text(q)
                if not text:
                    raise InquireError("An empty text query: give words to search for.")
                label, hits = text, engine.search(Query(text=text), k, wanted)
            else:
                try:
                    image = decode_image(q) if isinstance(q, Path) else q.convert("RGB")
                except DecodeError as exc:
                    raise InquireError(f"The photo {q} cannot be decoded ({exc}); give a JPEG, PNG or WebP photo.") from None
                label = str(q) if isinstance(q, Path) else "photo"
                hits = engine.search(Query(photo=engine.embed_photo(image)), k, wanted)
            tables.append(results_table(label, result_items(engine, None, label, hits)))
    finally:
        engine.close()
    return pd.concat(tables, ignore_index=True)


def _named(model: str | Any, name: str | None, score_cache: str | Path | None) -> str | Any:
    """``model`` with ``name`` applied: a model object wrapped under that name; a spec refuses one."""
    if name is None:
        return model
    if isinstance(model, str):
        raise InquireError(f"name= names a model object; the spec {model!r} names its run itself (choose the folder with out_dir=).")
    if is_reranker_spec(model):
        return create_scorer(model, name=name, cache=score_cache)
    return create_embedder(model, name=name)


def _task_settings(task: Any, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` split into the task's own keyword arguments and its reranker's ``scorer_options``
    (an option neither takes is reported by :func:`inquire.rerank.create_scorer`)."""
    params = inspect.signature(task).parameters
    settings = {k: v for k, v in options.items() if k in params}
    rest = {k: v for k, v in options.items() if k not in params}
    if rest:
        settings["scorer_options"] = {**(settings.get("scorer_options") or {}), **rest}
    return settings


def _said(result: RunResult) -> RunResult:
    """Print what summary.json records when nothing was cached (a model object without a name)."""
    note = result.summary.get("not_cached")
    if note:
        print(f"inquire: {note}", file=sys.stderr)
    return result
