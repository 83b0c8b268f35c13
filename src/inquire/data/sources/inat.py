"""The iNat24 / iNaturalist-competition layout: image folders described by a COCO-style ``train.json``.

The JSON lists ``images`` (id, file_name, width, height, license, rights_holder, date, latitude,
longitude, location_uncertainty), ``annotations`` (image_id → category_id) and ``categories``
(the taxonomy). It defines the collection: its images are embedded, in ``file_name`` order, and
their metadata travels into the output, so search results can be filtered by taxon, place or date.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from ...errors import InquireError
from ..image_files import image_path_of
from .base import IMAGE_PATH, FilesUnderRoot, infer_column

#: image fields copied into the output (``id`` becomes ``image_id``), in this order
IMAGE_FIELDS = [
    "width",
    "height",
    "license",
    "rights_holder",
    "date",
    "latitude",
    "longitude",
    "location_uncertainty",
]


class INatSource(FilesUnderRoot):
    """Images named by ``json_path`` (files relative to its folder).

    ``image_path`` is ``file_name`` with its ``.jpg`` dropped (:mod:`inquire.data.image_files`),
    as in the published iNat24 embedding metadata and the INQUIRE annotations. Columns: image_id, the image fields above, category_id,
    then every category field (``name`` renamed ``category_name``; kingdom … genus, supercategory,
    …). An image with several annotations takes the category of its first one (iNat has one each).
    """

    kind = "inat"

    def __init__(self, json_path: Path):
        self.json_path = json_path.resolve()
        self.root = self.json_path.parent
        images, categories = _read(self.json_path)
        images.sort(key=lambda im: im["file_name"])
        self._files = pa.array([im["file_name"] for im in images], type=pa.string())
        columns: dict[str, pa.Array] = {
            IMAGE_PATH: pa.array(
                [image_path_of(im["file_name"]) for im in images], type=pa.string()
            ),
            "image_id": infer_column([im["id"] for im in images]),
        }
        for field in IMAGE_FIELDS:
            columns[field] = infer_column([im.get(field) for im in images])
        category_ids = [im.get("category_id") for im in images]
        columns["category_id"] = infer_column(category_ids)
        fields = list(dict.fromkeys(k for c in categories.values() for k in c if k != "id"))
        for field in fields:
            name = "category_name" if field == "name" else field
            columns[name] = infer_column([categories.get(c, {}).get(field) for c in category_ids])
        self.table = pa.table(columns)
        self._n_unlabelled = sum(c is None for c in category_ids)

    def details(self) -> dict[str, Any]:
        return {"json": self.json_path.name, "n_without_category": self._n_unlabelled}


def _read(path: Path) -> tuple[list[dict], dict[Any, dict]]:
    """Images (each with its ``category_id`` added) and categories by id, validated."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InquireError(f"Could not read {path} as JSON ({exc}).") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise InquireError(
            f"{path} is not in the iNaturalist COCO-style format: it has no 'images' list "
            "(expected keys images, annotations, categories as in iNat2021's train.json)."
        )
    images = data["images"]
    for i, im in enumerate(images):
        if not isinstance(im, dict) or "id" not in im or not isinstance(im.get("file_name"), str):
            raise InquireError(
                f"{path}: images[{i}] lacks an 'id' or a 'file_name' ({str(im)[:120]})."
            )
    seen: set[str] = set()
    for im in images:
        if im["file_name"] in seen:
            raise InquireError(
                f"{path}: file_name {im['file_name']!r} is listed twice in 'images'; fix the JSON."
            )
        seen.add(im["file_name"])
    category_of: dict[Any, Any] = {}
    for ann in data.get("annotations") or []:
        if isinstance(ann, dict) and "image_id" in ann:
            category_of.setdefault(ann["image_id"], ann.get("category_id"))
    for im in images:
        im["category_id"] = category_of.get(im["id"])
    categories = {
        c["id"]: c for c in data.get("categories") or [] if isinstance(c, dict) and "id" in c
    }
    return images, categories
