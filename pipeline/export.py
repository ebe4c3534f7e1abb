"""Exports for other systems: csv, parquet (one file per table), jsonl (contract Records),
edXML (QCVN 102:2016/BTTTT, one file per document).

Exports read through a read-only Store (so they wait for, then give way to, ingestion),
apply human corrections, are deterministic (sorted by document id, no timestamps except
data) and never write outside `out_dir`.
"""
from __future__ import annotations

import base64
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Optional

from congvan.pipeline.store import Store, parse_since

_SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"

# table → (SELECT over the selected documents, ORDER BY). Documents and tasks come from
# the views so corrections and task status travel with the data.
TABLES: dict[str, str] = {
    "documents": "SELECT * EXCLUDE (record_json) FROM v_documents WHERE id IN (SELECT id FROM _sel) ORDER BY id",
    "texts": "SELECT * FROM texts WHERE document_id IN (SELECT id FROM _sel) ORDER BY document_id",
    "pages": "SELECT * FROM pages WHERE document_id IN (SELECT id FROM _sel) ORDER BY document_id, number",
    "doc_references": "SELECT * FROM doc_references WHERE document_id IN (SELECT id FROM _sel) "
                      "ORDER BY document_id, ordinal",
    "movements": "SELECT * FROM movements WHERE document_id IN (SELECT id FROM _sel) ORDER BY document_id, ordinal",
    "tasks": "SELECT * FROM v_tasks WHERE document_id IN (SELECT id FROM _sel) ORDER BY document_id, ordinal",
    "recipients": "SELECT * FROM recipients WHERE document_id IN (SELECT id FROM _sel) ORDER BY document_id, ordinal",
    "distribution": "SELECT * FROM distribution WHERE document_id IN (SELECT id FROM _sel) "
                    "ORDER BY document_id, ordinal",
    "provenance": "SELECT * FROM provenance WHERE document_id IN (SELECT id FROM _sel) ORDER BY document_id, field",
}

