-- congvan analyst views and macros (DuckDB). Re-created on every write-mode open,
-- so changing a view never needs a migration. Read-only users simply query them.
--
--   v_documents              documents with human corrections applied (latest per field wins)
--   v_citations              who cites what; cited_id is NULL while the cited document is not held
--   v_unresolved_references  cited keys no held document answers to: what to go and fetch
--   v_tasks                  tasks with status (default 'open') and an overdue flag as of congvan_today()
--   v_movements              movements (phong trào) by issuer locality and year
--   citing(key)              transitive citation graph around a key, both directions
--   tasks_due(from, to)      open tasks whose deadline falls in [from, to]
--   overdue(as_of)           open tasks whose deadline has passed at as_of

-- The day "overdue" is measured from in v_tasks; replace this macro to pin a date.
CREATE OR REPLACE MACRO congvan_today() AS current_date;

-- 'YYYY-MM-DD' → DATE; partial or unparseable → NULL.
CREATE OR REPLACE MACRO congvan_date_on(s) AS
    CASE WHEN regexp_full_match(s, '\d{4}-\d{2}-\d{2}') THEN try_cast(s AS DATE) END;

CREATE OR REPLACE MACRO congvan_date_precision(s) AS
    CASE WHEN regexp_full_match(s, '\d{4}-\d{2}-\d{2}') AND try_cast(s AS DATE) IS NOT NULL THEN 'day'
         WHEN regexp_full_match(s, '\d{4}-\d{2}') THEN 'month'
         WHEN regexp_full_match(s, '\d{4}') THEN 'year' END;

-- A corrected value if one exists for field f, else the extracted one. m maps field → JSON value.
CREATE OR REPLACE MACRO congvan_corr(m, f, orig) AS
    CASE WHEN m IS NOT NULL AND map_contains(m, f) THEN json_extract_string(m[f], '$') ELSE orig END;

CREATE OR REPLACE VIEW v_corrections_latest AS
SELECT sha256, field, arg_max(value, id) AS value, arg_max(author, id) AS author, max("at") AS "at"
FROM corrections
GROUP BY sha256, field;

CREATE OR REPLACE VIEW v_documents AS
WITH c AS (
    SELECT sha256, map(list(field ORDER BY field), list(value ORDER BY field)) AS m
    FROM v_corrections_latest GROUP BY sha256
), d AS (
    SELECT documents.* REPLACE (
        congvan_corr(c.m, 'number', documents.number) AS number,
        congvan_corr(c.m, 'symbol', documents.symbol) AS symbol,
        congvan_corr(c.m, 'doc_type', documents.doc_type) AS doc_type,
        congvan_corr(c.m, 'issuer.name', documents.issuer_name) AS issuer_name,
        congvan_corr(c.m, 'issuer.level', documents.issuer_level) AS issuer_level,
        congvan_corr(c.m, 'issuer.locality', documents.issuer_locality) AS issuer_locality,
        congvan_corr(c.m, 'issuer.parent', documents.issuer_parent) AS issuer_parent,
        congvan_corr(c.m, 'place', documents.place) AS place,
        congvan_corr(c.m, 'issued_date', documents.issued_date) AS issued_date,
        congvan_corr(c.m, 'subject', documents.subject) AS subject,
        congvan_corr(c.m, 'signer.name', documents.signer_name) AS signer_name,
        congvan_corr(c.m, 'signer.title', documents.signer_title) AS signer_title,
        congvan_corr(c.m, 'signer.authority', documents.signer_authority) AS signer_authority,
        congvan_corr(c.m, 'signer.on_behalf_of', documents.signer_on_behalf_of) AS signer_on_behalf_of,
        congvan_corr(c.m, 'urgency', documents.urgency) AS urgency,
        congvan_corr(c.m, 'secrecy', documents.secrecy) AS secrecy
    ),
    c.m IS NOT NULL AS corrected
    FROM documents LEFT JOIN c ON c.sha256 = documents.sha256
)
SELECT d.* REPLACE (
    congvan_date_on(d.issued_date) AS issued_on,
    congvan_date_precision(d.issued_date) AS issued_precision
)
FROM d;

-- Resolution is a join on key, so it works whichever of citing and cited arrived first.
-- Only first copies are targets (a re-scan would otherwise double every citation).
CREATE OR REPLACE VIEW v_citations AS
SELECT
    r.document_id        AS citing_id,
    src.number           AS citing_number,
    src.issuer_name      AS citing_issuer,
    src.issued_date      AS citing_date,
    r.ordinal,
    r.citation,
    r.key,
    r.raw,
    r.doc_type           AS cited_doc_type,
    r.number             AS cited_number,
    r.date               AS cited_date,
    r.issuer             AS cited_issuer,
    dst.id               AS cited_id,
    dst.subject          AS cited_subject,
    dst.id IS NOT NULL   AS resolved
