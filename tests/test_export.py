"""Exports round-trip: csv, parquet, jsonl (schema-valid Records), edXML (XSD-valid), confinement, --since."""
from __future__ import annotations

import base64
import csv
import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest
from lxml import etree

from congvan.pipeline.export import EDXML_NS, confined, edxml_schema, export
from congvan.pipeline.store import Store
from congvan.schemas.record import Record
from test_store_fixtures import make_record

NS = {"e": EDXML_NS}


@pytest.fixture
def db(tmp_path):
    pdf = tmp_path / "a.pdf"
    pdf.write_bytes(b"%PDF-1.4 fake bytes\n")
    path = tmp_path / "congvan.duckdb"
    with Store(path) as store:
        store.save(make_record("a"), stored_path=str(pdf), original_name="KH 1023.pdf")
        store.save(make_record("b", number="7/TB-UBND", symbol="TB-UBND", doc_type="TB", issued_date="2024-08",
                               urgency="Hỏa tốc", tasks=[], references=[], movements=[], recipients=[],
                               distribution=[], pages=[], provenance={}))
        store.correct(make_record("a").source.sha256, "subject", "Trích yếu đã sửa")
    return path


def test_csv_and_parquet_round_trip(db, tmp_path):
    for fmt in ("csv", "parquet"):
        out = tmp_path / fmt
        files = export(db, fmt, out)
        assert sorted(p.name for p in files) == sorted(f"{t}.{fmt}" for t in (
            "documents", "texts", "pages", "doc_references", "movements", "tasks", "recipients", "distribution",
            "provenance"))
        assert all(p.parent == out.resolve() for p in files)
        con = duckdb.connect()
        reader = "read_csv" if fmt == "csv" else "read_parquet"
        docs = con.execute(f"SELECT id, number, subject, issued_date, issuer_name FROM {reader}(?) ORDER BY id",
                           [str(out / f"documents.{fmt}")]).fetchall()
        with Store(db, read_only=True) as ro:
            want = ro.query("SELECT id, number, subject, issued_date, issuer_name FROM v_documents ORDER BY id")[1]
            tasks = ro.query("SELECT document_id, ordinal, text, status FROM v_tasks ORDER BY 1, 2")[1]
        assert docs == want and ("Trích yếu đã sửa",) in [(d[2],) for d in docs]
        got_tasks = con.execute(f"SELECT document_id, ordinal, text, status FROM {reader}(?) ORDER BY 1, 2",
                                [str(out / f"tasks.{fmt}")]).fetchall()
        assert got_tasks == tasks
    # deterministic: a second export writes the same bytes
    again = export(db, "csv", tmp_path / "csv2")
    for p in again:
        assert p.read_bytes() == (tmp_path / "csv" / p.name).read_bytes()


def test_jsonl_is_full_records_valid_against_the_schema(db, tmp_path):
    import jsonschema

    (path,) = export(db, "jsonl", tmp_path / "j")
    lines = path.read_text(encoding="utf-8").splitlines()
    schema = json.loads((Path(__file__).parent.parent / "schemas" / "record.schema.json").read_text())
    recs = [json.loads(line) for line in lines]
    for r in recs:
        jsonschema.validate(r, schema)
    by_sha = {r["source"]["sha256"]: Record.model_validate(r) for r in recs}
    a, b = make_record("a"), make_record("b")
    assert by_sha[a.source.sha256] == a.model_copy(update={"subject": "Trích yếu đã sửa"})
    assert by_sha[b.source.sha256].number == "7/TB-UBND" and by_sha[b.source.sha256].text == b.text
    assert export(db, "jsonl", tmp_path / "j2")[0].read_bytes() == path.read_bytes()


def test_edxml_validates_and_round_trips(db, tmp_path):
    files = export(db, "edxml", tmp_path / "x")
    assert len(files) == 2
    docs = {}
    for p in files:
        tree = etree.parse(str(p))
        edxml_schema().assertValid(tree)
        docs[tree.findtext(".//e:Code/e:CodeNumber", namespaces=NS)] = tree
    a = docs["1023"]
    h = "e:edXMLHeader/e:MessageHeader/"
    assert a.getroot().tag == f"{{{EDXML_NS}}}edXMLEnvelope"
    assert a.findtext(h + "e:From/e:OrganName", namespaces=NS) == "Ủy ban nhân dân tỉnh Điện Biên"
    assert [t.text for t in a.findall(h + "e:To/e:OrganName", NS)] == make_record("a").recipients
    assert a.findtext(h + "e:Code/e:CodeNotation", namespaces=NS) == "KH-UBND"
    assert a.findtext(h + "e:PromulgationInfo/e:PromulgationDate", namespaces=NS) == "2024/01/10"
    assert a.findtext(h + "e:PromulgationInfo/e:Place", namespaces=NS) == "Điện Biên"
    assert a.findtext(h + "e:DocumentType/e:TypeName", namespaces=NS) == "Kế hoạch"
    assert a.findtext(h + "e:Subject", namespaces=NS) == "Trích yếu đã sửa"
    assert a.findtext(h + "e:SignerInfo/e:Competence", namespaces=NS) == "TM. ỦY BAN NHÂN DÂN"
    assert a.findtext(h + "e:SignerInfo/e:FullName", namespaces=NS) == "Lê Thành Đô"
    assert a.findtext(h + "e:DueDate", namespaces=NS) == "2024/03/15"
    assert [t.text for t in a.findall(h + "e:ToPlaces/e:Place", NS)] == ["Như trên", "Lưu: VT"]
    assert a.findtext(h + "e:OtherInfo/e:PageAmount", namespaces=NS) == "2"
    att = a.find("e:edXMLBody/e:Attachment", NS)
    assert att.findtext("e:ContentType", namespaces=NS) == "application/pdf"
    assert base64.b64decode(att.findtext("e:Content", namespaces=NS)) == b"%PDF-1.4 fake bytes\n"
    b = docs["7"]
    assert b.find(h + "e:PromulgationInfo/e:PromulgationDate", NS) is None  # partial date: left out
    assert b.findtext(h + "e:OtherInfo/e:Priority", namespaces=NS) == "3"
    assert b.find("e:edXMLBody/e:Attachment", NS) is None  # no stored file
    assert [p.read_bytes() for p in export(db, "edxml", tmp_path / "x2")] == [p.read_bytes() for p in files]


def test_since_selects_recent_documents(db, tmp_path):
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).isoformat()
    assert export(db, "edxml", tmp_path / "none", since=future) == []
    (path,) = export(db, "jsonl", tmp_path / "all", since="2000-01-01")
    assert len(path.read_text().splitlines()) == 2
    docs = tmp_path / "csvs"
    export(db, "csv", docs, since=future)
    with (docs / "documents.csv").open() as f:
        assert len(list(csv.reader(f))) == 1  # header only


@pytest.mark.parametrize("name", ["../evil.csv", "a/b.csv", "..", "", "/etc/passwd"])
def test_output_paths_are_confined(tmp_path, name):
    with pytest.raises(ValueError):
        confined(tmp_path, name)


def test_unknown_format(db, tmp_path):
    with pytest.raises(ValueError):
        export(db, "xlsx", tmp_path)


def test_published_json_schema_is_current():
    from congvan.schemas.record import json_schema

    published = (Path(__file__).parent.parent / "schemas" / "record.schema.json").read_text(encoding="utf-8")
    assert json.loads(published) == json.loads(json_schema())
