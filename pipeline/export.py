"""Exports for other systems: csv, parquet (one file per table), jsonl (contract Records, with
their JSON Schema beside them), edXML (QCVN 102:2016/BTTTT, one package per document).

Exports read through a read-only Store (so they wait for, then give way to, ingestion),
apply human corrections, are deterministic (total row order, sorted keys, no timestamps except
data: the same database gives the same bytes) and never write outside `out_dir`.
`read_edxml` parses a package back, for round-trip tests and for systems that send us edXML.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Optional

from congvan.pipeline.store import Store, parse_since

_SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
log = logging.getLogger("congvan.export")
EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
XLINK_NS = "http://www.w3.org/1999/xlink"
SCHEMA_NAME = "record.schema.json"

# table → SELECT over the selected documents, in a total order. Documents and tasks come from
# the views so corrections and task status travel with the data; v_tasks.overdue is left out
# because it depends on the day of the export, not on the data (same database → same bytes).
TABLES: dict[str, str] = {
    "documents": "SELECT * EXCLUDE (record_json) FROM v_documents WHERE id IN (SELECT id FROM _sel) ORDER BY id",
    "texts": "SELECT * FROM texts WHERE document_id IN (SELECT id FROM _sel) ORDER BY document_id",
    "pages": "SELECT * FROM pages WHERE document_id IN (SELECT id FROM _sel) ORDER BY document_id, number",
    "doc_references": "SELECT * FROM doc_references WHERE document_id IN (SELECT id FROM _sel) "
                      "ORDER BY document_id, ordinal",
    "movements": "SELECT * FROM movements WHERE document_id IN (SELECT id FROM _sel) ORDER BY document_id, ordinal",
    "tasks": "SELECT * EXCLUDE (overdue) FROM v_tasks WHERE document_id IN (SELECT id FROM _sel) ORDER BY document_id, ordinal",
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
PRIORITY_BY_NAME = {k.lower(): v for k, v in PRIORITY.items() if k}
URGENCY_BY_PRIORITY = {v: k for k, v in PRIORITY.items() if k}
AUTHORITIES = ("TM.", "KT.", "TL.", "TUQ.", "Q.")
CONTENT_TYPES = {".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                 ".tif": "image/tiff", ".tiff": "image/tiff"}


# A document has changed since $since when any of these happened at or after it (all UTC).
CHANGED_SINCE = """(d.ingested_at >= $since OR d.extracted_at >= $since
    OR EXISTS (SELECT 1 FROM corrections c WHERE c.sha256 = d.sha256 AND c."at" >= $since)
    OR EXISTS (SELECT 1 FROM task_status s WHERE s.sha256 = d.sha256 AND s."at" >= $since))"""


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
    """Write the selected documents in `fmt`; returns the files. With `since`, only documents that
    changed at or after it: ingested, re-extracted, corrected or given a task status (so an
    incremental export also carries an analyst's later edits); all when None."""
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
        con.execute("CREATE OR REPLACE TEMP TABLE _sel AS SELECT id FROM documents d "
                    f"WHERE $since IS NULL OR {CHANGED_SINCE} ORDER BY id", {"since": t_since})
        ids = [r[0] for r in con.execute("SELECT id FROM _sel ORDER BY id").fetchall()]
        if fmt in ("csv", "parquet"):
            return _tables(con, fmt, out_dir)
        if fmt == "jsonl":
            return _jsonl(store, ids, out_dir)
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
    schema = json.loads((_SCHEMAS / SCHEMA_NAME).read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def _jsonl(store: Store, ids: list[str], out_dir: Path) -> list[Path]:
    """records.jsonl (one corrected contract Record per line, keys sorted) and, beside it, the
    JSON Schema it was validated against, so a receiver needs nothing else."""
    schema = confined(out_dir, SCHEMA_NAME)
    schema.write_bytes((_SCHEMAS / SCHEMA_NAME).read_bytes())
    path = confined(out_dir, "records.jsonl")
    validator = _record_validator()
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for doc in ids:
            data = store.record(doc).model_dump(mode="json")
            if validator is not None:
                validator.validate(data)
            f.write(json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n")
    return [path, schema]


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


def split_number(number: Optional[str], symbol: Optional[str]) -> tuple[str, str]:
    """Record number/symbol → edXML (CodeNumber, CodeNotation): "1023/KH-UBND" → ("1023", "KH-UBND"),
    "34-CT/TW" → ("34-CT", "TW"); a blank number keeps its symbol: (None, "UBND-NV") → ("", "UBND-NV")."""
    if not number:
        return "", symbol or ""
    if symbol and number.endswith("/" + symbol):
        return number[: -len(symbol) - 1], symbol
    head, _, tail = number.partition("/")
    return head, tail


def join_number(code_number: str, code_notation: str) -> tuple[Optional[str], Optional[str]]:
    """The inverse of split_number: (number, symbol)."""
    number = f"{code_number}/{code_notation}" if code_number and code_notation else (code_number or None)
    return number, code_notation or None


def _priority(urgency: Optional[str]) -> int:
    if not urgency:
        return 0
    key = unicodedata.normalize("NFC", urgency).strip().lower().replace("hoả", "hỏa")
    return PRIORITY_BY_NAME.get(key, 0)


def _attachment_name(original_name: Optional[str], stored: Path) -> str:
    """A bare file name for the receiver to save under: directories (either slash) are dropped."""
    name = re.split(r"[\\/]", original_name or "")[-1].strip()
    return name if name not in ("", ".", "..") else stored.name


def edxml_document(store: Store, doc: str) -> bytes:
    """One document as an edXML package (UTF-8 bytes), validated against schemas/edxml.xsd.

    Layout as the published SDKs write it: <edXML> in the default namespace, the envelope's
    elements with the edXML: prefix, the file base64-encoded in <AttachmentEncoded> and bound to
    the manifest by its Content-ID (the file's sha256, so output is deterministic)."""
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

    root = etree.Element(E("edXML"), nsmap={None: EDXML_NS})
    envelope = etree.SubElement(root, E("edXMLEnvelope"), nsmap={"edXML": EDXML_NS})
    header = sub(sub(envelope, "edXMLHeader"), "MessageHeader")
    frm = sub(header, "From")  # OrganId (mã định danh) is not printed on dispatches: left out
    if rec.issuer.parent:
        sub(frm, "OrganizationInCharge", rec.issuer.parent)
    sub(frm, "OrganName", rec.issuer.name or "")
    for name in rec.recipients:
        sub(sub(header, "To"), "OrganName", name)
    code = sub(header, "Code")
    code_number, code_notation = split_number(rec.number, rec.symbol)
    sub(code, "CodeNumber", code_number)
    sub(code, "CodeNotation", code_notation)
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
    if rec.signer.name or rec.signer.title or rec.signer.authority or rec.signer.on_behalf_of:
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
    sub(other, "Priority", _priority(rec.urgency))
    sub(other, "PageAmount", rec.source.pages)
    sub(header, "DocumentId", rec.source.sha256)
    manifest = sub(sub(envelope, "edXMLBody"), "edXMLManifest")
    manifest.set("version", "1.0")
    if stored_path and Path(stored_path).is_file():
        p = Path(stored_path)
        data = p.read_bytes()
        cid = hashlib.sha256(data).hexdigest()
        name = _attachment_name(original_name, p)
        ctype = CONTENT_TYPES.get(p.suffix.lower(), "application/octet-stream")
        ref = etree.SubElement(manifest, E("Reference"), nsmap={"xlink": XLINK_NS})
        ref.set(f"{{{XLINK_NS}}}href", f"cid:{cid}")
        ref.set(f"{{{XLINK_NS}}}type", "simple")
        sub(ref, "AttachmentName", name)
        sub(ref, "ContentType", ctype)
        sub(ref, "ContentId", cid)
        att = sub(sub(root, "AttachmentEncoded"), "Attachment")
        sub(att, "ContentId", cid)
        sub(att, "ContentType", ctype)
        sub(att, "Description", "Văn bản gốc")
        sub(att, "AttachmentName", name)
        sub(att, "ContentTransferEncoded", base64.b64encode(data).decode("ascii"))
    else:
        log.warning("edXML for %s without its file: %s is not there", doc, stored_path)
    edxml_schema().assertValid(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def read_edxml(data: bytes) -> dict:
    """Parse an edXML package (ours or any that fits schemas/edxml.xsd) back into record fields;
    attachments come back decoded, keyed by Content-ID. Raises on an invalid package."""
    from lxml import etree

    root = etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    edxml_schema().assertValid(root)
    ns = {"e": EDXML_NS}
    h = root.find("e:edXMLEnvelope/e:edXMLHeader/e:MessageHeader", ns)

    def text(path: str) -> Optional[str]:
        el = h.find(path, ns)
        return el.text if el is not None and el.text else None

    def iso(d: Optional[str]) -> Optional[str]:
        return d.replace("/", "-") if d else None

    number, symbol = join_number(text("e:Code/e:CodeNumber") or "", text("e:Code/e:CodeNotation") or "")
    competence = (text("e:SignerInfo/e:Competence") or "").split(" ", 1)
    authority = competence[0] if competence[0] in AUTHORITIES else None
    on_behalf = (competence[1] if authority and len(competence) > 1 else
                 None if authority else " ".join(competence) or None)
    priority = int(text("e:OtherInfo/e:Priority") or 0)
    attachments = {}
    for att in root.findall("e:AttachmentEncoded/e:Attachment", ns):
        attachments[att.findtext("e:ContentId", namespaces=ns)] = {
            "name": att.findtext("e:AttachmentName", namespaces=ns),
            "content_type": att.findtext("e:ContentType", namespaces=ns),
            "data": base64.b64decode(re.sub(r"\s+", "", att.findtext("e:ContentTransferEncoded", namespaces=ns)),
                                     validate=True),
        }
    for ref in root.findall("e:edXMLEnvelope/e:edXMLBody/e:edXMLManifest/e:Reference", ns):
        href = ref.get(f"{{{XLINK_NS}}}href", "")
        if href.startswith("cid:") and href[4:] not in attachments:
            raise ValueError(f"manifest names {href} but no attachment carries it")
    return {
        "sha256": text("e:DocumentId"),
        "number": number, "symbol": symbol,
        "doc_type": text("e:DocumentType/e:Type"),
        "issuer_name": text("e:From/e:OrganName"), "issuer_parent": text("e:From/e:OrganizationInCharge"),
        "place": text("e:PromulgationInfo/e:Place"),
        "issued_date": iso(text("e:PromulgationInfo/e:PromulgationDate")),
        "subject": text("e:Subject"), "text": text("e:Content") or "",
        "signer_authority": authority, "signer_on_behalf_of": on_behalf,
        "signer_title": text("e:SignerInfo/e:Position"), "signer_name": text("e:SignerInfo/e:FullName"),
        "recipients": [el.text or "" for el in h.findall("e:To/e:OrganName", ns)],
        "distribution": [el.text or "" for el in h.findall("e:ToPlaces/e:Place", ns)],
        "due_date": iso(text("e:DueDate")),
        "urgency": URGENCY_BY_PRIORITY.get(priority),
        "pages": int(text("e:OtherInfo/e:PageAmount") or 0) or None,
        "attachments": attachments,
    }


def _edxml(store: Store, ids: list[str], out_dir: Path) -> list[Path]:
    written = []
    for doc in ids:
        path = confined(out_dir, f"{doc}.edxml")
        path.write_bytes(edxml_document(store, doc))
        written.append(path)
    return written
