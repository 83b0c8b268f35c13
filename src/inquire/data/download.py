"""Fetching published files once and keeping them in the user's cache.

Downloads go to a temporary name and are renamed into place, so an interrupted download never
leaves a half file that a later run would trust.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import InquireError
from ..paths import cache_root

TIMEOUT_S = 30


def cached_download(url: str, subdir: str, *, what: str, local_flag: str) -> Path:
    """Return a cached copy of ``url``, downloading it on first use.

    ``what`` names the file for messages and ``local_flag`` the command-line option that uses a
    local copy instead, so an offline user is told exactly how to proceed.
    """
    target = cache_root() / subdir / url.rsplit("/", 1)[-1]
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(tmp, "wb") as fh:
            while chunk := response.read(1 << 20):
                fh.write(chunk)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        tmp.unlink(missing_ok=True)
        raise InquireError(
            f"Could not download {what} from {url} ({exc}).\n"
            f"Without network, download it elsewhere and pass the local copy with {local_flag} FILE."
        ) from None
    tmp.replace(target)
    return target
