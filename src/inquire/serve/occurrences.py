"""A query's labelled-relevant images as Darwin Core occurrences (CSV) and as GeoJSON (RFC 7946).

The images an ecologist judged relevant to a query ("a fox with mange") are records of that
organism, in that condition, at a place and a time: what GBIF and every biodiversity tool read as
Darwin Core occurrences. One image is one occurrence (several queries' exports of one image share
its ``occurrenceID``). Column names are Darwin Core terms of the TDWG occurrence core list; what
the metadata does not know is left empty, never made up:

* ``occurrenceID``: the metadata's own ``occurrenceID`` column if it has one, else
  ``urn:uuid:`` + a UUID 5 of (``datasetName``, image id), stable across exports, restarts and
  re-embeddings of the collection; ``catalogNumber`` is the image id, ``associatedMedia`` the image path;
* ``basisOfRecord`` MachineObservation, ``type`` StillImage, ``occurrenceStatus`` present;
* ``eventDate`` in ISO 8601 (``2018-05-13T09:12:00+00:00``; a date as given otherwise, and the text
  in ``verbatimEventDate`` when it cannot be read as one); coordinates in WGS84
  (``geodeticDatum`` EPSG:4326), with ``coordinateUncertaintyInMeters`` and elevation where known;
* ``scientificName`` where the metadata names one taxon (several, as Camtrap DP writes
  ``A | B``, go to ``identificationRemarks``), the iNat24 taxonomy columns, ``vernacularName``;
* ``occurrenceRemarks`` the query, ``identifiedBy`` who judged the image relevant (`` | `` between
  names, as Darwin Core recommends for lists).

The functions here are pure: they take the metadata and ``relevant`` (image id → the names of
those who judged it relevant; empty where unknown) and return text or a dict.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .database import SINGLE_USER
from .labels import LabelStore
from .metadata import NO_DAY, Metadata
from .present import clean_number, clean_text

#: The columns of the occurrence CSV, in order: Darwin Core terms (TDWG occurrence core list).
DWC_TERMS = [
    "occurrenceID", "catalogNumber", "basisOfRecord", "type", "occurrenceStatus", "datasetName",
    "eventDate", "verbatimEventDate",
    "decimalLatitude", "decimalLongitude", "geodeticDatum", "coordinateUncertaintyInMeters",
    "minimumElevationInMeters", "maximumElevationInMeters", "locationID", "locality",
    "scientificName", "vernacularName", "kingdom", "phylum", "class", "order", "family", "genus", "specificEpithet",
    "identifiedBy", "identificationRemarks", "recordedBy", "occurrenceRemarks", "associatedMedia",
    "license", "rightsHolder",
]
#: Namespace of the generated occurrence ids (a UUID 5 of the project's name).
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/inquire-benchmark/INQUIRE#occurrence")
_TAXONOMY = {"kingdom": "kingdom", "phylum": "phylum", "class": "class", "order": "order", "family": "family",
             "genus": "genus", "specific_epithet": "specificEpithet"}
_SCIENTIFIC = ("scientific_name", "name", "species", "inat24_species_name")
_ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")
_SEVERAL = " | "


@dataclass(frozen=True)
class Occurrences:
    """Darwin Core records of a query's relevant images in the collection, and what could not be exported."""

    query: str
    dataset: str
    records: list[dict[str, Any]]
    not_in_collection: list[str]  # image ids judged relevant that the collection does not hold


def relevant_judges(labels: LabelStore, query: str) -> dict[str, list[str]]:
    """Images whose consensus is relevant to ``query`` (the judgement shown on cards), in the order
    first judged, with the names of the people who judged them relevant.

    This is the one place where labels meet the map and the exports. Single-user mode's annotator
    (``local``) names nobody, so its images get no name: ``identifiedBy`` stays empty rather than
    saying "local".
    """
    return {
        c.image_id: [name for name in c.relevant_by if name != SINGLE_USER]
        for c in labels.consensus(query) if c.relevant
    }


def occurrences(meta: Metadata, relevant: dict[str, list[str]], query: str, dataset: str) -> Occurrences:
    """The Darwin Core record of each relevant image the collection holds, in row order."""
    found = meta.rows_of(list(relevant))
    rows = sorted(found.values())
    records = []
    for row, rec in zip(rows, meta.records(rows)):
        image_id = str(rec[meta.id_column])
        records.append(_record(meta, row, rec, relevant[image_id], query, dataset))
    return Occurrences(query, dataset, records, [i for i in relevant if i not in found])


