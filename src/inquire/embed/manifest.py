"""``manifest.json`` of an embedding folder: what made it, and what became of every item.

Written when a job starts (``complete: false``: the model, the source and the shard size, which
every later run must match) and rewritten when the last shard is in, with counts, every skipped
item and its reason (gathered from the shards, so items done by earlier runs are included),
the runs' timings and the library versions.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from ..data.sources import ImageSource
from ..errors import InquireError
from ..provenance import library_versions
from .layout import Shard

FORMAT = "inquire-embeddings/1"
MANIFEST = "manifest.json"


def job_config(src: ImageSource, spec: str, identity: str, shard_size: int, precision: str) -> dict[str, Any]:
    """What an output folder is bound to: a resumed run must agree on all of it."""
    return {
        "format": FORMAT,
        "model": {"spec": spec, "identity": identity, "precision": precision},
        "source": {"kind": src.kind, "fingerprint": src.fingerprint},
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
        raise InquireError(
            f"{path} was not written by this version of inquire embed ({FORMAT}); use another --out."
        )
    return manifest


def check_compatible(manifest: dict, config: dict, out: Path) -> None:
    """Refuse to resume into a folder of another model, precision, source or shard size, saying which differs.

    A folder written before inquire recorded the precision is resumed at the precision asked for.
    """
    model, source = manifest.get("model", {}), manifest.get("source", {})
    what = ""
    if model.get("identity") != config["model"]["identity"]:
        what = (
            f"the model {model.get('spec')} (identity {model.get('identity')}), "
            f"not {config['model']['spec']} (identity {config['model']['identity']})"
        )
    elif model.get("precision", config["model"]["precision"]) != config["model"]["precision"]:
        what = f"{model['precision']} precision, not {config['model']['precision']} (--precision)"
    elif source.get("fingerprint") != config["source"]["fingerprint"]:
        what = (
            f"another source: {source.get('kind')} at {source.get('root')} with "
            f"{source.get('n_items')} items (fingerprint {source.get('fingerprint')}, "
            f"this one {config['source']['fingerprint']})"
        )
    elif manifest.get("shard_size") != config["shard_size"]:
        what = f"shard size {manifest.get('shard_size')}, not {config['shard_size']} (--shard-size)"
    if what:
        raise InquireError(
            f"{out} holds embeddings of {what}. Mixing them would corrupt the output: "
            "use another --out, or delete the folder to start over."
        )


def new_manifest(
    config: dict, src: ImageSource, dim: int, preprocessing: str, n_shards: int
) -> dict:
    size = config["shard_size"]
    return {
        **config,
        "complete": False,
        "model": {
            **config["model"],
            "dim": dim,
            "dtype": "float16",
            "preprocessing": preprocessing,
        },
        "source": src.describe(),
        "n_shards": n_shards,
        "layout": {
            "embeddings": "img_emb/img_emb_<i>.npy (float16, unit-norm rows)",
            "metadata": "metadata/metadata_<i>.parquet (same rows, same order; image_path first)",
            "shard": f"shard i: the usable items among source items [i*{size}, (i+1)*{size})",
        },
        "runs": [],
    }


def finalize(
    manifest: dict,
    src: ImageSource,
    shards: list[Shard],
    records: dict[int, dict],
    run: dict | None,
) -> dict:
    """The manifest of a complete output: counts and every skipped item, gathered from the shards."""
    skipped = [{**s, "shard": i} for i in sorted(records) for s in records[i]["skipped"]]
    runs = manifest.get("runs", []) + ([run] if run else [])
    reasons = Counter(_reason_class(s["reason"]) for s in skipped)
    return {
        **manifest,
        "complete": True,
        "source": src.describe(),
        "n_shards": len(shards),
        "n_items": len(src),
        "n_rows": sum(rec["rows"] for rec in records.values()),
        "n_skipped": len(skipped),
        "skipped_by_reason": dict(reasons.most_common()),
        "skipped": skipped,
        "runs": runs,
        "embed_wall_s_total": round(sum(r["wall_s"] for r in runs), 3),
        "versions": library_versions("pillow", "ray"),
    }


def _reason_class(reason: str) -> str:
    """``corrupt or truncated image: image file is truncated …`` → ``corrupt or truncated image``."""
    return reason.split(":")[0].split(" (")[0]
