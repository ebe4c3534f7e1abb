"""The DuckDB store: one transaction per document, idempotent on sha256, corrections on top.

DuckDB lets one process hold a database file for writing and then no other
process may open it at all, not even read-only. So a writing `Store` opens the
file only for the moment of writing one document (open → transaction → close),
unless its owner holds the connection across several (`hold()`/`release()`,
`holding()`: ingestion does while saves keep coming, see flows/ingest._Hold), and
every open (reader or writer) retries with backoff for up to `wait_seconds`
before raising `DatabaseBusy`. A process kept waiting touches a knock file beside
the database; a holder checks it between saves (`knocked()`) and lets go.
Readers (sql/search/export) keep their read-only connection for the life of the
`Store`, which is short (one CLI command).

The store does not parse text: everything it writes comes from the `Record`.

Human work is kept apart from extraction: `corrections` (field path, or a list item's
field with the item's stable key) and `task_status`, both per dispatch (a re-scan stored
as a copy shares them), applied on top by the views in schemas/views.sql and by
`record()`. Issuing bodies are normalised by pipeline/bodies.py into a derived registry
(`bodies`, `body_names`, `body_aliases`), filled at save and correction time.
"""
from __future__ import annotations

import contextlib
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
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Literal, Optional

import duckdb

from congvan.pipeline import search_index
from congvan.pipeline.errors import DatabaseBusy
if TYPE_CHECKING:  # imported where used: the run checks what it holds before pydantic has loaded
    from congvan.schemas.record import Record


def _remember_missing_pandas() -> None:
    """DuckDB's Python binding tries `import pandas` for every bound parameter; without pandas
    installed each try walks sys.path again (~0.2 ms, ~1,500 per saved record: a third of a save).
    A None entry in sys.modules makes that import fail at once, as it would anyway."""
    import sys

    if "pandas" not in sys.modules and importlib.util.find_spec("pandas") is None:
        sys.modules["pandas"] = None  # type: ignore[assignment]


_remember_missing_pandas()


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


LIST_FIELDS = ("tasks", "references", "movements")
DERIVED_FIELDS = ("doc_key",)  # written by correct() beside the analyst's own, not record fields


