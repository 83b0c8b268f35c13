"""What a server (or one ``inquire search``) is started with."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

from ..errors import InquireError
from ..paths import slug

#: Host names (without port) under which a browser reaches a server bound to loopback.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ServeConfig:
    """Settings of a search server.

    ``rerankers`` are the reranker specs clients may ask for: each loads a model, so the
    operator decides which, not the client. ``allowed_hosts`` guards a loopback-bound server
    against DNS rebinding (a web page elsewhere making the browser talk to it under another
    name); None accepts any Host header. ``public``: others can reach the server (bound off
    loopback, or published by a reverse proxy), so every request needs an account, even before
    the first one exists (:mod:`.auth`). ``label_rate``: label writes per minute per account
    (0: no limit; single-user mode has none).
    """

    embeddings: Path
    model: Any  # a spec, or a model object (from Python); None: the model named in the folder's manifest.json
    images: Path | None = None
    index: Path | None = None
    device: str | None = None
    labels: Path | None = None
    rerankers: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] | None = None
    #: "auto": query texts through ONNX Runtime on CPU where it gives the same embeddings; "torch": never
    text_runtime: str = "auto"
    public: bool = False
    label_rate: int = 240
    #: A map tile URL template ({z}/{x}/{y}, optionally {s}) for online use; None: the bundled world outline only
    tiles: str | None = None
    tiles_attribution: str | None = None
    #: The collection's name in Darwin Core exports (datasetName; occurrence ids derive from it); None: the folder's name
    dataset: str | None = None

    def __post_init__(self) -> None:
        if self.tiles is not None:
            tile_origin(self.tiles)  # refused at start, not when the first page loads

    def dataset_name(self) -> str:
        """The collection's ``datasetName``: as given, else its embedding folder's name."""
        return self.dataset or self.embeddings.resolve().name

    def labels_path(self) -> Path:
        """The labels database: ``labels`` if given, else one per embedding folder in the user data dir.

        Labels are work, not cache: they live under the user's data directory, not the cache
        that a user may clear.
        """
        if self.labels is not None:
            return self.labels
        folder = self.embeddings.resolve()
        digest = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
        return Path(platformdirs.user_data_dir("inquire")) / "labels" / f"{slug(folder.name)}-{digest}.sqlite"


_HOST = re.compile(r"^(\{s\}\.)?[A-Za-z0-9.-]+(:\d+)?$")


def tile_origin(template: str) -> str:
    """The origin a tile URL template loads images from, as a Content-Security-Policy source
    (``https://{s}.tile.example.org/{z}/{x}/{y}.png`` → ``https://*.tile.example.org``); a template
    that is not an http(s) URL with ``{z}``, ``{x}`` and ``{y}`` is an error."""
    parts = urlsplit(template)
    if parts.scheme not in ("http", "https") or not _HOST.match(parts.netloc) or not all(f"{{{c}}}" in template for c in "zxy"):
        raise InquireError(
            f"--tiles {template!r}: give an http(s) tile URL template with {{z}}, {{x}} and {{y}} "
            "(and optionally {s} for subdomains), e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png"
        )
    return f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"
