"""The iNat24 / iNaturalist-competition layout: image folders described by a COCO-style ``train.json``.

The JSON lists ``images`` (id, file_name, width, height, license, rights_holder, date, latitude,
longitude, location_uncertainty), ``annotations`` (image_id → category_id) and ``categories``
(the taxonomy). It defines the collection: its images are embedded, in ``file_name`` order, and
their metadata travels into the output, so search results can be filtered by taxon, place or date.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from ..image_files import image_path_of
from .base import IMAGE_PATH, FilesUnderRoot, infer_column
from .coco import annotations, categories_by_id, read_coco

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

    def __init__(self, json_path: Path, data: dict | None = None):
        self.json_path = json_path.resolve()
        self.root = self.json_path.parent
        data = read_coco(self.json_path) if data is None else data
        categories = categories_by_id(data)
        category_of: dict[Any, Any] = {}
        for ann in annotations(data):
            category_of.setdefault(ann["image_id"], ann.get("category_id"))
        images = sorted(data["images"], key=lambda im: im["file_name"])
        self._files = pa.array([im["file_name"] for im in images], type=pa.string())
        columns: dict[str, pa.Array] = {
            IMAGE_PATH: pa.array(
                [image_path_of(im["file_name"]) for im in images], type=pa.string()
            ),
            "image_id": infer_column([im["id"] for im in images]),
        }
        for field in IMAGE_FIELDS:
            columns[field] = infer_column([im.get(field) for im in images])
        category_ids = [category_of.get(im["id"]) for im in images]
        columns["category_id"] = infer_column(category_ids)
        fields = list(dict.fromkeys(k for c in categories.values() for k in c if k != "id"))
        for field in fields:
            name = "category_name" if field == "name" else field
            columns[name] = infer_column([categories.get(c, {}).get(field) for c in category_ids])
        self.table = pa.table(columns)
        self._n_unlabelled = sum(c is None for c in category_ids)

    def details(self) -> dict[str, Any]:
        return {"json": self.json_path.name, "n_without_category": self._n_unlabelled}
