"""Search over embedding folders: exact (streamed, memory-mapped) and approximate (FAISS).

Both return ``(scores, rows)``: per query, float32 scores in descending order and the int64 global
row ids of the folder, ties ordered by lower row id, so results are reproducible and comparable.
"""

from .exact import exact_search
from .faiss_index import KINDS, FaissIndex, build_index, load_index
from .topk import recall_at_k

__all__ = ["KINDS", "FaissIndex", "build_index", "exact_search", "load_index", "recall_at_k"]
