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


# ------------------------------------------------------------------------------ place and time


def exif_block(
    *,
    when: str | None = None,
    offset: str | None = None,
    lat: tuple[str, tuple] | None = None,
    lon: tuple[str, tuple] | None = None,
    alt: tuple[int, float] | None = None,
    make: str | None = None,
    model: str | None = None,
) -> bytes:
    """An EXIF block as a camera writes it: DateTimeOriginal (``YYYY:MM:DD HH:MM:SS``) and
    OffsetTimeOriginal in the Exif IFD; GPS (ref, (deg, min, sec)) pairs and (ref, metres) in the
    GPS IFD; Make and Model in IFD0. A ref of None leaves the ref tag out."""
    from PIL import ExifTags

    exif = Image.Exif()
    if make:
        exif[0x010F] = make
    if model:
        exif[0x0110] = model
    if when or offset:
        info = exif.get_ifd(ExifTags.IFD.Exif)
        if when:
            info[0x9003] = when
        if offset:
            info[0x9011] = offset
    if lat or lon or alt:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
        for (ref_tag, tag), value in (((1, 2), lat), ((3, 4), lon)):
            if value is not None:
                if value[0] is not None:
                    gps[ref_tag] = value[0]
                gps[tag] = value[1]
        if alt is not None:
            gps[5], gps[6] = bytes([alt[0]]), alt[1]
    return exif.tobytes()


def photo_with_exif(photo: Path, exif: bytes | None, fmt: str = "JPEG") -> bytes:
    """A shared photo re-encoded (as a camera's JPEG, or a PNG) with ``exif`` (None: none at all)."""
    with Image.open(photo) as im:
        kw = {"exif": exif} if exif else {}
        if fmt == "JPEG":
            kw["quality"] = 92
        return encode(im.convert("RGB"), fmt, **kw)


def _sample(name: str) -> Path:
    return builders.SAMPLE_IMAGES / name


#: relative path → (shared photo, EXIF arguments, what inquire must read: values, unreadable columns)
EXIF_PHOTOS: dict[str, tuple[str, dict | None, dict, set]] = {
    "site_a/IMG_0001.JPG": (
        "condor_1.jpeg",
        dict(when="2021:05:31 08:25:38", offset="+02:00", lat=("S", (33.0, 51.0, 54.5)),
             lon=("E", (151.0, 12.0, 36.0)), alt=(1, 12.5), make="Canon", model="Canon EOS 80D"),
        {"date": "2021-05-31T08:25:38+02:00", "latitude": -(33 + 51 / 60 + 54.5 / 3600),
         "longitude": 151 + 12 / 60 + 36 / 3600, "altitude": -12.5, "camera_make": "Canon",
         "camera_model": "Canon EOS 80D"},
        set(),
    ),
    "site_a/IMG_0002.JPG": (
        "bower_1.jpeg",
        dict(when="2019:12:24 23:59:59", lat=("N", (45.5, 0.0, 0.0)), lon=("W", (122.0, 30.0, 0.0)),
             alt=(0, 1200.0), make="NIKON CORPORATION", model="NIKON D7500"),
        {"date": "2019-12-24T23:59:59", "latitude": 45.5, "longitude": -122.5, "altitude": 1200.0,
         "camera_make": "NIKON CORPORATION", "camera_model": "NIKON D7500"},
        set(),
    ),
    "site_b/IMG_0001.JPG": (  # the same file name as in site_a: a sidecar must not name it alone
        "cassava_1.jpeg",
        dict(when="2020:02:29 06:00:00", offset="-05:00", lat=("N", (0.0, 30.0, 0.0)), lon=("W", (78.0, 0.0, 0.0))),
        {"date": "2020-02-29T06:00:00-05:00", "latitude": 0.5, "longitude": -78.0},
        set(),
    ),
    "site_b/tamandua.jpg": ("tamandua_1.jpeg", None, {}, set()),  # no EXIF at all
    "site_b/unset_clock.jpg": (  # a camera whose clock was never set; a GPS latitude without its ref
        "nest_1.jpeg",
        dict(when="0000:00:00 00:00:00", lat=(None, (10.0, 0.0, 0.0)), lon=("E", (20.0, 0.0, 0.0)), make="Bushnell"),
        {"longitude": 20.0, "camera_make": "Bushnell"},
        {"latitude"},
    ),
    "site_b/bad_date.jpg": (
        "swallowtail_1.jpeg",
        dict(when="2021:13:45 25:00:00", make="Apple", model="iPhone 12"),
        {"camera_make": "Apple", "camera_model": "iPhone 12"},
        {"date"},
    ),
    "site_b/hermit.png": ("hermit_1.png", dict(when="2018:07:04 12:00:00", offset="-04:00"),
                          {"date": "2018-07-04T12:00:00-04:00"}, set()),
}


