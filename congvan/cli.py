"""The `congvan` command: extract, ingest, serve, sql, search, export, eval.

Heavy imports (Prefect, OCR, NLP) happen inside the commands that need them, so
`congvan --help` and `congvan sql` start fast and `congvan extract` starts no
orchestrator.
"""
from __future__ import annotations

import csv
import json
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
    prefect: bool = typer.Option(True, "--prefect/--no-prefect", help="run as a Prefect flow (in-process, no server)"),
) -> None:
    """Ingest files or folders into the database; with no PATH, the inbox."""
    settings = _settings(db, inbox)
    plist = [str(p) for p in paths] if paths else None
    if prefect:
        from congvan.flows.ingest import ingest_flow

        summary = ingest_flow(paths=plist, db=str(settings.db), inbox=str(settings.inbox))
    else:
        from congvan.flows.ingest import ingest as plain_ingest

        summary = plain_ingest(plist, settings)
    failed = summary.get("quarantined", 0) + summary.get("failed", 0) if isinstance(summary, dict) else 0
    raise typer.Exit(1 if failed and not summary.get("archived", 0) and not summary.get("inserted", 0) else 0)


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


def _open_reader(settings: Settings):
    from congvan.pipeline.errors import DatabaseBusy
    from congvan.pipeline.store import Store

    if not Path(settings.db).exists():
        _fail(f"no database at {settings.db}: run `congvan ingest` first", 2)
    try:
        return Store(settings.db, read_only=True, wait_seconds=settings.db_wait_seconds)
    except DatabaseBusy as exc:
        _fail(str(exc), 3)


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
    with _open_reader(_settings(db)) as store:
        hits = store.search(words, limit=limit)
    columns = list(hits[0].keys()) if hits else ["document_id", "number", "subject", "score", "snippet"]
    _emit(columns, [tuple(h.values()) for h in hits], fmt)


@app.command()
def export(
    fmt: ExportFormat = typer.Option(..., "--format", "-f"),
    out: Path = typer.Option(..., "--out", help="output folder (created)"),
    since: Optional[str] = typer.Option(None, "--since", help="only documents ingested at or after this ISO time"),
    db: Optional[Path] = DbOption,
) -> None:
    """Export records for other systems: csv, parquet, jsonl (with JSON Schema) or edXML (QCVN 102:2016)."""
    from congvan.pipeline.errors import DatabaseBusy
    from congvan.pipeline.export import export as run_export

    settings = _settings(db)
    if not Path(settings.db).exists():
        _fail(f"no database at {settings.db}: run `congvan ingest` first", 2)
    try:
        written = run_export(settings.db, fmt.value, out, since=since)
    except DatabaseBusy as exc:
        _fail(str(exc), 3)
    console.print(f"wrote {len(written)} file(s) to {out}")


@app.command(name="eval")
def evaluate(
    gold_dir: Path = typer.Argument(..., help="folder of gold records (samples/gold)"),
    samples_dir: Optional[Path] = typer.Option(None, "--samples", help="sample files; default: the gold folder's parent"),
    realworld_dir: Optional[Path] = typer.Option(None, "--realworld", help="real-world PDFs for gold/realworld/"),
    json_out: Optional[Path] = typer.Option(None, "--json-out", help="also write the figures as JSON"),
) -> None:
    """Score extraction against gold records: precision, recall and F1 per field and variant."""
    from congvan.pipeline.evaluate import evaluate as run_eval, format_report
    from congvan.pipeline.run import extract_file

    samples = samples_dir or gold_dir.parent
    if realworld_dir is None:
        guess = Path(__file__).resolve().parent.parent.parent / "shared" / "realworld"
        realworld_dir = guess if guess.is_dir() else None
    report = run_eval(gold_dir, samples, realworld_dir, extract=lambda p: extract_file(p, Settings()))
    console.print(format_report(report))
    if json_out:
        json_out.write_text(json.dumps(report.to_dict() if hasattr(report, "to_dict") else report, ensure_ascii=False, indent=2, default=str))


@app.command(name="bench-ocr")
def bench_ocr(samples_dir: Path = typer.Argument(Path("samples"))) -> None:
    """CER/WER of raw tesseract vs the repaired text, against the samples' ground truth."""
    from congvan.pipeline.bench_ocr import run_benchmark

    run_benchmark(samples_dir)


@app.command()
def schema() -> None:
    """Print the record's JSON Schema."""
    from congvan.schemas.record import json_schema

    sys.stdout.write(json_schema() + "\n")


if __name__ == "__main__":
    app()
