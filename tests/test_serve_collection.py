"""A small photo collection in the published embedding layout, for the search app's tests.

Real iNaturalist photos (read from the shared data folder, never copied into the repository)
and generated images are written under an images root in the iNat24 layout
(``train/<category>_<taxonomy>/<uuid>.jpg``; the real PNGs keep ``.png``), embedded with the
session's tiny open_clip model through :func:`inquire.models.create_embedder` (so text and image
embeddings share one space) and stored as three float16 shards with iNat24 metadata columns.
The tests of this module check the columnar metadata and filters against plain pandas.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import builders
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageDraw

# (prefix of the sample photos, taxonomy kingdom..epithet, common name, iconic group, (lat, lon))
REAL_TAXA = {
    "bower": ("Animalia Chordata Aves Passeriformes Ptilonorhynchidae Ptilonorhynchus violaceus", "Satin Bowerbird", "Birds", (-33.8, 151.0)),
    "cassava": ("Plantae Tracheophyta Magnoliopsida Malpighiales Euphorbiaceae Manihot esculenta", "Cassava", "Plants", (-1.3, 30.1)),
    "condor": ("Animalia Chordata Aves Accipitriformes Cathartidae Gymnogyps californianus", "California Condor", "Birds", (36.5, -121.2)),
    "distal": ("Animalia Chordata Aves Charadriiformes Scolopacidae Limnodromus griseus", "Short-billed Dowitcher", "Birds", (30.2, -81.4)),
    "hermit": ("Animalia Arthropoda Malacostraca Decapoda Coenobitidae Coenobita clypeatus", "Caribbean Hermit Crab", "Animalia", (18.3, -65.6)),
    "nest": ("Animalia Chordata Aves Passeriformes Icteridae Molothrus ater", "Brown-headed Cowbird", "Birds", (41.9, -87.6)),
    "swallowtail": ("Animalia Arthropoda Insecta Lepidoptera Papilionidae Papilio glaucus", "Eastern Tiger Swallowtail", "Insects", (39.0, -77.1)),
    "tamandua": ("Animalia Chordata Mammalia Pilosa Myrmecophagidae Tamandua tetradactyla", "Southern Tamandua", "Mammals", (-15.6, -50.2)),
}
GENERATED_TAXA = [
    ("Fungi Basidiomycota Agaricomycetes Agaricales Amanitaceae Amanita muscaria", "Fly Agaric", "Fungi"),
    ("Animalia Chordata Reptilia Testudines Testudinidae Gopherus agassizii", "Mojave Desert Tortoise", "Reptiles"),
    ("Animalia Chordata Amphibia Anura Ranidae Lithobates catesbeianus", "American Bullfrog", "Amphibians"),
    ("Animalia Arthropoda Insecta Lepidoptera Nymphalidae Danaus plexippus", "Monarch", "Insects"),
    ("Plantae Tracheophyta Magnoliopsida Fagales Fagaceae Quercus alba", "White Oak", "Plants"),
]
LEVELS = ["kingdom", "phylum", "class", "order", "family", "genus", "specific_epithet"]
LICENSES = ["CC BY-NC 4.0", "CC BY 4.0", "CC0 1.0", "CC BY-SA 4.0"]
HOLDERS = ["Mina Okafor", "J. Lindqvist", "naturewalker42", "Ana Lúcia Souza", "<b>K. O'Donnell</b>"]
# Sites (the metadata contract's location_id / location_name), cameras, and how each row writes its date.
SITES = [("SITE-01", "Ridge Trail"), ("SITE-02", "Mangrove Edge"), ("SITE-03", "Oak Savanna"), ("SITE-04", "Tidal Flat")]
CAMERAS = ["Reconyx HC600", "Browning BTC-8E", None]
SHARDS = (30, 30, 12)
N_GENERATED = sum(SHARDS) - 27


@dataclass(frozen=True)
class Collection:
    embeddings: Path
    images: Path
    model: str
    metadata: pd.DataFrame  # every row, in row order, as written


def _generated(rng: np.random.Generator) -> Image.Image:
    w, h = (int(v) for v in rng.integers(120, 260, size=2))
    img = Image.new("RGB", (w, h), tuple(int(c) for c in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(3):
        x0, y0 = int(rng.integers(0, w - 20)), int(rng.integers(0, h - 20))
        draw.ellipse([x0, y0, x0 + 20 + int(rng.integers(0, 80)), y0 + 20 + int(rng.integers(0, 80))],
                     fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    return img


def _record(rng: np.random.Generator, i: int, taxonomy: str, common: str, group: str, where: tuple[float, float] | None) -> dict:
    parts = taxonomy.split()
    category = 1000 + sum(map(ord, taxonomy)) % 9000
    day = dt.datetime(2010, 1, 1) + dt.timedelta(days=int(rng.integers(0, 14 * 365)), seconds=int(rng.integers(0, 86400)))
    lat, lon = where if where else (float(rng.uniform(-60, 70)), float(rng.uniform(-170, 170)))
    # three ways of writing a date: iNat24's UTC text, the contract's local time with its offset, a day alone
    date = [f"{day:%Y-%m-%d %H:%M:%S}+00:00", f"{day:%Y-%m-%dT%H:%M:%S}+02:00", f"{day:%Y-%m-%d}"][(i % 5) // 2]
    site = SITES[i % len(SITES)] if i % 9 != 8 else (None, None)
    rec = {
        "image_path": f"train/{category:05d}_{'_'.join(parts)}/{uuid.UUID(bytes=rng.bytes(16), version=4)}",
        "image_id": 100_000 + 7 * i,
        "license": LICENSES[i % len(LICENSES)],
        "rights_holder": HOLDERS[i % len(HOLDERS)],
        "date": date,
        "latitude": round(lat + float(rng.uniform(-0.5, 0.5)), 6),
        "longitude": round(lon + float(rng.uniform(-0.5, 0.5)), 6),
        "location_uncertainty": float(rng.choice([5.0, 31.0, 250.0, np.nan])),
        "category_id": category,
        **dict(zip(LEVELS, parts)),
        "name": f"{parts[-2]} {parts[-1]}",
        "common_name": common,
        "supercategory": group,
        "location_id": site[0],
        "location_name": site[1],
        "altitude": float(i * 37 % 2500) if i % 6 else np.nan,
        "camera_model": CAMERAS[i % len(CAMERAS)],
        "recorded_by": HOLDERS[(i + 2) % len(HOLDERS)] if i % 4 else None,
        "is_burst": i % 4 == 0,
    }
    return rec


def build_collection(root: Path, model: str, seed: int = 0) -> Collection:
    """Write the images, embed them and store the embedding folder; see the module docstring."""
    from inquire.data.decode import decode_image
    from inquire.models import create_embedder

    rng = np.random.default_rng(seed)
    images_root, out = root / "images", root / "embeddings"
    records, files = [], []
    for i, photo in enumerate(builders.sample_image_files()):
        taxonomy, common, group, where = REAL_TAXA[photo.stem.rsplit("_", 1)[0]]
        rec = _record(rng, i, taxonomy, common, group, where)
        ext = ".png" if photo.suffix.lower() == ".png" else ".jpg"
        target = images_root / (rec["image_path"] + ext)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(photo.read_bytes())
        records.append(rec)
        files.append(target)
    for j in range(N_GENERATED):
        taxonomy, common, group = GENERATED_TAXA[j % len(GENERATED_TAXA)]
        where = [(-17.8, 179.6), (-16.5, -179.7)][j % 2] if j < 4 else None  # around the antimeridian (Fiji)
        rec = _record(rng, len(records), taxonomy, common, group, where)
        target = images_root / (rec["image_path"] + ".jpg")
        target.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        _generated(rng).save(buf, format="JPEG", quality=85)
        target.write_bytes(buf.getvalue())
        records.append(rec)
        files.append(target)
    meta = pd.DataFrame(records)
    meta.loc[5, "date"] = None  # an observation without a date
    meta.loc[6, ["latitude", "longitude"]] = np.nan  # and one without coordinates (obscured)

    embedder = create_embedder(model, "cpu")
    import torch

    pixels = torch.stack([embedder.image_transform(decode_image(f)) for f in files])
    emb = embedder.encode_images(pixels).astype(np.float16)
    (out / "img_emb").mkdir(parents=True)
    (out / "metadata").mkdir()
    start = 0
    for s, n in enumerate(SHARDS):
        np.save(out / "img_emb" / f"img_emb_{s}.npy", emb[start : start + n])
        pq.write_table(pa.Table.from_pandas(meta.iloc[start : start + n], preserve_index=False), out / "metadata" / f"metadata_{s}.parquet")
        start += n
    return Collection(out, images_root, model, meta)


_BUILT: dict[str, Collection] = {}


@pytest.fixture(scope="session")
def serve_collection(tmp_path_factory, open_clip_spec) -> Collection:
    """The collection, built once per session (modules importing this fixture share it)."""
    if open_clip_spec not in _BUILT:
        _BUILT[open_clip_spec] = build_collection(tmp_path_factory.mktemp("serve-collection"), open_clip_spec)
    return _BUILT[open_clip_spec]


@pytest.fixture(scope="session")
def engine(serve_collection):
    """One search engine over the collection (model, images), shared by the app's and the CLI's tests."""
    from inquire.serve import SearchEngine, ServeConfig

    return SearchEngine(ServeConfig(embeddings=serve_collection.embeddings, model=serve_collection.model,
                                    images=serve_collection.images))


def ranked(engine, q: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[list[int], np.ndarray]:
    """Top k rows by dot product with the query vector ``q`` over every (allowed) row, ties by lower
    row, and their scores: the definition of the search."""
    emb = engine.folder.embeddings(np.arange(engine.n_images)).astype(np.float32)
    scores = emb @ q
    rows = np.arange(engine.n_images) if allowed is None else np.flatnonzero(allowed)
    order = rows[np.lexsort((rows, -scores[rows]))][:k]
    return order.tolist(), scores[order]


# ---------------------------------------------------------------------------- metadata and filters


@pytest.fixture(scope="module")
def meta(serve_collection):
    from inquire.data.embedding_folder import EmbeddingFolder
    from inquire.serve.metadata import Metadata

    folder = EmbeddingFolder(serve_collection.embeddings)
    return Metadata(pa.concat_tables([t for _, t in folder.iter_metadata()]))


def _expected(df: pd.DataFrame, **f) -> np.ndarray:
    """The filter semantics, spelled out row by row in pandas."""
    keep = pd.Series(True, index=df.index)
    if "iconic_group" in f:
        keep &= df["supercategory"].str.lower() == f["iconic_group"].lower()
    if "taxon" in f:
        cols = LEVELS + ["name", "common_name"]
        keep &= df[cols].apply(lambda r: f["taxon"].lower() in {str(v).lower() for v in r}, axis=1)
    day = pd.to_datetime(df["date"].str[:10], errors="coerce")
    if "date_from" in f:
        keep &= day >= pd.Timestamp(f["date_from"])
    if "date_to" in f:
        keep &= day <= pd.Timestamp(f["date_to"])
    lat, lon = df["latitude"], df["longitude"]
    if "lat_min" in f:
        keep &= lat >= f["lat_min"]
    if "lat_max" in f:
        keep &= lat <= f["lat_max"]
    if "lon_min" in f and "lon_max" in f and f["lon_min"] > f["lon_max"]:
        keep &= (lon >= f["lon_min"]) | (lon <= f["lon_max"])
    else:
        if "lon_min" in f:
            keep &= lon >= f["lon_min"]
        if "lon_max" in f:
            keep &= lon <= f["lon_max"]
    return keep.to_numpy()


@pytest.mark.parametrize("f", [
    {"iconic_group": "birds"},
    {"taxon": "Aves"},
    {"taxon": "coenobita clypeatus"},
    {"taxon": "Monarch"},
    {"date_from": dt.date(2015, 1, 1), "date_to": dt.date(2019, 12, 31)},
    {"date_to": dt.date(2012, 6, 30)},
    {"lat_min": 0.0, "lat_max": 50.0, "lon_min": -130.0, "lon_max": -60.0},
    {"lon_min": 170.0, "lon_max": -170.0},  # across the antimeridian
    {"iconic_group": "Insects", "date_from": dt.date(2011, 1, 1), "lat_min": -10.0},
])
def test_filters_match_rowwise_semantics(meta, serve_collection, f):
    from inquire.serve.filters import Filters, build_mask

    mask = build_mask(meta, Filters(**f))
    expected = _expected(serve_collection.metadata, **f)
    assert expected.any(), "each case should select something"
    np.testing.assert_array_equal(mask, expected)


def test_no_filter_is_no_mask_and_facets_count_groups(meta, serve_collection):
    from inquire.serve.filters import Filters, build_mask

    assert build_mask(meta, Filters()) is None
    facets = meta.facets()
    assert facets["iconic_groups"] == serve_collection.metadata["supercategory"].value_counts().to_dict()
    assert facets["n_images"] == sum(SHARDS) and facets["has_coordinates"]
    assert facets["date_range"][0] >= "2010-01-01"
    assert {"name": "Aves", "level": "class"} in meta.taxa("av")


def test_unknown_names_are_errors_with_suggestions(meta):
    from inquire.errors import InquireError
    from inquire.serve.filters import Filters, build_mask

    with pytest.raises(InquireError, match="Close names: Aves"):
        build_mask(meta, Filters(taxon="Avess"))
    with pytest.raises(InquireError, match="Unknown iconic group 'Brids'.*Birds"):
        build_mask(meta, Filters(iconic_group="Brids"))


def test_rows_of_ids_and_records(meta, serve_collection):
    df = serve_collection.metadata
    ids = [str(df.image_id[3]), str(df.image_id[70]), "no-such-id"]
    assert meta.rows_of(ids) == {ids[0]: 3, ids[1]: 70}
    rec = meta.records([70, 3])
    assert [r["image_path"] for r in rec] == [df.image_path[70], df.image_path[3]]
    assert json.dumps(meta.facets())  # plain JSON types only


def test_take_returns_any_rows_in_the_order_asked(meta, serve_collection):
    """Rows from every shard, shuffled and repeated, come back as those rows of the metadata, in that order."""
    df = serve_collection.metadata
    rows = np.random.default_rng(0).permutation(len(df)).tolist() + [71, 0, 71]
    taken = meta.take(rows).to_pandas()
    assert taken.image_path.tolist() == df.image_path.iloc[rows].tolist()
    assert taken.image_id.tolist() == df.image_id.iloc[rows].tolist()
    assert meta.take(rows[:5], ["image_id"]).column_names == ["image_id"]
    assert meta.take([]).num_rows == 0 and meta.records([]) == []
    assert meta.image_ids([5, 2]) == [str(df.image_id[5]), str(df.image_id[2])]
    with pytest.raises(IndexError):
        meta.take([len(df)])


def test_the_metadata_is_kept_as_an_arrow_copy_for_the_next_start(serve_collection, tmp_path, caplog):  # noqa: F811
    """The first start writes the copy; later starts map it; a changed folder or a damaged copy is read again."""
    import shutil

    from inquire.data.embedding_folder import EmbeddingFolder
    from inquire.serve.metadata import cache_file, load_table

    folder_path = tmp_path / "emb"
    shutil.copytree(serve_collection.embeddings, folder_path)
    folder = EmbeddingFolder(folder_path)
    cached = cache_file(folder)
    assert not cached.exists()
    first = load_table(folder)
    assert cached.is_file() and first.to_pandas().equals(folder.metadata())
    made = cached.stat().st_mtime_ns
    folder.iter_metadata = None  # a later start must not read the parquet files
    assert load_table(folder).equals(first) and cached.stat().st_mtime_ns == made
    del folder.iter_metadata
    damaged = cached.with_name("damaged")
    damaged.write_bytes(b"damaged")
    damaged.replace(cached)  # replaced, not rewritten in place: `first` still maps the old file
    assert load_table(folder).equals(first) and "ignoring the metadata cache" in caplog.text
    pq.write_table(pa.Table.from_pandas(serve_collection.metadata.iloc[:30].assign(license="CC0 1.0"), preserve_index=False),
                   folder_path / "metadata" / "metadata_0.parquet")
    changed = EmbeddingFolder(folder_path)
    assert changed.identity != cached.stem
    assert set(load_table(changed).column("license").to_pylist()[:30]) == {"CC0 1.0"}
    assert [p.name for p in cached.parent.iterdir()] == [cache_file(changed).name]  # the old copy is gone
