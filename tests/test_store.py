"""The store from the outside: idempotence, copies, references, corrections, task status, locking."""
from __future__ import annotations

import json
import multiprocessing as mp
import time

import duckdb
import pytest

from congvan.pipeline.errors import DatabaseBusy
from congvan.pipeline.store import SaveResult, Store, date_precision, deadline_last_day, document_id, fold
from test_store_fixtures import key_of, make_record, sha

COUNTED = ("documents", "texts", "pages", "doc_references", "movements", "tasks", "recipients", "distribution",
           "provenance")


def counts(store: Store) -> dict[str, int]:
    return {t: store.query(f"SELECT count(*) FROM {t}")[1][0][0] for t in COUNTED}


@pytest.fixture
def db(tmp_path):
    return tmp_path / "congvan.duckdb"


def test_insert_writes_document_and_children(db):
    rec = make_record("a")
    with Store(db) as store:
        res = store.save(rec, stored_path="/archive/a.pdf", original_name="a.pdf")
        assert res.status == "inserted" and res.document_id == document_id(rec.source.sha256)
        assert store.has_sha256(rec.source.sha256) and not store.has_sha256(sha("zzz"))
        assert counts(store) == {"documents": 1, "texts": 1, "pages": 2, "doc_references": 1, "movements": 1,
                                 "tasks": 2, "recipients": 2, "distribution": 2, "provenance": 2}
        cols, rows = store.query(
            "SELECT number, issuer_name, issued_on, issued_precision, signer_authority, original_name, path "
            "FROM documents WHERE id = ?", [res.document_id])
        assert rows[0][0] == "1023/KH-UBND" and rows[0][1] == "Ủy ban nhân dân tỉnh Điện Biên"
        assert str(rows[0][2]) == "2024-01-10" and rows[0][3] == "day" and rows[0][4] == "TM."
        assert rows[0][5:] == ("a.pdf", "/archive/a.pdf")
        _, prov = store.query("SELECT prov_page, prov_start, prov_end, prov_method, prov_confidence "
                              "FROM doc_references")
        assert prov == [(1, 120, 170, "regex", 0.95)]
        _, rj = store.query("SELECT record_json FROM documents")
        assert json.loads(rj[0][0]) == json.loads(rec.model_dump_json(exclude={"text"}))  # text is in texts
        assert store.record(res.document_id) == rec


def test_same_bytes_again_is_a_duplicate_and_changes_nothing(db):
    rec = make_record("a")
    with Store(db) as store:
        store.save(rec)
        before = counts(store)
        res = store.save(rec, stored_path="/elsewhere/a.pdf", original_name="copy of a.pdf")
        assert res.status == "duplicate" and res.document_id == document_id(rec.source.sha256)
        assert counts(store) == before
        _, seen = store.query("SELECT status FROM files ORDER BY seen_at, status")
        assert sorted(s for (s,) in seen) == ["duplicate", "inserted"]


def test_rescan_is_stored_and_linked_as_copy(db):
    first, rescan = make_record("a"), make_record("a-rescan", text="bản quét lại")
    other_year = make_record("b", issued_date="2023-01-10")
    blank = make_record("c", number=None)
    blank_rescan = make_record("d", number=None, subject="Công tác thi đua, khen thưởng nam 2024")  # OCR slip
    blank_other = make_record("e", number=None, subject="Tổng kết công tác cải cách hành chính")
    blank_undated = make_record("f", number=None, issued_date=None)
    with Store(db) as store:
        a = store.save(first)
        r = store.save(rescan)
        assert r.status == "copy" and r.copy_of == a.document_id
        assert store.save(other_year).status == "inserted"
        c = store.save(blank)
        assert c.status == "inserted"
        # a blank number (filled in by hand after signing) is common: same symbol, issuer,
        # date and a subject ≥ 90 % alike make a copy; another subject or no date never does
        assert store.save(blank_rescan) == SaveResult("copy", document_id(blank_rescan.source.sha256), c.document_id)
        assert store.save(blank_other).status == "inserted"
        assert store.save(blank_undated).status == "inserted"
        assert store.query("SELECT copy_of FROM documents WHERE id = ?", [r.document_id])[1] == [(a.document_id,)]


