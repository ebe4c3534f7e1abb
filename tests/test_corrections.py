"""Analysts' corrections and task status, through the CLI, surviving re-ingestion and re-scans."""
from __future__ import annotations

import json

import duckdb
import pytest

from congvan.pipeline.store import Store, document_id
from conftest import SAMPLES
from sample_db import congvan
from test_store_fixtures import make_record

TEXT, GARBLED = SAMPLES / "001-text.pdf", SAMPLES / "001-garbled.pdf"


def sql(db, query, params=None):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(query, params).fetchall() if params else con.execute(query).fetchall()
    finally:
        con.close()


@pytest.fixture
def db_001(tmp_path):
    if not TEXT.exists() or not GARBLED.exists():
        pytest.skip("samples/001-*.pdf missing")
    db = tmp_path / "c.duckdb"
    congvan("ingest", str(TEXT), "--db", str(db), "--no-prefect")
    return db


def test_correction_and_status_survive_reingestion_and_a_rescan(db_001, tmp_path):
    db = str(db_001)
    (doc,) = sql(db, "SELECT id FROM documents")[0]
    (task_id, text) = sql(db, "SELECT task_id, text FROM v_tasks WHERE ordinal = 3")[0]
    congvan("correct", doc[:8], "subject", "Kế hoạch thi đua, khen thưởng năm 2024", "--by", "chuyên viên", "--db", db)
    congvan("correct", doc[:8], "tasks.3.deadline", "2024-06-30", "--note", "gia hạn", "--db", db)
    congvan("correct", doc[:8], "tasks.3.coordinators", "Văn phòng UBND tỉnh; Sở Tài chính", "--db", db)
    congvan("task", f"{doc[:8]}:3", "done", "--note", "đã báo cáo", "--db", db)

    def check(document: str) -> None:
        assert sql(db, "SELECT subject, corrected FROM v_documents WHERE id = ?", [document]) == \
            [("Kế hoạch thi đua, khen thưởng năm 2024", True)]
        got = sql(db, "SELECT text, deadline, deadline_on::VARCHAR, coordinators, status, status_note FROM v_tasks "
                      "WHERE document_id = ? AND task_key = ?", [document, task_id.split(":")[1]])
        assert got == [(text, "2024-06-30", "2024-06-30", ["Văn phòng UBND tỉnh", "Sở Tài chính"], "done", "đã báo cáo")]
        # the extraction is still there underneath
        orig = sql(db, "SELECT subject FROM documents WHERE id = ?", [document])[0][0]
        assert orig != "Kế hoạch thi đua, khen thưởng năm 2024"

    check(doc)
    congvan("ingest", str(TEXT), "--db", db, "--no-prefect")  # the same bytes again
    check(doc)
    rescan = tmp_path / "001 quét lại.pdf"  # different bytes, same dispatch
    rescan.write_bytes(TEXT.read_bytes() + b"\n% rescanned\n")
    congvan("ingest", str(rescan), str(GARBLED), "--db", db, "--no-prefect")
    copies = sql(db, "SELECT id FROM documents WHERE copy_of = ? ORDER BY id", [doc])
    assert len(copies) == 2
    check(doc)
    for (copy,) in copies:  # a re-scan shows its dispatch's corrections and status
        check(copy)
    assert sql(db, "SELECT count(*) FROM overdue('2025-01-01') WHERE document_id = ?", [doc]) == \
        sql(db, "SELECT count(*) FROM v_tasks WHERE document_id = ? AND deadline_on < '2025-01-01' "
                "AND status = 'open'", [doc])


