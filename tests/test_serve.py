"""`congvan serve` end to end: local Prefect server, scheduled run, real pipeline, clean shutdown.

Runs the real command in a subprocess (as a user would), with everything under
a temp dir, and bounds itself: < 90 s, and every process it started is gone
when it ends, pass or fail.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from congvan.flows.serve import LocalServer, free_port
from conftest import assert_nothing_lost, dispatch, make_pdf

pytestmark = pytest.mark.slow

DEADLINE = 85.0


def _pipeline_missing() -> str | None:
    for mod in ("congvan.pipeline.acquire", "congvan.pipeline.store", "reportlab"):
        try:
            if importlib.util.find_spec(mod) is None:
                return f"{mod} is not importable yet"
        except ImportError as exc:
            return f"{mod}: {exc}"
    return None


def _kill_group(pid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(1.0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purposes
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_local_server_starts_and_stops(tmp_path, monkeypatch):
    """The server child alone: healthy on loopback within the bound, gone after stop()."""
    from congvan.config import Settings

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("PREFECT_SERVER_UI_ENABLED", "false")
    t0 = time.monotonic()
    srv = LocalServer(Settings(db=tmp_path / "data" / "congvan.duckdb")).start(timeout=60)
    try:
        assert srv.api_url.startswith("http://127.0.0.1:")
        assert (tmp_path / "prefect" / "server.pid").read_text().strip() == str(srv.proc.pid)
    finally:
        srv.stop()
    assert srv.proc.poll() is not None
    assert time.monotonic() - t0 < 60
    assert free_port() > 0


def test_serve_ingests_a_dropped_file(tmp_path):
    reason = _pipeline_missing()
    if reason:
        pytest.skip(f"needs the real pipeline: {reason}")
    t0 = time.monotonic()
    data = tmp_path / "data"
    inbox = data / "inbox"
    inbox.mkdir(parents=True)
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    env.update(
        CONGVAN_DB=str(data / "congvan.duckdb"), CONGVAN_INBOX=str(inbox), CONGVAN_ARCHIVE=str(data / "archive"),
        CONGVAN_QUARANTINE=str(data / "quarantine"), CONGVAN_PROCESSING=str(data / "processing"),
        CONGVAN_SETTLE_SECONDS="1", CONGVAN_WORKERS="1",
        PREFECT_HOME=str(data / "prefect"), PREFECT_SERVER_UI_ENABLED="false",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_RUNNER_POLL_FREQUENCY="2",  # pick scheduled runs up sooner than the default 10 s
    )
    out = open(tmp_path / "serve.out", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "congvan.cli", "serve", "--interval", "5"],
                            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server_pid = None
    try:
        # drop the file while the server is starting: the inbox must pick it up on a tick
        pdf = make_pdf(tmp_path / "staging.pdf", dispatch(12))
        inputs = [("Kế hoạch 12.pdf", hashlib.sha256(pdf.read_bytes()).hexdigest()),
                  ("broken.pdf", hashlib.sha256(b"%PDF-1.4 cut short").hexdigest())]
        os.rename(pdf, inbox / "Kế hoạch 12.pdf")
        (inbox / "broken.pdf").write_bytes(b"%PDF-1.4 cut short")  # must not stop serving
        archived: list[Path] = []
        quarantined: list[Path] = []
        marks: dict[str, float] = {}
        while time.monotonic() - t0 < DEADLINE - 20:
            if server_pid is None and (data / "prefect" / "server.pid").exists():
                server_pid = int((data / "prefect" / "server.pid").read_text())
            if "served" not in marks and b"being served" in (tmp_path / "serve.out").read_bytes():
                marks["served"] = time.monotonic() - t0
            archived = [p for p in (data / "archive").rglob("*.pdf")] if (data / "archive").exists() else []
            quarantined = list((data / "quarantine").glob("*.reason.json")) if (data / "quarantine").exists() else []
            assert proc.poll() is None, (tmp_path / "serve.out").read_text(errors="replace")[-3000:]
            if archived and quarantined:
                break
            time.sleep(0.5)
        ingested_after = time.monotonic() - t0
        assert archived, "no scheduled run ingested the file:\n" + (tmp_path / "serve.out").read_text(errors="replace")[-3000:]
        assert archived[0].name == "Kế hoạch 12.pdf"
        assert [q.name for q in quarantined] == ["broken.pdf.reason.json"]
        # the next tick runs too: serving goes on after a bad file
        while time.monotonic() - t0 < DEADLINE - 15:
            if (data / "logs" / "ingest.log").read_text().count("run end") >= 2:
                break
            time.sleep(0.5)
        assert proc.poll() is None
        assert (data / "logs" / "ingest.log").read_text().count("run end") >= 2
        marks["second run"] = time.monotonic() - t0
        assert not list(inbox.iterdir()) and not list((data / "processing").iterdir())
        log = (data / "logs" / "ingest.log").read_text()
        assert "Kế hoạch 12.pdf: inserted" in log
        print(f"serve timings (s from start): deployment served {marks.get('served', -1):.1f}, "
              f"file ingested {ingested_after:.1f}, second run done {marks['second run']:.1f}")
    finally:
        proc.send_signal(signal.SIGTERM)  # what a service manager sends; serve stops its server
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            pass
        _kill_group(proc.pid)
        if server_pid is not None:
            deadline = time.monotonic() + 10
            while _alive(server_pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            leaked = _alive(server_pid)
            _kill_group(server_pid)
        out.close()
    assert server_pid is not None
    assert not leaked, "serve left its Prefect server running"
    # the record is in the database
    from congvan.pipeline.store import Store

    with Store(data / "congvan.duckdb", read_only=True, wait_seconds=10) as st:
        assert st.has_sha256(__import__("hashlib").sha256(archived[0].read_bytes()).hexdigest())
    from congvan.config import Settings

    assert_nothing_lost(Settings(db=data / "congvan.duckdb", inbox=inbox, archive=data / "archive",
                                 quarantine=data / "quarantine", processing=data / "processing"), inputs,
                        case="congvan serve: a good and a broken file", outcome="served on; archived + quarantined")
    print(f"serve test total {time.monotonic() - t0:.1f}s")
    assert time.monotonic() - t0 < 90
