"""Incremental upkeep of the fts index over `search_corpus` (see Store.refresh_index).

DuckDB's fts extension cannot update its index: `PRAGMA create_fts_index` rebuilds it from the
whole corpus (~110 s at 100,000 documents of ~1,200 words). But the index is plain tables in
schema `fts_main_search_corpus` that `match_bm25` reads at query time:

    docs(docid, name, len)        one row per document; len = its number of indexed tokens
    terms(docid, fieldid, termid) one row per token occurrence
    dict(termid, term, df)        df = number of documents holding the term
    stats(num_docs, avgdl)        over docs
    fields, stopwords             unchanged by documents

BM25 depends only on tf, df, len, num_docs and avgdl, so removing the rows of the documents that
changed and adding their new ones, computed exactly as `create_fts_index` does (the index's own
`tokenize` macro, empty tokens and stopwords dropped, `stem(w, stemmer)`), then recomputing `stats`
with the build's own expression, gives the scores a rebuild would (termids and docids differ;
nothing reads them but the index's own joins).

Which documents changed: every write that changes a document's number, subject or text, adds or
replaces one (Store.save, Store.correct) puts its id in `search_pending` in the same transaction as
it sets `meta.fts_stale`. `refresh()` applies them, or rebuilds the whole index when there is no
index yet, when the index was built under other settings (meta.fts_build), when the index is stale
with nothing pending (a write that did not say what it changed), or when the pending documents are
a large share of the corpus (FULL_SHARE: then the rebuild is about as fast).
"""
from __future__ import annotations

import hashlib
import re
from typing import Callable, Optional

import duckdb

FTS = "fts_main_search_corpus"

# Above this share of the corpus pending, rebuild: the incremental path costs ~60 ms plus ~3 ms per
# document at 100,000 documents (benchmarks/search_index.py), the rebuild ~1 ms per document of the
# corpus; their crossing lies well above 20 %, where the rebuild's even cost is preferred.
FULL_SHARE = 0.2
# A corpus this small is rebuilt whole whatever the share (a fraction of a second).
FULL_BELOW_DOCS = 500


# What the index covers, for the rebuild and the incremental path alike: each document as
# v_documents shows it (corrections applied, copies included) beside its text.
CORPUS_FROM = "v_documents d JOIN texts t ON t.document_id = d.id"


def build_signature(fts_options: str, search_expr: str, con: duckdb.DuckDBPyConnection) -> str:
    """What an index built now depends on besides the documents: the tokenisation settings, the
    corpus expression, the views (v_documents decides number/subject) and DuckDB's version. An index
    built under another signature is rebuilt, never patched."""
    row = con.execute("SELECT value FROM meta WHERE key = 'views_hash'").fetchone()
    text = "\x1f".join([duckdb.__version__, fts_options, search_expr, row[0] if row else ""])
    return hashlib.sha256(text.encode()).hexdigest()


def stemmer_of(fts_options: str) -> str:
    m = re.search(r"stemmer\s*=\s*'([^']*)'", fts_options)
    return m.group(1) if m else "porter"


def mark_pending(con, ids) -> None:
    """Record documents whose indexed text may have changed (inside the writer's transaction)."""
    ids = [i for i in dict.fromkeys(ids) if i]
    if len(ids) == 1:
        con.execute("INSERT INTO search_pending VALUES (?)", ids)
    elif ids:
        con.execute("INSERT INTO search_pending SELECT unnest(?::VARCHAR[])", [ids])


def mark_dispatch_pending(con, sha256: str) -> None:
    """A dispatch and all its copies: corrections are per dispatch and v_documents applies them to
    every copy."""
    con.execute(
        "INSERT INTO search_pending SELECT id FROM documents WHERE coalesce(copy_of, id) IN "
        "(SELECT coalesce(copy_of, id) FROM documents WHERE sha256 = ?)", [sha256])


def has_index(con) -> bool:
    return con.execute(
        f"SELECT count(*) FROM duckdb_schemas() WHERE schema_name = '{FTS}'").fetchone()[0] > 0


