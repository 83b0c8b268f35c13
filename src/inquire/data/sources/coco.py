"""COCO-style JSON collections (iNat24's ``train.json``, COCO Camera Traps), read and checked once.

Both list ``images`` (each with an ``id`` and a ``file_name`` relative to the JSON's folder),
``annotations`` (``image_id`` → ``category_id``) and ``categories``. Which of the two a file is
shows in its image fields: COCO Camera Traps images carry ``datetime``, ``location`` or
``seq_id`` (https://lila.science/coco-camera-traps), iNaturalist ones ``date`` and coordinates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...errors import InquireError

#: image fields only COCO Camera Traps defines
CAMERA_TRAP_FIELDS = ("datetime", "location", "seq_id")


def read_coco(path: Path) -> dict[str, Any]:
    """The parsed JSON, with every image checked to have an ``id`` and a unique ``file_name``."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InquireError(f"Could not read {path} as JSON ({exc}).") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise InquireError(
            f"{path} is not a COCO-style collection: it has no 'images' list "
            "(expected keys images, annotations, categories as in iNat2021's train.json or COCO Camera Traps)."
        )
    seen: set[str] = set()
    for i, im in enumerate(data["images"]):
        if not isinstance(im, dict) or "id" not in im or not isinstance(im.get("file_name"), str):
            raise InquireError(
                f"{path}: images[{i}] lacks an 'id' or a 'file_name' ({str(im)[:120]})."
            )
        if im["file_name"] in seen:
            raise InquireError(
                f"{path}: file_name {im['file_name']!r} is listed twice in 'images'; fix the JSON."
            )
        seen.add(im["file_name"])
    return data


def is_camera_traps(data: dict[str, Any]) -> bool:
    """Whether the images carry COCO Camera Traps fields (``datetime``, ``location``, ``seq_id``)."""
    return any(f in im for im in data["images"] for f in CAMERA_TRAP_FIELDS)


def categories_by_id(data: dict[str, Any]) -> dict[Any, dict]:
    return {c["id"]: c for c in data.get("categories") or [] if isinstance(c, dict) and "id" in c}


def annotations(data: dict[str, Any]) -> list[dict]:
    """The annotations that name an image, in file order."""
    return [a for a in data.get("annotations") or [] if isinstance(a, dict) and "image_id" in a]
