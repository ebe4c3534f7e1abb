"""DuckLake: the records as Parquet files under a SQLite catalog, for many writers and readers.

A DuckDB file has one writer and, while it writes, no reader. A DuckLake keeps
its data in Parquet files and its metadata in a catalog database; with a
SQLite catalog several processes append at once (a commit that conflicts is
retried) and readers see the last committed snapshot without waiting. Stage
workers append each record they publish when CONGVAN_LAKE names a lake folder
(`<folder>/catalog.sqlite`, `<folder>/data/`); analysts query it with
`congvan lake "SELECT …"`. The DuckDB database stays the system of record
(views, corrections, full-text search); the lake is the copy that scales out.

Both extensions come from PyPI wheels (`duckdb-extension-ducklake`,
`duckdb-extension-sqlite-scanner`, pinned with DuckDB) and are loaded from their
files: DuckDB would otherwise try to download them.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import random
import time
from pathlib import Path
from typing import Iterable, Optional

import duckdb

log = logging.getLogger("congvan.lake")

ALIAS = "lake"
COMMIT_TRIES = 20

DDL = [
    """CREATE TABLE IF NOT EXISTS lake.documents (
        document_id VARCHAR, sha256 VARCHAR, number VARCHAR, symbol VARCHAR, doc_type VARCHAR,
        issuer_name VARCHAR, issuer_level VARCHAR, issuer_locality VARCHAR, place VARCHAR,
        issued_date VARCHAR, subject VARCHAR, signer_name VARCHAR, signer_title VARCHAR,
        pages INTEGER, text_source VARCHAR, path VARCHAR, original_name VARCHAR,
        pipeline_version VARCHAR, staged_at TIMESTAMP, record JSON)""",
    """CREATE TABLE IF NOT EXISTS lake.doc_references (
        document_id VARCHAR, key VARCHAR, raw VARCHAR, doc_type VARCHAR, number VARCHAR,
        date VARCHAR, issuer VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS lake.movements (
        document_id VARCHAR, canonical VARCHAR, name VARCHAR, period VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS lake.tasks (
        document_id VARCHAR, assignee VARCHAR, deadline VARCHAR, text VARCHAR)""",
]


def lake_dir() -> Optional[Path]:
    """CONGVAN_LAKE, or None when no lake is configured."""
    v = os.environ.get("CONGVAN_LAKE")
    return Path(v) if v else None


def _extension(package: str, name: str) -> Path:
    spec = importlib.util.find_spec(package)
    for loc in (spec.submodule_search_locations if spec else None) or []:
        hits = sorted(Path(loc).rglob(f"{name}.duckdb_extension"))
        if hits:
            return hits[-1]
    raise RuntimeError(f"the {name} extension is missing: pip install {package.replace('_', '-')}==" + duckdb.__version__)


def connect(folder: Path | str, *, read_only: bool = False, wait: float = 30.0) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake at `folder` attached as `lake` (created on first use).

    SQLite answers "database is locked" while another process commits; attaching
    is retried with backoff for up to `wait` seconds.
    """
    deadline = time.monotonic() + wait
    delay = 0.05
    while True:
        try:
            return _connect(folder, read_only)
        except duckdb.Error as exc:
            if not _conflict(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)


def _connect(folder: Path | str, read_only: bool) -> duckdb.DuckDBPyConnection:
    folder = Path(folder).resolve()
    (folder / "data").mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    for package, name in (("duckdb_extension_sqlite_scanner", "sqlite_scanner"),
                          ("duckdb_extension_ducklake", "ducklake")):
        con.execute(f"LOAD '{_extension(package, name).as_posix()}'")
    catalog = (folder / "catalog.sqlite").as_posix()
    opts = f"DATA_PATH '{(folder / 'data').as_posix()}/'" + (", READ_ONLY" if read_only else "")
    try:
        con.execute(f"ATTACH 'ducklake:sqlite:{catalog}' AS {ALIAS} ({opts})")
        if not read_only:
            _retry(con, lambda: [con.execute(sql) for sql in DDL])
    except BaseException:
        con.close()
        raise
    return con


def _retry(con: duckdb.DuckDBPyConnection, fn):
    """Run fn in a transaction; a commit that conflicts with another writer is tried again."""
    for attempt in range(COMMIT_TRIES):
        try:
            con.execute("BEGIN TRANSACTION")
            out = fn()
            con.execute("COMMIT")
            return out
        except duckdb.Error as exc:
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:
                pass
            if attempt == COMMIT_TRIES - 1 or not _conflict(exc):
                raise
            time.sleep(min(2.0, 0.05 * 2 ** attempt) * (0.5 + random.random()))


def _conflict(exc: Exception) -> bool:
    msg = str(exc).lower()
    return any(w in msg for w in ("conflict", "locked", "busy", "retry"))


def append(con: duckdb.DuckDBPyConnection, entries: Iterable[dict]) -> int:
    """Append staged entries (`pipeline.staging` format, record validated) not yet in the lake.

    Idempotent on sha256 within a commit; two writers committing the same bytes
    at the same moment can both land (rare: same file on two workers at once),
    so readers wanting one row per document use `SELECT DISTINCT ON (sha256)`.
    Returns how many documents were added.
    """
    entries = [e for e in entries if not e.get("sighting")]
    if not entries:
        return 0

    def fn():
        shas = [e["sha256"] for e in entries]
        held = {r[0] for r in con.execute(
            "SELECT sha256 FROM lake.documents WHERE sha256 IN (SELECT unnest(?))", [shas]).fetchall()}
        added = 0
        for e in entries:
            if e["sha256"] in held:
                continue
            held.add(e["sha256"])
            _insert(con, e)
            added += 1
        return added

    return _retry(con, fn)


def _insert(con: duckdb.DuckDBPyConnection, e: dict) -> None:
    rec = e["record"]
    d = rec.model_dump(mode="json") if hasattr(rec, "model_dump") else rec
    doc_id = e["sha256"][:16]
    issuer, signer, src = d.get("issuer") or {}, d.get("signer") or {}, d.get("source") or {}
    con.execute(
        "INSERT INTO lake.documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [doc_id, e["sha256"], d.get("number"), d.get("symbol"), d.get("doc_type"), issuer.get("name"),
         issuer.get("level"), issuer.get("locality"), d.get("place"), d.get("issued_date"), d.get("subject"),
         signer.get("name"), signer.get("title"), src.get("pages"), src.get("text_source"), e["stored_path"],
         e.get("original_name") or None, e.get("pipeline_version"), e.get("staged_at", "").replace("+00:00", ""),
         json.dumps(d, ensure_ascii=False)])
    refs = [[doc_id, r.get("key"), r.get("raw"), r.get("doc_type"), r.get("number"), r.get("date"), r.get("issuer")]
            for r in d.get("references") or []]
    if refs:
        con.executemany("INSERT INTO lake.doc_references VALUES (?, ?, ?, ?, ?, ?, ?)", refs)
    movs = [[doc_id, m.get("canonical"), m.get("name"), m.get("period")] for m in d.get("movements") or []]
    if movs:
        con.executemany("INSERT INTO lake.movements VALUES (?, ?, ?, ?)", movs)
    tasks = [[doc_id, t.get("assignee"), t.get("deadline"), t.get("text")] for t in d.get("tasks") or []]
    if tasks:
        con.executemany("INSERT INTO lake.tasks VALUES (?, ?, ?, ?)", tasks)


def query(folder: Path | str, sql: str) -> tuple[list[str], list[tuple]]:
    """Run SQL against the lake (tables as `lake.documents` …, or unqualified after USE lake)."""
    con = connect(folder, read_only=True)
    try:
        con.execute(f"USE {ALIAS}")
        cur = con.execute(sql)
        return [c[0] for c in cur.description or []], cur.fetchall()
    finally:
        con.close()
