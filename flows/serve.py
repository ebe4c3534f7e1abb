"""`congvan serve`: scheduled ingestion of the inbox with Prefect.

Schedules need a real Prefect server: in ephemeral mode the runner refuses
("Cannot schedule flows on an ephemeral server"). So unless PREFECT_API_URL
names one, we start `prefect server start` ourselves as a child process on
127.0.0.1 and a free port, with its SQLite under data/prefect/, wait for
/api/health, point this process at it, serve the deployment, and stop the
server on the way out (normal exit, Ctrl-C or SIGTERM).

Each scheduled run is one `ingest_flow` run; a bad file is quarantined inside
the run and never fails it, and an overlapping tick finds the ingest lock held
and ends quietly, so serving goes on.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Optional

from congvan.config import Settings
from congvan.flows.ingest import prefect_env

DEPLOYMENT_NAME = "congvan-inbox"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as r:
            return r.status == 200
    except OSError:
        return False


class LocalServer:
    """A `prefect server start` child on loopback; its own process group so stop() reaches all of it."""

    def __init__(self, settings: Settings, host: str = "127.0.0.1", port: Optional[int] = None):
        self.host = host
        self.port = port or free_port(host)
        self.api_url = f"http://{host}:{self.port}/api"
        self.home = Path(os.environ.get("PREFECT_HOME") or (Path(settings.db).parent / "prefect")).resolve()
        self.log_path = Path(settings.db).parent.resolve() / "logs" / "prefect-server.log"
        self.proc: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 90.0) -> "LocalServer":
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.pop("PREFECT_API_URL", None)  # the server must not think it is a client of itself
        env.setdefault("PREFECT_HOME", str(self.home))
        env.setdefault("PREFECT_API_DATABASE_CONNECTION_URL", f"sqlite+aiosqlite:///{self.home / 'server.db'}")
        env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        env["PREFECT_SERVER_API_HOST"] = self.host
        env["PREFECT_SERVER_API_PORT"] = str(self.port)
        log = open(self.log_path, "ab")
        # argv list, no shell: nothing from the user reaches a shell.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", self.host, "--port", str(self.port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()
        # So a supervisor (or a test) can find and stop the server if this process is killed hard.
        (self.home / "server.pid").write_text(f"{self.proc.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prefect server exited with {self.proc.returncode}; see {self.log_path}")
            if _healthy(self.api_url):
                return self
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"prefect server not healthy after {timeout:.0f}s; see {self.log_path}")

    def stop(self, grace: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)
        except ProcessLookupError:
            pass

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _sigterm_to_exit(signum, frame):  # pragma: no cover - exercised by the serve test's kill
    raise SystemExit(128 + signum)


def serve(interval: Optional[float] = None, cron: Optional[str] = None, settings: Optional[Settings] = None,
          *, name: str = DEPLOYMENT_NAME) -> None:
    """Serve `ingest_flow` on the inbox every `interval` seconds or on `cron`, until interrupted."""
    if (interval is None) == (cron is None):
        raise ValueError("give exactly one of interval or cron")
    settings = settings or Settings()
    prefect_env(settings)
    server: Optional[LocalServer] = None
    old_term = signal.signal(signal.SIGTERM, _sigterm_to_exit)
    try:
        api_url = os.environ.get("PREFECT_API_URL")
        if not api_url:
            server = LocalServer(settings).start()
            api_url = server.api_url
            os.environ["PREFECT_API_URL"] = api_url  # for this process and the runner's children
            print(f"congvan: started a Prefect server at {api_url[:-4]} (log {server.log_path})", flush=True)

        from prefect import serve as prefect_serve
        from prefect.deployments.runner import EntrypointType
        from prefect.settings import PREFECT_API_URL, temporary_settings

        from congvan.flows.ingest import ingest_flow

        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            deployment = ingest_flow.to_deployment(
                name=name,
                interval=interval,
                cron=cron,
                # Absolute folders: the run subprocess must not depend on its cwd.
                parameters={**{k: os.path.abspath(getattr(settings, k))
                               for k in ("db", "inbox", "archive", "quarantine", "processing")},
                            "workers": int(settings.workers), "progress": False},
                # Load by module path in the run subprocess, not by a file path relative to cwd.
                entrypoint_type=EntrypointType.MODULE_PATH,
                description="Ingest settled files from the congvan inbox.",
            )
            # limit=1: a slow run makes the next tick wait instead of piling up (the ingest lock
            # would refuse it anyway).
            prefect_serve(deployment, limit=1)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, old_term)
        if server is not None:
            server.stop()