def test_cli_lists_corrections_and_refuses_bad_ones(db_001):
    db = str(db_001)
    (doc,) = sql(db, "SELECT id FROM documents")[0]
    congvan("correct", doc, "references.0.key", "LUAT:THI-DUA-KHEN-THUONG:2022", "--db", db)
    bad = congvan("correct", doc, "signer.authority", "bogus", "--db", db, check=False)
    assert bad.returncode == 2 and "does not fit" in bad.stderr
    assert congvan("correct", doc, "tasks.999.assignee", "x", "--db", db, check=False).returncode == 2
    assert congvan("task", f"{doc}:0", "finished", "--db", db, check=False).returncode == 2
    assert congvan("correct", "ffffffffffff", "subject", "x", "--db", db, check=False).returncode == 2
    listed = json.loads(congvan("correct", doc, "--db", db, "-f", "json").stdout)
    assert [(c["field"], c["applies"]) for c in listed] == [("references.key", True)]
    shown = json.loads(congvan("task", doc[:10], "-f", "json", "--db", db).stdout)
    assert len(shown) == sql(db, "SELECT count(*) FROM tasks")[0][0] and shown[0]["status"] == "open"


def test_item_corrections_follow_items_through_reextraction(tmp_path):
    rec = make_record("a")
    with Store(tmp_path / "db.duckdb") as store:
        doc = store.save(rec).document_id
        assert store.correct(doc, "tasks.1.assignee", "Sở Thông tin và Truyền thông").startswith("tasks.assignee[")
        store.correct(doc, "references.0.issuer", "Bộ Chính trị khóa XI")
        store.correct(doc, "movements.0.canonical", "Vì người nghèo - Không để ai bị bỏ lại phía sau")
        store.set_task_status(doc, "1", "in_progress")
        # a newer pipeline reorders the tasks and drops the movement
        newer = rec.model_dump()
        newer["tasks"] = list(reversed(newer["tasks"]))
        newer["movements"] = []
        store.save(make_record("a", tasks=newer["tasks"], movements=[], pipeline_version="newer"), replace=True)
        _, got = store.query("SELECT ordinal, assignee, status FROM v_tasks ORDER BY ordinal")
        assert got == [(0, "Sở Thông tin và Truyền thông", "in_progress"), (1, "Sở Nội vụ", "open")]
        assert store.record(doc).tasks[0].assignee == "Sở Thông tin và Truyền thông"
        assert store.record(doc, corrected=False).tasks[0].assignee == "Sở Thông tin và Truyền thông"  # extracted
        assert store.query("SELECT cited_issuer FROM v_citations")[1] == [("Bộ Chính trị khóa XI",)]
        assert store.query("SELECT issuer FROM doc_references")[1] == [("Bộ Chính trị",)]  # as extracted
        _, applies = store.query("SELECT field, applies FROM v_corrections ORDER BY id")
        assert applies == [("tasks.assignee", True), ("references.issuer", True), ("movements.canonical", False)]
        assert store.query("SELECT count(*) FROM v_orphaned_task_status")[1] == [(0,)]
        # a newer pipeline rewrites the task's text: the status is kept, and listed as orphaned
        reworded = [dict(t, text=t["text"] + " (đã sửa)") for t in newer["tasks"]]
        store.save(make_record("a", tasks=reworded, movements=[], pipeline_version="newest"), replace=True)
        _, orphans = store.query("SELECT document_id, status FROM v_orphaned_task_status")
        assert orphans == [(doc, "in_progress")]


def test_correcting_a_number_lets_citations_find_the_document(tmp_path):
    """An OCR'd symbol ("UBND-NCI" for "UBND-NC1") corrected by hand: citations then resolve."""
    cited = make_record("cited", number="1150/UBND-NCI", symbol="UBND-NCI", doc_type="CV", references=[])
    citing = make_record("citing", references=[
        {"raw": "Công văn số 1150/UBND-NC1", "doc_type": "CV", "number": "1150/UBND-NC1", "key": "CV:1150:UBND-NC1"}])
    with Store(tmp_path / "db.duckdb") as store:
        store.save(cited)
        store.save(citing)
        assert store.query("SELECT resolved FROM v_citations")[1] == [(False,)]
        store.correct(document_id(cited.source.sha256), "number", "1150/UBND-NC1")
        assert store.query("SELECT resolved FROM v_citations")[1] == [(True,)]
        # and a later text-layer copy of the same dispatch is linked to it through the correction
        text_copy = make_record("cited-text", number="1150/UBND-NC1", symbol="UBND-NC1", doc_type="CV", references=[])
        assert store.save(text_copy).copy_of == document_id(cited.source.sha256)
