"""Synthetic INQUIRE-Rerank sets in the published layout, from generated images.

``inquire demo`` builds its offline try-out set here, and the test fixtures build theirs from the
same rows (adding real photos and writing through ``datasets`` as an independent check of the
layout). Everything is deterministic given the random generator, and only runtime dependencies
are used: pyarrow writes the parquet with the ``huggingface`` schema metadata that
``datasets.load_dataset("parquet", ...)`` reads the features from, exactly as the hub files carry it.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .rerank import COLUMNS

#: made-up iNat24-style taxa (species id, directory taxonomy) per iconic group
TAXA: dict[str, list[tuple[int, str]]] = {
    "Birds": [
        (3112, "Animalia_Chordata_Aves_Passeriformes_Icteridae_Sturnella_magna"),
        (3374, "Animalia_Chordata_Aves_Galliformes_Phasianidae_Lyrurus_tetrix"),
        (3650, "Animalia_Chordata_Aves_Sphenisciformes_Spheniscidae_Spheniscus_demersus"),
    ],
    "Insects": [
        (1588, "Animalia_Arthropoda_Insecta_Odonata_Aeshnidae_Anax_junius"),
        (2011, "Animalia_Arthropoda_Insecta_Lepidoptera_Nymphalidae_Danaus_plexippus"),
    ],
    "Reptiles": [
        (4710, "Animalia_Chordata_Reptilia_Testudines_Testudinidae_Gopherus_agassizii"),
        (4822, "Animalia_Chordata_Reptilia_Squamata_Iguanidae_Iguana_iguana"),
    ],
    "Mammals": [
        (4402, "Animalia_Chordata_Mammalia_Carnivora_Herpestidae_Suricata_suricatta"),
        (4455, "Animalia_Chordata_Mammalia_Rodentia_Sciuridae_Sciurus_carolinensis"),
    ],
    "Fungi": [(5120, "Fungi_Basidiomycota_Agaricomycetes_Agaricales_Amanitaceae_Amanita_muscaria")],
    "Plants": [
        (6801, "Plantae_Tracheophyta_Magnoliopsida_Asterales_Asteraceae_Helianthus_annuus"),
        (7912, "Plantae_Tracheophyta_Liliopsida_Asparagales_Orchidaceae_Ophrys_apifera"),
    ],
    "Arachnids": [(703, "Animalia_Arthropoda_Arachnida_Araneae_Araneidae_Argiope_aurantia")],
    "Mollusks": [(1002, "Animalia_Mollusca_Gastropoda_Stylommatophora_Helicidae_Cornu_aspersum")],
    "Fish": [(2960, "Animalia_Chordata_Actinopterygii_Perciformes_Pomacentridae_Amphiprion_ocellaris")],
    "Amphibians": [(2540, "Animalia_Chordata_Amphibia_Anura_Ranidae_Lithobates_catesbeianus")],
    "Animalia": [(655, "Animalia_Cnidaria_Anthozoa_Actiniaria_Actiniidae_Anthopleura_elegantissima")],
}
ALL_TAXA = [t for group in TAXA.values() for t in group]
LICENSES = ["CC BY-NC 4.0"] * 6 + ["CC BY 4.0", "CC0 1.0", "CC BY-SA 4.0", "CC BY-NC-SA 4.0"]
RIGHTS_HOLDERS = [
    "Alex Rivera", "Mina Okafor", "J. Lindqvist", "Priya Natarajan", "tomas_birds",
    "Chen Wei", "naturewalker42", "Sofia Marquez", "K. O'Donnell", "Ana Lúcia Souza",
]
#: the ``datasets`` dtype of every published column but ``image`` (an Image feature: struct of bytes and path)
DTYPES: dict[str, str] = {
    "query": "string", "relevant": "int64", "clip_score": "float64", "inat24_image_id": "int64",
    "inat24_file_name": "string", "supercategory": "string", "category": "string", "iconic_group": "string",
    "inat24_species_id": "int64", "inat24_species_name": "string", "latitude": "float64", "longitude": "float64",
    "location_uncertainty": "float64", "date": "string", "license": "string", "rights_holder": "string",
}
_QUERY_INFO = ("supercategory", "category", "iconic_group")
_IMAGE_INFO = [c for c in COLUMNS if c not in ("image", "query", "relevant", "clip_score", *_QUERY_INFO)]
_IMAGE_TYPE = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])
#: the hub files keep each query's 100 candidates in one row group
ROW_GROUP_SIZE = 100


def query_rows(path: str | Path) -> list[dict]:
    """Rows of a query list CSV, values verbatim (the published stray spaces kept; empty group → None).

    The hub set carries the texts as the lists spell them, so a synthetic set must too.
    """
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r.pop("", None)  # the unnamed pandas index column of the published files
        r["query_id"] = int(r["query_id"])
        r["iconic_group"] = r["iconic_group"] or None
    return rows


def generated_jpeg(rng: np.random.Generator, size: tuple[int, int]) -> bytes:
    """A random colour field with a few shapes, as JPEG bytes; ``size`` is (W, H)."""
    from PIL import Image, ImageDraw

    w, h = size
    c0, c1 = rng.integers(0, 256, size=(2, 3))
    t = np.linspace(0.0, 1.0, w if rng.random() < 0.5 else h)
    grad = (c0[None, :] * (1 - t[:, None]) + c1[None, :] * t[:, None]).astype(np.uint8)
    arr = np.empty((h, w, 3), dtype=np.uint8)
    arr[:] = grad[None, :, :] if len(t) == w else grad[:, None, :]
    arr = np.clip(arr.astype(np.int16) + rng.integers(-12, 13, size=arr.shape), 0, 255)
    im = Image.fromarray(arr.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(im)
    for _ in range(int(rng.integers(1, 5))):
        x0, x1 = sorted(rng.integers(0, w, size=2).tolist())
        y0, y1 = sorted(rng.integers(0, h, size=2).tolist())
        fill = tuple(int(v) for v in rng.integers(0, 256, size=3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x1 + 4, y1 + 4], fill=fill)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


class ImagePool:
    """Distinct images with their fixed iNat24-style metadata; each gets a unique image id.

    An image that is a candidate of two queries is one pool entry, so it keeps one id and one
    set of metadata, as in the published set.
    """

    def __init__(self, rng: np.random.Generator, gen_size: tuple[int, int]):
        self.rng = rng
        self.gen_size = gen_size
        self.records: list[dict] = []
        self._used_ids: set[int] = set()

    def _new_id(self) -> int:
        while True:
            i = int(self.rng.integers(100_000, 5_000_000))
            if i not in self._used_ids:
                self._used_ids.add(i)
                return i

    def _meta(self, taxon: tuple[int, str]) -> dict:
        rng = self.rng
        species_id, taxonomy = taxon
        parts = taxonomy.split("_")
        ts = np.datetime64("2010-01-01T00:00:00") + np.timedelta64(int(rng.integers(0, 14 * 365 * 24 * 3600)), "s")
        unc = float(rng.choice([3.0, 5.0, 10.0, 15.0, 31.0, 65.0, 250.0, 1873.0]))
        return {
            "inat24_image_id": self._new_id(),
            "inat24_file_name": f"train/{species_id:05d}_{taxonomy}/{uuid.UUID(bytes=rng.bytes(16), version=4)}.jpg",
            "inat24_species_id": species_id,
            "inat24_species_name": f"{parts[-2]} {parts[-1]}",
            "latitude": float(np.round(rng.uniform(-45.0, 65.0), 6)),
            "longitude": float(np.round(rng.uniform(-160.0, 170.0), 6)),
            "location_uncertainty": float("nan") if rng.random() < 0.15 else unc,
            "date": str(ts).replace("T", " ") + "+00:00",
            "license": str(rng.choice(LICENSES)),
            "rights_holder": str(rng.choice(RIGHTS_HOLDERS)),
        }

    def add(self, jpeg: bytes, taxon: tuple[int, str]) -> int:
        """Add an image of ``taxon``; returns its index in :attr:`records`."""
        self.records.append({"bytes": jpeg, **self._meta(taxon)})
        return len(self.records) - 1

    def add_generated(self, iconic_group: str | None) -> int:
        """Add a generated image of a taxon of ``iconic_group`` (any taxon for an unknown group)."""
        taxa = TAXA.get(iconic_group or "", ALL_TAXA)
        taxon = taxa[int(self.rng.integers(0, len(taxa)))]
        w, h = self.gen_size
        size = (w, h) if self.rng.random() < 0.75 else (h, w)  # some portrait images
        return self.add(generated_jpeg(self.rng, size), taxon)


def candidate_lists(queries: Sequence[dict], pool: ImagePool, n_candidates: int, spread: Sequence[int] = ()) -> list[list[int]]:
    """Each query's ``n_candidates`` pool images, shuffled.

    ``spread`` (pool indices) are dealt round-robin over the queries, at most half of a query's
    list each; query pairs (0, 1) and (2, 3) share two images, as published queries share
    candidates; generated images fill the rest.
    """
    n_queries = len(queries)
    cands: list[list[int]] = [[] for _ in queries]
    for j, img in enumerate(spread):
        if len(cands[j % n_queries]) < n_candidates // 2:
            cands[j % n_queries].append(img)
    for a in range(0, min(n_queries - 1, 4), 2):
        for _ in range(min(2, n_candidates // 2)):
            img = pool.add_generated(queries[a]["iconic_group"])
            cands[a].append(img)
            cands[a + 1].append(img)
    for q, query in enumerate(queries):
        while len(cands[q]) < n_candidates:
            cands[q].append(pool.add_generated(query["iconic_group"]))
        cands[q] = [cands[q][i] for i in pool.rng.permutation(len(cands[q]))]
    return cands


def split_columns(queries: Sequence[dict], cands: list[list[int]], pool: ImagePool) -> dict[str, list]:
    """The split's rows as published columns: each query's candidates contiguous, by ``clip_score`` descending.

    Every query has between 1 and n - 1 relevant candidates, skewed towards high CLIP scores as
    in the published set (whose candidates came from a CLIP retriever).
    """
    rng = pool.rng
    cols: dict[str, list] = {c: [] for c in COLUMNS}
    for q, query in enumerate(queries):
        n = len(cands[q])
        scores = np.sort(rng.uniform(0.12, 0.36, size=n))[::-1]
        n_rel = int(rng.integers(1, max(1, min(n - 1, n // 2)) + 1))
        w = np.linspace(2.0, 0.5, n)
        relevant = np.zeros(n, dtype=np.int64)
        relevant[rng.choice(n, size=n_rel, replace=False, p=w / w.sum())] = 1
        for pos, img in enumerate(cands[q]):
            rec = pool.records[img]
            cols["image"].append({"bytes": rec["bytes"], "path": None})
            cols["query"].append(query["query_text"])
            cols["relevant"].append(int(relevant[pos]))
            cols["clip_score"].append(float(scores[pos]))
            for key in _QUERY_INFO:
                cols[key].append(query[key])
            for key in _IMAGE_INFO:
                cols[key].append(rec[key])
    return cols


def hf_features() -> dict:
    """The ``datasets`` features of the published set, as its parquet schema metadata spells them."""
    return {"image": {"_type": "Image"}, **{c: {"dtype": DTYPES[c], "_type": "Value"} for c in COLUMNS[1:]}}


def write_split(path: str | Path, columns: dict[str, list]) -> Path:
    """Write one split's columns as a hub-layout parquet file (types, order and ``huggingface`` metadata)."""
    schema = pa.schema(
        [pa.field("image", _IMAGE_TYPE), *(pa.field(c, pa.type_for_alias(DTYPES[c])) for c in COLUMNS[1:])],
        metadata={"huggingface": json.dumps({"info": {"features": hf_features()}})},
    )
    table = pa.Table.from_pydict({c: columns[c] for c in COLUMNS}, schema=schema)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=ROW_GROUP_SIZE)
    return path