def _dedupe(keys: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for k in keys:
        n = seen.get(k, 0)
        seen[k] = n + 1
        out.append(k if n == 0 else f"{k}#{n}")
    return out


def item_keys(record: dict, list_name: str) -> list[str]:
    """Stable keys of a record's list items, as the store and views compute them: a task's
    task_key, a reference's extracted key, a movement's canonical name; "#n" for repeats."""
    items = record.get(list_name) or []
    if list_name == "tasks":
        return _dedupe([task_key(t.get("assignee", ""), t.get("text", "")) for t in items])
    if list_name == "references":
        return _dedupe([r.get("key", "") for r in items])
    if list_name == "movements":
        return _dedupe([m.get("canonical", "") for m in items])
    raise ValueError(f"{list_name!r} has no item keys (lists: {', '.join(LIST_FIELDS)})")


def apply_corrections(record: dict, corrections: Iterable[tuple]) -> dict:
    """Apply corrections in order onto a record dict: (field path, value) with dotted paths
    ("subject", "issuer.name", "tasks.0.deadline"), or (field, value, item) where item is a
    stable item key and field is "tasks.assignee" etc. Items are found by their keys in the
    extraction, before any correction changes them; a key no longer present is skipped."""
    keys = {name: item_keys(record, name) for name in LIST_FIELDS}
    for corr in corrections:
        field, value = corr[0], corr[1]
        item = corr[2] if len(corr) > 2 else None
        if field in DERIVED_FIELDS:
            continue
        if item is None:
            _set_path(record, field, value)
            continue
        list_name, attr = field.split(".", 1)
        if item in keys.get(list_name, []):
            record[list_name][keys[list_name].index(item)][attr] = value
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


def _create_views(con, sql: str) -> None:
    """(Re)create the views and macros of views.sql, unless this very text (and DuckDB version)
    already made them and every view is still there: meta.views_hash. Its ~25 statements cost
    ~140 ms of CPU on every write open. (Macros are not listed: duckdb_functions() alone costs
    60 ms; the views use them, and a changed views.sql re-creates everything.)"""
    digest = hashlib.sha256(f"{duckdb.__version__}\x1f{sql}".encode()).hexdigest()
    row = con.execute("SELECT value FROM meta WHERE key = 'views_hash'").fetchone()
    if row is not None and row[0] == digest:
        views = sorted(set(re.findall(r"CREATE\s+OR\s+REPLACE\s+VIEW\s+(\w+)", sql, flags=re.I)))
        have = con.execute(
            "SELECT count(DISTINCT view_name) FROM duckdb_views() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND view_name IN (SELECT unnest(?::VARCHAR[]))", [views]).fetchone()[0]
        if have == len(views):
            return
    con.execute(sql)
    con.execute("INSERT OR REPLACE INTO meta VALUES ('views_hash', ?)", [digest])


def _is_busy(exc: Exception) -> bool:
    msg = str(exc).lower()
    return "lock" in msg or "different configuration" in msg


def _insert_rows(con, sql_head: str, rows: list[list]) -> None:
    """One multi-row INSERT (DuckDB's executemany runs one statement per row, ~20 ms each)."""
    for i in range(0, len(rows), 400):
        chunk = rows[i:i + 400]
        one = "(" + ", ".join("?" * len(chunk[0])) + ")"
        con.execute(f"{sql_head} VALUES {', '.join([one] * len(chunk))}", [v for r in chunk for v in r])


def _new_written() -> dict:
    """What a held connection has committed (Store._written): registry rows by table, fts_stale."""
    return {"bodies": {}, "body_names": {}, "body_aliases": set(), "fts_stale": False, "no_corrections": None}


def _register_bodies(con, rec: dict, written: Optional[dict] = None) -> Optional[dict]:
    """Put the issuer, the task assignees and the cited issuers of a (corrected) record dict
    into bodies, body_names and body_aliases, so the views resolve them however spelled.

    With `written` (rows this connection has already committed, see Store._written), rows
    already there with the same values are not written again: the same issuer and assignees come
    back in most documents of a run. Returns what to add to `written` once the transaction commits."""
    from congvan.pipeline.bodies import body_fold, resolve

    bodies: dict[str, list] = {}
    names: dict[tuple[str, str], list] = {}
    aliases: dict[tuple[str, str], list] = {}

    def put(name: Optional[str], context: Optional[str], context_key: Optional[str] = None):
        body = resolve(name, context_province=context)
        if body is None:
            return None
        context = context if context_key is None else context_key
        bodies[body.key] = [body.key, body.name, body.kind, body.level, body.locality, body.district,
                            body.province, body.province_2025]
        k = (body_fold(name), body_fold(context or ""))
        names[k] = [*k, body.key]
        for a, rel in body.aliases:
            aliases.setdefault((a, body.key), [a, body.key, rel])
        return body

    iss = rec.get("issuer") or {}
    # an issuer named without its province ("Sở Nội vụ" under "UBND tỉnh Lâm Đồng") is read
    # in its locality's; body_names keeps it under that context, as v_documents looks it up
    parent = resolve(iss.get("parent")) if iss.get("parent") else None
    context = iss.get("locality") or (parent.province if parent else None)
    issuer = put(iss.get("name"), context, context_key=iss.get("locality") or "")
    province = issuer.province if issuer else None
    for t in rec.get("tasks") or []:
        put(t.get("assignee"), province)
    for r in rec.get("references") or []:  # "UBND tỉnh" cited in a Hà Tĩnh plan is Hà Tĩnh's
        put(r.get("issuer"), province)
    if written is not None:  # INSERT OR REPLACE of the very same row, INSERT OR IGNORE of a held key: no-ops
        bodies = {k: v for k, v in bodies.items() if written["bodies"].get(k) != v}
        names = {k: v for k, v in names.items() if written["body_names"].get(k) != v}
        aliases = {k: v for k, v in aliases.items() if k not in written["body_aliases"]}
    _insert_rows(con, "INSERT OR REPLACE INTO bodies", list(bodies.values()))
    _insert_rows(con, "INSERT OR REPLACE INTO body_names", list(names.values()))
    _insert_rows(con, "INSERT OR IGNORE INTO body_aliases", list(aliases.values()))
    return {"bodies": bodies, "body_names": names, "body_aliases": set(aliases)}


def _remember_written(written: Optional[dict], new: Optional[dict], *, fts_stale: bool = False) -> None:
    """After a commit: what it wrote is now in the database (never before: a rollback undoes it)."""
    if written is None:
        return
    if new:
        written["bodies"].update(new["bodies"])
        written["body_names"].update(new["body_names"])
        written["body_aliases"] |= new["body_aliases"]
    written["fts_stale"] = written["fts_stale"] or fts_stale


KNOCK_POLL = 0.2  # seconds: the longest a process waiting for the file sleeps between tries (see Store._knock)

XREF_VERSION = "1"  # bump when _refresh_xref changes what it writes: every store rebuilds on open


def _refresh_xref(con, ids: Optional[Iterable[str]] = None) -> None:
    """Rewrite the citation graph behind citing() (xref_* tables) for these dispatches, or all.

    Derived from v_documents and v_references, so corrections (a corrected number moves the node,
    a corrected reference key moves the edge) and the first-copy rule are the views' own. Called
    inside the writer's transaction of every save and correction; one document at a time, the
    filter on its id reaches the tables (~10 ms at 100,000 documents).
    """
    if ids is None:
        con.execute("DELETE FROM xref_edges")
        con.execute("DELETE FROM xref_docs")
        batches = [("", [])]
    else:
        batches = [(" AND id = ?", [i]) for i in dict.fromkeys(ids) if i]
    for where, params in batches:
        if params:
            con.execute("DELETE FROM xref_edges WHERE document_id = ?", params)
            con.execute("DELETE FROM xref_docs WHERE id = ?", params)
        con.execute("CREATE OR REPLACE TEMP TABLE xref_new_docs AS SELECT id, coalesce(doc_key, 'id:' || id) AS node "
                    f"FROM v_documents WHERE copy_of IS NULL{where}", params)
        con.execute("CREATE OR REPLACE TEMP TABLE xref_new_refs AS SELECT document_id, key FROM v_references "
                    f"WHERE copy_of IS NULL{where.replace('id', 'document_id')}", params)
        con.execute("""INSERT INTO xref_nodes (key)
                       SELECT k FROM (SELECT node AS k FROM xref_new_docs UNION SELECT key FROM xref_new_refs)
                       WHERE k NOT IN (SELECT key FROM xref_nodes) ORDER BY k""")
        con.execute("INSERT INTO xref_docs SELECT d.id, x.n FROM xref_new_docs d JOIN xref_nodes x ON x.key = d.node")
        con.execute("""INSERT INTO xref_edges
                       SELECT DISTINCT r.document_id, s.n, t.n FROM xref_new_refs r
                       JOIN xref_new_docs d ON d.id = r.document_id
                       JOIN xref_nodes s ON s.key = d.node JOIN xref_nodes t ON t.key = r.key""")
    con.execute("DROP TABLE IF EXISTS xref_new_docs")
    con.execute("DROP TABLE IF EXISTS xref_new_refs")


def _refresh_xref_one(con, doc_id: str, node: str, ref_keys: Iterable[Optional[str]]) -> None:
    """_refresh_xref(con, [doc_id]) for a first copy with no corrections, whose node (its doc_key,
    or 'id:<id>') and reference keys the caller holds: the very rows v_documents and v_references
    would give, without computing the views (two temporary tables and ~20 ms a save)."""
    refs = sorted({k for k in ref_keys if k is not None})
    con.execute("DELETE FROM xref_edges WHERE document_id = ?", [doc_id])
    con.execute("DELETE FROM xref_docs WHERE id = ?", [doc_id])
    con.execute("""INSERT INTO xref_nodes (key)
                   SELECT k FROM (SELECT DISTINCT unnest(?::VARCHAR[]) AS k)
                   WHERE k NOT IN (SELECT key FROM xref_nodes) ORDER BY k""", [sorted({node, *refs})])
    con.execute("INSERT INTO xref_docs SELECT ?, n FROM xref_nodes WHERE key = ?", [doc_id, node])
    if refs:
        con.execute("""INSERT INTO xref_edges
                       SELECT DISTINCT ?, s.n, t.n FROM xref_nodes s, xref_nodes t
                       WHERE s.key = ? AND t.key IN (SELECT unnest(?::VARCHAR[]))""", [doc_id, node, refs])


def _similar(a: Optional[str], b: Optional[str], threshold: float = 90.0) -> bool:
    if not a or not b:
        return False
    from rapidfuzz import fuzz
    from congvan.pipeline.bodies import body_fold
    return fuzz.ratio(body_fold(a), body_fold(b)) >= threshold


# ---------------------------------------------------------------- the store

class _Borrowed:
    """The held connection lent to one operation: its close() leaves it open for the next."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._con = con

    def close(self) -> None:
        pass

    def __getattr__(self, name: str):
        return getattr(self._con, name)


class Store:
    """The congvan database. See the module docstring for the locking rules."""

    def __init__(self, path: Path | str, *, read_only: bool = False, wait_seconds: float = 30.0):
        self.path = Path(path)
        self.read_only = read_only
        self.wait_seconds = wait_seconds
        self._con: Optional[duckdb.DuckDBPyConnection] = None
        self._held: Optional[duckdb.DuckDBPyConnection] = None  # see hold()
        self._held_since = 0.0
        self._held_threads: Optional[int] = None
        self._knock_seen: Optional[int] = None
        # Rows this held connection has committed to the body registry, and whether it has marked
        # the search index stale: later saves on it skip rewriting what is already there. Dropped
        # on release and by any other write through the Store (see _forget_written).
        self._written: Optional[dict] = None
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
                self._knock()
                if time.monotonic() >= deadline:
                    raise DatabaseBusy(
                        f"the database {self.path} is being written by another process "
                        "(ingestion); try again shortly"
                    ) from exc
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, KNOCK_POLL)
        return con

    # A process that finds the file held touches a "knock" file beside it; a writer holding the
    # file across many saves (ingestion, see hold()) checks it between saves and lets go for a
    # moment (flows/ingest.py waits KNOCK_GAP before opening again), so `congvan sql` gets in
    # while a long run writes. The waiter polls every KNOCK_POLL seconds at most, well inside
    # that gap. A failed open costs ~5 ms of CPU.
    @property
    def knock_path(self) -> Path:
        return self.path.parent / f".{self.path.name}.wanted"

    def _knock(self) -> None:
        try:
            self.knock_path.touch()
        except OSError:  # a read-only folder: the writer lets go between bursts anyway
            pass

    def _knock_mtime(self) -> Optional[int]:
        try:
            return self.knock_path.stat().st_mtime_ns
        except OSError:
            return None

    def knocked(self) -> bool:
        """True when another process has found the file held since this Store took hold()."""
        return self._held is not None and self._knock_mtime() != self._knock_seen

    def held_for(self) -> Optional[float]:
        """Seconds since hold() opened the writer connection, or None when not holding."""
        return None if self._held is None else time.monotonic() - self._held_since

    def _create_schema(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute((_SCHEMAS / "schema.sql").read_text(encoding="utf-8"))
        views = _SCHEMAS / "views.sql"
        if views.exists():
            _create_views(con, views.read_text(encoding="utf-8"))
        self._refresh_bodies(con)
        row = con.execute("SELECT value FROM meta WHERE key = 'xref_version'").fetchone()
        if row is None or row[0] != XREF_VERSION:
            self._rebuild_xref(con)

    @staticmethod
    def _rebuild_xref(con) -> None:
        con.execute("BEGIN TRANSACTION")
        try:
            _refresh_xref(con)
            con.execute("INSERT OR REPLACE INTO meta VALUES ('xref_version', ?)", [XREF_VERSION])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def refresh_xref(self) -> None:
        """Rebuild the citation graph from the tables: for bulk loads that bypass `save`."""
        self._forget_written()
        con = self._writer()
        try:
            self._rebuild_xref(con)
        finally:
            con.close()

    def _refresh_bodies(self, con) -> None:
        """Re-resolve every document's bodies when the normalisation changed (or the database
        predates it): the registry is derived data, rebuilt from records and corrections."""
        from congvan.pipeline.bodies import registry_version

        version = registry_version()
        row = con.execute("SELECT value FROM meta WHERE key = 'bodies_version'").fetchone()
        if row is not None and row[0] == version:
            return
        con.execute("BEGIN TRANSACTION")
        try:
            for table in ("bodies", "body_names", "body_aliases"):
                con.execute(f"DELETE FROM {table}")
            for (sha,) in con.execute("SELECT sha256 FROM documents ORDER BY ingested_at, id").fetchall():
                _register_bodies(con, self._corrected_dict(con, sha))
            con.execute("INSERT OR REPLACE INTO meta VALUES ('bodies_version', ?)", [version])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _writer(self) -> duckdb.DuckDBPyConnection:
        if self.read_only:
            raise PermissionError("this Store was opened read-only")
        if self._held is not None:
            return _Borrowed(self._held)
        return self._connect(read_only=False)

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """One writer connection for every save inside (each still its own transaction).

        Opening and closing (with its checkpoint) cost as much as a save itself; the staging
        loader holds one per chunk of records, ingestion holds one while saves keep coming
        (hold()/release(), flows/ingest._Hold).
        """
        if not self.hold():
            yield
            return
        try:
            yield
        finally:
            self.release()

    def hold(self, *, threads: Optional[int] = None) -> bool:
        """Open the writer connection and keep it for what follows (each save still its own
        transaction) until release(). False if already held. The caller decides how long to hold:
        no other process can even read meanwhile (see knocked()). `threads` caps DuckDB's threads
        while held (a save's small statements gain nothing from more: 1 saves ~15 % of their CPU,
        left to extraction); refresh_index() lifts the cap for the index build."""
        if self.read_only:
            raise PermissionError("this Store was opened read-only")
        if self._held is not None:
            return False
        con = self._connect(read_only=False)
        if threads:
            try:
                con.execute(f"SET threads = {int(threads)}")
            except BaseException:
                con.close()
                raise
        self._held_threads = threads
        self._held, self._held_since, self._written = con, time.monotonic(), _new_written()
        self._knock_seen = self._knock_mtime()  # knocks before now (ours too) were answered already
        return True

    def release(self) -> None:
        """Close the held writer connection (DuckDB checkpoints on close), if any."""
        con, self._held, self._written = self._held, None, None
        if con is not None:
            con.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.release()
        if self._con is not None:
            self._con.close()
            self._con = None

    def _run(self, fn):
        """Run fn(con) on the held reader connection, or on a momentary writer one."""
        if self._con is not None:
            return fn(self._con)
        if self._held is not None:
            return fn(self._held)
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
        ('updated') and keeps corrections and task status. A different file of a held
        dispatch (see _find_dispatch) → stored and linked as a 'copy'."""
        con = self._writer()
        try:
            return self._save_on(con, record, stored_path=stored_path, original_name=original_name, replace=replace,
                                 written=self._written if isinstance(con, _Borrowed) else None)
        finally:
            con.close()

    def _save_on(self, con, record: Record, *, stored_path: str | None = None, original_name: str | None = None,
                 replace: bool = False, written: Optional[dict] = None) -> SaveResult:
        sha = record.source.sha256.lower()
        doc_id = document_id(sha)
        now = _utcnow()
        path = stored_path if stored_path is not None else record.source.path
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
                copy_of = self._find_dispatch(con, record, sha, no_corrections=self._no_corrections(con, written))
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
            # Corrections of its dispatch (kept across re-scans and re-extraction) change what the
            # registry and the citation graph hold; without any, both come from the record in hand.
            corrected = not self._no_corrections(con, written) and con.execute(
                "SELECT 1 FROM corrections c JOIN documents d ON d.sha256 = c.sha256 "
                "WHERE coalesce(d.copy_of, d.id) = ? LIMIT 1", [copy_of or doc_id]).fetchone() is not None
            if corrected:
                rec = self._corrected_dict(con, sha)
            else:
                rec = json.loads(vals[cols.index("record_json")])
                rec["text"] = record.text
            registered = _register_bodies(con, rec, written)
            if not copy_of:  # copies are not nodes of the citation graph
                if corrected:
                    _refresh_xref(con, [doc_id])
                else:
                    doc_key = vals[cols.index("doc_key")]
                    _refresh_xref_one(con, doc_id, doc_key if doc_key is not None else f"id:{doc_id}",
                                      (r.key for r in record.references))
            if written is None or not written["fts_stale"]:  # else an earlier commit on this connection did
                con.execute("UPDATE meta SET value = 'true' WHERE key = 'fts_stale'")
            search_index.mark_pending(con, [doc_id])  # every save: what the next refresh re-indexes
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        _remember_written(written, registered, fts_stale=True)
        return SaveResult(status, doc_id, copy_of)

    @staticmethod
    def _no_corrections(con, written: Optional[dict]) -> bool:
        """True when the corrections table is empty; asked once per held connection (saves never
        write corrections, and any other write through the Store starts `written` over)."""
        if written is not None and written["no_corrections"] is not None:
            return written["no_corrections"]
        empty = con.execute("SELECT count(*) FROM (SELECT 1 FROM corrections LIMIT 1)").fetchone()[0] == 0
        if written is not None:
            written["no_corrections"] = empty
        return empty

    @staticmethod
    def _find_dispatch(con, record: Record, sha: str, *, no_corrections: bool = False) -> Optional[str]:
        """The held dispatch this record is a re-scan of, or None. Matched on the extracted or
        the corrected header (v_documents): same number, symbol, issuer and date; a dispatch
        whose number was left blank (written by hand after signing) also needs its date
        and a subject at least 90 % alike, since blank numbers are common.

        Without any header correction in the database v_documents shows the documents' own
        values, and the same match is made on `documents` alone (the view costs ~7 ms a save)."""
        if no_corrections or con.execute("SELECT 1 FROM corrections WHERE item IS NULL LIMIT 1").fetchone() is None:
            return Store._find_dispatch_plain(con, record, sha)
        if record.number:
            hit = con.execute(
                """SELECT d.id FROM documents d JOIN v_documents v ON v.id = d.id
                   WHERE (d.number = ? OR v.number = ?) AND (d.symbol IS NOT DISTINCT FROM ? OR v.symbol = ?)
                     AND (d.issuer_name IS NOT DISTINCT FROM ? OR v.issuer_name = ?)
                     AND (d.issued_date IS NOT DISTINCT FROM ? OR v.issued_date = ?)
                     AND d.copy_of IS NULL AND d.sha256 <> ?
                   ORDER BY d.ingested_at, d.id LIMIT 1""",
                [record.number, record.number, record.symbol, record.symbol, record.issuer.name,
                 record.issuer.name, record.issued_date, record.issued_date, sha],
            ).fetchone()
            return hit[0] if hit else None
        if not (record.symbol and record.issuer.name and record.issued_date and record.subject):
            return None
        rows = con.execute(
            """SELECT v.id, v.subject FROM v_documents v
               WHERE v.number IS NULL AND v.symbol = ? AND v.issuer_name = ? AND v.issued_date = ?
                 AND v.copy_of IS NULL AND v.sha256 <> ?
               ORDER BY v.ingested_at, v.id""",
            [record.symbol, record.issuer.name, record.issued_date, sha],
        ).fetchall()
        return next((i for i, subj in rows if _similar(subj, record.subject)), None)

    @staticmethod
    def _find_dispatch_plain(con, record: Record, sha: str) -> Optional[str]:
        """_find_dispatch when no document has a header correction: v_documents' number, symbol,
        issuer_name, issued_date and subject are then the documents' own, so `d.x = ? OR v.x = ?`
        is `d.x = ?`, and `d.x IS NOT DISTINCT FROM ? OR v.x = ?` is `d.x IS NOT DISTINCT FROM ?`."""
        if record.number:
            hit = con.execute(
                """SELECT id FROM documents
                   WHERE number = ? AND symbol IS NOT DISTINCT FROM ? AND issuer_name IS NOT DISTINCT FROM ?
                     AND issued_date IS NOT DISTINCT FROM ? AND copy_of IS NULL AND sha256 <> ?
                   ORDER BY ingested_at, id LIMIT 1""",
                [record.number, record.symbol, record.issuer.name, record.issued_date, sha],
            ).fetchone()
            return hit[0] if hit else None
        if not (record.symbol and record.issuer.name and record.issued_date and record.subject):
            return None
        rows = con.execute(
            """SELECT id, subject FROM documents
               WHERE number IS NULL AND symbol = ? AND issuer_name = ? AND issued_date = ?
                 AND copy_of IS NULL AND sha256 <> ?
               ORDER BY ingested_at, id""",
            [record.symbol, record.issuer.name, record.issued_date, sha],
        ).fetchall()
        return next((i for i, subj in rows if _similar(subj, record.subject)), None)

    def save_many(self, records: Iterable[Record]) -> list[SaveResult]:
        """Save several records through one open of the file (each still in its own
        transaction, so one bad record does not undo the others). Saves the cost of
        reopening DuckDB per document when loading a batch."""
        with self.holding():
            return [self.save(r) for r in records]

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
            _insert_rows(con, "INSERT INTO pages", [
                [doc_id, p.number, p.text_source, p.reason, p.chars, p.ocr_confidence, p.start] for p in record.pages])
        if record.references:
            _insert_rows(con, "INSERT INTO doc_references", [
                [doc_id, i, r.key, r.raw, r.doc_type, r.number, r.date, r.issuer, r.citation, *prov(r.prov)]
                for i, r in enumerate(record.references)])
        if record.movements:
            _insert_rows(con, "INSERT INTO movements", [
                [doc_id, i, m.name, m.canonical, m.period, m.launched_by, *prov(m.prov)]
                for i, m in enumerate(record.movements)])
        if record.tasks:
            seen: dict[str, int] = {}
            rows = []
            for i, t in enumerate(record.tasks):
                k = task_key(t.assignee, t.text)
                n = seen.get(k, 0)
                seen[k] = n + 1
                rows.append([doc_id, i, k if n == 0 else f"{k}#{n}", t.item, t.text, t.assignee,
                             list(t.coordinators), t.deadline, deadline_last_day(t.deadline), *prov(t.prov)])
            _insert_rows(con, "INSERT INTO tasks", rows)
        for table, names in (("recipients", record.recipients), ("distribution", record.distribution)):
            if names:
                _insert_rows(con, f"INSERT INTO {table}", [[doc_id, i, n] for i, n in enumerate(names)])
        if record.provenance:
            _insert_rows(con, "INSERT INTO provenance",
                         [[doc_id, f, *prov(p)] for f, p in sorted(record.provenance.items())])

    def _sha_of(self, con, doc: str) -> str:
        """The sha256 of the dispatch a document id, sha256 or unique id prefix (≥ 6 hex
        digits) names: a copy's corrections and task status belong to its dispatch."""
        d = doc.strip().lower()
        rows = con.execute(
            "SELECT coalesce(o.sha256, d.sha256) FROM documents d LEFT JOIN documents o ON o.id = d.copy_of "
            "WHERE d.id = ? OR d.sha256 = ? OR (length(?) >= 6 AND starts_with(d.id, ?))", [d, d, d, d]
        ).fetchall()
        shas = sorted({r[0] for r in rows})
        if not shas:
            raise KeyError(f"no document {doc!r}")
        if len(shas) > 1:
            raise KeyError(f"{doc!r} names {len(shas)} documents: give more of the id")
        return shas[0]

    @staticmethod
    def _corrections_of(con, sha: str) -> list[tuple]:
        rows = con.execute(
            'SELECT field, value, item FROM corrections WHERE sha256 = ? ORDER BY "at", id', [sha]
        ).fetchall()
        return [(f, json.loads(v), i) for f, v, i in rows]

    def _corrected_dict(self, con, sha: str) -> dict:
        """The record of the dispatch this sha256 belongs to, with its corrections applied."""
        row = con.execute(
            "SELECT coalesce(o.sha256, d.sha256) FROM documents d LEFT JOIN documents o ON o.id = d.copy_of "
            "WHERE d.sha256 = ?", [sha]).fetchone()
        rec = self._record_dict(con, sha)
        return apply_corrections(rec, self._corrections_of(con, row[0] if row else sha))

    @staticmethod
    def parse_field(rec: dict, field: str) -> tuple[str, Optional[str]]:
        """'subject' → ('subject', None); 'tasks.3.assignee' (ordinal, as in v_tasks) or
        'tasks.<task_key>.assignee' → ('tasks.assignee', task_key). Ordinals are turned into
        stable item keys here, so the correction follows the item through re-extraction."""
        head, _, rest = field.partition(".")
        if head not in LIST_FIELDS:
            return field, None
        selector, _, attr = rest.rpartition(".")
        if not selector or not attr:
            raise ValueError(f"{field!r}: name an item and a field, e.g. {head}.0.{'assignee' if head == 'tasks' else 'key'}")
        keys = item_keys(rec, head)
        if selector.isdigit():
            i = int(selector)
            if i >= len(keys):
                raise ValueError(f"{field!r}: the document has {len(keys)} {head} (0…{len(keys) - 1})")
            return f"{head}.{attr}", keys[i]
        if selector not in keys:
            raise ValueError(f"{field!r}: no {head} item {selector!r}; items: {', '.join(keys) or 'none'}")
        return f"{head}.{attr}", selector

    def correct(self, document: str, field: str, value: Any, *, author: str | None = None,
                note: str | None = None) -> str:
        """Record a human correction of a document (id, sha256 or id prefix; a copy's go to
        its dispatch): a record field path ("subject", "issuer.name") or a list item's field
        ("tasks.3.assignee", "references.CV:679:UBND-TH.key"). Checked by applying it to the
        record and validating; kept across re-extraction and re-scans. Returns the stored
        field path."""
        from congvan.schemas.record import Record

        def fn(con):
            sha = self._sha_of(con, document)
            extracted = self._record_dict(con, sha)
            path, item = self.parse_field(extracted, field)
            current = self._corrected_dict(con, sha)
            try:
                Record.model_validate(apply_corrections(current, [(path, value, item) if item else (path, value)]))
            except Exception as exc:
                raise ValueError(f"correction {field}={value!r} does not fit the record: {exc}") from exc
            at = _utcnow()
            rows = [(path, value, note, item)]
            old_number = (self._corrected_dict(con, sha).get("number") or "")
            if (path == "number" and isinstance(value, str) and "/" in value and "/" in old_number
                    and current.get("symbol") == old_number.split("/", 1)[1]):
                current["symbol"] = value.split("/", 1)[1]  # the symbol is the number's tail: keep them together
                rows.append(("symbol", current["symbol"], "derived from the corrected number", None))
            con.executemany(
                'INSERT INTO corrections (sha256, field, value, author, "at", note, item) VALUES (?, ?, ?, ?, ?, ?, ?)',
                [[sha, f, json.dumps(v, ensure_ascii=False), author, at, n, i] for f, v, n, i in rows],
            )
            if path in ("number", "symbol", "doc_type"):  # the key citations find it by
                key = document_key(Record.model_validate(current))
                con.execute(
                    'INSERT INTO corrections (sha256, field, value, author, "at", note, item) '
                    "VALUES (?, 'doc_key', ?, ?, ?, 'derived from the corrected number', NULL)",
                    [sha, json.dumps(key), author, at],
                )
            _register_bodies(con, current)
            _refresh_xref(con, [r[0] for r in con.execute(
                "SELECT coalesce(copy_of, id) FROM documents WHERE sha256 = ?", [sha]).fetchall()])
            con.execute("UPDATE meta SET value = 'true' WHERE key = 'fts_stale'")  # subject/number are indexed
            search_index.mark_dispatch_pending(con, sha)  # the dispatch and its copies (v_documents)
            return path if item is None else f"{path}[{item}]"
        return self._write(fn)

    TASK_STATUSES = ("open", "in_progress", "done", "cancelled")

    def find_task(self, task: str) -> tuple[str, str]:
        """(dispatch sha256, task_key) for "DOC:ORDINAL", "DOC:TASK_KEY" (v_tasks.task_id) or a
        bare task_key unique in the database; DOC may be an id prefix."""
        def fn(con):
            doc, sep, sel = task.strip().partition(":")
            if not sep:
                rows = con.execute("SELECT DISTINCT document_id FROM tasks WHERE task_key = ?", [doc.lower()]).fetchall()
                if len(rows) != 1:
                    raise KeyError(f"{task!r}: give DOCUMENT:ORDINAL or a task_id from v_tasks")
                doc, sel = rows[0][0], doc.lower()
            sha = self._sha_of(con, doc)
            keys = item_keys(self._record_dict(con, sha), "tasks")
            if sel.isdigit():
                if int(sel) >= len(keys):
                    raise KeyError(f"{task!r}: the document has {len(keys)} tasks (0…{len(keys) - 1})")
                return sha, keys[int(sel)]
            if sel.lower() not in keys:
                raise KeyError(f"{task!r}: no such task in the document")
            return sha, sel.lower()
        return self._run(fn)

    def set_task_status(self, document: str, key: str, status: str, *, author: str | None = None,
                        note: str | None = None) -> None:
        """Set a task's workflow status (open, in_progress, done, cancelled); key = tasks.task_key
        or the task's ordinal. Kept per dispatch, so re-scans and re-extraction keep it."""
        if status not in self.TASK_STATUSES:
            raise ValueError(f"status must be one of {', '.join(self.TASK_STATUSES)}, not {status!r}")
        sha, key = self.find_task(f"{document}:{key}")

        def fn(con):
            con.execute(
                """INSERT INTO task_status VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (sha256, task_key) DO UPDATE SET status = excluded.status,
                   note = excluded.note, author = excluded.author, "at" = excluded."at"
                """,
                [sha, key, status, note, author, _utcnow()],
            )
        self._write(fn)

    def _forget_written(self) -> None:
        """Writes other than save() (corrections, arbitrary SQL, an index rebuild) may change the
        registry or the fts_stale flag behind what the held connection remembers: start over."""
        if self._written is not None:
            self._written = _new_written()

    def _write(self, fn):
        self._forget_written()
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

    def known_sha256(self, shas: Iterable[str]) -> set[str]:
        """The subset of these sha256 the store holds, in one query: re-checking a folder of
        1,000 unchanged files costs one open of the file, not one per file (31 ms each)."""
        wanted = sorted({x.lower() for x in shas})
        if not wanted:
            return set()
        return self._run(lambda con: {r[0] for r in con.execute(
            "SELECT sha256 FROM documents WHERE sha256 IN (SELECT unnest(?::VARCHAR[]))", [wanted]).fetchall()})

    def record_sightings(self, sightings: list[tuple[str, str, Optional[str]]]) -> list[Optional[SaveResult]]:
        """Sightings (sha256, path, original name) of held bytes, in one transaction.

        For each: None when the bytes are not held (the caller extracts that file), else the
        'duplicate' result `save` would give. A sighting already recorded for the same bytes at
        the same path is not written again, so re-running over an unchanged folder writes nothing
        and the `files` table does not grow by a row per file per run.
        """
        if not sightings:
            return []

        def fn(con):
            shas = sorted({sha.lower() for sha, _, _ in sightings})
            held = {r[0]: (r[1], r[2]) for r in con.execute(
                "SELECT sha256, id, copy_of FROM documents WHERE sha256 IN (SELECT unnest(?::VARCHAR[]))",
                [shas]).fetchall()}
            seen = {(r[0], r[1]) for r in con.execute(
                "SELECT sha256, path FROM files WHERE sha256 IN (SELECT unnest(?::VARCHAR[]))",
                [list(held)]).fetchall()} if held else set()
            now = _utcnow()
            out: list[Optional[SaveResult]] = []
            rows = []
            for sha, path, original_name in sightings:
                sha = sha.lower()
                if sha not in held:
                    out.append(None)
                    continue
                if (sha, path) not in seen:
                    seen.add((sha, path))
                    rows.append([sha, path, original_name, now, "duplicate"])
                out.append(SaveResult("duplicate", *held[sha]))
            if rows:
                _insert_rows(con, "INSERT INTO files", rows)
            return out

        return self._write(fn)

    def query(self, sql: str, params: Optional[list | dict] = None) -> tuple[list[str], list[tuple]]:
        """Run SQL (parameterised when params are given): (column names, rows)."""
        self._forget_written()

        def fn(con):
            cur = con.execute(sql, params) if params is not None else con.execute(sql)
            if cur.description is None:
                return [], []
            return [d[0] for d in cur.description], cur.fetchall()
        return self._run(fn)

    def record(self, document: str, *, corrected: bool = True) -> Record:
        """The stored Record (document id or sha256), with corrections applied by default."""
        from congvan.schemas.record import Record

        def fn(con):
            sha = self._exact_sha(con, document)
            rec = self._corrected_dict(con, sha) if corrected else self._record_dict(con, sha)
            return Record.model_validate(rec)
        return self._run(fn)

    @staticmethod
    def _exact_sha(con, doc: str) -> str:
        """The sha256 of exactly this document (not its dispatch)."""
        row = con.execute("SELECT sha256 FROM documents WHERE id = ? OR sha256 = ?",
                          [doc.lower(), doc.lower()]).fetchone()
        if row is None:
            raise KeyError(f"no document {doc!r}")
        return row[0]

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
        """Bring the fts index up to date if writes made it stale (or rebuild it whole: force).
        Returns True if it changed anything; `last_index_refresh` says how ('full', 'incremental')."""
        def fn(con):
            return self._rebuild(con, force=force)
        if self._con is not None:
            raise PermissionError("refresh_index needs a writer Store")
        self._forget_written()
        if self._held is not None and self._held_threads:  # the index build parallelises: every core
            self._held.execute("RESET threads")
            self._held_threads = None
        return self._run(fn)

    @staticmethod
    def _stale(con) -> bool:
        row = con.execute("SELECT value FROM meta WHERE key = 'fts_stale'").fetchone()
        return row is None or row[0] != "false"

    last_index_refresh: Optional[str] = None  # 'full' | 'incremental': what the last refresh did

    def _rebuild(self, con, *, force: bool = False) -> bool:
        """Re-index the documents written since the last refresh (search_pending), or rebuild the
        whole index when there is none yet, most of the corpus changed, or force (see
        pipeline/search_index.py): either way the BM25 scores a rebuild would give."""
        if not force and not self._stale(con):
            return False
        _load_fts(con)

        def full():
            con.execute("DELETE FROM search_corpus")
            con.execute(f"INSERT INTO search_corpus SELECT d.id, {_SEARCH_EXPR} FROM {search_index.CORPUS_FROM}")
            if con.execute("SELECT count(*) FROM search_corpus").fetchone()[0]:
                con.execute(f"PRAGMA create_fts_index('search_corpus', 'document_id', 'search_text', {FTS_OPTIONS})")
            elif self._has_index(con):
                con.execute("PRAGMA drop_fts_index('search_corpus')")

        self.last_index_refresh = search_index.refresh(
            con, force=force, signature=search_index.build_signature(FTS_OPTIONS, _SEARCH_EXPR, con),
            fts_options=FTS_OPTIONS, search_expr=_SEARCH_EXPR, full=full)
        if self.last_index_refresh == "full":
            con.execute("CHECKPOINT")  # the index is large and rewritten anyway: keep the WAL small for readers
        return True

    @staticmethod
    def _has_index(con) -> bool:
        return search_index.has_index(con)

    def search(self, query: str, limit: int = 20) -> list[dict]:
        """Full-text search (BM25, all words required, diacritics optional).
        Rebuilds a stale index first; a reader briefly reopens for writing to do so,
        and if ingestion holds the file it scans the text instead (same answers, no BM25)."""
        folded = " ".join(re.findall(r"[\w]+", fold(query)))
        if not folded:
            return []
        self._forget_written()
        if self._con is None:
            con = self._connect(read_only=False)
            try:
                self._rebuild(con)
                _load_fts(con)
                return self._search(con, folded, limit, use_index=self._has_index(con), query=query)
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
        return self._search(self._con, folded, limit, use_index=use_index and self._has_index(self._con),
                            query=query)

    @staticmethod
    def _search(con, folded: str, limit: int, *, use_index: bool, query: Optional[str] = None) -> list[dict]:
        """Rank (BM25, or term counts when scanning), keep one hit per dispatch (a re-scan linked by
        copy_of gives way to the first copy), then, when the query has diacritics, lift documents
        that contain its accented words exactly ("thị" over "thi") among a wider candidate pool."""
        terms = folded.split()
        exact = _exact_words(query)
        pool = max(limit * 5, 100) if exact else limit
        # The first copy stands for its dispatch, with the best score of any copy: choosing the copy
        # by score let BM25's last-bit differences between runs pick text or garbled twin at random.
        dispatch = "PARTITION BY coalesce(copy_of, id)"
        best = f"max(score) OVER ({dispatch}) AS score"
        one_per_dispatch = f"QUALIFY row_number() OVER ({dispatch} ORDER BY copy_of IS NOT NULL, score DESC, id) = 1"
        if use_index:
            rows = con.execute(
                f"""SELECT id, number, subject, {best}, text FROM (
                        SELECT d.id, d.copy_of, d.number, d.subject, s.score, t.text FROM (
                            SELECT document_id,
                                   fts_main_search_corpus.match_bm25(document_id, ?, conjunctive := 1) AS score
                            FROM search_corpus) s
                        JOIN v_documents d ON d.id = s.document_id JOIN texts t ON t.document_id = d.id
                        WHERE s.score IS NOT NULL)
                    {one_per_dispatch} ORDER BY score DESC, id LIMIT ?""",
                [folded, pool],
            ).fetchall()
        else:
            pats = [r"\b" + re.escape(t) + r"\b" for t in terms]
            where = " AND ".join("regexp_matches(s, ?)" for _ in pats)
            score = " + ".join("len(regexp_extract_all(s, ?))" for _ in pats)
            rows = con.execute(
                f"""SELECT id, number, subject, {best}, text FROM (
                        SELECT id, copy_of, number, subject, CAST({score} AS DOUBLE) AS score, text FROM (
                            SELECT d.id, d.copy_of, d.number, d.subject, t.text,
                                   lower(strip_accents({_SEARCH_EXPR})) AS s
                            FROM texts t JOIN v_documents d ON d.id = t.document_id)
                        WHERE {where})
                    {one_per_dispatch} ORDER BY score DESC, id LIMIT ?""",
                [*pats, *pats, pool],
            ).fetchall()
        hits = []
        for i, n, s, sc, text in rows:
            sc = float(sc)
            if exact:
                hay = unicodedata.normalize("NFC", f"{n or ''} · {s or ''} · {text}").lower()
                found = sum(1 for w in exact if re.search(rf"(?<!\w){re.escape(w)}(?!\w)", hay))
                sc *= 1 + 0.5 * found / len(exact)
            hits.append({"document_id": i, "number": n, "subject": s, "score": round(sc, 4),
                         "snippet": snippet(text, terms)})
        hits.sort(key=lambda h: (-h["score"], h["document_id"]))
        return hits[:limit]


