"""Fault injection through the plain `ingest` with the real pipeline (acquire → extract → DuckDB).

Each case asserts its own outcome AND the run-wide invariant that nothing is
lost: every input's bytes end up in exactly one of archive/ or quarantine/
(or still in the inbox when it was not settled), every quarantined file has a
reason beside it, and every archived file has its record in the database.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from congvan.config import Settings
from congvan.flows.ingest import ingest
from conftest import assert_nothing_lost, data_settings, dispatch, make_pdf

def _missing() -> str | None:
    for mod in ("congvan.pipeline.acquire", "congvan.pipeline.store", "reportlab", "pypdf"):
        if importlib.util.find_spec(mod) is None:
            return mod
    return None


pytestmark = pytest.mark.skipif(bool(_missing()), reason=f"needs the real pipeline ({_missing()} not importable yet)")


@pytest.fixture
def env(tmp_path: Path):
    return data_settings(tmp_path, settle_seconds=1.0, workers=2, db_wait_seconds=10)


def settle(path: Path) -> None:
    """Pretend the file was written long ago: only ctime can't be moved, so the tests wait it out."""
    t = time.time() - 3600
    os.utime(path, (t, t))


def put(s: Settings, name: str, data: bytes) -> tuple[Path, str]:
    p = s.inbox / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    settle(p)
    return p, hashlib.sha256(data).hexdigest()


def run(s: Settings, paths=None):
    time.sleep(s.settle_seconds + 0.1)  # let ctime age past the settle window
    return ingest(paths, s, progress=False)