@pytest.mark.parametrize("order", ["cited_first", "citing_first"])
def test_references_resolve_in_either_order(db, order):
    cited = make_record("cited", number="34-CT/TW", symbol="CT/TW", doc_type="CT",
                        issuer={"name": "Bộ Chính trị"}, references=[])
    citing = make_record("citing")
    with Store(db) as store:
        for rec in ([cited, citing] if order == "cited_first" else [citing, cited]):
            store.save(rec)
        _, rows = store.query("SELECT citing_id, key, cited_id, resolved FROM v_citations")
        key = key_of("34-CT/TW", "CT")
        assert rows == [(document_id(citing.source.sha256), key, document_id(cited.source.sha256), True)]
        assert store.query("SELECT * FROM v_unresolved_references")[1] == []
        _, up = store.query("SELECT direction, depth, document_id FROM citing(?)", [key])
        assert up == [("cited_by", 1, document_id(citing.source.sha256))]


def test_unresolved_and_transitive_citations(db):
    k1, k2, k3 = (key_of(f"{i}/KH-UBND", "KH") for i in (1, 2, 3))
    a = make_record("A", number="1/KH-UBND", references=[
        {"raw": "KH 2", "doc_type": "KH", "number": "2/KH-UBND", "key": k2}])
    b = make_record("B", number="2/KH-UBND", references=[
        {"raw": "KH 3", "doc_type": "KH", "number": "3/KH-UBND", "key": k3},
        {"raw": "KH 1", "doc_type": "KH", "number": "1/KH-UBND", "key": k1}])  # a cycle
    with Store(db) as store:
        store.save(a)
        store.save(b)
        _, un = store.query("SELECT key, cited_by_count FROM v_unresolved_references")
        assert un == [(k3, 1)]
        _, rows = store.query("SELECT direction, depth, key, document_id FROM citing(?)", [k3])
        assert [(d, n, k) for d, n, k, _ in rows] == [("cited_by", 1, k2), ("cited_by", 2, k1)]
        _, down = store.query("SELECT key, depth FROM citing(?) WHERE direction = 'cites'", [k1])
        assert down == [(k2, 1), (k3, 2)]


def test_corrections_and_task_status_survive_resave_and_reextraction(db):
    rec = make_record("a")
    with Store(db) as store:
        doc = store.save(rec).document_id
        store.correct(doc, "subject", "Công tác thi đua, khen thưởng năm 2024 (đã sửa)", author="chuyên viên")
        store.correct(rec.source.sha256, "issuer.locality", "Tỉnh Điện Biên")
        store.correct(doc, "issued_date", "2024-01")
        with pytest.raises(ValueError):
            store.correct(doc, "signer.authority", "bogus")
        _, tasks = store.query("SELECT task_key FROM tasks ORDER BY ordinal")
        store.set_task_status(doc, tasks[0][0], "done", author="me")

        def check():
            _, rows = store.query("SELECT subject, issuer_locality, issued_date, issued_on, issued_precision, "
                                  "corrected FROM v_documents")
            assert rows == [("Công tác thi đua, khen thưởng năm 2024 (đã sửa)", "Tỉnh Điện Biên", "2024-01",
                             None, "month", True)]
            _, st = store.query("SELECT status FROM v_tasks ORDER BY ordinal")
            assert st == [("done",), ("open",)]
            assert store.record(doc).issued_date == "2024-01"
            assert store.record(doc, corrected=False).issued_date == "2024-01-10"

        check()
        assert store.save(rec).status == "duplicate"
        check()
        # re-extraction by a newer pipeline: tasks reordered, subject changed; human work stays
        newer = make_record("a", subject="Thi đua khen thưởng", tasks=list(reversed(rec.model_dump()["tasks"])),
                            pipeline_version="newer")
        assert store.save(newer, replace=True).status == "updated"
        _, rows = store.query("SELECT subject FROM v_documents")
        assert rows == [("Công tác thi đua, khen thưởng năm 2024 (đã sửa)",)]
        _, st = store.query("SELECT text, status FROM v_tasks ORDER BY ordinal")
        assert st == [("Tuyên truyền phong trào", "open"), ("Tổng hợp, báo cáo kết quả thi đua", "done")]
        assert counts(store)["documents"] == 1 and counts(store)["tasks"] == 2


