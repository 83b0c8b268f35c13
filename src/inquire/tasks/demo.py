"""``inquire demo DIR``: an offline try-out folder, built in seconds from the installed package alone.

It holds a small INQUIRE-Rerank set in the hub layout (real query texts from the packaged lists,
generated images, made-up labels), a randomly initialised open_clip model in open_clip's
``local-dir:`` format, and a leaderboard file of made-up "published" numbers for that model, so
that every command a user runs next (rerank, evaluate, report, reproduce) works without network.
The numbers it gives mean nothing; the point is that the commands, files and tables are real.
"""

from __future__ import annotations

import contextlib
import csv
import json
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain, zip_longest
from pathlib import Path

import numpy as np

from ..data import synthetic
from ..data.queries import queries_file
from ..data.rerank import HUB_SPLIT
from ..errors import InquireError

#: queries per split (100 candidates each, as published): small enough to embed in seconds on a CPU
DEMO_QUERIES = {"val": 4, "test": 8}
#: generated image size (W, H), about a tenth of an iNat24 photo's side
IMAGE_SIZE = (160, 120)
_MARKER = "README.txt"
_README = """Made by `inquire demo`: a synthetic try-out, not benchmark data.

rerank/         INQUIRE-Rerank layout (data/<split>-00000-of-00001.parquet): real query texts, generated
                images, made-up relevance labels
model/          a randomly initialised open_clip model (open_clip:local-dir:model)
published.csv   made-up "published" numbers for that model, in the format of inquire's leaderboard file
"""
_PUBLISHED = """# DEMO FILE written by `inquire demo`: made-up numbers in the format of inquire's published
# leaderboard (inquire/report/data/leaderboard.csv), so that `inquire reproduce` on the demo shows its whole
# table. They are not results of the INQUIRE paper or of any model. The Random row (23.0, as published) is
# computed exactly from the demo's labels by `inquire reproduce`.
"""
_PUBLISHED_ROW = {"task": "rerank", "method": "Demo random model (made-up numbers)", "kind": "demo", "size": "",
                  "overall": 24.0, "appearance": 23.0, "behavior": 25.0, "context": 26.0, "species": 22.0,
                  "source": "inquire demo"}
_RANDOM_ROW = {"task": "rerank", "method": "Random", "kind": "baseline", "overall": 23.0, "source": "inquire demo",
               "reproduce": "computed"}


@dataclass
class Demo:
    """What ``build_demo`` wrote, and the commands to run next (paths as the caller gave them)."""

    root: Path
    model: str
    data: Path
    published: Path
    n_queries: dict[str, int]
    seconds: float
    commands: list[str]


@contextlib.contextmanager
def seeded_torch(seed: int) -> Iterator[None]:
    """Run with torch's CPU random generator seeded; the caller's generator state is restored after."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def tiny_open_clip_config(*, image_size: int = 224, embed_dim: int = 32) -> dict:
    """A two-layer ViT CLIP in open_clip's model-config schema (like its ViT-B-32.json), a few MB of weights."""
    return {
        "embed_dim": embed_dim,
        "vision_cfg": {"image_size": image_size, "layers": 2, "width": 64, "head_width": 16, "patch_size": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 4, "layers": 2},
    }


