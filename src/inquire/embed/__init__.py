"""Embedding images in bulk: robust decoding (``decode``), the batch pipeline (``pipeline``) and
the on-disk embedding cache (``cache``). Submodules are imported where needed so that a fully
cached run never imports torch."""
