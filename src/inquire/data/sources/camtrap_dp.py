"""Camtrap DP 1.x packages (TDWG's Camera Trap Data Package, https://camtrap-dp.tdwg.org) as a source.

A package is a folder with ``datapackage.json`` (its ``profile`` names the Camtrap DP profile and
version) and three CSV resources: ``deployments`` (where and how a camera stood), ``media`` (one
row per file: ``filePath`` relative to the package or a URL, ``timestamp``, ``deploymentID``,
``fileMediatype``) and ``observations`` (what was seen). Read here:

* every ``image/*`` media row is an item, in ``filePath`` order; video and audio rows are counted
  (``media_not_images``), not embedded. A row whose file is a URL, or a path that leaves the
  package, is an item that is skipped with that reason, like a missing file: counted and listed
  in the manifest, never a crash.
* ``date`` ← ``media.timestamp`` (normalised; the local clock time with its offset);
  ``latitude``, ``longitude``, ``location_uncertainty`` (``coordinateUncertainty``),
  ``location_id``, ``location_name``, ``camera_model`` (``cameraModel``) ← the media's deployment.
* ``scientific_name`` ← the distinct ``scientificName`` values of the observations of the media,
  in observation order, joined with `` | ``: media-level observations by ``mediaID``, and
  event-level ones by deployment and time window (``eventStart`` ≤ timestamp ≤ ``eventEnd``,
  compared as instants, so ``Z`` and ``+02:00`` agree), since the spec links event observations
  to media only that way. ``observation_type`` likewise (``animal``, ``blank``, …).
* ``license`` ← the package licence of scope ``media``; ``rights_holder`` ← the contributors
  with role ``rightsHolder``. ``recorded_by`` stays empty: ``setupBy`` set up the camera, it
  did not record the animal.
* kept as they are: ``media_id``, ``deployment_id``, ``capture_method``, ``file_name``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pyarrow as pa

from ...errors import InquireError
from ..columns import BadValue, Parsed, joined, normalize_date, parse_column
from ..decode import Payload, Unavailable
from ..image_files import image_path_of
from ..tables import column_values, read_table
from .base import IMAGE_PATH, FilesUnderRoot

PACKAGE_FILE = "datapackage.json"
#: canonical column → the deployments field it comes from
DEPLOYMENT_COLUMNS = {
    "latitude": "latitude",
    "longitude": "longitude",
    "location_uncertainty": "coordinateUncertainty",
    "location_id": "locationID",
    "location_name": "locationName",
    "camera_model": "cameraModel",
}
PROFILE = re.compile(r"camtrap-dp/([0-9][0-9.]*[0-9])(?:-[a-z0-9.]+)?/camtrap-dp-profile\.json")
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def camtrap_version(folder: Path) -> str | None:
    """The Camtrap DP version a folder's ``datapackage.json`` declares, or None if it is no Camtrap DP."""
    try:
        package = json.loads((folder / PACKAGE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return _profile_version(package)


def _profile_version(package: Any) -> str | None:
    m = PROFILE.search(str(package.get("profile", ""))) if isinstance(package, dict) else None
    return m.group(1) if m else None


class CamtrapDPSource(FilesUnderRoot):
    """The image media of a Camtrap DP package folder (see the module notes for every column)."""

    kind = "camtrap-dp"

    def __init__(self, root: Path):
        self.root = root.resolve()
        package = _package(self.root)
        self.version = _profile_version(package)
        resources = {r.get("name"): r for r in package.get("resources", []) if isinstance(r, dict)}
        deployments = _deployments(self._resource(resources, "deployments"))
        media = self._resource(resources, "media")
        observations = self._resource(resources, "observations", required=False)
        mediatype = [str(v or "") for v in column_values(media, "fileMediatype")]
        keep = [i for i, t in enumerate(mediatype) if t.lower().startswith("image/")]
        self._not_images = dict(Counter(t or "(none)" for t in mediatype if not t.lower().startswith("image/")))
        rows = media.take(pa.array(keep, type=pa.int64()))
        paths = [str(p or "") for p in column_values(rows, "filePath")]
        order = sorted(range(len(paths)), key=lambda i: paths[i])
        rows, paths = rows.take(pa.array(order, type=pa.int64())), [paths[i] for i in order]
        if not paths:
            raise InquireError(f"The Camtrap DP package {self.root} lists no image media (media.csv, fileMediatype image/*).")
        _refuse_duplicates(self.root, paths)
        self._files = pa.array(paths, type=pa.string())
        self._unusable = {i: why for i, p in enumerate(paths) if (why := _unusable(p))}
        media_ids = [str(v) for v in column_values(rows, "mediaID")]
        deployment_ids = [None if v is None else str(v) for v in column_values(rows, "deploymentID")]
        self._unknown_deployments = sorted({d for d in deployment_ids if d not in deployments}, key=str)
        columns: dict[str, pa.Array] = {
            IMAGE_PATH: pa.array([image_path_of(p) for p in paths], type=pa.string()),
            "media_id": pa.array(media_ids, type=pa.string()),
            "deployment_id": pa.array(deployment_ids, type=pa.string()),
            "capture_method": pa.array(column_values(rows, "captureMethod"), type=pa.string()),
            "file_name": pa.array(column_values(rows, "fileName"), type=pa.string()),
        }
        stamps = column_values(rows, "timestamp")
        parsed = {"date": parse_column("date", stamps, rows=[f"media {m}" for m in media_ids])}
        # a deployment's values, read once per deployment (examples name it), then given to its media
        dep_ids = list(deployments)
        slot = {d: i for i, d in enumerate(dep_ids)}
        of_media = np.array([slot.get(d, len(dep_ids)) for d in deployment_ids], dtype=np.int64)
        for column, field in DEPLOYMENT_COLUMNS.items():
            per_dep = parse_column(column, [deployments[d].get(field) for d in dep_ids] + [None],
                                   rows=[f"deployment {d} ({field})" for d in dep_ids] + [None])
            parsed[column] = Parsed(per_dep.values.take(pa.array(of_media)), per_dep.unreadable[of_media],
                                    per_dep.examples)
        self.unreadable, self.unreadable_examples = {}, {}
        for column, result in parsed.items():
            columns[column] = result.values
            if result.unreadable.any():
                self.unreadable[column] = result.unreadable
                self.unreadable_examples[column] = result.examples
        names, types = _observed(observations, media_ids, deployment_ids, stamps)
        columns["scientific_name"] = pa.array(names, type=pa.string())
        columns["observation_type"] = pa.array(types, type=pa.string())
        license_, holders = _package_rights(package)
        columns["license"] = pa.array([license_] * len(paths), type=pa.string())
        columns["rights_holder"] = pa.array([holders] * len(paths), type=pa.string())
        self.table = pa.table(columns)

    def _resource(self, resources: dict, name: str, required: bool = True) -> pa.Table | None:
        res = resources.get(name)
        if res is None:
            if required:
                raise InquireError(f"{self.root / PACKAGE_FILE} lists no {name!r} resource; a Camtrap DP package needs one.")
            return None
        path = res.get("path")
        if isinstance(path, list):
            if len(path) != 1:
                raise InquireError(
                    f"{self.root / PACKAGE_FILE}: the {name!r} resource is split over {len(path)} files; "
                    "join them into one CSV (inquire reads single-file resources)."
                )
            path = path[0]
        if not isinstance(path, str) or _URL.match(path) or _unusable(path):
            raise InquireError(
                f"{self.root / PACKAGE_FILE}: the {name!r} resource's path {path!r} is not a file inside the "
                "package; download it into the package folder and point 'path' at it."
            )
        return read_table(self.root / path, what=f"the {name} table of the package")

    def payloads(self, start: int, stop: int) -> Iterator[Payload]:
        for i, path in zip(range(start, stop), super().payloads(start, stop)):
            yield Unavailable(self._unusable[i]) if i in self._unusable else path

    def details(self) -> dict[str, Any]:
        return {
            "camtrap_dp_version": self.version,
            "media_not_images": self._not_images,
            "media_not_in_package": len(self._unusable),
            "unknown_deployments": self._unknown_deployments,
        }


def _package(root: Path) -> dict:
    try:
        package = json.loads((root / PACKAGE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InquireError(f"Could not read {root / PACKAGE_FILE} ({exc}).") from None
    version = _profile_version(package)
    if version is None or not version.startswith("1."):
        raise InquireError(
            f"{root / PACKAGE_FILE} declares profile {package.get('profile')!r}; inquire reads Camtrap DP 1.x "
            "packages (profile https://raw.githubusercontent.com/tdwg/camtrap-dp/1.0/camtrap-dp-profile.json). "
            "Upgrade older packages with camtraptor or frictionless first."
        )
    return package


def _deployments(table: pa.Table) -> dict[str, dict]:
    return {str(r["deploymentID"]): r for r in table.to_pylist() if r.get("deploymentID") is not None}


def _unusable(path: str) -> str | None:
    """Why a ``filePath`` names no file inside the package, or None (the spec forbids ``..``, ``/``, ``~``)."""
    if _URL.match(path):
        return f"media file is a URL, not in the package ({path[:120]}): download it and give its relative path"
    parts = PurePosixPath(path.replace("\\", "/")).parts
    if not path or path.startswith(("/", "~", ".")) or ".." in parts:
        return f"filePath {path!r} leaves the package: give a path relative to the package folder"
    return None


def _refuse_duplicates(root: Path, paths: list[str]) -> None:
    twice = sorted(p for p, n in Counter(image_path_of(p) for p in paths).items() if n > 1)
    if twice:
        raise InquireError(
            f"{root}/media.csv lists {len(twice)} file(s) in several media rows ({', '.join(twice[:5])}); "
            "each image must be one media row."
        )


def _instant(value: Any) -> dt.datetime | None:
    """An aware datetime for comparing event windows with media timestamps (None if unreadable)."""
    try:
        text = normalize_date(value)
    except BadValue:
        return None
    if text is None or "T" not in text or len(text) == 19:
        return None  # no time, or no offset: not comparable as an instant
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _observed(observations: pa.Table | None, media_ids: list[str], deployment_ids: list[str | None],
              stamps: list[Any]) -> tuple[list[str | None], list[str | None]]:
    """Per media: its observations' distinct scientific names and observation types, joined."""
    n = len(media_ids)
    found: list[list[tuple[str | None, str | None]]] = [[] for _ in range(n)]  # (type, name), in observation order
    if observations is not None:
        by_media = {m: i for i, m in enumerate(media_ids)}
        by_deployment: dict[str | None, list[tuple[dt.datetime, int]]] = {}
        for i, (d, t) in enumerate(zip(deployment_ids, stamps)):
            instant = _instant(t)
            if instant is not None:
                by_deployment.setdefault(d, []).append((instant, i))
        for group in by_deployment.values():
            group.sort()
        for obs in observations.to_pylist():
            seen = (obs.get("observationType"), obs.get("scientificName"))
            if str(obs.get("observationLevel") or "media") == "media":
                i = by_media.get(str(obs.get("mediaID")))
                if i is not None:
                    found[i].append(seen)
                continue
            start, end = _instant(obs.get("eventStart")), _instant(obs.get("eventEnd"))
            group = by_deployment.get(str(obs.get("deploymentID")), [])
            if start is None or end is None or not group:
                continue
            lo = bisect.bisect_left(group, (start, -1))
            hi = bisect.bisect_right(group, (end, n))
            for _, i in group[lo:hi]:
                found[i].append(seen)
    names, types = [], []
    for hits in found:
        names.append(joined(h[1] for h in hits))
        types.append(joined(h[0] for h in hits))
    return names, types


def _package_rights(package: dict) -> tuple[str | None, str | None]:
    """The media licence (name, else path, else title) and the rights holders' names."""
    license_ = next(
        (str(lic.get("name") or lic.get("path") or lic.get("title")) for lic in package.get("licenses") or []
         if isinstance(lic, dict) and lic.get("scope") == "media" and (lic.get("name") or lic.get("path") or lic.get("title"))),
        None,
    )
    holders = joined(c.get("title") for c in package.get("contributors") or []
                     if isinstance(c, dict) and c.get("role") == "rightsHolder")
    return license_, holders
