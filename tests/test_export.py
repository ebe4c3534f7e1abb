"""Exports: csv, parquet and jsonl read back and compared field by field with the database (a
hand-made one with a correction, and the text-layer samples ingested by the real command);
determinism, --since, corrections, output confinement. edXML has its own file (test_edxml.py)."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from congvan.pipeline.export import SCHEMA_NAME, TABLES, _edxml, confined, export
from congvan.pipeline.store import Store
from congvan.schemas.record import Record
from textlayer_db import build_text_samples_db, writable_copy
from test_store_fixtures import make_record

PUBLISHED_SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / SCHEMA_NAME
FORMATS = ("csv", "parquet", "jsonl", "edxml")


@pytest.fixture(scope="session")
def text_db(tmp_path_factory, worker_id):
    return build_text_samples_db(tmp_path_factory, worker_id)


@pytest.fixture
def db(tmp_path):
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(b"%PDF-1.4 fake bytes\n")
    path = tmp_path / "congvan.duckdb"
    with Store(path) as store:
        store.save(make_record("a"), stored_path=str(pdf), original_name="KH 1023.pdf")
        store.save(make_record("b", number="7/TB-UBND", symbol="TB-UBND", doc_type="TB", issued_date="2024-08",
                               urgency="Hỏa tốc", tasks=[], references=[], movements=[], recipients=[],
                               distribution=[], pages=[], provenance={}, text=""))
        store.correct(make_record("a").source.sha256, "subject", "Trích yếu đã sửa")
    return path


def _db_rows(db: Path, table: str, *, as_text: bool) -> tuple[list[str], list[tuple]]:
    """What the export of `table` should hold: the same SELECT, every column cast to text for csv."""
    with Store(db, read_only=True) as ro:
        ro._con.execute("CREATE OR REPLACE TEMP TABLE _sel AS SELECT id FROM documents")
        cols, rows = ro.query(TABLES[table])
        if as_text:
            rows = ro.query(f"SELECT COLUMNS(*)::VARCHAR FROM ({TABLES[table]})")[1]
    return cols, rows


def _read_back(path: Path, fmt: str) -> tuple[list[str], list[tuple]]:
    con = duckdb.connect()
    try:
        if fmt == "csv":  # quoted "" is an empty string, a bare empty field is NULL
            cur = con.execute("SELECT * FROM read_csv(?, header = true, all_varchar = true, "
                              "allow_quoted_nulls = false)", [str(path)])
        else:
            cur = con.execute("SELECT * FROM read_parquet(?)", [str(path)])
        return [d[0] for d in cur.description], cur.fetchall()
    finally:
        con.close()


def _assert_tables_round_trip(db: Path, out: Path, fmt: str) -> None:
    for table in TABLES:
        cols, want = _db_rows(db, table, as_text=fmt == "csv")
        got_cols, got = _read_back(out / f"{table}.{fmt}", fmt)
        assert got_cols == cols, table
        assert len(got) == len(want), table
        for g, w in zip(got, want):
            for c, gv, wv in zip(cols, g, w):
                assert gv == wv, f"{table}.{c}: {gv!r} != {wv!r}"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tables_round_trip_on_hand_made_db(db, tmp_path, fmt):
    files = export(db, fmt, tmp_path / fmt)
    assert sorted(p.name for p in files) == sorted(f"{t}.{fmt}" for t in TABLES)
    assert all(p.parent == (tmp_path / fmt).resolve() for p in files)
    _assert_tables_round_trip(db, tmp_path / fmt, fmt)
    _, docs = _read_back(tmp_path / fmt / f"documents.{fmt}", fmt)
    assert any("Trích yếu đã sửa" in row for row in docs)  # the correction, not the extraction


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tables_round_trip_on_samples(text_db, tmp_path, fmt):
    export(text_db, fmt, tmp_path / fmt)
    _assert_tables_round_trip(text_db, tmp_path / fmt, fmt)
    with Store(text_db, read_only=True) as ro:
        n = ro.query("SELECT count(*) FROM documents")[1][0][0]
    assert n == len(_read_back(tmp_path / fmt / f"documents.{fmt}", fmt)[1]) > 0


def _check_jsonl(db: Path, out: Path) -> list[dict]:
    import jsonschema

    files = export(db, "jsonl", out)
    assert [p.name for p in files] == ["records.jsonl", SCHEMA_NAME]
    schema_file = out / SCHEMA_NAME
    assert schema_file.read_bytes() == PUBLISHED_SCHEMA.read_bytes()  # published beside the data
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    lines = (out / "records.jsonl").read_text(encoding="utf-8").splitlines()
    recs = [json.loads(line) for line in lines]
    with Store(db, read_only=True) as ro:
        ids = [r[0] for r in ro.query("SELECT id FROM documents ORDER BY id")[1]]
        assert len(recs) == len(ids)
        for doc, data in zip(ids, recs):
            jsonschema.validate(data, schema)
            want = ro.record(doc).model_dump(mode="json")
            for field in want:  # field by field, so a failure names the field
                assert data[field] == want[field], f"{doc}: {field}"
            (row,) = ro.query("SELECT number, symbol, doc_type, issuer_name, place, issued_date, subject, "
                              "signer_name, pages FROM v_documents WHERE id = ?", [doc])[1]
            rec = Record.model_validate(data)
            assert (rec.number, rec.symbol, rec.doc_type, rec.issuer.name, rec.place, rec.issued_date,
                    rec.subject, rec.signer.name, rec.source.pages) == row
    return recs


def test_jsonl_round_trip_on_hand_made_db(db, tmp_path):
    recs = _check_jsonl(db, tmp_path / "j")
    by_sha = {r["source"]["sha256"]: Record.model_validate(r) for r in recs}
    a = make_record("a")
    assert by_sha[a.source.sha256] == a.model_copy(update={"subject": "Trích yếu đã sửa"})


def test_jsonl_round_trip_on_samples(text_db, tmp_path):
    recs = _check_jsonl(text_db, tmp_path / "j")
    assert all(r["text"] for r in recs) and any(r["tasks"] for r in recs)


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_database_same_bytes(text_db, tmp_path, fmt):
    first = export(text_db, fmt, tmp_path / "1")
    second = export(text_db, fmt, tmp_path / "2")
    assert [p.name for p in first] == [p.name for p in second] and first
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_since_selects_by_ingestion_time(text_db, tmp_path):
    with Store(text_db, read_only=True) as ro:
        times = [r[0] for r in ro.query("SELECT DISTINCT ingested_at FROM documents ORDER BY 1")[1]]
        cut = times[len(times) // 2]
        want = [r[0] for r in ro.query("SELECT id FROM documents WHERE ingested_at >= ? OR extracted_at >= ? "
                                       "ORDER BY id", [cut, cut])[1]]
        total = ro.query("SELECT count(*) FROM documents")[1][0][0]
    assert 0 < len(want) < total
    files = export(text_db, "edxml", tmp_path / "x", since=cut.isoformat())
    assert [p.stem for p in files] == want
    (jsonl, _) = export(text_db, "jsonl", tmp_path / "j", since=cut.isoformat())
    assert len(jsonl.read_text(encoding="utf-8").splitlines()) == len(want)
    export(text_db, "parquet", tmp_path / "p", since=cut.isoformat())
    got = _read_back(tmp_path / "p" / "documents.parquet", "parquet")[1]
    assert sorted(r[0] for r in got) == want
    # an offset is converted to UTC (ingested_at is stored in UTC)
    plus7 = (cut.replace(tzinfo=dt.timezone.utc).astimezone(dt.timezone(dt.timedelta(hours=7)))).isoformat()
    assert [p.stem for p in export(text_db, "edxml", tmp_path / "x7", since=plus7)] == want
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).isoformat()
    assert export(text_db, "edxml", tmp_path / "none", since=future) == []


def test_corrections_travel_in_every_format(text_db, tmp_path):
    db = writable_copy(text_db, tmp_path)
    with Store(db) as store:
        doc = store.query("SELECT id FROM documents WHERE number IS NOT NULL ORDER BY id LIMIT 1")[1][0][0]
        store.correct(doc, "subject", "Trích yếu do chuyên viên sửa")
        store.correct(doc, "signer.name", "Nguyễn Văn Sửa")
    from congvan.pipeline.export import read_edxml

    (edx,) = [p for p in export(db, "edxml", tmp_path / "x") if p.stem == doc]
    got = read_edxml(edx.read_bytes())
    assert (got["subject"], got["signer_name"]) == ("Trích yếu do chuyên viên sửa", "Nguyễn Văn Sửa")
    (jsonl, _) = export(db, "jsonl", tmp_path / "j")
    recs = {json.loads(line)["source"]["sha256"][:16]: json.loads(line) for line in jsonl.read_text().splitlines()}
    assert recs[doc]["subject"] == "Trích yếu do chuyên viên sửa" and recs[doc]["signer"]["name"] == "Nguyễn Văn Sửa"
    for fmt in ("csv", "parquet"):
        export(db, fmt, tmp_path / fmt)
        cols, rows = _read_back(tmp_path / fmt / f"documents.{fmt}", fmt)
        row = dict(zip(cols, next(r for r in rows if r[0] == doc)))
        assert row["subject"] == "Trích yếu do chuyên viên sửa" and row["signer_name"] == "Nguyễn Văn Sửa"


@pytest.mark.parametrize("name", ["../evil.csv", "a/b.csv", "..\\evil", "..", ".", "", "/etc/passwd", "a\x00b"])
def test_output_names_are_confined(tmp_path, name):
    with pytest.raises(ValueError):
        confined(tmp_path, name)


def test_a_hostile_document_id_cannot_escape(db, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with Store(db, read_only=True) as ro, pytest.raises(ValueError):
        _edxml(ro, ["../../escaped"], out)
    assert not list(tmp_path.rglob("escaped*")) and not list(out.iterdir())


def test_out_given_as_a_relative_path_with_dots(db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    files = export(db, "csv", Path("a/../b"))
    assert {p.parent for p in files} == {(tmp_path / "b").resolve()}


def test_unknown_format(db, tmp_path):
    with pytest.raises(ValueError):
        export(db, "xlsx", tmp_path)


def test_published_json_schema_is_current():
    """schemas/record.schema.json is generated from the pydantic models: regenerate it with
    `congvan schema > schemas/record.schema.json` when this fails."""
    from congvan.schemas.record import json_schema

    assert PUBLISHED_SCHEMA.read_text(encoding="utf-8").strip() == json_schema().strip()


def test_cli_export_and_bad_since(text_db, tmp_path):
    from typer.testing import CliRunner

    from congvan.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["export", "--format", "jsonl", "--out", str(tmp_path / "j"), "--db", str(text_db)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "j" / "records.jsonl").exists() and (tmp_path / "j" / SCHEMA_NAME).exists()
    res = runner.invoke(app, ["export", "--format", "csv", "--out", str(tmp_path / "c"), "--db", str(text_db),
                              "--since", "yesterday"])
    assert res.exit_code == 2 and "--since" in res.output


def test_a_planted_symlink_cannot_redirect_a_write(db, tmp_path):
    out, outside = tmp_path / "out", tmp_path / "outside.txt"
    out.mkdir()
    outside.write_text("untouched")
    (out / "records.jsonl").symlink_to(outside)
    with pytest.raises(ValueError):
        export(db, "jsonl", out)
    assert outside.read_text() == "untouched"


def test_since_also_carries_later_corrections_and_task_status(text_db, tmp_path):
    db = writable_copy(text_db, tmp_path)
    with Store(db) as store:
        first = store.query("SELECT id FROM documents ORDER BY ingested_at, id LIMIT 1")[1][0][0]
        tasked, key = store.query("SELECT document_id, task_key FROM tasks ORDER BY document_id, ordinal LIMIT 1")[1][0]
        newest = store.query("SELECT max(greatest(ingested_at, extracted_at)) FROM documents")[1][0][0]
    since = (newest + dt.timedelta(seconds=1)).isoformat()
    assert export(db, "edxml", tmp_path / "none", since=since) == []
    import time

    while dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) < newest + dt.timedelta(seconds=1):
        time.sleep(0.1)  # corrections are stamped to the second
    with Store(db) as store:
        store.correct(first, "place", "Lai Châu")
        store.set_task_status(tasked, key, "done")
    got = [p.stem for p in export(db, "edxml", tmp_path / "changed", since=since)]
    assert got == sorted({first, tasked})
