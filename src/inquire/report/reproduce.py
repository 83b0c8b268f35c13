"""Does my machine give the published numbers? Run each model and compare it with its leaderboard row.

Every chosen model is run on INQUIRE-Rerank (or Fullrank, over a published embedding folder)
into ``OUT/<model>/``, through the same task code as ``inquire rerank``/``inquire fullrank``, so
caches make a second pass fast and a model already run with the same settings is read back, not
rerun. Each run is set beside the row of the published board that names its model (the ``model``
column of ``leaderboard.csv``): overall and per supercategory mAP@50, with the difference. A
model whose overall mAP@50 differs by more than :data:`TOLERANCE` is flagged with what usually
explains it. A model that fails is reported and the others still run.
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
from ..models import PAPER_MODELS, model_identity, resolve_spec
from ..models.spec import local_weights
from ..paths import slug
from ..tasks.results import SUPERCATEGORIES
from .leaderboard import PUBLISHED_K, TASKS, read_board

#: a difference in overall mAP@50 above this (a fraction: 1.0 point) is flagged
TOLERANCE = 0.01
#: queries behind the published numbers (test split): INQUIRE-Rerank keeps 160 of the 200 test queries
PUBLISHED_QUERIES = {"rerank": 160, "fullrank": 200}
WHAT_TO_CHECK = (
    "check the model revision (the exact weights the spec loads), preprocessing (image size, resize and "
    "crop, interpolation, normalisation) and precision (fp16/bf16 autocast against fp32)"
)
GROUPS = ["overall", *SUPERCATEGORIES]


@dataclass
class Outcome:
    """One model's part in a reproduction: its run (or why there is none) and its published row."""

    name: str
    spec: str | None
    status: str  # ran | reused | failed | skipped
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


@dataclass(frozen=True)
class Target:
    """A model to run: the name its results go under (a paper short name is compared with its row) and its spec."""

    name: str
    spec: str | None  # None: a paper model whose weights no spec loads by name
    explicit: bool  # named by the user, not only through ``paper``: if it cannot run, that is a failure


def parse_models(models: str) -> list[Target]:
    """``--models``: ``paper`` (every model of ``inquire models``, loadable or not: none is left out
    unseen), short names, specs, and ``NAME=SPEC`` (run SPEC under NAME, e.g.
    ``wildclip-t1=wildclip:ckpt.pth`` for a paper model whose weights are a local file)."""
    items = [m.strip() for m in models.split(",")]
    if not all(items):
        raise InquireError(f"--models {models!r} has an empty item; write names or specs separated by commas.")
    targets: dict[str, Target] = {}
    for item in items:
        if item == "paper":
            for name, info in PAPER_MODELS.items():
                targets.setdefault(name, Target(name, info.spec, explicit=False))
            continue
        name, sep, spec = item.partition("=")
        name, spec = name.strip(), (spec.strip() if sep else item)
        if sep and not (name and spec):
            raise InquireError(f"--models item {item!r}: write NAME=SPEC, e.g. wildclip-t1=wildclip:ckpt.pth.")
        info = PAPER_MODELS.get(spec)
        target = Target(name, info.spec if info is not None else resolve_spec(spec), explicit=True)
        earlier = targets.get(name)
        if earlier is not None and earlier.explicit and earlier != target:
            raise InquireError(f"--models names {name!r} twice, for {earlier.spec} and {target.spec}; give each name once.")
        targets[name] = target
    return list(targets.values())


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
    device: str | None = None,
    batch_size: int = 64,
    workers: int | None = None,
    on_model: Callable[[int, int, str], None] | None = None,
) -> Reproduction:
    """Run every model of ``models`` on ``task`` and compare it with the published board; writes ``reproduce.csv``.

    ``on_model(i, n, name)`` is called before each model (for progress). The data are checked
    once before any model runs, so a wrong folder is one clear error, not one per model.
    """
    if task not in TASKS:
        raise InquireError(f"Unknown task {task!r}: use rerank or fullrank.")
    split = canonical_split(split)
    targets = parse_models(models)
    board = read_board(published)
    if "model" not in board.columns:  # without it no row could match, and every model would read "not on the board"
        raise InquireError(
            f"Leaderboard file {published} has no 'model' column: inquire reproduce matches each row to a model "
            "through it (a short name of `inquire models` or a spec); add it, as in inquire's leaderboard.csv."
        )
    board = board[board["task"] == task]
    out = Path(out_dir) if out_dir is not None else Path("runs") / f"reproduce-{task}-{split}"
    result = Reproduction(task, split, out)
    runner = _rerank_runner(split, data_dir) if task == "rerank" else _fullrank_runner(split, embeddings_root, annotations, index)
    for i, target in enumerate(targets):
        if on_model is not None:
            on_model(i, len(targets), target.name)
        outcome = _one(target, runner, out, settings=dict(device=device, batch_size=batch_size, workers=workers))
        outcome.published = _published_row(board, target, published)
        result.outcomes.append(outcome)
    if not any(o.status in ("ran", "reused", "failed") for o in result.outcomes):
        raise InquireError(
            "None of the chosen models could be run: "
            + "; ".join(f"{o.name}: {o.reason}" for o in result.outcomes)
        )
    result.table = comparison(result.outcomes, task, split)
    out.mkdir(parents=True, exist_ok=True)
    result.csv = out / "reproduce.csv"
    result.table.to_csv(result.csv, index=False)
    return result


@dataclass
class _Runner:
    """How one task runs a model: its fixed settings (for reuse) and the call."""

    settings: dict
    locate: Callable[[str], tuple[dict, str | None]]  # name → (per-model settings, why it cannot run)
    run: Callable[..., object]


