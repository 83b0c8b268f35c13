"""COCO Camera Traps: LILA's camera-trap collections, a JSON file beside (or above) the images.

Format: https://lila.science/coco-camera-traps (MegaDetector's ``data_management/README.md``).
Each image has ``id``, ``file_name`` (relative to the JSON's folder) and optionally ``datetime``
(``2022-12-31 09:52:50``; older sets vary), ``location`` (the camera site: an int in older sets,
a string now), ``seq_id``, ``seq_num_frames``, ``frame_num``, ``width``, ``height``,
``rights_holder``, ``corrupt`` and set-specific fields; each annotation gives an image a
``category_id`` (several per image are allowed: two species in a frame; sequence-level ones are
copied to each image of the sequence by the format itself).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..columns import joined, parse_column
from ..image_files import image_path_of
from .base import IMAGE_PATH, FilesUnderRoot, infer_column
from .coco import annotations, categories_by_id, read_coco

#: image field → canonical column; every other image field is kept under its own name
MAPPED = {"datetime": "date", "location": "location_id", "latitude": "latitude",
          "longitude": "longitude", "rights_holder": "rights_holder"}


class CocoCameraTrapsSource(FilesUnderRoot):
    """The images of a COCO Camera Traps JSON, in ``file_name`` order.

    Columns: ``image_path`` (``file_name`` without ``.jpg``), ``image_id``, ``date`` (from
    ``datetime``, normalised; the camera's local clock), ``location_id`` (from ``location``, as
    text), ``common_name`` (the distinct category names of the image's annotations, in
    annotation order, joined with `` | ``; ``empty`` where the set says so), ``latitude`` /
    ``longitude`` / ``rights_holder`` where images have them, then every other image field
    (``seq_id``, ``seq_num_frames``, ``frame_num``, ``width``, ``height``, ``corrupt`` …).
    """

    kind = "coco-ct"

    def __init__(self, json_path: Path, data: dict | None = None):
        self.json_path = json_path.resolve()
        self.root = self.json_path.parent
        data = read_coco(self.json_path) if data is None else data
        images = sorted(data["images"], key=lambda im: im["file_name"])
        self._files = pa.array([im["file_name"] for im in images], type=pa.string())
        names = _category_names(data)
        columns: dict[str, pa.Array] = {
            IMAGE_PATH: pa.array([image_path_of(im["file_name"]) for im in images], type=pa.string()),
            "image_id": infer_column([im["id"] for im in images]),
        }
        unreadable: dict[str, np.ndarray] = {}
        examples: dict[str, list[dict]] = {}
        fields = list(dict.fromkeys(k for im in images for k in im if k not in ("id", "file_name")))
        for field in fields:
            raw = [im.get(field) for im in images]
            target = MAPPED.get(field)
            if target is None:
                columns[field] = infer_column([_scalar(v) for v in raw])
                continue
            parsed = parse_column(target, raw, rows=[im["file_name"] for im in images])
            columns[target] = parsed.values
            if parsed.unreadable.any():
                unreadable[target] = parsed.unreadable
                examples[target] = [{**e, "field": field} for e in parsed.examples]
        columns["common_name"] = pa.array([names.get(im["id"]) for im in images], type=pa.string())
        self.table = pa.table(columns)
        self.unreadable, self.unreadable_examples = unreadable, examples
        self._n_unlabelled = sum(im["id"] not in names for im in images)

    def details(self) -> dict[str, Any]:
        return {"json": self.json_path.name, "n_without_annotation": self._n_unlabelled}


def _category_names(data: dict[str, Any]) -> dict[Any, str | None]:
    """Image id → its annotations' distinct category names, in annotation order, joined."""
    categories = categories_by_id(data)
    per_image: dict[Any, list] = {}
    for ann in annotations(data):
        name = categories.get(ann.get("category_id"), {}).get("name")
        if name is not None:
            per_image.setdefault(ann["image_id"], []).append(name)
    return {image: joined(names) for image, names in per_image.items()}


def _scalar(value: Any) -> Any:
    """Lists and objects (a bbox, a set's nested record) kept as their JSON-like text."""
    return str(value) if isinstance(value, (list, dict)) else value
