"""The plain `ingest` (and the Prefect flow on the same code path) with injected fakes.

The fakes stand in for extract_file and Store so these tests run in a second
and pin the orchestration: what moves where, what is counted, what retries.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from congvan.config import Settings
from congvan.flows import ingest as ing
from congvan.pipeline import inbox
from congvan.pipeline.errors import CorruptInput, DatabaseBusy, EncryptedInput
from congvan.schemas.record import Record, Source
from conftest import data_settings, drop, files_under


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return data_settings(tmp_path, settle_seconds=0.0, workers=2)


@dataclass
class SaveResult:
    status: str
    document_id: str
    copy_of: str | None = None


class FakeStore:
    """In-memory store shared across opens; records who held it to check the single-writer rule."""

    def __init__(self, busy_times: int = 0):
        self.rows: dict[str, dict] = {}
        self.busy_left = busy_times
        self.active = 0
        self.max_active = 0
        self.mutex = threading.Lock()

    def open(self, settings):
        outer = self

        class Conn:
            def __init__(self):
                with outer.mutex:
                    outer.active += 1
                    outer.max_active = max(outer.max_active, outer.active)

            def has_sha256(self, sha):
                return sha in outer.rows

            def save(self, record, stored_path, original_name):
                if outer.busy_left:
                    outer.busy_left -= 1
                    raise DatabaseBusy("database is locked by another process")
                time.sleep(0.01)
                sha = record.source.sha256
                status = "duplicate" if sha in outer.rows else "inserted"
                outer.rows.setdefault(sha, {"stored_path": stored_path, "original_name": original_name,
                                            "source_path": record.source.path})
                return SaveResult(status, sha[:12])

            def close(self):
                with outer.mutex:
                    outer.active -= 1

        return Conn()


def fake_extract(path: Path, settings: Settings):
    """Reads like the real pipeline: bad content raises the real error classes."""
    data = Path(path).read_bytes()
    if not data:
        raise CorruptInput("the file is empty")
    if data.startswith(b"ENC"):
        raise EncryptedInput("password-protected PDF")
    if not data.startswith(b"%PDF"):
        raise CorruptInput("not a PDF")
    sha = hashlib.sha256(data).hexdigest()
    return Record(source=Source(path=str(path), sha256=sha, pages=1, text_source="text_layer"), text="x")



def run(settings, store, paths=None, extract=fake_extract):
    return ing.ingest(paths, settings, progress=False, extract=extract, open_store=store.open)


def test_inbox_run_archives_and_quarantines(settings):
    store = FakeStore()
    drop(settings, "good 1.pdf", b"%PDF-1.4 one")
    drop(settings, "sub/good 2.pdf", b"%PDF-1.4 two")
    drop(settings, "bad.pdf", b"<html>")
    drop(settings, "locked.pdf", b"ENC")
    drop(settings, "notes.docx", b"PK")
    drop(settings, "still.part", b"%PDF")
    s = run(settings, store)
    assert (s.taken, s.inserted, s.archived, s.quarantined, s.failed) == (5, 2, 2, 3, 0)
    assert [p.name for p in files_under(settings.inbox)] == ["still.part"]
    assert files_under(settings.processing) == []
    archived = files_under(settings.archive)
    assert sorted(p.name for p in archived) == ["good 1.pdf", "good 2.pdf"]
    # every archived file has its record, pointing at where it now lives
    for row in store.rows.values():
        assert Path(row["stored_path"]).exists() and row["source_path"] == row["stored_path"]
    reasons = {p.name: json.loads(p.read_text()) for p in settings.quarantine.glob("*.reason.json")}
    assert reasons["bad.pdf.reason.json"]["error"] == "CorruptInput"
    assert reasons["locked.pdf.reason.json"]["error"] == "EncryptedInput"
    assert reasons["notes.docx.reason.json"]["error"] == "UnsupportedInput"
    log = (settings.db.parent / "logs" / "ingest.log").read_text()
    assert "good 1.pdf: inserted" in log and "bad.pdf: quarantined" in log


def test_same_bytes_twice_is_duplicate_without_extracting(settings):
    store = FakeStore()
    calls = []

    def counting(path, s):
        calls.append(path)
        return fake_extract(path, s)

    drop(settings, "a.pdf", b"%PDF same")
    run(settings, store, extract=counting)
    drop(settings, "a.pdf", b"%PDF same")
    s = run(settings, store, extract=counting)
    assert s.duplicates == 1 and s.archived == 1 and len(calls) == 1
    assert sorted(p.name for p in files_under(settings.archive)) == ["a (2).pdf", "a.pdf"]


def test_explicit_paths_in_place(settings, tmp_path):
    store = FakeStore()
    src = tmp_path / "samples"
    (src / "deep").mkdir(parents=True)
    (src / "a.pdf").write_bytes(b"%PDF a")
    (src / "deep" / "b.PDF").write_bytes(b"%PDF b")
    (src / "bad.pdf").write_bytes(b"junk")
    (src / "readme.md").write_text("x")
    (src / ".hidden.pdf").write_bytes(b"%PDF h")
    before = files_under(src)
    s = run(settings, store, paths=[str(src), str(tmp_path / "missing.pdf")])
    assert files_under(src) == before  # nothing moved
    assert (s.inserted, s.errors, s.skipped, s.archived, s.quarantined) == (2, 2, 1, 0, 0)
    assert not settings.archive.exists() and not settings.quarantine.exists()
    assert {Path(r["stored_path"]) for r in store.rows.values()} == {(src / "a.pdf").resolve(), (src / "deep" / "b.PDF").resolve()}
    by = {Path(f["path"]).name: f for f in s.files}
    assert by["readme.md"]["status"] == "skipped" and "unsupported" in by["readme.md"]["message"]
    assert by["bad.pdf"]["status"] == "error" and by["bad.pdf"]["stage"] == "open"
    assert by["missing.pdf"]["status"] == "error"
    assert ".hidden.pdf" not in by  # hidden: ignored silently


def test_walking_a_folder_skips_our_own_data(settings, tmp_path):
    store = FakeStore()
    settings.archive.mkdir(parents=True)
    (settings.archive / "old.pdf").write_bytes(b"%PDF archived")
    (tmp_path / "new.pdf").write_bytes(b"%PDF new")
    s = run(settings, store, paths=[str(tmp_path)])
    assert [Path(f["path"]).name for f in s.files] == ["new.pdf"]
    # but named explicitly, our archive can be re-ingested in place
    s = run(settings, store, paths=[str(settings.archive)])
    assert s.inserted == 1


def test_transient_error_retries_then_succeeds(settings, monkeypatch):
    monkeypatch.setattr(ing, "RETRY_DELAY", 0.01)
    store = FakeStore(busy_times=1)
    calls = []

    def counting(path, s):
        calls.append(path)
        return fake_extract(path, s)

    drop(settings, "a.pdf")
    s = run(settings, store, extract=counting)
    assert s.inserted == 1 and s.failed == 0
    assert len(calls) == 1  # the retry reused the extraction


def test_transient_error_exhausted_returns_file_to_inbox(settings, monkeypatch):
    monkeypatch.setattr(ing, "RETRY_DELAY", 0.01)
    store = FakeStore(busy_times=99)
    drop(settings, "a.pdf")
    s = run(settings, store)
    assert s.failed == 1 and s.quarantined == 0
    assert [p.name for p in files_under(settings.inbox)] == ["a.pdf"]
    assert files_under(settings.processing) == []


def test_extractor_bug_quarantines_with_traceback(settings):
    def boom(path, s):
        raise KeyError("surprise")

    drop(settings, "a.pdf")
    s = run(settings, FakeStore(), extract=boom)
    assert s.quarantined == 1
    reason = json.loads((settings.quarantine / "a.pdf.reason.json").read_text())
    assert reason["stage"] == "extract" and reason["error"] == "KeyError" and "traceback" in reason


def test_crash_recovery(settings):
    store = FakeStore()
    c = inbox.claim(drop(settings, "left.pdf"), settings)  # a run claimed it and died
    assert c.exists()
    s = run(settings, store)
    assert s.recovered == 1 and s.inserted == 1
    assert [p.name for p in files_under(settings.archive)] == ["left.pdf"]


def test_single_writer_and_concurrency(settings):
    store = FakeStore()
    settings.workers = 4
    for i in range(12):
        drop(settings, f"f{i:02}.pdf", f"%PDF {i}".encode())
    s = run(settings, store)
    assert s.inserted == 12 and store.max_active == 1
    assert len(files_under(settings.archive)) == 12


def test_second_run_reports_lock(settings):
    drop(settings, "a.pdf")
    with inbox.ingest_lock(settings):
        s = ing.ingest(None, settings, progress=False, extract=fake_extract, open_store=FakeStore().open, lock_wait=0.2)
    assert "another ingestion run holds the lock" in s["locked"]
    assert s.taken == 0 and (settings.inbox / "a.pdf").exists()


def test_unsettled_file_waits(settings):
    settings.settle_seconds = 30
    drop(settings, "fresh.pdf")
    s = run(settings, FakeStore())
    assert s.taken == 0 and (settings.inbox / "fresh.pdf").exists()


def test_summary_table_renders(settings, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # long tmp paths (xdist) would otherwise be folded mid-name
    drop(settings, "a.pdf")
    drop(settings, "b.pdf", b"bad")
    s = ing.ingest(None, settings, progress=True, extract=fake_extract, open_store=FakeStore().open)
    err = capsys.readouterr().err
    assert "inserted" in err and "b.pdf" in err and s.quarantined == 1


@pytest.mark.slow  # starts Prefect's temporary server (15-40 s)
def test_prefect_flow_same_code_path(settings, monkeypatch, tmp_path):
    """The flow in ephemeral mode (no server), through the same process_file."""
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("CONGVAN_SETTLE_SECONDS", "0")  # the flow builds its Settings from the environment
    ing.prefect_env(settings)  # before prefect is first imported: it reads settings once
    pytest.importorskip("prefect")
    store = FakeStore(busy_times=1)  # one DatabaseBusy: a Prefect task retry, not a quarantine
    calls = []

    def counting(path, s):
        calls.append(Path(path).name)
        return fake_extract(path, s)

    drop(settings, "a.pdf", b"%PDF a")
    drop(settings, "b.pdf", b"%PDF b")
    drop(settings, "c.pdf", b"junk")
    monkeypatch.setattr(ing, "_default_extract", counting)
    monkeypatch.setattr(ing, "_default_open_store", store.open)
    flow = ing.ingest_flow
    out = flow(db=str(settings.db), inbox=str(settings.inbox), progress=False)
    assert isinstance(out, dict)
    assert (out["inserted"], out["quarantined"], out["archived"], out["failed"]) == (2, 1, 2, 0)
    assert len(calls) == 3  # the retried file was not extracted twice; the bad one never retried
    assert files_under(settings.processing) == [] and files_under(settings.inbox) == []


def test_same_bytes_twice_in_one_parallel_run_extracts_once(settings):
    store = FakeStore()
    settings.workers = 4
    calls = []

    def slow(path, s):
        calls.append(path)
        time.sleep(0.3)
        return fake_extract(path, s)

    for name in ("a.pdf", "b.pdf", "sub/c.pdf"):
        drop(settings, name, b"%PDF same bytes")
    s = run(settings, store, extract=slow)
    assert len(calls) == 1 and s.inserted == 1 and s.duplicates == 2 and s.archived == 3


def test_interrupted_run_returns_unstarted_files(settings):
    """Ctrl-C / SIGTERM mid-run: the file being worked on stays for recover(), the rest go back."""
    settings.workers = 1
    for i in range(3):
        drop(settings, f"f{i}.pdf", f"%PDF {i}".encode())

    def interrupted(path, s):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(settings, FakeStore(), extract=interrupted)
    assert len(files_under(settings.processing)) == 1
    assert len(files_under(settings.inbox)) == 2
    s = run(settings, FakeStore())
    assert s.recovered == 1 and s.inserted == 3


def test_interrupted_parallel_run_loses_nothing(settings):
    settings.workers = 2
    for i in range(6):
        drop(settings, f"f{i}.pdf", f"%PDF {i}".encode())

    def interrupted(path, s):
        time.sleep(0.2)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(settings, FakeStore(), extract=interrupted)
    # The other in-flight worker finishes its (interrupted) file on its own time: wait for it
    # (a fixed sleep lost that race on a loaded machine).
    deadline = time.monotonic() + 30
    while len(files_under(settings.processing)) + len(files_under(settings.inbox)) != 6 \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(files_under(settings.processing)) + len(files_under(settings.inbox)) == 6
    s = run(settings, FakeStore())
    assert s.inserted == 6
    assert len(files_under(settings.archive)) == 6


def test_exit_codes():
    S = ing.Summary
    assert ing.exit_code(S()) == 0
    assert ing.exit_code(S(inserted=2, duplicates=1)) == 0
    assert ing.exit_code(S(inserted=2, quarantined=1)) == ing.EXIT_BAD_FILES == 1
    assert ing.exit_code(S(errors=1)) == 1
    assert ing.exit_code(S(quarantined=1, failed=1)) == ing.EXIT_RETRY == 3
    assert ing.exit_code(S(locked="another ingestion run holds the lock")) == ing.EXIT_LOCKED == 75


def test_busy_database_hands_the_rest_back_without_waiting(settings, monkeypatch):
    """After one file ran out of retries on DatabaseBusy, the others are not made to wait again."""
    monkeypatch.setattr(ing, "RETRY_DELAY", 0.05)
    settings.workers = 1
    store = FakeStore(busy_times=10_000)
    for i in range(5):
        drop(settings, f"f{i}.pdf", f"%PDF {i}".encode())
    s = run(settings, store)
    assert s.failed == 5 and s.quarantined == 0 and ing.exit_code(s) == 3
    assert store.busy_left == 10_000 - (ing.RETRIES + 1)  # only the first file tried the database
    assert sorted(p.name for p in files_under(settings.inbox)) == [f"f{i}.pdf" for i in range(5)]
    assert files_under(settings.processing) == []
    assert all("back in the inbox" in f["message"] for f in s.files)


def test_run_log_is_written(settings):
    drop(settings, "good.pdf")
    drop(settings, "bad.pdf", b"junk")
    run(settings, FakeStore())
    log = (settings.db.parent / "logs" / "ingest.log").read_text(encoding="utf-8")
    assert "run start: 2 file(s)" in log and "good.pdf: inserted" in log
    assert "bad.pdf: quarantined at open" in log and "run end" in log


def test_unclaimable_file_is_reported_and_stays(settings, monkeypatch):
    """A file that cannot be renamed out of the inbox (a folder we may not write in) does not
    stop the run: it is reported as failed and stays where it is."""
    import errno

    drop(settings, "ok.pdf")
    locked = drop(settings, "sub/locked.pdf", b"%PDF locked")
    real = inbox.claim

    def claim(path, s):
        if Path(path).name == "locked.pdf":
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(path, s)

    monkeypatch.setattr(inbox, "claim", claim)
    s = run(settings, FakeStore())
    assert (s.inserted, s.failed) == (1, 1) and locked.exists()
    (failed,) = [f for f in s.files if f["status"] == "failed"]
    assert failed["stage"] == "claim" and "Permission denied" in failed["message"]


def test_unchanged_folder_rerun_extracts_and_records_nothing(settings, tmp_path):
    """Explicit paths already held: one batched lookup settles them; a sighting is written once per
    path (all in one transaction), so re-checking an unchanged folder adds no rows."""
    import shutil

    from congvan.pipeline.store import Store

    src = tmp_path / "folder"
    src.mkdir()
    for k in range(3):
        (src / f"{k}.pdf").write_bytes(b"%PDF-1.4 " + bytes([65 + k]))
    calls = []

    def counting_extract(path, s):
        calls.append(Path(path).name)
        return fake_extract(path, s)

    def go(paths):
        return ing.ingest([str(p) for p in paths], settings, progress=False, extract=counting_extract)

    first = go([src])
    assert first.inserted == 3 and len(calls) == 3

    def sightings():
        with Store(settings.db, read_only=True) as st:
            return st.query("SELECT count(*) FROM files")[1][0][0]

    again = go([src])
    assert (again.duplicates, again.inserted, again.errors, len(calls)) == (3, 0, 0, 3)
    assert {f["status"] for f in again.files} == {"duplicate"} and all(f["document_id"] for f in again.files)
    assert sightings() == 3  # same bytes at the same paths: nothing new to record
    other = tmp_path / "copy"
    shutil.copytree(src, other)
    (other / "new.pdf").write_bytes(b"%PDF-1.4 new")
    moved = go([other])
    assert (moved.duplicates, moved.inserted, len(calls)) == (3, 1, 4)  # only the new file is extracted
    assert sightings() == 3 + 3 + 1


def test_store_operations_queued_behind_the_writer_go_in_together(settings):
    """Group commit: the thread holding the writer also runs what queued up behind it, on one
    held connection; each asker gets its own result or its own exception."""
    held = []

    class Store:
        def holding(self):
            import contextlib

            @contextlib.contextmanager
            def cm():
                held.append(threading.get_ident())
                yield
            return cm()

    ctx = ing.RunContext(settings=settings, extract=fake_extract, open_store=lambda s: Store())
    gate = threading.Event()

    def slow(store):
        gate.wait(5)
        return "first"

    def op(n):
        def fn(store):
            if n == 3:
                raise ValueError("bad record 3")
            return n
        return fn

    out = {}

    def ask(key, fn):
        try:
            out[key] = ing._with_store(ctx, fn)
        except ValueError as exc:
            out[key] = str(exc)

    first = threading.Thread(target=ask, args=("slow", slow))
    first.start()
    time.sleep(0.1)  # the first holds the writer; the next four queue up behind it
    rest = [threading.Thread(target=ask, args=(n, op(n))) for n in range(1, 5)]
    for t in rest:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in [first, *rest]:
        t.join(10)
    assert out == {"slow": "first", 1: 1, 2: 2, 3: "bad record 3", 4: 4}
    assert len(held) == 1  # the four queued operations shared one connection


@pytest.mark.parametrize("flag, api_url, expected", [
    (None, "", "plain"),                      # no server: Prefect's temporary one would cost 5-10 s a run
    (None, "http://127.0.0.1:4200/api", "flow"),  # a server: the run goes into its history
    ("--prefect", "", "flow"),
    ("--no-prefect", "http://127.0.0.1:4200/api", "plain"),
])
def test_cli_ingest_runs_as_a_prefect_flow_when_a_server_is_named(tmp_path, monkeypatch, flag, api_url, expected):
    from typer.testing import CliRunner

    from congvan.cli import app

    called = []
    monkeypatch.setattr(ing, "ingest", lambda paths, settings, **kw: called.append("plain") or ing.Summary())
    monkeypatch.setattr(ing, "ingest_flow", lambda **kw: called.append("flow") or ing.Summary())
    monkeypatch.setenv("PREFECT_API_URL", api_url)
    args = ["ingest", str(tmp_path), "--db", str(tmp_path / "c.duckdb")] + ([flag] if flag else [])
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert called == [expected]
