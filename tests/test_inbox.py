"""The inbox queue: settling, temp names, atomic claims, archive/quarantine, recovery, names, lock."""
from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from congvan import PIPELINE_VERSION
from congvan.config import Settings
from congvan.pipeline import inbox
from congvan.pipeline.errors import CorruptInput
from conftest import data_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return data_settings(tmp_path, settle_seconds=2.0, workers=2)


def drop(settings: Settings, name: str, data: bytes = b"%PDF-1.4 test", age: float = 60.0, sub: str = "") -> Path:
    """A file in the inbox whose mtime is `age` seconds old (ctime is now)."""
    p = settings.inbox / sub / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    t = time.time() - age
    os.utime(p, (t, t))
    return p


def test_settling_uses_newest_of_mtime_and_ctime(settings):
    p = drop(settings, "a.pdf", age=3600)  # mtime an hour old, but ctime is now (just written)
    assert inbox.ready_files(settings) == []
    assert inbox.ready_files(settings, now=time.time() + 3) == [p]


def test_file_still_being_written_is_not_ready(settings):
    p = drop(settings, "growing.pdf", age=0)
    later = time.time() + 3
    assert inbox.ready_files(settings, now=later) == [p]
    with open(p, "ab") as f:  # the writer appends again: the clock restarts
        f.write(b"more")
    assert inbox.ready_files(settings, now=time.time() + 1) == []


@pytest.mark.parametrize("name", ["x.part", "x.pdf.tmp", "x.crdownload", "~$x.docx", ".hidden.pdf", "x.partial", "x.pdf~"])
def test_temporary_names_ignored(settings, name):
    drop(settings, name)
    assert inbox.ready_files(settings, now=time.time() + 10) == []


def test_recursive_and_hidden_folders(settings):
    a = drop(settings, "a.pdf", sub="phong/2024")
    drop(settings, "b.pdf", sub=".git")
    assert inbox.ready_files(settings, now=time.time() + 10) == [a]


def test_symlinks_are_not_taken(settings, tmp_path):
    target = tmp_path / "outside.pdf"
    target.write_bytes(b"x")
    (settings.inbox / "link.pdf").symlink_to(target)
    assert inbox.ready_files(settings, now=time.time() + 10) == []


def test_claim_moves_into_processing_with_id(settings):
    p = drop(settings, "Công văn số 12.pdf")
    c = inbox.claim(p, settings)
    assert c is not None and c.parent == settings.processing
    assert not p.exists() and c.read_bytes() == b"%PDF-1.4 test"
    assert inbox.original_name(c) == "Công văn số 12.pdf"
    assert inbox.claim(p, settings) is None  # gone: someone has it


