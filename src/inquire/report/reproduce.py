"""Does my machine give the published numbers? Run each model and compare it with its leaderboard row.

Every chosen target (:mod:`inquire.report.targets`: embedding models, the paper's vision-language
rerankers, two-stage Fullrank runs) is run on INQUIRE-Rerank (or Fullrank, over a published
embedding folder) into ``OUT/<name>/``, through the same task code as ``inquire rerank`` /
``inquire fullrank`` and scored as the official scripts scored the published board
(:mod:`inquire.tasks.definition`), so every number is compared like with like. An embedding model
already run with the same settings is read back; a reranker's run is redone from the score cache
(no model loads, no request is sent, once every score is there), so an interrupted run resumes.
The board's Random row is computed exactly from the labels (:mod:`inquire.random_baseline`), for
Rerank under both definitions: which one lands on the published 23.0 shows how the board was
scored. Each run is set beside its row, overall and per supercategory, with the difference; a
difference above :data:`TOLERANCE` is flagged with what usually explains it, and a paper reranker's
pairs scored by rule (saturated, 0/0, refused) are counted beside it. A target that fails is
reported and the others still run; a reranker that inquire cannot run (its registry entry says why)
is listed, never faked. Each reranker gets only the options it takes, so one command runs local
rows and API rows together.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..data.queries import canonical_split
from ..data.rerank import rerank_files
from ..data.rerank import source_record as rerank_source
from ..errors import InquireError
from ..models import PAPER_MODELS, model_identity, resolve_precision
from ..models.precision import check_precision
from ..paths import slug
from ..rerank import accepted_options
from ..tasks import definition as defs
from ..tasks.results import SUPERCATEGORIES, write_outputs
from .leaderboard import COMPUTED, TASKS, read_board
from .targets import Target, parse_models, published_row

#: a difference in overall mAP above this (a fraction: 1.0 point) is flagged
TOLERANCE = 0.01
#: queries behind the published numbers (test split): INQUIRE-Rerank keeps 160 of the 200 test queries
PUBLISHED_QUERIES = {"rerank": 160, "fullrank": 200}
WHAT_TO_CHECK = (
    "check the model revision (the exact weights the spec loads), preprocessing (image size, resize and "
    "crop, interpolation, normalisation) and precision (summary.json's precision against the paper's: `inquire models`)"
)
GROUPS = ["overall", *SUPERCATEGORIES]
#: the cut-off the website names for the Rerank board, at which its Random row is computed too, as evidence
WEBSITE_K = 50


@dataclass
class Outcome:
    """One target's part in a reproduction: its run (or why there is none) and its published row."""

    name: str
    spec: str | None
    status: str  # ran | reused | computed | failed | skipped | not supported
    run_dir: Path | None = None
    summary: dict | None = None
    published: dict | None = None
    reason: str = ""
    seconds: float = 0.0


