"""The ingestion flows on a Prefect server: a process work pool, N workers, one loader.

    congvan deploy      work pool "congvan" (type process) with queues "stage" and "load",
                        deployments congvan-stage/congvan-stage and congvan-load/congvan-load
    congvan worker      `prefect worker start --pool congvan --type process` (one per machine or core)
    congvan dispatch    N stage runs (each drains the inbox), wait, then one load run

`stage_flow` runs on any worker: it claims inbox files one at a time (atomic
rename, so runs on many machines share the inbox without a coordinator),
extracts with `flows.ingest.process_file`, archives or quarantines the file and
stages the record (`pipeline/staging.py`). `load_flow` runs on the machine that
holds the DuckDB file (a worker serving the "load" queue there) and is the only
writer. The deployments load the flows by module path, so every worker needs
this package installed (the same version) and the data folders mounted at the
same paths; nothing is pulled or built at run time.

Prefect is imported at module import: import this module only where a flow is
wanted (the CLI does so inside its commands).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional
from uuid import UUID

from congvan.config import Settings
from congvan.flows.ingest import prefect_env

prefect_env()

from prefect import flow, get_client, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.deployments.runner import EntrypointType  # noqa: E402

from congvan.flows import ingest as ing  # noqa: E402
from congvan.pipeline import staging  # noqa: E402

POOL = "congvan"
STAGE_QUEUE = "stage"
LOAD_QUEUE = "load"
STAGE_FLOW = "congvan-stage"
LOAD_FLOW = "congvan-load"
FOLDERS = ("db", "inbox", "archive", "quarantine", "processing")


def _settings(db=None, inbox=None, archive=None, quarantine=None, processing=None, staging_dir=None) -> Settings:
    """Settings from flow parameters; None keeps the worker's own CONGVAN_* environment."""
    s = Settings()
    for key, value in (("db", db), ("inbox", inbox), ("archive", archive), ("quarantine", quarantine),
                       ("processing", processing)):
        if value:
            setattr(s, key, Path(value))
    if staging_dir:
        os.environ["CONGVAN_STAGING"] = str(staging_dir)
    return s


def run_is_dead(owner: dict) -> bool:
    """A worker run is dead when Prefect says its flow run is over (or never existed), or, on
    this host, when its process is gone. A run still "Running" on a vanished machine stays
    until Prefect marks it crashed (worker heartbeats / an automation) or someone cancels it."""
    if staging.pid_gone(owner):
        return True
    try:
        run_id = UUID(str(owner.get("run")))
    except ValueError:
        return False
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            fr = client.read_flow_run(run_id)
    except ObjectNotFound:
        return True
    except Exception:  # noqa: BLE001 - server unreachable: assume alive, adopt later
        return False
    return fr.state is not None and fr.state.is_final()


@task(name="stage-file", cache_policy=NO_CACHE, task_run_name="{name}")
def stage_file(item, ctx, name: str) -> dict:
    return ing._retrying(item, ctx)


@flow(name=STAGE_FLOW, validate_parameters=True, persist_result=True)
def stage_flow(db: Optional[str] = None, inbox: Optional[str] = None, archive: Optional[str] = None,
               quarantine: Optional[str] = None, processing: Optional[str] = None,
               staging_dir: Optional[str] = None, max_files: Optional[int] = None,
               lake: Optional[str] = None) -> dict:
    """Claim inbox files one by one until none is left: extract, archive or quarantine, stage
    (and append to the DuckLake at `lake`, or CONGVAN_LAKE, when one is given)."""
    from prefect.runtime import flow_run
    from prefect.utilities.annotations import quote

    settings = _settings(db, inbox, archive, quarantine, processing, staging_dir)
    ing.setup_file_log(ing.absolute_settings(settings))
    if lake:
        os.environ["CONGVAN_LAKE"] = lake

    def process(item, ctx):
        return stage_file(quote(item), quote(ctx), name=Path(item.origin).name[:100])

    return staging.stage_run(settings, str(flow_run.id), is_dead=run_is_dead, max_files=max_files,
                             process=process)


@flow(name=LOAD_FLOW, validate_parameters=True, persist_result=True)
def load_flow(db: Optional[str] = None, inbox: Optional[str] = None, archive: Optional[str] = None,
              quarantine: Optional[str] = None, processing: Optional[str] = None,
              staging_dir: Optional[str] = None) -> dict:
    """Write every staged record into DuckDB (the only writer); staged files move to loaded/."""
    settings = _settings(db, inbox, archive, quarantine, processing, staging_dir)
    ing.setup_file_log(ing.absolute_settings(settings))
    return staging.load(settings)


# ---------------------------------------------------------------- set-up

def folder_parameters(settings: Settings) -> dict:
    """Absolute folders as deployment parameters: a worker's cwd must not matter."""
    params = {k: os.path.abspath(getattr(settings, k)) for k in FOLDERS}
    params["staging_dir"] = os.path.abspath(staging.staging_root(settings))
    return params