FROM doc_references r
JOIN v_documents src ON src.id = r.document_id
LEFT JOIN v_documents dst
       ON dst.doc_key = r.key AND dst.copy_of IS NULL AND dst.id <> r.document_id;

CREATE OR REPLACE VIEW v_unresolved_references AS
SELECT
    key,
    min(cited_doc_type)              AS doc_type,
    min(cited_number)                AS number,
    min(cited_date)                  AS date,
    min(cited_issuer)                AS issuer,
    min(raw)                         AS example_raw,
    count(DISTINCT citing_id)        AS cited_by_count,
    list(DISTINCT citing_id ORDER BY citing_id) AS cited_by
FROM v_citations
WHERE NOT resolved
GROUP BY key;

CREATE OR REPLACE VIEW v_tasks AS
SELECT
    t.document_id,
    d.sha256,
    d.number             AS document_number,
    d.issuer_name,
    d.issued_date,
    t.ordinal,
    t.task_key,
    t.item,
    t.text,
    t.assignee,
    t.coordinators,
    t.deadline,
    t.deadline_on,
    coalesce(s.status, 'open') AS status,
    s.note               AS status_note,
    s.author             AS status_author,
    s."at"               AS status_at,
    coalesce(s.status, 'open') IN ('open', 'in_progress')
        AND t.deadline_on < congvan_today() AS overdue
FROM tasks t
JOIN v_documents d ON d.id = t.document_id
LEFT JOIN task_status s ON s.sha256 = d.sha256 AND s.task_key = t.task_key;

CREATE OR REPLACE VIEW v_movements AS
SELECT
    m.canonical,
    d.issuer_locality,
    try_cast(left(d.issued_date, 4) AS INTEGER) AS year,
    count(DISTINCT d.id)                         AS documents,
    list(DISTINCT m.name ORDER BY m.name)        AS names,
    list(DISTINCT d.id ORDER BY d.id)            AS document_ids
FROM movements m
JOIN v_documents d ON d.id = m.document_id
WHERE d.copy_of IS NULL
GROUP BY ALL;

CREATE OR REPLACE MACRO tasks_due(from_date, to_date) AS TABLE
SELECT * FROM v_tasks
WHERE status IN ('open', 'in_progress')
  AND deadline_on BETWEEN CAST(from_date AS DATE) AND CAST(to_date AS DATE)
ORDER BY deadline_on, document_id, ordinal;

CREATE OR REPLACE MACRO overdue(as_of) AS TABLE
SELECT * REPLACE (true AS overdue) FROM v_tasks
WHERE status IN ('open', 'in_progress') AND deadline_on < CAST(as_of AS DATE)
ORDER BY deadline_on, document_id, ordinal;

-- Everything around key k: who cites it (directly or through others) and what it
-- cites in turn. A document without a number is the node 'id:<documents.id>'.
CREATE OR REPLACE MACRO citing(k) AS TABLE
WITH RECURSIVE edges AS (
    SELECT DISTINCT coalesce(d.doc_key, 'id:' || d.id) AS src, r.key AS dst
    FROM doc_references r JOIN documents d ON d.id = r.document_id
    WHERE d.copy_of IS NULL
), up(node, depth, path) AS (
    SELECT k, 0, [k]
    UNION ALL
    SELECT e.src, up.depth + 1, list_append(up.path, e.src)
    FROM up JOIN edges e ON e.dst = up.node
    WHERE NOT list_contains(up.path, e.src) AND up.depth < 50
), down(node, depth, path) AS (
    SELECT k, 0, [k]
    UNION ALL
    SELECT e.dst, down.depth + 1, list_append(down.path, e.dst)
    FROM down JOIN edges e ON e.src = down.node
    WHERE NOT list_contains(down.path, e.dst) AND down.depth < 50
), hits AS (
    SELECT 'cited_by' AS direction, node AS key, min(depth) AS depth FROM up WHERE depth > 0 GROUP BY node
    UNION ALL
    SELECT 'cites' AS direction, node AS key, min(depth) AS depth FROM down WHERE depth > 0 GROUP BY node
)
SELECT h.direction, h.depth, h.key, d.id AS document_id, d.number, d.subject, d.issued_date
FROM hits h
LEFT JOIN v_documents d ON coalesce(d.doc_key, 'id:' || d.id) = h.key AND d.copy_of IS NULL
ORDER BY h.direction, h.depth, h.key;
