"""Small JPEG thumbnails as data URIs, so a report is one file that opens offline.

Images come from where each task keeps them: the INQUIRE-Rerank parquet files (by iNat24 id,
streamed, only the wanted ids decoded) or an image folder (Fullrank and custom collections:
``ROOT/<image_path>``, or that path plus ``.jpg``: the published metadata gives image paths
without the extension the files have). An image that cannot be read gets no thumbnail and is counted, so the
report can say how many are missing and why.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from pathlib import Path

from ..data import rerank as rerank_data
from ..data.decode import DecodeError, decode_image
from ..data.image_files import find_image_file

#: Longest side of a thumbnail in pixels; about 4 KB per image at this size and quality.
THUMB_SIZE = 128
JPEG_QUALITY = 70


def thumbnail_uri(payload: bytes | Path, size: int = THUMB_SIZE) -> str:
    """A ``data:image/jpeg;base64,...`` thumbnail of an encoded image or file; raises DecodeError."""
    img = decode_image(payload)
    img.thumbnail((size, size))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def rerank_thumbnails(data_dir: Path, split: str, image_ids: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Thumbnails of INQUIRE-Rerank images by iNat24 id (as text), and the failed ids with reasons."""
    wanted = {int(i) for i in image_ids}
    out: dict[str, str] = {}
    failed: dict[str, str] = {}
    for image_id, payload in rerank_data.iter_images(rerank_data.rerank_files(split, data_dir), wanted):
        try:
            out[str(image_id)] = thumbnail_uri(payload)
        except DecodeError as exc:
            failed[str(image_id)] = str(exc)
    for image_id in wanted - {int(i) for i in out} - {int(i) for i in failed}:
        failed[str(image_id)] = f"not in the {split} files of {data_dir}"
    return out, failed


def folder_thumbnails(root: Path, image_paths: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Thumbnails of images under ``root`` by their image_path, and the failed paths with reasons."""
    out: dict[str, str] = {}
    failed: dict[str, str] = {}
    for image_path in set(image_paths):
        path = find_image_file(root, image_path)
        if path is None:
            failed[image_path] = f"file not found ({root / image_path}, with .jpg or any image extension)"
            continue
        try:
            out[image_path] = thumbnail_uri(path)
        except DecodeError as exc:
            failed[image_path] = f"{exc} ({path})"
    return out, failed
