"""Fixtures of team labelling: a labels database in the schema before annotators, accounts, a TLS certificate."""

from __future__ import annotations

import datetime as dt
import ipaddress
import sqlite3
from pathlib import Path

# The labels database as inquire wrote it before schema versions (commit e67e39c, serve/labels.py), verbatim.
V0_SCHEMA = """
CREATE TABLE IF NOT EXISTS queries (
    query_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    query_text    TEXT NOT NULL UNIQUE,
    supercategory TEXT NOT NULL DEFAULT '',
    category      TEXT NOT NULL DEFAULT '',
    iconic_group  TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS labels (
    query_text TEXT NOT NULL,
    image_id   TEXT NOT NULL,
    image_path TEXT NOT NULL,
    relevant   INTEGER NOT NULL CHECK (relevant IN (0, 1)),
    updated_at REAL NOT NULL,
    PRIMARY KEY (query_text, image_id)
);
"""
# (query_text, image_id, image_path, relevant, updated_at), and the benchmark columns of one query, as that code stored them
V0_LABELS = [
    ("a hermit crab using plastic trash as its shell", "100014", "train/04811_Animalia_Coenobita/ab12", 1, 1_700_000_000.25),
    ("a hermit crab using plastic trash as its shell", "100021", "train/04811_Animalia_Coenobita/cd34", 0, 1_700_000_060.5),
    ("a sick cassava plant", "100035", "train/07011_Plantae_Manihot/ef56", 1, 1_700_000_120.0),
    ("a sick cassava plant", "no-longer-in-the-collection", "train/x/y", 0, 1_700_000_180.0),
    ("a nest brood parasitized by a cowbird", "100042", "train/05118_Animalia_Molothrus/gh78", 1, 1_700_000_240.0),
]
V0_QUERY_INFO = ("a sick cassava plant", "Appearance", "Health and disease", "Plants")


def build_v0_labels_db(path: Path) -> Path:
    """A labels database made by the code before annotators, with :data:`V0_LABELS` written as that code wrote them."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(V0_SCHEMA)
    for text, image_id, image_path, relevant, updated_at in V0_LABELS:
        conn.execute("INSERT INTO queries (query_text) VALUES (?) ON CONFLICT (query_text) DO NOTHING", (text,))
        conn.execute(
            "INSERT INTO labels (query_text, image_id, image_path, relevant, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (query_text, image_id) DO UPDATE SET "
            "relevant = excluded.relevant, image_path = excluded.image_path, updated_at = excluded.updated_at",
            (text, image_id, image_path, relevant, updated_at),
        )
    conn.execute(
        "INSERT INTO queries (query_text, supercategory, category, iconic_group) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (query_text) DO UPDATE SET supercategory = excluded.supercategory, "
        "category = excluded.category, iconic_group = excluded.iconic_group",
        V0_QUERY_INFO,
    )
    conn.close()
    return path


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, valid for a day, and its key: (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return cert_file, key_file