def exif_folder(root: Path) -> Path:
    """:data:`EXIF_PHOTOS` under ``root``: real photos with the EXIF a camera or phone writes."""
    for rel, (photo, exif, _, _) in EXIF_PHOTOS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        fmt = "PNG" if rel.endswith(".png") else "JPEG"
        path.write_bytes(photo_with_exif(_sample(photo), exif_block(**exif) if exif else None, fmt))
    return root


# ---------------------------------------------------------------------------- Camtrap DP 1.0

CAMTRAP_PROFILE = "https://raw.githubusercontent.com/tdwg/camtrap-dp/1.0/camtrap-dp-profile.json"
DEPLOYMENT_FIELDS = [
    "deploymentID", "locationID", "locationName", "latitude", "longitude", "coordinateUncertainty",
    "deploymentStart", "deploymentEnd", "setupBy", "cameraID", "cameraModel", "cameraDelay", "cameraHeight",
    "cameraDepth", "cameraTilt", "cameraHeading", "detectionDistance", "timestampIssues", "baitUse",
    "featureType", "habitat", "deploymentGroups", "deploymentTags", "deploymentComments",
]
MEDIA_FIELDS = [
    "mediaID", "deploymentID", "captureMethod", "timestamp", "filePath", "filePublic", "fileName",
    "fileMediatype", "exifData", "favorite", "mediaComments",
]
OBSERVATION_FIELDS = [
    "observationID", "deploymentID", "mediaID", "eventID", "eventStart", "eventEnd", "observationLevel",
    "observationType", "cameraSetupType", "scientificName", "count", "lifeStage", "sex", "behavior",
    "individualID", "individualPositionRadius", "individualPositionAngle", "individualSpeed", "bboxX", "bboxY",
    "bboxWidth", "bboxHeight", "classificationMethod", "classifiedBy", "classificationTimestamp",
    "classificationProbability", "observationTags", "observationComments",
]
DEPLOYMENTS = [
    dict(deploymentID="00a2c20d", locationID="e254a13c", locationName="B_HS_val 2_processiepark", latitude="51.496",
         longitude="4.774", coordinateUncertainty="187", deploymentStart="2020-05-30T04:57:37+02:00",
         deploymentEnd="2020-07-01T11:41:41+02:00", setupBy="anonymized:3eb30aa", cameraID="320",
         cameraModel="Reconyx-HF2X", cameraDelay="0", cameraHeight="1.30", cameraTilt="-15", cameraHeading="285",
         detectionDistance="3.20", timestampIssues="false", baitUse="false", featureType="trailGame",
         habitat="Campine area with river valleys", deploymentGroups="area:HS | season:spring",
         deploymentTags="position:above stream"),
    dict(deploymentID="62c200a9", locationID="ce943ced", locationName="B_DM_val 4_'t WAD", latitude="91.699",
         longitude="4.013", coordinateUncertainty="187", deploymentStart="2021-03-27T21:38:18+01:00",
         deploymentEnd="2021-04-18T22:25:00+01:00", setupBy="Danny Van der beeck", cameraID="315",
         cameraModel="Reconyx-HF2X", cameraDelay="0", cameraHeight="1.00", cameraTilt="-15", cameraHeading="55",
         detectionDistance="4.00", timestampIssues="false", baitUse="false", featureType="trailGame",
         habitat="Stream valley, grassland and poplar plantations", deploymentGroups="area:DM | season:spring"),
]
#: media rows: (mediaID, deploymentID, captureMethod, timestamp, filePath, fileMediatype, shared photo or None)
MEDIA = [
    ("07840dcc", "00a2c20d", "activityDetection", "2020-05-30T04:57:37+02:00", "media/00a2c20d/RCNX0001.JPG", "image/jpeg", "condor_2.jpeg"),
    ("401386c7", "00a2c20d", "activityDetection", "2020-05-30T04:57:40+02:00", "media/00a2c20d/RCNX0002.JPG", "image/jpeg", "condor_3.jpeg"),
    ("ca3ff293", "00a2c20d", "timeLapse", "2020-05-30T22:10:00+02:00", "media/00a2c20d/RCNX0003.JPG", "image/jpeg", "nest_2.jpeg"),
    ("b8690a15", "62c200a9", "activityDetection", "2021-03-27T23:15:00+01:00", "media/62c200a9/RCNX0001.JPG", "image/jpeg", "tamandua_2.jpeg"),
    ("e8b8e44c", "62c200a9", "activityDetection", "2021-02-30T10:00:00+01:00", "media/62c200a9/RCNX0002.JPG", "image/jpeg", "tamandua_3.jpeg"),
    ("64734615", "00a2c20d", "activityDetection", "2020-05-30T04:58:00+02:00",
     "https://multimedia.agouti.eu/assets/64734615-3c9a-4cfa-9b4f-9cd36a2ee7ad/file", "image/jpeg", None),
    ("5e1d3a2b", "62c200a9", "activityDetection", "2021-03-28T01:00:00+01:00", "media/62c200a9/RCNX0009.JPG", "image/jpeg", None),
    ("9a7c0f11", "00a2c20d", "activityDetection", "2020-05-30T05:00:00+02:00", "media/00a2c20d/VID0001.MP4", "video/mp4", None),
]
OBSERVATIONS = [
    # an event-level observation covering the first two media (UTC, while media carry +02:00)
    dict(observationID="705e6036", deploymentID="00a2c20d", eventID="4bb69c45", eventStart="2020-05-30T02:57:37Z",
         eventEnd="2020-05-30T02:57:44Z", observationLevel="event", observationType="animal",
         scientificName="Anas platyrhynchos", count="1", lifeStage="adult", sex="female", behavior="foraging",
         classificationMethod="human", classifiedBy="Danny Van der beeck", classificationTimestamp="2020-07-09T09:39:52Z"),
    dict(observationID="07840dcc_1", deploymentID="00a2c20d", mediaID="07840dcc", eventID="4bb69c45",
         eventStart="2020-05-30T02:57:37Z", eventEnd="2020-05-30T02:57:37Z", observationLevel="media",
         observationType="animal", scientificName="Anas platyrhynchos", count="1", classificationMethod="human",
         classifiedBy="Peter Desmet"),
    dict(observationID="401386c7_1", deploymentID="00a2c20d", mediaID="401386c7", eventID="4bb69c45",
         eventStart="2020-05-30T02:57:40Z", eventEnd="2020-05-30T02:57:40Z", observationLevel="media",
         observationType="animal", scientificName="Ardea cinerea", count="1", bboxX="0.1", bboxY="0.2",
         bboxWidth="0.3", bboxHeight="0.4", classificationMethod="machine", classifiedBy="MegaDetector v5",
         classificationProbability="0.91"),
    dict(observationID="ca3ff293_1", deploymentID="00a2c20d", mediaID="ca3ff293", eventID="5d0e8a71",
         eventStart="2020-05-30T20:10:00Z", eventEnd="2020-05-30T20:10:00Z", observationLevel="media",
         observationType="blank", classificationMethod="human", classifiedBy="Peter Desmet"),
    dict(observationID="f1e2d3c4", deploymentID="62c200a9", eventID="8c2e11aa", eventStart="2021-03-27T22:10:00Z",
         eventEnd="2021-03-27T22:20:00Z", observationLevel="event", observationType="animal",
         scientificName="Vulpes vulpes", count="1", classificationMethod="human", classifiedBy="Emma Cartuyvels"),
]
#: image_path → what the package says of it (the media that are embedded)
CAMTRAP_EXPECTED = {
    "media/00a2c20d/RCNX0001.JPG": dict(date="2020-05-30T04:57:37+02:00", scientific_name="Anas platyrhynchos",
                                        observation_type="animal", latitude=51.496, location_name="B_HS_val 2_processiepark"),
    "media/00a2c20d/RCNX0002.JPG": dict(date="2020-05-30T04:57:40+02:00",
                                        scientific_name="Anas platyrhynchos | Ardea cinerea", observation_type="animal"),
    "media/00a2c20d/RCNX0003.JPG": dict(date="2020-05-30T22:10:00+02:00", scientific_name=None, observation_type="blank"),
    "media/62c200a9/RCNX0001.JPG": dict(date="2021-03-27T23:15:00+01:00", scientific_name="Vulpes vulpes",
                                        latitude=None, longitude=4.013, location_id="ce943ced"),
    "media/62c200a9/RCNX0002.JPG": dict(date=None, scientific_name=None),
}