def sha_of(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def reason_for(s: Settings, name: str) -> dict:
    return json.loads((s.quarantine / f"{name}.reason.json").read_text(encoding="utf-8"))


def good_pdf(tmp_path: Path, n: int = 1) -> bytes:
    return make_pdf(tmp_path / f"src{n}.pdf", dispatch(n)).read_bytes()


# ---------------------------------------------------------------- cases

def test_good_pdf_is_archived_with_record(env, tmp_path):
    p, sha = put(env, "Kế hoạch 1.pdf", good_pdf(tmp_path))
    s = run(env)
    assert (s.inserted, s.archived, s.quarantined) == (1, 1, 0)
    (out,) = s.files
    assert Path(out["archived_to"]).name == "Kế hoạch 1.pdf"
    assert_nothing_lost(env, {sha: "the good PDF"}, case="good text PDF", outcome="archived, record")


def test_zero_byte_file(env):
    _, sha = put(env, "empty.pdf", b"")
    s = run(env)
    assert s.quarantined == 1
    r = reason_for(env, "empty.pdf")
    assert r["stage"] == "open" and r["error"] == "CorruptInput" and "empty" in r["message"]
    assert_nothing_lost(env, {sha: "the empty file"}, case="zero-byte file", outcome="quarantined: open/CorruptInput")


def test_truncated_pdf(env, tmp_path):
    data = good_pdf(tmp_path)
    _, sha = put(env, "cut.pdf", data[: len(data) // 2])
    s = run(env)
    assert s.quarantined == 1
    r = reason_for(env, "cut.pdf")
    assert r["error"] == "CorruptInput" and "truncated" in r["message"]
    assert_nothing_lost(env, {sha: "the truncated PDF"}, case="truncated PDF", outcome="quarantined: open/CorruptInput (no %%EOF)")


def test_html_renamed_pdf(env):
    _, sha = put(env, "download.pdf", b"<!DOCTYPE html><html><body>404 Not Found</body></html>")
    s = run(env)
    assert s.quarantined == 1
    r = reason_for(env, "download.pdf")
    assert r["error"] == "UnsupportedInput" and "HTML" in r["message"]
    assert_nothing_lost(env, {sha: "the HTML page"}, case="HTML renamed .pdf", outcome="quarantined: open/UnsupportedInput")


def test_password_protected_pdf(env, tmp_path):
    from pypdf import PdfWriter

    src = make_pdf(tmp_path / "plain.pdf", dispatch(7))
    w = PdfWriter(clone_from=str(src))
    w.encrypt(user_password="secret", owner_password="owner")
    w.write(tmp_path / "locked.pdf")
    # owner-password only (opens without a password): that one is fine
    w2 = PdfWriter(clone_from=str(src))
    w2.encrypt(user_password="", owner_password="owner")
    w2.write(tmp_path / "restricted.pdf")
    _, sha1 = put(env, "locked.pdf", (tmp_path / "locked.pdf").read_bytes())
    _, sha2 = put(env, "restricted.pdf", (tmp_path / "restricted.pdf").read_bytes())
    s = run(env)
    assert (s.quarantined, s.inserted) == (1, 1)
    r = reason_for(env, "locked.pdf")
    assert r["stage"] == "open" and r["error"] == "EncryptedInput"
    assert_nothing_lost(env, {sha1: "the locked PDF", sha2: "the restricted PDF"}, case="password-protected PDF",
                        outcome="user password: quarantined EncryptedInput; owner-only: archived")


def test_same_file_twice(env, tmp_path):
    data = good_pdf(tmp_path)
    _, sha = put(env, "a.pdf", data)
    first = run(env)
    put(env, "a.pdf", data)  # dropped again later under the same name
    put(env, "copy of a.pdf", data)
    second = run(env)
    assert first.inserted == 1
    assert second.duplicates == 2 and second.inserted == 0 and second.archived == 2
    archived = sorted(p.name for p in env.archive.rglob("*.pdf"))
    assert archived == ["a (2).pdf", "a.pdf", "copy of a.pdf"]
    from congvan.pipeline.store import Store

    with Store(env.db, read_only=True) as st:
        _, rows = st.query("SELECT count(*) FROM documents")
        assert rows[0][0] == 1
        _, rows = st.query("SELECT count(*) FROM files WHERE sha256 = ?", [sha])
        assert rows[0][0] == 3  # one document, three sightings
    assert_nothing_lost(env, [("a.pdf", sha)] * 3, case="same file twice (next run)", outcome="1 record, 2 duplicates archived")


def test_same_bytes_in_one_run(env, tmp_path):
    data = good_pdf(tmp_path)
    _, sha = put(env, "x.pdf", data)
    put(env, "sub/x.pdf", data)
    s = run(env)
    assert s.inserted == 1 and s.duplicates == 1 and s.archived == 2
    assert_nothing_lost(env, [("x.pdf", sha)] * 2, case="same file twice (one run)", outcome="1 record, 1 duplicate archived")


def test_file_still_being_written(env, tmp_path):
    data = good_pdf(tmp_path)
    p = env.inbox / "arriving.pdf"
    p.write_bytes(data[:1000])  # fresh mtime: the writer is mid-copy
    env.settle_seconds = 3.0
    s = ingest(None, env, progress=False)
    assert s.taken == 0 and p.exists()
    with open(p, "ab") as f:
        f.write(data[1000:])  # the copy completes
    time.sleep(3.2)
    s = ingest(None, env, progress=False)
    assert s.inserted == 1 and not p.exists()
    assert_nothing_lost(env, {hashlib.sha256(data).hexdigest(): "the late PDF"}, case="file still being written",
                        outcome="left until settled, then archived")


def test_temporary_names_left_alone(env, tmp_path):
    data = good_pdf(tmp_path)
    for name in ("a.pdf.part", "b.crdownload", "~$c.pdf", ".d.pdf", "e.tmp", "f.partial"):
        put(env, name, data)
    s = run(env)
    assert s.taken == 0
    assert len(list(env.inbox.iterdir())) == 6
    assert_nothing_lost(env, [(n, sha_of(env.inbox / n)) for n in os.listdir(env.inbox)], pending=6,
                        case="temporary names (.part, ~$, .tmp, hidden)", outcome="left alone in the inbox")


def test_unsupported_extension_in_inbox(env):
    _, sha = put(env, "bien ban.docx", b"PK\x03\x04 not a dispatch")
    s = run(env)
    assert s.quarantined == 1
    assert reason_for(env, "bien ban.docx")["error"] == "UnsupportedInput"
    assert_nothing_lost(env, {sha: "the docx"}, case="unsupported extension (.docx)", outcome="quarantined: UnsupportedInput")


def test_mixed_batch_nothing_lost(env, tmp_path):
    inputs = {}
    for i in range(4):
        _, sha = put(env, f"good {i}.pdf", good_pdf(tmp_path, i + 10))
        inputs[sha] = f"good {i}"
    for name, data in (("empty.pdf", b""), ("html.pdf", b"<html></html>"), ("junk.png", b"\x89PNG\r\n\x1a\nshort")):
        _, sha = put(env, name, data)
        inputs[sha] = name
    s = run(env)
    assert s.inserted == 4 and s.quarantined == 3 and s.failed == 0
    assert_nothing_lost(env, inputs, case="mixed batch", outcome="4 archived, 3 quarantined")


def test_explicit_folder_processed_in_place(env, tmp_path):
    folder = tmp_path / "samples"
    folder.mkdir()
    make_pdf(folder / "one.pdf", dispatch(21))
    make_pdf(folder / "two.pdf", dispatch(22))
    (folder / "bad.pdf").write_bytes(b"")
    (folder / "notes.txt").write_text("not a dispatch")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    s = ingest([str(folder)], env, progress=False)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # nothing moved or changed
    assert (s.inserted, s.errors, s.skipped, s.archived, s.quarantined) == (2, 1, 1, 0, 0)
    again = ingest([str(folder)], env, progress=False)
    assert again.duplicates == 2 and again.inserted == 0
    assert not env.archive.exists() and not env.quarantine.exists()


def _drop_file_override() -> None:
    """Stop root from bypassing file permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH).

    Becoming `nobody` instead would also lock the child out of the interpreter under /root
    (0700): every module or data file it had not loaded yet would fail to open, so the run
    would break on an import, not on the file under test.
    """
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    libc = ctypes.CDLL(None, use_errno=True)
    head, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3
    if libc.capget(ctypes.byref(head), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    drop = ~((1 << 1) | (1 << 2)) & 0xFFFFFFFF
    data[0].effective &= drop
    data[0].permitted &= drop
    data[0].inheritable &= drop
    if libc.capset(ctypes.byref(head), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def _ingest_without_override(settings_kw: dict, out: str) -> None:
    """Child process: root that file permissions apply to, then the plain ingest."""
    _drop_file_override()
    s = ingest(None, Settings(**settings_kw), progress=False)
    Path(out).write_text(json.dumps(dict(s), default=str))


def test_unreadable_file(env):
    root_run = os.geteuid() == 0
    data = b"%PDF-1.4 secret bytes nobody may read"
    p, sha = put(env, "private.pdf", data)
    os.chmod(p, 0)
    time.sleep(env.settle_seconds + 0.1)
    if root_run:
        # root reads any file: the ingest runs in a child without that privilege.
        kw = {k: getattr(env, k) for k in ("db", "inbox", "archive", "quarantine", "processing",
                                           "settle_seconds", "workers", "db_wait_seconds")}
        out = Path(env.db).parent / "summary.json"
        proc = multiprocessing.get_context("fork").Process(target=_ingest_without_override, args=(kw, str(out)))
        proc.start()
        proc.join(120)
        assert proc.exitcode == 0
        s = json.loads(out.read_text())
    else:
        s = dict(ingest(None, env, progress=False))
    assert s["quarantined"] == 1
    r = reason_for(env, "private.pdf")
    assert r["stage"] == "read" and "cannot read" in r["message"]
    os.chmod(env.quarantine / "private.pdf", 0o644)
    assert sha_of(env.quarantine / "private.pdf") == sha
    assert_nothing_lost(env, {sha: "the unreadable PDF"}, case="unreadable file (mode 000)",
                        outcome="quarantined: read (cannot read: Permission denied)")


def _crash_during_extract(settings_kw: dict) -> None:
    """Child: a run that dies like kill -9 (no cleanup, no finally) in the middle of a file."""
    def die(path, settings):
        os._exit(137)

    ingest(None, Settings(**settings_kw), progress=False, extract=die)


def test_crash_mid_run_is_recovered(env, tmp_path):
    data = good_pdf(tmp_path, 31)
    _, sha = put(env, "in flight.pdf", data)
    time.sleep(env.settle_seconds + 0.1)
    kw = dict(db=env.db, inbox=env.inbox, archive=env.archive, quarantine=env.quarantine,
              processing=env.processing, settle_seconds=env.settle_seconds, workers=1, db_wait_seconds=10)
    proc = multiprocessing.get_context("fork").Process(target=_crash_during_extract, args=(kw,))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 137
    assert [p.name.split("__", 1)[1] for p in env.processing.iterdir()] == ["in flight.pdf"]
    s = ingest(None, env, progress=False)  # the next run: lock is free (the kernel dropped it), file retried
    assert s.recovered == 1 and s.inserted == 1
    assert_nothing_lost(env, {sha: "the in-flight PDF"}, case="crash (os._exit) mid-file",
                        outcome="left in processing/, recovered and archived next run")


# ---------------------------------------------------------------- broken and hostile PDFs

def test_corrupt_xref(env, tmp_path):
    """A wrong startxref offset is repaired by the readers (the document is fine); a PDF whose
    objects are gone behind a valid-looking xref is quarantined with the reader's reason."""
    import re

    data = good_pdf(tmp_path, 41)
    m = re.search(rb"startxref\s+(\d+)", data)
    off = data[: m.start(1)] + b"9" * len(m.group(1)) + data[m.end(1):]
    i = data.rindex(b"xref")
    gone = b"%PDF-1.4\n" + b"\x00garbage" * 200 + data[i:]
    _, sha1 = put(env, "xref offset.pdf", off)
    _, sha2 = put(env, "xref objects gone.pdf", gone)
    s = run(env)
    assert (s.inserted, s.quarantined) == (1, 1)
    r = reason_for(env, "xref objects gone.pdf")
    assert r["stage"] == "open" and r["error"] == "CorruptInput" and "cannot be opened as a PDF" in r["message"]
    assert_nothing_lost(env, {sha1: "bad offset", sha2: "objects gone"}, case="corrupt xref",
                        outcome="wrong offset: repaired, archived; objects gone: quarantined CorruptInput")


def test_docx_renamed_pdf(env):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document><w:body>Công văn</w:body></w:document>")
    _, sha = put(env, "Công văn 5.pdf", buf.getvalue())
    s = run(env)
    assert s.quarantined == 1
    r = reason_for(env, "Công văn 5.pdf")
    assert r["error"] == "UnsupportedInput" and "ZIP/Office" in r["message"]
    assert_nothing_lost(env, {sha: "the docx"}, case="DOCX renamed .pdf", outcome="quarantined: open/UnsupportedInput")


def test_zero_page_pdf(env, tmp_path):
    from pypdf import PdfWriter

    PdfWriter().write(tmp_path / "zero.pdf")
    _, sha = put(env, "zero.pdf", (tmp_path / "zero.pdf").read_bytes())
    s = run(env)
    assert s.quarantined == 1
    r = reason_for(env, "zero.pdf")
    assert r["stage"] == "open" and r["error"] == "CorruptInput"
    assert_nothing_lost(env, {sha: "the 0-page PDF"}, case="0-page PDF", outcome="quarantined: open/CorruptInput")


def test_300_page_pdf_over_the_page_limit(env, tmp_path, monkeypatch):
    """The default limit (200) comes from CONGVAN_MAX_PAGES and is named in the reason; the check
    comes before any page is read, so this is instant."""
    monkeypatch.delenv("CONGVAN_MAX_PAGES", raising=False)
    assert Settings().max_pages == 200
    monkeypatch.setenv("CONGVAN_MAX_PAGES", "250")
    env.max_pages = Settings().max_pages  # what a deployment sets through the environment
    assert env.max_pages == 250
    data = make_pdf(tmp_path / "big.pdf", dispatch(300), pages=300).read_bytes()
    _, sha = put(env, "Báo cáo 300 trang.pdf", data)
    t0 = time.monotonic()
    s = run(env)
    assert s.quarantined == 1 and time.monotonic() - t0 < 30
    r = reason_for(env, "Báo cáo 300 trang.pdf")
    assert r["stage"] == "acquire" and r["error"] == "LimitExceeded"
    assert "300 pages" in r["message"] and "max_pages=250" in r["message"]
    assert_nothing_lost(env, {sha: "the 300-page PDF"}, case="300-page PDF over max_pages",
                        outcome="quarantined: acquire/LimitExceeded (max_pages named)")


def test_300_page_pdf_within_a_raised_limit(env, tmp_path):
    env.max_pages = 300
    # the dispatch, then 299 pages of appendix (a 300-page text of one plan repeated takes the
    # extractors minutes, which is their own matter, not the inbox's)
    data = make_pdf(tmp_path / "big.pdf", dispatch(301), pages=300,
                    rest=["Phụ lục: danh sách đơn vị thực hiện", "Sở Nội vụ, Sở Tài chính, Sở Y tế"]).read_bytes()
    _, sha = put(env, "dài.pdf", data)
    s = run(env)
    assert (s.inserted, s.quarantined) == (1, 0)
    from congvan.pipeline.store import Store

    with Store(env.db, read_only=True) as st:
        _, rows = st.query("SELECT count(*), min(text_source), max(text_source) FROM pages")
    assert rows[0] == (300, "text_layer", "text_layer")  # read from the text layer, never OCR'd
    assert_nothing_lost(env, {sha: "the 300-page PDF"}, case="300-page text PDF within max_pages=300",
                        outcome="archived, 300 text-layer pages")


def _png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of width×height white pixels: ~100 KB on disk, gigabytes once decoded."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    co = zlib.compressobj(9)
    idat = b"".join(co.compress(row * 256) for _ in range(height // 256)) + co.compress(row * (height % 256)) + co.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def test_decompression_bomb_image(env, tmp_path):
    from reportlab.pdfgen import canvas

    _, sha1 = put(env, "scan.png", _png_bomb(30000, 30000))  # 900 M pixels, > 2× the limit
    _, sha2 = put(env, "scan 2.png", _png_bomb(12000, 12000))  # 144 M pixels, just over it
    # a PDF page as large as the format allows: 200 in × 200 in, 3.6 G pixels at 300 dpi
    c = canvas.Canvas(str(tmp_path / "huge.pdf"), pagesize=(14400, 14400))
    c.drawString(100, 100, "Số: 9/KH-UBND")
    c.save()
    _, sha3 = put(env, "huge page.pdf", (tmp_path / "huge.pdf").read_bytes())
    t0 = time.monotonic()
    s = run(env)
    assert s.quarantined == 3 and time.monotonic() - t0 < 30
    for name in ("scan.png", "scan 2.png", "huge page.pdf"):
        r = reason_for(env, name)
        assert r["error"] == "LimitExceeded" and "max_pixels=120,000,000" in r["message"], r
    assert_nothing_lost(env, {sha1: "PNG bomb", sha2: "PNG just over", sha3: "huge PDF page"},
                        case="decompression bombs (PNG 900 MP, 144 MP; PDF 200 in page)",
                        outcome="quarantined: acquire/LimitExceeded (max_pixels named)")


def test_pdf_with_javascript_and_attachment_is_never_run(env, tmp_path):
    """PDFium here is built without V8/XFA, so PDF JavaScript cannot run; an embedded file is
    never extracted. The document is read like any other."""
    import pypdfium2.version as pv
    from pypdf import PdfWriter

    assert not {"V8", "XFA"} & set(pv.PDFIUM_INFO.flags)
    marker = tmp_path / "pwned"
    w = PdfWriter(clone_from=str(make_pdf(tmp_path / "js.pdf", dispatch(51))))
    from pypdf.actions import JavaScript

    w.add_open_action(JavaScript(f"app.launchURL('file://{marker}'); this.exportDataObject({{cName: 'run.sh', nLaunch: 2}});"))
    w.add_attachment("run.sh", f"#!/bin/sh\ntouch {marker}\n".encode())
    w.write(tmp_path / "active.pdf")
    before = set(os.listdir(tmp_path))
    _, sha = put(env, "active.pdf", (tmp_path / "active.pdf").read_bytes())
    s = run(env)
    assert s.inserted == 1
    assert not marker.exists() and set(os.listdir(tmp_path)) == before
    assert_nothing_lost(env, {sha: "active PDF"}, case="PDF with JavaScript + embedded script",
                        outcome="archived; nothing run, nothing extracted")


# ---------------------------------------------------------------- versions

def test_same_document_rescanned_is_linked_as_copy(env, tmp_path):
    """Different bytes, same number, issuer and date: stored, and linked to the first as a copy,
    whether the re-scan comes in a later run or in the same run."""
    first = make_pdf(tmp_path / "a.pdf", dispatch(61)).read_bytes()
    rescan = make_pdf(tmp_path / "b.pdf", dispatch(61, body="Giao Sở Nội vụ chủ trì triển khai (bản quét lại).")).read_bytes()
    third = make_pdf(tmp_path / "c.pdf", dispatch(61, body="Bản sao y.")).read_bytes()
    other_day = make_pdf(tmp_path / "d.pdf", dispatch(61, day=11)).read_bytes()
    assert len({first, rescan, third, other_day}) == 4
    _, sha1 = put(env, "KH 61.pdf", first)
    s1 = run(env)
    _, sha2 = put(env, "KH 61 quét lại.pdf", rescan)
    _, sha3 = put(env, "KH 61 sao y.pdf", third)
    _, sha4 = put(env, "KH 61 ngày khác.pdf", other_day)
    s2 = run(env)
    assert s1.inserted == 1 and (s2.copies, s2.inserted) == (2, 1)
    from congvan.pipeline.store import Store, document_id

    with Store(env.db, read_only=True) as st:
        _, rows = st.query("SELECT sha256, copy_of FROM documents ORDER BY ingested_at")
    links = dict(rows)
    assert links[sha1] is None and links[sha4] is None  # another date: another document
    assert links[sha2] == links[sha3] == document_id(sha1)  # both point at the original, not at each other
    assert_nothing_lost(env, {sha1: "original", sha2: "re-scan", sha3: "third copy", sha4: "other date"},
                        case="same document re-scanned", outcome="stored, linked by copy_of to the first")


# ---------------------------------------------------------------- names

AWKWARD_NAMES = [
    "Kế hoạch số 12 năm 2024.pdf",                                   # spaces + Vietnamese (NFC)
    __import__("unicodedata").normalize("NFD", "Công văn đến.pdf"),  # macOS-style decomposed letters
    "Quyết định..pdf",
    "Tờ trình ..\\..\\Windows name.pdf",                             # backslashes are plain characters here
    "-rf --help.pdf",                                                # looks like options to a command
    "$(touch pwned).pdf",
    "; touch pwned2 #.pdf",
    "; rm -rf canary #.pdf",
    "`touch pwned3`.pdf",
    "O'Brien'); DROP TABLE documents; --.pdf",                       # SQL must be parameterised
    "tab\tand\nnewline.pdf",
]


def _long_name() -> str:
    """A 255-byte Vietnamese name (the ext4 limit), cut on a character boundary."""
    stem = ("Kế hoạch thực hiện phong trào thi đua " * 10).encode()
    budget = 255 - len(".pdf")
    return stem[:budget].decode("utf-8", errors="ignore") + ".pdf"


def test_awkward_names_are_archived_under_their_names(env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a name that reached a shell would create files here
    (tmp_path / "canary").mkdir()
    (tmp_path / "canary" / "alive").write_text("if a name reached a shell, this is gone")
    names = AWKWARD_NAMES + [_long_name()]
    assert len(names[-1].encode()) >= 250
    inputs = {}
    for i, name in enumerate(names):
        _, sha = put(env, name, good_pdf(tmp_path, 70 + i))
        inputs[sha] = name
    # a name that is not UTF-8 at all (a Windows-1258 zip unpacked as bytes)
    raw = os.path.join(os.fsencode(env.inbox), b"c\xf4ng v\xe3n c\xfc.pdf")
    data = good_pdf(tmp_path, 99)
    with open(raw, "wb") as fh:
        fh.write(data)
    os.utime(raw, (time.time() - 3600,) * 2)
    inputs[hashlib.sha256(data).hexdigest()] = "non-UTF-8 name"
    s = run(env)
    assert (s.inserted, s.quarantined, s.failed) == (len(inputs), 0, 0), s.files
    archived = {p.name for p in env.archive.rglob("*.pdf")}
    for name in names:
        assert name in archived, name  # the original name is kept, also at 255 bytes
    assert all(len(os.fsencode(n)) <= 255 for n in archived)
    assert not any(tmp_path.rglob("pwned*")) and not any(Path.cwd().glob("pwned*"))
    assert (tmp_path / "canary" / "alive").exists()
    from congvan.pipeline.store import Store

    with Store(env.db, read_only=True) as st:
        _, rows = st.query("SELECT original_name FROM files")
        _, docs = st.query("SELECT count(*) FROM documents")
    assert docs[0][0] == len(inputs)
    assert set(names) <= {r[0] for r in rows}
    assert_nothing_lost(env, inputs, case="names: spaces, Vietnamese NFC/NFD, .., shell, SQL, tab/newline, 255 B, non-UTF-8",
                        outcome="archived under the original names")


def test_archive_move_fails_after_save(env, tmp_path, monkeypatch):
    """Disk full or a read-only archive after the record was written: the file is not the
    culprit, so it goes back to the inbox (never quarantine) and the next run archives it."""
    import errno

    from congvan.pipeline import inbox as inbox_mod

    real = inbox_mod.archive
    calls = []

    def full_disk(*a, **kw):
        calls.append(1)
        if len(calls) == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*a, **kw)

    monkeypatch.setattr(inbox_mod, "archive", full_disk)
    _, sha = put(env, "KH 81.pdf", good_pdf(tmp_path, 81))
    first = run(env)
    assert (first.failed, first.quarantined, first.archived) == (1, 0, 0)
    assert "No space left" in first.files[0]["message"] and "back in the inbox" in first.files[0]["message"]
    assert (env.inbox / "KH 81.pdf").exists()
    second = run(env)
    assert (second.duplicates, second.archived) == (1, 1)
    assert_nothing_lost(env, {sha: "the PDF"}, case="archive move fails after save (ENOSPC)",
                        outcome="back to inbox, archived by the next run")


# ---------------------------------------------------------------- other processes

CONGVAN = [sys.executable, "-m", "congvan.cli"]

# Holds the DuckDB file open for writing, as another ingestion or an analyst's
# `duckdb data/congvan.duckdb` shell would, until stdin closes or the time is up.
HOLD_DB = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("SELECT 1")
print("held", flush=True)
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    time.sleep(0.05)
con.close()
print("released", flush=True)
"""


def cli_env(s: Settings, **extra) -> dict:
    env = dict(os.environ)
    env.update(CONGVAN_DB=str(s.db), CONGVAN_INBOX=str(s.inbox), CONGVAN_ARCHIVE=str(s.archive),
               CONGVAN_QUARANTINE=str(s.quarantine), CONGVAN_PROCESSING=str(s.processing),
               CONGVAN_SETTLE_SECONDS=str(s.settle_seconds), CONGVAN_WORKERS=str(s.workers),
               CONGVAN_DB_WAIT=str(s.db_wait_seconds))
    env.update({k: str(v) for k, v in extra.items()})
    return env


def congvan(args: list[str], s: Settings, cwd: Path, timeout: float = 180, **extra) -> subprocess.CompletedProcess:
    return subprocess.run(CONGVAN + args, env=cli_env(s, **extra), cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


class DbHolder:
    """A separate process holding the database for writing for up to `seconds`."""

    def __init__(self, db: Path, seconds: float):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLD_DB, str(db), str(seconds)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "held"

    def release(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def _fresh_db(s: Settings) -> None:
    from congvan.pipeline.store import Store

    Store(s.db, wait_seconds=10).close()


def test_database_held_briefly_ingestion_waits_and_succeeds(env, tmp_path):
    _fresh_db(env)
    _, sha = put(env, "KH 91.pdf", good_pdf(tmp_path, 91))
    time.sleep(env.settle_seconds + 0.1)
    holder = DbHolder(env.db, seconds=3)
    t0 = time.monotonic()
    s = ingest(None, env, progress=False)  # db_wait_seconds=10 > 3
    waited = time.monotonic() - t0
    holder.release()
    assert (s.inserted, s.failed, s.quarantined) == (1, 0, 0) and waited >= 2
    assert_nothing_lost(env, {sha: "the PDF"}, case="database held by another process for 3 s (wait 10 s)",
                        outcome="waited, archived")


def test_database_held_too_long_file_waits_in_inbox(env, tmp_path, monkeypatch):
    """Never quarantine a good file for a transient lock: bounded wait, then back to the inbox
    with a clear message and exit code 3, and the next run (lock gone) archives it."""
    from congvan.flows import ingest as ing

    monkeypatch.setattr(ing, "RETRY_DELAY", 0.2)
    env.db_wait_seconds = 1.0
    _fresh_db(env)
    inputs = {}
    for i in range(3):
        _, sha = put(env, f"KH 9{i + 2}.pdf", good_pdf(tmp_path, 92 + i))
        inputs[sha] = f"KH 9{i + 2}"
    time.sleep(env.settle_seconds + 0.1)
    with DbHolder(env.db, seconds=120):
        t0 = time.monotonic()
        s = ingest(None, env, progress=False)
        took = time.monotonic() - t0
        assert (s.failed, s.quarantined, s.archived) == (3, 0, 0)
        assert all("another process" in f["message"] and "back in the inbox" in f["message"] for f in s.files)
        assert ing.exit_code(s) == ing.EXIT_RETRY
        # one file waited out its retries; the others were handed back without waiting again
        assert took < 3 * (1.0 + 0.2) * 2 + 5, took
        assert sorted(p.name for p in env.inbox.iterdir()) == ["KH 92.pdf", "KH 93.pdf", "KH 94.pdf"]
        assert not list(env.processing.iterdir()) and not env.quarantine.exists()
    s = run(env)
    assert (s.inserted, s.failed) == (3, 0)
    assert_nothing_lost(env, inputs, case="database held by another process past the wait",
                        outcome="failed → back in inbox (exit 3); next run archives")


def test_analysts_get_a_clear_busy_message(env, tmp_path):
    """sql, search and export while another process writes: bounded wait, exit 3, no traceback."""
    _fresh_db(env)
    env.db_wait_seconds = 1.0
    with DbHolder(env.db, seconds=120):
        for args in (["sql", "SELECT count(*) FROM documents"], ["search", "thi đua"],
                     ["export", "--format", "jsonl", "--out", str(tmp_path / "out")]):
            t0 = time.monotonic()
            p = congvan(args, env, cwd=tmp_path)
            assert p.returncode == 3, (args, p.returncode, p.stderr[-2000:])
            assert "ingestion is writing" in p.stderr and "try again" in p.stderr.lower(), p.stderr
            assert "Traceback" not in p.stderr
            assert time.monotonic() - t0 < 60
    p = congvan(["sql", "SELECT count(*) AS n FROM documents", "--format", "csv"], env, cwd=tmp_path)
    assert p.returncode == 0 and p.stdout.splitlines() == ["n", "0"], p.stderr


def test_analysts_while_ingestion_writes(env, tmp_path):
    """A real ingestion process and `congvan sql` at the same time: every query either answers
    or says ingestion is writing (exit 3); ingestion loses nothing."""
    inputs = {}
    for i in range(8):
        _, sha = put(env, f"KH {110 + i}.pdf", good_pdf(tmp_path, 110 + i))
        inputs[sha] = f"KH {110 + i}"
    time.sleep(env.settle_seconds + 0.1)
    _fresh_db(env)
    ingestion = subprocess.Popen(CONGVAN + ["ingest", "--no-prefect"], env=cli_env(env), cwd=tmp_path,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    answers = []
    try:
        while ingestion.poll() is None and len(answers) < 6:
            p = congvan(["sql", "SELECT count(*) AS n FROM documents", "--format", "csv"], env, cwd=tmp_path,
                        CONGVAN_DB_WAIT="0.5")
            assert "Traceback" not in p.stderr, p.stderr
            assert p.returncode in (0, 3), p.stderr
            if p.returncode == 3:
                assert "ingestion is writing" in p.stderr
            answers.append(p.returncode)
        out, err = ingestion.communicate(timeout=300)
    finally:
        if ingestion.poll() is None:
            ingestion.kill()
    assert ingestion.returncode == 0, err[-3000:]
    assert answers, "ingestion finished before any query ran"
    assert_nothing_lost(env, inputs, case="analysts (congvan sql) while ingestion writes",
                        outcome=f"{len(answers)} queries: {answers.count(0)} answered, {answers.count(3)} busy (exit 3); all archived")


def test_two_runs_started_together(env, tmp_path):
    """Two `congvan ingest` processes at once: the lock lets one work; the other waits and finds
    nothing left, or reports the lock (exit 75). Every file is taken exactly once."""
    inputs = {}
    for i in range(6):
        _, sha = put(env, f"KH {130 + i}.pdf", good_pdf(tmp_path, 130 + i))
        inputs[sha] = f"KH {130 + i}"
    time.sleep(env.settle_seconds + 0.1)
    procs = [subprocess.Popen(CONGVAN + ["ingest", "--no-prefect"], env=cli_env(env), cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes in ([0, 0], [0, 75]), (codes, [e[-2000:] for _, e in results])
    from congvan.pipeline.store import Store

    with Store(env.db, read_only=True) as st:
        _, rows = st.query("SELECT count(*), count(DISTINCT sha256) FROM files")
    assert rows[0] == (6, 6)  # six sightings: no file was taken by both runs
    assert_nothing_lost(env, inputs, case="two runs started together (two processes)",
                        outcome=f"exit codes {codes}; each file taken once")


def test_cli_exit_code_when_another_run_holds_the_lock(env, tmp_path):
    from congvan.pipeline import inbox as inbox_mod

    _, sha = put(env, "KH 140.pdf", good_pdf(tmp_path, 140))
    with inbox_mod.ingest_lock(env):
        p = congvan(["ingest", "--no-prefect"], env, cwd=tmp_path)
    assert p.returncode == 75, p.stderr[-2000:]
    assert "another ingestion run holds the lock" in p.stderr
    assert_nothing_lost(env, {sha: "the PDF"}, pending=1, case="run while another holds the lock (CLI)",
                        outcome="nothing done, exit 75, file stays in inbox")


def test_kill_9_mid_run_then_a_new_run(env, tmp_path):
    """SIGKILL a real `congvan ingest` while it works; the next run recovers whatever it left
    (in processing/, or saved but not yet archived) and nothing is lost or doubled."""
    inputs = {}
    for i in range(8):
        _, sha = put(env, f"KH {150 + i}.pdf", good_pdf(tmp_path, 150 + i))
        inputs[sha] = f"KH {150 + i}"
    time.sleep(env.settle_seconds + 0.1)
    env.workers = 1
    proc = subprocess.Popen(CONGVAN + ["ingest", "--no-prefect"], env=cli_env(env), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        done = list(env.archive.rglob("*.pdf")) if env.archive.exists() else []
        if done:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    left_files = list(env.processing.iterdir()) if env.processing.exists() else []
    left = len(left_files)
    # claimed but not begun is not suspect: at most the one file in work (workers=1) counts as a crash
    assert sum(".s__" in p.name for p in left_files) <= 1, [p.name for p in left_files]
    s = ingest(None, env, progress=False)
    assert s.failed == 0 and s.quarantined == 0
    from congvan.pipeline.store import Store

    with Store(env.db, read_only=True) as st:
        _, rows = st.query("SELECT count(*) FROM documents")
    assert rows[0][0] == 8
    assert_nothing_lost(env, inputs, case="kill -9 of a real run, then a new run",
                        outcome=f"{left} left in processing/ recovered; 8 records, all archived")


def _scan_image(size=(1240, 1754)) -> "Image.Image":
    """A white page with a few lines of black text, like a 150 dpi scan."""
    from PIL import Image, ImageDraw, ImageFont

    from conftest import FONT

    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), 28) if FONT.exists() else ImageFont.load_default()
    for i, line in enumerate(dispatch(170)):
        draw.text((80, 100 + 45 * i), line, fill=0, font=font)
    return img


def test_ocr_time_limit_is_named(env, tmp_path):
    """A scan whose OCR outlasts CONGVAN_OCR_TIMEOUT: quarantined with the limit named, not hung.
    (The limit is set absurdly low so the case is fast; the scan itself is fine.)"""
    import io

    env.ocr_timeout = 0.01
    buf = io.BytesIO()
    _scan_image().save(buf, "PNG")
    frames = [_scan_image(), _scan_image()]
    tif = io.BytesIO()
    frames[0].save(tif, "TIFF", save_all=True, append_images=frames[1:], compression="tiff_lzw")
    _, sha1 = put(env, "quét.png", buf.getvalue())
    _, sha2 = put(env, "quét 2 trang.tif", tif.getvalue())
    t0 = time.monotonic()
    s = run(env)
    assert s.quarantined == 2 and time.monotonic() - t0 < 60
    for name in ("quét.png", "quét 2 trang.tif"):
        r = reason_for(env, name)
        assert r["error"] == "LimitExceeded" and "ocr_timeout=0.01" in r["message"], r
    assert_nothing_lost(env, {sha1: "PNG scan", sha2: "2-page TIFF"}, case="OCR per-page time limit (PNG, 2-page TIFF)",
                        outcome="quarantined: ocr/LimitExceeded (ocr_timeout named)")


def test_hostile_names_as_cli_arguments(env, tmp_path):
    """`congvan ingest` given hostile names as arguments (in place): read, stored, nothing run."""
    folder = tmp_path / "in"
    folder.mkdir()
    (tmp_path / "canary").mkdir()
    (tmp_path / "canary" / "alive").write_text("x")
    paths = []
    for i, name in enumerate(["$(touch pwned).pdf", "; rm -rf canary #.pdf", "`touch pwned3`.pdf"]):
        paths.append(str(make_pdf(folder / name, dispatch(180 + i))))
    before = {p: Path(p).read_bytes() for p in paths}
    p = congvan(["ingest", "--no-prefect", *paths], env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert (tmp_path / "canary" / "alive").exists() and not any(tmp_path.rglob("pwned*"))
    assert {q: Path(q).read_bytes() for q in paths} == before  # in place: nothing moved or changed
    from congvan.pipeline.store import Store

    with Store(env.db, read_only=True) as st:
        _, rows = st.query("SELECT original_name FROM files ORDER BY original_name")
    assert sorted(r[0] for r in rows) == sorted(Path(q).name for q in paths)


def test_content_decides_not_the_extension(env, tmp_path):
    """A scanner's "SCAN0001" (no extension) or "KH.pdf.bak" holding a PDF is taken; a text file
    is quarantined saying what it looks like."""
    _, sha1 = put(env, "SCAN0001", good_pdf(tmp_path, 190))
    _, sha2 = put(env, "KH 191.pdf.bak", good_pdf(tmp_path, 191))
    _, sha3 = put(env, "ghi chú.txt", b"Ghi chu: gui lai ban scan\n")
    s = run(env)
    assert (s.inserted, s.quarantined) == (2, 1)
    r = reason_for(env, "ghi chú.txt")
    assert r["error"] == "UnsupportedInput" and "looks like text" in r["message"]
    assert_nothing_lost(env, {sha1: "SCAN0001", sha2: "KH.pdf.bak", sha3: "a .txt"},
                        case="no/odd extension (SCAN0001, .pdf.bak, .txt)",
                        outcome="PDFs archived by content; text quarantined")
