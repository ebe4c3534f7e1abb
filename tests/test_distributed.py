"""Beyond one machine: workers stage records, one loader writes DuckDB.

The first tests run the staging code with a fake extractor and the real Store
(seconds, no Prefect server) and pin the crash rules; the last one starts a
Prefect server and two process workers on loopback and ingests real samples
through deployments.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from congvan.config import Settings
from congvan.pipeline import inbox, staging
from congvan.pipeline.errors import CorruptInput
from congvan.schemas.record import Record, Source
from conftest import data_settings, drop, files_under

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch) -> Settings:
    monkeypatch.delenv("CONGVAN_STAGING", raising=False)
    return data_settings(tmp_path, settle_seconds=0.0, workers=1, db_wait_seconds=10)


def fake_extract(path: Path, settings: Settings):
    data = Path(path).read_bytes()
    if not data.startswith(b"%PDF"):
        raise CorruptInput("not a PDF")
    time.sleep(0.01)  # let two runs interleave
    sha = hashlib.sha256(data).hexdigest()
    n = data.split()[-1].decode()
    return Record(source=Source(path=str(path), sha256=sha, pages=1, text_source="text_layer"),
                  number=f"{n}/KH-UBND", symbol="KH-UBND", doc_type="KH", text=f"van ban {n}")




def db_rows(settings: Settings, sql: str) -> list[tuple]:
    from congvan.pipeline.store import Store

    with Store(settings.db, read_only=True, wait_seconds=10) as st:
        return st.query(sql)[1]


def test_two_runs_share_the_inbox_and_one_loader_writes(settings):
    # same names in two folders: both runs race for "x.pdf" in the same archive month
    for i in range(12):
        drop(settings, f"{'a' if i % 2 else 'b'}/x{i // 2}.pdf", f"%PDF-1.4 {i}".encode())
    drop(settings, "same-bytes.pdf", b"%PDF-1.4 3")  # the bytes of one above: a sighting
    drop(settings, "bad.pdf", b"<html>")
    results: dict[str, dict] = {}

    def worker(run_id: str) -> None:
        results[run_id] = staging.stage_run(settings, run_id, extract=fake_extract)

    threads = [threading.Thread(target=worker, args=(f"run-{k}",)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    staged = sum(r["staged"] + r["sightings"] for r in results.values())
    assert staged == 13 and sum(r["quarantined"] for r in results.values()) == 1
    assert all(r["staged"] + r["sightings"] > 0 for r in results.values()), results  # both runs took work
    assert files_under(settings.inbox) == []
    assert files_under(settings.processing) == []  # run folders removed when done
    archived = files_under(settings.archive)
    assert len(archived) == 13
    assert [p.name for p in settings.quarantine.glob("*.reason.json")] == ["bad.pdf.reason.json"]
    layout = staging.Layout(staging.staging_root(settings))
    entries = [staging.read_entry(p) for p in layout.published()]
    assert len(entries) == 13
    for e in entries:  # every entry names where its file really is, with those bytes
        assert hashlib.sha256(Path(e["stored_path"]).read_bytes()).hexdigest() == e["sha256"]
        assert e["record"].source.path == e["stored_path"]

    summary = staging.load(settings)
    assert (summary["inserted"], summary["rejected"], summary["left"]) == (12, 0, 0), summary
    assert summary["duplicates"] + summary["deferred"] == 1
    if summary["deferred"]:  # the sighting was staged before its record: next load takes it
        assert staging.load(settings)["duplicates"] == 1
    assert layout.published() == [] and len(list(layout.loaded.glob("*.jsonl"))) == 13
    assert db_rows(settings, "SELECT count(*) FROM documents") == [(12,)]
    assert db_rows(settings, "SELECT count(*) FROM files") == [(13,)]
    paths = {r[0] for r in db_rows(settings, "SELECT path FROM files")}
    assert paths == {str(p) for p in archived}
    # a second load has nothing to do; held bytes are known to workers without the database
    assert staging.load(settings)["inserted"] == 0
    assert layout.known_marker(entries[0]["sha256"]).exists()


def test_reloading_an_entry_after_a_crash_changes_nothing(settings):
    drop(settings, "a.pdf", b"%PDF-1.4 1")
    drop(settings, "b.pdf", b"%PDF-1.4 2")
    staging.stage_run(settings, "r1", extract=fake_extract)
    layout = staging.Layout(staging.staging_root(settings))
    kept = {p.name: p.read_bytes() for p in layout.published()}
    assert staging.load(settings)["inserted"] == 2
    for name, data in kept.items():  # as if the loader died after COMMIT, before the move
        (layout.root / name).write_bytes(data)
    again = staging.load(settings)
    assert (again["already"], again["inserted"], again["duplicates"]) == (2, 0, 0)
    assert db_rows(settings, "SELECT count(*) FROM files") == [(2,)]


def test_a_worker_skips_bytes_the_database_holds(settings):
    drop(settings, "a.pdf", b"%PDF-1.4 1")
    staging.stage_run(settings, "r1", extract=fake_extract)
    staging.load(settings)
    drop(settings, "again.pdf", b"%PDF-1.4 1")

    def must_not_extract(path, s):
        raise AssertionError("held bytes were extracted again")

    r = staging.stage_run(settings, "r2", extract=must_not_extract)
    assert r["sightings"] == 1
    assert staging.load(settings)["duplicates"] == 1
    assert db_rows(settings, "SELECT status FROM files ORDER BY seen_at") == [("inserted",), ("duplicate",)]


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_dead_runs_leftovers_are_finished_by_the_next_run(settings):
    import socket

    layout = staging.Layout(staging.staging_root(settings))
    dead = staging.runs_dir(settings) / "dead"
    dead.mkdir(parents=True)
    (dead / staging.OWNER).write_text(json.dumps({"run": "dead", "host": socket.gethostname(), "pid": _dead_pid()}))
    # 1) claimed, never staged (died in OCR)
    orphan = dead / "20250101T000000-aaaaaaaa__orphan.pdf"
    orphan.write_bytes(b"%PDF-1.4 7")
    # 2) staged but not yet archived (died between the two)
    half = dead / "20250101T000000-bbbbbbbb__half.pdf"
    half.write_bytes(b"%PDF-1.4 8")
    rec = fake_extract(half, settings)
    predicted = inbox.next_archive_path(half, settings)
    entry = staging.make_entry(rec.model_copy(update={"source": rec.source.model_copy(update={"path": str(predicted)})}),
                               claimed=str(half), origin=str(settings.inbox / "half.pdf"), stored_path=str(predicted),
                               original_name="half.pdf", run_id="dead", sighting=False)
    staging.write_atomic(layout.pending / "dead" / "20250101T000000-bbbbbbbb.jsonl", staging.dump_entry(entry))
    # 3) a live run's claim is left alone
    live = staging.runs_dir(settings) / "live"
    live.mkdir()
    (live / staging.OWNER).write_text(json.dumps({"run": "live", "host": socket.gethostname(), "pid": os.getpid()}))
    (live / "20250101T000000-cccccccc__busy.pdf").write_bytes(b"%PDF-1.4 9")

    r = staging.stage_run(settings, "next", extract=fake_extract)
    assert (r["recovered_entries"], r["adopted"], r["staged"]) == (1, 1, 1)
    names = sorted(p.name for p in files_under(settings.archive))
    assert names == ["half.pdf", "orphan.pdf"]
    assert not dead.exists() and (live / "20250101T000000-cccccccc__busy.pdf").exists()
    assert staging.load(settings)["inserted"] == 2


def test_an_orphan_that_keeps_killing_runs_is_quarantined(settings):
    import socket

    dead = staging.runs_dir(settings) / "dead"
    dead.mkdir(parents=True)
    (dead / staging.OWNER).write_text(json.dumps({"run": "dead", "host": socket.gethostname(), "pid": _dead_pid()}))
    # begun (".s") when this run died, after MAX_CRASH_RETRIES earlier deaths on it (".rN")
    (dead / f"20250101T000000-aaaaaaaa.r{inbox.MAX_CRASH_RETRIES}.s__killer.pdf").write_bytes(b"%PDF-1.4 1")
    staging.stage_run(settings, "next", extract=fake_extract)
    reason = json.loads((settings.quarantine / "killer.pdf.reason.json").read_text())
    assert reason["error"] == "CrashedTooOften"


def test_a_record_the_store_refuses_goes_to_quarantine(settings):
    from congvan.pipeline.store import Store

    drop(settings, "a.pdf", b"%PDF-1.4 1")
    drop(settings, "b.pdf", b"%PDF-1.4 2")
    staging.stage_run(settings, "r1", extract=fake_extract)

    class Refusing(Store):
        def save(self, record, **kw):
            if record.number.startswith("2/"):
                raise ValueError("constraint violated")
            return super().save(record, **kw)

    s = staging.load(settings, open_store=lambda st: Refusing(st.db, wait_seconds=10))
    assert (s["inserted"], s["rejected"]) == (1, 1)
    assert [p.name for p in files_under(settings.archive)] == ["a.pdf"]
    reason = json.loads((settings.quarantine / "b.pdf.reason.json").read_text())
    assert reason["stage"] == "store" and "constraint violated" in reason["message"]
    layout = staging.Layout(staging.staging_root(settings))
    assert len(list(layout.rejected.glob("*.jsonl"))) == 1


# ---------------------------------------------------------------- server + two workers

def _stop(proc: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after `grace`."""
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # leftovers of the group (flow-run children) too
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait(5)


