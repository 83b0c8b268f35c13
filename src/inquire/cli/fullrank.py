"""Commands of the Fullrank task: ``inquire fullrank`` and ``inquire index build`` (build or bring up to date)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import app, console, err_console
from .options import (
    AllowMissingOpt,
    ApiBaseOpt,
    ApiKeyEnvOpt,
    ConcurrencyOpt,
    DtypeOpt,
    FuseMethodOpt,
    FuseOpt,
    FuseWeightOpt,
    ModelOpt,
    OutOpt,
    PrecisionOpt,
    QueriesOpt,
    ScoreCacheOpt,
    SplitOpt,
    TemplateOpt,
)

index_app = typer.Typer(help="FAISS indexes beside an embedding folder, for approximate Fullrank and search.", no_args_is_help=True)
app.add_typer(index_app, name="index")

EmbeddingsOpt = Annotated[Path | None, typer.Option("--embeddings", help="Embedding folder (DIR/img_emb/*.npy + DIR/metadata/*.parquet).")]


def parse_params(items: list[str] | None, option: str) -> dict[str, int]:
    """``["nprobe=32", ...]`` → ``{"nprobe": 32}``; anything else is a user error naming the option."""
    from ..errors import InquireError

    out: dict[str, int] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = int(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise InquireError(f"{option} {item!r}: write NAME=INTEGER, e.g. {option} nprobe=32.")
    return out


@app.command()
def fullrank(
    model: ModelOpt,
    embeddings: EmbeddingsOpt = None,
    split: SplitOpt = "test",
    k: Annotated[int, typer.Option("--k", min=1, help="Cut-off for AP, nDCG, precision and recall (the published Fullrank numbers: 50).")] = 50,
    queries: QueriesOpt = None,
    annotations: Annotated[Path | None, typer.Option("--annotations", help="Local copy of the official inquire_annotations.csv instead of downloading it.")] = None,
    index: Annotated[str | None, typer.Option("--index", help="FAISS index (DIR/index/KIND.faiss, or just KIND) instead of exact search.")] = None,
    search_param: Annotated[list[str] | None, typer.Option("--search-param", help="Override an index search parameter, e.g. nprobe=64, refine=16, ef_search=256 (repeatable).")] = None,
    rerank: Annotated[str | None, typer.Option("--rerank", help="Second stage: any reranker spec (see `inquire rerankers`).")] = None,
    from_k: Annotated[int, typer.Option("--from-k", min=1, help="Candidates the reranker rescores (the paper: 50 or 100).")] = 100,
    images: Annotated[Path | None, typer.Option("--images", help="The image collection: embedded first (or reused) when --embeddings is not given, and where --rerank reads the photos (ROOT/<image_path>.jpg).")] = None,
    trec: Annotated[bool, typer.Option("--trec", help="Also write run.trec and qrels.trec for trec_eval, ranx or ir_measures.")] = False,
    out: OutOpt = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:N or mps for search and models (default: best available).")] = None,
    precision: PrecisionOpt = None,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads of exact search (default: all cores).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per model batch (reranking).")] = 64,
    workers: Annotated[int | None, typer.Option(min=0, help="Decoding worker processes (reranking).")] = None,
    fuse: FuseOpt = None,
    fuse_method: FuseMethodOpt = "weighted",
    fuse_weight: FuseWeightOpt = 0.5,
    template: TemplateOpt = None,
    api_base: ApiBaseOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    concurrency: ConcurrencyOpt = None,
    dtype: DtypeOpt = None,
    score_cache: ScoreCacheOpt = None,
    allow_missing: AllowMissingOpt = False,
) -> None:
    """Retrieve the top k of the whole collection per query (optionally rerank the top --from-k) and score it."""
    from ..tasks.fullrank import run_fullrank
    from ..tasks.results import print_summary
    from .rerankers import scorer_options

    options = scorer_options(template=template, api_base=api_base, api_key_env=api_key_env, concurrency=concurrency, dtype=dtype)
    if fuse is not None:
        options.update(fuse=fuse, fuse_method=fuse_method, fuse_weight=fuse_weight)
    result = run_fullrank(
        model, split, embeddings=embeddings, queries_path=queries, annotations_path=annotations, index=index,
        search_params=parse_params(search_param, "--search-param"), k=k, rerank=rerank, from_k=from_k,
        images=images, scorer_options=options, score_cache=score_cache, allow_missing=allow_missing, trec=trec,
        out_dir=out, device=device, precision=precision, batch_size=batch_size, workers=workers, threads=threads,
    )
    print_summary(result.summary, console)
    _report(result.summary)
    files = "run.parquet, per_query.csv, summary.json" + (", run.trec, qrels.trec" if trec else "")
    console.print(f"Results written to {result.out_dir}/ ({files})")


def _report(summary: dict) -> None:
    """On screen what summary.json records beyond the table: search cost, recall, anything set aside."""
    search = summary["search"]
    rec = search.get("recall_vs_exact")
    if rec is not None:
        console.print(
            f"{search['kind']} recall@{rec['k']} against exact search: {100 * rec['mean']:.1f}% "
            f"(worst query {100 * rec['min']:.1f}%)"
        )
    if summary["annotations_not_in_collection"]:
        err_console.print(
            f"[yellow]warning:[/] {summary['annotations_not_in_collection']} of {summary['n_annotations']} annotated "
            "images are not in the embedding folder; they count as relevant and never retrieved "
            "(annotations_not_in_collection_examples in summary.json)."
        )
    if summary["annotations_matched_by_file_name"]:
        console.print(f"{summary['annotations_matched_by_file_name']} annotated images matched by file name only (another folder prefix).")
    if summary["queries_without_annotations"]:
        err_console.print(f"[yellow]warning:[/] {len(summary['queries_without_annotations'])} queries have no annotations; they score 0.")
    if summary.get("n_scores_missing"):
        err_console.print(f"[yellow]warning:[/] {summary['n_scores_missing']} candidates could not be reranked and were ranked last (scores_missing in summary.json).")


@index_app.command("build")
def index_build(
    embeddings: Annotated[Path, typer.Argument(help="Embedding folder to index.")],
    kind: Annotated[str, typer.Option("--kind", help="ivf-flat, ivf-pq or hnsw.")],
    param: Annotated[list[str] | None, typer.Option("--param", help="Build or default search parameter, e.g. nlist=2048, m=96, nprobe=128, M=32 (repeatable).")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="FAISS threads (default: all cores).")] = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Build anew even if an index of this kind can be brought up to date.")] = False,
) -> None:
    """Build a FAISS index of an embedding folder (DIR/index/KIND.faiss + KIND.json), or bring an
    existing one up to date with a folder that `inquire embed` has grown: new rows added, gone rows
    removed (ivf kinds; hnsw is rebuilt when rows went), and it says which."""
    from tqdm.auto import tqdm

    from ..data.embedding_folder import EmbeddingFolder
    from ..index import build_index
    from ..index.faiss_update import update_index

    folder = EmbeddingFolder(embeddings)
    params = parse_params(param, "--param")
    with tqdm(desc=f"adding to {kind}", unit="row") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        if rebuild:
            path, report = build_index(folder, kind, threads=threads, progress=progress, **params), {"action": "built"}
        else:
            path, report = update_index(folder, kind, threads=threads, progress=progress, **params)
    import json

    info = json.loads(path.with_suffix(".json").read_text())
    action = report["action"]
    if action == "unchanged":
        console.print(f"{path} is up to date with {embeddings} ({info['n_rows']:,} rows); nothing to do.")
    elif action == "updated":
        console.print(
            f"Updated {path} in {report['seconds']:.1f} s: {report['added']:,} rows added, {report['removed']:,} removed, "
            f"{report['renumbered']:,} renumbered; {info['n_rows']:,} rows ({info['index_bytes'] / 1e6:.1f} MB)."
        )
    else:
        why = f" ({report['reason']})" if action == "rebuilt" else ""
        console.print(f"{action.capitalize()} {path}{why} in {info['build_seconds']:.1f} s ({info['index_bytes'] / 1e6:.1f} MB), parameters {info['params']}.")
    console.print(f"Use it: inquire fullrank --embeddings {embeddings} --index {kind} ...")
