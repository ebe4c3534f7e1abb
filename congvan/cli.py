"""The `congvan` command: extract, ingest, serve, sql, search, export, eval.

Heavy imports (Prefect, OCR, NLP) happen inside the commands that need them, so
`congvan --help` and `congvan sql` start fast and `congvan extract` starts no
orchestrator.
"""
from __future__ import annotations

import csv
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from congvan.config import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Vietnamese official dispatches: PDF → records → DuckDB.")
console = Console()
err = Console(stderr=True)

DbOption = typer.Option(None, "--db", help="DuckDB file [env CONGVAN_DB, default data/congvan.duckdb]")


class OutFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


class ExportFormat(str, Enum):
    csv = "csv"
    parquet = "parquet"
    jsonl = "jsonl"
    edxml = "edxml"


def _settings(db: Optional[Path] = None, inbox: Optional[Path] = None) -> Settings:
    s = Settings()
    if db is not None:
        s.db = db
    if inbox is not None:
        s.inbox = inbox
    return s


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


@app.command()
def extract(
    file: Path = typer.Argument(..., help="a PDF, or a scanned image (PNG/JPEG/TIFF)"),
    as_json: bool = typer.Option(False, "--json", help="print the record as JSON and nothing else"),
) -> None:
    """Run the whole pipeline on one file without touching the database."""
    from congvan.pipeline.errors import CongvanError
    from congvan.pipeline.run import extract_file

    if not file.exists():
        _fail(f"{file}: no such file", 2)
    try:
        record = extract_file(file, Settings())
    except CongvanError as exc:
        _fail(f"{file}: {exc.stage}: {exc}")
    if as_json:
        sys.stdout.write(record.model_dump_json(indent=2) + "\n")
        return
    _print_record(record)


def _print_record(record) -> None:
    t = Table(title=f"{record.source.path}  ({record.source.pages} pages, {record.source.text_source})", show_header=False)
    t.add_column("field", style="bold")
    t.add_column("value")
    rows = [
        ("number", record.number), ("symbol", record.symbol), ("doc_type", record.doc_type),
        ("issuer", record.issuer.name), ("level / locality", f"{record.issuer.level} / {record.issuer.locality}"),
        ("place", record.place), ("issued_date", record.issued_date), ("subject", record.subject),
        ("recipients", "; ".join(record.recipients)), ("signer",
            " ".join(x for x in [record.signer.authority, record.signer.title, record.signer.name] if x)),
        ("references", str(len(record.references))), ("movements", str(len(record.movements))),
        ("tasks", str(len(record.tasks))),
    ]
    for k, v in rows:
        t.add_row(k, "" if v is None else str(v))
    console.print(t)
    pt = Table(title="pages")
    for c in ("page", "source", "chars", "reason"):
        pt.add_column(c)
    for p in record.pages:
        pt.add_row(str(p.number), p.text_source, str(p.chars), p.reason)
    console.print(pt)


@app.command()
def ingest(
    paths: Optional[list[Path]] = typer.Argument(None, help="files or folders (processed in place); none = the inbox"),
    db: Optional[Path] = DbOption,
    inbox: Optional[Path] = typer.Option(None, "--inbox", help="inbox folder [env CONGVAN_INBOX, default data/inbox]"),
    prefect: Optional[bool] = typer.Option(
        None, "--prefect/--no-prefect",
        help="run as a Prefect flow [default: when PREFECT_API_URL names a server; --prefect without one "
             "starts Prefect's temporary server, 5-10 s]"),
) -> None:
    """Ingest files or folders into the database; with no PATH, the inbox."""
    settings = _settings(db, inbox)
    plist = [str(p) for p in paths] if paths else None
    if prefect is None:  # a run recorded in a server's history costs nothing to start; a temporary one costs seconds
        prefect = bool(os.environ.get("PREFECT_API_URL", "").strip())
    if prefect:
        from congvan.flows.ingest import ingest_flow

        summary = ingest_flow(paths=plist, db=str(settings.db), inbox=str(settings.inbox))
    else:
        from congvan.flows.ingest import ingest as plain_ingest

        summary = plain_ingest(plist, settings)
    from congvan.flows.ingest import exit_code

    # 0 all ingested · 1 bad files quarantined/unreadable · 3 transient failure, retried next run ·
    # 75 skipped: another run holds the lock (README, "The inbox")
    raise typer.Exit(exit_code(summary))