@pytest.mark.slow
def test_server_two_workers_and_a_loader_ingest_the_samples(tmp_path):
    """A Prefect server and two process workers on loopback; the text-layer samples and one
    scan go through `congvan deploy` / `worker` / `dispatch`, and one loader writes DuckDB."""
    from congvan.flows.serve import LocalServer

    t0 = time.monotonic()
    data = tmp_path / "data"
    box = data / "inbox"
    box.mkdir(parents=True)
    picked = sorted(SAMPLES.glob("*-text.pdf")) + [SAMPLES / "002-scan-p1.png"]
    assert len(picked) >= 3
    for p in picked:
        shutil.copy(p, box / p.name)
    (box / "broken.pdf").write_bytes(b"%PDF-1.4 cut short")
    env = dict(os.environ)
    env.update(
        CONGVAN_DB=str(data / "congvan.duckdb"), CONGVAN_INBOX=str(box), CONGVAN_ARCHIVE=str(data / "archive"),
        CONGVAN_QUARANTINE=str(data / "quarantine"), CONGVAN_PROCESSING=str(data / "processing"),
        CONGVAN_STAGING=str(data / "staging"), CONGVAN_SETTLE_SECONDS="0", CONGVAN_WORKERS="1",
        PREFECT_HOME=str(data / "prefect"), PREFECT_SERVER_UI_ENABLED="false",
        PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_WORKER_QUERY_SECONDS="1",
        PREFECT_WORKER_PREFETCH_SECONDS="1",
    )
    env.pop("PREFECT_API_URL", None)
    old_home = os.environ.get("PREFECT_HOME")
    os.environ["PREFECT_HOME"] = env["PREFECT_HOME"]
    try:
        server = LocalServer(Settings(db=data / "congvan.duckdb")).start(timeout=120)
    finally:
        if old_home is None:
            os.environ.pop("PREFECT_HOME", None)
        else:
            os.environ["PREFECT_HOME"] = old_home
    env["PREFECT_API_URL"] = server.api_url
    cli = [sys.executable, "-m", "congvan.cli"]
    workers: list[subprocess.Popen] = []
    logs = []
    marks = {"server": time.monotonic() - t0}
    try:
        r = subprocess.run(cli + ["deploy"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        marks["deployed"] = time.monotonic() - t0
        for name, queues in (("w1", ["stage", "load"]), ("w2", ["stage"])):
            log = open(tmp_path / f"{name}.log", "wb")
            logs.append(log)
            args = cli + ["worker", "--name", name, "--limit", "1"] + [a for q in queues for a in ("--queue", q)]
            workers.append(subprocess.Popen(args, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True))
        r = subprocess.run(cli + ["dispatch", "--runs", "2", "--timeout", "240"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
        marks["dispatched"] = time.monotonic() - t0
        tails = "".join((tmp_path / f"w{i}.log").read_text(errors="replace")[-3000:] for i in (1, 2))
        assert r.returncode == 0, r.stdout + r.stderr + tails
        out = json.loads(r.stdout)
        assert out["stage_states"] == ["COMPLETED", "COMPLETED"] and out["load_state"] == "COMPLETED"
        runs = out["stage_results"]
        # each stage run ran under a different worker process: the work really was spread
        assert len({(x["host"], x["parent_pid"]) for x in runs}) == 2, runs
        assert {x["parent_pid"] for x in runs} == {w.pid for w in workers}, (runs, [w.pid for w in workers])
        assert sum(x["staged"] for x in runs) == len(picked) and sum(x["quarantined"] for x in runs) == 1
        loaded = out["load_result"]
        assert loaded["inserted"] + loaded["copies"] == len(picked) and loaded["rejected"] == 0, loaded
    finally:
        for w in workers:  # all at once: each worker takes a few seconds to wind down
            try:
                os.killpg(w.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for w in workers:
            _stop(w)
        for log in logs:
            log.close()
        server.stop()
    assert all(w.poll() is not None for w in workers) and server.proc.poll() is not None
    # every file ended in exactly one place; the database holds what was archived
    assert list(box.iterdir()) == []
    archived = sorted(p for p in (data / "archive").rglob("*") if p.is_file())
    assert sorted(p.name for p in archived) == sorted(p.name for p in picked)
    assert [p.name for p in (data / "quarantine").glob("*.reason.json")] == ["broken.pdf.reason.json"]
    assert not [p for p in (data / "processing").rglob("*") if p.is_file()]
    s = Settings(db=data / "congvan.duckdb")
    paths = {r[0] for r in db_rows(s, "SELECT path FROM files")}
    assert paths == {str(p) for p in archived}
    # extraction ran for real: every document has its type and subject read
    assert db_rows(s, "SELECT count(*) FROM documents WHERE doc_type IS NOT NULL AND subject IS NOT NULL") \
        == [(len(picked),)]
    total = time.monotonic() - t0
    print(f"distributed: server up {marks['server']:.1f}s, deployed {marks['deployed']:.1f}s, "
          f"dispatch+load done {marks['dispatched']:.1f}s, total {total:.1f}s; runs "
          + ", ".join(f"{x['staged']} staged in {x['seconds']}s" for x in runs)
          + f"; load {loaded['seconds']}s")
    assert total < 240


STAGE_IN_A_PROCESS = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from congvan.config import Settings
from congvan.pipeline import staging
import test_distributed as td
d = sys.argv[3]
s = Settings(db=d + "/congvan.duckdb", inbox=d + "/inbox", archive=d + "/archive", quarantine=d + "/quarantine",
             processing=d + "/processing", settle_seconds=0.0, workers=1)
out = staging.stage_run(s, sys.argv[4], extract=td.fake_extract)
out.pop("files")
print(json.dumps(out))
"""


def test_stage_runs_append_to_a_ducklake_at_once(settings, tmp_path):
    """Two stage runs in two processes (as on two workers) append to one DuckLake together."""
    from congvan.pipeline import lake

    for i in range(8):
        drop(settings, f"d{i}.pdf", f"%PDF-1.4 {i}".encode())
    drop(settings, "again.pdf", b"%PDF-1.4 0")  # same bytes: one lake row
    env = dict(os.environ, CONGVAN_LAKE=str(tmp_path / "lake"))
    env.pop("CONGVAN_STAGING", None)
    procs = [subprocess.Popen([sys.executable, "-c", STAGE_IN_A_PROCESS, str(ROOT), str(ROOT / "tests"),
                               str(settings.db.parent), f"run-{k}"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for k in range(2)]
    results = []
    for p in procs:
        out, errs = p.communicate(timeout=180)
        assert p.returncode == 0, errs[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sum(r["lake_failed"] for r in results) == 0, results
    assert sum(r["lake_added"] for r in results) == 8
    cols, rows = lake.query(tmp_path / "lake", "SELECT count(*), count(DISTINCT sha256) FROM documents")
    assert rows == [(8, 8)]
    # the lake names where each file lives, like the database will
    cols, rows = lake.query(tmp_path / "lake", "SELECT path, sha256 FROM documents")
    for path, sha in rows:
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == sha
    # readable while the DuckDB file is held by a writer
    import duckdb

    from congvan.pipeline.store import Store

    Store(settings.db)  # create it
    holder = duckdb.connect(str(settings.db))
    try:
        assert lake.query(tmp_path / "lake", "SELECT count(*) FROM lake.documents")[1] == [(8,)]
    finally:
        holder.close()


def test_an_adopter_that_dies_is_adopted_in_turn(settings):
    """The adopted folder carries the dead run's name and the adopter as owner."""
    import socket

    layout = staging.Layout(staging.staging_root(settings))
    dead_pid = _dead_pid()
    # run "a" died with a pending entry; run "b" adopted it and died as well, before finishing
    taken = staging.runs_dir(settings) / f"a{staging.ADOPTED}123456"
    taken.mkdir(parents=True)
    (taken / staging.OWNER).write_text(json.dumps({"run": "b", "host": socket.gethostname(), "pid": dead_pid}))
    claimed = taken / "20250101T000000-bbbbbbbb.s__late.pdf"
    claimed.write_bytes(b"%PDF-1.4 5")
    rec = fake_extract(claimed, settings)
    entry = staging.make_entry(rec, claimed=str(staging.runs_dir(settings) / "a" / claimed.name),
                               origin=str(settings.inbox / "late.pdf"), stored_path=str(settings.archive / "late.pdf"),
                               original_name="late.pdf", run_id="a", sighting=False)
    staging.write_atomic(layout.pending / "a" / "20250101T000000-bbbbbbbb.s.jsonl", staging.dump_entry(entry))
    r = staging.stage_run(settings, "c", extract=fake_extract)
    assert r["recovered_entries"] == 1
    assert [p.name for p in files_under(settings.archive)] == ["late.pdf"]
    assert files_under(settings.processing) == [] and not (layout.pending / "a").exists()
    assert staging.load(settings)["inserted"] == 1
