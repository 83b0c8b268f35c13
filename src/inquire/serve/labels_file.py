"""Labels as a file, for backups and for moving work between machines (``inquire labels export|import``).

The file is one JSON document, readable by anyone's tools::

    {"format": "inquire-labels", "version": 1, "exported_at": "2025-01-31T12:00:00+00:00",
     "queries": [{"query_id": 1, "query_text": "…", "supercategory": "…", "category": "…", "iconic_group": "…"}, …],
     "labels":  [{"query_text": "…", "image_id": "…", "image_path": "…", "annotator": "ana",
                  "relevant": true, "updated_at": 1738324800.0}, …]}

It holds every judgement with its annotator and time, and every query with its benchmark columns,
as of one moment; not the accounts (tokens stay on their server) nor the audit log (``inquire labels
audit``). Importing merges (:meth:`LabelStore.merge`): new judgements are added, a judgement a
person already has with another value is a conflict, kept and reported (or, asked, replaced by
the newer), and the whole file is checked before anything is written, in one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path
from typing import Any

from ..data.queries import normalize_text
from ..errors import InquireError
from .accounts import check_name
from .labels import Label, LabelStore, Merge, QueryColumns

FORMAT = "inquire-labels"
VERSION = 1
_QUERY_FIELDS = ("supercategory", "category", "iconic_group")


def export_labels(store: LabelStore, path: Path) -> tuple[int, int]:
    """Write every query and judgement of ``store`` to ``path`` (replaced atomically); (queries, judgements) written."""
    queries, labels = store.snapshot()
    doc = {
        "format": FORMAT, "version": VERSION,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "queries": [{"query_id": q.query_id, "query_text": q.query_text, **{f: getattr(q, f) for f in _QUERY_FIELDS}} for q in queries],
        "labels": [{"query_text": lab.query_text, "image_id": lab.image_id, "image_path": lab.image_path, "annotator": lab.annotator,
                    "relevant": lab.relevant, "updated_at": lab.updated_at} for lab in labels],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as out:
        json.dump(doc, out, ensure_ascii=False, indent=1)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)
    return len(queries), len(labels)


def import_labels(store: LabelStore, path: Path, *, newer_wins: bool = False, rename: dict[str, str] | None = None,
                  actor: str) -> Merge:
    """Merge the labels file ``path`` into ``store``; ``rename`` maps annotators of the file to names here."""
    queries, labels = read_labels_file(path, rename or {})
    return store.merge(queries, labels, newer_wins=newer_wins, actor=actor, source=f"import:{path.name}")


def read_labels_file(path: Path, rename: dict[str, str]) -> tuple[list[QueryColumns], list[Label]]:
    """The queries and judgements of a labels file, every entry checked; errors say which entry and field."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InquireError(f"No labels file {path}.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InquireError(f"Cannot read the labels file {path} ({exc}); give a file written by `inquire labels export`.") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InquireError(f"{path} is not an inquire labels file (no \"format\": \"{FORMAT}\"); give a file written by `inquire labels export`.")
    if doc.get("version") != VERSION:
        raise InquireError(f"{path} has labels file version {doc.get('version')!r}; this inquire reads version {VERSION}: upgrade inquire-toolkit.")
    queries = [_query(path, i, entry) for i, entry in enumerate(_list(path, doc, "queries"))]
    labels = [_label(path, i, entry, rename) for i, entry in enumerate(_list(path, doc, "labels"))]
    seen: dict[tuple[str, str, str], int] = {}
    for i, lab in enumerate(labels):
        key = (lab.query_text, lab.image_id, lab.annotator)
        if key in seen:
            raise InquireError(f"{path}: labels[{seen[key]}] and labels[{i}] are both {lab.annotator}'s judgement of image "
                               f"{lab.image_id} for {lab.query_text!r}; keep one.")
        seen[key] = i
    return queries, labels


def _list(path: Path, doc: dict, key: str) -> list:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise InquireError(f"{path}: {key!r} must be a list.")
    return value


def _query(path: Path, i: int, entry: Any) -> QueryColumns:
    where = f"queries[{i}]"
    entry = _entry(path, where, entry)
    query_id = entry.get("query_id")
    if not isinstance(query_id, int) or isinstance(query_id, bool) or query_id < 1:
        raise InquireError(f"{path}: {where}.query_id is {query_id!r}; expected a whole number from 1.")
    return QueryColumns(query_id, _text(path, where, entry, "query_text"), *(_string(path, where, entry, f, "") for f in _QUERY_FIELDS))


def _label(path: Path, i: int, entry: Any, rename: dict[str, str]) -> Label:
    where = f"labels[{i}]"
    entry = _entry(path, where, entry)
    annotator = _string(path, where, entry, "annotator")
    annotator = _field(path, f"{where}.annotator", lambda: check_name(rename.get(annotator, annotator)))
    relevant = entry.get("relevant")
    if not isinstance(relevant, bool):
        raise InquireError(f"{path}: {where}.relevant is {relevant!r}; expected true or false.")
    updated_at = entry.get("updated_at")
    if not isinstance(updated_at, (int, float)) or isinstance(updated_at, bool) or not math.isfinite(updated_at) or updated_at <= 0:
        raise InquireError(f"{path}: {where}.updated_at is {updated_at!r}; expected the judgement's Unix time in seconds.")
    image_id = entry.get("image_id")
    if isinstance(image_id, int) and not isinstance(image_id, bool):
        image_id = str(image_id)
    if not isinstance(image_id, str) or not image_id:
        raise InquireError(f"{path}: {where}.image_id is {image_id!r}; expected the image's id.")
    return Label(_text(path, where, entry, "query_text"), image_id, _string(path, where, entry, "image_path"), relevant,
                 float(updated_at), annotator)


def _entry(path: Path, where: str, entry: Any) -> dict:
    if not isinstance(entry, dict):
        raise InquireError(f"{path}: {where} must be an object.")
    return entry


def _string(path: Path, where: str, entry: dict, key: str, default: str | None = None) -> str:
    value = entry.get(key, default)
    if not isinstance(value, str):
        raise InquireError(f"{path}: {where}.{key} is {value!r}; expected text.")
    return value


def _text(path: Path, where: str, entry: dict, key: str) -> str:
    text = normalize_text(_string(path, where, entry, key))
    if not text:
        raise InquireError(f"{path}: {where}.{key} is empty; a query needs its text.")
    return text


def _field(path: Path, where: str, check):
    try:
        return check()
    except InquireError as exc:
        raise InquireError(f"{path}: {where}: {exc}") from None
