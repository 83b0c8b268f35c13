"""inquire: expert-level text-to-image retrieval over natural-world photographs.

The toolkit around the INQUIRE benchmark (NeurIPS 2024 Datasets and Benchmarks): data loaders,
model backends, an embedding pipeline, search, rerankers and the official metrics.

The public Python API (docs/api.md) is reached from here: ``inquire.evaluate_rerank``,
``evaluate_fullrank``, ``evaluate_run``, ``embed``, ``search``, ``create_embedder`` and
``create_scorer``. They live in :mod:`inquire.api` and load on first use (PEP 562), so
``import inquire`` imports no deep-learning library.
"""

import types

from . import embed
from .provenance import package_version

__version__ = package_version()

#: the names :mod:`inquire.api` exports, resolved on first access (``embed`` is the subpackage, callable)
_API = ("create_embedder", "create_scorer", "evaluate_fullrank", "evaluate_rerank", "evaluate_run", "search")

__all__ = ["__version__", "embed", *_API]


class _CallableSubpackage(types.ModuleType):
    """``inquire.embed`` is the embedding subpackage (``inquire.embed.collection`` …) and, called,
    :func:`inquire.api.embed`: the name keeps meaning one object, whichever import came first."""

    def __call__(self, *args, **kwargs):
        """``inquire.embed(source, model, out_dir, ...)``: see :func:`inquire.api.embed`."""
        from .api import embed as embed_collection

        return embed_collection(*args, **kwargs)


embed.__class__ = _CallableSubpackage


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'inquire' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
