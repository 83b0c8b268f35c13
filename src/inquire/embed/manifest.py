"""``manifest.json`` of an embedding folder: what made it, and what became of every item.

Written when a job starts (``complete: false``: the model, the source and the shard size, which
every later run must match, and the shards that were there before it, its *base*) and rewritten
when the last shard is in, with counts, every skipped item and its reason (gathered from the
shards, so items done by earlier runs are included), what the last update found (new, changed,
removed, unchanged images), the metadata's statistics per column, the runs' timings and the
library versions.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from ..data.sources import ImageSource
from ..errors import InquireError
from ..data.columns import add_stats
from ..provenance import library_versions

FORMAT = "inquire-embeddings/2"
MANIFEST = "manifest.json"


def job_config(src: ImageSource, spec: str, identity: str, shard_size: int, precision: str | None) -> dict[str, Any]:
    """What an output folder is bound to: a resumed run must agree on all of it."""
    return {
        "format": FORMAT,
        "model": {"spec": spec, "identity": identity, "precision": precision},
        "source": {"kind": src.kind, "root": str(src.root)},
        "shard_size": shard_size,
    }


def read_manifest(out: Path) -> dict | None:
    path = out / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InquireError(
            f"{path} is unreadable ({exc}); delete the folder to start over."
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise InquireError(
            f"{path} was not written by this version of inquire embed (it says {found!r}, this version "
            f"writes {FORMAT!r}); the folder can still be searched and served as it is, but not resumed "
            "or updated: embed into another --out, or delete the folder to start over."
        )
    return manifest


def check_compatible(manifest: dict, config: dict, out: Path) -> None:
    """Refuse to resume into a folder of another model, precision, source or shard size, saying which differs."""
    model, source = manifest.get("model", {}), manifest.get("source", {})
    what = ""
    if model.get("identity") != config["model"]["identity"]:
        what = (
            f"the model {model.get('spec')} (identity {model.get('identity')}), "
            f"not {config['model']['spec']} (identity {config['model']['identity']})"
        )
    elif model.get("precision") != config["model"]["precision"]:
        what = f"{model.get('precision')} precision, not {config['model']['precision']} (--precision)"
    elif (source.get("kind"), source.get("root")) != (config["source"]["kind"], config["source"]["root"]):
        what = (
            f"another source: {source.get('kind')} at {source.get('root')} with {source.get('n_items')} items, "
            f"not {config['source']['kind']} at {config['source']['root']} (a folder follows one collection "
            "as it grows)"
        )
    elif manifest.get("shard_size") != config["shard_size"]:
        what = f"shard size {manifest.get('shard_size')}, not {config['shard_size']} (--shard-size)"
    if what:
        raise InquireError(
            f"{out} holds embeddings of {what}. Mixing them would corrupt the output: "
            "use another --out, or delete the folder to start over."
        )


def new_manifest(config: dict, src: ImageSource, dim: int, preprocessing: str, update: dict) -> dict:
    return {
        **config,
        "complete": False,
        "base_shards": 0,
        "update": update,
        "model": {
            **config["model"],
            "dim": dim,
            "dtype": "float16",
            "preprocessing": preprocessing,
        },
        "source": src.describe(),
        "layout": {
            "embeddings": "img_emb/img_emb_<i>.npy (float16, unit-norm rows)",
            "metadata": "metadata/metadata_<i>.parquet (same rows, same order; image_path first)",
            "items": "items/items_<i>.parquet (inquire's own: every source item of shard i, embedded or "
                     "skipped, with its size, modification time, SHA-256 and EXIF values)",
            "shard": f"a first run cuts the source into blocks of {config['shard_size']} items, shard i "
                     "holding the usable ones of block i; an update rewrites shards that lose images and "
                     "appends new and changed ones as new shards",
        },
        "runs": [],
    }


def base_shards(manifest: dict | None) -> int:
    """Shards that were there before the current update: all of a complete folder's, else the
    number its unfinished update recorded when it began."""
    if manifest is None:
        return 0
    return manifest["n_shards"] if manifest.get("complete") else manifest.get("base_shards", 0)


def begin_update(manifest: dict, update: dict) -> dict:
    """The manifest while an update runs: not complete, its base and what it found recorded
    (a resumed update keeps the counts of the one it finishes)."""
    if manifest.get("complete"):
        return {**manifest, "complete": False, "base_shards": manifest["n_shards"], "update": update}
    return manifest


def finalize(
    manifest: dict,
    src: ImageSource,
    records: list[dict],
    run: dict | None,
    metadata: dict,
) -> dict:
    """The manifest of a complete output: counts, every skipped item and the metadata statistics,
    gathered from the shards' records."""
    skipped = [{**s, "shard": i} for i, rec in enumerate(records) for s in rec["skipped"]]
    runs = manifest.get("runs", []) + ([run] if run else [])
    reasons = Counter(_reason_class(s["reason"]) for s in skipped)
    columns: dict[str, dict] = {}
    for rec in records:
        add_stats(columns, rec.get("metadata", {}))
    exif_examples = [e for rec in records for e in rec.get("exif_unreadable", [])][:20]
    return {
        **{k: v for k, v in manifest.items() if k != "base_shards"},
        "complete": True,
        "source": src.describe(),
        "n_shards": len(records),
        "n_items": len(src),
        "n_rows": sum(rec["rows"] for rec in records),
        "n_skipped": len(skipped),
        "skipped_by_reason": dict(reasons.most_common()),
        "skipped": skipped,
        "metadata": {**metadata, "columns": columns, "exif_unreadable_examples": exif_examples},
        "runs": runs,
        "embed_wall_s_total": round(sum(r.get("wall_s", 0) for r in runs), 3),
        "versions": library_versions("pillow", "ray"),
    }


def _reason_class(reason: str) -> str:
    """``corrupt or truncated image: image file is truncated …`` → ``corrupt or truncated image``."""
    return reason.split(":")[0].split(" (")[0]