def dwc_csv(occ: Occurrences) -> str:
    """The records as a Darwin Core occurrence CSV (UTF-8, a header of term names)."""
    return pd.DataFrame(occ.records, columns=DWC_TERMS).to_csv(index=False)


def geojson(occ: Occurrences) -> dict:
    """The records as an RFC 7946 FeatureCollection: a Point ``[longitude, latitude]`` per placed
    image, ``null`` geometry for an image without coordinates, every Darwin Core term as a property.
    The ``inquire`` member (a foreign member, as RFC 7946 allows) says what was exported and what not."""
    features = []
    for rec in occ.records:
        lat, lon = rec["decimalLatitude"], rec["decimalLongitude"]
        geometry = {"type": "Point", "coordinates": [lon, lat]} if lat is not None and lon is not None else None
        features.append({"type": "Feature", "id": rec["occurrenceID"], "geometry": geometry, "properties": rec})
    return {
        "type": "FeatureCollection",
        "features": features,
        "inquire": {
            "query": occ.query, "dataset": occ.dataset, "n_occurrences": len(features),
            "n_without_coordinates": sum(f["geometry"] is None for f in features),
            "n_not_in_collection": len(occ.not_in_collection),
        },
    }


def geojson_text(occ: Occurrences) -> str:
    """:func:`geojson` as UTF-8 JSON text (strict: no NaN can slip in as a bare token)."""
    return json.dumps(geojson(occ), ensure_ascii=False, allow_nan=False)


def _record(meta: Metadata, row: int, rec: dict, judges: list[str], query: str, dataset: str) -> dict[str, Any]:
    image_id = str(rec[meta.id_column])
    lat, lon = clean_number(rec, meta.latitude_column), clean_number(rec, meta.longitude_column)
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        lat = lon = None
    event_date, verbatim = _event_date(rec.get(meta.date_column), meta.day is not None and meta.day[row] != NO_DAY)
    names = clean_text(next((rec.get(c) for c in _SCIENTIFIC if clean_text(rec.get(c))), None))
    several = names is not None and _SEVERAL in names
    altitude = clean_number(rec, "altitude")
    uncertainty = clean_number(rec, "location_uncertainty")
    out = {
        "occurrenceID": clean_text(rec.get("occurrenceID")) or f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{dataset}/{image_id}')}",
        "catalogNumber": image_id,
        "basisOfRecord": "MachineObservation",
        "type": "StillImage",
        "occurrenceStatus": "present",
        "datasetName": dataset,
        "eventDate": event_date,
        "verbatimEventDate": verbatim,
        "decimalLatitude": lat,
        "decimalLongitude": lon,
        "geodeticDatum": "EPSG:4326" if lat is not None else None,
        "coordinateUncertaintyInMeters": uncertainty if lat is not None and uncertainty is not None and uncertainty > 0 else None,
        "minimumElevationInMeters": altitude,
        "maximumElevationInMeters": altitude,
        "locationID": clean_text(rec.get("location_id")),
        "locality": clean_text(rec.get("location_name")),
        "scientificName": None if several else names,
        "vernacularName": clean_text(rec.get("common_name")),
        **{term: clean_text(rec.get(column)) for column, term in _TAXONOMY.items()},
        "identifiedBy": _SEVERAL.join(judges) or None,
        "identificationRemarks": f"several taxa in the image: {names}" if several else None,
        "recordedBy": clean_text(rec.get("recorded_by")),
        "occurrenceRemarks": query,
        "associatedMedia": str(rec["image_path"]),
        "license": clean_text(rec.get("license")),
        "rightsHolder": clean_text(rec.get("rights_holder")),
    }
    return {term: out[term] for term in DWC_TERMS}


def _event_date(value: Any, readable: bool) -> tuple[str | None, str | None]:
    """(eventDate, verbatimEventDate): ISO 8601 where the text reads as one (``T`` between date and
    time), else the day the metadata read from it and the text as it was."""
    text = clean_text(value)
    if text is None:
        return None, None
    iso = text[:10] + "T" + text[11:] if len(text) > 10 and text[10] == " " else text
    if _ISO_8601.match(iso) and readable:
        return iso, None
    return (text[:10] if readable else None), text