def test_task_views_and_macros(db):
    with Store(db) as store:
        store.save(make_record("a"))
        _, due = store.query("SELECT deadline, deadline_on FROM tasks_due('2024-03-01', '2024-03-31')")
        assert [(d, str(o)) for d, o in due] == [("2024-03-15", "2024-03-15")]
        _, od = store.query("SELECT deadline FROM overdue('2024-06-01')")
        assert od == [("2024-03-15",)]
        _, flags = store.query("SELECT overdue FROM v_tasks ORDER BY ordinal")
        assert flags == [(True,), (True,)]  # both deadlines are before today
        _, mv = store.query("SELECT canonical, issuer_locality, year, documents FROM v_movements")
        assert mv == [("vì người nghèo", "Điện Biên", 2024, 1)]


def test_helpers():
    assert fold("Thi đua, KHEN THƯỞNG Đà Nẵng") == "thi dua, khen thuong da nang"
    assert len(fold("Nghị định")) == len("Nghị định")
    assert date_precision("2024-02") == (None, "month") and date_precision("2024-02-30") == (None, None)
    assert str(deadline_last_day("2024-Q1")) == "2024-03-31" and str(deadline_last_day("2024-02")) == "2024-02-29"
    assert deadline_last_day("recurring") is None


def test_parameterised_queries_and_read_only(db):
    with Store(db) as store:
        store.save(make_record("a"))
    with Store(db, read_only=True) as ro:
        cols, rows = ro.query("SELECT count(*) AS n FROM documents WHERE number = ?", ["1023/KH-UBND"])
        assert cols == ["n"] and rows == [(1,)]
        with pytest.raises(PermissionError):
            ro.save(make_record("b"))
        with pytest.raises(duckdb.Error):
            ro.query("DELETE FROM documents")


def _hold_write_lock(path: str, seconds: float, ready) -> None:
    con = duckdb.connect(path)
    con.execute("BEGIN TRANSACTION")
    ready.set()
    time.sleep(seconds)
    con.close()


def _lock_holder(db, seconds):
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_hold_write_lock, args=(str(db), seconds, ready))
    proc.start()
    assert ready.wait(30)
    return proc


def test_reader_waits_then_raises_database_busy(db):
    with Store(db) as store:
        store.save(make_record("a"))
    proc = _lock_holder(db, 5.0)
    try:
        t0 = time.monotonic()
        with pytest.raises(DatabaseBusy, match="being written by another process"):
            Store(db, read_only=True, wait_seconds=0.6)
        assert time.monotonic() - t0 >= 0.5
    finally:
        proc.join()


def test_reader_gets_in_once_the_writer_lets_go(db):
    with Store(db) as store:
        store.save(make_record("a"))
    proc = _lock_holder(db, 0.5)
    try:
        with Store(db, read_only=True, wait_seconds=20) as ro:
            assert ro.query("SELECT count(*) FROM documents")[1] == [(1,)]
    finally:
        proc.join()


def test_save_many_writes_a_batch_through_one_open(db):
    recs = [make_record(s, number=f"{i}/KH-UBND") for i, s in enumerate("abc")]
    with Store(db) as store:
        res = store.save_many([*recs, recs[0]])
        assert [r.status for r in res] == ["inserted", "inserted", "inserted", "duplicate"]
        assert counts(store)["documents"] == 3 and counts(store)["tasks"] == 6
        _, bodies = store.query("SELECT DISTINCT issuer_body FROM v_documents")
        assert bodies == [("Ủy ban nhân dân tỉnh Điện Biên",)]


