"""Incremental upkeep of the fts index (pipeline/search_index.py): after every refresh the index
gives the BM25 scores a full rebuild would, and the refresh takes the path it should."""
from __future__ import annotations

import random
import shutil

import duckdb
import pytest

from congvan.pipeline import search_index
from congvan.pipeline.store import Store, document_id
from conftest import SAMPLES
from test_store_fixtures import make_record
from textlayer_db import build_text_samples_db

FTS = search_index.FTS
QUERIES = ["thi dua", "khen thuong", "ke hoach", "uy ban nhan dan", "so noi vu", "1023", "phong chong dich",
           "bao cao ket qua", "dien bien", "trien khai thuc hien", "zzkhongco", "cong dien", "quyet dinh"]


@pytest.fixture
def incremental(monkeypatch):
    """Take the incremental path on test-sized corpora (the defaults rebuild small ones whole)."""
    monkeypatch.setattr(search_index, "FULL_BELOW_DOCS", 0)
    monkeypatch.setattr(search_index, "FULL_SHARE", float("inf"))


def _words() -> list[str]:
    words = []
    for p in sorted(SAMPLES.glob("*.gt.txt")):
        words += p.read_text(encoding="utf-8").split()
    return words or ["thi", "đua", "khen", "thưởng"]


WORDS = _words()


def _text(seed: int, n: int = 150) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _index_tables(con) -> dict:
    """The index as a rebuild would make it, with the arbitrary ids replaced by names and terms."""
    return {
        "docs": sorted(con.execute(f"SELECT name, len FROM {FTS}.docs").fetchall()),
        "dict": sorted(con.execute(f"SELECT term, df FROM {FTS}.dict").fetchall()),
        "terms": sorted(con.execute(
            f"SELECT d.name, t.term, count(*) FROM {FTS}.terms x JOIN {FTS}.docs d USING (docid) "
            f"JOIN {FTS}.dict t USING (termid) GROUP BY ALL").fetchall()),
        "stats": con.execute(f"SELECT num_docs, avgdl FROM {FTS}.stats").fetchall(),
        "corpus": sorted(con.execute("SELECT document_id, search_text FROM search_corpus").fetchall()),
    }


def _scores(con, queries=QUERIES) -> dict:
    search_index_scores = {}
    for conj in (0, 1):
        for q, hits in search_index.index_snapshot(con, queries, conjunctive=conj).items():
            search_index_scores[(q, conj)] = hits
    return search_index_scores


def assert_same_as_rebuild(db, tmp_path, queries=QUERIES) -> float:
    """Compare the (incrementally kept) index of `db` with a full rebuild of a copy of it: same
    index contents up to ids, same match_bm25 scores to 1e-9, same Store.search results. Returns
    the largest score difference seen."""
    copy = tmp_path / f"rebuild-{random.random():.9f}.duckdb"
    shutil.copy2(db, copy)
    with Store(copy) as st:
        st.refresh_index(force=True)
        assert st.last_index_refresh == "full"
    got_con, want_con = duckdb.connect(str(db), read_only=True), duckdb.connect(str(copy), read_only=True)
    try:
        from congvan.pipeline.store import _load_fts
        _load_fts(got_con), _load_fts(want_con)
        assert _index_tables(got_con) == _index_tables(want_con)
        got, want = _scores(got_con, queries), _scores(want_con, queries)
    finally:
        got_con.close(), want_con.close()
    worst = 0.0
    assert got.keys() == want.keys()
    for key in want:
        assert got[key].keys() == want[key].keys(), key
        for doc, s in want[key].items():
            worst = max(worst, abs(got[key][doc] - s))
    assert worst <= 1e-9
    assert any(want.values()), "the queries should find something"
    with Store(db, read_only=True) as a, Store(copy, read_only=True) as b:
        for q in queries[:6] + ["thi đua khen thưởng"]:
            ha, hb = a.search(q, limit=50), b.search(q, limit=50)
            assert [(h["document_id"], h["snippet"]) for h in ha] == [(h["document_id"], h["snippet"]) for h in hb]
            assert all(abs(x["score"] - y["score"]) <= 1e-9 for x, y in zip(ha, hb))
    return worst


