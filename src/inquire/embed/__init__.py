"""Embedding images in bulk: robust decoding (``decode``), the batch pipeline (``pipeline``), the
on-disk embedding cache (``cache``), and whole collections into the published layout
(``collection``: :func:`~inquire.embed.collection.embed_collection`, brought up to date by
``plan``, written by ``layout`` and ``writer``, optionally on Ray by ``ray_engine``). Submodules
are imported where needed so that a fully cached run never imports torch."""