@app.command()
def serve(
    interval: Optional[float] = typer.Option(None, "--interval", help="seconds between runs"),
    cron: Optional[str] = typer.Option(None, "--cron", help="cron expression, e.g. '*/10 7-18 * * 1-5'"),
    db: Optional[Path] = DbOption,
    inbox: Optional[Path] = typer.Option(None, "--inbox"),
) -> None:
    """Scheduled ingestion of the inbox with Prefect (starts a local server unless PREFECT_API_URL is set)."""
    if (interval is None) == (cron is None):
        _fail("give exactly one of --interval SECONDS or --cron EXPR", 2)
    from congvan.flows.serve import serve as run_serve

    run_serve(interval=interval, cron=cron, settings=_settings(db, inbox))


# ---- beyond one machine (flows/distributed.py, pipeline/staging.py): workers stage, one loader writes

def _need_server() -> None:
    import os

    if not os.environ.get("PREFECT_API_URL"):
        _fail("set PREFECT_API_URL to a Prefect server (e.g. `prefect server start`, then "
              "export PREFECT_API_URL=http://HOST:4200/api)", 2)


@app.command()
def deploy(
    pool: str = typer.Option("congvan", "--pool", help="process work pool (created if missing)"),
    load_interval: Optional[float] = typer.Option(None, "--load-interval", help="also load staged records every N s"),
    stage_interval: Optional[float] = typer.Option(None, "--stage-interval", help="also start a stage run every N s"),
    db: Optional[Path] = DbOption,
    inbox: Optional[Path] = typer.Option(None, "--inbox"),
) -> None:
    """Create the work pool and the stage/load deployments on the server at PREFECT_API_URL."""
    _need_server()
    from congvan.flows.distributed import deploy as run_deploy

    out = run_deploy(_settings(db, inbox), pool=pool, load_interval=load_interval, stage_interval=stage_interval)
    console.print_json(json.dumps(out))


@app.command()
def worker(
    pool: str = typer.Option("congvan", "--pool"),
    queue: Optional[list[str]] = typer.Option(None, "--queue", help="stage and/or load (default: both)"),
    limit: Optional[int] = typer.Option(None, "--limit", help="flow runs at once on this worker"),
    name: Optional[str] = typer.Option(None, "--name"),
) -> None:
    """Start a Prefect process worker for the pool (`prefect worker start`); runs until stopped."""
    import os

    _need_server()
    from congvan.flows.ingest import prefect_env

    prefect_env()
    from congvan.flows.distributed import worker_command

    cmd = worker_command(pool, queue, limit, name)
    os.execvpe(cmd[0], cmd, dict(os.environ))


@app.command()
def dispatch(
    runs: int = typer.Option(2, "--runs", help="stage runs to start (about one per worker slot)"),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="wait for them, then run the loader"),
    load: bool = typer.Option(True, "--load/--no-load"),
    timeout: float = typer.Option(3600.0, "--timeout"),
) -> None:
    """Start stage runs on the workers (each drains the inbox), then one load run."""
    _need_server()
    from congvan.flows.distributed import dispatch as run_dispatch

    out = run_dispatch(runs, wait=wait, load=load, timeout=timeout)
    console.print_json(json.dumps(out, default=str))
    if wait and (any(s != "COMPLETED" for s in out.get("stage_states", [])) or
                 (load and out.get("load_state") != "COMPLETED")):
        raise typer.Exit(1)


@app.command()
def stage(
    db: Optional[Path] = DbOption,
    inbox: Optional[Path] = typer.Option(None, "--inbox"),
    max_files: Optional[int] = typer.Option(None, "--max-files"),
) -> None:
    """Without Prefect: claim inbox files, extract, archive/quarantine, stage the records (no database)."""
    import uuid

    from congvan.pipeline.staging import stage_run

    out = stage_run(_settings(db, inbox), f"local-{uuid.uuid4().hex[:12]}", max_files=max_files)
    out.pop("files", None)
    console.print_json(json.dumps(out))