def _rerank_runner(split: str, data_dir: str | Path | None) -> _Runner:
    from ..tasks.rerank import run_rerank

    files = rerank_files(split, data_dir)  # checked (or fetched) once for every model
    settings = {"task": "rerank", "split": split, "k": PUBLISHED_K, "data": rerank_source(files, data_dir)["path"]}
    return _Runner(
        settings,
        lambda name: ({}, None),
        lambda spec, out_dir, **kw: run_rerank(spec, split, data_dir=data_dir, out_dir=out_dir, k=PUBLISHED_K, **kw),
    )


def _fullrank_runner(split: str, root: str | Path | None, annotations: str | Path | None, index: str | None) -> _Runner:
    from ..data.annotations import annotations_file, load_annotations
    from ..tasks.fullrank import run_fullrank

    if root is None or not Path(root).is_dir():
        raise InquireError(
            f"--embeddings-root {root} is not a folder: give the folder that holds one embedding folder per model, "
            "named by its short name as the published tarballs are (vit-b-16/, vit-l-14/, vit-h-14-378/, "
            "siglip-so400m-14-384/ …)."
        )
    load_annotations(annotations)  # checked (or fetched) once for every model
    root = Path(root)
    settings = {"task": "fullrank", "split": split, "k": PUBLISHED_K, "annotations": str(annotations_file(annotations).resolve()),
                "index": index}

    def locate(name: str) -> tuple[dict, str | None]:
        folder = root / (name if name in PAPER_MODELS else slug(name))
        if not folder.is_dir():
            return {}, f"no embedding folder {folder}"
        return {"embeddings": str(folder.resolve())}, None

    return _Runner(
        settings,
        locate,
        lambda spec, out_dir, embeddings, **kw: run_fullrank(
            spec, split, embeddings=embeddings, annotations_path=annotations, index=index, out_dir=out_dir, k=PUBLISHED_K, **kw
        ),
    )


def _one(target: Target, runner: _Runner, out: Path, *, settings: dict) -> Outcome:
    """Run (or read back) one model; a failure is recorded, never raised, so the other models still run."""
    name, spec = target.name, target.spec
    status = "failed" if target.explicit else "skipped"
    if spec is None:
        return Outcome(name, None, status, reason=f"{PAPER_MODELS[name].description}; here: --models {name}=SPEC")
    where, missing = runner.locate(name)
    if missing:
        return Outcome(name, spec, status, reason=missing)
    run_dir = out / (name if name in PAPER_MODELS else slug(name))
    wanted = {**runner.settings, **where, "model": spec, "identity": model_identity(spec)}
    record = run_dir / "reproduce.json"
    if record.is_file() and (run_dir / "summary.json").is_file() and json.loads(record.read_text()) == wanted:
        return Outcome(name, spec, "reused", run_dir, json.loads((run_dir / "summary.json").read_text()))
    start = time.perf_counter()
    try:
        result = runner.run(spec, run_dir, **where, **settings)
    except Exception as exc:  # any failure of one model is reported with the others' results, never lost
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else "no detail"
        reason = detail if isinstance(exc, InquireError) else f"{type(exc).__name__}: {detail}"
        return Outcome(name, spec, "failed", reason=reason, seconds=time.perf_counter() - start)
    record.write_text(json.dumps(wanted, indent=2) + "\n")
    return Outcome(name, spec, "ran", run_dir, result.summary, seconds=time.perf_counter() - start)


def _model_key(name: str, spec: str | None = None) -> str:
    """What two ways of naming one model share: a paper model's short name, else the spec with a
    local folder or file as its real path."""
    if name in PAPER_MODELS:
        return name
    spec = spec or resolve_spec(name)
    for short, info in PAPER_MODELS.items():
        if info.spec == spec:
            return short
    weights = local_weights(spec)
    return f"{spec.partition(':')[0]}:{weights.expanduser().resolve()}" if weights is not None else spec


def _published_row(board: pd.DataFrame, target: Target, source: str | Path | None) -> dict | None:
    """The board's row for ``target`` (matched through the ``model`` column), or None."""
    key = _model_key(target.name, target.spec)
    for _, row in board[board["model"].notna()].iterrows():
        try:
            same = _model_key(str(row["model"]).strip()) == key
        except InquireError as exc:
            raise InquireError(f"Leaderboard file {source or 'leaderboard.csv'}: row {row['method']!r}: {exc}") from None
        if same:
            return row.to_dict()
    return None


def comparison(outcomes: list[Outcome], task: str, split: str) -> pd.DataFrame:
    """One row per model: published, measured and difference (fractions), overall and per supercategory, and a flag."""
    rows = []
    for o in outcomes:
        row: dict = {"model": o.name, "spec": o.spec or "", "status": o.status, "split": split,
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
    if o.status in ("failed", "skipped"):
        return False, o.reason
    if o.published is None:
        return False, "not on the published board"
    notes, flagged = [], False
    diff = row["overall_diff"]
    if split != "test":
        notes.append(f"the published figures are test-split; this is {split}: not comparable")
    elif diff is not None and abs(diff) > TOLERANCE:
        flagged = True
        notes.append(f"overall mAP@50 differs by {100 * diff:+.1f} points: {WHAT_TO_CHECK}")
    n = row["n_queries"]
    if split == "test" and n != PUBLISHED_QUERIES[task]:
        notes.append(f"over {n} queries; the published figure is over {PUBLISHED_QUERIES[task]}")
    return flagged, "; ".join(notes)