def write_open_clip_folder(model, model_cfg: dict, out: Path) -> None:
    """Write ``model`` in open_clip's ``local-dir:`` (and hf-hub) layout.

    The layout of ``open_clip.push_to_hf_hub.save_for_hf``: ``open_clip_config.json`` holding
    ``{"model_cfg": ..., "preprocess_cfg": ...}`` (OpenAI CLIP normalisation, bicubic, shortest-side
    resize) and ``open_clip_model.safetensors``.
    """
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    preprocess_cfg = {"mean": list(OPENAI_DATASET_MEAN), "std": list(OPENAI_DATASET_STD),
                      "interpolation": "bicubic", "resize_mode": "shortest"}
    with open(out / "open_clip_config.json", "w", encoding="utf-8") as f:
        json.dump({"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg}, f, indent=2)
    weights = out / "open_clip_model.safetensors"
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(weights), metadata={"format": "pt"})
    weights.chmod(0o644)  # safetensors creates the file as 0600


def build_tiny_open_clip(out: str | Path, *, image_size: int = 224, embed_dim: int = 32, seed: int = 0) -> str:
    """A tiny random open_clip ViT CLIP in ``local-dir:`` format; returns ``"open_clip:local-dir:<abs dir>"``."""
    from open_clip.model import CLIP

    out = Path(out).expanduser().resolve()
    cfg = tiny_open_clip_config(image_size=image_size, embed_dim=embed_dim)
    with seeded_torch(seed):
        model = CLIP(**cfg)
    model.eval()
    write_open_clip_folder(model, cfg, out)
    return f"open_clip:local-dir:{out}"


def pick_queries(rows: list[dict], n: int) -> list[dict]:
    """``n`` queries taken in turn from each supercategory (list order within one), so every one is shown."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["supercategory"], []).append(row)
    turns = chain.from_iterable(zip_longest(*groups.values()))
    return [row for row in turns if row is not None][:n]


def build_demo(out: str | Path, *, seed: int = 0, n_queries: dict[str, int] = DEMO_QUERIES) -> Demo:
    """Write the demo folder ``out`` (new, empty, or an earlier demo) and return what it holds."""
    start = time.perf_counter()
    root = Path(out).expanduser()
    _check_target(root)
    spec = build_tiny_open_clip(root / "model", seed=seed)
    rng = np.random.default_rng(seed)
    pool = synthetic.ImagePool(rng, IMAGE_SIZE)
    for split, n in n_queries.items():
        queries = pick_queries(synthetic.query_rows(queries_file(split)), n)
        cands = synthetic.candidate_lists(queries, pool, 100)
        synthetic.write_split(root / "rerank" / "data" / f"{HUB_SPLIT[split]}-00000-of-00001.parquet",
                              synthetic.split_columns(queries, cands, pool))
    published = root / "published.csv"
    with open(published, "w", newline="", encoding="utf-8") as f:
        f.write(_PUBLISHED)
        writer = csv.DictWriter(f, [*_PUBLISHED_ROW, "model", "reproduce"])  # quoted as CSV: a folder name may hold a comma
        writer.writeheader()
        writer.writerows([{**_PUBLISHED_ROW, "model": spec}, _RANDOM_ROW])
    (root / _MARKER).write_text(_README, encoding="utf-8")
    return Demo(root, spec, root / "rerank", published, dict(n_queries), time.perf_counter() - start, next_commands(root))


def next_commands(root: Path) -> list[str]:
    """The commands that take a user through the demo: run, re-score, report, reproduce (paths shell-quoted)."""
    model = shlex.quote(f"open_clip:local-dir:{root / 'model'}")
    data, published = shlex.quote(str(root / "rerank")), shlex.quote(str(root / "published.csv"))
    run, rescored = shlex.quote(str(root / "runs" / "rerank-test")), shlex.quote(str(root / "runs" / "evaluate-test"))
    run_file = shlex.quote(str(root / "runs" / "rerank-test" / "run.parquet"))
    return [
        f"inquire rerank --model {model} --data {data} --split test --out {run}",
        f"inquire evaluate {run_file} --data {data} --split test --out {rescored}",
        f"inquire report {run} -o {shlex.quote(str(root / 'report.html'))}",
        f"inquire reproduce rerank --models {model} --data {data} --published {published} "
        f"--out {shlex.quote(str(root / 'reproduce'))}",
    ]


def _check_target(root: Path) -> None:
    """Refuse to write into a folder that holds anything but an earlier demo."""
    if root.exists() and not root.is_dir():
        raise InquireError(f"{root} is a file; give inquire demo a new or empty folder.")
    if root.is_dir() and any(root.iterdir()) and not (root / _MARKER).is_file():
        raise InquireError(
            f"{root} is not empty and holds no earlier demo ({_MARKER} made by inquire demo); "
            "give a new or empty folder so that nothing of yours is overwritten."
        )