def plan(con, signature: str, corpus_sql: str) -> str:
    """'incremental' or 'full': which refresh the index needs."""
    if not has_index(con):
        return "full"
    row = con.execute("SELECT value FROM meta WHERE key = 'fts_build'").fetchone()
    if row is None or row[0] != signature:
        return "full"
    if con.execute("SELECT count(*) FROM (SELECT 1 FROM search_pending LIMIT 1)").fetchone()[0] == 0:
        return "full"  # stale, but nothing says what changed (a write by plain SQL)
    _collect_pending(con, corpus_sql)
    n = con.execute("SELECT count(*) FROM fts_pend").fetchone()[0]
    num_docs = con.execute(f"SELECT num_docs FROM {FTS}.stats").fetchone()[0]
    if num_docs < FULL_BELOW_DOCS or n > FULL_SHARE * num_docs:
        return "full"
    return "incremental"


def _collect_pending(con, corpus_sql: str) -> None:
    """fts_pend(name): the pending ids, and any document the corpus and the index disagree on
    (added or removed by SQL that did not record it): two anti-joins of ids, ~30 ms at 100,000."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE fts_pend AS
            SELECT DISTINCT document_id AS name FROM search_pending
            UNION
            (SELECT name FROM {FTS}.docs EXCEPT SELECT id FROM ({corpus_sql}))
            UNION
            (SELECT id FROM ({corpus_sql}) EXCEPT SELECT name FROM {FTS}.docs)""")