@app.command()
def load(db: Optional[Path] = DbOption) -> None:
    """Write staged records into the database (the one writer), then move them to staging/loaded/."""
    from congvan.pipeline.errors import DatabaseBusy
    from congvan.pipeline.inbox import IngestLocked
    from congvan.pipeline.staging import load as run_load

    settings = _settings(db)
    try:
        out = run_load(settings)
    except (DatabaseBusy, IngestLocked) as exc:
        _fail(str(exc), 3)
    console.print_json(json.dumps(out))
    raise typer.Exit(1 if out.get("rejected") else 0)


@app.command(name="lake")
def lake_query(
    query: str = typer.Argument(..., help="SQL over the DuckLake: documents, doc_references, movements, tasks"),
    fmt: OutFormat = typer.Option(OutFormat.table, "--format", "-f"),
    lake_dir: Optional[Path] = typer.Option(None, "--lake", help="lake folder [env CONGVAN_LAKE]"),
) -> None:
    """Query the DuckLake that stage workers append to (never waits for a writer)."""
    import duckdb

    from congvan.pipeline import lake

    folder = lake_dir or lake.lake_dir()
    if folder is None or not (Path(folder) / "catalog.sqlite").exists():
        _fail("no lake: set CONGVAN_LAKE (or --lake) to the folder the stage workers write", 2)
    try:
        columns, rows = lake.query(folder, query)
    except duckdb.Error as exc:
        _fail(str(exc).splitlines()[0], 2)
    _emit(columns, rows, fmt)


def _open_reader(settings: Settings):
    from congvan.pipeline.errors import DatabaseBusy
    from congvan.pipeline.store import Store

    import duckdb

    if not Path(settings.db).exists():
        _fail(f"no database at {settings.db}: run `congvan ingest` first", 2)
    try:
        return Store(settings.db, read_only=True, wait_seconds=settings.db_wait_seconds)
    except DatabaseBusy:
        _busy(settings)
    except duckdb.Error as exc:
        _fail(f"cannot open the database {settings.db}: {str(exc).splitlines()[0]}", 1)


EXIT_BUSY = 3  # the database stayed held by ingestion (or another writer) past CONGVAN_DB_WAIT


def _busy(settings: Settings) -> None:
    """DuckDB allows one writing process and then no reader at all: say so plainly, exit 3."""
    _fail(f"ingestion is writing to the database {settings.db}; waited {settings.db_wait_seconds:g} s "
          "(CONGVAN_DB_WAIT). Try again in a moment.", EXIT_BUSY)


def _emit(columns: list[str], rows: list, fmt: OutFormat) -> None:
    if fmt is OutFormat.csv:
        w = csv.writer(sys.stdout)
        w.writerow(columns)
        w.writerows(rows)
    elif fmt is OutFormat.json:
        sys.stdout.write(json.dumps([dict(zip(columns, r)) for r in rows], ensure_ascii=False, default=str, indent=2) + "\n")
    else:
        t = Table()
        for c in columns:
            t.add_column(c, overflow="fold")
        for r in rows:
            t.add_row(*["" if v is None else str(v) for v in r])
        console.print(t)


@app.command()
def sql(
    query: str = typer.Argument(..., help="SQL to run against the database"),
    fmt: OutFormat = typer.Option(OutFormat.table, "--format", "-f"),
    db: Optional[Path] = DbOption,
) -> None:
    """Query the database (read-only)."""
    import duckdb

    with _open_reader(_settings(db)) as store:
        try:
            columns, rows = store.query(query)
        except duckdb.Error as exc:
            _fail(str(exc).splitlines()[0], 2)
    _emit(columns, rows, fmt)


@app.command()
def search(
    words: str = typer.Argument(..., help="words to find; diacritics optional ('thi dua' finds 'thi đua')"),
    limit: int = typer.Option(20, "--limit", "-n"),
    fmt: OutFormat = typer.Option(OutFormat.table, "--format", "-f"),
    db: Optional[Path] = DbOption,
) -> None:
    """Full-text search over dispatch text."""
    from congvan.pipeline.errors import DatabaseBusy

    settings = _settings(db)
    with _open_reader(settings) as store:
        try:
            hits = store.search(words, limit=limit)
        except DatabaseBusy:  # the reader reopens to refresh the index and lost the file to ingestion
            _busy(settings)
    columns = list(hits[0].keys()) if hits else ["document_id", "number", "subject", "score", "snippet"]
    _emit(columns, [tuple(h.values()) for h in hits], fmt)


