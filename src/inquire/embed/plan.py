"""What a run of ``inquire embed`` must do to bring an output folder up to date with its source.

The folder's shards are its *base* (those of the last complete run) plus the shards this update
appends. Every source item is told apart by its ``image_path`` and classified against the base:

* *unchanged*: its stamp (size and modification time) is the one recorded, or only the stamp
  changed and the SHA-256 of its bytes is the recorded one (a copied or touched file);
* *changed*: its bytes differ (or it was skipped and its stamp changed: it is tried again);
* *removed*: a base item the source no longer has;
* *new*: a source item no base shard holds.

Base shards that lose items (or whose items were re-stamped) are rewritten without embedding
anything: the kept rows are copied, so their embeddings stay bit-identical. Changed and new
items, in source order, are cut into blocks of the shard size and appended as new shards. For a
first run the base is empty and the blocks are the source's, as they always were.

The plan is a function of the folder and the source alone, and each step leaves the folder in a
state for which the plan is the rest of the same plan: a rewritten base shard no longer holds
what it lost, and an appended shard counts as done only if it holds exactly its block. So a run
killed at any point and run again finishes the same update and writes the same files.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain

import numpy as np

from ..data.decode import payload_sha256
from ..data.sources import IMAGE_PATH, ImageSource
from ..errors import InquireError
from .layout import StoredShard

#: threads reading files whose stamp changed, to compare their digests
HASH_THREADS = 8


@dataclass(frozen=True)
class Kept:
    """A base item that stays: its source position now, its row in the stored embeddings (-1 when
    it was skipped) and its row in the stored items file."""

    position: int
    row: int
    item: int


@dataclass
class Plan:
    n_shards: int
    #: base shards that lose or re-stamp items → what they keep
    rewrite: dict[int, list[Kept]] = field(default_factory=dict)
    #: base shards whose metadata may have changed (the source's or the sidecar's did) → all items
    refresh: dict[int, list[Kept]] = field(default_factory=dict)
    #: shards to embed → their source items, in order
    todo: dict[int, np.ndarray] = field(default_factory=dict)
    #: shards beyond the plan (an interrupted update of a larger source), to delete
    stale: list[int] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def idle(self) -> bool:
        return not (self.rewrite or self.refresh or self.todo or self.stale)


def make_plan(
    src: ImageSource,
    stamps: np.ndarray,
    stored: dict[int, StoredShard | None],
    n_base: int,
    shard_size: int,
    metadata_changed: bool,
) -> Plan:
    """The plan for ``src`` (with its items' ``stamps``) against the folder's ``stored`` shards
    (by number; None where a shard is incomplete), the first ``n_base`` of which are the base."""
    paths = src.table.column(IMAGE_PATH).to_pylist()
    position = {p: i for i, p in enumerate(paths)}
    if n_base and len(position) < len(paths):
        twice = [p for p, n in Counter(paths).items() if n > 1]
        raise InquireError(
            f"The source {src.root} names {len(twice)} image(s) twice (e.g. {twice[0]!r}); an embedding folder "
            "is brought up to date image by image_path, so rename them or embed into a new --out."
        )
    counts = Counter(unchanged=0, touched=0, changed=0, removed=0, new=0, damaged_shards=0)
    base = {k: stored.get(k) for k in range(n_base)}
    digests = _digests(src, _to_hash(base, position, stamps))
    plan = Plan(n_base)
    claimed: set[int] = set()
    changed: set[int] = set()
    for k, shard in base.items():
        if shard is None:
            counts["damaged_shards"] += 1
            plan.rewrite[k] = []
            continue
        kept, dirty = [], False
        items = shard.items.select(["image_path", "size", "mtime_ns", "sha256", "reason"]).to_pydict()
        row = 0
        for j, path in enumerate(items["image_path"]):
            embedded = items["reason"][j] is None
            here = row if embedded else -1
            row += embedded
            p = position.get(path)
            if p is None or p in claimed:
                counts["removed"] += 1
                dirty = True
                continue
            if stamps[p, 0] == items["size"][j] and stamps[p, 1] == items["mtime_ns"][j]:
                counts["unchanged"] += 1
            elif embedded and digests.get(p) == items["sha256"][j]:
                counts["touched"] += 1
                dirty = True
            else:
                counts["changed"] += 1
                changed.add(p)
                dirty = True
                continue
            claimed.add(p)
            kept.append(Kept(p, here, j))
        if dirty:
            plan.rewrite[k] = kept
        elif metadata_changed:
            plan.refresh[k] = kept
    rest = np.array([p for p in range(len(paths)) if p not in claimed], dtype=np.int64)
    counts["new"] = len(rest) - len(changed)
    blocks = [rest[s : s + shard_size] for s in range(0, len(rest), shard_size)]
    for j, block in enumerate(blocks):
        index = n_base + j
        if not _holds(stored.get(index), block, paths, stamps):
            plan.todo[index] = block
    plan.n_shards = n_base + len(blocks)
    plan.stale = sorted(k for k in stored if k >= plan.n_shards)
    plan.counts = dict(counts)
    return plan


def _to_hash(base: dict[int, StoredShard | None], position: dict[str, int], stamps: np.ndarray) -> list[int]:
    """Embedded base items still in the source whose stamp changed: their bytes decide."""
    out = []
    for shard in base.values():
        if shard is None:
            continue
        items = shard.items.select(["image_path", "size", "mtime_ns", "reason"]).to_pydict()
        for path, size, mtime, reason in zip(*items.values()):
            p = position.get(path)
            if reason is None and p is not None and (stamps[p, 0] != size or stamps[p, 1] != mtime):
                out.append(p)
    return out


def _digests(src: ImageSource, positions: list[int]) -> dict[int, bytes | None]:
    """The items' digests, each thread reading one stretch of them in source order (a table
    source then reads each row group once, not once per image)."""

    def stretch(part: list[int]) -> list[bytes | None]:
        return [None if (d := payload_sha256(payload)) is None else bytes.fromhex(d) for payload in src.payloads_of(part)]

    if not positions:
        return {}
    positions = sorted(positions)
    step = -(-len(positions) // HASH_THREADS)
    parts = [positions[i : i + step] for i in range(0, len(positions), step)]
    with ThreadPoolExecutor(HASH_THREADS) as pool:
        return dict(zip(positions, chain.from_iterable(pool.map(stretch, parts))))


def _holds(shard: StoredShard | None, block: np.ndarray, paths: list, stamps: np.ndarray) -> bool:
    """Whether a stored shard holds exactly ``block``'s items with their current stamps."""
    if shard is None or shard.items.num_rows != len(block):
        return False
    items = shard.items.select(["image_path", "size", "mtime_ns"]).to_pydict()
    return (
        items["image_path"] == [paths[p] for p in block]
        and np.array_equal(np.asarray(items["size"]), stamps[block, 0])
        and np.array_equal(np.asarray(items["mtime_ns"]), stamps[block, 1])
    )
