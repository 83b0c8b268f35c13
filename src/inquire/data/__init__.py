"""Data sources and formats: the official query lists, INQUIRE-Rerank, annotations, embedding folders."""