def apply_pending(con, *, search_expr: str, stemmer: str) -> int:
    """Replace the index rows of the documents in fts_pend by their current ones (inside the
    caller's transaction). Returns how many documents are indexed anew."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE fts_old AS SELECT docid FROM {FTS}.docs "
                "WHERE name IN (SELECT name FROM fts_pend)")
    # the distinct terms of the documents leaving, per term: how many of them held it
    con.execute(f"""CREATE OR REPLACE TEMP TABLE fts_old_df AS
                    SELECT termid, count(DISTINCT docid) AS n FROM {FTS}.terms
                    WHERE docid IN (SELECT docid FROM fts_old) GROUP BY termid""")
    con.execute(f"DELETE FROM {FTS}.terms WHERE docid IN (SELECT docid FROM fts_old)")
    con.execute(f"DELETE FROM {FTS}.docs WHERE docid IN (SELECT docid FROM fts_old)")
    con.execute("DELETE FROM search_corpus WHERE document_id IN (SELECT name FROM fts_pend)")

    # their current rows, exactly as the rebuild's INSERT selects them
    con.execute(f"""CREATE OR REPLACE TEMP TABLE fts_new AS
                    SELECT d.id AS document_id, {search_expr} AS search_text
                    FROM {CORPUS_FROM}
                    WHERE d.id IN (SELECT name FROM fts_pend)""")
    con.execute("INSERT INTO search_corpus SELECT document_id, search_text FROM fts_new")
    base = con.execute(f"SELECT coalesce(max(docid), -1) + 1 FROM {FTS}.docs").fetchone()[0]
    con.execute(f"""CREATE OR REPLACE TEMP TABLE fts_new_docs AS
                    SELECT {int(base)} + row_number() OVER (ORDER BY document_id) - 1 AS docid,
                           document_id AS name, search_text FROM fts_new""")
    # tokens as create_fts_index makes them: tokenize(), no empty strings, no stopwords, stem()
    con.execute(f"""CREATE OR REPLACE TEMP TABLE fts_tok AS
                    SELECT docid, stem(w, ?) AS term FROM (
                        SELECT docid, unnest({FTS}.tokenize(search_text)) AS w FROM fts_new_docs) t
                    WHERE w IS NOT NULL AND len(w) > 0
                      AND w NOT IN (SELECT sw FROM {FTS}.stopwords)""", [stemmer])
    con.execute(f"""INSERT INTO {FTS}.docs (docid, name, len)
                    SELECT n.docid, n.name, count(t.term) FROM fts_new_docs n
                    LEFT JOIN fts_tok t ON t.docid = n.docid GROUP BY n.docid, n.name""")

    # dict: new terms, then df = df - leaving + arriving, then drop terms no document holds
    con.execute("CREATE OR REPLACE TEMP TABLE fts_new_df AS "
                "SELECT term, count(DISTINCT docid) AS n FROM fts_tok GROUP BY term")
    top = con.execute(f"SELECT coalesce(max(termid), -1) + 1 FROM {FTS}.dict").fetchone()[0]
    con.execute(f"""INSERT INTO {FTS}.dict (termid, term, df)
                    SELECT {int(top)} + row_number() OVER (ORDER BY term) - 1, term, 0
                    FROM (SELECT term FROM fts_new_df
                          WHERE term NOT IN (SELECT term FROM {FTS}.dict WHERE term IS NOT NULL))""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE fts_delta AS
                    SELECT termid, sum(n) AS n FROM (
                        SELECT termid, -n AS n FROM fts_old_df
                        UNION ALL
                        SELECT d.termid, x.n FROM fts_new_df x JOIN {FTS}.dict d ON d.term = x.term)
                    GROUP BY termid HAVING sum(n) <> 0""")
    con.execute(f"UPDATE {FTS}.dict SET df = dict.df + fts_delta.n FROM fts_delta "
                "WHERE dict.termid = fts_delta.termid")
    con.execute(f"DELETE FROM {FTS}.dict WHERE df <= 0 AND termid IN (SELECT termid FROM fts_old_df)")

    fieldid = con.execute(f"SELECT fieldid FROM {FTS}.fields WHERE field = 'search_text'").fetchone()[0]
    con.execute(f"""INSERT INTO {FTS}.terms (docid, fieldid, termid)
                    SELECT t.docid, {int(fieldid)}, d.termid FROM fts_tok t JOIN {FTS}.dict d ON d.term = t.term
                    ORDER BY t.docid""")
    # stats with the build's own expression
    con.execute(f"DELETE FROM {FTS}.stats")
    con.execute(f"""INSERT INTO {FTS}.stats SELECT COUNT(docs.docid) AS num_docs,
                           SUM(docs.len) / COUNT(docs.len) AS avgdl FROM {FTS}.docs AS docs""")
    n = con.execute("SELECT count(*) FROM fts_new").fetchone()[0]
    con.execute("DELETE FROM search_pending WHERE document_id IN (SELECT name FROM fts_pend)")
    for t in ("fts_old", "fts_old_df", "fts_new", "fts_new_docs", "fts_tok", "fts_new_df", "fts_delta"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    return n


def refresh(con, *, force: bool, signature: str, fts_options: str, search_expr: str,
            full: Callable[[], None]) -> str:
    """Bring the index up to date inside one transaction (the caller's `full` rebuilds the whole
    index and is called inside it too). Returns 'full' or 'incremental'."""
    corpus_sql = f"SELECT d.id FROM {CORPUS_FROM}"
    con.execute("BEGIN TRANSACTION")
    # a reader refreshing a database written before search_pending (it does not run schema.sql)
    con.execute("CREATE TABLE IF NOT EXISTS search_pending (document_id VARCHAR NOT NULL)")
    try:
        how = "full" if force else plan(con, signature, corpus_sql)
        if how == "incremental":
            apply_pending(con, search_expr=search_expr, stemmer=stemmer_of(fts_options))
        else:
            full()
            con.execute("DELETE FROM search_pending")
            con.execute("INSERT OR REPLACE INTO meta VALUES ('fts_build', ?)", [signature])
        con.execute("DROP TABLE IF EXISTS fts_pend")
        con.execute("UPDATE meta SET value = 'false' WHERE key = 'fts_stale'")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return how


def index_snapshot(con, queries: list[str], *, conjunctive: int = 1) -> Optional[dict]:
    """{query: {document_id: score}} from match_bm25 (for tests and the benchmark)."""
    if not has_index(con):
        return None
    out = {}
    for q in queries:
        rows = con.execute(
            f"SELECT document_id, {FTS}.match_bm25(document_id, ?, conjunctive := {int(conjunctive)}) AS s "
            "FROM search_corpus WHERE s IS NOT NULL", [q]).fetchall()
        out[q] = dict(rows)
    return out
