"""Nothing done twice: the per-page OCR cache and the extraction cache key (no tesseract needed)."""
from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

import congvan
from congvan.config import Settings
from congvan.pipeline import cache as cache_mod
from congvan.pipeline import ocr as ocr_mod
from congvan.pipeline.acquire import acquire
from congvan.pipeline.cache import OcrCache, bitmap_digest, code_fingerprint, extraction_key, image_digest, page_cache
from congvan.pipeline.ocr import OcrResult


def _page(text: str = "Số: 12/KH-UBND", size=(400, 200)) -> Image.Image:
    img = Image.new("RGB", size, "white")
    ImageDraw.Draw(img).text((20, 80), text, fill="black")
    return img


def _result(text="Kính gửi: Sở Nội vụ", seconds=1.5) -> OcrResult:
    words = {"text": ["Kính", "gửi:"], "conf": [91.5, 88.0], "block_num": [1, 1], "par_num": [1, 1], "line_num": [1, 1]}
    return OcrResult(text=text, confidence=0.9, seconds=seconds, angle=2.5, rotated=0, words=words)


def test_roundtrip_keeps_every_field(tmp_path):
    c = OcrCache(tmp_path)
    img = _page()
    key = c.key(img, "vie")
    assert c.get(key) is None
    path = c.put(key, _result())
    assert path is not None and path.parent.parent == tmp_path
    got = c.get(key)
    assert dataclasses.asdict(got) == dataclasses.asdict(_result())
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_key_follows_pixels_and_language():
    c = OcrCache("/nonexistent")
    a, same, other = _page(), _page(), _page("Số: 13/KH-UBND")
    assert image_digest(a) == image_digest(same)
    assert c.key(a, "vie") == c.key(same, "vie")
    assert c.key(a, "vie") != c.key(other, "vie")
    assert c.key(a, "vie") != c.key(a, "vie+eng")
    assert c.key(a, "vie") != c.key(a.convert("L"), "vie")  # same picture, other pixels given to OCR


def test_bitmap_digest_follows_the_rendered_pixels_only():
    """A rendered page is keyed from pdfium's bitmap in place: the same render gives the same key,
    another page another one, and stride padding (whose bytes nothing defines) is not hashed."""
    import pypdfium2 as pdfium

    src = Path(__file__).resolve().parent.parent / "samples" / "001-scan.pdf"
    doc = pdfium.PdfDocument(str(src))
    try:
        first, again, other = (doc[i].render(scale=0.5) for i in (0, 0, 1))
        assert bitmap_digest(first) == bitmap_digest(again)
        assert bitmap_digest(first) != bitmap_digest(other)
    finally:
        doc.close()

    class Bitmap:  # the attributes bitmap_digest reads, laid out with and without row padding
        def __init__(self, rows: list[bytes], stride: int):
            self.mode, self.width, self.height, self.stride = "L", len(rows[0]), len(rows), stride
            self.buffer = bytearray(b"".join(r + bytes([len(r) + i]) * (stride - len(r)) for i, r in enumerate(rows)))

    rows = [b"\x00\x10\x20", b"\x30\x40\x50"]
    assert bitmap_digest(Bitmap(rows, 3)) == bitmap_digest(Bitmap(rows, 4)) == bitmap_digest(Bitmap(rows, 8))
    assert bitmap_digest(Bitmap(rows, 4)) != bitmap_digest(Bitmap([rows[0], b"\x30\x40\x51"], 4))


def test_key_follows_the_ocr_code(tmp_path, monkeypatch):
    c = OcrCache(tmp_path)
    img = _page()
    before = c.key(img, "vie")
    changed = tmp_path / "ocr.py"
    changed.write_bytes(Path(ocr_mod.__file__).read_bytes() + b"\n# psm changed\n")
    monkeypatch.setattr(ocr_mod, "__file__", str(changed))
    cache_mod.ocr_fingerprint.cache_clear()
    try:
        assert c.key(img, "vie") != before
    finally:
        monkeypatch.undo()
        cache_mod.ocr_fingerprint.cache_clear()
    assert c.key(img, "vie") == before