@app.command()
def export(
    fmt: ExportFormat = typer.Option(..., "--format", "-f"),
    out: Path = typer.Option(..., "--out", help="output folder (created)"),
    since: Optional[str] = typer.Option(None, "--since", help="only documents ingested, re-extracted, corrected or given a task status at or after this ISO time (UTC unless an offset is given)"),
    db: Optional[Path] = DbOption,
) -> None:
    """Export records for other systems: csv, parquet, jsonl (with JSON Schema) or edXML (QCVN 102:2016)."""
    from congvan.pipeline.errors import DatabaseBusy
    from congvan.pipeline.export import export as run_export

    settings = _settings(db)
    if not Path(settings.db).exists():
        _fail(f"no database at {settings.db}: run `congvan ingest` first", 2)
    from congvan.pipeline.store import parse_since

    try:
        parse_since(since)
    except ValueError:
        _fail(f"--since {since!r}: give an ISO date or date-time (2024-01-31, 2024-01-31T08:00+07:00)", 2)
    try:
        written = run_export(settings.db, fmt.value, out, since=since)
    except DatabaseBusy:
        _busy(settings)
    console.print(f"wrote {len(written)} file(s) to {out}")


@app.command(name="eval")
def evaluate(
    gold_dir: Path = typer.Argument(..., help="folder of gold records (samples/gold)"),
    samples_dir: Optional[Path] = typer.Option(None, "--samples", help="sample files; default: the gold folder's parent"),
    realworld_dir: Optional[Path] = typer.Option(None, "--realworld", help="real-world PDFs for gold/realworld/"),
    json_out: Optional[Path] = typer.Option(None, "--json-out", "--json", help="also write the figures as JSON"),
    details: bool = typer.Option(False, "--details", help="also list every document's misses"),
) -> None:
    """Score extraction against gold records: precision, recall and F1 per field and variant."""
    from congvan.pipeline import pool
    from congvan.pipeline.evaluate import evaluate as run_eval, format_report
    from congvan.pipeline.run import extract_file

    samples = samples_dir or gold_dir.parent
    if realworld_dir is None:
        guess = Path(__file__).resolve().parent.parent.parent / "shared" / "realworld"
        realworld_dir = guess if guess.is_dir() else None
    settings = Settings()
    # files in worker processes, `workers` at once (each still OCRs its pages on the shared slots)
    read = (lambda p: pool.extract(p, settings)) if pool.wanted(settings, 2) else (lambda p: extract_file(p, settings))
    report = run_eval(gold_dir, samples, realworld_dir, extract=read, workers=settings.workers)
    sys.stdout.write(format_report(report, details=details or None))  # already laid out; re-printing would wrap it at 80 columns
    if json_out:
        json_out.write_text(json.dumps(report.to_dict() if hasattr(report, "to_dict") else report, ensure_ascii=False, indent=2, default=str))


@app.command(name="bench-ocr")
def bench_ocr(samples_dir: Path = typer.Argument(Path("samples"))) -> None:
    """CER/WER of raw tesseract vs the repaired text, against the samples' ground truth."""
    from congvan.pipeline.bench_ocr import run_benchmark

    run_benchmark(samples_dir)


_LIST_VALUED = ("coordinators", "recipients", "distribution")


def _correction_value(field: str, value: str):
    """The typed value of `congvan correct`: 'null' (or '') clears a field, a JSON list
    is a list, list-valued fields also take 'a; b'; anything else is text as typed."""
    v = value.strip()
    if v in ("", "null"):
        return None
    if v.startswith("["):
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            _fail(f"{value!r} is not a JSON list", 2)
    if field.rsplit(".", 1)[-1] in _LIST_VALUED:
        return [p.strip() for p in v.split(";") if p.strip()]
    return value


def _open_writer(settings: Settings):
    from congvan.pipeline.errors import DatabaseBusy
    from congvan.pipeline.store import Store

    if not Path(settings.db).exists():
        _fail(f"no database at {settings.db}: run `congvan ingest` first", 2)
    try:
        return Store(settings.db, wait_seconds=settings.db_wait_seconds)
    except DatabaseBusy as exc:
        _fail(str(exc), 3)