def _exact_words(query: Optional[str]) -> list[str]:
    """A query typed with diacritics (any word with a mark or đ) means its words as written, "thi"
    included: its words, lowercase NFC. A query without any diacritics gives none (no preference)."""
    if not query:
        return []
    words = re.findall(r"\w+", unicodedata.normalize("NFC", query).lower())
    return sorted(set(words)) if any(fold(w) != w for w in words) else []


def snippet(text: str, terms: list[str], width: int = 80) -> str:
    """A window of the original text (diacritics kept) where the most distinct query words meet
    (the earliest such window), found in the folded text, whose offsets are the original's."""
    folded = fold(text)
    hits = sorted((m.start(), t) for t in set(terms)
                  for m in re.finditer(r"\b" + re.escape(t) + r"\b", folded))
    pos, best = 0, 0
    for start, _ in hits:
        near = {t for s, t in hits if start - width // 4 <= s <= start + width // 2}
        if len(near) > best:
            pos, best = start, len(near)
    start, end = max(0, pos - width // 4), min(len(text), pos + width)
    out = re.sub(r"\s+", " ", text[start:end]).strip()
    return ("…" if start > 0 else "") + out + ("…" if end < len(text) else "")

_SEARCH_EXPR = "translate(concat_ws(' · ', d.number, d.subject, t.text), 'đĐ', 'dD')"
_CHILD_TABLES = ("texts", "pages", "doc_references", "movements", "tasks", "recipients", "distribution", "provenance")
