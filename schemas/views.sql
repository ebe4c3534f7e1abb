-- congvan analyst views and macros (DuckDB). Re-created on every write-mode open,
-- so changing a view never needs a migration. Read-only users simply query them.
--
--   v_documents              documents with human corrections applied (latest per field wins),
--                            the issuer resolved to a body and its province before/after 2025
--   v_corrections            every correction, with the extracted value it overrides and
--                            whether it still applies to an item of the current extraction
--   v_references             references with their stable item key and corrections applied
--   v_movement_mentions      movement mentions, corrected, with the issuer's province/district
--   v_citations              who cites what (corrected keys); cited_id is NULL while the cited
--                            document is not held
--   v_unresolved_references  cited keys no held document answers to: what to go and fetch
--   v_tasks                  tasks (corrected) with assignee body, status (default 'open') and
--                            an overdue flag as of congvan_today()
--   v_movements              movements (phong trào) by province, district and year
--   v_orphaned_task_status   statuses whose task a newer extraction no longer has
--   citing(key)              transitive citation graph around a key, both directions
--   issued_by(name)          documents of a body however written (UBND/Ủy ban nhân dân, old or
--                            post-2025 province name), or of a province
--   tasks_of(body)           tasks assigned to a body (same name resolution)
--   tasks_due(from, to)      open tasks whose deadline falls in [from, to]
--   overdue(as_of)           open tasks whose deadline has passed at as_of
--   movement_places(words)   where and when a movement is mentioned
--
-- Copies (re-scans of a held dispatch, documents.copy_of set) share the corrections and
-- task status of their dispatch; the macros and v_movements count each dispatch once.

-- The day "overdue" is measured from in v_tasks; replace this macro to pin a date.
CREATE OR REPLACE MACRO congvan_today() AS current_date;

-- Lowercase, no marks, đ→d, punctuation → one space (= pipeline.bodies.body_fold).
CREATE OR REPLACE MACRO congvan_fold(s) AS
    trim(regexp_replace(lower(strip_accents(replace(replace(coalesce(s, ''), 'đ', 'd'), 'Đ', 'D'))),
                        '[^a-z0-9]+', ' ', 'g'));

-- 'YYYY-MM-DD' → DATE; partial or unparseable → NULL.
CREATE OR REPLACE MACRO congvan_date_on(s) AS
    CASE WHEN regexp_full_match(s, '\d{4}-\d{2}-\d{2}') THEN try_cast(s AS DATE) END;

CREATE OR REPLACE MACRO congvan_date_precision(s) AS
    CASE WHEN regexp_full_match(s, '\d{4}-\d{2}-\d{2}') AND try_cast(s AS DATE) IS NOT NULL THEN 'day'
         WHEN regexp_full_match(s, '\d{4}-\d{2}') THEN 'month'
         WHEN regexp_full_match(s, '\d{4}') THEN 'year' END;

-- The last day a deadline allows (= store.deadline_last_day): day, end of month/quarter/year.
CREATE OR REPLACE MACRO congvan_deadline_on(s) AS
    CASE WHEN regexp_full_match(s, '\d{4}-\d{2}-\d{2}') THEN try_cast(s AS DATE)
         WHEN regexp_full_match(s, '\d{4}-\d{2}') THEN last_day(try_cast(s || '-01' AS DATE))
         WHEN regexp_full_match(s, '\d{4}-Q[1-4]') THEN
              last_day(make_date(CAST(left(s, 4) AS INTEGER), CAST(right(s, 1) AS INTEGER) * 3, 1))
         WHEN regexp_full_match(s, '\d{4}') THEN make_date(CAST(s AS INTEGER), 12, 31) END;

-- A corrected value if one exists for field f, else the extracted one. m maps field → JSON value.
CREATE OR REPLACE MACRO congvan_corr(m, f, orig) AS
    CASE WHEN m IS NOT NULL AND map_contains(m, f) THEN json_extract_string(m[f], '$') ELSE orig END;

