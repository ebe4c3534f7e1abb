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