def _refresh(db) -> str:
    with Store(db) as st:
        assert st.refresh_index()
        assert st.query("SELECT value FROM meta WHERE key = 'fts_stale'")[1] == [("false",)]
        assert st.query("SELECT count(*) FROM search_pending")[1] == [(0,)]
        return st.last_index_refresh


def test_saves_rescans_and_corrections_kept_incrementally(tmp_path, incremental):
    db = tmp_path / "congvan.duckdb"
    with Store(db) as st:
        st.save(make_record("a"))
        st.save(make_record("b", number="12/CV-UBND", symbol="CV-UBND", doc_type="CV",
                            subject="Phòng, chống dịch bệnh", text="Tăng cường phòng, chống dịch bệnh. " + _text(1)))
    assert _refresh(db) == "full"  # no index yet
    assert_same_as_rebuild(db, tmp_path)

    # new documents, one with separators at both ends and words no other document has
    with Store(db) as st:
        st.save(make_record("c", number="5/TB-UBND", subject="Thông báo khen thưởng đột xuất",
                            text=" ...Khen thưởng đột xuất: xyzzyduynhat!! " + _text(2)))
        st.save(make_record("d", number="7/QĐ-UBND", subject="Quyết định", text=_text(3, 400)))
    assert _refresh(db) == "incremental"
    assert_same_as_rebuild(db, tmp_path)

    # a re-extraction whose text changed: its only word "xyzzyduynhat" leaves the dictionary
    with Store(db) as st:
        assert st.save(make_record("c", number="5/TB-UBND", subject="Thông báo khen thưởng",
                                   text="Khen thưởng. " + _text(4, 80)), replace=True).status == "updated"
    assert _refresh(db) == "incremental"
    assert_same_as_rebuild(db, tmp_path)
    with Store(db, read_only=True) as ro:
        assert ro.query(f"SELECT count(*) FROM {FTS}.dict WHERE df <= 0 OR term = 'xyzzyduynhat'")[1] == [(0,)]

    # a re-scan (a copy), then corrections of its dispatch: the copy's indexed number/subject change too
    a_id = document_id(make_record("a").source.sha256)
    with Store(db) as st:
        r = st.save(make_record("a-rescan", text="bản quét lại " + _text(5)))
        assert r.status == "copy" and r.copy_of == a_id
    assert _refresh(db) == "incremental"
    assert_same_as_rebuild(db, tmp_path)
    with Store(db) as st:
        st.correct(a_id, "subject", "Kế hoạch tổ chức phong trào thi đua yêu nước năm 2024")
        st.correct(a_id, "number", "1024/KH-UBND")
        assert st.query("SELECT DISTINCT document_id FROM search_pending ORDER BY 1")[1] == sorted(
            [(a_id,), (r.document_id,)])
    assert _refresh(db) == "incremental"
    assert_same_as_rebuild(db, tmp_path, QUERIES + ["1024", "yeu nuoc", "1023"])
    with Store(db, read_only=True) as ro:
        assert {h["document_id"] for h in ro.search("1024 yeu nuoc")} == {a_id}  # one hit per dispatch

    # several saves through one held connection (fts_stale written once): every id is pending
    with Store(db) as st, st.holding():
        for k in range(6):
            st.save(make_record(f"h{k}", number=f"{100 + k}/CV-UBND", subject=f"Công văn {k}", text=_text(10 + k)))
        assert st.query("SELECT count(DISTINCT document_id) FROM search_pending")[1] == [(6,)]
        assert st.refresh_index() and st.last_index_refresh == "incremental"
    assert_same_as_rebuild(db, tmp_path)