@dataclass
class Reproduction:
    task: str
    split: str
    out_dir: Path
    outcomes: list[Outcome] = field(default_factory=list)
    table: pd.DataFrame | None = None
    csv: Path | None = None

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def reproduce(
    task: str,
    models: str,
    *,
    split: str = "test",
    out_dir: str | Path | None = None,
    published: str | Path | None = None,
    data_dir: str | Path | None = None,
    embeddings_root: str | Path | None = None,
    annotations: str | Path | None = None,
    index: str | None = None,
    images: str | Path | None = None,
    device: str | None = None,
    precision: str | None = None,
    batch_size: int = 64,
    workers: int | None = None,
    scorer_options: dict | None = None,
    score_cache: str | Path | None = None,
    on_model: Callable[[int, int, str], None] | None = None,
) -> Reproduction:
    """Run every target of ``models`` on ``task`` and compare it with the published board; writes ``reproduce.csv``.

    ``on_model(i, n, name)`` is called before each target (for progress). The data are checked
    once before anything runs, so a wrong folder is one clear error, not one per model.
    ``precision`` applies to embedding models; ``scorer_options`` and ``score_cache`` to rerankers.
    """
    if task not in TASKS:
        raise InquireError(f"Unknown task {task!r}: use rerank or fullrank.")
    check_precision(precision)  # before anything runs: not once per model
    split = canonical_split(split)
    board = read_board(published)
    if "model" not in board.columns:  # without it no row could match, and every model would read "not on the board"
        raise InquireError(
            f"Leaderboard file {published} has no 'model' column: inquire reproduce matches each row to a model "
            "through it (a short name of `inquire models` or a spec); add it, as in inquire's leaderboard.csv."
        )
    board = board[board["task"] == task]
    targets = parse_models(models, board, task)
    _check_options(scorer_options or {}, targets)
    out = Path(out_dir) if out_dir is not None else Path("runs") / f"reproduce-{task}-{split}"
    result = Reproduction(task, split, out)
    settings = dict(device=device, precision=precision, batch_size=batch_size, workers=workers,
                    scorer_options=scorer_options or {}, score_cache=score_cache)
    runner = (_rerank_runner(split, data_dir) if task == "rerank"
              else _fullrank_runner(split, embeddings_root, annotations, index, images))
    for i, target in enumerate(targets):
        if on_model is not None:
            on_model(i, len(targets), target.name)
        outcome = _one(target, runner, out, settings)
        outcome.published = published_row(board, target, published)
        result.outcomes.append(outcome)
    if not any(o.status in ("ran", "reused", "failed") for o in result.outcomes):
        raise InquireError(
            "None of the chosen models could be run: "
            + "; ".join(f"{o.name}: {o.reason}" for o in result.outcomes)
        )
    random_row = board[board["reproduce"].fillna("").str.strip() == COMPUTED]
    if len(random_row):
        result.outcomes += runner.random(out, random_row.iloc[0].to_dict())
    result.table = comparison(result.outcomes, task, split)
    out.mkdir(parents=True, exist_ok=True)
    result.csv = out / "reproduce.csv"
    result.table.to_csv(result.csv, index=False)
    return result


@dataclass
class _Runner:
    """How one task runs a target: its fixed settings (for reuse), where a target's data are, the run,
    and the exact Random row(s)."""

    settings: dict
    locate: Callable[[Target], tuple[dict, str | None]]  # → (per-target settings, why it cannot run)
    run: Callable[..., object]
    random: Callable[[Path, dict], list[Outcome]]


def _check_options(options: dict, targets: list[Target]) -> None:
    """Every reranker option given applies to some target (each target gets only its own: ``_task_kwargs``)."""
    runnable = [t.reranker for t in targets if t.reranker is not None and not t.unsupported]
    unused = sorted(set(options) - {o for spec in runnable for o in accepted_options(spec)})
    if unused:
        flags = ", ".join(f"--{o.replace('_', '-')}" for o in unused)
        raise InquireError(
            f"{flags} sets no chosen row's reranker ({', '.join(t.name for t in targets)}): the API options are for "
            "gpt-4o, gpt-4-turbo and api:MODEL, dtype for the local rerankers. Leave it out or choose such a row."
        )


def _task_kwargs(target: Target, settings: dict) -> dict:
    """The task options of one target: an embedding model's precision; a reranker's own options and the score cache."""
    kw = {k: settings[k] for k in ("device", "batch_size", "workers")}
    if target.spec is not None:
        kw["precision"] = settings["precision"]
    if target.reranker is not None:
        takes = accepted_options(target.reranker)
        kw.update(scorer_options={k: v for k, v in settings["scorer_options"].items() if k in takes},
                  score_cache=settings["score_cache"])
    return kw


def _rerank_runner(split: str, data_dir: str | Path | None) -> _Runner:
    from ..tasks.rerank import random_rerank, run_rerank

    files = rerank_files(split, data_dir)  # checked (or fetched) once for every model
    k = defs.OFFICIAL_K["rerank"]
    settings = {"task": "rerank", "split": split, "k": k, "definition": defs.official("rerank"),
                "data": rerank_source(files, data_dir)["path"]}

    def run(target: Target, out_dir: Path, settings: dict):
        model = target.spec if target.kind == "embedding" else target.reranker
        return run_rerank(model, split, data_dir=data_dir, out_dir=out_dir, k=k, **_task_kwargs(target, settings))

    def random(out: Path, row: dict) -> list[Outcome]:
        return [_random_outcome(name, out, row, *random_rerank(split, data_dir=data_dir, k=at))
                for name, at in (("random", k), (f"random@{WEBSITE_K}", WEBSITE_K))]

    return _Runner(settings, lambda target: ({}, None), run, random)


