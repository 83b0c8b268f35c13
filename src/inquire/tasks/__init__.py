"""Benchmark tasks: INQUIRE-Rerank, scoring of external runs, and their shared outputs."""
