"""How a collection's ``image_path`` names an image file, both ways.

The rule depends on nothing but the file itself: ``image_path`` is the file's path relative to
the collection root (POSIX separators) with a trailing ``.jpg`` dropped, as in the published
iNat24 metadata and the INQUIRE annotations, and every other extension kept (``a.jpg`` → ``a``,
``a.png`` → ``a.png``, ``IMG_1.JPG`` → ``IMG_1.JPG``). So a row's name never changes because of
the files beside it, and the file is found again from the name alone.
"""

from __future__ import annotations

import glob
from functools import cache
from pathlib import Path

#: the extension the published layout leaves out of ``image_path``
DROPPED_EXTENSION = ".jpg"


def image_path_of(relative_file: str) -> str:
    """The ``image_path`` of a file, given its path relative to the collection root."""
    return relative_file.removesuffix(DROPPED_EXTENSION)


def find_image_file(root: Path, image_path: str, extensions: frozenset[str] | set[str] | None = None) -> Path | None:
    """The file an ``image_path`` names under ``root``, or None.

    ``ROOT/<image_path>`` if that file exists, else ``ROOT/<image_path>.jpg``; else, for metadata
    written by tools that drop other extensions too, the one file ``ROOT/<image_path>.<ext>`` whose
    extension is in ``extensions`` (lower case, with the dot; default: every format Pillow
    decodes); several such files are ambiguous and give None rather than a guess.
    """
    extensions = image_extensions() if extensions is None else extensions
    base = root / image_path
    for candidate in (base, base.with_name(base.name + DROPPED_EXTENSION)):
        if candidate.is_file():
            return candidate
    matches = [
        Path(p) for p in glob.glob(glob.escape(str(base)) + ".*")
        if Path(p).suffix.lower() in extensions and Path(p).is_file()
    ]
    return matches[0] if len(matches) == 1 else None


@cache
def image_extensions() -> frozenset[str]:
    """File extensions (lower case, with the dot) of every format Pillow can decode.

    Stub formats (HDF5, GRIB, BUFR, …) are left out: Pillow recognises them but cannot decode
    pixels, so a data file beside the photos is an ignored non-image rather than a failed image.
    """
    from PIL import Image, ImageFile

    Image.init()
    decodable = {
        fmt
        for fmt, (factory, _) in Image.OPEN.items()
        if not (isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile))
    }
    return frozenset(ext for ext, fmt in Image.registered_extensions().items() if fmt in decodable)