def _fullrank_runner(split: str, root: str | Path | None, annotations: str | Path | None, index: str | None,
                     images: str | Path | None) -> _Runner:
    from ..data.annotations import annotations_file, load_annotations
    from ..tasks.fullrank import random_fullrank, run_fullrank

    if root is None or not Path(root).is_dir():
        raise InquireError(
            f"--embeddings-root {root} is not a folder: give the folder that holds one embedding folder per model, "
            "named by its short name as the published tarballs are (vit-b-16/, vit-l-14/, vit-h-14-378/, "
            "siglip-so400m-14-384/ …)."
        )
    load_annotations(annotations)  # checked (or fetched) once for every model
    root = Path(root)
    k = defs.OFFICIAL_K["fullrank"]
    settings = {"task": "fullrank", "split": split, "k": k, "definition": defs.official("fullrank"),
                "annotations": str(annotations_file(annotations).resolve()), "index": index}
    located: list[str] = []  # folders of the targets that ran: the Random row counts the first one's images

    def locate(target: Target) -> tuple[dict, str | None]:
        name = target.name.partition(">>")[0]
        folder = root / (name if name in PAPER_MODELS else slug(name))
        if not folder.is_dir():
            return {}, f"no embedding folder {folder}"
        if target.kind == "two-stage" and images is None:
            return {}, "a two-stage run reads the photos: pass --images ROOT (ROOT/<image_path>.jpg)"
        located.append(str(folder.resolve()))
        return {"embeddings": located[-1]}, None

    def run(target: Target, out_dir: Path, settings: dict, embeddings: str):
        return run_fullrank(
            target.spec, split, embeddings=embeddings, annotations_path=annotations, index=index, out_dir=out_dir, k=k,
            rerank=target.reranker, from_k=target.from_k or k, images=images, **_task_kwargs(target, settings),
        )

    def random(out: Path, row: dict) -> list[Outcome]:
        if not located:
            return [Outcome("random", "exact expectation", "skipped", published=row,
                            reason="no embedding folder was found to count the collection's images")]
        return [_random_outcome("random", out, row, *random_fullrank(
            split, embeddings=located[0], annotations_path=annotations, k=k))]

    return _Runner(settings, locate, run, random)


def _random_outcome(name: str, out: Path, row: dict, summary: dict, per_query: pd.DataFrame) -> Outcome:
    """The Random row as a run folder (``per_query.csv``, ``summary.json``), compared with the published one."""
    run_dir = out / slug(name)
    write_outputs(run_dir, summary, per_query)
    return Outcome(name, "exact expectation of a uniformly random order", COMPUTED, run_dir, summary, published=row)


def _one(target: Target, runner: _Runner, out: Path, settings: dict) -> Outcome:
    """Run (or read back) one target; a failure is recorded, never raised, so the others still run."""
    name = target.name
    shown = " >> ".join(s for s in (target.spec, target.reranker) if s)
    status = "failed" if target.explicit else "skipped"
    if target.unsupported:
        return Outcome(name, shown, "not supported", reason=target.unsupported)
    if target.kind == "embedding" and target.spec is None:
        return Outcome(name, None, status, reason=f"{PAPER_MODELS[name].description}; here: --models {name}=SPEC")
    where, missing = runner.locate(target)
    if missing:
        return Outcome(name, shown, status, reason=missing)
    run_dir = out / (name if name in PAPER_MODELS else slug(name))
    record = run_dir / "reproduce.json"
    start = time.perf_counter()
    try:
        wanted = None
        if target.kind == "embedding":  # rerankers rerun from the score cache, which knows their weights
            wanted = {**runner.settings, **where, "model": target.spec, "identity": model_identity(target.spec),
                      "precision": resolve_precision(settings["precision"], target.spec, settings["device"],
                                                     runner.settings["task"])}
            if record.is_file() and (run_dir / "summary.json").is_file() and json.loads(record.read_text()) == wanted:
                return Outcome(name, shown, "reused", run_dir, json.loads((run_dir / "summary.json").read_text()))
        result = runner.run(target, run_dir, settings, **where)
    except Exception as exc:  # any failure of one target is reported with the others' results, never lost
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "no detail"
        reason = detail if isinstance(exc, InquireError) else f"{type(exc).__name__}: {detail}"
        return Outcome(name, shown, "failed", reason=reason, seconds=time.perf_counter() - start)
    if wanted is not None:
        record.write_text(json.dumps(wanted, indent=2) + "\n")
    return Outcome(name, shown, "ran", run_dir, result.summary, seconds=time.perf_counter() - start)