def stage_parameters(settings: Settings) -> dict:
    from congvan.pipeline.lake import lake_dir

    params = folder_parameters(settings)
    if lake_dir() is not None:
        params["lake"] = os.path.abspath(lake_dir())
    return params


def ensure_pool(pool: str = POOL) -> None:
    """Create the process work pool with the process worker's default job template, if missing."""
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(pool)
            return
        except ObjectNotFound:
            pass
        try:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process",
                                                   base_job_template=ProcessWorker.get_default_base_job_template()))
        except ObjectAlreadyExists:
            pass


def deploy(settings: Optional[Settings] = None, *, pool: str = POOL, load_interval: Optional[float] = None,
           stage_interval: Optional[float] = None, stage_limit: Optional[int] = None) -> dict:
    """Create the pool and both deployments (idempotent: re-running updates them)."""
    settings = settings or Settings()
    ensure_pool(pool)
    params = folder_parameters(settings)
    common = dict(work_pool_name=pool, build=False, push=False, entrypoint_type=EntrypointType.MODULE_PATH,
                  print_next_steps=False, ignore_warnings=True, parameters=params)
    stage_id = stage_flow.deploy(STAGE_FLOW, work_queue_name=STAGE_QUEUE, interval=stage_interval,
                                 concurrency_limit=stage_limit,
                                 description="Claim inbox files, extract, archive/quarantine, stage the records.",
                                 **{**common, "parameters": stage_parameters(settings)})
    # one loader at a time (DuckDB has one writer; the ingest lock would refuse a second anyway)
    load_id = load_flow.deploy(LOAD_FLOW, work_queue_name=LOAD_QUEUE, interval=load_interval, concurrency_limit=1,
                               description="Write staged records into DuckDB (the only writer).", **common)
    return {"pool": pool, "stage": str(stage_id), "load": str(load_id),
            "stage_name": f"{STAGE_FLOW}/{STAGE_FLOW}", "load_name": f"{LOAD_FLOW}/{LOAD_FLOW}"}


def dispatch(runs: int = 2, *, wait: bool = True, load: bool = True, timeout: float = 3600.0,
             parameters: Optional[dict] = None) -> dict:
    """Start `runs` stage runs (each drains the inbox); with `wait`, then one load run.

    Runs are created with `run_deployment(timeout=0)` and picked up by whichever
    workers poll the pool, so throughput follows the number of workers.
    """
    from prefect.deployments import run_deployment

    params = parameters or {}
    t0 = time.monotonic()
    started = [run_deployment(f"{STAGE_FLOW}/{STAGE_FLOW}", parameters=params, timeout=0, as_subflow=False)
               for _ in range(max(1, runs))]
    out: dict = {"stage_runs": [str(r.id) for r in started]}
    if not wait:
        return out
    states = _wait_final([r.id for r in started], timeout=timeout - (time.monotonic() - t0))
    out["stage_states"] = states
    out["stage_results"] = _results([r.id for r in started])
    out["stage_seconds"] = round(time.monotonic() - t0, 2)
    if load:
        lr = run_deployment(f"{LOAD_FLOW}/{LOAD_FLOW}", parameters=params, as_subflow=False,
                            timeout=max(1.0, timeout - (time.monotonic() - t0)), poll_interval=1)
        out["load_state"] = lr.state.type.value if lr.state else None
        out["load_result"] = _results([lr.id])[0]
    out["seconds"] = round(time.monotonic() - t0, 2)
    return out


def _wait_final(ids: list, timeout: float, poll: float = 1.0) -> list[str]:
    deadline = time.monotonic() + max(0.0, timeout)
    with get_client(sync_client=True) as client:
        while True:
            runs = [client.read_flow_run(i) for i in ids]
            if all(r.state is not None and r.state.is_final() for r in runs) or time.monotonic() >= deadline:
                return [r.state.type.value if r.state else "UNKNOWN" for r in runs]
            time.sleep(poll)


def _results(ids: list) -> list:
    """Each run's return value when the result was persisted; else None."""
    out = []
    with get_client(sync_client=True) as client:
        for i in ids:
            try:
                out.append(client.read_flow_run(i).state.result(raise_on_failure=False))
            except Exception:  # noqa: BLE001 - results are not persisted by default
                out.append(None)
    return out


def worker_command(pool: str = POOL, queues: Optional[list[str]] = None, limit: Optional[int] = None,
                   name: Optional[str] = None) -> list[str]:
    """The `prefect worker start` command line a congvan worker runs."""
    import sys

    cmd = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process"]
    for q in queues or []:
        cmd += ["--work-queue", q]
    if limit:
        cmd += ["--limit", str(limit)]
    if name:
        cmd += ["--name", name]
    return cmd
