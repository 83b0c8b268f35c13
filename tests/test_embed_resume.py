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


def test_kill_9_during_an_update_and_resume_equals_an_uninterrupted_update(open_clip_spec, tmp_path):
    """The same for a folder brought up to date with a grown source: removals rewrite shards, new
    images append shards, and any kill leaves a state from which the same update finishes."""
    import shutil

    import builders
    import numpy as np

    seed = int(os.environ.get("INQUIRE_KILL_SEED", random.randrange(10**6)))
    rng = random.Random(seed)
    source = eb.image_folder(tmp_path / "images", 16, real=0, bad=False)
    settings = dict(shard_size=SHARD, batch_size=BATCH, workers=1, progress=False)
    embed_collection(source, open_clip_spec, tmp_path / "before", **settings)
    for rel in ("g0/0000.jpg", "g1/0009.jpg"):
        (source / rel).unlink()
    pixels = np.random.default_rng(seed)
    for i in range(10):
        (source / "g3").mkdir(exist_ok=True)
        (source / "g3" / f"{i:04d}.jpg").write_bytes(builders.generated_jpeg(pixels, (40, 40)))
    shutil.copytree(tmp_path / "before", tmp_path / "uninterrupted")
    shutil.copytree(tmp_path / "before", tmp_path / "killed")
    expected = embed_collection(source, open_clip_spec, tmp_path / "uninterrupted", **settings)
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "inquire.cli", "embed", str(source), "--model", open_clip_spec,
               "--out", str(out), "--batch-size", str(BATCH), "--workers", "1"]
    started = time.time_ns()

    def commits(out) -> int:  # rewritten shards replace their files, appended ones add files
        return sum(p.stat().st_mtime_ns > started for p in (out / "metadata").glob("metadata_*.parquet"))

    killed = _run_and_kill(command, out, rng.choice([1, 2]), rng, tmp_path, progress=commits)
    assert killed is not None, f"the update was not killed (seed {seed})"
    resumed = embed_collection(source, open_clip_spec, out, **settings)
    print(f"seed {seed}: killed after {killed} of 5 shard commits (2 rewritten, 3 appended)")
    assert _files(out) == _files(tmp_path / "uninterrupted"), f"seed {seed}, killed at {killed}"
    assert not list(out.rglob("*.tmp"))
    assert resumed["update"] == expected["update"] == {
        "new": 10, "changed": 0, "removed": 2, "unchanged": 14, "touched": 0, "damaged_shards": 0}
    for key in ("n_items", "n_rows", "n_shards", "skipped", "metadata"):
        assert resumed[key] == expected[key], key


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _run_and_kill(command, out, target: int, rng: random.Random, tmp_path, progress=_committed) -> int | None:
    """Start the command, kill -9 it a random instant after ``progress(out)`` (default: shards
    committed) reaches ``target``; the progress at the kill, or None if it finished first."""
    with open(tmp_path / "stderr.txt", "w+") as log:  # a file: a full pipe would block the run
        proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True
        )
        deadline = time.monotonic() + 120
        while proc.poll() is None and progress(out) < target and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.4))
        if proc.poll() is not None:
            log.seek(0)
            assert proc.returncode == 0, log.read()
            return None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        _kill_group(proc.pid)  # its orphaned decoding workers would exit soon anyway
        return progress(out)