def test_claim_race_threads_exactly_one_wins(settings):
    p = drop(settings, "race.pdf")
    results: list = []
    barrier = threading.Barrier(8)

    def go():
        barrier.wait()
        results.append(inbox.claim(p, settings))

    ts = [threading.Thread(target=go) for _ in range(8)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    won = [r for r in results if r is not None]
    assert len(won) == 1
    assert list(settings.processing.iterdir()) == won


def _claim_in_process(args):
    path, settings_kw = args
    return inbox.claim(Path(path), Settings(**settings_kw))


def test_claim_race_processes_exactly_one_wins(settings):
    paths = [drop(settings, f"f{i}.pdf") for i in range(20)]
    kw = dict(db=settings.db, inbox=settings.inbox, archive=settings.archive,
              quarantine=settings.quarantine, processing=settings.processing)
    with multiprocessing.get_context("fork").Pool(4) as pool:
        # every file is claimed by 4 processes at once
        results = pool.map(_claim_in_process, [(str(p), kw) for p in paths for _ in range(4)])
    won = [r for r in results if r is not None]
    assert len(won) == 20
    assert len(list(settings.processing.iterdir())) == 20


def test_archive_by_year_month_never_overwrites(settings):
    when = datetime(2024, 3, 5, tzinfo=timezone.utc)
    a1 = inbox.archive(inbox.claim(drop(settings, "kh.pdf", b"one"), settings), "sha1", settings, when=when)
    a2 = inbox.archive(inbox.claim(drop(settings, "kh.pdf", b"two"), settings), "sha2", settings, when=when)
    assert a1 == settings.archive / "2024" / "03" / "kh.pdf"
    assert a2 == settings.archive / "2024" / "03" / "kh (2).pdf"
    assert a1.read_bytes() == b"one" and a2.read_bytes() == b"two"
    assert sorted(p.name for p in a1.parent.iterdir()) == ["kh (2).pdf", "kh.pdf"]  # nothing else written
    assert list(settings.processing.iterdir()) == []


def test_archive_requires_sha(settings):
    c = inbox.claim(drop(settings, "a.pdf"), settings)
    with pytest.raises(ValueError):
        inbox.archive(c, "", settings)


def test_quarantine_reason_json(settings):
    p = drop(settings, "hỏng.pdf")
    c = inbox.claim(p, settings)
    q = inbox.quarantine(c, CorruptInput("broken xref table"), "ignored", settings, original_path=str(p), sha256="ab" * 32)
    assert q == settings.quarantine / "hỏng.pdf" and q.read_bytes() == b"%PDF-1.4 test"
    reason = json.loads((settings.quarantine / "hỏng.pdf.reason.json").read_text(encoding="utf-8"))
    assert reason["stage"] == "open"  # the error's own stage wins
    assert reason["error"] == "CorruptInput"
    assert reason["message"] == "broken xref table"
    assert reason["pipeline_version"] == PIPELINE_VERSION
    assert reason["original_path"] == str(p)
    assert reason["sha256"] == "ab" * 32
    datetime.fromisoformat(reason["time"])
    assert "traceback" not in reason


def test_quarantine_collision_and_plain_exception(settings):
    for i in range(2):
        c = inbox.claim(drop(settings, "x.pdf", str(i).encode()), settings)
        inbox.quarantine(c, ValueError("bug"), "extract", settings)
    names = sorted(p.name for p in settings.quarantine.iterdir())
    assert names == ["x (2).pdf", "x (2).pdf.reason.json", "x.pdf", "x.pdf.reason.json"]
    r = json.loads((settings.quarantine / "x (2).pdf.reason.json").read_text())
    assert r["stage"] == "extract" and r["error"] == "ValueError" and "traceback" in r


def test_recover_retries_then_gives_up(settings):
    c = inbox.claim(drop(settings, "crash.pdf"), settings)
    # run 1 dies while working on it; run 2 recovers it
    c = inbox.mark_started(c)
    (r1,) = inbox.recover(settings)
    assert r1.exists() and not c.exists() and inbox.original_name(r1) == "crash.pdf"
    inbox.mark_started(r1)
    (r2,) = inbox.recover(settings)  # run 2 died on it too
    inbox.mark_started(r2)
    assert inbox.recover(settings) == []  # run 3 as well: it has killed three runs, quarantine it
    assert (settings.quarantine / "crash.pdf").exists()
    reason = json.loads((settings.quarantine / "crash.pdf.reason.json").read_text())
    assert reason["stage"] == "crash" and reason["error"] == "CrashedTooOften"
    assert list(settings.processing.iterdir()) == []


def test_claimed_but_never_started_is_not_counted_as_a_crash(settings):
    """A run killed with ten files claimed had begun one: only that one is suspect."""
    claimed = [inbox.claim(drop(settings, f"f{i}.pdf", f"{i}".encode()), settings) for i in range(3)]
    inbox.mark_started(claimed[0])
    for _ in range(5):  # five runs die before starting the other two
        back = inbox.recover(settings)
    assert len(back) == 3
    assert sum(".r1" in p.name for p in back) == 1  # the started one counted once
    assert not settings.quarantine.exists()


def test_long_name_leaves_room_for_recovery_marks(settings):
    name = inbox.fit_name("Đ" * 200 + ".pdf")  # 255 bytes
    c = inbox.claim(drop(settings, name), settings)
    for _ in range(inbox.MAX_CRASH_RETRIES):
        c = inbox.mark_started(c)
        (c,) = inbox.recover(settings)
        assert len(c.name.encode()) <= 255
    assert inbox.original_name(c).endswith(".pdf")


def test_release_returns_to_inbox(settings):
    c = inbox.claim(drop(settings, "busy.pdf"), settings)
    back = inbox.release(c, settings)
    assert back == settings.inbox / "busy.pdf" and back.exists()


@pytest.mark.parametrize("name", [
    "có dấu tiếng Việt — Quyết định.pdf",
    "with  spaces  .pdf",
    "a..b.pdf",
    "..pdf",
    "$(rm -rf ~); `echo`.pdf",
    "Ủy ban nhân dân tỉnh " * 12 + ".pdf",  # > 255 bytes once prefixed
])
def test_awkward_names_round_trip(settings, name):
    try:
        p = drop(settings, inbox.fit_name(name))
    except OSError:
        pytest.skip("filesystem refuses this name")
    c = inbox.claim(p, settings)
    assert c is not None and len(c.name.encode()) <= 255
    assert c.suffix == ".pdf"
    a = inbox.archive(c, "sha", settings)
    assert a.exists() and a.suffix == ".pdf" and a.parent.parent.parent == settings.archive
    assert a.read_bytes() == b"%PDF-1.4 test"


def test_fit_name_keeps_extension_and_utf8():
    long = "Đ" * 200 + ".pdf"  # 400 bytes
    short = inbox.fit_name(long, reserve=30)
    assert short.endswith(".pdf") and len(short.encode()) <= 225
    short.encode("utf-8").decode("utf-8")
    assert inbox.fit_name("ok.pdf") == "ok.pdf"


def test_lock_second_run_is_refused(settings):
    with inbox.ingest_lock(settings):
        t0 = time.monotonic()
        with pytest.raises(inbox.IngestLocked, match="another ingestion run holds the lock"):
            with inbox.ingest_lock(settings, wait=0.5):
                pass
        assert time.monotonic() - t0 >= 0.4
    with inbox.ingest_lock(settings, wait=0):  # released
        pass
    assert inbox.lock_path(settings) == settings.db.parent / ".ingest.lock"


def _hold_lock(kw, ready, release):
    with inbox.ingest_lock(Settings(**kw)):
        ready.set()
        release.wait(10)


def test_lock_across_processes_and_released_on_death(settings):
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(dict(db=settings.db), ready, release))
    proc.start()
    assert ready.wait(10)
    with pytest.raises(inbox.IngestLocked, match=f"pid {proc.pid}"):
        with inbox.ingest_lock(settings, wait=0.2):
            pass
    proc.kill()  # a crashed holder: the kernel drops its lock
    proc.join(10)
    with inbox.ingest_lock(settings, wait=2):
        pass


def test_quarantine_without_room_for_the_reason_puts_the_file_back(settings, monkeypatch):
    """Disk full while writing the reason: the file must not sit in quarantine unexplained."""
    import errno

    c = inbox.claim(drop(settings, "x.pdf"), settings)

    def full(self, *a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError):
        inbox.quarantine(c, CorruptInput("bad"), "open", settings)
    monkeypatch.undo()
    assert c.exists() and [p.name for p in settings.quarantine.iterdir()] == []
