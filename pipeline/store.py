"""The DuckDB store: one transaction per document, idempotent on sha256, corrections on top.

DuckDB lets one process hold a database file for writing and then no other
process may open it at all, not even read-only. So a writing `Store` opens the
file only for the moment of writing one document (open → transaction → close),
and every open (reader or writer) retries with backoff for up to `wait_seconds`
before raising `DatabaseBusy`. Readers (sql/search/export) keep their read-only
connection for the life of the `Store`, which is short (one CLI command).

The store does not parse text: everything it writes comes from the `Record`.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import inspect
import json
import re
import time
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Literal, Optional

import duckdb

from congvan.pipeline.errors import DatabaseBusy
from congvan.schemas.record import Record

SCHEMA_VERSION = "1"
_SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"

# fts tokenisation: stemming and stopwords are English-only, so both off; the
# default `ignore` regex '(\.|[^a-z])+' would cut "thưởng" into "th" + "ng", so
# keep every Unicode letter and digit. We fold đ→d and strip marks ourselves
# (length-preserving, see fold()) so "thi dua" finds "thi đua".
FTS_IGNORE = r"(\.|[^\p{L}\p{N}])+"
FTS_OPTIONS = (
    f"stemmer='none', stopwords='none', ignore='{FTS_IGNORE}', "
    "strip_accents=1, lower=1, overwrite=1"
)


@dataclass(frozen=True)
class SaveResult:
    """What save() did: 'inserted', 'duplicate' (same bytes already held), 'copy'
    (a re-scan of a held dispatch, linked by copy_of) or 'updated' (replace=True)."""

    status: Literal["inserted", "duplicate", "copy", "updated"]
    document_id: str
    copy_of: Optional[str] = None


# ---------------------------------------------------------------- helpers

def document_id(sha256: str) -> str:
    """Deterministic id: the same bytes get the same id in every database and export."""
    return sha256.lower()[:16]


@lru_cache(maxsize=4096)
def _fold_char(c: str) -> str:
    if c in "đĐ":
        return "d"
    base = "".join(ch for ch in unicodedata.normalize("NFD", c) if not unicodedata.combining(ch))
    return base[0].lower() if len(base) == 1 else c.lower()[:1] or c


def fold(text: str) -> str:
    """Lowercase, drop Vietnamese marks and map đ→d, one character for one, so offsets
    in the folded text are offsets in the original (used for snippets)."""
    return "".join(_fold_char(c) for c in text)


def _norm_number(number: str) -> str:
    s = unicodedata.normalize("NFC", number).upper()
    s = re.sub(r"[\u2010-\u2015\u2212]", "-", s)
    return re.sub(r"\s+", "", s)


def local_document_key(doc_type: Optional[str], number: Optional[str]) -> Optional[str]:
    """Fallback key when extractors.references.canonical_key is unavailable: TYPE:NUMBER."""
    if not number:
        return None
    return f"{(doc_type or '').upper()}:{_norm_number(number)}"


@lru_cache(maxsize=1)
def _canonical_key():
    try:
        from congvan.extractors.references import canonical_key
    except Exception:
        return None
    return canonical_key


def document_key(record: Record) -> Optional[str]:
    """A document's own key, computed the way references compute theirs, so that
    doc_references.key = documents.doc_key resolves a citation."""
    if not record.number:
        return None
    canonical_key = _canonical_key()
    if canonical_key is not None:
        available = {
            "doc_type": record.doc_type, "number": record.number, "date": record.issued_date,
            "issued_date": record.issued_date, "issuer": record.issuer.name, "symbol": record.symbol,
        }
        try:
            params = inspect.signature(canonical_key).parameters
            key = canonical_key(**{n: available[n] for n in params if n in available})
        except Exception:
            key = None
        if key:
            return key
    key = _references_key(record.doc_type, record.number)
    return key or local_document_key(record.doc_type, record.number)


def _references_key(doc_type: Optional[str], number: str) -> Optional[str]:
    """The key extractors/references.py gives a citation of `number` (its NUMBER_RX,
    _symbol_parts and make_key), so a cited document and its citations meet."""
    try:
        from congvan.extractors.references import NUMBER_RX, _symbol_parts, make_key
        m = NUMBER_RX.search(number)
        if not m:
            return None
        num, year, symbol = m.group(1), m.group(2), m.group(4)
        code, issuer_segs = _symbol_parts(symbol)
        return make_key(code or doc_type or "CV", num, year, issuer_segs)
    except Exception:
        return None


def date_precision(value: Optional[str]) -> tuple[Optional[dt.date], Optional[str]]:
    """('2024-01-10' → (date, 'day'), '2024-08' → (None, 'month'), '2024' → (None, 'year'))."""
    if not value:
        return None, None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return dt.date.fromisoformat(value), "day"
        except ValueError:
            return None, None
    if re.fullmatch(r"\d{4}-\d{2}", value):
        return None, "month"
    if re.fullmatch(r"\d{4}", value):
        return None, "year"
    return None, None


def deadline_last_day(value: Optional[str]) -> Optional[dt.date]:
    """The last day a deadline allows: a day, end of month, end of quarter, end of year."""
    if not value:
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return dt.date.fromisoformat(value)
        m = re.fullmatch(r"(\d{4})-(\d{2})", value)
        if m:
            y, mo = int(m[1]), int(m[2])
            nxt = dt.date(y + (mo == 12), mo % 12 + 1, 1)
            return nxt - dt.timedelta(days=1)
        m = re.fullmatch(r"(\d{4})-Q([1-4])", value)
        if m:
            y, q = int(m[1]), int(m[2])
            nxt = dt.date(y + (q == 4), (q * 3) % 12 + 1, 1)
            return nxt - dt.timedelta(days=1)
        if re.fullmatch(r"\d{4}", value):
            return dt.date(int(value), 12, 31)
    except ValueError:
        return None
    return None


def task_key(assignee: str, text: str) -> str:
    """Stable task identity across re-extraction: hash of normalised assignee and text."""
    norm = lambda s: re.sub(r"\s+", " ", unicodedata.normalize("NFC", s or "")).strip().lower()  # noqa: E731
    return hashlib.sha256(f"{norm(assignee)}\x1f{norm(text)}".encode()).hexdigest()[:16]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def parse_since(since: Optional[str]) -> Optional[dt.datetime]:
    """ISO date or date-time; with an offset it is converted to UTC (ingested_at is UTC)."""
    if not since:
        return None
    t = dt.datetime.fromisoformat(since.strip().replace("Z", "+00:00"))
    if t.tzinfo is not None:
        t = t.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return t


def _set_path(obj: Any, path: str, value: Any) -> None:
    parts = path.split(".")
    for p in parts[:-1]:
        obj = obj[int(p)] if isinstance(obj, list) else obj.setdefault(p, {})
    last = parts[-1]
    if isinstance(obj, list):
        obj[int(last)] = value
    else:
        obj[last] = value


def apply_corrections(record: dict, corrections: Iterable[tuple[str, Any]]) -> dict:
    """Apply (field path, value) corrections in order onto a record dict (dotted paths,
    digits index lists: "tasks.0.deadline")."""
    for field, value in corrections:
        _set_path(record, field, value)
    return record


def fts_extension_path() -> Optional[Path]:
    """The fts binary shipped by the duckdb-extension-fts wheel (DuckDB cannot download offline)."""
    spec = importlib.util.find_spec("duckdb_extension_fts")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        hits = sorted(Path(loc).rglob("fts.duckdb_extension"))
        if hits:
            return hits[-1]
    return None


def _load_fts(con: duckdb.DuckDBPyConnection) -> None:
    """Load fts from the wheel's file (never the network: autoinstall would try to download)."""
    path = fts_extension_path()
    if path is None:
        raise RuntimeError("the fts extension is missing: pip install duckdb-extension-fts==1.5.5")
    try:
        con.execute(f"LOAD '{path.as_posix()}'")
    except duckdb.Error:
        con.execute(f"INSTALL '{path.as_posix()}'")
        con.execute("LOAD fts")