def _csv(path: Path, fields: list[str], rows: list[dict]) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in fields})


def camtrap_package(root: Path, *, camera_exif: bool = True) -> Path:
    """A Camtrap DP 1.0 package in the standard layout around the shared photos.

    ``datapackage.json`` (profile, the three resources with the 1.0 table schemas, licences of
    scope data and media, contributors with a rights holder), ``deployments.csv``, ``media.csv``
    and ``observations.csv`` with the spec's columns (values patterned on the spec's own example
    package); media files under ``media/<deploymentID>/``. One media row is a URL, one names a
    file that is absent, one is a video; one deployment's latitude is out of range and one
    timestamp is impossible. With ``camera_exif`` the first photo's EXIF clock is an hour off the
    package's timestamp (a camera clock not moved to summer time), so the two disagree.
    """
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for media_id, dep, method, stamp, path, mediatype, photo in MEDIA:
        rows.append(dict(mediaID=media_id, deploymentID=dep, captureMethod=method, timestamp=stamp, filePath=path,
                         filePublic="true", fileName=path.rsplit("/", 1)[-1], fileMediatype=mediatype))
        if photo is not None:
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            exif = exif_block(when="2020:05:30 03:57:37", make="RECONYX", model="HF2 PRO COVERT") if (
                camera_exif and media_id == "07840dcc") else None
            target.write_bytes(photo_with_exif(_sample(photo), exif))
    (root / "media" / "00a2c20d" / "VID0001.MP4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    _csv(root / "deployments.csv", DEPLOYMENT_FIELDS, DEPLOYMENTS)
    _csv(root / "media.csv", MEDIA_FIELDS, rows)
    _csv(root / "observations.csv", OBSERVATION_FIELDS, OBSERVATIONS)
    schema = "https://raw.githubusercontent.com/tdwg/camtrap-dp/1.0/{}-table-schema.json"
    package = {
        "resources": [
            {"name": name, "path": f"{name}.csv", "profile": "tabular-data-resource", "format": "csv",
             "mediatype": "text/csv", "encoding": "utf-8", "schema": schema.format(name)}
            for name in ("deployments", "media", "observations")
        ],
        "profile": CAMTRAP_PROFILE,
        "name": "inquire-test-camera-traps",
        "id": "7cca70f5-ef8c-4f86-85fb-8f070937d7ab",
        "created": "2023-02-06T11:23:03Z",
        "title": "Test package in the layout of the Camtrap DP 1.0 example",
        "contributors": [
            {"title": "Peter Desmet", "role": "contact", "organization": "Research Institute for Nature and Forest (INBO)"},
            {"title": "Research Institute for Nature and Forest (INBO)", "path": "https://inbo.be", "role": "rightsHolder"},
        ],
        "version": "1.0",
        "licenses": [{"name": "CC0-1.0", "scope": "data"},
                     {"name": "CC-BY-4.0", "path": "http://creativecommons.org/licenses/by/4.0/", "scope": "media"}],
        "project": {"id": "86cabc14-d475-4439-98a7-e7b590bed60e", "title": "Test project", "samplingDesign": "targeted",
                    "captureMethod": ["activityDetection", "timeLapse"], "individualAnimals": False,
                    "observationLevel": ["media", "event"]},
        "coordinatePrecision": 0.001,
        "spatial": {"type": "Polygon", "coordinates": [[[4.013, 50.699], [5.659, 50.699], [5.659, 51.496],
                                                         [4.013, 51.496], [4.013, 50.699]]]},
        "temporal": {"start": "2020-05-30", "end": "2021-04-18"},
        "taxonomic": [{"scientificName": "Anas platyrhynchos", "taxonRank": "species"},
                      {"scientificName": "Ardea cinerea", "taxonRank": "species"},
                      {"scientificName": "Vulpes vulpes", "taxonRank": "species"}],
    }
    (root / "datapackage.json").write_text(json.dumps(package, indent=2))
    return root


# ---------------------------------------------------------------------------- COCO Camera Traps


def coco_camera_traps(root: Path) -> Path:
    """A COCO Camera Traps JSON (LILA's format) beside its images: ``cct.json`` with ``info``,
    ``images`` (string ids, ``datetime``, integer ``location`` as in older LILA sets, sequences),
    ``categories`` (0 = empty) and ``annotations`` (two species in one frame, a bbox, sequence-level
    flags); one image is truncated (flagged ``corrupt``) and has an unreadable ``datetime``."""
    photos = {"loc_0001/seq001_0.jpg": "distal_1.jpeg", "loc_0001/seq001_1.jpg": "distal_2.jpeg",
              "loc_0002/seq002_0.jpg": "swallowtail_2.jpeg"}
    for rel, photo in photos.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(photo_with_exif(_sample(photo), None))
    good = (root / "loc_0002/seq002_0.jpg").read_bytes()
    (root / "loc_0002/seq003_0.jpg").write_bytes(good[: len(good) // 3])
    images = [
        dict(id="seq001_frame0", file_name="loc_0001/seq001_0.jpg", width=500, height=309,
             datetime="2019-06-01 21:03:12", location=1, seq_id="seq001", seq_num_frames=2, frame_num=0),
        dict(id="seq001_frame1", file_name="loc_0001/seq001_1.jpg", width=500, height=325,
             datetime="2019-06-01 21:03:13", location=1, seq_id="seq001", seq_num_frames=2, frame_num=1),
        dict(id="seq002_frame0", file_name="loc_0002/seq002_0.jpg", width=374, height=500,
             datetime="2019:07:04 05:30:00", location=2, seq_id="seq002", seq_num_frames=1, frame_num=0),
        dict(id="seq003_frame0", file_name="loc_0002/seq003_0.jpg", width=374, height=500,
             datetime="not recorded", location=2, seq_id="seq003", seq_num_frames=1, frame_num=0, corrupt=True),
    ]
    data = {
        "info": {"version": "1.0", "description": "inquire test camera traps", "year": 2019,
                 "contributor": "inquire tests", "date_created": "2019-08-01"},
        "images": images,
        "categories": [{"id": 0, "name": "empty"}, {"id": 1, "name": "deer"}, {"id": 7, "name": "coyote"}],
        "annotations": [
            {"id": "a1", "image_id": "seq001_frame0", "category_id": 1, "sequence_level_annotation": True},
            {"id": "a2", "image_id": "seq001_frame0", "category_id": 7, "bbox": [10.0, 20.0, 100.0, 80.0]},
            {"id": "a3", "image_id": "seq001_frame1", "category_id": 1, "sequence_level_annotation": True},
            {"id": "a4", "image_id": "seq002_frame0", "category_id": 0, "sequence_level_annotation": True},
        ],
    }
    (root / "cct.json").write_text(json.dumps(data, indent=1))
    return root / "cct.json"