-- The same for a list-valued field (coordinators): the JSON array as VARCHAR[].
CREATE OR REPLACE MACRO congvan_corr_list(m, f, orig) AS
    CASE WHEN m IS NOT NULL AND map_contains(m, f) THEN CAST(m[f] AS VARCHAR[]) ELSE orig END;

-- Each correction mapped to its dispatch (the first copy held), latest per (field, item) wins.
CREATE OR REPLACE VIEW v_corrections_latest AS
SELECT coalesce(d.copy_of, d.id) AS dispatch_id, c.field, c.item,
       arg_max(c.value, c.id) AS value, arg_max(c.author, c.id) AS author, max(c."at") AS "at"
FROM corrections c JOIN documents d ON d.sha256 = c.sha256
GROUP BY ALL;

CREATE OR REPLACE VIEW v_documents AS
WITH c AS (
    SELECT dispatch_id, map(list(field ORDER BY field), list(value ORDER BY field)) AS m
    FROM v_corrections_latest WHERE item IS NULL GROUP BY dispatch_id
), d AS (
    SELECT documents.* REPLACE (
        congvan_corr(c.m, 'doc_key', documents.doc_key) AS doc_key,  -- derived by Store.correct
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
    c.m IS NOT NULL AS corrected,
    coalesce(documents.copy_of, documents.id) AS dispatch_id
    FROM documents LEFT JOIN c ON c.dispatch_id = coalesce(documents.copy_of, documents.id)
)
SELECT d.* REPLACE (
    congvan_date_on(d.issued_date) AS issued_on,
    congvan_date_precision(d.issued_date) AS issued_precision
),
    b.body_key      AS issuer_key,
    b.name          AS issuer_body,
    b.province      AS issuer_province,
    b.district      AS issuer_district,
    b.province_2025 AS issuer_province_2025
FROM d
LEFT JOIN body_names n ON n.name_folded = congvan_fold(d.issuer_name)
                      AND n.context = congvan_fold(d.issuer_locality)
LEFT JOIN bodies b ON b.body_key = n.body_key;

-- Item-level corrections (tasks, references, movements) as one map per item.
CREATE OR REPLACE VIEW v_item_corrections AS
SELECT dispatch_id, split_part(field, '.', 1) AS list, item,
       map(list(split_part(field, '.', 2) ORDER BY field), list(value ORDER BY field)) AS m
FROM v_corrections_latest WHERE item IS NOT NULL
GROUP BY ALL;

-- References with their stable item key (the extracted key, "#n" for the n-th repeat).
CREATE OR REPLACE VIEW v_references AS
WITH r AS (
    SELECT *, key || CASE WHEN n > 0 THEN '#' || n ELSE '' END AS item
    FROM (SELECT *, row_number() OVER (PARTITION BY document_id, key ORDER BY ordinal) - 1 AS n
          FROM doc_references)
)
SELECT r.document_id, d.dispatch_id, d.copy_of, r.ordinal, r.item,
       congvan_corr(c.m, 'key', r.key) AS key,
       r.key AS extracted_key,
       r.raw,
       congvan_corr(c.m, 'doc_type', r.doc_type) AS doc_type,
       congvan_corr(c.m, 'number', r.number) AS number,
       congvan_corr(c.m, 'date', r.date) AS date,
       congvan_corr(c.m, 'issuer', r.issuer) AS issuer,
       congvan_corr(c.m, 'citation', r.citation) AS citation,
       c.m IS NOT NULL AS corrected,
       r.prov_page, r.prov_start, r.prov_end, r.prov_method, r.prov_confidence
FROM r JOIN v_documents d ON d.id = r.document_id
LEFT JOIN v_item_corrections c ON c.dispatch_id = d.dispatch_id AND c.list = 'references' AND c.item = r.item;

-- Resolution is a join on key, so it works whichever of citing and cited arrived first.
-- Only first copies are targets (a re-scan would otherwise double every citation).
CREATE OR REPLACE VIEW v_citations AS
-- The same rows as joining v_references to v_documents twice, built so that DuckDB does not compute
-- those views whole for every query: references of dispatches without reference corrections come
-- straight from doc_references (a `key = ?` filter reaches its index), and targets come from the
-- citation graph the Store keeps (xref_nodes/xref_docs: first copies by corrected key).
-- Resolution is an equality join (key) filtered afterwards: the OR of the province rule inside a LEFT
-- JOIN made DuckDB fall back to a nested-loop join (v_unresolved_references took ~60 s at 100,000).
-- The same rows as joining v_references to v_documents twice, built so that DuckDB does not compute
-- those views whole for every query: references of dispatches without reference corrections come
-- straight from doc_references (a `key = ?` filter reaches its index), and targets come from the
-- citation graph the Store keeps (xref_nodes/xref_docs: first copies by corrected key).
-- At 100,000 documents v_unresolved_references went from ~60 s to ~20-30 ms.
WITH rc AS NOT MATERIALIZED (  -- documents whose dispatch has corrected references: only these pay for item keys
    SELECT d.id FROM documents d
    WHERE coalesce(d.copy_of, d.id) IN (SELECT dispatch_id FROM v_corrections_latest
                                         WHERE item IS NOT NULL AND split_part(field, '.', 1) = 'references')
), refs AS NOT MATERIALIZED (
    SELECT r.document_id, r.ordinal, r.citation, r.key, r.raw, r.doc_type, r.number, r.date, r.issuer
    FROM doc_references r WHERE r.document_id NOT IN (SELECT id FROM rc)
    UNION ALL
    SELECT r.document_id, r.ordinal,
           congvan_corr(c.m, 'citation', r.citation), congvan_corr(c.m, 'key', r.key), r.raw,
           congvan_corr(c.m, 'doc_type', r.doc_type), congvan_corr(c.m, 'number', r.number),
           congvan_corr(c.m, 'date', r.date), congvan_corr(c.m, 'issuer', r.issuer)
    FROM (SELECT *, key || CASE WHEN n > 0 THEN '#' || n ELSE '' END AS item
          FROM (SELECT *, row_number() OVER (PARTITION BY document_id, key ORDER BY ordinal) - 1 AS n
                FROM doc_references WHERE document_id IN (SELECT id FROM rc))) r
    JOIN documents d ON d.id = r.document_id
    LEFT JOIN v_item_corrections c
           ON c.dispatch_id = coalesce(d.copy_of, d.id) AND c.list = 'references' AND c.item = r.item
), targets AS (  -- first copies by (corrected) key, from the citation graph the Store keeps
    SELECT xn.key, dst.id, dst.subject, dst.issuer_province
    FROM xref_nodes xn JOIN xref_docs xd ON xd.n = xn.n JOIN v_documents dst ON dst.id = xd.id
), base AS NOT MATERIALIZED (
    SELECT r.*, src.number AS citing_number, src.issuer_name AS citing_issuer, src.issued_date AS citing_date,
           src.copy_of AS citing_copy_of, rb.province AS cited_province, rb.name AS cited_issuer_body
    FROM refs r
    JOIN v_documents src ON src.id = r.document_id
    LEFT JOIN body_names n ON n.name_folded = congvan_fold(r.issuer)
                          AND n.context = congvan_fold(coalesce(src.issuer_province, ''))
    LEFT JOIN bodies rb ON rb.body_key = n.body_key
), hit AS NOT MATERIALIZED (  -- same key, and not a document of another province when the citation names its issuer
    SELECT b.document_id, b.ordinal, b.key, dst.id, dst.subject
    FROM base b JOIN targets dst ON dst.key = b.key AND dst.id <> b.document_id
    WHERE b.cited_province IS NULL OR dst.issuer_province IS NULL
       OR congvan_fold(b.cited_province) = congvan_fold(dst.issuer_province)
)
SELECT
    b.document_id        AS citing_id,
    b.citing_number,
    b.citing_issuer,
    b.citing_date,
    b.citing_copy_of,
    b.ordinal,
    b.citation,
    b.key,
    b.raw,
    b.doc_type           AS cited_doc_type,
    b.number             AS cited_number,
    b.date               AS cited_date,
    b.issuer             AS cited_issuer,
    h.id                 AS cited_id,
    h.subject            AS cited_subject,
    h.id IS NOT NULL     AS resolved,
    b.cited_issuer_body
FROM base b
LEFT JOIN hit h ON h.document_id = b.document_id AND h.ordinal = b.ordinal AND h.key = b.key;

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
WHERE NOT resolved AND citing_copy_of IS NULL
GROUP BY key;

CREATE OR REPLACE VIEW v_tasks AS
WITH t AS (
    SELECT tasks.*, c.m
    FROM tasks
    JOIN documents d0 ON d0.id = tasks.document_id
    LEFT JOIN v_item_corrections c
           ON c.dispatch_id = coalesce(d0.copy_of, d0.id) AND c.list = 'tasks' AND c.item = tasks.task_key
), tc AS (
    SELECT t.* EXCLUDE (m) REPLACE (
        congvan_corr(m, 'item', item) AS item,
        congvan_corr(m, 'text', text) AS text,
        congvan_corr(m, 'assignee', assignee) AS assignee,
        congvan_corr_list(m, 'coordinators', coordinators) AS coordinators,
        congvan_corr(m, 'deadline', deadline) AS deadline
    ), m IS NOT NULL AS corrected
    FROM t
)
SELECT
    t.document_id,
    t.document_id || ':' || t.task_key AS task_id,
    d.sha256,
    d.dispatch_id,
    d.copy_of,
    d.number             AS document_number,
    d.issuer_name,
    d.issued_date,
    t.ordinal,
    t.task_key,
    t.item,
    t.text,
    t.assignee,
    b.name               AS assignee_body,
    b.body_key           AS assignee_key,
    t.coordinators,
    t.deadline,
    congvan_deadline_on(t.deadline) AS deadline_on,
    coalesce(s.status, 'open') AS status,
    s.note               AS status_note,
    s.author             AS status_author,
    s."at"               AS status_at,
    coalesce(s.status, 'open') IN ('open', 'in_progress')
        AND congvan_deadline_on(t.deadline) < congvan_today() AS overdue,
    t.corrected
FROM tc t
JOIN v_documents d ON d.id = t.document_id
LEFT JOIN documents disp ON disp.id = d.dispatch_id
LEFT JOIN task_status s ON s.sha256 = disp.sha256 AND s.task_key = t.task_key
LEFT JOIN body_names n ON n.name_folded = congvan_fold(t.assignee)
                      AND n.context = congvan_fold(coalesce(d.issuer_province, ''))
LEFT JOIN bodies b ON b.body_key = n.body_key;

-- Movements with their stable item key (canonical, "#n" for repeats) and corrections.
CREATE OR REPLACE VIEW v_movement_mentions AS
WITH m AS (
    SELECT *, canonical || CASE WHEN n > 0 THEN '#' || n ELSE '' END AS item
    FROM (SELECT *, row_number() OVER (PARTITION BY document_id, canonical ORDER BY ordinal) - 1 AS n
          FROM movements)
)
SELECT m.document_id, d.dispatch_id, d.copy_of, m.ordinal, m.item, m.name,
       congvan_corr(c.m, 'canonical', m.canonical) AS canonical,
       congvan_corr(c.m, 'period', m.period) AS period,
       congvan_corr(c.m, 'launched_by', m.launched_by) AS launched_by,
       d.issuer_name, d.issuer_level, d.issuer_locality, d.issuer_province, d.issuer_district,
       d.issuer_province_2025, d.issued_date,
       try_cast(left(d.issued_date, 4) AS INTEGER) AS year,
       c.m IS NOT NULL AS corrected
FROM m JOIN v_documents d ON d.id = m.document_id
LEFT JOIN v_item_corrections c ON c.dispatch_id = d.dispatch_id AND c.list = 'movements' AND c.item = m.item;

CREATE OR REPLACE VIEW v_movements AS
SELECT
    canonical,
    issuer_locality,
    issuer_province                       AS province,
    issuer_district                       AS district,
    issuer_province_2025                  AS province_2025,
    year,
    count(DISTINCT dispatch_id)           AS documents,
    list(DISTINCT name ORDER BY name)     AS names,
    list(DISTINCT dispatch_id ORDER BY dispatch_id) AS document_ids
FROM v_movement_mentions
GROUP BY ALL;

-- Every correction beside what it overrides; `applies` is false when a newer extraction
-- no longer has the item it names (the correction is kept, never silently dropped).
CREATE OR REPLACE VIEW v_corrections AS
SELECT c.id, d.id AS document_id, coalesce(d.copy_of, d.id) AS dispatch_id, c.field, c.item,
       c.value, c.author, c."at", c.note,
       CASE WHEN c.item IS NULL THEN true
            WHEN split_part(c.field, '.', 1) = 'tasks'
                 THEN EXISTS (SELECT 1 FROM tasks t WHERE t.document_id = d.id AND t.task_key = c.item)
            WHEN split_part(c.field, '.', 1) = 'references'
                 THEN EXISTS (SELECT 1 FROM v_references r WHERE r.document_id = d.id AND r.item = c.item)
            WHEN split_part(c.field, '.', 1) = 'movements'
                 THEN EXISTS (SELECT 1 FROM v_movement_mentions m WHERE m.document_id = d.id AND m.item = c.item)
       END AS applies
FROM corrections c JOIN documents d ON d.sha256 = c.sha256;

-- Task statuses whose task a newer extraction no longer has (its text or assignee changed):
-- kept, shown here so they can be set again on the new task.
CREATE OR REPLACE VIEW v_orphaned_task_status AS
SELECT d.id AS document_id, s.*
FROM task_status s JOIN documents d ON d.sha256 = s.sha256
WHERE NOT EXISTS (SELECT 1 FROM tasks t JOIN documents td ON td.id = t.document_id
                  WHERE coalesce(td.copy_of, td.id) = d.id AND t.task_key = s.task_key);

CREATE OR REPLACE MACRO tasks_due(from_date, to_date) AS TABLE
SELECT * FROM v_tasks
WHERE status IN ('open', 'in_progress') AND copy_of IS NULL
  AND deadline_on BETWEEN CAST(from_date AS DATE) AND CAST(to_date AS DATE)
ORDER BY deadline_on, document_id, ordinal;

CREATE OR REPLACE MACRO overdue(as_of) AS TABLE
SELECT * REPLACE (true AS overdue) FROM v_tasks
WHERE status IN ('open', 'in_progress') AND copy_of IS NULL AND deadline_on < CAST(as_of AS DATE)
ORDER BY deadline_on, document_id, ordinal;

-- Bodies a typed name answers to: an alias (full name, abbreviation, post-2025 successor,
-- or a kind without place: "Sở Nội vụ" is every province's), or every body of a province
-- named by its old or new name. matched_as says which; the most specific wins.
CREATE OR REPLACE MACRO congvan_bodies_named(q) AS TABLE
SELECT body_key, arg_min(relation, CASE relation WHEN 'name' THEN 0 WHEN 'abbreviation' THEN 1
                                   WHEN 'successor' THEN 2 WHEN 'kind' THEN 3 ELSE 4 END) AS matched_as FROM (
    SELECT a.body_key, a.relation FROM body_aliases a WHERE a.alias = congvan_fold(q)
    UNION ALL
    SELECT b.body_key, 'province' FROM bodies b WHERE congvan_fold(b.province) = congvan_fold(q)
    UNION ALL
    SELECT b.body_key, 'successor province' FROM bodies b
    WHERE congvan_fold(b.province_2025) = congvan_fold(q) AND congvan_fold(b.province) <> congvan_fold(q)
) GROUP BY body_key;

CREATE OR REPLACE MACRO issued_by(q) AS TABLE
SELECT m.matched_as, d.id AS document_id, d.number, d.doc_type, d.issuer_name, d.issuer_body, d.issuer_level,
       d.issuer_province, d.issuer_province_2025, d.issued_date, d.subject
FROM v_documents d JOIN congvan_bodies_named(q) m ON m.body_key = d.issuer_key
WHERE d.copy_of IS NULL
ORDER BY d.issued_date, d.id;

CREATE OR REPLACE MACRO tasks_of(q) AS TABLE
SELECT m.matched_as, t.* FROM v_tasks t JOIN congvan_bodies_named(q) m ON m.body_key = t.assignee_key
WHERE t.copy_of IS NULL
ORDER BY t.deadline_on NULLS LAST, t.document_id, t.ordinal;

CREATE OR REPLACE MACRO movement_places(q) AS TABLE
SELECT canonical, year, province, district, province_2025, documents, document_ids
FROM v_movements
WHERE congvan_fold(canonical) LIKE '%' || congvan_fold(q) || '%'
ORDER BY canonical, year NULLS LAST, province, district NULLS FIRST;

-- Everything around key k: who cites it (directly or through others) and what it
-- cites in turn. A document without a number is the node 'id:<documents.id>'.
CREATE OR REPLACE MACRO citing(k) AS TABLE
-- Walks xref_edges (integer nodes, kept by the Store with corrections applied, first copies only):
-- building the edge list from the views on every call took 1-2 s at 100,000 documents.
WITH RECURSIVE start AS (
    SELECT n FROM xref_nodes WHERE key = k
), up(node, depth, path) AS (
    SELECT n, 0, [n] FROM start
    UNION ALL
    SELECT e.src, up.depth + 1, list_append(up.path, e.src)
    FROM up JOIN xref_edges e ON e.dst = up.node
    WHERE NOT list_contains(up.path, e.src) AND up.depth < 50
), down(node, depth, path) AS (
    SELECT n, 0, [n] FROM start
    UNION ALL
    SELECT e.dst, down.depth + 1, list_append(down.path, e.dst)
    FROM down JOIN xref_edges e ON e.src = down.node
    WHERE NOT list_contains(down.path, e.dst) AND down.depth < 50
), hits AS (
    SELECT 'cited_by' AS direction, node, min(depth) AS depth FROM up WHERE depth > 0 GROUP BY node
    UNION ALL
    SELECT 'cites' AS direction, node, min(depth) AS depth FROM down WHERE depth > 0 GROUP BY node
), named AS (
    SELECT h.direction, h.depth, x.key, xd.id
    FROM hits h JOIN xref_nodes x ON x.n = h.node LEFT JOIN xref_docs xd ON xd.n = h.node
)
SELECT h.direction, h.depth, h.key, d.id AS document_id, d.number, d.subject, d.issued_date
FROM named h
LEFT JOIN (  -- v_documents only for dispatches with corrections: computing it whole folds every
             -- issuer name for the body join (~200 ms at 100,000 documents)
    SELECT id, number, subject, issued_date FROM documents
    WHERE id NOT IN (SELECT dispatch_id FROM v_corrections_latest WHERE item IS NULL)
    UNION ALL
    SELECT id, number, subject, issued_date FROM v_documents
    WHERE id IN (SELECT dispatch_id FROM v_corrections_latest WHERE item IS NULL)
) d ON d.id = h.id
ORDER BY h.direction, h.depth, h.key;
