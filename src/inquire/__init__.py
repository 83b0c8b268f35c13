"""inquire: expert-level text-to-image retrieval over natural-world photographs.

The toolkit around the INQUIRE benchmark (NeurIPS 2024 Datasets and Benchmarks): data loaders,
model backends, an embedding pipeline, search, rerankers and the official metrics.
"""

from importlib.metadata import PackageNotFoundError, version

from .provenance import DISTRIBUTION

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