def test_body_registry_is_rebuilt_when_the_rules_change(db):
    with Store(db) as store:
        store.save(make_record("a", issuer={"name": "UBND tỉnh Ninh Thuận", "locality": "Ninh Thuận"}))
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM bodies; DELETE FROM body_names; DELETE FROM body_aliases;"
                "UPDATE meta SET value = 'older rules' WHERE key = 'bodies_version'")
    con.close()
    with Store(db) as store:  # a write open notices and re-resolves from the stored records
        _, got = store.query("SELECT issuer_body, issuer_province_2025 FROM v_documents")
        assert got == [("Ủy ban nhân dân tỉnh Ninh Thuận", "Khánh Hòa")]


def test_known_sha256_and_batched_sightings(db):
    """One query for a folder's worth of hashes; a sighting already recorded at a path is not repeated."""
    a, b = make_record("a"), make_record("b", number="9/KH-UBND")
    with Store(db) as store:
        store.save(a, stored_path="/archive/a.pdf", original_name="a.pdf")
        store.save(b, stored_path="/archive/b.pdf", original_name="b.pdf")
        held = store.known_sha256([a.source.sha256.upper(), b.source.sha256, sha("nope")])
        assert held == {a.source.sha256, b.source.sha256} and store.known_sha256([]) == set()
        rows = [(a.source.sha256, "/in/a.pdf", "a.pdf"), (sha("nope"), "/in/n.pdf", "n.pdf"),
                (a.source.sha256, "/archive/a.pdf", "a.pdf")]
        res = store.record_sightings(rows)
        assert [r.status if r else None for r in res] == ["duplicate", None, "duplicate"]
        assert res[0].document_id == document_id(a.source.sha256)
        files = lambda: store.query("SELECT path, status FROM files WHERE sha256 = ? ORDER BY seen_at, path",
                                    [a.source.sha256])[1]
        assert files() == [("/archive/a.pdf", "inserted"), ("/in/a.pdf", "duplicate")]
        store.record_sightings(rows)  # the same folder again: nothing new to record
        assert len(files()) == 2


def test_citation_graph_follows_saves_and_corrections(db):
    """citing() reads the graph the store keeps: a correction of a number moves the node, and a
    store whose graph is missing (older database, bulk load) rebuilds it on open."""
    k1, k2, k9 = (key_of(f"{i}/KH-UBND", "KH") for i in (1, 2, 9))
    a = make_record("A", number="1/KH-UBND", references=[
        {"raw": "KH 2", "doc_type": "KH", "number": "2/KH-UBND", "key": k2}])
    b = make_record("B", number="2/KH-UBND", references=[])
    with Store(db) as store:
        store.save(a)
        store.save(b)
        assert store.query("SELECT direction, key FROM citing(?)", [k2])[1] == [("cited_by", k1)]
        store.correct(document_id(a.source.sha256), "number", "9/KH-UBND")
        assert store.query("SELECT direction, key, document_id FROM citing(?)", [k2])[1] == [
            ("cited_by", k9, document_id(a.source.sha256))]
        assert store.query("SELECT key FROM citing(?)", [k9])[1] == [(k2,)]
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM xref_edges")
    con.execute("UPDATE meta SET value = 'old' WHERE key = 'xref_version'")
    con.close()
    with Store(db) as store:
        assert store.query("SELECT direction, key FROM citing(?)", [k2])[1] == [("cited_by", k9)]


def test_saves_while_holding_share_one_connection(db, monkeypatch):
    opened = []
    real = Store._connect
    store = Store(db)
    monkeypatch.setattr(Store, "_connect", lambda self, **kw: opened.append(kw) or real(self, **kw))
    with store.holding():
        results = [store.save(make_record(s, number=f"{i}/KH-UBND")) for i, s in enumerate("abc")]
    assert [r.status for r in results] == ["inserted"] * 3 and len(opened) == 1
    # Let go afterwards: a reader gets in at once and sees every save.
    with Store(db, read_only=True, wait_seconds=1) as reader:
        assert reader.query("SELECT count(*) FROM documents")[1] == [(3,)]
