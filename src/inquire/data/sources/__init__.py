"""Image collections the embedding job reads: :func:`open_source` picks the reader.

======================  ==========================================================  ===========
format                  SOURCE                                                      image_path
======================  ==========================================================  ===========
``inat``                folder with ``train.json`` (or the JSON file itself)        file_name, ``.jpg`` dropped
``webdataset``          ``x.tar``, a folder of tar shards, ``s-{0000..0099}.tar``   sample key
``table``               ``x.parquet``, a folder of parquet files (hub snapshot),    own ``image_path`` column, else
                        or a ``datasets.save_to_disk`` folder                       ``<file stem>/<row>``
``camtrap-dp``          folder with a Camtrap DP 1.x ``datapackage.json``           media filePath, ``.jpg`` dropped
``coco-ct``             COCO Camera Traps ``.json`` (images with datetime,          file_name, ``.jpg`` dropped
                        location or seq_id)
``folder``              any other folder: image files, recursively                  relative path, ``.jpg`` dropped
======================  ==========================================================  ===========

The naming rule (:mod:`inquire.data.image_files`) drops only ``.jpg``, as the published layout
does, and keeps any other extension, so a file's ``image_path`` never depends on its neighbours.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import InquireError
from .base import IMAGE_PATH, ImageSource
from .camtrap_dp import PACKAGE_FILE, CamtrapDPSource, camtrap_version
from .coco import is_camera_traps, read_coco
from .coco_ct import CocoCameraTrapsSource
from .folder import FolderSource
from .inat import INatSource
from .table import TableSource, find_table_files
from .webdataset import WebDatasetSource, find_shards

FORMATS = ("auto", "folder", "inat", "coco-ct", "camtrap-dp", "webdataset", "table")

__all__ = [
    "FORMATS",
    "IMAGE_PATH",
    "CamtrapDPSource",
    "CocoCameraTrapsSource",
    "FolderSource",
    "INatSource",
    "ImageSource",
    "TableSource",
    "WebDatasetSource",
    "open_source",
]


def open_source(
    source: str | Path | ImageSource, fmt: str = "auto", image_column: str | None = None
) -> ImageSource:
    """Open ``source`` as the given format, or the one its shape implies (``auto``)."""
    if isinstance(source, ImageSource):
        return source
    if fmt not in FORMATS:
        raise InquireError(f"Unknown source format {fmt!r}: use one of {', '.join(FORMATS)}.")
    text = str(source)
    path = Path(text).expanduser()
    auto = fmt == "auto"
    if auto:
        fmt = _detect(text, path)
    elif "{" not in text and not path.exists():
        raise InquireError(f"The source {path} does not exist.")
    if fmt in ("inat", "coco-ct"):
        json_path = path / "train.json" if path.is_dir() else path
        if not json_path.is_file():
            raise InquireError(
                f"{path} has no train.json: the iNat layout needs the COCO-style JSON beside the train/ folder."
                if fmt == "inat" else f"{path}: give the COCO Camera Traps .json file itself."
            )
        data = read_coco(json_path)
        if fmt == "coco-ct" or (auto and is_camera_traps(data)):
            return CocoCameraTrapsSource(json_path, data)
        return INatSource(json_path, data)
    if fmt == "camtrap-dp":
        if not (path / PACKAGE_FILE).is_file():
            raise InquireError(f"{path} has no {PACKAGE_FILE}: a Camtrap DP package is the folder that holds it.")
        return CamtrapDPSource(path)
    if fmt == "webdataset":
        shards, root = find_shards(str(path))
        if not shards:
            raise InquireError(f"No .tar shards under {path}.")
        return WebDatasetSource(shards, root)
    if fmt == "table":
        files = find_table_files(path)
        if not files:
            raise InquireError(f"No parquet files (or save_to_disk Arrow files) under {path}.")
        return TableSource(files, path.parent if path.is_file() else path, image_column)
    return FolderSource(path)


def _detect(text: str, path: Path) -> str:
    if "{" in text and ".." in text:
        return "webdataset"
    if not path.exists():
        raise InquireError(f"The source {path} does not exist.")
    if path.is_file():
        name = path.name.lower()
        if name.endswith(".json"):
            return "inat"  # or COCO Camera Traps: told apart by its image fields once read
        if name.endswith((".tar", ".tar.gz", ".tgz")):
            return "webdataset"
        if name.endswith((".parquet", ".arrow")):
            return "table"
        raise InquireError(
            f"{path} is a file of no known source format: give a folder of images, an iNat train.json, "
            "a COCO Camera Traps .json, a .tar shard or a .parquet file (or set --format)."
        )
    if (path / "train.json").is_file():
        return "inat"
    if camtrap_version(path) is not None:
        return "camtrap-dp"
    if (path / "state.json").is_file() or _any(path, "*.parquet"):
        return "table"
    if _any(path, "*.tar"):
        return "webdataset"
    return "folder"


def _any(path: Path, pattern: str) -> bool:
    """Whether ``pattern`` matches in ``path`` or one level below (hub snapshots keep files in data/)."""
    return any(path.glob(pattern)) or any(path.glob(f"*/{pattern}"))