# Nghị định 30/2020 abbreviations → the type name edXML carries.
TYPE_NAMES = {
    "NQ": "Nghị quyết", "QĐ": "Quyết định", "CT": "Chỉ thị", "QC": "Quy chế", "QYĐ": "Quy định",
    "TC": "Thông cáo", "TB": "Thông báo", "HD": "Hướng dẫn", "CTr": "Chương trình", "KH": "Kế hoạch",
    "PA": "Phương án", "ĐA": "Đề án", "DA": "Dự án", "BC": "Báo cáo", "BB": "Biên bản", "TTr": "Tờ trình",
    "HĐ": "Hợp đồng", "CĐ": "Công điện", "BGN": "Bản ghi nhớ", "BTT": "Bản thỏa thuận", "GUQ": "Giấy ủy quyền",
    "GM": "Giấy mời", "GGT": "Giấy giới thiệu", "GNP": "Giấy nghỉ phép", "PG": "Phiếu gửi",
    "PC": "Phiếu chuyển", "PB": "Phiếu báo", "TH": "Thư công", "CV": "Công văn", "KL": "Kết luận",
}
# edXML OtherInfo/Priority: 0 thường, 1 khẩn, 2 thượng khẩn, 3 hỏa tốc, 4 hỏa tốc hẹn giờ.
PRIORITY = {None: 0, "Khẩn": 1, "Thượng khẩn": 2, "Hỏa tốc": 3, "Hỏa tốc hẹn giờ": 4}
CONTENT_TYPES = {".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                 ".tif": "image/tiff", ".tiff": "image/tiff"}


def confined(out_dir: Path, name: str) -> Path:
    """out_dir/name, refusing any name that would land outside out_dir."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or "\x00" in name:
        raise ValueError(f"refusing output name {name!r}: it would escape {out_dir}")
    root = out_dir.resolve()
    path = (root / name).resolve()
    if path.parent != root:
        raise ValueError(f"refusing output name {name!r}: it would escape {out_dir}")
    return path


def export(db_path: Path | str, fmt: str, out_dir: Path, since: Optional[str] = None,
           *, wait_seconds: Optional[float] = None) -> list[Path]:
    """Write the selected documents (ingested_at ≥ since, all when None) in `fmt`; returns the files."""
    if fmt not in ("csv", "parquet", "jsonl", "edxml"):
        raise ValueError(f"unknown export format {fmt!r}")
    if wait_seconds is None:
        from congvan.config import Settings
        wait_seconds = Settings().db_wait_seconds
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_since = parse_since(since)
    with Store(db_path, read_only=True, wait_seconds=wait_seconds) as store:
        con = store._con
        con.execute("CREATE OR REPLACE TEMP TABLE _sel AS SELECT id FROM documents "
                    "WHERE ? IS NULL OR ingested_at >= ? ORDER BY id", [t_since, t_since])
        ids = [r[0] for r in con.execute("SELECT id FROM _sel ORDER BY id").fetchall()]
        if fmt in ("csv", "parquet"):
            return _tables(con, fmt, out_dir)
        if fmt == "jsonl":
            return [_jsonl(store, ids, out_dir)]
        return _edxml(store, ids, out_dir)


def _tables(con, fmt: str, out_dir: Path) -> list[Path]:
    written = []
    options = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT parquet"
    for table, select in TABLES.items():
        path = confined(out_dir, f"{table}.{fmt}")
        target = str(path).replace("'", "''")
        con.execute(f"COPY ({select}) TO '{target}' ({options})")
        written.append(path)
    return written


@lru_cache(maxsize=1)
def _record_validator():
    try:
        import jsonschema
    except ImportError:  # a test dependency; the pydantic model validates anyway
        return None
    schema = json.loads((_SCHEMAS / "record.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def _jsonl(store: Store, ids: list[str], out_dir: Path) -> Path:
    path = confined(out_dir, "records.jsonl")
    validator = _record_validator()
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for doc in ids:
            data = store.record(doc).model_dump(mode="json")
            if validator is not None:
                validator.validate(data)
            f.write(json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n")
    return path


@lru_cache(maxsize=1)
def edxml_schema():
    from lxml import etree

    return etree.XMLSchema(etree.parse(str(_SCHEMAS / "edxml.xsd")))


def edxml_date(value: Optional[str]) -> Optional[str]:
    """ISO day → yyyy/MM/dd. Partial dates (YYYY-MM, YYYY) give None: edXML needs a full day
    and the contract forbids guessing one, so the element is left out."""
    if value and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return value.replace("-", "/")
    return None


def edxml_document(store: Store, doc: str) -> bytes:
    """One document as an edXML envelope (UTF-8 bytes), validated against schemas/edxml.xsd."""
    from lxml import etree

    rec = store.record(doc)
    _, rows = store.query("SELECT path, original_name FROM documents WHERE id = ?", [doc])
    stored_path, original_name = rows[0] if rows else (None, None)
    E = lambda tag: f"{{{EDXML_NS}}}{tag}"  # noqa: E731

    def sub(parent, tag, text=None):
        el = etree.SubElement(parent, E(tag))
        if text is not None:
            el.text = str(text)
        return el

    root = etree.Element(E("edXMLEnvelope"), nsmap={"edXML": EDXML_NS})
    header = sub(sub(root, "edXMLHeader"), "MessageHeader")
    frm = sub(header, "From")
    sub(frm, "OrganId", "")
    if rec.issuer.parent:
        sub(frm, "OrganizationInCharge", rec.issuer.parent)
    sub(frm, "OrganName", rec.issuer.name or "")
    for name in rec.recipients:
        sub(sub(header, "To"), "OrganName", name)
    sub(header, "DocumentId", rec.source.sha256)
    code = sub(header, "Code")
    number = rec.number or ""
    sub(code, "CodeNumber", number.split("/", 1)[0] if "/" in number else number)
    sub(code, "CodeNotation", rec.symbol or (number.split("/", 1)[1] if "/" in number else ""))
    prom = sub(header, "PromulgationInfo")
    if rec.place:
        sub(prom, "Place", rec.place)
    if edxml_date(rec.issued_date):
        sub(prom, "PromulgationDate", edxml_date(rec.issued_date))
    dtype = sub(header, "DocumentType")
    sub(dtype, "Type", rec.doc_type or "")
    sub(dtype, "TypeName", TYPE_NAMES.get(rec.doc_type or "", rec.doc_type or ""))
    sub(header, "Subject", rec.subject or "")
    sub(header, "Content", rec.text)
    if rec.signer.name or rec.signer.title or rec.signer.authority:
        signer = sub(header, "SignerInfo")
        competence = " ".join(x for x in (rec.signer.authority, rec.signer.on_behalf_of) if x)
        if competence:
            sub(signer, "Competence", competence)
        if rec.signer.title:
            sub(signer, "Position", rec.signer.title)
        if rec.signer.name:
            sub(signer, "FullName", rec.signer.name)
    due = sorted(d for d in (edxml_date(t.deadline) for t in rec.tasks) if d)
    if due:
        sub(header, "DueDate", due[0])  # the earliest full-day task deadline
    if rec.distribution:
        places = sub(header, "ToPlaces")
        for name in rec.distribution:
            sub(places, "Place", name)
    other = sub(header, "OtherInfo")
    sub(other, "Priority", PRIORITY.get(rec.urgency, 0))
    sub(other, "PageAmount", rec.source.pages)
    body = sub(root, "edXMLBody")
    if stored_path and Path(stored_path).is_file():
        p = Path(stored_path)
        att = sub(body, "Attachment")
        sub(att, "ContentId", p.name)
        sub(att, "ContentType", CONTENT_TYPES.get(p.suffix.lower(), "application/octet-stream"))
        sub(att, "Description", original_name or p.name)
        sub(att, "Content", base64.b64encode(p.read_bytes()).decode("ascii"))
    edxml_schema().assertValid(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _edxml(store: Store, ids: list[str], out_dir: Path) -> list[Path]:
    written = []
    for doc in ids:
        path = confined(out_dir, f"{doc}.edxml")
        path.write_bytes(edxml_document(store, doc))
        written.append(path)
    return written
