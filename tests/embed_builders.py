"""Image collections for the embedding tests: generated photos, real ones, and every kind of bad file.

Real photos are read from ``../shared/data/sample-images`` (never copied into the repository);
generated ones come from :func:`builders.generated_jpeg`. Each bad file is made in its real
on-disk format: a truncated JPEG is a real JPEG cut short, a decompression bomb a PNG whose
header declares 400 megapixels, a 16-bit scan a real 16-bit PNG.
"""

from __future__ import annotations

import io
import json
import struct
import tarfile
import zlib
from pathlib import Path

import builders
import numpy as np
from PIL import Image

#: bad files that must be skipped, with the start of the reason recorded for each
SKIPPED = {
    "zero.jpg": "empty file",
    "truncated.jpg": "corrupt or truncated image",
    "corrupt.jpg": "corrupt or truncated image",
    "notanimage.jpg": "not an image",
    "bomb.png": "decompression bomb",
}
#: unusual files that must be converted and kept
CONVERTED = ["cmyk.jpg", "gray16.png", "palette.png", "alpha.png", "rotated.jpg"]


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_with_header(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` RGB pixels (with no pixel data)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + tag
            + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def rotated_jpeg() -> bytes:
    """A 60x30 JPEG (red left half) whose EXIF orientation 6 says: rotate 90° clockwise to view."""
    arr = np.zeros((30, 60, 3), dtype=np.uint8)
    arr[:, :30] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(Image.fromarray(arr), "JPEG", exif=exif.tobytes(), quality=95)


def bad_files() -> dict[str, bytes]:
    """File name → bytes for every case of :data:`SKIPPED` and :data:`CONVERTED`."""
    good = builders.generated_jpeg(np.random.default_rng(1), (64, 48))
    gray16 = Image.fromarray(np.linspace(0, 65535, 32 * 48).reshape(32, 48).astype(np.uint16))
    palette = Image.new("P", (40, 30), 0)
    palette.putpalette([0, 0, 0] + [0, 200, 0] * 255)
    palette.paste(1, (20, 0, 40, 30))
    alpha = Image.new("RGBA", (40, 30), (200, 20, 20, 0))
    return {
        "zero.jpg": b"",
        "truncated.jpg": good[: len(good) // 2],
        "corrupt.jpg": good[:20]
        + bytes(np.random.default_rng(2).integers(0, 256, 600, dtype=np.uint8)),
        "notanimage.jpg": b"this is a text file with a .jpg name\n",
        "bomb.png": png_with_header(20_000, 20_000),
        "cmyk.jpg": encode(Image.new("CMYK", (40, 30), (0, 255, 255, 0)), "JPEG"),
        "gray16.png": encode(gray16, "PNG"),
        "palette.png": encode(palette, "PNG", transparency=0),
        "alpha.png": encode(alpha, "PNG"),
        "rotated.jpg": rotated_jpeg(),
    }


def image_folder(
    root: Path, n_generated: int, *, seed: int = 0, real: int = 4, bad: bool = True
) -> Path:
    """``root`` with generated JPEGs in two subfolders, ``real`` sample photos, the bad files and a
    non-image ``notes.txt``."""
    rng = np.random.default_rng(seed)
    for i in range(n_generated):
        path = root / f"g{i % 2}" / f"{i:04d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(builders.generated_jpeg(rng, (48, 40) if i % 3 else (40, 56)))
    (root / "real").mkdir(parents=True, exist_ok=True)
    for p in builders.sample_image_files()[:real]:
        (root / "real" / p.name).write_bytes(p.read_bytes())
    if bad:
        (root / "bad").mkdir(exist_ok=True)
        for name, data in bad_files().items():
            (root / "bad" / name).write_bytes(data)
        (root / "notes.txt").write_text("not part of the collection\n")
    return root


#: category records of the iNat layout: real taxonomy of two of the sample photos' species
CATEGORIES = [
    {
        "id": 3177,
        "name": "Gymnogyps californianus",
        "common_name": "California Condor",
        "supercategory": "Birds",
        "kingdom": "Animalia",
        "phylum": "Chordata",
        "class": "Aves",
        "order": "Accipitriformes",
        "family": "Cathartidae",
        "genus": "Gymnogyps",
        "specific_epithet": "californianus",
        "image_dir_name": "03177_Animalia_Chordata_Aves_Accipitriformes_Cathartidae_Gymnogyps_californianus",
    },
    {
        "id": 7230,
        "name": "Manihot esculenta",
        "common_name": "cassava",
        "supercategory": "Plants",
        "kingdom": "Plantae",
        "phylum": "Tracheophyta",
        "class": "Magnoliopsida",
        "order": "Malpighiales",
        "family": "Euphorbiaceae",
        "genus": "Manihot",
        "specific_epithet": "esculenta",
        "image_dir_name": "07230_Plantae_Tracheophyta_Magnoliopsida_Malpighiales_Euphorbiaceae_Manihot_esculenta",
    },
]


def inat_layout(root: Path, n_per_category: int = 3, *, missing_file: bool = True) -> Path:
    """An iNat24-layout folder: ``train/<category dir>/<uuid>.jpg`` and a COCO-style ``train.json``
    listing them in shuffled order (one listed image has no file when ``missing_file``)."""
    rng = np.random.default_rng(7)
    images, annotations = [], []
    image_id = 100
    for c, cat in enumerate(CATEGORIES):
        for k in range(n_per_category):
            name = f"{rng.integers(0, 16**8):08x}-{k}"
            file_name = f"train/{cat['image_dir_name']}/{name}.jpg"
            if not (missing_file and c == 0 and k == 0):
                path = root / file_name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(builders.generated_jpeg(rng, (50, 40)))
            images.append(
                {
                    "id": image_id,
                    "width": 50,
                    "height": 40,
                    "file_name": file_name,
                    "license": 1 + k % 3,
                    "rights_holder": f"observer {k}",
                    "date": f"2019-0{k + 1}-1{c} 10:00:00+00:00",
                    "latitude": 30.5 + k,
                    "longitude": -110.25 - c,
                    "location_uncertainty": None if k == 1 else 10 * (k + 1),
                }
            )
            annotations.append({"id": image_id, "image_id": image_id, "category_id": cat["id"]})
            image_id += 1
    order = rng.permutation(len(images))
    data = {
        "info": {"description": "test iNat layout"},
        "images": [images[i] for i in order],
        "annotations": annotations,
        "categories": CATEGORIES,
        "licenses": [{"id": i, "name": f"license {i}"} for i in (1, 2, 3)],
    }
    (root / "train.json").write_text(json.dumps(data))
    return root


def add_tar_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