def _is_busy(exc: Exception) -> bool:
    msg = str(exc).lower()
    return "lock" in msg or "different configuration" in msg


# ---------------------------------------------------------------- the store

class Store:
    """The congvan database. See the module docstring for the locking rules."""

    def __init__(self, path: Path | str, *, read_only: bool = False, wait_seconds: float = 30.0):
        self.path = Path(path)
        self.read_only = read_only
        self.wait_seconds = wait_seconds
        self._con: Optional[duckdb.DuckDBPyConnection] = None
        if read_only:
            self._con = self._connect(read_only=True)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = self._connect(read_only=False)
            try:
                self._create_schema(con)
            finally:
                con.close()

    # -- connections
    def _connect(self, *, read_only: bool, wait: Optional[float] = None) -> duckdb.DuckDBPyConnection:
        """Open with retry and backoff; DatabaseBusy when the file stays locked."""
        deadline = time.monotonic() + (self.wait_seconds if wait is None else wait)
        delay = 0.02
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except (duckdb.IOException, duckdb.ConnectionException) as exc:
                if not _is_busy(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise DatabaseBusy(
                        f"the database {self.path} is being written by another process "
                        "(ingestion); try again shortly"
                    ) from exc
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, 1.0)
        return con

    def _create_schema(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute((_SCHEMAS / "schema.sql").read_text(encoding="utf-8"))
        views = _SCHEMAS / "views.sql"
        if views.exists():
            con.execute(views.read_text(encoding="utf-8"))

    def _writer(self) -> duckdb.DuckDBPyConnection:
        if self.read_only:
            raise PermissionError("this Store was opened read-only")
        return self._connect(read_only=False)

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def _run(self, fn):
        """Run fn(con) on the held reader connection, or on a momentary writer one."""
        if self._con is not None:
            return fn(self._con)
        con = self._connect(read_only=False)
        try:
            return fn(con)
        finally:
            con.close()

    # -- writes
    def save(
        self,
        record: Record,
        *,
        stored_path: str | None = None,
        original_name: str | None = None,
        replace: bool = False,
    ) -> SaveResult:
        """Store one record in one transaction. Same sha256 again → 'duplicate' (only a
        sighting row in `files`), unless replace=True, which rewrites the extraction
        ('updated') and keeps corrections and task status. A different file with the
        same number, symbol, issuer and date → stored and linked as a 'copy'."""
        sha = record.source.sha256.lower()
        doc_id = document_id(sha)
        now = _utcnow()
        path = stored_path if stored_path is not None else record.source.path
        con = self._writer()
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                row = con.execute("SELECT id, copy_of FROM documents WHERE sha256 = ?", [sha]).fetchone()
                if row is not None and not replace:
                    con.execute(
                        "INSERT INTO files VALUES (?, ?, ?, ?, 'duplicate')", [sha, path, original_name, now]
                    )
                    con.execute("COMMIT")
                    return SaveResult("duplicate", row[0], row[1])
                if row is not None:
                    copy_of = row[1]
                    self._delete_children(con, doc_id)
                    cols, vals = self._doc_values(record, doc_id, path, original_name, now)
                    sets = ", ".join(
                        f"{c} = coalesce(?, {c})" if c in ("path", "original_name") else f"{c} = ?" for c in cols
                    )
                    con.execute(f"UPDATE documents SET {sets} WHERE id = ?", [*vals, doc_id])
                    status = "updated"
                else:
                    copy_of = None
                    if record.number:
                        hit = con.execute(
                            """SELECT id FROM documents
                               WHERE number = ? AND symbol IS NOT DISTINCT FROM ?
                                 AND issuer_name IS NOT DISTINCT FROM ?
                                 AND issued_date IS NOT DISTINCT FROM ?
                                 AND copy_of IS NULL AND sha256 <> ?
                               ORDER BY ingested_at, id LIMIT 1""",
                            [record.number, record.symbol, record.issuer.name, record.issued_date, sha],
                        ).fetchone()
                        copy_of = hit[0] if hit else None
                    cols, vals = self._doc_values(record, doc_id, path, original_name, now)
                    cols = ["id", "sha256", "ingested_at", "copy_of", *cols]
                    vals = [doc_id, sha, now, copy_of, *vals]
                    con.execute(
                        f"INSERT INTO documents ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", vals
                    )
                    status = "copy" if copy_of else "inserted"
                con.execute(
                    "INSERT INTO files VALUES (?, ?, ?, ?, ?)", [sha, path, original_name, now, status]
                )
                self._insert_children(con, record, doc_id)
                con.execute("UPDATE meta SET value = 'true' WHERE key = 'fts_stale'")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        finally:
            con.close()
        return SaveResult(status, doc_id, copy_of)

    @staticmethod
    def _doc_values(record: Record, doc_id: str, path, original_name, now) -> tuple[list[str], list]:
        issued_on, precision = date_precision(record.issued_date)
        values = {
            "number": record.number,
            "symbol": record.symbol,
            "doc_type": record.doc_type,
            "doc_key": document_key(record),
            "issuer_name": record.issuer.name,
            "issuer_level": record.issuer.level,
            "issuer_locality": record.issuer.locality,
            "issuer_parent": record.issuer.parent,
            "place": record.place,
            "issued_date": record.issued_date,
            "issued_on": issued_on,
            "issued_precision": precision,
            "subject": record.subject,
            "signer_name": record.signer.name,
            "signer_title": record.signer.title,
            "signer_authority": record.signer.authority,
            "signer_on_behalf_of": record.signer.on_behalf_of,
            "urgency": record.urgency,
            "secrecy": record.secrecy,
            "text_source": record.source.text_source,
            "pages": record.source.pages,
            "pipeline_version": record.pipeline_version,
            "extracted_at": now,
            "path": path,
            "original_name": original_name,
            # the whole record but its text, which is texts.text (one copy of the bulk)
            "record_json": record.model_dump_json(exclude={"text"}),
        }
        return list(values), list(values.values())

    @staticmethod
    def _delete_children(con, doc_id: str) -> None:
        for table in _CHILD_TABLES:
            con.execute(f"DELETE FROM {table} WHERE document_id = ?", [doc_id])

    @staticmethod
    def _insert_children(con, record: Record, doc_id: str) -> None:
        def prov(p):
            return [p.page, p.start, p.end, p.method, p.confidence] if p else [None] * 5

        con.execute("INSERT INTO texts VALUES (?, ?)", [doc_id, record.text])
        if record.pages:
            con.executemany(
                "INSERT INTO pages VALUES (?, ?, ?, ?, ?, ?, ?)",
                [[doc_id, p.number, p.text_source, p.reason, p.chars, p.ocr_confidence, p.start] for p in record.pages],
            )
        if record.references:
            con.executemany(
                "INSERT INTO doc_references VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [[doc_id, i, r.key, r.raw, r.doc_type, r.number, r.date, r.issuer, r.citation, *prov(r.prov)]
                 for i, r in enumerate(record.references)],
            )
        if record.movements:
            con.executemany(
                "INSERT INTO movements VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [[doc_id, i, m.name, m.canonical, m.period, m.launched_by, *prov(m.prov)]
                 for i, m in enumerate(record.movements)],
            )
        if record.tasks:
            seen: dict[str, int] = {}
            rows = []
            for i, t in enumerate(record.tasks):
                k = task_key(t.assignee, t.text)
                n = seen.get(k, 0)
                seen[k] = n + 1
                rows.append([doc_id, i, k if n == 0 else f"{k}#{n}", t.item, t.text, t.assignee,
                             list(t.coordinators), t.deadline, deadline_last_day(t.deadline), *prov(t.prov)])
            con.executemany("INSERT INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        for table, names in (("recipients", record.recipients), ("distribution", record.distribution)):
            if names:
                con.executemany(f"INSERT INTO {table} VALUES (?, ?, ?)", [[doc_id, i, n] for i, n in enumerate(names)])
        if record.provenance:
            con.executemany(
                "INSERT INTO provenance VALUES (?, ?, ?, ?, ?, ?, ?)",
                [[doc_id, f, *prov(p)] for f, p in sorted(record.provenance.items())],
            )

    def _sha_of(self, con, doc: str) -> str:
        row = con.execute(
            "SELECT sha256 FROM documents WHERE id = ? OR sha256 = ?", [doc.lower(), doc.lower()]
        ).fetchone()
        if row is None:
            raise KeyError(f"no document {doc!r}")
        return row[0]

    def correct(self, document: str, field: str, value: Any, *, author: str | None = None,
                note: str | None = None) -> None:
        """Record a human correction (document id or sha256, record field path, new value).
        Checked by applying it to the record and validating; kept across re-extraction."""
        def fn(con):
            sha = self._sha_of(con, document)
            rec = self._record_dict(con, sha)
            try:
                Record.model_validate(apply_corrections(rec, [(field, value)]))
            except Exception as exc:
                raise ValueError(f"correction {field}={value!r} does not fit the record: {exc}") from exc
            con.execute(
                'INSERT INTO corrections (sha256, field, value, author, "at", note) VALUES (?, ?, ?, ?, ?, ?)',
                [sha, field, json.dumps(value, ensure_ascii=False), author, _utcnow(), note],
            )
            con.execute("UPDATE meta SET value = 'true' WHERE key = 'fts_stale'")  # subject/number are indexed
        self._write(fn)

    def set_task_status(self, document: str, key: str, status: str, *, author: str | None = None,
                        note: str | None = None) -> None:
        """Set a task's workflow status (open, in_progress, done, cancelled); key = tasks.task_key."""
        def fn(con):
            sha = self._sha_of(con, document)
            con.execute(
                """INSERT INTO task_status VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (sha256, task_key) DO UPDATE SET status = excluded.status,
                   note = excluded.note, author = excluded.author, "at" = excluded."at"
                """,
                [sha, key, status, note, author, _utcnow()],
            )
        self._write(fn)

    def _write(self, fn):
        con = self._writer()
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                out = fn(con)
                con.execute("COMMIT")
                return out
            except BaseException:
                con.execute("ROLLBACK")
                raise
        finally:
            con.close()

    # -- reads
    def has_sha256(self, sha256: str) -> bool:
        """True when these bytes are already stored (the flow skips extraction then)."""
        return self._run(
            lambda con: con.execute("SELECT 1 FROM documents WHERE sha256 = ?", [sha256.lower()]).fetchone()
        ) is not None

    def query(self, sql: str, params: Optional[list | dict] = None) -> tuple[list[str], list[tuple]]:
        """Run SQL (parameterised when params are given): (column names, rows)."""
        def fn(con):
            cur = con.execute(sql, params) if params is not None else con.execute(sql)
            if cur.description is None:
                return [], []
            return [d[0] for d in cur.description], cur.fetchall()
        return self._run(fn)

    def record(self, document: str, *, corrected: bool = True) -> Record:
        """The stored Record (document id or sha256), with corrections applied by default."""
        def fn(con):
            sha = self._sha_of(con, document)
            rec = self._record_dict(con, sha)
            if corrected:
                rows = con.execute(
                    'SELECT field, value FROM corrections WHERE sha256 = ? ORDER BY "at", id', [sha]
                ).fetchall()
                apply_corrections(rec, [(f, json.loads(v)) for f, v in rows])
            return Record.model_validate(rec)
        return self._run(fn)

    @staticmethod
    def _record_dict(con, sha: str) -> dict:
        rj, text = con.execute(
            "SELECT d.record_json, t.text FROM documents d LEFT JOIN texts t ON t.document_id = d.id "
            "WHERE d.sha256 = ?", [sha]).fetchone()
        rec = json.loads(rj)
        rec["text"] = text or ""
        return rec

    # -- search
    def refresh_index(self, *, force: bool = False) -> bool:
        """Rebuild the fts index if writes made it stale (or force). Returns True if rebuilt."""
        def fn(con):
            return self._rebuild(con, force=force)
        if self._con is not None:
            raise PermissionError("refresh_index needs a writer Store")
        return self._run(fn)

    @staticmethod
    def _stale(con) -> bool:
        row = con.execute("SELECT value FROM meta WHERE key = 'fts_stale'").fetchone()
        return row is None or row[0] != "false"

    def _rebuild(self, con, *, force: bool = False) -> bool:
        if not force and not self._stale(con):
            return False
        _load_fts(con)
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM search_corpus")
            con.execute(f"INSERT INTO search_corpus SELECT d.id, {_SEARCH_EXPR} FROM v_documents d "
                        "JOIN texts t ON t.document_id = d.id")
            if con.execute("SELECT count(*) FROM search_corpus").fetchone()[0]:
                con.execute(f"PRAGMA create_fts_index('search_corpus', 'document_id', 'search_text', {FTS_OPTIONS})")
            elif self._has_index(con):
                con.execute("PRAGMA drop_fts_index('search_corpus')")
            con.execute("UPDATE meta SET value = 'false' WHERE key = 'fts_stale'")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("CHECKPOINT")  # the index is large and rewritten anyway: keep the WAL small for readers
        return True

    @staticmethod
    def _has_index(con) -> bool:
        return con.execute(
            "SELECT count(*) FROM duckdb_schemas() WHERE schema_name = 'fts_main_search_corpus'"
        ).fetchone()[0] > 0

    def search(self, query: str, limit: int = 20) -> list[dict]:
        """Full-text search (BM25, all words required, diacritics optional).
        Rebuilds a stale index first; a reader briefly reopens for writing to do so,
        and if ingestion holds the file it scans the text instead (same answers, no BM25)."""
        folded = " ".join(re.findall(r"[\w]+", fold(query)))
        if not folded:
            return []
        if self._con is None:
            con = self._connect(read_only=False)
            try:
                self._rebuild(con)
                _load_fts(con)
                return self._search(con, folded, limit, use_index=self._has_index(con))
            finally:
                con.close()
        use_index = not self._stale(self._con)
        if not use_index:
            self._con.close()
            self._con = None
            try:
                con = self._connect(read_only=False, wait=min(self.wait_seconds, 2.0))
                try:
                    self._rebuild(con)
                    use_index = True
                finally:
                    con.close()
            except DatabaseBusy:
                use_index = False
            self._con = self._connect(read_only=True)
        _load_fts(self._con)
        return self._search(self._con, folded, limit, use_index=use_index and self._has_index(self._con))

    @staticmethod
    def _search(con, folded: str, limit: int, *, use_index: bool) -> list[dict]:
        terms = folded.split()
        if use_index:
            rows = con.execute(
                """SELECT d.id, d.number, d.subject, s.score, t.text FROM (
                       SELECT document_id,
                              fts_main_search_corpus.match_bm25(document_id, ?, conjunctive := 1) AS score
                       FROM search_corpus) s
                   JOIN v_documents d ON d.id = s.document_id JOIN texts t ON t.document_id = d.id
                   WHERE s.score IS NOT NULL ORDER BY s.score DESC, d.id LIMIT ?""",
                [folded, limit],
            ).fetchall()
        else:
            pats = [r"\b" + re.escape(t) + r"\b" for t in terms]
            where = " AND ".join("regexp_matches(s, ?)" for _ in pats)
            score = " + ".join("len(regexp_extract_all(s, ?))" for _ in pats)
            rows = con.execute(
                f"""SELECT id, number, subject, CAST({score} AS DOUBLE) AS score, text FROM (
                        SELECT d.id, d.number, d.subject, t.text, lower(strip_accents({_SEARCH_EXPR})) AS s
                        FROM texts t JOIN v_documents d ON d.id = t.document_id)
                    WHERE {where} ORDER BY score DESC, id LIMIT ?""",
                [*pats, *pats, limit],
            ).fetchall()
        return [
            {"document_id": i, "number": n, "subject": s, "score": round(float(sc), 4), "snippet": snippet(text, terms)}
            for i, n, s, sc, text in rows
        ]


def snippet(text: str, terms: list[str], width: int = 80) -> str:
    """A window of the original text (diacritics kept) around the first query word."""
    folded = fold(text)
    pos = -1
    for t in terms:
        m = re.search(r"\b" + re.escape(t) + r"\b", folded)
        if m and (pos < 0 or m.start() < pos):
            pos = m.start()
    if pos < 0:
        pos = 0
    start, end = max(0, pos - width // 2), min(len(text), pos + width)
    out = re.sub(r"\s+", " ", text[start:end]).strip()
    return ("…" if start > 0 else "") + out + ("…" if end < len(text) else "")


_SEARCH_EXPR = "translate(concat_ws(' · ', d.number, d.subject, t.text), 'đĐ', 'dD')"
_CHILD_TABLES = ("texts", "pages", "doc_references", "movements", "tasks", "recipients", "distribution", "provenance")
