"""INQUIRE-Rerank: 100 fixed candidates per query, on the Hugging Face hub as parquet.

Labels and metadata are read without the image column (``pyarrow`` column selection), so
scoring a run never decodes or even loads an image. Images are streamed row group by row group
only when a model needs to embed them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from ..errors import InquireError
from .queries import canonical_split

REPO_ID = "evendrow/INQUIRE-Rerank"
HUB_SPLIT = {"val": "validation", "test": "test"}
COLUMNS = [
    "image", "query", "relevant", "clip_score", "inat24_image_id", "inat24_file_name",
    "supercategory", "category", "iconic_group", "inat24_species_id", "inat24_species_name",
    "latitude", "longitude", "location_uncertainty", "date", "license", "rights_holder",
]
LABEL_COLUMNS = [c for c in COLUMNS if c != "image"]
REQUIRED = ["query", "relevant", "inat24_image_id"]


def rerank_files(split: str, data_dir: str | Path | None = None) -> list[Path]:
    """The parquet files of ``split``: from a local copy (``DIR/data/<split>-*.parquet``) or the hub."""
    hub_split = HUB_SPLIT[canonical_split(split)]
    if data_dir is None:
        data_dir = _download(hub_split)
    data_dir = Path(data_dir)
    files = sorted((data_dir / "data").glob(f"{hub_split}-*.parquet"))
    if not files:
        raise InquireError(
            f"No INQUIRE-Rerank files for split {hub_split!r} in {data_dir}: expected "
            f"{data_dir / 'data' / (hub_split + '-*.parquet')} (the hub layout of {REPO_ID})."
        )
    return files


def source_record(files: list[Path], data_dir: str | Path | None) -> dict:
    """Where a run's INQUIRE-Rerank files came from: the local copy, or the hub snapshot and its revision.

    ``path`` is the folder a later ``--data`` can point at (for a hub run, the cached snapshot).
    """
    root = files[0].parent.parent.resolve()
    record: dict = {"path": str(root), "files": [{"name": f.name, "bytes": f.stat().st_size} for f in files]}
    if data_dir is None:
        record.update(hub=REPO_ID, revision=root.name)  # snapshot folders are named by commit
    return record


def _download(hub_split: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(REPO_ID, repo_type="dataset", allow_patterns=[f"data/{hub_split}-*.parquet"])
        )
    except Exception as exc:  # the hub client raises many types for "offline"; all mean the same here
        raise InquireError(
            f"Could not fetch {REPO_ID} from the Hugging Face hub ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}).\n"
            "To use a local copy: on a machine with network run\n"
            f"  huggingface-cli download {REPO_ID} --repo-type dataset --local-dir INQUIRE-Rerank\n"
            "copy the folder here and pass --data INQUIRE-Rerank."
        ) from None


def load_labels(files: list[Path]) -> pd.DataFrame:
    """All rows without images, plus ``position``: the row's index among its query's candidates.

    ``position`` is the candidate's original place in the published set; ties in score are
    ranked by it, so every rank this tool reports is reproducible.
    """
    frames = []
    for f in files:
        names = pq.read_schema(f).names
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            raise InquireError(f"{f} lacks column(s) {', '.join(missing)}: is it an INQUIRE-Rerank parquet file?")
        frames.append(pq.read_table(f, columns=[c for c in LABEL_COLUMNS if c in names]).to_pandas())
    df = pd.concat(frames, ignore_index=True)
    df["relevant"] = df["relevant"].astype(bool)
    df["position"] = df.groupby("query", sort=False).cumcount()
    return df


def iter_images(files: list[Path], wanted: set | None = None) -> Iterator[tuple[int, bytes]]:
    """Yield ``(inat24_image_id, encoded bytes)`` for each distinct image (only ``wanted`` ids if given)."""
    seen: set = set()
    for f in files:
        pf = pq.ParquetFile(f)
        for batch in pf.iter_batches(batch_size=64, columns=["inat24_image_id", "image"]):
            ids = batch.column(0).to_pylist()
            images = batch.column(1)
            for i, image_id in enumerate(ids):
                if image_id in seen or (wanted is not None and image_id not in wanted):
                    continue
                seen.add(image_id)
                value = images[i].as_py()
                yield image_id, value["bytes"] if isinstance(value, dict) else value