def comparison(outcomes: list[Outcome], task: str, split: str) -> pd.DataFrame:
    """One row per target: published, measured and difference (fractions), overall and per supercategory, and a flag."""
    rows = []
    for o in outcomes:
        row: dict = {"model": o.name, "spec": o.spec or "", "status": o.status, "split": split,
                     "definition": defs.of_summary(o.summary) if o.summary else "",
                     "n_queries": (o.summary or {}).get("n_queries"), "published_method": (o.published or {}).get("method", "")}
        measured = _measured(o.summary)
        for group in GROUPS:
            pub = _published(o.published, group)
            row[f"{group.lower()}_published"] = pub
            row[f"{group.lower()}_measured"] = measured.get(group)
            both = pub is not None and measured.get(group) is not None
            row[f"{group.lower()}_diff"] = measured[group] - pub if both else None
        row["flagged"], row["note"] = _verdict(o, row, task, split)
        row.update(seconds=round(o.seconds, 1), run_dir=str(o.run_dir) if o.run_dir else "")
        rows.append(row)
    return pd.DataFrame(rows)


def _measured(summary: dict | None) -> dict:
    if not summary:
        return {}
    by = summary.get("by_supercategory", {})
    return {"overall": float(summary["map"]), **{s: float(by[s]) for s in SUPERCATEGORIES if s in by}}


def _published(row: dict | None, group: str) -> float | None:
    value = None if row is None else row.get(group)
    return None if value is None or pd.isna(value) else float(value) / 100


def _verdict(o: Outcome, row: dict, task: str, split: str) -> tuple[bool, str]:
    """Whether the overall difference is beyond :data:`TOLERANCE`, and what a reader should know."""
    if o.status == "not supported":
        return False, f"not supported: {o.reason}"
    if o.status in ("failed", "skipped"):
        return False, o.reason
    if o.published is None:
        return False, "; ".join(["not on the published board", *_cases(o.summary)])
    notes, flagged = [], False
    diff = row["overall_diff"]
    published = defs.official(task)
    if row["definition"] != published:  # only the Random row's evidence: runs are always scored as the board
        notes.append(f"scored {defs.scored(row['definition'])}, unlike the board ({defs.scored(published)}): "
                     "shown as evidence of how the board was scored, not as a reproduction")
    elif split != "test":
        notes.append(f"the published figures are test-split; this is {split}: not comparable")
    elif diff is not None and abs(diff) > TOLERANCE:
        flagged = True
        check = ("check that your copy of the labels is the published one" if o.status == COMPUTED else WHAT_TO_CHECK)
        notes.append(f"overall {defs.metric_label(published)} differs by {100 * diff:+.1f} points: {check}")
    if o.status == COMPUTED:
        order = "each query's candidates" if task == "rerank" else "the whole collection"
        notes.insert(0, f"the exact expected score of a uniformly random order of {order}, from the labels")
    n = row["n_queries"]
    if split == "test" and n != PUBLISHED_QUERIES[task]:
        notes.append(f"over {n} queries; the published figure is over {PUBLISHED_QUERIES[task]}")
    notes += _cases(o.summary)
    return flagged, "; ".join(notes)


def _cases(summary: dict | None) -> list[str]:
    """A paper reranker's counted cases (``reranker_stats`` in summary.json): pairs whose score the official
    protocol saturates or sets by rule, which tie and so bear on how close a reproduction can come."""
    from ..rerank.paper import CASE_WORDS

    cases = [(case, n) for stats in (summary or {}).get("reranker_stats", {}).values()
             for case, n in (stats.get("cases") or {}).items()]
    if not cases:
        return []
    return ["pairs scored by rule: " + ", ".join(f"{n} with {CASE_WORDS.get(case, case)}" for case, n in cases)]
