"""What recording place and time, and keeping a collection up to date, cost `inquire embed`.

Run from the repository root:

    python benchmarks/bench_metadata.py [--rounds 15] [--images 600]

Part 1, per image, on the 27 shared photos re-encoded with a camera's EXIF (date, offset, GPS,
make, model), the fastest of ``--rounds`` passes over all of them (the least disturbed by other work on the
machine), page cache warm:
  baseline   decode_image(path): what the decoding step did before (Pillow opens, decodes, rotates)
  +exif      decode_photo(path): the same, plus the EXIF read from the image object already
             open and the SHA-256 of the bytes (what `inquire embed` now does in its workers)
  +reopen    decode_image(path) and a second Image.open(path) that reads only the header's EXIF
             (the alternative: a separate pass over the files)
Part 2 embeds ``--images`` small JPEGs with a tiny open_clip model (shard size 100), then re-runs
`inquire embed` after 1% of the files were added and 1% removed (only those are embedded), and
once more with nothing changed (the files are stat'ed and the items files read; no model).
Ratios are against the first, full run of the same process.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def camera_photos(folder: Path) -> list[Path]:
    import builders
    import embed_builders as eb

    folder.mkdir(parents=True, exist_ok=True)
    exif = eb.exif_block(when="2021:05:31 08:25:38", offset="+02:00", lat=("N", (51.0, 29.0, 46.0)),
                         lon=("E", (4.0, 46.0, 26.0)), alt=(0, 12.5), make="RECONYX", model="HF2 PRO COVERT")
    paths = []
    for photo in builders.sample_image_files():
        path = folder / f"{photo.stem}.jpg"
        path.write_bytes(eb.photo_with_exif(photo, exif))
        paths.append(path)
    return paths


def per_image_ms(fn, paths: list[Path], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for p in paths:
            fn(p)
        times.append((time.perf_counter() - start) / len(paths) * 1e3)
    return min(times)


def part1(rounds: int) -> None:
    from PIL import Image

    from inquire.data.decode import decode_image, decode_photo
    from inquire.data.exif import read_exif

    with tempfile.TemporaryDirectory() as tmp:
        paths = camera_photos(Path(tmp))
        assert all(decode_photo(p).exif.get("latitude") for p in paths)

        def reopen(p: Path) -> None:
            decode_image(p)
            with Image.open(p) as im:
                read_exif(im)

        for p in paths:  # warm the page cache
            p.read_bytes()
        def parse(p: Path) -> None:
            with Image.open(p) as im:
                read_exif(im)

        base = per_image_ms(decode_image, paths, rounds)
        exif = per_image_ms(decode_photo, paths, rounds)
        again = per_image_ms(reopen, paths, rounds)
        alone = per_image_ms(parse, paths, rounds)
    print(f"part 1: {len(paths)} photos (375-500 px JPEGs with camera EXIF), fastest of {rounds} rounds, ms per image")
    print(f"  baseline  decode_image                        {base:7.3f}   1.00x")
    print(f"  +exif     decode_photo (EXIF from same open)  {exif:7.3f}   {exif / base:.2f}x")
    print(f"  +reopen   decode_image + header-only reopen   {again:7.3f}   {again / base:.2f}x")
    print(f"  (a header-only open and EXIF read alone:    {alone:7.3f})")


def part2(n: int) -> None:
    import builders
    import embed_builders as eb

    from inquire.embed.collection import embed_collection

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec = builders.build_open_clip_model(tmp / "model")
        source = eb.image_folder(tmp / "images", n, real=0, bad=False)
        settings = dict(shard_size=100, batch_size=32, workers=1, progress=False)

        def timed() -> tuple[float, dict]:
            start = time.perf_counter()
            manifest = embed_collection(source, spec, tmp / "out", **settings)
            return time.perf_counter() - start, manifest

        full, _ = timed()
        rng = np.random.default_rng(0)
        changed = max(1, n // 100)
        for i in range(changed):
            (source / "new").mkdir(exist_ok=True)
            (source / "new" / f"{i:05d}.jpg").write_bytes(builders.generated_jpeg(rng, (48, 40)))
        for p in sorted(source.rglob("*.jpg"))[:changed]:
            p.unlink()
        grow, manifest = timed()
        assert manifest["runs"][-1]["items"] == changed
        idle, _ = timed()
        shutil.rmtree(tmp / "out")
    print(f"part 2: {n} JPEGs, tiny open_clip model, shard size 100")
    for label, seconds in (("full embed", full), (f"update: {changed} added, {changed} removed", grow),
                           ("re-run, nothing changed", idle)):
        print(f"  {label:<40} {seconds:7.2f} s   {seconds / full:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--images", type=int, default=600)
    args = parser.parse_args()
    part1(args.rounds)
    part2(args.images)


if __name__ == "__main__":
    main()
