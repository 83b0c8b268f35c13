"""``inquire demo DIR``: the offline try-out (a small INQUIRE-Rerank set, a random model, what to run next)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import app, console


@app.command()
def demo(
    out: Annotated[Path, typer.Argument(help="Folder to create (new, empty, or an earlier demo).")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed builds the same files.")] = 0,
) -> None:
    """Build an offline try-out: a small INQUIRE-Rerank-layout set and a random model, then print the commands to run.

    No network and no extra package: real query texts from the packaged lists, generated images,
    made-up labels. The numbers it gives mean nothing; the commands and files are the real ones.
    """
    from ..tasks.demo import build_demo

    built = build_demo(out, seed=seed)
    counts = ", ".join(f"{n} {split}" for split, n in built.n_queries.items())
    console.print(f"Demo built in {built.seconds:.1f}s in {built.root}/:", highlight=False)
    console.print(f"  INQUIRE-Rerank layout: {built.data}/ ({counts} queries, 100 generated candidates each)", highlight=False)
    console.print(f"  random open_clip model: {built.model}", highlight=False)
    console.print(f"  made-up 'published' numbers for it: {built.published}", highlight=False)
    console.print("Next, run (no network needed):", highlight=False)
    for command in built.commands:
        console.print(f"  {command}", highlight=False, soft_wrap=True)
