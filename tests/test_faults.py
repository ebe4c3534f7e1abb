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
import time
from pathlib import Path

import pytest

from congvan.config import Settings
from congvan.flows.ingest import ingest

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _missing() -> str | None:
    for mod in ("congvan.pipeline.acquire", "congvan.pipeline.store", "reportlab", "pypdf"):
        if importlib.util.find_spec(mod) is None:
            return mod
    return None


pytestmark = pytest.mark.skipif(bool(_missing()), reason=f"needs the real pipeline ({_missing()} not importable yet)")


def make_pdf(path: Path, lines: list[str]) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    font = "Helvetica"
    if FONT.exists():
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(FONT)))
        font = "DejaVuSans"
    c = canvas.Canvas(str(path), pagesize=A4)
    c.setFont(font, 12)
    y = 800
    for line in lines:
        c.drawString(60, y, line)
        y -= 18
    c.save()
    return path


def dispatch(n: int) -> list[str]:
    return [
        "ỦY BAN NHÂN DÂN            CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "TỈNH ĐIỆN BIÊN                 Độc lập - Tự do - Hạnh phúc",
        f"Số: {n}/KH-UBND            Điện Biên, ngày 10 tháng 01 năm 2024",
        "KẾ HOẠCH",
        f"Công tác thi đua, khen thưởng năm 2024 (đợt {n})",
        "Giao Sở Nội vụ chủ trì, phối hợp với các sở, ngành triển khai thực hiện.",
        "TM. ỦY BAN NHÂN DÂN",
        "CHỦ TỊCH",
        "Lê Thành Đô",
    ]


@pytest.fixture
def env(tmp_path: Path):
    d = tmp_path / "data"
    s = Settings(db=d / "congvan.duckdb", inbox=d / "inbox", archive=d / "archive", quarantine=d / "quarantine",
                 processing=d / "processing", settle_seconds=1.0, workers=2, db_wait_seconds=10)
    s.inbox.mkdir(parents=True)
    return s


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


def assert_nothing_lost(s: Settings, inputs: dict[str, str]) -> None:
    """inputs: sha256 → description. Every input is somewhere; archive ⇔ record; quarantine ⇔ reason."""
    from congvan.pipeline.store import Store

    where: dict[str, list[Path]] = {}
    for root in (s.inbox, s.archive, s.quarantine, s.processing):
        if root.exists():
            for p in root.rglob("*"):
                if p.is_file() and not p.name.endswith(".reason.json"):
                    where.setdefault(sha_of(p), []).append(p)
    for sha, what in inputs.items():
        assert sha in where, f"{what} was lost"
    assert not (s.processing.exists() and any(s.processing.iterdir())), "left in processing/"
    if s.quarantine.exists():
        for p in s.quarantine.iterdir():
            if not p.name.endswith(".reason.json"):
                assert p.with_name(p.name + ".reason.json").exists(), f"no reason for {p.name}"
    archived = [p for p in s.archive.rglob("*") if p.is_file()] if s.archive.exists() else []
    if archived:
        with Store(s.db, read_only=True, wait_seconds=10) as st:
            for p in archived:
                assert st.has_sha256(sha_of(p)), f"archived {p.name} has no record"
                _, rows = st.query("SELECT count(*) FROM files WHERE path = ?", [str(p)])
                assert rows[0][0] >= 1, f"the database does not know where {p.name} lives"


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
    assert_nothing_lost(env, {sha: "the good PDF"})


def test_zero_byte_file(env):
    _, sha = put(env, "empty.pdf", b"")
    s = run(env)
    assert s.quarantined == 1
    r = reason_for(env, "empty.pdf")
    assert r["stage"] == "open" and r["error"] == "CorruptInput" and "empty" in r["message"]
    assert_nothing_lost(env, {sha: "the empty file"})


