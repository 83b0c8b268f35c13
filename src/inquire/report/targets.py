"""What ``inquire reproduce`` runs, and which published row each run is set beside.

``--models`` is a comma list of:

* ``paper``: every embedding model of ``inquire models`` (loadable by name or not: none is left out unseen);
* ``paper-lmm`` (Rerank): every vision-language row of the board, by its ``reranker`` name;
* ``paper-two-stage`` (Fullrank): every two-stage row: its first-stage ``model``, ``reranker`` and ``from_k``;
* a short name, a spec, or ``NAME=SPEC`` (run SPEC under NAME and compare it with NAME's row). For a
  reranker name (of the board, or of ``inquire rerankers``), SPEC is a reranker spec (``vlm:DIR``,
  ``api:MODEL``), run as it is, or local weights (or another hub id or API model), which run as
  ``NAME=DIR``: the row's official protocol on those weights. A reranker spec alone (``vlm:DIR``)
  is a Rerank target too, on no row;
* ``FIRST>>RERANKER`` (Fullrank): a two-stage run, each side written as above.

A paper reranker that inquire cannot run (the VILA rows; :mod:`inquire.rerank.registry` says why,
the one place that does) becomes a target that says so and never runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..errors import InquireError
from ..models import PAPER_MODELS, resolve_spec
from ..models.spec import local_weights
from ..rerank import PAPER_RERANKERS, is_reranker_spec

#: --models keywords: the rows of the board each one selects
KEYWORDS = {"paper": "embedding models", "paper-lmm": "vision-language rerankers (Rerank)",
          "paper-two-stage": "two-stage rows (Fullrank)"}
#: what a two-stage target rescores when no row of the board says: the published rows' "Top 100"
DEFAULT_FROM_K = 100


@dataclass(frozen=True)
class Target:
    """One thing to run: the name its results go under and how to run it.

    ``spec`` is the embedding model (or a two-stage run's first stage); ``reranker`` the reranker
    spec, which alone is the model of a Rerank reranker target; ``reranker_name`` the board's name
    for it. ``unsupported`` says why a board row cannot run (the target is then only listed).
    """

    name: str
    spec: str | None  # None: a paper model whose weights no spec loads by name, or a reranker alone
    explicit: bool  # named by the user, not only through a keyword: if it cannot run, that is a failure
    reranker: str | None = None
    reranker_name: str | None = None
    from_k: int | None = None
    unsupported: str = ""

    @property
    def kind(self) -> str:
        if self.reranker is None:
            return "embedding"
        return "reranker" if self.spec is None else "two-stage"


def parse_models(models: str, board: pd.DataFrame, task: str) -> list[Target]:
    """The targets of ``--models`` (module docstring), against the task's rows of ``board``."""
    items = [m.strip() for m in models.split(",")]
    if not all(items):
        raise InquireError(f"--models {models!r} has an empty item; write names or specs separated by commas.")
    rerankers = set(board["reranker"].dropna().str.strip())
    targets: dict[str, Target] = {}
    for item in items:
        if item in KEYWORDS:
            for target in _group(item, board, task):
                targets.setdefault(target.name, target)
            continue
        if ">>" in item:
            if task != "fullrank":
                raise InquireError(f"--models {item!r}: FIRST>>RERANKER is a two-stage Fullrank run; use it with "
                                   "`inquire reproduce fullrank`.")
            first, _, second = (part.strip() for part in item.partition(">>"))
            embedder, reranker = _embedder(first), _reranker(second, rerankers)
            row = _two_stage_row(board, embedder.name, reranker.reranker_name, embedder.spec)
            from_k = int(row["from_k"]) if row is not None and pd.notna(row["from_k"]) else DEFAULT_FROM_K
            target = Target(f"{embedder.name}>>{reranker.name}", embedder.spec, True, reranker.reranker,
                            reranker.reranker_name, from_k, reranker.unsupported)
        elif _names_reranker(item, rerankers):
            if task != "rerank":
                raise InquireError(f"--models {item!r} is a reranker alone, a Rerank row; in Fullrank write "
                                   f"FIRST>>{item} (e.g. vit-h-14-378>>{item}) or use paper-two-stage.")
            target = _reranker(item, rerankers)
        else:
            target = _embedder(item)
        earlier = targets.get(target.name)
        if earlier is not None and earlier.explicit and earlier != target:
            raise InquireError(f"--models names {target.name!r} twice, for {_what(earlier)} and {_what(target)}; "
                               "give each name once.")
        targets[target.name] = target
    return list(targets.values())


def _group(keyword: str, board: pd.DataFrame, task: str) -> list[Target]:
    if keyword == "paper":
        return [Target(name, info.spec, explicit=False) for name, info in PAPER_MODELS.items()]
    wanted = {"paper-lmm": "rerank", "paper-two-stage": "fullrank"}[keyword]
    if task != wanted:
        raise InquireError(f"--models {keyword} selects {KEYWORDS[keyword]}; use it with `inquire reproduce {wanted}`.")
    out = []
    for _, row in board[board["reranker"].notna()].iterrows():
        name = row["reranker"].strip()
        why = _unsupported(name)
        if keyword == "paper-lmm" and pd.isna(row["model"]):
            out.append(Target(name, None, False, name, name, unsupported=why))
        elif keyword == "paper-two-stage" and pd.notna(row["model"]):
            first = row["model"].strip()
            info = PAPER_MODELS.get(first)
            out.append(Target(f"{first}>>{name}", info.spec if info else resolve_spec(first), False, name, name,
                              int(row["from_k"]) if pd.notna(row["from_k"]) else DEFAULT_FROM_K, unsupported=why))
    return out


def _embedder(item: str) -> Target:
    name, sep, spec = item.partition("=")
    name, spec = name.strip(), (spec.strip() if sep else item)
    if sep and not (name and spec):
        raise InquireError(f"--models item {item!r}: write NAME=SPEC, e.g. wildclip-t1=wildclip:ckpt.pth.")
    info = PAPER_MODELS.get(spec)
    return Target(name, info.spec if info is not None else resolve_spec(spec), explicit=True)


def _names_reranker(item: str, rerankers: set[str]) -> bool:
    """Whether an item of ``--models`` is a reranker: a name of the board's or of ``inquire rerankers``
    (alone or as ``NAME=SPEC``), ``NAME=RERANKER_SPEC``, or a reranker spec."""
    name, sep, spec = (part.strip() for part in item.partition("="))
    return name in rerankers or name in PAPER_RERANKERS or is_reranker_spec(item) or bool(sep and is_reranker_spec(spec))


def _reranker(item: str, rerankers: set[str]) -> Target:
    """A reranker target: a name (of the board or a paper reranker), ``NAME=SPEC`` (SPEC a reranker spec,
    run as it is, or local weights: ``NAME=DIR``, the row's protocol on them), or a spec alone."""
    name, sep, spec = (part.strip() for part in item.partition("="))
    own = bool(sep and spec and is_reranker_spec(spec))  # a reranker spec of its own, run under NAME
    if name in rerankers or name in PAPER_RERANKERS:
        if sep and not spec:
            raise InquireError(f"--models item {item!r}: write {name}=DIR (local weights) or {name}=SPEC.")
        run = spec if own else (f"{name}={spec}" if sep else name)
        return Target(name, None, True, run, name, unsupported="" if own else _unsupported(name))
    if own:
        return Target(name, None, True, spec)
    if not is_reranker_spec(item):
        raise InquireError(f"--models {item!r} names no reranker of the board ({', '.join(sorted(rerankers))}) "
                           "and is no reranker spec (vlm:, api:, clip:, a name of `inquire rerankers`).")
    return Target(item, None, True, item)  # a reranker spec of its own (vlm:DIR, api:MODEL, clip:...), on no row


def _unsupported(reranker: str) -> str:
    """Why inquire cannot run a reranker name ("" when it can): its registry entry says, the one place that does."""
    entry = PAPER_RERANKERS.get(reranker)
    return entry.unsupported if entry is not None else ""


def _what(target: Target) -> str:
    return " >> ".join(s for s in (target.spec, target.reranker) if s)


def _model_key(name: str, spec: str | None = None) -> str:
    """What two ways of naming one embedding model share: a paper model's short name, else the spec
    with a local folder or file as its real path."""
    if name in PAPER_MODELS:
        return name
    spec = spec or resolve_spec(name)
    for short, info in PAPER_MODELS.items():
        if info.spec == spec:
            return short
    weights = local_weights(spec)
    return f"{spec.partition(':')[0]}:{weights.expanduser().resolve()}" if weights is not None else spec


def published_row(board: pd.DataFrame, target: Target, source: object = None) -> dict | None:
    """The board's row for ``target``: by ``model`` (embedding models), ``reranker`` (Rerank
    rerankers) or both (two-stage), or None."""
    if target.kind == "reranker":
        rows = board[board["model"].isna() & (board["reranker"].str.strip() == target.reranker_name)]
        return rows.iloc[0].to_dict() if len(rows) else None
    if target.kind == "two-stage":
        return _two_stage_row(board, target.name.partition(">>")[0], target.reranker_name, target.spec, source)
    return _model_row(board[board["reranker"].isna()], target.name, target.spec, source)


def _two_stage_row(board: pd.DataFrame, name: str, reranker_name: str | None, spec: str | None = None,
                   source: object = None) -> dict | None:
    rows = board[board["reranker"].str.strip() == reranker_name] if reranker_name else board.iloc[:0]
    return _model_row(rows, name, spec, source)


def _model_row(rows: pd.DataFrame, name: str, spec: str | None, source: object) -> dict | None:
    key = _model_key(name, spec)
    for _, row in rows[rows["model"].notna()].iterrows():
        try:
            same = _model_key(str(row["model"]).strip()) == key
        except InquireError as exc:
            raise InquireError(f"Leaderboard file {source or 'leaderboard.csv'}: row {row['method']!r}: {exc}") from None
        if same:
            return row.to_dict()
    return None