@app.command()
def correct(
    document: str = typer.Argument(..., help="document id (or its first 6+ characters), or sha256"),
    field: Optional[str] = typer.Argument(None, help="subject, issuer.name, issued_date, tasks.3.assignee, "
                                          "tasks.3.deadline, references.2.key, movements.0.canonical, ..."),
    value: Optional[str] = typer.Argument(None, help="the right value; 'null' clears it; lists as JSON or 'a; b'"),
    author: Optional[str] = typer.Option(None, "--by", help="who corrects (kept with the correction)"),
    note: Optional[str] = typer.Option(None, "--note", help="why"),
    fmt: OutFormat = typer.Option(OutFormat.table, "--format", "-f"),
    db: Optional[Path] = DbOption,
) -> None:
    """Correct an extracted field: `congvan correct 4cdbd150 tasks.3.deadline 2024-06-30`.
    Without FIELD, list the document's corrections. Corrections are kept in their own table,
    shown by the views on top of the extraction, and survive re-ingestion and re-scans."""
    settings = _settings(db)
    if field is None:
        with _open_reader(settings) as store:
            try:
                sha = store._run(lambda con: store._sha_of(con, document))
            except KeyError as exc:
                _fail(str(exc.args[0]), 2)
            cols, rows = store.query(
                'SELECT c.field, c.item, c.value, c.author, c."at", c.note, c.applies FROM v_corrections c '
                "JOIN documents d ON d.id = c.dispatch_id WHERE d.sha256 = ? ORDER BY c.id", [sha])
        _emit(cols, rows, fmt)
        return
    if value is None:
        _fail("give the corrected VALUE ('null' to clear the field)", 2)
    with _open_writer(settings) as store:
        try:
            stored = store.correct(document, field, _correction_value(field, value), author=author, note=note)
        except (KeyError, ValueError) as exc:
            _fail(str(exc.args[0] if isinstance(exc, KeyError) else exc), 2)
    err.print(f"corrected {stored} of {document}")


@app.command()
def task(
    task_ref: str = typer.Argument(..., metavar="TASK", help="DOCUMENT:ORDINAL (as in v_tasks), a task_id, "
                                   "or a DOCUMENT alone to list its tasks"),
    status: Optional[str] = typer.Argument(None, help="open | in_progress | done | cancelled"),
    status_opt: Optional[str] = typer.Option(None, "--status", help="same as the STATUS argument"),
    note: Optional[str] = typer.Option(None, "--note"),
    author: Optional[str] = typer.Option(None, "--by"),
    fmt: OutFormat = typer.Option(OutFormat.table, "--format", "-f"),
    db: Optional[Path] = DbOption,
) -> None:
    """Show or set a task's status: `congvan task 4cdbd150:3 done --note "đã báo cáo"`."""
    settings = _settings(db)
    status = status or status_opt
    cols_sql = ("SELECT task_id, ordinal, assignee, assignee_body, deadline, status, status_note, text "
                "FROM v_tasks WHERE {} ORDER BY ordinal")
    if ":" not in task_ref and status is None:
        with _open_reader(settings) as store:
            try:
                sha = store._run(lambda con: store._sha_of(con, task_ref))
            except KeyError:
                sha = None
            if sha is None:
                cols, rows = store.query(cols_sql.format("task_key = ?"), [task_ref.lower()])
            else:
                cols, rows = store.query(cols_sql.format("sha256 = ?"), [sha])
        if not rows:
            _fail(f"no tasks for {task_ref!r}", 2)
        _emit(cols, rows, fmt)
        return
    if status is None:
        with _open_reader(settings) as store:
            try:
                sha, key = store.find_task(task_ref)
            except KeyError as exc:
                _fail(str(exc.args[0]), 2)
            cols, rows = store.query(cols_sql.format("sha256 = ? AND task_key = ?"), [sha, key])
        _emit(cols, rows, fmt)
        return
    with _open_writer(settings) as store:
        try:
            doc, _, sel = task_ref.partition(":")
            if not sel:
                sha, key = store.find_task(task_ref)
                doc, sel = sha, key
            store.set_task_status(doc, sel, status, author=author, note=note)
        except (KeyError, ValueError) as exc:
            _fail(str(exc.args[0] if isinstance(exc, KeyError) else exc), 2)
    err.print(f"task {task_ref}: {status}")


@app.command()
def schema() -> None:
    """Print the record's JSON Schema."""
    from congvan.schemas.record import json_schema

    sys.stdout.write(json_schema() + "\n")


if __name__ == "__main__":
    app()