def test_truncated_pdf(env, tmp_path):
    data = good_pdf(tmp_path)
    _, sha = put(env, "cut.pdf", data[: len(data) // 2])
    s = run(env)
    assert s.quarantined == 1
    r = reason_for(env, "cut.pdf")
    assert r["error"] == "CorruptInput" and "truncated" in r["message"]
    assert_nothing_lost(env, {sha: "the truncated PDF"})


def test_html_renamed_pdf(env):
    _, sha = put(env, "download.pdf", b"<!DOCTYPE html><html><body>404 Not Found</body></html>")
    s = run(env)
    assert s.quarantined == 1
    r = reason_for(env, "download.pdf")
    assert r["error"] == "UnsupportedInput" and "HTML" in r["message"]
    assert_nothing_lost(env, {sha: "the HTML page"})


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
    assert_nothing_lost(env, {sha1: "the locked PDF", sha2: "the restricted PDF"})


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
    assert_nothing_lost(env, {sha: "the PDF"})


def test_same_bytes_in_one_run(env, tmp_path):
    data = good_pdf(tmp_path)
    _, sha = put(env, "x.pdf", data)
    put(env, "sub/x.pdf", data)
    s = run(env)
    assert s.inserted == 1 and s.duplicates == 1 and s.archived == 2
    assert_nothing_lost(env, {sha: "the PDF"})


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
    assert_nothing_lost(env, {hashlib.sha256(data).hexdigest(): "the late PDF"})


def test_temporary_names_left_alone(env, tmp_path):
    data = good_pdf(tmp_path)
    for name in ("a.pdf.part", "b.crdownload", "~$c.pdf", ".d.pdf", "e.tmp", "f.partial"):
        put(env, name, data)
    s = run(env)
    assert s.taken == 0
    assert len(list(env.inbox.iterdir())) == 6


def test_unsupported_extension_in_inbox(env):
    _, sha = put(env, "bien ban.docx", b"PK\x03\x04 not a dispatch")
    s = run(env)
    assert s.quarantined == 1
    assert reason_for(env, "bien ban.docx")["error"] == "UnsupportedInput"
    assert_nothing_lost(env, {sha: "the docx"})


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
    assert_nothing_lost(env, inputs)


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


def _ingest_as_nobody(settings_kw: dict, out: str) -> None:
    """Child process: drop root so file permissions apply, then run the plain ingest."""
    os.setgid(65534)
    os.setuid(65534)
    s = ingest(None, Settings(**settings_kw), progress=False)
    Path(out).write_text(json.dumps(dict(s), default=str))


def test_unreadable_file(tmp_path):
    import shutil
    import tempfile

    root_run = os.geteuid() == 0
    # root reads any file, so then the ingest runs as `nobody` in a child process, over a
    # tree nobody can reach (pytest's own tmp is 0700 root) and owns (except the file).
    base = Path(tempfile.mkdtemp(prefix="congvan-faults-")) if root_run else tmp_path
    try:
        d = base / "data"
        env = Settings(db=d / "congvan.duckdb", inbox=d / "inbox", archive=d / "archive", quarantine=d / "quarantine",
                       processing=d / "processing", settle_seconds=1.0, workers=1, db_wait_seconds=10)
        env.inbox.mkdir(parents=True)
        data = b"%PDF-1.4 secret bytes nobody may read"
        p, sha = put(env, "private.pdf", data)
        os.chmod(p, 0)
        time.sleep(env.settle_seconds + 0.1)
        if root_run:
            os.chmod(base, 0o755)
            for q in (base, d, env.inbox):
                os.chown(q, 65534, 65534)
            kw = dict(db=env.db, inbox=env.inbox, archive=env.archive, quarantine=env.quarantine,
                      processing=env.processing, settle_seconds=env.settle_seconds, workers=1, db_wait_seconds=10)
            out = base / "summary.json"
            proc = multiprocessing.get_context("fork").Process(target=_ingest_as_nobody, args=(kw, str(out)))
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
    finally:
        if root_run:
            shutil.rmtree(base, ignore_errors=True)


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
    assert_nothing_lost(env, {sha: "the in-flight PDF"})
