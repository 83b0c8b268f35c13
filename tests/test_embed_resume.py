"""kill -9 at random points, then resume: the output equals an uninterrupted run, byte for byte."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import embed_builders as eb

from inquire.embed.collection import embed_collection

SHARD, BATCH, KILLS = 4, 2, 3


def _committed(out) -> int:
    folder = out / "metadata"
    return len(list(folder.glob("metadata_*.parquet"))) if folder.is_dir() else 0


def _files(out) -> dict:
    return {
        p.relative_to(out): p.read_bytes()
        for p in out.rglob("*")
        if p.suffix in (".npy", ".parquet")
    }


def test_kill_9_and_resume_equals_an_uninterrupted_run(open_clip_spec, tmp_path):
    seed = int(os.environ.get("INQUIRE_KILL_SEED", random.randrange(10**6)))
    rng = random.Random(seed)
    source = eb.image_folder(tmp_path / "images", 24, real=2)  # 36 items: 9 shards
    expected = embed_collection(
        source,
        open_clip_spec,
        tmp_path / "uninterrupted",
        shard_size=SHARD,
        batch_size=BATCH,
        workers=1,
        progress=False,
    )
    out = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "inquire.cli",
        "embed",
        str(source),
        "--model",
        open_clip_spec,
        "--out",
        str(out),
        "--shard-size",
        str(SHARD),
        "--batch-size",
        str(BATCH),
        "--workers",
        "1",
    ]
    kills = []
    for _ in range(KILLS):
        killed = _run_and_kill(command, out, _committed(out) + rng.choice([1, 2]), rng, tmp_path)
        if killed is None:  # it finished first: nothing left to interrupt
            break
        kills.append(killed)
    assert kills, f"no run was killed (seed {seed})"
    resumed = embed_collection(
        source, open_clip_spec, out, shard_size=SHARD, batch_size=BATCH, workers=1, progress=False
    )
    written = resumed["runs"][-1]["shards_written"] if resumed["runs"] else 0
    print(f"seed {seed}: killed with {kills} shards committed; the resume wrote {written}")
    assert _files(out) == _files(tmp_path / "uninterrupted"), f"seed {seed}, kills at {kills}"
    assert not list(out.rglob("*.tmp"))
    for key in ("n_items", "n_rows", "n_skipped", "skipped", "n_shards", "model", "shard_size"):
        assert resumed[key] == expected[key], key


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _run_and_kill(command, out, target: int, rng: random.Random, tmp_path) -> int | None:
    """Start the command, kill -9 it a random instant after ``target`` shards are committed;
    the number committed at the kill, or None if it finished first."""
    with open(tmp_path / "stderr.txt", "w+") as log:  # a file: a full pipe would block the run
        proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True
        )
        deadline = time.monotonic() + 120
        while proc.poll() is None and _committed(out) < target and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.4))
        if proc.poll() is not None:
            log.seek(0)
            assert proc.returncode == 0, log.read()
            return None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        _kill_group(proc.pid)  # its orphaned decoding workers would exit soon anyway
        return _committed(out)
