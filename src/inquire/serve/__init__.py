"""Search a collection by text, look at the photos with their observation details, label, export.

``inquire serve`` runs :func:`create_app` under uvicorn; ``inquire search`` uses the same
:class:`SearchEngine` for one query. Layers: :mod:`.metadata` (columnar metadata) and
:mod:`.filters` (metadata filters → the search's ``allowed`` mask), :mod:`.engine` (encode,
search, rerank), :mod:`.images` (files by row, cached thumbnails), :mod:`.labels` (SQLite),
:mod:`.export` (CSV and benchmark files), :mod:`.app` and :mod:`.routers` (HTTP).
"""

from .app import create_app
from .config import ServeConfig
from .engine import SearchEngine

__all__ = ["SearchEngine", "ServeConfig", "create_app"]