@pytest.fixture(scope="session")
def text_db(tmp_path_factory, worker_id):
    return build_text_samples_db(tmp_path_factory, worker_id)


def test_real_records_one_at_a_time(text_db, tmp_path, incremental):
    """The ingested text-layer samples, fed one by one into a new store with a refresh after each;
    then one re-extracted with other text and one corrected."""
    with Store(text_db, read_only=True) as ro:
        ids = [r[0] for r in ro.query("SELECT id FROM documents ORDER BY ingested_at, id")[1]]
        records = [ro.record(i, corrected=False) for i in ids]
    assert len(records) >= 4
    db = tmp_path / "fed.duckdb"
    worst = 0.0
    with Store(db) as st:
        for rec in records[:2]:
            st.save(rec)
    assert _refresh(db) == "full"
    for rec in records[2:]:
        with Store(db) as st:
            st.save(rec)
        assert _refresh(db) == "incremental"
        worst = max(worst, assert_same_as_rebuild(db, tmp_path))
    changed = records[1].model_copy(update={"text": records[1].text[: len(records[1].text) // 2]})
    with Store(db) as st:
        assert st.save(changed, replace=True).status == "updated"
        st.correct(document_id(records[0].source.sha256), "subject", "Kế hoạch khen thưởng đột xuất phòng chống bão")
    assert _refresh(db) == "incremental"
    worst = max(worst, assert_same_as_rebuild(db, tmp_path, QUERIES + ["phong chong bao"]))
    assert worst <= 1e-9


def _plan_of(db) -> str:
    with Store(db) as st:
        assert st.refresh_index()
        return st.last_index_refresh


def test_paths(tmp_path, monkeypatch):
    db = tmp_path / "congvan.duckdb"
    with Store(db) as st:
        for k in range(10):
            st.save(make_record(f"p{k}", number=f"{k + 1}/CV-UBND", subject=f"Công văn {k}", text=_text(k)))
    assert _plan_of(db) == "full"  # no index
    with Store(db) as st:
        assert not st.refresh_index()  # fresh: nothing to do
        assert st.refresh_index(force=True) and st.last_index_refresh == "full"

    monkeypatch.setattr(search_index, "FULL_BELOW_DOCS", 0)
    monkeypatch.setattr(search_index, "FULL_SHARE", 0.2)
    with Store(db) as st:
        st.save(make_record("q0", number="50/CV-UBND", text=_text(50)))
        st.save(make_record("q1", number="51/CV-UBND", text=_text(51)))
    assert _plan_of(db) == "incremental"  # 2 of 10 pending
    with Store(db) as st:
        for k in range(3):
            st.save(make_record(f"r{k}", number=f"{60 + k}/CV-UBND", text=_text(60 + k)))
    assert _plan_of(db) == "full"  # 3 of 12 pending: a large share
    with Store(db) as st:
        st.save(make_record("s0", number="70/CV-UBND", text=_text(70)))
        assert st.refresh_index(force=True) and st.last_index_refresh == "full"  # force wins
        assert st.query("SELECT count(*) FROM search_pending")[1] == [(0,)]

    monkeypatch.setattr(search_index, "FULL_BELOW_DOCS", 100)
    with Store(db) as st:
        st.save(make_record("s1", number="71/CV-UBND", text=_text(71)))
    assert _plan_of(db) == "full"  # a small corpus is rebuilt whole
    monkeypatch.setattr(search_index, "FULL_BELOW_DOCS", 0)

    # stale with nothing pending (a write by plain SQL): nothing says what changed, rebuild
    with Store(db) as st:
        st.query("UPDATE texts SET text = 'văn bản khác hẳn' WHERE document_id = "
                 "(SELECT min(document_id) FROM texts)")
        st.query("UPDATE meta SET value = 'true' WHERE key = 'fts_stale'")
    assert _plan_of(db) == "full"
    assert_same_as_rebuild(db, tmp_path)

    # an index built under other settings (or before this module): rebuilt whole once
    with Store(db) as st:
        st.query("UPDATE meta SET value = 'older' WHERE key = 'fts_build'")
        st.save(make_record("s2", number="72/CV-UBND", text=_text(72)))
    assert _plan_of(db) == "full"
    with Store(db) as st:
        st.save(make_record("s3", number="73/CV-UBND", text=_text(73)))
    assert _plan_of(db) == "incremental"

    # a document removed by plain SQL while another is pending: the refresh notices it is gone
    with Store(db) as st:
        gone = st.query("SELECT min(id) FROM documents WHERE copy_of IS NULL")[1][0][0]
        st.query("DELETE FROM texts WHERE document_id = ?", [gone])
        st.query("DELETE FROM documents WHERE id = ?", [gone])
        st.save(make_record("s4", number="74/CV-UBND", text=_text(74)))
    assert _plan_of(db) == "incremental"
    with Store(db, read_only=True) as ro:
        assert ro.query(f"SELECT count(*) FROM {FTS}.docs WHERE name = ?", [gone])[1] == [(0,)]
    assert_same_as_rebuild(db, tmp_path)


def test_a_failed_refresh_leaves_everything_pending(tmp_path, incremental, monkeypatch):
    db = tmp_path / "congvan.duckdb"
    with Store(db) as st:
        st.save(make_record("a"))
        st.refresh_index()
        st.save(make_record("b", number="2/CV-UBND", text=_text(1)))
    real = search_index.apply_pending

    def boom(con, **kw):
        real(con, **kw)
        raise RuntimeError("disk full")
    monkeypatch.setattr(search_index, "apply_pending", boom)
    with Store(db) as st, pytest.raises(RuntimeError):
        st.refresh_index()
    monkeypatch.setattr(search_index, "apply_pending", real)
    with Store(db) as st:
        assert st.query("SELECT value FROM meta WHERE key = 'fts_stale'")[1] == [("true",)]
        assert st.query("SELECT count(*) FROM search_pending")[1] == [(1,)]
    assert _plan_of(db) == "incremental"
    assert_same_as_rebuild(db, tmp_path)


def test_a_reader_brings_a_stale_index_up_to_date_incrementally(tmp_path, incremental):
    db = tmp_path / "congvan.duckdb"
    with Store(db) as st:
        st.save(make_record("a"))
        st.save(make_record("b", number="2/CV-UBND", text="Khen thưởng. " + _text(1)))
        st.refresh_index()
        st.save(make_record("c", number="5/TB-UBND", subject="Thông báo khen thưởng đột xuất", text=_text(2)))
    with Store(db, read_only=True) as ro:
        assert len(ro.search("khen thuong")) == 3
        assert ro.query("SELECT value FROM meta WHERE key = 'fts_stale'")[1] == [("false",)]
        assert ro.query(f"SELECT count(*) FROM {FTS}.docs")[1] == [(3,)]
    assert_same_as_rebuild(db, tmp_path)


def test_a_database_from_before_search_pending(tmp_path, incremental):
    """Written by the previous version (no search_pending, no meta.fts_build, index stale): a reader
    rebuilds whole once, then writes keep the index incrementally."""
    db = tmp_path / "congvan.duckdb"
    with Store(db) as st:
        st.save(make_record("a"))
        st.refresh_index()
        st.save(make_record("b", number="2/CV-UBND", text="Khen thưởng. " + _text(1)))
    con = duckdb.connect(str(db))
    con.execute("DROP TABLE search_pending")
    con.execute("DELETE FROM meta WHERE key = 'fts_build'")
    con.close()
    with Store(db, read_only=True) as ro:
        assert len(ro.search("khen thuong")) == 2
    assert_same_as_rebuild(db, tmp_path)
    with Store(db) as st:
        st.save(make_record("c", number="5/TB-UBND", text="Khen thưởng đột xuất. " + _text(2)))
    assert _plan_of(db) == "incremental"
    assert_same_as_rebuild(db, tmp_path)
