-- congvan store: DuckDB DDL. Idempotent (run on every write-mode open); the
-- schema version lives in `meta`. Analyst views and macros are in views.sql.
--
-- Ids: documents.id is the first 16 hex digits of the file's sha256, so the
-- same bytes get the same id in every database and export (no uuid bookkeeping);
-- documents.sha256 keeps the full digest. Child tables carry document_id plus a
-- 0-based `ordinal` (the item's position in the record) and spell provenance as
-- prov_page, prov_start, prov_end (character span in texts.text), prov_method,
-- prov_confidence. No foreign keys: DuckDB cannot update a referenced row, and
-- one transaction per document keeps the tables consistent anyway.

CREATE TABLE IF NOT EXISTS meta (
    key   VARCHAR PRIMARY KEY,
    value VARCHAR
);

CREATE TABLE IF NOT EXISTS documents (
    id                  VARCHAR PRIMARY KEY,   -- sha256[:16]
    sha256              VARCHAR NOT NULL UNIQUE,
    number              VARCHAR,               -- "1023/KH-UBND"; NULL when left blank
    symbol              VARCHAR,               -- "KH-UBND"
    doc_type            VARCHAR,               -- "KH", "CV", ...
    doc_key             VARCHAR,               -- the key references use to cite this document
    issuer_name         VARCHAR,
    issuer_level        VARCHAR,
    issuer_locality     VARCHAR,
    issuer_parent       VARCHAR,
    place               VARCHAR,
    issued_date         VARCHAR,               -- as in the record: YYYY-MM-DD | YYYY-MM | YYYY
    issued_on           DATE,                  -- only when issued_date is a full day
    issued_precision    VARCHAR,               -- 'day' | 'month' | 'year' | NULL
    subject             VARCHAR,
    signer_name         VARCHAR,
    signer_title        VARCHAR,
    signer_authority    VARCHAR,
    signer_on_behalf_of VARCHAR,
    urgency             VARCHAR,
    secrecy             VARCHAR,
    text_source         VARCHAR,               -- 'text_layer' | 'ocr' | 'mixed'
    pages               INTEGER,
    pipeline_version    VARCHAR,
    ingested_at         TIMESTAMP NOT NULL,    -- UTC, first time these bytes were stored
    extracted_at        TIMESTAMP NOT NULL,    -- UTC, last (re-)extraction written
    path                VARCHAR,               -- where the file is kept (archive), if known
    original_name       VARCHAR,               -- the file name as it arrived in the inbox
    copy_of             VARCHAR,               -- documents.id of the first copy of a re-scanned dispatch
    record_json         JSON NOT NULL          -- the whole contract Record as extracted, except `text` (in texts)
);

-- Every time a file is seen (including byte-identical duplicates): where and when.
CREATE TABLE IF NOT EXISTS files (
    sha256        VARCHAR NOT NULL,
    path          VARCHAR,
    original_name VARCHAR,
    seen_at       TIMESTAMP NOT NULL,
    status        VARCHAR NOT NULL            -- 'inserted' | 'duplicate' | 'copy' | 'reextracted'
);

-- The full repaired text (Record.text), kept out of record_json so it is stored once.
CREATE TABLE IF NOT EXISTS texts (
    document_id VARCHAR PRIMARY KEY,
    text        VARCHAR NOT NULL
);

-- What fts indexes, from v_documents + texts whenever the index is refreshed:
-- number · subject (corrected) · text, with đ→d (fts lowercases and strips the other marks).
CREATE TABLE IF NOT EXISTS search_corpus (
    document_id VARCHAR,
    search_text VARCHAR
);

-- Documents whose indexed text may have changed since the index was refreshed (written with
-- meta.fts_stale by every save and correction; repeats allowed): the refresh re-indexes just
-- these (pipeline/search_index.py) and empties it.
CREATE TABLE IF NOT EXISTS search_pending (
    document_id VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS pages (
    document_id    VARCHAR NOT NULL,
    number         INTEGER NOT NULL,
    text_source    VARCHAR,                    -- 'text_layer' | 'repaired_layer' | 'ocr'
    reason         VARCHAR,
    chars          INTEGER,
    ocr_confidence DOUBLE,
    start          INTEGER                     -- offset of the page's first character in texts.text
);

-- References as edges: document_id cites `key`; resolved in views by matching documents.doc_key.
CREATE TABLE IF NOT EXISTS doc_references (
    document_id     VARCHAR NOT NULL,
    ordinal         INTEGER NOT NULL,
    key             VARCHAR NOT NULL,
    raw             VARCHAR,
    doc_type        VARCHAR,
    number          VARCHAR,
    date            VARCHAR,
    issuer          VARCHAR,
    citation        VARCHAR,                   -- 'can_cu' | 'thuc_hien' | 'theo' | 'other'
    prov_page       INTEGER,
    prov_start      INTEGER,
    prov_end        INTEGER,
    prov_method     VARCHAR,
    prov_confidence DOUBLE
);

CREATE TABLE IF NOT EXISTS movements (
    document_id     VARCHAR NOT NULL,
    ordinal         INTEGER NOT NULL,
    name            VARCHAR,
    canonical       VARCHAR,
    period          VARCHAR,
    launched_by     VARCHAR,
    prov_page       INTEGER,
    prov_start      INTEGER,
    prov_end        INTEGER,
    prov_method     VARCHAR,
    prov_confidence DOUBLE
);

-- Extracted tasks. Their workflow status lives in task_status (keyed by sha256 +
-- task_key) so that re-extraction, which rewrites this table, never loses it.
CREATE TABLE IF NOT EXISTS tasks (
    document_id     VARCHAR NOT NULL,
    ordinal         INTEGER NOT NULL,
    task_key        VARCHAR NOT NULL,          -- hash of normalised (assignee, text): stable across re-extraction
    item            VARCHAR,
    text            VARCHAR,
    assignee        VARCHAR,
    coordinators    VARCHAR[],
    deadline        VARCHAR,                   -- ISO date, YYYY-MM, YYYY-Qn or 'recurring'
    deadline_on     DATE,                      -- the last day the deadline allows, when it is a date/month/quarter/year
    prov_page       INTEGER,
    prov_start      INTEGER,
    prov_end        INTEGER,
    prov_method     VARCHAR,
    prov_confidence DOUBLE
);

CREATE TABLE IF NOT EXISTS recipients (
    document_id VARCHAR NOT NULL,
    ordinal     INTEGER NOT NULL,
    name        VARCHAR
);

CREATE TABLE IF NOT EXISTS distribution (
    document_id VARCHAR NOT NULL,
    ordinal     INTEGER NOT NULL,
    name        VARCHAR
);

-- Scalar field provenance: Record.provenance, field path -> where it was read.
CREATE TABLE IF NOT EXISTS provenance (
    document_id     VARCHAR NOT NULL,
    field           VARCHAR NOT NULL,          -- "number", "issuer.name", "signer.name", ...
    prov_page       INTEGER,
    prov_start      INTEGER,
    prov_end        INTEGER,
    prov_method     VARCHAR,
    prov_confidence DOUBLE
);

-- Human corrections, append-only; the latest per (sha256, field) wins in v_documents
-- and in exports. Keyed by sha256, never touched by (re-)extraction.
CREATE SEQUENCE IF NOT EXISTS corrections_seq;
CREATE TABLE IF NOT EXISTS corrections (
    id     BIGINT PRIMARY KEY DEFAULT nextval('corrections_seq'),
    sha256 VARCHAR NOT NULL,
    field  VARCHAR NOT NULL,                   -- record field path: "subject", "issuer.name", ...
    value  JSON,                               -- the corrected value as JSON ('null' = known to be empty)
    author VARCHAR,
    "at"   TIMESTAMP NOT NULL,
    note   VARCHAR
);

-- A correction of a list item (a task, a reference, a movement) names the item by a
-- stable key in `item` (tasks.task_key; a reference's extracted key; a movement's
-- canonical name; "#n" added for the n-th repeat), with field "tasks.assignee" etc.,
-- so it follows the item when a newer pipeline reorders the list.
ALTER TABLE corrections ADD COLUMN IF NOT EXISTS item VARCHAR;

-- Task workflow status, one row per task, surviving re-ingestion and re-extraction.
CREATE TABLE IF NOT EXISTS task_status (
    sha256   VARCHAR NOT NULL,
    task_key VARCHAR NOT NULL,
    status   VARCHAR NOT NULL DEFAULT 'open',  -- 'open' | 'in_progress' | 'done' | 'cancelled'
    note     VARCHAR,
    author   VARCHAR,
    "at"     TIMESTAMP NOT NULL,
    PRIMARY KEY (sha256, task_key)
);

-- Issuing bodies, normalised by pipeline/bodies.py at save and correction time:
-- one row per body, however its name is spelled, with its province before and after
-- the 2025 merger (underthesea's address data).
CREATE TABLE IF NOT EXISTS bodies (
    body_key      VARCHAR PRIMARY KEY,         -- "uy ban nhan dan|tinh|ninh thuan"
    name          VARCHAR,                     -- "Ủy ban nhân dân tỉnh Ninh Thuận"
    kind          VARCHAR,                     -- "Ủy ban nhân dân", "Sở Nội vụ", "Bộ Chính trị"
    level         VARCHAR,                     -- 'trung ương' | 'tỉnh' | 'huyện' | 'xã'
    locality      VARCHAR,
    district      VARCHAR,                     -- for district-level bodies
    province      VARCHAR,                     -- before 1 July 2025
    province_2025 VARCHAR                      -- the province it belongs to since then
);

-- Names as written in documents, resolved to a body. `context` is what a relative name
-- was read in, folded: the issuer's locality for an issuer ("Sở Nội vụ" under "UBND tỉnh
-- Lâm Đồng"), the issuer's province for assignees and cited issuers ("Sở Nội vụ" in a
-- Điện Biên plan is Sở Nội vụ tỉnh Điện Biên).
CREATE TABLE IF NOT EXISTS body_names (
    name_folded VARCHAR NOT NULL,              -- congvan_fold(name)
    context     VARCHAR NOT NULL,
    body_key    VARCHAR NOT NULL,
    PRIMARY KEY (name_folded, context)
);

-- What an analyst may type for a body (folded): full name, abbreviation ("ubnd tinh
-- ninh thuan"), and the name of its post-2025 successor ('successor').
CREATE TABLE IF NOT EXISTS body_aliases (
    alias    VARCHAR NOT NULL,
    body_key VARCHAR NOT NULL,
    relation VARCHAR NOT NULL,                 -- 'name' | 'abbreviation' | 'successor'
    PRIMARY KEY (alias, body_key)
);

-- Citation graph behind citing(): derived data, rewritten by the Store for a dispatch on every
-- save and correction of it (Store._refresh_xref; rebuilt whole when `meta.xref_version` differs),
-- with corrections applied, first copies only. Nodes are integers because a recursive join scans
-- its edge table on every step, and DuckDB scans 287,000 integer pairs ~10x faster than key
-- strings (citing() at 100,000 documents: ~25 ms against 180-2,000 ms over the views).
CREATE SEQUENCE IF NOT EXISTS xref_node_seq;
CREATE TABLE IF NOT EXISTS xref_nodes (        -- a document key or 'id:<id>'; never deleted
    n   INTEGER PRIMARY KEY DEFAULT nextval('xref_node_seq'),
    key VARCHAR NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS xref_docs (         -- first copies: the node each stands for
    id VARCHAR NOT NULL,
    n  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS xref_edges (        -- dispatch `document_id` (node src) cites node dst
    document_id VARCHAR NOT NULL,
    src         INTEGER NOT NULL,
    dst         INTEGER NOT NULL
);

-- Point lookups by key: v_citations WHERE key = ?, re-scan detection, the xref refresh.
CREATE INDEX IF NOT EXISTS doc_references_key ON doc_references (key);
CREATE INDEX IF NOT EXISTS doc_references_document ON doc_references (document_id);
CREATE INDEX IF NOT EXISTS documents_doc_key ON documents (doc_key);
CREATE INDEX IF NOT EXISTS xref_docs_id ON xref_docs (id);
CREATE INDEX IF NOT EXISTS xref_edges_document ON xref_edges (document_id);

INSERT INTO meta VALUES ('schema_version', '1') ON CONFLICT DO NOTHING;
INSERT INTO meta VALUES ('fts_stale', 'true') ON CONFLICT DO NOTHING;
