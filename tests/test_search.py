"""Full-text search: Vietnamese with or without diacritics, stale index handling."""
from __future__ import annotations

import pytest

from congvan.pipeline.store import Store
from test_store_fixtures import make_record


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "congvan.duckdb"
    with Store(path) as store:
        store.save(make_record("a"))
        store.save(make_record("b", number="12/CV-UBND", symbol="CV-UBND", doc_type="CV",
                               subject="Phòng, chống dịch bệnh", text="Tăng cường phòng, chống dịch bệnh mùa mưa."))
    return path


@pytest.mark.parametrize("words", ["thi đua", "thi dua", "THI ĐUA", "khen thưởng", "khen thuong", "Điện Biên"])
def test_finds_with_and_without_diacritics(db, words):
    with Store(db) as store:
        hits = store.search(words)
    assert [h["number"] for h in hits] == ["1023/KH-UBND"]
    hit = hits[0]
    assert set(hit) == {"document_id", "number", "subject", "score", "snippet"} and hit["score"] > 0
    assert "đ" in hit["snippet"].lower()  # diacritics kept for display


def test_all_words_required_and_no_ascii_only_tokens(db):
    with Store(db, read_only=True) as ro:
        assert ro.search("thi dịch") == []
        assert [h["number"] for h in ro.search("dich benh")] == ["12/CV-UBND"]
        assert ro.search("th") == []  # the default fts ignore regex would have left "th" from "thưởng"
        assert ro.search("   ,, ") == []


def test_reader_rebuilds_a_stale_index_or_scans(db):
    with Store(db, read_only=True) as ro:
        assert [h["number"] for h in ro.search("khen thuong")] == ["1023/KH-UBND"]
    with Store(db) as store:
        store.save(make_record("c", number="5/TB-UBND", subject="Thông báo khen thưởng đột xuất",
                               text="Khen thưởng đột xuất"))
        assert store.query("SELECT value FROM meta WHERE key = 'fts_stale'")[1] == [("true",)]
    with Store(db, read_only=True) as ro:
        assert sorted(h["number"] for h in ro.search("khen thưởng")) == ["1023/KH-UBND", "5/TB-UBND"]
        assert ro.query("SELECT value FROM meta WHERE key = 'fts_stale'")[1] == [("false",)]


def test_scan_fallback_matches_index(db):
    with Store(db) as store:
        store.refresh_index(force=True)
    with Store(db, read_only=True) as ro:
        indexed = ro.search("thi dua")
        scanned = Store._search(ro._con, "thi dua", 20, use_index=False)
    assert [h["document_id"] for h in indexed] == [h["document_id"] for h in scanned]


# ---------------------------------------------------------------- on the ingested text-layer samples

from textlayer_db import build_text_samples_db, writable_copy  # noqa: E402

from congvan.pipeline.store import fold, snippet  # noqa: E402


@pytest.fixture(scope="session")
def text_db(tmp_path_factory, worker_id):
    return build_text_samples_db(tmp_path_factory, worker_id)


def test_ingest_leaves_the_index_fresh(text_db):
    with Store(text_db, read_only=True) as ro:
        assert ro.query("SELECT value FROM meta WHERE key = 'fts_stale'")[1] == [("false",)]
        assert Store._has_index(ro._con)


def test_samples_with_and_without_diacritics(text_db):
    with Store(text_db, read_only=True) as ro:
        plain = ro.search("thi dua khen thuong", limit=100)
        marked = ro.search("thi đua khen thưởng", limit=100)
        _, texts = ro.query("SELECT d.id, d.number, d.subject, t.text FROM v_documents d "
                            "JOIN texts t ON t.document_id = d.id")
    assert plain and {h["document_id"] for h in plain} == {h["document_id"] for h in marked}
    by_id = {i: f"{n or ''} · {s or ''} · {t}" for i, n, s, t in texts}
    for h in plain:
        folded = fold(by_id[h["document_id"]])
        assert all(w in folded for w in ("thi dua", "khen thuong")), h["document_id"]
        assert "thi đua" in h["snippet"].lower() or "thưởng" in h["snippet"].lower()
    assert [h["score"] for h in plain] == sorted((h["score"] for h in plain), reverse=True)


def test_one_hit_per_dispatch(text_db):
    with Store(text_db, read_only=True) as ro:
        copies = dict(ro.query("SELECT id, copy_of FROM documents WHERE copy_of IS NOT NULL")[1])
        hits = ro.search("thi dua", limit=100)
    ids = {h["document_id"] for h in hits}
    assert copies, "the garbled samples are re-scans of the text ones"
    assert not any(doc in ids and orig in ids for doc, orig in copies.items())


def test_a_number_finds_its_document(text_db):
    with Store(text_db, read_only=True) as ro:
        numbers = [r[0] for r in ro.query("SELECT DISTINCT number FROM documents WHERE number IS NOT NULL")[1]]
        assert numbers
        for number in numbers:
            assert number in [h["number"] for h in ro.search(number, limit=5)]


def test_corrected_subject_is_searchable(text_db, tmp_path):
    db = writable_copy(text_db, tmp_path)
    with Store(db) as store:
        doc = store.query("SELECT id FROM documents WHERE copy_of IS NULL ORDER BY id LIMIT 1")[1][0][0]
        assert store.search("Quỳnh Nhai biên giới") == []
        store.correct(doc, "subject", "Tăng cường quản lý biên giới huyện Quỳnh Nhai")
    with Store(db, read_only=True) as ro:
        assert [h["document_id"] for h in ro.search("quynh nhai bien gioi")] == [doc]


def test_accents_typed_on_purpose_rank_first(tmp_path):
    path = tmp_path / "congvan.duckdb"
    filler = " Các cơ quan, đơn vị triển khai thực hiện nghiêm túc."
    with Store(path) as store:
        store.save(make_record("exam", number="1/TB-UBND", subject="Tổ chức kỳ thi số 5",
                               text="Tổ chức kỳ thi số 5 năm 2024." + filler))
        store.save(make_record("directive", number="2/TB-UBND", subject="Thực hiện chỉ thị số 5",
                               text="Thực hiện chỉ thị số 5 năm 2024." + filler))
    with Store(path, read_only=True) as ro:
        assert [h["number"] for h in ro.search("thị số 5")][0] == "2/TB-UBND"
        assert [h["number"] for h in ro.search("thi số 5")][0] == "1/TB-UBND"
        assert {h["number"] for h in ro.search("thi so 5")} == {"1/TB-UBND", "2/TB-UBND"}


def test_snippet_shows_where_the_words_meet():
    text = "Thi đua ở đầu. " + "x " * 200 + "Phong trào thi đua khen thưởng ở đây." + " y" * 200
    out = snippet(text, ["khen", "thuong", "thi", "dua"])
    assert "thi đua khen thưởng" in out and out.startswith("…") and out.endswith("…")