def test_damaged_or_foreign_entries_are_misses(tmp_path):
    c = OcrCache(tmp_path)
    key = c.key(_page(), "vie")
    path = c.put(key, _result())
    path.write_text('{"format": 1, "key": "', encoding="utf-8")  # torn by hand
    assert c.get(key) is None
    path.write_text(json.dumps({"format": 999, "key": key, "result": dataclasses.asdict(_result())}), encoding="utf-8")
    assert c.get(key) is None
    path.write_text(json.dumps({"format": cache_mod.FORMAT, "key": key, "result": {"text": "x"}}), encoding="utf-8")
    assert c.get(key) is None  # fields missing: written by other code


def test_unwritable_cache_only_logs(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    c = OcrCache(blocker)
    assert c.put("ab" + "0" * 62, _result()) is None


def test_concurrent_writers_and_readers_never_see_a_torn_entry(tmp_path):
    c = OcrCache(tmp_path)
    key = c.key(_page(), "vie")
    big = _result(text="chữ " * 20000)
    seen, errors = [], []

    def writer():
        for _ in range(20):
            c.put(key, big)

    def reader():
        for _ in range(200):
            try:
                got = c.get(key)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)
                return
            if got is not None:
                seen.append(got.text == big.text)

    threads = [threading.Thread(target=writer) for _ in range(4)] + [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and seen and all(seen)
    assert sorted(p.name for p in (tmp_path / key[:2]).iterdir()) == [f"{key}.json"]


def test_settings_place_the_cache_beside_the_database(tmp_path):
    s = Settings(db=tmp_path / "x.duckdb", ocr_cache="")
    assert s.ocr_cache_dir == tmp_path / "cache" / "ocr"
    assert page_cache(s).root == tmp_path / "cache" / "ocr"
    assert Settings(db=tmp_path / "x.duckdb", ocr_cache="off").ocr_cache_dir is None
    assert page_cache(Settings(ocr_cache="off")) is None
    assert Settings(ocr_cache=str(tmp_path / "c")).ocr_cache_dir == tmp_path / "c"


# ---------------------------------------------------------------- through acquire()

@pytest.fixture
def counting_ocr(monkeypatch):
    calls = []

    def fake(img, lang="vie", psm=4, timeout=120.0, **kw):
        calls.append(img.size)
        return OcrResult(text="ỦY BAN NHÂN DÂN TỈNH ĐIỆN BIÊN\nSố: 1023/KH-UBND", confidence=0.9, seconds=0.5)

    monkeypatch.setattr(ocr_mod, "ocr_image", fake)
    return calls


def _settings(tmp_path, **kw) -> Settings:
    s = Settings(db=tmp_path / "db" / "congvan.duckdb", workers=1)
    for k, v in kw.items():
        setattr(s, k, v)
    return s


def test_acquire_reads_a_page_once(tmp_path, counting_ocr):
    p = tmp_path / "scan.png"
    _page(size=(600, 800)).save(p)
    first = acquire(p, _settings(tmp_path))
    second = acquire(p, _settings(tmp_path))
    assert len(counting_ocr) == 1
    assert [dataclasses.asdict(x) for x in first.pages] == [dataclasses.asdict(x) for x in second.pages]
    assert list((tmp_path / "db" / "cache" / "ocr").rglob("*.json"))


def test_cache_off_reads_again(tmp_path, counting_ocr):
    p = tmp_path / "scan.png"
    _page(size=(600, 800)).save(p)
    acquire(p, _settings(tmp_path, ocr_cache="off"))
    acquire(p, _settings(tmp_path, ocr_cache="off"))
    assert len(counting_ocr) == 2
    assert not (tmp_path / "db" / "cache").exists()


def test_a_hit_slower_than_the_page_limit_is_not_used(tmp_path, counting_ocr):
    p = tmp_path / "scan.png"
    _page(size=(600, 800)).save(p)
    acquire(p, _settings(tmp_path))  # cached reading took 0.5 s
    acquire(p, _settings(tmp_path, ocr_timeout=0.1))
    assert len(counting_ocr) == 2


# ---------------------------------------------------------------- the extraction key (Prefect task cache)

def test_extraction_key_follows_bytes_version_code_and_ocr_settings(monkeypatch):
    s = Settings()
    sha = "ab" * 32
    key = extraction_key(sha, s)
    assert key == extraction_key(sha.upper(), Settings())
    assert key != extraction_key("cd" * 32, s)
    assert key != extraction_key(sha, Settings(ocr_lang="vie+eng"))
    assert key != extraction_key(sha, Settings(ocr_dpi=200))
    monkeypatch.setattr(congvan, "PIPELINE_VERSION", congvan.PIPELINE_VERSION + ".test")
    code_fingerprint.cache_clear()
    try:
        assert extraction_key(sha, s) != key
    finally:
        monkeypatch.undo()
        code_fingerprint.cache_clear()
    assert extraction_key(sha, s) == key


# ---------------------------------------------------------------- Prefect: extraction cached, outcome not

class _MiniStore:
    """Just enough of Store for process_file: holds shas, counts saves."""

    def __init__(self):
        self.saved: dict[str, str] = {}

    def open(self, settings):
        outer = self

        class Conn:
            def has_sha256(self, sha):
                return sha in outer.saved

            def save(self, record, stored_path, original_name):
                outer.saved[record.source.sha256] = stored_path
                return {"status": "inserted", "document_id": record.source.sha256[:16]}

            def close(self):
                pass

        return Conn()


@pytest.mark.slow  # starts Prefect's temporary server (15-40 s)
def test_prefect_caches_the_extraction_never_the_save_or_the_move(tmp_path, monkeypatch):
    import uuid

    from congvan.flows import ingest as ing
    from congvan.pipeline.acquire import sha256_file
    from congvan.schemas.record import Record, Source

    d = tmp_path / "data"
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("CONGVAN_SETTLE_SECONDS", "0")
    ing.prefect_env(Settings(db=d / "congvan.duckdb"))
    pytest.importorskip("prefect")
    calls = []

    def counting(path, s):
        calls.append(Path(path).name)
        return Record(source=Source(path=str(path), sha256=sha256_file(path), pages=1, text_source="text_layer"))

    monkeypatch.setattr(ing, "_default_extract", counting)
    body = b"%PDF-1.4 " + uuid.uuid4().hex.encode()
    kw = dict(db=str(d / "congvan.duckdb"), inbox=str(d / "inbox"), archive=str(d / "archive"),
              quarantine=str(d / "quarantine"), processing=str(d / "processing"), workers=1, progress=False)

    def run_once(store):
        (d / "inbox").mkdir(parents=True, exist_ok=True)
        (d / "inbox" / "a.pdf").write_bytes(body)
        monkeypatch.setattr(ing, "_default_open_store", store.open)
        return ing.ingest_flow(**kw)

    first, again, changed = _MiniStore(), _MiniStore(), _MiniStore()
    out = run_once(first)
    assert (out["inserted"], out["archived"], len(calls)) == (1, 1, 1)
    # The same bytes into a database that does not hold them: extraction comes from the cache,
    # but the record is still saved and the file still archived.
    out = run_once(again)
    assert (out["inserted"], out["archived"], len(calls)) == (1, 1, 1)
    assert list(again.saved) == list(first.saved)
    assert not list((d / "inbox").iterdir())
    # A new pipeline version extracts again.
    monkeypatch.setattr(congvan, "PIPELINE_VERSION", congvan.PIPELINE_VERSION + ".next")
    code_fingerprint.cache_clear()
    try:
        out = run_once(changed)
    finally:
        monkeypatch.undo()
        code_fingerprint.cache_clear()
    assert (out["inserted"], len(calls)) == (1, 2)


# ---------------------------------------------------------------- ruled tables kept beside the page

def _words(texts):
    n = len(texts)
    return {"level": [5] * n, "page_num": [1] * n, "block_num": [1] * n, "par_num": [1] * n, "line_num": [1] * n,
            "word_num": list(range(1, n + 1)), "left": [10 + 60 * i for i in range(n)], "top": [20] * n,
            "width": [50] * n, "height": [20] * n, "conf": [90] * n, "text": list(texts)}


@pytest.fixture
def table_page(tmp_path, monkeypatch):
    """A scanned page whose (fake) OCR has word boxes and whose (fake) table reader counts its calls."""
    import numpy as np

    from congvan.pipeline import ocr_tables

    def fake_ocr(img, lang="vie", psm=4, timeout=120.0, **kw):
        return OcrResult(text="STT Nội dung\n1 Ban hành", confidence=0.95, seconds=0.5,
                         words=_words(["STT", "Nội", "dung", "1", "Ban", "hành"]))

    reads = []
    reading = ocr_tables.TableReading(
        "STT\tNội dung\n1\tBan hành", _words(["STT", "Nội", "dung", "1", "Ban", "hành"]),
        [[["STT", "Nội dung"], ["1", "Ban hành"]]], [[[(0, 3), (4, 12)], [(13, 14), (15, 23)]]])
    reading.words["left"][0] = np.int32(10)  # grid positions come from OpenCV as numpy integers
    outcome = {"reading": reading}

    def fake_tables(img, words, rotated=0, angle=0.0, **kw):
        reads.append(1)
        return outcome["reading"]

    monkeypatch.setattr(ocr_mod, "ocr_image", fake_ocr)
    monkeypatch.setattr(ocr_tables, "read_tables", fake_tables)
    p = tmp_path / "scan.png"
    _page(size=(600, 800)).save(p)
    return p, reads, outcome


def test_table_reading_is_kept_beside_the_cached_page(tmp_path, table_page):
    p, reads, _ = table_page
    first = acquire(p, _settings(tmp_path))
    second = acquire(p, _settings(tmp_path))
    assert len(reads) == 1  # the second reading came from the cache, tables included
    assert first.pages[0].tables == second.pages[0].tables == [[["STT", "Nội dung"], ["1", "Ban hành"]]]
    assert [dataclasses.asdict(x) for x in first.pages] == [dataclasses.asdict(x) for x in second.pages]
    assert list((tmp_path / "db" / "cache" / "ocr").rglob("*.tables.json"))


def test_no_table_is_kept_too_but_not_a_failed_cell_reread(tmp_path, table_page):
    p, reads, outcome = table_page
    outcome["reading"] = None  # a page without a ruled table: also worth remembering
    acquire(p, _settings(tmp_path))
    acquire(p, _settings(tmp_path))
    assert len(reads) == 1
    outcome["reading"] = dataclasses.replace(outcome["reading"] or _incomplete(), complete=False)
    other = tmp_path / "other.png"
    _page("Số: 99/KH-UBND", size=(600, 800)).save(other)
    acquire(other, _settings(tmp_path))
    acquire(other, _settings(tmp_path))
    assert len(reads) == 3  # a reading whose cell re-read failed is read again next time


def _incomplete():
    from congvan.pipeline.ocr_tables import TableReading

    return TableReading("a\tb", _words(["a", "b"]), [[["a", "b"]]], [[[(0, 1), (2, 3)]]])


def test_tables_are_read_again_without_the_cache(tmp_path, table_page):
    p, reads, _ = table_page
    acquire(p, _settings(tmp_path, ocr_cache="off"))
    acquire(p, _settings(tmp_path, ocr_cache="off"))
    assert len(reads) == 2
