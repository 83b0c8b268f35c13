"""What a result was made with, for the records every output keeps (summary.json, manifest.json).

A number is only reproducible if its record says which software and which inputs produced it:
library versions, and for each input file or folder where it came from and a checksum.
"""

from __future__ import annotations

import hashlib
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

#: the distribution this package is installed as (the import name is ``inquire``)
DISTRIBUTION = "inquire-toolkit"
_LIBRARIES = [DISTRIBUTION, "numpy", "pandas", "pyarrow", "torch", "open_clip_torch", "transformers"]


def package_version() -> str:
    """This package's installed version (``inquire --version``, ``inquire.__version__``, the web app's)."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def library_versions(*extra: str) -> dict[str, str]:
    """Python's and the installed libraries' versions (the core set plus ``extra``)."""
    out = {"python": platform.python_version()}
    for name in (*_LIBRARIES, *extra):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_record(path: str | Path, **extra: object) -> dict:
    """Where an input file was read from and its checksum (plus ``extra`` facts), for summary.json."""
    path = Path(path).resolve()
    return {"path": str(path), "sha256": file_sha256(path), **extra}
